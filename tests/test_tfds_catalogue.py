"""TFDS catalogue video datasets (kind='tfds_catalogue'): a ucf101 config read offline.

`tfds.testing.mock_data` stands in for the prepared data: with MockPolicy.USE_FILES it reads the
dataset's real metadata (splits, features, the 101 ClassLabel names), which `write_metadata`
writes offline into a temporary data_dir from the catalogue's own ucf101 builder (nothing is
downloaded), and it generates random serialized examples of ucf101's features (JPEG frames,
labels): it replaces only the array_record reader. A real array_record ucf101 of synthetic frames,
prepared by the catalogue's own builder, is read without the mock too.
"""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

from alt_jax.configs_lib import ConfigError, base_config, dataset_config, validate_config
from alt_jax.data import decode, frames, pipeline, samples
from alt_jax.labels import load_labels

tfds = pytest.importorskip("tensorflow_datasets")

from alt_jax.data import tfds_catalogue  # noqa: E402  (after the importorskip)

# One worker runs them all: TensorFlow's import (2-3 s) is paid once.
pytestmark = pytest.mark.xdist_group("tfds_catalogue")

NAME, CONFIG = "ucf101", "ucf101_1_256"


def write_metadata(data_dir, splits=None, file_format: str = "array_record") -> str:
    """The catalogue ucf101's metadata files (dataset_info.json, features.json, label names) in
    `data_dir`, as `tfds build` leaves them, with `splits` {name: examples}; no example data."""
    splits = splits or {"train": 9537, "test": 3783}
    builder = tfds.builder(
        f"{NAME}/{CONFIG}", data_dir=os.fspath(data_dir), file_format=file_format
    )
    template = tfds.core.naming.ShardedFileTemplate(
        data_dir=builder.data_path, dataset_name=NAME, filetype_suffix=file_format
    )
    infos = [
        tfds.core.SplitInfo(
            name=name,
            shard_lengths=[count],
            num_bytes=0,
            filename_template=template.replace(split=name),
        )
        for name, count in splits.items()
    ]
    builder.info.set_splits(tfds.core.SplitDict(infos))
    builder.data_path.mkdir(parents=True, exist_ok=True)
    builder.info.write_to_directory(builder.data_path)
    return os.fspath(data_dir)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> str:
    return write_metadata(tmp_path_factory.mktemp("tfds"))


@pytest.fixture
def mocked(data_dir):
    """Random ucf101 examples (6 per split) behind the real metadata in `data_dir`."""
    with tfds.testing.mock_data(
        num_examples=6, policy=tfds.testing.MockPolicy.USE_FILES, data_dir=data_dir
    ):
        yield data_dir


def ucf101_config(data_dir: str, **overrides):
    return dataset_config(
        kind="tfds_catalogue",
        root=data_dir,
        tfds_name=NAME,
        tfds_config=CONFIG,
        num_frames=4,
        image_size=32,
        **overrides,
    )


def spec_of(cfg, *, train: bool):
    from alt_jax.train.datasets import dataset_spec

    return dataset_spec(cfg, "data", train=train)


def all_frames(element) -> np.ndarray:
    """Every frame of a catalogue element, decoded by TensorFlow (not PIL, as EncodedFrames)."""
    import tensorflow as tf

    images = element["video"].images
    # libjpeg's accurate integer DCT, as PIL uses: the same pixels from another decoder.
    decoded = [tf.io.decode_jpeg(i, channels=3, dct_method="INTEGER_ACCURATE") for i in images]
    return np.stack([frame.numpy() for frame in decoded])


def test_a_ucf101_config_gives_batches_and_the_catalogue_class_names(mocked):
    spec = spec_of(ucf101_config(mocked), train=True)
    batches, info = spec.train_iterator(3, seed=0)
    batch = next(batches)
    assert batch["video"].shape == (3, 4, 32, 32, 3) and batch["video"].dtype == np.uint8
    assert batch["label"].dtype == np.int32 and batch["index"].dtype == np.int64
    assert ((batch["label"] >= 0) & (batch["label"] < 101)).all()
    assert 100 < batch["video"].mean() < 156  # the mock's random frames (mean 127.5), resized
    assert info.num_examples == 6 and info.num_batches == 2
    # The ClassLabel's CamelCase names, worded as the shipped UCF-101 list (same order).
    raw = tfds.builder(f"{NAME}/{CONFIG}").info.features["label"].names
    assert raw[0] == "ApplyEyeMakeup" and len(raw) == 101
    assert info.class_names == load_labels("ucf101")


def test_evaluation_views_of_a_ucf101_config(mocked):
    cfg = ucf101_config(mocked, split="test", num_clips=2, num_crops=3, batch_size=4)
    batches, info = spec_of(cfg, train=False).eval_iterator()
    first, second = next(batches), next(batches)
    assert first["video"].shape == (4, 6, 4, 32, 32, 3) and first["video"].dtype == np.uint8
    # 6 examples in batches of 4: the second is padded.
    assert second["valid"].tolist() == [True, True, False, False]
    assert info.num_batches == 2 and len(info.class_names) == 101


def test_frames_come_through_the_same_sampler(mocked):
    """Clips at the frames' own size (no resize): the batch's frames are the example's frames at
    the indices of a NumPy re-derivation of segment sampling."""
    source = pipeline.SourceSpec(
        kind="tfds_catalogue", root=mocked, tfds_name=NAME, tfds_config=CONFIG, split="train"
    )
    elements, _ = pipeline.load_source(source)
    t = 4
    clip = samples.ClipSpec(
        num_frames=t, image_size=256, flip=False, scale=(1.0, 1.0), ratio=(1.0, 1.0)
    )
    batch = next(pipeline.make_train_iterator(source, clip, 2, seed=7, read=_no_prefetch())[0])
    for video, index, epoch, label in zip(
        batch["video"], batch["index"], batch["epoch"], batch["label"], strict=True
    ):
        element = elements[int(index)]
        reference = all_frames(element)
        n = len(reference)
        rng = np.random.default_rng(np.random.SeedSequence([7, int(epoch), int(index), 0]))
        picked = np.floor((np.arange(t) + rng.random(t)) * n / t).astype(int)
        np.testing.assert_array_equal(video, reference[np.minimum(picked, n - 1)])
        assert label == element["label"]
    # Evaluation: clip c takes offset (c + 0.5) / clips inside every segment.
    clip = samples.ClipSpec(num_frames=t, image_size=256, num_clips=2)
    batch = next(pipeline.make_eval_iterator(source, clip, 2, read=_no_prefetch())[0])
    for views, index in zip(batch["video"], batch["index"], strict=True):
        reference = all_frames(elements[int(index)])
        n = len(reference)
        for c in range(2):
            picked = np.floor((np.arange(t) + (c + 0.5) / 2) * n / t).astype(int)
            np.testing.assert_array_equal(views[c], reference[np.minimum(picked, n - 1)])


def _no_prefetch() -> pipeline.ReadSpec:
    return pipeline.ReadSpec(prefetch_batches=0)


def test_class_names_are_made_readable():
    label = tfds.features.ClassLabel(names=["JumpRope", "brush_hair", "YoYo"])
    assert tfds_catalogue.class_names(label, "my_dataset") == ["jump rope", "brush hair", "yo yo"]
    # Names that would read alike keep their original spelling.
    label = tfds.features.ClassLabel(names=["JumpRope", "jump_rope"])
    assert tfds_catalogue.class_names(label, "my_dataset") == ["JumpRope", "jump_rope"]


def test_unknown_keys_and_a_missing_name_are_refused():
    with pytest.raises(KeyError, match="tfds_config"):
        dataset_config(kind="tfds_catalogue", tfds_nmae=NAME)
    config = base_config()
    config.data = dataset_config(kind="tfds_catalogue")
    with pytest.raises(ConfigError, match=r"config\.data\.tfds_name \('ucf101'\)"):
        validate_config(config)


def test_names_configs_and_splits_are_checked(data_dir, tmp_path):
    with pytest.raises(tfds_catalogue.CatalogueError, match="not a dataset of the .* ucf101"):
        tfds_catalogue.open_builder("ucf1010", None, data_dir)
    with pytest.raises(tfds_catalogue.CatalogueError, match="bare name"):
        tfds_catalogue.open_builder(f"{NAME}/{CONFIG}", None, data_dir)
    with pytest.raises(tfds_catalogue.CatalogueError, match="valid: ucf101_1_256, ucf101_1,"):
        tfds_catalogue.open_builder(NAME, "ucf101_9", data_dir)
    with pytest.raises(tfds_catalogue.CatalogueError, match="valid: train, test"):
        tfds_catalogue.open_catalogue_source(NAME, CONFIG, data_dir, "validation")
    with pytest.raises(tfds_catalogue.CatalogueError, match="is not a labelled video dataset"):
        tfds_catalogue.open_catalogue_source("mnist", None, write_mnist_metadata(tmp_path), "train")


def write_mnist_metadata(data_dir) -> str:
    builder = tfds.builder("mnist", data_dir=os.fspath(data_dir), file_format="array_record")
    builder.data_path.mkdir(parents=True, exist_ok=True)
    builder.info.write_to_directory(builder.data_path)
    return os.fspath(data_dir)


def test_an_unprepared_dataset_says_how_to_prepare_it(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    with pytest.raises(tfds_catalogue.CatalogueError) as error:
        tfds_catalogue.open_builder(NAME, CONFIG, empty)
    message = str(error.value)
    assert f"is not prepared in data_dir {empty}" in message
    assert f"tfds build ucf101 --config=ucf101_1_256 --data_dir={empty} " in message
    assert "--file_format=array_record" in message and ".download_and_prepare()" in message
    # No data_dir: tfds' default ($TFDS_DATA_DIR, else ~/tensorflow_datasets).
    monkeypatch.setattr(tfds.core.constants, "DATA_DIR", str(tmp_path / "default"))
    with pytest.raises(tfds_catalogue.CatalogueError, match=f"--data_dir={tmp_path}/default "):
        tfds_catalogue.open_builder(NAME, CONFIG, "")


def test_a_tfrecord_dataset_is_refused_with_how_to_convert_it(tmp_path):
    data_dir = write_metadata(tmp_path, file_format="tfrecord")
    with pytest.raises(tfds_catalogue.CatalogueError, match="tfds convert_format --dataset_vers"):
        tfds_catalogue.open_builder(NAME, CONFIG, data_dir)


def test_a_run_refuses_an_unprepared_catalogue_dataset_naming_the_field(tmp_path):
    from alt_jax.train.datasets import check_run_config

    config = base_config()
    config.data = ucf101_config(os.fspath(tmp_path / "nothing"))
    with pytest.raises(ConfigError, match=r"config\.data: ucf101/ucf101_1_256/2\.0\.0 is not prep"):
        check_run_config(config, "train")


def _jpeg(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="JPEG")
    return out.getvalue()


def test_encoded_frames_decode_the_sampled_frames_and_refuse_bad_ones():
    rng = np.random.default_rng(0)
    images = [_jpeg(rng.integers(0, 256, (8, 12, 3), dtype=np.uint8)) for _ in range(5)]
    video = frames.EncodedFrames(images, "ds:train[3]")
    out = video.decode([4, 0, 4])
    assert out.shape == (3, 8, 12, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[0], np.asarray(Image.open(io.BytesIO(images[4]))))
    with pytest.raises(decode.FrameTooLarge, match="ds:train\\[3\\]: frame 0 is 12x8"):
        video.decode([0], max_pixels=95)
    broken = frames.EncodedFrames([b"not a jpeg"], "ds:train[4]")
    with pytest.raises(decode.VideoDecodeError, match="ds:train\\[4\\]: frame 0 cannot be decoded"):
        broken.decode([0])
    # In the pipeline an undecodable example is a skip marker, like an unreadable video file.
    element = {"video": broken, "label": 1, "path": "ds:train[4]", "index": 4}
    marker = samples.load_train_sample(element, epoch=0, seed=0, spec=samples.ClipSpec())
    assert samples.is_skip_marker(marker) and marker[samples.SKIPPED] == "ds:train[4]"


@pytest.fixture(scope="module")
def real_data_dir(tmp_path_factory) -> str:
    """A ucf101 prepared as array_record by the catalogue's own builder, its download replaced by
    synthetic frames (train: 3 videos of 5-7 frames, labels 0-2; test: 2, labels 50-51)."""
    from tensorflow_datasets.video import ucf101

    with tfds.core.registered.skip_registration():

        class SyntheticUcf101(ucf101.Ucf101):
            name = NAME  # writes data_dir/ucf101/..., as `tfds build ucf101` does

            def _split_generators(self, dl_manager):
                del dl_manager
                return {"train": self._examples(3, 0), "test": self._examples(2, 50)}

            def _examples(self, count, first_label):
                rng = np.random.default_rng(first_label)
                for i in range(count):
                    video = rng.integers(0, 256, (5 + i, 256, 256, 3), dtype=np.uint8)
                    yield f"v{first_label + i}", {"video": video, "label": first_label + i}

    data_dir = os.fspath(tmp_path_factory.mktemp("tfds_real"))
    SyntheticUcf101(
        config=CONFIG, data_dir=data_dir, file_format="array_record"
    ).download_and_prepare()
    return data_dir


def real_source(data_dir: str, split: str) -> pipeline.SourceSpec:
    return pipeline.SourceSpec(
        kind="tfds_catalogue", root=data_dir, tfds_name=NAME, tfds_config=CONFIG, split=split
    )


def test_a_real_array_record_ucf101_is_read_without_the_mock(real_data_dir):
    """The pipeline's frames are tfds' own decoding of the prepared examples, sampled."""
    source = real_source(real_data_dir, "test")
    elements, names = pipeline.load_source(source)
    assert names == load_labels("ucf101") and len(elements) == 2
    decoded = tfds.data_source(
        f"{NAME}/{CONFIG}", split="test", data_dir=real_data_dir, download=False
    )
    clip = samples.ClipSpec(num_frames=4, image_size=256)
    batch = next(pipeline.make_eval_iterator(source, clip, 2, read=_no_prefetch())[0])
    for views, index, label in zip(batch["video"], batch["index"], batch["label"], strict=True):
        example = decoded[int(index)]
        reference = np.stack(example["video"])
        n = len(reference)
        picked = np.floor((np.arange(4) + 0.5) * n / 4).astype(int)
        np.testing.assert_array_equal(views[0], reference[picked])
        assert label == example["label"] and label in (50, 51)


@pytest.mark.slow
def test_worker_processes_read_a_catalogue_dataset(real_data_dir):
    """Batches from a grain worker process (which imports TensorFlow: slow) equal the in-process
    ones. tfds' own DESERIALIZE_NO_DECODE fails there ("No file format set")."""
    source = real_source(real_data_dir, "train")
    clip = samples.ClipSpec(num_frames=4, image_size=32)
    batches = {}
    for workers in (0, 1):
        read = pipeline.ReadSpec(workers=workers, prefetch_batches=0)
        it, _ = pipeline.make_train_iterator(source, clip, 3, read=read, seed=1)
        batches[workers] = [next(it) for _ in range(2)]
    for in_process, from_worker in zip(batches[0], batches[1], strict=True):
        for key in ("video", "label", "index", "epoch"):
            np.testing.assert_array_equal(in_process[key], from_worker[key])


@pytest.mark.slow
def test_a_run_trains_and_evaluates_on_a_catalogue_dataset(tiny_data, mocked, tmp_path):
    """One training step and an evaluation pass of the tiny run on mocked ucf101: the 101
    catalogue classes reach the classifier and the report."""
    import json

    import tiny_run

    from alt_jax.train.runner import train_and_evaluate

    config = tiny_run.tiny_config(tiny_data)
    config.data = ucf101_config(mocked, scale_min=0.5, flip=False)
    config.evals.val = ucf101_config(mocked, split="test", batch_size=4, num_clips=2)
    config.num_train_steps = 1
    config.batch_size = 2
    result = train_and_evaluate(config, str(tmp_path / "run"), "train_and_eval")
    assert result["train"]["step"] == 1
    assert result["eval"]["val"]["num_examples"] == 6
    report = json.loads((tmp_path / "run" / "eval" / "val_step1.json").read_text())
    assert [c["class"] for c in report["per_class"]] == load_labels("ucf101")
    assert sum(c["examples"] for c in report["per_class"]) == 6
