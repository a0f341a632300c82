"""The video adapter (SPEC §5): aligned entity texts query the frames' region tokens.

Keys/values are the frozen frames' region tokens (MLP_kv), with a temporal embedding and a
depthwise temporal convolution over the frame class tokens as temporal context. Queries are the
aligned entity text embeddings Q̂ (MLP_q) of every region of every frame. A few decoder layers
(cross-attention, self-attention, MLP; pre-LN) and a mean over queries give a vector, projected
by W_o into the joint space; the caller adds it to CLIP's frame average through a zero-initialised
gate, so training starts from CLIP zero-shot.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from alt_jax.models.clip import dot_product_attention

Array = jax.Array


def depthwise_temporal_conv(x: Array, kernel: Array, bias: Array) -> Array:
    """x [B, T, C], kernel [k, C] (k odd), bias [C] → [B, T, C]; zero padding, same length.

    out[t, c] = bias[c] + Σ_j kernel[j, c] · x[t + j − k // 2, c]  (cross-correlation, as conv
    layers compute it).
    """
    k, t = kernel.shape[0], x.shape[1]
    if k % 2 != 1:
        raise ValueError(f"temporal conv kernel size must be odd, got {k}")
    half = k // 2
    padded = jnp.pad(x, ((0, 0), (half, half), (0, 0)))
    out = sum(padded[:, j : j + t] * kernel[j] for j in range(k))
    return out + bias


def gated_residual(base: Array, update: Array, gate: Array) -> Array:
    """base + g · update: with g = 0 the output is exactly `base` (CLIP's frame average)."""
    return base + gate * update


class MLP(nnx.Module):
    """Linear → GELU → Linear."""

    def __init__(self, d_in: int, hidden: int, d_out: int, *, rngs: nnx.Rngs):
        self.fc1 = nnx.Linear(d_in, hidden, rngs=rngs)
        self.fc2 = nnx.Linear(hidden, d_out, rngs=rngs)

    def __call__(self, x: Array) -> Array:
        return self.fc2(jax.nn.gelu(self.fc1(x)))


class MultiHeadAttention(nnx.Module):
    """Multi-head attention between a query sequence and a key/value sequence."""

    def __init__(self, width: int, heads: int, *, rngs: nnx.Rngs):
        if width % heads:
            raise ValueError(f"adapter width {width} is not divisible by {heads} heads")
        self.heads = heads
        self.q_proj = nnx.Linear(width, width, rngs=rngs)
        self.k_proj = nnx.Linear(width, width, rngs=rngs)
        self.v_proj = nnx.Linear(width, width, rngs=rngs)
        self.out_proj = nnx.Linear(width, width, rngs=rngs)

    def __call__(self, q: Array, kv: Array) -> Array:
        """q [B, Nq, W], kv [B, Nk, W] → [B, Nq, W]."""
        split = lambda t: t.reshape(*t.shape[:2], self.heads, -1)
        out = dot_product_attention(
            split(self.q_proj(q)), split(self.k_proj(kv)), split(self.v_proj(kv)), None
        )
        return self.out_proj(out.reshape(q.shape))


class DecoderLayer(nnx.Module):
    """Q ← Q + CrossAttn(LN(Q), LN(KV)); Q ← Q + SelfAttn(LN(Q)); Q ← Q + MLP(LN(Q))."""

    def __init__(self, width: int, heads: int, mlp_ratio: float, *, rngs: nnx.Rngs):
        self.ln_q = nnx.LayerNorm(width, rngs=rngs)
        self.ln_kv = nnx.LayerNorm(width, rngs=rngs)
        self.cross_attn = MultiHeadAttention(width, heads, rngs=rngs)
        self.ln_self = nnx.LayerNorm(width, rngs=rngs)
        self.self_attn = MultiHeadAttention(width, heads, rngs=rngs)
        self.ln_mlp = nnx.LayerNorm(width, rngs=rngs)
        self.mlp = MLP(width, int(width * mlp_ratio), width, rngs=rngs)

    def __call__(self, q: Array, kv: Array) -> Array:
        """q [B, Nq, W], kv [B, Nk, W] → [B, Nq, W]."""
        q = q + self.cross_attn(self.ln_q(q), self.ln_kv(kv))
        h = self.ln_self(q)
        q = q + self.self_attn(h, h)
        return q + self.mlp(self.ln_mlp(q))


class VideoAdapter(nnx.Module):
    """Entity queries over frame regions → a video vector [B, d] (before the gated residual)."""

    def __init__(
        self,
        *,
        region_dim: int,
        text_dim: int,
        width: int,
        depth: int,
        heads: int,
        mlp_ratio: float,
        conv_kernel: int,
        num_frames: int,
        rngs: nnx.Rngs,
    ):
        if conv_kernel % 2 != 1:
            raise ValueError(f"temporal conv kernel size must be odd, got {conv_kernel}")
        self.mlp_kv = MLP(region_dim, width, width, rngs=rngs)
        self.mlp_q = MLP(text_dim, width, width, rngs=rngs)
        self.temporal_embedding = nnx.Param(
            0.02 * jax.random.normal(rngs.params(), (num_frames, width), jnp.float32)
        )
        # Depthwise conv starts as the identity on the centre tap plus small noise elsewhere,
        # so the temporal context at init is each frame's own class token.
        kernel = 0.02 * jax.random.normal(rngs.params(), (conv_kernel, width), jnp.float32)
        self.conv_kernel = nnx.Param(kernel.at[conv_kernel // 2].add(1.0))
        self.conv_bias = nnx.Param(jnp.zeros((width,), jnp.float32))
        self.layers = nnx.List(
            [DecoderLayer(width, heads, mlp_ratio, rngs=rngs) for _ in range(depth)]
        )
        self.out_proj = nnx.Linear(width, text_dim, use_bias=False, rngs=rngs)  # W_o

    def __call__(self, regions: Array, cls: Array, queries: Array) -> Array:
        """regions [B, T, M, D] (LN'd region tokens), cls [B, T, D] (LN'd class tokens),
        queries [B, T, M, d] (aligned entity texts Q̂) → z [B, d]."""
        b, t, m, _ = regions.shape
        if t > self.temporal_embedding.shape[0]:
            raise ValueError(
                f"{t} frames, but the adapter has a temporal embedding for "
                f"{self.temporal_embedding.shape[0]}"
            )
        temb = self.temporal_embedding[...][:t]  # [T, W]
        # Class tokens share MLP_kv with the regions, so the context lives in the keys' space.
        context = depthwise_temporal_conv(
            self.mlp_kv(cls), self.conv_kernel[...], self.conv_bias[...]
        )  # [B, T, W]
        kv = self.mlp_kv(regions) + (temb + context)[:, :, None]  # [B, T, M, W]
        q = self.mlp_q(queries) + temb[None, :, None]  # [B, T, M, W]
        kv, q = kv.reshape(b, t * m, -1), q.reshape(b, t * m, -1)
        for layer in self.layers:
            q = layer(q, kv)
        return self.out_proj(q.mean(axis=1))
