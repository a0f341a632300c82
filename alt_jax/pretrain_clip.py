"""Contrastive pre-training of a small CLIP on captioned synthetic scenes (alt_jax.data.scenes).

CLIP's objective: a symmetric InfoNCE over a batch of (image, caption) pairs with a learnable
temperature (logit_scale starts at log(1/0.07) and is clipped at log 100). The training state is
a pure pytree (nnx.split) so that one jitted step updates parameters and optimizer state.
Batches are rendered in NumPy in a background thread while the step runs.

Dense text alignment [ours] (`dense_weight` > 0): a CLIP trained on 36 objects alone has never
seen most English words, so their text embeddings fall near the prompt's own ("a photo of a
kitchen." and "a photo of a ." at cosine 0.9), and that direction is closer to every patch than
"red" is: its patches cannot be grounded in entity texts (ALT's alignment). The renderer knows
where it drew each object, so each patch token (through post_layernorm and the visual
projection, as ALT reads regions) is also classified among text candidates: the 36 object
names, the 3 background kinds and frequent words of CLIP's vocabulary that name nothing here,
in one of three text forms per step. Object and background patches weigh half each.
"""

from __future__ import annotations

import dataclasses
import functools
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

from alt_jax.corpus_builder.wordnet_reader import load_wordnet
from alt_jax.data import scenes, synthetic
from alt_jax.data.normalize import normalize_clip
from alt_jax.models.clip import CLIP
from alt_jax.models.clip_config import ClipConfig
from alt_jax.tokenizer import default_tokenizer, tokenize
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


# Dense alignment candidates: every object name, every background kind, then negatives.
OBJECT_NAMES = tuple(
    f"{color} {shape}" for color, _ in synthetic.COLORS for shape in synthetic.SHAPES
)
BACKGROUND_TEXTS = tuple(f"{kind} background" for kind in synthetic.BACKGROUND_KINDS)
DENSE_FORMS = ("{}", "a {}", "a photo of a {}.")
SCENE_WORDS = frozenset(
    " ".join([*OBJECT_NAMES, *BACKGROUND_TEXTS, *scenes.SIZES, *scenes.POSITIONS]).split()
    + ["object", "shape", "photo", "video", "frame", "there"]
)


@functools.lru_cache(maxsize=4)
def negative_vocabulary(size: int = 3000) -> tuple[str, ...]:
    """The `size` most frequent nouns among CLIP's whole-word BPE tokens (merge order, most
    frequent first; WordNet 3.0 nouns of ≥ 3 letters), minus the scenes' own words: texts that
    name nothing in a scene."""
    wordnet = load_wordnet()
    words = []
    for first, second in default_tokenizer().merges:
        token = first + second
        if not token.endswith("</w>"):
            continue
        word = token[: -len("</w>")]
        if not (word.isalpha() and word.isascii() and len(word) >= 3) or word in SCENE_WORDS:
            continue
        if wordnet.synsets(word, pos="n"):
            words.append(word)
            if len(words) == size:
                break
    return tuple(words)


def scene_patch_targets(scene_list: list, patch: int) -> np.ndarray:
    """Per scene and patch [B, N] int: the candidate index of its object (colour × shape) or
    background kind (after the 36 objects), or −1 for patches left out (partly covered)."""
    out = []
    for scene in scene_list:
        labels = scenes.patch_labels(scene.coverage, patch)
        target = np.full(labels.shape, -1, np.int32)
        for k, obj in enumerate(scene.objects):
            target[labels == k] = OBJECT_NAMES.index(f"{obj.color} {obj.shape}")
        background = len(OBJECT_NAMES) + synthetic.BACKGROUND_KINDS.index(scene.background)
        target[labels == scenes.BACKGROUND] = background
        out.append(target)
    return np.stack(out)


def dense_alignment_loss(
    patch_features: jax.Array, text_features: jax.Array, targets: jax.Array, logit_scale: jax.Array
) -> jax.Array:
    """Patch classification among texts: patch features [B, N, d], candidates [C, d] (any
    norm), targets [B, N] (candidate index, −1 left out; indices < len(OBJECT_NAMES) are
    objects) → mean cross-entropy of object patches and of background patches, averaged."""
    patches = patch_features / jnp.linalg.norm(patch_features, axis=-1, keepdims=True)
    texts = text_features / jnp.linalg.norm(text_features, axis=-1, keepdims=True)
    logits = jnp.exp(logit_scale) * patches @ texts.T  # [B, N, C]
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, jnp.maximum(targets, 0))
    is_object = (targets >= 0) & (targets < len(OBJECT_NAMES))
    is_background = targets >= len(OBJECT_NAMES)

    def mean_over(mask):
        return jnp.sum(jnp.where(mask, ce, 0.0)) / jnp.maximum(mask.sum(), 1)

    return 0.5 * (mean_over(is_object) + mean_over(is_background))


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
    dense_weight: float = 0.0  # weight of dense_alignment_loss (0: CLIP's objective alone)
    dense_negatives: int = 64  # negative words per step, drawn from negative_vocabulary()


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
    seed: int,
    batch_size: int,
    image_size: int,
    max_objects: int,
    context: int = TRAIN_CONTEXT,
    *,
    patch: int = 0,
    negatives: tuple[str, ...] = (),
    num_negatives: int = 0,
) -> Iterator[dict[str, np.ndarray]]:
    """Endless batches {images uint8 [B, H, W, 3], ids int32 [B, context]} and, with `patch` >
    0, the dense targets [B, N] and candidate ids int32 [36 + 3 + num_negatives, context] (one
    text form per batch). Batch k is seeded by (seed, k), so a run's data does not depend on
    timing."""
    for k in range(2**62):
        rng = np.random.default_rng(np.random.SeedSequence([seed, k]))
        images, captions, scene_list = scenes.scene_batch(rng, batch_size, image_size, max_objects)
        batch = {"images": images, "ids": tokenize(captions, context)}
        if patch:
            form = DENSE_FORMS[int(rng.integers(len(DENSE_FORMS)))]
            picked = rng.choice(len(negatives), size=num_negatives, replace=False)
            names = [*OBJECT_NAMES, *BACKGROUND_TEXTS, *(negatives[i] for i in picked)]
            batch["targets"] = scene_patch_targets(scene_list, patch)
            batch["candidate_ids"] = tokenize([form.format(n) for n in names], context)
        yield batch


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


def make_train_step(
    graphdef: nnx.GraphDef, tx: optax.GradientTransformation, dense_weight: float = 0.0
) -> Callable:
    """A jitted (params, opt_state, batch, lr) → (params, opt_state, loss) step; the batch is a
    `scene_batches` item (with dense targets when dense_weight > 0)."""

    def loss_fn(params, batch):
        model = nnx.merge(graphdef, params)
        vision = model.vision_model
        tokens = vision(normalize_clip(batch["images"]))  # [B, 1 + N, D]
        projected = model.visual_projection(vision.post_layernorm(tokens)).astype(jnp.float32)
        if dense_weight:
            ids = jnp.concatenate([batch["ids"], batch["candidate_ids"]])
            txt = model.encode_text(ids).astype(jnp.float32)
            txt, candidates = txt[: batch["ids"].shape[0]], txt[batch["ids"].shape[0] :]
        else:
            txt = model.encode_text(batch["ids"]).astype(jnp.float32)
        loss = clip_contrastive_loss(projected[:, 0], txt, model.logit_scale[...])
        if dense_weight:
            dense = dense_alignment_loss(
                projected[:, 1:], candidates, batch["targets"], model.logit_scale[...]
            )
            loss = loss + dense_weight * dense
        return loss

    @jax.jit
    def step(params, opt_state, batch, lr):
        loss, grads = jax.value_and_grad(loss_fn)(params, batch)
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
    init: CLIP | None = None,
) -> tuple[CLIP, dict[str, Any]]:
    """Trains a CLIP of `config` on scenes, from random weights or from `init`; returns it and
    a summary (losses, speed)."""
    if cfg.steps <= 0 and cfg.minutes <= 0:
        raise ValueError("pretrain: give a positive steps or minutes budget")
    model = init_clip(config, cfg.seed) if init is None else init
    graphdef, params = nnx.split(model)  # a State of Params only: CLIP holds no other state
    tx = optax.inject_hyperparams(optax.adamw)(
        learning_rate=0.0, b1=0.9, b2=0.98, eps=1e-6, weight_decay=cfg.weight_decay, mask=decay_mask
    )
    opt_state = tx.init(params)
    step_fn = make_train_step(graphdef, tx, cfg.dense_weight)
    size = config.vision.image_size
    dense = (
        dict(
            patch=config.vision.patch_size,
            negatives=negative_vocabulary(),
            num_negatives=cfg.dense_negatives,
        )
        if cfg.dense_weight
        else {}
    )
    batches = prefetch(scene_batches(cfg.seed, cfg.batch_size, size, cfg.max_objects, **dense))
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
        batch = {key: jnp.asarray(value) for key, value in next(batches).items()}
        lr = _lr_at(cfg, step, progress, warm_end)
        params, opt_state, loss = step_fn(params, opt_state, batch, jnp.float32(lr))
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
_encode_patches = nnx.jit(lambda m, x: m.encode_image_dense(normalize_clip(x))[:, 1:])
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


def dense_probe(
    model: CLIP, images: np.ndarray, targets: np.ndarray, distractors: tuple[str, ...]
) -> dict[str, float]:
    """Patch grounding: each patch's projected token picks the nearest of "a photo of a {}."
    over the 36 object names, 3 backgrounds and `distractors`; targets [B, N] as
    `scene_patch_targets`. Returns the share of object patches that pick their object and of
    background patches that pick their background."""
    names = [*OBJECT_NAMES, *BACKGROUND_TEXTS, *distractors]
    texts = _encode(model, images[:1], [f"a photo of a {n}." for n in names])[1]
    patches = []
    for i in range(0, len(images), 128):
        feats = np.asarray(_encode_patches(model, jnp.asarray(images[i : i + 128])), np.float32)
        patches.append(feats / np.linalg.norm(feats, axis=-1, keepdims=True))
    picked = (np.concatenate(patches) @ texts.T).argmax(-1)  # [B, N]
    is_object = (targets >= 0) & (targets < len(OBJECT_NAMES))
    is_background = targets >= len(OBJECT_NAMES)
    hit = picked == targets
    return {
        "object_patches": float(hit[is_object].mean()),
        "background_patches": float(hit[is_background].mean()),
    }


def evaluate(
    model: CLIP, num_pairs: int = 512, num_probe: int = 384, seed: int = 0, max_objects: int = 2
) -> dict[str, float]:
    """Held-out retrieval among `num_pairs` scenes of up to `max_objects` objects (seeded apart
    from training) and zero-shot probes: colour, shape, position of one-object scenes, and
    colour + shape of synthetic action-video frames."""
    size = model.config.vision.image_size
    rng = np.random.default_rng(np.random.SeedSequence([seed + EVAL_SEED_OFFSET, 0]))
    images, captions, scene_list = scenes.scene_batch(rng, num_pairs, size, max_objects)
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

    # Patch grounding on held-out one- and two-object scenes, against words never used as
    # training negatives (the vocabulary after the first 3000).
    distractors = negative_vocabulary(3200)[3000:]
    patch = model.config.vision.patch_size
    dense = dense_probe(model, images, scene_patch_targets(scene_list, patch), distractors)
    results.update({f"patch_grounding_{k}": v for k, v in dense.items()})
    results["patch_grounding_chance"] = 1.0 / (len(OBJECT_NAMES) + 3 + len(distractors))
    return results
