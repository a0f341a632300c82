"""CLIP pre-training on scenes: the loss against a NumPy reference, a tiny run that learns, the
saved folder read back by load_clip and transformers, and the committed checkpoint."""

import json
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import alt_jax
from alt_jax import pretrain_clip
from alt_jax.data.normalize import normalize_clip
from alt_jax.models.clip_config import get_preset
from alt_jax.weights import load_clip, save_clip

ASSET = Path(alt_jax.__file__).parent / "assets" / "synthclip"


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    x = x - x.max(axis, keepdims=True)
    return x - np.log(np.exp(x).sum(axis, keepdims=True))


def test_contrastive_loss_matches_numpy():
    rng = np.random.default_rng(0)
    img, txt = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    scale = math.log(1 / 0.07)
    a = img / np.linalg.norm(img, axis=1, keepdims=True)
    b = txt / np.linalg.norm(txt, axis=1, keepdims=True)
    logits = np.exp(scale) * a @ b.T
    expected = -0.5 * (
        np.diag(_log_softmax(logits, 1)).mean() + np.diag(_log_softmax(logits, 0)).mean()
    )
    got = pretrain_clip.clip_contrastive_loss(
        jnp.asarray(img, jnp.float32), jnp.asarray(txt, jnp.float32), jnp.float32(scale)
    )
    np.testing.assert_allclose(float(got), expected, rtol=1e-5)


def test_retrieval_top1_counts_matching_pairs():
    img = np.eye(3)
    txt = np.array([[1.0, 0, 0], [0, 1, 0], [0, 1, 0.1]])  # text 2 is nearer image 1 than 2
    got = pretrain_clip.retrieval_top1(img, txt)
    # Images: 0→0, 1→1 (1 > 0.995), 2→2 (the only text with a component 2). Texts: 2→1.
    assert got["image_to_text_top1"] == pytest.approx(1.0)
    assert got["text_to_image_top1"] == pytest.approx(2 / 3)


@pytest.fixture(scope="module")
def tiny_pretrained():
    # One-object scenes, batches of 64: the tiny CLIP sits at the chance loss for ~50 steps
    # (features that tell no pair apart), then learns.
    cfg = pretrain_clip.PretrainConfig(
        batch_size=64,
        steps=100,
        lr=2e-3,
        warmup_steps=10,
        weight_decay=0.0,
        log_every=5,
        max_objects=1,
    )
    return pretrain_clip.pretrain(get_preset("tiny"), cfg, log=lambda s: None)


@pytest.mark.slow
def test_tiny_run_learns(tiny_pretrained):
    model, summary = tiny_pretrained
    losses = summary["logged_losses"]  # steps 1, 5, 10, ..., 100
    assert summary["steps"] == 100
    chance_loss = math.log(64)  # the loss of features that tell no pair apart
    assert np.mean(losses[-3:]) < chance_loss - 0.3 < losses[0], losses
    metrics = pretrain_clip.evaluate(model, num_pairs=64, num_probe=128, max_objects=1)
    retrieval = (metrics["image_to_text_top1"] + metrics["text_to_image_top1"]) / 2
    assert retrieval > 2 * metrics["retrieval_chance"], metrics
    assert metrics["probe_color"] > 1.5 * metrics["probe_color_chance"], metrics


def test_saved_checkpoint_round_trips(tiny_pretrained, tmp_path):
    model, _ = tiny_pretrained
    folder = save_clip(model, tmp_path / "clip")
    loaded = load_clip(folder)
    images = normalize_clip(np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), np.uint8))
    ids = jnp.asarray(alt_jax.tokenize(["a red circle on the left", "a large blue star"]))
    for encode, x in [("encode_image", images), ("encode_text", ids)]:
        want = nnx.jit(lambda m, x, e=encode: getattr(m, e)(x))(model, x)
        got = nnx.jit(lambda m, x, e=encode: getattr(m, e)(x))(loaded, x)
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-5)
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    hf = transformers.CLIPModel.from_pretrained(str(folder)).float().eval()
    with torch.no_grad():
        hf_text = hf.get_text_features(input_ids=torch.tensor(np.asarray(ids), dtype=torch.long))
    hf_text = getattr(hf_text, "pooler_output", hf_text)
    want = nnx.jit(lambda m, t: m.encode_text(t))(model, ids)
    np.testing.assert_allclose(hf_text.numpy(), np.asarray(want), rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_bfloat16_storage_halves_the_file(tiny_pretrained, tmp_path):
    model, _ = tiny_pretrained
    f32 = save_clip(model, tmp_path / "f32") / "model.safetensors"
    bf16 = save_clip(model, tmp_path / "bf16", dtype="bfloat16") / "model.safetensors"
    assert bf16.stat().st_size < 0.55 * f32.stat().st_size
    flat = lambda m: np.concatenate([np.ravel(v) for v in jax.tree.leaves(nnx.state(m, nnx.Param))])
    # bfloat16 keeps 8 significant bits: relative error at most 2^-8 (round to nearest).
    np.testing.assert_allclose(flat(load_clip(bf16.parent)), flat(model), rtol=2**-8, atol=1e-30)
    with pytest.raises(ValueError, match="dtype"):
        save_clip(model, tmp_path / "x", dtype="int8")


def test_committed_checkpoint_is_the_synthclip_preset():
    assert (ASSET / "config.json").is_file(), f"{ASSET}: no committed checkpoint"
    config = json.loads((ASSET / "config.json").read_text())
    assert alt_jax.ClipConfig.from_transformers_dict(config) == get_preset("synthclip")
    model = load_clip(ASSET)
    assert model.config == get_preset("synthclip")
    assert 0 < float(model.logit_scale[...]) <= math.log(100) + 1e-3
