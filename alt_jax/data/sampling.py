"""Temporal sampling: which frame indices of a video make a clip.

Two schemes, both returning sorted int64 indices in [0, num_video_frames):
- segment sampling (TSN, the ALT/X-CLIP default): the video is cut into T equal segments and
  one frame is taken from each, at random for training and at a fixed offset per test clip;
- dense sampling (`stride` set): T frames `stride` apart from a random (train) or evenly
  spread (test) start.

Short-video policy: a video with fewer frames than the clip needs repeats frames. Segment
sampling does so naturally (segments shorter than one frame share a frame); dense sampling
falls back to spreading the T indices uniformly over the whole video.
"""

from __future__ import annotations

import numpy as np


def sample_rng(seed: int, epoch: int, index: int, stream: int = 0) -> np.random.Generator:
    """A generator determined by (seed, epoch, index); `stream` separates independent uses."""
    return np.random.default_rng(np.random.SeedSequence([seed, epoch, index, stream]))


def _check(num_video_frames: int, num_frames: int) -> None:
    if num_video_frames < 1:
        raise ValueError(f"video has {num_video_frames} frames")
    if num_frames < 1:
        raise ValueError(f"num_frames must be positive, got {num_frames}")


def _uniform_cover(num_video_frames: int, num_frames: int) -> np.ndarray:
    """T indices spread over the whole video, repeating frames when it is short."""
    return np.floor((np.arange(num_frames) + 0.5) * num_video_frames / num_frames).astype(np.int64)


def segment_train_indices(
    num_video_frames: int, num_frames: int, rng: np.random.Generator
) -> np.ndarray:
    """One uniformly random frame from each of `num_frames` equal segments."""
    _check(num_video_frames, num_frames)
    offsets = rng.random(num_frames)
    idx = np.floor((np.arange(num_frames) + offsets) * num_video_frames / num_frames)
    return np.clip(idx.astype(np.int64), 0, num_video_frames - 1)


def segment_eval_indices(num_video_frames: int, num_frames: int, num_clips: int) -> np.ndarray:
    """[num_clips, T] indices: clip c takes offset (c + 0.5) / num_clips inside every segment."""
    _check(num_video_frames, num_frames)
    offsets = (np.arange(num_clips)[:, None] + 0.5) / num_clips
    idx = np.floor((np.arange(num_frames)[None, :] + offsets) * num_video_frames / num_frames)
    return np.clip(idx.astype(np.int64), 0, num_video_frames - 1)


def dense_train_indices(
    num_video_frames: int, num_frames: int, stride: int, rng: np.random.Generator
) -> np.ndarray:
    """T frames `stride` apart from a random start; uniform cover when the video is too short."""
    _check(num_video_frames, num_frames)
    span = (num_frames - 1) * stride + 1
    if span > num_video_frames:
        return _uniform_cover(num_video_frames, num_frames)
    start = int(rng.integers(0, num_video_frames - span + 1))
    return start + stride * np.arange(num_frames, dtype=np.int64)


def dense_eval_indices(
    num_video_frames: int, num_frames: int, stride: int, num_clips: int
) -> np.ndarray:
    """[num_clips, T]: clips `stride`-spaced, starts spread evenly from the first to last frame."""
    _check(num_video_frames, num_frames)
    span = (num_frames - 1) * stride + 1
    if span > num_video_frames:
        return np.tile(_uniform_cover(num_video_frames, num_frames), (num_clips, 1))
    room = num_video_frames - span
    if num_clips == 1:
        starts = np.array([room // 2])
    else:
        starts = np.round(np.linspace(0, room, num_clips)).astype(np.int64)
    return starts[:, None] + stride * np.arange(num_frames, dtype=np.int64)[None, :]


def train_indices(
    num_video_frames: int, num_frames: int, rng: np.random.Generator, stride: int | None = None
) -> np.ndarray:
    """Training clip indices: segment sampling, or dense sampling when `stride` is given."""
    if stride is None:
        return segment_train_indices(num_video_frames, num_frames, rng)
    return dense_train_indices(num_video_frames, num_frames, stride, rng)


def eval_indices(
    num_video_frames: int, num_frames: int, num_clips: int = 1, stride: int | None = None
) -> np.ndarray:
    """[num_clips, T] evaluation clip indices: segment sampling, or dense when `stride` is given."""
    if stride is None:
        return segment_eval_indices(num_video_frames, num_frames, num_clips)
    return dense_eval_indices(num_video_frames, num_frames, stride, num_clips)
