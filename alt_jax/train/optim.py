"""The optimizer: AdamW, linear warm-up + cosine decay, weight-decay mask, clipping, accumulation."""

from __future__ import annotations

from typing import Any

import jax
import ml_collections
import optax

# Leaf names that never get weight decay: norms, biases, scales, temperatures, gates, embeddings
# of positions/time (regularising them towards 0 has no meaning), and parameters initialised to
# something meaningful, which decay toward zero would pull away from it: the temporal conv
# (identity at init) and W_r (CLIP's visual projection at init).
NO_DECAY_NAMES = (
    "bias",
    "scale",
    "log_tau",
    "log_logit_scale",
    "gate",
    "temporal_embedding",
    "temporal_position",
    "window_embedding",
    "video_token",
    "conv_kernel",
    "w_r",
    "probe_mean",
    "probe_map",
    "probe_gate",
)


def decay_mask(params: Any) -> Any:
    """A pytree of bools over `params`: True where weight decay applies (matrices, kernels)."""

    def decays(keypath, leaf) -> bool:
        names = [str(getattr(k, "key", getattr(k, "name", k))) for k in keypath]
        if any(name in NO_DECAY_NAMES for name in names):
            return False
        return getattr(leaf, "ndim", 0) >= 2

    return jax.tree_util.tree_map_with_path(decays, params)


def learning_rate_schedule(config: ml_collections.ConfigDict, total_steps: int) -> optax.Schedule:
    """Linear warm-up from 0 to `lr` over `warmup_steps`, then cosine decay to `lr * end_factor`."""
    warmup = min(int(config.warmup_steps), max(total_steps - 1, 0))
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=config.lr,
        warmup_steps=warmup,
        decay_steps=max(total_steps, warmup + 1),
        end_value=config.lr * config.end_factor,
    )


def num_updates(micro_steps: int, accum_steps: int) -> int:
    """Optimizer updates in `micro_steps` train steps when each update accumulates
    `accum_steps` micro-batches (the schedule counts updates, not micro-steps)."""
    if accum_steps < 1:
        raise ValueError(f"config.optim.accum_steps must be >= 1, got {accum_steps}")
    return micro_steps // accum_steps


def learning_rate_at(schedule: optax.Schedule, micro_step: int, accum_steps: int) -> float:
    """The learning rate of the last update applied by micro-step `micro_step` (1-based)."""
    return float(schedule(max(micro_step // accum_steps - 1, 0)))


def make_optimizer(
    config: ml_collections.ConfigDict, total_steps: int
) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """(optimizer, schedule) from `config.optim`-style fields; `total_steps` counts updates
    (with `accum_steps` = k, a run of N train steps makes N // k updates: `num_updates`)."""
    schedule = learning_rate_schedule(config, total_steps)
    chain = []
    if config.grad_clip > 0:
        chain.append(optax.clip_by_global_norm(config.grad_clip))
    chain.append(
        optax.adamw(
            schedule,
            b1=config.b1,
            b2=config.b2,
            eps=config.eps,
            weight_decay=config.weight_decay,
            mask=decay_mask,
        )
    )
    tx = optax.chain(*chain)
    if config.accum_steps > 1:
        tx = optax.MultiSteps(tx, every_k_schedule=config.accum_steps)
    return tx, schedule
