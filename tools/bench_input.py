"""Input-pipeline throughput: training clips/s (segment-sampled 8 frames, 224², from mp4).

  PYTHONPATH=. python tools/bench_input.py --workers=0,2 --repeats=2

Generates 64 synthetic 320×240 30-frame mp4s first (skipped when --data holds them already).
The worker counts are measured in turn, `--repeats` times; writes
benchmarks/results/input_pipeline.json (rendered into BENCHMARKS.md beside the train step).
"""

import argparse
import os
import time

from alt_jax.data import pipeline, synthetic
from benchmarks.common import RESULTS, run_record, write_result


def measure(root: str, workers: int, batch_size: int, num_batches: int, warmup: int) -> float:
    """Clips per second over num_batches after warmup batches (worker start-up excluded)."""
    it, _ = pipeline.make_train_iterator(
        kind="list",
        root=root,
        list_file=os.path.join(root, "train.txt"),
        class_names_file=os.path.join(root, "classes.txt"),
        batch_size=batch_size,
        num_frames=8,
        image_size=224,
        flip=True,
        seed=0,
        workers=workers,
    )
    try:
        for _ in range(warmup):
            next(it)
        start = time.perf_counter()
        for _ in range(num_batches):
            batch = next(it)
        elapsed = time.perf_counter() - start
    finally:
        it.close()
    assert batch["video"].shape == (batch_size, 8, 224, 224, 3)
    return num_batches * batch_size / elapsed


def main() -> None:
    """Generates the clips if needed and prints clips/s per worker count."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/tmp/alt_jax_bench_input")
    parser.add_argument("--workers", default="0,2")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--num_batches", type=int, default=24)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2, help="runs of each worker count")
    parser.add_argument("--out", default=str(RESULTS / "input_pipeline.json"))
    args = parser.parse_args()
    record = run_record(args)
    if not os.path.exists(os.path.join(args.data, "train.txt")):
        start = time.perf_counter()
        synthetic.make_synthetic_dataset(
            args.data,
            num_classes=8,
            train_per_class=8,
            val_per_class=0,
            num_frames=30,
            height=240,
            width=320,
            seed=0,
            workers=2,
        )
        print(f"generated 64 videos (320x240, 30 frames) in {time.perf_counter() - start:.1f} s")
    rates = {int(w): [] for w in args.workers.split(",")}
    for _ in range(args.repeats):
        for workers, runs in rates.items():
            runs.append(measure(args.data, workers, args.batch_size, args.num_batches, args.warmup))
            print(
                f"workers={workers}: {runs[-1]:.1f} clips/s (8 frames, 224x224, "
                f"batch {args.batch_size}, {args.num_batches} batches)",
                flush=True,
            )
    rows = [{"workers": w, "clips_per_s": runs} for w, runs in rates.items()]
    write_result(args.out, {**record, "rows": rows})


if __name__ == "__main__":
    main()
