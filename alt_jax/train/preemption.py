"""SIGTERM (TPU preemption, SLURM, VM shutdown) and Ctrl-C as a clean stop: save what there is.

One process: a Python handler sets a flag that the training loop checks after each step; in
phases that can block for long (start-up, waiting for data, evaluation) it raises `Preempted`
at once instead, and the trainer saves the last completed step. SIGINT (Ctrl-C) does the same
as SIGTERM; a second SIGINT raises KeyboardInterrupt at once (nothing more is saved).

Several processes: JAX's preemption service (started by `jax.distributed.initialize`) catches
SIGTERM on any host and all hosts agree on the step to stop at
(`reached_preemption_sync_point`), so they save the same step together; no Python SIGTERM
handler is installed then, as it would replace the service's own. A first SIGINT is turned into
a SIGTERM to this process, so that Ctrl-C on any host goes through the same agreement (a
process stopping on its own would leave the others waiting in the next collective).

Data-loading worker processes ignore SIGTERM and exit by themselves when the trainer is gone
(`alt_jax.data.pipeline.worker_init`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from typing import Iterator

import jax
from jax._src import distributed
from jax.experimental import multihost_utils


class Preempted(Exception):
    """A stop signal arrived during a phase that stops at once (start-up, data wait, eval)."""


class Preemption:
    """The run's SIGTERM / SIGINT policy; a context manager installing it for the process."""

    def __init__(self):
        self.requested = False
        self.signal_name = ""  # the signal that asked to stop ("SIGTERM", "SIGINT")
        self.synchronised = (
            jax.process_count() > 1 and distributed.global_state.preemption_sync_manager is not None
        )
        self._interruptible = 0
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "Preemption":
        if threading.current_thread() is threading.main_thread():
            if not self.synchronised:
                self._previous[signal.SIGTERM] = signal.signal(signal.SIGTERM, self._handle)
            self._previous[signal.SIGINT] = signal.signal(signal.SIGINT, self._handle_sigint)
        return self

    def __exit__(self, *exc) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}

    def _handle(self, signum, frame) -> None:
        name = signal.Signals(signum).name
        logging.warning("%s received: saving what there is and stopping", name)
        self.requested = True
        self.signal_name = self.signal_name or name
        if self._interruptible:
            raise Preempted()

    def _handle_sigint(self, signum, frame) -> None:
        if self.requested or self.signal_name == "SIGINT":
            # A second Ctrl-C: the user does not want to wait for the save.
            raise KeyboardInterrupt()
        if self.synchronised:
            self.signal_name = "SIGINT"
            logging.warning("SIGINT received: stopping with the other processes at a common step")
            os.kill(os.getpid(), signal.SIGTERM)  # the preemption service's signal
            return
        self._handle(signum, frame)

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """A phase in which a stop signal raises `Preempted` at once rather than at the next
        step."""
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
