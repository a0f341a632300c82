"""The frozen-feature cache: the CLIP encoder's outputs written once, read back in place of video.

The encoder is frozen, so its region tokens for a given view never change. `write_features`
stores them (ALT.video_features: ln, cls, dest) per video for the evaluation views, or for a
fixed number of augmented training views, in an array_record file; training and evaluation then
read them and skip the encoder, which gives the same logits as the full path.

A cache folder is written by `CacheWriter`: every file under a temporary name, renamed when all
are complete, then `manifest.json` (per file: record count, byte size, feature shapes; the
config fields that determine the features). `check_cache` compares folder, files and config
against it before a run reads any of them, so a truncated, missing or foreign file is refused
up front with its name and how to rebuild it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import tempfile
from typing import Any, Callable, Iterator

import grain
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from array_record.python import array_record_data_source, array_record_module

from alt_jax.configs_lib import ConfigError
from alt_jax.data import batching
from alt_jax.models.alt import FEATURE_KEYS
from alt_jax.progress import Progress
from alt_jax.train.datasets import dataset_spec

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
PARTIAL = ".partial"  # suffix of a file still being written

# The config fields that determine the features: the frozen encoder's...
MODEL_FIELDS = ("backbone.source", "backbone.preset", "backbone.dtype", "tome_r", "prop_attn",
                "region_features")  # fmt: skip
# Fields added after caches existed, with their defaults: recorded only when set otherwise, so
# the caches written before them stay valid.
LATER_MODEL_FIELDS = {"backbone.param_dtype": "float32", "tome_schedule": ""}
# ...and which videos, and which views of them, were encoded.
SOURCE_FIELDS = ("kind", "root", "list_file", "class_names_file", "split", "fold",
                 "filename_pattern", "tfds_name", "num_frames", "image_size", "stride")  # fmt: skip
TRAIN_FIELDS = (*SOURCE_FIELDS, "flip", "scale_min")
EVAL_FIELDS = (*SOURCE_FIELDS, "num_clips", "num_crops")


class CacheError(ConfigError):
    """A feature cache a run cannot use; the message names the file and how to rebuild it."""


def rebuild_hint(folder: str) -> str:
    """How to rebuild the cache folder `folder` (or do without it)."""
    return (
        f"rebuild it with `python -m alt_jax.main --mode=extract_features` and this run's "
        f"--config (it rewrites {folder}), or delete the folder {folder} and set "
        "config.feature_cache='' to read the videos instead"
    )


def encode_record(arrays: dict[str, np.ndarray]) -> bytes:
    """A dict of arrays → bytes (an uncompressed .npz)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def decode_record(record: bytes) -> dict[str, np.ndarray]:
    """The inverse of `encode_record`."""
    with np.load(io.BytesIO(record)) as data:
        return {key: data[key] for key in data.files}


def write_features(
    path: str,
    batches: Iterator[dict[str, np.ndarray]],
    num_batches: int,
    features_fn: Callable[[jax.Array], dict[str, jax.Array]],
    *,
    views_axis: bool,
    progress: Progress | None = None,
) -> int:
    """Runs `features_fn` (uint8 videos [B, T, H, W, 3] → ALT.video_features outputs) over the
    batches and writes one record per valid video; returns the number written.

    With `views_axis`, videos are [B, V, T, H, W, 3] and each record holds all V views.
    `progress` counts the videos written.
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    writer = array_record_module.ArrayRecordWriter(path, "group_size:1")
    written = 0
    try:
        for _ in range(num_batches):
            before = written
            batch = next(batches)
            videos = batch["video"]
            b = videos.shape[0]
            if views_axis:
                v = videos.shape[1]
                flat = features_fn(jnp.asarray(videos.reshape(b * v, *videos.shape[2:])))
                feats = {k: np.asarray(x).reshape(b, v, *x.shape[1:]) for k, x in flat.items()}
            else:
                feats = {k: np.asarray(x) for k, x in features_fn(jnp.asarray(videos)).items()}
            for i in range(b):
                if "valid" in batch and not batch["valid"][i]:
                    continue
                record = {k: feats[k][i] for k in FEATURE_KEYS}
                record["label"] = np.asarray(batch["label"][i])
                record["index"] = np.asarray(batch["index"][i])
                writer.write(encode_record(record))
                written += 1
            if progress is not None:
                progress.update(written - before)
    finally:
        writer.close()
    return written


class _Source:
    """An ArrayRecord data source whose read errors name the file."""

    def __init__(self, path: str):
        self.path = path
        try:
            self._source = array_record_data_source.ArrayRecordDataSource([path])
        except RuntimeError as e:  # riegeli's message alone does not say which file
            raise _damaged(path, e) from e

    def __len__(self) -> int:
        return len(self._source)

    def __getitem__(self, index: int) -> bytes:
        try:
            return self._source[index]
        except RuntimeError as e:
            raise _damaged(path=self.path, error=e, what=f"record {index}") from e


def _damaged(path: str, error: Exception, what: str = "") -> CacheError:
    where = f"{what} of {path}" if what else path
    reason = str(error).strip() or type(error).__name__
    return CacheError(
        f"config.feature_cache: {where} cannot be read ({reason}); "
        f"{rebuild_hint(os.path.dirname(path))}"
    )


def read_features(path: str) -> grain.MapDataset:
    """Random access to the records of a feature file, decoded."""
    if not os.path.isfile(path):
        state = "is not a regular file" if os.path.exists(path) else "does not exist"
        raise CacheError(
            f"config.feature_cache: {path} {state}; {rebuild_hint(os.path.dirname(path))}"
        )
    return grain.MapDataset.source(_Source(path)).map(decode_record)


def _stack(records: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {key: np.stack([r[key] for r in records]) for key in records[0]}


def train_feature_iterator(
    paths: list[str],
    batch_size: int,
    *,
    seed: int,
    shard_index: int = 0,
    shard_count: int = 1,
) -> grain.DatasetIterator:
    """Batches of cached training features; epoch e reads augmented view e mod K of each video
    (paths[k] holds view k of every video, in dataset order). The videos come in the order the
    video path reads them with the same seed, so epoch 0 from view 0 (drawn with the run's seed)
    is the video path's epoch 0. As for videos, `batch_size` is this process's part of the
    global batch and process `shard_index` reads its slice of each."""
    views = [read_features(p) for p in paths]
    n = len(views[0])
    if any(len(v) != n for v in views):
        raise ValueError(f"feature files {paths} hold different numbers of videos")
    ids = grain.MapDataset.range(n).shuffle(seed=seed).repeat(None)

    def load(position: int, video: int) -> dict[str, Any]:
        return views[(position // n) % len(views)][video]

    ds = batching.ProcessSliceMapDataset(
        ids.map_with_index(load), batch_size, shard_index, shard_count
    )
    ds = ds.batch(batch_size, drop_remainder=True, batch_fn=_stack)
    return iter(ds)


def evaluate_cached(
    predict: Callable, path: str, batch_size: int, name: str
) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities and labels of a cached evaluation set; `predict(views)` maps a batch's
    FEATURE_KEYS arrays to probabilities."""
    if jax.process_count() > 1:
        raise ValueError("evaluation from the feature cache runs in a single process")
    probs, labels = [], []
    total = len(read_features(path))
    with Progress(f"eval {name} (feature cache)", total, unit="videos") as bar:
        for batch in eval_feature_batches(path, batch_size):
            views = {k: jnp.asarray(batch[k]) for k in FEATURE_KEYS}
            probs.append(np.asarray(predict(views)))
            labels.append(batch["label"])
            bar.update(len(batch["label"]))
    return np.concatenate(probs), np.concatenate(labels)


def eval_feature_batches(path: str, batch_size: int) -> Iterator[dict[str, np.ndarray]]:
    """Batches of cached evaluation features (all views), the last one smaller."""
    ds = read_features(path)
    for start in range(0, len(ds), batch_size):
        yield _stack([ds[i] for i in range(start, min(start + batch_size, len(ds)))])


# ---------------------------------------------------------------------------------------------
# Cache folders: atomic writes and a manifest checked before a run reads them.


def _fields(cfg: ml_collections.ConfigDict, prefix: str, names: tuple[str, ...]) -> dict:
    out = {}
    for name in names:
        value: Any = cfg
        for key in name.split("."):
            value = value[key]
        out[f"{prefix}.{name}"] = value
    return json.loads(json.dumps(out))  # as the manifest gives them back (tuples → lists)


def model_identity(config: ml_collections.ConfigDict) -> dict[str, Any]:
    """The run config's fields that determine the encoder's outputs, as {"model.x": value}."""
    identity = _fields(config.model, "model", MODEL_FIELDS)
    for name, default in LATER_MODEL_FIELDS.items():
        parent, _, leaf = f"model.{name}".rpartition(".")
        node = config
        for key in parent.split("."):
            node = node[key]
        value = node.get(leaf, default)
        if value != default:
            identity[f"model.{name}"] = value
    if not config.model.backbone.source:  # random weights, drawn with the run's seed
        identity["seed"] = config.seed
    return identity


def dataset_identity(cfg: ml_collections.ConfigDict, field: str, *, train: bool) -> dict:
    """The fields of dataset `field` ("data", "evals.<name>") that determine its cached views."""
    identity = _fields(cfg, field, TRAIN_FIELDS if train else EVAL_FIELDS)
    # Added after caches existed: recorded only when set, so older caches stay valid.
    if cfg.get("tfds_config", ""):
        identity[f"{field}.tfds_config"] = cfg.tfds_config
    return identity


def _shapes(record: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    return {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in record.items()}


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_writable(folder: str) -> None:
    """Creates `folder` if needed; refuses one that cannot be written, naming it."""
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write_test"):
            pass
    except OSError as e:
        raise CacheError(
            f"config.feature_cache: cannot write the feature cache to {folder} "
            f"({e.strerror or e}); give a writable folder"
        ) from e


class CacheWriter:
    """Writes a cache folder: each file under a temporary name, all renamed with a new manifest
    once every one is complete, so that an interrupted extraction leaves no file under a final
    name it did not finish (and the previous cache, if any, intact)."""

    def __init__(self, folder: str, config: ml_collections.ConfigDict):
        check_writable(folder)
        self.folder = folder
        self.model = model_identity(config)
        self.files: dict[str, dict[str, Any]] = {}

    def write(
        self,
        name: str,
        batches: Iterator[dict[str, np.ndarray]],
        num_batches: int,
        features_fn: Callable[[jax.Array], dict[str, jax.Array]],
        *,
        views_axis: bool,
        dataset: dict[str, Any],
        augmentation_seed: int | None = None,
        videos: int | None = None,
    ) -> int:
        """Writes file `name` (see `write_features`) under its temporary name; returns its
        number of records. `dataset`: the fields that chose its videos and views (checked before
        a run reads the file); `augmentation_seed`: a training view's seed (only recorded);
        `videos`: how many there are, for the progress lines (None: unknown)."""
        partial = os.path.join(self.folder, name + PARTIAL)
        with Progress(f"extracting {name}", videos, unit="videos") as bar:
            records = write_features(
                partial, batches, num_batches, features_fn, views_axis=views_axis, progress=bar
            )
        first = read_features(partial)[0] if records else {}
        self.files[name] = {
            "records": records,
            "bytes": os.path.getsize(partial),
            "features": _shapes(first),
            "dataset": dataset,
        }
        if augmentation_seed is not None:
            self.files[name]["augmentation_seed"] = augmentation_seed
        return records

    def commit(self) -> dict[str, int]:
        """Moves every written file to its final name and writes the manifest last; returns
        {path: records}."""
        manifest_path = os.path.join(self.folder, MANIFEST)
        old: dict[str, Any] = {}
        if os.path.exists(manifest_path):
            try:
                old = _read_manifest(manifest_path, self.folder)
            except CacheError:
                pass  # a damaged manifest names no files to clean up
            # Without a manifest the folder is refused until the new one is in place.
            os.remove(manifest_path)
        for name in self.files:
            partial = os.path.join(self.folder, name + PARTIAL)
            _fsync(partial)  # a rename can reach the disk before the data otherwise
            os.replace(partial, os.path.join(self.folder, name))
        for name in set(old.get("files", {})) - set(self.files):
            path = os.path.join(self.folder, name)
            if os.path.isfile(path):
                os.remove(path)  # a file of the previous cache that this one does not have
        manifest = {"format": MANIFEST_FORMAT, "model": self.model, "files": self.files}
        partial = manifest_path + PARTIAL
        with open(partial, "w") as f:
            json.dump(manifest, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, manifest_path)
        try:
            _fsync(self.folder)  # the renames themselves
        except OSError:
            pass  # not every file system syncs a folder
        return {os.path.join(self.folder, n): e["records"] for n, e in self.files.items()}


def _read_manifest(path: str, folder: str) -> dict[str, Any]:
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        raise CacheError(
            f"config.feature_cache: {path} cannot be read ({e}); {rebuild_hint(folder)}"
        ) from e

    def valid_entry(entry: Any) -> bool:
        return isinstance(entry, dict) and all(
            isinstance(entry.get(k), t)
            for k, t in (("records", int), ("bytes", int), ("features", dict), ("dataset", dict))
        )

    if not (
        isinstance(manifest, dict)
        and manifest.get("format") == MANIFEST_FORMAT
        and isinstance(manifest.get("model"), dict)
        and isinstance(manifest.get("files"), dict)
        and all(valid_entry(e) for e in manifest["files"].values())
    ):
        raise CacheError(
            f"config.feature_cache: {path} is not a format-{MANIFEST_FORMAT} cache manifest; "
            f"{rebuild_hint(folder)}"
        )
    return manifest


def _compare(expected: dict, actual: dict, subject: str, folder: str) -> None:
    """Refuses features extracted with other config values than this run's, naming both."""
    for key in sorted(set(expected) | set(actual)):
        if expected.get(key) != actual.get(key):
            raise CacheError(
                f"config.feature_cache: {subject} extracted with {key}={expected.get(key)!r}, "
                f"this run has config.{key}={actual.get(key)!r} (features of another model or "
                f"other videos); {rebuild_hint(folder)}"
            )


def _check_file(path: str, entry: dict[str, Any], folder: str) -> None:
    """The file exists, is a regular file and holds what the manifest says it does."""
    hint = rebuild_hint(folder)
    if not os.path.exists(path):
        raise CacheError(f"config.feature_cache: {path} is missing (listed in {MANIFEST}); {hint}")
    if not os.path.isfile(path):
        raise CacheError(f"config.feature_cache: {path} is not a regular file; {hint}")
    size = os.path.getsize(path)
    if size != entry["bytes"]:
        raise CacheError(
            f"config.feature_cache: {path} is {size} bytes, its extraction wrote "
            f"{entry['bytes']} (truncated or overwritten); {hint}"
        )
    try:
        reader = array_record_module.ArrayRecordReader(path)
        try:
            count = reader.num_records() if reader.ok() else None
        finally:
            reader.close()  # raises the reader's error when it could not read the index
    except RuntimeError as e:
        raise _damaged(path, e) from e
    if count != entry["records"]:
        raise CacheError(
            f"config.feature_cache: {path} holds {count} records, its extraction wrote "
            f"{entry['records']}; {hint}"
        )
    if count:
        first = read_features(path)[0]
        shapes = _shapes(first)
        if shapes != entry["features"]:
            raise CacheError(
                f"config.feature_cache: {path} holds features {shapes}, its extraction wrote "
                f"{entry['features']}; {hint}"
            )


_TRAIN_FILE = re.compile(r"train_view(\d+)\.arrayrecord")


def check_cache(folder: str, config: ml_collections.ConfigDict, *, train: bool) -> dict[str, Any]:
    """Checks every file of the cache folder a run with `config` reads (the training views when
    `train`, and the cached evaluation datasets of config.evals) against the folder's manifest
    and the run's config; returns {"train": [paths, view order], "evals": {name: path}}.

    An evaluation dataset the cache does not hold is absent from "evals" (read from its videos).
    Raises CacheError naming the file and how to rebuild the cache.
    """
    hint = rebuild_hint(folder)
    if not os.path.isdir(folder):
        state = "is not a folder" if os.path.exists(folder) else "does not exist"
        raise CacheError(f"config.feature_cache: {folder} {state}; {hint}")
    manifest_path = os.path.join(folder, MANIFEST)
    if not os.path.isfile(manifest_path):
        raise CacheError(
            f"config.feature_cache: {manifest_path} is missing (the extraction did not finish, "
            f"or an older version wrote the cache); {hint}"
        )
    manifest = _read_manifest(manifest_path, folder)
    subject = f"{manifest_path} says the cache was"
    _compare(manifest["model"], model_identity(config), subject, folder)
    files = manifest["files"]
    out: dict[str, Any] = {"train": [], "evals": {}}
    if train:
        views = sorted((int(m[1]), n) for n in files if (m := _TRAIN_FILE.fullmatch(n)))
        if not views:
            raise CacheError(
                f"config.feature_cache: {manifest_path} lists no train_view*.arrayrecord; {hint}"
            )
        identity = dataset_identity(config.data, "data", train=True)
        for _, name in views:
            path = os.path.join(folder, name)
            _compare(files[name]["dataset"], identity, f"{path} was", folder)
            _check_file(path, files[name], folder)
            out["train"].append(path)
        counts = {files[n]["records"] for _, n in views}
        if len(counts) > 1:
            raise CacheError(
                f"config.feature_cache: the training views in {folder} hold different numbers "
                f"of videos ({sorted(counts)}); {hint}"
            )
    for name, cfg in config.evals.items():
        file = f"eval_{name}.arrayrecord"
        if file not in files:
            continue
        path = os.path.join(folder, file)
        identity = dataset_identity(cfg, f"evals.{name}", train=False)
        _compare(files[file]["dataset"], identity, f"{path} was", folder)
        _check_file(path, files[file], folder)
        out["evals"][name] = path
    return out


def extract(
    config: ml_collections.ConfigDict, encode: Callable, out_dir: str, train_views: int
) -> dict[str, int]:
    """Writes a run's cache (`encode`: uint8 videos → the frozen encoder's outputs): every
    evaluation view of config.evals, and `train_views` augmented views of every training video
    (view k drawn with seed + k, the augmentation the video path draws in epoch 0 with that
    seed), in dataset order; returns records written.

    Files appear under their final names, with the manifest training checks them against,
    only once all are written: an interrupted extraction leaves the previous cache as it was.
    """
    cache = CacheWriter(out_dir, config)  # refuses an unwritable folder
    for name, cfg in config.evals.items():
        field = f"evals.{name}"
        it, info = dataset_spec(cfg, field, train=False).eval_iterator()
        identity = dataset_identity(cfg, field, train=False)
        with contextlib.closing(it):
            cache.write(
                f"eval_{name}.arrayrecord",
                it,
                info.num_batches,
                encode,
                views_axis=True,
                dataset=identity,
                videos=info.num_examples,
            )
    data = dataset_spec(config.data, "data", train=True)
    identity = dataset_identity(config.data, "data", train=True)
    for view in range(train_views):
        seed = config.seed + view
        it, info = data.train_iterator(1, seed=seed, num_epochs=1, shuffle=False)
        with contextlib.closing(it):
            cache.write(
                f"train_view{view}.arrayrecord",
                it,
                info.num_batches,
                encode,
                views_axis=False,
                dataset=identity,
                augmentation_seed=seed,
                videos=info.num_examples,
            )
    return cache.commit()
