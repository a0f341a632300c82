"""Region pictures: region maps from dest, overlay geometry and colours."""

import numpy as np
import pytest

from alt_jax import viz


def test_patch_regions_drops_class_token_and_reshapes():
    dest = np.array([0, 1, 1, 2, 3, 2, 2])  # class token, then a 2×3 grid
    np.testing.assert_array_equal(viz.patch_regions(dest, 2, 3), [[1, 1, 2], [3, 2, 2]])
    with pytest.raises(ValueError, match="expected"):
        viz.patch_regions(dest, 3, 3)


def test_overlay_colours_patches_and_draws_borders():
    frame = np.full((8, 12, 3), 100, np.uint8)
    regions = np.array([[0, 0, 1], [0, 0, 1]])  # 2×3 grid of 4×4 patches
    colors = np.array([[255, 0, 0], [0, 0, 255]], np.uint8)
    out = viz.overlay_regions(frame, regions, colors, alpha=0.5, borders=True)
    assert out.shape == (8, 12, 3)
    np.testing.assert_array_equal(out[1, 1], [177, 50, 50])  # 100·0.5 + 255·0.5, truncated
    np.testing.assert_array_equal(out[1, 10], [50, 50, 177])
    assert (out[:, 7] == 0).all() and (out[:, 8] == 0).all()  # border between columns 1 and 2
    plain = viz.overlay_regions(frame, regions, colors, alpha=0.5, borders=False)
    assert len({tuple(p) for p in plain.reshape(-1, 3)}) == 2


def test_distinct_colors_are_distinct():
    colors = viz.distinct_colors(40)
    assert colors.shape == (40, 3) and colors.dtype == np.uint8
    assert len({tuple(c) for c in colors}) == 40


def test_center_crop_resize_and_normalize():
    frame = np.zeros((48, 64, 3), np.uint8)
    frame[:, 32:] = 255
    out = viz.center_crop_resize(frame, 24)
    assert out.shape == (24, 24, 3)
    assert out[:, :10].max() < 30 and out[:, 14:].min() > 225  # the edge stays in the middle
    norm = viz.clip_normalize(np.full((1, 3), 255, np.uint8))
    np.testing.assert_allclose(norm[0], (1 - viz.CLIP_MEAN) / viz.CLIP_STD, rtol=1e-6)


def test_legend_rows():
    strip = viz.legend(["hand", "guitar"], np.array([[255, 0, 0], [0, 255, 0]], np.uint8), 100)
    assert strip.shape == (32, 100, 3)
    np.testing.assert_array_equal(strip[8, 8], [255, 0, 0])
    np.testing.assert_array_equal(strip[24, 8], [0, 255, 0])
