"""The batching stage: skip markers counted per epoch, padding, state round trip."""

from __future__ import annotations

import grain
import numpy as np
import pytest

from alt_jax.data import batching


def _elements(num_epochs=2, per_epoch=7, bad=(2, 5)) -> list[dict]:
    out = []
    for epoch in range(num_epochs):
        for i in range(per_epoch):
            if i in bad:
                out.append({"skipped": f"v{i}.mp4", "index": i, "epoch": epoch, "error": f"x{i}"})
            else:
                out.append(
                    {
                        "video": np.full((2, 1, 1, 3), i, np.uint8),
                        "label": np.int32(i % 3),
                        "index": np.int64(i),
                        "epoch": np.int32(epoch),
                    }
                )
    return out


def _iterate(elements, **kwargs):
    ds = grain.MapDataset.source(elements).to_iter_dataset(grain.ReadOptions(num_threads=0))
    return iter(batching.SkipCountingBatchIterDataset(ds, 2, (2, 1, 1, 3), **kwargs))


def test_train_drops_markers_counts_them_and_drops_the_remainder():
    it = _iterate(_elements())
    batches = list(it)
    indices = np.concatenate([b["index"] for b in batches]).tolist()
    assert indices == [0, 1, 3, 4, 6, 0, 1, 3, 4, 6]  # 10 good samples, 5 full batches
    assert batching.skipped_per_epoch(it) == [2, 2]
    assert all(b["valid"].all() for b in batches)
    np.testing.assert_array_equal(batches[1]["video"][:, 0, 0, 0, 0], [3, 4])


def test_eval_pads_to_the_requested_number_of_batches():
    it = _iterate(_elements(num_epochs=1), pad=True, num_batches=4)
    batches = list(it)
    assert len(batches) == 4
    valid = np.concatenate([b["valid"] for b in batches])
    assert valid.tolist() == [True] * 5 + [False] * 3
    assert np.concatenate([b["index"] for b in batches])[5:].tolist() == [-1, -1, -1]
    assert batches[-1]["video"].shape == (2, 2, 1, 1, 3) and not batches[-1]["video"].any()


def test_state_round_trip():
    it = _iterate(_elements())
    next(it), next(it)
    state = it.get_state()
    rest = list(it)
    again = _iterate(_elements())
    again.set_state(state)
    for a, b in zip(rest, list(again), strict=True):
        np.testing.assert_array_equal(a["index"], b["index"])
    assert batching.skipped_per_epoch(again) == [2, 2]


def test_a_pass_with_no_readable_video_raises_naming_count_and_first_paths():
    # 5 epochs of nothing readable: the error comes at the end of the first, not after all.
    elements = _elements(num_epochs=5, per_epoch=7, bad=range(7))
    it = _iterate(elements, where=" under /data/k400", hint="check config.data.root")
    with pytest.raises(batching.TooManySkipped) as raised:
        next(it)
    message = str(raised.value)
    assert message == (
        "no readable video in 7 listed under /data/k400 (first: v0.mp4, v1.mp4, v2.mp4; "
        "error: x0); check config.data.root"
    )
    assert batching.skipped_per_epoch(it) == [7]


def test_skip_fraction_above_the_limit_raises_after_a_full_pass():
    bad = (0, 2, 4, 5)  # 4 of 7 unreadable
    it = _iterate(_elements(num_epochs=3, bad=bad), where=" under /r")
    batches = [next(it)]  # the first batch comes before the epoch is over
    with pytest.raises(
        batching.TooManySkipped,
        match=r"^4 of 7 videos unreadable under /r in "
        r"input epoch 0 \(57%, above max_skip_fraction 0.5\) \(first: v0.mp4, "
        r"v2.mp4, v4.mp4; error: x0\)",
    ):
        batches += list(it)
    assert np.concatenate([b["index"] for b in batches]).tolist() == [1, 3]
    # A looser limit lets the same stream through, counted as before.
    loose = _iterate(_elements(num_epochs=3, bad=bad), max_skip_fraction=0.6)
    assert len(list(loose)) == 4 and batching.skipped_per_epoch(loose) == [4, 4, 4]


def test_eval_with_no_readable_video_raises_instead_of_padding():
    it = _iterate(_elements(num_epochs=1, bad=range(7)), pad=True, num_batches=4)
    with pytest.raises(batching.TooManySkipped, match="no readable video in 7 listed"):
        next(it)


def test_skip_checks_survive_a_state_round_trip():
    # Restored mid-epoch, the counts of the epoch so far still add up to a full pass.
    elements = _elements(num_epochs=2, per_epoch=8, bad=(1, 2, 3, 4, 5))
    it = _iterate(elements)
    next(it)  # indices 0, 6: seen 7 elements, 5 skipped
    again = _iterate(elements)
    again.set_state(it.get_state())
    with pytest.raises(batching.TooManySkipped, match=r"^5 of 8 videos unreadable.*first: v1.mp4"):
        list(again)
