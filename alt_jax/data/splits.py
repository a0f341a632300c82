"""Few-shot and zero-shot evaluation splits (docs/method.md §7).

K-shot: K videos per class drawn from a training split with a fixed seed. Within one seed the
subsets are nested (the 2-shot list is the start of the 4-shot list) because each class is
permuted once per (seed, class) and the first K are kept.
Zero-shot on K600: seeded subsets of the 220 classes that K400 lacks.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Sequence

import numpy as np

from alt_jax.data import sources

K_SHOTS = (2, 4, 8, 16)


def k_shot_subset(
    records: Sequence[sources.VideoRecord],
    k: int,
    seed: int,
    *,
    class_names: Sequence[str] | None = None,
    num_classes: int | None = None,
) -> list[sources.VideoRecord]:
    """Exactly k records of every class (label order, then draw order), seeded by `seed`."""
    if k < 1:
        raise ValueError(f"k must be positive, got {k}")
    by_label: dict[int, list[sources.VideoRecord]] = collections.defaultdict(list)
    for record in records:
        by_label[record.label].append(record)
    if num_classes is None:
        num_classes = len(class_names) if class_names is not None else max(by_label) + 1
    subset = []
    for label in range(num_classes):
        pool = by_label.get(label, [])
        if len(pool) < k:
            name = class_names[label] if class_names is not None else f"label {label}"
            raise ValueError(
                f"class {name!r} (label {label}) has {len(pool)} videos, fewer than k={k}"
            )
        # One permutation per (seed, class), independent of k: nested subsets across k.
        order = np.random.default_rng(np.random.SeedSequence([seed, label])).permutation(len(pool))
        subset.extend(pool[i] for i in order[:k])
    return subset


def write_k_shot_lists(
    records: Sequence[sources.VideoRecord],
    out_dir: str | os.PathLike,
    *,
    ks: Sequence[int] = K_SHOTS,
    seeds: Sequence[int] = (0, 1, 2),
    class_names: Sequence[str] | None = None,
    root: str | os.PathLike = "",
) -> dict[tuple[int, int], str]:
    """Writes one annotation list per (k, seed) as `{k}shot_seed{seed}.txt`; returns the paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = {}
    for k in ks:
        for seed in seeds:
            path = os.path.join(os.fspath(out_dir), f"{k}shot_seed{seed}.txt")
            sources.write_annotation_list(
                path, k_shot_subset(records, k, seed, class_names=class_names), root
            )
            paths[(k, seed)] = path
    return paths


def zero_shot_class_subsets(
    class_names: Sequence[str], *, num_subsets: int = 3, subset_size: int = 160, seed: int = 0
) -> list[list[str]]:
    """`num_subsets` seeded draws of `subset_size` classes, each kept in the input order."""
    if subset_size > len(class_names):
        raise ValueError(f"subset_size {subset_size} exceeds the {len(class_names)} classes given")
    if len(set(class_names)) != len(class_names):
        raise ValueError("class_names has duplicates")
    subsets = []
    for i in range(num_subsets):
        rng = np.random.default_rng(np.random.SeedSequence([seed, i]))
        chosen = np.sort(rng.choice(len(class_names), size=subset_size, replace=False))
        subsets.append([class_names[j] for j in chosen])
    return subsets


def restrict_to_classes(
    records: Sequence[sources.VideoRecord], class_names: Sequence[str], subset: Sequence[str]
) -> list[sources.VideoRecord]:
    """Records whose class is in `subset`, relabelled to their index within `subset`."""
    new_label = {class_names.index(name): i for i, name in enumerate(subset)}
    return [
        sources.VideoRecord(r.path, new_label[r.label]) for r in records if r.label in new_label
    ]
