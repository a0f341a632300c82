"""Linear heads trained with the demo's budget on the ladder's frozen features: what SGD reaches
in 150 steps of 16 clips, beside the closed-form ridge probe (issue #26's appearance target).

    PYTHONPATH=. python benchmarks/ladder.py --tasks=appearance --rows=zero_shot,probes --seeds=0
    PYTHONPATH=. python benchmarks/budget_heads.py --task=appearance

Reads the feature cache benchmarks/ladder.py wrote under --workdir (4 augmented training views,
the validation view). Heads, each trained with AdamW (warm-up 10 steps, cosine decay, weight decay
0.01), seeds 0..2 of the batch order, top-1 % on the validation videos:
- free softmax on the clip's mean class token (W [d, C], b);
- ALT's classifier: v = mean class token + W·(mean class token) + b, logits = s·cos(v, t_c) with
  the class-name text embeddings t_c (s learnable, 100 at init), as ALT's residual is;
- ALT's classifier on per-frame max-pooled region tokens (layer-normed), the feature whose ridge
  probe is highest.
"""

from __future__ import annotations

import argparse
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax

from alt_jax.builders import build_clip
from alt_jax.configs_lib import sibling_config
from benchmarks.common import RESULTS, machine, write_json
from benchmarks.ladder import CONFIG
from benchmarks.synthact import class_embeddings, load_cache


def load(folder: str):
    """Training views (stacked) and the validation view of a ladder task's cache."""
    cache = next(os.path.join(folder, c) for c in os.listdir(folder) if c.startswith("features_"))
    views = [load_cache(os.path.join(cache, f"train_view{v}.arrayrecord")) for v in range(4)]
    val = load_cache(os.path.join(cache, "eval_synthetic_val.arrayrecord"))
    train = {k: np.concatenate([v[k] for v in views]) for k in ("ln", "cls", "label")}
    val = {"ln": val["ln"][:, 0], "cls": val["cls"][:, 0], "label": val["label"]}
    return train, val


def features(split: dict, kind: str) -> np.ndarray:
    """[N, D] per clip: the mean class token, or the frame mean of max-pooled region tokens."""
    if kind == "cls":
        return split["cls"].mean(1)
    x = split["ln"][:, :, 1:].max(2).mean(1)
    return (x - x.mean(-1, keepdims=True)) / x.std(-1, keepdims=True)


def train_head(kind, x, base, y, xv, basev, yv, texts, lr, steps, seed) -> tuple[float, float]:
    """(train, validation) top-1 of one head after `steps` AdamW steps of 16 clips."""
    d, c = x.shape[1], texts.shape[0]
    if kind == "free":
        params = {"w": jnp.zeros((d, c)), "b": jnp.zeros(c)}
    else:
        params = {"w": jnp.zeros((d, base.shape[1])), "b": jnp.zeros(base.shape[1]),
                  "log_scale": jnp.log(100.0)}  # fmt: skip

    def logits(p, xb, bb):
        if kind == "free":
            return xb @ p["w"] + p["b"]
        v = bb + xb @ p["w"] + p["b"]
        v = v / jnp.linalg.norm(v, axis=-1, keepdims=True)
        return jnp.exp(p["log_scale"]) * v @ texts.T

    tx = optax.adamw(optax.warmup_cosine_decay_schedule(0.0, lr, 10, steps, 0.0), weight_decay=0.01)
    opt = tx.init(params)

    @jax.jit
    def step(p, opt, xb, bb, yb):
        loss = lambda p: optax.softmax_cross_entropy_with_integer_labels(
            logits(p, xb, bb), yb
        ).mean()  # noqa: E731
        updates, opt = tx.update(jax.grad(loss)(p), opt, p)
        return optax.apply_updates(p, updates), opt

    order = np.random.default_rng(seed)
    for _ in range(steps):
        idx = order.choice(len(y), 16, replace=False)
        params, opt = step(params, opt, x[idx], base[idx], y[idx])
    top1 = lambda a, b, t: float((np.asarray(logits(params, a, b)).argmax(1) == t).mean())  # noqa: E731
    return 100 * top1(x, base, y), 100 * top1(xv, basev, yv)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="appearance")
    parser.add_argument("--workdir", default="/tmp/ladder")
    parser.add_argument("--steps", default="150,600")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out", default=str(RESULTS / "budget_heads.json"))
    args = parser.parse_args()
    folder = os.path.join(args.workdir, args.task)
    config = sibling_config(CONFIG, "demo", os.path.join(folder, "data"))
    config.model.tome_r = 0
    texts = np.asarray(class_embeddings(config, build_clip(config.model),
                                        os.path.join(folder, "data", "classes.txt")))  # fmt: skip
    texts = jnp.asarray(texts / np.linalg.norm(texts, axis=1, keepdims=True))
    train, val = load(folder)
    base, basev = jnp.asarray(train["cls"].mean(1)), jnp.asarray(val["cls"].mean(1))
    rows = [("free softmax, mean class token", "free", "cls"),
            ("ALT's classifier, mean class token", "text", "cls"),
            ("ALT's classifier, max-pooled regions", "text", "regions")]  # fmt: skip
    seeds = [int(s) for s in args.seeds.split(",")]
    results = []
    for name, kind, feat in rows:
        x, xv = jnp.asarray(features(train, feat)), jnp.asarray(features(val, feat))
        for steps in map(int, args.steps.split(",")):
            for lr in (2e-3, 1e-2):
                runs = [train_head(kind, x, base, train["label"], xv, basev, val["label"], texts, lr, steps, s)
                        for s in seeds]  # fmt: skip
                results.append({"head": name, "steps": steps, "lr": lr,
                                "train_top1": [r[0] for r in runs], "val_top1": [r[1] for r in runs]})  # fmt: skip
                print(results[-1], flush=True)
    write_json(args.out, {"machine": machine(), "task": args.task, "seeds": seeds,
                          "command": f"PYTHONPATH=. python benchmarks/budget_heads.py --task={args.task}",
                          "rows": results})  # fmt: skip


if __name__ == "__main__":
    main()
