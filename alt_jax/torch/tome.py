"""Token merging (ToMe bipartite soft matching) in PyTorch, as `alt_jax.models.tome` does it.

Same conventions and tie-breaking as the JAX module: A = even positions, B = odd positions, the
class token (position 0) never merges, an A token's partner is the first best B token, A tokens
are ranked by a stable sort of their best score, kept A tokens stay in original order, merged
tokens are size-weighted averages. Shapes: x [B, N, C], size [B, N, 1], metric [B, N, Ck],
dest [B, N] int64 (input token → output token).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

_NORM_EPS = 1e-12


def max_r(num_tokens: int, class_token: bool = True) -> int:
    """Largest valid r for a layer with `num_tokens` tokens (the mergeable A tokens)."""
    if num_tokens < 2:
        return 0
    return (num_tokens + 1) // 2 - int(bool(class_token))


def capped_schedule(schedule: Sequence[int], num_tokens: int) -> list[int]:
    """Per-layer r capped by the tokens left at each layer (as `parse_r_schedule` caps)."""
    out = []
    for r in schedule:
        r = min(int(r), max_r(num_tokens))
        out.append(r)
        num_tokens -= r
    return out


def identity_dest(batch: int, num_tokens: int, device=None) -> torch.Tensor:
    """Every token is its own output token: int64 [batch, num_tokens]."""
    return torch.arange(num_tokens, device=device).expand(batch, num_tokens)


def _merge_indices(metric: torch.Tensor, r: int, class_token: bool):
    """(unm_idx [B, Na-r], src_idx [B, r], dst_idx [B, r], dest [B, N]) of one merge."""
    b, n, _ = metric.shape
    num_a, num_b = (n + 1) // 2, n // 2
    m = metric.float()
    m = m / m.norm(dim=-1, keepdim=True).clamp_min(_NORM_EPS)
    scores = m[:, 0::2] @ m[:, 1::2].transpose(1, 2)  # [B, Na, Nb]
    if class_token:
        scores[:, 0, :] = -torch.inf
    node_idx = scores.argmax(dim=-1)  # [B, Na] first maximum wins
    node_max = scores.gather(-1, node_idx[..., None])[..., 0]
    order = torch.argsort(-node_max, dim=-1, stable=True)  # [B, Na]
    src_idx = order[:, :r]
    unm_idx = order[:, r:].sort(dim=-1).values
    dst_idx = node_idx.gather(-1, src_idx)
    rank = torch.argsort(order, dim=-1)
    merged = rank < r
    kept_pos = torch.cumsum((~merged).long(), dim=-1) - 1
    num_kept = num_a - r
    dest_a = torch.where(merged, num_kept + node_idx, kept_pos)  # [B, Na]
    dest_b = (num_kept + torch.arange(num_b, device=metric.device)).expand(b, num_b)
    dest = torch.stack([dest_a[:, :num_b], dest_b], dim=-1).reshape(b, 2 * num_b)
    dest = torch.cat([dest, dest_a[:, num_b:]], dim=1)  # [B, N]
    return unm_idx, src_idx, dst_idx, dest


def _take(t: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """t [B, M, C], idx [B, K] → [B, K, C]."""
    return t.gather(1, idx[..., None].expand(-1, -1, t.shape[-1]))


def bipartite_merge(
    x: torch.Tensor, size: torch.Tensor, metric: torch.Tensor, r: int, class_token: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Merges r tokens: x [B, N, C], size [B, N, 1], metric [B, N, Ck] → N − r tokens, dest."""
    b, n, _ = x.shape
    r = min(int(r), max_r(n, class_token))
    if r <= 0:
        return x, size, identity_dest(b, n, x.device)
    unm_idx, src_idx, dst_idx, dest = _merge_indices(metric.detach(), r, class_token)
    x_a, x_b = x[:, 0::2], x[:, 1::2]
    s_a, s_b = size[:, 0::2], size[:, 1::2]
    x_unm, s_unm = _take(x_a, unm_idx), _take(s_a, unm_idx)
    x_src, s_src = _take(x_a, src_idx), _take(s_a, src_idx)
    x_dst = _take(x_b, dst_idx)
    # Size-weighted average as an update of the B token (B tokens receiving nothing stay exact).
    s_new = s_b.scatter_add(1, dst_idx[..., None], s_src)  # [B, Nb, 1]
    delta = torch.zeros_like(x_b).scatter_add(
        1, dst_idx[..., None].expand(-1, -1, x.shape[-1]), s_src * (x_src - x_dst)
    )
    x_new = x_b + delta / s_new
    return torch.cat([x_unm, x_new], dim=1), torch.cat([s_unm, s_new], dim=1), dest


def compose_dest(dest_total: torch.Tensor, dest_layer: torch.Tensor) -> torch.Tensor:
    """Original patch → current token, through one more merge: [B, N0] × [B, N_l] → [B, N0]."""
    return dest_layer.gather(1, dest_total)


def proportional_attention_bias(size: torch.Tensor) -> torch.Tensor:
    """log(size) of every key for the attention logits: [B, N, 1] → [B, 1, 1, N]."""
    return torch.log(size[..., 0])[:, None, None, :]
