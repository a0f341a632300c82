"""Video datasets of the tensorflow-datasets catalogue (e.g. `ucf101`), prepared by the user in
a tfds data_dir, read by random access (`builder.as_data_source`, grain-compatible).

Catalogue video datasets store decoded frames: a `Video` feature (a sequence of JPEG / PNG
images) and a `ClassLabel`. Examples are read as raw records and parsed without decoding, so a
clip decodes only the frames it samples (`frames.EncodedFrames`), through the same sampling and
augmentation as video files. Random access needs the dataset prepared as array_record; one
prepared as TFRecord (`tfds build`'s default) is refused with how to convert it.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
from collections.abc import Sequence
from typing import Any

import grain
import tensorflow_datasets as tfds

from alt_jax.data import frames, sources
from alt_jax.labels import KNOWN_LISTS, load_labels

# The random-access format read: records are serialized tf.train.Example, parsed in _element.
ARRAY_RECORD = tfds.core.FileFormat.ARRAY_RECORD
VIDEO_FEATURE = "video"
LABEL_FEATURE = "label"


class CatalogueError(ValueError):
    """A catalogue dataset that cannot be read as configured; the message says what to do."""


def default_data_dir() -> str:
    """tfds' own default: $TFDS_DATA_DIR, else ~/tensorflow_datasets (where `tfds build` writes)."""
    return os.fspath(tfds.core.constants.DATA_DIR)


def _prepare_hint(name: str, config: str | None, data_dir: str) -> str:
    """How to prepare the dataset in `data_dir` as array_record, by command line or in Python."""
    config_flag = f" --config={config}" if config else ""
    full = f"{name}/{config}" if config else name
    return (
        f"prepare it once with `tfds build {name}{config_flag} --data_dir={data_dir} "
        f"--file_format=array_record` or, in Python, `tfds.builder({full!r}, "
        f"data_dir={data_dir!r}, file_format='array_record').download_and_prepare()` "
        "(some datasets need files downloaded by hand first: the builder's error says which)"
    )


def _builder_class(name: str) -> type:
    """The catalogue's builder class of `name`, or CatalogueError with close names."""
    if not name or "/" in name or ":" in name:
        raise CatalogueError(
            f"tfds_name={name!r}: give the catalogue dataset's bare name (e.g. 'ucf101') and its "
            "builder config in tfds_config (e.g. 'ucf101_1_256')"
        )
    try:
        return tfds.builder_cls(name)
    except tfds.core.registered.DatasetNotFoundError:
        # Without the community index, which tfds would fetch from GCS.
        names = tfds.list_builders(with_community_datasets=False)
        close = difflib.get_close_matches(name, names, n=5)
        hint = f"; close names: {', '.join(close)}" if close else ""
        raise CatalogueError(
            f"tfds_name={name!r} is not a dataset of the tensorflow-datasets catalogue{hint} "
            "(the list: https://www.tensorflow.org/datasets/catalog/overview)"
        ) from None


def open_builder(
    name: str, config: str | None, data_dir: str | os.PathLike | None
) -> tfds.core.DatasetBuilder:
    """The prepared builder of catalogue dataset `name`/`config` in `data_dir` (None or '': tfds'
    default); CatalogueError naming what is wrong (name, config, not prepared, file format)."""
    data_dir = os.path.expanduser(os.fspath(data_dir)) if data_dir else default_data_dir()
    cls = _builder_class(name)
    configs = [c.name for c in getattr(cls, "BUILDER_CONFIGS", [])]
    if config and config not in configs:
        valid = ", ".join(configs) if configs else "none (leave tfds_config empty)"
        raise CatalogueError(f"tfds_config={config!r} is not a config of {name}; valid: {valid}")
    builder = tfds.builder(f"{name}/{config}" if config else name, data_dir=data_dir)
    if not builder.is_prepared():
        raise CatalogueError(
            f"{builder.info.full_name} is not prepared in data_dir {data_dir} (nothing at "
            f"{builder.data_dir}); {_prepare_hint(name, config, data_dir)}"
        )
    formats = builder.info.available_file_formats()
    if ARRAY_RECORD not in formats:
        found = ", ".join(sorted(f.value for f in formats)) or "none recorded"
        raise CatalogueError(
            f"{builder.info.full_name} in {data_dir} is stored as {found}, not array_record "
            "(random access: grain reads by index); convert it with `tfds convert_format "
            f"--dataset_version_dir={builder.data_dir} --out_file_format=array_record` or "
            f"rebuild it: {_prepare_hint(name, config, data_dir)}"
        )
    return builder


def _check_split(builder: tfds.core.DatasetBuilder, split: str) -> None:
    """Refuses a split the prepared dataset lacks ('train', 'test[:10%]', 'train+test' parsed)."""
    available = list(builder.info.splits)
    for part in split.split("+"):
        base = part.split("[")[0].strip()
        if base not in available:
            raise CatalogueError(
                f"split={split!r}: {builder.info.full_name} has no split {base!r}; valid: "
                f"{', '.join(available)} (tfds slices such as 'train[:10%]' work too)"
            )


def _check_features(builder: tfds.core.DatasetBuilder) -> tfds.features.ClassLabel:
    """The dataset's ClassLabel; refuses datasets without a Video `video` and a `label`."""
    features = builder.info.features
    video, label = (features[k] if k in features else None for k in (VIDEO_FEATURE, LABEL_FEATURE))
    if not isinstance(video, tfds.features.Video) or not isinstance(
        label, tfds.features.ClassLabel
    ):
        raise CatalogueError(
            f"{builder.info.full_name} is not a labelled video dataset: it needs a Video feature "
            f"{VIDEO_FEATURE!r} and a ClassLabel {LABEL_FEATURE!r}; its features: "
            f"{', '.join(f'{k}: {type(v).__name__}' for k, v in features.items())}"
        )
    return label


def _compact(name: str) -> str:
    return re.sub(r"[\W_]+", "", name.lower())


def class_names(label: tfds.features.ClassLabel, dataset: str) -> list[str]:
    """The ClassLabel's names as prompt words ('ApplyEyeMakeup' → 'apply eye makeup'); where
    the project ships the dataset's label list (`labels.KNOWN_LISTS`), its names are used for
    the classes they match (same letters), so prompts read as with the file-based sources."""
    raw = list(label.names)
    names = [sources.humanize_class_name(n) for n in raw]
    if dataset in KNOWN_LISTS:
        shipped = {_compact(n): n for n in load_labels(dataset)}
        names = [shipped.get(_compact(n), n) for n in names]
    # Two classes worded alike could not be told apart by the text encoder: keep the originals.
    return names if len(set(names)) == len(names) else raw


def _element(index: int, record: bytes, *, where: str) -> dict[str, Any]:
    """A catalogue record as a pipeline element; frames stay encoded until a worker samples."""
    feature = ARRAY_RECORD.deserialize(record).features.feature  # a tf.train.Example
    images = list(feature[VIDEO_FEATURE].bytes_list.value)
    label = int(feature[LABEL_FEATURE].int64_list.value[0])
    path = f"{where}[{index}]"
    return {
        "video": frames.EncodedFrames(images, path),
        "label": label,
        "path": path,
        "index": index,
    }


def open_catalogue_source(
    name: str, config: str | None, data_dir: str | os.PathLike | None, split: str
) -> tuple[grain.MapDataset, list[str]]:
    """A random-access MapDataset of pipeline elements of `split` and the class names."""
    builder = open_builder(name, config, data_dir)
    label = _check_features(builder)
    _check_split(builder, split)
    # Raw records, parsed in _element: tfds' DESERIALIZE_NO_DECODE fails in grain's worker
    # processes (a pickled DatasetInfo loses its file format: "No file format set").
    source: Sequence[bytes] = builder.as_data_source(
        split=split,
        deserialize_method=tfds.decode.DeserializeMethod.RAW_BYTES,
        file_format=ARRAY_RECORD,
    )
    parse = functools.partial(_element, where=f"{builder.info.full_name}:{split}")
    elements = grain.MapDataset.source(source).map_with_index(parse)
    return elements, class_names(label, name)
