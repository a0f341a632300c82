"""The frozen-feature cache: the CLIP encoder's outputs written once, read back in place of video.

The encoder is frozen, so its region tokens for a given view never change. `write_features`
stores them (ALT.video_features: ln, cls, dest) per video for the evaluation views, or for a
fixed number of augmented training views, in an array_record file; training and evaluation then
read them and skip the encoder, which gives the same logits as the full path.
"""

from __future__ import annotations

import io
import os
from typing import Any, Callable, Iterator

import grain
import jax
import jax.numpy as jnp
import numpy as np
from array_record.python import array_record_data_source, array_record_module

from alt_jax.data import batching

FEATURE_KEYS = ("ln", "cls", "dest")


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
) -> int:
    """Runs `features_fn` (uint8 videos [B, T, H, W, 3] → ALT.video_features outputs) over the
    batches and writes one record per valid video; returns the number written.

    With `views_axis`, videos are [B, V, T, H, W, 3] and each record holds all V views.
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    writer = array_record_module.ArrayRecordWriter(path, "group_size:1")
    written = 0
    try:
        for _ in range(num_batches):
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
    finally:
        writer.close()
    return written


def read_features(path: str) -> grain.MapDataset:
    """Random access to the records of a feature file, decoded."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"feature cache {path} does not exist (tools/extract_features.py)")
    source = array_record_data_source.ArrayRecordDataSource([path])
    return grain.MapDataset.source(source).map(decode_record)


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


def eval_feature_batches(path: str, batch_size: int) -> Iterator[dict[str, np.ndarray]]:
    """Batches of cached evaluation features (all views), the last one smaller."""
    ds = read_features(path)
    for start in range(0, len(ds), batch_size):
        yield _stack([ds[i] for i in range(start, min(start + batch_size, len(ds)))])
