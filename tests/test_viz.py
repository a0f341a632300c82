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


def test_legend_rows():
    strip = viz.legend(["hand", "guitar"], np.array([[255, 0, 0], [0, 255, 0]], np.uint8), 100)
    assert strip.shape == (32, 100, 3)
    np.testing.assert_array_equal(strip[8, 8], [255, 0, 0])
    np.testing.assert_array_equal(strip[24, 8], [0, 255, 0])


def test_alignment_grid_colours_regions_by_entity():
    frames = np.full((2, 8, 8, 3), 128, np.uint8)  # 2 frames, 2×2 patches of 4
    dest = np.array([[0, 1, 1, 2, 2], [0, 1, 2, 1, 2]])  # class token, then the patch regions
    entity_index = np.array([[3, 7], [7, 7]])  # region 1 → entity 3 / 7, region 2 → entity 7
    names = [f"e{i}" for i in range(10)]
    picture = viz.alignment_grid(frames, entity_index, dest, names, patch_size=4)
    assert picture.shape == (8 + 2 * 16, 16, 3)  # one row of 2 frames over a 2-row legend
    colours = viz.distinct_colors(2)  # entities shown: 3 and 7, in that order
    expected = (128 * 0.45 + colours * 0.55).astype(np.uint8)
    np.testing.assert_array_equal(picture[1, 1], expected[0])  # frame 0, region 1: entity 3
    np.testing.assert_array_equal(picture[6, 1], expected[1])  # frame 0, region 2: entity 7
    np.testing.assert_array_equal(picture[1, 9], expected[1])  # frame 1: all entity 7
