"""The frozen-feature cache: same logits as the full path; training reads it without the encoder."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
import tiny_run
from clu import metric_writers
from flax import nnx

from alt_jax.configs_lib import ConfigError
from alt_jax.data.normalize import normalize_clip
from alt_jax.train import features
from alt_jax.train.datasets import dataset_spec
from alt_jax.train.trainer import Trainer


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return tiny_run.make_tiny_data(str(tmp_path_factory.mktemp("tiny_features")))


def test_record_round_trip():
    arrays = {
        "ln": np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32),
        "dest": np.arange(5, dtype=np.int32),
        "label": np.asarray(3),
    }
    back = features.decode_record(features.encode_record(arrays))
    for key, value in arrays.items():
        np.testing.assert_array_equal(back[key], value)
        assert back[key].dtype == value.dtype


@pytest.mark.slow
def test_cached_and_full_paths_give_the_same_logits(tiny_data, tmp_path):
    config = tiny_run.tiny_config(tiny_data)
    config.feature_cache = str(tmp_path / "cache")
    trainer = Trainer(config, str(tmp_path / "run"))
    written = trainer.extract_features(config.feature_cache, train_views=2)
    assert written[f"{config.feature_cache}/eval_val.arrayrecord"] == 8  # 4 classes × 2 videos
    assert written[f"{config.feature_cache}/train_view0.arrayrecord"] == 16
    model = nnx.merge(trainer.graphdef, trainer.params, trainer.frozen)
    class_emb = trainer.class_embeddings(["a", "b", "c", "d"])
    # The same views, decoded again, through the whole model.
    it, info = dataset_spec(config.evals.val, "evals.val", train=False).eval_iterator()
    cached = features.read_features(f"{config.feature_cache}/eval_val.arrayrecord")
    position = {int(cached[i]["index"]): i for i in range(len(cached))}
    full_logits = nnx.jit(lambda m, v, c: m(v, c, train=False)["logits"])  # eager is slow
    head_logits = nnx.jit(lambda m, f, c: m.head(f, c, train=False)["logits"])
    checked = 0
    for _ in range(info.num_batches):
        batch = next(it)
        for i in np.nonzero(batch["valid"])[0]:
            record = cached[position[int(batch["index"][i])]]
            for view in range(batch["video"].shape[1]):
                video = normalize_clip(jnp.asarray(batch["video"][i, view][None]))
                full = full_logits(model, video, class_emb)
                feats = {k: jnp.asarray(record[k][view][None]) for k in features.FEATURE_KEYS}
                from_cache = head_logits(model, feats, class_emb)
                np.testing.assert_allclose(np.asarray(from_cache), np.asarray(full), atol=1e-5)
                checked += 1
    assert checked == 16  # 8 videos × 2 clips


@pytest.mark.slow
def test_training_and_evaluation_from_the_cache(tiny_data, tmp_path):
    config = tiny_run.tiny_config(tiny_data)
    config.feature_cache = str(tmp_path / "cache")
    Trainer(config, str(tmp_path / "extract")).extract_features(config.feature_cache, 2)
    trainer = Trainer(config, str(tmp_path / "run"))
    trainer.train()
    assert [e["step"] for e in trainer.step_log] == list(range(1, 7))
    assert all(np.isfinite(float(e["loss"])) for e in trainer.step_log)
    # Epoch 0 reads view 0 and epoch 1 view 1: 16 videos per epoch, batches of 8.
    seen = np.concatenate([e["index"] for e in trainer.step_log[:2]])
    assert sorted(seen.tolist()) == list(range(16))
    metrics = trainer.evaluate(6, metric_writers.LoggingWriter())["val"]
    assert metrics["num_examples"] == 8 and metrics["skipped_videos"] == 0


@pytest.mark.slow
def test_first_cached_step_equals_the_video_step(tiny_data, tmp_path):
    """Step 1 from the cache (view 0, drawn with the run's seed) is step 1 from the videos:
    the same videos in the same order, the same augmented view, so the same loss."""
    config = tiny_run.tiny_config(tiny_data)
    from_videos = Trainer(config, str(tmp_path / "videos"))
    from_videos.train(max_steps=1)
    config.feature_cache = str(tmp_path / "cache")
    Trainer(config, str(tmp_path / "extract")).extract_features(config.feature_cache, 1)
    from_cache = Trainer(config, str(tmp_path / "cached"))
    from_cache.train(max_steps=1)
    (video_step,), (cache_step,) = from_videos.step_log, from_cache.step_log
    np.testing.assert_array_equal(cache_step["index"], video_step["index"])
    np.testing.assert_allclose(float(cache_step["loss"]), float(video_step["loss"]), rtol=1e-5)


# ---------------------------------------------------------------------------------------------
# Cache folders: atomic extraction, checks before the first step, one-line errors.

REPO = Path(__file__).resolve().parents[1]
TRAIN_FILE, EVAL_FILE = "train_view0.arrayrecord", "eval_val.arrayrecord"


@pytest.fixture(scope="module")
def extracted(tiny_data, tmp_path_factory):
    """A tiny cache (the val views, one training view), its config and the extracting Trainer."""
    folder = tmp_path_factory.mktemp("extracted") / "cache"
    config = tiny_run.tiny_config(tiny_data)
    config.feature_cache = str(folder)
    trainer = Trainer(config, str(folder.parent / "extract"))
    trainer.extract_features(str(folder), 1)
    return config, folder, trainer


def copy_cache(extracted, tmp_path) -> tuple[ml_collections.ConfigDict, Path]:
    config, folder, _ = extracted
    copy = tmp_path / "cache"
    shutil.copytree(folder, copy)
    config = config.copy_and_resolve_references()
    config.feature_cache = str(copy)
    return config, copy


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.slow
def test_manifest_describes_every_file(extracted):
    config, folder, _ = extracted
    manifest = json.loads((folder / "manifest.json").read_text())
    assert sorted(manifest["files"]) == [EVAL_FILE, TRAIN_FILE]
    assert sorted(p.name for p in folder.iterdir()) == [EVAL_FILE, "manifest.json", TRAIN_FILE]
    # The tiny data: 4 classes × 2 val and × 4 train videos; 2 clips × 1 crop, 4 frames each.
    val, train = manifest["files"][EVAL_FILE], manifest["files"][TRAIN_FILE]
    assert (val["records"], train["records"]) == (8, 16)
    for name, entry in manifest["files"].items():
        assert entry["bytes"] == (folder / name).stat().st_size
    assert val["features"]["ln"]["shape"][:2] == [2, 4]
    assert train["features"]["ln"]["shape"][0] == 4
    assert val["features"]["ln"]["dtype"] == "float32"
    assert manifest["model"]["model.tome_r"] == 2
    assert manifest["model"]["model.backbone.preset"] == "tiny"
    assert val["dataset"]["evals.val.image_size"] == 32


def crashing_encoder(trainer: Trainer, calls: int):
    """The trainer's encoder, raising at call `calls` (a process killed mid-extraction)."""
    encode, count = trainer.features_fn(), [0]

    def features_fn():
        def run(videos):
            count[0] += 1
            if count[0] == calls:
                raise RuntimeError("killed")
            return encode(videos)

        return run

    return features_fn


@pytest.mark.slow
def test_interrupted_extraction_leaves_no_final_file(extracted, tmp_path, monkeypatch):
    config, _, trainer = extracted
    # The val set's 2 batches complete, the crash comes in the first training view.
    monkeypatch.setattr(trainer, "features_fn", crashing_encoder(trainer, 4))
    fresh = tmp_path / "fresh"
    with pytest.raises(RuntimeError, match="killed"):
        trainer.extract_features(str(fresh), 1)
    assert not [p.name for p in fresh.iterdir() if not p.name.endswith(".partial")]
    # Over an existing cache, the interrupted extraction leaves it as it was, and usable.
    config, copy = copy_cache(extracted, tmp_path)
    before = folder_bytes(copy)
    monkeypatch.setattr(trainer, "features_fn", crashing_encoder(trainer, 4))
    with pytest.raises(RuntimeError, match="killed"):
        trainer.extract_features(str(copy), 1)
    after = {k: v for k, v in folder_bytes(copy).items() if not k.endswith(".partial")}
    assert after == before
    assert features.check_cache(str(copy), config, train=True)["train"] == [str(copy / TRAIN_FILE)]


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def scribble_on_index(path: Path) -> None:
    """Same size, damaged index: ArrayRecord writes its index last, then pads with zeros."""
    data = bytearray(path.read_bytes())
    end = len(data.rstrip(b"\0"))
    data[end - 64 : end] = b"x" * 64
    path.write_bytes(bytes(data))


def as_folder(path: Path) -> None:
    path.unlink()
    path.mkdir()


def edit_manifest(folder: Path, edit) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    edit(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))


DAMAGES = {
    # name: (damage(cache folder, config), the file the error must name)
    "truncated_train_view": (lambda f, c: truncate(f / TRAIN_FILE), TRAIN_FILE),
    "truncated_eval": (lambda f, c: truncate(f / EVAL_FILE), EVAL_FILE),
    "damaged_eval_same_size": (lambda f, c: scribble_on_index(f / EVAL_FILE), EVAL_FILE),
    "deleted_eval": (lambda f, c: (f / EVAL_FILE).unlink(), EVAL_FILE),
    "folder_as_train_view": (lambda f, c: as_folder(f / TRAIN_FILE), TRAIN_FILE),
    "no_manifest": (lambda f, c: (f / "manifest.json").unlink(), "manifest.json"),
    "manifest_of_another_model": (
        lambda f, c: edit_manifest(f, lambda m: m["model"].update({"model.tome_r": 4})),
        "manifest.json",
    ),
    "run_with_other_eval_views": (lambda f, c: setattr(c.evals.val, "num_clips", 1), EVAL_FILE),
}


@pytest.mark.slow
@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_damaged_cache_is_refused_before_the_first_step(extracted, tmp_path, damage):
    config, copy = copy_cache(extracted, tmp_path)
    apply, name = DAMAGES[damage]
    apply(copy, config)
    trainer = Trainer(config, str(tmp_path / "run"))
    with pytest.raises(ConfigError) as refused:
        trainer.train()
    message = str(refused.value)
    assert str(copy / name) in message, message
    assert "--mode=extract_features" in message and "\n" not in message
    assert trainer.step_log == []
    assert not (tmp_path / "run" / "checkpoints").exists() or not any(
        (tmp_path / "run" / "checkpoints").iterdir()
    )
    if damage == "truncated_eval":  # --mode=eval from the cache: the same refusal
        with pytest.raises(ConfigError, match=str(copy / EVAL_FILE)):
            trainer.evaluate(0, metric_writers.LoggingWriter())


@contextlib.contextmanager
def read_only(folder: Path):
    """`folder` made read-only: by its mode, or (root ignores modes) the immutable attribute."""
    os.chmod(folder, 0o555)
    immutable = False
    try:
        if os.access(folder, os.W_OK):
            immutable = subprocess.run(["chattr", "+i", str(folder)]).returncode == 0
            probe = folder / "probe"
            try:
                probe.touch()
                probe.unlink()
                pytest.skip("no way to make a read-only folder here")
            except OSError:
                pass
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)])
        os.chmod(folder, 0o755)


@pytest.mark.slow
def test_read_only_cache_trains(extracted, tmp_path):
    config, copy = copy_cache(extracted, tmp_path)
    with read_only(copy):
        trainer = Trainer(config, str(tmp_path / "run"))
        trainer.train(max_steps=1)
    assert [e["step"] for e in trainer.step_log] == [1]
    assert np.isfinite(float(trainer.step_log[0]["loss"]))


@pytest.mark.slow
def test_extraction_into_a_read_only_folder_fails_in_one_line(tiny_data, tmp_path):
    folder = tmp_path / "cache"
    folder.mkdir()
    with read_only(folder):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "alt_jax.main",
                f"--config={REPO}/tests/tiny_config_file.py:{tiny_data}",
                f"--workdir={tmp_path / 'run'}",
                "--mode=extract_features",
                f"--config.feature_cache={folder}",
            ],
            env=dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO)),
            capture_output=True,
            text=True,
            timeout=240,
            cwd=REPO,
        )
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert f"cannot write the feature cache to {folder} " in line, line
    assert list(folder.iterdir()) == []
