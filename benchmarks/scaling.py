"""ALT's training step against frames, ToMe r and batch: step time, GFLOPs and peak memory.

    PYTHONPATH=. python benchmarks/scaling.py        # B/16; frames 8,16,32 and r 0,8,16 at batch 1

The step is benchmarks/train_step_peers.py's ALT step from uint8 video (frozen CLIP with ToMe,
alignment + adapter trained with AdamW), random weights, float32, each configuration in its own
process. Frames and r: every configuration at batch 1 is built first, then timed in turn,
`--rounds` times after a warm-up call (medians). Batch: each batch size is built, run for one
step (its peak RSS is what is wanted) and stopped before the next, so that only one large
process is in memory at a time. GFLOPs from XLA's cost analysis of the compiled step (a
multiply-add counts 2). Writes benchmarks/results/scaling.json.
"""

import argparse

from benchmarks.common import RESULTS, race, run_record, write_result

STEP = "benchmarks.train_step_peers:alt_train_contender"


def _row(name: str, res: dict, frames: int, r: int, batch: int) -> dict:
    """One configuration's figures."""
    return {
        "name": name,
        "frames": frames,
        "tome_r": r,
        "batch": batch,
        "seconds_per_step": res["seconds"],
        "step_s": res["median_s"],
        "seconds_per_clip": res["median_s"] / batch,
        "gflops_per_clip": res["info"]["gflops_per_step"] / batch,
        "peak_rss_mib": res["peak_rss_mib"],
        "rss_after_imports_mib": res["rss_after_imports_mib"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="B/16", help="CLIP shapes; tiny for a smoke run")
    parser.add_argument("--frames", default="8,16,32")
    parser.add_argument("--rs", default="0,8,16")
    parser.add_argument("--r", type=int, default=16, help="r of the frames and batch sweeps")
    parser.add_argument("--batches", default="1,2,4,8")
    parser.add_argument("--classes", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default=str(RESULTS / "scaling.json"))
    args = parser.parse_args()
    record = run_record(args)
    common = {"preset": args.preset, "classes": args.classes}

    configs = {}  # name → (frames, r, batch)
    for f in (int(x) for x in args.frames.split(",")):
        configs[f"f{f}_r{args.r}_b1"] = (f, args.r, 1)
    for r in (int(x) for x in args.rs.split(",")):
        configs.setdefault(f"f8_r{r}_b1", (8, r, 1))

    def contenders(names):
        return {
            n: (
                STEP,
                {**common, "frames": configs[n][0], "r": configs[n][1], "batch": configs[n][2]},
            )
            for n in names
        }

    sweep = race(contenders(list(configs)), rounds=args.rounds)
    rows = [_row(n, res, *configs[n]) for n, res in sweep.items()]
    batch_names = []
    for b in (int(x) for x in args.batches.split(",")):
        name = f"f8_r{args.r}_b{b}"
        if name not in configs:
            configs[name] = (8, args.r, b)
            batch_names.append(name)
    by_batch = race(contenders(batch_names), rounds=1, warmup=0, together=False)
    rows += [_row(n, res, *configs[n]) for n, res in by_batch.items()]

    print("| frames | r | batch | step (s) | s/clip | GFLOPs/clip (train step) | peak RSS (MiB) |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['frames']} | {row['tome_r']} | {row['batch']} | {row['step_s']:.2f} "
            f"| {row['seconds_per_clip']:.2f} | {row['gflops_per_clip']:.0f} "
            f"| {row['peak_rss_mib']:.0f} |"
        )
    write_result(args.out, {**record, "rows": rows})


if __name__ == "__main__":
    main()
