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
from alt_jax.data.pipeline import SourceSpec
from alt_jax.data.sources import DEFAULT_KINETICS_PATTERN
from alt_jax.labels import KNOWN_LISTS
from alt_jax.models.attention import ATTENTION_IMPLEMENTATIONS
from alt_jax.models.tome import parse_schedule_text
from alt_jax.resources import SHIPPED_CORPUS, absolute

# Compute and storage dtypes a config may name for the frozen CLIP (builders maps them to JAX's).
DTYPE_NAMES = ("float32", "bfloat16")

DATASET_DEFAULTS: dict[str, Any] = {
    "kind": "list",  # list / kinetics_csv / folder / tfds / tfds_catalogue
    "root": "",  # videos (or the tfds data_dir; tfds_catalogue: "" is tfds' default data_dir)
    "list_file": "",  # annotation list, Kinetics CSV, or the split-file folder
    "class_names_file": "",
    "labels": "",  # a shipped label list (k400, ucf101, ...) naming the classes, or a path
    "split": "train",
    "fold": 1,
    "filename_pattern": DEFAULT_KINETICS_PATTERN,  # kinetics_csv: video path under root
    "tfds_name": "",  # tfds: the packed dataset; tfds_catalogue: the catalogue's ('ucf101')
    "tfds_config": "",  # tfds_catalogue: the builder config ('ucf101_1_256'); "": its default
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


def default_model_config() -> ml_collections.ConfigDict:
    """The ALT model's configuration with its defaults ([ours] choices are all knobs here)."""
    c = ml_collections.ConfigDict()
    c.backbone = ml_collections.ConfigDict()
    c.backbone.source = ""  # transformers folder / hub id; "" = random weights at `preset`
    c.backbone.preset = "B/16"
    c.backbone.dtype = "float32"  # CLIP compute dtype: float32 or bfloat16
    # How the frozen CLIP's parameters are stored: bfloat16 halves their memory and reads (the
    # towers are never trained, so no float32 master copy is needed).
    c.backbone.param_dtype = "float32"
    # Attention implementation of both towers (attention.ATTENTION_IMPLEMENTATIONS): "auto" picks
    # by platform (CPU: "reference", elsewhere XLA's; cuDNN's fused kernel is asked for by name).
    c.backbone.attention = "auto"
    c.tome_r = 16  # ToMe merges per layer (0: plain CLIP)
    # A schedule in its own words, read instead of tome_r when not empty: "14,-1.0" (an (r,
    # inflect) ramp: 2r merges in the first layer decreasing to 0) or one int per layer.
    c.tome_schedule = ""
    c.prop_attn = True
    # How the frozen CLIP's last block computes region tokens (clip.REGION_FEATURES): "tokens"
    # (CLIP's own, exact parity) or a training-free dense-CLIP path ("maskclip", "sclip",
    # "clearclip"); measured on alignment grounding in BENCHMARKS.md.
    c.region_features = "tokens"
    c.num_frames = 8
    c.corpus = ml_collections.ConfigDict()
    c.corpus.path = SHIPPED_CORPUS  # inside the installed package (alt_jax.resources)
    c.corpus.cache_dir = "~/.cache/alt_jax"
    c.corpus.batch_size = 256
    # How each entity becomes text (corpus.ENTITY_TEXT_FORMS): "unit", "templates" (the unit in
    # each of corpus.templates, averaged), "pair" (the paper's "{unit}: {description}") or
    # "pair+templates". Chosen by alignment grounding (BENCHMARKS.md).
    c.corpus.text_form = "templates"
    c.corpus.templates = ("a photo of a {}.",)
    c.tau_init = 0.07  # alignment temperature τ_a
    c.alignment = ml_collections.ConfigDict()
    c.alignment.gumbel = "logits"  # alignment.GUMBEL_FORMS: softmax(cos/τ + G) or ((cos + G)/τ)
    # alignment.W_R_MODES: "free", "frozen", "anchored" (a free W_r drifts: the demo's
    # background regions collapsed onto one entity within 150 steps).
    c.alignment.w_r = "anchored"
    c.alignment.anchor_weight = 1.0  # weight of ‖W_r − W_r⁰‖²/‖W_r⁰‖² when anchored
    # The adapter's queries: "entities" (the aligned entity texts Q̂, ALT) or "learned" (the
    # ablation without alignment: one learned query per region slot, shared by every frame and
    # video, so the adapter and its query count stay as they are and only Q̂ is replaced).
    c.queries = "entities"
    c.adapter = ml_collections.ConfigDict()
    # "ordered": frame-local attention over positioned regions, then a temporal transformer over
    # the ordered frame summaries (docs/method.md §5); "global": the first version (no region position, all
    # T·M queries over all T·M regions, mean readout), kept for the ablation.
    c.adapter.kind = "ordered"
    c.adapter.width = 0  # 0: the CLIP joint width d
    c.adapter.depth = 4
    c.adapter.heads = 8
    c.adapter.mlp_ratio = 4.0
    c.adapter.conv_kernel = 3
    # The knobs below are the ordered adapter's.
    c.adapter.position = "fourier"  # region positions from the ToMe map; "none" for the ablation
    c.adapter.fourier_bands = 4  # centroid frequencies π·2^k, k < bands
    c.adapter.frame_window = 0  # queries of frame t see the regions of frames t ± w
    c.adapter.temporal_depth = 1  # layers of the temporal transformer over frame summaries
    c.adapter.temporal_position = True  # temporal position embeddings on the frame summaries
    c.adapter.readout = "ordered"  # "ordered" (frames concatenated in order), "video_token", "mean"
    # What the temporal module sees of the frame summaries (adapter.TEMPORAL_INPUTS): the
    # summaries share a large component (the clip's appearance), and what changes between frames
    # is a small part of them; "appearance_and_change" gives the temporal module the clip mean
    # and the deviations from it as separate tokens, each normalised on its own, so both reach
    # z at unit scale. "centred" (deviations only) and "raw" are the ablations.
    c.adapter.temporal_input = "appearance_and_change"
    c.adapter.change_floor = 0.05  # deviations below this share of the clip's scale stay small
    # Region positions on the keys only: a query is its entity's text, so the adapter's queries
    # depend on the alignment (with positions on the queries too, the entities were redundant).
    c.adapter.query_position = False
    c.adapter.conv_padding = "zero"  # the class-token convolution's ends: "zero" or "edge"
    c.adapter.frame_embedding = False  # a per-frame time code on keys and queries
    c.adapter.query_pooling = "entity"  # frame summary: every aligned entity alike, or "mean"
    # The clip's mean class token (one linear map) as a token of the temporal module.
    c.adapter.class_token = False
    # W_o = 0 at init: z = 0, so an open gate (gate_init != 0) starts at CLIP's frame average
    # (plus the entity readout) and still trains W_o from the first step.
    c.adapter.zero_output = False
    c.gate_init = 0.0  # g and g_e at init (0: exactly CLIP's frame-average zero-shot)
    # The entity readout [ours]: the aligned entity texts themselves, pooled per frame by the
    # adapter's readout weights and averaged over frames (e, in the joint space), join the video
    # vector at the frame average's scale: video = base + g·z + g_e·‖base‖·e. It is where the
    # entities reach the classifier as text.
    c.entity_readout = True
    # The closed-form appearance probe [ours] (models/probe.py): a ridge map from the clip's mean
    # class token into the text space, fitted on the training set before step 0; its score for
    # each class text joins the cosine through its own gate g_p (1 at init). Off: not fitted.
    c.probe = ml_collections.ConfigDict()
    c.probe.enabled = False
    c.probe.trainable = False  # the map (and μ) trained from its fit, or kept as fitted
    # The fit reads `views` augmented views of up to `max_clips` training clips (0: all): the
    # views are the feature cache's (or passes over the videos with seeds seed, seed + 1, …).
    c.probe.views = 4
    c.probe.max_clips = 0
    c.logit_scale_init = 100.0  # stored as its log
    c.frame_pool = "raw"  # "raw" or "normalized" per-frame class features in mean_t(cls_t)
    c.prompt_templates = ("a video of a person {}.",)
    # Subtract the mean class embedding before the classifier (off for ALT as published).
    c.center_class_embeddings = False
    c.label_smoothing = 0.0
    # Which head sits on the frozen encoder: "alt" (this module) or "victr" (models/victr.py).
    c.head = "alt"
    c.victr = ml_collections.ConfigDict()
    c.victr.layers = 2  # [ours] the notes do not give the depth of the video head
    c.victr.heads = 8
    c.victr.width = 0  # 0: the CLIP joint width d
    c.victr.mlp_ratio = 4.0
    c.victr.affinity_temperature = 0.01  # [ours] τ of every softmax affinity (CLIP's 1/100)
    c.victr.aux_texts = True  # auxiliary texts = the entity corpus at corpus.path; False: none
    # [ours] What the visual token of frame t holds (victr.VISUAL_KINDS): "class_token" (the
    # published design: CLIP's projected class token) or "regions" (the class token plus the
    # frame's region tokens pooled with their positions from the ToMe map: a class token does not
    # say where things are, so motion could not be read from it).
    c.victr.visual = "regions"
    c.victr.fourier_bands = 4  # region centroid frequencies π·2^k, k < bands ("regions")
    # [ours] How token boosting weights the texts (victr.BOOST_KINDS): "softmax" (u = a·w, the
    # published rule; at τ = 0.01 most texts get a < 1e-3 and lose their identity) or "relative"
    # (u = J·a·w: the affinity relative to the uniform 1/J, so an average text keeps unit norm).
    c.victr.boost = "relative"
    c.victr.boost_temperature = 0.1  # [ours] τ of the boosting softmax
    # [ours] The learnt temporal embedding's start (victr.TEMPORAL_INITS): "sinusoidal" (at a unit
    # token's norm) or "normal" (N(0, 0.02²), the first version's: a 4th of a token's norm).
    c.victr.temporal_init = "sinusoidal"
    # [ours] Temporal pooling of the tokens (victr.POOLINGS): "mean" (the published design) or
    # "ordered" (the mean plus a linear map of every frame's normalised change from the mean,
    # concatenated in frame order: a mean cannot tell a motion from its reverse; needs exactly
    # num_frames frames).
    c.victr.pooling = "ordered"
    # [ours] Anchor both sides of the classifier at CLIP: the video vector is the frame average
    # of the unit class tokens plus g_v times the head's (unit) video token, each class vector its
    # prompt embedding plus g_c times its (unit) video-conditioned token (g_v = g_c = `gate_init`
    # at init). The class texts then keep their identity whatever the head does to them; with
    # the gates at 0 the logits are CLIP's zero-shot on the frame average. False: the published
    # classifier on the head's pooled tokens alone.
    c.victr.anchor = True
    c.victr.gate_init = 1.0
    return c


def default_optim_config() -> ml_collections.ConfigDict:
    """Optimizer defaults (ALT trains its adapter with AdamW; [ours] values are knobs)."""
    c = ml_collections.ConfigDict()
    c.lr = 8e-6 * 8  # scaled for a batch of 64 videos from the usual 8e-6 per 8
    c.end_factor = 0.0
    c.warmup_steps = 500
    c.weight_decay = 0.001
    c.b1 = 0.9
    c.b2 = 0.98
    c.eps = 1e-8
    c.grad_clip = 1.0
    c.accum_steps = 1
    return c


def source_spec(cfg: ml_collections.ConfigDict) -> SourceSpec:
    """The videos a dataset config lists (`pipeline.load_source`'s spec); the one place the
    config's source fields are read."""
    return SourceSpec(
        kind=cfg.kind,
        root=cfg.root,
        list_file=cfg.list_file or None,
        class_names_file=cfg.class_names_file or None,
        split=cfg.split,
        fold=cfg.fold,
        filename_pattern=cfg.filename_pattern,
        tfds_name=cfg.tfds_name or None,
        # .get: configs recorded before this field existed lack it.
        tfds_config=cfg.get("tfds_config", "") or None,
    )


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
        if cfg.kind in ("tfds", "tfds_catalogue") and not cfg.tfds_name:
            example = "'ucf101'" if cfg.kind == "tfds_catalogue" else "the packed dataset's name"
            raise ConfigError(f"{where}.kind={cfg.kind!r} needs {where}.tfds_name ({example})")
        # .get: configs recorded before this field existed lack it.
        limit = cfg.get("max_frame_pixels", DEFAULT_MAX_FRAME_PIXELS)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigError(
                f"{where}.max_frame_pixels must be a whole number of pixels >= 1 (e.g. "
                f"{DEFAULT_MAX_FRAME_PIXELS} = 4096×4096), got {limit!r}"
            )
    schedule = config.model.get("tome_schedule", "")
    if schedule:
        try:
            parse_schedule_text(schedule)
        except ValueError as error:
            raise ConfigError(f"config.model.tome_schedule: {error}") from None
    backbone = config.model.backbone
    for field in ("dtype", "param_dtype"):
        name = backbone.get(field, "float32")  # configs recorded before param_dtype lack it
        if name not in DTYPE_NAMES:
            raise ConfigError(
                f"config.model.backbone.{field}={name!r}; valid: "
                + ", ".join(repr(d) for d in DTYPE_NAMES)
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


def prepare_run_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """The config a run records: validated (ConfigError naming the key) and with absolute local
    paths. Where a run starts (the runner, or a Trainer built directly); cheap and idempotent."""
    validate_config(config)
    return absolute_paths(config)


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


# Per backbone: the transformers checkpoint (a hub id; pass a local folder offline) and the ToMe
# merges: a constant r (model.tome_r) or a schedule (model.tome_schedule's text). B/16: the ramp
# "14,-1.0" (28 merges in the first layer down to 0; 33 regions per frame) is BENCHMARKS.md's pick
# from its accuracy-FLOPs table: 0.447x X-CLIP-B/16's GFLOPs per view, the smallest accuracy loss
# of the schedules at or below 0.45x.
# L/14 (257 tokens, 24 layers): r = 16 is capped down to a single region per frame, so r = 8
# (64 regions) is used instead.
BACKBONES = {
    "B/16": ("openai/clip-vit-base-patch16", "14,-1.0"),
    "B/32": ("openai/clip-vit-base-patch32", 4),
    "L/14": ("openai/clip-vit-large-patch14", 8),
    "L/14@336": ("openai/clip-vit-large-patch14-336", 8),
}


def set_backbone(config: ml_collections.ConfigDict, backbone: str, frames: int) -> None:
    """Points the model at a CLIP backbone, sets its ToMe schedule and the frame count everywhere
    it appears."""
    if backbone not in BACKBONES:
        raise KeyError(f"unknown backbone {backbone!r}; valid: {sorted(BACKBONES)}")
    source, merges = BACKBONES[backbone]
    config.model.backbone.preset = backbone
    config.model.backbone.source = source
    if isinstance(merges, str):
        config.model.tome_schedule = merges
    else:
        config.model.tome_r, config.model.tome_schedule = merges, ""
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
