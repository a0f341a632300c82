"""Class-name text embeddings: class names × prompt templates → one unit vector per class."""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from alt_jax.models.clip import CLIP
from alt_jax.progress import Progress
from alt_jax.tokenizer import tokenize

DEFAULT_TEMPLATES = ("a video of a person {}.",)


@nnx.jit
def _encode_batch(model: CLIP, token_ids: jax.Array) -> jax.Array:
    features = model.encode_text(token_ids).astype(jnp.float32)
    return features / jnp.linalg.norm(features, axis=-1, keepdims=True)


def encode_texts(
    model: CLIP, texts: Sequence[str], batch_size: int = 256, progress: Progress | None = None
) -> np.ndarray:
    """Texts → L2-normalised text features float32 [N, d], in fixed-size batches (one compile);
    `progress` counts the texts encoded."""
    if not texts:
        raise ValueError("encode_texts: no texts given")
    out = []
    for start in range(0, len(texts), batch_size):
        ids = tokenize(list(texts[start : start + batch_size]))
        n = ids.shape[0]
        if n < batch_size:  # pad the last batch so every call has the same shape
            ids = np.concatenate([ids, np.zeros((batch_size - n, ids.shape[1]), ids.dtype)])
        out.append(np.asarray(_encode_batch(model, jnp.asarray(ids)))[:n])
        if progress is not None:
            progress.update(n)
    return np.concatenate(out)


def class_embeddings(
    model: CLIP,
    class_names: Sequence[str],
    templates: Sequence[str] = DEFAULT_TEMPLATES,
    batch_size: int = 256,
) -> np.ndarray:
    """Class names → prompt-ensembled, L2-normalised class embeddings float32 [C, d].

    Each class's prompts are encoded and normalised, averaged over templates, and normalised
    again (CLIP's prompt ensembling). Memory is bounded by `batch_size` prompts at a time.
    """
    for t in templates:
        if "{}" not in t:
            raise ValueError(f"prompt template {t!r} has no '{{}}' placeholder for the class name")
    if not class_names:
        raise ValueError("class_embeddings: no class names given")
    prompts = [t.format(name) for name in class_names for t in templates]
    features = encode_texts(model, prompts, batch_size).reshape(
        len(class_names), len(templates), -1
    )
    mean = features.mean(axis=1)
    return mean / np.linalg.norm(mean, axis=-1, keepdims=True)


def center(embeddings: np.ndarray) -> np.ndarray:
    """Removes the mean class embedding and re-normalises [C, d] → [C, d].

    Class prompts that share most of their words get nearly parallel embeddings (a random-weight
    text tower gives cosines of 0.99); without their common part they separate.
    """
    if embeddings.shape[0] < 2:
        raise ValueError("centering needs at least two classes")
    centered = embeddings - embeddings.mean(axis=0, keepdims=True)
    return centered / np.linalg.norm(centered, axis=-1, keepdims=True)
