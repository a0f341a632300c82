"""Training and evaluation end to end on tiny data: sharding, resumption, preemption, views."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tiny_run
from flax import nnx

from alt_jax.configs_lib import base_config, dataset_config
from alt_jax.train import checkpoint
from alt_jax.train.trainer import Trainer, dataset_kwargs, make_eval_step

REPO = Path(__file__).resolve().parents[1]
TINY_RUN = Path(__file__).with_name("tiny_run.py")


def run_subprocess(
    args: list[str], devices: int, timeout: int = 300
) -> subprocess.CompletedProcess:
    env = dict(
        os.environ,
        XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
        JAX_PLATFORMS="cpu",
        PYTHONPATH=str(REPO),
    )
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO
    )


def test_eight_devices_match_one(tiny_data, eight_device_run, tmp_path):
    """mesh data=4 × fsdp=2 on 8 CPU devices vs 1 device: same losses and parameters."""
    npz = tmp_path / "1.npz"
    proc = run_subprocess(
        [str(TINY_RUN), tiny_data, str(tmp_path / "w1"), str(npz), "data=1,fsdp=1", "3"], 1
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = {1: dict(np.load(npz)), 8: eight_device_run}
    np.testing.assert_allclose(out[8]["losses"], out[1]["losses"], atol=1e-5)
    assert set(out[8]) == set(out[1])
    for key in out[1]:
        np.testing.assert_allclose(out[8][key], out[1][key], atol=1e-5, err_msg=key)


def test_resume_gives_identical_parameters_and_batches(tiny_data, tmp_path):
    straight = Trainer(tiny_run.tiny_config(tiny_data), str(tmp_path / "straight"))
    straight.train()
    first = Trainer(tiny_run.tiny_config(tiny_data), str(tmp_path / "resumed"))
    first.train(max_steps=3)  # the process "dies" after the step-3 checkpoint
    second = Trainer(tiny_run.tiny_config(tiny_data), str(tmp_path / "resumed"))
    second.train()
    assert [e["step"] for e in second.step_log] == [4, 5, 6]
    seen = [e["index"].tolist() for e in first.step_log + second.step_log]
    assert seen == [e["index"].tolist() for e in straight.step_log]
    ours, ref = tiny_run.flat_params(second.params), tiny_run.flat_params(straight.params)
    for key in ref:
        np.testing.assert_array_equal(ours[key], ref[key], err_msg=key)


def test_sigterm_leaves_a_restorable_checkpoint(tiny_data, tmp_path):
    workdir = tmp_path / "preempted"
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "alt_jax.main",
            f"--config={REPO}/tests/tiny_config_file.py:{tiny_data}",
            f"--workdir={workdir}",
            "--config.num_train_steps=100000",
            "--config.checkpoint_every=100000",
            "--mode=train",
        ],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    metrics = workdir / "metrics.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 3:
            break
        time.sleep(0.5)
    assert proc.poll() is None, proc.stdout.read()[-3000:]
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, output[-3000:]
    trainer = Trainer(tiny_run.tiny_config(tiny_data), str(workdir))
    step = trainer.restore_params()
    assert 3 <= step < 100000


def test_multi_view_evaluation_is_the_mean_over_views(tiny_data, tmp_path):
    trainer = Trainer(tiny_run.tiny_config(tiny_data), str(tmp_path / "eval"))
    rng = np.random.default_rng(0)
    videos = rng.integers(0, 256, (2, 3, 4, 32, 32, 3), dtype=np.uint8)  # B=2, V=3 views
    class_emb = trainer.class_embeddings(["a", "b", "c"])
    probs = jax.jit(make_eval_step(trainer.graphdef))(
        trainer.params, trainer.frozen, class_emb, videos
    )
    model = nnx.merge(trainer.graphdef, trainer.params, trainer.frozen)
    from alt_jax.data.normalize import normalize_clip

    one_view = nnx.jit(lambda m, v: m(normalize_clip(v), class_emb, train=False)["logits"])
    manual = np.zeros((2, 3))
    for view in range(3):
        logits = one_view(model, jnp.asarray(videos[:, view]))
        logits = np.asarray(logits, np.float64)
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        manual += e / e.sum(axis=1, keepdims=True) / 3
    np.testing.assert_allclose(np.asarray(probs), manual, atol=1e-5)


def test_train_and_eval_writes_reports(tiny_data, tmp_path):
    from alt_jax.train.trainer import train_and_evaluate

    config = tiny_run.tiny_config(tiny_data)
    config.num_train_steps = 2
    result = train_and_evaluate(config, str(tmp_path / "run"), "train_and_eval")
    assert result["train"]["step"] == 2
    metrics = result["eval"]["val"]
    assert metrics["num_examples"] == 8
    # Two steps learn next to nothing: check the metrics against what the reports hold instead.
    tiny_run.check_val_report(tmp_path / "run" / "eval", 2, metrics)
    assert (tmp_path / "run" / "alignment.png").exists()
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert any("train/loss" in line for line in lines)


def test_misspelled_config_key_lists_valid_keys():
    config = base_config()
    with pytest.raises(AttributeError, match="warmup_steps"):
        config.optim.warmup_step = 3
    with pytest.raises(KeyError, match="num_frames"):
        dataset_config(num_frame=8)


def test_misspelled_override_is_refused_by_main(tiny_data, tmp_path):
    proc = run_subprocess(
        [
            "-m",
            "alt_jax.main",
            f"--config={REPO}/tests/tiny_config_file.py:{tiny_data}",
            f"--workdir={tmp_path}",
            "--config.optim.lrate=0.1",
        ],
        1,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "lrate" in proc.stderr and "warmup_steps" in proc.stderr


def test_missing_dataset_path_names_the_field(tmp_path):
    config = base_config()
    with pytest.raises(ValueError, match=r"config\.data\.root"):
        dataset_kwargs(config.data, "data", train=True)
    config.data.root = str(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"config\.data\.root.*nowhere"):
        dataset_kwargs(config.data, "data", train=True)
    config.data.root = str(tmp_path)
    config.data.list_file = str(tmp_path / "missing.txt")
    with pytest.raises(FileNotFoundError, match=r"config\.data\.list_file"):
        dataset_kwargs(config.data, "data", train=True)


def test_unreadable_latest_checkpoint_falls_back(tmp_path):
    ckpt = checkpoint.Checkpointer(str(tmp_path), keep=5, best_metric=None, async_save=False)
    params = {"w": jnp.arange(4.0)}
    for step in (1, 2):
        ckpt.save(
            step, {"w": params["w"] * step}, {"x": 0}, {"step": step}, {"s": step}, force=True
        )
    ckpt.wait()
    for f in (tmp_path / "2" / "params").rglob("*"):
        if f.is_file():
            f.write_bytes(b"garbage")
    restored = ckpt.restore_latest(checkpoint.abstract_like(params))
    assert restored[0] == 1
    np.testing.assert_array_equal(restored[1]["w"], np.arange(4.0))
    ckpt.close()


def test_demo_config_trains_through_main(tmp_path, tiny_data):
    proc = run_subprocess(
        [
            "-m",
            "alt_jax.main",
            f"--config={REPO}/configs/demo.py:{tiny_data}",
            f"--workdir={tmp_path / 'demo'}",
            "--config.num_train_steps=2",
            "--config.batch_size=8",
            f"--config.model.corpus.path={tiny_data}/corpus.json",
        ],
        1,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "synthetic_val: top-1" in proc.stdout


def test_relative_checkpoint_directory(tmp_path, monkeypatch):
    """A workdir given relative to the current directory (as `make demo` does) saves and restores."""
    monkeypatch.chdir(tmp_path)
    ckpt = checkpoint.Checkpointer("run/checkpoints", best_metric=None, async_save=True)
    params = {"w": jnp.arange(3.0)}
    ckpt.save(1, params, {"s": jnp.zeros(())}, {"x": 1}, {}, force=True)
    ckpt.wait()
    restored = ckpt.restore_latest(checkpoint.abstract_like(params))
    ckpt.close()
    assert restored[0] == 1 and (tmp_path / "run" / "checkpoints" / "1").is_dir()
    np.testing.assert_array_equal(restored[1]["w"], np.arange(3.0))
