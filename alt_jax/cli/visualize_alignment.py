"""Draws a trained ALT run's entity-to-region alignment on one video's sampled frames.

    alt-jax-visualize --workdir=RUN VIDEO --out=alignment.png [--gif]
        [--step=STEP] [--columns=4]

Every token-merging region of every frame is filled (alpha blend) in the colour of the entity it
was aligned to, over a legend of the entity names. Frames are sampled as the run's evaluation
set samples them (first clip, centre crop). --gif also writes an animated GIF next to the PNG
(same name, .gif), one frame at a time over the legend. A run without that alignment (VicTR, or
ALT with learned queries) exits 2 with one line saying so.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from alt_jax.predict import (
    add_run_input_flags,
    load_flagged_run,
    no_alignment_reason,
)


def main(argv: list[str] | None = None) -> int:
    """Draws the picture (see the module docstring); a bad input exits 2 with one line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", help="video file")
    parser.add_argument(
        "--workdir", required=True, help="training workdir (python -m alt_jax.main --workdir)"
    )
    parser.add_argument(
        "--step",
        "--checkpoint",  # the old name, still accepted
        dest="step",
        type=int,
        default=None,
        help="checkpoint step (default: the latest); --checkpoint is a deprecated alias",
    )
    parser.add_argument("--out", required=True, help="PNG path")
    parser.add_argument("--gif", action="store_true", help="also write an animated GIF")
    parser.add_argument("--columns", type=int, default=None, help="frames per row (default: all)")
    add_run_input_flags(parser)
    args = parser.parse_args(argv)
    if not os.path.isfile(args.video):
        print(f"error: {args.video}: no such video file", file=sys.stderr)
        return 2

    # imported here: --help and a missing video answer before JAX loads
    from alt_jax.logs import quiet_frameworks

    quiet_frameworks()
    # imported here: --help and a missing video answer before JAX loads
    from alt_jax import explain, viz
    from alt_jax.data import decode, samples
    from alt_jax.train import restore

    try:
        run = load_flagged_run(args, args.step)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    reason = no_alignment_reason(run.config.model)
    if reason is not None:  # nothing to draw: said before a video is decoded
        print(f"error: {args.workdir}: {reason} to draw", file=sys.stderr)
        return 2
    cfg = next(iter(run.config.evals.values())) if run.config.evals else run.config.data
    spec = samples.ClipSpec(
        num_frames=cfg.num_frames, image_size=cfg.image_size, stride=cfg.stride or None
    )
    element = {"video": args.video, "label": 0, "index": 0}
    try:
        views = samples.load_eval_sample(element, spec=spec, strict=True)["video"]
    except decode.VideoDecodeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = explain.explain_views(run.model, views, restore.class_embeddings(run))
    patch = run.model.clip.config.vision.patch_size
    drawing = (views[0], out["entity_index"], out["dest"], run.entity_names, patch)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    viz.write_png(viz.alignment_grid(*drawing, columns=args.columns), args.out)
    print(f"wrote {args.out}")
    if args.gif:
        gif = Path(args.out).with_suffix(".gif")
        viz.write_gif(viz.alignment_animation(*drawing), gif)
        print(f"wrote {gif}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
