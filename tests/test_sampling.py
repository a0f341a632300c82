"""Temporal sampling: ranges, order, determinism and coverage, checked by enumeration."""

from __future__ import annotations

import itertools

import numpy as np

from alt_jax.data import sampling

CASES = list(itertools.product([1, 5, 8, 16, 30, 301], [1, 4, 8], [None, 2]))


def test_train_indices_in_range_and_sorted():
    for n, t, stride in CASES:
        for index in range(5):
            idx = sampling.train_indices(n, t, sampling.sample_rng(0, 0, index), stride)
            assert idx.shape == (t,)
            assert idx.min() >= 0 and idx.max() < n
            assert np.all(np.diff(idx) >= 0)


def test_segment_sampling_one_frame_per_segment():
    n, t = 100, 8
    idx = sampling.segment_train_indices(n, t, sampling.sample_rng(3, 1, 7))
    bounds = np.arange(t + 1) * n / t  # closed form of the segment edges
    assert np.all((idx >= np.floor(bounds[:-1])) & (idx < np.ceil(bounds[1:])))


def test_deterministic_per_seed_epoch_index_and_different_across_epochs():
    n, t = 300, 8
    draw = lambda seed, epoch, index: sampling.train_indices(
        n, t, sampling.sample_rng(seed, epoch, index)
    )
    np.testing.assert_array_equal(draw(1, 2, 3), draw(1, 2, 3))
    by_epoch = [tuple(draw(1, e, 3)) for e in range(6)]
    assert len(set(by_epoch)) == 6
    assert tuple(draw(2, 2, 3)) != tuple(draw(1, 2, 3))
    assert tuple(draw(1, 2, 4)) != tuple(draw(1, 2, 3))


def test_short_video_repeats_frames():
    for stride in (None, 4):
        idx = sampling.train_indices(3, 8, sampling.sample_rng(0, 0, 0), stride)
        assert idx.shape == (8,) and set(idx.tolist()) <= {0, 1, 2}
        assert len(set(idx.tolist())) == 3  # every frame used, some twice
    np.testing.assert_array_equal(sampling.eval_indices(1, 4, 2), np.zeros((2, 4), np.int64))


def test_dense_sampling_has_stride():
    idx = sampling.dense_train_indices(100, 8, 4, sampling.sample_rng(0, 0, 0))
    np.testing.assert_array_equal(np.diff(idx), np.full(7, 4))


def test_multi_clip_eval_covers_the_video():
    n, t = 300, 8
    # Segment sampling: clip c sits at relative offset (c + 0.5) / 4 of every segment, so the
    # union of the clips has 4 frames per segment, spread across it.
    clips = sampling.eval_indices(n, t, num_clips=4)
    assert clips.shape == (4, t) and len({tuple(c) for c in clips}) == 4
    segment_len = n / t
    for k in range(t):
        offsets = np.sort(clips[:, k] - k * segment_len) / segment_len
        assert np.all((offsets >= 0) & (offsets < 1)) and offsets[0] < 0.25 and offsets[-1] > 0.75
    # Dense sampling: the first clip starts at frame 0, the last ends at the last frame.
    for stride in (2, 4):
        clips = sampling.eval_indices(n, t, num_clips=4, stride=stride)
        assert clips[0, 0] == 0 and clips[-1, -1] == n - 1
        assert np.all(np.diff(clips[:, 0]) > 0)


def test_eval_indices_closed_form():
    # Segment centres for one clip: floor((k + 0.5) * n / T).
    np.testing.assert_array_equal(sampling.eval_indices(16, 4, 1)[0], [2, 6, 10, 14])


class FixedDraws:
    """Stands in for a np.random.Generator: returns given offsets and start, records bounds."""

    def __init__(self, offsets: list[float] | None = None, start: int = 0) -> None:
        self.offsets, self.start, self.bounds = offsets, start, None

    def random(self, n: int) -> np.ndarray:
        assert n == len(self.offsets)
        return np.asarray(self.offsets)

    def integers(self, low: int, high: int) -> int:
        self.bounds = (low, high)
        return self.start


def test_indices_worked_by_hand():
    # Segment training, 10 frames in 4 segments of 2.5: floor((k + u_k) · 2.5) for offsets
    # u = (0, .5, .999, .2): floor(0), floor(3.75), floor(7.4975), floor(8.0) = 0, 3, 7, 8.
    idx = sampling.segment_train_indices(10, 4, FixedDraws([0.0, 0.5, 0.999, 0.2]))
    np.testing.assert_array_equal(idx, [0, 3, 7, 8])
    # Segment evaluation, 2 clips: offsets 1/4 and 3/4 of each 2.5-frame segment:
    # floor(.625, 3.125, 5.625, 8.125) and floor(1.875, 4.375, 6.875, 9.375).
    np.testing.assert_array_equal(sampling.eval_indices(10, 4, 2), [[0, 3, 5, 8], [1, 4, 6, 9]])
    # Dense training, 20 frames, T = 4, stride 3: the clip spans 10 frames, so a start in
    # 0..10, i.e. integers(0, 11); start 2 gives 2, 5, 8, 11.
    draws = FixedDraws(start=2)
    np.testing.assert_array_equal(sampling.dense_train_indices(20, 4, 3, draws), [2, 5, 8, 11])
    assert draws.bounds == (0, 11)
    # Dense evaluation: 10 frames of room, 3 clips start at 0, 5, 10; one clip at 10 // 2 = 5.
    np.testing.assert_array_equal(
        sampling.eval_indices(20, 4, 3, stride=3),
        [[0, 3, 6, 9], [5, 8, 11, 14], [10, 13, 16, 19]],
    )
    np.testing.assert_array_equal(sampling.eval_indices(20, 4, 1, stride=3), [[5, 8, 11, 14]])
    # Too short for stride 4 (span 29 > 3 frames): uniform cover floor((k + .5) · 3 / 8) =
    # floor(.1875, .5625, .9375, 1.3125, 1.6875, 2.0625, 2.4375, 2.8125).
    np.testing.assert_array_equal(
        sampling.train_indices(3, 8, FixedDraws(), stride=4), [0, 0, 0, 1, 1, 2, 2, 2]
    )
