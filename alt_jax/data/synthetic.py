"""A synthetic action dataset: coloured shapes over textured backgrounds, as real mp4s.

Each task tests one capability of a video model; classes are named by CLIP-promptable phrases.
  directions  (object, motion) pairs ("red circle moving left"). Motions come in opposite pairs
              (left/right, up/down, growing/shrinking, clockwise/counterclockwise), and the class
              list is ordered so that even a short prefix holds classes that differ only in the
              direction of motion (a single frame cannot tell them apart: temporal order matters)
              and classes that differ only in the object (appearance matters).
  appearance  a still object of a colour, shape and size ("small red circle"): one frame suffices.
  change      a still object turning from one colour to another, or fading in or out ("circle
              turning from red to blue", "green circle appearing"): the order of change matters.
  order       the order of a change alone: an object of a random shape (circle or square, drawn
              per video) turning from one colour to another or fading in or out ("object turning
              from red to blue", "yellow object appearing"); each colour pair comes in both
              orders, so the clip's colours say which pair and only the order says which class.
  speed       an object moving slowly or quickly along an axis ("red circle moving slowly
              horizontally"; left or right, up or down at random): one frame does not suffice.
Beside every video X.mp4 the dataset writers put X.objects.npz, where each object was drawn in
each frame (`write_object_masks`, `read_object_masks`).
Everything is seeded: the same arguments give the same pixels.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image

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


TASKS = ("directions", "appearance", "change", "order", "speed")
# Classes a dataset of each task has when num_classes is not given.
DEFAULT_NUM_CLASSES = {"directions": 10, "appearance": 8, "change": 8, "order": 8, "speed": 8}
# Shapes an object of a class without a shape ("object ...") is drawn as, one per video.
RANDOM_SHAPES = ("circle", "square")
# Object radius as a fraction of the frame's shorter side, by size word ("": directions, others).
RADII = {"": (0.12, 0.18), "small": (0.10, 0.13), "large": (0.20, 0.25)}
# Total travel over the clip (fraction of the shorter side) of the speed task: the slowest quick
# object goes 0.40 / 0.13 > 3 times as far as the fastest slow one.
SLOW_TRAVEL, FAST_TRAVEL = (0.10, 0.13), (0.40, 0.50)
# Centre range of the directions task's objects, as fractions of the frame's width and height.
DIRECTIONS_CENTRE = (0.35, 0.65)
# Farthest point of any shape from its centre, in radii (a square turned 45°: 0.8·√2).
SHAPE_REACH = 1.15


@dataclasses.dataclass(frozen=True)
class SyntheticClass:
    """One action class: an object (colour + shape, optionally a size) and what it does."""

    color: str
    shape: str  # "" for one of RANDOM_SHAPES drawn per video, named "object"
    motion: str  # a key of MOTION_SPECS; "" for a still object
    size: str = ""  # a key of RADII: "small", "large" or "" (the directions task's radii)
    end_color: str = ""  # the colour the object turns into over the clip; "" for none

    @property
    def name(self) -> str:
        shape = self.shape or "object"
        if self.end_color:
            return f"{shape} turning from {self.color} to {self.end_color}"
        return " ".join(part for part in (self.size, self.color, shape, self.motion) if part)


@dataclasses.dataclass(frozen=True)
class Motion:
    """How an object changes over a clip of progress s = -0.5 (first frame) .. 0.5 (last frame):
    x = cx + dx·s·travel, y = cy + dy·s·travel, r = radius·(1 + grow·s), angle = angle0 + spin·s·turn.
    """

    dx: float = 0.0
    dy: float = 0.0
    grow: float = 0.0
    spin: float = 0.0
    fade: float = 0.0  # +1 fades in, -1 fades out (opacity ramps across the clip's middle half)
    travel: tuple[float, float] = (0.3, 0.45)  # total displacement, fraction of the shorter side
    random_sign: bool = False  # dx, dy point either way, drawn per video
    centre: tuple[float, float] | None = None  # fractions of the frame; None: wherever it fits
    tilted: bool = False  # turned by a random angle0; upright otherwise (a square, not a diamond)


def _direction(**kwargs: float) -> Motion:
    # The first renderer's placement and random tilt: the directions task's pixels stay the same.
    return Motion(**kwargs, centre=DIRECTIONS_CENTRE, tilted=True)


def _speed(pace: tuple[float, float], **kwargs: float) -> Motion:
    return Motion(**kwargs, travel=pace, random_sign=True)


MOTION_SPECS = {
    "moving left": _direction(dx=-1.0),
    "moving right": _direction(dx=1.0),
    "moving up": _direction(dy=-1.0),
    "moving down": _direction(dy=1.0),
    "growing bigger": _direction(grow=1.2),
    "shrinking": _direction(grow=-1.2),
    "rotating clockwise": _direction(spin=1.0),  # clockwise on screen: y points down
    "rotating counterclockwise": _direction(spin=-1.0),
    "": Motion(),
    "appearing": Motion(fade=1.0),
    "disappearing": Motion(fade=-1.0),
    "moving slowly horizontally": _speed(SLOW_TRAVEL, dx=1.0),
    "moving quickly horizontally": _speed(FAST_TRAVEL, dx=1.0),
    "moving slowly vertically": _speed(SLOW_TRAVEL, dy=1.0),
    "moving quickly vertically": _speed(FAST_TRAVEL, dy=1.0),
}


def _direction_classes() -> list[SyntheticClass]:
    """Blocks of two objects × one opposite-motion pair."""
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
    return classes


# The other tasks keep the directions task's order: blocks of two objects × one contrasting pair
# (small/large, one colour order and its reverse, slowly/quickly), so a short prefix mixes both.
def _appearance_classes() -> list[SyntheticClass]:
    objects = (("red", "circle"), ("blue", "square"), ("blue", "circle"), ("red", "square"))
    return [SyntheticClass(c, s, "", size=size) for c, s in objects for size in ("small", "large")]


def _change_classes() -> list[SyntheticClass]:
    shapes = ("circle", "square")
    recolour = [
        SyntheticClass(start, shape, "", end_color=end)
        for shape in shapes
        for start, end in (("red", "blue"), ("blue", "red"))
    ]
    fade = [SyntheticClass("green", s, m) for s in shapes for m in ("appearing", "disappearing")]
    return recolour + fade


def _order_classes() -> list[SyntheticClass]:
    pairs = (("red", "blue"), ("red", "green"), ("blue", "green"))
    recolour = [
        SyntheticClass(start, "", "", end_color=end)
        for a, b in pairs
        for start, end in ((a, b), (b, a))
    ]
    return recolour + [SyntheticClass("yellow", "", m) for m in ("appearing", "disappearing")]


def _speed_classes() -> list[SyntheticClass]:
    return [
        SyntheticClass(color, shape, f"moving {pace} {axis}")
        for axis in ("horizontally", "vertically")
        for color, shape in (("red", "circle"), ("blue", "square"))
        for pace in ("slowly", "quickly")
    ]


_TASK_CLASSES: dict[str, Callable[[], list[SyntheticClass]]] = {
    "directions": _direction_classes,
    "appearance": _appearance_classes,
    "change": _change_classes,
    "order": _order_classes,
    "speed": _speed_classes,
}


def check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; valid tasks: {', '.join(TASKS)}")


def synthetic_classes(num_classes: int, task: str = "directions") -> list[SyntheticClass]:
    """The first `num_classes` classes of a task (TASKS)."""
    check_task(task)
    classes = _TASK_CLASSES[task]()
    if not 1 <= num_classes <= len(classes):
        raise ValueError(
            f"num_classes must be in [1, {len(classes)}] for task {task!r}, got {num_classes}"
        )
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
# The world's scene entities with their WordNet senses, for the entity corpus
# (tools/build_corpus.py --scenes=DATA/scenes.txt): what the backgrounds are.
SCENE_ENTITIES = (
    "cloudy background=cloudy.a.02 background.n.02",
    "striped background=striped.s.01 background.n.02",
    "checkered background=checked.s.01 background.n.02",
)


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


@dataclasses.dataclass(frozen=True, eq=False)
class ObjectTrack:
    """One object over a clip: its shape and, per frame, where, how big, turned how far, in what
    colour and how opaque it is, and its name ("<colour> <shape>", "" where invisible)."""

    shape: str
    x: np.ndarray  # float64 [T], pixels
    y: np.ndarray  # float64 [T], pixels
    radius: np.ndarray  # float64 [T], pixels
    angle: np.ndarray  # float64 [T], radians clockwise on screen
    rgb: np.ndarray  # float32 [T, 3]
    opacity: np.ndarray  # float64 [T], in [0, 1]
    names: tuple[str, ...]


def _centre_range(reach: float, length: int) -> tuple[float, float]:
    """Centres (fractions of `length`) that keep [centre - reach, centre + reach] in the frame."""
    margin = min(reach / length, 0.5)
    return margin, 1.0 - margin


def _middle_half_ramp(progress: float) -> float:
    """0 over the clip's first quarter, rising linearly to 1 at its third quarter, then 1."""
    return min(max((progress - 0.25) / 0.5, 0.0), 1.0)


def object_track(
    cls: SyntheticClass, rng: np.random.Generator, num_frames: int, height: int, width: int
) -> ObjectTrack:
    """The class's object over a clip, its random parameters drawn from rng."""
    motion = MOTION_SPECS.get(cls.motion)
    if motion is None:
        raise ValueError(f"unknown motion {cls.motion!r}; known: {sorted(MOTION_SPECS)}")
    # The draws' order and number are those of the first renderer for every class: the demo's
    # recorded accuracies were measured on these pixels.
    brightness = rng.uniform(0.9, 1.05)
    rgb = dict(COLORS)
    start = np.asarray(rgb[cls.color], np.float32) * brightness
    end = np.asarray(rgb[cls.end_color or cls.color], np.float32) * brightness
    size = min(height, width)
    radius = size * rng.uniform(*RADII[cls.size])
    if motion.centre is not None:
        cx, cy = width * rng.uniform(*motion.centre), height * rng.uniform(*motion.centre)
    else:  # anywhere the whole path stays in the frame
        reach = SHAPE_REACH * radius * (1 + abs(motion.grow) / 2) + 1
        half_travel = size * motion.travel[1] / 2
        cx = width * rng.uniform(*_centre_range(reach + abs(motion.dx) * half_travel, width))
        cy = height * rng.uniform(*_centre_range(reach + abs(motion.dy) * half_travel, height))
    travel = size * rng.uniform(*motion.travel)
    angle0 = rng.uniform(0, 2 * math.pi)
    if not motion.tilted:
        angle0 = 0.0  # drawn all the same: every class draws alike
    turn = rng.uniform(0.5, 1.0) * math.pi  # total rotation, < 45° per frame at 16+ frames
    sign = (1.0 if rng.random() < 0.5 else -1.0) if motion.random_sign else 1.0
    dx, dy = sign * motion.dx, sign * motion.dy
    # Drawn last, and only for shapeless classes: every other class keeps its pixels.
    shape = cls.shape or RANDOM_SHAPES[int(rng.integers(len(RANDOM_SHAPES)))]
    states = []
    for t in range(num_frames):
        progress = t / max(num_frames - 1, 1)
        s = progress - 0.5
        ramp = _middle_half_ramp(progress)
        opacity = ramp if motion.fade > 0 else 1.0 - ramp if motion.fade < 0 else 1.0
        weight = ramp if cls.end_color else 0.0  # colour change: start → end over the middle half
        color = cls.end_color if cls.end_color and weight >= 0.5 else cls.color
        states.append(
            (
                cx + dx * s * travel,
                cy + dy * s * travel,
                radius * (1.0 + motion.grow * s),
                angle0 + motion.spin * s * turn,
                start + weight * (end - start),
                opacity,
                " ".join(w for w in (cls.size, color, shape) if w) if opacity > 0 else "",
            )
        )
    x, y, r, angle, colors, opacity, names = zip(*states, strict=True)
    return ObjectTrack(
        shape,
        np.asarray(x, np.float64),
        np.asarray(y, np.float64),
        np.asarray(r, np.float64),
        np.asarray(angle, np.float64),
        np.asarray(colors, np.float32).reshape(num_frames, 3),
        np.asarray(opacity, np.float64),
        tuple(names),
    )


def render_tracks(
    background: np.ndarray, tracks: Sequence[ObjectTrack]
) -> tuple[np.ndarray, np.ndarray]:
    """Composites the objects over a float32 [H, W, 3] background in order, later ones in front:
    uint8 frames [T, H, W, 3] and each object's visible coverage, float32 [T, K, H, W]."""
    num_frames = len(tracks[0].x)
    height, width = background.shape[:2]
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    coverage = np.zeros((num_frames, len(tracks), height, width), np.float32)
    for t in range(num_frames):
        canvas = background
        for k, track in enumerate(tracks):
            # Python floats keep the arithmetic in float32 (a NumPy float64 would promote it).
            alpha = shape_coverage(
                track.shape,
                float(track.x[t]),
                float(track.y[t]),
                float(track.radius[t]),
                float(track.angle[t]),
                xx,
                yy,
            ) * float(track.opacity[t])
            canvas = canvas * (1 - alpha[..., None]) + track.rgb[t] * alpha[..., None]
            coverage[t, :k] *= 1 - alpha  # hidden behind this object
            coverage[t, k] = alpha
        frames[t] = np.clip(canvas, 0, 255).astype(np.uint8)
    return frames, coverage


@dataclasses.dataclass(frozen=True)
class RenderedClip:
    """A rendered clip: uint8 frames [T, H, W, 3], the object's visible coverage float32
    [T, 1, H, W], its names [T, 1] and the background's scene entity ("striped background")."""

    frames: np.ndarray
    coverage: np.ndarray
    names: np.ndarray
    background: str


def render_clip(
    cls: SyntheticClass, rng: np.random.Generator, num_frames: int, height: int, width: int
) -> RenderedClip:
    """The class's object over a random background, with its masks and the background's name."""
    kind = int(rng.integers(len(BACKGROUND_KINDS)))  # the draw `_background` makes
    background = textured_background(rng, kind, height, width)
    track = object_track(cls, rng, num_frames, height, width)
    frames, coverage = render_tracks(background, [track])
    names = np.asarray(track.names, dtype=str)[:, None]
    return RenderedClip(frames, coverage, names, f"{BACKGROUND_KINDS[kind]} background")


def render_video_with_masks(
    cls: SyntheticClass, rng: np.random.Generator, num_frames: int, height: int, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(uint8 frames [T, H, W, 3], the object's visible coverage float32 [T, 1, H, W], its names
    [T, 1]) of the class's object over a random background."""
    clip = render_clip(cls, rng, num_frames, height, width)
    return clip.frames, clip.coverage, clip.names


def render_video(
    cls: SyntheticClass, rng: np.random.Generator, num_frames: int, height: int, width: int
) -> np.ndarray:
    """uint8 [T, H, W, 3]: the class's object performing its motion over a random background."""
    return render_video_with_masks(cls, rng, num_frames, height, width)[0]


def differing_pairs(classes: Sequence[SyntheticClass]) -> dict[str, list[tuple[int, int]]]:
    """Index pairs of classes that differ only in motion direction, and only in the object."""
    by_motion = {m: pair for pair in MOTION_PAIRS for m in pair}
    direction, appearance = [], []
    for i, a in enumerate(classes):
        for j in range(i + 1, len(classes)):
            b = classes[j]
            pair = by_motion.get(a.motion)
            if (
                (a.color, a.shape) == (b.color, b.shape)
                and pair
                and pair == by_motion.get(b.motion)
            ):
                direction.append((i, j))
            if a.motion == b.motion and (a.color, a.shape) != (b.color, b.shape):
                appearance.append((i, j))
    return {"direction": direction, "appearance": appearance}
