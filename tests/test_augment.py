"""Augmentation: one geometry for every frame, flip policy, crops against NumPy slicing."""

from __future__ import annotations

import numpy as np

from alt_jax.data import augment


def _ramp_clip(t: int = 4, h: int = 60, w: int = 80) -> np.ndarray:
    """Frames whose brightness rises left → right and top → bottom, identical across time."""
    yy, xx = np.mgrid[0:h, 0:w]
    frame = np.stack([xx * 3, yy * 4, (xx + yy) * 1.5], axis=-1).clip(0, 255).astype(np.uint8)
    return np.repeat(frame[None], t, axis=0)


def _is_mirrored(out: np.ndarray) -> bool:
    """Whether the red (x-ramp) channel falls left → right."""
    column_means = out[0, :, :, 0].mean(axis=0)
    return column_means[0] > column_means[-1]


def test_same_crop_and_flip_for_every_frame():
    clip = _ramp_clip()
    for seed in range(10):
        out = augment.train_augment(clip, np.random.default_rng(seed), 32, flip=True)
        assert out.shape == (4, 32, 32, 3) and out.dtype == np.uint8
        for t in range(1, 4):
            np.testing.assert_array_equal(out[t], out[0])


def test_crop_box_differs_across_draws_and_stays_inside():
    boxes = {augment.random_resized_crop_box(60, 80, np.random.default_rng(s)) for s in range(20)}
    assert len(boxes) > 15
    for top, left, h, w in boxes:
        assert 0 <= top and top + h <= 60 and 0 <= left and left + w <= 80
        assert 0.08 * 60 * 80 * 0.9 <= h * w <= 60 * 80


def test_flip_policy():
    clip = _ramp_clip()
    mirrored = [
        _is_mirrored(augment.train_augment(clip, np.random.default_rng(s), 32, flip=True))
        for s in range(30)
    ]
    assert any(mirrored) and not all(mirrored)
    flip = augment.flip_allowed("ssv2")
    assert not flip and not augment.flip_allowed("synthetic") and augment.flip_allowed("k400")
    never = [
        _is_mirrored(augment.train_augment(clip, np.random.default_rng(s), 32, flip=flip))
        for s in range(30)
    ]
    assert not any(never)


def test_center_and_three_crop_are_numpy_slices():
    clip = np.random.default_rng(0).integers(0, 256, (2, 40, 70, 3), dtype=np.uint8)
    np.testing.assert_array_equal(augment.center_crop(clip, 40), clip[:, :, 15:55])
    three = augment.three_crop(clip, 40)
    assert three.shape == (3, 2, 40, 40, 3)
    for view, left in zip(three, (0, 15, 30), strict=True):
        np.testing.assert_array_equal(view, clip[:, :, left : left + 40])
    tall = clip.transpose(0, 2, 1, 3)
    for view, top in zip(augment.three_crop(tall, 40), (0, 15, 30), strict=True):
        np.testing.assert_array_equal(view, tall[:, top : top + 40])


def test_resize_short_side_keeps_aspect():
    clip = np.zeros((1, 48, 64, 3), np.uint8)
    assert augment.resize_short_side(clip, 24).shape == (1, 24, 32, 3)
    assert augment.resize_short_side(clip.transpose(0, 2, 1, 3), 24).shape == (1, 32, 24, 3)
    views = augment.eval_views(clip, 24, num_crops=3)
    assert views.shape == (3, 1, 24, 24, 3)


def test_an_exported_image_processor_gives_the_evaluation_pixels(bikes_video, tmp_path):
    """transformers' CLIPImageProcessor from the preprocessor_config.json an export carries
    (PIL backend) turns a real clip's frames into the pixels the evaluation pipeline gives
    (short side resized bilinearly, centre crop, CLIP normalisation), to float32 rounding."""
    import av
    from transformers import AutoImageProcessor

    from alt_jax.tokenizer import save_image_processor_config

    with av.open(bikes_video) as container:  # 640×272: both the resize and the crop matter
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(3), container.decode(video=0))]
    frames = np.stack(frames)
    save_image_processor_config(tmp_path, 224)
    processor = AutoImageProcessor.from_pretrained(tmp_path, backend="pil")
    theirs = processor(list(frames), return_tensors="np")["pixel_values"].transpose(0, 2, 3, 1)
    mean = np.array([0.48145466, 0.4578275, 0.40821073])
    std = np.array([0.26862954, 0.26130258, 0.27577711])
    ours = (augment.eval_views(frames, 224)[0] / 255.0 - mean) / std
    assert theirs.shape == ours.shape == (3, 224, 224, 3)
    np.testing.assert_allclose(theirs, ours, atol=1e-5)
