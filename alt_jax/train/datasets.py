"""A run's datasets from its config: each dataset's spec (source, clips, reading) and
iterators, and the checks made before anything expensive (paths, view settings, the lists, the
label list, the corpus)."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import ml_collections
from etils import epath

from alt_jax.configs_lib import ConfigError, source_spec
from alt_jax.corpus import read_entities
from alt_jax.data import decode, pipeline, samples
from alt_jax.labels import load_labels
from alt_jax.resources import resolve
from alt_jax.train import restore


def missing_videos_hint(cfg: ml_collections.ConfigDict, field: str) -> str:
    """What to check when a dataset's videos are not found; for a Kinetics CSV the file-name
    pattern the paths were built with (the paths themselves are in the error)."""
    if cfg.kind == "tfds_catalogue":
        return (
            f"check config.{field}.root (the tfds data_dir) and config.{field}.tfds_name / "
            f"tfds_config / split (docs/data.md, 'TFDS catalogue datasets')"
        )
    if cfg.kind == "kinetics_csv":
        return (
            f"videos are looked for at config.{field}.root / config.{field}.filename_pattern "
            f"({cfg.filename_pattern!r}, filled from the CSV's columns): check both (README, "
            "'Video data')"
        )
    return f"check config.{field}.root and config.{field}.list_file"


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """One dataset of a run, as the pipeline reads it: which videos (`source`), how each becomes
    model input (`clip`), how this process reads them (`read`) and the evaluation batch."""

    source: pipeline.SourceSpec
    clip: samples.ClipSpec
    read: pipeline.ReadSpec
    batch_size: int  # evaluation batch (training uses config.batch_size)

    def train_iterator(self, batch_size: int, **kwargs: Any) -> tuple[Any, pipeline.SourceInfo]:
        """`pipeline.make_train_iterator` of this dataset (kwargs: seed, num_epochs, shuffle)."""
        return pipeline.make_train_iterator(
            self.source, self.clip, batch_size, read=self.read, **kwargs
        )

    def eval_iterator(self) -> tuple[Any, pipeline.SourceInfo]:
        """`pipeline.make_eval_iterator` of this dataset."""
        return pipeline.make_eval_iterator(self.source, self.clip, self.batch_size, read=self.read)


def dataset_spec(cfg: ml_collections.ConfigDict, field: str, *, train: bool) -> DatasetSpec:
    """The dataset `config.<field>` as the pipeline reads it, in this process (its shard of the
    videos); missing paths are errors naming the field."""
    # A catalogue dataset's root is a tfds data_dir ("" for tfds' default); when it is missing,
    # load_source's error says how to prepare the dataset there.
    catalogue = cfg.kind == "tfds_catalogue"
    if not cfg.root and not catalogue:
        raise ValueError(f"config.{field}.root is not set (the folder holding the videos)")
    if not catalogue and not epath.Path(cfg.root).exists():
        raise FileNotFoundError(f"config.{field}.root: {cfg.root} does not exist")
    for key in ("list_file", "class_names_file"):
        if cfg[key] and not epath.Path(resolve(cfg[key])).exists():
            raise FileNotFoundError(f"config.{field}.{key}: {cfg[key]} does not exist")
    clip = samples.ClipSpec(
        num_frames=cfg.num_frames,
        image_size=cfg.image_size,
        stride=cfg.stride or None,
        # Configs saved before the knob existed get the library's limit.
        max_frame_pixels=cfg.get("max_frame_pixels", decode.DEFAULT_MAX_FRAME_PIXELS),
    )
    if train:
        clip = dataclasses.replace(clip, flip=cfg.flip, scale=(cfg.scale_min, 1.0))
    else:
        clip = dataclasses.replace(clip, num_clips=cfg.num_clips, num_crops=cfg.num_crops)
    read = pipeline.ReadSpec(
        shard_index=jax.process_index(),
        shard_count=jax.process_count(),
        workers=cfg.workers,
        strict=cfg.strict,
        max_skip_fraction=cfg.max_skip_fraction,
        hint=missing_videos_hint(cfg, field),
    )
    return DatasetSpec(source_spec(cfg), clip, read, cfg.batch_size)


def check_dataset(cfg: ml_collections.ConfigDict, field: str, *, train: bool) -> int:
    """Validates one dataset of a run before anything expensive: paths, view settings, the list
    itself (read once) and the label list; returns its number of videos. Errors name the field."""
    spec = dataset_spec(cfg, field, train=train)
    if cfg.kind not in pipeline.SOURCE_KINDS:
        raise ValueError(f"config.{field}.kind={cfg.kind!r}; valid: {pipeline.SOURCE_KINDS}")
    for key in ("num_frames", "image_size"):  # batch and view counts: validate_config
        if cfg[key] < 1:
            raise ValueError(f"config.{field}.{key}={cfg[key]} must be at least 1")
    if cfg.stride < 0:
        raise ValueError(f"config.{field}.stride={cfg.stride} must be 0 (segments) or positive")
    if not train and cfg.num_crops not in (1, 3):
        raise ValueError(f"config.{field}.num_crops={cfg.num_crops}; valid: 1 (centre), 3")
    if train and not 0 < cfg.scale_min <= 1:
        raise ValueError(f"config.{field}.scale_min={cfg.scale_min} must be in (0, 1]")
    try:
        elements, names = pipeline.load_source(spec.source)
    except (OSError, ValueError, KeyError) as e:
        raise (FileNotFoundError if isinstance(e, OSError) else ValueError)(
            f"config.{field}: {e}"
        ) from e
    if len(elements) == 0:
        raise ValueError(f"config.{field}: no videos listed ({cfg.list_file or cfg.root})")
    if cfg.labels:
        load_labels(cfg.labels)
    return len(elements)


def check_run_config(config: ml_collections.ConfigDict, mode: str) -> None:
    """Validates every dataset `mode` will read (training data, every evaluation) and the entity
    corpus before the backbone is loaded, so that a wrong evaluation path fails in seconds, not
    after training."""
    datasets = []
    if mode in ("train", "train_and_eval", "extract_features"):
        datasets.append((config.data, "data", True))
    if mode in ("eval", "train_and_eval", "extract_features"):
        datasets += [(cfg, f"evals.{name}", False) for name, cfg in config.evals.items()]
    for cfg, field, train in datasets:
        try:
            check_dataset(cfg, field, train=train)
        except ConfigError:
            raise
        except (ValueError, OSError) as e:  # every message names config.<field>
            raise ConfigError(str(e)) from e
    if config.init_from and mode in ("train", "train_and_eval"):
        try:
            if not restore.is_export(config.init_from):
                restore.checkpoint_steps(config.init_from)
        except FileNotFoundError as e:
            raise ConfigError(
                f"config.init_from: {e} (give a training workdir or a PyTorch export folder)"
            ) from e
    model = config.model
    if model.head == "alt" or (model.head == "victr" and model.victr.aux_texts):
        try:
            read_entities(model.corpus.path)
        except (ValueError, OSError) as e:
            raise ConfigError(f"config.model.corpus.path: {e}") from e


def class_names_of(cfg: ml_collections.ConfigDict, info: pipeline.SourceInfo) -> list[str]:
    """The dataset's class names: a shipped/label-file list when configured, else the source's."""
    if cfg.labels:
        return load_labels(cfg.labels)
    return list(info.class_names)
