"""Multi-view evaluation metrics and reports: top-1/top-5, mean class accuracy, per class,
confusion (counts in the JSON report, a labelled figure in the PNG)."""

from __future__ import annotations

import json
import os
from typing import Sequence

import numpy as np
from etils import epath
from PIL import Image, ImageDraw, ImageFont


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


def confusion_data(matrix: np.ndarray, class_names: Sequence[str]) -> dict[str, object]:
    """The confusion matrix as JSON-able data: counts, rows = true class, columns = predicted."""
    return {
        "rows": "true class",
        "columns": "predicted class",
        "classes": list(class_names),
        "counts": np.asarray(matrix).astype(int).tolist(),
    }


def most_confused(
    matrix: np.ndarray, class_names: Sequence[str], k: int = 25
) -> list[dict[str, object]]:
    """The `k` largest off-diagonal cells: true class, predicted class, count and the share of
    the true class's videos; ties go to the lower (true, predicted) index."""
    off = np.asarray(matrix).copy()
    np.fill_diagonal(off, 0)
    rows = np.asarray(matrix).sum(axis=1)
    flat = np.argsort(-off, axis=None, kind="stable")[:k]
    pairs = []
    for true, pred in zip(*np.unravel_index(flat, off.shape), strict=True):
        if off[true, pred] == 0:
            break
        pairs.append(
            {
                "true": class_names[true],
                "predicted": class_names[pred],
                "count": int(off[true, pred]),
                "share": float(off[true, pred] / rows[true]),
            }
        )
    return pairs


# The figure's layout in pixels: bar rows, the label column, the bar length.
_ROW, _LABEL, _PAIR_LABEL, _BAR = 18, 250, 400, 240


def _font(size: int = 12) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)  # Pillow's bundled TrueType font
    except (TypeError, OSError):  # Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _bar_panel(
    draw: ImageDraw.ImageDraw,
    x: int,
    y: int,
    title: str,
    rows: list[tuple[str, float, str]],
    axis: str,
    color: tuple[int, int, int],
    label_width: int = _LABEL,
) -> None:
    """Horizontal bars: a label, a bar of value in [0, 1] and its text per row, an x axis with
    ticks 0 .. 1 under them and a title over them."""
    font, small = _font(12), _font(11)
    draw.text((x, y), title, fill="black", font=_font(13))
    top = y + 22
    left = x + label_width
    for i, (label, value, text) in enumerate(rows):
        ry = top + i * _ROW
        draw.text((x, ry + 2), _shorten(label, label_width // 6), fill="black", font=small)
        draw.rectangle([left, ry + 3, left + round(value * _BAR), ry + _ROW - 3], fill=color)
        draw.text((left + _BAR + 6, ry + 2), text, fill="black", font=small)
    bottom = top + max(1, len(rows)) * _ROW + 2
    draw.line([left, top - 2, left, bottom], fill="black")
    draw.line([left, bottom, left + _BAR, bottom], fill="black")
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        tx = left + round(tick * _BAR)
        draw.line([tx, bottom, tx, bottom + 4], fill="black")
        draw.text((tx - 8, bottom + 5), f"{tick:g}", fill="black", font=small)
    draw.text((left, bottom + 20), axis, fill="black", font=font)


def _sorted_accuracy_panel(
    draw: ImageDraw.ImageDraw, x: int, y: int, width: int, height: int, accuracy: np.ndarray
) -> None:
    """Every class's accuracy as a column, sorted ascending, with y ticks 0 .. 1 and the mean."""
    small = _font(11)
    n = len(accuracy)
    draw.text(
        (x, y),
        f"Top-1 accuracy of all {n} classes with videos, sorted",
        fill="black",
        font=_font(13),
    )
    left, top, bottom = x + 40, y + 24, y + height - 30
    right = x + width
    for i, value in enumerate(np.sort(accuracy)):
        x0 = left + (right - left) * i / n
        x1 = left + (right - left) * (i + 1) / n
        draw.rectangle(
            [x0, bottom - value * (bottom - top), max(x0, x1 - 1), bottom], fill=(70, 110, 170)
        )
    mean = float(np.mean(accuracy)) if n else 0.0
    ym = bottom - mean * (bottom - top)
    draw.line([left, ym, right, ym], fill=(200, 40, 40))
    draw.text(
        (left + 6, ym - 14), f"mean class accuracy {mean:.3f}", fill=(200, 40, 40), font=small
    )
    draw.line([left, top, left, bottom], fill="black")
    draw.line([left, bottom, right, bottom], fill="black")
    for tick in (0.0, 0.5, 1.0):
        ty = bottom - tick * (bottom - top)
        draw.line([left - 4, ty, left, ty], fill="black")
        draw.text((x + 10, ty - 7), f"{tick:g}", fill="black", font=small)
    draw.text((left, bottom + 6), "classes, lowest accuracy first", fill="black", font=small)


def confusion_picture(
    matrix: np.ndarray, class_names: Sequence[str], title: str = "", top: int = 25
) -> Image.Image:
    """A confusion figure that stays readable at hundreds of classes: the `top` lowest per-class
    accuracies and the `top` most-confused pairs as labelled bar charts, and every class's
    accuracy sorted. (A heat map of 400 classes gives each cell one pixel and no names.)"""
    matrix = np.asarray(matrix)
    rows = matrix.sum(axis=1)
    present = np.nonzero(rows)[0]
    accuracy = np.diag(matrix)[present] / rows[present]
    order = np.argsort(accuracy, kind="stable")[:top]
    worst = [
        (
            class_names[present[i]],
            float(accuracy[i]),
            f"{accuracy[i]:.2f} ({int(matrix[present[i], present[i]])}/{int(rows[present[i]])})",
        )
        for i in order
    ]
    pairs = [
        (
            f"{_shorten(p['true'], 30)} -> {_shorten(p['predicted'], 30)}",
            p["share"],
            f"{p['count']} ({100 * p['share']:.0f}%)",
        )
        for p in most_confused(matrix, class_names, top)
    ]
    panel_w = _LABEL + _BAR + 90
    pairs_w = _PAIR_LABEL + _BAR + 90
    width = panel_w + pairs_w + 60
    lines = max(len(worst), len(pairs), 1)
    bars_h = 22 + lines * _ROW + 45
    height = 40 + bars_h + 20 + 220
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    absent = len(class_names) - len(present)
    heading = title or "Confusion report"
    if absent:
        heading += f"  ({absent} of {len(class_names)} classes have no videos)"
    draw.text((20, 10), heading, fill="black", font=_font(15))
    _bar_panel(
        draw,
        20,
        40,
        f"Lowest top-1 accuracy ({len(worst)} of {len(present)} classes)",
        worst,
        "top-1 accuracy (hits/videos)",
        (70, 110, 170),
    )
    _bar_panel(
        draw,
        40 + panel_w,
        40,
        f"Most confused pairs, true -> predicted ({len(pairs)})",
        pairs or [("(no confusions)", 0.0, "")],
        "share of the true class's videos (count)",
        (200, 90, 60),
        _PAIR_LABEL,
    )
    _sorted_accuracy_panel(draw, 20, 40 + bars_h + 20, width - 40, 210, accuracy)
    return image


def write_reports(
    directory: str | os.PathLike,
    name: str,
    step: int,
    probs: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    writer=None,
    extra: dict | None = None,
) -> dict[str, float]:
    """Writes {name}_step{step}.json (metrics, per class, most-confused pairs, the confusion
    counts and `extra` sections such as the alignment's grounding) and the confusion figure
    {name}_step{step}_confusion.png; returns the metrics.

    `writer` (a clu MetricWriter) also gets the figure as image eval/{name}/confusion.
    `directory` may be local or gs:// (etils.epath; pathlib would turn gs:// into gs:/)."""
    directory = epath.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    metrics = classification_metrics(probs, labels)
    matrix = confusion_matrix(probs.argmax(axis=1), labels, len(class_names))
    report = {
        "dataset": name,
        "step": step,
        **metrics,
        "per_class": per_class_report(probs, labels, class_names),
        "most_confused": most_confused(matrix, class_names),
        "confusion": confusion_data(matrix, class_names),
        **(extra or {}),
    }
    (directory / f"{name}_step{step}.json").write_text(json.dumps(report, indent=1))
    title = (
        f"{name}, step {step}: top-1 {metrics['top1']:.3f}, top-5 {metrics['top5']:.3f}, "
        f"mean class {metrics['mean_class_accuracy']:.3f} ({metrics['num_examples']} videos)"
    )
    picture = confusion_picture(matrix, class_names, title)
    # PIL opens path names with the builtin open(): hand it a file object so gs:// works.
    with (directory / f"{name}_step{step}_confusion.png").open("wb") as f:
        picture.save(f, format="PNG")
    if writer is not None:
        writer.write_images(step, {f"eval/{name}/confusion": np.asarray(picture)[None]})
    return metrics
