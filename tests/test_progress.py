"""Progress and phase lines (alt_jax/progress.py): exact lines under a fake clock, worked by hand
(rate, ETA, throttling, unknown totals, phase durations), and the lines an evaluation and a
feature extraction emit."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest
import tiny_run
from clu import metric_writers

from alt_jax import progress
from alt_jax.models.alt import FEATURE_KEYS
from alt_jax.progress import Progress, format_duration, format_rate, phase, track

HERE = os.path.basename(__file__)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "alt_jax.progress"]


@pytest.mark.parametrize(
    "seconds, text",
    [
        (0.0, "0.0s"),
        (8.54, "8.5s"),
        (59.94, "59.9s"),
        (59.96, "1m00s"),
        (245.0, "4m05s"),
        (3599.4, "59m59s"),
        (7387.0, "2h03m07s"),
        (-0.5, "0.0s"),
    ],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    "rate, text",
    [(0.25, "0.25"), (4.5, "4.50"), (9.994, "9.99"), (41.23, "41.2"), (1234.4, "1234")],
)
def test_format_rate(rate, text):
    assert format_rate(rate) == text


def test_rate_and_eta_of_the_window_since_the_last_line(caplog):
    """1,000 videos: 300 in the first 30 s (10/s, 700 left: 70 s), then 600 in the next 30 s
    (20/s since the last line, 15/s overall; 100 left: 5 s); the end after 80 s (900/80)."""
    clock = FakeClock()
    caplog.set_level(logging.INFO)
    bar = Progress("eval k400_val", 1000, unit="videos", every=30, clock=clock)
    clock.now += 10
    bar.update(100)  # 10 s after the start: no line
    clock.now += 20
    bar.update(200)
    clock.now += 30
    bar.update(600)
    clock.now += 20
    bar.close()
    bar.close()  # once only
    assert lines(caplog) == [
        "eval k400_val ... (1,000 videos)",
        "eval k400_val: 300/1,000 videos (30%), 10.0 videos/s, ETA 1m10s",
        "eval k400_val: 900/1,000 videos (90%), 20.0 videos/s, ETA 5.0s",
        "eval k400_val: done, 900 videos in 1m20s, 11.2 videos/s",
    ]


def test_lines_at_most_every_n_seconds(caplog):
    """An update every second for 100 s with every=30: lines at 30, 60 and 90 s only."""
    clock = FakeClock(0.0)
    caplog.set_level(logging.INFO)
    with Progress("work", 100, every=30, clock=clock) as bar:
        for _ in range(100):
            clock.now += 1
            bar.update()
    assert lines(caplog) == [
        "work ... (100 items)",
        "work: 30/100 items (30%), 1.00 items/s, ETA 1m10s",
        "work: 60/100 items (60%), 1.00 items/s, ETA 40.0s",
        "work: 90/100 items (90%), 1.00 items/s, ETA 10.0s",
        "work: done, 100 items in 1m40s, 1.00 items/s",
    ]


def test_unknown_total_has_no_percentage_or_eta(caplog):
    clock = FakeClock()
    caplog.set_level(logging.INFO)
    with Progress("encoding", unit="texts", every=10, clock=clock) as bar:
        clock.now += 12.5
        bar.update(50)
    assert lines(caplog) == [
        "encoding ...",
        "encoding: 50 texts, 4.00 texts/s",
        "encoding: done, 50 texts in 12.5s, 4.00 texts/s",
    ]


def test_no_progress_since_the_last_line_gives_no_eta(caplog):
    clock = FakeClock()
    caplog.set_level(logging.INFO)
    bar = Progress("stalled", 10, every=5, clock=clock)
    clock.now += 5
    bar.update(0)
    assert lines(caplog)[-1] == "stalled: 0/10 items (0%), 0.00 items/s, ETA unknown"


def test_an_exception_ends_with_stopped_after(caplog):
    clock = FakeClock()
    caplog.set_level(logging.INFO)
    with pytest.raises(KeyboardInterrupt), Progress("eval", 8, unit="videos", clock=clock) as bar:
        bar.update(4)
        clock.now += 2
        raise KeyboardInterrupt
    assert lines(caplog)[-1] == "eval: stopped after 4 videos in 2.0s, 2.00 videos/s"


def test_phase_lines_and_duration(caplog):
    clock = FakeClock()
    caplog.set_level(logging.INFO)
    with phase("building the model (alt)", clock=clock):
        clock.now += 75.4
    with pytest.raises(ValueError), phase("restoring", clock=clock):
        clock.now += 1.25
        raise ValueError("damaged")
    with phase("compiling the train step", enabled=False, clock=clock):
        clock.now += 9
    assert lines(caplog) == [
        "building the model (alt) ...",
        "building the model (alt): done in 1m15s",
        "restoring ...",
        "restoring: stopped after 1.2s",
    ]


def test_track_yields_every_item_and_counts_them(caplog):
    clock = FakeClock()
    caplog.set_level(logging.INFO)
    out = []
    for label in track(["a", "b", "c"], "labels", unit="labels", every=1, clock=clock):
        clock.now += 1
        out.append(label)
    assert out == ["a", "b", "c"]
    assert lines(caplog) == [
        "labels ... (3 labels)",
        "labels: 1/3 labels (33%), 1.00 labels/s, ETA 2.0s",
        "labels: 2/3 labels (66%), 1.00 labels/s, ETA 1.0s",
        "labels: 3/3 labels (100%), 1.00 labels/s, ETA 0.0s",
        "labels: done, 3 labels in 3.0s, 1.00 labels/s",
    ]


def test_lines_name_the_calling_line_not_this_module(caplog):
    """log.txt's format shows each record's file:line: a progress line points at the loop."""
    caplog.set_level(logging.INFO)
    with Progress("p", 1, every=0) as bar:
        bar.update()
    with phase("q"):
        pass
    list(track([1], "r", every=0))
    assert {r.filename for r in caplog.records if r.name == "alt_jax.progress"} == {HERE}


def test_silent_where_info_is_off(caplog):
    """Processes other than 0 run at WARNING (alt_jax.main): no progress line there."""
    caplog.set_level(logging.WARNING)
    clock = FakeClock()
    with Progress("eval", 10, every=0, clock=clock) as bar, phase("start-up", clock=clock):
        clock.now += 1
        bar.update(10)
    assert lines(caplog) == []


def test_seconds_between_lines_from_the_environment(monkeypatch):
    monkeypatch.delenv(progress.EVERY_VARIABLE, raising=False)
    assert Progress("a", 1).every == progress.DEFAULT_EVERY
    monkeypatch.setenv(progress.EVERY_VARIABLE, "5")
    assert Progress("b", 1).every == 5.0
    assert Progress("c", 1, every=2).every == 2  # the caller's value wins
    monkeypatch.setenv(progress.EVERY_VARIABLE, "often")
    with pytest.raises(ValueError, match="ALT_JAX_PROGRESS_SECONDS"):
        Progress("d", 1)


def test_feature_extraction_counts_the_valid_videos_written(tmp_path, caplog, monkeypatch):
    """A cache file of 2 batches of 3 videos, one of them padding: a line per batch (0 s apart
    here) with the videos written so far, and the closing line with all 5."""
    from alt_jax.train import features

    monkeypatch.setenv(progress.EVERY_VARIABLE, "0")
    caplog.set_level(logging.INFO)

    def batches():
        for start, valid in ((0, [True] * 3), (3, [True, True, False])):
            yield {
                "video": np.zeros((3, 2, 8, 8, 3), np.uint8),
                "label": np.arange(start, start + 3),
                "index": np.arange(start, start + 3),
                "valid": np.asarray(valid),
            }

    def encode(videos):
        return {k: np.zeros((videos.shape[0], 2, 3), np.float32) for k in FEATURE_KEYS}

    writer = features.CacheWriter(str(tmp_path / "cache"), tiny_run.tiny_config(str(tmp_path)))
    written = writer.write(
        "eval_val.arrayrecord", batches(), 2, encode, views_axis=False, dataset={}, videos=5
    )
    assert written == 5
    got = lines(caplog)
    assert got[0] == "extracting eval_val.arrayrecord ... (5 videos)"
    counts = [line.split(": ")[1].split(" ")[0] for line in got[1:-1]]
    assert counts == ["3/5", "5/5"]
    assert got[-1].startswith("extracting eval_val.arrayrecord: done, 5 videos in ")


@pytest.mark.slow
def test_an_evaluation_reports_its_videos(tiny_data, tmp_path, caplog, monkeypatch):
    """The tiny run's model build as a phase, and its evaluation (8 videos in 2 batches of 4):
    one progress line per batch with ALT_JAX_PROGRESS_SECONDS=0, the closing line with all 8."""
    from alt_jax.train.trainer import Trainer

    monkeypatch.setenv(progress.EVERY_VARIABLE, "0")
    caplog.set_level(logging.INFO)
    trainer = Trainer(tiny_run.tiny_config(tiny_data), str(tmp_path / "run"))
    metrics = trainer.evaluate(0, metric_writers.LoggingWriter())
    assert metrics["val"]["num_examples"] == 8
    got = lines(caplog)
    assert got[0] == "building the model (alt) ..."
    assert any(line.startswith("building the model (alt): done in ") for line in got)
    evals = [line for line in got if line.startswith("eval val")]
    assert evals[0] == "eval val ... (8 videos)"
    assert [line.split(": ")[1].split(" (")[0] for line in evals[1:-1]] == [
        "4/8 videos",
        "8/8 videos",
    ]
    assert evals[-1].startswith("eval val: done, 8 videos in ")
