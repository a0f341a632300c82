"""`make demo`'s training run over seeds and ToMe r: top-1 and the alignment's grounding, read
from each run's evaluation report.

    PYTHONPATH=. python benchmarks/demo_runs.py --data=demo_out/data      (r = 0, 2; seeds 0-2)
    PYTHONPATH=. python benchmarks/demo_runs.py --set=model.gate_init=0.0 \
        --out=benchmarks/results/demo_gate0.json        (every run with a config override)
    PYTHONPATH=. python benchmarks/demo_runs.py --from_runs=DIR   (DIR/demo_r{R}_s{SEED}, each
        `python -m alt_jax.main --config=configs/demo.py:DATA --workdir=DIR/demo_r{R}_s{SEED}
        --config.seed=SEED --config.model.tome_r=R`)

Writes benchmarks/results/demo.json (earlier rows of that file, measured by hand before this
script, are kept under "history").
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks.common import machine, seed_summary, write_json

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "demo.json"


def read_run(workdir: str) -> dict:
    """Top-1, top-5 and grounding of a finished run's last evaluation report."""
    reports = sorted(  # {dataset}_step{N}.json; the confusion figures are .png
        glob.glob(os.path.join(workdir, "eval", "*_step*.json")),
        key=lambda p: int(p.rsplit("_step", 1)[1].removesuffix(".json")),
    )
    if not reports:
        raise FileNotFoundError(f"{workdir}/eval: no evaluation report; did the run finish?")
    with open(reports[-1]) as f:
        report = json.load(f)
    g = report.get("grounding") or {}
    return {
        "report": os.path.relpath(reports[-1], workdir),
        "top1": 100 * report["top1"],
        "top5": 100 * report["top5"],
        "grounding": None if not g else 100 * g["grounding"],
        "background_grounding": None
        if g.get("background_grounding") is None
        else 100 * g["background_grounding"],
        "background_object_entity": None if not g else 100 * g["background_object_entity"],
        "most_used_share": None if not g else 100 * g["most_used_share"],
        "ideal_most_used_share": None if not g else 100 * g["ideal_most_used_share"],
        "top_entities": g.get("top_entities"),
        "per_object": g.get("per_object"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="demo_out/data", help="make demo's dataset folder")
    parser.add_argument("--rs", default="0,2")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--workdir", default="/tmp/demo_runs")
    parser.add_argument("--from_runs", default="", help="read finished runs from this folder")
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument(
        "--set", action="append", default=[], help="config override of every run: key=value"
    )
    args = parser.parse_args()
    for item in args.set:
        if "=" not in item:
            parser.error(f"--set {item!r}: expected key=value (e.g. model.gate_init=0.0)")
    folder = args.from_runs or args.workdir
    rs, seeds = [int(r) for r in args.rs.split(",")], [int(s) for s in args.seeds.split(",")]
    runs = {}
    for r in rs:
        for seed in seeds:
            workdir = os.path.join(folder, f"demo_r{r}_s{seed}")
            if not args.from_runs:
                subprocess.run(
                    [sys.executable, "-m", "alt_jax.main",
                     f"--config={ROOT / 'configs' / 'demo.py'}:{os.path.abspath(args.data)}",
                     f"--workdir={workdir}", f"--config.seed={seed}",
                     f"--config.model.tome_r={r}",
                     *(f"--config.{item}" for item in args.set)],
                    check=True,
                )  # fmt: skip
            runs[f"r{r}_s{seed}"] = {"r": r, "seed": seed, **read_run(workdir)}
    summaries = {}
    for r in rs:
        mine = [v for v in runs.values() if v["r"] == r]
        summaries[str(r)] = {
            key: seed_summary([v[key] for v in mine])
            for key in ("top1", "top5", "grounding", "most_used_share", "ideal_most_used_share")
            if all(v[key] is not None for v in mine)
        }
    history = []
    if os.path.exists(args.out):
        with open(args.out) as f:
            old = json.load(f)
        history = old.get("history", old.get("accuracy", []))
    write_json(
        args.out,
        {
            "benchmark": "demo_runs",
            "command": f"PYTHONPATH=. python benchmarks/demo_runs.py --rs={args.rs} "
            f"--seeds={args.seeds}" + "".join(f" --set={item}" for item in args.set),
            "overrides": args.set,
            "machine": machine(),
            "protocol": "configs/demo.py on make demo's data (8 classes, 192 training and 64 "
            "validation videos), 150 steps of 16 clips; the last evaluation report of each run",
            "runs": runs,
            "summary": summaries,
            "history": history,
        },
    )


if __name__ == "__main__":
    main()
