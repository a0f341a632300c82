"""Where CPU inference time goes: our CLIP vision tower profiled, and XLA's dot backend swapped.

    PYTHONPATH=. python benchmarks/profile_encoder.py     # B/16, 8 frames, r = 0, 3 rounds

Contenders, each in its own process, random weights, float32, `--frames` CLIP-normalised frames:
  jax_default  our CLIP's `encode_image` (JAX, r = `--r`), XLA's default CPU pipeline.
  jax_eigen    the same with XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type= (dots not
               outlined to the YNNPACK library; XLA's own Eigen-based dot kernels).
  torch        transformers' CLIP `get_image_features`, torch.set_num_threads(cores).
Built at once, timed in turn (`--rounds` after a warm-up call, medians). The JAX contenders also
trace one call with jax.profiler and report the share of device time by kind of XLA op
("ynn_fusion" = dots through YNNPACK). Writes benchmarks/results/profile_encoder.json.
"""

import argparse
import collections
import glob
import gzip
import json
import os
import re
import tempfile

from benchmarks.common import RESULTS, race, run_record, write_result

EIGEN_DOTS = "--xla_cpu_experimental_ynn_fusion_type="


def op_time_by_kind(trace_dir: str) -> dict[str, float]:
    """Seconds per kind of XLA op (name without its numeric suffix) in a perfetto trace."""
    path = glob.glob(f"{trace_dir}/**/*.trace.json.gz", recursive=True)[0]
    events = json.load(gzip.open(path))
    events = events["traceEvents"] if isinstance(events, dict) else events
    kinds = collections.Counter()
    for e in events:
        name = e.get("name", "")
        if e.get("ph") != "X" or "dur" not in e or name.startswith(("$", "end: ")):
            continue
        if name.startswith(("ThunkExecutor", "SlinkyThreadPool", "Pjit", "Common", "Parse")):
            continue  # wrappers around the ops, not ops
        if name.startswith("Handle"):
            continue
        kinds[re.sub(r"[.\d]+$", "", name)] += e["dur"] / 1e6
    return dict(kinds.most_common())


def jax_contender(preset: str, frames: int, r: int) -> dict:
    """Our CLIP's image features for `frames` images; profiles one call."""
    import jax
    from flax import nnx

    from alt_jax.models.clip import CLIP, get_preset

    cfg = get_preset(preset)
    model = nnx.jit(lambda: CLIP(cfg, rngs=nnx.Rngs(0), tome_r=r))()
    graphdef, state = nnx.split(model)
    size = cfg.vision.image_size
    images = jax.random.normal(jax.random.key(0), (frames, size, size, 3))
    fn = jax.jit(lambda s, x: nnx.merge(graphdef, s).encode_image(x)).lower(state, images)
    compiled = fn.compile()
    compiled(state, images).block_until_ready()
    with tempfile.TemporaryDirectory() as trace_dir:
        with jax.profiler.trace(trace_dir, create_perfetto_trace=True):
            compiled(state, images).block_until_ready()
        kinds = op_time_by_kind(trace_dir)
    total = sum(kinds.values())
    info = {
        "model": f"CLIP-{preset} (JAX, r = {r})",
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "profiled_op_seconds": kinds,
        "profiled_share": {k: v / total for k, v in kinds.items()},
    }
    return {"run": lambda: compiled(state, images).block_until_ready(), "info": info}


def torch_contender(preset: str, frames: int) -> dict:
    """transformers' CLIP image features for `frames` images."""
    import torch

    from benchmarks import peers

    torch.set_num_threads(os.cpu_count())
    model = peers.build_torch_clip(preset).eval()
    size = model.config.vision_config.image_size
    pixels = torch.randn(frames, 3, size, size)

    def run():
        with torch.inference_mode():
            model.get_image_features(pixel_values=pixels)

    return {"run": run, "info": {"model": f"CLIP-{preset} (PyTorch)"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="B/16")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--r", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=str(RESULTS / "profile_encoder.json"))
    args = parser.parse_args()
    record = run_record(args)
    here = "benchmarks.profile_encoder"
    kwargs = {"preset": args.preset, "frames": args.frames}
    flags = os.environ.get("XLA_FLAGS", "")
    contenders = {
        "jax_default": (f"{here}:jax_contender", {**kwargs, "r": args.r}),
        "jax_eigen": (
            f"{here}:jax_contender",
            {**kwargs, "r": args.r},
            {"XLA_FLAGS": f"{flags} {EIGEN_DOTS}".strip()},
        ),
        "torch": (f"{here}:torch_contender", kwargs),
    }
    results = race(contenders, rounds=args.rounds, parallel_build=True)
    rows = []
    for name, res in results.items():
        rows.append(
            {
                "name": name,
                **res["info"],
                "seconds_per_call": res["seconds"],
                "median_s": res["median_s"],
                "images_per_s": args.frames / res["median_s"],
                "speed_vs_jax_default": results["jax_default"]["median_s"] / res["median_s"],
            }
        )
        print(f"{name}: {rows[-1]['images_per_s']:.2f} images/s")
    write_result(args.out, {**record, "rows": rows})


if __name__ == "__main__":
    main()
