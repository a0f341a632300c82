"""Classifies videos with a trained ALT or VicTR run; for ALT, says which entities it saw in each
frame.

    python -m alt_jax.predict --workdir=RUN VIDEO [VIDEO ...] [--step=STEP] [--labels=FILE]
        [--json] [--top_k=5] [--entities=3]

Each video is decoded as the run's (first) evaluation set is: its frame sampling, size, clips and
crops; the class probabilities are the softmax of the logits averaged over those views. Per frame
it lists the entities its token-merging regions were aligned to, weighted by region size (an ALT
with entity queries; VicTR aligns no regions to entities, so one line says so instead).
`--labels` swaps in another class list (zero-shot): its class embeddings come from the frozen
text tower with the run's prompt templates. A missing or unreadable video or workdir is named on
stderr and the exit code is 2 (the other videos are still classified).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

EXIT_BAD_INPUT = 2


def _int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an int >= `minimum` (argparse names the flag in its error)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def add_run_input_flags(parser: argparse.ArgumentParser, *, labels: bool = True) -> None:
    """The flags that give a moved run's inputs again (restore.load_run): --backbone, --corpus
    and --labels. Here, not in restore, so that --help answers without importing JAX."""
    parser.add_argument("--backbone", help="CLIP folder, when the run's recorded one is gone")
    parser.add_argument("--corpus", help="entity corpus JSON, when the run's recorded one is gone")
    if labels:
        parser.add_argument("--labels", help="class names file (or a shipped list: k400, ...)")


def load_flagged_run(args: argparse.Namespace, step: int | None):
    """restore.load_run of `args.workdir` at `step`, with the inputs the run-input flags give."""
    from alt_jax.train import restore  # JAX on use: this module's --help answers without it

    return restore.load_run(
        args.workdir,
        step,
        backbone=args.backbone,
        corpus=args.corpus,
        labels=getattr(args, "labels", None),
    )


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line flags; a bad value exits 2 with argparse's one-line error."""
    parser = argparse.ArgumentParser(prog="python -m alt_jax.predict", description=__doc__)
    parser.add_argument("videos", nargs="+", metavar="VIDEO", help="video files")
    parser.add_argument("--workdir", help="training workdir (python -m alt_jax.main --workdir)")
    parser.add_argument(
        "--step",
        "--checkpoint",  # the old name, still accepted
        dest="step",
        help="checkpoint step (default: the latest), or a checkpoint folder "
        "WORKDIR/checkpoints/STEP; --checkpoint is a deprecated alias",
    )
    parser.add_argument("--labels", help="class names, one per line (or a shipped list: k400, ...)")
    add_run_input_flags(parser, labels=False)  # predict's --labels also swaps classes
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--top_k", type=_int_at_least(1), default=5, help="classes shown per video (>= 1)"
    )
    parser.add_argument(
        "--entities", type=_int_at_least(0), default=3, help="entities shown per frame (>= 0)"
    )
    args = parser.parse_args(argv)
    if args.step and not args.step.isdigit():  # a checkpoint folder
        folder = Path(args.step)
        if not folder.name.isdigit() or folder.parent.name != "checkpoints":
            parser.error(f"--step {args.step}: expected a step or WORKDIR/checkpoints/STEP")
        args.workdir = args.workdir or str(folder.parent.parent)
        args.step = folder.name
    if not args.workdir:
        parser.error("--workdir (or --step=WORKDIR/checkpoints/STEP) is required")
    return args


def no_alignment_reason(config: Any) -> str | None:
    """Why a run's model has no per-frame entities (its model config), or None if it has."""
    if config.head == "victr":
        return "VicTR runs have no region-entity alignment"
    if config.get("queries", "entities") == "learned":
        return "ALT runs with learned queries have no region-entity alignment"
    return None


def predict_video(run, class_emb, names, spec, path: str, top_k: int, k_entities: int) -> dict:
    """One video's top classes and per-frame entities (raises VideoDecodeError naming it); a
    model without region-entity alignment gets no frames and a `note` saying why."""
    # JAX on use: this module's --help and its argument checks answer without it.
    from alt_jax import explain
    from alt_jax.data import samples

    sample = samples.load_eval_sample(
        {"video": path, "label": 0, "index": 0}, spec=spec, strict=True
    )
    out = explain.explain_views(run.model, sample["video"], class_emb)
    result = {
        "video": path,
        "top": [
            {"class": name, "probability": p}
            for name, p in explain.top_classes(out["probs"], names, top_k)
        ],
        "frames": [],
    }
    if "entity_index" not in out:
        reason = no_alignment_reason(run.config.model) or "the model aligns no regions"
        return {**result, "note": f"no per-frame entities: {reason}"}
    result["frames"] = [
        [{"entity": name, "share": share} for name, share in frame]
        for frame in explain.frame_entities(
            out["entity_index"], out["dest"], run.entity_names, k_entities
        )
    ]
    return result


def print_text(result: dict[str, Any]) -> None:
    """The human-readable report of one video."""
    print(result["video"])
    for rank, entry in enumerate(result["top"], start=1):
        print(f"  {rank}. {entry['class']:<40s} {100 * entry['probability']:6.2f}%")
    for f, frame in enumerate(result["frames"]):
        seen = ", ".join(f"{e['entity']} {100 * e['share']:.0f}%" for e in frame)
        print(f"  frame {f}: {seen}")
    if "note" in result:
        print(f"  ({result['note']})")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    missing = [v for v in args.videos if not os.path.isfile(v)]
    errors = [f"{v}: no such video file" for v in missing]
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    videos = [v for v in args.videos if v not in missing]
    if not videos:
        return EXIT_BAD_INPUT

    # JAX and the frameworks load only now, after the arguments are checked (a missing file is
    # reported at once), and quieted before they load.
    from alt_jax.logs import quiet_frameworks

    quiet_frameworks()
    # JAX's side of the package, now that the frameworks' start-up lines are filtered.
    from alt_jax.data import decode, samples
    from alt_jax.labels import load_labels
    from alt_jax.train import restore

    try:
        run = load_flagged_run(args, int(args.step) if args.step else None)
        names = load_labels(args.labels) if args.labels else run.class_names
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    class_emb = restore.class_embeddings(run, names)
    cfg = next(iter(run.config.evals.values())) if run.config.evals else run.config.data
    spec = samples.ClipSpec(
        num_frames=cfg.num_frames,
        image_size=cfg.image_size,
        stride=cfg.stride or None,
        num_clips=cfg.num_clips,
        num_crops=cfg.num_crops,
        # Runs recorded before the field existed get the default; a larger video is named below.
        max_frame_pixels=cfg.get("max_frame_pixels", decode.DEFAULT_MAX_FRAME_PIXELS),
    )
    results = []
    for video in videos:
        try:
            result = predict_video(run, class_emb, names, spec, video, args.top_k, args.entities)
        except decode.VideoDecodeError as e:
            errors.append(str(e))
            print(f"error: {e}", file=sys.stderr)
            continue
        results.append(result)
        if not args.json:
            print_text(result)
    if args.json:
        document = {
            "workdir": os.path.abspath(args.workdir),
            "step": run.step,
            "classes": len(names),
            "videos": results,
            "errors": errors,
        }
        print(json.dumps(document, indent=1))
    return EXIT_BAD_INPUT if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
