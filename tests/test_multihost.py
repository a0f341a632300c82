"""Two processes × 4 CPU devices joined by jax.distributed vs one process with 8 devices."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import portpicker
import pytest
import tiny_run
from conftest import TINY_RUN, cpu_env

from alt_jax.train.trainer import Trainer

PROCESSES = 2


def start_processes(
    tiny_data: str, workdir: str, outs: list[str], steps: int, options: tuple[str, ...] = ()
) -> list:
    """Starts tests/tiny_run.py as PROCESSES processes of one run (a localhost coordinator, the
    environment launch/gpu_slurm.sh sets); `options` are tiny_run's (e.g. "probe")."""
    port = portpicker.pick_unused_port()
    procs = []
    for i, out in enumerate(outs):
        env = cpu_env(
            8 // PROCESSES,
            JAX_COORDINATOR_ADDRESS=f"localhost:{port}",
            JAX_NUM_PROCESSES=str(PROCESSES),
            JAX_PROCESS_ID=str(i),
        )
        args = [sys.executable, str(TINY_RUN), tiny_data, workdir, out, "data=4,fsdp=2", str(steps)]
        args += list(options)
        procs.append(
            subprocess.Popen(
                args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
        )
    return procs


def wait_all(procs: list, timeout: int) -> None:
    """Waits for every process; kills the rest when one fails; asserts they all exited 0."""
    try:
        errors = [proc.communicate(timeout=timeout)[1] for proc in procs]
    finally:
        for proc in procs:  # one process failing leaves the other waiting on it
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for i, proc in enumerate(procs):
        assert proc.returncode == 0, f"process {i}:\n{errors[i][-3000:]}"


@pytest.fixture(scope="session")
def two_process_run(tiny_data, tmp_path_factory) -> tuple[Path, list[dict[str, np.ndarray]]]:
    """3 tiny-run steps with the appearance probe on, in PROCESSES processes of 4 CPU devices
    (mesh data=4 × fsdp=2, as eight_device_run): the workdir and each process's output."""
    place = tmp_path_factory.mktemp("two_processes")
    outs = [str(place / f"process{i}.npz") for i in range(PROCESSES)]
    wait_all(start_processes(tiny_data, str(place / "run"), outs, 3, ("probe",)), 500)
    return place / "run", [dict(np.load(out)) for out in outs]


@pytest.mark.slow
def test_two_processes_train_like_one_process_with_eight_devices(
    tiny_data, two_process_run, eight_device_run
):
    workdir, runs = two_process_run
    reference = eight_device_run

    # Same losses (every process sees the global loss) and parameters as the 8-device run.
    for run in runs:
        np.testing.assert_allclose(run["losses"], reference["losses"], atol=1e-5)
        params = [key for key in reference if key.startswith("[")]
        assert params and set(run) == set(reference)
        for key in params:
            np.testing.assert_allclose(run[key], reference[key], atol=1e-5, err_msg=key)
        # Trained, not merely equal: every trainable leaf moved, nothing frozen changed.
        assert not [k for k in params if np.array_equal(run[k], run[f"initial{k}"])]
        assert run["frozen_changed"] == 0

    # Process p read the p-th half of each batch of 8 videos the single process read; the
    # halves are disjoint.
    assert [run["indices"].shape for run in runs] == [(3, 4)] * PROCESSES
    for step in range(3):
        first, second = (set(run["indices"][step].tolist()) for run in runs)
        assert not first & second
        np.testing.assert_array_equal(
            np.concatenate([run["indices"][step] for run in runs]), reference["indices"][step]
        )
    # Steps 1-2 are the first epoch (16 videos, global batch 8): all 16, each read once.
    epoch = np.concatenate([run["indices"][:2].ravel() for run in runs])
    assert sorted(epoch.tolist()) == list(range(16))

    # One checkpoint (step 3), written jointly: each process wrote its part of the arrays, and
    # the data positions of both processes are in it.
    checkpoints = workdir / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["3"]
    for i in range(PROCESSES):
        assert any((checkpoints / "3" / "params" / f"ocdbt.process_{i}").rglob("*"))
    data_state = json.loads((checkpoints / "3" / "data" / "metadata").read_text())
    assert len(data_state["processes"]) == PROCESSES
    # Only process 0 wrote metrics: one line per step (3) plus the progress report.
    lines = (workdir / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines if "train/loss" in line] == [1, 2, 3]

    # Restorable, here by a single process: the parameters the two processes ended with.
    trainer = Trainer(tiny_run.tiny_config(tiny_data, probe=True), str(workdir))
    assert trainer.restore_params() == 3
    restored = tiny_run.flat_params(trainer.params)
    for key in params:
        np.testing.assert_allclose(restored[key], runs[0][key], atol=0, err_msg=key)


@pytest.mark.slow
def test_sigterm_on_one_host_stops_all_at_the_same_step(tiny_data, tmp_path):
    """A preemption notice reaches one host only: JAX's preemption service tells the other,
    both stop at the same step, save it jointly and exit 0 (with a flag per process they
    would save at different steps and hang in each other's collectives)."""
    workdir = tmp_path / "run"
    outs = [str(tmp_path / f"process{i}.npz") for i in range(PROCESSES)]
    procs = start_processes(tiny_data, str(workdir), outs, 100000)
    metrics = workdir / "metrics.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and all(p.poll() is None for p in procs):
        if (
            metrics.exists()
            and sum("train/loss" in x for x in metrics.read_text().splitlines()) >= 3
        ):
            break
        time.sleep(0.3)
    procs[1].send_signal(signal.SIGTERM)
    wait_all(procs, 200)
    steps = [len(np.load(out)["losses"]) for out in outs]
    assert steps[0] == steps[1] and 3 <= steps[0] < 100000, steps
    checkpoints = sorted(
        int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit()
    )
    assert checkpoints[-1] == steps[0]
    trainer = Trainer(tiny_run.tiny_config(tiny_data), str(workdir))
    assert trainer.restore_params() == steps[0]


def test_workdir_files_go_through_epath(tmp_path):
    """Reports and metrics are written through etils.epath: a local workdir works, and the
    gs:// paths built on a workdir keep their scheme (pathlib would make them gs:/...)."""
    from etils import epath

    from alt_jax.train import evaluation
    from alt_jax.train.writers import JsonlWriter

    assert str(Path("gs://bucket/run") / "eval") == "gs:/bucket/run/eval"  # what is avoided
    assert str(epath.Path("gs://bucket/run") / "eval") == "gs://bucket/run/eval"

    workdir = epath.Path(tmp_path) / "run"
    writer = JsonlWriter(workdir / "metrics.jsonl")
    writer.write_scalars(1, {"train/loss": 2.5})
    writer.write_scalars(2, {"train/loss": 1.5})
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"step": 1, "train/loss": 2.5},
        {"step": 2, "train/loss": 1.5},
    ]
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    metrics = evaluation.write_reports(
        str(workdir / "eval"), "val", 7, probs, np.array([0, 1, 1]), ["a", "b"]
    )
    assert metrics["top1"] == 2 / 3
    report = json.loads((tmp_path / "run" / "eval" / "val_step7.json").read_text())
    assert report["per_class"][1] == {"class": "b", "examples": 2, "top1": 0.5}
    from PIL import Image

    with Image.open(tmp_path / "run" / "eval" / "val_step7_confusion.png") as picture:
        assert picture.format == "PNG" and min(picture.size) > 0
    assert report["confusion"]["counts"] == [[1, 0], [1, 1]]  # rows true, columns predicted


@pytest.mark.slow
def test_the_appearance_probe_fit_gathers_every_process_s_clips(two_process_run, eight_device_run):
    """With two processes each encodes its half of every batch; the gathered rows give both the
    fit one process with 8 devices makes on all the clips."""
    _, runs = two_process_run
    reference = eight_device_run
    assert np.abs(reference["fitted['probe_map'].value"]).max() > 0
    for run in runs:
        for key in ("fitted['probe_map'].value", "fitted['probe_mean'].value"):
            np.testing.assert_allclose(run[key], reference[key], atol=1e-5, rtol=1e-4, err_msg=key)
