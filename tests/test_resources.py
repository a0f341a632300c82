"""Shipped resources are found inside the installed package, from any folder (alt_jax.resources)."""

from __future__ import annotations

from pathlib import Path

import alt_jax
from alt_jax import labels
from alt_jax.corpus import read_entities

PACKAGE = Path(alt_jax.__file__).resolve().parent


def test_label_lists_live_inside_the_package(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = labels.label_list_path("k400")
    assert path.resolve().is_relative_to(PACKAGE)
    assert labels.load_labels("k400")[0] == "abseiling"


def test_packaged_form_resolves_inside_the_package(tmp_path, monkeypatch):
    from alt_jax import resources

    monkeypatch.chdir(tmp_path)
    path = Path(resources.resolve(resources.SHIPPED_CORPUS))
    assert path.is_absolute() and path.resolve().is_relative_to(PACKAGE)
    assert len(read_entities(resources.SHIPPED_CORPUS)) == 242
    assert labels.load_labels("alt_jax:labels/ucf101.txt")[0] == "apply eye makeup"


def test_absolute_keeps_packaged_and_remote_forms(tmp_path, monkeypatch):
    from alt_jax import resources

    monkeypatch.chdir(tmp_path)
    assert resources.absolute("data/x.json") == str(tmp_path / "data" / "x.json")
    assert resources.absolute("") == ""
    assert resources.absolute(resources.SHIPPED_CORPUS) == resources.SHIPPED_CORPUS
    assert resources.absolute("gs://bucket/x") == "gs://bucket/x"


def test_default_model_config_names_the_packaged_corpus(tmp_path, monkeypatch):
    from alt_jax.configs_lib import default_model_config

    monkeypatch.chdir(tmp_path)
    assert len(read_entities(default_model_config().corpus.path)) == 242


# The built wheel, installed into a fresh environment, finds them too: tests/test_wheel.py.
