"""The run configuration: one schema with defaults; config files override fields of it.

`base_config()` returns a *locked* ConfigDict, so a misspelled key in a config file or on the
command line is refused with the valid keys listed. Datasets are built with `dataset_config`,
whose keyword arguments are checked the same way.
"""

from __future__ import annotations

import os
from typing import Any

import ml_collections

from alt_jax.data.decode import DEFAULT_MAX_FRAME_PIXELS
from alt_jax.data.sources import DEFAULT_KINETICS_PATTERN
from alt_jax.models.alt import DTYPES, default_model_config
from alt_jax.models.clip import ATTENTION_IMPLEMENTATIONS
from alt_jax.train.optim import default_optim_config

DATASET_DEFAULTS: dict[str, Any] = {
    "kind": "list",  # list / kinetics_csv / folder / tfds
    "root": "",  # videos (or the tfds data_dir)
    "list_file": "",  # annotation list, Kinetics CSV, or the split-file folder
    "class_names_file": "",
    "labels": "",  # a shipped label list (k400, ucf101, ...) naming the classes, or a path
    "split": "train",
    "fold": 1,
    "filename_pattern": DEFAULT_KINETICS_PATTERN,  # kinetics_csv: video path under root
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
    "strict": False,  # True: the first unreadable video raises instead of being skipped
    # A pass over the list that skips more than this share of its videos (or all) raises.
    "max_skip_fraction": 0.5,
    # Videos whose frames have more pixels are skipped as unreadable, checked from the header
    # before decoding: decoding memory follows the file's resolution, not image_size. 4096²
    # admits up to DCI 4K (4096×2160) and portrait 4K; 8K (7680×4320) needs 33177600.
    "max_frame_pixels": DEFAULT_MAX_FRAME_PIXELS,
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
    # A workdir of a trained run (e.g. K400) whose latest checkpoint's trainable parameters start
    # a new run (e.g. few-shot HMDB-51); shapes must match. Ignored when the run resumes.
    c.init_from = ""
    # A non-finite loss or gradient norm: "stop" ends the run with an error (nothing after the
    # last good step is saved); "skip" leaves that step's update out, counts and logs it.
    c.nonfinite = "stop"
    c.lock()
    return c


# Dataset fields that hold a file or folder name.
_DATASET_PATHS = ("root", "list_file", "class_names_file")


def absolute_paths(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """A copy of `config` whose local paths are absolute (resolved against the current folder),
    so the run's recorded config means the same files from wherever it is later loaded.

    Package-relative (`alt_jax:...`), remote (`gs://...`) and empty paths, shipped label-list
    names ('k400') and hub ids of the backbone (not a local folder) are kept as given.
    """
    from alt_jax.labels import KNOWN_LISTS
    from alt_jax.resources import absolute

    out = config.copy_and_resolve_references()
    out.model.corpus.path = absolute(out.model.corpus.path)
    out.model.corpus.cache_dir = absolute(out.model.corpus.cache_dir)
    source = out.model.backbone.source
    if source and os.path.exists(os.path.expanduser(source)):  # else a hub id
        out.model.backbone.source = absolute(source)
    out.feature_cache = absolute(out.feature_cache)
    for dataset in [out.data, *out.evals.values()]:
        for key in _DATASET_PATHS:
            dataset[key] = absolute(dataset[key])
        if dataset.labels not in KNOWN_LISTS:
            dataset.labels = absolute(dataset.labels)
    return out


class ConfigError(ValueError):
    """A config value no run can use; the message names the key (`config.x.y`)."""


# Counts that must be at least 1: batch sizes and views divide the data, the periods divide steps.
_POSITIVE_TOP = ("batch_size", "log_every", "checkpoint_every")
_POSITIVE_DATASET = ("batch_size", "num_clips", "num_crops")


def validate_config(config: ml_collections.ConfigDict) -> None:
    """Raises ConfigError naming the first key whose value no run can use (a batch size < 1, ...).

    Cheap: meant to run before the backbone is built or any data is read.
    """
    checks = [(f"config.{key}", config[key]) for key in _POSITIVE_TOP]
    datasets = [("config.data", config.data)]
    datasets += [(f"config.evals.{name}", cfg) for name, cfg in config.evals.items()]
    for where, cfg in datasets:
        checks += [(f"{where}.{key}", cfg[key]) for key in _POSITIVE_DATASET]
    for key, value in checks:
        if value < 1:
            raise ConfigError(f"{key} must be >= 1, got {value}")
    for where, cfg in datasets:
        # .get: configs recorded before this field existed lack it.
        limit = cfg.get("max_frame_pixels", DEFAULT_MAX_FRAME_PIXELS)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigError(
                f"{where}.max_frame_pixels must be a whole number of pixels >= 1 (e.g. "
                f"{DEFAULT_MAX_FRAME_PIXELS} = 4096×4096), got {limit!r}"
            )
    schedule = config.model.get("tome_schedule", "")
    if schedule:
        from alt_jax.models.tome import parse_schedule_text

        try:
            parse_schedule_text(schedule)
        except ValueError as error:
            raise ConfigError(f"config.model.tome_schedule: {error}") from None
    backbone = config.model.backbone
    for field in ("dtype", "param_dtype"):
        name = backbone.get(field, "float32")  # configs recorded before param_dtype lack it
        if name not in DTYPES:
            raise ConfigError(
                f"config.model.backbone.{field}={name!r}; valid: "
                + ", ".join(repr(d) for d in DTYPES)
            )
    attention = backbone.get("attention", "auto")
    if attention not in ATTENTION_IMPLEMENTATIONS:
        raise ConfigError(
            f"config.model.backbone.attention={attention!r}; valid: "
            + ", ".join(repr(a) for a in ATTENTION_IMPLEMENTATIONS)
        )
    if attention == "cudnn" and backbone.dtype != "bfloat16":
        raise ConfigError(
            "config.model.backbone.attention='cudnn' needs config.model.backbone.dtype="
            f"'bfloat16' (cuDNN's fused kernel takes half precision), got {backbone.dtype!r}"
        )
    probe = config.model.get("probe")  # configs recorded before the probe lack it
    if probe is not None and probe.enabled:
        if probe.views < 1:
            raise ConfigError(f"config.model.probe.views must be >= 1, got {probe.views}")
        if probe.max_clips < 0:
            raise ConfigError(
                f"config.model.probe.max_clips must be >= 0 (0: all), got {probe.max_clips}"
            )
        if config.model.head != "alt":
            raise ConfigError(
                f"config.model.probe.enabled=True is for model.head='alt', got {config.model.head!r}"
            )
    if config.get("nonfinite", "stop") not in ("stop", "skip"):
        raise ConfigError(f"config.nonfinite={config.nonfinite!r}; valid: 'stop', 'skip'")


def add_eval(
    config: ml_collections.ConfigDict, name: str, dataset: ml_collections.ConfigDict
) -> None:
    """Adds an evaluation dataset under config.evals[name] (the config stays locked otherwise)."""
    with config.evals.unlocked():
        config.evals[name] = dataset
    config.evals[name].lock()


def parse_config_arg(arg: str | None, **defaults: Any) -> ml_collections.ConfigDict:
    """`key=value,key=value` (the text after ':' in --config=file.py:ARG) over `defaults`;
    values are cast to the default's type and unknown keys are refused with the valid ones."""
    out = dict(defaults)
    for item in filter(None, (arg or "").split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(
                f"config argument {item!r} is not key=value; valid keys: {sorted(defaults)}"
            )
        if key not in defaults:
            raise KeyError(f"unknown config argument {key!r}; valid keys: {sorted(defaults)}")
        default = defaults[key]
        out[key] = value if isinstance(default, str) else type(default)(value)
    return ml_collections.ConfigDict(out)


# Per backbone: the transformers checkpoint (a hub id; pass a local folder offline) and the ToMe r.
# r = 16 for B/16 is BENCHMARKS.md's pick (50 % of the GFLOPs, 10 regions per frame); for L/14
# (257 tokens, 24 layers) r = 16 is capped down to a single region per frame, so r = 8
# (64 regions) is used instead.
BACKBONES = {
    "B/16": ("openai/clip-vit-base-patch16", 16),
    "B/32": ("openai/clip-vit-base-patch32", 4),
    "L/14": ("openai/clip-vit-large-patch14", 8),
    "L/14@336": ("openai/clip-vit-large-patch14-336", 8),
}


def set_backbone(config: ml_collections.ConfigDict, backbone: str, frames: int) -> None:
    """Points the model at a CLIP backbone and sets the frame count everywhere it appears."""
    if backbone not in BACKBONES:
        raise KeyError(f"unknown backbone {backbone!r}; valid: {sorted(BACKBONES)}")
    source, r = BACKBONES[backbone]
    config.model.backbone.preset = backbone
    config.model.backbone.source = source
    config.model.tome_r = r
    config.model.num_frames = frames
    size = 336 if backbone.endswith("@336") else 224
    for dataset in [config.data, *config.evals.values()]:
        dataset.num_frames = frames
        dataset.image_size = size


# Few-shot protocol per dataset: how its training split is read and evaluated (docs/method.md §7).
FEWSHOT_DATASETS = {
    "hmdb51": dict(kind="folder", labels="", flip=True, test_split="test"),
    "ucf101": dict(kind="folder", labels="", flip=True, test_split="test"),
    "ssv2": dict(kind="list", labels="ssv2", flip=False, test_split="val"),
    "k400": dict(kind="kinetics_csv", labels="", flip=True, test_split="validate"),
}


def fewshot_config(dataset: str, arg: str | None) -> ml_collections.ConfigDict:
    """K-shot training on `dataset` (lists from tools/make_splits.py fewshot), full-split test.

    Arguments: shots, seed, fold, root (videos), splits (the official split files, or the
    annotation list / CSV of the test split), fewshot_dir (make_splits' output), backbone, frames.
    """
    spec = FEWSHOT_DATASETS[dataset]
    opts = parse_config_arg(
        arg, shots=2, seed=0, fold=1, root="", splits="", fewshot_dir="", backbone="B/16", frames=8
    )
    if opts.shots not in (2, 4, 8, 16):
        raise ValueError(f"shots must be 2, 4, 8 or 16, got {opts.shots}")
    c = base_config()
    c.seed = opts.seed
    fewshot_dir = opts.fewshot_dir or (f"{opts.root}/fewshot" if opts.root else "")
    c.data = dataset_config(
        kind="list",
        root=opts.root,
        list_file=f"{fewshot_dir}/{opts.shots}shot_seed{opts.seed}.txt" if fewshot_dir else "",
        class_names_file=f"{fewshot_dir}/classes.txt" if fewshot_dir else "",
        flip=spec["flip"],
    )
    add_eval(
        c,
        f"{dataset}_test",
        dataset_config(
            kind=spec["kind"],
            root=opts.root,
            list_file=opts.splits,
            fold=opts.fold,
            split=spec["test_split"],
            labels=spec["labels"],
            flip=spec["flip"],
            num_clips=3,
            batch_size=4,
            class_names_file=f"{fewshot_dir}/classes.txt"
            if fewshot_dir and spec["kind"] != "folder"
            else "",
        ),
    )
    set_backbone(c, opts.backbone, opts.frames)
    c.batch_size = 32
    c.num_train_steps = 0
    c.num_epochs = {2: 50, 4: 40, 8: 30, 16: 20}[opts.shots]  # few videos: more epochs [ours]
    c.optim.lr = 2e-5 * 4
    c.optim.warmup_steps = 20
    c.checkpoint_every = 200
    return c


def sibling_config(
    config_file: str, name: str, arg: str | None = None
) -> ml_collections.ConfigDict:
    """The config of configs/`name`.py, loaded by path from beside `config_file` (config files
    are not a package), called with `arg` when given."""
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(os.path.abspath(config_file)), f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"alt_jax_config_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(arg) if arg is not None else module.get_config()
