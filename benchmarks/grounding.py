"""Untrained alignment grounding on the demo data: entity text forms × region features × CLIPs,
and the ceiling a linear probe reaches from the same patch features.

    PYTHONPATH=. python benchmarks/grounding.py --data=demo_out/data
    PYTHONPATH=. python benchmarks/grounding.py --clip=old:/tmp/oldclip --clip=shipped

The alignment measured is ALT's at initialisation and evaluation (no Gumbel noise): each region
takes argmax_k cos(LN(E) W_r, s_k) with W_r = CLIP's visual projection, over the data's entity
corpus encoded in each text form (alt_jax.corpus.ENTITY_TEXT_FORMS). Alignment quality as in
alt_jax/grounding.py, on the first evaluation view of every validation video. The probe: ridge
regression from each patch's post-LN token to its label (the object's name, or the background's
scene entity), fitted on the training videos' first views, scored on validation object patches:
how much of what the entities name the patch features hold, text or no text.
Writes benchmarks/results/grounding.json.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import alt_jax
from alt_jax import grounding
from alt_jax.builders import build_clip
from alt_jax.configs_lib import sibling_config
from alt_jax.corpus import ENTITY_TEXT_FORMS, entity_embeddings, read_entities
from alt_jax.data import samples, sampling, sources, synthetic_files
from alt_jax.data.normalize import normalize_clip
from alt_jax.models.alt import frozen_video_features
from alt_jax.models.clip import REGION_FEATURES
from benchmarks.common import load_average, machine, write_json
from benchmarks.synthact import clip_fingerprint

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = str(Path(alt_jax.__file__).parent / "assets" / "synthclip")
# Prompt templates of the "templates" forms: one, and an ensemble of five.
TEMPLATE_SETS = {
    "one": ("a photo of a {}.",),
    "five": (
        "a photo of a {}.",
        "a {}.",
        "a picture of a {}.",
        "there is a {} in the scene.",
        "a video frame of a {}.",
    ),
}


def views_of(data: str, split: str, spec: samples.ClipSpec) -> list[dict]:
    """The first evaluation view, masks and background of every video of a split."""
    out = []
    for record in sources.read_annotation_list(os.path.join(data, f"{split}.txt"), data):
        sample = samples.load_eval_sample(
            {"path": record.path, "video": record.path, "label": record.label, "index": 0},
            spec=spec,
            strict=True,
        )
        coverage, names = synthetic_files.read_object_masks(record.path)
        frames = sampling.eval_indices(len(coverage), spec.num_frames)[0]
        out.append(
            {
                "video": sample["video"][0],
                "coverage": grounding.eval_view_masks(coverage[frames], spec.image_size),
                "names": names[frames],
                "background": synthetic_files.read_background(record.path),
            }
        )
    return out


def encode(clip, videos: list[dict], batch: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Post-LN region tokens [V, T, 1 + M, D] and region maps [V, T, 1 + N]."""
    run = jax.jit(lambda v: frozen_video_features(clip, normalize_clip(v)))
    ln, dest = [], []
    for start in range(0, len(videos), batch):
        chunk = np.stack([v["video"] for v in videos[start : start + batch]])
        out = run(jnp.asarray(chunk))
        ln.append(np.asarray(out["ln"]))
        dest.append(np.asarray(out["dest"]))
    return np.concatenate(ln), np.concatenate(dest)


def measure(entity_index, dest, videos, units) -> dict:
    """alt_jax.grounding's summary of one alignment over the validation views."""
    counts = grounding.GroundingCounts(list(units))
    for i, v in enumerate(videos):
        counts.add(entity_index[i], dest[i], v["coverage"], v["names"], v["background"])
    return counts.summary()


def patch_probe(train, train_ln, val, val_ln, patch: int) -> float:
    """Top-1 of ridge regression from patch tokens to their labels on validation object
    patches (r = 0 features: one token per patch)."""

    def rows(videos, ln):
        x, y = [], []
        for v, tokens in zip(videos, ln, strict=True):
            for t in range(len(tokens)):
                vocabulary: list[str] = []
                labels = grounding.patch_labels(
                    v["coverage"][t : t + 1], v["names"][t : t + 1], vocabulary, patch
                )[0]
                for p, label in enumerate(labels):
                    if label >= 0:
                        x.append(tokens[t, 1 + p])
                        y.append(vocabulary[label])
                    elif label == grounding.BACKGROUND:
                        x.append(tokens[t, 1 + p])
                        y.append(v["background"])
        return np.asarray(x, np.float64), y

    x, y = rows(train, train_ln)
    vx, vy = rows(val, val_ln)
    classes = sorted(set(y))
    index = {c: i for i, c in enumerate(classes)}
    mean, std = x.mean(0), x.std(0) + 1e-6
    x, vx = (x - mean) / std, (vx - mean) / std
    targets = np.eye(len(classes))[[index[c] for c in y]]
    w = np.linalg.solve(x.T @ x + 1.0 * len(x) * np.eye(x.shape[1]), x.T @ targets)
    pred = [classes[i] for i in (vx @ w).argmax(1)]
    hits = [p == t for p, t in zip(pred, vy, strict=True) if "background" not in t]
    return float(np.mean(hits))


def run(args) -> dict:
    data = os.path.abspath(args.data)
    config = sibling_config(str(ROOT / "configs" / "demo.py"), "demo", data)
    spec = samples.ClipSpec(num_frames=config.model.num_frames, image_size=config.data.image_size)
    val = views_of(data, "val", spec)
    train = views_of(data, "train", spec)
    entries = read_entities(config.model.corpus.path)
    units = [e["unit"] for e in entries]
    results = {"clips": {}}
    for name, source in args.clip:
        config.model.backbone.source = source
        config.model.tome_r = 0
        per_clip = {"sha256": clip_fingerprint(source), "alignment": {}}
        for features in REGION_FEATURES:
            config.model.region_features = features
            clip = build_clip(config.model)
            val_ln, val_dest = encode(clip, val)
            if features == "tokens":
                train_ln = encode(clip, train)[0]
                patch = clip.config.vision.patch_size
                per_clip["patch_probe"] = patch_probe(train, train_ln, val, val_ln, patch)
            w_r = np.asarray(clip.visual_projection.kernel[...], np.float32)
            x = val_ln[:, :, 1:] @ w_r
            x /= np.linalg.norm(x, axis=-1, keepdims=True)
            for form in ENTITY_TEXT_FORMS:
                for label, templates in TEMPLATE_SETS.items():
                    if form in ("unit", "pair") and label != "one":
                        continue  # no templates in these forms
                    s = entity_embeddings(
                        entries, clip, cache_dir=None, text_form=form, templates=templates
                    )
                    index = (x @ s.T).argmax(-1)
                    key = form if form in ("unit", "pair") else f"{form} ({label})"
                    summary = measure(index, val_dest, val, units)
                    per_clip["alignment"].setdefault(features, {})[key] = summary
                    print(
                        f"{name} {features:9s} {key:24s} grounding {100 * summary['grounding']:5.1f}"
                        f" background {100 * (summary['background_grounding'] or 0):5.1f}"
                        f" most used {100 * summary['most_used_share']:5.1f}"
                        f" ({summary['top_entities'][0][0]})",
                        flush=True,
                    )
        results["clips"][name] = per_clip
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="demo_out/data", help="make demo's dataset folder")
    parser.add_argument(
        "--clip",
        action="append",
        default=[],
        help="NAME:FOLDER of a CLIP to measure, or 'shipped' (alt_jax/assets/synthclip)",
    )
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "grounding.json"))
    args = parser.parse_args()
    logging.getLogger().setLevel(logging.WARNING)
    args.clip = [
        ("shipped", SHIPPED) if c == "shipped" else tuple(c.split(":", 1))
        for c in args.clip or ["shipped"]
    ]
    start, load_start = time.perf_counter(), load_average()
    results = run(args)
    results.update(
        benchmark="grounding",
        machine=machine(),
        command="PYTHONPATH=. python benchmarks/grounding.py "
        + " ".join(f"--clip={n}:{s}" if n != "shipped" else "--clip=shipped" for n, s in args.clip),
        protocol={
            "data": "make demo's data (8 classes, 64 validation videos, 8 frames at 112 px, r = 0)",
            "alignment": "argmax_k cos(LN(E) W_r, s_k), W_r = CLIP's visual projection (untrained)",
            "templates": {k: list(v) for k, v in TEMPLATE_SETS.items()},
        },
        load_average_start=load_start,
        load_average_end=load_average(),
        wall_time_s=time.perf_counter() - start,
    )
    write_json(args.out, results)


if __name__ == "__main__":
    main()
