"""Writes a synthetic action dataset (mp4s with object masks, classes.txt, train.txt, val.txt).

  alt-jax-synthetic --out=/tmp/synthetic --num_classes=10 --train_per_class=20 \
      --val_per_class=10 --num_frames=16 --size=112 --workers=2
  alt-jax-synthetic --out=/tmp/speed --task=speed     (8 classes: slowly / quickly)
"""

from __future__ import annotations

import argparse
import time

from alt_jax.data import synthetic, synthetic_files


def main(argv: list[str] | None = None) -> None:
    """Parses flags and generates the dataset."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument(
        "--task",
        choices=synthetic.TASKS,
        default="directions",
        help="capability the classes test: directions (object × direction of motion), "
        "appearance (still colour × shape × size), change (colour order, appearing / "
        "disappearing, × circle / square), order (the order of a change alone, the shape "
        "drawn per video), speed (slowly / quickly × axis)",
    )
    parser.add_argument(
        "--num_classes",
        type=int,
        default=None,
        help="a prefix of the task's class list (default: 10 for directions, 8 for the others)",
    )
    parser.add_argument("--train_per_class", type=int, default=20)
    parser.add_argument("--val_per_class", type=int, default=10)
    parser.add_argument("--num_frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=112, help="square size (sets height, width)")
    parser.add_argument("--height", type=int, default=None)
    parser.add_argument("--width", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=0, help="encoding processes")
    parser.add_argument(
        "--masks",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write X.objects.npz (per-frame object coverage and names) beside each X.mp4",
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    summary = synthetic_files.make_synthetic_dataset(
        args.out,
        task=args.task,
        num_classes=args.num_classes,
        train_per_class=args.train_per_class,
        val_per_class=args.val_per_class,
        num_frames=args.num_frames,
        height=args.height or args.size,
        width=args.width or args.size,
        seed=args.seed,
        workers=args.workers,
        masks=args.masks,
    )
    print(
        f"wrote {summary['num_train']} train + {summary['num_val']} val videos of "
        f"{len(summary['class_names'])} classes to {summary['out_dir']} in "
        f"{time.perf_counter() - start:.1f} s"
    )


if __name__ == "__main__":
    main()
