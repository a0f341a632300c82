"""Shipped resources are found inside the installed package, from any folder (alt_jax.resources)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import alt_jax
from alt_jax import labels
from alt_jax.corpus import read_entities

PACKAGE = Path(alt_jax.__file__).resolve().parent
REPO = Path(__file__).resolve().parents[1]


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


def _package_copy(dest: Path) -> Path:
    """The files `pip wheel` needs (pyproject, README, the package), without build leftovers."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, dest / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "alt_jax", dest / "alt_jax", ignore=ignore)
    return dest


@pytest.mark.slow
def test_built_wheel_works_without_the_repository(tmp_path):
    # Build from a copy (pip builds in-tree: no build/ or egg-info in the checkout) without
    # network (no build isolation: setuptools comes from this environment).
    source = _package_copy(tmp_path / "src")
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", str(wheels), str(source)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = wheels.glob("alt_jax-*.whl")
    # A fresh virtual environment: the wheel is installed into it; the dependencies come from
    # this environment's site-packages named as a plain path in a .pth file, so its own .pth
    # files (an editable install of the checkout) are not processed there.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    target = Path(subprocess.check_output([python, "-c", purelib], text=True).strip())
    (target / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["JAX_PLATFORMS"] = "cpu"

    def there(*command) -> subprocess.CompletedProcess:
        # Outside the checkout: there its alt_jax.egg-info would pass for an installed alt_jax.
        return subprocess.run(
            command, cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120
        )

    pip = (sys.executable, "-m", "pip", "--python", str(python))
    install = there(*pip, "install", "--no-deps", "-q", str(wheel))
    assert install.returncode == 0, install.stderr[-3000:]
    script = (
        "import json, alt_jax\n"
        "from alt_jax.labels import load_labels\n"
        "from alt_jax.corpus import read_entities\n"
        "from alt_jax.configs_lib import default_model_config\n"
        "print(json.dumps([alt_jax.__file__, len(load_labels('k400')),"
        " len(read_entities(default_model_config().corpus.path))]))\n"
    )
    run = there(str(python), "-c", script)
    assert run.returncode == 0, run.stderr[-3000:]
    file, k400, entities = __import__("json").loads(run.stdout.strip().splitlines()[-1])
    assert Path(file).is_relative_to(target), file
    assert (k400, entities) == (400, 242)
    help_run = there(str(python), "-m", "alt_jax.predict", "--help")
    assert help_run.returncode == 0, help_run.stderr[-3000:]
    assert "--workdir" in help_run.stdout
