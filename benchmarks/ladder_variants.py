"""ALT's design choices, one at a time, on the capability datasets: the ladder's ALT row with one
config knob changed, against the defaults.

    PYTHONPATH=. python benchmarks/ladder_variants.py              (every variant, 2 seeds)
    PYTHONPATH=. python benchmarks/ladder_variants.py --variants=w_r_free --seeds=0
        (one variant; the earlier variants' runs found in the workdir are kept)
    PYTHONPATH=. python benchmarks/ladder_variants.py --from_runs=DIR     (collect DIR/NAME.json,
        each written by `benchmarks/ladder.py --rows=alt --set=...` with the variant's overrides)

Every variant is trained and scored exactly as the ladder's ALT row (benchmarks/ladder.py: the
demo config's 150 steps on cached synthclip features, the entity ablations, grounding before and
after training). Writes benchmarks/results/ladder_variants.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks.common import write_json

ROOT = Path(__file__).resolve().parents[1]
# Variant → (what it changes, config overrides, datasets). The datasets are those where the knob
# can matter: the entities and W_r on the object-dependent ones, the gate and W_r on the demo's too.
OBJECTS, WITH_DEMO = "appearance,change,order", "appearance,change,order,directions"
VARIANTS = {
    "probe_off": (
        "the appearance probe off (the default before it; every other variant was measured with it off)",
        {"model.probe.enabled": False},
        "directions,appearance,change,speed,order",
    ),
    "probe_trainable": (
        "the appearance probe's μ and A trained from their fit (`probe.trainable`)",
        {"model.probe.trainable": True},
        "appearance,change,order,speed",
    ),
    "w_r_free": ("W_r free (no anchor)", {"model.alignment.w_r": "free"}, WITH_DEMO),
    "gumbel_scaled": (
        "Gumbel noise scaled by 1/τ (torch, GroupViT)",
        {"model.alignment.gumbel": "scaled"},
        OBJECTS,
    ),
    "no_entity_readout": (
        "no entity readout (v = b + g·z)",
        {"model.entity_readout": False},
        OBJECTS,
    ),
    "gate0": ("gates start at 0 (zero-shot at step 0)", {"model.gate_init": 0.0}, WITH_DEMO),
    "positioned_queries": (
        "positions on the queries too, mean pooling (the earlier design)",
        {"model.adapter.query_position": True, "model.adapter.query_pooling": "mean"},
        OBJECTS,
    ),
    "w_r_frozen": (
        "W_r frozen (CLIP's projection)",
        {"model.alignment.w_r": "frozen"},
        OBJECTS,
    ),
    "frame_embedding": (
        "per-frame time code on keys and queries",
        {"model.adapter.frame_embedding": True},
        OBJECTS,
    ),
    "class_token": (
        "the clip's mean class token as a token of the temporal module",
        {"model.adapter.class_token": True},
        OBJECTS,
    ),
    "zero_output": (
        "W_o = 0 at init (z = 0 at step 0, gates at 1)",
        {"model.adapter.zero_output": True},
        WITH_DEMO + ",speed",
    ),
}


def collect(folder: str, names: list[str]) -> dict:
    """The variants' ladder results found in `folder` (NAME.json), keyed by variant: those just
    run and every earlier one whose file is there."""
    out = {}
    for name in VARIANTS:
        path = os.path.join(folder, f"{name}.json")
        if not os.path.exists(path):
            if name in names:
                print(f"{path}: not in this folder (kept from --out if it has it)", file=sys.stderr)
            continue
        with open(path) as f:
            result = json.load(f)
        want = VARIANTS[name][1]
        got = result["protocol"]["overrides"]
        if got != want:
            raise ValueError(f"{path}: overrides {got} are not variant {name!r}'s {want}")
        out[name] = {"description": VARIANTS[name][0], "overrides": want, **result}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--workdir", default="/tmp/ladder")
    parser.add_argument("--from_runs", default="", help="collect DIR/NAME.json instead of running")
    parser.add_argument(
        "--out", default=str(ROOT / "benchmarks" / "results" / "ladder_variants.json")
    )
    args = parser.parse_args()
    names = args.variants.split(",")
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        parser.error(f"--variants: unknown {unknown}; valid: {list(VARIANTS)}")
    folder = args.from_runs
    if not folder:
        folder = os.path.join(args.workdir, "variants")
        os.makedirs(folder, exist_ok=True)
        for name in names:
            _, overrides, tasks = VARIANTS[name]
            sets = [f"--set={k}={v}" for k, v in overrides.items()]
            subprocess.run(
                [sys.executable, str(ROOT / "benchmarks" / "ladder.py"), "--rows=alt",
                 f"--tasks={tasks}",
                 f"--seeds={args.seeds}", f"--workdir={args.workdir}",
                 f"--out={os.path.join(folder, name + '.json')}", *sets],
                check=True,
            )  # fmt: skip
    found = collect(folder, names)
    # Variants of an earlier --out that this folder does not hold stay (each records its own
    # runs' command and machine).
    earlier = {}
    if os.path.exists(args.out):
        with open(args.out) as f:
            earlier = {k: v for k, v in json.load(f)["variants"].items() if k in VARIANTS}
    write_json(
        args.out,
        {
            "benchmark": "ladder_variants",
            "command": "PYTHONPATH=. python benchmarks/ladder_variants.py",
            "variants": {name: found.get(name, earlier.get(name)) for name in VARIANTS
                         if name in found or name in earlier},
        },
    )  # fmt: skip


if __name__ == "__main__":
    main()
