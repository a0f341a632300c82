"""Still scenes with captions, for pre-training a small CLIP here: one or two coloured shapes of
a given size and position over a textured background, drawn as frames of the synthetic action
videos are (`alt_jax.data.synthetic`), and captioned from a few templates.

"a small red triangle on the left and a large blue star on the right, on a striped background"

The object vocabulary is synthetic.COLORS × synthetic.SHAPES, so that a CLIP trained on scenes
knows every object of the action videos. Everything is seeded: the same generator state gives
the same pixels and caption.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from alt_jax.data import synthetic

# Object radius as a fraction of the image side. The action videos draw 0.12–0.18 (×0.4–1.6
# while growing or shrinking); "large" stays small enough that two objects never touch.
SIZES = {"small": (0.09, 0.12), "large": (0.16, 0.20)}
# Object centre (x, y) as fractions of the image side; jittered by ±POSITION_JITTER.
POSITIONS = {
    "on the left": (0.25, 0.5),
    "on the right": (0.75, 0.5),
    "at the top": (0.5, 0.25),
    "at the bottom": (0.5, 0.75),
    "in the middle": (0.5, 0.5),
}
POSITION_JITTER = 0.03
# Two-object scenes use opposite positions, so the objects never overlap.
POSITION_PAIRS = (("on the left", "on the right"), ("at the top", "at the bottom"))
COLOR_NAMES = tuple(name for name, _ in synthetic.COLORS)


@dataclasses.dataclass(frozen=True)
class SceneObject:
    """One drawn object: its caption words and where it was drawn (pixels)."""

    color: str
    shape: str
    size: str
    position: str
    x: float
    y: float
    radius: float


@dataclasses.dataclass(frozen=True)
class Scene:
    """A rendered scene: uint8 [H, W, 3] pixels, its caption, objects, background kind and each
    object's anti-aliased coverage float32 [K, H, W] (objects never overlap)."""

    image: np.ndarray
    caption: str
    objects: tuple[SceneObject, ...]
    background: str
    coverage: np.ndarray


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _object_phrase(obj: SceneObject, rng: np.random.Generator) -> str:
    """'a small red triangle', 'a red triangle' or (sometimes) 'a red object'."""
    u = rng.uniform()
    if u < 0.1:
        words = [obj.color, "object"]  # teaches colour words alone
    elif u < 0.55:
        words = [obj.size, obj.color, obj.shape]
    else:
        words = [obj.color, obj.shape]
    return f"{_article(words[0])} {' '.join(words)}"


def caption_scene(
    objects: tuple[SceneObject, ...], background: str, rng: np.random.Generator
) -> str:
    """A caption naming every object, from a randomly chosen template (varied wording)."""
    phrases = [_object_phrase(o, rng) for o in objects]
    placed = " and ".join(f"{p} {o.position}" for p, o in zip(phrases, objects, strict=True))
    unplaced = " and ".join(phrases)
    ground = f"{background} background"
    templates = (
        f"{placed}",
        f"{placed}, on a {ground}",
        f"{placed} of a {ground}",
        f"a photo of {unplaced}",
        f"a photo of {placed}",
        f"{unplaced} on a {ground}",
        f"a video frame of {placed}",
        f"there is {placed}",
    )
    return templates[int(rng.integers(len(templates)))]


def render_scene(rng: np.random.Generator, image_size: int = 112, max_objects: int = 2) -> Scene:
    """A random scene of 1..max_objects (≤ 2) objects of distinct colours, and its caption."""
    if not 1 <= max_objects <= 2:
        raise ValueError(f"max_objects must be 1 or 2, got {max_objects}")
    kind = int(rng.integers(len(synthetic.BACKGROUND_KINDS)))
    canvas = synthetic.textured_background(rng, kind, image_size, image_size)
    num_objects = int(rng.integers(1, max_objects + 1))
    if num_objects == 1:
        positions = [tuple(POSITIONS)[int(rng.integers(len(POSITIONS)))]]
    else:
        positions = list(POSITION_PAIRS[int(rng.integers(len(POSITION_PAIRS)))])
        if rng.uniform() < 0.5:
            positions.reverse()  # mention order independent of position
    colors = rng.choice(len(synthetic.COLORS), size=num_objects, replace=False)
    yy, xx = np.mgrid[0:image_size, 0:image_size].astype(np.float32)
    objects, coverage = [], []
    for position, color_index in zip(positions, colors, strict=True):
        name, rgb = synthetic.COLORS[int(color_index)]
        shape = synthetic.SHAPES[int(rng.integers(len(synthetic.SHAPES)))]
        size = tuple(SIZES)[int(rng.integers(len(SIZES)))]
        radius = image_size * rng.uniform(*SIZES[size])
        fx, fy = POSITIONS[position]
        x = image_size * (fx + rng.uniform(-POSITION_JITTER, POSITION_JITTER))
        y = image_size * (fy + rng.uniform(-POSITION_JITTER, POSITION_JITTER))
        angle = rng.uniform(0, 2 * np.pi)
        color = np.asarray(rgb, np.float32) * rng.uniform(0.9, 1.05)  # as the videos do
        canvas = synthetic.draw_shape(canvas, shape, color, x, y, radius, angle, xx, yy)
        coverage.append(synthetic.shape_coverage(shape, x, y, radius, angle, xx, yy))
        objects.append(SceneObject(name, shape, size, position, float(x), float(y), float(radius)))
    background = synthetic.BACKGROUND_KINDS[kind]
    image = np.clip(canvas, 0, 255).astype(np.uint8)
    objects = tuple(objects)
    caption = caption_scene(objects, background, rng)
    return Scene(image, caption, objects, background, np.stack(coverage).astype(np.float32))


# A patch is the object's when the object covers at least this share of it, background when
# every object covers less than BACKGROUND_MAX (edge patches, in between, are left out).
OBJECT_MIN, BACKGROUND_MAX = 0.5, 0.05
IGNORE, BACKGROUND = -1, -2


def patch_labels(coverage: np.ndarray, patch: int) -> np.ndarray:
    """Object coverage [K, H, W] → per patch of a row-major grid [N] int: the object index k,
    BACKGROUND, or IGNORE (a patch partly covered)."""
    k, h, w = coverage.shape
    share = coverage.reshape(k, h // patch, patch, w // patch, patch).mean(axis=(2, 4))
    share = share.reshape(k, -1)  # [K, N]
    labels = np.full(share.shape[1], IGNORE, np.int64)
    labels[share.sum(axis=0) < BACKGROUND_MAX] = BACKGROUND
    best = share.argmax(axis=0)
    labels[share.max(axis=0) >= OBJECT_MIN] = best[share.max(axis=0) >= OBJECT_MIN]
    return labels


def scene_batch(
    rng: np.random.Generator, batch_size: int, image_size: int = 112, max_objects: int = 2
) -> tuple[np.ndarray, list[str], list[Scene]]:
    """(images uint8 [B, H, W, 3], captions, scenes) of `batch_size` random scenes."""
    scenes = [render_scene(rng, image_size, max_objects) for _ in range(batch_size)]
    return np.stack([s.image for s in scenes]), [s.caption for s in scenes], scenes
