"""The model a config names: `config.model.head` picks ALT or VicTR on the same frozen CLIP."""

from __future__ import annotations

import ml_collections
from flax import nnx

from alt_jax.models.alt import build_alt
from alt_jax.models.victr import build_victr

BUILDERS = {"alt": build_alt, "victr": build_victr}


def build_model(config: ml_collections.ConfigDict, *, seed: int = 0, **kwargs) -> nnx.Module:
    """The model of `config.head` ("alt" or "victr") from a model config; `kwargs` go to its
    builder (clip=..., entity_embeddings=... / auxiliary_embeddings=...)."""
    if config.head not in BUILDERS:
        raise ValueError(f"model.head must be one of {sorted(BUILDERS)}, got {config.head!r}")
    return BUILDERS[config.head](config, seed=seed, **kwargs)
