"""Videos stored as a sequence of encoded images (JPEG / PNG frames, as tensorflow-datasets'
`Video` feature keeps them): only the frames a clip samples are decoded.

Decoded with PIL, as tfds' own numpy decoding does (without OpenCV installed), and pixel for
pixel as TensorFlow's `decode_jpeg(dct_method="INTEGER_ACCURATE")` (tests/test_tfds_catalogue.py).
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Sequence

import numpy as np
from PIL import Image

from alt_jax.data import decode


@dataclasses.dataclass(frozen=True)
class EncodedFrames:
    """One video as its frames' encoded images, in order; `name` says where it came from."""

    images: Sequence[bytes]
    name: str = ""

    def __len__(self) -> int:
        return len(self.images)

    def __str__(self) -> str:
        return self.name or f"<{len(self.images)} encoded frames>"

    def decode(
        self, indices: Sequence[int], max_pixels: int | None = decode.DEFAULT_MAX_FRAME_PIXELS
    ) -> np.ndarray:
        """The frames at `indices` (any order, repeats allowed) as uint8 [T, H, W, 3].

        Each distinct frame is decoded once; a frame above `max_pixels` is refused from its
        header (FrameTooLarge) and an undecodable one raises VideoDecodeError, so a bad example
        is skipped like an unreadable video file.
        """
        if len(self.images) == 0:
            raise decode.VideoDecodeError(f"{self}: no frames")
        decoded: dict[int, np.ndarray] = {}
        for i in dict.fromkeys(int(i) for i in indices):
            if not 0 <= i < len(self.images):
                raise decode.VideoDecodeError(f"{self}: frame {i} of {len(self.images)} asked for")
            decoded[i] = self._decode_one(i, max_pixels)
        shapes = {frame.shape for frame in decoded.values()}
        if len(shapes) > 1:
            raise decode.VideoDecodeError(f"{self}: frames of different sizes {sorted(shapes)}")
        return np.stack([decoded[int(i)] for i in indices])

    def _decode_one(self, i: int, max_pixels: int | None) -> np.ndarray:
        try:
            image = Image.open(io.BytesIO(self.images[i]))
            width, height = image.size  # from the header, before decoding
            if max_pixels is not None and width * height > max_pixels:
                raise decode.FrameTooLarge(
                    f"{self}: frame {i} is {width}x{height}, above max_frame_pixels={max_pixels}"
                )
            return np.asarray(image.convert("RGB"))
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise decode.VideoDecodeError(f"{self}: frame {i} cannot be decoded: {e}") from e
