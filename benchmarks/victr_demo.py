"""VicTR on the demo data: our design and the published one over seeds, each of our departures
undone one at a time, and whether the boosted text tokens collapse.

    PYTHONPATH=. python benchmarks/victr_demo.py --data=demo_out/data

Every row trains `configs/demo_victr.py`'s schedule (150 steps of 16 clips) on cached encoder
features (Trainer.extract_features) with the trainer's step functions: "victr" (the defaults) and
"published" (victr.PUBLISHED_DESIGN) on `--seeds`, and one row per knob of PUBLISHED_DESIGN set
back to the published value alone on `--ablation_seeds`. Token boosting multiplies every text
embedding w_j by its affinity a_{t,j} = softmax_j(cos(v_t, w_j) / τ) (ours: J·a_{t,j}); the norms
‖u_{t,j}‖ / ‖w_j‖ are recorded for both rules on the validation clips (fraction below 1e-3, median,
the largest per frame). Writes benchmarks/results/victr_demo.json.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from alt_jax.builders import build_clip, build_model, corpus_embeddings
from alt_jax.configs_lib import sibling_config
from alt_jax.models.victr import PUBLISHED_DESIGN, boost_tokens
from alt_jax.train.trainer import Trainer
from benchmarks.common import apply_overrides, load_average, machine, write_json
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
    parser.add_argument("--ablation_seeds", default="0")
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
    rows = {"victr": ({}, seeds), "published": (PUBLISHED_DESIGN, seeds)}
    ablation_seeds = tuple(int(s) for s in args.ablation_seeds.split(",") if s)
    for knob, value in PUBLISHED_DESIGN.items():
        if knob != "boost_temperature":  # goes with boost="softmax"
            rows[f"published_{knob}"] = ({knob: value}, ablation_seeds)
    rows["published_boost"] = (
        {"boost": "softmax", "boost_temperature": PUBLISHED_DESIGN["boost_temperature"]},
        ablation_seeds,
    )
    top1 = {}
    for row, (knobs, row_seeds) in rows.items():
        if not row_seeds:
            continue
        row_config = config.copy_and_resolve_references()
        apply_overrides(row_config, {f"model.victr.{k}": v for k, v in knobs.items()})
        runner = HeadRuns(row_config, clip, entities, tuple(row_seeds))
        top1[row] = summary(top1_over_seeds(runner, views, val, emb, f"VicTR {row}"))
    # Token boosting on the validation clips' frames (first view): classes + auxiliary texts.
    cls = jnp.asarray(val["cls"][:, 0])  # [B, T, d]
    texts = jnp.concatenate([emb, jnp.asarray(entities)], axis=0)
    batched = jnp.broadcast_to(texts, (cls.shape[0], *texts.shape))
    norms = {}
    for rule, tau, relative in (
        ("published", PUBLISHED_DESIGN["boost_temperature"], False),
        ("ours", config.model.victr.boost_temperature, True),
    ):
        ratio = np.linalg.norm(
            np.asarray(boost_tokens(cls, batched, tau, relative)), axis=-1
        ) / np.linalg.norm(np.asarray(texts), axis=-1)  # [B, T, J]
        norms[rule] = {
            "temperature": tau,
            "relative": relative,
            "fraction_below_1e-3": float((ratio < 1e-3).mean()),
            "median": float(np.median(ratio)),
            "mean_of_frame_max": float(ratio.max(-1).mean()),
        }
    result = {
        "benchmark": "victr_demo",
        "machine": machine(),
        "command": (
            f"PYTHONPATH=. python benchmarks/victr_demo.py --seeds={args.seeds} "
            f"--ablation_seeds={args.ablation_seeds}"
        ),
        "published_design": PUBLISHED_DESIGN,
        "top1": top1,
        "boosted_token_norms": {"texts_per_frame": int(texts.shape[0]), **norms},
        "wall_time_s": time.perf_counter() - start,
        "load_average_start": load_start,
        "load_average_end": load_average(),
    }
    write_json(args.out, result)
    print(result)


if __name__ == "__main__":
    main()
