"""alt-jax: Align before Adapt (ALT) video action recognition in JAX/Flax."""

from alt_jax.models.clip import CLIP, ClipConfig, get_preset
from alt_jax.text import class_embeddings, encode_texts
from alt_jax.tokenizer import tokenize
from alt_jax.weights import load_clip, save_clip

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
