"""ALT cost per view: GFLOPs of the jitted evaluation forward and parameter counts.

    PYTHONPATH=. python benchmarks/alt_flops.py --r=16

One view is one clip of `--frames` frames at the backbone's resolution. FLOPs come from XLA's
cost analysis of the compiled forward (`ALT.__call__`, train=False) on abstract weights: the
count depends on shapes only, so nothing is initialised. XLA counts a multiply-add as 2 FLOPs;
papers (fvcore) count it as 1, so the table also gives GMACs = GFLOPs / 2 for comparison with
docs/method.md §8. The backbone column is the frozen CLIP vision tower alone (with ToMe), compiled apart.
Writes benchmarks/results/alt_flops.json.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import jax.numpy as jnp
from flax import nnx

from alt_jax import resources
from alt_jax.configs_lib import default_model_config
from alt_jax.corpus import read_entities
from alt_jax.models import tome
from alt_jax.models.alt import ALT, count_parameters, split_trainable
from alt_jax.models.clip import CLIP
from alt_jax.models.clip_config import get_preset
from benchmarks.common import compiled_flops, machine, write_json

ROOT = Path(__file__).resolve().parents[1]


def measure(preset: str, r: int | str, frames: int, num_entities: int, num_classes: int) -> dict:
    """GFLOPs per view (whole model and backbone) and parameter counts for one configuration;
    `r` is a constant r or a schedule as config text (model.tome_schedule)."""
    config = default_model_config()
    config.backbone.preset = preset
    if isinstance(r, str):
        config.tome_schedule = r
        r = tome.parse_schedule_text(r)
    else:
        config.tome_r = r
    config.num_frames = frames
    cfg = get_preset(preset)
    d, size = cfg.projection_dim, cfg.vision.image_size
    model = nnx.eval_shape(
        lambda: ALT(
            CLIP(cfg, rngs=nnx.Rngs(0), tome_r=r),
            jnp.zeros((num_entities, d)),
            config,
            rngs=nnx.Rngs(1),
        )
    )
    graphdef, trainable, frozen = split_trainable(model)
    video = jax.ShapeDtypeStruct((1, frames, size, size, 3), jnp.float32)
    classes = jax.ShapeDtypeStruct((num_classes, d), jnp.float32)

    start = time.perf_counter()
    total = compiled_flops(
        lambda tr, fr, v, c: nnx.merge(graphdef, tr, fr)(v, c, train=False)["logits"],
        trainable,
        frozen,
        video,
        classes,
    )
    frames_in = jax.ShapeDtypeStruct((frames, size, size, 3), jnp.float32)
    backbone = compiled_flops(
        lambda tr, fr, x: nnx.merge(graphdef, tr, fr).frame_tokens(x)["ln"],
        trainable,
        frozen,
        frames_in,
    )
    seconds = time.perf_counter() - start
    clip_params = count_parameters(nnx.state(model.clip))
    vision_params = count_parameters(nnx.state(model.clip.vision_model)) + count_parameters(
        nnx.state(model.clip.visual_projection)
    )
    num_tokens = (size // cfg.vision.patch_size) ** 2 + 1
    schedule = tome.parse_r_schedule(r, cfg.vision.num_hidden_layers, num_tokens)
    return {
        "model": f"ALT-{preset}",
        "frames": frames,
        "tome_r": r if isinstance(r, int) else config.tome_schedule,
        "tome_schedule": list(schedule),
        "regions_per_frame": tome.tokens_per_layer(schedule, num_tokens)[-1] - 1,
        "num_entities": num_entities,
        "num_classes": num_classes,
        "gflops_per_view": total / 1e9,
        "gmacs_per_view": total / 2e9,
        "backbone_gflops_per_view": backbone / 1e9,
        "head_gflops_per_view": (total - backbone) / 1e9,
        "params_trainable": count_parameters(trainable),
        "params_frozen_clip": clip_params,
        "params_frozen_clip_vision": vision_params,
        "entity_bank": num_entities * d,
        "compile_seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--r", type=int, default=16, help="ToMe merges per layer")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--classes", type=int, default=400, help="K400")
    parser.add_argument("--corpus", default=str(resources.packaged("corpus/actions_wordnet.json")))
    parser.add_argument(
        "--runs",
        default="B/16:0,B/16:R,L/14:0,L/14:R",
        help="preset:r pairs; R stands for --r",
    )
    parser.add_argument(
        "--schedules",
        default="",
        help="more runs: PRESET=SCHEDULE items separated by ';', each schedule as "
        "model.tome_schedule takes it (e.g. 'B/16=14,-1.0;B/16=18')",
    )
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/alt_flops.json"))
    args = parser.parse_args()
    num_entities = len(read_entities(args.corpus))
    runs = []
    for item in args.runs.split(","):
        preset, r = item.rsplit(":", 1)
        runs.append((preset, args.r if r == "R" else int(r)))
    for item in filter(None, args.schedules.split(";")):
        preset, _, text = item.partition("=")
        runs.append((preset, text))

    rows = []
    for preset, r in runs:
        row = measure(preset, r, args.frames, num_entities, args.classes)
        rows.append(row)
        print(f"measured {row['model']} r={r} in {row['compile_seconds']:.0f} s", flush=True)

    print(
        f"\nALT, {args.frames} frames, one view, K = {num_entities} entities, "
        f"C = {args.classes} classes ({machine()})\n"
    )
    print(
        "| model | ToMe r | regions/frame | GFLOPs/view (XLA) | GMACs/view | backbone GFLOPs | head GFLOPs "
        "| trainable params | frozen CLIP params (vision) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['model']} | {row['tome_r']} | {row['regions_per_frame']} "
            f"| {row['gflops_per_view']:.1f} "
            f"| {row['gmacs_per_view']:.1f} | {row['backbone_gflops_per_view']:.1f} "
            f"| {row['head_gflops_per_view']:.2f} | {row['params_trainable'] / 1e6:.2f} M "
            f"| {row['params_frozen_clip'] / 1e6:.2f} M ({row['params_frozen_clip_vision'] / 1e6:.2f} M) |"
        )
    write_json(
        args.out,
        {
            "machine": machine(),
            "note": "FLOPs from XLA cost analysis (a multiply-add counts 2); GMACs = GFLOPs / 2",
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
