"""Pre-trains a small CLIP on captioned synthetic scenes and saves it as a transformers folder.

  alt-jax-pretrain-clip --out=alt_jax/assets/synthclip --preset=synthclip --minutes=25

Prints progress (step, loss, temperature, images/s), then held-out retrieval and zero-shot
probe accuracies, which it also writes to OUT/pretrain_metrics.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time

from alt_jax.models.clip_config import get_preset
from alt_jax.pretrain_clip import PretrainConfig, evaluate, pretrain
from alt_jax.weights import load_clip, save_clip


def main(argv: list[str] | None = None) -> None:
    """Parses flags, trains, saves, evaluates."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for config.json + model.safetensors")
    parser.add_argument("--preset", default="synthclip", help="CLIP shape (alt_jax.models.clip)")
    parser.add_argument("--minutes", type=float, default=0.0, help="wall-time budget")
    parser.add_argument("--steps", type=int, default=0, help="step budget")
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--warmup_steps", type=int, default=100)
    parser.add_argument("--weight_decay", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log_every", type=int, default=25)
    parser.add_argument("--dtype", default="bfloat16", help="storage dtype: float32 or bfloat16")
    parser.add_argument("--eval_pairs", type=int, default=512)
    parser.add_argument(
        "--dense_weight", type=float, default=0.0, help="weight of the patch-text loss (0: off)"
    )
    parser.add_argument("--dense_negatives", type=int, default=64, help="negative words a step")
    parser.add_argument("--init", default="", help="start from this CLIP folder (else random)")
    args = parser.parse_args(argv)
    cfg = PretrainConfig(
        batch_size=args.batch_size,
        steps=args.steps,
        minutes=args.minutes,
        lr=args.lr,
        warmup_steps=args.warmup_steps,
        weight_decay=args.weight_decay,
        seed=args.seed,
        log_every=args.log_every,
        dense_weight=args.dense_weight,
        dense_negatives=args.dense_negatives,
    )
    init = load_clip(args.init) if args.init else None
    config = init.config if init is not None else get_preset(args.preset)
    model, summary = pretrain(config, cfg, log=lambda s: print(s, flush=True), init=init)
    folder = save_clip(model, args.out, dtype=args.dtype)
    size = os.path.getsize(folder / "model.safetensors")
    print(
        f"trained {summary['steps']} steps of {cfg.batch_size} in {summary['wall_s']:.0f} s "
        f"({summary['images_per_s']:.1f} images/s), final loss {summary['final_loss']:.4f}; "
        f"saved {folder} ({size / 2**20:.1f} MiB)",
        flush=True,
    )
    start = time.perf_counter()
    metrics = evaluate(model, num_pairs=args.eval_pairs, seed=args.seed)
    for name, value in metrics.items():
        print(f"{name:28s} {100 * value:6.1f} %")
    print(f"evaluated in {time.perf_counter() - start:.0f} s")
    report = {
        "preset": args.preset,
        "init": args.init or None,
        "config": dataclasses.asdict(cfg),
        "train": {k: v for k, v in summary.items() if k != "logged_losses"},
        "logged_losses": summary["logged_losses"],
        "checkpoint_bytes": size,
        "storage_dtype": args.dtype,
        "eval": metrics,
    }
    (folder / "pretrain_metrics.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
