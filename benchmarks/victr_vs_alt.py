"""VicTR vs ALT on the same frozen backbone: GFLOPs per view, parameters, CPU throughput.

    PYTHONPATH=. python benchmarks/victr_vs_alt.py            # B/16, 8 frames, 400 classes

One view is one clip of `--frames` frames at the backbone's resolution, batch 1. FLOPs come from
XLA's cost analysis of the compiled evaluation forward (`__call__`, train=False), as in
benchmarks/alt_flops.py (a multiply-add counts 2); the head column is `head` compiled alone on
the encoder's output shapes. Throughput runs that same compiled forward on random weights (the
backbone's values are shared by both models; speed depends on shapes only): one warm-up call
each, then `--runs` timed calls alternating ALT and VicTR, median seconds per clip. Both heads
use the default model config (ToMe r = `--r`); VicTR's auxiliary texts and ALT's entities are
the same corpus (K entries), and VicTR's text tokens grow with the number of classes.
Writes benchmarks/results/victr_vs_alt.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import time
import zlib
from pathlib import Path
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from alt_jax import resources
from alt_jax.configs_lib import default_model_config
from alt_jax.corpus import read_entities
from alt_jax.models.alt import ALT, count_parameters, split_trainable
from alt_jax.models.clip import CLIP
from alt_jax.models.clip_config import get_preset
from alt_jax.models.victr import VicTR
from benchmarks.common import race, run_record, speedup, write_result, xla_flops

ROOT = Path(__file__).resolve().parents[1]


def random_like(state: nnx.State, scale: float = 0.02) -> nnx.State:
    """Concrete random leaves for an abstract state; a leaf's values depend on its path only,
    so the CLIP towers of both models get the same weights."""

    def fill(path, leaf):
        seed = zlib.crc32(jax.tree_util.keystr(path).encode())
        values = np.random.default_rng(seed).standard_normal(leaf.shape, np.float32) * scale
        return jnp.asarray(values, leaf.dtype)

    return jax.tree_util.tree_map_with_path(fill, state)


def build(head: str, preset: str, r: int, frames: int, num_texts: int):
    """An abstract ALT or VicTR (shapes only) from the default model config."""
    config = default_model_config()
    config.head = head
    config.backbone.preset = preset
    config.tome_r = r
    config.num_frames = frames
    cfg = get_preset(preset)
    texts = jnp.zeros((num_texts, cfg.projection_dim))
    model_class = {"alt": ALT, "victr": VicTR}[head]
    return nnx.eval_shape(
        lambda: model_class(CLIP(cfg, rngs=nnx.Rngs(0), tome_r=r), texts, config, rngs=nnx.Rngs(1))
    )


def measure(head: str, args, num_texts: int) -> dict:
    """Compiles one model's evaluation forward and head; counts FLOPs and parameters."""
    model = build(head, args.preset, args.r, args.frames, num_texts)
    cfg = get_preset(args.preset)
    size, d = cfg.vision.image_size, cfg.projection_dim
    graphdef, trainable, frozen = split_trainable(model)
    video = jax.ShapeDtypeStruct((1, args.frames, size, size, 3), jnp.float32)
    classes = jax.ShapeDtypeStruct((args.classes, d), jnp.float32)

    def forward(tr, fr, v, c):
        return nnx.merge(graphdef, tr, fr)(v, c, train=False)["logits"]

    def head_only(tr, fr, feats, c):
        return nnx.merge(graphdef, tr, fr).head(feats, c, train=False)["logits"]

    start = time.perf_counter()
    compiled = jax.jit(forward).lower(trainable, frozen, video, classes).compile()
    features = jax.eval_shape(
        lambda tr, fr, v: nnx.merge(graphdef, tr, fr).video_features(v), trainable, frozen, video
    )
    head_flops = xla_flops(jax.jit(head_only).lower(trainable, frozen, features, classes).compile())
    total = xla_flops(compiled)
    return {
        "row": {
            "model": f"{'ALT' if head == 'alt' else 'VicTR'}-{args.preset}",
            "frames": args.frames,
            "tome_r": args.r,
            "num_classes": args.classes,
            "num_corpus_texts": num_texts,
            "gflops_per_view": total / 1e9,
            "gmacs_per_view": total / 2e9,
            "head_gflops_per_view": head_flops / 1e9,
            "backbone_gflops_per_view": (total - head_flops) / 1e9,
            "params_trainable": count_parameters(trainable),
            "params_frozen": count_parameters(frozen),
            "compile_seconds": time.perf_counter() - start,
        },
        "compiled": compiled,
        "trainable": trainable,
        "frozen": frozen,
    }


def contender(head: str, preset: str, r: int, frames: int, classes: int, num_texts: int) -> dict:
    """One model's compiled evaluation forward on one random clip; run = one call."""
    args = SimpleNamespace(preset=preset, r=r, frames=frames, classes=classes)
    run = measure(head, args, num_texts)
    cfg = get_preset(preset)
    size = cfg.vision.image_size
    rng = np.random.default_rng(0)
    video = jnp.asarray(rng.standard_normal((1, frames, size, size, 3), np.float32))
    text = rng.standard_normal((classes, cfg.projection_dim)).astype(np.float32)
    text = jnp.asarray(text / np.linalg.norm(text, axis=-1, keepdims=True))
    weights = (random_like(run["trainable"]), random_like(run["frozen"]))
    return {
        "run": lambda: run["compiled"](*weights, video, text).block_until_ready(),
        "info": run["row"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="B/16")
    parser.add_argument("--r", type=int, default=default_model_config().tome_r)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--classes", type=int, default=400, help="K400")
    parser.add_argument("--runs", type=int, default=5, help="timed rounds")
    parser.add_argument("--corpus", default=str(resources.packaged("corpus/actions_wordnet.json")))
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/victr_vs_alt.json"))
    args = parser.parse_args()
    record = run_record(args)
    num_texts = len(read_entities(args.corpus))
    kwargs = {k: getattr(args, k) for k in ("preset", "r", "frames", "classes")}
    results = race(
        {
            head: (
                "benchmarks.victr_vs_alt:contender",
                {**kwargs, "head": head, "num_texts": num_texts},
            )
            for head in ("alt", "victr")
        },
        rounds=args.runs,
    )
    rows = []
    for head, res in results.items():
        row = dict(res["info"])
        row["seconds_per_clip"] = res["seconds"]
        row["time_s"] = res["time_s"]
        row["speed_vs_alt"] = speedup(results, head, "alt")
        row["peak_rss_mib"] = res["peak_rss_mib"]
        rows.append(row)
    print(
        "| model | GFLOPs/view (XLA) | GMACs/view | head GFLOPs | trainable params "
        "| frozen params | s / clip | vs ALT |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['model']} | {row['gflops_per_view']:.1f} | {row['gmacs_per_view']:.1f} "
            f"| {row['head_gflops_per_view']:.2f} | {row['params_trainable'] / 1e6:.2f} M "
            f"| {row['params_frozen'] / 1e6:.2f} M | {row['time_s']['median']:.3f} "
            f"| {row['speed_vs_alt']['median']:.2f}× |"
        )
    record["note"] = (
        "FLOPs from XLA cost analysis (a multiply-add counts 2); GMACs = GFLOPs / 2; frozen = "
        "CLIP towers + text bank (ALT entities / VicTR auxiliary texts); random weights"
    )
    write_result(args.out, {**record, "rows": rows})


if __name__ == "__main__":
    main()
