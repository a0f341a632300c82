"""Models from a run's config: the frozen CLIP (checkpoint or random preset), the entity corpus
encoded by its text tower, and the ALT or VicTR head (`model.head`).

The modules under `alt_jax.models` take their sizes and knobs as arguments; this module is the one
place that reads the model config, loads weights and encodes the corpus to build them.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from alt_jax import corpus
from alt_jax.configs_lib import DTYPE_NAMES
from alt_jax.models.alt import ALT
from alt_jax.models.clip import CLIP
from alt_jax.models.clip_config import get_preset
from alt_jax.models.tome import parse_schedule_text
from alt_jax.models.victr import VicTR
from alt_jax.weights import load_clip

Array = jax.Array

# The backbone dtypes a config may name (configs_lib.DTYPE_NAMES) as JAX dtypes.
DTYPES = {name: jnp.dtype(name) for name in DTYPE_NAMES}


def backbone_dtype(config: ml_collections.ConfigDict, field: str) -> Any:
    """`backbone.<field>` ("dtype" or "param_dtype") as a JAX dtype; other names are refused."""
    name = config.backbone.get(field, "float32")  # configs recorded before param_dtype lack it
    if name not in DTYPES:
        raise ValueError(f"model.backbone.{field} must be one of {sorted(DTYPES)}, got {name!r}")
    return DTYPES[name]


def tome_spec(config: ml_collections.ConfigDict) -> Any:
    """The model config's ToMe schedule: `tome_schedule` parsed when set, else `tome_r`."""
    text = config.get("tome_schedule", "")  # configs recorded before the field lack it
    return parse_schedule_text(text) if text else config.tome_r


def build_clip(config: ml_collections.ConfigDict, *, seed: int = 0) -> CLIP:
    """The frozen CLIP of a model config: from `backbone.source`, or random at
    `backbone.preset` when that is empty."""
    numerics = dict(
        tome_r=tome_spec(config),
        prop_attn=config.prop_attn,
        region_features=config.region_features,
        param_dtype=backbone_dtype(config, "param_dtype"),
        attention=config.backbone.get("attention", "auto"),
    )
    dtype = backbone_dtype(config, "dtype")
    if config.backbone.source:
        return load_clip(config.backbone.source, dtype, **numerics)
    # Initialised inside one jit: eager initialisation compiles every op on its own.
    return nnx.jit(
        lambda: CLIP(
            get_preset(config.backbone.preset), dtype=dtype, rngs=nnx.Rngs(seed), **numerics
        )
    )()


def corpus_embeddings(config: ml_collections.ConfigDict, clip: CLIP) -> np.ndarray:
    """The entity corpus at `corpus.path` encoded by `clip`'s text tower (or from the cache)."""
    return corpus.entity_embeddings(
        config.corpus.path,
        clip,
        cache_dir=config.corpus.cache_dir or None,
        batch_size=config.corpus.batch_size,
        text_form=config.corpus.text_form,
        templates=tuple(config.corpus.templates),
    )


def build_alt(
    config: ml_collections.ConfigDict,
    *,
    clip: CLIP | None = None,
    entity_embeddings: Array | np.ndarray | None = None,
    seed: int = 0,
) -> ALT:
    """ALT from a config: the CLIP from `backbone.source` (random at `backbone.preset` when
    empty) unless given, S from the corpus (encoded or read from the cache) unless given."""
    if clip is None:
        clip = build_clip(config, seed=seed)
    if entity_embeddings is None:
        entity_embeddings = corpus_embeddings(config, clip)
    entities = jnp.asarray(entity_embeddings, jnp.float32)
    # Initialised inside one jit: eager initialisation compiles every op on its own.
    return nnx.jit(lambda clip, entities: ALT(clip, entities, config, rngs=nnx.Rngs(seed + 1)))(
        clip, entities
    )


def build_victr(
    config: ml_collections.ConfigDict,
    *,
    clip: CLIP | None = None,
    auxiliary_embeddings: Array | np.ndarray | None = None,
    seed: int = 0,
) -> VicTR:
    """VicTR from a model config: ALT's CLIP, and the entity corpus as auxiliary texts (unless
    given, or `victr.aux_texts` is False)."""
    if clip is None:
        clip = build_clip(config, seed=seed)
    if auxiliary_embeddings is None and config.victr.aux_texts:
        auxiliary_embeddings = corpus_embeddings(config, clip)
    return VicTR(clip, auxiliary_embeddings, config, rngs=nnx.Rngs(seed + 1))


BUILDERS = {"alt": build_alt, "victr": build_victr}


def build_model(config: ml_collections.ConfigDict, *, seed: int = 0, **kwargs) -> nnx.Module:
    """The model of `config.head` ("alt" or "victr") from a model config; `kwargs` go to its
    builder (clip=..., entity_embeddings=... / auxiliary_embeddings=...)."""
    if config.head not in BUILDERS:
        raise ValueError(f"model.head must be one of {sorted(BUILDERS)}, got {config.head!r}")
    return BUILDERS[config.head](config, seed=seed, **kwargs)
