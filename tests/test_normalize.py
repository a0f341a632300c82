"""CLIP normalisation against the NumPy formula."""

from __future__ import annotations

import numpy as np

from alt_jax.data import normalize


def test_normalize_clip_matches_numpy():
    frames = np.random.default_rng(0).integers(0, 256, (2, 3, 5, 4, 3), dtype=np.uint8)
    mean = np.array([0.48145466, 0.4578275, 0.40821073])
    std = np.array([0.26862954, 0.26130258, 0.27577711])
    want = (frames / 255.0 - mean) / std
    got = np.asarray(normalize.normalize_clip(frames))
    assert got.dtype == np.float32 and got.shape == frames.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
