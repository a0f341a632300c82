"""Evaluation metrics on small probability matrices whose results are worked out by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from alt_jax.train import evaluation

# Five videos, six classes. Ranking is by descending probability; among equal probabilities the
# lower class index ranks first (argsort of -p, stable). Worked by hand per row:
#   row  label  ranking (top 5)          top-1  top-5
#   0    0      0 1 2 3 4                yes    yes
#   1    0      1 0 2 3 4  (0,2,3 tie)   no     yes
#   2    0      1 2 3 4 5  (0 is last)   no     no
#   3    1      1 0 2 3 4                yes    yes
#   4    2      0 2 3 1 4  (2,3 tie)     no     yes
PROBS = np.array(
    [
        [0.50, 0.20, 0.10, 0.10, 0.05, 0.05],
        [0.10, 0.60, 0.10, 0.10, 0.05, 0.05],
        [0.01, 0.30, 0.20, 0.20, 0.15, 0.14],
        [0.10, 0.70, 0.05, 0.05, 0.05, 0.05],
        [0.30, 0.10, 0.20, 0.20, 0.10, 0.10],
    ]
)
LABELS = np.array([0, 0, 0, 1, 2])
NAMES = ["a", "b", "c", "d", "e", "f"]


def test_top1_top5_and_mean_class_accuracy_by_hand():
    metrics = evaluation.classification_metrics(PROBS, LABELS)
    assert metrics["top1"] == pytest.approx(2 / 5)
    assert metrics["top5"] == pytest.approx(4 / 5)
    # Per-class recall: class 0 → 1/3, class 1 → 1/1, class 2 → 0/1; classes 3-5 have no
    # examples and are left out. (1/3 + 1 + 0) / 3 = 4/9, not top-1's 2/5.
    assert metrics["mean_class_accuracy"] == pytest.approx(4 / 9)
    assert metrics["num_examples"] == 5


def test_ties_go_to_the_lower_class_index():
    # A tie for first place: class 0 is predicted, so label 1 misses top-1.
    assert evaluation.classification_metrics(np.array([[0.4, 0.4, 0.2]]), np.array([1]))[
        "top1"
    ] == pytest.approx(0.0)
    assert evaluation.classification_metrics(np.array([[0.4, 0.4, 0.2]]), np.array([0]))[
        "top1"
    ] == pytest.approx(1.0)
    # Five-way tie across the top-5 boundary: classes 2..6 share 0.1; 2, 3, 4 make the top 5,
    # 5 and 6 do not.
    probs = np.array([[0.3, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1]] * 2)
    assert evaluation.classification_metrics(probs, np.array([4, 6]))["top5"] == pytest.approx(0.5)


def test_top5_with_fewer_than_five_classes_counts_every_class():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.2, 0.7]])
    metrics = evaluation.classification_metrics(probs, np.array([2, 1]))
    assert (metrics["top1"], metrics["top5"]) == (0.0, 1.0)


def test_no_examples_is_an_error():
    with pytest.raises(ValueError, match="no examples"):
        evaluation.classification_metrics(np.zeros((0, 3)), np.zeros((0,), np.int64))


def test_views_are_averaged_not_voted():
    # Video 0: one confident view for class 0, two weak ones for class 1. The mean is
    # (0.9 + 0.4 + 0.4) / 3 = 17/30 for class 0, 13/30 for class 1: class 0 wins, whereas a
    # majority vote over the views would say class 1.
    views = np.array(
        [
            [[0.9, 0.1], [0.4, 0.6], [0.4, 0.6]],
            [[0.2, 0.8], [0.2, 0.8], [0.2, 0.8]],
        ]
    )
    mean = evaluation.average_views(views)
    np.testing.assert_allclose(mean, [[17 / 30, 13 / 30], [0.2, 0.8]], rtol=1e-12)
    assert evaluation.classification_metrics(mean, np.array([0, 1]))["top1"] == 1.0


def test_confusion_matrix_rows_are_true_columns_predicted():
    predictions = np.array([0, 1, 1, 2, 2, 2, 0])
    labels = np.array([0, 0, 1, 1, 2, 2, 2])
    # Pairs (true, predicted): (0,0) (0,1) (1,1) (1,2) (2,2) (2,2) (2,0); class 3 never occurs.
    expected = [[1, 1, 0, 0], [0, 1, 1, 0], [1, 0, 2, 0], [0, 0, 0, 0]]
    np.testing.assert_array_equal(evaluation.confusion_matrix(predictions, labels, 4), expected)


def test_per_class_report_by_hand():
    report = evaluation.per_class_report(PROBS, LABELS, NAMES)
    assert report == [
        {"class": "a", "examples": 3, "top1": pytest.approx(1 / 3)},
        {"class": "b", "examples": 1, "top1": 1.0},
        {"class": "c", "examples": 1, "top1": 0.0},
        {"class": "d", "examples": 0, "top1": None},
        {"class": "e", "examples": 0, "top1": None},
        {"class": "f", "examples": 0, "top1": None},
    ]


def test_written_report_holds_the_confusion_counts_and_a_labelled_figure(tmp_path):
    metrics = evaluation.write_reports(tmp_path, "val", 7, PROBS, LABELS, NAMES)
    report = json.loads((tmp_path / "val_step7.json").read_text())
    assert (report["dataset"], report["step"]) == ("val", 7)
    assert report["top1"] == metrics["top1"] == pytest.approx(2 / 5)
    assert report["mean_class_accuracy"] == pytest.approx(4 / 9)
    assert [c["examples"] for c in report["per_class"]] == [3, 1, 1, 0, 0, 0]
    # Predictions (argmax per row) 0, 1, 1, 1, 0 for labels 0, 0, 0, 1, 2: class a's videos go
    # to a once and to b twice, b's one video to b, c's one video to a. Rows = true class.
    confusion = report["confusion"]
    assert (confusion["rows"], confusion["columns"]) == ("true class", "predicted class")
    assert confusion["classes"] == NAMES
    want = np.zeros((6, 6), int)
    want[0, 0], want[0, 1], want[1, 1], want[2, 0] = 1, 2, 1, 1
    assert confusion["counts"] == want.tolist()
    assert report["most_confused"] == [
        {"true": "a", "predicted": "b", "count": 2, "share": pytest.approx(2 / 3)},
        {"true": "c", "predicted": "a", "count": 1, "share": 1.0},
    ]
    picture = Image.open(tmp_path / "val_step7_confusion.png")
    assert picture.mode == "RGB" and picture.width >= 800  # room for class names


def test_most_confused_pairs_sorted_by_count():
    matrix = np.array([[5, 1, 3], [4, 2, 0], [0, 0, 7]])
    pairs = evaluation.most_confused(matrix, ["x", "y", "z"], k=2)
    assert [(p["true"], p["predicted"], p["count"]) for p in pairs] == [
        ("y", "x", 4),
        ("x", "z", 3),
    ]
    assert pairs[0]["share"] == pytest.approx(4 / 6)


def test_confusion_figure_stays_readable_at_400_classes():
    # A heat map of 400 classes gives one pixel per cell; the figure lists the worst classes
    # and pairs by name instead, so its size does not grow with the number of classes.
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 400, 4000)
    predictions = np.where(rng.random(4000) < 0.6, labels, rng.integers(0, 400, 4000))
    matrix = evaluation.confusion_matrix(predictions, labels, 400)
    names = [f"class number {i}" for i in range(400)]
    picture = evaluation.confusion_picture(matrix, names, "k400 step 1")
    small = evaluation.confusion_picture(matrix[:30, :30], names[:30])
    assert picture.size == small.size
    assert 800 <= picture.width <= 1600 and picture.height <= 1200
    pixels = np.asarray(picture)
    assert (pixels != 255).any(axis=2).mean() > 0.02  # bars and text were drawn
