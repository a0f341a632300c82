"""Captioned scenes: every caption word is checked against the pixels, independently of how the
scene was drawn (colour distance, centroids of colour masks, mask areas)."""

import re

import numpy as np
import pytest

from alt_jax.data import scenes, synthetic

RGB = dict(synthetic.COLORS)


def _mask(image: np.ndarray, rgb) -> np.ndarray:
    """Pixels within the renderer's colour jitter (×0.9–1.05) of `rgb`; backgrounds are greyish."""
    diff = np.abs(image.astype(int) - np.asarray(rgb)).max(-1)
    return diff < 30


def _named_objects(caption: str) -> list[tuple[str, str | None, str | None]]:
    """(colour, shape or None for 'object', position or None) parsed from the caption text."""
    colors = "|".join(RGB)
    shapes = "|".join([*synthetic.SHAPES, "object"])
    positions = "|".join(scenes.POSITIONS)
    pattern = rf"\b({colors}) ({shapes})(?: ({positions}))?"
    return [
        (c, None if s == "object" else s, p or None) for c, s, p in re.findall(pattern, caption)
    ]


@pytest.fixture(scope="module")
def batch():
    return scenes.scene_batch(np.random.default_rng(7), 200, image_size=112)


def test_caption_names_every_drawn_object(batch):
    _, captions, drawn = batch
    for caption, scene in zip(captions, drawn, strict=True):
        named = _named_objects(caption)
        assert sorted(c for c, _, _ in named) == sorted(o.color for o in scene.objects), caption
        for color, shape, _ in named:
            obj = next(o for o in scene.objects if o.color == color)
            assert shape in (None, obj.shape), caption
        for size in scenes.SIZES:
            if f" {size} " in caption:
                assert size in [o.size for o in scene.objects], caption
        assert caption == caption.lower() and "  " not in caption
        assert not re.search(r"\ba [aeiou]", caption), caption  # "an orange"


def test_colours_and_positions_match_the_pixels(batch):
    images, captions, _ = batch
    size = images.shape[1]
    checked = 0
    for image, caption in zip(images, captions, strict=True):
        for color, _, position in _named_objects(caption):
            mask = _mask(image, RGB[color])
            assert mask.sum() > 40, (caption, color, mask.sum())  # the colour is there
            if position is None:
                continue
            ys, xs = np.nonzero(mask)
            cx, cy = xs.mean() / size, ys.mean() / size
            expect = {
                "on the left": cx < 0.4,
                "on the right": cx > 0.6,
                "at the top": cy < 0.4,
                "at the bottom": cy > 0.6,
                "in the middle": abs(cx - 0.5) < 0.1 and abs(cy - 0.5) < 0.1,
            }[position]
            assert expect, (caption, color, cx, cy)
            checked += 1
    assert checked > 100


def test_sizes_and_backgrounds_match_the_pixels(batch):
    images, captions, drawn = batch
    areas = {"small": [], "large": []}
    for image, scene in zip(images, drawn, strict=True):
        for obj in scene.objects:
            areas[obj.size].append(_mask(image, RGB[obj.color]).sum())
        if "background" in scene.caption:
            assert f"{scene.background} background" in scene.caption
    # Radii 0.09–0.12 vs 0.16–0.20 of the side: every large shape covers more than any small
    # one of the same kind would; across kinds the medians still differ by > 2×.
    assert np.median(areas["large"]) > 2 * np.median(areas["small"])
    # A checkerboard is two-valued off the objects; smooth noise and stripes are not.
    for image, scene in zip(images, drawn, strict=True):
        off_objects = ~np.any([_mask(image, RGB[o.color]) for o in scene.objects], axis=0)
        grey = image[off_objects].astype(int).sum(-1)
        _, counts = np.unique(grey, return_counts=True)
        two_valued = np.sort(counts)[-2:].sum() > 0.8 * grey.size
        assert two_valued == (scene.background == "checkered"), scene.caption


def test_vocabulary_covers_the_action_videos():
    rng = np.random.default_rng(0)
    seen_colors, seen_shapes = set(), set()
    for _ in range(300):
        for obj in scenes.render_scene(rng).objects:
            seen_colors.add(obj.color)
            seen_shapes.add(obj.shape)
    assert seen_colors == set(RGB) and seen_shapes == set(synthetic.SHAPES)


def test_scenes_are_seeded():
    a = scenes.scene_batch(np.random.default_rng(3), 4, image_size=32)
    b = scenes.scene_batch(np.random.default_rng(3), 4, image_size=32)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1] == b[1]
    with pytest.raises(ValueError, match="max_objects"):
        scenes.render_scene(np.random.default_rng(0), max_objects=3)
