"""ALT's training step against frames, ToMe r and batch: step time, GFLOPs and peak memory.

    PYTHONPATH=. python benchmarks/scaling.py    # B/16; frames 8,16,32, r 0,16, batches 1,2,4,8

The step is benchmarks/train_step_peers.py's ALT step from uint8 video (frozen CLIP with ToMe,
alignment + adapter trained with AdamW), random weights, float32, each configuration in its own
process (its peak RSS is its own). All configurations (frames and r at batch 1, batches at 8
frames) are built one after another, then timed in turn, `--rounds` times after a warm-up call;
times are medians over rounds with min–max, and every "vs" is taken within each round.
GFLOPs from XLA's cost analysis of the compiled step (a multiply-add counts 2). Writes
benchmarks/results/scaling.json.
"""

import argparse

from benchmarks.common import RESULTS, race, round_ratios, run_record, spread, write_result

STEP = "benchmarks.train_step_peers:alt_train_contender"


def _row(name: str, res: dict, frames: int, r: int, batch: int) -> dict:
    """One configuration's figures."""
    return {
        "name": name,
        "frames": frames,
        "tome_r": r,
        "batch": batch,
        "seconds_per_step": res["seconds"],
        "time_s": res["time_s"],
        "seconds_per_clip": spread([t / batch for t in res["seconds"]]),
        "gflops_per_clip": res["info"]["gflops_per_step"] / batch,
        "peak_rss_mib": res["peak_rss_mib"],
        "rss_after_imports_mib": res["rss_after_imports_mib"],
        "schedulable_cpus": res["info"]["schedulable_cpus"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="B/16", help="CLIP shapes; tiny for a smoke run")
    parser.add_argument("--frames", default="8,16,32")
    parser.add_argument("--rs", default="0,16")
    parser.add_argument("--r", type=int, default=16, help="r of the frames and batch sweeps")
    parser.add_argument("--batches", default="1,2,4,8")
    parser.add_argument("--classes", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
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

    for b in (int(x) for x in args.batches.split(",")):
        configs.setdefault(f"f8_r{args.r}_b{b}", (8, args.r, b))
    # Built all at once (a shared machine gives each process its share), then timed in turn.
    results = race(contenders(list(configs)), rounds=args.rounds)
    rows = [_row(n, res, *configs[n]) for n, res in results.items()]
    base = f"f8_r{args.r}_b1"
    for row in rows:  # within each round: this step against 8 frames, r, batch 1
        res = results[row["name"]]
        row["time_vs_base"] = round_ratios(res["seconds"], results[base]["seconds"])
        row["per_clip_vs_batch_1"] = round_ratios(
            [t / row["batch"] for t in res["seconds"]], results[base]["seconds"]
        )

    print("| frames | r | batch | step (s) | s/clip | GFLOPs/clip (train step) | peak RSS (MiB) |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['frames']} | {row['tome_r']} | {row['batch']} | {row['time_s']['median']:.2f} "
            f"| {row['seconds_per_clip']['median']:.2f} | {row['gflops_per_clip']:.0f} "
            f"| {row['peak_rss_mib']:.0f} |"
        )
    write_result(args.out, {**record, "rows": rows})


if __name__ == "__main__":
    main()
