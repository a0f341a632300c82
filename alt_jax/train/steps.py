"""The pure step functions over `nnx.split` state: the forward pass on video or cached encoder
features, the train step (AdamW update, skipped when not finite) and the evaluation step.

They import no input pipeline, writer or checkpoint code, so benchmarks and accelerator checks
run them with jax, flax and optax alone; `trainer.Trainer` compiles them with its shardings.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from alt_jax.data.normalize import normalize_clip
from alt_jax.models.alt import ALT, FEATURE_KEYS, cross_entropy

Batch = dict[str, Any]


def forward(
    model: ALT, batch: Batch, class_emb: jax.Array, *, train: bool, rng=None, **head_kwargs
) -> dict:
    """The model on a batch of uint8 videos, or of cached encoder features (no encoder);
    `head_kwargs` (an ALT's entity_ablation) go to the head."""
    if "video" in batch:
        return model(normalize_clip(batch["video"]), class_emb, train=train, rng=rng, **head_kwargs)
    features = {key: batch[key] for key in FEATURE_KEYS}
    return model.head(features, class_emb, train=train, rng=rng, **head_kwargs)


def make_train_step(graphdef: nnx.GraphDef, tx: optax.GradientTransformation, smoothing: float):
    """(params, frozen, opt_state, class_emb, batch, rng[, apply]) → (params, opt_state, metrics).

    The update is applied only when `apply` (a bool scalar, default true) is true and the loss
    and gradient norm are finite; otherwise params and optimizer state come back unchanged, so
    a non-finite step never reaches the state. metrics["finite"] says whether they were finite,
    metrics["applied"] whether the update was applied.
    """

    def train_step(params, frozen, opt_state, class_emb, batch, rng, apply=True):
        def loss_fn(params):
            model = nnx.merge(graphdef, params, frozen)
            out = forward(model, batch, class_emb, train=True, rng=rng)
            loss = cross_entropy(out["logits"], batch["label"], smoothing)
            # A head's own training term (an anchored W_r's penalty), 0 when it has none.
            return loss + out.get("regularization", 0.0), out["logits"]

        (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        grad_norm = optax.tree.norm(grads)
        finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
        updates, new_opt_state = tx.update(grads, opt_state, params)
        new_params = optax.apply_updates(params, updates)
        applied = apply & finite
        # A select in the step: the host learns of a bad step only when it next reads metrics.
        keep = lambda new, old: jnp.where(applied, new, old)  # noqa: E731
        metrics = {
            "loss": loss,
            "accuracy": (logits.argmax(-1) == batch["label"]).mean(),
            "grad_norm": grad_norm,
            "finite": finite,
            "applied": applied,
        }
        params = jax.tree.map(keep, new_params, params)
        return params, jax.tree.map(keep, new_opt_state, opt_state), metrics

    return train_step


@jax.jit
def tree_all_finite(tree: Any) -> jax.Array:
    """Whether every floating-point value of a pytree is finite (a bool scalar)."""
    leaves = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.all(jnp.asarray([jnp.isfinite(x).all() for x in leaves] or [True]))


def make_eval_step(graphdef: nnx.GraphDef, **head_kwargs):
    """(params, frozen, class_emb, views) → mean view probs [B, C]; views is uint8 videos
    [B, V, T, H, W, 3] or a dict of cached features with a views axis [B, V, ...];
    `head_kwargs` (an ALT's entity_ablation) go to the head."""

    def eval_step(params, frozen, class_emb, views):
        model = nnx.merge(graphdef, params, frozen)
        if isinstance(views, dict):
            b, v = views["cls"].shape[:2]
            flat = {k: x.reshape(b * v, *x.shape[2:]) for k, x in views.items()}
        else:
            b, v = views.shape[:2]
            flat = {"video": views.reshape(b * v, *views.shape[2:])}
        out = forward(model, flat, class_emb, train=False, **head_kwargs)
        probs = jax.nn.softmax(out["logits"].astype(jnp.float32), axis=-1)
        return probs.reshape(b, v, -1).mean(axis=1)

    return eval_step
