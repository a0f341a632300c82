"""Flax ALT → `ALTForVideoClassification` and Flax VicTR → `VicTRForVideoClassification`
(config dict + state dict), and a parity check.

Vision tower keys come from `alt_jax.weights.clip_state_dict` (transformers' names); the
trainable head's keys are its Flax paths with `kernel`/`scale` → `weight` and Linear kernels
transposed (`flax_to_torch_array`), which is how the torch modules are named. `torch_config`,
`torch_state_dict`, `to_torch` and `export` take either head; `export` also writes the video
processor (`processor_settings`) and the model card (`run_summary`, `model_card`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from alt_jax.models.adapter import GlobalVideoAdapter, OrderedVideoAdapter
from alt_jax.models.alt import ALT, trainable_filter
from alt_jax.models.victr import VicTR
from alt_jax.torch.model_card import DATA_KEYS, model_card
from alt_jax.weights import (
    clip_state_dict,
    flax_path_to_torch_key,
    flax_to_torch_array,
    keypath_tuple,
    save_clip,
)

VISION_PREFIXES = ("vision_model.", "visual_projection.")


def adapter_frames(adapter: OrderedVideoAdapter | GlobalVideoAdapter) -> int:
    """The number of frames the adapter was built for."""
    if isinstance(adapter, GlobalVideoAdapter):
        return int(adapter.temporal_embedding.shape[0])
    return int(adapter.num_frames)


def adapter_config(
    adapter: OrderedVideoAdapter | GlobalVideoAdapter, knobs: Any = None
) -> dict[str, Any]:
    """Every knob of the adapter's kind, read off the built module (so the export describes the
    weights, whatever the run's config says); `knobs` (model.adapter) only fills in
    `fourier_bands` when the module has no region position to read it from."""
    # Heads and MLP width from whichever transformer layers exist (an adapter may have none).
    layers = [*adapter.layers] + [*getattr(adapter, "temporal_layers", [])]
    out = {
        "kind": "global" if isinstance(adapter, GlobalVideoAdapter) else "ordered",
        "width": int(adapter.mlp_kv.fc2.kernel.shape[1]),
        "depth": len(adapter.layers),
        "heads": _heads(layers[0]) if layers else 1,
        "mlp_hidden": int(layers[0].mlp.fc1.kernel.shape[1]) if layers else 0,
        "conv_kernel": int(adapter.conv_kernel.shape[0]),
    }
    if isinstance(adapter, GlobalVideoAdapter):
        return out
    position = adapter.region_position
    return {
        **out,
        "position": "fourier" if position is not None else "none",
        "fourier_bands": int(
            position.bands if position is not None else getattr(knobs, "fourier_bands", 4)
        ),
        "frame_window": int(adapter.frame_window),
        "temporal_depth": len(adapter.temporal_layers),
        "temporal_position": adapter.temporal_position is not None,
        "readout": adapter.readout,
        "temporal_input": adapter.temporal_input,
        "change_floor": float(adapter.change_floor),
        "query_position": bool(adapter.query_position),
        "conv_padding": adapter.conv_padding,
        "frame_embedding": adapter.frame_embedding is not None,
        "query_pooling": adapter.query_pooling,
        "relevance": adapter.relevance is not None,
        "class_token": bool(adapter.class_token),
    }


def _heads(layer: Any) -> int:
    """Attention heads of a decoder or encoder layer."""
    attn = layer.cross_attn if hasattr(layer, "cross_attn") else layer.attn
    return int(attn.heads)


def learned_query_count(model: ALT) -> dict[str, int]:
    """{"num_queries": M} for a model with learned queries (one per region slot), else {}."""
    if model.queries != "learned":
        return {}
    return {"num_queries": int(model.learned_queries.shape[0])}


def vision_config(model: ALT | VicTR, image_size: int) -> dict[str, Any]:
    """The vision part of config.json (either head): the CLIP vision config, the ToMe schedule
    resolved for `image_size`, proportional attention and the region features."""
    cfg = model.clip.config
    vision = model.clip.vision_model
    num_tokens = (image_size // cfg.vision.patch_size) ** 2 + 1
    return {
        "vision_config": {
            **{k: getattr(cfg.vision, k) for k in cfg.vision.__dataclass_fields__},
            "projection_dim": cfg.projection_dim,
        },
        "image_size": int(image_size),
        "tome_schedule": [int(r) for r in vision.r_schedule(num_tokens)],
        "prop_attn": bool(vision.prop_attn),
        "region_features": vision.region_features,
    }


def torch_config(
    model: ALT | VicTR,
    model_config: Any,
    *,
    image_size: int,
    class_names: Sequence[str],
    entity_names: Sequence[str],
    source: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """config.json of the PyTorch model: shapes, the ToMe schedule resolved for `image_size`,
    the query kind (and with learned queries their count), class and entity names, prompt
    templates (for recomputing class embeddings) and provenance. For a VicTR, `entity_names`
    name its auxiliary texts (`victr_torch_config`)."""
    if isinstance(model, VicTR):
        return victr_torch_config(
            model,
            model_config,
            image_size=image_size,
            class_names=class_names,
            auxiliary_names=entity_names,
            source=source,
        )
    from alt_jax.torch.configuration_alt import MODEL_TYPE  # transformers on use only

    return {
        "model_type": MODEL_TYPE,
        **vision_config(model, image_size),
        "num_frames": adapter_frames(model.adapter),
        "frame_pool": model.frame_pool,
        "queries": model.queries,
        "entity_readout": bool(model.entity_readout),
        "probe": bool(model.probe_enabled),
        **learned_query_count(model),
        "adapter": adapter_config(model.adapter, model_config.get("adapter")),
        "class_names": list(class_names),
        "entity_names": list(entity_names),
        "prompt_templates": list(model_config.prompt_templates),
        "center_class_embeddings": bool(model_config.center_class_embeddings),
        # The export computes in float32; a bfloat16 run's logits differ by bf16 rounding.
        "backbone_dtype_in_training": model_config.backbone.dtype,
        "source": source or {},
    }


def victr_config(model: VicTR, knobs: Any = None) -> dict[str, Any]:
    """The VicTR knobs the forward pass depends on, read off the built module (so the export
    describes the weights, whatever the run's config says); `knobs` (model.victr) only fills in
    `fourier_bands` when there is no region pool to read it from."""
    layers = list(model.layers)
    attention = layers[0].cross_attn if layers else getattr(model.region_pool, "attn", None)
    pool = model.region_pool
    return {
        "layers": len(layers),
        "heads": int(attention.heads) if attention is not None else 1,
        "width": int(model.temporal_embedding.shape[1]),
        "mlp_hidden": int(layers[0].mlp.fc1.kernel.shape[1]) if layers else 0,
        "visual": "regions" if pool is not None else "class_token",
        "fourier_bands": int(
            pool.position.bands if pool is not None else getattr(knobs, "fourier_bands", 4)
        ),
        "boost": "relative" if model.relative else "softmax",
        "boost_temperature": float(model.boost_temperature),
        "affinity_temperature": float(model.temperature),
        "pooling": "ordered" if model.pool_weights is not None else "mean",
        "anchor": bool(model.anchor),
    }


def victr_torch_config(
    model: VicTR,
    model_config: Any,
    *,
    image_size: int,
    class_names: Sequence[str],
    auxiliary_names: Sequence[str],
    source: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """config.json of the PyTorch VicTR: the vision part, the head's knobs, class and
    auxiliary text names (one per row of the model's auxiliary bank), prompt templates and
    provenance."""
    from alt_jax.torch.configuration_alt import VICTR_MODEL_TYPE  # transformers on use only

    rows = int(model.auxiliary[...].shape[0])
    if len(auxiliary_names) != rows:
        raise ValueError(
            f"{len(auxiliary_names)} auxiliary text names for the model's {rows} auxiliary "
            "embeddings"
        )
    return {
        "model_type": VICTR_MODEL_TYPE,
        **vision_config(model, image_size),
        "num_frames": int(model.temporal_embedding.shape[0]),
        "victr": victr_config(model, model_config.get("victr")),
        "class_names": list(class_names),
        "auxiliary_names": list(auxiliary_names),
        "prompt_templates": list(model_config.prompt_templates),
        "center_class_embeddings": bool(model_config.center_class_embeddings),
        "backbone_dtype_in_training": model_config.backbone.dtype,
        "source": source or {},
    }


def torch_state_dict(model: ALT | VicTR, class_embeddings: np.ndarray) -> dict[str, np.ndarray]:
    """Every tensor of the PyTorch model, float32 NumPy, keyed by its torch name."""
    tensors = {
        k: v for k, v in clip_state_dict(model.clip).items() if k.startswith(VISION_PREFIXES)
    }
    trainable = nnx.state(model, trainable_filter)
    for keypath, leaf in jax.tree_util.tree_flatten_with_path(trainable)[0]:
        path = keypath_tuple(keypath)
        tensors[flax_path_to_torch_key(path)] = flax_to_torch_array(path, np.asarray(leaf))
    if isinstance(model, VicTR):  # the auxiliary bank is state, not a parameter
        tensors["auxiliary"] = np.asarray(model.auxiliary[...])
    else:
        if model.queries == "entities" and "alignment.w_r" not in tensors:
            # A frozen W_r is no parameter, but the export needs it (an array, not a kernel).
            tensors["alignment.w_r"] = np.asarray(model.alignment.w_r[...])
        tensors["entities"] = np.asarray(model.entities[...])
    tensors["class_embeddings"] = np.asarray(class_embeddings)
    return {k: np.array(v, np.float32, order="C") for k, v in tensors.items()}


def torch_class(config: dict[str, Any]) -> type:
    """The PyTorch model class of a config dict's model_type (ALT's or VicTR's)."""
    from alt_jax.torch.modeling_alt import ALTForVideoClassification  # torch on use only
    from alt_jax.torch.modeling_victr import VicTRForVideoClassification  # torch on use only

    classes = {
        c.config_class.model_type: c
        for c in (ALTForVideoClassification, VicTRForVideoClassification)
    }
    if config.get("model_type") not in classes:
        raise ValueError(
            f"config model_type must be one of {sorted(classes)}, got {config.get('model_type')!r}"
        )
    return classes[config["model_type"]]


def to_torch(model: ALT | VicTR, config: dict[str, Any], class_embeddings: np.ndarray):
    """The `ALTForVideoClassification` or `VicTRForVideoClassification` (by the config's
    model_type) holding `model`'s weights (eval mode)."""
    import torch

    out = torch_class(config)(config)
    tensors = torch_state_dict(model, class_embeddings)
    out.load_state_dict_strict({k: torch.from_numpy(v) for k, v in tensors.items()})
    return out


def processor_settings(config: dict[str, Any], eval_config: Any = None) -> dict[str, Any]:
    """The export's `ALTVideoProcessor` settings: the frames, size, clips × crops, frame stride
    and frame-size limit of `eval_config` (the run's first evaluation set, which predict uses),
    else one centre-cropped clip at the export's frame count and image size."""
    if eval_config is None:
        return {"image_size": int(config["image_size"]), "num_frames": int(config["num_frames"])}
    return {
        "image_size": int(eval_config.image_size),
        "num_frames": int(eval_config.num_frames),
        "num_clips": int(eval_config.num_clips),
        "num_crops": int(eval_config.num_crops),
        "frame_stride": int(eval_config.stride or 0),
        "max_frame_pixels": eval_config.get("max_frame_pixels"),
    }


def run_summary(run_config: Any, workdir: str | os.PathLike, step: int) -> dict[str, Any]:
    """What the model card says about a run: its workdir, step, backbone, training set, and each
    evaluation set with the top-1 / top-5 of its report at `step` (WORKDIR/eval/NAME_stepN.json)
    when there is one (a report of another step describes other weights: not used)."""
    evaluations = []
    for name, cfg in run_config.evals.items():
        entry = {
            "name": name,
            "list_file": cfg.list_file,
            "num_clips": int(cfg.num_clips),
            "num_crops": int(cfg.num_crops),
        }
        report = Path(workdir) / "eval" / f"{name}_step{step}.json"
        if report.is_file():
            found = json.loads(report.read_text())
            entry.update({k: found.get(k) for k in ("top1", "top5", "num_examples")})
        evaluations.append(entry)
    backbone = run_config.model.backbone
    return {
        "workdir": os.path.abspath(workdir),
        "step": int(step),
        "backbone": backbone.source or f"random {backbone.preset}",
        "train_data": {k: run_config.data.get(k) for k in DATA_KEYS},
        "evaluations": evaluations,
    }


def export(
    model: ALT | VicTR,
    config: dict[str, Any],
    class_embeddings: np.ndarray,
    out: str | os.PathLike,
    *,
    processor: dict[str, Any] | None = None,
    run: dict[str, Any] | None = None,
) -> Path:
    """Writes OUT/{config.json, model.safetensors} (the PyTorch ALT or VicTR), OUT/clip/ (the
    backbone as a transformers CLIP folder, both towers), the video processor
    (video_preprocessor_config.json; `processor_settings`, default `processor_settings(config)`)
    and the model card README.md (`run`: `run_summary`, {"random": preset} for random weights,
    None when there is no run); returns OUT."""
    import transformers

    from alt_jax.torch.video_processing_alt import ALTVideoProcessor  # transformers on use

    out = Path(out)
    to_torch(model, config, class_embeddings).save_pretrained(out)
    save_clip(model.clip, out / "clip")
    processor = processor or processor_settings(config)
    ALTVideoProcessor(**processor).save_pretrained(out)
    versions = {"alt_jax": _package_version(), "transformers": transformers.__version__}
    saved = json.loads((out / "config.json").read_text())
    (out / "README.md").write_text(model_card(saved, processor, run, versions))
    return out


def _package_version() -> str:
    """alt_jax's installed version (or 'source' when run from a checkout without install)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("alt_jax")
    except PackageNotFoundError:
        return "source"


def max_logit_difference(
    model: ALT | VicTR, torch_model, class_embeddings: np.ndarray, videos: np.ndarray
) -> float:
    """max |logits_JAX − logits_torch| on CLIP-normalised videos float32 [B, T, S, S, 3]."""
    import torch

    jax_logits = nnx.jit(lambda m, v, c: m(v, c, train=False)["logits"])(
        model, jnp.asarray(videos), jnp.asarray(class_embeddings)
    )
    with torch.no_grad():
        pixels = torch.from_numpy(np.ascontiguousarray(videos)).movedim(-1, -3)
        torch_logits = torch_model(pixels)["logits"].numpy()
    return float(np.abs(np.asarray(jax_logits) - torch_logits).max())
