"""ALT's train step from video and from the frozen-feature cache, and what the cache costs.

    PYTHONPATH=. python benchmarks/train_step.py          # B/16, 8 frames, batch 8, 5 rounds

Contenders, each in its own process, random weights (time does not depend on them), float32,
`--batch` clips of `--frames` frames, uint8 videos already decoded (the input pipeline has its
own benchmark):
  video    the trainer's step from video: frozen CLIP with ToMe r = `--r`, alignment + adapter
           forward and backward, AdamW.
  cache    the same step on the encoder outputs that `--mode=extract_features` stores.
  extract  what extraction runs per batch of one view: ALT.video_features (normalisation and
           the frozen CLIP with ToMe) on the uint8 videos.
Built first, then timed in turn, `--rounds` times after a warm-up call; medians with min–max,
every ratio taken within a round. Disk per view: the bytes of one clip's cache record
(`features.encode_record`: ln, cls, dest, label, index). Break-even: with K augmented views
cached (config.feature_train_views, default 4; epoch e reads view e mod K), E epochs cost
E·video from video and K·extract + E·cache from the cache, so the cache pays from
E* = K·extract / (video − cache) epochs on (per round). Writes benchmarks/results/train_step.json.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.common import RESULTS, race, round_ratios, run_record, write_result, xla_flops


def _setup(preset: str, frames: int, batch: int, classes: int, r: int, entities: int):
    """ALT at a preset's shapes with random entity/class embeddings, and a uint8 batch."""
    from alt_jax.builders import build_alt
    from alt_jax.configs_lib import default_model_config
    from alt_jax.models.clip_config import get_preset

    config = default_model_config()
    config.backbone.preset = preset
    config.tome_r = r
    config.num_frames = frames
    rng = np.random.default_rng(0)
    d = get_preset(preset).projection_dim
    bank = rng.standard_normal((entities, d)).astype(np.float32)
    model = build_alt(config, entity_embeddings=bank / np.linalg.norm(bank, axis=1)[:, None])
    class_emb = jnp.asarray(rng.standard_normal((classes, d)), jnp.float32)
    size = model.clip.config.vision.image_size
    videos = jnp.asarray(rng.integers(0, 256, (batch, frames, size, size, 3), np.uint8))
    labels = jnp.asarray(rng.integers(0, classes, batch), jnp.int32)
    return model, class_emb, videos, labels


def _features(model, videos):
    """ALT.video_features of uint8 videos [B, T, H, W, 3] (normalised as the trainer does)."""
    from alt_jax.data.normalize import normalize_clip

    return model.video_features(normalize_clip(videos))


def step_contender(
    preset: str, frames: int, batch: int, classes: int, r: int, entities: int, source: str
) -> dict:
    """One jitted train step from `source` = "video" or "cache"; run = one step."""
    import optax

    from alt_jax.models.alt import split_trainable
    from alt_jax.train.steps import make_train_step

    model, class_emb, videos, labels = _setup(preset, frames, batch, classes, r, entities)
    graphdef, params, frozen = split_trainable(model)
    tx = optax.adamw(1e-4)
    state = {"params": params, "opt": tx.init(params)}
    if source == "video":
        data = {"video": videos, "label": labels}
    else:
        features = jax.jit(lambda v: _features(model, v))(videos)
        data = {**{k: features[k] for k in ("ln", "cls", "dest")}, "label": labels}
    key = jax.random.key(0)
    step = jax.jit(make_train_step(graphdef, tx, 0.0))
    compiled = step.lower(params, frozen, state["opt"], class_emb, data, key).compile()

    def run():
        state["params"], state["opt"], metrics = compiled(
            state["params"], frozen, state["opt"], class_emb, data, key
        )
        jax.block_until_ready(metrics)

    info = {"input": source, "batch": batch, "gflops_per_step": xla_flops(compiled) / 1e9}
    return {"run": run, "info": info}


def extract_contender(
    preset: str, frames: int, batch: int, classes: int, r: int, entities: int
) -> dict:
    """ALT.video_features on a batch of uint8 videos (one view per clip), and a record's bytes."""
    from alt_jax.train.features import FEATURE_KEYS, encode_record

    model, _, videos, labels = _setup(preset, frames, batch, classes, r, entities)
    compiled = jax.jit(lambda v: _features(model, v)).lower(videos).compile()
    features = compiled(videos)
    record = {k: np.asarray(features[k][0]) for k in FEATURE_KEYS}
    record.update(label=np.asarray(labels[0]), index=np.asarray(0))
    info = {
        "input": "extract",
        "batch": batch,
        "gflops_per_step": xla_flops(compiled) / 1e9,
        "bytes_per_view": len(encode_record(record)),
        "record_shapes": {k: list(v.shape) for k, v in record.items()},
    }
    return {"run": lambda: jax.block_until_ready(compiled(videos)), "info": info}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="B/16")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--r", type=int, default=16)
    parser.add_argument("--classes", type=int, default=400)
    parser.add_argument("--entities", type=int, default=240)
    parser.add_argument("--views", type=int, default=4, help="config.feature_train_views")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=str(RESULTS / "train_step.json"))
    args = parser.parse_args()
    record = run_record(args)
    here = "benchmarks.train_step"
    common = {k: getattr(args, k) for k in ("preset", "frames", "batch", "classes", "r")}
    common["entities"] = args.entities
    contenders = {
        "video": (f"{here}:step_contender", {**common, "source": "video"}),
        "cache": (f"{here}:step_contender", {**common, "source": "cache"}),
        "extract": (f"{here}:extract_contender", common),
    }
    results = race(contenders, rounds=args.rounds)
    rows = {}
    for name, res in results.items():
        rows[name] = {
            **res["info"],
            "seconds_per_call": res["seconds"],
            "time_s": res["time_s"],
            "speed_vs_video": round_ratios(results["video"]["seconds"], res["seconds"]),
            "peak_rss_mib": res["peak_rss_mib"],
        }
    video, cache, extract = (results[k]["seconds"] for k in ("video", "cache", "extract"))
    saved = [v - c for v, c in zip(video, cache, strict=True)]
    break_even = round_ratios([args.views * e for e in extract], saved)
    result = {**record, "rows": rows, "break_even_epochs": break_even}
    print("| input | step (s) | vs video | GFLOPs / step |")
    print("|---|---|---|---|")
    for name, row in rows.items():
        print(
            f"| {name} | {row['time_s']['median']:.2f} | {row['speed_vs_video']['median']:.1f}× "
            f"| {row['gflops_per_step']:.1f} |"
        )
    print(f"break-even epochs with {args.views} views: {break_even['median']:.2f}")
    write_result(args.out, result)


if __name__ == "__main__":
    main()
