"""Adapter ablation on the demo data: the first (global) adapter, the ordered adapter, and the
ordered adapter without each of its parts, at ToMe r = 0 and r > 0, several seeds.

    PYTHONPATH=. python benchmarks/adapter_ablation.py --data=demo_out/data --rs=0,2,4

The data is `make demo`'s (tools/make_synthetic.py, 8 classes: two objects × four directions).
The frozen synthclip encoder runs once per r (Trainer.extract_features: the validation views and
`--views` augmented views of each training video); every variant then trains `configs/demo.py`'s
schedule (150 steps of 16 clips) on those cached features with the trainer's own step functions
(benchmarks/synthact.py's HeadRuns) and is evaluated on the 64 validation videos. Writes
benchmarks/results/adapter_ablation.json.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

from alt_jax.builders import build_clip, build_model, corpus_embeddings
from alt_jax.configs_lib import sibling_config
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
CONFIG = str(ROOT / "configs" / "demo.py")

# Variant → model-config overrides (keys under config.model).
VARIANTS = {
    "global": {"adapter.kind": "global"},
    "ordered": {},
    "ordered_no_region_position": {"adapter.position": "none"},
    "ordered_no_temporal_order": {
        "adapter.temporal_position": False,
        "adapter.readout": "mean",
        "adapter.conv_kernel": 1,
    },
    "ordered_centred": {"adapter.temporal_input": "centred"},
    "ordered_raw": {"adapter.temporal_input": "raw"},
    "ordered_learned_queries": {"queries": "learned"},
    "ordered_no_entity_readout": {"entity_readout": False},
    "ordered_free_w_r": {"alignment.w_r": "free"},
}


def variant_config(data: str, r: int, overrides: dict):
    """configs/demo.py at ToMe r with the variant's model overrides."""
    config = sibling_config(CONFIG, "demo", data)
    config.model.tome_r = r
    for key, value in overrides.items():
        node = config.model
        *parents, leaf = key.split(".")
        for name in parents:
            node = node[name]
        node[leaf] = value
    return config


def run(data: str, workdir: str, rs: list[int], seeds: list[int], views: int, variants: list[str]):
    """Every variant × r × seed; returns the results dict."""
    data = os.path.abspath(data)
    results = {"rows": {}, "regions_per_frame": {}, "wall_time_s": {}}
    for r in rs:
        start = time.perf_counter()
        base = variant_config(data, r, {})
        base.feature_train_views = views
        clip = build_clip(base.model)
        entities = corpus_embeddings(base.model, clip)
        cache_dir = os.path.join(workdir, f"features_r{r}")
        if not os.path.exists(os.path.join(cache_dir, "eval_synthetic_val.arrayrecord")):
            model = build_model(base.model, clip=clip, entity_embeddings=entities)
            Trainer(base, os.path.join(workdir, f"extract_r{r}"), model=model).extract_features(
                cache_dir, views
            )
        train_views = [
            load_cache(os.path.join(cache_dir, f"train_view{v}.arrayrecord")) for v in range(views)
        ]
        val = load_cache(os.path.join(cache_dir, "eval_synthetic_val.arrayrecord"))
        results["regions_per_frame"][str(r)] = int(val["ln"].shape[-2] - 1)
        emb = class_embeddings(base, clip, os.path.join(data, "classes.txt"))
        results["wall_time_s"][f"features_r{r}"] = time.perf_counter() - start
        for name in variants:
            start = time.perf_counter()
            config = variant_config(data, r, VARIANTS[name])
            runner = HeadRuns(config, clip, entities, tuple(seeds))
            top1 = top1_over_seeds(runner, train_views, val, emb, f"r={r} {name}")
            results["rows"].setdefault(name, {})[str(r)] = summary(top1)
            results["wall_time_s"][f"{name}_r{r}"] = time.perf_counter() - start
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="demo_out/data", help="make demo's dataset folder")
    parser.add_argument("--workdir", default="/tmp/adapter_ablation")
    parser.add_argument("--rs", default="0,2,4", help="ToMe r values")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--views", type=int, default=4, help="cached views per training video")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument(
        "--out", default=str(ROOT / "benchmarks" / "results" / "adapter_ablation.json")
    )
    args = parser.parse_args()
    logging.getLogger().setLevel(logging.WARNING)
    variants = args.variants.split(",")
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"--variants: unknown {unknown}; valid: {sorted(VARIANTS)}")
    rs = [int(r) for r in args.rs.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    start, load_start = time.perf_counter(), load_average()
    results = run(args.data, args.workdir, rs, seeds, args.views, variants)
    results.update(
        benchmark="adapter_ablation",
        machine=machine(),
        command="PYTHONPATH=. python benchmarks/adapter_ablation.py "
        f"--rs={args.rs} --seeds={args.seeds} --views={args.views}",
        protocol={
            "config": "configs/demo.py (synthclip, 8 frames at 112 px, 150 steps of 16, lr 2e-3)",
            "metric": "top-1 % on the 64 validation videos (mean, population std, min, max)",
            "seeds": seeds,
            "train_views": args.views,
        },
        variants={name: VARIANTS[name] for name in variants},
        load_average_start=load_start,
        load_average_end=load_average(),
    )
    results["wall_time_s"]["total"] = time.perf_counter() - start
    write_json(args.out, results)


if __name__ == "__main__":
    main()
