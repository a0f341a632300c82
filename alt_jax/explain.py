"""What a model says about one video: class probabilities and, for an ALT with entity
queries, the entities it aligned.

Shared by `alt_jax.predict`, `tools/visualize_alignment.py` and the trainer's alignment picture.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from alt_jax.data.normalize import normalize_clip
from alt_jax.models.alt import ALT
from alt_jax.models.victr import VicTR


@nnx.jit
def _views_forward(
    model: ALT | VicTR, views: jax.Array, class_emb: jax.Array
) -> dict[str, jax.Array]:
    out = model(normalize_clip(views), class_emb, train=False)
    # VicTR and ALT with learned queries align no region to an entity: probabilities only.
    maps = {k: out[k][0] for k in ("entity_index", "dest") if k in out}
    return {
        "probs": jax.nn.softmax(out["logits"].astype(jnp.float32), axis=-1).mean(axis=0),
        **maps,
    }


def explain_views(
    model: ALT | VicTR, views: np.ndarray, class_emb: np.ndarray
) -> dict[str, np.ndarray]:
    """uint8 views [V, T, S, S, 3] of one video → probs [C] (softmax averaged over views, as
    evaluation does), and for the first view entity_index [T, M] and dest [T, 1 + N] when the
    model aligns regions to entities (an ALT with entity queries)."""
    out = _views_forward(model, jnp.asarray(views), jnp.asarray(class_emb))
    return {k: np.asarray(v) for k, v in out.items()}


def top_classes(probs: np.ndarray, names: list[str], k: int = 5) -> list[tuple[str, float]]:
    """The k most probable classes as (name, probability), most probable first."""
    order = np.argsort(-probs, kind="stable")[:k]
    return [(names[i], float(probs[i])) for i in order]


def frame_entities(
    entity_index: np.ndarray, dest: np.ndarray, names: list[str], k: int = 3
) -> list[list[tuple[str, float]]]:
    """Per frame, the k entities covering most of it: (name, share of the frame's patches),
    largest first. A region's weight is the number of patches it holds.

    entity_index [T, M] (entity of region m + 1), dest [T, 1 + N] (region of each input token,
    token 0 the class token).
    """
    out = []
    for regions_entity, frame_dest in zip(entity_index, dest, strict=True):
        patches = np.asarray(frame_dest)[1:]  # region (1..M) of every patch
        sizes = np.bincount(patches, minlength=len(regions_entity) + 1)[1:]  # [M]
        weight = np.bincount(regions_entity, weights=sizes, minlength=len(names))
        order = np.argsort(-weight, kind="stable")[:k]
        out.append([(names[e], float(weight[e] / len(patches))) for e in order if weight[e] > 0])
    return out
