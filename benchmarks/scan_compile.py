"""What `nnx.scan` over the encoder layers would buy: compile time of the B/16 vision tower with
its 12 layers unrolled (as built) against the same layers scanned, and why ToMe rules it out.

    PYTHONPATH=. python benchmarks/scan_compile.py            # B/16, 8 frames at 224

Random weights (compile time and speed do not depend on them), float32, one 8-frame clip:
- unrolled, r = 0 and r = 16: `VisionTransformer.tokens` as the models run it (a Python loop
  over layers, unrolled into the program);
- scanned, r = 0: the same 12 layers with their parameters stacked on a leading axis and the
  layer applied by `jax.lax.scan` (one traced layer); checked equal to the unrolled tower.
A scan needs every step to have the same shapes: with ToMe (r > 0) layer l sees 197 − l·r
tokens, so a scanned tower would have to carry 197 tokens through every layer (merged ones
masked), i.e. r = 0's FLOPs; the table gives the FLOPs of each (XLA's cost analysis).
Beside them, the whole train step the issue is about (ALT-B/16 from uint8 video at r = 16, batch
`--images` // 8 clips of 8 frames, alt_jax.train.steps.make_train_step): its trace + lowering and
its compilation, separately.
Compile seconds are the median of `--repeats` fresh compilations (jax's caches cleared);
run time the median (min–max) of `--rounds` calls. Writes benchmarks/results/scan_compile.json.
"""

from __future__ import annotations

import argparse
import functools
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from alt_jax.models.clip import CLIP
from alt_jax.models.clip_config import get_preset
from benchmarks.accelerator_check import random_state, timed
from benchmarks.common import RESULTS, compiled_flops, machine, write_json


def random_tower(preset: str, r: int):
    """(graphdef, state) of a vision tower with host-drawn random weights."""
    abstract = nnx.eval_shape(lambda: CLIP(get_preset(preset), rngs=nnx.Rngs(0), tome_r=r))
    graphdef, state = nnx.split(abstract.vision_model)
    return graphdef, random_state(state)


def unrolled(graphdef):
    """The tower as built: tokens [B, M, D] of images [B, H, W, 3]."""
    return lambda state, images: nnx.merge(graphdef, state).tokens(images)[0]


def scanned(graphdef, state):
    """The r = 0 tower with its layers scanned: (function, state with stacked layers)."""
    tower = nnx.merge(graphdef, state)
    layers = list(tower.encoder.layers)
    layer_def, _ = nnx.split(layers[0])
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *[nnx.state(layer) for layer in layers])

    def run(parts, images):
        tower_state, stacked = parts  # the embeddings and layer norms are read from tower_state
        tower = nnx.merge(graphdef, tower_state)
        x = tower.pre_layrnorm(tower.embeddings(images))

        def body(x, layer_state):
            return nnx.merge(layer_def, layer_state)(x), None

        x, _ = jax.lax.scan(body, x, stacked)
        return x

    return run, (state, stacked)


def compile_seconds(fn, *args, repeats: int) -> tuple[float, object]:
    """Median seconds of `repeats` fresh lower + compile runs, and the last compiled program."""
    times, compiled = [], None
    for _ in range(repeats):
        jax.clear_caches()
        start = time.perf_counter()
        compiled = jax.jit(fn).lower(*args).compile()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), compiled


def train_step_compile(preset: str, clips: int, repeats: int) -> dict:
    """Seconds to trace + lower and to compile ALT's train step from video (ToMe r = 16)."""
    import optax

    from alt_jax.configs_lib import default_model_config
    from alt_jax.models.alt import ALT, trainable_filter
    from alt_jax.train.steps import make_train_step

    config = default_model_config()
    config.backbone.preset, config.tome_r = preset, 16
    cfg = get_preset(preset)
    draw = np.random.default_rng(0)
    bank = draw.standard_normal((256, cfg.projection_dim)).astype(np.float32)
    bank /= np.linalg.norm(bank, axis=1, keepdims=True)
    build = lambda: ALT(CLIP(cfg, rngs=nnx.Rngs(0), tome_r=16), bank, config, rngs=nnx.Rngs(1))  # noqa: E731
    graphdef, params, frozen = nnx.split(nnx.eval_shape(build), trainable_filter, ...)
    params, frozen = random_state(params), random_state(frozen, seed=1)
    tx = optax.adamw(1e-4)
    size = cfg.vision.image_size
    args = (
        params,
        frozen,
        tx.init(params),
        jnp.asarray(draw.standard_normal((400, cfg.projection_dim)), jnp.float32),
        {
            "video": jnp.asarray(draw.integers(0, 256, (clips, 8, size, size, 3), np.uint8)),
            "label": jnp.zeros((clips,), jnp.int32),
        },
        jax.random.key(0),
    )
    lower, compile_ = [], []
    for _ in range(repeats):
        jax.clear_caches()
        start = time.perf_counter()
        lowered = jax.jit(make_train_step(graphdef, tx, 0.0)).lower(*args)
        middle = time.perf_counter()
        lowered.compile()
        lower.append(middle - start)
        compile_.append(time.perf_counter() - middle)
    return {"clips": clips, "frames": 8, "tome_r": 16, "lower_s": float(np.median(lower)),
            "compile_s": float(np.median(compile_))}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="B/16")
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=str(RESULTS / "scan_compile.json"))
    args = parser.parse_args()
    size = get_preset(args.preset).vision.image_size
    images = jnp.asarray(
        np.random.default_rng(1).standard_normal((args.images, size, size, 3)), jnp.float32
    )
    rows, outputs = [], {}
    for name, r in (("unrolled", 0), ("unrolled", 16), ("scanned", 0)):
        graphdef, state = random_tower(args.preset, r)
        if name == "scanned":
            fn, state = scanned(graphdef, state)
        else:
            fn = unrolled(graphdef)
        seconds, compiled = compile_seconds(fn, state, images, repeats=args.repeats)
        outputs[(name, r)] = np.asarray(compiled(state, images))
        rows.append(
            {
                "layers": name,
                "tome_r": r,
                "compile_s": seconds,
                "run_s": timed(functools.partial(compiled, state, images), args.rounds),
                # XLA's cost analysis counts a scan's body once, not once per layer.
                "gflops": compiled_flops(fn, state, images) / 1e9 if name == "unrolled" else None,
            }
        )
        print(rows[-1], flush=True)
    same = float(np.abs(outputs[("scanned", 0)] - outputs[("unrolled", 0)]).max())
    step = train_step_compile(args.preset, max(args.images // 8, 1), args.repeats)
    print(step, flush=True)
    write_json(
        args.out,
        {
            "machine": machine(),
            "command": "PYTHONPATH=. python benchmarks/scan_compile.py",
            "args": vars(args),
            "max_abs_scanned_vs_unrolled": same,
            "rows": rows,
            "train_step": step,
        },
    )


if __name__ == "__main__":
    main()
