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
