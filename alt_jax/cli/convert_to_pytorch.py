"""Converts a trained ALT or VicTR run into a PyTorch package and a transformers CLIP folder.

    alt-jax-export --workdir=RUN --out=EXPORT [--step=N] [--check]

EXPORT/config.json + EXPORT/model.safetensors load with
`alt_jax.torch.ALTForVideoClassification.from_pretrained(EXPORT)` for an ALT run (head "alt"),
`alt_jax.torch.VicTRForVideoClassification.from_pretrained(EXPORT)` for a VicTR run (head
"victr"), or either with `transformers.AutoModel` / `AutoModelForVideoClassification` after
`import alt_jax.torch` (with `trust_remote_code=True` without it);
EXPORT/clip/ is the backbone (both towers) for `transformers.CLIPModel.from_pretrained`;
EXPORT/video_preprocessor_config.json is the video processor (`AutoProcessor`, the
video-classification pipeline) with the run's first evaluation set's frames, size and views, as
`predict` uses them; EXPORT/README.md is the model card (classes, training data, the top-1 of
the run's evaluation report at the exported step, usage).
`--check` runs the JAX and the PyTorch model on one random clip and prints the largest logit
difference.

Without --workdir, `--random=B/16` converts an ALT with random weights at that CLIP preset
(a non-zero gate so the adapter path counts) to measure the parity at full size:

    alt-jax-export --random=B/16 --tome_r=16 --num_frames=8 --out=/tmp/x --check

`--adapter=KEY=VALUE` (repeatable) sets a `model.adapter` knob of the random ALT, e.g.
`--adapter=kind=global` or `--adapter=readout=video_token --adapter=frame_window=1`.
`--head=victr` makes the random model a VicTR (64 random auxiliary texts, gates 1), with
`--victr=KEY=VALUE` setting its `model.victr` knobs, e.g. `--victr=pooling=mean`.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from alt_jax.predict import add_run_input_flags, load_flagged_run

if TYPE_CHECKING:
    import ml_collections
    from flax import nnx

# What an export writes into --out: rewriting a folder holding only these is expected.
EXPORT_NAMES = {
    "config.json": "file",
    "model.safetensors": "file",
    "clip": "folder",
    # transformers remote code (AutoModel.from_pretrained(..., trust_remote_code=True))
    "modeling_alt.py": "file",
    "modeling_victr.py": "file",  # VicTR exports
    "modeling_adapter.py": "file",
    "modeling_clip_video.py": "file",
    "configuration_alt.py": "file",
    "tome.py": "file",
    "video_processing_alt.py": "file",  # the video processor (AutoProcessor, the pipeline)
    "video_preprocessor_config.json": "file",
    "README.md": "file",  # the model card
    "alt.py": "file",  # exports written before the modeling_* names (CHANGELOG.md)
    "victr.py": "file",
}


def check_out_folder(out: str | os.PathLike) -> None:
    """ValueError unless `out` can take an export: a new folder, an empty one, or an earlier
    export (only config.json, model.safetensors, clip/ and the model's code files), which is
    overwritten.

    Other folders are refused so an export never overwrites someone's config.json.
    """
    out = Path(out)
    for path in (out, *out.parents):  # the nearest existing path must be a folder
        if path.is_dir():
            break
        if path.exists():
            if path == out:
                raise ValueError(f"--out={out} is a file; give a folder (new, empty or an export)")
            raise ValueError(f"--out={out} cannot be created: {path} is a file")
    if not out.is_dir():
        return
    contents = sorted(out.iterdir())
    foreign = [
        p.name for p in contents if EXPORT_NAMES.get(p.name) != ("folder" if p.is_dir() else "file")
    ]
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise ValueError(
            f"--out={out} is a non-empty folder and not an earlier export (it holds {shown}); "
            "give a new or empty folder"
        )


def parse_knobs(items: list[str], flag: str = "--adapter") -> dict[str, object]:
    """["readout=mean", "frame_window=1"] → {"readout": "mean", "frame_window": 1}."""
    knobs: dict[str, object] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep:
            raise ValueError(f"{flag} takes KEY=VALUE, got {item!r}")
        try:
            knobs[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            knobs[key] = text  # a bare word is a string (kind=global)
    return knobs


def random_config(
    head: str, preset: str, tome_r: int, num_frames: int, knobs: dict[str, object] | None
) -> ml_collections.ConfigDict:
    """The model config of a random `head` ("alt", "victr") at `preset`, `knobs` overriding its
    head's knobs (`model.adapter` for ALT, `model.victr` for VicTR)."""
    # imported here: --help and a refused --out answer before JAX and the model code load
    from alt_jax.configs_lib import default_model_config

    config = default_model_config()
    config.head = head
    config.backbone.preset = preset
    config.tome_r = tome_r
    config.num_frames = num_frames
    section = "adapter" if head == "alt" else "victr"
    for key, value in (knobs or {}).items():
        if key not in config[section]:
            raise ValueError(f"unknown {section} knob {key!r}; known: {sorted(config[section])}")
        config[section][key] = value
    return config


def random_alt(
    preset: str,
    tome_r: int,
    num_frames: int,
    num_entities: int,
    seed: int,
    adapter: dict[str, object] | None = None,
) -> tuple[nnx.Module, ml_collections.ConfigDict, list[str]]:
    """(model, model config, entity names): ALT at `preset` with random weights and gate 0.5,
    `adapter` overriding `model.adapter` knobs."""
    import jax.numpy as jnp

    # imported here: --help and a refused --out answer before JAX and the model code load
    from alt_jax.builders import build_alt
    from alt_jax.models.clip_config import get_preset

    config = random_config("alt", preset, tome_r, num_frames, adapter)
    d = get_preset(preset).projection_dim
    rng = np.random.default_rng(seed)
    entities = rng.normal(size=(num_entities, d)).astype(np.float32)
    entities /= np.linalg.norm(entities, axis=-1, keepdims=True)
    model = build_alt(config, entity_embeddings=entities, seed=seed)
    model.gate[...] = jnp.asarray(0.5, jnp.float32)
    return model, config, [f"entity {i}" for i in range(num_entities)]


def random_victr(
    preset: str,
    tome_r: int,
    num_frames: int,
    num_auxiliary: int,
    seed: int,
    victr: dict[str, object] | None = None,
) -> tuple[nnx.Module, ml_collections.ConfigDict, list[str]]:
    """(model, model config, auxiliary text names): VicTR at `preset` with random weights,
    `victr` overriding `model.victr` knobs."""
    # imported here: --help and a refused --out answer before JAX and the model code load
    from alt_jax.builders import build_victr
    from alt_jax.models.clip_config import get_preset

    config = random_config("victr", preset, tome_r, num_frames, victr)
    if not config.victr.aux_texts:
        num_auxiliary = 0
    d = get_preset(preset).projection_dim
    auxiliary = np.random.default_rng(seed).normal(size=(num_auxiliary, d)).astype(np.float32)
    model = build_victr(config, auxiliary_embeddings=auxiliary, seed=seed)
    return model, config, [f"text {i}" for i in range(num_auxiliary)]


def main(argv: list[str] | None = None) -> None:
    """Converts (see the module docstring); a bad flag or --out exits 2 with one line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", help="training workdir (python -m alt_jax.main --workdir)")
    parser.add_argument(
        "--step", type=int, default=None, help="checkpoint step (default: the latest)"
    )
    parser.add_argument("--out", required=True, help="output folder (new, empty or an export)")
    add_run_input_flags(parser)
    parser.add_argument("--check", action="store_true", help="print max |logit diff| JAX vs torch")
    parser.add_argument("--random", default=None, help="CLIP preset of a random-weight ALT")
    parser.add_argument(
        "--tome_r", type=int, default=16, help="with --random: tokens merged per layer (ToMe r)"
    )
    parser.add_argument("--num_frames", type=int, default=8, help="with --random: frames per clip")
    parser.add_argument("--seed", type=int, default=0, help="seed of random weights and --check")
    parser.add_argument(
        "--adapter", action="append", default=[], help="with --random: KEY=VALUE adapter knob"
    )
    parser.add_argument(
        "--head", choices=("alt", "victr"), default="alt", help="with --random: the head"
    )
    parser.add_argument(
        "--victr", action="append", default=[], help="with --random --head=victr: KEY=VALUE knob"
    )
    args = parser.parse_args(argv)
    if bool(args.workdir) == bool(args.random):
        parser.error("give exactly one of --workdir and --random")
    if (args.adapter or args.victr or args.head != "alt") and not args.random:
        parser.error(
            "--adapter, --head and --victr go with --random (a run's head is in its checkpoint)"
        )
    if (args.adapter and args.head != "alt") or (args.victr and args.head != "victr"):
        parser.error("--adapter goes with --head=alt, --victr with --head=victr")
    try:
        knobs = (
            parse_knobs(args.adapter) if args.head == "alt" else parse_knobs(args.victr, "--victr")
        )
    except ValueError as e:
        parser.error(str(e))
    try:  # before the run is loaded: a bad --out costs nothing
        check_out_folder(args.out)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)

    # imported here: --help and a refused --out answer before JAX and the model code load
    from alt_jax.logs import quiet_frameworks

    quiet_frameworks()
    # imported here: --help and a refused --out answer before JAX and the model code load
    from alt_jax.torch import convert

    start = time.perf_counter()
    if args.workdir:
        # imported here: --help and a refused --out answer before JAX and the model code load
        from alt_jax.train import restore

        try:
            run = load_flagged_run(args, args.step)
        except (FileNotFoundError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)
        model, model_config = run.model, run.config.model
        cfg = next(iter(run.config.evals.values())) if run.config.evals else run.config.data
        image_size, num_frames = cfg.image_size, cfg.num_frames
        class_names, entity_names = run.class_names, run.entity_names
        class_emb = restore.class_embeddings(run)
        source = {"workdir": os.path.abspath(args.workdir), "step": run.step}
        summary = convert.run_summary(run.config, args.workdir, run.step)
    else:
        # imported here: --help and a refused --out answer before JAX and the model code load
        from alt_jax.models.clip_config import get_preset

        make = random_alt if args.head == "alt" else random_victr
        try:
            model, model_config, entity_names = make(
                args.random, args.tome_r, args.num_frames, 64, args.seed, knobs
            )
        except ValueError as e:  # an unknown or invalid knob
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)
        image_size, num_frames = get_preset(args.random).vision.image_size, args.num_frames
        d = model.clip.config.projection_dim
        class_names = [f"class {i}" for i in range(10)]
        class_emb = np.random.default_rng(args.seed + 1).normal(size=(10, d)).astype(np.float32)
        source = {"random_preset": args.random, "seed": args.seed}
        summary, cfg = {"random": args.random}, None
    config = convert.torch_config(
        model,
        model_config,
        image_size=image_size,
        class_names=class_names,
        entity_names=entity_names,
        source=source,
    )
    processor = convert.processor_settings(config, cfg)
    out = convert.export(model, config, class_emb, args.out, processor=processor, run=summary)
    print(
        f"wrote {out}/config.json, model.safetensors, clip/, the processor and README.md ", end=""
    )
    print(f"({time.perf_counter() - start:.0f} s)")
    if args.check:
        torch_model = convert.torch_class(config).from_pretrained(out)
        videos = np.random.default_rng(args.seed + 2).normal(
            size=(1, num_frames, image_size, image_size, 3)
        )
        diff = convert.max_logit_difference(
            model, torch_model, class_emb, videos.astype(np.float32)
        )
        print(
            f"max |logit JAX - logit PyTorch| = {diff:.3g} on one random clip of {num_frames} "
            f"frames at {image_size} px (ToMe schedule {config['tome_schedule']})"
        )


if __name__ == "__main__":
    main()
