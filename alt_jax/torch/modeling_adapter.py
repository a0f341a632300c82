"""ALT's trainable building blocks in plain PyTorch: attention and MLP layers, the temporal
convolution, region positions from the ToMe map, frame windows, the two video adapters
(`alt_jax.models.adapter`: kind 'ordered' and 'global', built from an export's `adapter` entry
by `build_adapter`) and the entity alignment. VicTR's head reuses the layers.

Parameter names mirror the Flax modules' paths (`kernel` → `weight`, Linear kernels
transposed), so the converter maps a checkpoint mechanically.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

# Relative imports, and nothing from alt_jax: this file and those it imports are copied into
# every export folder as transformers remote code.
from .modeling_clip_video import attention, l2_normalize

# nnx.LayerNorm's default epsilon (the adapter's layer norms); CLIP's come from its config.
ADAPTER_LN_EPS = 1e-6


class MLP(nn.Module):
    """Linear → GELU (tanh approximation, jax.nn.gelu's default) → Linear."""

    def __init__(self, d_in: int, hidden: int, d_out: int):
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden)
        self.fc2 = nn.Linear(hidden, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class MultiHeadAttention(nn.Module):
    """Multi-head attention of a query sequence over a key/value sequence."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(width, width)
        self.k_proj = nn.Linear(width, width)
        self.v_proj = nn.Linear(width, width)
        self.out_proj = nn.Linear(width, width)

    def forward(self, q: torch.Tensor, kv: torch.Tensor, bias=None) -> torch.Tensor:
        """q [B, Nq, W], kv [B, Nk, W], bias broadcastable to [B, H, Nq, Nk] → [B, Nq, W]."""

        def split(t):
            return t.reshape(*t.shape[:2], self.heads, -1)

        out = attention(split(self.q_proj(q)), split(self.k_proj(kv)), split(self.v_proj(kv)), bias)
        return self.out_proj(out.reshape(q.shape))


def adapter_layer_norm(width: int) -> nn.LayerNorm:
    """A LayerNorm with nnx.LayerNorm's epsilon."""
    return nn.LayerNorm(width, eps=ADAPTER_LN_EPS)


class DecoderLayer(nn.Module):
    """Q ← Q + CrossAttn(LN(Q), LN(KV)); Q ← Q + SelfAttn(LN(Q)); Q ← Q + MLP(LN(Q))."""

    def __init__(self, width: int, heads: int, mlp_hidden: int):
        super().__init__()
        self.ln_q = adapter_layer_norm(width)
        self.ln_kv = adapter_layer_norm(width)
        self.ln_self = adapter_layer_norm(width)
        self.ln_mlp = adapter_layer_norm(width)
        self.cross_attn = MultiHeadAttention(width, heads)
        self.self_attn = MultiHeadAttention(width, heads)
        self.mlp = MLP(width, mlp_hidden, width)

    def forward(self, q: torch.Tensor, kv: torch.Tensor, bias=None) -> torch.Tensor:
        """q [B, Nq, W], kv [B, Nk, W], cross-attention bias [B, 1, 1, Nk] or None → [B, Nq, W]."""
        q = q + self.cross_attn(self.ln_q(q), self.ln_kv(kv), bias)
        h = self.ln_self(q)
        q = q + self.self_attn(h, h)
        return q + self.mlp(self.ln_mlp(q))


class EncoderLayer(nn.Module):
    """x ← x + SelfAttn(LN(x)); x ← x + MLP(LN(x)) (the temporal transformer's layer)."""

    def __init__(self, width: int, heads: int, mlp_hidden: int):
        super().__init__()
        self.ln_attn = adapter_layer_norm(width)
        self.attn = MultiHeadAttention(width, heads)
        self.ln_mlp = adapter_layer_norm(width)
        self.mlp = MLP(width, mlp_hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, N, W] → [B, N, W]."""
        h = self.ln_attn(x)
        x = x + self.attn(h, h)
        return x + self.mlp(self.ln_mlp(x))


def temporal_conv(
    x: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor, padding: str = "zero"
) -> torch.Tensor:
    """Depthwise conv over time, the ends padded with zeros or edge copies: x [B, T, C], kernel
    [k, C] → [B, T, C] (cross-correlation, as `depthwise_temporal_conv`)."""
    k, t = kernel.shape[0], x.shape[1]
    half = k // 2
    if padding == "zero":
        padded = F.pad(x, (0, 0, half, half))
    else:
        padded = torch.cat([x[:, :1].expand(-1, half, -1), x, x[:, -1:].expand(-1, half, -1)], 1)
    return sum(padded[:, j : j + t] * kernel[j] for j in range(k)) + bias


def change_norm(change: torch.Tensor, reference: torch.Tensor, floor: float) -> torch.Tensor:
    """Layer norm of change [B, T, W] with a variance floor of floor² × var(reference [B, W])
    (`alt_jax.models.adapter.change_norm`)."""
    centred = change - change.mean(-1, keepdim=True)
    var = (centred * centred).mean(-1, keepdim=True)
    ref_var = reference.var(-1, unbiased=False)[:, None, None]
    return centred * torch.rsqrt(var + floor**2 * ref_var + ADAPTER_LN_EPS)


# -- region positions from the ToMe map (alt_jax.models.region_position) ----------------------------


def patch_grid(num_patches: int) -> torch.Tensor:
    """Patch-centre (row, col) positions on [-1, 1] of a square grid: → [N, 2], row-major."""
    side = math.isqrt(num_patches)
    if side * side != num_patches:
        raise ValueError(f"{num_patches} patches do not form a square grid")
    centres = (torch.arange(side, dtype=torch.float32) + 0.5) / side * 2.0 - 1.0
    rows, cols = torch.meshgrid(centres, centres, indexing="ij")
    return torch.stack([rows.reshape(-1), cols.reshape(-1)], dim=-1)


def region_geometry(dest: torch.Tensor, num_regions: int) -> torch.Tensor:
    """dest [..., 1 + N] int (output token of each input token; 0 = class token) → per region
    [..., M, 5]: centroid (row, col), spread (std of rows, std of cols), area (fraction of N)."""
    lead, n = dest.shape[:-1], dest.shape[-1] - 1
    patches = dest[..., 1:].reshape(-1, n).long()  # [F, N]
    # Column 0 of the one-hot (the class token) is never a patch's region.
    member = F.one_hot(patches, num_regions + 1)[..., 1:].float()  # [F, N, M]
    grid = patch_grid(n).to(dest.device)  # [N, 2]
    count = member.sum(dim=1)[..., None]  # [F, M, 1]
    safe = torch.clamp(count, min=1.0)
    mean = torch.einsum("fnm,nc->fmc", member, grid) / safe
    second = torch.einsum("fnm,nc->fmc", member, grid * grid) / safe
    spread = torch.sqrt(torch.clamp(second - mean * mean, min=0.0))
    out = torch.cat([mean, spread, count / n], dim=-1)  # [F, M, 5]
    return out.reshape(*lead, num_regions, 5)


def fourier_features(x: torch.Tensor, bands: int) -> torch.Tensor:
    """x [..., C] on [-1, 1] → [..., C·(1 + 2·bands)]: x, sin(π·2^k·x), cos(π·2^k·x), k < bands."""
    freqs = math.pi * (2.0 ** torch.arange(bands, dtype=torch.float32, device=x.device))
    angles = x[..., None] * freqs  # [..., C, F]
    flat = angles.reshape(*x.shape[:-1], -1)
    return torch.cat([x, torch.sin(flat), torch.cos(flat)], dim=-1)


def position_feature_width(bands: int) -> int:
    """Width of the region position features: Fourier features of the centroid, spread, area."""
    return 2 * (1 + 2 * bands) + 3


class RegionPositionEncoder(nn.Module):
    """Region geometry from the ToMe map → Fourier features → Linear → GELU → Linear [.., M, W]."""

    def __init__(self, width: int, bands: int):
        super().__init__()
        self.bands = bands
        self.fc1 = nn.Linear(position_feature_width(bands), width)
        self.fc2 = nn.Linear(width, width)

    def forward(self, dest: torch.Tensor, num_regions: int) -> torch.Tensor:
        """dest [..., 1 + N] → position encodings [..., M, W] of the M regions."""
        geometry = region_geometry(dest, num_regions)
        features = torch.cat(
            [fourier_features(geometry[..., :2], self.bands), geometry[..., 2:]], -1
        )
        return self.fc2(F.gelu(self.fc1(features), approximate="tanh"))


def frame_windows(kv: torch.Tensor, window: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """kv [B, T, M, W] → (keys of frames t−w … t+w for every t [B·T, (2w+1)·M, W], additive
    bias [B·T, 1, 1, (2w+1)·M] masking the frames beyond the clip's ends, or None if w = 0)."""
    b, t, m, width = kv.shape
    if window == 0:
        return kv.reshape(b * t, m, width), None
    padded = F.pad(kv, (0, 0, 0, 0, window, window))
    stacked = torch.stack([padded[:, j : j + t] for j in range(2 * window + 1)], dim=2)
    frame = torch.arange(t)[:, None] + torch.arange(-window, window + 1)[None]  # [T, 2w+1]
    valid = (frame >= 0) & (frame < t)
    bias = torch.where(valid, 0.0, torch.finfo(torch.float32).min).to(kv.device)
    bias = bias.repeat_interleave(m, dim=1)[None].expand(b, t, -1)
    keys = stacked.reshape(b * t, (2 * window + 1) * m, width)
    return keys, bias.reshape(b * t, 1, 1, -1)


ADAPTER_KINDS = ("ordered", "global")
READOUTS = ("ordered", "video_token", "mean")
TEMPORAL_INPUTS = ("appearance_and_change", "centred", "raw")


def entity_weights(entity_index: torch.Tensor) -> torch.Tensor:
    """entity_index [..., M] → weights [..., M], every distinct entity of a frame alike
    (`alt_jax.models.adapter.entity_weights`)."""
    count = (entity_index[..., :, None] == entity_index[..., None, :]).sum(-1).float()
    weights = 1.0 / count
    return weights / weights.sum(-1, keepdim=True)


def readout_base(entity_index, shape, device) -> torch.Tensor:
    """The per-region weights before relevance: per entity, or uniform without entities."""
    if entity_index is not None:
        return entity_weights(entity_index)
    return torch.full(shape, 1.0 / shape[-1], device=device)


class OrderedVideoAdapter(nn.Module):
    """Frame-local entity queries over positioned regions → ordered temporal module → z [B, d]
    (`alt_jax.models.adapter.OrderedVideoAdapter`; the temporal position table is a plain
    parameter here, its sinusoidal values come with the weights)."""

    def __init__(
        self,
        *,
        region_dim: int,
        text_dim: int,
        width: int,
        depth: int,
        heads: int,
        mlp_hidden: int,
        conv_kernel: int,
        frames: int,
        position: str = "fourier",
        fourier_bands: int = 4,
        frame_window: int = 0,
        temporal_depth: int = 1,
        temporal_position: bool = True,
        readout: str = "ordered",
        temporal_input: str = "appearance_and_change",
        change_floor: float = 0.05,
        query_position: bool = True,
        conv_padding: str = "zero",
        frame_embedding: bool = False,
        query_pooling: str = "mean",
        relevance: bool = False,
        class_token: bool = False,
    ):
        super().__init__()
        self.query_pooling = query_pooling
        self.relevance = nn.Linear(width, 1, bias=False) if relevance else None
        if position not in ("fourier", "none"):
            raise ValueError(f"adapter position must be 'fourier' or 'none', got {position!r}")
        if readout not in READOUTS:
            raise ValueError(f"adapter readout must be one of {READOUTS}, got {readout!r}")
        if temporal_input not in TEMPORAL_INPUTS:
            raise ValueError(
                f"adapter temporal_input must be one of {TEMPORAL_INPUTS}, got {temporal_input!r}"
            )
        self.num_frames = frames
        self.frame_window = frame_window
        self.temporal_input = temporal_input
        self.change_floor = change_floor
        self.query_position = query_position
        self.conv_padding = conv_padding
        self.readout = readout
        self.mlp_kv = MLP(region_dim, width, width)
        self.mlp_q = MLP(text_dim, width, width)
        self.region_position = (
            RegionPositionEncoder(width, fourier_bands) if position == "fourier" else None
        )
        self.frame_embedding = nn.Parameter(torch.zeros(frames, width)) if frame_embedding else None
        self.window_embedding = (
            nn.Parameter(torch.zeros(2 * frame_window + 1, width)) if frame_window else None
        )
        self.conv_kernel = nn.Parameter(torch.zeros(conv_kernel, width))
        self.conv_bias = nn.Parameter(torch.zeros(width))
        self.layers = nn.ModuleList(DecoderLayer(width, heads, mlp_hidden) for _ in range(depth))
        if temporal_input == "appearance_and_change":
            self.ln_clip = adapter_layer_norm(width)
            self.change_scale = nn.Parameter(torch.ones(width))
            self.change_bias = nn.Parameter(torch.zeros(width))
        else:
            self.ln_frame = adapter_layer_norm(width)
        self.temporal_position = (
            nn.Parameter(torch.zeros(frames, width)) if temporal_position else None
        )
        self.video_token = nn.Parameter(torch.zeros(width)) if readout == "video_token" else None
        self.temporal_layers = nn.ModuleList(
            EncoderLayer(width, heads, mlp_hidden) for _ in range(temporal_depth)
        )
        if class_token:  # the clip's mean class token, a token of its own
            self.class_proj = nn.Linear(region_dim, width)
            self.ln_class = adapter_layer_norm(width)
        self.class_token = class_token
        self.ln_out = adapter_layer_norm(width)
        self.num_appearance_tokens = int(temporal_input == "appearance_and_change") + int(
            class_token
        )
        readout_width = width * frames if readout == "ordered" else width
        readout_width += width * self.num_appearance_tokens  # clip and class tokens, first
        self.out_proj = nn.Linear(readout_width, text_dim, bias=False)

    def forward(self, regions, cls, queries, dest, entity_index=None):
        """regions [B, T, M, D], cls [B, T, D], queries [B, T, M, d], dest [B, T, 1 + N],
        entity_index [B, T, M] or None → (z [B, d], readout weights [B, T, M])."""
        b, t, m, _ = regions.shape
        if t > self.num_frames or (self.readout == "ordered" and t != self.num_frames):
            need = "exactly" if self.readout == "ordered" else "at most"
            raise ValueError(
                f"{t} frames, but the adapter was built for {need} {self.num_frames} "
                f"(adapter readout {self.readout!r})"
            )
        context = temporal_conv(
            self.mlp_kv(cls), self.conv_kernel, self.conv_bias, self.conv_padding
        )  # [B, T, W]
        kv = self.mlp_kv(regions) + context[:, :, None]  # [B, T, M, W]
        q = self.mlp_q(queries)
        if self.region_position is not None:
            pos = self.region_position(dest, m)
            kv = kv + pos
            if self.query_position:
                q = q + pos
        if self.frame_embedding is not None:
            time = self.frame_embedding[:t][None, :, None]
            kv, q = kv + time, q + time
        keys, bias = frame_windows(kv, self.frame_window)
        if self.window_embedding is not None:
            keys = keys + self.window_embedding.repeat_interleave(m, dim=0)
        q = q.reshape(b * t, m, -1)
        for layer in self.layers:
            q = layer(q, keys, bias)
        q = q.reshape(b, t, m, -1)
        per_entity = readout_base(entity_index, (b, t, m), q.device)
        readout = per_entity
        if self.relevance is not None:
            readout = (self.relevance(q)[..., 0] + torch.log(per_entity)).softmax(-1)
        if self.query_pooling == "entity":
            summary = torch.einsum("btm,btmw->btw", per_entity, q)
        else:
            summary = q.mean(dim=2)  # [B, T, W] frame summaries
        mean = summary.mean(dim=1)  # [B, W]
        if self.temporal_input == "appearance_and_change":
            x = change_norm(summary - mean[:, None], mean, self.change_floor)
            x = x * self.change_scale + self.change_bias
        elif self.temporal_input == "centred":
            x = self.ln_frame(summary - mean[:, None])
        else:
            x = self.ln_frame(summary)
        if self.temporal_position is not None:
            x = x + self.temporal_position[:t]
        lead = []
        if self.temporal_input == "appearance_and_change":
            lead.append(self.ln_clip(mean)[:, None])
        if self.class_token:
            lead.append(self.ln_class(self.class_proj(cls.mean(dim=1)))[:, None])
        if self.video_token is not None:
            lead.append(self.video_token.expand(b, 1, -1))
        x = torch.cat([*lead, x], dim=1)
        for layer in self.temporal_layers:
            x = layer(x)
        x = self.ln_out(x)
        frames = x[:, len(lead) :]
        if self.readout == "ordered":
            pooled = frames.reshape(b, -1)  # frame t owns channels [tW, (t+1)W)
        elif self.readout == "video_token":
            pooled = x[:, len(lead) - 1]
        else:
            pooled = frames.mean(dim=1)
        appearance = x[:, : self.num_appearance_tokens].reshape(b, -1)
        pooled = torch.cat([appearance, pooled], dim=-1)
        return self.out_proj(pooled), readout


class GlobalVideoAdapter(nn.Module):
    """The first adapter (kind 'global'): all T·M queries over all T·M regions, no region
    position, mean over queries → a video vector [B, d]."""

    def __init__(
        self, *, region_dim, text_dim, width, depth, heads, mlp_hidden, conv_kernel, frames
    ):
        super().__init__()
        self.mlp_kv = MLP(region_dim, width, width)
        self.mlp_q = MLP(text_dim, width, width)
        self.temporal_embedding = nn.Parameter(torch.zeros(frames, width))
        self.conv_kernel = nn.Parameter(torch.zeros(conv_kernel, width))
        self.conv_bias = nn.Parameter(torch.zeros(width))
        self.layers = nn.ModuleList(DecoderLayer(width, heads, mlp_hidden) for _ in range(depth))
        self.out_proj = nn.Linear(width, text_dim, bias=False)

    def forward(self, regions, cls, queries, dest=None, entity_index=None):
        """regions [B, T, M, D], cls [B, T, D], queries [B, T, M, d] → (z [B, d], readout
        weights [B, T, M]: per entity); `dest` unused."""
        b, t, m, _ = regions.shape
        if t > self.temporal_embedding.shape[0]:
            raise ValueError(
                f"{t} frames, but the adapter has a temporal embedding for "
                f"{self.temporal_embedding.shape[0]}"
            )
        temb = self.temporal_embedding[:t]
        context = temporal_conv(self.mlp_kv(cls), self.conv_kernel, self.conv_bias)  # [B, T, W]
        kv = self.mlp_kv(regions) + (temb + context)[:, :, None]
        q = self.mlp_q(queries) + temb[None, :, None]
        kv, q = kv.reshape(b, t * m, -1), q.reshape(b, t * m, -1)
        for layer in self.layers:
            q = layer(q, kv)
        return self.out_proj(q.mean(dim=1)), readout_base(entity_index, (b, t, m), q.device)


def build_adapter(
    a: dict[str, Any], *, region_dim: int, text_dim: int, frames: int
) -> OrderedVideoAdapter | GlobalVideoAdapter:
    """The adapter of an exported config's `adapter` entry; without `kind` (folders exported
    before the ordered adapter) it is the global one."""
    kind = a.get("kind", "global")
    if kind not in ADAPTER_KINDS:
        raise ValueError(f"adapter kind must be one of {ADAPTER_KINDS}, got {kind!r}")
    common = dict(
        region_dim=region_dim,
        text_dim=text_dim,
        width=a["width"],
        depth=a["depth"],
        heads=a["heads"],
        mlp_hidden=a["mlp_hidden"],
        conv_kernel=a["conv_kernel"],
        frames=frames,
    )
    if kind == "global":
        return GlobalVideoAdapter(**common)
    return OrderedVideoAdapter(
        position=a["position"],
        fourier_bands=a["fourier_bands"],
        frame_window=a["frame_window"],
        temporal_depth=a["temporal_depth"],
        temporal_position=a["temporal_position"],
        readout=a["readout"],
        temporal_input=temporal_input_of(a),
        change_floor=a.get("change_floor", 0.05),
        query_position=a.get("query_position", True),
        conv_padding=a.get("conv_padding", "zero"),
        frame_embedding=a.get("frame_embedding", False),
        query_pooling=a.get("query_pooling", "mean"),
        relevance=a.get("relevance", False),
        class_token=a.get("class_token", False),
        **common,
    )


def temporal_input_of(a: dict[str, Any]) -> str:
    """An exported adapter's temporal input; folders exported before it existed say
    `temporal_center` (True: "centred", False: "raw")."""
    if "temporal_input" in a:
        return a["temporal_input"]
    return "centred" if a.get("temporal_center", True) else "raw"


class EntityAlignment(nn.Module):
    """W_r [D, d] and log τ_a; every region picks its most similar entity (evaluation mode)."""

    def __init__(self, region_dim: int, text_dim: int):
        super().__init__()
        self.w_r = nn.Parameter(torch.zeros(region_dim, text_dim))
        self.log_tau = nn.Parameter(torch.zeros(()))

    def forward(self, regions: torch.Tensor, entities: torch.Tensor):
        """regions [..., M, D], entities S [K, d] → (index [..., M], aligned Q̂ = S[index])."""
        x = l2_normalize(regions @ self.w_r)
        soft = ((x @ entities.T) / torch.exp(self.log_tau)).softmax(-1)
        index = soft.argmax(-1)  # argmax of the softmax, as the JAX model takes it
        return index, entities[index]
