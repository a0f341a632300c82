"""CLIP input normalisation, applied on the accelerator so the host ships uint8 (4× less)."""

from __future__ import annotations

import jax.numpy as jnp

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def normalize_clip(frames_uint8: jnp.ndarray) -> jnp.ndarray:
    """uint8 [..., 3] RGB → float32 (x / 255 − CLIP mean) / CLIP std, per channel."""
    x = jnp.asarray(frames_uint8).astype(jnp.float32) / 255.0
    mean = jnp.asarray(CLIP_MEAN, jnp.float32)
    std = jnp.asarray(CLIP_STD, jnp.float32)
    return (x - mean) / std
