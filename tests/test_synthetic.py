"""The synthetic action dataset: class design, motion in the pixels, files on disk."""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import os
import re
from pathlib import Path

import av
import numpy as np
import pytest

from alt_jax.data import sources, synthetic, synthetic_files
from tests.video_fixtures import TINY, make_tiny_dataset


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory) -> str:
    return make_tiny_dataset(tmp_path_factory)


def _object_centroid_and_area(frame: np.ndarray, rgb) -> tuple[float, float, int]:
    """Centroid (x, y) and pixel count of pixels close to the object colour."""
    mask = np.abs(frame.astype(int) - np.asarray(rgb)).sum(-1) < 90
    ys, xs = np.nonzero(mask)
    return xs.mean(), ys.mean(), mask.sum()


def test_classes_have_direction_and_appearance_contrasts():
    classes = synthetic.synthetic_classes(10)
    names = [c.name for c in classes]
    assert len(set(names)) == 10
    assert names[0] == "red circle moving left"
    assert all(n.islower() and len(n.split()) >= 3 for n in names)
    pairs = synthetic.differing_pairs(classes)
    assert pairs["direction"] and pairs["appearance"]
    for i, j in pairs["direction"]:
        assert (classes[i].color, classes[i].shape) == (classes[j].color, classes[j].shape)
    all_classes = synthetic.synthetic_classes(46)
    assert not any(c.shape == "circle" and "rotating" in c.motion for c in all_classes)


def test_motion_is_in_the_pixels():
    """The object's colour blob moves / grows as the class name says (measured on pixels)."""
    rgb = dict(synthetic.COLORS)
    for motion, check in [
        ("moving left", lambda a, b: b[0] < a[0] - 5),
        ("moving right", lambda a, b: b[0] > a[0] + 5),
        ("moving up", lambda a, b: b[1] < a[1] - 5),
        ("moving down", lambda a, b: b[1] > a[1] + 5),
        ("growing bigger", lambda a, b: b[2] > 1.5 * a[2]),
        ("shrinking", lambda a, b: b[2] < a[2] / 1.5),
    ]:
        cls = synthetic.SyntheticClass("red", "circle", motion)
        frames = synthetic.render_video(cls, np.random.default_rng(0), 16, 96, 128)
        first = _object_centroid_and_area(frames[0], rgb["red"])
        last = _object_centroid_and_area(frames[-1], rgb["red"])
        assert check(first, last), (motion, first, last)


def test_render_is_seeded():
    cls = synthetic.synthetic_classes(3)[2]
    a = synthetic.render_video(cls, np.random.default_rng(5), 4, 32, 32)
    np.testing.assert_array_equal(
        a, synthetic.render_video(cls, np.random.default_rng(5), 4, 32, 32)
    )
    assert not np.array_equal(a, synthetic.render_video(cls, np.random.default_rng(6), 4, 32, 32))


def test_dataset_files(tiny_dataset):
    names = sources.read_class_names(os.path.join(tiny_dataset, "classes.txt"))
    assert names == [c.name for c in synthetic.synthetic_classes(TINY["num_classes"])]
    train = sources.read_annotation_list(
        os.path.join(tiny_dataset, "train.txt"), tiny_dataset, num_classes=len(names)
    )
    val = sources.read_annotation_list(os.path.join(tiny_dataset, "val.txt"), tiny_dataset)
    assert len(train) == 3 * TINY["train_per_class"] and len(val) == 3 * TINY["val_per_class"]
    assert not set(train) & set(val)
    for record in train[:2] + val[-1:]:
        with av.open(record.path) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        assert len(frames) == TINY["num_frames"] and frames[0].shape == (48, 64, 3)
        assert names[record.label].replace(" ", "_") in record.path
        coverage, object_names = synthetic_files.read_object_masks(
            record.path
        )  # written by default
        assert coverage.shape == (TINY["num_frames"], 1, 48, 64)
        assert set(object_names[:, 0]) == {" ".join(names[record.label].split()[:2])}


# --- The default task's pixels, pinned ------------------------------------------------------------
# sha256 of the frames the first renderer (before tasks and masks existed) gave: the demo's
# recorded accuracies were measured on them. They also pin NumPy's float32 maths on this platform.
DEMO_FRAMES_SHA256 = "23dcda4f9f20ee7b4e1718a413239b427a85791932455efd1600ee1af8aa14d2"
ALL_DIRECTIONS_SHA256 = "a3ed4cfd33e202e7ca5ee1e5b872705dac3e1cb5cabc60858edcf51c9963e565"


def test_default_task_pixels_are_those_of_the_first_renderer(tmp_path, monkeypatch):
    frames_by_path = {}
    monkeypatch.setattr(
        synthetic_files, "write_mp4", lambda path, frames: frames_by_path.update({path: frames})
    )
    # make demo's classes and sizes, one train and one val video per class.
    synthetic_files.make_synthetic_dataset(
        tmp_path,
        num_classes=8,
        train_per_class=1,
        val_per_class=1,
        num_frames=16,
        height=112,
        width=112,
        seed=0,
    )
    digest = hashlib.sha256()
    for path in sorted(frames_by_path):
        digest.update(frames_by_path[path].tobytes())
    assert len(frames_by_path) == 16 and digest.hexdigest() == DEMO_FRAMES_SHA256
    digest = hashlib.sha256()  # every directions class (growing, rotating, ...), non-square
    for label, cls in enumerate(synthetic.synthetic_classes(46)):
        rng = np.random.default_rng(np.random.SeedSequence([0, label, 0]))
        digest.update(synthetic.render_video(cls, rng, 4, 32, 48).tobytes())
    assert digest.hexdigest() == ALL_DIRECTIONS_SHA256


# --- Object masks ---------------------------------------------------------------------------------
RGB = {name: np.asarray(rgb, np.float64) for name, rgb in synthetic.COLORS}


def _decode(path) -> np.ndarray:
    with av.open(os.fspath(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def _ramp(t: int, num_frames: int) -> float:
    """0 until a quarter of the clip, 1 from three quarters, linear between (written by hand)."""
    return float(np.clip((t / (num_frames - 1) - 0.25) / 0.5, 0, 1))


def _some_classes_of_every_task() -> list[synthetic.SyntheticClass]:
    directions = synthetic.synthetic_classes(46)
    others = [c for task in synthetic.TASKS[1:] for c in synthetic.synthetic_classes(8, task)]
    return directions[:4] + [c for c in directions if "rotating" in c.motion][:1] + others


@pytest.mark.parametrize("cls", _some_classes_of_every_task(), ids=lambda c: c.name)
def test_mask_is_exactly_where_and_how_much_the_object_was_drawn(cls):
    """Each pixel is floor(background · (1 − c) + colour · c) for the mask's c and one colour per
    frame: start → end colour by the ramp, times one brightness factor in [0.9, 1.05]."""
    num_frames, height, width = 9, 32, 40
    frames, coverage, names = synthetic.render_video_with_masks(
        cls, np.random.default_rng(3), num_frames, height, width
    )
    background = synthetic._background(np.random.default_rng(3), height, width)  # drawn first
    assert coverage.shape == (num_frames, 1, height, width) and names.shape == (num_frames, 1)
    end = cls.end_color or cls.color
    brightness_low, brightness_high = 0.9, 1.05
    for t in range(num_frames):
        c = coverage[t, 0].astype(np.float64)
        covered = c > 0
        w = _ramp(t, num_frames) if cls.end_color else 0.0
        colour = cls.color if w < 0.5 else end
        shapes = [cls.shape] if cls.shape else synthetic.RANDOM_SHAPES  # "object": drawn per video
        allowed = {" ".join(filter(None, (cls.size, colour, shape))) for shape in shapes}
        assert names[t, 0] in (allowed if c.max() else {""})  # "small red circle" for a sized one
        # Uncovered pixels are the background, exactly.
        np.testing.assert_array_equal(frames[t][~covered], background.astype(np.uint8)[~covered])
        if not covered.any():
            continue
        # Each covered pixel bounds colour · c to [frame, frame + 1) − background · (1 − c),
        # give or take float32 rounding; one colour must fit every pixel...
        rest = background[covered] * (1 - c[covered, None])
        low = (frames[t][covered] - rest - 1e-3) / c[covered, None]
        high = (frames[t][covered] + 1 + 1e-3 - rest) / c[covered, None]
        colour_low, colour_high = low.max(0), high.min(0)
        assert (colour_low < colour_high).all(), (t, colour_low, colour_high)
        # ... and be the colour of the ramp at one brightness for the whole clip.
        nominal = (1 - w) * RGB[cls.color] + w * RGB[end]
        brightness_low = max(brightness_low, (colour_low / nominal).max())
        brightness_high = min(brightness_high, (colour_high / nominal).min())
    assert brightness_low < brightness_high


@pytest.mark.parametrize("task", synthetic.TASKS)
def test_masks_beside_every_video_round_trip_and_cover_the_object(tmp_path, task):
    made = synthetic_files.make_synthetic_dataset(
        tmp_path,
        task=task,
        num_classes=8,
        train_per_class=1,
        val_per_class=1,
        num_frames=8,
        height=48,
        width=64,
    )
    records = [
        record
        for split in ("train", "val")
        for record in sources.read_annotation_list(tmp_path / f"{split}.txt", tmp_path)
    ]
    assert len(records) == 16
    for record in records:
        mask_path = Path(record.path).with_suffix(".objects.npz")
        assert synthetic_files.object_masks_path(record.path) == mask_path and mask_path.exists()
        with np.load(mask_path) as stored:  # the format, read by hand
            assert stored["coverage"].dtype == np.uint8 and stored["names"].dtype.kind == "U"
            raw_coverage, raw_names = stored["coverage"], stored["names"]
        coverage, names = synthetic_files.read_object_masks(record.path)
        np.testing.assert_array_equal(coverage, raw_coverage / np.float32(255))
        np.testing.assert_array_equal(names, raw_names)
        frames = _decode(record.path).astype(np.float64)
        assert coverage.shape == (8, 1, 48, 64) and frames.shape == (8, 48, 64, 3)
        label = record.label
        index = int(Path(record.path).stem.rsplit("_", 1)[1])
        rng = np.random.default_rng(np.random.SeedSequence([0, label, index]))  # _make_one's
        background = synthetic._background(rng, 48, 64)
        for t in (0, 7):  # the colour is pure (not mid-change) in the first and last frames
            inside, outside = coverage[t, 0] > 0.9, coverage[t, 0] == 0
            assert (names[t, 0] == "") == (not inside.any())
            if names[t, 0]:
                colour = names[t, 0].split()[-2]  # "[size] colour shape"
                mean = frames[t][inside].mean(0)
                # Brightness varies by −10 % .. +5 % per video, and the codec adds a little.
                assert np.abs(mean - RGB[colour]).max() < 45, (record.path, t, mean)
                nearest = min(RGB, key=lambda name: np.abs(mean - RGB[name]).sum())
                assert nearest == colour, (record.path, t, mean)
                assert np.abs(frames[t][inside] - background[inside]).sum(-1).mean() > 60
            assert np.abs(frames[t][outside] - background[outside]).mean() < 4, (record.path, t)
    assert made["class_names"] == [c.name for c in synthetic.synthetic_classes(8, task)]


def test_later_objects_occlude_earlier_ones():
    """Two overlapping squares: the earlier one's visible coverage is c1 · (1 − c2)."""
    height, width = 20, 24
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)

    def track(x, rgb, opacity):
        one = np.ones(1)
        return synthetic.ObjectTrack(
            "square",
            x * one,
            10.0 * one,
            6.0 * one,
            0 * one,
            np.asarray([rgb], np.float32),
            opacity * one,
            ("x",),
        )

    tracks = [track(9.0, (200, 0, 0), 1.0), track(15.0, (0, 0, 200), 0.5)]
    background = np.full((height, width, 3), 100, np.float32)
    frames, coverage = synthetic.render_tracks(background, tracks)
    # Squares of half-side 0.8 · 6 = 4.8 px, anti-aliased over one pixel, by hand.
    c1 = np.clip(0.5 - (np.maximum(np.abs(xx - 9), np.abs(yy - 10)) - 4.8), 0, 1)
    c2 = 0.5 * np.clip(0.5 - (np.maximum(np.abs(xx - 15), np.abs(yy - 10)) - 4.8), 0, 1)
    np.testing.assert_allclose(coverage[0, 0], c1 * (1 - c2), atol=1e-6)
    np.testing.assert_allclose(coverage[0, 1], c2, atol=1e-6)
    assert ((c1 * c2) > 0).any()  # they do overlap
    expected = background * (1 - c1[..., None]) + np.float32([200, 0, 0]) * c1[..., None]
    expected = expected * (1 - c2[..., None]) + np.float32([0, 0, 200]) * c2[..., None]
    assert np.abs(frames[0] - expected).max() < 1.0 + 1e-3


def test_read_object_masks_errors_name_the_file(tmp_path):
    video = tmp_path / "clip.mp4"
    expected = tmp_path / "clip.objects.npz"
    missing = (
        f"{re.escape(str(expected))}: no object masks beside .*clip.mp4; .*without masks.*older"
    )
    with pytest.raises(FileNotFoundError, match=missing):
        synthetic_files.read_object_masks(video)
    good = dict(coverage=np.zeros((3, 1, 4, 4), np.uint8), names=np.full((3, 1), "red circle"))
    np.savez_compressed(expected, **good)
    half = expected.read_bytes()[: expected.stat().st_size // 2]
    for bad in (b"", b"not a zip at all", b"PK\x03\x04truncated", half):
        expected.write_bytes(bad)
        with pytest.raises(ValueError, match=f"{re.escape(str(expected))}: unreadable"):
            synthetic_files.read_object_masks(video)
    for broken, complaint in [
        (dict(good, names=np.full((2, 1), "red circle")), "names must be strings of shape"),
        (dict(good, names=np.zeros((3, 1))), "names must be strings"),
        (dict(good, coverage=np.zeros((3, 1, 4, 4), np.float32)), "coverage must be uint8"),
        (dict(good, coverage=np.zeros((3, 4, 4), np.uint8)), "coverage must be uint8"),
        ({"coverage": good["coverage"]}, r"object masks lack the arrays \['names'\]"),
    ]:
        np.savez_compressed(expected, **broken)
        with pytest.raises(ValueError, match=f"{re.escape(str(expected))}: {complaint}"):
            synthetic_files.read_object_masks(video)
    np.savez_compressed(expected, **good)
    coverage, names = synthetic_files.read_object_masks(video)
    assert coverage.dtype == np.float32 and names.tolist() == [["red circle"]] * 3
    # Without masks nothing is written.
    synthetic_files.make_synthetic_dataset(
        tmp_path / "plain",
        num_classes=1,
        train_per_class=1,
        val_per_class=0,
        num_frames=2,
        height=16,
        width=16,
        masks=False,
    )
    assert not list((tmp_path / "plain").rglob("*.npz"))


# --- Capability tasks ----------------------------------------------------------------------------
def test_task_class_lists():
    names = {
        task: [c.name for c in synthetic.synthetic_classes(8, task)] for task in synthetic.TASKS
    }
    assert names["appearance"] == [
        "small red circle",
        "large red circle",
        "small blue square",
        "large blue square",
        "small blue circle",
        "large blue circle",
        "small red square",
        "large red square",
    ]
    assert names["change"] == [
        "circle turning from red to blue",
        "circle turning from blue to red",
        "square turning from red to blue",
        "square turning from blue to red",
        "green circle appearing",
        "green circle disappearing",
        "green square appearing",
        "green square disappearing",
    ]
    assert names["order"] == [
        "object turning from red to blue",
        "object turning from blue to red",
        "object turning from red to green",
        "object turning from green to red",
        "object turning from blue to green",
        "object turning from green to blue",
        "yellow object appearing",
        "yellow object disappearing",
    ]
    assert names["speed"] == [
        "red circle moving slowly horizontally",
        "red circle moving quickly horizontally",
        "blue square moving slowly horizontally",
        "blue square moving quickly horizontally",
        "red circle moving slowly vertically",
        "red circle moving quickly vertically",
        "blue square moving slowly vertically",
        "blue square moving quickly vertically",
    ]
    assert names["directions"] == [c.name for c in synthetic.synthetic_classes(8)]
    for task in synthetic.TASKS[1:]:
        with pytest.raises(ValueError, match=r"num_classes must be in \[1, 8\]"):
            synthetic.synthetic_classes(9, task)


def test_unknown_task_is_refused(tmp_path, monkeypatch, capsys):
    valid = "directions, appearance, change, order, speed"
    with pytest.raises(ValueError, match=f"unknown task 'colours'; valid tasks: {valid}"):
        synthetic.synthetic_classes(8, "colours")
    with pytest.raises(ValueError, match="unknown task"):
        synthetic_files.make_synthetic_dataset(tmp_path, task="colours")
    assert not list(tmp_path.iterdir())
    path = Path(__file__).resolve().parents[1] / "tools" / "make_synthetic.py"
    spec = importlib.util.spec_from_file_location("_tool_make_synthetic", path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    monkeypatch.setattr("sys.argv", ["make_synthetic.py", f"--out={tmp_path}", "--task=colours"])
    with pytest.raises(SystemExit) as exit_info:
        tool.main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'colours'" in err and all(f"'{t}'" in err for t in synthetic.TASKS)


def test_appearance_is_still_and_sized():
    size = 64
    for seed, cls in itertools.product(range(3), synthetic.synthetic_classes(8, "appearance")):
        frames, coverage, names = synthetic.render_video_with_masks(
            cls, np.random.default_rng(seed), 6, size, size
        )
        assert all(np.array_equal(frames[0], frame) for frame in frames[1:]), cls.name
        assert (names[:, 0] == f"{cls.size} {cls.color} {cls.shape}").all()  # the class name
        mask = coverage[0, 0]
        assert mask[0].max() == mask[-1].max() == mask[:, 0].max() == mask[:, -1].max() == 0
        # Radius from the area: a circle covers π r², a square of half-side 0.8 r covers 2.56 r².
        area = mask.sum()
        radius = np.sqrt(area / (np.pi if cls.shape == "circle" else 2.56)) / size
        low, high = {"small": (0.10, 0.13), "large": (0.20, 0.25)}[cls.size]
        assert low - 0.01 < radius < high + 0.01, (cls.name, radius)
        if cls.shape == "square":  # upright (a tilted square reads as a diamond): fills its box
            rows, cols = np.nonzero(mask > 0.5)
            box = (np.ptp(rows) + 1) * (np.ptp(cols) + 1)
            assert (mask > 0.5).sum() == box, cls.name


def _centroid(mask: np.ndarray) -> np.ndarray:
    yy, xx = np.mgrid[0 : mask.shape[0], 0 : mask.shape[1]]
    return np.array([(xx * mask).sum(), (yy * mask).sum()]) / mask.sum()


def test_speed_quick_moves_three_times_as_far_as_slow():
    size, num_frames = 64, 8
    travelled = {"slowly": [], "quickly": []}
    signs = {"horizontally": set(), "vertically": set()}
    for seed, cls in itertools.product(range(4), synthetic.synthetic_classes(8, "speed")):
        _, coverage, _ = synthetic.render_video_with_masks(
            cls, np.random.default_rng(seed), num_frames, size, size
        )
        for t in range(num_frames):  # whole in every frame, so centroids are exact
            edges = coverage[t, 0][[0, -1]].max(), coverage[t, 0][:, [0, -1]].max()
            assert max(edges) == 0, (cls.name, t)
        move = _centroid(coverage[-1, 0]) - _centroid(coverage[0, 0])
        pace, axis = cls.motion.split()[1:]
        along, across = (move[0], move[1]) if axis == "horizontally" else (move[1], move[0])
        assert abs(across) < 0.05, (cls.name, move)  # anti-aliasing: a hair off the axis
        travelled[pace].append(abs(along) / size)
        signs[axis].add(np.sign(along))
    assert min(travelled["quickly"]) >= 3 * max(travelled["slowly"])
    assert 0.10 - 0.01 < min(travelled["slowly"]) and max(travelled["slowly"]) < 0.13 + 0.01
    assert 0.40 - 0.01 < min(travelled["quickly"]) and max(travelled["quickly"]) < 0.50 + 0.01
    assert signs == {"horizontally": {-1, 1}, "vertically": {-1, 1}}  # either way, per video


def test_order_draws_the_shape_per_video_and_only_the_order_tells_pairs_apart():
    """Every colour pair is a class in both orders, and the object's shape is drawn per video:
    circles and squares both occur in every class, and the masks name the shape drawn."""
    classes = synthetic.synthetic_classes(8, "order")
    pairs = [(c.color, c.end_color) for c in classes if c.end_color]
    assert sorted(pairs) == sorted((b, a) for a, b in pairs)  # each order and its reverse
    assert all(c.shape == "" for c in classes)
    for cls in classes:
        drawn = set()
        for seed in range(12):
            _, coverage, names = synthetic.render_video_with_masks(
                cls, np.random.default_rng(seed), 5, 48, 48
            )
            words = {n.split()[-1] for n in names[:, 0] if n}
            assert len(words) == 1 and coverage.max() > 0, (cls.name, words)
            drawn |= words
        assert drawn == set(synthetic.RANDOM_SHAPES), (cls.name, drawn)


def test_change_names_follow_the_colour_and_the_fade():
    num_frames = 9  # progress t / 8: the middle frame is exactly halfway
    expected = {
        "circle turning from red to blue": ["red circle"] * 4 + ["blue circle"] * 5,
        "square turning from blue to red": ["blue square"] * 4 + ["red square"] * 5,
        # Opacity ramps from 0 at a quarter of the clip (t = 2) to 1 at three quarters (t = 6).
        "green circle appearing": [""] * 3 + ["green circle"] * 6,
        "green square disappearing": ["green square"] * 6 + [""] * 3,
    }
    classes = {c.name: c for c in synthetic.synthetic_classes(8, "change")}
    for name, want in expected.items():
        frames, coverage, names = synthetic.render_video_with_masks(
            classes[name], np.random.default_rng(1), num_frames, 40, 40
        )
        assert names[:, 0].tolist() == want, name
        assert all(np.array_equal(frames[0], f) for f in frames[1:3])  # unchanged until t = 2
        opacity = [_ramp(t, num_frames) for t in range(num_frames)]
        if "disappearing" in name:
            opacity = [1 - o for o in opacity]
        if "turning" in name:
            opacity = [1.0] * num_frames
        # The shape's inside is fully covered, so the brightest coverage is the opacity.
        np.testing.assert_allclose(coverage.max((1, 2, 3)), opacity, atol=1e-6)
