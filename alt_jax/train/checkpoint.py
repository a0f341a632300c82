"""Orbax checkpoints of the trainable state, optimizer, step, rng and the data iterator.

The frozen backbone is not copied: the checkpoint's `meta` item records where it comes from
(and the run's config), and it is rebuilt from that source on restore.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from etils import epath
from jax.experimental import multihost_utils

_ITEMS = ("params", "opt", "data", "meta")


class CheckpointError(RuntimeError):
    """No checkpoint of a run could be restored."""


class Checkpointer:
    """Keeps the last `keep` checkpoints and the best one by `best_metric` (higher is better)."""

    def __init__(
        self,
        directory: str | os.PathLike,
        *,
        keep: int = 3,
        best_metric: str | None = "top1",
        async_save: bool = True,
    ):
        # orbax refuses relative paths: a local workdir given as "run/" is made absolute.
        self.directory = epath.Path(absolute(str(directory)))
        policies = [ocp.checkpoint_managers.LatestN(n=keep)]
        if best_metric:
            policies.append(
                ocp.checkpoint_managers.BestN(
                    get_metric_fn=lambda metrics: metrics[best_metric],
                    # BestN sorts ascending (descending when reversed) and keeps the tail:
                    # not reversed, the tail holds the highest values.
                    reverse=False,
                    n=1,
                    keep_checkpoints_without_metrics=False,
                )
            )
        options = ocp.CheckpointManagerOptions(
            preservation_policy=ocp.checkpoint_managers.AnyPreservationPolicy(policies),
            enable_async_checkpointing=async_save,
            create=True,
        )
        self.manager = ocp.CheckpointManager(self.directory, options=options, item_names=_ITEMS)

    def all_steps(self) -> list[int]:
        """Finalised checkpoint steps, oldest first."""
        return sorted(self.manager.all_steps())

    def save(
        self,
        step: int,
        params: Any,
        opt: Any,
        data_state: dict[str, Any],
        meta: dict[str, Any],
        metrics: dict[str, float] | None = None,
        force: bool = False,
    ) -> bool:
        """Saves trainable params, optimizer state (+ rng), data iterator state and run meta
        (asynchronously unless configured otherwise); returns whether it saved."""
        args = ocp.args.Composite(
            params=ocp.args.StandardSave(params),
            opt=ocp.args.StandardSave(opt),
            data=ocp.args.JsonSave(data_state),
            meta=ocp.args.JsonSave(meta),
        )
        return self.manager.save(step, args=args, metrics=metrics, force=force)

    def restore_latest(
        self, abstract_params: Any, abstract_opt: Any | None = None, *, move_damaged: bool = False
    ) -> tuple[int, Any, Any, dict, dict] | None:
        """(step, params, opt, data_state, meta) of the newest readable checkpoint, or None when
        there is no checkpoint; opt is None when `abstract_opt` is (evaluation needs the
        parameters only).

        A newer checkpoint that cannot be read (damaged by a crash or a disk) is skipped in
        favour of the one before it; with `move_damaged` (training) it is moved aside to
        `damaged_checkpoints/` next to the checkpoint folder, kept for inspection, so that the
        run can save that step again. When no checkpoint is readable nothing is moved and the
        error is raised: that is a mismatch (another model config), not damage.
        """
        steps = self.all_steps()
        damaged: list[tuple[int, Exception]] = []
        for step in reversed(steps):
            try:
                restored = self._restore(step, abstract_params, abstract_opt)
            except Exception as e:  # noqa: BLE001 - any unreadable checkpoint is skipped
                logging.warning(
                    "checkpoint %s/%d is unreadable (%s: %s); trying the previous one",
                    self.directory,
                    step,
                    type(e).__name__,
                    str(e)[:500],
                )
                damaged.append((step, e))
                continue
            if damaged and move_damaged:
                self._move_aside([s for s, _ in damaged])
            return restored
        if damaged:
            step, error = damaged[0]
            raise CheckpointError(
                f"no checkpoint in {self.directory} is readable (steps {steps}); the newest, "
                f"{step}, fails with {type(error).__name__}: {str(error)[:300]}. If the model "
                "config changed, use a new workdir; if the files are damaged, move them away"
            ) from error
        return None

    def restore_step(
        self, step: int, abstract_params: Any, abstract_opt: Any | None = None
    ) -> tuple[int, Any, Any, dict, dict]:
        """(step, params, opt, data_state, meta) of checkpoint `step` (see `restore_latest`)."""
        return self._restore(step, abstract_params, abstract_opt)

    def _restore(self, step: int, abstract_params: Any, abstract_opt: Any | None):
        items = {
            "params": ocp.args.StandardRestore(abstract_params),
            "data": ocp.args.JsonRestore(),
            "meta": ocp.args.JsonRestore(),
        }
        if abstract_opt is not None:
            items["opt"] = ocp.args.StandardRestore(abstract_opt)
        restored = self.manager.restore(step, args=ocp.args.Composite(**items))
        opt = restored["opt"] if abstract_opt is not None else None
        return step, restored["params"], opt, restored["data"], restored["meta"]

    def _move_aside(self, steps: list[int]) -> None:
        """Renames damaged step folders into `damaged_checkpoints/` (process 0; all wait)."""
        if jax.process_index() == 0:
            aside = self.directory.parent / "damaged_checkpoints"
            aside.mkdir(parents=True, exist_ok=True)
            for step in steps:
                target = aside / str(step)
                n = 1
                while target.exists():
                    target, n = aside / f"{step}.{n}", n + 1
                (self.directory / str(step)).rename(target)
                logging.warning("moved the unreadable checkpoint %d to %s", step, target)
        if jax.process_count() > 1:
            multihost_utils.sync_global_devices("checkpoint_move_aside")
        self.manager.reload()

    def wait(self) -> None:
        """Blocks until pending asynchronous saves are written."""
        self.manager.wait_until_finished()

    def close(self) -> None:
        """Finishes pending saves and releases the manager."""
        self.manager.wait_until_finished()
        self.manager.close()


def gather_process_states(state: Any) -> dict[str, list]:
    """{"processes": [state of process 0, 1, ...]}: every process's JSON-able iterator state.

    orbax's JsonSave writes what process 0 holds, but each process has its own iterator (their
    positions differ once one of them skips an unreadable video), so all are gathered first.
    """
    if jax.process_count() == 1:
        return {"processes": [state]}
    data = np.frombuffer(json.dumps(state).encode(), np.uint8)
    lengths = np.asarray(multihost_utils.process_allgather(np.int32(len(data)))).reshape(-1)
    padded = np.zeros(int(lengths.max()), np.uint8)
    padded[: len(data)] = data
    rows = np.asarray(multihost_utils.process_allgather(padded)).reshape(len(lengths), -1)
    return {"processes": [json.loads(bytes(r[:n])) for r, n in zip(rows, lengths)]}


def own_process_state(saved: dict[str, Any]) -> Any | None:
    """This process's iterator state from `gather_process_states`'s output; None (with a
    warning) when the checkpoint was written by a different number of processes."""
    if "processes" not in saved:  # written before states were gathered: one process
        saved = {"processes": [saved]}
    states = saved["processes"]
    if len(states) != jax.process_count():
        logging.warning(
            "checkpoint has the data positions of %d processes, this run has %d: the input "
            "pipeline starts from the beginning of its shuffled order",
            len(states),
            jax.process_count(),
        )
        return None
    return states[jax.process_index()]


def absolute(path: str) -> str:
    """A local path made absolute; URLs (gs://...) unchanged."""
    return path if "://" in path else os.path.abspath(path)


def abstract_like(tree: Any) -> Any:
    """ShapeDtypeStructs (with shardings) of a pytree of arrays, for restoring into."""
    return jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=getattr(x, "sharding", None)),
        tree,
    )
