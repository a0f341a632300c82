"""Dataset indexes: which video files a split holds and their labels.

Readers for an mmaction-style annotation list, the Kinetics CSV, and class-per-folder trees
(UCF-101, HMDB-51) with their official split files. Malformed input is refused here, when the
dataset is built, with the file and line named, never later inside a worker.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import os
import re
from collections.abc import Sequence

from etils import epath

from alt_jax.resources import resolve

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v")
# Where a Kinetics CSV row's video is under the split's root: flat, as the CVDF archives
# (github.com/cvdfoundation/kinetics-dataset) unpack, e.g. train/-3B32lodo2M_000059_000069.mp4.
# Per-class folders: "{label}/..." or "{label_underscored}/..." (config.data.filename_pattern).
DEFAULT_KINETICS_PATTERN = "{youtube_id}_{time_start:06d}_{time_end:06d}.mp4"


@dataclasses.dataclass(frozen=True)
class VideoRecord:
    """One video of a split: where its file is and its class index."""

    path: str
    label: int


def read_text_lines(path: str | os.PathLike) -> list[str]:
    """A UTF-8 text file's lines (ends kept), local or gs://; bad bytes name the file and line.

    A leading byte-order mark (Windows editors write one) is dropped, not read as text.
    """
    data = epath.Path(path).read_bytes()
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    lines = []
    for lineno, raw in enumerate(data.splitlines(keepends=True), 1):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError as e:
            # Decoding per line so that the error can say where (a bare UnicodeDecodeError
            # gives only a byte offset into the whole file).
            raise ValueError(
                f"{os.fspath(path)}:{lineno}: not UTF-8 text (byte 0x{raw[e.start]:02x} at "
                f"column {e.start + 1}); re-save the file as UTF-8"
            ) from None
    return lines


def read_class_names(path: str | os.PathLike) -> list[str]:
    """Class names, one per line (blank lines ignored), in label order; local, gs:// or a shipped
    list (`alt_jax:labels/k400.txt`)."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(read_text_lines(resolve(path)), start=1):
        name = line.strip()
        if not name:
            continue
        if name in seen:
            # Two labels with one name cannot be told apart by the text encoder.
            raise ValueError(
                f"{os.fspath(path)}:{lineno}: class name {name!r} repeats line {seen[name]}"
            )
        seen[name] = lineno
        names.append(name)
    return names


def write_class_names(path: str | os.PathLike, class_names: Sequence[str]) -> None:
    """Writes class names one per line."""
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(f"{name}\n" for name in class_names)


def _check_label(label: int, num_classes: int | None, where: str) -> None:
    if label < 0 or (num_classes is not None and label >= num_classes):
        bound = f"[0, {num_classes})" if num_classes is not None else ">= 0"
        raise ValueError(f"{where}: label {label} out of range {bound}")


def read_annotation_list(
    list_file: str | os.PathLike, root: str | os.PathLike = "", *, num_classes: int | None = None
) -> list[VideoRecord]:
    """Parses `relative/path label_index` lines (mmaction style); paths are joined to `root`."""
    records = []
    for lineno, line in enumerate(read_text_lines(list_file), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{os.fspath(list_file)}:{lineno}"
        parts = line.rsplit(maxsplit=1)  # the path may contain spaces, the label cannot
        if len(parts) != 2:
            raise ValueError(f"{where}: expected 'path label', got {line!r}")
        try:
            label = int(parts[1])
        except ValueError:
            raise ValueError(f"{where}: label {parts[1]!r} is not an integer") from None
        _check_label(label, num_classes, where)
        records.append(VideoRecord(os.path.join(os.fspath(root), parts[0]), label))
    return records


def write_annotation_list(
    list_file: str | os.PathLike, records: Sequence[VideoRecord], root: str | os.PathLike = ""
) -> None:
    """Writes records as `path label` lines, paths relative to `root` when given."""
    with open(list_file, "w", encoding="utf-8") as f:
        for record in records:
            path = os.path.relpath(record.path, root) if root else record.path
            f.write(f"{path} {record.label}\n")


def read_kinetics_csv(
    csv_file: str | os.PathLike,
    root: str | os.PathLike = "",
    *,
    class_names: Sequence[str] | None = None,
    filename_pattern: str = DEFAULT_KINETICS_PATTERN,
) -> tuple[list[VideoRecord], list[str]]:
    """Parses a Kinetics CSV (label,youtube_id,time_start,time_end,split) into records + classes.

    Labels index `class_names`, or the sorted set of labels in the file when none is given (the
    usual Kinetics order). `filename_pattern` is a str.format pattern over the CSV columns plus
    `label_underscored` (spaces replaced by underscores).
    """
    required = ("label", "youtube_id", "time_start", "time_end")
    rows = []
    reader = csv.DictReader(read_text_lines(csv_file))
    missing = [c for c in required if c not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"{os.fspath(csv_file)}:1: header lacks columns {missing}")
    for row in reader:
        where = f"{os.fspath(csv_file)}:{reader.line_num}"
        if None in row or any(row.get(c) in (None, "") for c in required):
            raise ValueError(f"{where}: malformed row {row}")
        try:
            start, end = int(float(row["time_start"])), int(float(row["time_end"]))
        except ValueError:
            raise ValueError(f"{where}: time_start/time_end are not numbers") from None
        rows.append((where, row, start, end))
    names = (
        list(class_names) if class_names is not None else sorted({r["label"] for _, r, *_ in rows})
    )
    index = {name: i for i, name in enumerate(names)}
    records = []
    for where, row, start, end in rows:
        if row["label"] not in index:
            raise ValueError(f"{where}: label {row['label']!r} is not a known class")
        fields = dict(
            row, time_start=start, time_end=end, label_underscored=row["label"].replace(" ", "_")
        )
        path = os.path.join(os.fspath(root), filename_pattern.format(**fields))
        records.append(VideoRecord(path, index[row["label"]]))
    return records, names


def scan_class_folders(root: str | os.PathLike) -> tuple[list[VideoRecord], list[str]]:
    """Every video under root/<class>/ with label = index of <class> in sorted order."""
    root = os.fspath(root)
    names = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    records = []
    for label, name in enumerate(names):
        for file in sorted(os.listdir(os.path.join(root, name))):
            if file.lower().endswith(VIDEO_EXTENSIONS):
                records.append(VideoRecord(os.path.join(root, name, file), label))
    return records, names


def read_ucf101_split(
    root: str | os.PathLike, split_dir: str | os.PathLike, *, fold: int = 1, subset: str = "train"
) -> tuple[list[VideoRecord], list[str]]:
    """UCF-101 official split: classInd.txt and trainlist0{fold}.txt / testlist0{fold}.txt."""
    _check_fold_subset(fold, subset)
    class_ind = os.path.join(split_dir, "classInd.txt")
    names: list[str] = []
    for lineno, line in enumerate(read_text_lines(class_ind), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) != len(names) + 1:
            raise ValueError(f"{class_ind}:{lineno}: expected '{len(names) + 1} ClassName'")
        names.append(parts[1])
    index = {name: i for i, name in enumerate(names)}
    list_file = os.path.join(split_dir, f"{subset}list{fold:02d}.txt")
    records = []
    for lineno, line in enumerate(read_text_lines(list_file), start=1):
        parts = line.split()
        if not parts:
            continue
        where = f"{list_file}:{lineno}"
        rel = parts[0]
        folder = rel.split("/")[0]
        if len(parts) > 2 or folder not in index or "/" not in rel:
            raise ValueError(
                f"{where}: expected 'ClassName/video.avi [label]', got {line.strip()!r}"
            )
        label = index[folder]
        if len(parts) == 2 and (not parts[1].isdigit() or int(parts[1]) - 1 != label):
            raise ValueError(f"{where}: label {parts[1]} disagrees with folder {folder!r}")
        records.append(VideoRecord(os.path.join(os.fspath(root), rel), label))
    return records, names


def read_hmdb51_split(
    root: str | os.PathLike, split_dir: str | os.PathLike, *, fold: int = 1, subset: str = "train"
) -> tuple[list[VideoRecord], list[str]]:
    """HMDB-51 official split: <class>_test_split{fold}.txt, `video.avi 1|2` (1 train, 2 test)."""
    _check_fold_subset(fold, subset)
    suffix = f"_test_split{fold}.txt"
    files = sorted(f for f in os.listdir(split_dir) if f.endswith(suffix))
    if not files:
        raise ValueError(f"no *{suffix} files in {os.fspath(split_dir)}")
    names = [f[: -len(suffix)] for f in files]
    wanted = "1" if subset == "train" else "2"
    records = []
    for label, (name, file) in enumerate(zip(names, files, strict=True)):
        path = os.path.join(split_dir, file)
        for lineno, line in enumerate(read_text_lines(path), start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise ValueError(
                    f"{path}:{lineno}: expected 'video.avi 0|1|2', got {line.strip()!r}"
                )
            if parts[1] == wanted:
                records.append(VideoRecord(os.path.join(os.fspath(root), name, parts[0]), label))
    return records, names


def _check_fold_subset(fold: int, subset: str) -> None:
    if fold not in (1, 2, 3):
        raise ValueError(f"fold must be 1, 2 or 3, got {fold}")
    if subset not in ("train", "test"):
        raise ValueError(f"subset must be 'train' or 'test', got {subset!r}")


def humanize_class_name(name: str) -> str:
    """A folder-style class name as prompt words: 'ApplyEyeMakeup' / 'brush_hair' → spaced lowercase."""
    name = name.replace("_", " ")
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", name)
    return " ".join(name.lower().split())
