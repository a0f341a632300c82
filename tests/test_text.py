"""Class embeddings against transformers' text features averaged in NumPy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alt_jax import class_embeddings, load_clip
from alt_jax.tokenizer import tokenize


def test_class_embeddings_match_transformers_prompt_ensemble(saved_clip):
    torch_model, folder = saved_clip("tiny")
    model = load_clip(folder)
    classes = ["abseiling", "playing guitar", "riding a bike", "juggling balls", "surfing"]
    templates = ["a video of a person {}.", "a photo of {}", "{}, an action"]
    ours = class_embeddings(model, classes, templates, batch_size=4)  # batches straddle classes
    ref = []
    for name in classes:
        ids = torch.tensor(tokenize([t.format(name) for t in templates]), dtype=torch.long)
        with torch.no_grad():
            feats = torch_model.get_text_features(input_ids=ids).pooler_output.numpy()
        feats /= np.linalg.norm(feats, axis=-1, keepdims=True)
        mean = feats.mean(0)
        ref.append(mean / np.linalg.norm(mean))
    np.testing.assert_allclose(ours, np.stack(ref), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=-1), 1.0, atol=1e-6)


@pytest.mark.slow
def test_many_classes_in_bounded_batches(saved_clip):
    _, folder = saved_clip("tiny")
    model = load_clip(folder)
    classes = [f"class number {i}" for i in range(700)]
    templates = [f"template {j} of {{}}" for j in range(16)]
    small = class_embeddings(model, classes[:3], templates, batch_size=64)
    full = class_embeddings(model, classes, templates, batch_size=512)
    assert full.shape == (700, 32)
    np.testing.assert_allclose(full[:3], small, atol=1e-5)


def test_template_without_placeholder_is_refused(saved_clip):
    _, folder = saved_clip("tiny")
    with pytest.raises(ValueError, match="placeholder"):
        class_embeddings(load_clip(folder), ["a"], ["no placeholder"])


def test_center_removes_the_common_direction():
    rng = np.random.default_rng(0)
    common = rng.standard_normal(16)
    emb = common + 0.1 * rng.standard_normal((5, 16))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    from alt_jax.text import center

    out = center(emb)
    expected = emb - emb.mean(0)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(out, expected, atol=1e-12)
    off_diagonal = ~np.eye(5, dtype=bool)
    assert (emb @ emb.T)[off_diagonal].min() > 0.9 and (out @ out.T)[off_diagonal].mean() < 0.5
    with pytest.raises(ValueError):
        center(emb[:1])
