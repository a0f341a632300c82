"""Few-shot subsets and zero-shot class subsets."""

from __future__ import annotations

import collections

import pytest

from alt_jax.data import sources, splits


def _records(per_class=(20, 20, 17)) -> list[sources.VideoRecord]:
    return [
        sources.VideoRecord(f"c{c}/v{i}.mp4", c) for c, n in enumerate(per_class) for i in range(n)
    ]


def test_k_shot_exactly_k_per_class_drawn_from_the_class():
    records = _records()
    for k in splits.K_SHOTS:
        subset = splits.k_shot_subset(records, k, seed=0)
        counts = collections.Counter(r.label for r in subset)
        assert counts == {0: k, 1: k, 2: k}
        assert len(set(subset)) == len(subset) and set(subset) <= set(records)


def test_k_shot_seeds():
    records = _records()
    a = splits.k_shot_subset(records, 4, seed=0)
    assert a == splits.k_shot_subset(records, 4, seed=0)
    assert set(a) != set(splits.k_shot_subset(records, 4, seed=1))
    # Nested across k within a seed.
    assert set(splits.k_shot_subset(records, 2, seed=0)) <= set(a)


def test_k_shot_names_the_short_class():
    with pytest.raises(ValueError, match="class 'juggling' .* 17 videos, fewer than k=20"):
        splits.k_shot_subset(_records(), 20, seed=0, class_names=["a", "b", "juggling"])
    with pytest.raises(ValueError, match="class 'c' .* 0 videos"):
        splits.k_shot_subset(_records((5, 5)), 2, seed=0, class_names=["a", "b", "c"])


def test_write_k_shot_lists(tmp_path):
    records = [sources.VideoRecord(str(tmp_path / r.path), r.label) for r in _records()]
    paths = splits.write_k_shot_lists(
        records, tmp_path / "fewshot", ks=(2, 4), seeds=(0, 1), root=tmp_path
    )
    assert len(paths) == 4
    back = sources.read_annotation_list(paths[(4, 1)], tmp_path)
    assert back == splits.k_shot_subset(records, 4, seed=1)


def test_zero_shot_subsets():
    names = [f"novel class {i}" for i in range(220)]
    subsets = splits.zero_shot_class_subsets(names, seed=0)
    assert len(subsets) == 3
    for subset in subsets:
        assert len(subset) == 160 == len(set(subset)) and set(subset) <= set(names)
        assert subset == sorted(subset, key=names.index)  # input order kept
    assert len({tuple(s) for s in subsets}) == 3
    assert subsets == splits.zero_shot_class_subsets(names, seed=0)
    assert subsets != splits.zero_shot_class_subsets(names, seed=1)
    with pytest.raises(ValueError, match="exceeds"):
        splits.zero_shot_class_subsets(names[:100])


def test_restrict_to_classes_relabels():
    records = _records((2, 2, 2))
    out = splits.restrict_to_classes(records, ["a", "b", "c"], ["c", "a"])
    assert [(r.path, r.label) for r in out] == [
        ("c0/v0.mp4", 1),
        ("c0/v1.mp4", 1),
        ("c2/v0.mp4", 0),
        ("c2/v1.mp4", 0),
    ]
