"""The frozen-feature cache: same logits as the full path; training reads it without the encoder."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
import tiny_run
from flax import nnx

from alt_jax.data import pipeline
from alt_jax.data.normalize import normalize_clip
from alt_jax.train import features
from alt_jax.train.trainer import Trainer, dataset_kwargs


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
    it, info = pipeline.make_eval_iterator(
        **dataset_kwargs(config.evals.val, "evals.val", train=False)
    )
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
    from clu import metric_writers

    metrics = trainer.evaluate(6, metric_writers.LoggingWriter())["val"]
    assert metrics["num_examples"] == 8 and metrics["skipped_videos"] == 0


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
