"""Video test fixtures: a tiny synthetic dataset and one file of each unreadable kind.

Kept out of conftest.py (the project's conftest holds the CLIP fixtures); test modules import
the `tiny_dataset` fixture from here.
"""

from __future__ import annotations

import os

import pytest

from alt_jax.data import synthetic_files

TINY = dict(
    num_classes=3, train_per_class=4, val_per_class=2, num_frames=16, height=48, width=64, seed=0
)


def make_tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 3-class synthetic dataset of 64×48, 16-frame mp4s (train 12, val 6); its root."""
    root = str(tmp_path_factory.mktemp("tiny"))
    synthetic_files.make_synthetic_dataset(root, **TINY)
    return root


def write_bad_videos(folder: str, good_mp4: str) -> dict[str, str]:
    """One of each kind of unreadable video, derived from a good mp4; returns kind → path."""
    with open(good_mp4, "rb") as f:
        data = f.read()
    # PyAV writes the moov index after the media data: cutting the file in half loses it.
    assert data.find(b"moov") > data.find(b"mdat")
    paths = {
        kind: os.path.join(folder, f"{kind}.mp4")
        for kind in ("missing", "empty", "truncated", "text", "codec")
    }
    open(paths["empty"], "wb").close()
    with open(paths["truncated"], "wb") as f:
        f.write(data[: len(data) // 2])
    with open(paths["text"], "w", encoding="utf-8") as f:
        f.write("not a video, just text\n")
    with open(paths["codec"], "wb") as f:
        # An unknown sample-entry fourcc: the container parses, no decoder exists for the stream.
        f.write(data.replace(b"avc1", b"zzzz"))
    return paths


def write_mjpeg(path: str, width: int, height: int, num_frames: int = 1, fmt: str = "") -> str:
    """A `num_frames`-frame MJPEG of uniform frames at width×height (a few hundred KB even at
    5000×5000); the container follows the file extension unless `fmt` names one."""
    import av

    with av.open(path, mode="w", format=fmt or None) as container:
        stream = container.add_stream("mjpeg", rate=1)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuvj420p"
        frame = av.VideoFrame(width, height, "yuvj420p")
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        for _ in range(num_frames):
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path
