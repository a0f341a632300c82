"""Progress of long work as log lines: count/total, rate and ETA at most every `every` seconds,
and one line at the start and end of each phase of a run.

Lines go through Python `logging` (the logger `alt_jax.progress`, at INFO), so they reach the
terminal through absl's handler and a run's log.txt alike, and are silenced where INFO is: the
processes other than 0 of a multi-process run (`alt_jax.main` sets their verbosity to WARNING).
A line is never redrawn in place: terminal and log file read the same, and `every` keeps a log
of hours of work to a few lines a minute.

Counting costs a clock read per `update`; it reads nothing from an accelerator, so callers
count what the host already holds (a batch's size, its `valid` mask after it was fetched).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

LOGGER = logging.getLogger(__name__)
# Often enough to see that work moves and when it will end, rarely enough for a short log file.
DEFAULT_EVERY = 30.0
# Seconds between progress lines when a caller gives none (read when a Progress starts).
EVERY_VARIABLE = "ALT_JAX_PROGRESS_SECONDS"

T = TypeVar("T")


def default_every() -> float:
    """Seconds between progress lines: $ALT_JAX_PROGRESS_SECONDS, else DEFAULT_EVERY."""
    value = os.environ.get(EVERY_VARIABLE, "")
    try:
        return max(float(value), 0.0) if value else DEFAULT_EVERY
    except ValueError:
        raise ValueError(f"${EVERY_VARIABLE}={value!r} is not a number of seconds") from None


def format_duration(seconds: float) -> str:
    """A duration for a log line: "8.5s" under a minute, "4m05s", "2h03m07s"."""
    if seconds < 59.95:  # rounds to at most "59.9s"; 59.95 and up would print "60.0s"
        return f"{max(seconds, 0.0):.1f}s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def format_rate(per_second: float) -> str:
    """A rate with three significant digits at most: "0.25", "4.50", "41.2", "1234"."""
    if per_second >= 100:
        return f"{per_second:.0f}"
    return f"{per_second:.1f}" if per_second >= 10 else f"{per_second:.2f}"


class Progress:
    """Counts the items of a loop and logs "name: n/total unit (p%), r unit/s, ETA t" at most
    every `every` seconds (None: `default_every()`); a line when it starts and one with the
    count, time and mean rate when it ends (as a context manager, or `close()`).

    The rate of a progress line is that since the previous line (the first: since the start),
    so it follows a loop that speeds up after its first, compiling, step; the ETA is the items
    left at that rate. `total=None` (unknown length) drops the total, percentage and ETA.
    `clock` returns seconds (tests pass a fake one); `stacklevel` is logging's: 1 names the code
    that calls this object's methods as the line's origin, a wrapper such as `track` passes 2.
    """

    def __init__(
        self,
        name: str,
        total: int | None = None,
        *,
        unit: str = "items",
        every: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger = LOGGER,
        stacklevel: int = 1,
    ):
        self.name, self.total, self.unit = name, total, unit
        self.every = default_every() if every is None else every
        self.clock, self.logger = clock, logger
        self._stacklevel = stacklevel
        self.count = 0
        self.closed = False
        self.start = self._last_time = clock()
        self._last_count = 0
        size = f" ({total:,} {unit})" if total is not None else ""
        self._emit(f"{name} ...{size}", depth=1)

    def _emit(self, line: str, depth: int) -> None:
        # `depth`: the frames between the caller and here. The record then names the caller's
        # file and line (log.txt's format shows them), not this module's.
        self.logger.info("%s", line, stacklevel=self._stacklevel + depth + 1)

    def update(self, n: int = 1) -> None:
        """Adds `n` items done; logs a progress line when `every` seconds passed since the last."""
        self.count += n
        now = self.clock()
        if now - self._last_time >= self.every and not self.closed:
            self._emit(self.line(now), depth=1)
            self._last_time, self._last_count = now, self.count

    def line(self, now: float) -> str:
        """The progress line at time `now`: the rate since the last line, the ETA at that rate."""
        elapsed = now - self._last_time
        rate = (self.count - self._last_count) / elapsed if elapsed > 0 else None
        speed = f", {format_rate(rate)} {self.unit}/s" if rate is not None else ""
        if self.total is None:
            return f"{self.name}: {self.count:,} {self.unit}{speed}"
        percent = 100 * self.count // self.total if self.total > 0 else 100
        left = max(self.total - self.count, 0)
        if left == 0:
            eta = ", ETA 0.0s"
        elif rate:  # None or 0 (nothing done since the last line): no estimate
            eta = f", ETA {format_duration(left / rate)}"
        else:
            eta = ", ETA unknown"
        return f"{self.name}: {self.count:,}/{self.total:,} {self.unit} ({percent}%){speed}{eta}"

    def close(self, *, failed: bool = False) -> None:
        """Logs the closing line (count, time taken, mean rate) once; `failed`: the loop was
        left early by an exception, said as "stopped after"."""
        self._finish(failed)

    def _finish(self, failed: bool) -> None:
        if self.closed:
            return
        self.closed = True
        elapsed = self.clock() - self.start
        rate = f", {format_rate(self.count / elapsed)} {self.unit}/s" if elapsed > 0 else ""
        took = f"{self.count:,} {self.unit} in {format_duration(elapsed)}{rate}"
        verb = "stopped after" if failed else "done,"
        self._emit(f"{self.name}: {verb} {took}", depth=2)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        self._finish(failed=kind is not None)


def track(
    items: Iterable[T],
    name: str,
    total: int | None = None,
    *,
    unit: str = "items",
    every: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    logger: logging.Logger = LOGGER,
) -> Iterator[T]:
    """Yields `items`, counting one per item (a `Progress`); `total` defaults to len(items)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    bar = Progress(name, total, unit=unit, every=every, clock=clock, logger=logger, stacklevel=2)
    with bar:
        for item in items:
            yield item
            bar.update()


@contextlib.contextmanager
def phase(
    name: str,
    *,
    enabled: bool = True,
    clock: Callable[[], float] = time.monotonic,
    logger: logging.Logger = LOGGER,
) -> Iterator[None]:
    """Logs "name ..." when the block starts and "name: done in t" (or "stopped after t" when
    it raises) when it ends; `enabled=False` logs nothing (a phase of the first pass only)."""
    if not enabled:
        yield
        return
    # Called through contextlib's __enter__/__exit__: stacklevel 3 names the `with` line.
    logger.info("%s ...", name, stacklevel=3)
    start = clock()
    try:
        yield
    except BaseException:
        logger.info("%s: stopped after %s", name, format_duration(clock() - start), stacklevel=3)
        raise
    logger.info("%s: done in %s", name, format_duration(clock() - start), stacklevel=3)
