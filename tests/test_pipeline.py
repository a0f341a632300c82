"""grain pipelines end to end on tiny mp4s: bad input, determinism, restore, sharding, kinds."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal

import numpy as np
import pytest

from alt_jax.data import batching, decode, pipeline, samples, sources, tfds_video
from tests.video_fixtures import make_tiny_dataset, write_bad_videos, write_mjpeg


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory) -> str:
    return make_tiny_dataset(tmp_path_factory)


SMALL = dict(num_frames=4, image_size=32)


def _list_kwargs(root: str, list_name: str = "train.txt") -> dict:
    return dict(
        kind="list",
        root=root,
        list_file=os.path.join(root, list_name),
        class_names_file=os.path.join(root, "classes.txt"),
        **SMALL,
    )


def _specs(kwargs: dict) -> tuple[pipeline.SourceSpec, samples.ClipSpec, pipeline.ReadSpec]:
    """The pipeline's three specs from one flat dict of their fields (a field of none is a
    TypeError, as a misspelled keyword would be)."""
    specs = (pipeline.SourceSpec, samples.ClipSpec, pipeline.ReadSpec)
    fields = [{f.name for f in dataclasses.fields(spec)} for spec in specs]
    unknown = set(kwargs) - set().union(*fields)
    if unknown:
        raise TypeError(f"no spec has fields {sorted(unknown)}")
    return tuple(
        spec(**{k: v for k, v in kwargs.items() if k in names})
        for spec, names in zip(specs, fields)
    )


def make_train(batch_size: int, seed: int = 0, num_epochs=None, shuffle=True, **kwargs):
    """pipeline.make_train_iterator with the specs' fields as keywords."""
    source, clip, read = _specs(kwargs)
    return pipeline.make_train_iterator(
        source, clip, batch_size, read=read, seed=seed, num_epochs=num_epochs, shuffle=shuffle
    )


def make_eval(batch_size: int, **kwargs):
    """pipeline.make_eval_iterator with the specs' fields as keywords."""
    source, clip, read = _specs(kwargs)
    return pipeline.make_eval_iterator(source, clip, batch_size, read=read)


def _drain(it) -> list[dict]:
    try:
        return list(it)
    finally:
        it.close()


@pytest.fixture()
def dataset_with_bad_files(tiny_dataset, tmp_path) -> tuple[str, str, list[str]]:
    """A list file with the tiny train set plus one of each unreadable kind, interleaved."""
    good = sources.read_annotation_list(os.path.join(tiny_dataset, "train.txt"), tiny_dataset)
    bad = write_bad_videos(str(tmp_path), good[0].path)
    records = list(good)
    for i, path in enumerate(bad.values()):
        records.insert(2 * i + 1, sources.VideoRecord(path, i % 3))
    list_file = str(tmp_path / "with_bad.txt")
    sources.write_annotation_list(list_file, records)
    return list_file, tiny_dataset, list(bad.values())


def test_bad_files_are_skipped_counted_and_logged(dataset_with_bad_files, caplog):
    list_file, root, bad_paths = dataset_with_bad_files
    kwargs = dict(_list_kwargs(root), root="", list_file=list_file)
    with caplog.at_level(logging.INFO):
        it, info = make_train(batch_size=4, num_epochs=2, seed=3, **kwargs)
        batches = _drain(it)
    assert info.num_examples == 17
    assert batching.skipped_per_epoch(it) == [5, 5]
    assert len(batches) == 6  # 2 epochs × 12 readable videos / batch 4
    with open(list_file) as f:
        listed = [line.split()[0] for line in f]
    bad_indices = {listed.index(p) for p in bad_paths}
    seen = np.concatenate([b["index"] for b in batches])
    assert not bad_indices & set(seen.tolist())
    assert sorted(seen.tolist()) == sorted(2 * sorted(set(range(17)) - bad_indices))
    for path in bad_paths:
        assert path in caplog.text
    assert "input epoch 0 finished: 5 unreadable video(s) skipped" in caplog.text
    assert "input epoch 1 finished: 5 unreadable video(s) skipped" in caplog.text


def test_strict_mode_raises_naming_the_file(dataset_with_bad_files):
    list_file, root, bad_paths = dataset_with_bad_files
    kwargs = dict(_list_kwargs(root), root="", list_file=list_file)
    it, _ = make_eval(batch_size=4, strict=True, **kwargs)
    with pytest.raises(decode.VideoDecodeError, match=bad_paths[0]):
        _drain(it)


def test_malformed_list_is_refused_at_build_time(tiny_dataset, tmp_path):
    bad_list = tmp_path / "bad.txt"
    bad_list.write_text("videos/a.mp4 0\nvideos/b.mp4 7\n")
    with pytest.raises(ValueError, match=f"{bad_list}:2: label 7 out of range"):
        make_train(batch_size=1, **dict(_list_kwargs(tiny_dataset), list_file=str(bad_list)))


def test_train_batches_deterministic_and_reshuffled_per_epoch(tiny_dataset):
    make = lambda: make_train(
        batch_size=3, num_epochs=2, seed=5, flip=False, **_list_kwargs(tiny_dataset)
    )[0]
    a, b = _drain(make()), _drain(make())
    assert len(a) == 8
    for x, y in zip(a, b, strict=True):
        for key in ("video", "label", "index", "epoch"):
            np.testing.assert_array_equal(x[key], y[key])
    order = np.concatenate([x["index"] for x in a])
    epochs = np.concatenate([x["epoch"] for x in a])
    first, second = order[epochs == 0], order[epochs == 1]
    assert sorted(first) == sorted(second) == list(range(12))
    assert first.tolist() != second.tolist()
    assert a[0]["video"].shape == (3, 4, 32, 32, 3) and a[0]["video"].dtype == np.uint8
    assert a[0]["label"].dtype == np.int32


@pytest.mark.slow
@pytest.mark.parametrize("workers,shard", [(0, (0, 1)), (2, (0, 1)), (0, (1, 2))])
def test_iterator_restore_yields_the_same_next_batches(tiny_dataset, workers, shard):
    make = lambda: make_train(
        batch_size=2,
        seed=1,
        workers=workers,
        shard_index=shard[0],
        shard_count=shard[1],
        **_list_kwargs(tiny_dataset),
    )[0]
    it = make()
    for _ in range(3):
        next(it)
    state = it.get_state()
    expected = [next(it) for _ in range(7)]  # crosses into the second epoch
    it.close()
    restored = make()
    restored.set_state(state)
    for want in expected:
        got = next(restored)
        np.testing.assert_array_equal(got["index"], want["index"])
        np.testing.assert_array_equal(got["video"], want["video"])
    restored.close()


def test_process_positions_follow_the_global_batch_layout():
    # Written out by hand: b=2 per process, P=3 processes, global batch 6.
    got = [batching.process_position(k, 2, 1, 3) for k in range(6)]
    assert got == [2, 3, 8, 9, 14, 15]
    for total in range(0, 20):
        for p in range(3):
            want = sum(1 for g in range(total) if (g % 6) // 2 == p)
            assert batching.process_slice_length(total, 2, p, 3) == want, (total, p)


def test_process_batches_together_are_the_single_process_global_batch(tiny_dataset):
    """P=2 processes × batch 2 vs 1 process × batch 4: the same videos, epochs and pixels."""
    common = dict(num_epochs=2, seed=7, scale=(0.5, 1.0), **_list_kwargs(tiny_dataset))
    single, info = make_train(batch_size=4, **common)
    reference = _drain(single)
    parts = []
    for p in range(2):
        it, part_info = make_train(batch_size=2, shard_index=p, shard_count=2, **common)
        assert part_info.num_batches == info.num_batches == 3
        parts.append(_drain(it))
    assert len(reference) == 6 and [len(part) for part in parts] == [6, 6]
    for step, want in enumerate(reference):
        for key in ("index", "epoch", "label", "video"):
            got = np.concatenate([parts[0][step][key], parts[1][step][key]])
            np.testing.assert_array_equal(got, want[key], err_msg=f"{key} at step {step}")
    # Within an epoch the two processes read disjoint videos, together all 12.
    for epoch in range(2):
        seen = [np.concatenate([b["index"][b["epoch"] == epoch] for b in part]) for part in parts]
        assert not set(seen[0].tolist()) & set(seen[1].tolist())
        assert sorted(np.concatenate(seen).tolist()) == list(range(12))


def test_eval_shards_pad_to_equal_batch_counts(tiny_dataset):
    shards = []
    for shard in range(2):
        it, info = make_eval(
            batch_size=4,
            shard_index=shard,
            shard_count=3,
            num_clips=2,
            **_list_kwargs(tiny_dataset),
        )
        shards.append(_drain(it))
        assert info.num_batches == 1
    it, _ = make_eval(
        batch_size=4, shard_index=2, shard_count=3, num_clips=2, **_list_kwargs(tiny_dataset)
    )
    shards.append(_drain(it))
    assert [len(s) for s in shards] == [1, 1, 1]
    indices = [b["index"][b["valid"]] for s in shards for b in s]
    assert sorted(np.concatenate(indices).tolist()) == list(range(12))
    assert shards[0][0]["video"].shape == (4, 2, 4, 32, 32, 3)


def test_folder_and_tfds_kinds_match_the_list_kind(tiny_dataset, tmp_path):
    """The same videos through three sources give the same eval pixels."""
    names = sources.read_class_names(os.path.join(tiny_dataset, "classes.txt"))
    val = sources.read_annotation_list(os.path.join(tiny_dataset, "val.txt"), tiny_dataset)
    tfds_video.prepare_video_dataset("tinyval", tmp_path, {"val": val}, names)
    by_list, _ = make_eval(batch_size=8, **_list_kwargs(tiny_dataset, "val.txt"))
    by_tfds, info = make_eval(
        kind="tfds", root=str(tmp_path), tfds_name="tinyval", split="val", batch_size=8, **SMALL
    )
    assert info.class_names == names
    (a,), (b,) = _drain(by_list), _drain(by_tfds)
    path_of = {i: r.path for i, r in enumerate(val)}
    ds, _ = pipeline.load_source(
        pipeline.SourceSpec("tfds", str(tmp_path), tfds_name="tinyval", split="val")
    )
    tfds_path = {int(i): ds[int(i)]["path"] for i in b["index"][b["valid"]]}
    for i in range(len(val)):
        j = [k for k, p in tfds_path.items() if p == path_of[i]][0]
        np.testing.assert_array_equal(a["video"][i], b["video"][list(b["index"]).index(j)])
    folder, info = make_train(
        kind="folder",
        root=os.path.join(tiny_dataset, "videos"),
        batch_size=18,
        num_epochs=1,
        **SMALL,
    )
    (batch,) = _drain(folder)
    assert sorted(batch["index"].tolist()) == list(range(18))
    assert info.num_examples == 18 and sorted(info.class_names) == sorted(
        n.replace(" ", "_") for n in names
    )


def _stop_after(seconds: int):
    """Raises TimeoutError in the main thread after `seconds` (guards an endless loop)."""

    def on_alarm(signum, frame):
        raise TimeoutError(f"still iterating after {seconds} s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)


def test_wrong_root_stops_after_one_pass_naming_count_and_paths(tiny_dataset, tmp_path):
    wrong = str(tmp_path / "not_the_root")
    kwargs = dict(_list_kwargs(tiny_dataset), root=wrong)
    with open(kwargs["list_file"]) as f:
        listed = [os.path.join(wrong, line.split()[0]) for line in f]
    # Repeats forever, in this thread (no prefetch thread) so that the alarm can stop it.
    it, _ = make_train(
        batch_size=4, shuffle=False, prefetch_batches=0, hint="check config.data.root", **kwargs
    )
    _stop_after(60)
    try:
        with pytest.raises(batching.TooManySkipped) as raised:
            next(it)
    finally:
        signal.alarm(0)
    assert str(raised.value) == (
        f"no readable video in 12 listed under {wrong} (first: {', '.join(listed[:3])}; "
        f"error: missing file {listed[0]}); check config.data.root"
    )


def test_eval_and_prefetched_train_raise_on_nothing_readable(tiny_dataset, tmp_path):
    kwargs = dict(_list_kwargs(tiny_dataset, "val.txt"), root=str(tmp_path / "nowhere"))
    it, _ = make_eval(batch_size=4, **kwargs)
    with pytest.raises(batching.TooManySkipped, match="no readable video in 6 listed"):
        _drain(it)
    it, _ = make_train(batch_size=4, num_epochs=3, **kwargs)
    with pytest.raises(batching.TooManySkipped, match="no readable video in 6 listed"):
        _drain(it)


def test_max_skip_fraction_limits_the_share_of_bad_files(dataset_with_bad_files):
    list_file, root, bad_paths = dataset_with_bad_files  # 5 of 17 unreadable
    kwargs = dict(_list_kwargs(root), root="", list_file=list_file)
    it, _ = make_eval(batch_size=4, max_skip_fraction=0.25, **kwargs)
    with pytest.raises(batching.TooManySkipped, match=r"^5 of 17 videos unreadable .*first: "):
        _drain(it)
    it, _ = make_eval(batch_size=4, max_skip_fraction=0.3, **kwargs)
    assert sum(b["valid"].sum() for b in _drain(it)) == 12


def test_video_above_the_pixel_limit_is_skipped_counted_and_logged(tiny_dataset, tmp_path, caplog):
    good = sources.read_annotation_list(os.path.join(tiny_dataset, "val.txt"), tiny_dataset)
    huge = write_mjpeg(str(tmp_path / "huge.avi"), 5000, 5000)  # 25 M pixels, 0.4 MB
    list_file = str(tmp_path / "with_huge.txt")
    sources.write_annotation_list(list_file, [*good[:3], sources.VideoRecord(huge, 1), *good[3:]])
    kwargs = dict(_list_kwargs(tiny_dataset, "val.txt"), root="", list_file=list_file)
    with caplog.at_level(logging.INFO):
        it, info = make_eval(batch_size=4, **kwargs)  # the default limit
        batches = _drain(it)
    assert info.num_examples == 7 and batching.skipped_per_epoch(it) == [1]
    seen = np.concatenate([b["index"][b["valid"]] for b in batches])
    assert sorted(seen.tolist()) == [0, 1, 2, 4, 5, 6]
    assert f"skipping unreadable video {huge}" in caplog.text and "5000×5000" in caplog.text
    it, _ = make_eval(batch_size=4, strict=True, **kwargs)
    with pytest.raises(decode.VideoDecodeError, match=f"{huge}.*max_frame_pixels"):
        _drain(it)


def test_max_frame_pixels_reaches_train_and_eval_samples(tiny_dataset):
    """A limit just below the tiny videos' 64×48 leaves nothing readable."""
    kwargs = dict(_list_kwargs(tiny_dataset, "val.txt"), max_frame_pixels=64 * 48 - 1)
    it, _ = make_eval(batch_size=4, **kwargs)
    with pytest.raises(batching.TooManySkipped, match="no readable video in 6 listed.*64×48"):
        _drain(it)
    it, _ = make_train(batch_size=4, num_epochs=1, **kwargs)
    with pytest.raises(batching.TooManySkipped, match="no readable video in 6 listed.*64×48"):
        _drain(it)
    it, _ = make_eval(batch_size=4, **dict(kwargs, max_frame_pixels=64 * 48))
    assert sum(b["valid"].sum() for b in _drain(it)) == 6


@pytest.mark.parametrize("field", ["data", "evals.val"])
@pytest.mark.parametrize("value", [0, -1])
def test_max_frame_pixels_config_is_validated_naming_the_field(field, value):
    from alt_jax import configs_lib

    config = configs_lib.base_config()
    configs_lib.add_eval(config, "val", configs_lib.dataset_config())
    configs_lib.validate_config(config)  # the defaults pass
    # The default admits 4K UHD, DCI 4K and portrait 4K frames; 8K needs a larger limit.
    limit = config.data.max_frame_pixels
    assert 3840 * 2160 < 4096 * 2160 <= limit and 2160 * 3840 <= limit < 7680 * 4320
    node = config.data if field == "data" else config.evals.val
    node.max_frame_pixels = value
    with pytest.raises(
        configs_lib.ConfigError, match=rf"^config\.{field}\.max_frame_pixels must be .*got {value}$"
    ):
        configs_lib.validate_config(config)
