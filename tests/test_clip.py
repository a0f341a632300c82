"""The Flax CLIP against transformers.CLIPModel holding the same random weights."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from conftest import random_token_ids, random_torch_clip
from safetensors.numpy import save_file

from alt_jax.models.clip import bicubic_resize_matrix
from alt_jax.models.clip_config import get_preset
from alt_jax.weights import CheckpointError, load_clip, read_safetensors, save_clip


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


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["tiny", "B/32", "B/16"])
def test_parity_safetensors(saved_clip, preset):
    torch_model, folder = saved_clip(preset)
    images, ids = inputs(preset)
    ref = torch_features(torch_model, images, ids)
    ours = flax_features(load_clip(folder), images, ids)
    for name in ref:
        assert ours[name].shape == ref[name].shape, name
        assert relative_error(ours[name], ref[name]) <= 1e-4, name


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


def rewrite_header(path, edit) -> None:
    """Rewrites a .safetensors file's JSON header with `edit(header)`, keeping its data bytes
    (the format: 8-byte little-endian header length, JSON header, data)."""
    import json
    import struct

    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    edit(header)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)  # the format pads the header with spaces to 8 bytes
    path.write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + length :])


def copy_checkpoint(folder, to):
    """A copy of a CLIP folder's config.json and model.safetensors in `to`."""
    to.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "model.safetensors"):
        (to / name).write_bytes((folder / name).read_bytes())
    return to


def test_a_retyped_tensor_is_refused_naming_it_and_both_dtypes(saved_clip, tmp_path):
    """An F32 tensor whose header says I32 has the same size: it must not load as garbage."""
    from safetensors.numpy import load_file

    _, folder = saved_clip("tiny")
    copy_checkpoint(folder, tmp_path)
    key = "vision_model.encoder.layers.0.mlp.fc1.weight"
    rewrite_header(tmp_path / "model.safetensors", lambda h: h[key].update(dtype="I32"))
    assert load_file(tmp_path / "model.safetensors")[key].dtype == np.int32  # a valid file
    with pytest.raises(CheckpointError, match=rf"{key}: checkpoint dtype int32, .*float32"):
        load_clip(tmp_path)


@pytest.mark.parametrize("length", [2**62, "file size", 200 * 2**20])
def test_a_bad_header_length_is_refused_naming_the_file(saved_clip, tmp_path, length):
    """A length past the file's end, or past 100 MB in a file that big, is no safetensors file;
    reading it must not try to allocate it."""
    import struct

    _, folder = saved_clip("tiny")
    path = copy_checkpoint(folder, tmp_path) / "model.safetensors"
    raw = path.read_bytes()
    size = len(raw) if length == "file size" else length  # one byte more than follows it
    path.write_bytes(struct.pack("<Q", size) + raw[8:])
    if length == 200 * 2**20:
        with open(path, "r+b") as f:
            f.truncate(300 * 2**20)  # sparse: the length fits the file, not the 100 MB bound
    with pytest.raises(CheckpointError, match=f"{path}: not a valid safetensors file"):
        read_safetensors(path)
    with pytest.raises(CheckpointError, match=str(path)):
        load_clip(tmp_path)


def test_data_offsets_that_do_not_fit_the_tensor_are_refused(saved_clip, tmp_path):
    _, folder = saved_clip("tiny")
    path = copy_checkpoint(folder, tmp_path) / "model.safetensors"
    rewrite_header(path, lambda h: h["logit_scale"].update(data_offsets=[0, 2**40]))
    with pytest.raises(CheckpointError, match=rf"{path}: tensor 'logit_scale': bad shape"):
        read_safetensors(path)
    rewrite_header(path, lambda h: h["logit_scale"].update(shape=[3], data_offsets=[0, 4]))
    with pytest.raises(CheckpointError, match=r"'logit_scale': F32 \(3,\) needs 12 bytes.* 4"):
        read_safetensors(path)


def write_shards(tensors: dict, folder, names=("a.safetensors", "b.safetensors")) -> dict:
    """Splits `tensors` over two shard files in `folder`; returns the index's weight_map."""
    keys = sorted(tensors)
    halves = (keys[: len(keys) // 2], keys[len(keys) // 2 :])
    weight_map = {}
    for name, part in zip(names, halves, strict=True):
        save_file({k: tensors[k] for k in part}, folder / name)
        weight_map.update(dict.fromkeys(part, name))
    return weight_map


def write_index(folder, weight_map: dict) -> None:
    import json

    index = {"metadata": {}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))


@pytest.mark.slow
def test_sharded_checkpoint_loads_also_from_a_hub_snapshot(saved_clip, tmp_path):
    """Shards load; a hub cache's snapshot folder, whose files are symlinks into the
    repository's blobs/, loads the same."""
    import os

    model, folder = saved_clip("tiny")
    tensors = read_safetensors(folder / "model.safetensors")
    config = (folder / "config.json").read_text()
    plain = tmp_path / "plain"
    plain.mkdir()
    write_index(plain, write_shards(tensors, plain))
    (plain / "config.json").write_text(config)
    repo = tmp_path / "hub" / "models--someone--clip"
    snapshot, blobs = repo / "snapshots" / "0123abc", repo / "blobs"
    snapshot.mkdir(parents=True)
    blobs.mkdir()
    for i, name in enumerate(sorted(p.name for p in plain.iterdir())):
        (blobs / f"blob{i}").write_bytes((plain / name).read_bytes())
        os.symlink(f"../../blobs/blob{i}", snapshot / name)
    images, ids = inputs("tiny")
    want = torch_features(model, images, ids)["image"]
    for where in (plain, snapshot):
        got = flax_features(load_clip(where), images, ids)["image"]
        assert relative_error(got, want) < 1e-5


@pytest.mark.parametrize("escape", ["parent", "absolute", "symlink"])
def test_a_shard_index_leading_outside_the_folder_is_refused(saved_clip, tmp_path, escape):
    """weight_map entries are files of the checkpoint folder: '../..', an absolute path or a
    symlink out is refused, naming the index and the entry, even though the file is valid."""
    import os

    _, folder = saved_clip("tiny")
    tensors = read_safetensors(folder / "model.safetensors")
    outside, ckpt = tmp_path / "outside", tmp_path / "deep" / "ckpt"
    outside.mkdir()
    ckpt.mkdir(parents=True)
    (ckpt / "config.json").write_text((folder / "config.json").read_text())
    weight_map = write_shards(tensors, ckpt)
    (ckpt / "b.safetensors").rename(outside / "b.safetensors")  # a valid shard, elsewhere
    entry = {
        "parent": "../../outside/b.safetensors",
        "absolute": str(outside / "b.safetensors"),
        "symlink": "b.safetensors",
    }[escape]
    if escape == "symlink":
        os.symlink(outside / "b.safetensors", ckpt / "b.safetensors")
    weight_map = {k: entry if v == "b.safetensors" else v for k, v in weight_map.items()}
    write_index(ckpt, weight_map)
    first = next(k for k, v in sorted(weight_map.items()) if v == entry)
    index = ckpt / "model.safetensors.index.json"
    with pytest.raises(CheckpointError) as err:
        load_clip(ckpt)
    message = str(err.value)
    assert str(index) in message and repr(first) in message and repr(entry) in message
    assert "outside the checkpoint folder" in message


def test_offline_hub_id_says_how_to_download_it_and_pass_a_folder():
    with pytest.raises(OSError, match=r"hf download openai/clip-vit-base-patch16.*folder"):
        load_clip("openai/clip-vit-base-patch16")


def test_missing_folder_and_bad_source():
    with pytest.raises(FileNotFoundError, match="no-such-dir"):
        load_clip("./no-such-dir")
    with pytest.raises(TypeError, match="int"):
        load_clip(3)


# ---------------------------------------------------------------------------------------------
# Token merging inside the vision tower, against a PyTorch loop over transformers' own layers.


def _torch_bipartite_merge(x, size, metric, r):
    """ToMe's bipartite soft matching written plainly (one item, loops), class token at 0."""
    metric = metric / metric.norm(dim=-1, keepdim=True)
    a_idx, b_idx = list(range(0, x.shape[0], 2)), list(range(1, x.shape[0], 2))
    scores = metric[a_idx] @ metric[b_idx].T
    scores[0] = -float("inf")
    best, partner = scores.max(dim=-1)
    order = sorted(range(len(a_idx)), key=lambda i: (-best[i].item(), i))
    merged = set(order[:r])
    sums = {j: (x[b_idx[j]] * size[b_idx[j]], size[b_idx[j]].clone()) for j in range(len(b_idx))}
    for i in merged:
        j = partner[i].item()
        sums[j] = (sums[j][0] + x[a_idx[i]] * size[a_idx[i]], sums[j][1] + size[a_idx[i]])
    kept = [i for i in range(len(a_idx)) if i not in merged]
    new_x = [x[a_idx[i]] for i in kept] + [sums[j][0] / sums[j][1] for j in range(len(b_idx))]
    new_size = [size[a_idx[i]] for i in kept] + [sums[j][1] for j in range(len(b_idx))]
    return torch.stack(new_x), torch.stack(new_size)


def torch_tome_image_tokens(model, images: np.ndarray, schedule, prop_attn: bool = True):
    """Last block's tokens of transformers' vision tower with ToMe inserted between the halves."""
    vision = model.vision_model
    out = []
    with torch.no_grad():
        pixels = torch.tensor(images).permute(0, 3, 1, 2)
        for item in vision.pre_layrnorm(vision.embeddings(pixels)):
            x, size = item, torch.ones(item.shape[0], 1)
            for layer, r in zip(vision.encoder.layers, schedule, strict=True):
                attn = layer.self_attn
                h = layer.layer_norm1(x)
                n, d = h.shape
                heads = attn.num_heads
                q = attn.q_proj(h).view(n, heads, -1).transpose(0, 1)
                k = attn.k_proj(h).view(n, heads, -1).transpose(0, 1)
                v = attn.v_proj(h).view(n, heads, -1).transpose(0, 1)
                logits = q @ k.transpose(1, 2) * attn.scale
                if prop_attn:
                    logits = logits + size.log()[:, 0][None, None, :]
                x = x + attn.out_proj((logits.softmax(-1) @ v).transpose(0, 1).reshape(n, d))
                if r:
                    x, size = _torch_bipartite_merge(x, size, k.mean(0), r)
                x = x + layer.mlp(layer.layer_norm2(x))
            out.append(x)
    return torch.stack(out).numpy()


@pytest.mark.slow
@pytest.mark.parametrize("tome_r", [2, [3, 1], (2, -1.0)])
@pytest.mark.parametrize("prop_attn", [True, False])
def test_tome_tower_matches_torch_reference(saved_clip, tome_r, prop_attn):
    from alt_jax.models import tome

    torch_model, folder = saved_clip("tiny")
    images, _ = inputs("tiny", seed=7, batch=3)
    model = load_clip(folder, tome_r=tome_r, prop_attn=prop_attn)
    schedule = tome.parse_r_schedule(tome_r, 2, 17)
    ref = torch_tome_image_tokens(torch_model, images, schedule, prop_attn)
    ours = model.vision_model(jnp.asarray(images))
    assert ours.shape == ref.shape == (3, 17 - sum(schedule), 64)
    assert relative_error(ours, ref) <= 1e-4


@pytest.mark.slow
def test_tome_r0_matches_transformers_vision_tower(saved_clip):
    """tome_r=0 through the merging code path gives transformers' dense vision outputs."""
    from transformers import CLIPVisionModelWithProjection

    _, folder = saved_clip("B/16")
    images, _ = inputs("B/16", seed=8, batch=2)
    pixels = torch.tensor(images).permute(0, 3, 1, 2)
    # Read from the folder by transformers' own vision class, apart from the fixture's CLIPModel.
    tower = CLIPVisionModelWithProjection.from_pretrained(folder).eval()
    with torch.no_grad():
        plain = tower.vision_model(pixel_values=pixels)
        projected = tower(pixel_values=pixels)
        dense = tower.visual_projection(tower.vision_model.post_layernorm(plain.last_hidden_state))
    model = load_clip(folder, tome_r=0)
    x = jnp.asarray(images)
    regions = model.encode_image_regions(x)
    hidden = model.vision_model(x)
    checks = {
        "last_hidden_state": (hidden, plain.last_hidden_state),
        "pooler_output": (model.vision_model.post_layernorm(hidden[:, 0]), plain.pooler_output),
        "image_embeds": (model.encode_image(x), projected.image_embeds),
        "dense": (model.encode_image_dense(x), dense),
        "region_tokens": (regions["tokens"], dense),
    }
    for name, (ours, ref) in checks.items():
        assert ours.shape == tuple(ref.shape), name
        assert relative_error(ours, ref.numpy()) <= 1e-4, name
    # No merging: every token is its own region of size 1.
    np.testing.assert_array_equal(np.asarray(regions["dest"]), np.tile(np.arange(197), (2, 1)))
    np.testing.assert_array_equal(np.asarray(regions["size"]), 1.0)


# 197 tokens, 12 layers: N − L·r, except where the per-layer cap (n − 1) // 2 binds: for r = 16
# layer 12 sees 21 tokens and merges 10.
@pytest.mark.slow
@pytest.mark.parametrize("r, expected", [(4, 197 - 12 * 4), (13, 197 - 12 * 13), (16, 11)])
def test_tome_token_count_b16(r, expected):
    """Tokens leaving a ViT-B/16 at 224 (checked on shapes only, via eval_shape)."""
    import jax
    from flax import nnx

    from alt_jax.models.clip import CLIP

    model = nnx.eval_shape(lambda: CLIP(get_preset("B/16"), rngs=nnx.Rngs(0), tome_r=r))
    graphdef, state = nnx.split(model)
    images = jax.ShapeDtypeStruct((2, 224, 224, 3), jnp.float32)
    out = jax.eval_shape(lambda s, x: nnx.merge(graphdef, s).encode_image_regions(x), state, images)
    assert out["tokens"].shape == (2, expected, 512)
    assert out["size"].shape == (2, expected) and out["dest"].shape == (2, 197)


@pytest.mark.slow
def test_tome_cap_and_region_maps(saved_clip):
    _, folder = saved_clip("tiny")
    images, _ = inputs("tiny", seed=9, batch=2)
    model = load_clip(folder, tome_r=100)  # capped per layer: 17 → 9 → 5 tokens
    regions = model.encode_image_regions(jnp.asarray(images))
    assert regions["tokens"].shape == (2, 5, 32)
    dest, size = np.asarray(regions["dest"]), np.asarray(regions["size"])
    assert (dest[:, 0] == 0).all() and (size[:, 0] == 1).all()  # class token alone, first
    for item in range(2):  # sizes are the patch counts of the source map
        np.testing.assert_array_equal(np.bincount(dest[item], minlength=5), size[item])


@pytest.mark.slow
def test_flax_clip_exports_to_a_folder_transformers_loads(tmp_path):
    """Flax → save_clip → CLIPModel.from_pretrained gives transformers' features equal to ours."""
    from flax import nnx
    from transformers import CLIPModel

    from alt_jax.models.clip import CLIP

    model = CLIP(get_preset("tiny"), rngs=nnx.Rngs(3))
    folder = save_clip(model, tmp_path / "exported")
    torch_model = CLIPModel.from_pretrained(folder).eval()
    images, ids = inputs("tiny", seed=5)
    ref = torch_features(torch_model, images, ids)
    ours = flax_features(model, images, ids)
    for name in ref:
        assert relative_error(ours[name], ref[name]) < 1e-5, name
    again = flax_features(load_clip(folder), images, ids)
    for name in ref:
        np.testing.assert_array_equal(np.asarray(again[name]), np.asarray(ours[name]))


def numpy_attention(q, k, v, bias):
    """Softmax attention written out in float64 NumPy: [B, N, H, Dh] in and out."""
    q, k, v = (np.asarray(t, np.float64) for t in (q, k, v))
    logits = np.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(q.shape[-1]) + np.asarray(bias)
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    return np.einsum("bhqk,bkhd->bqhd", weights, v)


@pytest.mark.slow
def test_attention_matches_numpy_with_a_masking_bias():
    """The heads-first attention with its late division is softmax attention: logits in the
    hundreds (where exp overflows without the max), a mask of float32's minimum, log sizes."""
    import jax

    from alt_jax.models.attention import dot_product_attention

    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((2, 5, 3, 8)).astype(np.float32) * s for s in (30, 30, 1))
    bias = np.log(rng.integers(1, 4, (2, 1, 1, 5))).astype(np.float32)
    bias[1, ..., 3] = np.finfo(np.float32).min  # key 3 of clip 1 masked
    got = np.asarray(dot_product_attention(*map(jnp.asarray, (q, k, v, bias))))
    want = numpy_attention(q, k, v, bias)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    # bfloat16 operands come back as bfloat16, within bfloat16's rounding of the float32 result.
    q16, k16, v16 = (jnp.asarray(t / 30 if t is not v else t, jnp.bfloat16) for t in (q, k, v))
    low = dot_product_attention(q16, k16, v16, jnp.asarray(bias))
    assert low.dtype == jnp.bfloat16
    want16 = numpy_attention(*(np.asarray(t, np.float32) for t in (q16, k16, v16)), bias)
    np.testing.assert_allclose(np.asarray(low, np.float32), want16, atol=2e-2)

    # Gradients are those of the textbook softmax (the max is held constant).
    def textbook(q, k, v):
        logits = jnp.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(q.shape[-1]) + bias
        return jnp.einsum("bhqk,bkhd->bqhd", jax.nn.softmax(logits, -1), v)

    cotangent = jnp.asarray(rng.standard_normal(got.shape), jnp.float32)
    small = [jnp.asarray(t / 30 if t is not v else t) for t in (q, k, v)]
    ours = jax.grad(
        lambda *a: (dot_product_attention(*a, jnp.asarray(bias)) * cotangent).sum(), (0, 1, 2)
    )(*small)
    ref = jax.grad(lambda *a: (textbook(*a) * cotangent).sum(), (0, 1, 2))(*small)
    for g, r in zip(ours, ref, strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(r), rtol=1e-4, atol=1e-5)


def numpy_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("kind", ["maskclip", "sclip", "clearclip"])
def test_dense_region_features_follow_transformers_last_block_by_hand(saved_clip, kind):
    """The training-free dense paths: the last block's input from transformers' hidden states,
    then LN1, q/k/v and out_proj of transformers' own modules and the attention in NumPy."""
    torch_model, folder = saved_clip("tiny")
    images, _ = inputs("tiny", seed=11, batch=2)
    pixels = torch.tensor(images).permute(0, 3, 1, 2)
    vision = torch_model.vision_model
    last = vision.encoder.layers[-1]
    with torch.no_grad():
        out = vision(pixel_values=pixels, output_hidden_states=True)
        h = last.layer_norm1(out.hidden_states[-2])
        q, k, v = (
            p(h).numpy().astype(np.float64)
            for p in (last.self_attn.q_proj, last.self_attn.k_proj, last.self_attn.v_proj)
        )
    b, n, d = q.shape
    heads = last.self_attn.num_heads
    split = lambda t: t.reshape(b, n, heads, d // heads).transpose(0, 2, 1, 3)  # [B, H, N, Dh]
    q, k, v = split(q), split(k), split(v)
    scale = (d // heads) ** -0.5
    attend = lambda a, c: numpy_softmax(a @ c.transpose(0, 1, 3, 2) * scale)
    weights = {
        "maskclip": np.broadcast_to(np.eye(n), (b, heads, n, n)),
        "sclip": attend(q, q) + attend(k, k),
        "clearclip": attend(q, q),
    }[kind]
    mixed = (weights @ v).transpose(0, 2, 1, 3).reshape(b, n, d)
    with torch.no_grad():
        expected = last.self_attn.out_proj(torch.tensor(mixed, dtype=torch.float32)).numpy()
    model = load_clip(folder, region_features=kind)
    tokens, _, dest = model.vision_model.tokens(jnp.asarray(images))
    # The class token stays CLIP's own; the regions are the dense path.
    assert relative_error(tokens[:, :1], out.last_hidden_state[:, :1].numpy()) <= 1e-4
    assert relative_error(tokens[:, 1:], expected[:, 1:]) <= 1e-4
    np.testing.assert_array_equal(np.asarray(dest), np.tile(np.arange(n), (b, 1)))


@pytest.mark.slow
def test_dense_region_features_merge_with_the_tokens_partners():
    """Under ToMe the dense path is merged with the same partners and sizes: the class token,
    sizes and region map equal the plain path's, and with no merge in the last layer the
    regions are the dense path applied to the last block's input."""
    from flax import nnx

    from alt_jax.models.clip import CLIP, dense_last_attention

    images = jnp.asarray(inputs("tiny", seed=3, batch=2)[0])
    plain = CLIP(get_preset("tiny"), rngs=nnx.Rngs(0), tome_r=[4, 0])
    state = nnx.state(plain)
    dense = CLIP(get_preset("tiny"), rngs=nnx.Rngs(1), tome_r=[4, 0], region_features="sclip")
    nnx.update(dense, state)
    ours, size, dest = dense.vision_model.tokens(images)
    ref, ref_size, ref_dest = plain.vision_model.tokens(images)
    np.testing.assert_array_equal(np.asarray(dest), np.asarray(ref_dest))
    np.testing.assert_array_equal(np.asarray(size), np.asarray(ref_size))
    np.testing.assert_allclose(np.asarray(ours[:, 0]), np.asarray(ref[:, 0]), atol=1e-5)
    # The input of the last block: the first block's output after its merge.
    vision = plain.vision_model
    x = vision.pre_layrnorm(vision.embeddings(images))
    first = vision.encoder.layers[0]
    x, keys = first.attend(x)
    from alt_jax.models import tome

    x, merged_size, _ = tome.bipartite_merge(x, jnp.ones((2, x.shape[1], 1)), keys.mean(2), 4)
    x = first.feed_forward(x)
    bias = tome.proportional_attention_bias(merged_size)
    expected = dense_last_attention(vision.encoder.layers[1], x, bias, "sclip")
    np.testing.assert_allclose(np.asarray(ours[:, 1:]), np.asarray(expected[:, 1:]), atol=1e-5)
    assert ours.shape[1] == 1 + 16 - 4  # tiny: 4 × 4 patches, 4 merged in the first layer
    with pytest.raises(ValueError, match="region_features must be one of"):
        CLIP(get_preset("tiny"), rngs=nnx.Rngs(0), region_features="dino")


# --- attention implementations and parameter storage (model.backbone.attention / param_dtype) ---


@pytest.mark.slow
@pytest.mark.parametrize("implementation", ["reference", "xla", "auto"])
def test_every_attention_path_matches_numpy_and_the_reference(implementation):
    """Each path that runs on this platform is softmax attention (float64 NumPy) and equals the
    reference function within 1e-5 in float32, masks and log-size biases included; its gradients
    are the reference's."""
    import jax

    from alt_jax.models.attention import attention, dot_product_attention

    rng = np.random.default_rng(3)
    q, k, v = (rng.standard_normal((2, 7, 4, 16)).astype(np.float32) * s for s in (3, 3, 1))
    for bias in (
        None,
        np.log(rng.integers(1, 5, (2, 1, 1, 7))).astype(np.float32),  # ToMe's log sizes
        np.where(np.tril(np.ones((7, 7), bool)), 0.0, np.finfo(np.float32).min)[None, None],
    ):
        args = [jnp.asarray(t) for t in (q, k, v)] + [None if bias is None else jnp.asarray(bias)]
        got = np.asarray(jax.jit(lambda *a: attention(*a, implementation))(*args))
        want = numpy_attention(q, k, v, 0.0 if bias is None else bias)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
        assert np.abs(got - np.asarray(dot_product_attention(*args))).max() <= 1e-5

    cotangent = jnp.asarray(rng.standard_normal(q.shape), jnp.float32)
    sizes = jnp.asarray(np.log(rng.integers(1, 5, (2, 1, 1, 7))), jnp.float32)

    def loss(q, k, v, impl):
        return (attention(q, k, v, sizes, impl) * cotangent).sum()

    grads = {
        impl: jax.grad(loss, (0, 1, 2))(*map(jnp.asarray, (q, k, v)), impl)
        for impl in ("reference", implementation)
    }
    for g, r in zip(grads[implementation], grads["reference"], strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(r), rtol=1e-4, atol=1e-5)


def test_auto_attention_picks_by_platform():
    """The reference on CPU, XLA's elsewhere (measured on an H200: faster than cuDNN's at B/16
    with ToMe); an explicit choice stays, and cuDNN's refuses float32 by name."""
    from alt_jax.models.attention import resolve_attention

    table = {
        ("cpu", jnp.float32): "reference",
        ("cpu", jnp.bfloat16): "reference",
        ("gpu", jnp.bfloat16): "xla",
        ("gpu", jnp.float32): "xla",
        ("tpu", jnp.bfloat16): "xla",
    }
    for (platform, dtype), want in table.items():
        assert resolve_attention("auto", dtype, platform) == want, (platform, dtype)
    assert resolve_attention("xla", jnp.float32, "cpu") == "xla"
    assert resolve_attention("cudnn", jnp.bfloat16, "gpu") == "cudnn"
    with pytest.raises(ValueError, match=r"attention must be one of .*'cudnn'.*got 'flash'"):
        resolve_attention("flash", jnp.float32)
    with pytest.raises(ValueError, match="'cudnn' needs bfloat16 or float16 operands"):
        resolve_attention("cudnn", jnp.float32, "gpu")


def test_an_explicit_cudnn_choice_fails_loudly_without_a_gpu():
    """Only "auto" may fall back: a user who asked for cuDNN hears that it is not there."""
    import jax

    from alt_jax.models.attention import attention

    if jax.default_backend() == "gpu":
        pytest.skip("cuDNN is there")
    q = jnp.ones((1, 4, 2, 8), jnp.bfloat16)
    with pytest.raises(Exception, match="(?i)cudnn|gpu|cuda"):
        jax.jit(lambda q: attention(q, q, q, None, "cudnn"))(q).block_until_ready()


@pytest.mark.slow
@pytest.mark.parametrize("tome_r", [0, [3, 1]])
def test_the_towers_are_the_same_with_each_attention_path(saved_clip, tome_r):
    """Both towers and the ToMe-merged region tokens, reference vs XLA's attention: within 1e-5
    of each other, and the XLA path within the loader's 1e-4 of transformers."""
    torch_model, folder = saved_clip("tiny")
    images, ids = inputs("tiny", seed=4, batch=3)
    outputs = {}
    for impl in ("reference", "xla"):
        model = load_clip(folder, tome_r=tome_r, attention=impl)
        assert model.vision_model.encoder.layers[0].self_attn.implementation == impl
        regions = model.encode_image_regions(jnp.asarray(images))["tokens"]
        outputs[impl] = {**flax_features(model, images, ids), "regions": regions}
    for name, ref in outputs["reference"].items():
        scale = np.abs(np.asarray(ref)).max()
        assert np.abs(np.asarray(outputs["xla"][name]) - np.asarray(ref)).max() <= 1e-5 * scale
    if tome_r == 0:
        want = torch_features(torch_model, images, ids)
        for name in want:
            assert relative_error(outputs["xla"][name], want[name]) <= 1e-4, name


@pytest.mark.slow
def test_bfloat16_parameter_storage_halves_the_towers(saved_clip):
    """param_dtype=bfloat16 stores every tower weight in bfloat16 (half the bytes), loads from a
    float32 checkpoint, and stays within bfloat16's rounding of transformers."""
    import jax
    from flax import nnx

    torch_model, folder = saved_clip("tiny")
    images, ids = inputs("tiny", seed=5)
    full = load_clip(folder)
    half = load_clip(folder, dtype=jnp.bfloat16, param_dtype=jnp.bfloat16)
    leaves = {
        name: jax.tree_util.tree_leaves(nnx.state(m, nnx.Param))
        for name, m in (("full", full), ("half", half))
    }
    kinds = {leaf.dtype for leaf in leaves["half"] if leaf.size > 1}  # logit_scale is a scalar
    assert kinds == {jnp.dtype(jnp.bfloat16)}
    nbytes = {name: sum(leaf.nbytes for leaf in ls) for name, ls in leaves.items()}
    assert nbytes["half"] <= 0.51 * nbytes["full"]
    ref = torch_features(torch_model, images, ids)
    ours = flax_features(half, images, ids)
    for name in ("image", "text", "dense"):
        assert relative_error(ours[name], ref[name]) <= 3e-2, name
