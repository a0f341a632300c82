"""Orbax checkpoints of the trainable state, optimizer, step, rng and the data iterator, and
the guards of a training workdir: one run at a time (a lock file), and a resume only with the
config the checkpoints were written with.

The frozen backbone is not copied: the checkpoint's `meta` item records where it comes from
(and the run's config), and it is rebuilt from that source on restore.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import fnmatch
import json
import logging
import os
import socket
import tempfile
from collections.abc import Iterator
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from etils import epath
from jax.experimental import multihost_utils

_ITEMS = ("params", "opt", "data", "meta")


def item_handlers() -> dict[str, Any]:
    """A handler for every item a checkpoint holds (_ITEMS), so that a manager restoring some
    of them does not warn about the others ("Item 'meta' ... could not be restored")."""
    return {
        "params": ocp.StandardCheckpointHandler(),
        "opt": ocp.StandardCheckpointHandler(),
        "data": ocp.JsonCheckpointHandler(),
        "meta": ocp.JsonCheckpointHandler(),
    }


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
        self.manager = ocp.CheckpointManager(
            self.directory, options=options, item_handlers=item_handlers()
        )

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

    def latest_meta(self) -> tuple[int, dict] | None:
        """(step, meta) of the newest checkpoint whose `meta` item is readable, or None."""
        for step in reversed(self.all_steps()):
            try:
                args = ocp.args.Composite(meta=ocp.args.JsonRestore())
                return step, self.manager.restore(step, args=args)["meta"]
            except Exception:  # noqa: BLE001 - damaged: restore_latest reports and skips it
                continue
        return None

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


# ---------------------------------------------------------------------------------------------
# The workdir: writable, one run at a time, the same config on resume.


class WorkdirError(RuntimeError):
    """The workdir cannot be used: it is not writable, or another run holds it."""


LOCK_FILE = "run.lock"
# Lock files this process holds → nesting depth (train_and_evaluate and Trainer.train both take
# the lock; a second flock on a new descriptor would conflict with the process's own).
_held: dict[str, tuple[int, Any]] = {}


def ensure_writable(workdir: str) -> None:
    """Creates `workdir` if needed and checks that a file can be written in it (local paths; a
    gs:// workdir reports its own errors on the first write); WorkdirError otherwise."""
    path = epath.Path(workdir)
    try:
        path.mkdir(parents=True, exist_ok=True)
        if "://" not in workdir:
            with tempfile.TemporaryFile(dir=workdir):
                pass
    except OSError as e:
        raise WorkdirError(f"workdir {workdir} is not writable: {e.strerror or e}") from e


def _lock_holder(stream) -> str:
    stream.seek(0)
    return stream.read().strip()


@contextlib.contextmanager
def workdir_lock(workdir: str) -> Iterator[None]:
    """Holds WORKDIR/run.lock while the block runs, so that a second run on the same workdir
    fails at once (WorkdirError naming the holder's pid) instead of interleaving its checkpoints
    and metrics with the first's.

    An flock is released by the kernel when its process dies, so a run killed by SIGKILL or a
    crash leaves no live lock: its pid stays in the file, and the next run takes the lock over
    and logs that it did. A workdir on gs:// cannot be locked: a warning says so.

    Several processes: one run has one lock, held by process 0 (which alone writes metrics and
    logs; all processes write checkpoint shards together, so a per-process lock on the shared
    workdir would only conflict with the run's own processes). Process 0's outcome is sent to
    all, so that every process of a second run stops, not process 0 alone. Nested use in one
    process is a no-op.
    """
    path = os.path.join(workdir, LOCK_FILE)
    if path in _held:
        depth, stream = _held[path]
        _held[path] = (depth + 1, stream)
        try:
            yield
        finally:
            depth, stream = _held.pop(path)
            if depth > 1:
                _held[path] = (depth - 1, stream)
        return
    if "://" in workdir:
        logging.warning(
            "workdir %s is not a local folder: it is not locked against other runs", workdir
        )
        yield
        return
    stream, error = None, ""
    if jax.process_index() == 0:
        stream, error = _acquire(workdir, path)
    if jax.process_count() > 1:
        # Every process learns whether process 0 got the lock (the error's text, 0-padded).
        text = np.zeros(1024, np.uint8)
        encoded = error.encode()[:1024]
        text[: len(encoded)] = np.frombuffer(encoded, np.uint8)
        text = np.asarray(multihost_utils.broadcast_one_to_all(text))
        error = bytes(text[text > 0]).decode(errors="replace")
    if error:
        raise WorkdirError(error)
    _held[path] = (1, stream)
    try:
        yield
    finally:
        _held.pop(path, None)
        if stream is not None:
            stream.seek(0)
            stream.truncate()  # a clean end leaves no holder for the next run to report
            fcntl.flock(stream, fcntl.LOCK_UN)
            stream.close()


def _acquire(workdir: str, path: str) -> tuple[Any, str]:
    """(open lock file, "") when the lock is taken, else (None, the error's text)."""
    try:
        stream = open(path, "a+")
    except OSError as e:
        return None, f"workdir {workdir} is not writable: {e.strerror or e}"
    try:
        fcntl.flock(stream, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            # A file system without locks (some network mounts): run unlocked rather than not.
            logging.warning("workdir %s cannot be locked (%s): not locked", workdir, e.strerror)
            return stream, ""
        holder = _lock_holder(stream) or "unknown"
        stream.close()
        return None, (
            f"workdir {workdir} is in use by another run (pid {holder}; lock {path}): wait for "
            "it to end, stop it, or use another workdir"
        )
    previous = _lock_holder(stream)
    if previous:
        logging.warning(
            "workdir %s: took over the stale lock of pid %s, which ended without releasing it",
            workdir,
            previous,
        )
    stream.seek(0)
    stream.truncate()
    stream.write(f"{os.getpid()} on {socket.gethostname()}\n")
    stream.flush()
    return stream, ""


# Config fields a resumed run may change: its length and periods, runtime-only settings
# (workers, mesh, checkpoint keeping), evaluation-only datasets and settings. Paths of inputs
# may move (non-empty to non-empty: the same files elsewhere), see MOVABLE_PATHS. Everything else
# (seed, model, optimizer, batch size, augmentation, ...) shapes the training itself.
RESUMABLE_FIELDS = (
    "num_train_steps",
    "num_epochs",
    "log_every",
    "eval_every",
    "checkpoint_every",
    "keep_checkpoints",
    "async_checkpoints",
    "alignment_picture",
    "feature_train_views",
    "init_from",  # read only when a run starts from nothing
    "nonfinite",
    "model.backbone.attention",  # the same function, computed another way
    "mesh.*",  # orbax restores into the new layout
    "sharding_rules",
    "evals",
    "evals.*",
    "data.workers",
    "data.strict",
    "data.max_skip_fraction",
    "model.corpus.cache_dir",
)
MOVABLE_PATHS = (
    "data.root",
    "data.list_file",
    "data.class_names_file",
    "feature_cache",
    "model.corpus.path",
    "model.backbone.source",
)


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict) and tree:
        out = {}
        for key, value in tree.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: tree}


def config_changes(old: dict, new: dict) -> list[tuple[str, Any, Any]]:
    """(field, old value, new value) of every field of the run config `new` that differs from
    `old` (both as JSON-loaded dicts) and may not change on resume. Fields present on one side
    only (added or removed by a newer version of the code) are not compared."""
    old, new = _flatten(old), _flatten(new)
    changes = []
    for key in sorted(old.keys() & new.keys()):
        a, b = old[key], new[key]
        if a == b or any(fnmatch.fnmatchcase(key, p) for p in RESUMABLE_FIELDS):
            continue
        if key in MOVABLE_PATHS and a and b:
            continue
        changes.append((key, a, b))
    return changes


def check_resume_config(meta: dict, config_json: str, step: int, workdir: str) -> None:
    """Raises ValueError naming every field (old → new) in which the run config `config_json`
    differs from the one checkpoint `step`'s `meta` recorded, beyond what may change on resume."""
    if "config" not in meta:  # written before configs were recorded: nothing to compare
        return
    changes = config_changes(json.loads(meta["config"]), json.loads(config_json))
    if changes:
        listed = "; ".join(f"{key}: {a!r} -> {b!r}" for key, a, b in changes)
        raise ValueError(
            f"workdir {workdir} holds a run with another config (checkpoint {step}): {listed}. "
            "Use a new workdir, or set these back to resume it"
        )
