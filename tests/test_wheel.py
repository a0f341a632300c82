"""A pip user needs no clone: the wheel built from this checkout, installed into a folder of its
own, holds every module, config and shipped file, and from an empty folder its console scripts
run every README step that needs no Kinetics: a synthetic dataset, its entity corpus, training
the demo from the shipped config (made tiny by overrides), the export, predict and the
alignment pictures."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
# What the build reads: the package, the configs it ships as alt_jax.configs, the metadata.
BUILD_INPUTS = ("alt_jax", "configs", "pyproject.toml", "README.md")
SCRIPTS = (
    "alt-jax-train",
    "alt-jax-predict",
    "alt-jax-export",
    "alt-jax-visualize",
    "alt-jax-corpus",
    "alt-jax-synthetic",
    "alt-jax-prepare",
    "alt-jax-splits",
    "alt-jax-regions",
    "alt-jax-pretrain-clip",
    "alt-jax-parity",
)
# The demo (configs/demo.py) made tiny: 2 steps of 2 clips of 2 frames at 32 px, no probe.
TINY_DEMO = (
    "--config.num_train_steps=2",
    "--config.batch_size=2",
    "--config.log_every=1",
    "--config.model.num_frames=2",
    "--config.model.probe.enabled=False",
    "--config.data.num_frames=2",
    "--config.data.image_size=32",
    "--config.evals.synthetic_val.num_frames=2",
    "--config.evals.synthetic_val.image_size=32",
    "--config.evals.synthetic_val.batch_size=2",
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("wheel")]


def _ignore_caches(folder: str, names: list[str]) -> list[str]:
    return [n for n in names if n == "__pycache__" or n.endswith((".pyc", ".egg-info"))]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built once, offline (no build isolation: setuptools is this environment's),
    from a copy of the build inputs (pip builds in-tree: no build/ or egg-info in the checkout)."""
    source = tmp_path_factory.mktemp("wheel_source")
    for name in BUILD_INPUTS:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=_ignore_caches)
        else:
            shutil.copy2(REPO / name, source / name)
    dist = tmp_path_factory.mktemp("dist")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "wheel", "-q", "--no-deps"]
        + ["--no-build-isolation", "--no-index", "-w", str(dist), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    (built,) = dist.glob("alt_jax-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh virtual environment with the wheel installed (console scripts in its bin/). The
    dependencies come from this environment's site-packages, named as a plain path in a .pth
    file, so its own .pth files (the checkout's editable install) are not processed there."""
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    target = Path(subprocess.check_output([python, "-c", purelib], text=True).strip())
    (target / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "--python", str(python)]
        + ["install", "-q", "--no-deps", "--no-index", str(wheel)],
        cwd=root,  # outside the checkout, whose alt_jax.egg-info would pass for an install
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    return root


def test_the_wheel_holds_every_module_config_and_shipped_file(wheel):
    """Every file under alt_jax/ and every config file ships (a module or data file the
    package list or the package data misses fails here), with a console script per tool."""
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = archive.read(
            next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        ).decode()
    source = {
        p.relative_to(REPO).as_posix()
        for p in (REPO / "alt_jax").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }
    source |= {f"alt_jax/configs/{p.name}" for p in (REPO / "configs").glob("*.py")}
    missing = sorted(source - names)
    assert not missing, f"not in the wheel: {missing}"
    assert "alt_jax/configs/k400.py" in names and "alt_jax/configs/demo.py" in names
    scripts = [s for s in SCRIPTS if f"\n{s} = " in f"\n{entry_points}"]
    assert scripts == list(SCRIPTS), entry_points


def run(venv: Path, cwd: Path, command: str, *args: str, timeout: int = 600) -> str:
    """`command` (a console script of the venv, or its python) run from `cwd`; its stdout (a
    failure shows the end of its stderr)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["JAX_PLATFORMS"] = "cpu"
    done = subprocess.run(
        [str(venv / "bin" / command), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"{command} {args}: exit {done.returncode}\n{done.stderr[-3000:]}"
    return done.stdout


def test_readme_commands_run_from_an_empty_folder(venv, tmp_path):
    """The README's steps without Kinetics, each through its console script, in an empty folder
    of a fresh environment holding the wheel (not the checkout, not its editable install)."""
    assert sorted(p.name for p in (venv / "bin").glob("alt-jax-*")) == sorted(SCRIPTS)
    work = tmp_path / "empty"
    work.mkdir()
    where = run(
        venv,
        work,
        "python",
        "-c",
        "import json, alt_jax, alt_jax.config_files as c\n"
        "from alt_jax.labels import load_labels\n"
        "from alt_jax.corpus import read_entities\n"
        "from alt_jax.configs_lib import default_model_config\n"
        "print(json.dumps([alt_jax.__file__, len(load_labels('k400')),"
        " len(read_entities(default_model_config().corpus.path)), c.shipped_configs(),"
        " c.resolve_config('configs/k400.py'), c.resolve_config('alt_jax:configs/demo.py:data')]))",
    )
    package_file, k400_labels, entities, shipped, k400, demo = json.loads(where)
    package = Path(package_file).parent
    assert package.is_relative_to(venv), package_file
    assert (k400_labels, entities) == (400, 242)  # the shipped label list and corpus
    assert {p.stem for p in (REPO / "configs").glob("*.py")} - {"__init__"} == set(shipped)
    assert k400 == str(package / "configs" / "k400.py")
    assert demo == f"{package / 'configs' / 'demo.py'}:data"

    run(venv, work, "alt-jax-synthetic", "--out=data", "--num_classes=2", "--train_per_class=2",
        "--val_per_class=1", "--num_frames=4", "--size=32", "--workers=1")  # fmt: skip
    classes = (work / "data" / "classes.txt").read_text().splitlines()
    assert len(classes) == 2 and len((work / "data" / "train.txt").read_text().splitlines()) == 4

    run(venv, work, "alt-jax-corpus", "--labels=data/classes.txt", "--scenes=data/scenes.txt",
        "--output=data/corpus.json")  # fmt: skip
    units = {entry["unit"] for entry in json.loads((work / "data" / "corpus.json").read_text())}
    assert {"circle", "red"} <= units, sorted(units)

    out = run(venv, work, "alt-jax-train", "--config=demo:data", "--workdir=run", *TINY_DEMO)
    assert "synthetic_val: top-1" in out
    assert (work / "run" / "alignment.png").is_file()
    saved = json.loads((work / "run" / "config.json").read_text())
    assert saved["model"]["backbone"]["source"].startswith(str(package)), "the shipped synthclip"

    run(venv, work, "alt-jax-export", "--workdir=run", "--out=export")
    exported = json.loads((work / "export" / "config.json").read_text())
    assert exported["class_names"] == classes
    assert (work / "export" / "model.safetensors").is_file()
    assert (work / "export" / "clip" / "model.safetensors").is_file()

    video = "data/" + (work / "data" / "val.txt").read_text().split()[0]
    predicted = json.loads(run(venv, work, "alt-jax-predict", "--workdir=run", video, "--json"))
    assert predicted["errors"] == [] and predicted["step"] == 2
    (result,) = predicted["videos"]
    assert result["top"] and all(row["class"] in classes for row in result["top"])

    run(venv, work, "alt-jax-visualize", "--workdir=run", video, "--out=alignment.png", "--gif")
    with Image.open(work / "alignment.png") as picture:
        assert picture.width > 32 and picture.height > 32
    with Image.open(work / "alignment.gif") as gif:
        assert gif.n_frames == 2  # one per frame the run samples (model.num_frames=2)
