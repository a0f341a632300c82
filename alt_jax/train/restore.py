"""A trained run back from its workdir: config, model with trained parameters, class names.

The checkpoint's `meta` item holds the run's config; the frozen backbone is rebuilt from it
(`backbone.source`, or random weights at `backbone.preset` with the run's seed, as training
built it) and the trainable parameters are restored on top.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
from etils import epath
from flax import nnx

from alt_jax.models.alt import ALT, split_trainable
from alt_jax.models.build import BUILDERS, build_model
from alt_jax.models.victr import VicTR
from alt_jax.resources import absolute, resolve
from alt_jax.train import checkpoint


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
    manager = ocp.CheckpointManager(directory, item_names=("meta",))
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
    from alt_jax.data import pipeline, sources
    from alt_jax.labels import load_labels

    cfg = next(iter(config.evals.values())) if config.evals else config.data
    if cfg.labels:
        return load_labels(cfg.labels)
    if cfg.class_names_file:
        return sources.read_class_names(cfg.class_names_file)
    return list(
        pipeline.load_source(
            cfg.kind,
            cfg.root,
            list_file=cfg.list_file or None,
            split=cfg.split,
            fold=cfg.fold,
            filename_pattern=cfg.filename_pattern,
            tfds_name=cfg.tfds_name or None,
        )[1]
    )


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
    from alt_jax.corpus import DEFAULT_CACHE_DIR

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
    from alt_jax.corpus import read_entities
    from alt_jax.labels import load_labels

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
    from alt_jax.configs_lib import ConfigError

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
    from alt_jax.configs_lib import ConfigError

    try:
        step = checkpoint_steps(init_from)[-1]
    except FileNotFoundError as e:
        raise ConfigError(f"config.init_from: {e}") from e
    directory = epath.Path(checkpoint.absolute(os.fspath(init_from))) / "checkpoints"
    manager = ocp.CheckpointManager(
        directory,
        item_names=("params",),
        item_handlers={"params": ocp.StandardCheckpointHandler()},
    )
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
    from alt_jax.configs_lib import ConfigError
    from alt_jax.weights import CheckpointError, export_head_tensors, fill_state, read_safetensors

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
    from alt_jax import text

    emb = text.class_embeddings(
        run.model.clip,
        names if names is not None else run.class_names,
        tuple(run.config.model.prompt_templates),
    )
    return text.center(emb) if run.config.model.center_class_embeddings else emb
