"""ALT in plain PyTorch for inference: what `alt_jax.models.alt.ALT` computes in eval mode.

transformers' CLIP vision tower (its modules, our loop: token merging sits between each block's
attention and MLP, with proportional attention) → entity alignment (hard argmax, no Gumbel
noise; with `queries: "learned"` one learned query per region slot instead) → video adapter
(kind 'ordered': region positions from the ToMe map `dest`, frame-local attention, a temporal
transformer; kind 'global': the first adapter) → gated residual → cosine classifier. Class
names, class embeddings, entity names and the entity matrix S travel with the weights, so a
saved folder classifies on its own:

    model = ALTForVideoClassification.from_pretrained("export/")
    out = model(ALTForVideoClassification.normalize(frames_uint8))  # [B, T, H, W, 3]
    model.config.id2label[int(out["logits"].argmax(-1)[0])]

Parameter names mirror the Flax modules' paths (`kernel` → `weight`, Linear kernels
transposed), so the converter maps a checkpoint mechanically.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import CLIPVisionConfig, CLIPVisionModel, PreTrainedModel

# Relative imports, and nothing from alt_jax: this file, configuration_alt.py and tome.py are
# copied into every export folder as transformers remote code.
from .configuration_alt import MODEL_TYPE, ALTConfig  # noqa: F401 - MODEL_TYPE: re-exported
from .tome import (
    bipartite_merge,
    capped_schedule,
    compose_dest,
    identity_dest,
    proportional_attention_bias,
)

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
INDEX_NAME = "model.safetensors.index.json"
# safetensors dtype names of floating-point tensors (every parameter and buffer of the model).
FLOAT_DTYPES = ("F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2")
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
# nnx.LayerNorm's default epsilon (the adapter's layer norms); CLIP's come from its config.
ADAPTER_LN_EPS = 1e-6


def l2_normalize(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """x / ‖x‖ on the last axis (an all-zero row stays zero)."""
    return x * torch.rsqrt(torch.clamp((x * x).sum(-1, keepdim=True), min=eps))


def attention(q, k, v, bias=None) -> torch.Tensor:
    """q [B, Nq, H, Dh], k/v [B, Nk, H, Dh], bias broadcastable to [B, H, Nq, Nk] → [B, Nq, H, Dh]."""
    logits = torch.einsum("bqhd,bkhd->bhqk", q, k) * q.shape[-1] ** -0.5
    if bias is not None:
        logits = logits + bias
    return torch.einsum("bhqk,bkhd->bqhd", logits.softmax(-1), v)


def attend(layer: nn.Module, x: torch.Tensor, bias=None) -> tuple[torch.Tensor, torch.Tensor]:
    """x + SelfAttn(LN(x)) of a transformers CLIPEncoderLayer with an additive logit bias, and
    its keys [B, N, H, Dh] (ToMe's similarity metric)."""
    attn = layer.self_attn
    h = layer.layer_norm1(x)
    b, n, d = h.shape
    q, k, v = (
        p(h).reshape(b, n, attn.num_heads, -1) for p in (attn.q_proj, attn.k_proj, attn.v_proj)
    )
    return x + attn.out_proj(attention(q, k, v, bias).reshape(b, n, d)), k


REGION_FEATURES = ("tokens", "maskclip", "sclip", "clearclip")


def dense_last_attention(layer: nn.Module, x: torch.Tensor, bias, kind: str):
    """The region path of a training-free dense CLIP in the last block (`alt_jax.models.clip.
    dense_last_attention`): out_proj(A · v) of LN1(x), or None for CLIP's own tokens."""
    if kind == "tokens":
        return None
    if kind not in REGION_FEATURES:
        raise ValueError(f"region_features must be one of {REGION_FEATURES}, got {kind!r}")
    attn = layer.self_attn
    h = layer.layer_norm1(x)
    b, n, d = h.shape
    q, k, v = (
        p(h).reshape(b, n, attn.num_heads, -1) for p in (attn.q_proj, attn.k_proj, attn.v_proj)
    )
    if kind == "maskclip":
        out = v
    elif kind == "clearclip":
        out = attention(q, q, v, bias)
    else:
        out = attention(q, q, v, bias) + attention(k, k, v, bias)
    return attn.out_proj(out.reshape(b, n, d))


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
QUERY_KINDS = ("entities", "learned")
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


def saved_dtypes(name_or_path: str | os.PathLike, kwargs: dict[str, Any]) -> dict[str, str]:
    """{tensor: safetensors dtype name} of the weights `from_pretrained(name_or_path, **kwargs)`
    read: a folder's model.safetensors (or its shards), else the hub's cached copy."""
    from safetensors import safe_open
    from transformers.utils import cached_file

    where = {k: kwargs[k] for k in ("cache_dir", "revision", "token", "subfolder") if k in kwargs}

    def resolve(filename: str) -> str | None:
        folder = Path(name_or_path) / kwargs.get("subfolder", "")
        if folder.is_dir():
            return str(folder / filename) if (folder / filename).is_file() else None
        # Already fetched by from_pretrained: read from the cache, never the network.
        return cached_file(
            name_or_path,
            filename,
            **where,
            local_files_only=True,
            _raise_exceptions_for_missing_entries=False,
        )

    files = [resolve(WEIGHTS_NAME)]
    if files[0] is None and (index := resolve(INDEX_NAME)) is not None:
        shards = sorted(set(json.loads(Path(index).read_text())["weight_map"].values()))
        for shard in shards:  # shards are files of the folder itself, never paths out of it
            if not isinstance(shard, str) or Path(shard).name != shard or shard in ("..", "."):
                raise ValueError(f"{index}: weight_map names {shard!r}, not a file of the folder")
        files = [resolve(shard) for shard in shards]
    dtypes = {}
    for file in files:
        if file is not None:
            with safe_open(file, framework="pt") as f:
                dtypes.update({k: f.get_slice(k).get_dtype() for k in f.keys()})
    return dtypes


def coerce_config(config: Any, config_class: type) -> Any:
    """`config` as a `config_class` instance: one already, or the dict of `convert.torch_config`,
    whose model_type must be the class's."""
    if isinstance(config, dict):
        want = config_class.model_type
        if config.get("model_type") != want:
            raise ValueError(
                f"config model_type must be {want!r}, got {config.get('model_type')!r}"
            )
        config = config_class(**{k: v for k, v in config.items() if k != "model_type"})
    return config


class FrozenCLIPVideoModel:
    """What every exported head shares (a mixin before PreTrainedModel): the frozen CLIP vision
    tower with ToMe, pixel normalisation, and strict folder and state-dict loading."""

    export_name = "ALT"  # in error messages: "not an exported ALT folder"

    def build_vision(self, config: Any) -> CLIPVisionConfig:
        """Adds the vision tower and its projection (transformers' CLIP modules) of `config`."""
        vcfg = CLIPVisionConfig(**config.vision_config)
        self.vision_model = CLIPVisionModel(vcfg)
        self.visual_projection = nn.Linear(vcfg.hidden_size, vcfg.projection_dim, bias=False)
        return vcfg

    def _init_weights(self, module: nn.Module) -> None:
        """No initialisation: every tensor comes from the export (a missing one is an error)."""

    # -- the frozen encoder -----------------------------------------------------------------------

    def frame_tokens(self, pixel_values: torch.Tensor) -> dict[str, torch.Tensor]:
        """Frames [F, 3, H, W] → ln [F, 1+M, D] (post-LN tokens), cls [F, d], dest [F, 1+N]."""
        vision = self.vision_model
        x = vision.embeddings(pixel_values, interpolate_pos_encoding=True)
        x = vision.pre_layrnorm(x)
        f, n, _ = x.shape
        size = torch.ones(f, n, 1, dtype=x.dtype, device=x.device)
        dest = identity_dest(f, n, x.device)
        schedule = capped_schedule(self.config.tome_schedule, n)
        kind = getattr(self.config, "region_features", "tokens")
        layers = vision.encoder.layers
        merged = False
        for i, (layer, r) in enumerate(zip(layers, schedule, strict=True)):
            bias = proportional_attention_bias(size) if merged and self.config.prop_attn else None
            dense = dense_last_attention(layer, x, bias, kind) if i == len(layers) - 1 else None
            x, keys = attend(layer, x, bias)
            if r > 0:
                both = x if dense is None else torch.cat([x, dense], dim=-1)
                both, size, layer_dest = bipartite_merge(both, size, keys.mean(dim=2), r)
                x, dense = (both, None) if dense is None else both.chunk(2, dim=-1)
                dest = compose_dest(dest, layer_dest)
                merged = True
            x = x + layer.mlp(layer.layer_norm2(x))
            if dense is not None:
                x = torch.cat([x[:, :1], dense[:, 1:]], dim=1)
        ln = vision.post_layernorm(x)
        return {"ln": ln, "cls": self.visual_projection(ln[:, 0]), "dest": dest}

    def video_tokens(self, pixel_values: torch.Tensor) -> dict[str, torch.Tensor]:
        """pixel_values [B, T, 3, H, W] → ln [B, T, 1+M, D], cls [B, T, d], dest [B, T, 1+N]."""
        if pixel_values.ndim != 5:
            raise ValueError(
                f"pixel_values must be [B, T, 3, H, W], got {tuple(pixel_values.shape)}"
            )
        b, t = pixel_values.shape[:2]
        frames = self.frame_tokens(pixel_values.reshape(b * t, *pixel_values.shape[2:]))
        return {k: v.reshape(b, t, *v.shape[1:]) for k, v in frames.items()}

    @staticmethod
    def normalize(frames: torch.Tensor) -> torch.Tensor:
        """uint8 RGB frames [..., H, W, 3] → float32 CLIP-normalised [..., 3, H, W]."""
        x = torch.as_tensor(frames).float() / 255.0
        x = (x - torch.tensor(CLIP_MEAN)) / torch.tensor(CLIP_STD)
        return x.movedim(-1, -3)

    # -- folders ------------------------------------------------------------------------------------

    @classmethod
    def from_pretrained(
        cls, pretrained_model_name_or_path: str | os.PathLike, *args: Any, **kwargs: Any
    ) -> Any:
        """The model saved in a folder (or hub repo), in eval mode; a missing, unexpected or
        misshapen tensor is an error naming it (transformers would initialise it randomly), and
        so is a folder of another head (its model_type)."""
        folder = Path(pretrained_model_name_or_path)
        if folder.is_dir():
            for name in (CONFIG_NAME, WEIGHTS_NAME):
                if not (folder / name).is_file():
                    raise FileNotFoundError(
                        f"{folder / name} does not exist (not an exported {cls.export_name} folder)"
                    )
            # transformers would only warn, then build this head from the other's config.
            found = json.loads((folder / CONFIG_NAME).read_text()).get("model_type")
            want = cls.config_class.model_type
            if found is not None and found != want:
                raise ValueError(
                    f"{folder} holds a model_type {found!r} export, not {want!r} "
                    f"({cls.__name__}); load it with that head's class or AutoModel"
                )
        want_info = kwargs.pop("output_loading_info", False)
        # Misshapen tensors come back in the loading info, so the error below names them.
        kwargs["ignore_mismatched_sizes"] = True
        model, info = super().from_pretrained(
            pretrained_model_name_or_path, *args, output_loading_info=True, **kwargs
        )
        # transformers' position_ids buffer is derived, not learned.
        missing = sorted(k for k in info["missing_keys"] if not k.endswith("position_ids"))
        unexpected = sorted(info["unexpected_keys"])
        shapes = sorted(str(k) for k in info["mismatched_keys"])
        if missing or unexpected or shapes:
            raise ValueError(
                f"{pretrained_model_name_or_path}: missing {missing[:8]}, "
                f"unexpected {unexpected[:8]}, misshapen {shapes[:8]}"
            )
        # transformers casts each tensor to its parameter's dtype, so an integer tensor (an F32
        # one whose header says I32 has the same size) would load as garbage without a word.
        own = model.state_dict()
        found = saved_dtypes(pretrained_model_name_or_path, kwargs)
        mistyped = [
            f"{k}: checkpoint {found[k]}, model expects floating point ({own[k].dtype})"
            for k in sorted(found)
            if k in own and own[k].is_floating_point() and found[k] not in FLOAT_DTYPES
        ]
        if mistyped:
            raise ValueError(f"{pretrained_model_name_or_path}: dtype mismatch: {mistyped[:8]}")
        model.eval()
        return (model, info) if want_info else model

    def load_state_dict_strict(
        self, tensors: dict[str, torch.Tensor], where: Any = "state"
    ) -> None:
        """Loads every tensor; a missing, unexpected or misshapen one is an error naming it."""
        own = self.state_dict()
        # transformers' position_ids buffer is derived, not learned.
        missing = sorted(k for k in own if k not in tensors and not k.endswith("position_ids"))
        unexpected = sorted(k for k in tensors if k not in own)
        shapes = [
            f"{k}: {tuple(v.shape)} vs model {tuple(own[k].shape)}"
            for k, v in tensors.items()
            if k in own and tuple(v.shape) != tuple(own[k].shape)
        ]
        # load_state_dict would cast an integer tensor into a float parameter without a word.
        dtypes = [
            f"{k}: {v.dtype} vs model {own[k].dtype}"
            for k, v in tensors.items()
            if k in own and v.is_floating_point() != own[k].is_floating_point()
        ]
        if missing or unexpected or shapes or dtypes:
            raise ValueError(
                f"{where}: missing {missing[:8]}, unexpected {unexpected[:8]}, misshapen "
                f"{shapes[:8]}, mistyped {dtypes[:8]}"
            )
        self.load_state_dict(tensors, strict=False)


class ALTForVideoClassification(FrozenCLIPVideoModel, PreTrainedModel):
    """ALT for inference, a transformers model; `config` is an `ALTConfig` (or its dict)."""

    config_class = ALTConfig
    base_model_prefix = "alt"
    main_input_name = "pixel_values"

    def __init__(self, config: ALTConfig | dict[str, Any]):
        config = coerce_config(config, ALTConfig)
        super().__init__(config)
        vcfg = self.build_vision(config)
        d = vcfg.projection_dim
        self.queries = config.queries
        if self.queries not in QUERY_KINDS:
            raise ValueError(f"queries must be one of {QUERY_KINDS}, got {self.queries!r}")
        if self.queries == "entities":
            self.alignment = EntityAlignment(vcfg.hidden_size, d)
        else:
            self.learned_queries = nn.Parameter(torch.zeros(config.num_queries, d))
        self.adapter = build_adapter(
            config.adapter, region_dim=vcfg.hidden_size, text_dim=d, frames=config.num_frames
        )
        self.gate = nn.Parameter(torch.zeros(()))
        self.entity_readout = bool(getattr(config, "entity_readout", False))
        if self.entity_readout:
            self.entity_gate = nn.Parameter(torch.zeros(()))
        self.probe = bool(getattr(config, "probe", False))
        if self.probe:  # cos(v, t_c) + g_p · (mean_t cls_t − μ) A t_c
            self.probe_mean = nn.Parameter(torch.zeros(d))
            self.probe_map = nn.Parameter(torch.zeros(d, d))
            self.probe_gate = nn.Parameter(torch.zeros(()))
        self.log_logit_scale = nn.Parameter(torch.zeros(()))
        self.register_buffer("entities", torch.zeros(len(config.entity_names), d))
        self.register_buffer("class_embeddings", torch.zeros(len(config.class_names), d))
        self.post_init()
        self.eval()

    # -- the head -----------------------------------------------------------------------------------

    @torch.no_grad()
    def forward(
        self, pixel_values: torch.Tensor, class_embeddings: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """pixel_values float [B, T, 3, H, W] (CLIP-normalised) → logits [B, C], video_embedding
        [B, d], entity_index [B, T, M] (the entity of each region; entity queries only) and dest
        [B, T, 1+N] (the region of each input token). `class_embeddings` [C, d] replaces the
        stored classes."""
        frames = self.video_tokens(pixel_values)
        ln, cls, dest = frames["ln"], frames["cls"], frames["dest"]
        b, t = cls.shape[:2]
        regions = ln[:, :, 1:]
        out, index = {}, None
        if self.queries == "entities":
            index, queries = self.alignment(regions, self.entities)
            out["entity_index"] = index
        else:
            m = regions.shape[2]
            if self.learned_queries.shape[0] != m:
                raise ValueError(
                    f"{m} regions per frame, but the model has {self.learned_queries.shape[0]} "
                    f"learned queries (set at the CLIP's image size and ToMe r)"
                )
            queries = self.learned_queries.expand(b, t, m, -1)
        z, readout = self.adapter(regions, ln[:, :, 0], queries, dest, index)
        pool = l2_normalize(cls) if self.config.frame_pool == "normalized" else cls
        base = pool.mean(dim=1)
        video = base + self.gate * z
        if self.entity_readout:  # e = the readout-weighted entity texts, averaged over frames
            entity = torch.einsum("btm,btmd->bd", readout, queries) / t
            video = video + self.entity_gate * base.norm(dim=-1, keepdim=True) * entity
        classes = self.class_embeddings if class_embeddings is None else class_embeddings
        classes = l2_normalize(classes)
        similarity = l2_normalize(video) @ classes.T
        if self.probe:
            appearance = (cls.mean(dim=1) - self.probe_mean) @ self.probe_map
            similarity = similarity + self.probe_gate * appearance @ classes.T
        logits = torch.exp(self.log_logit_scale) * similarity
        return {"logits": logits, "video_embedding": video, **out, "dest": dest}


# save_pretrained copies this file and its relative imports into the folder and sets auto_map,
# so `AutoModel.from_pretrained(folder, trust_remote_code=True)` loads it.
ALTConfig.register_for_auto_class()
ALTForVideoClassification.register_for_auto_class("AutoModel")
