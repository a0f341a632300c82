"""Video decoding to uint8 frames: PyAV by default, decord when installed and asked for.

A video source is a filesystem path or the encoded bytes of a whole file (as stored in the
array_record shards). Frames come back as uint8 [T, H, W, 3] RGB, one per requested index,
in the order requested (indices may repeat), turned upright when the stream carries a display
matrix (the rotation phones record). A video whose header gives frames of more than
`max_pixels` pixels is refused (FrameTooLarge) before any frame is decoded.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Sequence

import av
import numpy as np

VideoSource = str | os.PathLike | bytes

# Jumping forward by more than this many frames is done with a seek to the preceding keyframe
# rather than by decoding every frame in between (an 8-frame sample of a 10-minute video).
DEFAULT_SEEK_GAP = 48

# Frames larger than this many pixels are refused from the stream header, before any decoding:
# decoding memory follows the file's resolution, not the model's (a 12000×12000 frame is 432 MB
# as RGB, and a sample holds several frames before resizing). 4096² admits every camera and
# broadcast format up to DCI 4K (4096×2160), portrait 4K and 5.7K 360° (5760×2880), and caps a
# decoded RGB frame at 48 MiB; 8K (7680×4320) needs a larger limit.
DEFAULT_MAX_FRAME_PIXELS = 4096 * 4096
_FFMPEG_INT_MAX = 2**31 - 1


class VideoDecodeError(RuntimeError):
    """Raised when a video cannot be opened or the requested frames cannot be decoded."""


class FrameCountMismatch(VideoDecodeError):
    """Raised when the stream ends before a requested frame: the container's frame count lied."""

    def __init__(self, message: str, frames_seen: int):
        super().__init__(message)
        self.frames_seen = frames_seen


class FrameTooLarge(VideoDecodeError):
    """Raised when a video's frames have more pixels than allowed (checked before decoding)."""


def describe_source(source: VideoSource) -> str:
    """A short human-readable name for a video source (path, or byte count)."""
    if isinstance(source, bytes):
        return f"<{len(source)} bytes>"
    return os.fspath(source)


_FILE_KINDS = (
    (stat.S_ISDIR, "directory"),
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
)


def check_regular_file(path: str | os.PathLike) -> None:
    """Refuses a path that is missing or not a regular file (FIFO, device, directory)."""
    # Opening a FIFO or a character device for reading blocks until a writer comes, forever
    # in a data loader: look at the file type (stat does not block) before opening anything.
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise VideoDecodeError(f"missing file {os.fspath(path)}") from None
    except OSError as e:
        raise VideoDecodeError(f"cannot stat {os.fspath(path)}: {e}") from e
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _FILE_KINDS if test(mode)), "special file")
        raise VideoDecodeError(f"{os.fspath(path)}: not a regular file ({kind})")


def _open(source: VideoSource) -> av.container.InputContainer:
    """Opens a container from a path or bytes, with errors wrapped as VideoDecodeError."""
    try:
        if isinstance(source, bytes):
            return av.open(io.BytesIO(source), mode="r")
        check_regular_file(source)
        return av.open(os.fspath(source), mode="r")
    except (av.FFmpegError, OSError, ValueError) as e:
        raise VideoDecodeError(f"cannot open {describe_source(source)}: {e}") from e


def _check_frame_size(width: int, height: int, max_pixels: int | None, source: VideoSource) -> None:
    """Refuses a frame size above `max_pixels` (None: no limit)."""
    if max_pixels is not None and width * height > max_pixels:
        raise FrameTooLarge(
            f"{describe_source(source)}: frames are {width}×{height} = {width * height} pixels, "
            f"more than max_frame_pixels={max_pixels}"
        )


def _video_stream(
    container: av.container.InputContainer,
    source: VideoSource,
    max_pixels: int | None = DEFAULT_MAX_FRAME_PIXELS,
):
    """The first video stream, refusing containers without one, with an unknown codec, or whose
    header gives frames larger than `max_pixels`."""
    if not container.streams.video:
        raise VideoDecodeError(f"no video stream in {describe_source(source)}")
    stream = container.streams.video[0]
    codec = stream.codec_context
    if codec is None or not codec.name:
        raise VideoDecodeError(f"unknown video codec in {describe_source(source)}")
    # The header's size, read before any frame is decoded.
    _check_frame_size(codec.width, codec.height, max_pixels, source)
    if max_pixels is not None:
        # The decoder enforces a limit too, so that a stream whose size changes midway fails
        # instead of allocating a far larger frame. Twice the limit: decoders count their padded
        # size (multiples of 16 or 64), which may pass a limit the true size meets; FFmpeg's
        # option is a C int.
        decoder_limit = min(2 * max_pixels, _FFMPEG_INT_MAX)
        codec.options = {**codec.options, "max_pixels": str(decoder_limit)}
    # One decode thread per clip: parallelism comes from the data-loader workers.
    stream.thread_type = "SLICE"
    stream.thread_count = 1
    return stream


def count_frames(
    source: VideoSource,
    *,
    exact: bool = False,
    backend: str = "pyav",
    max_pixels: int | None = DEFAULT_MAX_FRAME_PIXELS,
) -> int:
    """Number of frames: the container's count, or a full decode when it is absent or `exact`.

    Frames larger than `max_pixels` raise FrameTooLarge before any is decoded.
    """
    if backend == "decord":
        return len(_decord_reader(source, max_pixels))
    _check_backend(backend)
    container = _open(source)
    try:
        stream = _video_stream(container, source, max_pixels)
        if stream.frames > 0 and not exact:
            return int(stream.frames)
        count = 0
        try:
            for _ in container.decode(stream):
                count += 1
        except av.FFmpegError as e:
            if count == 0:
                raise VideoDecodeError(f"cannot decode {describe_source(source)}: {e}") from e
            # A damaged tail: the frames before it are usable.
        if count == 0:
            raise VideoDecodeError(f"no decodable frames in {describe_source(source)}")
        return count
    finally:
        container.close()


def apply_display_matrix(image: np.ndarray, matrix: Sequence[int]) -> np.ndarray:
    """Turns a decoded [H, W, C] image upright per a 3×3 display matrix (FFmpeg's layout).

    The matrix maps a stored pixel (x, y) to its displayed place (a·x + c·y, b·x + d·y) with
    [a, b, u, c, d, v, ...] = matrix (y pointing down); only multiples of 90° (with mirrors)
    occur in phone videos, other matrices leave the image as stored.
    """
    a, b, _, c, d = (int(m) for m in matrix[:5])
    if a and d and not b and not c:
        out = image
        row_sign, col_sign = d, a  # displayed row from y, column from x
    elif b and c and not a and not d:
        out = np.swapaxes(image, 0, 1)
        row_sign, col_sign = b, c  # displayed row from x, column from y
    else:
        return image
    if row_sign < 0:
        out = out[::-1]
    if col_sign < 0:
        out = out[:, ::-1]
    return out


def _display_matrix(frame: av.VideoFrame) -> np.ndarray | None:
    """A decoded frame's display matrix (9 int32), None when absent or the identity."""
    side = frame.side_data.get(av.sidedata.sidedata.Type.DISPLAYMATRIX)
    if side is None:
        return None
    matrix = np.frombuffer(bytes(side), dtype=np.int32)
    return None if np.array_equal(matrix[:5], [1 << 16, 0, 0, 0, 1 << 16]) else matrix


def has_display_transform(
    source: VideoSource, max_pixels: int | None = DEFAULT_MAX_FRAME_PIXELS
) -> bool:
    """Whether the first frame carries a rotation or mirror (decodes that one frame)."""
    container = _open(source)
    try:
        stream = _video_stream(container, source, max_pixels)
        frame = next(container.decode(stream), None)
        return frame is not None and _display_matrix(frame) is not None
    except av.FFmpegError as e:
        raise VideoDecodeError(f"cannot decode {describe_source(source)}: {e}") from e
    finally:
        container.close()


def _upright(frame: av.VideoFrame) -> np.ndarray:
    """A decoded frame as RGB uint8, turned by its display matrix (phone videos' rotation)."""
    image = frame.to_ndarray(format="rgb24")
    matrix = _display_matrix(frame)
    if matrix is None:
        return image
    return np.ascontiguousarray(apply_display_matrix(image, matrix))


def frame_timestamps(source: VideoSource) -> list[int] | None:
    """Each frame's pts in display order, from a demux pass (no decoding); None if unknown."""
    container = _open(source)
    try:
        stream = _video_stream(container, source, max_pixels=None)  # demuxes, decodes nothing
        pts = []
        for packet in container.demux(stream):
            if packet.size == 0:
                continue  # the demuxer's end-of-stream flush packet
            if packet.pts is None:
                return None
            pts.append(int(packet.pts))
    except av.FFmpegError:
        return None  # a damaged file: decode sequentially, which reports where it fails
    finally:
        container.close()
    pts.sort()  # packets come in decode order; B-frames make it differ from display order
    if len(set(pts)) != len(pts):
        return None  # repeated timestamps cannot name a frame
    return pts


def pyav_decode(
    source: VideoSource,
    indices: Sequence[int],
    *,
    seek_gap: int = DEFAULT_SEEK_GAP,
    max_pixels: int | None = DEFAULT_MAX_FRAME_PIXELS,
) -> tuple[np.ndarray, int]:
    """Decodes frames `indices` with PyAV; returns them and how many frames were decoded.

    A jump of more than `seek_gap` frames seeks to the keyframe before the target. Frame
    indices are mapped to timestamps by a demux pass over the packets, not by the frame rate,
    so that variable-frame-rate videos seek to the right frame; every frame decoded after a
    seek is identified by its timestamp. Frames larger than `max_pixels` (by the stream header)
    raise FrameTooLarge before any is decoded.
    """
    indices = [int(i) for i in indices]
    if not indices:
        raise ValueError("no frame indices requested")
    if min(indices) < 0:
        raise ValueError(f"negative frame index in {indices}")
    wanted = sorted(set(indices))
    container = _open(source)
    try:
        stream = _video_stream(container, source, max_pixels)
        can_seek = seek_gap > 0
        timestamps: list[int] | None = None  # frame index → pts, built at the first seek
        index_of: dict[int, int] = {}
        start_pts = stream.start_time or 0
        got: dict[int, np.ndarray] = {}
        num_decoded = 0
        position = 0  # index of the next frame the decoder will return
        pointer = 0  # position in `wanted`
        frames = container.decode(stream)
        after_seek = False
        last_seek_target = -1
        try:
            while pointer < len(wanted):
                target = wanted[pointer]
                # One seek per target: the keyframe before it may still be more than seek_gap away.
                if can_seek and target - position > seek_gap and target != last_seek_target:
                    if timestamps is None:
                        timestamps = frame_timestamps(source)
                        if timestamps is None:
                            can_seek = False
                            continue
                        index_of = {pts: i for i, pts in enumerate(timestamps)}
                    if target >= len(timestamps):
                        raise FrameCountMismatch(
                            f"{describe_source(source)} has {len(timestamps)} frames; frame "
                            f"{target} was requested",
                            frames_seen=len(timestamps),
                        )
                    last_seek_target = target
                    container.seek(
                        timestamps[target], stream=stream, backward=True, any_frame=False
                    )
                    frames = container.decode(stream)
                    after_seek = True
                frame = next(frames, None)
                if frame is None:
                    raise FrameCountMismatch(
                        f"{describe_source(source)} ended after {position} frames; frame {target} "
                        "was requested",
                        frames_seen=position,
                    )
                num_decoded += 1
                if after_seek:
                    index = index_of.get(frame.pts, -1) if frame.pts is not None else -1
                    if index < 0 or index > target:
                        # The seek overshot (no keyframe before the target), or the frame's
                        # timestamp is not a packet's: decode from the start, counting frames.
                        container.seek(start_pts, stream=stream, backward=True, any_frame=False)
                        frames = container.decode(stream)
                        can_seek = False
                        after_seek = False
                        position = 0
                        continue
                else:
                    index = position
                position = index + 1
                if index == target:
                    got[index] = _upright(frame)
                    pointer += 1
        except av.FFmpegError as e:
            if num_decoded > 0:
                # Frames decoded fine up to a damaged tail: the stream is shorter than it claims.
                raise FrameCountMismatch(
                    f"{describe_source(source)} fails after frame {position - 1}: {e}",
                    frames_seen=position,
                ) from e
            raise VideoDecodeError(f"cannot decode {describe_source(source)}: {e}") from e
        return np.stack([got[i] for i in indices]), num_decoded
    finally:
        container.close()


def _check_backend(backend: str) -> None:
    """Refuses unknown backend names."""
    if backend not in ("pyav", "decord"):
        raise ValueError(f"unknown video backend {backend!r}; use 'pyav' or 'decord'")


def check_frame_size(
    source: VideoSource, max_pixels: int | None = DEFAULT_MAX_FRAME_PIXELS
) -> None:
    """Raises FrameTooLarge when the stream header gives frames above `max_pixels` (no decoding)."""
    if max_pixels is None:
        return
    container = _open(source)
    try:
        _video_stream(container, source, max_pixels)
    finally:
        container.close()


def _decord_reader(source: VideoSource, max_pixels: int | None = DEFAULT_MAX_FRAME_PIXELS):
    """A decord VideoReader for a path or bytes (decord is optional), after the frame size check."""
    try:
        import decord  # optional dependency, imported only when asked for
    except ImportError as e:
        raise ImportError("backend='decord' needs the decord package (pip install decord)") from e
    if not isinstance(source, bytes):
        check_regular_file(source)
    # decord has no size limit of its own: PyAV reads the header first.
    check_frame_size(source, max_pixels)
    try:
        data = io.BytesIO(source) if isinstance(source, bytes) else os.fspath(source)
        return decord.VideoReader(data, num_threads=1)
    except Exception as e:  # decord raises its own DECORDError and RuntimeError.
        raise VideoDecodeError(f"cannot open {describe_source(source)}: {e}") from e


def decode_frames(
    source: VideoSource,
    indices: Sequence[int],
    *,
    backend: str = "pyav",
    seek_gap: int = DEFAULT_SEEK_GAP,
    max_pixels: int | None = DEFAULT_MAX_FRAME_PIXELS,
) -> np.ndarray:
    """Decodes the frames at `indices` (any order, repeats allowed) to uint8 [T, H, W, 3].

    Frames larger than `max_pixels` (None: no limit) raise FrameTooLarge before any is decoded.
    """
    _check_backend(backend)
    # decord ignores rotation metadata (and fails on 90° turns): such clips go through PyAV.
    if backend == "decord" and not has_display_transform(source, max_pixels):
        reader = _decord_reader(source, max_pixels=None)  # has_display_transform checked it
        if max(indices) >= len(reader):
            raise FrameCountMismatch(
                f"{describe_source(source)} has {len(reader)} frames", frames_seen=len(reader)
            )
        return reader.get_batch(list(indices)).asnumpy()
    frames, _ = pyav_decode(source, indices, seek_gap=seek_gap, max_pixels=max_pixels)
    return frames
