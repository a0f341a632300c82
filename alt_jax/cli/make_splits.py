"""Writes the few-shot training lists and the zero-shot K600 class-subset lists (docs/method.md §7).

Few-shot: K ∈ {2, 4, 8, 16} videos per class from a training split, one list per seed:

    alt-jax-splits fewshot --kind=folder --root=/data/hmdb51 \
        --list_file=/data/hmdb51/splits --fold=1 --out=/data/hmdb51/fewshot

  → /data/hmdb51/fewshot/{K}shot_seed{S}.txt (mmaction lists, paths relative to --root) and
    classes.txt.

Zero-shot K600: the 220 classes outside K400, three seeded subsets of 160, from a K600 CSV:

    alt-jax-splits k600_novel --root=/data/k600/val \
        --list_file=/data/k600/validate.csv --out=/data/k600/zeroshot

  → subset{i}.txt (labels index subset{i}_classes.txt).
"""

from __future__ import annotations

import argparse
import os

from alt_jax.data import pipeline, sources, splits
from alt_jax.labels import label_list_path, load_labels


def _records(args) -> tuple[list[sources.VideoRecord], list[str]]:
    source = pipeline.SourceSpec(
        kind=args.kind,
        root=args.root,
        list_file=args.list_file or None,
        class_names_file=args.class_names_file or None,
        split=args.split,
        fold=args.fold,
    )
    elements, names = pipeline.load_source(source)
    return [sources.VideoRecord(e["path"], e["label"]) for e in elements], list(names)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["fewshot", "k600_novel"])
    parser.add_argument("--kind", default="list", choices=pipeline.SOURCE_KINDS)
    parser.add_argument("--root", required=True)
    parser.add_argument("--list_file", default="")
    parser.add_argument("--class_names_file", default="")
    parser.add_argument("--split", default="train")
    parser.add_argument("--fold", type=int, default=1)
    parser.add_argument("--out", required=True)
    parser.add_argument("--shots", default="2,4,8,16")
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    if args.what == "fewshot":
        records, names = _records(args)
        paths = splits.write_k_shot_lists(
            records,
            args.out,
            ks=[int(k) for k in args.shots.split(",")],
            seeds=[int(s) for s in args.seeds.split(",")],
            class_names=names,
            root=args.root,
        )
        sources.write_class_names(os.path.join(args.out, "classes.txt"), names)
        print(f"wrote {len(paths)} few-shot lists of {len(names)} classes to {args.out}")
        return
    args.kind = "kinetics_csv"
    args.class_names_file = args.class_names_file or str(label_list_path("k600"))
    records, names = _records(args)
    novel = load_labels("k600_novel")
    for i, subset in enumerate(splits.zero_shot_class_subsets(novel)):
        subset_records = splits.restrict_to_classes(records, names, subset)
        sources.write_annotation_list(
            os.path.join(args.out, f"subset{i}.txt"), subset_records, args.root
        )
        sources.write_class_names(os.path.join(args.out, f"subset{i}_classes.txt"), subset)
        print(f"subset {i}: {len(subset)} classes, {len(subset_records)} videos")


if __name__ == "__main__":
    main()
