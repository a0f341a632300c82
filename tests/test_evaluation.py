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


def test_written_report_and_confusion_picture(tmp_path):
    metrics = evaluation.write_reports(tmp_path, "val", 7, PROBS, LABELS, NAMES)
    report = json.loads((tmp_path / "val_step7.json").read_text())
    assert (report["dataset"], report["step"]) == ("val", 7)
    assert report["top1"] == metrics["top1"] == pytest.approx(2 / 5)
    assert report["mean_class_accuracy"] == pytest.approx(4 / 9)
    assert [c["examples"] for c in report["per_class"]] == [3, 1, 1, 0, 0, 0]
    # Six classes: cells of 400 // 6 = 66 px. Row 0 (class 0 predicted as 0, 1, 1) normalises to
    # [1/3, 2/3, 0, ...]; a cell of value v is (1 - v) · white + v · (8, 48, 107), truncated.
    picture = np.asarray(Image.open(tmp_path / "val_step7_confusion.png").convert("RGB"))
    assert picture.shape == (6 * 66, 6 * 66, 3)
    cell = lambda row, col: picture[row * 66 + 33, col * 66 + 33]
    # (1 - v) · 255 + v · (8, 48, 107) before truncation to uint8, hence atol=1.
    near = lambda got, want: np.testing.assert_allclose(got, want, atol=1)
    near(cell(0, 0), [172.67, 186.0, 205.67])  # v = 1/3
    near(cell(0, 1), [90.33, 117.0, 156.33])  # v = 2/3
    near(cell(1, 1), [8, 48, 107])  # class 1: its one video right
    near(cell(2, 0), [8, 48, 107])  # class 2: its one video taken for class 0
    near(cell(2, 2), [255, 255, 255])
    near(cell(3, 3), [255, 255, 255])  # no videos of class 3: an empty row stays white
