"""The video processor of the exports (both heads): a video file or uint8 frames → the CLIP-
normalised views `alt_jax.predict` classifies, for `AutoProcessor`, `AutoVideoProcessor` and
transformers' video-classification pipeline.

It does what the JAX evaluation does (`alt_jax.data.samples.load_eval_sample`, `augment.
eval_views`, `normalize.normalize_clip`): decode with PyAV (frames turned upright by the
stream's display matrix), take `num_clips` clips of `num_frames` frames (segment sampling: clip c
takes offset (c + 0.5) / num_clips inside each of the T equal segments; with `frame_stride` > 0
dense sampling, clips spread from the first to the last frame), resize each frame's short side to
`image_size` with PIL's bilinear filter, take the centre crop (or three crops along the longer
side), and normalise with CLIP's mean and standard deviation.

This file is copied into every export folder (transformers remote code), so it imports only
numpy, PIL, PyAV and transformers (no torch, no alt_jax, no torchvision: transformers' own video
processors need torchvision and decode with torchcodec, neither of which alt-jax installs).
"""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np
from PIL import Image
from transformers.feature_extraction_utils import BatchFeature
from transformers.processing_utils import VideosKwargs
from transformers.video_processing_utils import VideoProcessorMixin

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
# alt_jax.data.decode.DEFAULT_MAX_FRAME_PIXELS: larger frames are refused from the header.
DEFAULT_MAX_FRAME_PIXELS = 4096 * 4096
PROCESSOR_NAME = "ALTVideoProcessor"


class ALTVideosKwargs(VideosKwargs, total=False):
    """The keyword arguments `ALTVideoProcessor` takes beyond transformers' video ones."""

    image_size: int | None
    num_clips: int | None
    num_crops: int | None
    frame_stride: int | None
    max_frame_pixels: int | None


# -- frame sampling (alt_jax.data.sampling) ---------------------------------------------------


def uniform_cover(count: int, num_frames: int) -> np.ndarray:
    """T indices spread over the whole video, repeating frames when it is short."""
    return np.floor((np.arange(num_frames) + 0.5) * count / num_frames).astype(np.int64)


def eval_indices(count: int, num_frames: int, num_clips: int, stride: int = 0) -> np.ndarray:
    """[num_clips, T] frame indices of a `count`-frame video: segment sampling, or dense sampling
    with `stride` > 0 (`alt_jax.data.sampling.eval_indices`)."""
    if count < 1 or num_frames < 1 or num_clips < 1:
        raise ValueError(f"{count} frames, num_frames={num_frames}, num_clips={num_clips}")
    if not stride:
        offsets = (np.arange(num_clips)[:, None] + 0.5) / num_clips
        idx = np.floor((np.arange(num_frames)[None, :] + offsets) * count / num_frames)
        return np.clip(idx.astype(np.int64), 0, count - 1)
    span = (num_frames - 1) * stride + 1
    if span > count:
        return np.tile(uniform_cover(count, num_frames), (num_clips, 1))
    room = count - span
    if num_clips == 1:
        starts = np.array([room // 2])
    else:
        starts = np.round(np.linspace(0, room, num_clips)).astype(np.int64)
    return starts[:, None] + stride * np.arange(num_frames, dtype=np.int64)[None, :]


# -- decoding (alt_jax.data.decode) -----------------------------------------------------------


class VideoDecodeError(RuntimeError):
    """A video that cannot be opened, has no video stream, or too large frames."""


def upright(image: np.ndarray, matrix: np.ndarray | None) -> np.ndarray:
    """A decoded [H, W, 3] frame turned by its 3×3 display matrix (multiples of 90°, mirrors)."""
    if matrix is None:
        return image
    a, b, _, c, d = (int(m) for m in matrix[:5])
    if a and d and not b and not c:
        out, row_sign, col_sign = image, d, a
    elif b and c and not a and not d:
        out, row_sign, col_sign = np.swapaxes(image, 0, 1), b, c
    else:
        return image
    out = out[::-1] if row_sign < 0 else out
    out = out[:, ::-1] if col_sign < 0 else out
    return np.ascontiguousarray(out)


def display_matrix(frame: Any) -> np.ndarray | None:
    """A decoded PyAV frame's display matrix (9 int32), None when absent or the identity."""
    import av

    side = frame.side_data.get(av.sidedata.sidedata.Type.DISPLAYMATRIX)
    if side is None:
        return None
    matrix = np.frombuffer(bytes(side), dtype=np.int32)
    return None if np.array_equal(matrix[:5], [1 << 16, 0, 0, 0, 1 << 16]) else matrix


def describe(source: str | os.PathLike | bytes) -> str:
    """A video source's name in messages (its path, or its size)."""
    return f"<{len(source)} bytes>" if isinstance(source, bytes) else os.fspath(source)


def open_video(source: str | os.PathLike | bytes, max_pixels: int | None) -> tuple[Any, Any]:
    """(container, first video stream) of a file or a whole file's bytes, refusing frames above
    `max_pixels` from the header."""
    import av

    try:
        data = io.BytesIO(source) if isinstance(source, bytes) else os.fspath(source)
        container = av.open(data, mode="r")
    except (av.FFmpegError, OSError, ValueError) as e:
        raise VideoDecodeError(f"cannot open {describe(source)}: {e}") from e
    if not container.streams.video:
        container.close()
        raise VideoDecodeError(f"no video stream in {describe(source)}")
    stream = container.streams.video[0]
    width, height = stream.codec_context.width, stream.codec_context.height
    if max_pixels is not None and width * height > max_pixels:
        container.close()
        raise VideoDecodeError(
            f"{describe(source)}: frames are {width}×{height}, more than max_frame_pixels="
            f"{max_pixels}"
        )
    # As alt_jax decodes: one slice thread (the decoded frames do not depend on it).
    stream.thread_type = "SLICE"
    stream.thread_count = 1
    return container, stream


def count_frames(
    source: str | os.PathLike | bytes, max_pixels: int | None, exact: bool = False
) -> int:
    """The container's frame count, or a full decode's when it has none or `exact`."""
    container, stream = open_video(source, max_pixels)
    try:
        if stream.frames > 0 and not exact:
            return int(stream.frames)
        return sum(1 for _ in container.decode(stream))
    finally:
        container.close()


def decode_frames(
    source: str | os.PathLike | bytes, indices: np.ndarray, max_pixels: int | None
) -> np.ndarray | None:
    """uint8 [len(indices), H, W, 3] RGB frames at `indices` (any order, repeats allowed),
    decoded in order from the start; None when the stream ends before the last one."""
    wanted = set(int(i) for i in indices)
    last = max(wanted)
    got: dict[int, np.ndarray] = {}
    container, stream = open_video(source, max_pixels)
    try:
        for i, frame in enumerate(container.decode(stream)):
            if i in wanted:
                got[i] = upright(frame.to_ndarray(format="rgb24"), display_matrix(frame))
            if i >= last:
                break
    finally:
        container.close()
    if last not in got:
        return None
    return np.stack([got[int(i)] for i in indices])


def read_clips(
    source: str | os.PathLike | bytes,
    num_frames: int,
    num_clips: int,
    stride: int,
    max_pixels: int | None,
) -> np.ndarray:
    """uint8 [num_clips, T, H, W, 3] of a video file, sampled as the JAX evaluation samples."""
    count = count_frames(source, max_pixels)
    indices = eval_indices(count, num_frames, num_clips, stride)
    frames = decode_frames(source, indices.reshape(-1), max_pixels)
    if frames is None:  # the header's frame count lied: count by decoding, as alt_jax does
        count = count_frames(source, max_pixels, exact=True)
        if count < 1:
            raise VideoDecodeError(f"no decodable frames in {describe(source)}")
        indices = eval_indices(count, num_frames, num_clips, stride)
        frames = decode_frames(source, indices.reshape(-1), max_pixels)
    return frames.reshape(*indices.shape, *frames.shape[1:])


# -- spatial views (alt_jax.data.augment) -----------------------------------------------------


def short_side_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """(h, w) after scaling so that the shorter side equals `size`."""
    if height <= width:
        return size, max(size, int(round(width * size / height)))
    return max(size, int(round(height * size / width))), size


def resize_short_side(frames: np.ndarray, size: int) -> np.ndarray:
    """uint8 [T, H, W, 3] with the shorter side resized to `size` (PIL bilinear, the filter of
    training and evaluation)."""
    height, width = short_side_shape(frames.shape[1], frames.shape[2], size)
    if (height, width) == frames.shape[1:3]:
        return frames
    box = (0, 0, frames.shape[2], frames.shape[1])
    return np.stack(
        [
            np.asarray(Image.fromarray(f).resize((width, height), Image.BILINEAR, box=box))
            for f in frames
        ]
    )


def spatial_views(frames: np.ndarray, size: int, num_crops: int) -> np.ndarray:
    """[num_crops, T, S, S, 3]: the short side resized to S, then the centre crop (1) or the
    start, centre and end crops along the longer side (3)."""
    frames = resize_short_side(frames, size)
    height, width = frames.shape[1:3]
    top, left = (height - size) // 2, (width - size) // 2
    if num_crops == 1:
        corners = [(top, left)]
    elif num_crops == 3 and width >= height:
        corners = [(top, 0), (top, left), (top, width - size)]
    elif num_crops == 3:
        corners = [(0, left), (top, left), (height - size, left)]
    else:
        raise ValueError(f"num_crops must be 1 or 3, got {num_crops}")
    return np.stack([frames[:, t : t + size, c : c + size] for t, c in corners])


def normalize(views: np.ndarray) -> np.ndarray:
    """uint8 [..., H, W, 3] → float32 [..., 3, H, W], (x / 255 − CLIP mean) / CLIP std."""
    x = views.astype(np.float32) / np.float32(255.0)
    x = (x - np.asarray(CLIP_MEAN, np.float32)) / np.asarray(CLIP_STD, np.float32)
    return np.ascontiguousarray(np.moveaxis(x, -1, -3))


# -- the processor ----------------------------------------------------------------------------


def as_frames(video: Any) -> np.ndarray:
    """A video given as frames (a uint8 [T, H, W, 3] array or tensor, or a list of [H, W, 3]
    frames or PIL images) as a uint8 [T, H, W, 3] array."""
    if isinstance(video, (list, tuple)):
        video = np.stack(
            [np.asarray(f.convert("RGB") if hasattr(f, "convert") else f) for f in video]
        )
    array = np.asarray(video.cpu() if hasattr(video, "cpu") else video)
    if array.ndim != 4 or array.shape[-1] != 3 or array.dtype != np.uint8:
        raise ValueError(
            f"a video is a file path or uint8 RGB frames [T, H, W, 3]; got {array.dtype} "
            f"{tuple(array.shape)}"
        )
    return array


def is_one_video(videos: Any) -> bool:
    """Whether `videos` is one video (a path, a file's bytes, a [T, H, W, 3] array, a list of
    frames) rather than a batch of them."""
    if isinstance(videos, (str, os.PathLike, bytes)):
        return True
    if isinstance(videos, (list, tuple)):
        return len(videos) > 0 and (
            hasattr(videos[0], "convert") or getattr(videos[0], "ndim", 0) == 3
        )
    return getattr(videos, "ndim", 0) == 4


class ALTVideoProcessor(VideoProcessorMixin):
    """Video file(s) or uint8 frames → `pixel_values`, exactly as `alt_jax.predict` prepares
    them: [B, T, 3, S, S] with one view per video, [B, V, T, 3, S, S] with V = num_clips ×
    num_crops views (clip-major), which the exported model averages (softmax over views)."""

    model_input_names = ["pixel_values"]
    valid_kwargs = ALTVideosKwargs
    # Class defaults, so that to_dict keeps an explicit None (max_frame_pixels: no limit).
    image_size, num_frames, num_clips, num_crops, frame_stride = 224, 8, 1, 1, 0
    max_frame_pixels = DEFAULT_MAX_FRAME_PIXELS

    def __init__(
        self,
        image_size: int = 224,
        num_frames: int = 8,
        num_clips: int = 1,
        num_crops: int = 1,
        frame_stride: int = 0,
        max_frame_pixels: int | None = DEFAULT_MAX_FRAME_PIXELS,
        image_mean: tuple[float, ...] = CLIP_MEAN,
        image_std: tuple[float, ...] = CLIP_STD,
        **kwargs: Any,
    ) -> None:
        """The run's evaluation settings (the export writes those of its first evaluation set)."""
        super().__init__(**kwargs)
        self.image_size = int(image_size)
        self.num_frames = int(num_frames)
        self.num_clips = int(num_clips)
        self.num_crops = int(num_crops)
        self.frame_stride = int(frame_stride or 0)
        self.max_frame_pixels = max_frame_pixels
        if tuple(image_mean) != CLIP_MEAN or tuple(image_std) != CLIP_STD:
            raise ValueError("the model was trained on CLIP's mean and std; they cannot change")
        self.image_mean, self.image_std = list(CLIP_MEAN), list(CLIP_STD)
        self.resample = 2  # PIL bilinear, recorded for readers of the JSON (it is not a knob)
        if self.num_crops not in (1, 3) or min(self.num_frames, self.num_clips) < 1:
            raise ValueError(
                f"num_frames and num_clips must be >= 1 and num_crops 1 or 3; got "
                f"{self.num_frames}, {self.num_clips}, {self.num_crops}"
            )

    def __call__(self, videos: Any, **kwargs: Any) -> BatchFeature:
        """`preprocess(videos, **kwargs)`."""
        return self.preprocess(videos, **kwargs)

    def views(
        self,
        video: Any,
        num_frames: int,
        num_clips: int,
        num_crops: int,
        do_sample_frames: bool = True,
    ) -> np.ndarray:
        """One video → uint8 views [num_clips × num_crops, T, S, S, 3] (clip-major)."""
        if isinstance(video, (str, os.PathLike, bytes)):
            clips = read_clips(
                video, num_frames, num_clips, self.frame_stride, self.max_frame_pixels
            )
        elif do_sample_frames:
            frames = as_frames(video)
            indices = eval_indices(len(frames), num_frames, num_clips, self.frame_stride)
            clips = frames[indices]
        else:  # the frames are the clip
            clips = as_frames(video)[None]
        return np.concatenate([spatial_views(c, self.image_size, num_crops) for c in clips])

    def preprocess(
        self,
        videos: Any,
        num_frames: int | None = None,
        num_clips: int | None = None,
        num_crops: int | None = None,
        do_sample_frames: bool | None = True,
        return_tensors: str | None = None,
        **kwargs: Any,
    ) -> BatchFeature:
        """videos: a path (or a file's bytes), uint8 frames [T, H, W, 3] (or a list of frames),
        or a list of those →
        BatchFeature {"pixel_values": float32 [B, T, 3, S, S] or, with several views,
        [B, V, T, 3, S, S]}. `num_frames`, `num_clips`, `num_crops` override the processor's;
        `do_sample_frames=False` takes given frames as the clip. The video-classification pipeline
        passes `num_frames` (the model's) and `do_sample_frames=True`."""
        unknown = sorted(k for k, v in kwargs.items() if v is not None)
        if unknown:
            raise TypeError(f"{type(self).__name__} does not take {unknown}")
        num_frames = int(num_frames or self.num_frames)
        num_clips = int(num_clips or self.num_clips)
        num_crops = int(num_crops or self.num_crops)
        sample = do_sample_frames is not False
        batch = [videos] if is_one_video(videos) else list(videos)
        pixels = np.stack(
            [normalize(self.views(v, num_frames, num_clips, num_crops, sample)) for v in batch]
        )
        if pixels.shape[1] == 1:  # one view per video: the plain [B, T, 3, S, S] clip
            pixels = pixels[:, 0]
        return BatchFeature(data={"pixel_values": pixels}, tensor_type=return_tensors)

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs: Any) -> list[str]:
        """Writes video_preprocessor_config.json; with the class registered for auto classes
        (as it is on import), also this file, and an auto_map naming it for AutoVideoProcessor
        and AutoProcessor (so both load it with trust_remote_code=True)."""
        if self._auto_class is not None:
            module = type(self).__module__.rpartition(".")[2]
            self.auto_map = {"AutoProcessor": f"{module}.{type(self).__name__}"}
        return super().save_pretrained(save_directory, **kwargs)


# save_pretrained copies this file into the folder and names the class in auto_map.
ALTVideoProcessor.register_for_auto_class("AutoVideoProcessor")
