"""Saves a random-weight transformers CLIP, loads it through `alt_jax.load_clip`, prints parity.

    alt-jax-parity --config=B/32 [--config=B/16 ...]

The path a real checkpoint takes: `CLIPModel.save_pretrained` → folder → `load_clip(folder)`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import jax.numpy as jnp
import numpy as np
import torch
from transformers import CLIPConfig, CLIPModel

from alt_jax import get_preset, load_clip, tokenize


def relative_error(ours, ref: np.ndarray) -> float:
    """max |ours - ref| over the largest reference row norm."""
    return float(
        np.abs(np.asarray(ours, np.float32) - ref).max() / np.linalg.norm(ref, axis=-1).max()
    )


def parity(preset: str, seed: int = 0) -> dict[str, float]:
    """Relative errors of image/text/dense features and logits, float32 and bfloat16 compute."""
    cfg = get_preset(preset)
    torch.manual_seed(seed)
    torch_model = CLIPModel(CLIPConfig(**cfg.to_transformers_dict())).eval()
    size = cfg.vision.image_size
    images = np.random.default_rng(seed).standard_normal((2, size, size, 3)).astype(np.float32)
    ids = tokenize(["a video of a person playing guitar.", "a photo of a dog", "abseiling"])
    pixels = torch.tensor(images).permute(0, 3, 1, 2)
    with torch.no_grad():
        hidden = torch_model.vision_model(pixel_values=pixels).last_hidden_state
        ref = {
            "image": torch_model.get_image_features(pixel_values=pixels).pooler_output,
            "text": torch_model.get_text_features(input_ids=torch.tensor(ids).long()).pooler_output,
            "dense": torch_model.visual_projection(torch_model.vision_model.post_layernorm(hidden)),
            "logits": torch_model(
                input_ids=torch.tensor(ids).long(), pixel_values=pixels
            ).logits_per_image,
        }
    ref = {k: v.numpy() for k, v in ref.items()}
    out = {}
    with tempfile.TemporaryDirectory() as folder:
        torch_model.save_pretrained(folder)
        for dtype in (jnp.float32, jnp.bfloat16):
            start = time.perf_counter()
            model = load_clip(folder, dtype=dtype)
            load_s = time.perf_counter() - start
            ours = {
                "image": model.encode_image(jnp.asarray(images)),
                "text": model.encode_text(jnp.asarray(ids)),
                "dense": model.encode_image_dense(jnp.asarray(images)),
                "logits": model(jnp.asarray(images), jnp.asarray(ids))[0],
            }
            tag = jnp.dtype(dtype).name
            out[f"load_s_{tag}"] = load_s
            for name in ref:
                out[f"{name}_{tag}"] = relative_error(ours[name], ref[name])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config",
        action="append",
        default=None,
        help="CLIP preset (B/32, B/16, L/14, L/14@336, tiny); repeatable",
    )
    args = parser.parse_args(argv)
    for preset in args.config or ["B/32"]:
        r = parity(preset)
        print(
            f"CLIP {preset}: random weights saved with save_pretrained, loaded by load_clip "
            f"({r['load_s_float32']:.1f} s)"
        )
        print("  max|diff| / max feature norm vs transformers.CLIPModel")
        for dtype in ("float32", "bfloat16"):
            print(
                f"  {dtype:9s} "
                + "  ".join(
                    f"{k}={r[f'{k}_{dtype}']:.2e}" for k in ("image", "text", "dense", "logits")
                )
            )
        ok = all(r[f"{k}_float32"] <= 1e-4 for k in ("image", "text", "dense", "logits"))
        print(f"  float32 parity within 1e-4: {'yes' if ok else 'NO'}")
        if not ok:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
