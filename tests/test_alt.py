"""The whole ALT model: CLIP zero-shot at initialisation (against transformers), gradients
only for the trainable parameters, the loss, and the real-size shapes and parameter counts."""

from __future__ import annotations

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx

from alt_jax.builders import build_alt, build_clip
from alt_jax.configs_lib import default_model_config
from alt_jax.models.alt import ALT, count_parameters, cross_entropy, pool_frames, split_trainable
from alt_jax.models.clip import CLIP
from alt_jax.models.clip_config import get_preset
from alt_jax.tokenizer import tokenize
from alt_jax.weights import load_clip

B, T, K = 2, 3, 10
# RBG keys: the model takes any key; threefry Gumbel noise doubles XLA compile time on CPU.
CLASSES = ["abseiling", "playing guitar", "riding a bike", "surfing"]


def tiny_config(tome_r: int = 0):
    config = default_model_config()
    config.backbone.preset = "tiny"
    config.tome_r = tome_r
    config.num_frames = T
    config.adapter.depth = 1
    config.adapter.heads = 4
    return config


def unit_rows(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def eager_alt(config, entities) -> ALT:
    """build_alt's model, its head initialised eagerly: these tests check identities that hold
    for any weights, and eager ops compile once per shape where a jitted initialisation
    compiles a program per config."""
    return ALT(build_clip(config), jnp.asarray(entities, jnp.float32), config, rngs=nnx.Rngs(1))


@pytest.fixture(scope="module")
def tiny(saved_clip):
    """(torch CLIP, ALT on the same weights with r = 0, videos, entity matrix S, class texts)."""
    torch_model, folder = saved_clip("tiny")
    rng = np.random.default_rng(0)
    entities = unit_rows(rng, K, 32)
    model = ALT(load_clip(folder), entities, tiny_config(), rngs=nnx.Rngs(1))  # see eager_alt
    videos = rng.standard_normal((B, T, 32, 32, 3)).astype(np.float32)
    with torch.no_grad():
        ids = torch.tensor(tokenize([f"a video of a person {c}." for c in CLASSES]))
        texts = torch_model.get_text_features(input_ids=ids).pooler_output.numpy()
    return torch_model, model, videos, entities, texts


def random_features(rng: np.random.Generator, b: int, t: int, cls_offset: float) -> dict:
    """Frozen-encoder outputs of the tiny CLIP at r = 0 (16 patches): ln [b, t, 17, 64], cls
    [b, t, 32] (shifted by cls_offset: a shared component), dest the identity map."""
    return {
        "ln": jnp.asarray(rng.standard_normal((b, t, 17, 64)), jnp.float32),
        "cls": jnp.asarray(rng.standard_normal((b, t, 32)) + cls_offset, jnp.float32),
        "dest": jnp.asarray(np.broadcast_to(np.arange(17), (b, t, 17)), jnp.int32),
    }


@nnx.jit(static_argnames="train")
def forward(model, videos, classes, key=None, *, train=False):
    return model(videos, classes, train=train, rng=key)


@pytest.mark.slow
def test_initial_logits_are_clip_zero_shot_of_the_frame_average(tiny):
    torch_model, model, videos, entities, texts = tiny
    out = forward(model, jnp.asarray(videos), jnp.asarray(texts))
    pixels = torch.tensor(videos.reshape(B * T, 32, 32, 3)).permute(0, 3, 1, 2)
    with torch.no_grad():
        frames = torch_model.get_image_features(pixel_values=pixels).pooler_output.numpy()
        hidden = torch_model.vision_model(pixel_values=pixels).last_hidden_state
        dense = torch_model.visual_projection(torch_model.vision_model.post_layernorm(hidden))
    video = frames.reshape(B, T, -1).astype(np.float64).mean(1)  # raw features, then averaged
    cos = (video / np.linalg.norm(video, axis=-1, keepdims=True)) @ (
        texts / np.linalg.norm(texts, axis=-1, keepdims=True)
    ).T
    np.testing.assert_allclose(np.asarray(out["logits"]), 100.0 * cos, atol=2e-3)
    np.testing.assert_allclose(np.asarray(out["video_embedding"]), video, rtol=1e-4, atol=1e-5)

    # Alignment at init: X is the normalised dense CLIP feature, so the entity of each region is
    # the argmax of its cosine with S (asserted where the top two are not within round-off).
    x = dense.numpy()[:, 1:].astype(np.float64)
    scores = (x / np.linalg.norm(x, axis=-1, keepdims=True)) @ entities.T
    top2 = np.sort(scores, -1)[..., -2:]
    clear = (top2[..., 1] - top2[..., 0]) > 1e-4
    index = np.asarray(out["entity_index"]).reshape(B * T, -1)
    assert index.shape == (B * T, 16)
    np.testing.assert_array_equal(index[clear], scores.argmax(-1)[clear])
    np.testing.assert_array_equal(
        np.asarray(out["dest"]), np.broadcast_to(np.arange(17), (B, T, 17))
    )  # r = 0: every token is its own region


def test_frame_pooling_of_raw_or_normalized_features():
    rng = np.random.default_rng(0)
    cls = rng.standard_normal((2, 3, 4)).astype(np.float32) * rng.uniform(0.1, 5, (2, 3, 1))
    unit = cls / np.linalg.norm(cls, axis=-1, keepdims=True)
    np.testing.assert_allclose(
        np.asarray(pool_frames(jnp.asarray(cls), "raw")), cls.mean(1), rtol=1e-6
    )
    np.testing.assert_allclose(
        np.asarray(pool_frames(jnp.asarray(cls), "normalized")), unit.mean(1), atol=1e-6
    )
    with pytest.raises(ValueError, match="frame_pool"):
        pool_frames(jnp.asarray(cls), "max")


def test_classes_are_an_input(tiny):
    _, model, videos, _, texts = tiny
    full = forward(model, jnp.asarray(videos), jnp.asarray(texts))["logits"]
    # Same shape (no new compile), other classes in another order: the columns follow.
    order = [3, 1, 0, 2]
    swapped = forward(model, jnp.asarray(videos), jnp.asarray(texts[order]))["logits"]
    np.testing.assert_allclose(np.asarray(swapped), np.asarray(full)[:, order], atol=1e-4)


@pytest.mark.slow
def test_gradients_reach_every_trainable_leaf_and_never_the_frozen_clip(tiny):
    _, model, videos, _, texts = tiny
    graphdef, trainable, frozen = split_trainable(model)
    paths = [p for p, _ in nnx.to_flat_state(trainable)]
    assert paths and not any("clip" in p for p in paths)
    assert {p[0] for p in paths} == {
        "alignment", "adapter", "gate", "entity_gate", "log_logit_scale"
    }  # fmt: skip
    assert any(p[0] == "entities" for p, _ in nnx.to_flat_state(frozen))  # S: state, not a Param
    # Frozen: the CLIP, the entity table and (W_r anchored, the default) W_r's initial value,
    # which is CLIP's visual projection.
    w_r_init = tiny[0].visual_projection.weight.detach().numpy().T
    np.testing.assert_array_equal(np.asarray(model.alignment.w_r_init[...]), w_r_init)
    clip_count = sum(p.numel() for p in tiny[0].parameters())
    assert count_parameters(frozen) == clip_count + K * 32 + w_r_init.size

    labels = jnp.asarray([0, 2])

    @jax.jit
    def grad(trainable, frozen, videos, key):
        def loss(trainable):
            out = nnx.merge(graphdef, trainable, frozen)(
                videos, jnp.asarray(texts), train=True, rng=key
            )
            return cross_entropy(out["logits"], labels, 0.1), out["entity_index"]

        return jax.grad(loss, has_aux=True)(trainable)

    def set_gate(state, g):
        state = jax.tree_util.tree_map(lambda x: x, state)
        state["gate"].set_value(jnp.asarray(g, jnp.float32))
        state["entity_gate"].set_value(jnp.asarray(g, jnp.float32))
        return state

    key = jax.random.key(0, impl="rbg")
    # g, g_e ≠ 0 so that the adapter and the entity readout are on the loss path (at g = g_e = 0
    # only the gates and s see the loss).
    grads, index = grad(set_gate(trainable, 0.5), frozen, jnp.asarray(videos), key)
    flat = nnx.to_flat_state(grads)
    assert [p for p, _ in flat] == paths  # the grad tree is the trainable tree, nothing else
    for path, leaf in flat:
        g = np.asarray(leaf[...])
        assert np.all(np.isfinite(g)), path
        assert np.any(g != 0), f"no gradient reaches {path}"

    # Training draws Gumbel noise from the rng: another key, other entities for some regions.
    other_index = grad(trainable, frozen, jnp.asarray(videos), jax.random.key(1, impl="rbg"))[1]
    assert np.any(np.asarray(index) != np.asarray(other_index))

    at_init = nnx.to_flat_state(grad(trainable, frozen, jnp.asarray(videos), key)[0])
    for path, leaf in at_init:
        nonzero = bool(np.any(np.asarray(leaf[...]) != 0))
        assert nonzero == (path[0] in ("gate", "entity_gate", "log_logit_scale")), path

    zeros = grad(set_gate(trainable, 0.5), frozen, jnp.zeros_like(videos), key)[0]
    zeros = nnx.to_flat_state(zeros)
    assert all(np.all(np.isfinite(np.asarray(leaf[...]))) for _, leaf in zeros)


def test_evaluation_is_deterministic_and_training_needs_an_rng(tiny):
    _, model, videos, _, texts = tiny
    v, c = jnp.asarray(videos), jnp.asarray(texts)
    first, second = forward(model, v, c), forward(model, v, c)
    for name in first:
        np.testing.assert_array_equal(np.asarray(first[name]), np.asarray(second[name]))
    with pytest.raises(ValueError, match="rng"):
        model(v, c, train=True)


def test_cross_entropy_with_label_smoothing_matches_numpy():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((5, 7)).astype(np.float32) * 3
    labels = rng.integers(0, 7, 5)
    for eps in (0.0, 0.1):
        log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        target = np.full((5, 7), eps / 7)
        target[np.arange(5), labels] += 1 - eps
        expected = -(target * log_p).sum(-1).mean()
        ours = cross_entropy(jnp.asarray(logits), jnp.asarray(labels), eps)
        np.testing.assert_allclose(float(ours), expected, rtol=1e-5)


def tokens_after_tome(num_tokens: int, layers: int, r: int) -> int:
    """docs/method.md §2: each layer merges min(r, (tokens − 1) // 2) tokens."""
    for _ in range(layers):
        num_tokens -= min(r, (num_tokens - 1) // 2)
    return num_tokens


def torch_clip_parameter_count(preset: str) -> int:
    from transformers import CLIPConfig, CLIPModel

    with torch.device("meta"):  # shapes only, no memory
        model = CLIPModel(CLIPConfig(**get_preset(preset).to_transformers_dict()))
    return sum(p.numel() for p in model.parameters())


def adapter_parameter_count(D, d, W, depth, mlp_ratio, frames, kernel, kind="global"):
    """Closed form of the trainable parameters for one configuration (docs/method.md §4-5)."""
    hidden = int(W * mlp_ratio)
    linear = lambda i, o, bias=True: i * o + (o if bias else 0)
    mlp = lambda i, h, o: linear(i, h) + linear(h, o)
    layer = 4 * 2 * W + 2 * 4 * linear(W, W) + mlp(W, hidden, W)
    if kind == "ordered":  # defaults: Fourier positions (4 bands), 1 temporal layer, ordered W_o
        position_features = 2 * (1 + 2 * 4) + 3  # centroid + sin/cos of 4 bands, spread, area
        temporal_layer = 2 * 2 * W + 4 * linear(W, W) + mlp(W, hidden, W)
        return (
            D * d + 1  # W_r, log τ
            + mlp(D, W, W)  # MLP_kv
            + mlp(d, W, W)  # MLP_q
            + mlp(position_features, W, W)  # region position encoder
            + kernel * W + W  # depthwise conv
            + depth * layer
            + 2 * W  # LN of the clip token (appearance)
            + 2 * W  # gain and bias of the change tokens' normalisation
            + frames * W  # temporal position embedding
            + temporal_layer
            + 2 * W  # LN before the readout
            + (1 + frames) * W * d  # W_o over the clip token, then the frames in order
            + W  # the readout's relevance score (no bias: it would cancel in the softmax)
            + 3  # g, g_e, log s
        )  # fmt: skip
    return (
        D * d + 1  # W_r, log τ
        + mlp(D, W, W)  # MLP_kv
        + mlp(d, W, W)  # MLP_q
        + frames * W  # temporal embedding
        + kernel * W + W  # depthwise conv
        + depth * layer
        + W * d  # W_o
        + 3  # g, g_e, log s
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["ordered", "global"])
def test_b16_eight_frames_shapes_and_parameter_counts(kind):
    config = default_model_config()  # B/16, 8 frames, r = 16
    config.adapter.kind = kind
    k, c = 240, 400
    model = nnx.eval_shape(
        lambda: ALT(
            CLIP(get_preset("B/16"), rngs=nnx.Rngs(0), tome_r=config.tome_r),
            jnp.zeros((k, 512)),
            config,
            rngs=nnx.Rngs(1),
        )
    )
    graphdef, trainable, frozen = split_trainable(model)
    assert count_parameters(trainable) == adapter_parameter_count(
        768, 512, 512, config.adapter.depth, config.adapter.mlp_ratio, 8, 3, kind
    )
    # + W_r's anchor: a frozen copy of the 768 × 512 visual projection.
    assert count_parameters(frozen) == torch_clip_parameter_count("B/16") + k * 512 + 768 * 512

    out = jax.eval_shape(
        lambda tr, fr, v, t: nnx.merge(graphdef, tr, fr)(v, t, train=False),
        trainable,
        frozen,
        jax.ShapeDtypeStruct((2, 8, 224, 224, 3), jnp.float32),
        jax.ShapeDtypeStruct((c, 512), jnp.float32),
    )
    m = tokens_after_tome(197, 12, 16) - 1
    assert m == 10 and math.isclose(config.logit_scale_init, 100.0)
    assert out["logits"].shape == (2, c)
    assert out["video_embedding"].shape == (2, 512)
    assert out["entity_index"].shape == (2, 8, m)
    assert out["dest"].shape == (2, 8, 197)


def test_build_alt_from_a_checkpoint_folder_and_a_corpus(saved_clip, tmp_path):
    torch_model, folder = saved_clip("tiny")
    (tmp_path / "corpus.json").write_text(
        json.dumps([{"unit": "hand", "description": "the end of the arm"}] * 2)
    )
    config = tiny_config()
    config.backbone.source = str(folder)
    config.corpus.path = str(tmp_path / "corpus.json")
    config.corpus.cache_dir = str(tmp_path / "cache")
    model = build_alt(config)
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1  # S was encoded and cached
    entities = np.asarray(model.entities[...])
    assert entities.shape == (2, 32)
    np.testing.assert_allclose(np.linalg.norm(entities, axis=-1), 1.0, atol=1e-6)
    # W_r starts as CLIP's visual projection (torch [out, in] → ours [in, out]).
    np.testing.assert_allclose(
        np.asarray(model.alignment.w_r[...]),
        torch_model.visual_projection.weight.detach().numpy().T,
        atol=1e-7,
    )
    assert float(model.gate[...]) == 0.0
    np.testing.assert_allclose(float(model.log_logit_scale[...]), np.log(100.0), rtol=1e-6)


@pytest.mark.slow
def test_learned_queries_ablation_replaces_the_alignment_by_one_query_per_region(tiny):
    torch_model, entity_model, videos, entities, texts = tiny
    config = tiny_config()
    config.queries = "learned"
    model = ALT(entity_model.clip, entities, config, rngs=nnx.Rngs(1))  # see eager_alt
    graphdef, trainable, frozen = split_trainable(model)
    paths = [p for p, _ in nnx.to_flat_state(trainable)]
    # No alignment (W_r, τ_a): the queries are parameters, 16 regions (4 × 4 patches, r = 0).
    assert {p[0] for p in paths} == {
        "learned_queries", "adapter", "gate", "entity_gate", "log_logit_scale"
    }  # fmt: skip
    assert model.learned_queries.shape == (16, 32)
    w_r_and_tau = 64 * 32 + 1
    assert count_parameters(trainable) == (
        count_parameters(split_trainable(entity_model)[1]) - w_r_and_tau + 16 * 32
    )

    v, c = jnp.asarray(videos), jnp.asarray(texts)
    out = forward(model, v, c)
    assert "entity_index" not in out and out["logits"].shape == (B, len(CLASSES))
    # g = 0: both query kinds give CLIP's frame-average zero-shot logits.
    np.testing.assert_allclose(
        np.asarray(out["logits"]), np.asarray(forward(entity_model, v, c)["logits"]), atol=1e-4
    )

    labels = jnp.asarray([0, 2])

    @jax.jit
    def grad(trainable):
        def loss(trainable):
            logits = nnx.merge(graphdef, trainable, frozen)(v, c, train=False)["logits"]
            return cross_entropy(logits, labels)

        return jax.grad(loss)(trainable)

    trainable["gate"].set_value(jnp.asarray(0.5, jnp.float32))  # the adapter on the loss path
    trainable["entity_gate"].set_value(jnp.asarray(0.5, jnp.float32))  # and the entity readout
    for path, leaf in nnx.to_flat_state(grad(trainable)):
        g = np.asarray(leaf[...])
        assert np.all(np.isfinite(g)) and np.any(g != 0), f"no gradient reaches {path}"

    # Region count follows ToMe: 17 tokens, r = 2 on each of 2 layers → 12 regions.
    merged = tiny_config(tome_r=2)
    merged.queries = "learned"
    shapes = nnx.eval_shape(
        lambda: ALT(
            CLIP(get_preset("tiny"), rngs=nnx.Rngs(0), tome_r=2), entities, merged, rngs=nnx.Rngs(1)
        )
    )
    assert shapes.learned_queries.shape == (tokens_after_tome(17, 2, 2) - 1, 32)
    bad = tiny_config()
    bad.queries = "random"
    with pytest.raises(ValueError, match="queries"):
        nnx.eval_shape(lambda: ALT(entity_model.clip, entities, bad, rngs=nnx.Rngs(1)))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["ordered", "global"])
def test_closed_gate_is_exactly_the_frame_average_zero_shot_whatever_the_adapter(kind):
    config = default_model_config()
    config.backbone.preset, config.tome_r, config.num_frames = "tiny", 0, 4
    config.adapter.kind, config.adapter.depth, config.adapter.width = kind, 1, 32
    config.adapter.heads = 4
    model = eager_alt(config, np.eye(5, 32, dtype=np.float32))
    rng = np.random.default_rng(0)
    # A far-from-init adapter, so that z is large: the gate alone must hide it.
    graphdef, trainable, frozen = split_trainable(model)
    trainable = jax.tree_util.tree_map(
        lambda x: x + jnp.asarray(rng.normal(0, 1, x.shape), x.dtype), trainable
    )
    trainable["gate"].set_value(jnp.asarray(0.0, jnp.float32))
    trainable["entity_gate"].set_value(jnp.asarray(0.0, jnp.float32))
    trainable["log_logit_scale"].set_value(jnp.log(jnp.asarray(100.0, jnp.float32)))
    model = nnx.merge(graphdef, trainable, frozen)
    features = random_features(rng, 3, 4, cls_offset=2.0)
    classes = rng.standard_normal((6, 32)).astype(np.float32)
    head = nnx.jit(lambda model, f, c: model.head(f, c, train=False))  # eager is slow
    out = head(model, features, jnp.asarray(classes))
    video = np.asarray(features["cls"], np.float64).mean(1)
    cos = (video / np.linalg.norm(video, axis=-1, keepdims=True)) @ (
        classes / np.linalg.norm(classes, axis=-1, keepdims=True)
    ).T
    np.testing.assert_allclose(np.asarray(out["logits"]) / 100.0, cos, atol=1e-5)
    # And the adapter is not silent: the same model with g = 1 gives other logits.
    trainable["gate"].set_value(jnp.asarray(1.0, jnp.float32))
    open_gate = head(nnx.merge(graphdef, trainable, frozen), features, jnp.asarray(classes))
    assert np.abs(np.asarray(open_gate["logits"]) / 100.0 - cos).max() > 1e-2


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["ordered", "global"])
def test_zero_output_with_open_gate_starts_at_the_frame_average_zero_shot(kind):
    """g = 1 with W_o = 0 (adapter.zero_output) and no entity readout: the logits at init are
    CLIP's zero-shot on the frame average (NumPy), yet W_o is on the loss path."""
    config = default_model_config()
    config.backbone.preset, config.tome_r, config.num_frames = "tiny", 0, 4
    config.adapter.kind, config.adapter.depth, config.adapter.width = kind, 1, 32
    config.adapter.heads, config.adapter.zero_output = 4, True
    config.gate_init, config.entity_readout = 1.0, False
    model = eager_alt(config, np.eye(5, 32, dtype=np.float32))
    rng = np.random.default_rng(0)
    features = random_features(rng, 3, 4, cls_offset=2.0)
    classes = rng.standard_normal((6, 32)).astype(np.float32)
    out = nnx.jit(lambda model, f, c: model.head(f, c, train=False))(
        model, features, jnp.asarray(classes)
    )
    video = np.asarray(features["cls"], np.float64).mean(1)
    cos = (video / np.linalg.norm(video, axis=-1, keepdims=True)) @ (
        classes / np.linalg.norm(classes, axis=-1, keepdims=True)
    ).T
    np.testing.assert_allclose(np.asarray(out["logits"]) / 100.0, cos, atol=1e-5)
    graphdef, trainable, frozen = split_trainable(model)
    labels = jnp.asarray([0, 3, 5])

    @jax.jit
    def grad(trainable):
        def loss(trainable):
            head = nnx.merge(graphdef, trainable, frozen).head
            return cross_entropy(
                head(features, jnp.asarray(classes), train=False)["logits"], labels
            )

        return jax.grad(loss)(trainable)

    assert np.abs(np.asarray(grad(trainable)["adapter"]["out_proj"]["kernel"][...])).max() > 0
    config.gate_init = 0.0  # z = 0 behind a closed gate: nothing would ever train the adapter
    with pytest.raises(ValueError, match="gate_init"):
        build_alt(config, entity_embeddings=np.eye(5, 32, dtype=np.float32))


@pytest.mark.slow
def test_entity_readout_is_the_readout_weighted_entity_texts_at_the_frame_average_scale():
    """video = base + g·z + g_e·‖base‖·e, e = mean over frames of Σ_m w_tm Q̂_tm; at init the
    relevance scores are zero, so w gives every distinct entity of a frame the same weight."""
    from alt_jax.models.adapter import entity_weights

    config = default_model_config()
    config.backbone.preset, config.tome_r, config.num_frames = "tiny", 0, 2
    config.adapter.depth, config.adapter.width, config.adapter.heads = 1, 32, 4
    entities = np.eye(5, 32, dtype=np.float32)
    model = eager_alt(config, entities)
    graphdef, trainable, frozen = split_trainable(model)
    trainable["gate"].set_value(jnp.asarray(0.0, jnp.float32))
    trainable["entity_gate"].set_value(jnp.asarray(0.7, jnp.float32))
    model = nnx.merge(graphdef, trainable, frozen)
    rng = np.random.default_rng(4)
    features = random_features(rng, 2, 2, cls_offset=1.0)
    head = nnx.jit(lambda model, f, c: model.head(f, c, train=False))  # eager is slow
    out = head(model, features, jnp.asarray(rng.standard_normal((3, 32)), jnp.float32))
    index = np.asarray(out["entity_index"])  # [B, T, M]
    weights = np.zeros(index.shape)
    for b, t in np.ndindex(index.shape[:2]):
        kinds = np.unique(index[b, t])
        for m, e in enumerate(index[b, t]):
            weights[b, t, m] = 1.0 / (len(kinds) * (index[b, t] == e).sum())
    np.testing.assert_allclose(np.asarray(out["readout_weights"]), weights, atol=1e-6)
    np.testing.assert_allclose(np.asarray(entity_weights(jnp.asarray(index))), weights, atol=1e-6)
    e = np.einsum("btm,btmd->bd", weights, entities[index]) / 2
    base = np.asarray(features["cls"], np.float64).mean(1)
    expected = base + 0.7 * np.linalg.norm(base, axis=-1, keepdims=True) * e
    np.testing.assert_allclose(np.asarray(out["video_embedding"]), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_appearance_probe_adds_its_text_space_score_to_the_cosine():
    """model.probe: logits = s·(cos(v, t_c) + g_p·(x̄ − μ)A·t̂_c) (NumPy), the video vector
    untouched; unfitted (A = 0) the logits are exactly those of ALT without it; A gets no
    gradient unless probe.trainable, while g_p does."""
    config = default_model_config()
    config.backbone.preset, config.tome_r, config.num_frames = "tiny", 0, 2
    config.adapter.depth, config.adapter.width, config.adapter.heads = 1, 32, 4
    config.probe.enabled = True
    entities = np.eye(5, 32, dtype=np.float32)
    rng = np.random.default_rng(5)
    features = random_features(rng, 2, 2, cls_offset=1.0)
    classes = rng.standard_normal((3, 32)).astype(np.float32)
    head = nnx.jit(lambda model, f, c: model.head(f, c, train=False))
    with_probe = eager_alt(config, entities)
    config.probe.enabled = False
    without = eager_alt(config, entities)
    out, plain = head(with_probe, features, classes), head(without, features, classes)
    np.testing.assert_array_equal(np.asarray(out["logits"]), np.asarray(plain["logits"]))

    mean = rng.standard_normal(32).astype(np.float32)
    probe_map = (0.1 * rng.standard_normal((32, 32))).astype(np.float32)
    with_probe.probe_mean[...] = jnp.asarray(mean)
    with_probe.probe_map[...] = jnp.asarray(probe_map)
    with_probe.probe_gate[...] = jnp.asarray(0.6, jnp.float32)
    out = head(with_probe, features, classes)
    np.testing.assert_array_equal(
        np.asarray(out["video_embedding"]), np.asarray(plain["video_embedding"])
    )
    v = np.asarray(plain["video_embedding"], np.float64)
    t = classes / np.linalg.norm(classes, axis=-1, keepdims=True)
    x = np.asarray(features["cls"], np.float64).mean(axis=1)
    want = 100.0 * (
        (v / np.linalg.norm(v, axis=-1, keepdims=True)) @ t.T + 0.6 * ((x - mean) @ probe_map) @ t.T
    )
    np.testing.assert_allclose(np.asarray(out["logits"]), want, rtol=1e-4, atol=1e-3)

    graphdef, trainable, frozen = split_trainable(with_probe)

    def loss(params):
        model = nnx.merge(graphdef, params, frozen)
        return model.head(features, jnp.asarray(classes), train=False)["logits"][:, 0].sum()

    grads = jax.jit(jax.grad(loss))(trainable)
    assert float(jnp.abs(grads["probe_map"][...]).max()) == 0.0
    assert float(jnp.abs(grads["probe_mean"][...]).max()) == 0.0
    assert float(jnp.abs(grads["probe_gate"][...])) > 0.0
