"""A synthetic action dataset: coloured shapes moving over textured backgrounds, as real mp4s.

Classes are (object, motion) pairs named by CLIP-promptable phrases ("red circle moving left").
Motions come in opposite pairs (left/right, up/down, growing/shrinking, clockwise/
counterclockwise), and the class list is ordered so that even a short prefix holds classes that
differ only in the direction of motion (a single frame cannot tell them apart: temporal order
matters) and classes that differ only in the object (appearance matters).
Everything is seeded: the same arguments give the same pixels.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from concurrent import futures

import av
import numpy as np
from PIL import Image

from alt_jax.data import sources

# (name, RGB). Saturated colours over low-saturation backgrounds keep "red", "blue" meaningful.
COLORS = (
    ("red", (220, 40, 40)),
    ("blue", (40, 80, 230)),
    ("green", (40, 190, 60)),
    ("yellow", (235, 215, 40)),
    ("purple", (150, 50, 200)),
    ("orange", (245, 140, 20)),
)
SHAPES = ("circle", "square", "triangle", "star", "diamond", "cross")
# Opposite motion pairs; each class name is "<colour> <shape> <phrase>".
MOTION_PAIRS = (
    ("moving left", "moving right"),
    ("moving up", "moving down"),
    ("growing bigger", "shrinking"),
    ("rotating clockwise", "rotating counterclockwise"),
)


@dataclasses.dataclass(frozen=True)
class SyntheticClass:
    """One action class: an object (colour + shape) and a motion phrase."""

    color: str
    shape: str
    motion: str

    @property
    def name(self) -> str:
        return f"{self.color} {self.shape} {self.motion}"


def synthetic_classes(num_classes: int) -> list[SyntheticClass]:
    """The first `num_classes` classes: blocks of two objects × one opposite-motion pair."""
    objects = [(color, shape) for (color, _), shape in zip(COLORS, SHAPES, strict=True)]
    classes: list[SyntheticClass] = []
    seen = set()
    for round_ in range(len(objects)):
        for pair in MOTION_PAIRS:
            for obj in (
                objects[(2 * round_) % len(objects)],
                objects[(2 * round_ + 1) % len(objects)],
            ):
                for motion in pair:
                    if obj[1] == "circle" and motion.startswith("rotating"):
                        continue  # a rotating circle looks static
                    key = (*obj, motion)
                    if key not in seen:
                        seen.add(key)
                        classes.append(SyntheticClass(*key))
    if not 1 <= num_classes <= len(classes):
        raise ValueError(f"num_classes must be in [1, {len(classes)}], got {num_classes}")
    return classes[:num_classes]


def _shape_distance(shape: str, x: np.ndarray, y: np.ndarray, r: float) -> np.ndarray:
    """Approximate signed distance (pixels, negative inside) to a shape of radius r at origin."""
    if shape == "circle":
        return np.hypot(x, y) - r
    if shape == "square":
        return np.maximum(np.abs(x), np.abs(y)) - 0.8 * r
    if shape == "diamond":
        return (np.abs(x) + np.abs(y)) / math.sqrt(2) - 0.75 * r
    if shape == "triangle":  # equilateral, apex up (screen y grows downwards)
        return np.maximum(np.abs(x) * math.cos(math.pi / 6) - y * 0.5, y) - 0.5 * r
    if shape == "star":
        theta = np.arctan2(y, x)
        return np.hypot(x, y) - r * (0.6 + 0.4 * np.cos(5 * theta))
    if shape == "cross":
        arm = 0.3 * r
        return np.minimum(
            np.maximum(np.abs(x) - r, np.abs(y) - arm), np.maximum(np.abs(x) - arm, np.abs(y) - r)
        )
    raise ValueError(f"unknown shape {shape!r}")


# Background textures, in the order `_background` draws them; the scene captions name them.
BACKGROUND_KINDS = ("cloudy", "striped", "checkered")


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A low-saturation texture of a random kind, float32 [H, W, 3]."""
    return textured_background(rng, int(rng.integers(len(BACKGROUND_KINDS))), height, width)


def textured_background(rng: np.random.Generator, kind: int, height: int, width: int) -> np.ndarray:
    """A low-saturation texture of BACKGROUND_KINDS[kind] (smooth noise, stripes or a
    checkerboard), float32 [H, W, 3]."""
    base = rng.uniform(70, 170, size=3) * np.array([1.0, 1.0, 1.0])
    tint = base.mean() + 0.25 * (base - base.mean())  # pull towards grey
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    if kind == 0:
        coarse = rng.uniform(-1, 1, size=(int(rng.integers(3, 9)), int(rng.integers(3, 9))))
        img = Image.fromarray(((coarse + 1) * 127.5).astype(np.uint8))
        pattern = np.asarray(img.resize((width, height), Image.BICUBIC), np.float32) / 127.5 - 1
    elif kind == 1:
        angle = rng.uniform(0, math.pi)
        period = rng.uniform(6, 20)
        pattern = np.sin(2 * math.pi * (xx * math.cos(angle) + yy * math.sin(angle)) / period)
    else:
        cell = int(rng.integers(6, 16))
        pattern = (((xx // cell) + (yy // cell)) % 2) * 2.0 - 1.0
    contrast = rng.uniform(15, 40)
    return (tint[None, None, :] + contrast * pattern[..., None]).astype(np.float32)


def shape_coverage(
    shape: str, x: float, y: float, r: float, angle: float, xx: np.ndarray, yy: np.ndarray
) -> np.ndarray:
    """Anti-aliased coverage in [0, 1], [H, W], of a shape centred at (x, y), rotated by angle
    (radians, clockwise on screen); xx, yy are the pixel grids (np.mgrid)."""
    dx, dy = xx - x, yy - y
    c, si = math.cos(angle), math.sin(angle)
    # Shape coordinates: the frame rotated by -angle about the object centre.
    u, v = c * dx + si * dy, -si * dx + c * dy
    return np.clip(0.5 - _shape_distance(shape, u, v, r), 0.0, 1.0)


def draw_shape(
    canvas: np.ndarray,
    shape: str,
    color: np.ndarray,
    x: float,
    y: float,
    r: float,
    angle: float,
    xx: np.ndarray,
    yy: np.ndarray,
) -> np.ndarray:
    """canvas float32 [H, W, 3] with a solid `color` shape composited over it (a new array)."""
    alpha = shape_coverage(shape, x, y, r, angle, xx, yy)[..., None]
    return canvas * (1 - alpha) + color * alpha


def render_video(
    cls: SyntheticClass, rng: np.random.Generator, num_frames: int, height: int, width: int
) -> np.ndarray:
    """uint8 [T, H, W, 3]: the class's object performing its motion over a random background."""
    background = _background(rng, height, width)
    color = np.asarray(dict(COLORS)[cls.color], np.float32) * rng.uniform(0.9, 1.05)
    size = min(height, width)
    radius = size * rng.uniform(0.12, 0.18)
    cx, cy = width * rng.uniform(0.35, 0.65), height * rng.uniform(0.35, 0.65)
    travel = size * rng.uniform(0.3, 0.45)  # total displacement for translations
    angle0 = rng.uniform(0, 2 * math.pi)
    turn = rng.uniform(0.5, 1.0) * math.pi  # total rotation, < 45° per frame at 16+ frames
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    for t in range(num_frames):
        s = t / max(num_frames - 1, 1) - 0.5  # progress in [-0.5, 0.5]
        x, y, r, angle = cx, cy, radius, angle0
        motion = cls.motion
        if motion == "moving left":
            x = cx - s * travel
        elif motion == "moving right":
            x = cx + s * travel
        elif motion == "moving up":
            y = cy - s * travel
        elif motion == "moving down":
            y = cy + s * travel
        elif motion == "growing bigger":
            r = radius * (1.0 + 1.2 * s)
        elif motion == "shrinking":
            r = radius * (1.0 - 1.2 * s)
        elif motion == "rotating clockwise":  # clockwise on screen: y points down
            angle = angle0 + s * turn
        elif motion == "rotating counterclockwise":
            angle = angle0 - s * turn
        frames[t] = np.clip(
            draw_shape(background, cls.shape, color, x, y, r, angle, xx, yy), 0, 255
        ).astype(np.uint8)
    return frames


def write_mp4(
    path: str | os.PathLike,
    frames: np.ndarray,
    *,
    fps: int = 25,
    codec: str = "libx264",
    gop: int | None = None,
) -> None:
    """Encodes uint8 [T, H, W, 3] frames (even H and W) as an H.264 mp4 (yuv420p)."""
    with av.open(os.fspath(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        options = {"preset": "ultrafast", "crf": "18"} if codec == "libx264" else {}
        if gop is not None:
            stream.codec_context.gop_size = gop
        stream.options = options
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _slug(name: str) -> str:
    return name.replace(" ", "_")


def _make_one(job: tuple[str, SyntheticClass, int, int, int, int, int, int]) -> None:
    """Renders and writes one video (a picklable unit of work for the process pool)."""
    path, cls, label, video_index, seed, num_frames, height, width = job
    # Seeded per (seed, class, video): output does not depend on the worker count.
    rng = np.random.default_rng(np.random.SeedSequence([seed, label, video_index]))
    write_mp4(path, render_video(cls, rng, num_frames, height, width))


def make_synthetic_dataset(
    out_dir: str | os.PathLike,
    *,
    num_classes: int = 10,
    train_per_class: int = 20,
    val_per_class: int = 10,
    num_frames: int = 16,
    height: int = 112,
    width: int = 112,
    seed: int = 0,
    workers: int = 0,
) -> dict[str, object]:
    """Writes videos/, classes.txt, train.txt and val.txt under out_dir; returns a summary."""
    if height % 2 or width % 2:
        raise ValueError(f"H.264 yuv420p needs even sizes, got {height}x{width}")
    classes = synthetic_classes(num_classes)
    out_dir = os.fspath(out_dir)
    jobs, train, val = [], [], []
    for label, cls in enumerate(classes):
        folder = os.path.join(out_dir, "videos", _slug(cls.name))
        os.makedirs(folder, exist_ok=True)
        for i in range(train_per_class + val_per_class):
            path = os.path.join(folder, f"{_slug(cls.name)}_{i:04d}.mp4")
            jobs.append((path, cls, label, i, seed, num_frames, height, width))
            (train if i < train_per_class else val).append(sources.VideoRecord(path, label))
    if workers > 0:
        with futures.ProcessPoolExecutor(workers) as pool:
            list(pool.map(_make_one, jobs, chunksize=max(1, len(jobs) // (4 * workers))))
    else:
        for job in jobs:
            _make_one(job)
    class_names = [cls.name for cls in classes]
    sources.write_class_names(os.path.join(out_dir, "classes.txt"), class_names)
    sources.write_annotation_list(os.path.join(out_dir, "train.txt"), train, out_dir)
    sources.write_annotation_list(os.path.join(out_dir, "val.txt"), val, out_dir)
    return {
        "out_dir": out_dir,
        "class_names": class_names,
        "num_train": len(train),
        "num_val": len(val),
    }


def differing_pairs(classes: Sequence[SyntheticClass]) -> dict[str, list[tuple[int, int]]]:
    """Index pairs of classes that differ only in motion direction, and only in the object."""
    by_motion = {m: pair for pair in MOTION_PAIRS for m in pair}
    direction, appearance = [], []
    for i, a in enumerate(classes):
        for j in range(i + 1, len(classes)):
            b = classes[j]
            if (a.color, a.shape) == (b.color, b.shape) and by_motion[a.motion] == by_motion[
                b.motion
            ]:
                direction.append((i, j))
            if a.motion == b.motion and (a.color, a.shape) != (b.color, b.shape):
                appearance.append((i, j))
    return {"direction": direction, "appearance": appearance}
