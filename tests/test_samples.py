"""Per-video loading: pixels equal a plain PyAV decode; unreadable videos become markers."""

from __future__ import annotations

import os
import subprocess
import sys

import av
import numpy as np
import pytest

from alt_jax.data import decode, samples
from tests.video_fixtures import make_tiny_dataset, write_bad_videos, write_mjpeg


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory) -> str:
    return make_tiny_dataset(tmp_path_factory)


def _first_video(root: str) -> str:
    with open(os.path.join(root, "val.txt")) as f:
        return os.path.join(root, f.readline().split()[0])


def test_eval_sample_equals_plain_decode_centre_crop(tiny_dataset):
    path = _first_video(tiny_dataset)
    with av.open(path) as container:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    spec = samples.ClipSpec(num_frames=4, image_size=48, num_clips=2, num_crops=3)
    out = samples.load_eval_sample({"video": path, "label": 2, "index": 7}, spec=spec)
    assert out["video"].shape == (6, 4, 48, 48, 3) and int(out["label"]) == 2
    # 16 frames, 4 segments of 4: clip c takes offset (c + 0.5) / 2 of each segment.
    clip_frames = [[1, 5, 9, 13], [3, 7, 11, 15]]
    for c, idx in enumerate(clip_frames):
        for crop, left in enumerate((0, 8, 16)):  # 64 wide, 48 tall: no resize, three crops
            np.testing.assert_array_equal(
                out["video"][c * 3 + crop], frames[idx, :, left : left + 48]
            )


def test_train_sample_is_deterministic_per_epoch(tiny_dataset):
    path = _first_video(tiny_dataset)
    spec = samples.ClipSpec(num_frames=4, image_size=32)
    load = lambda epoch: samples.load_train_sample(
        {"video": path, "label": 1, "index": 3}, epoch=epoch, seed=0, spec=spec
    )["video"]
    np.testing.assert_array_equal(load(0), load(0))
    assert not np.array_equal(load(0), load(1))


def test_bad_videos_become_markers_or_raise_in_strict_mode(tiny_dataset, tmp_path):
    spec = samples.ClipSpec(num_frames=4, image_size=32)
    for kind, path in write_bad_videos(str(tmp_path), _first_video(tiny_dataset)).items():
        element = {"video": path, "label": 0, "index": 5, "path": path}
        marker = samples.load_train_sample(element, epoch=2, seed=0, spec=spec)
        assert samples.is_skip_marker(marker), kind
        assert marker["skipped"] == path and marker["epoch"] == 2
        with pytest.raises(decode.VideoDecodeError, match=path):
            samples.load_eval_sample(element, spec=spec, strict=True)


def _run_with_timeout(code: str, timeout: float = 30) -> subprocess.CompletedProcess:
    """Runs `code` in a fresh Python; a hang (opening a FIFO blocks) fails instead of stalling."""
    try:
        return subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"hung for {timeout} s (a FIFO opened for reading waits for a writer)")


def test_fifo_and_directory_are_skipped_or_refused_without_hanging(tmp_path):
    fifo, folder = str(tmp_path / "pipe.mp4"), str(tmp_path / "dir.mp4")
    os.mkfifo(fifo)
    os.mkdir(folder)
    code = f"""
import pytest
from alt_jax.data import decode, samples
spec = samples.ClipSpec(num_frames=4, image_size=32)
for path, kind in (({fifo!r}, "FIFO"), ({folder!r}, "directory")):
    element = {{"video": path, "label": 0, "index": 5, "path": path}}
    marker = samples.load_train_sample(element, epoch=1, seed=0, spec=spec)
    assert samples.is_skip_marker(marker), marker
    assert marker["skipped"] == path and "not a regular file" in marker["error"], marker
    assert kind in marker["error"], marker
    with pytest.raises(decode.VideoDecodeError, match=f"{{path}}.*not a regular file"):
        samples.load_eval_sample(element, spec=spec, strict=True)
print("ok")
"""
    result = _run_with_timeout(code)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


@pytest.mark.parametrize("backend", ["pyav", "decord"])
def test_frames_above_the_pixel_limit_become_markers_or_raise_in_strict_mode(tiny_dataset, backend):
    if backend == "decord":
        pytest.importorskip("decord")
    path = _first_video(tiny_dataset)  # 64×48 = 3072 pixels a frame
    element = {"video": path, "label": 0, "index": 5, "path": path}
    spec = samples.ClipSpec(num_frames=4, image_size=32, backend=backend, max_frame_pixels=3071)
    for marker in (
        samples.load_train_sample(element, epoch=1, seed=0, spec=spec),
        samples.load_eval_sample(element, spec=spec),
    ):
        assert samples.is_skip_marker(marker) and marker["skipped"] == path
        assert "64×48 = 3072 pixels, more than max_frame_pixels=3071" in marker["error"]
    with pytest.raises(decode.VideoDecodeError, match=f"{path}.*max_frame_pixels=3071"):
        samples.load_eval_sample(element, spec=spec, strict=True)
    with pytest.raises(decode.VideoDecodeError, match=f"{path}.*max_frame_pixels=3071"):
        samples.load_train_sample(element, epoch=1, seed=0, spec=spec, strict=True)
    at_limit = samples.ClipSpec(num_frames=4, image_size=32, backend=backend, max_frame_pixels=3072)
    assert samples.load_eval_sample(element, spec=at_limit)["video"].shape == (1, 4, 32, 32, 3)


def test_huge_video_is_skipped_by_default_without_its_memory(tmp_path):
    """A 5000×5000 MJPEG of 0.4 MB: the default limit refuses it and the peak memory of the
    process does not grow, while decoding its one frame grows it by more than the 75 MB RGB."""
    huge = write_mjpeg(str(tmp_path / "huge.avi"), 5000, 5000)
    small = write_mjpeg(str(tmp_path / "small.avi"), 64, 48)
    # VmHWM, this process image's peak resident memory (ru_maxrss would carry pytest's own peak
    # across the fork and exec).
    code = f"""
import re
from alt_jax.data import decode, samples
def peak_mb():
    with open("/proc/self/status") as f:
        return int(re.search(r"VmHWM:\\s+(\\d+) kB", f.read()).group(1)) / 1024
spec = samples.ClipSpec(num_frames=8, image_size=32)
# Warm-up on a small MJPEG: imports, decoder set-up and scaler tables are not what is measured.
warm = samples.load_eval_sample({{"video": {small!r}, "label": 0, "index": 0}}, spec=spec)
assert warm["video"].shape == (1, 8, 32, 32, 3)
before = peak_mb()
marker = samples.load_eval_sample({{"video": {huge!r}, "label": 0, "index": 1}}, spec=spec)
assert samples.is_skip_marker(marker) and "5000×5000" in marker["error"], marker
after = peak_mb()
decode.decode_frames({huge!r}, [0], max_pixels=None)
print(after - before, peak_mb() - after)
"""
    result = _run_with_timeout(code, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    refused_growth, decode_growth = map(float, result.stdout.split())
    assert refused_growth < 10, refused_growth
    assert decode_growth > 75, result.stdout  # the measure sees a decode of that frame
