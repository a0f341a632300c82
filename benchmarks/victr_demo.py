"""VicTR on the demo data: accuracy over seeds, and whether its boosted text tokens collapse.

    PYTHONPATH=. python benchmarks/victr_demo.py --data=demo_out/data

VicTR reads the frames' class tokens only (docs/method.md §6). The head trains `configs/demo_victr.py`'s
schedule (150 steps of 16 clips) on cached encoder features (Trainer.extract_features) with the
trainer's step functions, 3 seeds. Token boosting multiplies every text embedding w_j by its
affinity a_{t,j} = softmax_j(cos(v_t, w_j) / τ) with τ = 0.01: with many near-parallel texts the
softmax is sharp, so the norms ‖u_{t,j}‖ = a_{t,j} are recorded (fraction below 1e-3 and 1e-6,
and the largest) on the validation clips. Writes benchmarks/results/victr_demo.json.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from alt_jax.configs_lib import sibling_config
from alt_jax.models.alt import build_clip, corpus_embeddings
from alt_jax.models.build import build_model
from alt_jax.models.victr import boost_tokens
from alt_jax.train.trainer import Trainer
from benchmarks.common import load_average, machine, write_json
from benchmarks.synthact import (
    HeadRuns,
    class_embeddings,
    load_cache,
    summary,
    top1_over_seeds,
)

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="demo_out/data")
    parser.add_argument("--workdir", default="/tmp/victr_demo")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--views", type=int, default=4)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "victr_demo.json"))
    args = parser.parse_args()
    logging.getLogger().setLevel(logging.WARNING)
    start, load_start = time.perf_counter(), load_average()
    data = os.path.abspath(args.data)
    seeds = [int(s) for s in args.seeds.split(",")]
    config = sibling_config(str(ROOT / "configs" / "demo.py"), "demo_victr", data)
    config.feature_train_views = args.views
    clip = build_clip(config.model)
    entities = corpus_embeddings(config.model, clip)
    cache = os.path.join(args.workdir, "features")
    if not os.path.exists(os.path.join(cache, "eval_synthetic_val.arrayrecord")):
        model = build_model(config.model, clip=clip, auxiliary_embeddings=entities)
        Trainer(config, os.path.join(args.workdir, "extract"), model=model).extract_features(
            cache, args.views
        )
    views = [
        load_cache(os.path.join(cache, f"train_view{v}.arrayrecord")) for v in range(args.views)
    ]
    val = load_cache(os.path.join(cache, "eval_synthetic_val.arrayrecord"))
    emb = class_embeddings(config, clip, os.path.join(data, "classes.txt"))
    top1 = top1_over_seeds(HeadRuns(config, clip, entities, tuple(seeds)), views, val, emb, "VicTR")
    # Token boosting on the validation clips' frames (first view): classes + auxiliary texts.
    cls = jnp.asarray(val["cls"][:, 0])  # [B, T, d]
    texts = jnp.concatenate([emb, jnp.asarray(entities)], axis=0)
    boosted = boost_tokens(cls, jnp.broadcast_to(texts, (cls.shape[0], *texts.shape)), 0.01)
    norms = np.linalg.norm(np.asarray(boosted), axis=-1) / np.linalg.norm(
        np.asarray(texts), axis=-1
    )  # = a_{t,j}: [B, T, J]
    result = {
        "benchmark": "victr_demo",
        "machine": machine(),
        "command": f"PYTHONPATH=. python benchmarks/victr_demo.py --seeds={args.seeds}",
        "top1": summary(top1),
        "boosted_token_norms": {
            "texts_per_frame": int(texts.shape[0]),
            "temperature": 0.01,
            "fraction_below_1e-3": float((norms < 1e-3).mean()),
            "fraction_below_1e-6": float((norms < 1e-6).mean()),
            "median": float(np.median(norms)),
            "mean_of_frame_max": float(norms.max(-1).mean()),
            "uniform_share": 1.0 / int(texts.shape[0]),
        },
        "wall_time_s": time.perf_counter() - start,
        "load_average_start": load_start,
        "load_average_end": load_average(),
    }
    write_json(args.out, result)
    print(result)


if __name__ == "__main__":
    main()
