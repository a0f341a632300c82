"""The Flax CLIP against transformers.CLIPModel holding the same random weights."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from conftest import random_token_ids, random_torch_clip
from safetensors.numpy import save_file

from alt_jax.models.clip import bicubic_resize_matrix, get_preset
from alt_jax.weights import CheckpointError, load_clip, read_safetensors


def torch_features(model, images: np.ndarray, ids: np.ndarray, interpolate: bool = False):
    """Reference features from transformers: image, text, dense tokens, logits per image."""
    pixels = torch.tensor(images).permute(0, 3, 1, 2)
    tokens = torch.tensor(ids)
    with torch.no_grad():
        image = model.get_image_features(
            pixel_values=pixels, interpolate_pos_encoding=interpolate
        ).pooler_output
        text = model.get_text_features(input_ids=tokens).pooler_output
        hidden = model.vision_model(
            pixel_values=pixels, interpolate_pos_encoding=interpolate
        ).last_hidden_state
        dense = model.visual_projection(model.vision_model.post_layernorm(hidden))
        logits = model(
            input_ids=tokens, pixel_values=pixels, interpolate_pos_encoding=interpolate
        ).logits_per_image
    return {
        k: v.numpy() for k, v in dict(image=image, text=text, dense=dense, logits=logits).items()
    }


def flax_features(model, images: np.ndarray, ids: np.ndarray):
    images, ids = jnp.asarray(images), jnp.asarray(ids, jnp.int32)
    return {
        "image": model.encode_image(images),
        "text": model.encode_text(ids),
        "dense": model.encode_image_dense(images),
        "logits": model(images, ids)[0],
    }


def relative_error(ours, ref) -> float:
    """max |diff| over the largest feature norm (logits: over the largest |logit|)."""
    ours = np.asarray(ours, np.float32)
    scale = np.linalg.norm(ref, axis=-1).max() if ref.ndim > 1 else np.abs(ref).max()
    return float(np.abs(ours - ref).max() / scale)


def inputs(preset: str, seed: int = 0, batch: int = 2):
    size = get_preset(preset).vision.image_size
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, size, size, 3)).astype(np.float32), random_token_ids(rng, 3)


@pytest.mark.parametrize("preset", ["tiny", "B/32", "B/16"])
def test_parity_safetensors(saved_clip, preset):
    torch_model, folder = saved_clip(preset)
    images, ids = inputs(preset)
    ref = torch_features(torch_model, images, ids)
    ours = flax_features(load_clip(folder), images, ids)
    for name in ref:
        assert ours[name].shape == ref[name].shape, name
        assert relative_error(ours[name], ref[name]) <= 1e-4, name


@pytest.mark.parametrize("preset", ["tiny", "B/16"])
def test_parity_bfloat16_compute(saved_clip, preset):
    torch_model, folder = saved_clip(preset)
    images, ids = inputs(preset, seed=1)
    ref = torch_features(torch_model, images, ids)
    model = load_clip(folder, dtype=jnp.bfloat16)
    ours = flax_features(model, images, ids)
    assert model.vision_model.encoder.layers[0].mlp.fc1.kernel[...].dtype == jnp.float32
    for name in ("image", "text", "dense"):
        assert relative_error(ours[name], ref[name]) <= 2e-2, name


def test_parity_pytorch_bin(tmp_path):
    torch_model = random_torch_clip("tiny", seed=3)
    torch_model.config.save_pretrained(tmp_path)
    torch.save(torch_model.state_dict(), tmp_path / "pytorch_model.bin")
    images, ids = inputs("tiny", seed=2)
    ref = torch_features(torch_model, images, ids)
    ours = flax_features(load_clip(tmp_path), images, ids)
    for name in ref:
        assert relative_error(ours[name], ref[name]) <= 1e-4, name


def test_parity_in_memory_model():
    torch_model = random_torch_clip("tiny", seed=4)
    images, ids = inputs("tiny", seed=4)
    ref = torch_features(torch_model, images, ids)
    ours = flax_features(load_clip(torch_model), images, ids)
    for name in ref:
        assert relative_error(ours[name], ref[name]) <= 1e-4, name


def test_position_embedding_interpolation(saved_clip):
    torch_model, folder = saved_clip("tiny")
    rng = np.random.default_rng(5)
    images = rng.standard_normal((2, 48, 40, 3)).astype(np.float32)  # 6 × 5 patches vs 4 × 4
    ids = random_token_ids(rng, 2)
    ref = torch_features(torch_model, images, ids, interpolate=True)
    model = load_clip(folder)
    assert relative_error(model.encode_image(jnp.asarray(images)), ref["image"]) <= 1e-4
    assert relative_error(model.encode_image_dense(jnp.asarray(images)), ref["dense"]) <= 1e-4


@pytest.mark.parametrize("sizes", [(14, 24), (16, 7), (7, 7), (24, 14)])
def test_bicubic_matrix_matches_torch(sizes):
    n_in, n_out = sizes
    signal = np.random.default_rng(0).standard_normal(n_in)
    ref = torch.nn.functional.interpolate(
        torch.tensor(signal)[None, None, :, None].repeat(1, 1, 1, 2),
        size=(n_out, 2),
        mode="bicubic",
        align_corners=False,
    )
    np.testing.assert_allclose(
        bicubic_resize_matrix(n_in, n_out) @ signal, ref[0, 0, :, 0].numpy(), atol=1e-12
    )


def test_bf16_checkpoint_reads_without_torch(tmp_path):
    torch_model = random_torch_clip("tiny", seed=6).to(torch.bfloat16)
    torch_model.save_pretrained(tmp_path)
    tensors = read_safetensors(tmp_path / "model.safetensors")
    ref = torch_model.state_dict()
    for key in ("logit_scale", "vision_model.encoder.layers.1.mlp.fc2.weight"):
        np.testing.assert_array_equal(tensors[key], ref[key].float().numpy())


@pytest.mark.parametrize("preset", ["L/14", "L/14@336"])
def test_every_key_maps_at_real_shapes(preset, tmp_path):
    """All transformers keys of the big configs load, checked on zero-size-cost meta tensors."""
    from transformers import CLIPConfig, CLIPModel

    from alt_jax.weights import clip_from_tensors

    with torch.device("meta"):
        meta = CLIPModel(CLIPConfig(**get_preset(preset).to_transformers_dict()))
    shapes = {k: tuple(v.shape) for k, v in meta.state_dict().items()}
    # Stand-in tensors of the right shapes (broadcast views: no memory for the real sizes).
    tensors = {k: np.broadcast_to(np.float32(0), s) for k, s in shapes.items()}
    import jax
    from flax import nnx

    from alt_jax.models.clip import CLIP
    from alt_jax.weights import fill_state

    abstract = nnx.eval_shape(lambda: CLIP(get_preset(preset), rngs=nnx.Rngs(0)))
    _, abstract_state = nnx.split(abstract)
    filled = jax.eval_shape(lambda: fill_state(abstract_state, tensors))
    n_ours = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(filled))
    assert n_ours == sum(int(np.prod(s)) for s in shapes.values())
    del clip_from_tensors


def test_missing_and_unused_keys_are_named(saved_clip, tmp_path):
    _, folder = saved_clip("tiny")
    tensors = read_safetensors(folder / "model.safetensors")
    del tensors["text_model.encoder.layers.0.mlp.fc1.bias"]
    tensors["vision_model.extra_adapter.weight"] = np.zeros((3, 3), np.float32)
    save_file(tensors, tmp_path / "model.safetensors")
    (tmp_path / "config.json").write_text((folder / "config.json").read_text())
    with pytest.raises(CheckpointError) as err:
        load_clip(tmp_path)
    assert "text_model.encoder.layers.0.mlp.fc1.bias" in str(err.value)
    assert "vision_model.extra_adapter.weight" in str(err.value)


def test_shape_mismatch_names_parameter_and_shapes(saved_clip, tmp_path):
    _, folder = saved_clip("tiny")
    tensors = read_safetensors(folder / "model.safetensors")
    tensors["visual_projection.weight"] = np.zeros((16, 64), np.float32)
    save_file(tensors, tmp_path / "model.safetensors")
    (tmp_path / "config.json").write_text((folder / "config.json").read_text())
    with pytest.raises(CheckpointError, match=r"visual_projection\.weight.*\(16, 64\).*\(64, 32\)"):
        load_clip(tmp_path)


def test_offline_hub_id_says_how_to_pass_a_folder():
    with pytest.raises(OSError, match="local folder"):
        load_clip("openai/clip-vit-base-patch16")


def test_missing_folder_and_bad_source():
    with pytest.raises(FileNotFoundError, match="no-such-dir"):
        load_clip("./no-such-dir")
    with pytest.raises(TypeError, match="int"):
        load_clip(3)
