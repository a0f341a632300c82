"""A tensorflow-datasets builder packing encoded videos (file bytes, not frames) into array_record.

Why bytes: an mp4 is 10-50× smaller than its decoded frames, so shards stay small and decoding
stays in the (parallel) input workers. Each example is {video: bytes, label: int64, path: str}.
Read back with `open_data_source` (tfds.data_source → a random-access sequence for grain).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow_datasets as tfds

from alt_jax.data import sources

CLASSES_FILE = "class_names.txt"


class VideoBytes(tfds.core.GeneratorBasedBuilder):
    """Encoded videos with labels; one builder config per packed dataset (e.g. 'ucf101_fold1')."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Encoded video bytes, int64 label, source path."}
    # Local files only, so no download checksums. Also sidesteps tfds's checksum-file lookup,
    # which imports the `importlib_resources` backport that this environment does not ship.
    url_infos = None

    def __init__(
        self,
        *,
        split_records: Mapping[str, Sequence[sources.VideoRecord]] | None = None,
        class_names: Sequence[str] | None = None,
        **kwargs,
    ):
        # The records are only needed to generate; reading uses the files' own metadata.
        self._split_records = split_records
        self._class_names = list(class_names) if class_names is not None else None
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "video": tfds.features.Tensor(shape=(), dtype=np.object_),
                    "label": tfds.features.Scalar(dtype=np.int64),
                    "path": tfds.features.Text(),
                }
            ),
            supervised_keys=("video", "label"),
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # local files only
        if self._split_records is None:
            raise ValueError("VideoBytes needs split_records to generate")
        return {
            name: self._generate_examples(records) for name, records in self._split_records.items()
        }

    def _generate_examples(self, records: Sequence[sources.VideoRecord]):
        for i, record in enumerate(records):
            with open(record.path, "rb") as f:
                data = f.read()
            yield i, {"video": data, "label": record.label, "path": record.path}


def prepare_video_dataset(
    name: str,
    data_dir: str | os.PathLike,
    split_records: Mapping[str, Sequence[sources.VideoRecord]],
    class_names: Sequence[str],
    *,
    description: str = "",
) -> str:
    """Packs the split records' files into array_record shards; returns the dataset directory."""
    config = tfds.core.BuilderConfig(name=name, description=description or name)
    builder = VideoBytes(
        config=config,
        data_dir=os.fspath(data_dir),
        file_format="array_record",
        split_records=split_records,
        class_names=class_names,
    )
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(verify_ssl=False, max_examples_per_split=None)
    )
    sources.write_class_names(os.path.join(builder.data_dir, CLASSES_FILE), class_names)
    return os.fspath(builder.data_dir)


def open_data_source(
    name: str, data_dir: str | os.PathLike, split: str
) -> tuple[Sequence[dict], list[str]]:
    """The random-access source of a packed split (via tfds.data_source) and its class names."""
    source = tfds.data_source(
        f"video_bytes/{name}", split=split, data_dir=os.fspath(data_dir), download=False
    )
    builder_dir = os.path.join(os.fspath(data_dir), "video_bytes", name, str(VideoBytes.VERSION))
    return source, sources.read_class_names(os.path.join(builder_dir, CLASSES_FILE))
