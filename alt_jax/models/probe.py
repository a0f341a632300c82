"""The closed-form appearance probe (docs/method.md §5.4) [ours]: a ridge regression from the clip's
mean class token to its class's text embedding, fitted once on the training set before training.

A linear probe on CLIP's frozen features is the strongest cheap baseline for what a clip looks like,
and SGD with a small budget does not reach it (the features are ill-conditioned: the directions
that tell classes apart carry little of their variance). Fitting it in closed form and adding its
prediction's score to the classifier makes ALT start where the probe ends; the adapter then learns
what a linear map of the frame average cannot (where, when, in which order). The probe predicts a
text embedding, and each class scores it by its own text, so new class names still score. It adds
to the logits beside the cosine, not to the video vector: a strong probe inside the vector would
dominate its norm and shrink the adapter's share of the cosine (and its gradient).

    logit_c = s · (cos(v, t_c) + g_p · (x̄ − μ) A t_c)      x̄ = mean_t(cls_t), A [d, d]

A = k · argmin_A Σ_i ‖(x̄_i − μ) A − (t_{y_i} − t̄)‖² + λ ‖A‖², with λ and k (the probe's weight
against the frozen frame average's cosine, 0 included) chosen by cross-validation with folds by
video.
"""

from __future__ import annotations

import numpy as np

# Grids of the cross-validation: λ in units of the features' total variance; k against the cosine
# (0: the probe is left out when it does not beat the frame average's zero-shot).
RIDGE_GRID = tuple(10.0**e for e in range(-7, 2))
WEIGHT_GRID = (0.0, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)


def ridge_to_text(
    features: np.ndarray, labels: np.ndarray, class_embeddings: np.ndarray, ridge: float
) -> tuple[np.ndarray, np.ndarray]:
    """features [N, d], labels [N], unit class_embeddings [C, d] → (μ [d], A [d, d]) of the
    ridge regression of (x − μ) onto t_y − t̄ (float64)."""
    mean = features.mean(axis=0)
    centred = features - mean
    targets = class_embeddings[labels] - class_embeddings.mean(axis=0)
    gram = centred.T @ centred + ridge * np.eye(features.shape[1])
    return mean, np.linalg.solve(gram, centred.T @ targets)


def cosine_and_score(
    features: np.ndarray, mean: np.ndarray, probe_map: np.ndarray, class_embeddings: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(cos(x̄, t_c), (x̄ − μ) A t_c), each [N, C]: the frame average's cosine and the probe's
    score, for unit class_embeddings."""
    video = features / np.linalg.norm(features, axis=-1, keepdims=True)
    return video @ class_embeddings.T, ((features - mean) @ probe_map) @ class_embeddings.T


def probe_logits(
    features: np.ndarray, mean: np.ndarray, probe_map: np.ndarray, weight: float,
    class_embeddings: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """cos(x̄, t_c) + k (x̄ − μ) A t_c [N, C]: ALT's classifier (over its scale s) with the
    probe beside the frame average alone (z = 0, no entity readout); class_embeddings unit."""
    cosine, score = cosine_and_score(features, mean, probe_map, class_embeddings)
    return cosine + weight * score


def fit_probe(
    features: np.ndarray,
    labels: np.ndarray,
    class_embeddings: np.ndarray,
    groups: np.ndarray,
    logit_scale: float = 100.0,
    folds: int = 4,
) -> dict:
    """features [N, d] (mean class token per clip), labels [N], class_embeddings [C, d],
    groups [N] (the video of each row: augmented views of one video share a fold) →
    {"mean" [d], "map" [d, d] (k folded in), "ridge", "weight", "cv_nll", "cv_top1",
    "train_top1"}. λ and k minimise the cross-validated cross-entropy of the logits at
    `logit_scale` (ALT's s at init): a weak probe must not be confidently wrong, so it gets a
    small weight, and none when the frame average's zero-shot is better."""
    x = np.asarray(features, np.float64)
    y = np.asarray(labels)
    t = np.asarray(class_embeddings, np.float64)
    t = t / np.linalg.norm(t, axis=-1, keepdims=True)
    if len(x) != len(y) or len(x) != len(groups):
        raise ValueError(
            f"features, labels and groups differ in length: {len(x)}, {len(y)}, {len(groups)}"
        )
    bad = ~np.isfinite(x).all(axis=-1)
    if bad.any():
        raise ValueError(
            f"model.probe: {int(bad.sum())} of {len(x)} training clips have non-finite frozen "
            f"features (first rows {np.nonzero(bad)[0][:5].tolist()}); the probe is not fitted"
        )
    videos, fold_of_row = np.unique(np.asarray(groups), return_inverse=True)
    # Folds by a fixed shuffle of the videos: a dataset listed class by class (or interleaved)
    # cannot line its classes up with the folds.
    fold = (np.random.default_rng(0).permutation(len(videos)) % folds)[fold_of_row]
    scale = x.var(axis=0).sum()  # λ relative to the features' total variance
    nll = np.zeros((len(RIDGE_GRID), len(WEIGHT_GRID)))
    hits = np.zeros_like(nll)
    for f in range(min(folds, len(videos))):
        train, test = fold != f, fold == f
        for i, ridge in enumerate(RIDGE_GRID):
            mean, probe_map = ridge_to_text(x[train], y[train], t, ridge * scale)
            cosine, score = cosine_and_score(x[test], mean, probe_map, t)  # once per λ
            for j, weight in enumerate(WEIGHT_GRID):
                logits = logit_scale * (cosine + weight * score)
                logits -= logits.max(axis=-1, keepdims=True)
                log_p = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
                nll[i, j] -= log_p[np.arange(len(log_p)), y[test]].sum()
                hits[i, j] += (logits.argmax(-1) == y[test]).sum()
    i, j = np.unravel_index(np.argmin(nll), nll.shape)
    ridge, weight = RIDGE_GRID[i], WEIGHT_GRID[j]
    mean, probe_map = ridge_to_text(x, y, t, ridge * scale)
    train_top1 = float((probe_logits(x, mean, probe_map, weight, t).argmax(-1) == y).mean())
    return {
        "mean": mean.astype(np.float32),
        "map": (weight * probe_map).astype(np.float32),
        "ridge": float(ridge),
        "weight": float(weight),
        "cv_nll": float(nll[i, j] / len(x)),
        "cv_top1": float(hits[i, j] / len(x)),
        "train_top1": train_top1,
    }
