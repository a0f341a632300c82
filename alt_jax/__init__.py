"""alt-jax: Align before Adapt (ALT) video action recognition in JAX/Flax."""

from __future__ import annotations

import importlib
from typing import Any

from alt_jax.tokenizer import tokenize

# The JAX-side names load on first use, so that `alt_jax.torch` (the PyTorch export) and the
# tokenizer import without JAX.
_LAZY = {
    "CLIP": "alt_jax.models.clip",
    "ClipConfig": "alt_jax.models.clip_config",
    "get_preset": "alt_jax.models.clip_config",
    "class_embeddings": "alt_jax.text",
    "encode_texts": "alt_jax.text",
    "load_clip": "alt_jax.weights",
    "save_clip": "alt_jax.weights",
}

__all__ = [
    "CLIP",
    "ClipConfig",
    "class_embeddings",
    "encode_texts",
    "get_preset",
    "load_clip",
    "save_clip",
    "tokenize",
]


def __getattr__(name: str) -> Any:
    """The JAX-side public names, imported when first asked for."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'alt_jax' has no attribute {name!r}")
