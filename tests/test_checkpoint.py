"""Checkpoint retention and restore: which steps survive, what comes back."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from alt_jax.train import checkpoint

# top1 of the evaluations attached to some saves (steps without one were periodic saves).
TOP1 = {2: 0.5, 3: 0.9, 4: 0.1}


def save_steps(directory, *, keep: int, best_metric: str | None) -> checkpoint.Checkpointer:
    """Saves steps 1..6 (params w = step), with top1 metrics at the steps of TOP1."""
    ckpt = checkpoint.Checkpointer(directory, keep=keep, best_metric=best_metric, async_save=False)
    for step in range(1, 7):
        metrics = {"top1": TOP1[step]} if step in TOP1 else None
        params = {"w": jnp.full((2,), float(step))}
        opt = {"count": jnp.asarray(step)}
        ckpt.save(step, params, opt, {"processes": [{"pos": step}]}, {"step": step}, metrics)
    ckpt.wait()
    return ckpt


def test_keeps_the_last_n_and_the_best_by_top1(tmp_path):
    """keep=2: steps 5 and 6 (the latest) and step 3 (top1 0.9, the best evaluated one)."""
    ckpt = save_steps(tmp_path / "ckpt", keep=2, best_metric="top1")
    assert ckpt.all_steps() == [3, 5, 6]
    ckpt.close()
    # What a fresh process sees on disk, and what it restores: the newest step, whole.
    reopened = checkpoint.Checkpointer(tmp_path / "ckpt", keep=2, async_save=False)
    assert reopened.all_steps() == [3, 5, 6]
    abstract = {"w": jnp.zeros((2,))}, {"count": jnp.asarray(0)}
    step, params, opt, data, meta = reopened.restore_latest(*abstract)
    assert step == 6 and int(opt["count"]) == 6 and meta == {"step": 6}
    np.testing.assert_array_equal(params["w"], [6.0, 6.0])
    assert checkpoint.own_process_state(data) == {"pos": 6}
    reopened.close()


def test_without_a_metric_only_the_last_n_are_kept(tmp_path):
    ckpt = save_steps(tmp_path / "ckpt", keep=3, best_metric=None)
    assert ckpt.all_steps() == [4, 5, 6]
    ckpt.close()
