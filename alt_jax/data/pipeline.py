"""Config-facing entry points: build a dataset's source and its grain train / eval iterators.

Train: MapDataset source → seeded shuffle → epochs → decode/sample/augment (seeded by
(seed, epoch, index)) → this process's slice of every global batch → [worker processes] →
batch, counting skipped videos → background prefetch of batches. Every process shuffles the
whole list with the same seed and takes a contiguous part of each global batch, so the global
batches are the same videos whatever the number of processes.
Eval: the same without shuffle or repeat, several views per video, the last batch padded.

Batches are dicts of NumPy arrays:
  video  uint8 [B, T, S, S, 3] (train) or [B, V, T, S, S, 3] (eval, V = clips × crops,
         view v = clip v // crops, crop v % crops; V may be 1)
  label  int32 [B]
  index  int64 [B]  position of the video in the source list (-1 for padding)
  epoch  int32 [B]  input epoch the sample was drawn in
  valid  bool  [B]  False for padding (eval only ever pads)
Frames stay uint8 on the host; `normalize.normalize_clip` converts them on the accelerator.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import signal
import threading
import time
from collections.abc import Sequence
from typing import Any

import grain
from absl import flags

from alt_jax.data import batching, samples, sources

SOURCE_KINDS = ("list", "kinetics_csv", "folder", "tfds", "tfds_catalogue")


@dataclasses.dataclass(frozen=True)
class SourceInfo:
    """What a built source holds: class names, and examples / batches for this process."""

    class_names: list[str]
    num_examples: int  # train: in the dataset; eval: in this process's shard
    num_batches: int | None = None  # per epoch for train (global batches), total for eval


@dataclasses.dataclass(frozen=True)
class SourceSpec:
    """Which videos a dataset lists, where they are and what their labels are (`load_source`)."""

    kind: str  # SOURCE_KINDS
    root: str | os.PathLike
    list_file: str | os.PathLike | None = None
    class_names_file: str | os.PathLike | None = None
    num_classes: int | None = None
    split: str = "train"
    fold: int = 1
    filename_pattern: str = sources.DEFAULT_KINETICS_PATTERN
    tfds_name: str | None = None
    tfds_config: str | None = None  # tfds_catalogue: the builder config ('ucf101_1_256')


@dataclasses.dataclass(frozen=True)
class ReadSpec:
    """How one process reads a source: its shard, workers and threads, and what unreadable
    videos do (skipped and counted; `strict` raises; a pass over more than
    `max_skip_fraction` skipped raises batching.TooManySkipped ending with `hint`)."""

    shard_index: int = 0
    shard_count: int = 1
    workers: int = 0
    read_threads: int = 1
    worker_buffer: int = 2
    prefetch_batches: int = 2
    strict: bool = False
    max_skip_fraction: float = batching.DEFAULT_MAX_SKIP_FRACTION
    hint: str = "check the data root and list file"


def load_source(source: SourceSpec) -> tuple[Sequence[dict[str, Any]], list[str]]:
    """A random-access sequence of {video, label, path, index} elements and the class names.

    kind='list': `list_file` of `path label` lines under `root`; classes from class_names_file.
    kind='kinetics_csv': `list_file` is the CSV; videos at root/filename_pattern.
    kind='folder': root/<class>/<video>; `list_file` is the directory of the official split files
      (UCF-101 classInd.txt + train/testlist, or HMDB-51 *_test_split*.txt), `split` 'train'/'test',
      `fold` 1-3; without `list_file` every video under root is used.
    kind='tfds': array_record shards from tools/prepare_dataset.py: `root` is the data_dir,
      `tfds_name` the packed dataset's name, `split` its split.
    kind='tfds_catalogue': a dataset of the tensorflow-datasets catalogue prepared in the data_dir
      `root` ('' for tfds' default): `tfds_name` ('ucf101'), `tfds_config` ('ucf101_1_256'),
      `split` (a tfds split, slices allowed); class names from its ClassLabel.
    """
    kind, root, list_file = source.kind, source.root, source.list_file
    split, fold, num_classes = source.split, source.fold, source.num_classes
    class_names_file, tfds_name = source.class_names_file, source.tfds_name
    names = sources.read_class_names(class_names_file) if class_names_file else None
    if kind == "tfds":
        # Imported here: tensorflow-datasets pulls in TensorFlow, slow to import.
        from alt_jax.data import tfds_video

        if tfds_name is None:
            raise ValueError("kind='tfds' needs tfds_name")
        source, packed_names = tfds_video.open_data_source(tfds_name, root, split)
        return grain.MapDataset.source(source).map_with_index(_tfds_element), names or packed_names
    if kind == "tfds_catalogue":
        from alt_jax.data import tfds_catalogue  # imports TensorFlow: only when asked for

        if tfds_name is None:
            raise ValueError("kind='tfds_catalogue' needs tfds_name (e.g. 'ucf101')")
        elements, catalogue_names = tfds_catalogue.open_catalogue_source(
            tfds_name, source.tfds_config, root, split
        )
        return elements, names or catalogue_names
    if kind == "list":
        if list_file is None:
            raise ValueError("kind='list' needs list_file")
        if num_classes is None and names is not None:
            num_classes = len(names)
        records = sources.read_annotation_list(list_file, root, num_classes=num_classes)
        if names is None:
            names = [str(i) for i in range(max((r.label for r in records), default=-1) + 1)]
    elif kind == "kinetics_csv":
        if list_file is None:
            raise ValueError("kind='kinetics_csv' needs list_file (the CSV)")
        records, names = sources.read_kinetics_csv(
            list_file, root, class_names=names, filename_pattern=source.filename_pattern
        )
    elif kind == "folder":
        if list_file is None:
            records, names = sources.scan_class_folders(root)
        elif os.path.exists(os.path.join(list_file, "classInd.txt")):
            records, names = sources.read_ucf101_split(root, list_file, fold=fold, subset=split)
        else:
            records, names = sources.read_hmdb51_split(root, list_file, fold=fold, subset=split)
    else:
        raise ValueError(f"unknown source kind {kind!r}; expected one of {SOURCE_KINDS}")
    elements = [
        {"video": r.path, "label": r.label, "path": r.path, "index": i}
        for i, r in enumerate(records)
    ]
    return elements, names


def _tfds_element(index: int, example: dict[str, Any]) -> dict[str, Any]:
    """An array_record example as a pipeline element (bytes stay encoded until the worker)."""
    path = example["path"]
    return {
        "video": example["video"],
        "label": int(example["label"]),
        "path": path.decode("utf-8") if isinstance(path, bytes) else path,
        "index": index,
    }


def _where(root: str | os.PathLike) -> str:
    """' under ROOT' for error messages (empty when the list holds full paths)."""
    return f" under {os.fspath(root)}" if os.fspath(root) else ""


def _as_map_dataset(elements: Sequence[dict[str, Any]] | grain.MapDataset) -> grain.MapDataset:
    return elements if isinstance(elements, grain.MapDataset) else grain.MapDataset.source(elements)


def _train_map(
    position: int,
    element: dict[str, Any],
    *,
    epoch_length: int,
    seed: int,
    spec: samples.ClipSpec,
    strict: bool,
) -> dict[str, Any]:
    """Loads one training sample; its epoch is its position in the repeated stream // length."""
    return samples.load_train_sample(
        element, epoch=position // epoch_length, seed=seed, spec=spec, strict=strict
    )


def worker_init(worker_index: int, worker_count: int) -> None:
    """Runs first in each data-loading worker process: ignore SIGTERM and SIGINT (schedulers
    and Ctrl-C signal the whole process group; the trainer decides when to stop and must still
    get batches while it saves) and exit when the parent is gone, even after a SIGKILL left no
    time to clean up."""
    del worker_index, worker_count
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()

    def watch_parent() -> None:
        # Reparented (to init or a subreaper) means the trainer died.
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch_parent, name="watch-parent", daemon=True).start()


def _parallel(ds: grain.MapDataset, read: ReadSpec) -> grain.IterDataset:
    """Runs the per-sample maps in `read.read_threads` threads, in `read.workers` processes
    if > 0."""
    read_threads, workers, worker_buffer = read.read_threads, read.workers, read.worker_buffer
    it = ds.to_iter_dataset(
        grain.ReadOptions(num_threads=read_threads, prefetch_buffer_size=max(2 * read_threads, 1))
    )
    if workers > 0:
        if not flags.FLAGS.is_parsed():
            # grain 0.2.18 reads an absl flag when starting workers and fails in programs that do
            # not use absl.app (google/grain#1355, fixed upstream later): take flag defaults.
            flags.FLAGS.mark_as_parsed()
        it = it.mp_prefetch(
            grain.MultiprocessingOptions(num_workers=workers, per_worker_buffer_size=worker_buffer),
            worker_init_fn=worker_init,
        )
    return it


def _prefetch(it: grain.IterDataset, read: ReadSpec) -> grain.IterDataset:
    """`read.prefetch_batches` batches made ahead in a background thread (none at 0)."""
    if read.prefetch_batches > 0:
        it = grain.experimental.ThreadPrefetchIterDataset(
            it, prefetch_buffer_size=read.prefetch_batches
        )
    return it


def make_train_iterator(
    source: SourceSpec,
    clip: samples.ClipSpec,
    batch_size: int,
    *,
    read: ReadSpec = ReadSpec(),
    seed: int = 0,
    num_epochs: int | None = None,
    shuffle: bool = True,
) -> tuple[grain.DatasetIterator, SourceInfo]:
    """A checkpointable iterator of training batches (repeats forever unless num_epochs).

    An epoch in which no video could be read, or more than `read.max_skip_fraction` of them,
    raises batching.TooManySkipped naming the count and first paths, ending with `read.hint`. A
    video whose frames have more than `clip.max_frame_pixels` pixels is skipped like an
    unreadable one.

    Without `shuffle` the videos come in dataset order (the feature cache is written so); a
    video's augmentation depends only on (seed, epoch, index), not on its position.

    `batch_size` is this process's part of the global batch (global = batch_size ×
    read.shard_count); process `read.shard_index` reads its contiguous slice of each one. Multi-process
    training should repeat forever: with a finite `num_epochs` the processes can end with
    different batch counts when the last global batch is partial or videos are skipped.
    """
    elements, names = load_source(source)
    shard_index, shard_count = read.shard_index, read.shard_count
    ds = _as_map_dataset(elements)
    epoch_length = len(ds)
    global_batch = batch_size * shard_count
    if epoch_length < global_batch:
        raise ValueError(
            f"the dataset has {epoch_length} videos, fewer than the global batch "
            f"{global_batch} (batch_size={batch_size} × {shard_count} processes)"
        )
    if shuffle:
        ds = ds.shuffle(seed=seed)  # reshuffled in every epoch of the repeat
    ds = ds.repeat(num_epochs)
    # Positions are global (the same on every process), so a sample's epoch and augmentation
    # seed do not depend on the process count.
    ds = ds.map_with_index(
        functools.partial(
            _train_map, epoch_length=epoch_length, seed=seed, spec=clip, strict=read.strict
        )
    )
    ds = batching.ProcessSliceMapDataset(ds, batch_size, shard_index, shard_count)
    it = _parallel(ds, read)
    it = batching.SkipCountingBatchIterDataset(
        it,
        batch_size,
        (clip.num_frames, clip.image_size, clip.image_size, 3),
        max_skip_fraction=read.max_skip_fraction,
        where=_where(source.root),
        hint=read.hint,
    )
    it = _prefetch(it, read)
    info = SourceInfo(
        class_names=names, num_examples=epoch_length, num_batches=epoch_length // global_batch
    )
    return iter(it), info


def make_eval_iterator(
    source: SourceSpec,
    clip: samples.ClipSpec,
    batch_size: int,
    *,
    read: ReadSpec = ReadSpec(),
) -> tuple[grain.DatasetIterator, SourceInfo]:
    """One pass over the split; every process yields the same number of (padded) batches.

    Raises batching.TooManySkipped like the train iterator (checked over this process's shard);
    skips videos above `clip.max_frame_pixels` like it. Every video gives clip.num_clips ×
    clip.num_crops views.
    """
    elements, names = load_source(source)
    shard_index, shard_count = read.shard_index, read.shard_count
    full = _as_map_dataset(elements)
    ds = full[shard_index::shard_count]
    # The largest shard sets the batch count for all processes.
    num_batches = math.ceil(math.ceil(len(full) / shard_count) / batch_size)
    ds = ds.map(functools.partial(samples.load_eval_sample, spec=clip, strict=read.strict))
    it = _parallel(ds, read)
    it = batching.SkipCountingBatchIterDataset(
        it,
        batch_size,
        (clip.num_clips * clip.num_crops, clip.num_frames, clip.image_size, clip.image_size, 3),
        pad=True,
        num_batches=num_batches,
        max_skip_fraction=read.max_skip_fraction,
        where=_where(source.root),
        hint=read.hint,
    )
    it = _prefetch(it, read)
    return iter(it), SourceInfo(class_names=names, num_examples=len(ds), num_batches=num_batches)
