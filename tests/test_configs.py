"""Every shipped config file builds, takes its arguments, and refuses unknown ones."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from alt_jax.builders import tome_spec
from alt_jax.configs_lib import (
    ConfigError,
    add_eval,
    base_config,
    dataset_config,
    parse_config_arg,
    validate_config,
)
from alt_jax.models import tome

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, CONFIGS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "name",
    [
        "k400",
        "zeroshot",
        "demo",
        "hmdb51_fewshot",
        "ucf101_fewshot",
        "ssv2_fewshot",
        "k400_fewshot",
        "ucf101_tfds",
    ],
)
def test_config_builds_with_every_field_known(name):
    config = load(name).get_config()
    reference = base_config()
    # Same schema as the base config: nothing added, nothing missing (evals aside).
    assert set(config.keys()) == set(reference.keys())
    assert set(config.model.keys()) == set(reference.model.keys())
    assert config.evals, "every config evaluates something"
    validate_config(config)
    for dataset in [config.data, *config.evals.values()]:
        assert set(dataset.keys()) == set(reference.data.keys())
        assert dataset.num_frames == config.model.num_frames


def test_k400_variants():
    config = load("k400").get_config("backbone=L/14,frames=16,views=4x3")
    assert config.model.backbone.preset == "L/14" and config.model.tome_r == 8
    assert config.data.num_frames == 16 and config.evals.k400_val.num_frames == 16
    assert (config.evals.k400_val.num_clips, config.evals.k400_val.num_crops) == (4, 3)
    assert config.model.tome_schedule == ""  # the constant r is read
    # B/16: ToMe's decreasing ramp, 2r = 28 merges in the first layer down to 0 in the twelfth
    # (r_l = int(28 - 28 l / 11)): 163 merges leave 33 of the 196 patches of a frame.
    model = load("k400").get_config().model
    assert model.tome_schedule == "14,-1.0"
    merges = [int(28 - 28 / 11 * layer) for layer in range(12)]
    schedule = tome.parse_r_schedule(tome_spec(model), 12, 197)
    assert list(schedule) == merges and 196 - sum(merges) == 33


def test_fewshot_lists_and_protocol():
    config = load("ssv2_fewshot").get_config("shots=8,seed=2,root=/d")
    assert config.data.list_file == "/d/fewshot/8shot_seed2.txt" and config.seed == 2
    assert config.data.flip is False  # left/right matters in SSv2
    with pytest.raises(ValueError, match="shots"):
        load("ucf101_fewshot").get_config("shots=3")


def test_ucf101_tfds_names_the_catalogue_dataset():
    config = load("ucf101_tfds").get_config("data_dir=/tfds,tfds_config=ucf101_2,views=2x3")
    for dataset, split in ((config.data, "train"), (config.evals.ucf101_test, "test")):
        assert (dataset.kind, dataset.tfds_name) == ("tfds_catalogue", "ucf101")
        assert dataset.split == split
        assert (dataset.root, dataset.tfds_config) == ("/tfds", "ucf101_2")
    assert (config.evals.ucf101_test.num_clips, config.evals.ucf101_test.num_crops) == (2, 3)


def test_zeroshot_evaluates_three_datasets_in_one_run():
    config = load("zeroshot").get_config("fold=2,k600_dir=/z")
    assert sorted(config.evals) == ["hmdb51", "k600_novel0", "k600_novel1", "k600_novel2", "ucf101"]
    assert config.evals.hmdb51.fold == 2 and config.evals.hmdb51.labels == "hmdb51"
    assert config.evals.k600_novel2.class_names_file == "/z/subset2_classes.txt"


def test_config_arguments_are_checked():
    assert parse_config_arg("a=3,b=x", a=1, b="y").to_dict() == {"a": 3, "b": "x"}
    with pytest.raises(KeyError, match=r"valid keys: \['a', 'b'\]"):
        parse_config_arg("c=1", a=1, b="y")
    with pytest.raises(ValueError, match="key=value"):
        parse_config_arg("a", a=1)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("batch_size", 0, r"config\.batch_size must be >= 1, got 0"),
        ("batch_size", -4, r"config\.batch_size must be >= 1, got -4"),
        ("evals.val.batch_size", 0, r"config\.evals\.val\.batch_size must be >= 1, got 0"),
        ("data.num_clips", 0, r"config\.data\.num_clips must be >= 1, got 0"),
        ("evals.val.num_crops", 0, r"config\.evals\.val\.num_crops must be >= 1, got 0"),
        ("log_every", 0, r"config\.log_every must be >= 1, got 0"),
        ("checkpoint_every", 0, r"config\.checkpoint_every must be >= 1, got 0"),
    ],
)
def test_counts_below_one_are_refused_by_key(field, value, message):
    config = base_config()
    add_eval(config, "val", dataset_config())
    validate_config(config)  # the defaults pass
    node = config
    *parents, last = field.split(".")
    for key in parents:
        node = node[key]
    node[last] = value
    with pytest.raises(ConfigError, match=f"^{message}$"):
        validate_config(config)


@pytest.mark.parametrize(
    "field, value, message",
    [
        (
            "dtype",
            "float16",
            r"config\.model\.backbone\.dtype='float16'; valid: 'float32', 'bfloat16'",
        ),
        ("param_dtype", "fp8", r"config\.model\.backbone\.param_dtype='fp8'; valid: .*"),
        (
            "attention",
            "flash",
            r"config\.model\.backbone\.attention='flash'; valid: 'auto', 'reference', 'xla', 'cudnn'",
        ),
    ],
)
def test_backbone_numerics_are_refused_by_key_with_the_valid_values(field, value, message):
    config = base_config()
    config.model.backbone[field] = value
    with pytest.raises(ConfigError, match=f"^{message}$"):
        validate_config(config)


def test_cudnn_attention_needs_bfloat16_compute():
    config = base_config()
    config.model.backbone.attention = "cudnn"
    with pytest.raises(ConfigError, match=r"attention='cudnn' needs .*dtype='bfloat16'"):
        validate_config(config)
    config.model.backbone.dtype = "bfloat16"
    validate_config(config)


def test_k400_shipped_files_are_found_from_any_folder(tmp_path, monkeypatch):
    from alt_jax.corpus import read_entities
    from alt_jax.data.sources import read_class_names

    monkeypatch.chdir(tmp_path)
    config = load("k400").get_config()
    assert len(read_entities(config.model.corpus.path)) == 242
    assert len(read_class_names(config.data.class_names_file)) == 400


def test_absolute_paths_resolve_every_local_path(tmp_path, monkeypatch):
    from alt_jax.configs_lib import absolute_paths

    monkeypatch.chdir(tmp_path)
    (tmp_path / "clip").mkdir()
    config = base_config()
    config.model.corpus.path = "data/corpus.json"
    config.model.corpus.cache_dir = "~/cache"
    config.model.backbone.source = "clip"
    config.data.root = "data"
    config.data.list_file = "data/train.txt"
    config.data.labels = "k400"
    config.feature_cache = "gs://bucket/features"
    add_eval(config, "val", dataset_config(root="videos", class_names_file="classes.txt"))
    out = absolute_paths(config)
    assert out.model.corpus.path == str(tmp_path / "data" / "corpus.json")
    assert out.model.corpus.cache_dir == str(Path("~/cache").expanduser())
    assert out.model.backbone.source == str(tmp_path / "clip")
    assert out.data.root == str(tmp_path / "data")
    assert out.data.list_file == str(tmp_path / "data" / "train.txt")
    assert out.data.labels == "k400"  # a shipped list's name stays a name
    assert out.feature_cache == "gs://bucket/features"
    assert out.evals.val.class_names_file == str(tmp_path / "classes.txt")
    assert config.model.corpus.path == "data/corpus.json"  # the given config is not changed
    # A hub id is not a local folder: it stays as given.
    config.model.backbone.source = "openai/clip-vit-base-patch16"
    assert absolute_paths(config).model.backbone.source == "openai/clip-vit-base-patch16"
