"""Softmax attention with an additive logit bias, by implementation: the hand-written reference
(fastest on XLA:CPU), XLA's and cuDNN's (`jax.nn.dot_product_attention`), and "auto"."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array


def dot_product_attention(q: Array, k: Array, v: Array, bias: Array | None) -> Array:
    """Softmax attention with an additive logit bias; logits and softmax in float32.

    q [B, Nq, H, Dh], k/v [B, Nk, H, Dh], bias broadcastable to [B, H, Nq, Nk] → [B, Nq, H, Dh].
    """
    # Heads-first operands for two plain batched matmuls, and the softmax's division moved after
    # the value product (on [Nq, Dh] instead of [Nq, Nk]): on XLA:CPU this runs ~5× faster than
    # einsums over [B, N, H, Dh] around jax.nn.softmax, which XLA fuses into one slow loop nest
    # (BENCHMARKS.md, "The encoder against the matmul roofline"). Same values to float rounding.
    dtype = v.dtype
    q = jnp.swapaxes(q * jnp.asarray(q.shape[-1] ** -0.5, q.dtype), 1, 2)  # [B, H, Nq, Dh]
    k = jnp.transpose(k, (0, 2, 3, 1))  # [B, H, Dh, Nk]
    v = jnp.swapaxes(v, 1, 2)  # [B, H, Nk, Dh]
    logits = jnp.matmul(q, k, preferred_element_type=jnp.float32)  # [B, H, Nq, Nk]
    if bias is not None:
        logits = logits + bias
    # The max is a constant for the softmax (it cancels), so no gradient flows through it.
    logits = logits - jax.lax.stop_gradient(logits.max(axis=-1, keepdims=True))
    weights = jnp.exp(logits)  # unnormalised, float32
    out = jnp.matmul(weights.astype(dtype), v, preferred_element_type=jnp.float32)
    out = out / weights.sum(axis=-1, keepdims=True)  # [B, H, Nq, Dh]
    return jnp.swapaxes(out, 1, 2).astype(dtype)


# Attention implementations (`model.backbone.attention`): "reference" is the function above (the
# fastest on XLA:CPU), "xla" and "cudnn" are `jax.nn.dot_product_attention`'s (cuDNN's fused
# kernel on NVIDIA GPUs, bfloat16/float16 only); "auto" picks by platform. On an H200 the B/16
# tower at ToMe r = 16 in bfloat16 ran at 9,900 frames/s with XLA's, 9,660 with the reference
# and 9,030 with cuDNN's (BENCHMARKS.md, "On a GPU"): at CLIP's short, shrinking sequences the
# fused kernel does not pay, so "auto" takes XLA's off the CPU and cuDNN's is asked for by name.
ATTENTION_IMPLEMENTATIONS = ("auto", "reference", "xla", "cudnn")


def resolve_attention(implementation: str, dtype: Any, platform: str | None = None) -> str:
    """The implementation "auto" stands for on `platform` (default: JAX's default backend):
    the reference on CPU, XLA's elsewhere; `dtype` is the compute dtype (cuDNN's kernel takes
    bfloat16 and float16 only)."""
    if implementation not in ATTENTION_IMPLEMENTATIONS:
        raise ValueError(
            f"attention must be one of {ATTENTION_IMPLEMENTATIONS}, got {implementation!r}"
        )
    if implementation == "cudnn" and jnp.dtype(dtype) not in (jnp.bfloat16, jnp.float16):
        raise ValueError(f"attention 'cudnn' needs bfloat16 or float16 operands, got {dtype}")
    if implementation != "auto":
        return implementation
    return "reference" if (platform or jax.default_backend()) == "cpu" else "xla"


def attention(
    q: Array, k: Array, v: Array, bias: Array | None, implementation: str = "reference"
) -> Array:
    """`dot_product_attention` by implementation (ATTENTION_IMPLEMENTATIONS); the shapes are
    its own."""
    chosen = resolve_attention(implementation, q.dtype)
    if chosen == "reference":
        return dot_product_attention(q, k, v, bias)
    if chosen == "cudnn":
        # cuDNN takes a bias [B or 1, H or 1, Nq, Nk] in the operands' dtype.
        fused_bias = None
        if bias is not None:
            bias4 = jnp.reshape(bias, (1,) * (4 - bias.ndim) + bias.shape)
            fused_bias = jnp.broadcast_to(bias4, (*bias4.shape[:2], q.shape[1], k.shape[1]))
            fused_bias = fused_bias.astype(q.dtype)
        return jax.nn.dot_product_attention(q, k, v, fused_bias, implementation="cudnn")
    # XLA's adds a float32 bias to float32 logits and takes the softmax in float32.
    return jax.nn.dot_product_attention(q, k, v, bias, implementation="xla")


def causal_bias(n: int) -> Array:
    """Additive causal mask [1, 1, n, n]: 0 on and below the diagonal, a large negative above."""
    mask = np.tril(np.ones((n, n), dtype=bool))
    return jnp.asarray(np.where(mask, 0.0, np.finfo(np.float32).min)[None, None], jnp.float32)
