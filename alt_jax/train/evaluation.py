"""Multi-view evaluation metrics and reports: top-1/top-5, mean class accuracy, per class, confusion."""

from __future__ import annotations

import json
import os
from typing import Sequence

import numpy as np
from etils import epath
from PIL import Image


def average_views(view_probs: np.ndarray) -> np.ndarray:
    """Per-view class probabilities [B, V, C] → their mean over views [B, C]."""
    return view_probs.mean(axis=1)


def classification_metrics(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """top1, top5 and mean class accuracy (mean over classes present of per-class recall)."""
    if len(labels) == 0:
        raise ValueError("no examples to evaluate")
    ranked = np.argsort(-probs, axis=1, kind="stable")
    top1 = ranked[:, 0] == labels
    top5 = (ranked[:, : min(5, probs.shape[1])] == labels[:, None]).any(axis=1)
    present = np.unique(labels)
    per_class = [top1[labels == c].mean() for c in present]
    return {
        "top1": float(top1.mean()),
        "top5": float(top5.mean()),
        "mean_class_accuracy": float(np.mean(per_class)),
        "num_examples": int(len(labels)),
    }


def confusion_matrix(predictions: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts [C, C]: row = true class, column = predicted class."""
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def per_class_report(
    probs: np.ndarray, labels: np.ndarray, class_names: Sequence[str]
) -> list[dict[str, object]]:
    """One entry per class: name, number of examples, top-1 accuracy (None without examples)."""
    predictions = probs.argmax(axis=1)
    report = []
    for c, name in enumerate(class_names):
        mask = labels == c
        accuracy = float((predictions[mask] == c).mean()) if mask.any() else None
        report.append({"class": name, "examples": int(mask.sum()), "top1": accuracy})
    return report


def confusion_picture(matrix: np.ndarray, cell: int | None = None) -> Image.Image:
    """A heat map of a row-normalised confusion matrix (white = 0, dark blue = 1)."""
    rows = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, rows, out=np.zeros(matrix.shape, np.float64), where=rows > 0)
    cell = cell or max(1, 400 // max(1, matrix.shape[0]))
    shade = (1 - normalised)[..., None]
    rgb = (shade * np.array([255, 255, 255]) + (1 - shade) * np.array([8, 48, 107])).astype(
        np.uint8
    )
    return Image.fromarray(rgb.repeat(cell, 0).repeat(cell, 1))


def write_reports(
    directory: str | os.PathLike,
    name: str,
    step: int,
    probs: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
) -> dict[str, float]:
    """Writes {name}_step{step}.json (metrics + per class) and a confusion PNG; returns metrics.

    `directory` may be local or gs:// (etils.epath; pathlib would turn gs:// into gs:/)."""
    directory = epath.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    metrics = classification_metrics(probs, labels)
    report = {
        "dataset": name,
        "step": step,
        **metrics,
        "per_class": per_class_report(probs, labels, class_names),
    }
    (directory / f"{name}_step{step}.json").write_text(json.dumps(report, indent=1))
    matrix = confusion_matrix(probs.argmax(axis=1), labels, len(class_names))
    # PIL opens path names with the builtin open(): hand it a file object so gs:// works.
    with (directory / f"{name}_step{step}_confusion.png").open("wb") as f:
        confusion_picture(matrix).save(f, format="PNG")
    return metrics
