"""The prepared accelerator check: attention parity by path, encoder and train-step throughput,
compile time and memory, in one process on whatever JAX's default device is.

    bash benchmarks/accelerator_check.sh                  (on a GPU or TPU machine; ~6 minutes)
    PYTHONPATH=. python benchmarks/accelerator_check.py --preset=tiny --out=/tmp/check.json

Random weights at the preset's real shapes (time and memory do not depend on them):
- attention: every implementation this platform runs (attention.ATTENTION_IMPLEMENTATIONS: reference,
  XLA's, cuDNN's on NVIDIA GPUs) at the vision tower's shape with ToMe's log-size bias and the
  text tower's with its causal mask, in float32 and bfloat16, against the float32 reference
  (max |difference|) and float64 NumPy;
- encoder: the vision tower (ToMe r = 0 and `--r`) on `--clips` × `--frames` frames per call,
  for each dtype (compute and parameter storage alike) and attention path: frames per second
  (median, min–max of `--rounds` timed calls after a warm-up), compile seconds, XLA's memory
  analysis of the compiled program (arguments + temporaries);
- train step: ALT's step from uint8 video (alt_jax.train.steps.make_train_step: frozen CLIP with
  ToMe r = `--r`, alignment, adapter, AdamW) at batch 1 and `--clips`, float32 and bfloat16
  backbone, attention "auto": clips per second, compile seconds, memory, and the per-clip cost
  of the large batch against batch 1.
Each section is written to the JSON as soon as it is done; `--deadline` seconds after the start
no new measurement begins, so a slow machine still returns what it measured.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import platform
import time
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.common import RESULTS

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def environment() -> dict[str, Any]:
    """What ran the check: devices, versions, host."""
    device = jax.devices()[0]
    import flax
    import optax

    return {
        "platform": jax.default_backend(),
        "device_kind": device.device_kind,
        "device_count": jax.device_count(),
        "jax": jax.__version__,
        "flax": flax.__version__,
        "optax": optax.__version__,
        "host_cpus": os.cpu_count(),
        "python": platform.python_version(),
    }


def attention_paths() -> list[str]:
    """The implementations this platform can run."""
    paths = ["reference", "xla"]
    if jax.default_backend() == "gpu":
        paths.append("cudnn")
    return paths


def numpy_attention(q, k, v, bias) -> np.ndarray:
    """Softmax attention in float64: [B, N, H, Dh] in and out."""
    q, k, v = (np.asarray(t, np.float64) for t in (q, k, v))
    logits = np.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(q.shape[-1]) + np.asarray(bias)
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    return np.einsum("bhqk,bkhd->bqhd", weights, v)


def attention_parity(heads: int, head_dim: int, tokens: int, text_tokens: int) -> list[dict]:
    """Each path × dtype on a vision-shaped call (log-size bias) and a text-shaped one (causal)."""
    from alt_jax.models.attention import attention, causal_bias

    rng = np.random.default_rng(0)
    cases = []
    sizes = np.log(rng.integers(1, 6, (4, 1, 1, tokens))).astype(np.float32)
    cases.append(("vision, ToMe log-size bias", tokens, sizes))
    cases.append(("text, causal mask", text_tokens, np.asarray(causal_bias(text_tokens))))
    rows = []
    for name, n, bias in cases:
        q, k, v = (rng.standard_normal((4, n, heads, head_dim)).astype(np.float32) for _ in "qkv")
        q, k = 2 * q, 2 * k  # logits of a few units, as trained attention has
        exact = numpy_attention(q, k, v, bias)
        # float32 twice: at JAX's default matmul precision (TF32 on NVIDIA GPUs) and "highest".
        for impl, (dtype_name, dtype, precision) in itertools.product(
            attention_paths(),
            [("float32", jnp.float32, "default"), ("float32", jnp.float32, "highest"),
             ("bfloat16", jnp.bfloat16, "default")],
        ):  # fmt: skip
            if impl == "cudnn" and dtype == jnp.float32:
                continue  # cuDNN's fused kernel takes half precision only
            with jax.default_matmul_precision(precision):
                ref_args = [jnp.asarray(t) for t in (q, k, v, bias)]
                reference = np.asarray(jax.jit(attention)(*ref_args))
                args = [jnp.asarray(t, dtype) for t in (q, k, v)] + [jnp.asarray(bias)]
                try:
                    fn = jax.jit(lambda q, k, v, b, impl=impl: attention(q, k, v, b, impl))
                    out = np.asarray(fn(*args), np.float32)
                except Exception as error:  # noqa: BLE001 - reported, the check goes on
                    rows.append({"case": name, "path": impl, "dtype": dtype_name,
                                 "error": f"{type(error).__name__}: {error}"[:300]})  # fmt: skip
                    continue
            rows.append(
                {
                    "case": name,
                    "path": impl,
                    "dtype": dtype_name,
                    "matmul_precision": precision,
                    "max_abs_vs_reference_f32": float(np.abs(out - reference).max()),
                    "max_abs_vs_float64": float(np.abs(out - exact).max()),
                }
            )
    return rows


def timed(fn: Callable[[], Any], rounds: int) -> dict[str, float]:
    """Seconds per call: median, min, max over `rounds` calls after one warm-up call."""
    jax.block_until_ready(fn())
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return {"median": float(np.median(times)), "min": min(times), "max": max(times)}


def memory(compiled) -> dict[str, int] | None:
    """XLA's memory analysis of a compiled program (bytes), where the backend gives one."""
    try:
        m = compiled.memory_analysis()
    except Exception:  # noqa: BLE001 - not every backend has it
        return None
    if m is None:
        return None
    fields = ("argument_size_in_bytes", "output_size_in_bytes", "temp_size_in_bytes",
              "generated_code_size_in_bytes")  # fmt: skip
    return {f: int(getattr(m, f)) for f in fields if hasattr(m, f)}


def peak_bytes() -> int | None:
    """The device allocator's peak so far (GPU/TPU), or None."""
    stats = jax.devices()[0].memory_stats() or {}
    return stats.get("peak_bytes_in_use")


def random_state(abstract: Any, seed: int = 0) -> Any:
    """Concrete random values (N(0, 0.02²), zeros for integers) for an abstract nnx state, drawn
    on the host: a jitted initialisation of ALT-B/16 compiled for 2 min 55 s on an H200 (this
    check's first run), far longer than the steps it times."""
    draw = np.random.default_rng(seed)

    def fill(x):
        if jnp.issubdtype(x.dtype, jnp.floating):
            return jnp.asarray(0.02 * draw.standard_normal(x.shape), x.dtype)
        return jnp.zeros(x.shape, x.dtype)

    return jax.tree.map(fill, abstract)


def encoder_rows(preset: str, r_values: list[int], clips: int, frames: int, rounds: int,
                 out_of_time: Callable[[], bool]) -> list[dict]:  # fmt: skip
    """Vision-tower throughput per (r, dtype, attention path)."""
    from flax import nnx

    from alt_jax.models.clip import CLIP
    from alt_jax.models.clip_config import get_preset

    cfg = get_preset(preset)
    size = cfg.vision.image_size
    images = jnp.asarray(
        np.random.default_rng(0).standard_normal((clips * frames, size, size, 3)), jnp.float32
    )
    rows = []
    for r in sorted(r_values, reverse=True):  # the default r first
        for dtype_name, dtype in reversed(DTYPES.items()):  # bfloat16 first
            for impl in reversed(attention_paths()):
                if impl == "cudnn" and dtype == jnp.float32:
                    continue
                if out_of_time():
                    return rows
                row = {"r": r, "dtype": dtype_name, "attention": impl, "frames": clips * frames}
                try:
                    build = functools.partial(CLIP, cfg, dtype=dtype, param_dtype=dtype,
                                              tome_r=r, attention=impl)  # fmt: skip
                    abstract = nnx.eval_shape(lambda build=build: build(rngs=nnx.Rngs(0)))
                    graphdef, state = nnx.split(abstract)
                    state = random_state(state)

                    def encode(state, x, graphdef=graphdef):
                        return nnx.merge(graphdef, state).vision_model.tokens(x)[0]

                    start = time.perf_counter()
                    compiled = jax.jit(encode).lower(state, images).compile()
                    row["compile_s"] = time.perf_counter() - start
                    row["seconds"] = timed(functools.partial(compiled, state, images), rounds)
                    row["frames_per_s"] = clips * frames / row["seconds"]["median"]
                    row["memory"] = memory(compiled)
                except Exception as error:  # noqa: BLE001 - reported, the check goes on
                    row["error"] = f"{type(error).__name__}: {error}"[:300]
                rows.append(row)
    return rows


def train_step_rows(preset: str, r: int, clips: int, frames: int, rounds: int,
                    out_of_time: Callable[[], bool]) -> list[dict]:  # fmt: skip
    """ALT's train step from uint8 video at batch 1 and `clips`, per backbone dtype."""
    import optax
    from flax import nnx

    from alt_jax.configs_lib import default_model_config
    from alt_jax.models.alt import ALT, trainable_filter
    from alt_jax.models.clip import CLIP
    from alt_jax.models.clip_config import get_preset
    from alt_jax.train.steps import make_train_step

    d = get_preset(preset).projection_dim
    rng = np.random.default_rng(0)
    bank = rng.standard_normal((256, d)).astype(np.float32)
    bank /= np.linalg.norm(bank, axis=1, keepdims=True)
    class_emb = jnp.asarray(rng.standard_normal((400, d)), jnp.float32)
    rows = []
    for dtype_name in DTYPES:
        config = default_model_config()
        config.backbone.preset = preset
        config.backbone.dtype = dtype_name
        config.backbone.param_dtype = dtype_name
        config.tome_r = r
        config.num_frames = frames
        dtype = DTYPES[dtype_name]

        def build(config=config, dtype=dtype):
            clip = CLIP(get_preset(preset), dtype=dtype, param_dtype=dtype, rngs=nnx.Rngs(0),
                        tome_r=r)  # fmt: skip
            return ALT(clip, bank, config, rngs=nnx.Rngs(1))

        graphdef, params, frozen = nnx.split(nnx.eval_shape(build), trainable_filter, ...)
        params, frozen = random_state(params), random_state(frozen, seed=1)
        tx = optax.adamw(1e-4)
        size = get_preset(preset).vision.image_size
        per_batch = {}
        for batch in (1, clips):
            if out_of_time():
                return rows
            row = {"dtype": dtype_name, "r": r, "batch": batch, "frames": frames}
            try:
                videos = jnp.asarray(rng.integers(0, 256, (batch, frames, size, size, 3), np.uint8))
                data = {
                    "video": videos,
                    "label": jnp.asarray(rng.integers(0, 400, batch), jnp.int32),
                }
                opt = tx.init(params)
                key = jax.random.key(0)
                step = jax.jit(make_train_step(graphdef, tx, 0.0))
                start = time.perf_counter()
                compiled = step.lower(params, frozen, opt, class_emb, data, key).compile()
                row["compile_s"] = time.perf_counter() - start
                call = functools.partial(compiled, params, frozen, opt, class_emb, data, key)
                row["seconds"] = timed(call, rounds)
                row["clips_per_s"] = batch / row["seconds"]["median"]
                row["memory"] = memory(compiled)
                row["peak_bytes_so_far"] = peak_bytes()
                per_batch[batch] = row["seconds"]["median"] / batch
            except Exception as error:  # noqa: BLE001 - reported, the check goes on
                row["error"] = f"{type(error).__name__}: {error}"[:300]
            rows.append(row)
        if 1 in per_batch and clips in per_batch:
            rows[-1]["per_clip_vs_batch1"] = per_batch[clips] / per_batch[1]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="B/16")
    parser.add_argument("--r", type=int, default=16, help="ToMe r of the merged rows")
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--deadline", type=float, default=420.0, help="seconds")
    parser.add_argument(
        "--sections", default="attention,encoder,train_step", help="which to run, in this order"
    )
    parser.add_argument("--out", default=str(RESULTS / "accelerator_check.json"))
    args = parser.parse_args()
    from alt_jax.models.clip_config import get_preset

    start = time.monotonic()
    out_of_time = lambda: time.monotonic() - start > args.deadline  # noqa: E731
    cfg = get_preset(args.preset)
    result: dict[str, Any] = {
        "environment": environment(),
        "args": vars(args),
        "sections_done": [],
    }
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)

    def save(section: str, rows: Any) -> None:
        result[section] = rows
        result["sections_done"].append(section)
        result["wall_s"] = time.monotonic() - start
        path.write_text(json.dumps(result, indent=1) + "\n")
        print(f"{section}: done at {result['wall_s']:.0f} s", flush=True)

    vision = cfg.vision
    sections = {
        "attention": lambda: attention_parity(
            vision.num_attention_heads,
            vision.hidden_size // vision.num_attention_heads,
            1 + (vision.image_size // vision.patch_size) ** 2,
            cfg.text.max_position_embeddings,
        ),
        "encoder": lambda: encoder_rows(
            args.preset, sorted({0, args.r}), args.clips, args.frames, args.rounds, out_of_time
        ),  # fmt: skip
        "train_step": lambda: train_step_rows(
            args.preset, args.r, args.clips, args.frames, args.rounds, out_of_time
        ),  # fmt: skip
    }
    for name in args.sections.split(","):
        if name not in sections:
            parser.error(f"--sections: unknown {name!r}; valid: {', '.join(sections)}")
        save(name, sections[name]())
        for row in result[name]:
            print(json.dumps({k: v for k, v in row.items() if k != "memory"}), flush=True)


if __name__ == "__main__":
    main()
