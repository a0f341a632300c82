"""A trained run back from its workdir: config, model with trained parameters, class names.

The checkpoint's `meta` item holds the run's config; the frozen backbone is rebuilt from it
(`backbone.source`, or random weights at `backbone.preset` with the run's seed, as training
built it) and the trainable parameters are restored on top.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Callable

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
from etils import epath
from flax import nnx

from alt_jax import text
from alt_jax.builders import BUILDERS, build_alt, build_model, build_victr
from alt_jax.configs_lib import ConfigError, default_model_config, source_spec
from alt_jax.corpus import DEFAULT_CACHE_DIR, read_entities
from alt_jax.data import pipeline, sources
from alt_jax.labels import load_labels
from alt_jax.models.alt import ALT, split_trainable, trainable_filter
from alt_jax.models.clip import CLIP
from alt_jax.models.victr import VicTR
from alt_jax.resources import absolute, resolve
from alt_jax.train import checkpoint
from alt_jax.weights import (
    CheckpointError,
    dtype_kind,
    fill_state,
    load_clip,
    read_safetensors,
)


@dataclasses.dataclass
class TrainedRun:
    """What a workdir's checkpoint gives back."""

    config: ml_collections.ConfigDict
    model: ALT | VicTR  # config.model.head says which
    step: int
    class_names: list[str]
    entity_names: list[str]  # VicTR: its auxiliary texts' names (none without auxiliary texts)


def checkpoint_steps(workdir: str | os.PathLike) -> list[int]:
    """The finalised checkpoint steps of a workdir; a missing workdir or none is an error."""
    workdir = checkpoint.absolute(os.fspath(workdir))
    if not epath.Path(workdir).exists():
        raise FileNotFoundError(f"workdir {workdir} does not exist")
    directory = epath.Path(workdir) / "checkpoints"
    steps = []
    if directory.exists():
        ckpt = checkpoint.Checkpointer(directory, best_metric=None)
        steps = ckpt.all_steps()
        ckpt.close()
    if not steps:
        raise FileNotFoundError(f"{directory}: no checkpoint (is {workdir} a training workdir?)")
    return steps


def read_config(workdir: str | os.PathLike, step: int) -> ml_collections.ConfigDict:
    """The run config saved with checkpoint `step` (its `meta` item)."""
    directory = epath.Path(checkpoint.absolute(os.fspath(workdir))) / "checkpoints"
    manager = ocp.CheckpointManager(directory, item_handlers=checkpoint.item_handlers())
    try:
        meta = manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
    except Exception as e:  # noqa: BLE001 - any unreadable meta is reported with the path
        raise ValueError(f"{directory}/{step}: cannot read the run config ({e})") from e
    finally:
        manager.close()
    if "config" not in meta:
        raise ValueError(f"{directory}/{step}/meta has no run config")
    return ml_collections.ConfigDict(json.loads(meta["config"]))


def run_class_names(config: ml_collections.ConfigDict) -> list[str]:
    """The class names of the run's first evaluation dataset (its training data if none)."""
    cfg = next(iter(config.evals.values())) if config.evals else config.data
    if cfg.labels:
        return load_labels(cfg.labels)
    if cfg.class_names_file:
        return sources.read_class_names(cfg.class_names_file)
    return list(pipeline.load_source(source_spec(cfg))[1])


class MissingRunInput(FileNotFoundError):
    """A file the run's config names is gone (a moved run); the message names the flag to pass."""


def uses_corpus(model: ml_collections.ConfigDict) -> bool:
    """Whether the model reads the entity corpus: ALT's entities, VicTR's auxiliary texts."""
    return model.head == "alt" or bool(model.victr.aux_texts)


def _exists(path: str) -> bool:
    """Whether a config's path (local, gs:// or alt_jax:...) names something that exists."""
    return epath.Path(resolve(path)).exists()


def with_run_inputs(
    config: ml_collections.ConfigDict,
    workdir: str,
    *,
    backbone: str | None = None,
    corpus: str | None = None,
    labels: str | None = None,
) -> ml_collections.ConfigDict:
    """The run config with the given inputs in place of the recorded ones; a recorded input that
    no longer exists and is not given is a MissingRunInput naming it and its flag."""

    config = ml_collections.ConfigDict(config.to_dict())
    model = config.model
    if backbone:
        model.backbone.source = absolute(backbone)
    # Recorded local folders are absolute; a relative source may be a hub id (checked on load).
    source = model.backbone.source
    if source and os.path.isabs(source) and not _exists(source):
        raise MissingRunInput(
            f"{workdir}: the run's backbone {source} (config.model.backbone.source) does not "
            "exist; give the CLIP folder with --backbone=FOLDER"
        )
    if corpus:
        model.corpus.path = absolute(corpus)
    if uses_corpus(model) and not _exists(model.corpus.path):
        raise MissingRunInput(
            f"{workdir}: the run's entity corpus {model.corpus.path} (config.model.corpus.path) "
            "does not exist; give the corpus JSON with --corpus=FILE"
        )
    # The cache is keyed by content, so any folder serves; a gone one falls back to the default.
    if model.corpus.cache_dir and not _exists(model.corpus.cache_dir):
        model.corpus.cache_dir = str(DEFAULT_CACHE_DIR)
    if not labels:
        field, cfg = (
            (f"evals.{next(iter(config.evals))}", next(iter(config.evals.values())))
            if config.evals
            else ("data", config.data)
        )
        key = "class_names_file" if cfg.class_names_file else "root"
        if not cfg.labels and cfg[key] and not _exists(cfg[key]):
            raise MissingRunInput(
                f"{workdir}: the run's class names come from {cfg[key]} (config.{field}.{key}), "
                "which does not exist; give the class list with --labels=FILE"
            )
    return config


def load_run(
    workdir: str | os.PathLike,
    step: int | None = None,
    *,
    backbone: str | None = None,
    corpus: str | None = None,
    labels: str | None = None,
) -> TrainedRun:
    """The model (ALT or VicTR, by model.head) of a workdir at checkpoint `step` (None: the
    latest). `backbone`, `corpus` and `labels` replace the recorded CLIP folder, entity corpus
    and class list (a moved run)."""

    workdir = checkpoint.absolute(os.fspath(workdir))
    steps = checkpoint_steps(workdir)
    if step is None:
        step = steps[-1]
    elif step not in steps:
        raise ValueError(f"{workdir}/checkpoints has no step {step}; steps: {steps}")
    config = read_config(workdir, step)
    if config.model.head not in BUILDERS:  # a run of a head this version does not have
        raise ValueError(
            f"{workdir}: model.head is {config.model.head!r}; only runs of the heads "
            f"{sorted(BUILDERS)} can be loaded for prediction and export"
        )
    config = with_run_inputs(config, workdir, backbone=backbone, corpus=corpus, labels=labels)
    model = build_model(config.model, seed=config.seed)
    graphdef, params, frozen = split_trainable(model)
    ckpt = checkpoint.Checkpointer(epath.Path(workdir) / "checkpoints", best_metric=None)
    try:
        restored = ckpt.manager.restore(
            step,
            args=ocp.args.Composite(
                params=ocp.args.StandardRestore(checkpoint.abstract_like(params))
            ),
        )
    except Exception as e:  # noqa: BLE001 - a corrupt checkpoint is reported with its path
        raise ValueError(
            f"{workdir}/checkpoints/{step}: cannot restore the parameters ({e})"
        ) from e
    finally:
        ckpt.close()
    model = nnx.merge(graphdef, restored["params"], frozen)
    entities = (
        [e["unit"] for e in read_entities(config.model.corpus.path)]
        if uses_corpus(config.model)
        else []
    )
    names = load_labels(labels) if labels else run_class_names(config)
    return TrainedRun(config, model, step, names, entities)


def _param_name(path: tuple) -> str:
    """ "adapter/layers/0/kernel" from a pytree path of an nnx.State or of its saved form."""
    parts = [str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))) for k in path]
    return "/".join(parts[:-1] if parts and parts[-1] == "value" else parts)


def _shapes(tree: Any) -> dict[str, tuple[int, ...]]:
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {_param_name(path): tuple(leaf.shape) for path, leaf in leaves}


def is_export(path: str | os.PathLike) -> bool:
    """Whether `path` is a PyTorch export folder (tools/convert_to_pytorch.py), not a workdir."""
    folder = epath.Path(os.fspath(path))
    return (folder / "config.json").exists() and (folder / "model.safetensors").exists()


def _check_shapes(where: str, saved: dict, ours: dict) -> None:
    """ConfigError naming the first parameter missing from, or shaped differently in, `saved`."""

    for name, shape in ours.items():
        if name not in saved:
            raise ConfigError(f"{where} has no parameter {name} (shape {shape} here)")
        if saved[name] != shape:
            raise ConfigError(
                f"{where}: parameter {name} has shape {saved[name]} there and {shape} in "
                "this model (a different model config?)"
            )
    extra = sorted(set(saved) - set(ours))
    if extra:
        raise ConfigError(f"{where} has parameters this model lacks: {extra[:5]}")


def init_params_from(init_from: str | os.PathLike, params: Any) -> tuple[Any, int]:
    """(`params` replaced by the trainable parameters of `init_from`: the latest checkpoint of
    a run's workdir, or a PyTorch export folder; the checkpoint's step, 0 for an export).
    ConfigError naming config.init_from when the path has neither, or a parameter is missing or
    shaped differently (names it, with both shapes)."""
    if is_export(init_from):
        return _init_params_from_export(init_from, params), 0

    try:
        step = checkpoint_steps(init_from)[-1]
    except FileNotFoundError as e:
        raise ConfigError(f"config.init_from: {e}") from e
    directory = epath.Path(checkpoint.absolute(os.fspath(init_from))) / "checkpoints"
    manager = ocp.CheckpointManager(directory, item_handlers=checkpoint.item_handlers())
    try:
        saved_tree = manager.item_metadata(step)["params"]
        saved = _shapes(getattr(saved_tree, "tree", saved_tree))
        _check_shapes(f"config.init_from: {directory}/{step}", saved, _shapes(params))
        restored = manager.restore(
            step,
            args=ocp.args.Composite(
                params=ocp.args.StandardRestore(checkpoint.abstract_like(params))
            ),
        )
    finally:
        manager.close()
    return restored["params"], step


def _init_params_from_export(folder: str | os.PathLike, params: Any) -> Any:
    """`params` (with their shardings and dtypes) filled from the trainable tensors of an
    export's model.safetensors (its backbone is not loaded: the run has its own)."""

    tensors = read_safetensors(epath.Path(os.fspath(folder)) / "model.safetensors")
    try:
        filled = fill_state(params, export_head_tensors(tensors))
    except CheckpointError as e:  # names the tensors missing, unused or shaped differently
        raise ConfigError(f"config.init_from: {folder}: {e}") from e
    return jax.tree.map(
        lambda new, ours: jax.device_put(new.astype(ours.dtype), ours.sharding), filled, params
    )


def class_embeddings(run: TrainedRun, names: list[str] | None = None) -> np.ndarray:
    """Prompt-ensembled class embeddings [C, d] of `names` (default: the run's classes) from
    the frozen text tower, with the run's templates (and centring, if it trained with it)."""

    emb = text.class_embeddings(
        run.model.clip,
        names if names is not None else run.class_names,
        tuple(run.config.model.prompt_templates),
    )
    return text.center(emb) if run.config.model.center_class_embeddings else emb


# -- exports (tools/convert_to_pytorch.py) read back into JAX ------------------------------------


@dataclasses.dataclass
class ExportedALT:
    """An exported ALT loaded back into JAX: the model, its classes and its entities."""

    model: ALT
    class_embeddings: np.ndarray  # [C, d]
    class_names: list[str]
    entity_names: list[str]
    config: dict[str, Any]  # the export's config.json


@dataclasses.dataclass
class ExportedVicTR:
    """An exported VicTR loaded back into JAX: the model, its classes and auxiliary texts."""

    model: VicTR
    class_embeddings: np.ndarray  # [C, d]
    class_names: list[str]
    auxiliary_names: list[str]
    config: dict[str, Any]  # the export's config.json


# Tensors of an export that are no trainable state: ALT's entity matrix, VicTR's auxiliary
# texts, the class embeddings of either.
EXPORT_TEXT_TENSORS = ("entities", "auxiliary", "class_embeddings")


def export_head_tensors(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The tensors of an export's model.safetensors that are the head's trainable state (not
    the vision tower, the entity or auxiliary text matrix or the class embeddings)."""
    return {
        k: v
        for k, v in tensors.items()
        if not k.startswith(("vision_model.", "visual_projection."))
        and k not in EXPORT_TEXT_TENSORS
    }


def _check_export_matrix(
    path: Path, tensors: dict[str, np.ndarray], name: str, rows: int, width: int
) -> None:
    """CheckpointError unless tensors[name] is a floating-point [rows, width] matrix."""
    if name not in tensors:
        raise CheckpointError(f"{path}: no tensor {name!r}")
    array = tensors[name]
    if tuple(array.shape) != (rows, width) or dtype_kind(array.dtype) != "floating point":
        raise CheckpointError(
            f"{path}: tensor {name!r} is {array.dtype} {tuple(array.shape)}, the config implies "
            f"floating point ({rows}, {width})"
        )


def read_export(folder: Path, kind: str, model_type: str) -> tuple[dict[str, Any], dict]:
    """(config.json, tensors) of an export folder of `kind` ("ALT", "VicTR"); a missing file
    or another head's model_type is an error naming it."""
    for name in ("config.json", "model.safetensors", "clip/config.json"):
        if not (folder / name).is_file():
            raise FileNotFoundError(
                f"{folder / name} does not exist (not an exported {kind} folder)"
            )
    cfg = json.loads((folder / "config.json").read_text())
    # Exports written before VicTR's carry ALT's model_type; none at all is taken as ALT's.
    found = cfg.get("model_type", model_type if kind == "ALT" else None)
    if found != model_type:
        raise CheckpointError(
            f"{folder}/config.json: model_type {found!r}, not {model_type!r} (an exported {kind})"
        )
    return cfg, read_safetensors(folder / "model.safetensors")


def _load_export(
    folder: Path,
    kind: str,
    model_type: str,
    matrices: tuple[tuple[str, str], ...],
    configure: Callable[[ml_collections.ConfigDict, dict[str, Any], int], None],
    build: Callable[[ml_collections.ConfigDict, CLIP, dict[str, np.ndarray]], nnx.Module],
) -> tuple[nnx.Module, dict[str, Any], dict[str, np.ndarray]]:
    """(model, config.json, tensors) of a `kind` export: the head's config from `configure`,
    its model from `build` on the export's CLIP, its trainable state from the tensors."""
    cfg, tensors = read_export(folder, kind, model_type)
    d = int(cfg["vision_config"]["projection_dim"])
    for name, rows in matrices:  # (tensor, the config.json list naming its rows)
        _check_export_matrix(folder / "model.safetensors", tensors, name, len(cfg[rows]), d)
    config = default_model_config()
    # The resolved per-layer schedule (the export ran exactly these merges) goes to the CLIP,
    # which carries it; the config's tome_r is only read when it builds the CLIP itself.
    schedule = tuple(int(r) for r in cfg["tome_schedule"])
    config.prop_attn = bool(cfg["prop_attn"])
    config.region_features = cfg.get("region_features", "tokens")  # older exports: CLIP's
    config.num_frames = int(cfg["num_frames"])
    config.prompt_templates = tuple(cfg.get("prompt_templates", config.prompt_templates))
    config.center_class_embeddings = bool(cfg.get("center_class_embeddings", False))
    configure(config, cfg, d)
    clip = load_clip(
        folder / "clip",
        tome_r=schedule,
        prop_attn=config.prop_attn,
        region_features=config.region_features,
    )
    model = build(config, clip, tensors)
    # The vision tower came from clip/; the head's tensors replace its random initialisation.
    nnx.update(model, fill_state(nnx.state(model, trainable_filter), export_head_tensors(tensors)))
    return model, cfg, tensors


def _configure_alt_export(config: ml_collections.ConfigDict, cfg: dict[str, Any], d: int) -> None:
    """Sets the ALT head's knobs of `config` from an export's config.json `cfg` (d unused)."""
    config.frame_pool = cfg["frame_pool"]
    config.queries = cfg.get("queries", "entities")  # older exports: entity queries
    config.entity_readout = bool(cfg.get("entity_readout", False))  # older exports: none
    config.probe.enabled = bool(cfg.get("probe", False))  # older exports: none
    adapter = cfg["adapter"]
    config.adapter.kind = adapter.get("kind", "global")  # older exports: the global adapter
    for key in ("width", "depth", "heads", "conv_kernel"):
        config.adapter[key] = int(adapter[key])
    config.adapter.mlp_ratio = adapter["mlp_hidden"] / adapter["width"]
    for key in config.adapter:
        if key in adapter and key not in ("kind", "mlp_hidden"):
            config.adapter[key] = adapter[key]
    if "temporal_input" not in adapter and config.adapter.kind == "ordered":
        # Exported before temporal_input: temporal_center said centred (True) or raw (False).
        config.adapter.temporal_input = "centred" if adapter.get("temporal_center", True) else "raw"


def _configure_victr_export(config: ml_collections.ConfigDict, cfg: dict[str, Any], d: int) -> None:
    """Sets the VicTR head's knobs of `config` from an export's config.json `cfg` (CLIP width d)."""
    config.head = "victr"
    victr = cfg["victr"]
    for key in config.victr:
        if key in victr:
            config.victr[key] = victr[key]
    width = int(victr["width"])
    config.victr.width = 0 if width == d else width  # 0: CLIP's joint width d
    config.victr.mlp_ratio = victr["mlp_hidden"] / width if victr["layers"] else 4.0
    config.victr.aux_texts = bool(cfg["auxiliary_names"])


def load_alt_export(folder: str | os.PathLike) -> ExportedALT:
    """An export folder (tools/convert_to_pytorch.py: config.json, model.safetensors, clip/) as
    an ALT nnx model whose logits are the PyTorch export's; every tensor must be used."""
    model, cfg, tensors = _load_export(
        Path(folder),
        "ALT",
        "alt_video_classifier",
        (("entities", "entity_names"), ("class_embeddings", "class_names")),
        _configure_alt_export,
        lambda config, clip, tensors: build_alt(
            config, clip=clip, entity_embeddings=tensors["entities"]
        ),
    )
    return ExportedALT(
        model=model,
        class_embeddings=np.asarray(tensors["class_embeddings"], np.float32),
        class_names=list(cfg["class_names"]),
        entity_names=list(cfg["entity_names"]),
        config=cfg,
    )


def load_victr_export(folder: str | os.PathLike) -> ExportedVicTR:
    """A VicTR export folder (tools/convert_to_pytorch.py on a VicTR run) as a VicTR nnx model
    whose logits are the PyTorch export's; every tensor must be used."""
    # The auxiliary texts come with the export (no corpus to encode).
    model, cfg, tensors = _load_export(
        Path(folder),
        "VicTR",
        "victr_video_classifier",
        (("auxiliary", "auxiliary_names"), ("class_embeddings", "class_names")),
        _configure_victr_export,
        lambda config, clip, tensors: build_victr(
            config, clip=clip, auxiliary_embeddings=tensors["auxiliary"]
        ),
    )
    return ExportedVicTR(
        model=model,
        class_embeddings=np.asarray(tensors["class_embeddings"], np.float32),
        class_names=list(cfg["class_names"]),
        auxiliary_names=list(cfg["auxiliary_names"]),
        config=cfg,
    )
