"""ToMe in the CLIP vision tower: tokens, GFLOPs and images/s against r, in one run.

    PYTHONPATH=. python benchmarks/tome_speed.py --preset=B/16 --batch=8 --rs=0,4,8,12,16

Random weights (speed and FLOPs do not depend on them). GFLOPs come from XLA's cost analysis of
the compiled dense image encoder (`encode_image_regions`). Each r is a contender in its own
process (`benchmarks.common.race`): all built first, then timed in turn, `--rounds` times after a
warm-up call; medians with min–max, the speed-up over r = 0 taken within each round. Writes
benchmarks/results/tome_speed.json.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
from flax import nnx

from alt_jax.models import tome
from alt_jax.models.clip import CLIP
from alt_jax.models.clip_config import get_preset
from benchmarks.common import RESULTS, race, run_record, speedup, write_result, xla_flops


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


def encoder_contender(preset: str, r: int, batch: int) -> dict:
    """The compiled encoder at one r; run = one call on `batch` images."""
    fn, state, images, gflops, tokens_out = compiled_encoder(preset, r, batch)
    info = {"r": r, "tokens_out": tokens_out, "gflops_per_image": gflops}
    return {"run": lambda: fn(state, images).block_until_ready(), "info": info}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="B/16")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rs", default="0,4,8,12,16")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=str(RESULTS / "tome_speed.json"))
    args = parser.parse_args()
    record = run_record(args)
    rs = [int(r) for r in args.rs.split(",")]
    here = "benchmarks.tome_speed:encoder_contender"
    kwargs = {"preset": args.preset, "batch": args.batch}
    results = race({f"r{r}": (here, {**kwargs, "r": r}) for r in rs}, rounds=args.rounds)
    base = results[f"r{rs[0]}"]
    rows = []
    for name, res in results.items():
        info = res["info"]
        rows.append(
            {
                **info,
                "seconds_per_call": res["seconds"],
                "time_s": res["time_s"],
                "images_per_s": args.batch / res["median_s"],
                "speedup": speedup(results, name, f"r{rs[0]}"),
                "gflops_vs_r0": info["gflops_per_image"] / base["info"]["gflops_per_image"],
                "peak_rss_mib": res["peak_rss_mib"],
            }
        )
    print("| r | tokens after last layer | GFLOPs / image | vs r=0 | images/s | speed-up |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['r']} | {row['tokens_out']} | {row['gflops_per_image']:.2f} | "
            f"{row['gflops_vs_r0']:.2f} | {row['images_per_s']:.2f} | "
            f"{row['speedup']['median']:.2f}× |"
        )
    write_result(args.out, {**record, "rows": rows})


if __name__ == "__main__":
    main()
