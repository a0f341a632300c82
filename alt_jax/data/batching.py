"""A grain stage that batches samples, drops and counts skip markers, and pads eval batches;
and the per-process slice of a global batch stream (multi-host training).

It runs in the main process, after the multiprocess prefetch, because skip markers come from
worker processes: only here can the counts of one epoch be gathered and reported. At the end of
every pass it raises when no video was readable (a wrong root would otherwise loop over empty
epochs forever) or when more than `max_skip_fraction` were skipped. Its state (parent state,
per-epoch counts, batches emitted) is part of the iterator checkpoint.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

import grain
import numpy as np

from alt_jax.data import samples


def stack_samples(
    elements: Sequence[dict[str, Any]], batch_size: int, video_shape: Sequence[int]
) -> dict[str, np.ndarray]:
    """Stacks samples into a batch dict, padding to batch_size with zeros and valid=False."""
    num_valid = len(elements)
    video = np.zeros((batch_size, *video_shape), np.uint8)
    label = np.zeros((batch_size,), np.int32)
    index = np.full((batch_size,), -1, np.int64)  # -1 marks padding
    epoch = np.zeros((batch_size,), np.int32)
    for i, element in enumerate(elements):
        video[i] = element["video"]
        label[i] = element["label"]
        index[i] = element["index"]
        epoch[i] = element["epoch"]
    valid = np.arange(batch_size) < num_valid
    return {"video": video, "label": label, "index": index, "epoch": epoch, "valid": valid}


DEFAULT_MAX_SKIP_FRACTION = 0.5
NUM_NAMED = 3  # unreadable paths named in a TooManySkipped message


class TooManySkipped(RuntimeError):
    """Raised when a full pass over the input yields no readable video, or too few."""


def skipped_per_epoch(iterator: grain.DatasetIterator) -> list[int]:
    """Unreadable videos skipped so far in each epoch, read from the iterator's state."""
    return list(iterator.get_state()["skipped"])


class SkipCountingBatchIterDataset(grain.IterDataset):
    """Batches samples of `parent`, counting (not batching) skip markers, per epoch.

    With `pad` the final partial batch is padded (valid=False) and, if `num_batches` is set,
    fully padded batches follow until exactly `num_batches` were produced (every host of a
    multi-host evaluation then runs the same number of steps). Without `pad` a final partial
    batch is dropped (training).
    """

    def __init__(
        self,
        parent: grain.IterDataset,
        batch_size: int,
        video_shape: Sequence[int],
        *,
        pad: bool = False,
        num_batches: int | None = None,
        max_skip_fraction: float = DEFAULT_MAX_SKIP_FRACTION,
        where: str = "",
        hint: str = "check the data root and list file",
    ):
        super().__init__(parent)
        if not 0 <= max_skip_fraction <= 1:
            raise ValueError(f"max_skip_fraction {max_skip_fraction} is not in [0, 1]")
        self._batch_size = batch_size
        self._video_shape = tuple(video_shape)
        self._pad = pad
        self._num_batches = num_batches
        self._limits = _SkipLimits(max_skip_fraction, where, hint)

    def __iter__(self) -> grain.DatasetIterator:
        return _SkipCountingBatchIterator(
            self._parent.__iter__(),
            self._batch_size,
            self._video_shape,
            self._pad,
            self._num_batches,
            self._limits,
        )

    def __str__(self) -> str:
        return f"SkipCountingBatchIterDataset(batch_size={self._batch_size}, pad={self._pad})"


@dataclasses.dataclass(frozen=True)
class _SkipLimits:
    """When an epoch's skips stop the run, and how the error names the input."""

    max_fraction: float
    where: str
    hint: str


def _check_skips(
    epoch: int, seen: int, skipped: int, first: Sequence[str], error: str, limits: _SkipLimits
) -> None:
    """Raises TooManySkipped when a finished epoch read nothing, or skipped too many."""
    if not skipped or (skipped < seen and skipped <= limits.max_fraction * seen):
        return
    named = f"(first: {', '.join(first)}; error: {error})"
    if skipped == seen:
        message = f"no readable video in {seen} listed{limits.where} {named}"
    else:
        message = (
            f"{skipped} of {seen} videos unreadable{limits.where} in input epoch {epoch} "
            f"({skipped / seen:.0%}, above max_skip_fraction {limits.max_fraction:g}) {named}"
        )
    raise TooManySkipped(f"{message}; {limits.hint}" if limits.hint else message)


class _SkipCountingBatchIterator(grain.DatasetIterator):
    """Iterator of SkipCountingBatchIterDataset."""

    def __init__(
        self,
        parent: grain.DatasetIterator,
        batch_size: int,
        video_shape: tuple[int, ...],
        pad: bool,
        num_batches: int | None,
        limits: _SkipLimits,
    ):
        super().__init__(parent)
        self._batch_size = batch_size
        self._video_shape = video_shape
        self._pad = pad
        self._num_batches = num_batches
        self._limits = limits
        self._skipped: list[int] = [0]  # skipped[e] = unreadable videos met in epoch e
        # Elements (samples and markers) met in the current epoch; None: unknown (old state).
        self._seen: int | None = 0
        self._first: list[str] = []  # the current epoch's first skipped paths
        self._first_error = ""
        self._epoch = 0  # epoch of the last element seen
        self._emitted = 0
        self._exhausted = False

    def _see_epoch(self, epoch: int) -> None:
        """Closes the epochs before `epoch`, reporting and checking their skip counts."""
        while self._epoch < epoch:
            self._close(self._epoch)
            self._epoch += 1
            self._skipped.append(0)
            self._seen, self._first, self._first_error = 0, [], ""

    def _close(self, epoch: int) -> None:
        count = self._skipped[epoch]
        log = logging.warning if count else logging.info
        log("input epoch %d finished: %d unreadable video(s) skipped", epoch, count)
        if self._seen is not None:
            _check_skips(epoch, self._seen, count, self._first, self._first_error, self._limits)

    def _count_skip(self, element: dict[str, Any]) -> None:
        self._skipped[self._epoch] += 1
        if len(self._first) < NUM_NAMED:
            self._first.append(str(element[samples.SKIPPED]))
        if not self._first_error:
            self._first_error = str(element.get("error", ""))

    def __next__(self) -> dict[str, np.ndarray]:
        if self._num_batches is not None and self._emitted >= self._num_batches:
            raise StopIteration
        values = []
        while not self._exhausted and len(values) < self._batch_size:
            try:
                element = next(self._parent)
            except StopIteration:
                self._exhausted = True
                self._close(self._epoch)
                break
            self._see_epoch(int(element["epoch"]))
            if self._seen is not None:
                self._seen += 1
            if samples.is_skip_marker(element):
                self._count_skip(element)
                continue
            values.append(element)
        if len(values) < self._batch_size:
            padding_wanted = self._pad and (
                values or (self._num_batches is not None and self._emitted < self._num_batches)
            )
            if not padding_wanted:
                raise StopIteration
        self._emitted += 1
        return stack_samples(values, self._batch_size, self._video_shape)

    def get_state(self) -> dict[str, Any]:
        return {
            "parent": self._parent.get_state(),
            "skipped": list(self._skipped),
            "seen": self._seen,
            "first_skipped": list(self._first),
            "first_error": self._first_error,
            "epoch": self._epoch,
            "emitted": self._emitted,
            "exhausted": self._exhausted,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        self._parent.set_state(state["parent"])
        self._skipped = list(state["skipped"])
        # Checkpoints written before the skip limits lack these: that epoch goes unchecked.
        self._seen = state.get("seen")
        self._first = list(state.get("first_skipped", []))
        self._first_error = state.get("first_error", "")
        self._epoch = state["epoch"]
        self._emitted = state["emitted"]
        self._exhausted = state["exhausted"]

    def __str__(self) -> str:
        return f"SkipCountingBatchIterator(batch_size={self._batch_size}, pad={self._pad})"


def process_slice_length(total: int, batch_size: int, shard_index: int, shard_count: int) -> int:
    """How many of `total` stream positions fall in process `shard_index`'s slices."""
    global_batch = batch_size * shard_count
    full, rest = divmod(total, global_batch)
    return full * batch_size + min(max(rest - shard_index * batch_size, 0), batch_size)


def process_position(local: int, batch_size: int, shard_index: int, shard_count: int) -> int:
    """The global stream position of a process's `local`-th element: g·(b·P) + p·b + j."""
    group, offset = divmod(local, batch_size)
    return group * batch_size * shard_count + shard_index * batch_size + offset


class ProcessSliceMapDataset(grain.MapDataset):
    """Process p's contiguous slice of every global batch of `parent` (a stream in global order).

    Global batch g holds positions [g·b·P, (g+1)·b·P); process p of P reads its b positions
    p·b .. p·b+b-1 of each, so the P per-process batches together are the global batch that a
    single process with batch b·P reads, whatever P is (why: the same run on 1 or 8 hosts sees
    the same data). Element k of this dataset is `parent[process_position(k, ...)]`.
    """

    def __init__(
        self, parent: grain.MapDataset, batch_size: int, shard_index: int, shard_count: int
    ):
        super().__init__(parent)
        if not 0 <= shard_index < shard_count:
            raise ValueError(f"shard_index {shard_index} not in [0, {shard_count})")
        self._batch_size = batch_size
        self._shard_index = shard_index
        self._shard_count = shard_count
        self._length = process_slice_length(len(parent), batch_size, shard_index, shard_count)

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index):
        if isinstance(index, slice):
            return self.slice(index)
        if not 0 <= index < self._length:
            raise IndexError(f"index {index} out of range [0, {self._length})")
        position = process_position(index, self._batch_size, self._shard_index, self._shard_count)
        return self._parent[position]

    def __str__(self) -> str:
        return (
            f"ProcessSliceMapDataset(batch_size={self._batch_size}, "
            f"shard={self._shard_index}/{self._shard_count})"
        )
