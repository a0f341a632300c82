"""Inference against the peers, in one run: clips/s, GFLOPs per view and peak memory.

    PYTHONPATH=. python benchmarks/inference.py            # B/16, 8 frames, batch 2, 5 rounds

Contenders, each in its own process, random weights at real shapes, float32, a batch of
`--batch` CLIP-normalised clips of `--frames` frames at the preset's resolution:
  alt          ALT (JAX, ToMe r = `--r`, K = corpus-size random entity embeddings): frozen CLIP
               with ToMe, alignment, adapter, logits against C precomputed class embeddings.
  alt_encoder  ALT's frozen encoder alone (CLIP with ToMe): the part of `alt` it costs.
  xclip        X-CLIP (PyTorch, transformers): vision tower with cross-frame tokens, MIT,
               video-conditioned prompt generator over C precomputed class text embeddings,
               logits (`peers.xclip_video_logits`).
  clip_torch   CLIP (PyTorch, transformers): `get_image_features` per frame, mean over frames,
               cosine logits against C precomputed text embeddings.
  clip_jax     our CLIP (JAX, r = 0), the same frame average.
  alt_eigen    `alt` with XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type= (XLA's own Eigen dot
               kernels instead of the default YNNPACK library), timed in the same rounds.
  alt_bf16     `alt` with the frozen CLIP computing in bfloat16 (config.backbone.dtype).
Text towers are not timed: class text embeddings are a one-off per label set for every model.
Threads: torch.set_num_threads(the process's CPUs); XLA's CPU client sizes its pool from the
same affinity mask.
Timing: every contender is built (and for JAX compiled) first, then called in turn, `--rounds`
times after one warm-up call each; every time and ratio is the median over rounds with its
min–max, a ratio taken within each round. GFLOPs: XLA cost analysis of the compiled program
for JAX, torch's FlopCounterMode for PyTorch (both count a multiply-add as 2 FLOPs). Memory:
the contender process's peak RSS (`ru_maxrss`), which includes the imported libraries.
Writes benchmarks/results/inference.json.
"""

import argparse
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from alt_jax import resources
from benchmarks.common import (
    RESULTS,
    cores,
    eigen_dots_env,
    race,
    run_record,
    speedup,
    write_result,
    xla_flops,
)

ROOT = Path(__file__).resolve().parents[1]
CORPUS = resources.packaged("corpus/actions_wordnet.json")


def _inputs(preset: str, frames: int, batch: int, classes: int):
    """Random CLIP-normalised videos [B, T, H, W, 3] and unit class embeddings [C, d]."""
    from alt_jax.models.clip_config import get_preset

    cfg = get_preset(preset)
    size = cfg.vision.image_size
    rng = np.random.default_rng(0)
    videos = rng.standard_normal((batch, frames, size, size, 3)).astype(np.float32)
    text = rng.standard_normal((classes, cfg.projection_dim)).astype(np.float32)
    return videos, text / np.linalg.norm(text, axis=1, keepdims=True)


def _jax_contender(fn, args: tuple, batch: int, info: dict) -> dict:
    """Compiles fn for args; run = one call; GFLOPs per view from XLA's cost analysis."""
    compiled = jax.jit(fn).lower(*args).compile()
    info["gflops_per_view"] = xla_flops(compiled) / batch / 1e9
    return {"run": lambda: jax.block_until_ready(compiled(*args)), "info": info}


def alt_contender(
    preset: str,
    frames: int,
    batch: int,
    classes: int,
    r: int,
    encoder_only: bool = False,
    dtype: str = "float32",
) -> dict:
    """ALT's evaluation forward (or its frozen encoder alone) on random weights."""
    from alt_jax.builders import build_alt
    from alt_jax.configs_lib import default_model_config
    from alt_jax.corpus import read_entities
    from alt_jax.models.alt import split_trainable

    config = default_model_config()
    config.backbone.preset = preset
    config.tome_r = r
    config.num_frames = frames
    config.backbone.dtype = dtype
    videos, text = _inputs(preset, frames, batch, classes)
    num_entities = len(read_entities(str(CORPUS)))
    entities = np.random.default_rng(1).standard_normal((num_entities, text.shape[1]))
    entities /= np.linalg.norm(entities, axis=1, keepdims=True)
    model = build_alt(config, entity_embeddings=entities.astype(np.float32))
    graphdef, trainable, frozen = split_trainable(model)

    def forward(tr, fr, v, c):
        return nnx_merge(graphdef, tr, fr)(v, c, train=False)["logits"]

    def encoder(tr, fr, v):
        return nnx_merge(graphdef, tr, fr).video_features(v)["ln"]

    info = {
        "model": f"ALT-{preset} {'encoder (CLIP + ToMe)' if encoder_only else ''}".strip(),
        "framework": "JAX",
        "tome_r": r,
        "num_entities": num_entities,
        "dtype": dtype,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }
    if encoder_only:
        return _jax_contender(encoder, (trainable, frozen, jnp.asarray(videos)), batch, info)
    args = (trainable, frozen, jnp.asarray(videos), jnp.asarray(text))
    return _jax_contender(forward, args, batch, info)


def nnx_merge(graphdef, *states):
    """nnx.merge, imported late so that torch-only contenders do not load flax."""
    from flax import nnx

    return nnx.merge(graphdef, *states)


def clip_jax_contender(preset: str, frames: int, batch: int, classes: int) -> dict:
    """Our CLIP (r = 0): per-frame image features averaged over frames, cosine logits."""
    from flax import nnx

    from alt_jax.models.clip import CLIP
    from alt_jax.models.clip_config import get_preset

    model = nnx.jit(lambda: CLIP(get_preset(preset), rngs=nnx.Rngs(0), tome_r=0))()
    graphdef, state = nnx.split(model)
    videos, text = _inputs(preset, frames, batch, classes)

    def forward(state, v, c):
        clip = nnx.merge(graphdef, state)
        b, t = v.shape[:2]
        video = clip.encode_image(v.reshape(b * t, *v.shape[2:])).reshape(b, t, -1).mean(1)
        video = video / jnp.linalg.norm(video, axis=-1, keepdims=True)
        return jnp.exp(clip.logit_scale[...]) * video @ c.T

    info = {"model": f"CLIP-{preset} frame average", "framework": "JAX", "tome_r": 0}
    return _jax_contender(forward, (state, jnp.asarray(videos), jnp.asarray(text)), batch, info)


def _torch_contender(model, logits_fn, preset, frames, batch, classes, info) -> dict:
    """Runs logits_fn(model, pixels, text) under inference_mode; GFLOPs by FlopCounterMode."""
    import torch

    from benchmarks.common import torch_flops

    torch.set_num_threads(cores())
    videos, text = _inputs(preset, frames, batch, classes)
    pixels = torch.from_numpy(videos).permute(0, 1, 4, 2, 3).contiguous()  # [B, T, 3, H, W]
    text = torch.from_numpy(text)
    model.eval()

    def run():
        with torch.inference_mode():
            return logits_fn(model, pixels, text)

    info["gflops_per_view"] = torch_flops(run) / batch / 1e9
    info["torch_threads"] = torch.get_num_threads()
    return {"run": run, "info": info}


def xclip_contender(preset: str, frames: int, batch: int, classes: int) -> dict:
    """X-CLIP's video path and class-conditioned prompts/logits (transformers, random)."""
    from benchmarks import peers

    model = peers.build_xclip(preset, frames)
    info = {
        "model": f"X-CLIP-{preset}",
        "framework": "PyTorch",
        "config": peers.xclip_config_summary(model.config),
    }
    return _torch_contender(model, peers.xclip_video_logits, preset, frames, batch, classes, info)


def clip_torch_contender(preset: str, frames: int, batch: int, classes: int) -> dict:
    """transformers CLIP, frame-averaged image features (random weights)."""
    from benchmarks import peers

    info = {"model": f"CLIP-{preset} frame average", "framework": "PyTorch"}
    return _torch_contender(
        peers.build_torch_clip(preset),
        peers.clip_frame_average_logits,
        preset,
        frames,
        batch,
        classes,
        info,
    )


TIMED = {
    "alt": "CLIP+ToMe encoder, entity alignment, adapter, logits vs C class embeddings",
    "alt_encoder": "CLIP+ToMe encoder only (LN'd tokens of every frame)",
    "xclip": "vision tower with cross-frame tokens, MIT, prompt generator over C classes, logits",
    "clip_torch": "get_image_features per frame, mean over frames, logits vs C",
    "clip_jax": "encode_image per frame, mean over frames, logits vs C",
    "alt_eigen": "as ALT-B/16, XLA's Eigen dots (the flag)",
    "alt_bf16": "as ALT-B/16, the frozen CLIP in bfloat16",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="B/16", help="CLIP shapes; tiny for a smoke run")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--batch", type=int, default=2, help="clips per call")
    parser.add_argument("--r", type=int, default=16, help="ALT's ToMe r (the default config's)")
    parser.add_argument("--classes", type=int, default=400, help="K400")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=str(RESULTS / "inference.json"))
    args = parser.parse_args()
    record = run_record(args)
    common = {"preset": args.preset, "frames": args.frames, "batch": args.batch}
    common["classes"] = args.classes
    here = "benchmarks.inference"
    contenders = {
        "alt": (f"{here}:alt_contender", {**common, "r": args.r}),
        "alt_encoder": (f"{here}:alt_contender", {**common, "r": args.r, "encoder_only": True}),
        "xclip": (f"{here}:xclip_contender", common),
        "clip_torch": (f"{here}:clip_torch_contender", common),
        "clip_jax": (f"{here}:clip_jax_contender", common),
        "alt_eigen": (
            f"{here}:alt_contender",
            {**common, "r": args.r},
            eigen_dots_env(),
        ),
        "alt_bf16": (f"{here}:alt_contender", {**common, "r": args.r, "dtype": "bfloat16"}),
    }
    results = race(contenders, rounds=args.rounds)
    base = results["xclip"]
    rows = []
    for name, res in results.items():
        info = res["info"]
        rows.append(
            {
                "name": name,
                **info,
                "timed": TIMED[name],
                "seconds_per_call": res["seconds"],
                "time_s": res["time_s"],
                "clips_per_s": args.batch / res["median_s"],
                "speed_vs_xclip": speedup(results, name, "xclip"),
                "speed_vs_alt": speedup(results, name, "alt"),
                "gflops_vs_xclip": info["gflops_per_view"] / base["info"]["gflops_per_view"],
                "peak_rss_mib": res["peak_rss_mib"],
                "rss_after_imports_mib": res["rss_after_imports_mib"],
                "build_seconds": res["build_seconds"],
            }
        )
    alt = rows[0]
    result = {
        **record,
        "rows": rows,
        "targets": {
            "gflops_ratio": alt["gflops_vs_xclip"],
            "gflops_ratio_max": 0.55,
            "speed_ratio": alt["speed_vs_xclip"],
            "speed_ratio_min": 2.0,
        },
    }
    print("| contender | GFLOPs/view | vs X-CLIP | clips/s | vs X-CLIP | peak RSS (MiB) |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['model']} ({row['framework']}) | {row['gflops_per_view']:.1f} "
            f"| {row['gflops_vs_xclip']:.2f} | {row['clips_per_s']:.3f} "
            f"| {row['speed_vs_xclip']['median']:.2f}× | {row['peak_rss_mib']:.0f} |"
        )
    write_result(args.out, result)


if __name__ == "__main__":
    main()
