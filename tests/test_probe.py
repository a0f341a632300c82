"""The closed-form appearance probe (alt_jax/models/probe.py) against NumPy's least squares and
on data built so that SGD-scale directions hide the classes."""

import numpy as np
import pytest

from alt_jax.models import probe


def unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_ridge_to_text_is_the_augmented_least_squares_solution():
    """(μ, A) solve min ‖(X − μ)A − (T_y − t̄)‖² + λ‖A‖², written as ordinary least squares on
    [X − μ; √λ I] (an independent formulation)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6)) + 3.0
    y = rng.integers(0, 4, size=40)
    t = unit_rows(rng.normal(size=(4, 6)))
    ridge = 0.7
    mean, probe_map = probe.ridge_to_text(x, y, t, ridge)
    np.testing.assert_allclose(mean, x.mean(axis=0))
    design = np.concatenate([x - x.mean(axis=0), np.sqrt(ridge) * np.eye(6)])
    targets = np.concatenate([t[y] - t.mean(axis=0), np.zeros((6, 6))])
    want = np.linalg.lstsq(design, targets, rcond=None)[0]
    np.testing.assert_allclose(probe_map, want, atol=1e-10)


def hidden_class_data(n: int, seed: int):
    """Features whose class lies in one low-variance direction under a large shared component
    and high-variance noise: the frame average alone (cosine to the class texts) is at chance."""
    rng = np.random.default_rng(seed)
    d, classes = 16, 4
    labels = np.arange(n) % classes
    shared = np.zeros(d)
    shared[0] = 50.0
    noise_scale = np.r_[np.zeros(1 + classes), 5.0 * np.ones(d - 1 - classes)]
    x = shared + rng.normal(size=(n, d)) * noise_scale
    x[:, 1 : 1 + classes] += 0.3 * np.eye(classes)[labels]  # the class, at a small scale
    texts = unit_rows(rng.normal(size=(classes, d)))
    return x, labels, texts


def test_fit_finds_the_low_variance_class_direction_that_zero_shot_misses():
    x, y, t = hidden_class_data(400, 0)
    xv, yv, _ = hidden_class_data(200, 1)
    # Rows interleave the classes (label = row mod 4): folds by row index mod 4 would hold one
    # class each; the fit's shuffled folds mix them.
    fit = probe.fit_probe(x, y, t, np.arange(len(x)))
    zero_shot = (probe.probe_logits(xv, fit["mean"], fit["map"], 0.0, t).argmax(-1) == yv).mean()
    top1 = (probe.probe_logits(xv, fit["mean"], fit["map"], 1.0, t).argmax(-1) == yv).mean()
    assert zero_shot < 0.4  # chance is 0.25
    assert top1 > 0.95
    assert fit["cv_top1"] > 0.9 and fit["train_top1"] > 0.95
    assert fit["mean"].dtype == fit["map"].dtype == np.float32
    assert fit["map"].shape == (16, 16)


def test_cross_validation_keeps_the_views_of_a_video_in_one_fold():
    """Four identical views per video and labels that are noise: with folds by video the
    cross-validated top-1 is near chance; split by row, the copies would leak into it (≈ 1)."""
    rng = np.random.default_rng(0)
    videos, classes, d = 64, 4, 80
    x_video = rng.normal(size=(videos, d))
    y_video = rng.integers(0, classes, size=videos)
    x, y = np.tile(x_video, (4, 1)), np.tile(y_video, 4)
    groups = np.tile(np.arange(videos), 4)
    t = unit_rows(rng.normal(size=(classes, d)))
    by_video = probe.fit_probe(x, y, t, groups)
    by_row = probe.fit_probe(x, y, t, np.arange(len(x)))
    assert by_video["cv_top1"] < 0.5
    assert by_row["cv_top1"] > 0.9


def test_mismatched_lengths_are_refused_by_name():
    x, y, t = hidden_class_data(40, 0)
    with pytest.raises(ValueError, match="features, labels and groups"):
        probe.fit_probe(x, y[:-1], t, np.arange(40))
