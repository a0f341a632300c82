"""array_record packing through tensorflow-datasets: bytes come back exactly."""

from __future__ import annotations

import os

import pytest

from alt_jax.data import sources, tfds_video
from tests.video_fixtures import make_tiny_dataset


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory) -> str:
    return make_tiny_dataset(tmp_path_factory)


def test_round_trip_equals_source_bytes(tiny_dataset, tmp_path):
    names = sources.read_class_names(os.path.join(tiny_dataset, "classes.txt"))
    train = sources.read_annotation_list(os.path.join(tiny_dataset, "train.txt"), tiny_dataset)
    val = sources.read_annotation_list(os.path.join(tiny_dataset, "val.txt"), tiny_dataset)
    out = tfds_video.prepare_video_dataset("tiny", tmp_path, {"train": train, "val": val}, names)
    assert any(f.endswith("-of-00001") and ".array_record" in f for f in os.listdir(out))
    source, packed_names = tfds_video.open_data_source("tiny", tmp_path, "train")
    assert packed_names == names and len(source) == len(train)
    by_path = {r.path: r for r in train}
    seen = set()
    for i in range(len(source)):
        example = source[i]
        path = example["path"].decode() if isinstance(example["path"], bytes) else example["path"]
        with open(path, "rb") as f:
            assert example["video"] == f.read()
        assert example["label"] == by_path[path].label
        seen.add(path)
    assert seen == set(by_path)
    val_source, _ = tfds_video.open_data_source("tiny", tmp_path, "val")
    assert len(val_source) == len(val)
