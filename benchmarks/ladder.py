"""The sanity ladder on the capability datasets: what a model should reach on each, from an
upper bound on the same inputs down to the model, and what its alignment grounds.

    PYTHONPATH=. python benchmarks/ladder.py                   (every task, 3 seeds)
    PYTHONPATH=. python benchmarks/ladder.py --tasks=directions --rows=alt --seeds=0 \\
        --set=model.adapter.query_position=False --out=/tmp/l.json     (one variant, quickly)

Datasets (`tools/make_synthetic.py --task`, 8 classes, 24 training and 8 validation videos per
class, 16 frames at 112 px, object masks beside every video): `directions` (the demo: two
objects × four directions), `appearance` (still objects: colour × shape × size), `change`
(a circle or a square changing colour or appearing/disappearing: the order of a change and the
shape), `speed` (slow or fast motion, direction random), `order` (the order of a change alone:
colour pairs in both orders, appearing / disappearing, the shape drawn per video). Each gets its
entity corpus (class names + the world's scenes).

Every row is trained with configs/demo.py's schedule (150 steps of 16 clips) on the frozen
synthclip's cached features (Trainer.extract_features: the validation view, 4 augmented views of
each training video) and scored on the validation videos, with the trainer's own steps:
- zero-shot: ALT at g = 0 (CLIP's frame average against the class-name prompts), untrained;
- probe (class tokens) / probe (region tokens): ridge regression to one-hot labels on the
  frozen features, frame-ordered and flattened (λ by 4-fold cross-validation over training
  videos): upper bounds a linear head on the same inputs reaches;
- linear head: the class-token probe's inputs trained as ALT is (v = b + W·[f_1 … f_T] into
  ALT's cosine classifier, the same optimizer, batches and steps): what a linear head reaches
  with ALT's classifier and budget, between the closed-form probe and ALT;
- ALT (the default), ALT with the first (global) adapter, ALT with learned queries;
- for entity-query rows: top-1 with the aligned entities replaced at evaluation (one constant
  entity, shuffled within each frame, random), and alignment quality (alt_jax.grounding) before
  and after training.
Writes benchmarks/results/ladder.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from alt_jax import grounding
from alt_jax.builders import build_clip, build_model, corpus_embeddings
from alt_jax.configs_lib import sibling_config
from alt_jax.corpus import read_entities
from alt_jax.data import sampling, sources, synthetic_files
from alt_jax.models.alignment import l2_normalize
from alt_jax.models.alt import cross_entropy
from alt_jax.train import optim
from alt_jax.train import steps as steps_lib
from alt_jax.train.trainer import Trainer
from benchmarks.common import apply_overrides, load_average, machine, parse_sets, write_json
from benchmarks.synthact import (
    HeadRuns,
    cached_batches,
    class_embeddings,
    clip_fingerprint,
    load_cache,
    summary,
)

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "configs" / "demo.py")
TASKS = ("directions", "appearance", "change", "order", "speed")
# Row → model-config overrides (keys under config, dotted).
ROWS = {
    "alt": {},
    "alt_global_adapter": {"model.adapter.kind": "global"},
    "alt_learned_queries": {"model.queries": "learned"},
    "victr": {"model.head": "victr", "model.probe.enabled": False},
}
ABLATIONS = ("constant", "shuffle", "random")
# Rows without an ALT model: CLIP's zero-shot, the ridge probes, the linear head.
BASE_ROWS = ["zero_shot", "probes", "linear_head"]


def make_data(task: str, folder: str, size: int) -> None:
    """The task's dataset and its entity corpus (class names + scene entities), once."""
    if os.path.exists(os.path.join(folder, "corpus.json")):
        return
    synthetic_files.make_synthetic_dataset(
        folder,
        task=task,
        num_classes=8,
        train_per_class=24,
        val_per_class=8,
        num_frames=16,
        height=size,
        width=size,
        workers=2,
    )
    built = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "build_corpus.py"),
            f"--labels={folder}/classes.txt",
            f"--scenes={folder}/scenes.txt",
            f"--output={folder}/corpus.json",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if built.returncode:  # the builder's own message (e.g. WordNet missing), not a bare exit code
        raise RuntimeError(f"tools/build_corpus.py failed for {folder}:\n{built.stderr[-2000:]}")


def ridge_probe(train_x, train_y, val_x, val_y, groups, num_classes: int) -> float:
    """Top-1 of ridge regression to one-hot labels (features standardised on the training set;
    λ from 4-fold cross-validation with folds by `groups`, the video of each training row)."""
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    train_x, val_x = (train_x - mean) / std, (val_x - mean) / std

    def fit_predict(x, y, x_test, lam):
        # Dual form: n ≤ features, so solve the n × n system.
        targets = np.eye(num_classes)[y] - 1.0 / num_classes
        alpha = np.linalg.solve(x @ x.T + lam * np.eye(len(x)), targets)
        return (x_test @ x.T) @ alpha

    lambdas = [10.0**k * train_x.shape[1] for k in range(-4, 3)]
    folds = np.unique(groups) % 4
    fold_of = dict(zip(np.unique(groups), folds, strict=True))
    fold = np.array([fold_of[g] for g in groups])
    scores = []
    for lam in lambdas:
        hits = 0
        for f in range(4):
            train, test = fold != f, fold == f
            pred = fit_predict(train_x[train], train_y[train], train_x[test], lam)
            hits += int((pred.argmax(1) == train_y[test]).sum())
        scores.append(hits)
    lam = lambdas[int(np.argmax(scores))]
    pred = fit_predict(train_x, train_y, val_x, lam)
    return float((pred.argmax(1) == val_y).mean())


PROBES = {
    # Frame-ordered features of a clip [n, ...] from the cached ln [n, T, 1+M, D], cls [n, T, d].
    "probe_class_tokens": lambda ln, cls: cls,
    "probe_region_tokens": lambda ln, cls: ln[:, :, 1:],  # every region in place
    "probe_pooled_regions": lambda ln, cls: np.concatenate([cls, ln[:, :, 1:].mean(2)], -1),
}


def probes(views: list[dict], val: dict, num_classes: int) -> dict[str, float]:
    """Ridge probes on the frozen features, frame-ordered: class tokens, region tokens in
    place, and class tokens with the frame's mean region token (position-free)."""
    train = {k: np.concatenate([v[k] for v in views]) for k in ("cls", "ln", "label", "index")}
    out = {}
    for name, features in PROBES.items():
        x = features(train["ln"], train["cls"])
        vx = features(val["ln"][:, 0], val["cls"][:, 0])
        out[name] = ridge_probe(
            x.reshape(len(x), -1).astype(np.float64),
            train["label"],
            vx.reshape(len(vx), -1).astype(np.float64),
            val["label"],
            train["index"],
            num_classes,
        )
    return out


def linear_head(config, views: list[dict], val: dict, class_emb, seed: int) -> float:
    """Top-1 of v = b + W·[f_1 … f_T] (b the frame average of the projected class tokens f_t,
    W zero at init: zero-shot at step 0) through ALT's classifier s·cos(v, t_c), s learned from
    `logit_scale_init`, trained with the config's optimizer, batches and steps."""
    t, d = views[0]["cls"].shape[1:]
    params = {
        "w": jnp.zeros((t * d, d), jnp.float32),
        "log_scale": jnp.log(jnp.float32(config.model.logit_scale_init)),
    }
    classes = l2_normalize(jnp.asarray(class_emb, jnp.float32))

    def logits(p, cls):  # cls [B, T, d]
        video = cls.mean(axis=1) + cls.reshape(len(cls), -1) @ p["w"]
        return jnp.exp(p["log_scale"]) * l2_normalize(video) @ classes.T

    def loss(p, cls, labels):
        return cross_entropy(logits(p, cls), labels, config.model.label_smoothing)

    tx, _ = optim.make_optimizer(config.optim, config.num_train_steps)
    state = tx.init(params)

    @jax.jit
    def step(p, state, cls, labels):
        grads = jax.grad(loss)(p, cls, labels)
        updates, state = tx.update(grads, state, p)
        return optax.apply_updates(p, updates), state

    subset = np.arange(len(views[0]["label"]))
    for batch in cached_batches(views, subset, config.batch_size, config.num_train_steps, seed):
        params, state = step(params, state, jnp.asarray(batch["cls"]), jnp.asarray(batch["label"]))
    probs = jax.nn.softmax(jax.vmap(lambda c: logits(params, c), in_axes=1)(val["cls"]), -1)
    predicted = np.asarray(probs.mean(axis=0)).argmax(-1)  # views averaged
    return float((predicted == val["label"]).mean())


class Grounding:
    """Alignment quality of a head on the cached validation views (view 0 of each video)."""

    def __init__(self, runner: HeadRuns, data: str, val: dict, units: list[str], size: int):
        self.runner, self.val, self.units, self.size = runner, val, units, size
        records = sources.read_annotation_list(os.path.join(data, "val.txt"), data)
        paths = [records[int(i)].path for i in val["index"]]
        self.masks = [synthetic_files.read_object_masks(p) for p in paths]
        self.backgrounds = [synthetic_files.read_background(p) for p in paths]
        graphdef = runner.graphdef

        @jax.jit
        def align(params, frozen, class_emb, features):
            model = nnx.merge(graphdef, params, frozen)
            out = model.head(features, class_emb, train=False)
            return out["entity_index"], out["dest"]

        self.align = align

    def __call__(self, params, class_emb, batch: int = 16) -> dict:
        counts = grounding.GroundingCounts(self.units)
        n = len(self.val["label"])
        for start in range(0, n, batch):
            rows = np.arange(start, start + batch) % n
            feats = {k: jnp.asarray(self.val[k][rows, 0]) for k in ("ln", "cls", "dest")}
            index, dest = self.align(params, self.runner.frozen, class_emb, feats)
            index, dest = np.asarray(index), np.asarray(dest)
            for j, row in enumerate(rows[: min(batch, n - start)]):
                coverage, names = self.masks[row]
                frames = sampling.eval_indices(len(coverage), index.shape[1])[0]
                view = grounding.eval_view_masks(coverage[frames], self.size)
                counts.add(index[j], dest[j], view, names[frames], self.backgrounds[row])
        return counts.summary()


def run_task(task: str, args, overrides: dict, rows: list[str]) -> dict:
    """Every row of one task; returns its results."""
    folder = os.path.join(args.workdir, task)
    data = os.path.join(folder, "data")
    make_data(task, data, args.size)
    base = sibling_config(CONFIG, "demo", data)
    base.model.tome_r = args.r
    apply_overrides(base, overrides)
    clip = build_clip(base.model)
    clip_id = clip_fingerprint(base.model.backbone.source or "random")
    cache = os.path.join(folder, f"features_{clip_id}_r{args.r}_{base.model.region_features}")
    if not os.path.isdir(cache):
        # Extracted under a temporary name and renamed when complete: an interrupted
        # extraction is redone, never read half-written.
        partial = cache + ".partial"
        shutil.rmtree(partial, ignore_errors=True)
        entities = corpus_embeddings(base.model, clip)
        model = build_model(base.model, clip=clip, entity_embeddings=entities)
        Trainer(base, os.path.join(folder, "extract"), model=model).extract_features(
            partial, args.views
        )
        os.replace(partial, cache)
    views = [
        load_cache(os.path.join(cache, f"train_view{v}.arrayrecord")) for v in range(args.views)
    ]
    val = load_cache(os.path.join(cache, "eval_synthetic_val.arrayrecord"))
    names = sources.read_class_names(os.path.join(data, "classes.txt"))
    units = [e["unit"] for e in read_entities(base.model.corpus.path)]
    emb = class_embeddings(base, clip, os.path.join(data, "classes.txt"))
    result = {"classes": names, "rows": {}, "grounding": {}, "ablations": {}, "errors": {}}
    start = time.perf_counter()
    if "zero_shot" in rows:
        config = base.copy_and_resolve_references()
        config.model.gate_init = 0.0
        runner = HeadRuns(config, clip, corpus_embeddings(config.model, clip), (0,))
        result["rows"]["zero_shot"] = summary([runner.evaluate(runner.init[0], val, emb)])
    if "probes" in rows:
        for name, top1 in probes(views, val, len(names)).items():
            result["rows"][name] = summary([top1])
    if "linear_head" in rows:
        top1 = [linear_head(base, views, val, emb, seed) for seed in args.seeds]
        print(f"{task} linear_head: top-1 {[round(100 * v, 1) for v in top1]}", flush=True)
        result["rows"]["linear_head"] = summary(top1)
    for row in rows:
        if row not in ROWS:
            continue
        config = base.copy_and_resolve_references()
        apply_overrides(config, ROWS[row])
        entities = corpus_embeddings(config.model, clip)
        runner = HeadRuns(config, clip, entities, tuple(args.seeds))
        with_entities = config.model.queries == "entities" and config.model.head == "alt"
        ablate = {
            kind: jax.jit(steps_lib.make_eval_step(runner.graphdef, entity_ablation=kind))
            for kind in (ABLATIONS if with_entities else ())
        }
        measure = (
            Grounding(runner, data, val, units, config.data.image_size) if with_entities else None
        )
        top1, ablated, ground = [], {k: [] for k in ablate}, {"untrained": [], "trained": []}
        errors: dict[str, int] = {}  # "true class → predicted class": count over seeds
        for seed in args.seeds:
            if measure is not None:
                ground["untrained"].append(measure(runner.init[seed], emb))
            params = runner.fit(views, np.arange(len(views[0]["label"])), emb, seed)
            predicted = runner.probabilities(params, val, emb).argmax(-1)
            top1.append(float((predicted == val["label"]).mean()))
            for truth, guess in zip(val["label"], predicted, strict=True):
                if truth != guess:
                    pair = f"{names[truth]} → {names[guess]}"
                    errors[pair] = errors.get(pair, 0) + 1
            line = f"{task} {row} seed={seed}: top-1 {100 * top1[-1]:.1f}"
            for kind, step in ablate.items():
                runner_step, runner.eval_step = runner.eval_step, step
                ablated[kind].append(runner.evaluate(params, val, emb))
                runner.eval_step = runner_step
                line += f" {kind} {100 * ablated[kind][-1]:.1f}"
            if measure is not None:
                ground["trained"].append(measure(params, emb))
                g0, g1 = ground["untrained"][-1], ground["trained"][-1]
                line += (
                    f" | grounding {100 * g0['grounding']:.1f} → {100 * g1['grounding']:.1f}"
                    f", most used {100 * g1['most_used_share']:.1f} % "
                    f"({g1['top_entities'][0][0]}), background→object "
                    f"{100 * g1['background_object_entity']:.1f} %"
                )
            print(line, flush=True)
        result["rows"][row] = summary(top1)
        result["errors"][row] = dict(sorted(errors.items(), key=lambda e: -e[1]))
        if ablate:
            result["ablations"][row] = {k: summary(v) for k, v in ablated.items()}
        if measure is not None:
            result["grounding"][row] = ground
    result["wall_time_s"] = time.perf_counter() - start
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--rows", default=",".join(BASE_ROWS + list(ROWS)))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--r", type=int, default=0, help="ToMe r")
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--views", type=int, default=4, help="cached views per training video")
    parser.add_argument("--workdir", default="/tmp/ladder")
    parser.add_argument(
        "--set", action="append", default=[], help="config override for every row: key=value"
    )
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ladder.json"))
    parser.add_argument(
        "--merge", action="store_true", help="keep --out's other tasks (same seeds and --set)"
    )
    args = parser.parse_args()
    logging.getLogger().setLevel(logging.WARNING)
    args.seeds = [int(s) for s in args.seeds.split(",")]
    overrides = parse_sets(parser, args.set)
    rows = args.rows.split(",")
    unknown = set(rows) - {*BASE_ROWS, *ROWS}
    if unknown:
        parser.error(f"--rows: unknown {sorted(unknown)}; valid: {BASE_ROWS + list(ROWS)}")
    start, load_start = time.perf_counter(), load_average()
    results, earlier_commands = {"tasks": {}}, []
    if args.merge and os.path.exists(args.out):
        results["tasks"], earlier_commands = merged_tasks(args.out, args.seeds, overrides)
    command = (
        "PYTHONPATH=. python benchmarks/ladder.py "
        + " ".join(
            f"--{k}={','.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in vars(args).items()
            if k not in ("out", "workdir", "set", "merge")
        )
        + "".join(f" --set={s}" for s in args.set)
        + (" --merge" if args.merge else "")
    )
    for task in args.tasks.split(","):
        new = run_task(task, args, overrides, rows)
        earlier = results["tasks"].get(task)
        if earlier is not None:  # --merge: this run's rows replace the same rows, others stay
            for section in ("rows", "grounding", "ablations", "errors"):
                earlier.setdefault(section, {}).update(new[section])
            earlier["classes"] = new["classes"]
            earlier["wall_time_s"] += new["wall_time_s"]
            new = earlier
        results["tasks"][task] = new
        # Written after every task: a crash in a later one loses nothing (--merge resumes).
        results.update(
            benchmark="ladder",
            machine=machine(),
            command="; then ".join([*earlier_commands, command]),
            protocol={
                "config": "configs/demo.py (synthclip, 8 frames at 112 px, 150 steps of 16, "
                "lr 2e-3)",
                "metric": "top-1 % on the 64 validation videos (mean, population std, min, max)",
                "seeds": args.seeds,
                "tome_r": args.r,
                "overrides": overrides,
            },
            load_average_start=load_start,
            load_average_end=load_average(),
            wall_time_s=time.perf_counter() - start,
        )
        write_json(args.out, results)


def merged_tasks(path: str, seeds: list[int], overrides: dict) -> tuple[dict, list[str]]:
    """The tasks of an earlier result to keep (--merge) and the commands that made it: refused
    when its seeds or overrides differ from this run's."""
    with open(path) as f:
        earlier = json.load(f)
    protocol = earlier["protocol"]
    if protocol["seeds"] != seeds or protocol["overrides"] != overrides:
        raise SystemExit(
            f"{path}: seeds {protocol['seeds']} and overrides {protocol['overrides']} differ from "
            f"this run's ({seeds}, {overrides}); --merge keeps only results of the same protocol"
        )
    return earlier["tasks"], earlier["command"].split("; then ")


if __name__ == "__main__":
    main()
