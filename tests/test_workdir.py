"""One run per workdir, a resume only with the run's config, a workdir that cannot be written."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import tiny_run
from conftest import REPO, cpu_env

from alt_jax.configs_lib import ConfigError
from alt_jax.train import checkpoint
from alt_jax.train.runner import train_and_evaluate
from alt_jax.train.trainer import Trainer

HOLD = """
import sys, time
from alt_jax.train import checkpoint
with checkpoint.workdir_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


def hold_lock(workdir: Path) -> subprocess.Popen:
    """A process holding the workdir's lock as a training run does, until killed."""
    workdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(workdir)],
        env=cpu_env(1),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def main_args(tiny_data: str, workdir: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "alt_jax.main",
        f"--config={REPO}/tests/tiny_config_file.py:{tiny_data}",
        f"--workdir={workdir}",
        "--config.num_train_steps=2",
        *extra,
    ]


@pytest.mark.slow
def test_a_run_on_a_workdir_in_use_fails_naming_it_and_the_holder(tiny_data, tmp_path):
    workdir = tmp_path / "run"
    holder = hold_lock(workdir)
    try:
        proc = subprocess.run(
            main_args(tiny_data, workdir),
            env=cpu_env(1),
            capture_output=True,
            text=True,
            timeout=240,
        )
    finally:
        holder.kill()
        holder.wait()
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: workdir {workdir} is in use by another run"), line
    assert f"pid {holder.pid} " in line
    # It wrote nothing there: no checkpoint, no metrics, not a line of its log.
    assert not (workdir / "checkpoints").exists() and not (workdir / "metrics.jsonl").exists()
    assert not (workdir / "log.txt").exists() or not (workdir / "log.txt").read_text()


@pytest.mark.slow
def test_the_lock_of_a_killed_run_is_taken_over_and_released_at_the_end(tiny_data, tmp_path):
    """A run killed by SIGKILL cannot release its lock: the next run takes it over and its log
    names the dead holder; a run that ends releases it (the one after starts normally)."""
    workdir = tmp_path / "run"
    holder = hold_lock(workdir)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    config = tiny_run.tiny_config(tiny_data)
    config.num_train_steps = 1
    assert train_and_evaluate(config, str(workdir), "train")["train"]["step"] == 1
    log = (workdir / "log.txt").read_text()
    assert f"took over the stale lock of pid {holder.pid} " in log
    config.num_train_steps = 2  # a longer run resumes the finished one
    assert train_and_evaluate(config, str(workdir), "train")["train"]["step"] == 2
    assert log.count("stale lock") == (workdir / "log.txt").read_text().count("stale lock")


@pytest.mark.slow
def test_resuming_with_another_config_is_refused_naming_the_fields(tiny_data, tmp_path):
    """A checkpoint at step 2; a run on the same workdir with another seed and lr (or another
    adapter width) is refused with the old and new values and leaves the workdir as it was;
    a longer run with other periods and no evaluation data resumes it."""
    workdir = str(tmp_path / "run")
    config = tiny_run.tiny_config(tiny_data)
    config.num_train_steps = config.checkpoint_every = 2
    Trainer(config, workdir).train()

    changed = tiny_run.tiny_config(tiny_data)
    changed.num_train_steps = 2
    changed.seed, changed.optim.lr = 1, 2e-3
    with pytest.raises(ConfigError) as error:
        Trainer(changed, workdir).train()
    message = str(error.value)
    assert f"workdir {workdir} holds a run with another config (checkpoint 2)" in message
    assert "optim.lr: 0.001 -> 0.002" in message and "seed: 0 -> 1" in message
    assert "num_train_steps" not in message  # 6 → 2 may change on resume
    wider = tiny_run.tiny_config(tiny_data)
    wider.model.adapter.width = 48
    with pytest.raises(ConfigError, match="model.adapter.width: 32 -> 48"):
        Trainer(wider, workdir).train()
    ckpt = checkpoint.Checkpointer(Path(workdir) / "checkpoints", best_metric=None)
    assert ckpt.all_steps() == [2]
    ckpt.close()

    longer = tiny_run.tiny_config(tiny_data)
    longer.num_train_steps, longer.checkpoint_every, longer.log_every = 3, 1, 3
    with longer.evals.unlocked():
        del longer.evals["val"]
    resumed = Trainer(longer, workdir)
    assert resumed.train()["step"] == 3
    assert [e["step"] for e in resumed.step_log] == [3]


def unprivileged() -> list[str]:
    """A command prefix under which file permissions apply (root ignores them)."""
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: file permissions cannot be enforced")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_a_read_only_workdir_is_named_in_one_line(tiny_data, tmp_path, mode):
    workdir = tmp_path / "readonly"
    workdir.mkdir()
    workdir.chmod(0o555)
    try:
        proc = subprocess.run(
            unprivileged() + main_args(tiny_data, workdir, f"--mode={mode}"),
            env=cpu_env(1),
            capture_output=True,
            text=True,
            timeout=240,
        )
    finally:
        workdir.chmod(0o755)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    line = proc.stderr.strip().splitlines()[-1]
    assert line == f"error: workdir {workdir} is not writable: Permission denied"
    assert list(workdir.iterdir()) == []
