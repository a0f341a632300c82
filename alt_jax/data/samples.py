"""Per-video work done in the input workers: count, sample, decode, augment.

A video that cannot be read (missing, empty, truncated, not a video, unknown codec, frames
larger than `ClipSpec.max_frame_pixels`) becomes a *skip marker* instead of a sample, so that
the main process can count and report it (workers are separate processes); with `strict=True`
it raises, naming the file.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from alt_jax.data import augment, decode, frames, sampling

SKIPPED = "skipped"  # key present only in skip markers


@dataclasses.dataclass(frozen=True)
class ClipSpec:
    """How to turn a video into model input (shared by every sample of a pipeline)."""

    num_frames: int = 8
    image_size: int = 224
    stride: int | None = None  # None: segment sampling
    flip: bool = True
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    num_clips: int = 1  # eval only
    num_crops: int = 1  # eval only
    backend: str = "pyav"
    # Larger frames are refused before decoding (decoding memory follows the file's size).
    max_frame_pixels: int | None = decode.DEFAULT_MAX_FRAME_PIXELS


def _decode_with_recount(
    video: decode.VideoSource | frames.EncodedFrames,
    index_fn: Callable[[int], np.ndarray],
    spec: ClipSpec,
) -> np.ndarray:
    """Decodes the frames index_fn(frame_count) picks, re-counting by decoding if the header lied."""
    if isinstance(video, frames.EncodedFrames):  # a tfds catalogue example: its count is exact
        indices = index_fn(len(video))
        decoded = video.decode(indices.reshape(-1), max_pixels=spec.max_frame_pixels)
        return decoded.reshape(*indices.shape, *decoded.shape[1:])
    options = dict(backend=spec.backend, max_pixels=spec.max_frame_pixels)
    count = decode.count_frames(video, **options)
    try:
        return _decode(video, index_fn(count), options)
    except decode.FrameCountMismatch:
        count = decode.count_frames(video, exact=True, **options)
        return _decode(video, index_fn(count), options)


def _decode(video: decode.VideoSource, indices: np.ndarray, options: dict[str, Any]) -> np.ndarray:
    """Decodes an index array of any shape to frames of shape indices.shape + [H, W, 3]."""
    frames = decode.decode_frames(video, indices.reshape(-1), **options)
    return frames.reshape(*indices.shape, *frames.shape[1:])


def skip_marker(name: str, index: int, epoch: int, error: Exception) -> dict[str, Any]:
    """The element that stands for an unreadable video."""
    return {SKIPPED: name, "index": index, "epoch": epoch, "error": str(error)}


def is_skip_marker(element: dict[str, Any]) -> bool:
    """Whether a pipeline element is a skip marker rather than a sample."""
    return SKIPPED in element


def _unwrap(
    element: dict[str, Any],
) -> tuple[decode.VideoSource | frames.EncodedFrames, str]:
    """The decodable source of an element (a path, bytes from array_record, or a tfds catalogue
    example's encoded frames) and its name."""
    video = element["video"]
    if isinstance(video, frames.EncodedFrames):
        return video, element.get("path") or str(video)
    name = element.get("path") or decode.describe_source(video)
    if isinstance(name, bytes):
        name = name.decode("utf-8", "replace")
    if isinstance(video, str):
        decode.check_regular_file(video)
    return video, name


def load_train_sample(
    element: dict[str, Any], *, epoch: int, seed: int, spec: ClipSpec, strict: bool = False
) -> dict[str, Any]:
    """A training sample {video [T,S,S,3] uint8, label, index, epoch}, or a skip marker."""
    index = int(element["index"])
    name = str(element.get("path", element["video"]))
    try:
        video, name = _unwrap(element)
        rng_t = sampling.sample_rng(seed, epoch, index, stream=0)
        frames = _decode_with_recount(
            video,
            lambda n: sampling.train_indices(n, spec.num_frames, rng_t, spec.stride),
            spec,
        )
        rng_s = sampling.sample_rng(seed, epoch, index, stream=1)
        clip = augment.train_augment(
            frames, rng_s, spec.image_size, flip=spec.flip, scale=spec.scale, ratio=spec.ratio
        )
    except decode.VideoDecodeError as e:
        if strict:
            raise decode.VideoDecodeError(f"unreadable video {name}: {e}") from e
        logging.warning("skipping unreadable video %s: %s", name, e)
        return skip_marker(name, index, epoch, e)
    return {
        "video": clip,
        "label": np.int32(element["label"]),
        "index": np.int64(index),
        "epoch": np.int32(epoch),
    }


def load_eval_sample(
    element: dict[str, Any], *, spec: ClipSpec, strict: bool = False
) -> dict[str, Any]:
    """An eval sample {video [V,T,S,S,3] uint8 (V = clips × crops), label, index}, or a marker."""
    index = int(element["index"])
    name = str(element.get("path", element["video"]))
    try:
        video, name = _unwrap(element)
        # Deterministic: the same clips every time, the first frame count is re-checked on EOF.
        clips = _decode_with_recount(
            video,
            lambda n: sampling.eval_indices(n, spec.num_frames, spec.num_clips, spec.stride),
            spec,
        )
        views = [augment.eval_views(clip, spec.image_size, spec.num_crops) for clip in clips]
        views = np.concatenate(views, axis=0)  # clip-major: view v = clip * num_crops + crop
    except decode.VideoDecodeError as e:
        if strict:
            raise decode.VideoDecodeError(f"unreadable video {name}: {e}") from e
        logging.warning("skipping unreadable video %s: %s", name, e)
        return skip_marker(name, index, 0, e)
    return {
        "video": np.ascontiguousarray(views),
        "label": np.int32(element["label"]),
        "index": np.int64(index),
        "epoch": np.int32(0),
    }
