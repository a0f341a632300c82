"""Training and evaluation end to end on tiny data: sharding, resumption, preemption, views."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from traceback import walk_stack

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import tiny_run
from flax import nnx

from alt_jax.configs_lib import base_config, dataset_config
from alt_jax.models.alt import trainable_filter
from alt_jax.train import checkpoint
from alt_jax.train.datasets import class_names_of, dataset_spec
from alt_jax.train.steps import forward, make_eval_step
from alt_jax.train.trainer import Trainer

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


@pytest.mark.slow
def test_eight_devices_match_one(tiny_data, eight_device_run, tmp_path):
    """mesh data=4 × fsdp=2 on 8 CPU devices vs 1 device: same losses, appearance-probe fit and
    parameters. The 1-device run is tiny_run's, in this process when it has one CPU device."""
    npz = tmp_path / "1.npz"
    args = [str(TINY_RUN), tiny_data, str(tmp_path / "w1"), str(npz), "data=1,fsdp=1", "3", "probe"]
    if [d.platform for d in jax.devices()] == ["cpu"]:
        tiny_run.main(args)  # no subprocess start (seconds of imports)
    else:
        proc = run_subprocess(args, 1)
        assert proc.returncode == 0, proc.stderr[-3000:]
    out = {1: dict(np.load(npz)), 8: eight_device_run}
    np.testing.assert_allclose(out[8]["losses"], out[1]["losses"], atol=1e-5)
    assert set(out[8]) == set(out[1])
    for key in out[1]:
        np.testing.assert_allclose(out[8][key], out[1][key], atol=1e-5, err_msg=key)
    # Both trained (an optimizer that does nothing would also agree): every trainable leaf
    # moved from its initial value, and the frozen state is bit-identical.
    params = [key for key in out[1] if key.startswith("[")]
    for run in out.values():
        assert not [k for k in params if np.array_equal(run[k], run[f"initial{k}"])]
        assert run["frozen_changed"] == 0


def train_set_nll(trainer: Trainer) -> float:
    """Mean −log p(label) over the training videos (centre view, no Gumbel noise)."""
    cfg = trainer.config.evals.val.copy_and_resolve_references()
    cfg.list_file, cfg.num_clips, cfg.num_crops, cfg.batch_size = (
        trainer.config.data.list_file,
        1,
        1,
        16,
    )
    it, info = dataset_spec(cfg, "evals.train", train=False).eval_iterator()
    class_emb = trainer.class_embeddings(class_names_of(cfg, info))
    step = jax.jit(make_eval_step(trainer.graphdef))
    nll = []
    for _ in range(info.num_batches):
        batch = next(it)
        probs = np.asarray(step(trainer.params, trainer.frozen, class_emb, batch["video"]))
        valid = batch["valid"]
        nll.extend(-np.log(probs[valid, batch["label"][valid]]))
    it.close()
    assert len(nll) == 16
    return float(np.mean(nll))


@pytest.mark.slow
def test_resume_gives_identical_parameters_and_batches(tiny_data, tmp_path):
    """A killed and resumed run equals a straight one; and the straight run learned: every
    trainable leaf moved, the training loss fell, the frozen state (both CLIP towers, the entity
    bank) is bit-identical."""
    straight = Trainer(tiny_run.tiny_config(tiny_data), str(tmp_path / "straight"))
    initial = tiny_run.flat_params(straight.params)
    frozen = tiny_run.flat_params(straight.frozen)
    nll_before = train_set_nll(straight)
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

    assert not [key for key in initial if np.array_equal(initial[key], ref[key])]
    # Frozen: the CLIP, the entity table and W_r's anchor (its initial value).
    assert {key.split("]")[0] for key in frozen} == {"['clip'", "['entities'", "['alignment'"}
    after = tiny_run.flat_params(straight.frozen)
    for key in frozen:
        np.testing.assert_array_equal(after[key], frozen[key], err_msg=key)
    # 6 steps at lr 1e-3 lower it by ~0.02 nats (5.77 → 5.75); evaluation is deterministic.
    assert train_set_nll(straight) < nll_before - 0.005


@pytest.mark.slow
def test_accumulation_matches_the_full_batch(tiny_data, tmp_path):
    """accum_steps=2 at batch 4 for 6 steps = accum_steps=1 at batch 8 for 3 steps: 3 updates,
    the same parameters, the same logged learning rates, and the schedule used up (0 after the
    last update). Learned queries: no Gumbel noise, whose draws depend on the batch size. The
    full-batch run also evaluates at step 2 (eval_every), which must not change its training."""
    runs = {}
    for accum, batch, steps in ((1, 8, 3), (2, 4, 6)):
        config = tiny_run.tiny_config(tiny_data)
        config.model.queries = "learned"
        config.optim.accum_steps, config.batch_size, config.num_train_steps = accum, batch, steps
        config.optim.warmup_steps = 0
        config.eval_every = 2 if accum == 1 else 0
        trainer = Trainer(config, str(tmp_path / f"accum{accum}"))
        result = trainer.train()
        assert result["updates"] == 3
        log = [json.loads(line) for line in (tmp_path / f"accum{accum}" / "metrics.jsonl").open()]
        rates = [r["train/learning_rate"] for r in log if "train/learning_rate" in r]
        runs[accum] = (tiny_run.flat_params(trainer.params), rates, trainer.schedule, log)
    full, accumulated = runs[1][0], runs[2][0]
    for key in full:
        np.testing.assert_allclose(accumulated[key], full[key], atol=1e-5, err_msg=key)
    # Logged every micro-step: the rate of the last update applied (update ⌊s/2⌋ − 1).
    assert runs[2][1][1::2] == pytest.approx(runs[1][1], rel=1e-6)
    schedule = runs[2][2]
    assert float(schedule(3)) == pytest.approx(0.0, abs=1e-9) and float(schedule(2)) > 0
    # eval_every=2 with 3 steps: an evaluation at step 2, recorded in metrics and reports.
    assert any(r["step"] == 2 and "eval/val/top1" in r for r in runs[1][3])
    assert (tmp_path / "accum1" / "eval" / "val_step2.json").exists()


@pytest.mark.slow
def test_label_smoothing_and_clipping_reach_the_train_step(tiny_data, tmp_path):
    """One real train step with label_smoothing=0.3 and grad_clip=1e-3: its loss is the
    smoothed cross-entropy of the model's logits (NumPy), and Adam's first moment holds the
    clipped gradient, (1 − b1)·1e-3 in global norm, while the raw gradient norm is larger."""
    config = tiny_run.tiny_config(tiny_data)
    config.model.label_smoothing, config.optim.grad_clip = 0.3, 1e-3
    trainer = Trainer(config, str(tmp_path / "run"))
    it, info = dataset_spec(config.data, "data", train=True).train_iterator(8, seed=config.seed)
    batch = next(it)  # the trainer's first batch (same source, seed and position)
    class_emb = trainer.class_embeddings(class_names_of(config.data, info))
    rng = jax.random.fold_in(jax.random.key(config.seed), 0)  # the step-0 key of `train`
    model = nnx.merge(trainer.graphdef, trainer.params, trainer.frozen)
    out = nnx.jit(lambda m, v, r: forward(m, {"video": v}, class_emb, train=True, rng=r))(
        model, jnp.asarray(batch["video"]), rng
    )
    logits = np.asarray(out["logits"], np.float64)
    log_p = logits - logits.max(1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(1, keepdims=True))
    num_classes = logits.shape[1]
    target = np.full_like(log_p, 0.3 / num_classes)
    target[np.arange(8), batch["label"]] += 0.7
    expected = float(-(target * log_p).sum(1).mean())

    result = trainer.train(max_steps=1)
    assert np.array_equal(trainer.step_log[0]["index"], batch["index"])
    assert float(trainer.step_log[0]["loss"]) == pytest.approx(expected, rel=1e-5)
    assert result["grad_norm"] > 1e-2
    is_adam = lambda x: isinstance(x, optax.ScaleByAdamState)  # noqa: E731
    (adam,) = [s for s in jax.tree.leaves(trainer.opt_state, is_leaf=is_adam) if is_adam(s)]
    mu = adam.mu
    norm = np.sqrt(sum(float(jnp.sum(x.astype(jnp.float32) ** 2)) for x in jax.tree.leaves(mu)))
    assert norm == pytest.approx((1 - config.optim.b1) * 1e-3, rel=1e-4)


@pytest.mark.slow
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


@pytest.mark.slow
def test_train_and_eval_writes_reports(tiny_data, tmp_path):
    from alt_jax.train.runner import train_and_evaluate

    config = tiny_run.tiny_config(tiny_data)
    config.num_train_steps = 2
    result = train_and_evaluate(config, str(tmp_path / "run"), "train_and_eval")
    assert result["train"]["step"] == 2
    metrics = result["eval"]["val"]
    assert metrics["num_examples"] == 8
    # Two steps learn next to nothing: check the metrics against what the reports hold instead.
    tiny_run.check_val_report(tmp_path / "run" / "eval", 2, metrics)
    # The synthetic data has object masks, so the report measures the alignment: every region of
    # the 8 videos' first views (4 frames; 16 patches, 2 + 2 merges: 12 regions) is counted.
    report = json.loads((tmp_path / "run" / "eval" / "val_step2.json").read_text())
    alignment = report["grounding"]
    assert alignment["regions"] == 8 * 4 * 12
    assert alignment["object_patches"] > 0 and alignment["background_patches"] > 0
    assert metrics["grounding"] == alignment["grounding"]
    assert 0.0 <= alignment["grounding"] <= 1.0
    # The tiny corpus has no entity for the backgrounds: nothing to ground them in.
    assert alignment["background_grounding"] is None
    picture = (tmp_path / "run" / "alignment.png").read_bytes()
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert any("train/loss" in line for line in lines)
    # The log is mirrored to the workdir, and both pictures are TensorBoard images too.
    log = (tmp_path / "run" / "log.txt").read_text()
    assert "eval val step 2: top1" in log
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "run"), size_guidance={"tensors": 0}).Reload()
    assert {"eval/val/confusion", "alignment"} <= set(events.PluginTagToContent("images"))
    # Evaluating a checkpoint later draws its own picture, tagged by step; the run's stays.
    result = train_and_evaluate(config, str(tmp_path / "run"), "eval", step=2)
    assert result["picture"].endswith("alignment_step2.png")
    assert (tmp_path / "run" / "alignment_step2.png").exists()
    assert (tmp_path / "run" / "alignment.png").read_bytes() == picture


def test_misspelled_config_key_lists_valid_keys():
    config = base_config()
    with pytest.raises(AttributeError, match="warmup_steps"):
        config.optim.warmup_step = 3
    with pytest.raises(KeyError, match="num_frames"):
        dataset_config(num_frame=8)


@pytest.mark.slow
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


def test_batch_size_zero_is_refused_before_the_backbone_is_built(tmp_path, monkeypatch):
    from alt_jax.configs_lib import ConfigError
    from alt_jax.train import runner
    from alt_jax.train import trainer as trainer_lib

    def no_build(*args, **kwargs):
        raise AssertionError("the backbone was built before the config was checked")

    monkeypatch.setattr(trainer_lib, "build_model", no_build)
    for field in ("batch_size", "evals.val.batch_size"):
        config = tiny_run.tiny_config(str(tmp_path / "data"))
        if field == "batch_size":
            config.batch_size = 0
        else:
            config.evals.val.batch_size = 0
        with pytest.raises(ConfigError, match=rf"config\.{field} must be >= 1, got 0"):
            runner.train_and_evaluate(config, str(tmp_path / "run"), "train")
        with pytest.raises(ConfigError, match=rf"config\.{field}"):
            Trainer(config, str(tmp_path / "run"))


@pytest.mark.slow
def test_main_refuses_batch_size_zero_in_one_line(tmp_path):
    proc = run_subprocess(
        [
            "-m",
            "alt_jax.main",
            f"--config={REPO}/tests/tiny_config_file.py:{tmp_path / 'no_data'}",
            f"--workdir={tmp_path / 'run'}",
            "--config.batch_size=0",
        ],
        1,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "error: config.batch_size must be >= 1, got 0"
    assert not (tmp_path / "run").exists()


def test_missing_dataset_path_names_the_field(tmp_path):
    config = base_config()
    with pytest.raises(ValueError, match=r"config\.data\.root"):
        dataset_spec(config.data, "data", train=True)
    config.data.root = str(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"config\.data\.root.*nowhere"):
        dataset_spec(config.data, "data", train=True)
    config.data.root = str(tmp_path)
    config.data.list_file = str(tmp_path / "missing.txt")
    with pytest.raises(FileNotFoundError, match=r"config\.data\.list_file"):
        dataset_spec(config.data, "data", train=True)


def test_max_frame_pixels_of_the_config_reaches_the_decoder(tiny_data):
    """A limit below the tiny videos' frame size: every video is refused from its header, so the
    training pass reads nothing; without the key (a config saved before it) they decode."""
    from alt_jax.data.batching import TooManySkipped

    config = tiny_run.tiny_config(tiny_data)
    config.data.max_frame_pixels = 100  # the tiny videos are larger than 10×10
    data = dataset_spec(config.data, "data", train=True)
    it, _ = data.train_iterator(2, seed=0, num_epochs=1)
    with pytest.raises(TooManySkipped):
        next(iter(it))
    del config.data["max_frame_pixels"]
    data = dataset_spec(config.data, "data", train=True)
    it, _ = data.train_iterator(2, seed=0, num_epochs=1)
    assert next(iter(it))["video"].shape[0] == 2


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("evals.val.root", "/nonexistent/videos", r"config\.evals\.val\.root: /nonexistent"),
        ("evals.val.num_crops", 2, r"config\.evals\.val\.num_crops=2; valid: 1 \(centre\), 3"),
        ("evals.val.num_clips", 0, r"config\.evals\.val\.num_clips must be >= 1, got 0"),
        ("evals.val.class_names_file", "/nope.txt", r"config\.evals\.val\.class_names_file"),
        ("data.root", "", r"config\.data\.root is not set"),
        ("data.list_file", "EMPTY", r"config\.data: no videos listed"),
        ("model.corpus.path", "BROKEN", r"config\.model\.corpus\.path: .*broken\.json.* line 1"),
    ],
)
def test_every_dataset_is_checked_before_the_backbone_is_built(
    tiny_data, tmp_path, monkeypatch, field, value, message
):
    """A wrong evaluation path or view setting fails before the model is built (at K400 scale
    it used to fail after all the training steps)."""
    from alt_jax.train import runner
    from alt_jax.train import trainer as trainer_lib

    def no_model(*args, **kwargs):
        raise AssertionError("the backbone was built before the config was checked")

    monkeypatch.setattr(trainer_lib, "build_model", no_model)
    config = tiny_run.tiny_config(tiny_data)
    if value == "EMPTY":
        value = str(tmp_path / "empty.txt")
        (tmp_path / "empty.txt").write_text("")
    if value == "BROKEN":
        value = str(tmp_path / "broken.json")
        (tmp_path / "broken.json").write_text('[{"unit": "ball",')
    *path, key = field.split(".")
    target = config
    for part in path:
        target = target[part]
    target[key] = value
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        runner.train_and_evaluate(config, str(tmp_path / "run"), "train_and_eval")


def test_skip_limit_and_hint_reach_the_pipeline(tmp_path):
    config = base_config()
    config.data.root = str(tmp_path)
    config.data.max_skip_fraction = 0.2
    read = dataset_spec(config.data, "data", train=True).read
    assert read.max_skip_fraction == 0.2
    assert "config.data.root" in read.hint
    evals = dataset_spec(dataset_config(root=str(tmp_path)), "evals.val", train=False).read
    assert evals.max_skip_fraction == 0.5 and "config.evals.val.root" in evals.hint


@pytest.mark.slow
def test_nothing_readable_stops_main_with_one_line(tiny_data, tmp_path):
    """A data.root that exists but holds none of the listed videos: the first pass over the
    list ends the run with the count and the first paths, instead of looping over empty
    epochs forever."""
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    proc = run_subprocess(
        [
            "-m",
            "alt_jax.main",
            f"--config={REPO}/tests/tiny_config_file.py:{tiny_data}",
            f"--workdir={tmp_path / 'run'}",
            f"--config.data.root={empty}",
            "--mode=train",
        ],
        1,
        timeout=240,
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert line.startswith("error: no readable video in 16 listed under"), line
    assert str(empty) in line and "first:" in line and "config.data.root" in line
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_a_hub_backbone_offline_stops_main_with_one_line_saying_how_to_get_it(tiny_data, tmp_path):
    """K400's default backbone is a hub id; offline (and not cached) the run ends with one line
    naming it, how to download it and the config key to point at the folder."""
    proc = run_subprocess(
        [
            "-m",
            "alt_jax.main",
            f"--config={REPO}/tests/tiny_config_file.py:{tiny_data}",
            f"--workdir={tmp_path / 'run'}",
            "--config.model.backbone.source=openai/clip-vit-base-patch16",
            "--mode=train",
        ],
        1,
        timeout=240,
    )  # conftest sets HF_HUB_OFFLINE=1 for the tests and their subprocesses
    assert proc.returncode == 1, proc.stderr[-3000:]
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert "'openai/clip-vit-base-patch16'" in line and "hf download" in line, line
    assert "config.model.backbone.source" in line
    assert "Traceback" not in proc.stderr


def test_kinetics_videos_not_found_shows_the_pattern_and_an_expected_path(tmp_path):
    """A Kinetics CSV whose videos are not where the file-name pattern puts them: the error
    gives the pattern and the paths it looked at."""
    from alt_jax.data.batching import TooManySkipped

    csv_file = tmp_path / "val.csv"
    csv_file.write_text(
        "label,youtube_id,time_start,time_end,split\n"
        "abseiling,-3B32lodo2M,59,69,val\nbowling,abc,1,11,val\n"
    )
    cfg = dataset_config(kind="kinetics_csv", root=str(tmp_path), list_file=str(csv_file))
    it, _ = dataset_spec(cfg, "evals.k400", train=False).eval_iterator()
    with pytest.raises(TooManySkipped) as error:
        next(it)
    message = str(error.value)
    assert f"{tmp_path}/-3B32lodo2M_000059_000069.mp4" in message
    assert "config.evals.k400.filename_pattern" in message
    assert "'{youtube_id}_{time_start:06d}_{time_end:06d}.mp4'" in message


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


@pytest.mark.slow
def test_damaged_latest_checkpoint_is_moved_aside_and_training_finishes(tiny_data, tmp_path):
    """Steps 3 and 6 saved, step 6's parameters damaged: the next run resumes from 3, moves 6
    to damaged_checkpoints/, trains 4-6, saves 6 again and ends with the first run's weights."""
    first = Trainer(tiny_run.tiny_config(tiny_data), str(tmp_path / "run"))
    first.train()
    reference = tiny_run.flat_params(first.params)
    chunks = [f for f in (tmp_path / "run" / "checkpoints" / "6" / "params" / "d").iterdir()]
    for f in chunks:
        f.write_bytes(f.read_bytes()[:10])
    second = Trainer(tiny_run.tiny_config(tiny_data), str(tmp_path / "run"))
    result = second.train()
    assert [e["step"] for e in second.step_log] == [4, 5, 6] and result["step"] == 6
    assert (tmp_path / "run" / "damaged_checkpoints" / "6" / "params").is_dir()
    ours = tiny_run.flat_params(second.params)
    for key in reference:
        np.testing.assert_array_equal(ours[key], reference[key], err_msg=key)
    ckpt = checkpoint.Checkpointer(tmp_path / "run" / "checkpoints", best_metric=None)
    assert ckpt.all_steps() == [3, 6]
    ckpt.close()
    # One record per step although steps 4-6 ran twice (a cut last line is kept as it is).
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    steps = [json.loads(line)["step"] for line in lines if "train/loss" in line]
    assert steps == [1, 2, 3, 4, 5, 6]


@pytest.mark.slow
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
    # Framework chatter is filtered: TensorFlow's oneDNN notice, JAX probing for a TPU.
    assert "oneDNN" not in proc.stderr and "Unable to initialize backend" not in proc.stderr
    assert "eval synthetic_val step 2" in (tmp_path / "demo" / "log.txt").read_text()


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


@pytest.mark.slow
def test_init_from_starts_a_new_run_from_a_trained_one(tiny_data, tiny_workdir, tmp_path, caplog):
    config = tiny_run.tiny_config(tiny_data)
    config.init_from = tiny_workdir
    config.num_train_steps = 2
    trainer = Trainer(config, str(tmp_path / "new"))
    random_init = tiny_run.flat_params(trainer.params)
    ckpt = checkpoint.Checkpointer(Path(tiny_workdir) / "checkpoints", best_metric=None)
    trained = ckpt.restore_latest(checkpoint.abstract_like(trainer.params))[1]
    ckpt.close()
    trained = tiny_run.flat_params(trained)
    with caplog.at_level(logging.WARNING):
        trainer.train(max_steps=0)  # no step taken: the parameters training would start from
    # Reading only the parameters of a checkpoint that holds four items is not worth a warning.
    assert not [r for r in caplog.records if "could not be restored" in r.getMessage()]
    start = tiny_run.flat_params(trainer.params)
    assert start.keys() == trained.keys()
    for key in trained:
        np.testing.assert_array_equal(start[key], trained[key], err_msg=key)
    assert any(not np.array_equal(random_init[k], trained[k]) for k in trained)
    # Once the new run has a checkpoint of its own, resuming takes it, not init_from's.
    trainer.train(max_steps=1)
    own = tiny_run.flat_params(trainer.params)
    resumed = Trainer(config, str(tmp_path / "new"))
    resumed.train(max_steps=0)
    for key, value in tiny_run.flat_params(resumed.params).items():
        np.testing.assert_array_equal(value, own[key], err_msg=key)


@pytest.mark.slow
def test_init_from_a_pytorch_export(tiny_data, tiny_workdir, tmp_path):
    """init_from may name an export folder (tools/convert_to_pytorch.py): the new run starts
    from the exported trainable parameters, which are the trained run's."""
    from alt_jax.configs_lib import ConfigError
    from alt_jax.torch import convert
    from alt_jax.train import restore

    run = restore.load_run(tiny_workdir)
    torch_config = convert.torch_config(
        run.model,
        run.config.model,
        image_size=32,
        class_names=run.class_names,
        entity_names=run.entity_names,
        source={"workdir": tiny_workdir, "step": run.step},
    )
    convert.export(run.model, torch_config, restore.class_embeddings(run), tmp_path / "export")
    trained = tiny_run.flat_params(nnx.state(run.model, trainable_filter))
    config = tiny_run.tiny_config(tiny_data)
    config.init_from = str(tmp_path / "export")
    trainer = Trainer(config, str(tmp_path / "new"))
    trainer.train(max_steps=0)
    start = tiny_run.flat_params(trainer.params)
    assert start.keys() == trained.keys()
    for key in trained:
        np.testing.assert_allclose(start[key], trained[key], atol=1e-6, err_msg=key)
    config.model.adapter.width = 48  # the export's adapter is 32 wide
    with pytest.raises(ConfigError, match=r"config\.init_from: .*shape mismatch: adapter\."):
        Trainer(config, str(tmp_path / "wide")).train(max_steps=0)


def test_init_from_a_different_model_names_the_parameter_and_shapes(
    tiny_data, tiny_workdir, tmp_path
):
    from alt_jax.configs_lib import ConfigError

    config = tiny_run.tiny_config(tiny_data)
    config.init_from = tiny_workdir
    config.model.adapter.width = 48  # the trained run's adapter is 32 wide
    with pytest.raises(
        ConfigError, match=r"parameter adapter/\S+ has shape \(.*32.*\) there and \(.*48"
    ):
        Trainer(config, str(tmp_path / "wide")).train(max_steps=0)
    config.model.adapter.width = 32
    config.init_from = str(tmp_path)  # exists, holds no checkpoint
    with pytest.raises(ConfigError, match="config.init_from: .*no checkpoint"):
        Trainer(config, str(tmp_path / "none")).train(max_steps=0)


def test_run_config_records_absolute_paths(relative_workdir):
    """A run started with relative paths records them absolute: it loads from any folder."""
    from alt_jax.train import restore

    config = restore.read_config(relative_workdir, 2)
    data = str(Path(relative_workdir).parent / "data")
    assert config.model.corpus.path == f"{data}/corpus.json"
    assert config.model.corpus.cache_dir == f"{data}/cache"
    assert config.data.root == data and config.data.list_file == f"{data}/train.txt"
    assert config.evals.val.class_names_file == f"{data}/classes.txt"
    # The same config, readable without orbax, and the command line that started the run.
    written = json.loads((Path(relative_workdir) / "config.json").read_text())
    assert written == json.loads(config.to_json_best_effort())
    (line,) = (Path(relative_workdir) / "commands.txt").read_text().splitlines()
    stamp, mode, command = line.split("\t")
    assert mode == "train_and_eval" and stamp.endswith("Z")
    assert command.startswith("python -m alt_jax.main --config=") and "--workdir=run" in command


def diverging_config(tiny_data: str, nonfinite: str):
    """The tiny run at lr 1e6 for 8 steps: the loss is NaN a few steps in (step 6 on CPU);
    metrics are read and checkpoints saved every 4 steps."""
    config = tiny_run.tiny_config(tiny_data)
    config.optim.lr = 1e6
    config.num_train_steps = 8
    config.log_every = config.checkpoint_every = 4
    config.nonfinite = nonfinite
    return config


def first_nonfinite_step(trainer: Trainer) -> int:
    bad = [e["step"] for e in trainer.step_log if not np.isfinite(float(e["loss"]))]
    assert bad, "the diverging run never reached a non-finite loss"
    return bad[0]


def saved_states(workdir: Path, like) -> dict[int, dict[str, np.ndarray]]:
    """Every checkpoint of a workdir: step → flat trainable parameters."""
    ckpt = checkpoint.Checkpointer(workdir / "checkpoints", best_metric=None)
    states = {
        step: tiny_run.flat_params(ckpt.restore_step(step, checkpoint.abstract_like(like))[1])
        for step in ckpt.all_steps()
    }
    ckpt.close()
    return states


@pytest.mark.slow
def test_nonfinite_loss_stops_training_and_nothing_after_it_is_saved(tiny_data, tmp_path):
    """The default ("stop"): the run raises naming the first NaN step and its loss, although
    the host only reads the metrics every 4 steps; the only checkpoint is from before it, and
    it is finite; metrics.jsonl holds no record of the diverged steps."""
    from alt_jax.train.trainer import NonFiniteError

    trainer = Trainer(diverging_config(tiny_data, "stop"), str(tmp_path / "run"))
    with pytest.raises(NonFiniteError) as error:
        trainer.train()
    bad = first_nonfinite_step(trainer)
    assert str(error.value).startswith(f"non-finite loss at step {bad} (loss nan")
    states = saved_states(tmp_path / "run", trainer.params)
    assert states and max(states) < bad, (sorted(states), bad)
    for params in states.values():
        assert all(np.isfinite(v).all() for v in params.values())
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert max(r["step"] for r in records if "train/loss" in r) < bad
    # The input pipeline's prefetch thread is stopped before the error reaches the caller (it
    # would otherwise go on reading and logging after main's error line).
    assert not input_threads()


def input_threads() -> list[str]:
    """Names of the live threads running grain's prefetch loop."""
    names = {t.ident: t.name for t in threading.enumerate()}
    return [
        names.get(ident, str(ident))
        for ident, frame in sys._current_frames().items()
        if any(f.f_code.co_name == "_put_iterator_elements_in_buffer" for f, _ in walk_stack(frame))
    ]


@pytest.mark.slow
def test_nonfinite_skip_leaves_the_bad_steps_out(tiny_data, tmp_path):
    """nonfinite="skip": the run ends, counting the skipped steps in its result and metrics;
    every step after the first NaN is NaN here, so the final checkpoint equals a run stopped
    just before it, and the logged averages stay finite."""
    config = diverging_config(tiny_data, "skip")
    trainer = Trainer(config, str(tmp_path / "skip"))
    result = trainer.train()
    bad = first_nonfinite_step(trainer)
    assert bad < 8 and result["step"] == 8 and result["skipped_steps"] == 9 - bad
    last = [json.loads(line) for line in (tmp_path / "skip" / "metrics.jsonl").open()][-1]
    assert last["step"] == 8 and last["train/skipped_steps"] == 9 - bad
    assert all(np.isfinite(v) for v in last.values())
    reference = Trainer(config, str(tmp_path / "before"))
    reference.train(max_steps=bad - 1)
    expected = tiny_run.flat_params(reference.params)
    final = saved_states(tmp_path / "skip", trainer.params)[8]
    for key in expected:
        np.testing.assert_array_equal(final[key], expected[key], err_msg=key)


@pytest.mark.slow
def test_main_exits_1_with_one_line_on_a_diverging_run(tiny_data, tmp_path):
    proc = run_subprocess(
        [
            "-m",
            "alt_jax.main",
            f"--config={REPO}/tests/tiny_config_file.py:{tiny_data}",
            f"--workdir={tmp_path / 'run'}",
            "--config.optim.lr=1e6",
            "--config.num_train_steps=8",
            "--config.checkpoint_every=4",
        ],
        1,
        timeout=240,
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("error: non-finite loss at step "), line
    assert "top-1" not in proc.stdout  # no final evaluation of a diverged model
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["4"]
