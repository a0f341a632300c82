"""Alignment quality (alt_jax/grounding.py): worked by hand on a 2 × 2 patch grid."""

from __future__ import annotations

import numpy as np
import pytest

from alt_jax import grounding

UNITS = ["red", "circle", "red circle", "blue", "sky", "striped background"]


def test_an_entity_names_an_object_when_its_words_are_the_objects():
    assert grounding.names_object("red", "red circle")
    assert grounding.names_object("red circle", "red circle")
    assert grounding.names_object("Circle", "red circle")
    assert not grounding.names_object("blue", "red circle")
    assert not grounding.names_object("red square", "red circle")
    assert not grounding.names_object("", "red circle")
    table = grounding.naming_table(UNITS, ["red circle", "blue square"])
    np.testing.assert_array_equal(table, [[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 0, 0]])


def coverage_2x2(values):
    """A [1, 1, 4, 4] coverage whose four 2 × 2 patches have the given mean coverages."""
    cov = np.zeros((1, 1, 4, 4), np.float32)
    for (row, col), v in zip([(0, 0), (0, 1), (1, 0), (1, 1)], values, strict=True):
        cov[0, 0, 2 * row : 2 * row + 2, 2 * col : 2 * col + 2] = v
    return cov


def test_patch_labels_object_background_and_left_out_edges():
    vocabulary = []
    labels = grounding.patch_labels(
        coverage_2x2([1.0, 0.5, 0.3, 0.0]), np.array([["red circle"]]), vocabulary, patch=2
    )
    # ≥ 0.5: the object; < 0.05: background; in between: left out.
    np.testing.assert_array_equal(labels, [[0, 0, grounding.LEFT_OUT, grounding.BACKGROUND]])
    assert vocabulary == ["red circle"]
    with pytest.raises(ValueError, match="not a multiple of the patch size 3"):
        grounding.patch_labels(coverage_2x2([1, 1, 1, 1]), np.array([["x"]]), [], patch=3)


def test_counts_worked_by_hand_through_the_region_map():
    counts = grounding.GroundingCounts(UNITS)
    # Frame 0: patches 1, 2 (top row) in region 1, patches 3, 4 in region 2.
    # Frame 1: every patch its own region (r = 0), region m + 1 holds patch m + 1.
    dest = np.array([[0, 1, 1, 2, 2], [0, 1, 2, 3, 4]])
    entity_index = np.array([[2, 4, 0, 0], [3, 0, 5, 5]])  # [T, M = 4]; frame 0 uses 2 regions
    coverage = np.concatenate(
        [coverage_2x2([1.0, 1.0, 0.0, 0.0]), coverage_2x2([1.0, 0.6, 0.0, 0.2])]
    )  # [2, 1, 4, 4]
    names = np.array([["red circle"], ["red circle"]])
    counts.add(entity_index, dest, coverage, names)
    out = counts.summary(top=2)
    # Frame 0: object patches 1, 2 → region 1 → "red circle": 2 of 2 grounded; background
    # patches 3, 4 → region 2 → "sky": no object entity.
    # Frame 1: object patches 1 ("blue": no), 2 ("red": yes); patch 3 background → "striped
    # background"; patch 4 (0.2) left out.
    assert (out["object_patches"], out["grounded_patches"]) == (4, 3)
    assert out["grounding"] == pytest.approx(3 / 4)
    assert out["background_patches"] == 3
    assert out["background_object_entity"] == 0.0
    assert out["per_object"] == {"red circle": pytest.approx(3 / 4)}
    # Usage counts regions (all M of each frame): entity 0 ×3, 2, 3, 4, 5 ×2 of 8.
    assert out["regions"] == 8
    assert out["most_used_share"] == pytest.approx(3 / 8)
    assert out["top_entities"] == [["red", 3 / 8], ["striped background", 2 / 8]]


def test_background_given_an_object_entity_and_eval_view_geometry():
    counts = grounding.GroundingCounts(UNITS)
    dest = np.array([[0, 1, 2, 3, 4]])
    # A clip without its object in view: its background patches take "blue", "circle", "sky",
    # "sky". Which entities name an object is known only once the red circle is met (below),
    # and the share is the same whatever the order of the clips.
    counts.add(
        np.array([[3, 1, 4, 4]]),
        dest,
        coverage_2x2([0.0, 0.0, 0.0, 0.0]),
        np.array([["red circle"]]),
    )
    assert counts.summary()["background_object_entity"] == 0.0  # no object met yet
    counts.add(
        np.array([[3, 1, 2, 4]]),
        dest,
        coverage_2x2([0.0, 0.0, 1.0, 0.0]),
        np.array([["red circle"]]),
    )
    out = counts.summary()
    # 7 background patches; "circle" (clip 1, clip 2) names the red circle: 2 of 7.
    assert out["background_object_entity"] == pytest.approx(2 / 7)
    # The evaluation view: 8 × 6 coverage → shorter side 4 → 5 × 4 → centre crop 4 × 4.
    cov = np.zeros((1, 1, 8, 6), np.float32)
    cov[0, 0, :, 3:] = 1.0
    view = grounding.eval_view_masks(cov, 4)
    assert view.shape == (1, 1, 4, 4)
    np.testing.assert_allclose(view[0, 0, :, 0], 0.0, atol=1e-6)
    np.testing.assert_allclose(view[0, 0, :, 3], 1.0, atol=1e-6)


def test_background_grounding_and_the_ideal_most_used_share():
    counts = grounding.GroundingCounts(UNITS)
    dest = np.array([[0, 1, 2, 3, 4]])
    # Patch 1: the red circle ("red"); patches 2–4: a striped background ("striped background",
    # "sky", "striped background").
    counts.add(
        np.array([[0, 5, 4, 5]]),
        dest,
        coverage_2x2([1.0, 0.0, 0.0, 0.0]),
        np.array([["red circle"]]),
        background="striped background",
    )
    out = counts.summary()
    assert out["background_grounding"] == pytest.approx(2 / 3)
    # Perfect: patch 1 → "red circle" (its longest naming entity), patches 2–4 → the background.
    assert out["ideal_most_used_share"] == pytest.approx(3 / 4)
    assert grounding.GroundingCounts(UNITS).summary()["background_grounding"] is None
