"""Checkpoint retention and restore: which steps survive, what comes back."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

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


def damage_kinds(step_dir) -> dict[str, object]:
    """One file per kind in a step folder (hash-named data chunks are one kind per folder; the
    largest stands for them): {kind: path}."""
    kinds: dict[str, object] = {}
    for path in sorted(p for p in step_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(step_dir)
        hashed = len(rel.name) == 32 and all(c in "0123456789abcdef" for c in rel.name)
        kind = str(rel.parent / "<chunk>") if hashed else str(rel)
        if kind not in kinds or path.stat().st_size > kinds[kind].stat().st_size:
            kinds[kind] = path
    return kinds


def save_two(directory) -> None:
    ckpt = checkpoint.Checkpointer(directory, keep=3, best_metric=None, async_save=False)
    for step in (1, 2):
        params = {"w": jnp.arange(1000.0) * step, "b": jnp.full((3,), float(step))}
        ckpt.save(step, params, {"count": jnp.asarray(step)}, {"processes": [{"pos": step}]}, {})
    ckpt.close()


@pytest.mark.slow
def test_each_kind_of_damage_restores_exact_values_or_falls_back_and_moves_aside(tmp_path):
    """Truncate each kind of file of the newest checkpoint in turn: what comes back is exactly
    what some step saved (orbax either reads it or the step is skipped, never wrong values); a
    skipped step is moved to damaged_checkpoints/ and that step can be saved again."""
    save_two(tmp_path / "probe" / "ckpt")
    kinds = sorted(damage_kinds(tmp_path / "probe" / "ckpt" / "2"))
    assert {"params/_METADATA", "data/metadata", "meta/metadata", "params/d/<chunk>"} <= set(kinds)
    abstract = {"w": jnp.zeros(1000), "b": jnp.zeros(3)}, {"count": jnp.asarray(0)}
    fell_back = []
    for i, kind in enumerate(kinds):
        run = tmp_path / f"run{i}"
        save_two(run / "ckpt")
        path = damage_kinds(run / "ckpt" / "2")[kind]
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2] if len(data) > 1 else b"\xff")
        ckpt = checkpoint.Checkpointer(run / "ckpt", keep=3, best_metric=None, async_save=False)
        step, params, opt, data_state, _ = ckpt.restore_latest(*abstract, move_damaged=True)
        np.testing.assert_array_equal(params["w"], np.arange(1000.0) * step, err_msg=kind)
        np.testing.assert_array_equal(params["b"], np.full(3, float(step)), err_msg=kind)
        assert int(opt["count"]) == step and data_state == {"processes": [{"pos": step}]}, kind
        if step == 1:
            fell_back.append(kind)
            assert ckpt.all_steps() == [1], kind
            assert (
                run / "damaged_checkpoints" / "2" / path.relative_to(run / "ckpt" / "2")
            ).exists()
            # The step that was damaged can be written again (orbax refused: StepAlreadyExists).
            ckpt.save(
                2, {"w": jnp.zeros(1000), "b": jnp.ones(3)}, {"count": jnp.asarray(7)}, {}, {}
            )
            ckpt.wait()
            assert ckpt.restore_latest(*abstract)[0] == 2
        ckpt.close()
    # The damage that matters is detected: these kinds hold what a restore reads.
    assert {"params/_METADATA", "data/metadata", "meta/metadata", "params/d/<chunk>"} <= set(
        fell_back
    ), fell_back


def test_nothing_readable_raises_and_moves_nothing(tmp_path):
    """Every step unreadable (here: restored into another model's shapes) is not damage: the
    error names the folder and nothing is moved."""
    save_two(tmp_path / "ckpt")
    ckpt = checkpoint.Checkpointer(tmp_path / "ckpt", keep=3, best_metric=None, async_save=False)
    other_model = {"w": jnp.zeros(999), "b": jnp.zeros(3)}, {"count": jnp.asarray(0)}
    with pytest.raises(checkpoint.CheckpointError, match="no checkpoint in .*ckpt is readable"):
        ckpt.restore_latest(*other_model, move_damaged=True)
    assert ckpt.all_steps() == [1, 2] and not (tmp_path / "damaged_checkpoints").exists()
    ckpt.close()


def test_config_changes_name_what_a_resume_may_not_change():
    """Run length, periods, workers and evaluation sets may change on resume; input paths may
    move but not appear or vanish; everything else is named with both values; a field the old
    config lacks (added to the code since) is not compared."""
    old = {
        "seed": 0,
        "num_train_steps": 10,
        "data": {"root": "/a/videos", "workers": 0, "flip": True},
        "feature_cache": "",
        "optim": {"lr": 1e-3},
        "evals": {"val": {"root": "/a/val"}},
    }
    new = {
        "seed": 0,
        "num_train_steps": 20,
        "data": {"root": "/b/videos", "workers": 8, "flip": True},
        "feature_cache": "",
        "optim": {"lr": 1e-3},
        "evals": {},
        "nonfinite": "skip",
    }
    assert checkpoint.config_changes(old, new) == []
    new["data"]["flip"], new["feature_cache"], new["optim"]["lr"] = False, "/b/cache", 2e-3
    assert checkpoint.config_changes(old, new) == [
        ("data.flip", True, False),
        ("feature_cache", "", "/b/cache"),
        ("optim.lr", 1e-3, 2e-3),
    ]
