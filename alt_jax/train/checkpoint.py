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
        self, abstract_params: Any, abstract_opt: Any | None = None
    ) -> tuple[int, Any, Any, dict, dict] | None:
        """(step, params, opt, data_state, meta) of the newest readable checkpoint, or None;
        opt is None when `abstract_opt` is (evaluation needs the parameters only).

        A checkpoint that cannot be read (left incomplete by a crash) is skipped with a warning
        in favour of the one before it.
        """
        for step in reversed(self.all_steps()):
            try:
                items = {
                    "params": ocp.args.StandardRestore(abstract_params),
                    "data": ocp.args.JsonRestore(),
                    "meta": ocp.args.JsonRestore(),
                }
                if abstract_opt is not None:
                    items["opt"] = ocp.args.StandardRestore(abstract_opt)
                restored = self.manager.restore(step, args=ocp.args.Composite(**items))
            except Exception as e:  # noqa: BLE001 - any unreadable checkpoint is skipped
                logging.warning(
                    "checkpoint %s/%d is unreadable (%s: %s); trying the previous one",
                    self.directory,
                    step,
                    type(e).__name__,
                    e,
                )
                continue
            opt = restored["opt"] if abstract_opt is not None else None
            return step, restored["params"], opt, restored["data"], restored["meta"]
        return None

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
