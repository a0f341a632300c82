"""SIGTERM (TPU preemption, SLURM, VM shutdown) as a clean stop: save what there is, exit 0.

One process: a Python handler sets a flag that the training loop checks after each step; in
phases that can block for long (start-up, waiting for data, evaluation) it raises `Preempted`
at once instead, and the trainer saves the last completed step. Several processes: JAX's
preemption service (started by `jax.distributed.initialize`) catches SIGTERM on any host and all
hosts agree on the step to stop at (`reached_preemption_sync_point`), so they save the same
step together; no Python handler is installed then, as it would replace the service's own.

Data-loading worker processes ignore SIGTERM and exit by themselves when the trainer is gone
(`alt_jax.data.pipeline.worker_init`).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from typing import Iterator

import jax
from jax._src import distributed
from jax.experimental import multihost_utils


class Preempted(Exception):
    """SIGTERM arrived during a phase that stops at once (start-up, data wait, evaluation)."""


class Preemption:
    """The run's SIGTERM policy; a context manager installing it for the process."""

    def __init__(self):
        self.requested = False
        self.synchronised = (
            jax.process_count() > 1 and distributed.global_state.preemption_sync_manager is not None
        )
        self._interruptible = 0
        self._previous = None

    def __enter__(self) -> "Preemption":
        if not self.synchronised and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None

    def _handle(self, signum, frame) -> None:
        logging.warning("SIGTERM received: saving what there is and stopping")
        self.requested = True
        if self._interruptible:
            raise Preempted()

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """A phase in which a SIGTERM raises `Preempted` at once rather than at the next step."""
        if self.requested and not self.synchronised:
            raise Preempted()
        self._interruptible += 1
        try:
            yield
        finally:
            self._interruptible -= 1

    def should_stop(self, step: int) -> bool:
        """Whether to save `step` and stop; with several processes all answer alike (every
        process must call this at every step)."""
        if self.synchronised and multihost_utils.reached_preemption_sync_point(step):
            self.requested = True
        return self.requested
