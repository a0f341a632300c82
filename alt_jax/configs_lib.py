"""The run configuration: one schema with defaults; config files override fields of it.

`base_config()` returns a *locked* ConfigDict, so a misspelled key in a config file or on the
command line is refused with the valid keys listed. Datasets are built with `dataset_config`,
whose keyword arguments are checked the same way.
"""

from __future__ import annotations

from typing import Any

import ml_collections

from alt_jax.models.alt import default_model_config
from alt_jax.train.optim import default_optim_config

DATASET_DEFAULTS: dict[str, Any] = {
    "kind": "list",  # list / kinetics_csv / folder / tfds
    "root": "",  # videos (or the tfds data_dir)
    "list_file": "",  # annotation list, Kinetics CSV, or the split-file folder
    "class_names_file": "",
    "labels": "",  # a shipped label list (k400, ucf101, ...) naming the classes, or a path
    "split": "train",
    "fold": 1,
    "filename_pattern": "{youtube_id}_{time_start:06d}_{time_end:06d}.mp4",
    "tfds_name": "",
    "num_frames": 8,
    "image_size": 224,
    "stride": 0,  # 0: segment sampling; > 0: dense sampling with this frame stride
    "flip": True,
    "scale_min": 0.08,
    "num_clips": 1,  # evaluation views: temporal clips × spatial crops
    "num_crops": 1,
    "batch_size": 8,  # evaluation batch (training uses config.batch_size)
    "workers": 0,
    "strict": False,
}


def dataset_config(**overrides: Any) -> ml_collections.ConfigDict:
    """A dataset's config: DATASET_DEFAULTS with `overrides`; unknown keys are refused."""
    unknown = sorted(set(overrides) - set(DATASET_DEFAULTS))
    if unknown:
        raise KeyError(f"unknown dataset config keys {unknown}; valid: {sorted(DATASET_DEFAULTS)}")
    return ml_collections.ConfigDict({**DATASET_DEFAULTS, **overrides})


def base_config() -> ml_collections.ConfigDict:
    """Every field a run has, with defaults (ALT-B/16, 8 frames, Kinetics-style training)."""
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.model = default_model_config()
    c.optim = default_optim_config()
    c.data = dataset_config()
    c.evals = ml_collections.ConfigDict()  # name → dataset_config(...), filled by config files
    c.batch_size = 64  # global, over all processes
    c.num_train_steps = 0  # 0: num_epochs × steps per epoch
    c.num_epochs = 30
    c.log_every = 20
    c.eval_every = 0  # steps; 0: only at the end
    c.checkpoint_every = 500
    c.keep_checkpoints = 3
    c.async_checkpoints = True
    c.mesh = ml_collections.ConfigDict({"data": -1, "fsdp": 1, "model": 1})
    c.sharding_rules = ()  # ((path regex, partition spec tuple), ...), first match wins
    c.feature_cache = ""  # folder of cached frozen-encoder outputs (--mode=extract_features)
    c.feature_train_views = 4  # augmented views per training video written to the cache
    c.alignment_picture = True  # write a picture of the entity-to-region alignment after eval
    c.lock()
    return c


def add_eval(
    config: ml_collections.ConfigDict, name: str, dataset: ml_collections.ConfigDict
) -> None:
    """Adds an evaluation dataset under config.evals[name] (the config stays locked otherwise)."""
    with config.evals.unlocked():
        config.evals[name] = dataset
    config.evals[name].lock()
