"""CLIP in flax.nnx, computing exactly what `transformers.CLIPModel` computes.

Module and attribute names mirror transformers' so that a checkpoint key maps to a parameter
path mechanically (see `alt_jax.weights`). The vision encoder exposes each block's attention
keys and takes an additive bias on the attention logits, which is where token merging hooks in.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from alt_jax.models import tome
from alt_jax.models.attention import attention, causal_bias, resolve_attention
from alt_jax.models.clip_config import ClipConfig, TextConfig, VisionConfig

Array = jax.Array


# ---------------------------------------------------------------------------------------------
# Pure numerics.


def quick_gelu(x: Array) -> Array:
    """OpenAI's GELU approximation, x * sigmoid(1.702 x)."""
    return x * jax.nn.sigmoid(1.702 * x)


ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "quick_gelu": quick_gelu,
    "gelu": functools.partial(jax.nn.gelu, approximate=False),
    "gelu_new": functools.partial(jax.nn.gelu, approximate=True),
    "gelu_pytorch_tanh": functools.partial(jax.nn.gelu, approximate=True),
}


def _cubic_weights(t: np.ndarray, a: float = -0.75) -> np.ndarray:
    """Weights of the taps at offsets -1, 0, 1, 2 for fraction t (PyTorch's bicubic, a=-0.75)."""

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return np.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], axis=-1)


def bicubic_resize_matrix(in_size: int, out_size: int) -> np.ndarray:
    """Matrix [out, in] of PyTorch's bicubic `interpolate` (align_corners=False), one axis."""
    scale = in_size / out_size
    src = (np.arange(out_size) + 0.5) * scale - 0.5  # not clamped, as PyTorch does for cubic
    base = np.floor(src)
    taps = _cubic_weights(src - base)
    matrix = np.zeros((out_size, in_size), np.float64)
    for offset in range(4):
        idx = np.clip(base.astype(np.int64) - 1 + offset, 0, in_size - 1)
        np.add.at(matrix, (np.arange(out_size), idx), taps[:, offset])
    return matrix


def interpolate_position_embedding(pos: Array, grid_h: int, grid_w: int) -> Array:
    """Resizes a [1 + g*g, D] position table to a grid_h × grid_w patch grid; class row kept."""
    g = int(round((pos.shape[0] - 1) ** 0.5))
    if (g, g) == (grid_h, grid_w):
        return pos
    patch = pos[1:].reshape(g, g, -1)
    rows = jnp.asarray(bicubic_resize_matrix(g, grid_h), jnp.float32)
    cols = jnp.asarray(bicubic_resize_matrix(g, grid_w), jnp.float32)
    patch = jnp.einsum(
        "hi,wj,ijd->hwd", rows, cols, patch.astype(jnp.float32), precision=jax.lax.Precision.HIGHEST
    )
    return jnp.concatenate([pos[:1], patch.reshape(grid_h * grid_w, -1).astype(pos.dtype)], 0)


# ---------------------------------------------------------------------------------------------
# Modules (attribute names as in transformers).


class Attention(nnx.Module):
    """Multi-head self-attention that also returns its keys (ToMe's similarity metric)."""

    def __init__(
        self,
        width: int,
        heads: int,
        *,
        dtype: Any,
        rngs: nnx.Rngs,
        param_dtype: Any = jnp.float32,
        attention: str = "auto",
    ):
        resolve_attention(attention, dtype)  # refuses an unknown implementation by name
        self.num_heads = heads
        self.implementation = attention
        linear = functools.partial(
            nnx.Linear, width, width, dtype=dtype, param_dtype=param_dtype, rngs=rngs
        )
        self.k_proj = linear()
        self.v_proj = linear()
        self.q_proj = linear()
        self.out_proj = linear()

    def __call__(self, x: Array, bias: Array | None = None) -> tuple[Array, Array]:
        """x [B, N, D], bias broadcastable to [B, H, N, N] → (out [B, N, D], keys [B, N, H, Dh])."""
        b, n, d = x.shape
        split = lambda t: t.reshape(b, n, self.num_heads, d // self.num_heads)
        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        out = attention(q, k, v, bias, self.implementation).reshape(b, n, d)
        return self.out_proj(out), k


class MLP(nnx.Module):
    """fc1 → activation → fc2."""

    def __init__(
        self,
        width: int,
        hidden: int,
        act: str,
        *,
        dtype: Any,
        rngs: nnx.Rngs,
        param_dtype: Any = jnp.float32,
    ):
        if act not in ACTIVATIONS:
            raise ValueError(f"unsupported hidden_act {act!r}; valid: {sorted(ACTIVATIONS)}")
        self.act = ACTIVATIONS[act]
        self.fc1 = nnx.Linear(width, hidden, dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.fc2 = nnx.Linear(hidden, width, dtype=dtype, param_dtype=param_dtype, rngs=rngs)

    def __call__(self, x: Array) -> Array:
        return self.fc2(self.act(self.fc1(x)))


def _layer_norm(
    width: int, eps: float, dtype: Any, rngs: nnx.Rngs, param_dtype: Any = jnp.float32
) -> nnx.LayerNorm:
    return nnx.LayerNorm(width, epsilon=eps, dtype=dtype, param_dtype=param_dtype, rngs=rngs)


class EncoderLayer(nnx.Module):
    """Pre-LN transformer block, split in two halves so that token merging can sit between them."""

    def __init__(
        self,
        cfg: VisionConfig | TextConfig,
        *,
        dtype: Any,
        rngs: nnx.Rngs,
        param_dtype: Any = jnp.float32,
        attention: str = "auto",
    ):
        w, eps = cfg.hidden_size, cfg.layer_norm_eps
        self.self_attn = Attention(
            w,
            cfg.num_attention_heads,
            dtype=dtype,
            rngs=rngs,
            param_dtype=param_dtype,
            attention=attention,
        )
        self.layer_norm1 = _layer_norm(w, eps, dtype, rngs, param_dtype)
        self.mlp = MLP(
            w,
            cfg.intermediate_size,
            cfg.hidden_act,
            dtype=dtype,
            rngs=rngs,
            param_dtype=param_dtype,
        )
        self.layer_norm2 = _layer_norm(w, eps, dtype, rngs, param_dtype)

    def attend(self, x: Array, bias: Array | None = None) -> tuple[Array, Array]:
        """x + SelfAttn(LN(x)), and the keys [B, N, H, Dh]."""
        out, keys = self.self_attn(self.layer_norm1(x), bias)
        return x + out, keys

    def feed_forward(self, x: Array) -> Array:
        """x + MLP(LN(x))."""
        return x + self.mlp(self.layer_norm2(x))

    def __call__(self, x: Array, bias: Array | None = None) -> Array:
        return self.feed_forward(self.attend(x, bias)[0])


class Encoder(nnx.Module):
    """A stack of encoder layers."""

    def __init__(
        self,
        cfg: VisionConfig | TextConfig,
        *,
        dtype: Any,
        rngs: nnx.Rngs,
        param_dtype: Any = jnp.float32,
        attention: str = "auto",
    ):
        layer = functools.partial(
            EncoderLayer, cfg, dtype=dtype, rngs=rngs, param_dtype=param_dtype, attention=attention
        )
        self.layers = nnx.List([layer() for _ in range(cfg.num_hidden_layers)])

    def __call__(self, x: Array, bias: Array | None = None) -> Array:
        for layer in self.layers:
            x = layer(x, bias)
        return x


class VisionEmbeddings(nnx.Module):
    """Patchify, class token, learned position embedding (interpolated for other sizes)."""

    def __init__(
        self, cfg: VisionConfig, *, dtype: Any, rngs: nnx.Rngs, param_dtype: Any = jnp.float32
    ):
        self.patch_size = cfg.patch_size
        self.dtype = dtype
        p, w = cfg.patch_size, cfg.hidden_size
        self.patch_embedding = nnx.Conv(
            cfg.num_channels,
            w,
            (p, p),
            strides=(p, p),
            padding="VALID",
            use_bias=False,
            dtype=dtype,
            param_dtype=param_dtype,
            rngs=rngs,
        )
        self.class_embedding = nnx.Param(
            (jax.random.normal(rngs.params(), (w,), jnp.float32) * w**-0.5).astype(param_dtype)
        )
        num_positions = (cfg.image_size // p) ** 2 + 1
        self.position_embedding = nnx.Embed(num_positions, w, param_dtype=param_dtype, rngs=rngs)

    def __call__(self, images: Array) -> Array:
        """images [B, H, W, C] → tokens [B, 1 + (H/p)(W/p), D]; H and W multiples of the patch."""
        b, h, w, _ = images.shape
        if h % self.patch_size or w % self.patch_size:
            raise ValueError(
                f"image size {h}x{w} is not a multiple of the patch size {self.patch_size}"
            )
        patches = self.patch_embedding(images.astype(self.dtype))  # [B, h/p, w/p, D]
        gh, gw = patches.shape[1:3]
        patches = patches.reshape(b, gh * gw, -1)
        cls = jnp.broadcast_to(
            self.class_embedding[...].astype(patches.dtype), (b, 1, patches.shape[-1])
        )
        pos = interpolate_position_embedding(self.position_embedding.embedding[...], gh, gw)
        return jnp.concatenate([cls, patches], axis=1) + pos.astype(patches.dtype)


# How the last block computes the region (non-class) tokens. "tokens": as CLIP does (the
# default, exact parity). The others are training-free dense-CLIP remedies, in the form
# ClearCLIP's code compares them: the last block's attention output alone (no residual, no MLP)
# with the attention weights replaced by the identity (MaskCLIP: each token's own value),
# softmax(q qᵀ) + softmax(k kᵀ) (SCLIP) or softmax(q qᵀ) (ClearCLIP). The class token is always
# CLIP's own.
REGION_FEATURES = ("tokens", "maskclip", "sclip", "clearclip")


def dense_last_attention(layer: "EncoderLayer", x: Array, bias: Array | None, kind: str) -> Array:
    """The region path of `kind` in the last block: x [B, N, D] (the block's input), bias the
    proportional-attention bias or None → out_proj(A · v) of LN1(x) [B, N, D]."""
    attn = layer.self_attn
    b, n, d = x.shape
    h = layer.layer_norm1(x)
    split = lambda t: t.reshape(b, n, attn.num_heads, d // attn.num_heads)  # noqa: E731
    q, k, v = split(attn.q_proj(h)), split(attn.k_proj(h)), split(attn.v_proj(h))
    impl = attn.implementation
    if kind == "maskclip":
        out = v
    elif kind == "clearclip":
        out = attention(q, q, v, bias, impl)
    elif kind == "sclip":
        out = attention(q, q, v, bias, impl) + attention(k, k, v, bias, impl)
    else:
        raise ValueError(f"region_features must be one of {REGION_FEATURES}, got {kind!r}")
    return attn.out_proj(out.reshape(b, n, d))


class VisionTransformer(nnx.Module):
    """The vision tower up to (not including) the projection, with optional token merging.

    `tome_r` is a ToMe schedule (an int for every layer, a list per layer, or an (r, inflect)
    ramp; see `tome.parse_r_schedule`); r = 0 is plain CLIP. With `prop_attn`, merged tokens
    weigh by their size in attention (log size added to the logits). `region_features` picks
    how the last block computes the region tokens (REGION_FEATURES; "tokens" is CLIP's own).
    """

    def __init__(
        self,
        cfg: VisionConfig,
        *,
        dtype: Any,
        rngs: nnx.Rngs,
        tome_r: tome.RSpec = 0,
        prop_attn: bool = True,
        region_features: str = "tokens",
        param_dtype: Any = jnp.float32,
        attention: str = "auto",
    ):
        if region_features not in REGION_FEATURES:
            raise ValueError(
                f"region_features must be one of {REGION_FEATURES}, got {region_features!r}"
            )
        self.region_features = region_features
        w, eps = cfg.hidden_size, cfg.layer_norm_eps
        self.embeddings = VisionEmbeddings(cfg, dtype=dtype, rngs=rngs, param_dtype=param_dtype)
        self.pre_layrnorm = _layer_norm(w, eps, dtype, rngs, param_dtype)
        self.encoder = Encoder(
            cfg, dtype=dtype, rngs=rngs, param_dtype=param_dtype, attention=attention
        )
        self.post_layernorm = _layer_norm(w, eps, dtype, rngs, param_dtype)
        self.tome_r = tuple(tome_r) if isinstance(tome_r, list) else tome_r
        self.prop_attn = prop_attn

    def r_schedule(self, num_tokens: int) -> tuple[int, ...]:
        """The static per-layer merge counts for `num_tokens` input tokens (class included)."""
        return tome.parse_r_schedule(self.tome_r, len(self.encoder.layers), num_tokens)

    def tokens(self, images: Array) -> tuple[Array, Array, Array]:
        """images [B, H, W, 3] → (tokens [B, M, D] before post_layernorm, sizes [B, M, 1],
        dest [B, 1 + N] int32: the output token each input token ended in). M = 1 + N − Σ r."""
        x = self.pre_layrnorm(self.embeddings(images))
        b, n, _ = x.shape
        size = jnp.ones((b, n, 1), jnp.float32)
        dest = tome.identity_dest(b, n)
        merged = False
        layers = self.encoder.layers
        for i, (layer, r) in enumerate(zip(layers, self.r_schedule(n), strict=True)):
            bias = tome.proportional_attention_bias(size) if (merged and self.prop_attn) else None
            dense = None
            if i == len(layers) - 1 and self.region_features != "tokens":
                dense = dense_last_attention(layer, x, bias, self.region_features)
            x, keys = layer.attend(x, bias)
            if r > 0:
                # The region path is merged with the same partners and sizes as the tokens.
                both = x if dense is None else jnp.concatenate([x, dense], axis=-1)
                both, size, layer_dest = tome.bipartite_merge(both, size, keys.mean(axis=2), r)
                x, dense = (both, None) if dense is None else jnp.split(both, 2, axis=-1)
                dest = tome.compose_dest(dest, layer_dest)
                merged = True
            x = layer.feed_forward(x)
            if dense is not None:
                x = jnp.concatenate([x[:, :1], dense[:, 1:]], axis=1)
        return x, size, dest

    def __call__(self, images: Array) -> Array:
        """images [B, H, W, 3] → last block's tokens [B, M, D] (before post_layernorm)."""
        return self.tokens(images)[0]


class TextEmbeddings(nnx.Module):
    """Token and position embeddings."""

    def __init__(self, cfg: TextConfig, *, rngs: nnx.Rngs, param_dtype: Any = jnp.float32):
        self.token_embedding = nnx.Embed(
            cfg.vocab_size, cfg.hidden_size, param_dtype=param_dtype, rngs=rngs
        )
        self.position_embedding = nnx.Embed(
            cfg.max_position_embeddings, cfg.hidden_size, param_dtype=param_dtype, rngs=rngs
        )

    def __call__(self, token_ids: Array) -> Array:
        n = token_ids.shape[-1]
        return self.token_embedding(token_ids) + self.position_embedding.embedding[...][:n]


class TextTransformer(nnx.Module):
    """The causal text tower with end-of-text pooling, up to (not including) the projection."""

    def __init__(
        self,
        cfg: TextConfig,
        *,
        dtype: Any,
        rngs: nnx.Rngs,
        param_dtype: Any = jnp.float32,
        attention: str = "auto",
    ):
        self.eos_token_id = cfg.eos_token_id
        self.max_length = cfg.max_position_embeddings
        self.dtype = dtype
        self.embeddings = TextEmbeddings(cfg, rngs=rngs, param_dtype=param_dtype)
        self.encoder = Encoder(
            cfg, dtype=dtype, rngs=rngs, param_dtype=param_dtype, attention=attention
        )
        self.final_layer_norm = _layer_norm(
            cfg.hidden_size, cfg.layer_norm_eps, dtype, rngs, param_dtype
        )

    def __call__(self, token_ids: Array) -> Array:
        """token_ids int [B, L] → pooled end-of-text state [B, D]."""
        if token_ids.shape[-1] > self.max_length:
            raise ValueError(
                f"sequence length {token_ids.shape[-1]} exceeds max_position_embeddings "
                f"{self.max_length}"
            )
        x = self.embeddings(token_ids).astype(self.dtype)
        x = self.final_layer_norm(self.encoder(x, causal_bias(token_ids.shape[-1])))
        if self.eos_token_id == 2:
            # Legacy configs: the end token is the largest id in the sequence (OpenAI's rule).
            eot = jnp.argmax(token_ids, axis=-1)
        else:
            eot = jnp.argmax(token_ids == self.eos_token_id, axis=-1)
        return jnp.take_along_axis(x, eot[:, None, None], axis=1)[:, 0]


class CLIP(nnx.Module):
    """Both CLIP towers and their projections into the joint space."""

    def __init__(
        self,
        cfg: ClipConfig,
        *,
        dtype: Any = jnp.float32,
        rngs: nnx.Rngs,
        tome_r: tome.RSpec = 0,
        prop_attn: bool = True,
        region_features: str = "tokens",
        param_dtype: Any = jnp.float32,
        attention: str = "auto",
    ):
        self.config = cfg
        numerics = dict(dtype=dtype, rngs=rngs, param_dtype=param_dtype, attention=attention)
        self.text_model = TextTransformer(cfg.text, **numerics)
        self.vision_model = VisionTransformer(
            cfg.vision,
            tome_r=tome_r,
            prop_attn=prop_attn,
            region_features=region_features,
            **numerics,
        )
        linear = functools.partial(
            nnx.Linear,
            out_features=cfg.projection_dim,
            use_bias=False,
            dtype=dtype,
            param_dtype=param_dtype,
            rngs=rngs,
        )
        self.visual_projection = linear(cfg.vision.hidden_size)
        self.text_projection = linear(cfg.text.hidden_size)
        self.logit_scale = nnx.Param(jnp.asarray(cfg.logit_scale_init_value, jnp.float32))

    def encode_image(self, images: Array) -> Array:
        """Normalised images float32 [B, H, W, 3] → image features [B, d] (`get_image_features`)."""
        tokens = self.vision_model(images)
        return self.visual_projection(self.vision_model.post_layernorm(tokens[:, 0]))

    def encode_image_dense(self, images: Array) -> Array:
        """Images [B, H, W, 3] → every token through post_layernorm and projection [B, 1 + N, d]."""
        tokens = self.vision_model(images)
        return self.visual_projection(self.vision_model.post_layernorm(tokens))

    def encode_image_regions(self, images: Array) -> dict[str, Array]:
        """Images [B, H, W, 3] → the merged region tokens of the dense output:

        tokens [B, M, d] (token 0 is the class token), size [B, M] (patches held, float32) and
        dest [B, 1 + N] int32 (for every input token, the region it ended in; entry 0 is the
        class token), so that regions can be drawn on the frame.
        """
        tokens, size, dest = self.vision_model.tokens(images)
        projected = self.visual_projection(self.vision_model.post_layernorm(tokens))
        return {"tokens": projected, "size": size[..., 0], "dest": dest}

    def encode_text(self, token_ids: Array) -> Array:
        """Token ids int32 [B, L] → text features [B, d] (`get_text_features`)."""
        return self.text_projection(self.text_model(token_ids))

    def __call__(self, images: Array, token_ids: Array) -> tuple[Array, Array]:
        """(logits_per_image [Bi, Bt], logits_per_text [Bt, Bi]), as `CLIPModel.forward`."""
        img = self.encode_image(images).astype(jnp.float32)
        txt = self.encode_text(token_ids).astype(jnp.float32)
        img = img / jnp.linalg.norm(img, axis=-1, keepdims=True)
        txt = txt / jnp.linalg.norm(txt, axis=-1, keepdims=True)
        logits_per_text = txt @ img.T * jnp.exp(self.logit_scale[...])
        return logits_per_text.T, logits_per_text
