"""Input-pipeline throughput: training clips/s (segment-sampled 8 frames, 224², from mp4).

  PYTHONPATH=. python benchmarks/bench_input.py --workers=0,2 --rounds=5

Generates 64 synthetic 320×240 30-frame mp4s first (skipped when --data holds them already).
Contenders (`benchmarks.common.race`, each in its own process, built first, then timed in turn
round after round): the training iterator with each worker count (a call starts the iterator,
pulls `--warmup` batches untimed, times `--num_batches` batches of `--batch_size` and closes
it), and the consumer:
ALT's train step from video (B/16, 8 frames, r = 16, batch 8; `--consumer_preset`). The
pipeline-to-consumer ratio is taken within each round. Writes
benchmarks/results/input_pipeline.json (rendered into BENCHMARKS.md).
"""

import argparse
import os
import time

from alt_jax.data import pipeline, samples, synthetic_files
from benchmarks.common import RESULTS, per_second, race, round_ratios, run_record, write_result


def pipeline_contender(root: str, workers: int, batch_size: int, num_batches: int, warmup: int):
    """The training iterator with `workers` workers; a run starts one, pulls `warmup` batches
    untimed (worker start-up), times `num_batches` more and closes it, so that nothing reads
    ahead while the other contenders are timed."""

    def run() -> float:
        source = pipeline.SourceSpec(
            kind="list",
            root=root,
            list_file=os.path.join(root, "train.txt"),
            class_names_file=os.path.join(root, "classes.txt"),
        )
        clip = samples.ClipSpec(num_frames=8, image_size=224, flip=True)
        it, _ = pipeline.make_train_iterator(
            source, clip, batch_size, read=pipeline.ReadSpec(workers=workers), seed=0
        )
        try:
            for _ in range(warmup):
                next(it)
            start = time.perf_counter()
            for _ in range(num_batches):
                batch = next(it)
            seconds = time.perf_counter() - start
        finally:
            it.close()
        assert batch["video"].shape == (batch_size, 8, 224, 224, 3)
        return seconds

    info = {"workers": workers, "clips_per_call": num_batches * batch_size}
    return {"run": run, "info": info}


def main() -> None:
    """Generates the clips if needed and prints clips/s per worker count."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/tmp/alt_jax_bench_input")
    parser.add_argument("--workers", default="0,2")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--num_batches", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--consumer_preset", default="B/16", help="'' for no consumer")
    parser.add_argument("--out", default=str(RESULTS / "input_pipeline.json"))
    args = parser.parse_args()
    record = run_record(args)
    if not os.path.exists(os.path.join(args.data, "train.txt")):
        start = time.perf_counter()
        synthetic_files.make_synthetic_dataset(
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
    contenders = {}
    for w in (int(x) for x in args.workers.split(",")):
        kwargs = {"root": args.data, "workers": w, "batch_size": args.batch_size}
        kwargs.update(num_batches=args.num_batches, warmup=args.warmup)
        contenders[f"workers_{w}"] = ("benchmarks.bench_input:pipeline_contender", kwargs)
    if args.consumer_preset:
        step = {"preset": args.consumer_preset, "frames": 8, "batch": 8, "classes": 400, "r": 16}
        contenders["alt_train_step"] = ("benchmarks.train_step_peers:alt_train_contender", step)
    results = race(contenders, rounds=args.rounds)
    rows = []
    for name, res in results.items():
        clips = res["info"].get("clips_per_call") or res["info"]["batch"]
        row = {"name": name, **res["info"], "seconds_per_call": res["seconds"]}
        row["clips_per_s"] = per_second(clips, res["seconds"])
        if "alt_train_step" in results and name != "alt_train_step":
            consumer = results["alt_train_step"]
            rate = [consumer["info"]["batch"] / t for t in consumer["seconds"]]
            row["vs_consumer"] = round_ratios([clips / t for t in res["seconds"]], rate)
        rows.append(row)
        print(f"{name}: {row['clips_per_s']['median']:.2f} clips/s", flush=True)
    write_result(args.out, {**record, "rows": rows})


if __name__ == "__main__":
    main()
