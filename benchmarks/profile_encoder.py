"""The CLIP vision tower against the machine's matmul roofline, PyTorch and XLA's dot flag.

    PYTHONPATH=. python benchmarks/profile_encoder.py                    # B/16, 8 images, 5 rounds
    PYTHONPATH=. python benchmarks/profile_encoder.py --cpus=1 --out=benchmarks/results/profile_encoder_1thread.json

ALT spends ~95 % of its time in the frozen vision tower, so the tower is measured against what
the machine's matrix multiplications allow. Contenders, each in its own process, random weights,
float32, a batch of `--images` CLIP-normalised images (one 8-frame clip), the tower's tokens
through post_layernorm (no projection):
  gemm            a bare [images·197, 768] × [768, 3072] matmul (the tower's MLP shape), jitted,
                  `--gemm_reps` calls per timed call: the machine's matmul rate in this round.
  tower_r0        our tower (JAX), no merging.
  tower_r16       our tower with ToMe r = 16 (ALT's default), merge bookkeeping included.
  tower_r0_softmax_attention
                  tower_r0 with the attention we shipped before (einsums over [B, N, H, Dh]
                  around jax.nn.softmax), patched in: what the current attention buys.
  gemm_eigen, tower_r0_eigen
                  gemm and tower_r0 with XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=
                  (XLA's own Eigen dot kernels instead of the default YNNPACK library).
  torch_gemm, torch_tower_r0
                  the same matmul and transformers' CLIPVisionModel in PyTorch.
  fma_peak        the CPU's FP32 peak: independent FMA chains in the widest vectors gcc targets
                  with -march=native, one OpenMP thread per core (benchmarks/native/fma_peak.c,
                  built with the machine's gcc; skipped with a note where gcc is missing). Every
                  other row is also given as a share of it, per round.
With `--cpus=1` only gemm, tower_r0, torch_gemm and torch_tower_r0 run, each process pinned to
one core (XLA and torch size their thread pools from the affinity mask; torch threads set to 1).

Roofline. The tower's matmul FLOPs are counted by hand (`tower_matmul_flops`, per image, a
multiply-add = 2): patch embedding 2·P·3p²·D; per layer with n tokens entering and m leaving
(m = n − r): q, k, v and out projections 8·n·D², QKᵀ and AV 4·n²·D, MLP 4·m·D·F. For B/16 (P = 196,
p = 16, D = 768, F = 3072, 12 layers, n = 197): 0.231 + 12 × (0.9295 + 0.1193 + 1.8592) =
35.13 GFLOPs per image at r = 0; XLA's cost analysis of the compiled tower counts 35.39 (it also
counts element-wise ops). ToMe's own matmuls (merge scores, the one-hot scatter) are left out of
the count, so its bookkeeping counts against the tower. The roofline time of a round is those
FLOPs at that round's gemm rate; the ratio roofline / measured is taken per round (median and
min–max over rounds). Writes benchmarks/results/profile_encoder.json; each JAX tower also traces
one call with jax.profiler (share of op time by kind of XLA op).
"""

import argparse
import collections
import glob
import gzip
import json
import os
import re
import shutil
import tempfile

from benchmarks.common import (
    RESULTS,
    cores,
    eigen_dots_env,
    per_second,
    race,
    round_ratios,
    run_record,
    write_result,
    xla_flops,
)


def tower_matmul_flops(preset: str, r: int) -> float:
    """Matmul FLOPs of one image through the vision tower with ToMe r (formula in the module
    docstring; ToMe's scoring and scatter matmuls not counted): `flops.vit_matmul_flops` with
    the preset's shapes and r's token counts."""
    from alt_jax.models import tome
    from alt_jax.models.clip_config import get_preset
    from benchmarks.flops import vit_matmul_flops

    v = get_preset(preset).vision
    tokens = (v.image_size // v.patch_size) ** 2 + 1
    schedule = tome.parse_r_schedule(r, v.num_hidden_layers, tokens)
    return float(
        vit_matmul_flops(
            v.image_size,
            v.patch_size,
            v.hidden_size,
            v.num_hidden_layers,
            v.intermediate_size,
            v.num_channels,
            merged_tokens=tome.tokens_per_layer(schedule, tokens),
        )
    )


def softmax_attention(q, k, v, bias):
    """The attention shipped before: einsums over [B, N, H, Dh] around jax.nn.softmax."""
    import jax
    import jax.numpy as jnp

    logits = jnp.einsum("bqhd,bkhd->bhqk", q, k, preferred_element_type=jnp.float32)
    logits = logits * q.shape[-1] ** -0.5
    if bias is not None:
        logits = logits + bias
    weights = jax.nn.softmax(logits, axis=-1).astype(v.dtype)
    return jnp.einsum("bhqk,bkhd->bqhd", weights, v)


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
        if name.startswith(("Handle", "Threadpool", "Python", "Wait", "Allocate")):
            continue
        kinds[re.sub(r"[.\d]+$", "", name)] += e["dur"] / 1e6
    return dict(kinds.most_common())


def jax_tower(preset: str, images: int, r: int, attention: str = "current") -> dict:
    """Our vision tower's tokens (post_layernorm) for `images` images; profiles one call."""
    import jax
    from flax import nnx

    from alt_jax.models import attention as attention_lib
    from alt_jax.models import clip as clip_lib
    from alt_jax.models.clip_config import get_preset

    if attention == "softmax":
        attention_lib.dot_product_attention = softmax_attention  # looked up at call time
    cfg = get_preset(preset)
    model = nnx.jit(lambda: clip_lib.CLIP(cfg, rngs=nnx.Rngs(0), tome_r=r))()
    graphdef, state = nnx.split(model)
    size = cfg.vision.image_size
    x = jax.random.normal(jax.random.key(0), (images, size, size, 3))

    def tower(state, x):
        vision = nnx.merge(graphdef, state).vision_model
        return vision.post_layernorm(vision(x))

    compiled = jax.jit(tower).lower(state, x).compile()
    compiled(state, x).block_until_ready()
    with tempfile.TemporaryDirectory() as trace_dir:
        with jax.profiler.trace(trace_dir, create_perfetto_trace=True):
            compiled(state, x).block_until_ready()
        kinds = op_time_by_kind(trace_dir)
    total = sum(kinds.values())
    info = {
        "model": f"CLIP-{preset} tower (JAX, r = {r})",
        "framework": "JAX",
        "tome_r": r,
        "attention": attention,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "matmul_gflops": tower_matmul_flops(preset, r) * images / 1e9,
        "xla_gflops": xla_flops(compiled) / 1e9,
        "profiled_share": {k: v / total for k, v in list(kinds.items())[:6]},
    }
    return {"run": lambda: compiled(state, x).block_until_ready(), "info": info}


def _mlp_matmul(preset: str, images: int, reps: int) -> tuple[int, int, int, dict]:
    """(rows, in, out) of the tower's MLP matmul for `images` images, and its info for `reps`
    matmuls per call."""
    from alt_jax.models.clip_config import get_preset

    v = get_preset(preset).vision
    n = images * ((v.image_size // v.patch_size) ** 2 + 1)
    d, f = v.hidden_size, v.intermediate_size
    info = {"model": f"matmul [{n}, {d}] × [{d}, {f}]", "gflops": 2.0 * n * d * f * reps / 1e9}
    return n, d, f, info


def jax_gemm(preset: str, images: int, reps: int) -> dict:
    """`reps` jitted matmuls of the tower's MLP shape per call (JAX)."""
    import jax

    n, d, f, info = _mlp_matmul(preset, images, reps)
    a = jax.random.normal(jax.random.key(0), (n, d))
    w = jax.random.normal(jax.random.key(1), (d, f))
    compiled = jax.jit(lambda a, w: a @ w).lower(a, w).compile()

    def run():
        for _ in range(reps):
            out = compiled(a, w)
        out.block_until_ready()

    flags = os.environ.get("XLA_FLAGS", "")
    # XLA:CPU hands dots to YNNPACK by default; an empty ynn_fusion_type keeps its Eigen kernels.
    blas = "Eigen (XLA)" if "ynn_fusion_type=" in flags else "YNNPACK (XLA:CPU default)"
    info.update(framework="JAX", xla_flags=flags, blas=blas)
    return {"run": run, "info": info}


def torch_gemm(preset: str, images: int, reps: int) -> dict:
    """`reps` matmuls of the tower's MLP shape per call (PyTorch)."""
    import torch

    torch.set_num_threads(cores())
    n, d, f, info = _mlp_matmul(preset, images, reps)
    a, w = torch.randn(n, d), torch.randn(d, f)

    def run():
        with torch.inference_mode():
            for _ in range(reps):
                a @ w

    config = torch.__config__.show()
    blas = re.search(r"BLAS_INFO=(\w+)", config)
    info.update(
        framework="PyTorch",
        torch_threads=torch.get_num_threads(),
        blas=(blas.group(1) if blas else "unknown")
        + (" + oneDNN" if "USE_MKLDNN=ON" in config else ""),
    )
    return {"run": run, "info": info}


def torch_tower(preset: str, images: int) -> dict:
    """transformers' CLIPVisionModel (tokens through post_layernorm) for `images` images."""
    import torch

    from benchmarks import peers

    torch.set_num_threads(cores())
    model = peers.build_torch_clip(preset).vision_model.eval()
    size = model.config.image_size
    pixels = torch.randn(images, 3, size, size)

    def run():
        with torch.inference_mode():
            model(pixel_values=pixels)

    info = {
        "model": f"CLIP-{preset} tower (PyTorch, transformers)",
        "framework": "PyTorch",
        "tome_r": 0,
        "matmul_gflops": tower_matmul_flops(preset, 0) * images / 1e9,
        "torch_threads": torch.get_num_threads(),
        "attn_implementation": model.config._attn_implementation,
    }
    return {"run": run, "info": info}


def fma_peak(iters: int) -> dict:
    """The CPU's FP32 FMA peak on this process's cores: benchmarks/native/fma_peak.c built with
    gcc -O2 -march=native -fopenmp, called through ctypes; one call = `iters` rounds of 12 vector
    FMAs per thread."""
    import ctypes
    import subprocess

    source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "native", "fma_peak.c")
    library = os.path.join(tempfile.mkdtemp(prefix="fma_peak_"), "fma_peak.so")
    subprocess.run(["gcc", "-O2", "-march=native", "-fopenmp", "-shared", "-fPIC", "-o", library,
                    source], check=True)  # fmt: skip
    lib = ctypes.CDLL(library)
    lib.fma_peak.restype, lib.fma_peak.argtypes = ctypes.c_double, [ctypes.c_long, ctypes.c_int]
    lanes, chains, threads = lib.fma_lanes(), lib.fma_chains(), cores()
    isa = {16: "AVX-512", 8: "AVX2 + FMA", 4: "128-bit vectors"}[lanes]
    info = {
        "model": f"FP32 FMA peak: {isa}, {chains} chains × {threads} thread(s)",
        "framework": "C (gcc -march=native, OpenMP)",
        "gflops": 2.0 * chains * lanes * iters * threads / 1e9,
        "isa": isa,
        "threads": threads,
    }

    def run():  # returns None: a run returning a float reports its own seconds (common.race)
        lib.fma_peak(iters, threads)

    return {"run": run, "info": info}


def contenders(args) -> dict[str, tuple]:
    """The race's contenders: all of them, or the 1-thread four with --cpus."""
    here = "benchmarks.profile_encoder"
    base = {"preset": args.preset, "images": args.images}
    gemm = {**base, "reps": args.gemm_reps}
    eigen = eigen_dots_env()
    pin = args.cpus
    table = {
        "gemm": (f"{here}:jax_gemm", gemm, {}, pin),
        "tower_r0": (f"{here}:jax_tower", {**base, "r": 0}, {}, pin),
        "tower_r16": (f"{here}:jax_tower", {**base, "r": 16}, {}, pin),
        "tower_r0_softmax_attention": (
            f"{here}:jax_tower",
            {**base, "r": 0, "attention": "softmax"},
            {},
            pin,
        ),
        "gemm_eigen": (f"{here}:jax_gemm", gemm, eigen, pin),
        "tower_r0_eigen": (f"{here}:jax_tower", {**base, "r": 0}, eigen, pin),
        "torch_gemm": (f"{here}:torch_gemm", gemm, {}, pin),
        "torch_tower_r0": (f"{here}:torch_tower", base, {}, pin),
    }
    if shutil.which("gcc"):
        table["fma_peak"] = (f"{here}:fma_peak", {"iters": args.fma_iters}, {}, pin)
    if pin:
        keep = ("gemm", "tower_r0", "torch_gemm", "torch_tower_r0", "fma_peak")
        return {k: table[k] for k in keep if k in table}
    return table


def gemm_of(name: str) -> str:
    """The matmul contender a tower is held against (same framework and flags)."""
    if name.startswith("torch"):
        return "torch_gemm"
    return "gemm_eigen" if name.endswith("_eigen") else "gemm"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="B/16")
    parser.add_argument("--images", type=int, default=8, help="one 8-frame clip")
    parser.add_argument("--gemm_reps", type=int, default=20, help="matmuls per timed gemm call")
    parser.add_argument("--cpus", type=int, default=None, help="pin every contender to N cores")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--fma_iters", type=int, default=100_000_000, help="per fma_peak call")
    parser.add_argument("--out", default=str(RESULTS / "profile_encoder.json"))
    args = parser.parse_args()
    record = run_record(args)
    results = race(contenders(args), rounds=args.rounds)
    rows = []
    for name, res in results.items():
        info, seconds = res["info"], res["seconds"]
        row = {"name": name, **info, "seconds_per_call": seconds, "time_s": res["time_s"]}
        row["peak_rss_mib"] = res["peak_rss_mib"]
        if "gflops" in info:  # a matmul: its rate per round
            row["gflops_per_s"] = per_second(info["gflops"], seconds)
        else:
            gemm = results[gemm_of(name)]
            rates = [gemm["info"]["gflops"] / s for s in gemm["seconds"]]
            row["gflops_per_s"] = per_second(info["matmul_gflops"], seconds)
            # roofline time / measured time, per round = achieved rate / that round's gemm rate
            row["roofline_fraction"] = round_ratios(
                [info["matmul_gflops"] / rate for rate in rates], seconds
            )
            row["speed_vs_tower_r0"] = round_ratios(results["tower_r0"]["seconds"], seconds)
            row["speed_vs_torch_tower_r0"] = round_ratios(
                results["torch_tower_r0"]["seconds"], seconds
            )
        rows.append(row)
        print(f"{name}: {row['gflops_per_s']['median']:.0f} GFLOP/s", flush=True)
    peak = results.get("fma_peak")
    if peak is None:
        record["note_peak"] = "gcc not found: no FP32 peak measured"
    for row in rows:
        if peak is None or row["name"] == "fma_peak":
            continue
        gflops = row.get("gflops", row.get("matmul_gflops"))
        # achieved rate / that round's peak rate = (gflops · t_peak / peak_gflops) / t_row
        peak_gflops = peak["info"]["gflops"]
        row["peak_fraction"] = round_ratios(
            [gflops * t / peak_gflops for t in peak["seconds"]], row["seconds_per_call"]
        )
    write_result(args.out, {**record, "rows": rows})


if __name__ == "__main__":
    main()
