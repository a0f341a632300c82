"""The appearance probe fitted by the trainer (alt_jax/train/probe_fit.py): the same fit from the
videos as from the feature cache's views, once per run, and held as fitted while ALT trains."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tiny_run

from alt_jax.configs_lib import ConfigError
from alt_jax.models.probe import fit_probe
from alt_jax.train import features, probe_fit
from alt_jax.train.datasets import dataset_spec
from alt_jax.train.trainer import Trainer


def probe_config(root: str, views: int = 2):
    config = tiny_run.tiny_config(root)
    config.model.probe.enabled = True
    config.model.probe.views = views
    return config


@pytest.mark.slow
def test_video_fit_equals_a_fit_on_the_cached_views(tiny_data, tmp_path):
    """Passes over the videos with seeds seed, seed + 1 read the feature cache's views 0 and 1
    (the same augmentation), so the trainer's fit is the ridge fit on the cached class tokens."""
    config = probe_config(tiny_data)
    trainer = Trainer(config, str(tmp_path / "run"))
    trainer.extract_features(str(tmp_path / "cache"), train_views=2)
    class_emb = trainer.class_embeddings(["a", "b", "c", "d"])
    params, summary = trainer.fit_probe(
        trainer.params, class_emb, dataset_spec(config.data, "data", train=True), 8
    )
    views = [
        features.read_features(str(tmp_path / f"cache/train_view{v}.arrayrecord")) for v in (0, 1)
    ]
    records = [view[i] for view in views for i in range(len(view))]
    want = fit_probe(
        np.stack([r["cls"].mean(axis=0) for r in records]),
        np.stack([r["label"] for r in records]),
        np.asarray(class_emb),
        np.stack([r["index"] for r in records]),
    )
    assert summary["clips"] == 32  # 16 training videos × 2 views
    assert (summary["ridge"], summary["weight"]) == (want["ridge"], want["weight"])
    np.testing.assert_allclose(np.asarray(params["probe_mean"][...]), want["mean"], atol=1e-5)
    np.testing.assert_allclose(
        np.asarray(params["probe_map"][...]), want["map"], atol=1e-4, rtol=1e-3
    )
    assert np.abs(want["map"]).max() > 0

    # From the cache the trainer reads those views themselves.
    config.feature_cache = str(tmp_path / "cache")
    cached = Trainer(config, str(tmp_path / "cached"))
    params, summary = cached.fit_probe(cached.params, class_emb, None, 8)
    assert summary["clips"] == 32
    np.testing.assert_allclose(
        np.asarray(params["probe_map"][...]), want["map"], atol=1e-4, rtol=1e-3
    )
    # probe.max_clips caps the clips of each view, from the cache and from the videos alike.
    config.model.probe.max_clips = 10
    assert (
        Trainer(config, str(tmp_path / "capped")).fit_probe(cached.params, class_emb, None, 8)[1][
            "clips"
        ]
        == 20
    )
    config.feature_cache = ""
    from_videos = Trainer(config, str(tmp_path / "capped_videos"))
    data = dataset_spec(config.data, "data", train=True)
    assert from_videos.fit_probe(from_videos.params, class_emb, data, 8)[1]["clips"] == 20


@pytest.mark.slow
def test_a_run_fits_once_holds_the_fit_and_resumes_without_refitting(tiny_data, tmp_path):
    config = probe_config(tiny_data, views=1)
    first = Trainer(config, str(tmp_path / "run"))
    first.train(max_steps=3)
    fitted = np.asarray(first.params["probe_map"][...])
    assert np.abs(fitted).max() > 0
    second = Trainer(config, str(tmp_path / "run"))
    second.train()
    assert [e["step"] for e in second.step_log] == [4, 5, 6]
    # Not trained (model.probe.trainable=False) and not refitted at the resume: one record.
    np.testing.assert_array_equal(np.asarray(second.params["probe_map"][...]), fitted)
    assert float(second.params["probe_gate"][...]) != 1.0  # its gate trains
    records = [json.loads(line) for line in open(tmp_path / "run/metrics.jsonl")]
    fits = [r for r in records if "probe/cv_top1" in r]
    assert len(fits) == 1 and fits[0]["step"] == 0 and fits[0]["probe/clips"] == 16


def test_collect_refuses_an_empty_training_set():
    with pytest.raises(ValueError, match="model.probe"):
        probe_fit.collect(iter([]), 4)


def test_batches_for_covers_max_clips():
    assert probe_fit.batches_for(0, 8, 5) == 5  # all
    assert probe_fit.batches_for(17, 8, 5) == 3
    assert probe_fit.batches_for(1000, 8, 5) == 5


@pytest.mark.parametrize(
    "key, value, message",
    [("views", 0, "probe.views"), ("max_clips", -1, "probe.max_clips")],
)
def test_bad_probe_settings_are_refused_by_key(tiny_data, tmp_path, key, value, message):
    config = probe_config(tiny_data)
    config.model.probe[key] = value
    with pytest.raises(ConfigError, match=message):
        Trainer(config, str(tmp_path / "run"))


@pytest.mark.slow
def test_sigterm_during_the_fit_stops_the_run_at_once_with_nothing_saved(
    tiny_data, tmp_path, monkeypatch
):
    """The fit is a pass over the training set before step 0: a stop signal ends it at once
    (the run says where), and no checkpoint exists, so the next start fits again."""
    import os
    import signal
    import threading
    import time

    from alt_jax.train import checkpoint, runner
    from alt_jax.train import trainer as trainer_lib

    def hung_fit(self, params, class_emb, data_kwargs, per_process_batch):
        threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM)).start()
        while True:
            time.sleep(0.05)

    monkeypatch.setattr(trainer_lib.Trainer, "fit_probe", hung_fit)
    result = runner.train_and_evaluate(probe_config(tiny_data), str(tmp_path / "run"), "train")
    assert result["preempted"] == "training"
    ckpt = checkpoint.Checkpointer(tmp_path / "run" / "checkpoints", best_metric=None)
    assert ckpt.all_steps() == []
    ckpt.close()


def test_non_finite_features_are_refused_naming_the_rows():
    x = np.ones((8, 4))
    x[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"1 of 8 training clips .*\[3\]"):
        fit_probe(x, np.arange(8) % 2, np.eye(2, 4), np.arange(8))
