"""The synthetic action dataset: class design, motion in the pixels, files on disk."""

from __future__ import annotations

import os

import av
import numpy as np
import pytest

from alt_jax.data import sources, synthetic
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
