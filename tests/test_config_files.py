"""alt_jax/config_files.py: `--config=` takes a file's path, a shipped config's name or
`alt_jax:configs/NAME.py`, each with its `:ARG`; anything else is one error listing the names."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from alt_jax import config_files
from alt_jax.configs_lib import ConfigError

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"


def test_every_config_file_of_the_repository_is_shipped():
    """In a clone the shipped configs are the repository's configs/ (the wheel maps that folder
    to alt_jax.configs), so a config file added there is found by name with no other change."""
    assert config_files.config_dir() == CONFIGS
    on_disk = sorted(p.stem for p in CONFIGS.glob("*.py") if p.name != "__init__.py")
    assert config_files.shipped_configs() == on_disk
    assert {"demo", "k400", "zeroshot"} <= set(on_disk)


@pytest.mark.parametrize(
    "given, want",
    [
        ("k400", "k400.py"),
        ("k400.py", "k400.py"),
        ("k400:backbone=L/14,frames=16", "k400.py:backbone=L/14,frames=16"),
        ("demo:demo_out/data", "demo.py:demo_out/data"),
        ("alt_jax:configs/k400.py", "k400.py"),
        ("alt_jax:configs/demo.py:/data/x:y", "demo.py:/data/x:y"),
        ("configs/zeroshot.py:fold=2", "zeroshot.py:fold=2"),  # no such file here: the shipped
    ],
)
def test_shipped_names_become_the_shipped_file(given, want, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an empty folder, as a pip user's
    assert config_files.resolve_config(given) == f"{CONFIGS}/{want}"


def test_an_existing_file_is_kept_as_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "k400.py").write_text("def get_config(): ...\n")
    (tmp_path / "mine").write_text("def get_config(): ...\n")
    # The user's own configs/k400.py, not the shipped one; any path that is a file stays.
    assert config_files.resolve_config("configs/k400.py:frames=16") == "configs/k400.py:frames=16"
    assert config_files.resolve_config("mine") == "mine"
    absolute = f"{CONFIGS}/demo.py:data"
    assert config_files.resolve_config(absolute) == absolute


@pytest.mark.parametrize(
    "given",
    ["k401", "configs/k401.py", "/no/such/k400.py", "alt_jax:configs/k401.py", "alt_jax:k400"],
)
def test_an_unknown_config_is_one_line_listing_the_shipped_names(given, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        config_files.resolve_config(given)
    message = str(info.value)
    assert "\n" not in message and f"--config={given}" in message
    assert ", ".join(config_files.shipped_configs()) in message


def test_the_flag_is_resolved_in_both_spellings_and_overrides_stay(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["--config=k400:frames=16", "--config.batch_size=4", "--workdir=w"]
    assert config_files.resolve_config_flag(argv) == [
        f"--config={CONFIGS}/k400.py:frames=16",
        "--config.batch_size=4",
        "--workdir=w",
    ]
    assert config_files.resolve_config_flag(["--config", "demo", "--mode=eval"]) == [
        "--config",
        f"{CONFIGS}/demo.py",
        "--mode=eval",
    ]
    assert config_files.resolve_config_flag(["--", "--config=k401"]) == ["--", "--config=k401"]


@pytest.mark.slow  # imports alt_jax.main: JAX and TensorFlow, 3 s
def test_main_refuses_an_unknown_config_in_one_line(tmp_path, monkeypatch, capsys):
    """`python -m alt_jax.main --config=configs/k401.py` from a folder without it: one line
    naming the shipped configs, exit 2, before any run starts."""
    from alt_jax import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["alt-jax-train", "--config=configs/k401.py", "--workdir=w"])
    with pytest.raises(SystemExit) as info:
        main.run()
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: --config=configs/k401.py")
    assert "k400" in err and "demo" in err
    assert not (tmp_path / "w").exists()


def test_a_shipped_name_loads_through_ml_collections(tmp_path, monkeypatch):
    """The resolved value is what ml_collections' config flag reads: the file, its `:ARG` and
    the overrides (here parsed by a FlagValues of its own)."""
    from absl import flags
    from ml_collections import config_flags

    monkeypatch.chdir(tmp_path)
    argv = ["prog", "--config=k400:frames=16", "--config.batch_size=4"]
    argv = [argv[0], *config_files.resolve_config_flag(argv[1:])]
    values = flags.FlagValues()
    config_flags.DEFINE_config_file("config", None, "x", flag_values=values, sys_argv=argv)
    values(argv)
    assert values.config.model.num_frames == 16 and values.config.batch_size == 4
