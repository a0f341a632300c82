"""ALT top-1 against GFLOPs for ToMe schedules: the table the default schedule is chosen from.

    PYTHONPATH=. python benchmarks/tome_schedules.py
    PYTHONPATH=. python benchmarks/tome_schedules.py --schedules='16;14,-1.0' --passes=2 --out=/tmp/t.json

Each schedule is written for ALT-B/16 (12 layers, 197 tokens at 224 px, 8 frames): its cost is
XLA's count of that model's forward per view (benchmarks/alt_flops.py's `measure`), against
X-CLIP-B/16's (benchmarks/results/inference.json). Its accuracy is measured on SynthAct with the
bundled pretrained CLIP (4 layers, 49 patches at its native 112 px): no B/16 weights can be had
here. The B/16 schedule is carried over by its shape: after each of the small CLIP's layers k the
same fraction of patches is left as after B/16's layer round(12 k / 4), so "16" (B/16: 10 of 196
regions left) asks for 12, 12, 12, 11 merges (2 of 49 left) and ToMe's cap (at most half the
tokens but the class token per layer) makes that 12, 12, 12, 6 (7 left). Each row is ALT trained fully
supervised with benchmarks/synthact.py's protocol (frozen features extracted once per schedule,
`--passes` over the training videos, 3 seeds), top-1 on the seen classes' val split and,
zero-shot, on the unseen compositions. Writes benchmarks/results/tome_schedules.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

import alt_jax
from alt_jax import resources
from alt_jax.corpus import read_entities
from alt_jax.models import tome
from alt_jax.models.clip_config import get_preset
from benchmarks import alt_flops, synthact
from benchmarks.common import machine, write_json

ROOT = Path(__file__).resolve().parents[1]
B16_LAYERS, B16_TOKENS = 12, 197  # ViT-B/16 at 224 px: 14 × 14 patches + the class token
SYNTHCLIP = Path(alt_jax.__file__).parent / "assets" / "synthclip"
SCHEDULES = "16;14,-1.0;18;16,-0.5;12,-1.0"


def b16_schedule(text: str) -> tuple[int, ...]:
    """A schedule's merges per layer on ViT-B/16 at 224 px."""
    return tome.parse_r_schedule(tome.parse_schedule_text(text), B16_LAYERS, B16_TOKENS)


def carried_schedule(b16: tuple[int, ...], layers: int, patches: int) -> tuple[int, ...]:
    """The B/16 schedule `b16` on a CLIP of `layers` layers and `patches` patches: after its
    layer k the fraction of patches B/16 keeps after its layer round(12 k / layers) (≥ 1)."""
    counts = tome.tokens_per_layer(b16, B16_TOKENS)  # tokens entering each layer, then leaving
    kept = [
        max(1, round((counts[round(k * B16_LAYERS / layers)] - 1) / (B16_TOKENS - 1) * patches))
        for k in range(layers + 1)
    ]
    merges = [kept[k] - kept[k + 1] for k in range(layers)]
    return tome.parse_r_schedule(merges, layers, patches + 1)


def clip_shape(clip: str, size: str) -> tuple[int, int]:
    """(layers, patches per frame) of the SynthAct CLIP: a CLIP folder's, or the size's preset."""
    if clip == "random":
        vision = get_preset(synthact.SIZES[size]["preset"]).vision
        layers, patch = vision.num_hidden_layers, vision.patch_size
    else:
        vision = json.loads((Path(clip) / "config.json").read_text())["vision_config"]
        layers, patch = vision["num_hidden_layers"], vision["patch_size"]
    return layers, (synthact.SIZES[size]["spec"].size // patch) ** 2


def xclip_gflops() -> float:
    """X-CLIP-B/16's GFLOPs per 8-frame view as benchmarks/inference.py counted them."""
    inference = json.loads((ROOT / "benchmarks/results/inference.json").read_text())
    return next(r["gflops_per_view"] for r in inference["rows"] if r.get("name") == "xclip")


def b16_cost(text: str, schedule: tuple[int, ...], known: list[dict]) -> dict:
    """ALT-B/16's cost with schedule `text` (per layer: `schedule`): alt_flops.json's row when it
    has one, else measured."""
    for row in known:
        if (row["model"], row["frames"], row["tome_schedule"]) == ("ALT-B/16", 8, list(schedule)):
            return row
    num_entities = len(read_entities(str(resources.packaged("corpus/actions_wordnet.json"))))
    return alt_flops.measure("B/16", text, 8, num_entities, 400)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", default=SCHEDULES, help="B/16 schedules separated by ';'")
    parser.add_argument("--passes", type=float, default=8, help="passes over the training set")
    parser.add_argument("--size", default="full", choices=sorted(synthact.SIZES))
    parser.add_argument("--clip", default=str(SYNTHCLIP), help='CLIP folder, or "random"')
    parser.add_argument("--workdir", default="/tmp/tome_schedules")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/tome_schedules.json"))
    parser.add_argument("--merge", action="store_true", help="keep --out's rows of other schedules")
    args = parser.parse_args()
    logging.getLogger().setLevel(logging.WARNING)
    known = json.loads((ROOT / "benchmarks/results/alt_flops.json").read_text())["rows"]
    xclip = xclip_gflops()
    layers, patches = clip_shape(args.clip, args.size)
    todo = [s.strip() for s in args.schedules.split(";") if s.strip()]
    rows = []
    if args.merge and Path(args.out).exists():
        rows = [
            r for r in json.loads(Path(args.out).read_text())["rows"] if r["schedule"] not in todo
        ]
    for text in todo:
        b16 = b16_schedule(text)
        cost = b16_cost(text, b16, known)
        carried = carried_schedule(b16, layers, patches)
        start = time.perf_counter()
        result = synthact.run(
            args.size,
            args.clip,
            os.path.join(args.workdir, text.replace(",", "_")),
            workers=0,  # JAX is running: no fork
            rows_to_run=("alt",),
            settings=(0,),
            overrides={
                "passes": args.passes,
                "set": {"model.tome_schedule": ",".join(map(str, carried))},
            },
        )
        cells = result["rows"]["alt"]
        rows.append(
            {
                "schedule": text,
                "b16_schedule": list(b16),
                "b16_regions_per_frame": cost["regions_per_frame"],
                "b16_gflops_per_view": cost["gflops_per_view"],
                "vs_xclip_b16": cost["gflops_per_view"] / xclip,
                "carried_schedule": list(carried),
                "carried_regions_per_frame": tome.tokens_per_layer(carried, patches + 1)[-1] - 1,
                "supervised": cells["supervised"],
                "zeroshot": cells["zeroshot"],
                "seconds": time.perf_counter() - start,
            }
        )
        print(
            f"{text}: {rows[-1]['vs_xclip_b16']:.3f}× X-CLIP, carried {list(carried)}, "
            f"top-1 {cells['supervised']['mean']:.1f} ± {cells['supervised']['std']:.1f}",
            flush=True,
        )
        write_json(
            args.out,
            {
                "benchmark": "tome_schedules",
                "machine": machine(),
                "clip": os.path.basename(os.path.normpath(args.clip)),
                "clip_layers": layers,
                "clip_patches": patches,
                "size": args.size,
                "passes": args.passes,
                "seeds": list(synthact.SIZES[args.size]["seeds"]),
                "xclip_b16_gflops_per_view": xclip,
                "protocol": result["protocol"],
                "num_videos": result["data"]["num_videos"],
                "rows": rows,
            },
        )


if __name__ == "__main__":
    main()
