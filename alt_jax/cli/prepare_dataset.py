"""Packs a video dataset's encoded files with labels into array_record shards (tfds builder).

  alt-jax-prepare --kind=list --root=/tmp/synthetic \
      --split=train=/tmp/synthetic/train.txt --split=val=/tmp/synthetic/val.txt \
      --classes=/tmp/synthetic/classes.txt --name=synthetic --data_dir=/tmp/tfds

  alt-jax-prepare --kind=folder --root=/data/UCF-101 \
      --split_dir=/data/ucfTrainTestlist --fold=1 --name=ucf101_fold1 --data_dir=/tmp/tfds

Read back with pipeline.make_train_iterator(pipeline.SourceSpec(kind="tfds", root=DATA_DIR,
tfds_name=NAME), clip_spec, batch_size), or a config's dataset with kind="tfds".
"""

from __future__ import annotations

import argparse
import os

from alt_jax.data import sources, tfds_video


def _parse_splits(items: list[str]) -> dict[str, str]:
    """`name=path` strings → {name: path}."""
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep:
            raise SystemExit(f"--split wants name=path, got {item!r}")
        out[name] = path
    return out


def main(argv: list[str] | None = None) -> None:
    """Builds the records of each split and packs them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=("list", "kinetics_csv", "folder"), required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument(
        "--split",
        action="append",
        default=[],
        help="name=list_or_csv_file (kinds list, kinetics_csv); repeatable",
    )
    parser.add_argument("--classes", help="class names file (one per line)")
    parser.add_argument("--filename_pattern", default=sources.DEFAULT_KINETICS_PATTERN)
    parser.add_argument("--split_dir", help="official split files (kind folder)")
    parser.add_argument("--fold", type=int, default=1)
    parser.add_argument("--name", required=True, help="packed dataset name")
    parser.add_argument("--data_dir", required=True)
    args = parser.parse_args(argv)
    names = sources.read_class_names(args.classes) if args.classes else None
    split_records: dict[str, list[sources.VideoRecord]] = {}
    if args.kind == "folder":
        for subset in ("train", "test"):
            if args.split_dir is None:
                raise SystemExit("--kind=folder needs --split_dir")
            reader = (
                sources.read_ucf101_split
                if os.path.exists(os.path.join(args.split_dir, "classInd.txt"))
                else sources.read_hmdb51_split
            )
            split_records[subset], names = reader(
                args.root, args.split_dir, fold=args.fold, subset=subset
            )
    else:
        for split, path in _parse_splits(args.split).items():
            if args.kind == "list":
                split_records[split] = sources.read_annotation_list(
                    path, args.root, num_classes=len(names) if names else None
                )
            else:
                split_records[split], names = sources.read_kinetics_csv(
                    path, args.root, class_names=names, filename_pattern=args.filename_pattern
                )
    if names is None:
        raise SystemExit("--classes is required for --kind=list")
    out = tfds_video.prepare_video_dataset(args.name, args.data_dir, split_records, names)
    counts = ", ".join(f"{k}: {len(v)}" for k, v in split_records.items())
    print(f"packed {counts} into {out}")


if __name__ == "__main__":
    main()
