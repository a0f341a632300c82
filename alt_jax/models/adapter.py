"""The video adapters (docs/method.md §5): aligned entity texts query the frames' region tokens.

`OrderedVideoAdapter` (`adapter.kind='ordered'`, the default) sees where and when: keys and
queries carry each region's position read from the ToMe map; the queries of frame t attend to the
regions of frame t (and optionally of a window of frames around it); each frame's queries are
summarised, and a temporal transformer with temporal position embeddings runs over the ordered
frame summaries; the readout keeps frame order. `GlobalVideoAdapter` (`adapter.kind='global'`) is
the first version, kept for the ablation: every query attends to all T·M regions, regions carry no
position, and the mean over all queries cannot tell a motion from its reverse.

Both give a vector projected by W_o into the joint space; the caller adds it to CLIP's frame
average through a gate, so g = 0 is exactly CLIP's zero-shot.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from alt_jax.models.attention import dot_product_attention
from alt_jax.models.region_position import POSITION_KINDS, RegionPositionEncoder

Array = jax.Array


CONV_PADDINGS = ("zero", "edge")


def depthwise_temporal_conv(x: Array, kernel: Array, bias: Array, padding: str = "zero") -> Array:
    """x [B, T, C], kernel [k, C] (k odd), bias [C] → [B, T, C]; same length, the ends padded
    with zeros ("zero") or copies of the first and last frame ("edge").

    out[t, c] = bias[c] + Σ_j kernel[j, c] · x[t + j − k // 2, c]  (cross-correlation, as conv
    layers compute it).
    """
    k, t = kernel.shape[0], x.shape[1]
    if k % 2 != 1:
        raise ValueError(f"temporal conv kernel size must be odd, got {k}")
    if padding not in CONV_PADDINGS:
        raise ValueError(f"conv padding must be one of {CONV_PADDINGS}, got {padding!r}")
    half = k // 2
    mode = "constant" if padding == "zero" else "edge"
    padded = jnp.pad(x, ((0, 0), (half, half), (0, 0)), mode=mode)
    out = sum(padded[:, j : j + t] * kernel[j] for j in range(k))
    return out + bias


def gated_residual(base: Array, update: Array, gate: Array) -> Array:
    """base + g · update: with g = 0 the output is exactly `base` (CLIP's frame average)."""
    return base + gate * update


class MLP(nnx.Module):
    """Linear → GELU → Linear."""

    def __init__(self, d_in: int, hidden: int, d_out: int, *, rngs: nnx.Rngs):
        self.fc1 = nnx.Linear(d_in, hidden, rngs=rngs)
        self.fc2 = nnx.Linear(hidden, d_out, rngs=rngs)

    def __call__(self, x: Array) -> Array:
        return self.fc2(jax.nn.gelu(self.fc1(x)))


class MultiHeadAttention(nnx.Module):
    """Multi-head attention between a query sequence and a key/value sequence."""

    def __init__(self, width: int, heads: int, *, rngs: nnx.Rngs):
        if width % heads:
            raise ValueError(f"adapter width {width} is not divisible by {heads} heads")
        self.heads = heads
        self.q_proj = nnx.Linear(width, width, rngs=rngs)
        self.k_proj = nnx.Linear(width, width, rngs=rngs)
        self.v_proj = nnx.Linear(width, width, rngs=rngs)
        self.out_proj = nnx.Linear(width, width, rngs=rngs)

    def __call__(self, q: Array, kv: Array, bias: Array | None = None) -> Array:
        """q [B, Nq, W], kv [B, Nk, W], bias broadcastable to [B, H, Nq, Nk] → [B, Nq, W]."""
        split = lambda t: t.reshape(*t.shape[:2], self.heads, -1)  # noqa: E731
        out = dot_product_attention(
            split(self.q_proj(q)), split(self.k_proj(kv)), split(self.v_proj(kv)), bias
        )
        return self.out_proj(out.reshape(q.shape))


class DecoderLayer(nnx.Module):
    """Q ← Q + CrossAttn(LN(Q), LN(KV)); Q ← Q + SelfAttn(LN(Q)); Q ← Q + MLP(LN(Q))."""

    def __init__(self, width: int, heads: int, mlp_ratio: float, *, rngs: nnx.Rngs):
        self.ln_q = nnx.LayerNorm(width, rngs=rngs)
        self.ln_kv = nnx.LayerNorm(width, rngs=rngs)
        self.cross_attn = MultiHeadAttention(width, heads, rngs=rngs)
        self.ln_self = nnx.LayerNorm(width, rngs=rngs)
        self.self_attn = MultiHeadAttention(width, heads, rngs=rngs)
        self.ln_mlp = nnx.LayerNorm(width, rngs=rngs)
        self.mlp = MLP(width, int(width * mlp_ratio), width, rngs=rngs)

    def __call__(self, q: Array, kv: Array, bias: Array | None = None) -> Array:
        """q [B, Nq, W], kv [B, Nk, W], cross-attention bias [B, 1, 1, Nk] or None → [B, Nq, W]."""
        q = q + self.cross_attn(self.ln_q(q), self.ln_kv(kv), bias)
        h = self.ln_self(q)
        q = q + self.self_attn(h, h)
        return q + self.mlp(self.ln_mlp(q))


class EncoderLayer(nnx.Module):
    """x ← x + SelfAttn(LN(x)); x ← x + MLP(LN(x)) (the temporal transformer's layer)."""

    def __init__(self, width: int, heads: int, mlp_ratio: float, *, rngs: nnx.Rngs):
        self.ln_attn = nnx.LayerNorm(width, rngs=rngs)
        self.attn = MultiHeadAttention(width, heads, rngs=rngs)
        self.ln_mlp = nnx.LayerNorm(width, rngs=rngs)
        self.mlp = MLP(width, int(width * mlp_ratio), width, rngs=rngs)

    def __call__(self, x: Array) -> Array:
        """x [B, N, W] → [B, N, W]."""
        h = self.ln_attn(x)
        x = x + self.attn(h, h)
        return x + self.mlp(self.ln_mlp(x))


def output_projection(width: int, text_dim: int, zero: bool, rngs: nnx.Rngs) -> nnx.Linear:
    """W_o: the adapter's vector z in the joint space; with `zero`, z = 0 at init, so g·z adds
    nothing at step 0 whatever the gate, while an open gate still passes the gradient to W_o."""
    init = nnx.initializers.zeros if zero else nnx.initializers.lecun_normal()
    return nnx.Linear(width, text_dim, use_bias=False, kernel_init=init, rngs=rngs)


def identity_conv_kernel(size: int, width: int, key: Array) -> Array:
    """A depthwise kernel [size, width] that is the identity on the centre tap plus N(0, 0.02²)."""
    if size % 2 != 1:
        raise ValueError(f"temporal conv kernel size must be odd, got {size}")
    kernel = 0.02 * jax.random.normal(key, (size, width), jnp.float32)
    return kernel.at[size // 2].add(1.0)


def sinusoidal_embedding(length: int, width: int) -> Array:
    """Transformer sinusoids [length, width]: sin on the first half of the channels, cos on the
    second, wavelengths 2π·10000^(i/(W/2)); RMS 1/√2, comparable to a layer-normed token."""
    half = width // 2
    inv = 1.0 / (10000.0 ** (jnp.arange(half, dtype=jnp.float32) / max(half, 1)))
    angles = jnp.arange(length, dtype=jnp.float32)[:, None] * inv[None]
    table = jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)
    return jnp.pad(table, ((0, 0), (0, width - 2 * half)))


def frame_windows(kv: Array, window: int) -> tuple[Array, Array | None]:
    """kv [B, T, M, W] → (keys of frames t−w … t+w for every t [B·T, (2w+1)·M, W], additive
    bias [B·T, 1, 1, (2w+1)·M] that masks the frames beyond the clip's ends, or None if w = 0)."""
    b, t, m, w_ = kv.shape
    if window == 0:
        return kv.reshape(b * t, m, w_), None
    padded = jnp.pad(kv, ((0, 0), (window, window), (0, 0), (0, 0)))
    offsets = range(2 * window + 1)
    stacked = jnp.stack([padded[:, j : j + t] for j in offsets], axis=2)  # [B, T, 2w+1, M, W]
    frame = jnp.arange(t)[:, None] + jnp.arange(-window, window + 1)[None]  # [T, 2w+1]
    valid = (frame >= 0) & (frame < t)
    bias = jnp.where(valid, 0.0, jnp.finfo(jnp.float32).min)  # [T, 2w+1]
    bias = jnp.broadcast_to(jnp.repeat(bias, m, axis=1)[None], (b, t, (2 * window + 1) * m))
    keys = stacked.reshape(b * t, (2 * window + 1) * m, w_)
    return keys, bias.reshape(b * t, 1, 1, -1)


READOUTS = ("ordered", "video_token", "mean")
# What the temporal module sees of the frame summaries s_t (docs/method.md §5):
# "appearance_and_change": a clip token LN(s̄) and change tokens N(s_t − s̄) + P_t, each normalised
# on its own, so the clip's appearance and what changes over it both arrive at unit scale;
# "centred": the change tokens alone (what is static is deleted); "raw": LN(s_t) + P_t.
TEMPORAL_INPUTS = ("appearance_and_change", "centred", "raw")
# How a frame's queries are summarised: "mean" over its regions, or "entity": every aligned
# entity of the frame weighs the same, however many regions took it (a small object's entity
# counts as much as the background's).
QUERY_POOLINGS = ("mean", "entity")


def entity_weights(entity_index: Array) -> Array:
    """entity_index [..., M] → weights [..., M] summing to 1 per frame: 1 / (number of distinct
    entities · regions sharing the region's entity)."""
    same = entity_index[..., :, None] == entity_index[..., None, :]  # [..., M, M]
    count = same.sum(axis=-1).astype(jnp.float32)  # regions sharing each region's entity
    weights = 1.0 / count
    return weights / weights.sum(axis=-1, keepdims=True)


def change_norm(change: Array, reference: Array, floor: float, eps: float = 1e-6) -> Array:
    """Layer-normalises change [B, T, W] with a variance floor of floor² times the variance of
    reference [B, W] (the clip's mean summary): changes far below `floor` of the clip's own
    scale (codec noise in a still clip) stay small instead of being blown up to unit scale."""
    centred = change - change.mean(axis=-1, keepdims=True)
    var = jnp.mean(centred * centred, axis=-1, keepdims=True)  # [B, T, 1]
    ref_var = jnp.var(reference, axis=-1)[:, None, None]  # [B, 1, 1]
    return centred * jax.lax.rsqrt(var + floor**2 * ref_var + eps)


class OrderedVideoAdapter(nnx.Module):
    """Frame-local entity queries over positioned regions → ordered temporal module → z [B, d].

    Per frame t (docs/method.md §5): KV = MLP_kv(regions) + pos + conv_t(MLP_kv(cls));
    Q = MLP_q(Q̂) (+ pos with `query_position`), pos = the region position encoding from the
    ToMe map. Decoder layers over the regions of frame t (± `frame_window` frames). Frame
    summary s_t = mean of frame t's queries. The temporal transformer sees, by
    `temporal_input`, a clip token and change tokens (`appearance_and_change`), change tokens
    alone (`centred`) or the raw summaries, with temporal position embeddings P_t (sinusoidal at
    init, learnable) on the frame tokens and, with the `video_token` readout, a learned video
    token first. Readouts of the frame tokens: `ordered` (concatenated in frame order, then W_o;
    needs exactly `num_frames` frames), `video_token`, or `mean` (order-blind unless P is on);
    the clip token's output (and with `class_token` the class token's: the clip's mean class
    token through one linear map) is concatenated in front.
    """

    def __init__(
        self,
        *,
        region_dim: int,
        text_dim: int,
        width: int,
        depth: int,
        heads: int,
        mlp_ratio: float,
        conv_kernel: int,
        num_frames: int,
        position: str = "fourier",
        fourier_bands: int = 4,
        frame_window: int = 0,
        temporal_depth: int = 1,
        temporal_position: bool = True,
        readout: str = "ordered",
        temporal_input: str = "appearance_and_change",
        change_floor: float = 0.05,
        query_position: bool = True,
        conv_padding: str = "zero",
        frame_embedding: bool = False,
        query_pooling: str = "mean",
        relevance: bool = True,
        class_token: bool = False,
        zero_output: bool = False,
        rngs: nnx.Rngs,
    ):
        if query_pooling not in QUERY_POOLINGS:
            raise ValueError(
                f"adapter.query_pooling must be one of {QUERY_POOLINGS}, got {query_pooling!r}"
            )
        self.query_pooling = query_pooling
        # Which regions' entities make the entity readout (ALT.head): a score per region from
        # its query's output, zero at init (every distinct entity of a frame weighs alike).
        self.relevance = (
            nnx.Linear(width, 1, use_bias=False, kernel_init=nnx.initializers.zeros, rngs=rngs)
            if relevance
            else None
        )  # no bias: it would cancel in the softmax over regions
        if position not in POSITION_KINDS:
            raise ValueError(f"adapter.position must be one of {POSITION_KINDS}, got {position!r}")
        if readout not in READOUTS:
            raise ValueError(f"adapter.readout must be one of {READOUTS}, got {readout!r}")
        if temporal_input not in TEMPORAL_INPUTS:
            raise ValueError(
                f"adapter.temporal_input must be one of {TEMPORAL_INPUTS}, got {temporal_input!r}"
            )
        if conv_padding not in CONV_PADDINGS:
            raise ValueError(
                f"adapter.conv_padding must be one of {CONV_PADDINGS}, got {conv_padding!r}"
            )
        if frame_window < 0:
            raise ValueError(f"adapter.frame_window must be >= 0, got {frame_window}")
        if change_floor < 0:
            raise ValueError(f"adapter.change_floor must be >= 0, got {change_floor}")
        self.num_frames = num_frames
        self.frame_window = frame_window
        self.temporal_input = temporal_input
        self.change_floor = change_floor
        self.query_position = query_position
        self.conv_padding = conv_padding
        self.readout = readout
        self.mlp_kv = MLP(region_dim, width, width, rngs=rngs)
        self.mlp_q = MLP(text_dim, width, width, rngs=rngs)
        self.region_position = (
            RegionPositionEncoder(width, fourier_bands, rngs=rngs)
            if position == "fourier"
            else None
        )
        # A per-frame time code on the keys and queries (of frame t), as sinusoids: it matters
        # with frame_window > 0 (keys of other frames); frame-local attention only shifts logits.
        self.frame_embedding = (
            nnx.Param(sinusoidal_embedding(num_frames, width)) if frame_embedding else None
        )
        if frame_window:
            # Which neighbour frame a key comes from (offsets −w … w).
            self.window_embedding = nnx.Param(
                0.02 * jax.random.normal(rngs.params(), (2 * frame_window + 1, width), jnp.float32)
            )
        self.conv_kernel = nnx.Param(identity_conv_kernel(conv_kernel, width, rngs.params()))
        self.conv_bias = nnx.Param(jnp.zeros((width,), jnp.float32))
        self.layers = nnx.List(
            [DecoderLayer(width, heads, mlp_ratio, rngs=rngs) for _ in range(depth)]
        )
        if temporal_input == "appearance_and_change":
            self.ln_clip = nnx.LayerNorm(width, rngs=rngs)  # the clip token
            # Learnable gain and bias of change_norm (LayerNorm's affine part).
            self.change_scale = nnx.Param(jnp.ones((width,), jnp.float32))
            self.change_bias = nnx.Param(jnp.zeros((width,), jnp.float32))
        else:
            self.ln_frame = nnx.LayerNorm(width, rngs=rngs)
        # Sinusoids of RMS 1/√2 against layer-normed summaries (RMS 1): order is visible from the
        # first step; a 0.02-scale table would be drowned by the summaries.
        self.temporal_position = (
            nnx.Param(sinusoidal_embedding(num_frames, width)) if temporal_position else None
        )
        if readout == "video_token":
            self.video_token = nnx.Param(jnp.zeros((width,), jnp.float32))
        self.temporal_layers = nnx.List(
            [EncoderLayer(width, heads, mlp_ratio, rngs=rngs) for _ in range(temporal_depth)]
        )
        # The clip's mean class token as a token of its own: the frozen encoder's summary of
        # each frame reaches z through one linear map, as a linear probe on it would.
        if class_token:
            self.class_proj = nnx.Linear(region_dim, width, rngs=rngs)
            self.ln_class = nnx.LayerNorm(width, rngs=rngs)
        self.class_token = class_token
        self.ln_out = nnx.LayerNorm(width, rngs=rngs)
        readout_width = width * num_frames if readout == "ordered" else width
        readout_width += width * self.num_appearance_tokens
        self.out_proj = output_projection(readout_width, text_dim, zero_output, rngs)  # W_o

    @property
    def num_appearance_tokens(self) -> int:
        """Tokens in front of the frame tokens whose outputs lead the readout (clip, class)."""
        return int(self.temporal_input == "appearance_and_change") + int(self.class_token)

    def frame_summaries(
        self,
        regions: Array,
        cls: Array,
        queries: Array,
        dest: Array,
        entity_index: Array | None = None,
    ) -> tuple[Array, Array]:
        """The decoder's per-frame summaries s_t [B, T, W] (frame t's queries pooled: mean, or
        with `query_pooling="entity"` every entity of entity_index [B, T, M] weighing alike), and
        the regions' readout weights [B, T, M] (softmax of the relevance scores plus the log of
        the per-entity weights: each frame's weights sum to 1)."""
        b, t, m, _ = regions.shape
        context = depthwise_temporal_conv(
            self.mlp_kv(cls), self.conv_kernel[...], self.conv_bias[...], self.conv_padding
        )  # [B, T, W]
        kv = self.mlp_kv(regions) + context[:, :, None]  # [B, T, M, W]
        q = self.mlp_q(queries)  # [B, T, M, W]
        if self.region_position is not None:
            pos = self.region_position(dest, m)  # [B, T, M, W]
            kv = kv + pos
            if self.query_position:
                q = q + pos
        if self.frame_embedding is not None:
            time = self.frame_embedding[...][:t][None, :, None]  # [1, T, 1, W]
            kv, q = kv + time, q + time
        keys, bias = frame_windows(kv, self.frame_window)  # [B·T, (2w+1)·M, W]
        if self.frame_window:
            offset = jnp.repeat(self.window_embedding[...], m, axis=0)  # [(2w+1)·M, W]
            keys = keys + offset
        q = q.reshape(b * t, m, -1)
        for layer in self.layers:
            q = layer(q, keys, bias)
        q = q.reshape(b, t, m, -1)
        per_entity = (
            entity_weights(entity_index)
            if entity_index is not None
            else jnp.full((b, t, m), 1.0 / m, jnp.float32)
        )
        if self.relevance is not None:
            readout = jax.nn.softmax(self.relevance(q)[..., 0] + jnp.log(per_entity), axis=-1)
        else:
            readout = per_entity  # [B, T, M]
        if self.query_pooling == "entity":
            return jnp.einsum("btm,btmw->btw", per_entity, q), readout
        return q.mean(axis=2), readout

    def __call__(
        self,
        regions: Array,
        cls: Array,
        queries: Array,
        dest: Array,
        entity_index: Array | None = None,
    ) -> tuple[Array, Array]:
        """regions [B, T, M, D] (LN'd region tokens), cls [B, T, D] (LN'd class tokens),
        queries [B, T, M, d] (aligned entity texts Q̂), dest [B, T, 1 + N] (ToMe map),
        entity_index [B, T, M] (the aligned entities; None for learned queries) → (z [B, d],
        readout weights of the regions [B, T, M], each frame's summing to 1)."""
        b, t = regions.shape[:2]
        if t > self.num_frames or (self.readout == "ordered" and t != self.num_frames):
            need = "exactly" if self.readout == "ordered" else "at most"
            raise ValueError(
                f"{t} frames, but the adapter was built for {need} {self.num_frames} "
                f"(adapter.readout={self.readout!r}, model.num_frames)"
            )
        summary, readout = self.frame_summaries(regions, cls, queries, dest, entity_index)
        mean = summary.mean(axis=1)  # [B, W]
        if self.temporal_input == "appearance_and_change":
            x = change_norm(summary - mean[:, None], mean, self.change_floor)
            x = x * self.change_scale[...] + self.change_bias[...]
        elif self.temporal_input == "centred":
            x = self.ln_frame(summary - mean[:, None])
        else:
            x = self.ln_frame(summary)
        if self.temporal_position is not None:
            x = x + self.temporal_position[...][:t]
        lead = []  # tokens in front of the frame tokens
        if self.temporal_input == "appearance_and_change":
            lead.append(self.ln_clip(mean)[:, None])
        if self.class_token:
            lead.append(self.ln_class(self.class_proj(cls.mean(axis=1)))[:, None])
        if self.readout == "video_token":
            lead.append(jnp.broadcast_to(self.video_token[...], (b, 1, x.shape[-1])))
        x = jnp.concatenate([*lead, x], axis=1)
        for layer in self.temporal_layers:
            x = layer(x)
        x = self.ln_out(x)
        frames = x[:, len(lead) :]
        if self.readout == "ordered":
            pooled = frames.reshape(b, -1)  # frame order kept: frame t owns channels [tW, (t+1)W)
        elif self.readout == "video_token":
            pooled = x[:, len(lead) - 1]
        else:
            pooled = frames.mean(axis=1)
        appearance = x[:, : self.num_appearance_tokens].reshape(b, -1)
        pooled = jnp.concatenate([appearance, pooled], axis=-1)  # clip and class tokens first
        return self.out_proj(pooled), readout


class GlobalVideoAdapter(nnx.Module):
    """The first adapter (`adapter.kind='global'`): all T·M queries over all T·M regions, no
    region position, mean over queries → a video vector [B, d]."""

    def __init__(
        self,
        *,
        region_dim: int,
        text_dim: int,
        width: int,
        depth: int,
        heads: int,
        mlp_ratio: float,
        conv_kernel: int,
        num_frames: int,
        zero_output: bool = False,
        rngs: nnx.Rngs,
    ):
        if conv_kernel % 2 != 1:
            raise ValueError(f"temporal conv kernel size must be odd, got {conv_kernel}")
        self.mlp_kv = MLP(region_dim, width, width, rngs=rngs)
        self.mlp_q = MLP(text_dim, width, width, rngs=rngs)
        self.temporal_embedding = nnx.Param(
            0.02 * jax.random.normal(rngs.params(), (num_frames, width), jnp.float32)
        )
        # Depthwise conv starts as the identity on the centre tap plus small noise elsewhere,
        # so the temporal context at init is each frame's own class token.
        self.conv_kernel = nnx.Param(identity_conv_kernel(conv_kernel, width, rngs.params()))
        self.conv_bias = nnx.Param(jnp.zeros((width,), jnp.float32))
        self.layers = nnx.List(
            [DecoderLayer(width, heads, mlp_ratio, rngs=rngs) for _ in range(depth)]
        )
        self.out_proj = output_projection(width, text_dim, zero_output, rngs)  # W_o

    def __call__(
        self,
        regions: Array,
        cls: Array,
        queries: Array,
        dest: Array | None = None,
        entity_index: Array | None = None,
    ) -> Array:
        """regions [B, T, M, D] (LN'd region tokens), cls [B, T, D] (LN'd class tokens),
        queries [B, T, M, d] (aligned entity texts Q̂) → (z [B, d], readout weights [B, T, M]:
        every distinct entity of a frame alike); `dest` is not used."""
        b, t, m, _ = regions.shape
        if t > self.temporal_embedding.shape[0]:
            raise ValueError(
                f"{t} frames, but the adapter has a temporal embedding for "
                f"{self.temporal_embedding.shape[0]}"
            )
        temb = self.temporal_embedding[...][:t]  # [T, W]
        # Class tokens share MLP_kv with the regions, so the context lives in the keys' space.
        context = depthwise_temporal_conv(
            self.mlp_kv(cls), self.conv_kernel[...], self.conv_bias[...]
        )  # [B, T, W]
        kv = self.mlp_kv(regions) + (temb + context)[:, :, None]  # [B, T, M, W]
        q = self.mlp_q(queries) + temb[None, :, None]  # [B, T, M, W]
        kv, q = kv.reshape(b, t * m, -1), q.reshape(b, t * m, -1)
        for layer in self.layers:
            q = layer(q, kv)
        readout = (
            entity_weights(entity_index)
            if entity_index is not None
            else jnp.full((b, t, m), 1.0 / m, jnp.float32)
        )
        return self.out_proj(q.mean(axis=1)), readout
