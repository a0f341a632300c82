"""ToMe in the CLIP vision tower: tokens, GFLOPs and images/s against r, in one run.

    python benchmarks/tome_speed.py --preset=B/16 --batch=8 --rs=0,4,8,12,16

Random weights (speed and FLOPs do not depend on them). GFLOPs come from XLA's cost analysis of
the compiled dense image encoder (`encode_image_regions`); the contenders are timed in turn,
round after round, and the median is reported. Writes benchmarks/results/tome_speed.json.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
from flax import nnx

from alt_jax.models import tome
from alt_jax.models.clip import CLIP, get_preset
from benchmarks.common import machine, write_json, xla_flops


def compiled_encoder(preset: str, r: int, batch: int):
    """(compiled fn, state, images, GFLOPs per image, tokens after the last layer)."""
    cfg = get_preset(preset)
    model = CLIP(cfg, rngs=nnx.Rngs(0), tome_r=r)
    graphdef, state = nnx.split(model)
    size = cfg.vision.image_size
    images = jax.random.normal(jax.random.key(1), (batch, size, size, 3), jnp.float32)

    @jax.jit
    def encode(state, images):
        return nnx.merge(graphdef, state).encode_image_regions(images)["tokens"]

    compiled = encode.lower(state, images).compile()
    num_tokens = (size // cfg.vision.patch_size) ** 2 + 1
    schedule = tome.parse_r_schedule(r, cfg.vision.num_hidden_layers, num_tokens)
    tokens_out = tome.tokens_per_layer(schedule, num_tokens)[-1]
    return compiled, state, images, xla_flops(compiled) / batch / 1e9, tokens_out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="B/16")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rs", default="0,4,8,12,16")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/results/tome_speed.json")
    args = parser.parse_args()
    rs = [int(r) for r in args.rs.split(",")]
    contenders = {r: compiled_encoder(args.preset, r, args.batch) for r in rs}
    times = {r: [] for r in rs}
    for fn, state, images, *_ in contenders.values():  # warm-up
        fn(state, images).block_until_ready()
    for _ in range(args.rounds):
        for r, (fn, state, images, *_) in contenders.items():
            start = time.perf_counter()
            fn(state, images).block_until_ready()
            times[r].append(time.perf_counter() - start)
    base = statistics.median(times[rs[0]])
    rows = []
    for r in rs:
        _, _, _, gflops, tokens_out = contenders[r]
        t = statistics.median(times[r])
        rows.append(
            {
                "r": r,
                "tokens_out": tokens_out,
                "gflops_per_image": gflops,
                "images_per_s": args.batch / t,
                "speedup": base / t,
                "gflops_vs_r0": gflops / contenders[rs[0]][3],
            }
        )
    result = {
        "preset": args.preset,
        "batch": args.batch,
        "rounds": args.rounds,
        "machine": machine(),
        "rows": rows,
    }
    write_json(args.out, result)
    print(f"{args.preset}, batch {args.batch}, {result['machine']}")
    print("| r | tokens after last layer | GFLOPs / image | vs r=0 | images/s | speed-up |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['r']} | {row['tokens_out']} | {row['gflops_per_image']:.2f} | "
            f"{row['gflops_vs_r0']:.2f} | {row['images_per_s']:.2f} | {row['speedup']:.2f}× |"
        )


if __name__ == "__main__":
    main()
