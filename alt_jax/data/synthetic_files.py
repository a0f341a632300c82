"""Synthetic datasets on disk: MP4 videos, their per-object masks and backgrounds beside them
(what the grounding measure reads), and whole datasets with their lists and class names."""

from __future__ import annotations

import os
import pathlib
import zipfile
import zlib
from concurrent import futures

import av
import numpy as np

from alt_jax.data import sources
from alt_jax.data.synthetic import (
    DEFAULT_NUM_CLASSES,
    SCENE_ENTITIES,
    SyntheticClass,
    check_task,
    render_clip,
    synthetic_classes,
)

MASKS_SUFFIX = ".objects.npz"


def object_masks_path(video_path: str | os.PathLike) -> pathlib.Path:
    """The object-mask file beside a video: X.mp4 → X.objects.npz."""
    return pathlib.Path(video_path).with_suffix(MASKS_SUFFIX)


def write_object_masks(
    video_path: str | os.PathLike, coverage: np.ndarray, names: np.ndarray, background: str = ""
) -> pathlib.Path:
    """Writes a video's object masks (coverage in [0, 1] [T, K, H, W], names [T, K]) beside it as
    uint8 coverage × 255 and unicode names, with the background's scene entity name (""
    unknown); returns the mask path."""
    names = np.asarray(names, dtype=str)
    if coverage.ndim != 4 or names.shape != coverage.shape[:2]:
        raise ValueError(
            f"need coverage [T, K, H, W] and names [T, K], got {coverage.shape} and {names.shape}"
        )
    path = object_masks_path(video_path)
    quantized = np.rint(np.clip(coverage, 0.0, 1.0) * 255).astype(np.uint8)
    np.savez_compressed(path, coverage=quantized, names=names, background=np.asarray(background))
    return path


def read_background(video_path: str | os.PathLike) -> str:
    """The background's scene entity name stored with a video's masks ("" if none was)."""
    path = object_masks_path(video_path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            return str(archive["background"]) if "background" in archive.files else ""
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error) as error:
        raise ValueError(f"{path}: unreadable object masks ({error})") from error


def read_object_masks(video_path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(coverage float32 [T, K, H, W] in [0, 1], names [T, K]) from the file beside a video."""
    path = object_masks_path(video_path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: no object masks beside {video_path}; the dataset was made without masks "
            "or by an older version of alt_jax.data.synthetic (regenerate it with "
            "tools/make_synthetic.py)"
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = {"coverage", "names"} - set(archive.files)
            if missing:
                raise ValueError(f"{path}: object masks lack the arrays {sorted(missing)}")
            coverage, names = archive["coverage"], archive["names"]
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise ValueError(f"{path}: unreadable object masks ({error})") from error
    except ValueError as error:
        if str(path) in str(error):
            raise
        raise ValueError(f"{path}: unreadable object masks ({error})") from error
    if coverage.dtype != np.uint8 or coverage.ndim != 4:
        raise ValueError(
            f"{path}: coverage must be uint8 [T, K, H, W], got {coverage.dtype} {coverage.shape}"
        )
    if names.dtype.kind != "U" or names.shape != coverage.shape[:2]:
        raise ValueError(
            f"{path}: names must be strings of shape [T, K] = {coverage.shape[:2]}, got "
            f"{names.dtype} {names.shape}"
        )
    return coverage.astype(np.float32) / 255, names


def write_mp4(
    path: str | os.PathLike,
    frames: np.ndarray,
    *,
    fps: int = 25,
    codec: str = "libx264",
    gop: int | None = None,
) -> None:
    """Encodes uint8 [T, H, W, 3] frames (even H and W) as an H.264 mp4 (yuv420p)."""
    with av.open(os.fspath(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        options = {"preset": "ultrafast", "crf": "18"} if codec == "libx264" else {}
        if gop is not None:
            stream.codec_context.gop_size = gop
        stream.options = options
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _slug(name: str) -> str:
    return name.replace(" ", "_")


def _make_one(job: tuple[str, SyntheticClass, int, int, int, int, int, int, bool]) -> None:
    """Renders and writes one video and its masks (a picklable unit of work for the pool)."""
    path, cls, label, video_index, seed, num_frames, height, width, masks = job
    # Seeded per (seed, class, video): output does not depend on the worker count.
    rng = np.random.default_rng(np.random.SeedSequence([seed, label, video_index]))
    clip = render_clip(cls, rng, num_frames, height, width)
    write_mp4(path, clip.frames)
    if masks:
        write_object_masks(path, clip.coverage, clip.names, clip.background)


def make_synthetic_dataset(
    out_dir: str | os.PathLike,
    *,
    task: str = "directions",
    num_classes: int | None = None,
    train_per_class: int = 20,
    val_per_class: int = 10,
    num_frames: int = 16,
    height: int = 112,
    width: int = 112,
    seed: int = 0,
    workers: int = 0,
    masks: bool = True,
) -> dict[str, object]:
    """Writes videos/ (with X.objects.npz beside each X.mp4 if `masks`), classes.txt, scenes.txt
    (the scene entities for tools/build_corpus.py --scenes), train.txt
    and val.txt of a task (TASKS; num_classes defaults to DEFAULT_NUM_CLASSES) under out_dir;
    returns a summary."""
    if height % 2 or width % 2:
        raise ValueError(f"H.264 yuv420p needs even sizes, got {height}x{width}")
    check_task(task)
    classes = synthetic_classes(num_classes or DEFAULT_NUM_CLASSES[task], task)
    out_dir = os.fspath(out_dir)
    jobs, train, val = [], [], []
    for label, cls in enumerate(classes):
        folder = os.path.join(out_dir, "videos", _slug(cls.name))
        os.makedirs(folder, exist_ok=True)
        for i in range(train_per_class + val_per_class):
            path = os.path.join(folder, f"{_slug(cls.name)}_{i:04d}.mp4")
            jobs.append((path, cls, label, i, seed, num_frames, height, width, masks))
            (train if i < train_per_class else val).append(sources.VideoRecord(path, label))
    if workers > 0:
        with futures.ProcessPoolExecutor(workers) as pool:
            list(pool.map(_make_one, jobs, chunksize=max(1, len(jobs) // (4 * workers))))
    else:
        for job in jobs:
            _make_one(job)
    class_names = [cls.name for cls in classes]
    sources.write_class_names(os.path.join(out_dir, "classes.txt"), class_names)
    with open(os.path.join(out_dir, "scenes.txt"), "w", encoding="utf-8") as f:
        f.write("".join(f"{entity}\n" for entity in SCENE_ENTITIES))
    sources.write_annotation_list(os.path.join(out_dir, "train.txt"), train, out_dir)
    sources.write_annotation_list(os.path.join(out_dir, "val.txt"), val, out_dir)
    return {
        "out_dir": out_dir,
        "class_names": class_names,
        "num_train": len(train),
        "num_val": len(val),
    }
