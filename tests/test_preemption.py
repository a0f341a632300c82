"""SIGTERM: a flag between steps, an immediate stop in phases that block, saved steps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from typing import Callable

import pytest
import tiny_run

from alt_jax.data import pipeline
from alt_jax.train import checkpoint
from alt_jax.train.preemption import Preempted, Preemption
from alt_jax.train.trainer import Trainer


def sigterm_self_after(seconds: float) -> threading.Timer:
    """Sends this process SIGTERM from another thread (the handler runs in the main one)."""
    timer = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    return timer


def test_flag_between_steps_and_immediate_stop_in_blocking_phases():
    before = signal.getsignal(signal.SIGTERM)
    with Preemption() as preemption:
        assert not preemption.should_stop(1)
        os.kill(os.getpid(), signal.SIGTERM)  # outside a blocking phase: only the flag
        time.sleep(0.1)
        assert preemption.requested and preemption.should_stop(2)
        with pytest.raises(Preempted):  # a blocking phase entered afterwards stops at once
            with preemption.interruptible():
                pytest.fail("entered a blocking phase after SIGTERM")
    with Preemption() as preemption:
        sigterm_self_after(0.3)
        start = time.perf_counter()
        with pytest.raises(Preempted):
            with preemption.interruptible():
                time.sleep(30)  # a stalled input pipeline
        assert time.perf_counter() - start < 10
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is put back


class PassThrough:
    """A training iterator that serves the wrapped one's batches, counting them; subclasses
    add a fault at a chosen batch."""

    def __init__(self, it):
        self.it, self.served = it, 0

    def __next__(self):
        self.served += 1
        return next(self.it)

    def __getattr__(self, name):
        return getattr(self.it, name)


def wrap_train_iterator(monkeypatch, wrapper: type) -> Callable:
    """Makes pipeline.make_train_iterator return `wrapper(iterator)`; returns the original."""
    make = pipeline.make_train_iterator

    def wrapped(*args, **kwargs):
        it, info = make(*args, **kwargs)
        return wrapper(it), info

    monkeypatch.setattr(pipeline, "make_train_iterator", wrapped)
    return make


@pytest.mark.slow
def test_sigterm_while_the_pipeline_stalls_saves_the_last_step(tiny_data, tmp_path, monkeypatch):
    """The input stalls after 3 batches (a hung file system); SIGTERM during the stall ends
    training at once with step 3 saved, from which a new run resumes to the end."""

    class Stalling(PassThrough):
        def __next__(self):
            if self.served == 3:
                sigterm_self_after(0.5)
                while True:
                    time.sleep(0.05)
            return super().__next__()

    make = wrap_train_iterator(monkeypatch, Stalling)
    config = tiny_run.tiny_config(tiny_data)
    config.checkpoint_every = 100
    trainer = Trainer(config, str(tmp_path / "run"))
    start = time.perf_counter()
    result = trainer.train()
    assert result["preempted"] and result["step"] == 3
    assert time.perf_counter() - start < 120
    ckpt = checkpoint.Checkpointer(tmp_path / "run" / "checkpoints", best_metric=None)
    assert ckpt.all_steps() == [3]
    ckpt.close()
    monkeypatch.setattr(pipeline, "make_train_iterator", make)
    resumed = Trainer(tiny_run.tiny_config(tiny_data), str(tmp_path / "run"))
    assert resumed.train()["step"] == 6
    assert [e["step"] for e in resumed.step_log] == [4, 5, 6]


def test_ctrl_c_is_a_stop_request_and_a_second_one_interrupts_at_once():
    before = signal.getsignal(signal.SIGINT)
    with Preemption() as preemption:
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.1)
        except KeyboardInterrupt:
            pytest.fail("the first Ctrl-C raised KeyboardInterrupt instead of asking to stop")
        assert preemption.requested and preemption.should_stop(1)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
    assert signal.getsignal(signal.SIGINT) == before


@pytest.mark.slow
def test_ctrl_c_between_steps_saves_the_last_step(tiny_data, tmp_path, monkeypatch):
    """Ctrl-C while step 3 computes: training stops after it with step 3 saved (checkpoints
    are every 100 steps), and a new run resumes from it to the end."""

    class CtrlCAfterThree(PassThrough):
        def get_state(self):
            if self.served == 3:  # read right after step 3: SIGINT arrives during the step
                os.kill(os.getpid(), signal.SIGINT)
                self.served += 1
            return self.it.get_state()

    make = wrap_train_iterator(monkeypatch, CtrlCAfterThree)
    config = tiny_run.tiny_config(tiny_data)
    config.checkpoint_every = 100
    try:
        result = Trainer(config, str(tmp_path / "run")).train()
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C ended training with KeyboardInterrupt")
    assert result["preempted"] and result["step"] == 3
    ckpt = checkpoint.Checkpointer(tmp_path / "run" / "checkpoints", best_metric=None)
    assert ckpt.all_steps() == [3]
    ckpt.close()
    monkeypatch.setattr(pipeline, "make_train_iterator", make)
    resumed = Trainer(tiny_run.tiny_config(tiny_data), str(tmp_path / "run"))
    assert resumed.train()["step"] == 6
    assert [e["step"] for e in resumed.step_log] == [4, 5, 6]


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start_long_run(tiny_data: str, workdir) -> subprocess.Popen:
    """`python -m alt_jax.main` on the tiny data with 2 data workers, in its own process group
    (as a SLURM job step or a VM's service is), training until stopped."""
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=REPO)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "alt_jax.main",
            f"--config={REPO}/tests/tiny_config_file.py:{tiny_data}",
            f"--workdir={workdir}",
            "--config.num_train_steps=100000",
            "--config.checkpoint_every=100000",
            "--config.data.workers=2",
            "--mode=train",
        ],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def wait_for_steps(proc: subprocess.Popen, workdir, steps: int) -> None:
    metrics = workdir / "metrics.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= steps:
            return
        time.sleep(0.5)
    raise AssertionError(f"no {steps} steps: {proc.poll()} {proc.stdout.read()[-3000:]}")


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_group_gone(pgid: int, seconds: float) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if not group_alive(pgid):
            return True
        time.sleep(0.2)
    return False


@pytest.mark.slow
def test_sigterm_to_the_process_group_saves_and_exits_0(tiny_data, tmp_path):
    """SLURM and VM shutdowns signal the whole group, data workers included: the workers ignore
    it, the trainer saves the step it reached and exits 0, and no process is left."""
    workdir = tmp_path / "run"
    proc = start_long_run(tiny_data, workdir)
    try:
        wait_for_steps(proc, workdir, 3)
        os.killpg(proc.pid, signal.SIGTERM)
        output, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, output[-3000:]
        assert wait_group_gone(proc.pid, 10)
    finally:
        if group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
    trainer = Trainer(tiny_run.tiny_config(tiny_data), str(workdir))
    assert 3 <= trainer.restore_params() < 100000


@pytest.mark.slow
def test_no_worker_outlives_a_sigkilled_trainer(tiny_data, tmp_path):
    """SIGKILL gives the trainer no time to stop its data workers: they notice and exit."""
    workdir = tmp_path / "run"
    proc = start_long_run(tiny_data, workdir)
    try:
        wait_for_steps(proc, workdir, 2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
        assert wait_group_gone(proc.pid, 15), "processes of the killed run are still alive"
    finally:
        if group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.slow
def test_sigterm_during_the_final_evaluation_ends_the_run_cleanly(tiny_data, tmp_path, monkeypatch):
    """Training finished and was saved; a SIGTERM during the (hung) evaluation returns at once
    saying where it stopped."""
    from alt_jax.train import runner
    from alt_jax.train import trainer as trainer_lib

    def hung_evaluation(self, step, writer):
        sigterm_self_after(0.5)
        while True:
            time.sleep(0.05)

    monkeypatch.setattr(trainer_lib.Trainer, "evaluate", hung_evaluation)
    config = tiny_run.tiny_config(tiny_data)
    config.num_train_steps = 2
    result = runner.train_and_evaluate(config, str(tmp_path / "run"), "train_and_eval")
    assert result["preempted"] == "evaluation" and result["train"]["step"] == 2
    assert "eval" not in result
    ckpt = checkpoint.Checkpointer(tmp_path / "run" / "checkpoints", best_metric=None)
    assert ckpt.all_steps() == [2]
    ckpt.close()
