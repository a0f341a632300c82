"""Spatial augmentation of uint8 clips [T, H, W, 3], run in the data-loader workers.

Every frame of a clip gets the same geometry (one crop box, one flip decision), so motion is
preserved. Crops are resized with PIL's box-resize, which crops and scales in one pass.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

# Datasets whose labels depend on left/right (SSv2 "pushing something from left to right",
# the synthetic "moving left"/"moving right" classes): flipping would change the label.
FLIP_UNSAFE_DATASETS = frozenset({"ssv2", "something-something-v2", "synthetic"})


def flip_allowed(dataset_name: str) -> bool:
    """Whether horizontal flipping keeps labels valid for this dataset."""
    return dataset_name.lower() not in FLIP_UNSAFE_DATASETS


def resize_frames(
    frames: np.ndarray, height: int, width: int, box: tuple[int, int, int, int] | None = None
) -> np.ndarray:
    """Resizes every frame (optionally the crop `box` = (top, left, h, w) of it) bilinearly."""
    if box is None:
        box = (0, 0, frames.shape[1], frames.shape[2])
    top, left, h, w = box
    pil_box = (left, top, left + w, top + h)
    out = np.empty((frames.shape[0], height, width, 3), np.uint8)
    for t, frame in enumerate(frames):
        out[t] = np.asarray(
            Image.fromarray(frame).resize((width, height), Image.BILINEAR, box=pil_box)
        )
    return out


def short_side_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """(h, w) after scaling so that the shorter side equals `size`."""
    if height <= width:
        return size, max(size, int(round(width * size / height)))
    return max(size, int(round(height * size / width))), size


def resize_short_side(frames: np.ndarray, size: int) -> np.ndarray:
    """Resizes so the shorter side is `size`, keeping the aspect ratio."""
    height, width = short_side_shape(frames.shape[1], frames.shape[2], size)
    if (height, width) == frames.shape[1:3]:
        return frames
    return resize_frames(frames, height, width)


def random_resized_crop_box(
    height: int,
    width: int,
    rng: np.random.Generator,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> tuple[int, int, int, int]:
    """(top, left, h, w) of an Inception-style crop: area fraction in `scale`, aspect in `ratio`."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target_area = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            return top, left, h, w
    # Fallback: the largest centred crop with the aspect ratio clamped into `ratio`.
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, int(round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        h, w = height, int(round(height * ratio[1]))
    else:
        h, w = height, width
    return (height - h) // 2, (width - w) // 2, h, w


def horizontal_flip(frames: np.ndarray) -> np.ndarray:
    """Mirrors every frame left-right."""
    return frames[:, :, ::-1, :]


def train_augment(
    frames: np.ndarray,
    rng: np.random.Generator,
    image_size: int,
    *,
    flip: bool = True,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> np.ndarray:
    """Random resized crop to image_size² and (if `flip`) a coin-flip mirror, shared by all frames."""
    box = random_resized_crop_box(frames.shape[1], frames.shape[2], rng, scale, ratio)
    out = resize_frames(frames, image_size, image_size, box)
    if flip and rng.random() < 0.5:
        out = np.ascontiguousarray(horizontal_flip(out))
    return out


def crop(frames: np.ndarray, top: int, left: int, size: int) -> np.ndarray:
    """The size×size window at (top, left) of every frame."""
    return frames[:, top : top + size, left : left + size, :]


def center_crop(frames: np.ndarray, size: int) -> np.ndarray:
    """The centred size×size window of every frame (frames must be at least that large)."""
    height, width = frames.shape[1:3]
    return crop(frames, (height - size) // 2, (width - size) // 2, size)


def three_crop(frames: np.ndarray, size: int) -> np.ndarray:
    """[3, T, size, size, 3]: start, centre and end windows along the longer side."""
    height, width = frames.shape[1:3]
    if width >= height:
        top = (height - size) // 2
        lefts = (0, (width - size) // 2, width - size)
        return np.stack([crop(frames, top, left, size) for left in lefts])
    left = (width - size) // 2
    tops = (0, (height - size) // 2, height - size)
    return np.stack([crop(frames, top, left, size) for top in tops])


def eval_views(frames: np.ndarray, image_size: int, num_crops: int = 1) -> np.ndarray:
    """[num_crops, T, S, S, 3]: short side resized to S, then a centre crop or three crops."""
    frames = resize_short_side(frames, image_size)
    if num_crops == 1:
        return center_crop(frames, image_size)[None]
    if num_crops == 3:
        return three_crop(frames, image_size)
    raise ValueError(f"num_crops must be 1 or 3, got {num_crops}")
