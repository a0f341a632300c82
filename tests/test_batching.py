"""The batching stage: skip markers counted per epoch, padding, state round trip."""

from __future__ import annotations

import grain
import numpy as np

from alt_jax.data import batching


def _elements(num_epochs=2, per_epoch=7, bad=(2, 5)) -> list[dict]:
    out = []
    for epoch in range(num_epochs):
        for i in range(per_epoch):
            if i in bad:
                out.append({"skipped": f"v{i}.mp4", "index": i, "epoch": epoch, "error": "x"})
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
