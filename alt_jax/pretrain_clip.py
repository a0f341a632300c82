"""Contrastive pre-training of a small CLIP on captioned synthetic scenes (alt_jax.data.scenes).

CLIP's objective: a symmetric InfoNCE over a batch of (image, caption) pairs with a learnable
temperature (logit_scale starts at log(1/0.07) and is clipped at log 100). The training state is
a pure pytree (nnx.split) so that one jitted step updates parameters and optimizer state.
Batches are rendered in NumPy in a background thread while the step runs.
"""

from __future__ import annotations

import dataclasses
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from alt_jax.data import scenes, synthetic
from alt_jax.data.normalize import normalize_clip
from alt_jax.models.clip import CLIP, ClipConfig
from alt_jax.tokenizer import tokenize
from alt_jax.train.optim import decay_mask

MAX_LOGIT_SCALE = math.log(100.0)
# Captions are at most ~25 tokens. The text tower is causal, so the end-of-text state does not
# depend on the padding after it: training at 32 tokens gives the features of 77 tokens.
TRAIN_CONTEXT = 32
EVAL_SEED_OFFSET = 1_000_003  # held-out scenes use seeds disjoint from training's


def clip_contrastive_loss(
    image_features: jax.Array, text_features: jax.Array, logit_scale: jax.Array
) -> jax.Array:
    """Symmetric InfoNCE: features [B, d] (any norm), logit_scale scalar (log) → mean loss."""
    img = image_features / jnp.linalg.norm(image_features, axis=-1, keepdims=True)
    txt = text_features / jnp.linalg.norm(text_features, axis=-1, keepdims=True)
    logits = jnp.exp(logit_scale) * img @ txt.T  # [B, B], row i: image i against every caption
    labels = jnp.arange(logits.shape[0])
    image_to_text = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    text_to_image = optax.softmax_cross_entropy_with_integer_labels(logits.T, labels)
    return 0.5 * (image_to_text.mean() + text_to_image.mean())


def retrieval_top1(image_features: np.ndarray, text_features: np.ndarray) -> dict[str, float]:
    """Top-1 of pair i retrieving pair i among N, both ways; features [N, d]."""
    img = image_features / np.linalg.norm(image_features, axis=-1, keepdims=True)
    txt = text_features / np.linalg.norm(text_features, axis=-1, keepdims=True)
    sim = img @ txt.T
    target = np.arange(sim.shape[0])
    return {
        "image_to_text_top1": float((sim.argmax(1) == target).mean()),
        "text_to_image_top1": float((sim.argmax(0) == target).mean()),
    }


@dataclasses.dataclass(frozen=True)
class PretrainConfig:
    """Hyper-parameters of a pre-training run; `steps` or `minutes` bounds it (whichever first)."""

    batch_size: int = 128
    steps: int = 0  # 0: no step bound
    minutes: float = 0.0  # 0: no time bound
    lr: float = 1e-3
    warmup_steps: int = 100
    end_factor: float = 0.02
    weight_decay: float = 0.1
    seed: int = 0
    max_objects: int = 2
    log_every: int = 25


def _lr_at(cfg: PretrainConfig, step: int, progress: float, warm_end: float) -> float:
    """Linear warm-up over warmup_steps, then cosine decay to lr · end_factor as the budget's
    `progress` ∈ [0, 1] (by steps or wall time) goes from `warm_end` (its value when warm-up
    ended) to 1, so that a time budget still ends decayed."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = min(max((progress - warm_end) / max(1.0 - warm_end, 1e-9), 0.0), 1.0)
    cosine = 0.5 * (1 + math.cos(math.pi * t))
    return cfg.lr * (cfg.end_factor + (1 - cfg.end_factor) * cosine)


def scene_batches(
    seed: int, batch_size: int, image_size: int, max_objects: int, context: int = TRAIN_CONTEXT
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Endless (images uint8 [B, H, W, 3], token ids int32 [B, context]); batch k is seeded by
    (seed, k), so a run's data does not depend on timing."""
    for k in range(2**62):
        rng = np.random.default_rng(np.random.SeedSequence([seed, k]))
        images, captions, _ = scenes.scene_batch(rng, batch_size, image_size, max_objects)
        yield images, tokenize(captions, context)


def prefetch(iterator: Iterator[Any], depth: int = 4) -> Iterator[Any]:
    """Runs `iterator` in a daemon thread, `depth` items ahead (NumPy rendering overlaps XLA)."""
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce():
        for item in iterator:
            while not stop.is_set():
                try:
                    items.put(item, timeout=0.5)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                return

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while True:
            yield items.get()
    finally:
        stop.set()


def _is_logit_scale(path) -> bool:
    return getattr(path[0], "key", None) == "logit_scale"


def make_train_step(graphdef: nnx.GraphDef, tx: optax.GradientTransformation) -> Callable:
    """A jitted (params, opt_state, images uint8, ids, lr) → (params, opt_state, loss) step."""

    def loss_fn(params, images, ids):
        model = nnx.merge(graphdef, params)
        img = model.encode_image(normalize_clip(images)).astype(jnp.float32)
        txt = model.encode_text(ids).astype(jnp.float32)
        return clip_contrastive_loss(img, txt, model.logit_scale[...])

    @jax.jit
    def step(params, opt_state, images, ids, lr):
        loss, grads = jax.value_and_grad(loss_fn)(params, images, ids)
        opt_state.hyperparams["learning_rate"] = lr
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        # CLIP clips the temperature so that logits stay at most 100 × cosine.
        params = jax.tree_util.tree_map_with_path(
            lambda path, x: jnp.minimum(x, MAX_LOGIT_SCALE) if _is_logit_scale(path) else x,
            params,
        )
        return params, opt_state, loss

    return step


def init_clip(config: ClipConfig, seed: int) -> CLIP:
    """A randomly initialised CLIP, built inside one jit (eager init is slow on CPU)."""
    return nnx.jit(lambda: CLIP(config, rngs=nnx.Rngs(seed)))()


def pretrain(
    config: ClipConfig,
    cfg: PretrainConfig,
    log: Callable[[str], None] = print,
) -> tuple[CLIP, dict[str, Any]]:
    """Trains a fresh CLIP of `config` on scenes; returns it and a summary (losses, speed)."""
    if cfg.steps <= 0 and cfg.minutes <= 0:
        raise ValueError("pretrain: give a positive steps or minutes budget")
    model = init_clip(config, cfg.seed)
    graphdef, params = nnx.split(model)  # a State of Params only: CLIP holds no other state
    tx = optax.inject_hyperparams(optax.adamw)(
        learning_rate=0.0, b1=0.9, b2=0.98, eps=1e-6, weight_decay=cfg.weight_decay, mask=decay_mask
    )
    opt_state = tx.init(params)
    step_fn = make_train_step(graphdef, tx)
    size = config.vision.image_size
    batches = prefetch(scene_batches(cfg.seed, cfg.batch_size, size, cfg.max_objects))
    losses: list[float] = []
    start = time.perf_counter()
    window_start, window_images = start, 0
    step, warm_end = 0, 0.0
    while True:
        elapsed = time.perf_counter() - start
        progress = max(
            step / cfg.steps if cfg.steps > 0 else 0.0,
            elapsed / (60 * cfg.minutes) if cfg.minutes > 0 else 0.0,
        )
        if progress >= 1.0:
            break
        if step == cfg.warmup_steps:
            warm_end = progress
        images, ids = next(batches)
        lr = _lr_at(cfg, step, progress, warm_end)
        params, opt_state, loss = step_fn(
            params, opt_state, jnp.asarray(images), jnp.asarray(ids), jnp.float32(lr)
        )
        step += 1
        window_images += cfg.batch_size
        if step % cfg.log_every == 0 or step == 1:
            loss = float(loss)
            losses.append(loss)
            now = time.perf_counter()
            scale = math.exp(float(params["logit_scale"][...]))
            log(
                f"step {step:5d}  loss {loss:.4f}  logit scale {scale:6.2f} (τ {1 / scale:.4f})"
                f"  lr {lr:.2e}  {window_images / (now - window_start):6.1f} images/s"
                f"  {now - start:6.0f} s"
            )
            window_start, window_images = now, 0
    final_loss = float(loss)
    wall = time.perf_counter() - start
    nnx.update(model, params)
    summary = {
        "steps": step,
        "batch_size": cfg.batch_size,
        "wall_s": wall,
        "images_per_s": step * cfg.batch_size / wall,
        "final_loss": final_loss,
        "logged_losses": losses,
        "logit_scale": math.exp(float(params["logit_scale"][...])),
    }
    return model, summary


# ---------------------------------------------------------------------------------------------
# Evaluation on held-out scenes.


# Module-level jits, so every evaluation batch of one model reuses one compilation.
_encode_image = nnx.jit(lambda m, x: m.encode_image(normalize_clip(x)))
_encode_text = nnx.jit(lambda m, t: m.encode_text(t))


def _encode(model: CLIP, images: np.ndarray, texts: list[str], batch: int = 128):
    """L2-normalised image features [N, d] and text features [M, d] (fixed-size batches)."""

    def run(fn, x):
        out = []
        for i in range(0, len(x), batch):
            chunk = x[i : i + batch]
            n = len(chunk)
            if n < batch:
                chunk = np.concatenate(
                    [chunk, np.zeros((batch - n, *chunk.shape[1:]), chunk.dtype)]
                )
            out.append(np.asarray(fn(model, jnp.asarray(chunk)), np.float32)[:n])
        feats = np.concatenate(out)
        return feats / np.linalg.norm(feats, axis=-1, keepdims=True)

    ids = tokenize(texts, TRAIN_CONTEXT) if texts else np.zeros((0, TRAIN_CONTEXT), np.int32)
    return run(_encode_image, images), run(_encode_text, ids) if texts else None


def _zero_shot(image_features: np.ndarray, prompt_features: np.ndarray, labels: np.ndarray):
    return float(((image_features @ prompt_features.T).argmax(1) == labels).mean())


def evaluate(
    model: CLIP, num_pairs: int = 512, num_probe: int = 384, seed: int = 0, max_objects: int = 2
) -> dict[str, float]:
    """Held-out retrieval among `num_pairs` scenes of up to `max_objects` objects (seeded apart
    from training) and zero-shot probes: colour, shape, position of one-object scenes, and
    colour + shape of synthetic action-video frames."""
    size = model.config.vision.image_size
    rng = np.random.default_rng(np.random.SeedSequence([seed + EVAL_SEED_OFFSET, 0]))
    images, captions, _ = scenes.scene_batch(rng, num_pairs, size, max_objects)
    img, txt = _encode(model, images, captions)
    results = {**retrieval_top1(img, txt), "retrieval_chance": 1.0 / num_pairs}

    rng = np.random.default_rng(np.random.SeedSequence([seed + EVAL_SEED_OFFSET, 1]))
    probe_images, _, probe_scenes = scenes.scene_batch(rng, num_probe, size, max_objects=1)
    objects = [s.objects[0] for s in probe_scenes]
    colors, shapes, positions = scenes.COLOR_NAMES, synthetic.SHAPES, tuple(scenes.POSITIONS)
    probes = {
        "color": (
            [f"a photo of a {c} object" for c in colors],
            [colors.index(o.color) for o in objects],
        ),
        "shape": ([f"a photo of a {s}" for s in shapes], [shapes.index(o.shape) for o in objects]),
        "position": (
            [f"a photo of an object {p}" for p in positions],
            [positions.index(o.position) for o in objects],
        ),
    }
    prompts = [p for texts, _ in probes.values() for p in texts]
    img, txt = _encode(model, probe_images, prompts)
    offset = 0
    for name, (texts, labels) in probes.items():
        results[f"probe_{name}"] = _zero_shot(
            img, txt[offset : offset + len(texts)], np.array(labels)
        )
        results[f"probe_{name}_chance"] = 1.0 / len(texts)
        offset += len(texts)

    # Middle frames of action videos (the frames ALT's CLIP will see): name the object.
    rng = np.random.default_rng(np.random.SeedSequence([seed + EVAL_SEED_OFFSET, 2]))
    objects = [(c, s) for c in colors for s in shapes]
    labels = rng.integers(len(objects), size=num_probe)
    motions = [m for pair in synthetic.MOTION_PAIRS for m in pair]
    frames = []
    for label in labels:
        cls = synthetic.SyntheticClass(*objects[label], motions[int(rng.integers(len(motions)))])
        frames.append(synthetic.render_video(cls, rng, 3, size, size)[1])
    img, txt = _encode(model, np.stack(frames), [f"a photo of a {c} {s}" for c, s in objects])
    results["video_frame_object"] = _zero_shot(img, txt, labels)
    results["video_frame_object_chance"] = 1.0 / len(objects)
    return results
