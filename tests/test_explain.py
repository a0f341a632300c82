"""Top classes and per-frame entity shares, against hand-counted cases."""

import numpy as np

from alt_jax import explain


def test_top_classes_sorted_and_cut():
    probs = np.array([0.1, 0.5, 0.05, 0.3, 0.05])
    names = ["a", "b", "c", "d", "e"]
    assert explain.top_classes(probs, names, 3) == [("b", 0.5), ("d", 0.3), ("a", 0.1)]


def test_frame_entities_weigh_regions_by_size():
    # Frame 0: 6 patches; region 1 holds 3 patches (entity 2), region 2 holds 1 (entity 0),
    # region 3 holds 2 (entity 2) → entity 2 covers 5/6, entity 0 covers 1/6.
    dest = np.array([[0, 1, 1, 1, 2, 3, 3], [0, 1, 2, 3, 1, 2, 3]])
    entity_index = np.array([[2, 0, 2], [1, 2, 0]])  # frame 1: 2 patches per region
    names = ["hand", "ball", "sky"]
    got = explain.frame_entities(entity_index, dest, names, k=3)
    assert [name for name, _ in got[0]] == ["sky", "hand"]
    np.testing.assert_allclose([share for _, share in got[0]], [5 / 6, 1 / 6])
    assert [name for name, _ in got[1]] == ["hand", "ball", "sky"]  # ties: entity order
    np.testing.assert_allclose([share for _, share in got[1]], [1 / 3] * 3)
    assert len(explain.frame_entities(entity_index, dest, names, k=1)[1]) == 1
