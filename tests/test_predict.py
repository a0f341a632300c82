"""`python -m alt_jax.predict`: top classes on a real clip, zero-shot labels, JSON, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from alt_jax import predict
from alt_jax.train import restore
from tests.video_fixtures import write_mjpeg

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def loaded_run(tiny_workdir):
    """The tiny run loaded once (test_torch_alt covers loading itself)."""
    return restore.load_run(tiny_workdir)


@pytest.fixture
def reuse_run(loaded_run, tiny_workdir, monkeypatch):
    """predict's `load_run` of the tiny workdir returns the run loaded once for this module."""
    real = restore.load_run

    def load(workdir, step=None, **overrides):
        same = os.path.abspath(workdir) == os.path.abspath(tiny_workdir) and step is None
        return (
            loaded_run if same and not any(overrides.values()) else real(workdir, step, **overrides)
        )

    monkeypatch.setattr(restore, "load_run", load)


@pytest.mark.slow
def test_predict_prints_sorted_top_five_on_a_real_clip(
    tiny_workdir, bikes_video, tmp_path, capsys, reuse_run
):
    # Six zero-shot classes (the run has four), so the top 5 is a real cut.
    labels = tmp_path / "labels.txt"
    labels.write_text("riding a bike\nswimming\nred circle moving left\nsky\ncooking\ndancing\n")
    code = predict.main([f"--workdir={tiny_workdir}", f"--labels={labels}", bikes_video])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[0] == bikes_video
    rows = [line for line in out if line.strip()[:2] in {f"{i}." for i in range(1, 6)}]
    assert len(rows) == 5
    probs = [float(line.rsplit(None, 1)[1].rstrip("%")) / 100 for line in rows]
    assert probs == sorted(probs, reverse=True) and sum(probs) <= 1 + 1e-4
    frames = [line for line in out if line.strip().startswith("frame ")]
    assert len(frames) == 4  # the run samples 4 frames


@pytest.mark.slow
def test_predict_json_parses(tiny_workdir, bikes_video, capsys, reuse_run):
    code = predict.main([f"--workdir={tiny_workdir}", "--json", "--top_k=3", bikes_video])
    document = json.loads(capsys.readouterr().out)
    assert code == 0 and document["errors"] == [] and document["classes"] == 4
    (video,) = document["videos"]
    probs = [entry["probability"] for entry in video["top"]]
    assert len(probs) == 3 and probs == sorted(probs, reverse=True) and sum(probs) <= 1 + 1e-6
    assert len(video["frames"]) == 4
    for frame in video["frames"]:
        shares = [e["share"] for e in frame]
        assert 0 < len(frame) <= 3 and 0 < sum(shares) <= 1 + 1e-6


def test_missing_video_is_named_with_exit_code_2(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu")
    missing = tmp_path / "nope.mp4"
    proc = subprocess.run(
        [sys.executable, "-m", "alt_jax.predict", f"--workdir={tmp_path}", str(missing)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 2 and str(missing) in proc.stderr


def test_missing_workdir_message(tmp_path, capsys):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"x")
    assert predict.main([f"--workdir={tmp_path / 'no_run'}", str(video)]) == 2
    assert f"{tmp_path / 'no_run'}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("--top_k=-1", "argument --top_k: must be at least 1, got -1"),
        ("--top_k=0", "argument --top_k: must be at least 1, got 0"),
        ("--entities=-1", "argument --entities: must be at least 0, got -1"),
        ("--top_k=x", "argument --top_k: invalid int value: 'x'"),
    ],
)
def test_bad_counts_are_refused_like_flags(tmp_path, capsys, flag, message):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"x")
    with pytest.raises(SystemExit) as info:
        predict.main([f"--workdir={tmp_path / 'no_run'}", flag, str(video)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].endswith(f"error: {message}")
    assert "no_run" not in err  # refused before the run is looked at


@pytest.mark.slow
def test_corrupt_video_is_named_and_others_still_classified(
    tiny_workdir, bikes_video, tmp_path, capsys, reuse_run
):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    code = predict.main([f"--workdir={tiny_workdir}", str(broken), bikes_video])
    captured = capsys.readouterr()
    assert code == 2
    assert str(broken) in captured.err
    assert bikes_video in captured.out


def test_unknown_checkpoint_step_lists_the_steps(tiny_workdir, bikes_video, capsys):
    assert predict.main([f"--workdir={tiny_workdir}", "--checkpoint=5", bikes_video]) == 2
    assert "no step 5; steps: [2]" in capsys.readouterr().err


def test_probabilities_equal_the_evaluation_step(
    tiny_workdir, loaded_run, tmp_path, capsys, reuse_run
):
    """predict's probabilities of a validation video are the trainer's evaluation probabilities."""
    from alt_jax.data import pipeline
    from alt_jax.train.datasets import class_names_of, dataset_spec
    from alt_jax.train.trainer import Trainer

    # The evaluation path of training: the run's own eval dataset, pipeline and jitted eval step.
    config = loaded_run.config
    cfg = config.evals.val
    trainer = Trainer(config, str(tmp_path / "eval"), model=loaded_run.model)
    spec = dataset_spec(cfg, "evals.val", train=False)
    it, info = spec.eval_iterator()
    names = class_names_of(cfg, info)
    probs, labels, skipped = trainer._evaluate_videos(
        trainer.compile_eval_step(), trainer.class_embeddings(names), it, info, "val"
    )
    assert skipped == 0 and len(probs) == 8
    elements, _ = pipeline.load_source(spec.source)
    # Rows come back in list order (one process, no shuffling); labels confirm it.
    np.testing.assert_array_equal(labels, [e["label"] for e in elements])
    # One video per class, so different rows (and different argmaxes) are compared.
    rows = [next(i for i, e in enumerate(elements) if e["label"] == c) for c in range(4)]
    videos = [str(elements[i]["video"]) for i in rows]
    code = predict.main([f"--workdir={tiny_workdir}", "--json", "--top_k=4", *videos])
    document = json.loads(capsys.readouterr().out)
    assert code == 0
    for row, result in zip(rows, document["videos"], strict=True):
        ours = {entry["class"]: entry["probability"] for entry in result["top"]}
        np.testing.assert_allclose([ours[n] for n in names], probs[row], rtol=0, atol=1e-5)


@pytest.mark.slow
def test_predict_works_from_another_folder(relative_workdir, bikes_video, tmp_path):
    # The run was started with paths relative to its own folder (data/corpus.json, ...).
    from conftest import run_from

    proc = run_from(
        tmp_path, ["-m", "alt_jax.predict", f"--workdir={relative_workdir}", bikes_video]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "  1. " in proc.stdout


def test_moved_run_names_the_missing_corpus_and_its_flag(moved_workdir, bikes_video, capsys):
    assert predict.main([f"--workdir={moved_workdir}", bikes_video]) == predict.EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "/nonexistent/old_place/data/corpus.json" in err[0] and "--corpus=FILE" in err[0]


def test_moved_run_names_the_missing_class_list(moved_workdir, bikes_video, capsys, tiny_data):
    corpus = f"--corpus={tiny_data}/corpus.json"
    assert predict.main([f"--workdir={moved_workdir}", corpus, bikes_video]) == 2
    err = capsys.readouterr().err.strip()
    assert "/nonexistent/old_place/data/classes.txt" in err and "--labels=FILE" in err


def test_moved_run_loads_with_its_inputs_given_again(moved_workdir, bikes_video, capsys, tiny_data):
    args = [f"--corpus={tiny_data}/corpus.json", f"--labels={tiny_data}/classes.txt", "--json"]
    assert predict.main([f"--workdir={moved_workdir}", *args, bikes_video]) == 0
    document = json.loads(capsys.readouterr().out)
    assert len(document["videos"][0]["top"]) == 4


def test_moved_backbone_is_named_and_given_again(
    moved_workdir, bikes_video, capsys, tiny_data, saved_clip, tmp_path
):
    """A run on a CLIP folder that is gone: the error names it and --backbone; given, it loads."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(moved_workdir, run)
    for meta in run.glob("checkpoints/*/meta/metadata"):
        document = json.loads(meta.read_text())
        config = json.loads(document["config"])
        config["model"]["backbone"]["source"] = "/nonexistent/clip-tiny"
        document["config"] = json.dumps(config)
        meta.write_text(json.dumps(document))
    given = [f"--corpus={tiny_data}/corpus.json", f"--labels={tiny_data}/classes.txt"]
    assert predict.main([f"--workdir={run}", *given, bikes_video]) == 2
    err = capsys.readouterr().err.strip()
    assert "/nonexistent/clip-tiny" in err and "--backbone=FOLDER" in err
    _, folder = saved_clip("tiny")
    assert predict.main([f"--workdir={run}", *given, f"--backbone={folder}", bikes_video]) == 0


def _run_with_eval_config(monkeypatch, eval_config: dict) -> None:
    """predict loads a stand-in run whose evaluation config is `eval_config` (no model: the
    videos of these tests are refused before it is used)."""
    import types

    import ml_collections

    config = ml_collections.ConfigDict({"evals": {"val": eval_config}, "data": eval_config})
    run = types.SimpleNamespace(config=config, class_names=["a", "b"], step=2, model=None)
    monkeypatch.setattr(predict, "load_flagged_run", lambda args, step: run)
    monkeypatch.setattr(restore, "class_embeddings", lambda run, names: None)


def test_video_above_the_pixel_limit_is_named_with_the_reason(tmp_path, capsys, monkeypatch):
    from alt_jax.configs_lib import dataset_config

    # A run recorded before the field existed: the default limit applies.
    old = dataset_config(num_frames=4, image_size=32).to_dict()
    del old["max_frame_pixels"]
    _run_with_eval_config(monkeypatch, old)
    huge = write_mjpeg(str(tmp_path / "huge.avi"), 5000, 5000)
    assert predict.main([f"--workdir={tmp_path}", huge]) == predict.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert huge in err and "frames are 5000×5000" in err and "max_frame_pixels" in err
    # The run's own limit is the one applied.
    _run_with_eval_config(monkeypatch, dict(old, max_frame_pixels=64 * 48 - 1))
    small = write_mjpeg(str(tmp_path / "small.avi"), 64, 48)
    assert predict.main([f"--workdir={tmp_path}", "--json", small]) == predict.EXIT_BAD_INPUT
    (error,) = json.loads(capsys.readouterr().out)["errors"]
    assert small in error and "64×48 = 3072 pixels, more than max_frame_pixels=3071" in error
