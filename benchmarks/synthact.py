"""The SynthAct table: frame-average CLIP, ALT, VicTR and ALT with learned queries (no entities),
fully supervised, K-shot (K = 2, 4, 8, 16) and zero-shot on unseen compositions.

    PYTHONPATH=. python benchmarks/synthact.py --size=full --readme     (the table in README.md)
    PYTHONPATH=. python benchmarks/synthact.py --size=smallest --clip=random --out=/tmp/s.json

Protocol (alt_jax/data/synthact.py has the data and the split):
- supervised: train on every training video of the SEEN classes, top-1 on their val split;
- K-shot: train on K videos per seen class (fewshot/{K}shot_seed{S}.txt, S = the run seed), top-1
  on the same seen val split (as docs/method.md §7's few-shot protocols test on the full label set);
- zero-shot: the supervised model, top-1 on the UNSEEN compositions' videos against the unseen
  class names' text embeddings only.
- frame-average CLIP: no training at all; ALT at g = 0 is exactly s · cos(mean_t f_t, t_c), so its
  seen-val top-1 fills the supervised and K-shot columns and its unseen top-1 the zero-shot one.
Every trained cell is the mean over seeds (run seed = initialisation, data order, noise and the
K-shot draw) with its std and min-max. The frozen CLIP's features are extracted once by
Trainer.extract_features (every evaluation view, `feature_train_views` augmented views of every
training video) and held in memory; every head trains and evaluates on them with the trainer's
own step functions (make_train_step / make_eval_step), jitted once per head and shared by all of
its runs (same shapes, same schedule), as re-tracing per run would cost more than the training.
Writes benchmarks/results/synthact.json (with the wall time of each part) and prints the table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

import alt_jax
from alt_jax import text
from alt_jax.builders import build_clip, build_model, corpus_embeddings
from alt_jax.configs_lib import sibling_config
from alt_jax.data import sources, synthact
from alt_jax.models.alt import ALT, split_trainable
from alt_jax.models.victr import VicTR
from alt_jax.train import evaluation, optim, probe_fit
from alt_jax.train import features as features_lib
from alt_jax.train import steps as steps_lib
from alt_jax.train.trainer import Trainer
from benchmarks.common import apply_overrides, machine, parse_sets, seed_summary, write_json
from benchmarks.render import synthact_table

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "configs" / "synthact.py")

# Row name → model config arguments (configs/synthact.py).
MODELS = {
    "alt": "head=alt,queries=entities",
    "victr": "head=victr",
    "alt_learned_queries": "head=alt,queries=learned",
    "alt_global_adapter": "head=alt,queries=entities,adapter=global",
}
# Evaluation-time replacements of ALT's aligned entities (alignment.ENTITY_ABLATIONS).
ENTITY_ABLATIONS = ("constant", "shuffle", "random")
# Adapter ablations, run only when named in --rows.
ABLATIONS = {
    "alt_no_region_position": "head=alt,queries=entities,adapter=ordered_no_position",
    "alt_no_temporal_order": "head=alt,queries=entities,adapter=ordered_no_order",
}

SIZES = {
    # Seconds on 2 CPU cores: the whole pipeline at toy scale (tests/test_synthact.py).
    "smallest": dict(
        spec=synthact.SynthActSpec(
            num_colors=2,
            num_shapes=2,
            motions=("moving left", "moving right"),
            train_per_class=4,
            val_per_class=2,
            num_frames=4,
            size=32,
            shots=(2,),
            shot_seeds=(0, 1),
        ),
        seeds=(0, 1),
        steps=2,
        frames=4,
        preset="tiny",
    ),
    # The table: 4 colours × 4 shapes × 4 motions = 48 seen + 16 unseen classes.
    "full": dict(
        spec=synthact.SynthActSpec(train_per_class=24, val_per_class=8),
        seeds=(0, 1, 2),
        steps=100,  # the fixed budget of runs without `passes` (--passes=0)
        passes=16,  # every setting: 16 passes over its training videos
        frames=4,
        preset="demo",
    ),
}


def steps_for(size: dict, num_videos: int, batch_size: int = 16) -> int:
    """Training steps of a run on `num_videos` videos: `passes` over them when the size sets
    passes (so every K-shot setting sees its videos as often as the full set does), else the
    size's fixed `steps`."""
    if size.get("passes"):
        return max(1, math.ceil(size["passes"] * num_videos / batch_size))
    return size["steps"]


def run_config(
    size: dict, data: str, clip: str, *, model: str, shots: int, seed: int, steps: int = 0
):
    """The configs/synthact.py config of one run (`steps` 0: the size's fixed steps)."""
    arg = (
        f"root={data},clip={clip},shots={shots},seed={seed},{model},"
        f"steps={steps or size['steps']},"
        f"frames={size['frames']},preset={size['preset']},size={size['spec'].size},"
        f"r={size.get('r', 10)}" + (f",gate={size['gate']}" if "gate" in size else "")
    )
    config = sibling_config(CONFIG, "synthact", arg)
    apply_overrides(config, size.get("set", {}))  # --set key=value, on every run
    return config


def load_cache(path: str) -> dict[str, np.ndarray]:
    """Every record of a feature-cache file, stacked: ln, cls, dest, label, index."""
    records = features_lib.read_features(path)
    return {k: np.stack([records[i][k] for i in range(len(records))]) for k in records[0]}


def clip_fingerprint(clip_source: str) -> str:
    """The first 16 hex digits of the CLIP weights' sha256 ("random" for random weights)."""
    if clip_source == "random":
        return "random"
    with open(Path(clip_source) / "model.safetensors", "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def summary(values: list[float]) -> dict:
    """Mean, population std, min, max of per-seed top-1 (in %) and the values themselves."""
    return seed_summary([100.0 * v for v in values])


def columns(shots: tuple[int, ...]) -> list[str]:
    """The table's columns, in order."""
    return ["supervised", *(f"{k}shot" for k in shots), "zeroshot"]


def cached_batches(
    views: list[dict], subset: np.ndarray, batch_size: int, steps: int, seed: int
) -> Iterator[dict[str, np.ndarray]]:
    """`steps` training batches of the cached views' `subset` (video rows): epoch e reads
    augmented view e mod V, shuffled per epoch by the seed, as the cache iterator does."""
    rng = np.random.default_rng(seed)
    order, epoch = np.empty(0, np.int64), 0
    for _ in range(steps):
        while len(order) < batch_size:
            perm = subset[rng.permutation(len(subset))]
            order = np.concatenate([order, perm + epoch % len(views) * 10**9])
            epoch += 1
        take, order = order[:batch_size], order[batch_size:]
        view, rows = take // 10**9, take % 10**9
        yield {
            k: np.stack([views[v][k][r] for v, r in zip(view, rows, strict=True)])
            for k in (*features_lib.FEATURE_KEYS, "label")
        }


class HeadRuns:
    """One head's compiled train and evaluation steps (steps.make_train_step/make_eval_step),
    shared by all its runs: every run has the same shapes and schedule, so one trace serves."""

    def __init__(self, config, clip, entities, seeds: tuple[int, ...]):
        self.config = config
        # build_model(config.model, seed=s, ...) for every seed, traced once: the seed's key
        # (s + 1, as the builders use) is an argument instead of a constant.
        head = {"alt": ALT, "victr": VicTR}[config.model.head]
        init = nnx.jit(lambda clip, bank, key: head(clip, bank, config.model, rngs=nnx.Rngs(key)))
        self.init = {}
        for seed in seeds:
            model = init(clip, entities, jax.random.key(seed + 1))
            self.graphdef, self.init[seed], self.frozen = split_trainable(model)
        self.tx, _ = optim.make_optimizer(config.optim, config.num_train_steps)
        step = steps_lib.make_train_step(self.graphdef, self.tx, config.model.label_smoothing)
        self.train_step = jax.jit(step, donate_argnums=(0, 2))
        self.eval_step = jax.jit(steps_lib.make_eval_step(self.graphdef))
        self._ablated: dict = {}

    def fit(self, views: list[dict], subset: np.ndarray, class_emb, seed: int) -> nnx.State:
        """Trains from the seed's initialisation on the cached views of `subset` (video rows);
        epoch e reads augmented view e mod V, shuffled per epoch, as the cache iterator does."""
        cfg = self.config
        params = jax.tree_util.tree_map(jnp.array, self.init[seed])  # a copy: steps donate it
        if cfg.model.head == "alt" and cfg.model.probe.enabled:  # fitted on this run's clips
            batches = ({k: v[k][subset] for k in ("cls", "label", "index")} for v in views)
            rows = probe_fit.collect(batches, cfg.model.probe.views)  # one batch per view
            params, _ = probe_fit.fit_into(params, rows, class_emb)
        opt_state = self.tx.init(params)
        key = jax.random.key(seed)
        batches = cached_batches(views, subset, cfg.batch_size, cfg.num_train_steps, seed)
        for step, batch in enumerate(batches):
            params, opt_state, _ = self.train_step(
                params, self.frozen, opt_state, class_emb, batch, jax.random.fold_in(key, step)
            )
        return params

    def ablated_eval(self, kind: str):
        """The jitted evaluation step with the aligned entities replaced (ENTITY_ABLATIONS)."""
        if kind not in self._ablated:
            step = steps_lib.make_eval_step(self.graphdef, entity_ablation=kind)
            self._ablated[kind] = jax.jit(step)
        return self._ablated[kind]

    def evaluate(
        self, params, cache: dict[str, np.ndarray], class_emb, batch: int = 32, eval_step=None
    ) -> float:
        """Top-1 on a cached evaluation set (views averaged); the last batch is padded."""
        probs = self.probabilities(params, cache, class_emb, batch, eval_step)
        return evaluation.classification_metrics(probs, cache["label"])["top1"]

    def probabilities(
        self, params, cache: dict[str, np.ndarray], class_emb, batch: int = 32, eval_step=None
    ) -> np.ndarray:
        """Class probabilities [n, C] on a cached evaluation set (views averaged)."""
        eval_step = eval_step or self.eval_step
        n = len(cache["label"])
        probs = []
        for start in range(0, n, batch):
            rows = np.arange(start, start + batch) % n  # padded with repeats, dropped below
            views = {k: jnp.asarray(cache[k][rows]) for k in features_lib.FEATURE_KEYS}
            probs.append(np.asarray(eval_step(params, self.frozen, class_emb, views)))
        return np.concatenate(probs)[:n]


def top1_over_seeds(runner: HeadRuns, views: list[dict], val: dict, class_emb, label: str) -> list:
    """Trains `runner`'s head from each of its seeds on every cached training video of `views`
    and returns the top-1 on `val` per seed (printed with `label` as it goes)."""
    subset = np.arange(len(views[0]["label"]))
    top1 = []
    for seed in runner.init:
        params = runner.fit(views, subset, class_emb, seed)
        top1.append(runner.evaluate(params, val, class_emb))
        print(f"{label} seed={seed}: top-1 {100 * top1[-1]:.1f}", flush=True)
    return top1


def class_embeddings(config, clip, names_file: str) -> jax.Array:
    """The config's prompt-ensembled (and, if set, centred) class embeddings [C, d]."""
    names = sources.read_class_names(names_file)
    emb = text.class_embeddings(clip, names, tuple(config.model.prompt_templates))
    return jnp.asarray(text.center(emb) if config.model.center_class_embeddings else emb)


def text_separability(emb: jax.Array, names: list[str]) -> dict:
    """How far the frozen text tower tells class names apart, as the classifier sees them: mean
    cosine between names that differ only in the motion and between names that differ in the
    object, and the top-1 of a head that gets the object right and must guess the motion among
    the names sharing that object (the zero-shot ceiling when motion words carry nothing)."""
    e = np.asarray(emb, np.float64)
    e /= np.linalg.norm(e, axis=-1, keepdims=True)
    cos = e @ e.T
    objects = [name.split(" moving ")[0] for name in names]
    same_object, other_object = [], []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            (same_object if objects[i] == objects[j] else other_object).append(cos[i, j])
    shared = [objects.count(o) for o in objects]
    return {
        "cosine_same_object_other_motion": float(np.mean(same_object)) if same_object else None,
        "cosine_other_object": float(np.mean(other_object)) if other_object else None,
        "max_cosine_same_object": float(np.max(same_object)) if same_object else None,
        "object_only_top1_ceiling": 100.0 * float(np.mean([1.0 / k for k in shared])),
    }


def run(
    size_name: str,
    clip_source: str,
    workdir: str,
    *,
    workers: int = 2,
    rows_to_run: tuple[str, ...] = ("frame_average_clip", *MODELS),
    settings: tuple[int, ...] | None = None,
    reuse: bool = False,
    overrides: dict | None = None,
) -> dict:
    """Generates SynthAct, extracts the frozen features, trains the heads of `rows_to_run` in
    the `settings` (0 = supervised + zero-shot, K = K-shot; default all); returns the results.
    `reuse` keeps the data and feature cache of an earlier run in `workdir` (same size, CLIP)."""
    size = {**SIZES[size_name], **(overrides or {})}
    spec = size["spec"]
    settings = (0, *spec.shots) if settings is None else settings
    if clip_source != "random" and not (Path(clip_source) / "config.json").exists():
        raise FileNotFoundError(
            f"--clip={clip_source}: no CLIP folder there (config.json + model.safetensors); "
            'pass a folder or "random"'
        )
    workdir = os.path.abspath(workdir)
    data = os.path.join(workdir, "data")
    cache_dir = os.path.join(workdir, "features")
    reuse = reuse and os.path.exists(os.path.join(cache_dir, "eval_unseen.arrayrecord"))
    wall: dict[str, float] = {}
    total = time.perf_counter()
    if not reuse:
        shutil.rmtree(workdir, ignore_errors=True)
        os.makedirs(workdir)
        start = time.perf_counter()
        synthact.make_synthact_dataset(data, spec, workers=workers)
        wall["data_generation"] = time.perf_counter() - start
        start = time.perf_counter()
        synthact.write_corpus(data)
        wall["corpus"] = time.perf_counter() - start
    made = {
        "seen": sources.read_class_names(os.path.join(data, "classes.txt")),
        "unseen": sources.read_class_names(os.path.join(data, "unseen_classes.txt")),
        "num_videos": {
            split: len(sources.read_annotation_list(os.path.join(data, f"{split}.txt"), data))
            for split in ("train", "val", "unseen_val")
        },
    }

    # The frozen CLIP and the entity texts, shared by every run.
    start = time.perf_counter()
    base = run_config(size, data, clip_source, model=MODELS["alt"], shots=0, seed=0)
    clip = build_clip(base.model)
    entities = corpus_embeddings(base.model, clip)
    seen_emb = class_embeddings(base, clip, os.path.join(data, "classes.txt"))
    unseen_emb = class_embeddings(base, clip, os.path.join(data, "unseen_classes.txt"))
    wall["clip_and_text_encoding"] = time.perf_counter() - start
    separability = {
        "seen": text_separability(seen_emb, made["seen"]),
        "unseen": text_separability(unseen_emb, made["unseen"]),
    }

    # The frozen encoder once over every video (Trainer.extract_features), then into memory.
    start = time.perf_counter()
    base.feature_cache = cache_dir
    if not reuse:
        model = build_model(base.model, clip=clip, entity_embeddings=entities)
        extractor = Trainer(base, os.path.join(workdir, "extract"), model=model)
        extractor.extract_features(cache_dir, base.feature_train_views)
    views = [
        load_cache(os.path.join(cache_dir, f"train_view{v}.arrayrecord"))
        for v in range(base.feature_train_views)
    ]
    seen_val = load_cache(os.path.join(cache_dir, "eval_seen_val.arrayrecord"))
    unseen_val = load_cache(os.path.join(cache_dir, "eval_unseen.arrayrecord"))
    wall["feature_loading" if reuse else "feature_extraction"] = time.perf_counter() - start

    # Training rows of each setting and seed: positions in train.txt (the cache's "index").
    train_list = os.path.join(data, "train.txt")
    position = {r.path: i for i, r in enumerate(sources.read_annotation_list(train_list, data))}
    row_of = {int(i): row for row, i in enumerate(views[0]["index"])}
    subsets = {(0, seed): np.arange(len(position)) for seed in size["seeds"]}
    for k in spec.shots:
        for seed in size["seeds"]:
            shot_list = os.path.join(data, "fewshot", f"{k}shot_seed{seed}.txt")
            records = sources.read_annotation_list(shot_list, data)
            subsets[(k, seed)] = np.asarray([row_of[position[r.path]] for r in records])

    rows = {}
    if "frame_average_clip" in rows_to_run:
        # Frame-average CLIP: ALT at g = 0 is s · cos(mean_t f_t, t_c); no training.
        start = time.perf_counter()
        config = run_config(size, data, clip_source, model=MODELS["alt"], shots=0, seed=0)
        config.model.gate_init = 0.0
        runner = HeadRuns(config, clip, entities, (0,))
        seen = summary([runner.evaluate(runner.init[0], seen_val, seen_emb)])
        rows["frame_average_clip"] = {col: seen for col in columns(spec.shots)[:-1]}
        rows["frame_average_clip"]["zeroshot"] = summary(
            [runner.evaluate(runner.init[0], unseen_val, unseen_emb)]
        )
        wall["frame_average_clip"] = time.perf_counter() - start

    runs = []
    ablations: dict[str, dict[str, list[float]]] = {}  # kind → column → per-seed top-1
    for row, model_arg in {**MODELS, **ABLATIONS}.items():
        if row not in rows_to_run:
            continue
        start = time.perf_counter()
        runners: dict[int, HeadRuns] = {}  # by step count: the schedule is part of the step
        cells: dict[str, list[float]] = {col: [] for col in columns(spec.shots)}
        for shots in settings:
            for seed in size["seeds"]:
                run_start = time.perf_counter()
                steps = steps_for(size, len(subsets[(shots, seed)]))
                if steps not in runners:
                    config = run_config(
                        size, data, clip_source, model=model_arg, shots=0, seed=0, steps=steps
                    )
                    runners[steps] = HeadRuns(config, clip, entities, size["seeds"])
                runner = runners[steps]
                params = runner.fit(views, subsets[(shots, seed)], seen_emb, seed)
                seen = runner.evaluate(params, seen_val, seen_emb)
                unseen = runner.evaluate(params, unseen_val, unseen_emb)
                cells[f"{shots}shot" if shots else "supervised"].append(seen)
                if not shots:
                    cells["zeroshot"].append(unseen)
                if model_arg == MODELS["alt"]:
                    # ALT with its aligned entities replaced at evaluation, in every column.
                    scored = [(f"{shots}shot" if shots else "supervised", seen_val, seen_emb)]
                    if not shots:
                        scored.append(("zeroshot", unseen_val, unseen_emb))
                    for kind in ENTITY_ABLATIONS:
                        ablated = runner.ablated_eval(kind)
                        for col, cache, emb in scored:
                            top1 = runner.evaluate(params, cache, emb, eval_step=ablated)
                            ablations.setdefault(kind, {}).setdefault(col, []).append(top1)
                runs.append(
                    {
                        "model": row,
                        "shots": shots,
                        "seed": seed,
                        "steps": steps,
                        "seen_val_top1": seen,
                        "unseen_top1": unseen,
                        "seconds": time.perf_counter() - run_start,
                    }
                )
                print(
                    f"{row} shots={shots} seed={seed}: seen {100 * seen:.1f} "
                    f"unseen {100 * unseen:.1f} ({runs[-1]['seconds']:.1f} s)",
                    flush=True,
                )
        rows[row] = {col: summary(values) for col, values in cells.items() if values}
        wall[f"train_and_eval_{row}"] = time.perf_counter() - start
    wall["total"] = time.perf_counter() - total

    return {
        "benchmark": "synthact",
        "size": size_name,
        "clip": clip_source,
        "clip_sha256": clip_fingerprint(clip_source),
        "machine": machine(),
        "data": {
            "seen_classes": made["seen"],
            "unseen_classes": made["unseen"],
            "num_videos": made["num_videos"],
            "spec": dict(vars(spec)),
        },
        "protocol": {
            "seeds": list(size["seeds"]),
            "train_steps": size["steps"] if not size.get("passes") else None,
            "passes": size.get("passes"),
            "batch_size": base.batch_size,
            "frames": size["frames"],
            "tome_r": size.get("r", 10),
            "gate_init": base.model.gate_init,
            "overrides": {k: str(v) for k, v in size.get("set", {}).items()},
            "feature_train_views": base.feature_train_views,
            "metric": "top-1 % (mean, population std, min, max over seeds)",
        },
        "text_separability": separability,
        "columns": columns(spec.shots),
        "rows": rows,
        "entity_ablations": {
            kind: {col: summary(v) for col, v in cols.items()} for kind, cols in ablations.items()
        },
        "runs": runs,
        "wall_time_s": wall,
    }


README_BEGIN = "<!-- synthact-table:begin -->"
README_END = "<!-- synthact-table:end -->"


def write_readme_table(readme: str | os.PathLike, table: str) -> None:
    """Replaces the text between the SynthAct markers of README.md by `table`."""
    text = Path(readme).read_text()
    if README_BEGIN not in text or README_END not in text:
        raise ValueError(f"{readme} has no {README_BEGIN} ... {README_END} section")
    head, rest = text.split(README_BEGIN, 1)
    tail = rest.split(README_END, 1)[1]
    Path(readme).write_text(f"{head}{README_BEGIN}\n{table}\n{README_END}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument(
        "--clip",
        default=str(Path(alt_jax.__file__).parent / "assets" / "synthclip"),
        help='CLIP folder (config.json + model.safetensors), or "random"',
    )
    parser.add_argument("--workdir", default="/tmp/synthact")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "synthact.json"))
    parser.add_argument("--workers", type=int, default=2, help="video encoding processes")
    parser.add_argument("--readme", action="store_true", help="write the table into README.md")
    parser.add_argument("--rows", default=",".join(["frame_average_clip", *MODELS]))
    parser.add_argument("--settings", default="", help="0 (supervised), K (K-shot); default all")
    parser.add_argument("--reuse", action="store_true", help="keep the workdir's data + features")
    parser.add_argument("--steps", type=int, default=0, help="training steps (0: the size's)")
    parser.add_argument(
        "--passes",
        type=float,
        default=-1,
        help="passes over each setting's training videos (steps follow); 0: fixed --steps; "
        "-1: the size's",
    )
    parser.add_argument("--r", type=int, default=-1, help="ToMe r (-1: the size's, 10)")
    parser.add_argument(
        "--gate_init", type=float, default=-1, help="g and g_e at init (-1: the config's, 1)"
    )
    parser.add_argument(
        "--merge", action="store_true", help="add these rows' cells to the --out JSON's"
    )
    parser.add_argument(
        "--set", action="append", default=[], help="config override of every run: key=value"
    )
    args = parser.parse_args()
    sets = parse_sets(parser, args.set)
    logging.getLogger().setLevel(logging.WARNING)
    rows = tuple(args.rows.split(","))
    unknown = set(rows) - {"frame_average_clip", *MODELS, *ABLATIONS}
    if unknown:
        parser.error(f"--rows: unknown {sorted(unknown)}")
    settings = tuple(int(k) for k in args.settings.split(",")) if args.settings else None
    results = run(
        args.size,
        args.clip,
        args.workdir,
        workers=args.workers,
        rows_to_run=rows,
        settings=settings,
        reuse=args.reuse,
        overrides={
            **({"steps": args.steps} if args.steps else {}),
            **({"passes": args.passes} if args.passes >= 0 else {}),
            **({"r": args.r} if args.r >= 0 else {}),
            **({"gate": args.gate_init} if args.gate_init >= 0 else {}),
            **({"set": sets} if sets else {}),
        },
    )
    if args.merge and Path(args.out).exists():
        earlier = json.loads(Path(args.out).read_text())
        for row, cells in results["rows"].items():
            earlier["rows"].setdefault(row, {}).update(cells)
        done = {(r["model"], r["shots"]) for r in results["runs"]}
        kept = [r for r in earlier["runs"] if (r["model"], r["shots"]) not in done]
        earlier["runs"] = kept + results["runs"]
        earlier.setdefault("wall_time_s_later_runs", []).append(results["wall_time_s"])
        # Facts of this call's data and text, not of one row: the latest call's stand.
        earlier["text_separability"] = results["text_separability"]
        if results["entity_ablations"]:
            earlier["entity_ablations"] = results["entity_ablations"]
        results = earlier
    write_json(args.out, results)
    table = synthact_table(results)
    print(table)
    print(json.dumps(results["wall_time_s"], indent=1))
    if args.readme:
        write_readme_table(ROOT / "README.md", table)


if __name__ == "__main__":
    main()
