"""ALT train-step time from video and from the frozen-feature cache, in one run.

    python benchmarks/train_step.py --preset=B/16 --frames=8 --batch=8 --rounds=3

Random weights (time does not depend on them), uint8 videos already decoded (the input pipeline
has its own benchmark), float32. "video" runs the frozen CLIP + the trainable head with its
backward pass; "cache" runs the head on the encoder outputs that --mode=extract_features stores.
The two are timed in turn, round after round; medians. Writes benchmarks/results/train_step.json.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from alt_jax.data.normalize import normalize_clip
from alt_jax.models.alt import build_alt, default_model_config, split_trainable
from alt_jax.train.trainer import make_train_step
from benchmarks.common import machine, write_json, xla_flops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="B/16")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--r", type=int, default=16)
    parser.add_argument("--classes", type=int, default=400)
    parser.add_argument("--entities", type=int, default=240)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/train_step.json")
    args = parser.parse_args()

    config = default_model_config()
    config.backbone.preset = args.preset
    config.tome_r = args.r
    config.num_frames = args.frames
    rng = np.random.default_rng(0)
    d = {"B/16": 512, "B/32": 512, "L/14": 768}[args.preset]
    entities = rng.standard_normal((args.entities, d)).astype(np.float32)
    model = build_alt(
        config, entity_embeddings=entities / np.linalg.norm(entities, axis=1)[:, None]
    )
    graphdef, params, frozen = split_trainable(model)
    tx = optax.adamw(1e-4)
    opt_state = tx.init(params)
    class_emb = jnp.asarray(rng.standard_normal((args.classes, d)), jnp.float32)
    size = model.clip.config.vision.image_size
    videos = jnp.asarray(rng.integers(0, 256, (args.batch, args.frames, size, size, 3), np.uint8))
    labels = jnp.asarray(rng.integers(0, args.classes, args.batch), jnp.int32)
    features = jax.jit(lambda v: model.video_features(normalize_clip(v)))(videos)
    batches = {
        "video": {"video": videos, "label": labels},
        "cache": {**{k: features[k] for k in ("ln", "cls", "dest")}, "label": labels},
    }
    step = jax.jit(make_train_step(graphdef, tx, 0.0))
    key = jax.random.key(0)
    compiled = {}
    for name, batch in batches.items():
        start = time.perf_counter()
        compiled[name] = step.lower(params, frozen, opt_state, class_emb, batch, key).compile()
        print(f"{name}: compiled in {time.perf_counter() - start:.1f} s", flush=True)
    times = {name: [] for name in batches}
    for _ in range(args.rounds + 1):  # the first round warms up
        for name, batch in batches.items():
            start = time.perf_counter()
            out = compiled[name](params, frozen, opt_state, class_emb, batch, key)
            jax.block_until_ready(out)
            times[name].append(time.perf_counter() - start)
    rows = {}
    for name in batches:
        t = statistics.median(times[name][1:])
        rows[name] = {
            "step_s": t,
            "clips_per_s": args.batch / t,
            "gflops_per_step": xla_flops(compiled[name]) / 1e9,
        }
    result = {
        **vars(args),
        "machine": machine(),
        "rows": rows,
        "speedup_cache_vs_video": rows["video"]["step_s"] / rows["cache"]["step_s"],
    }
    write_json(args.out, result)
    print(
        f"ALT-{args.preset}, {args.frames} frames, batch {args.batch}, r={args.r}; {result['machine']}"
    )
    print("| input | step time (s) | clips/s | GFLOPs / step (XLA) |")
    print("|---|---|---|---|")
    for name, row in rows.items():
        print(
            f"| {name} | {row['step_s']:.2f} | {row['clips_per_s']:.2f} | {row['gflops_per_step']:.1f} |"
        )
    print(f"cache speed-up: {result['speedup_cache_vs_video']:.1f}×")


if __name__ == "__main__":
    main()
