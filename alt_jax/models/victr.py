"""VicTR: video-conditioned text representations (Kahatapitiya et al., CVPR 2024; docs/method.md §6).

A second head on ALT's frozen CLIP encoder, fed by the same `video_features` (so one feature
cache serves both heads): the per-frame class tokens v_t, the region tokens and the ToMe map; the
n class-prompt embeddings are an input (classes swap without retraining) and the m auxiliary text
embeddings state (by default the entity corpus, the matrix ALT aligns regions with).

    visual token     x_t = v̂_t + RegionPool_t            (RegionPool: v̂_t's query over the frame's
                                                          region tokens + their positions) [ours]
    token boosting   a_{t,j} = softmax_j(cos(v_t, w_j) / τ_b),  u_{t,j} = J·a_{t,j} · ŵ_j [ours: J·]
                     → tokens X [B, T, 1+n+m, W] (visual token first) + temporal embedding P_t
    L × layer        X ← X + CrossModalAttn(LN(X))   over the 1+n+m tokens of one time step
                     X ← X + TemporalAttn(LN(X))     over T, per token (one set of weights for
                                                      visual and text tokens)
                     affinity re-weighting: ū_j = mean_t u_{t,j};  u_{t,j} ← J·a'_{t,j} · ū_j with
                     a'_{t,j} = softmax_j(cos(x_t, ū_j) / τ_b)
                     X ← X + MLP(LN(X))
    pooling          p = mean_t X_t + [c_1 … c_T]·P   (c_t: X_t's normalised change from the mean,
                                                      in frame order) [ours]
    classifier       z = mean_t v̂_t + g_v·p̂_video;  c_i = ŵ_i + g_c·p̂_i;  e_k = ê_k + g_c·p̂_k [ours]
                     ĉ_i = ĉ(c_i) + Σ_k softmax_k(cos(c_i, e_k) / τ) ê_k   (x̂ = x / ‖x‖)
                     logits_i = s · cos(z, ĉ_i)

The published design is `PUBLISHED_DESIGN` (class-token visual tokens, u = a·w at τ = 0.01, a
temporal mean, the classifier on the head's pooled tokens alone). Each of our departures is a
knob and was measured (BENCHMARKS.md "VicTR"): with the published design this head could not
read a direction on the demo (26 %), since a class token does not say where things are, the
sharp boosting left 93 % of the text tokens below 1e-3 of their norm (their identity then came
from the temporal embedding alone), and a temporal mean cannot tell a motion from its reverse.

Other [ours] choices where the notes are silent:
- The CLIP embeddings are L2-normalised before boosting, so both modalities enter the head on
  CLIP's unit sphere (raw image features are ~10× longer than text features).
- Temperatures are fixed, not learnt: τ_b (`victr.boost_temperature`, 0.1) for boosting and
  re-weighting, τ (`victr.affinity_temperature`, 0.01 = CLIP's logit scale 100) for the auxiliary
  aggregation.
- Re-weighting replaces the text tokens by the boosting rule applied to the updated, temporally
  pooled tokens; the visual tokens pass through unchanged.
- Tokens live at width W (`victr.width`, 0 = d); when W ≠ d one linear map, shared by both
  modalities, projects them in (and one back out for the anchored classifier). The learnt
  temporal embedding starts as sinusoids at a unit token's norm; the head ends with a LayerNorm
  before the pooling.
- The auxiliary aggregate is added to the class's unit vector (not a weighted score), and the
  logit scale s is learnt (its log), initialised at `logit_scale_init` like ALT's.
- No dropout, so `rng` is accepted for the shared interface and unused. With the anchored
  classifier and g_v = g_c = 0 the logits are CLIP's zero-shot on the frame average (without
  auxiliary texts); the gates start at `victr.gate_init` (1).
- Defaults: 2 layers, 8 heads, MLP ratio 4 (the notes give no depth).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from alt_jax.models.adapter import MLP, MultiHeadAttention, change_norm, sinusoidal_embedding
from alt_jax.models.alignment import l2_normalize
from alt_jax.models.alt import frozen_video_features
from alt_jax.models.clip import CLIP
from alt_jax.models.region_position import RegionPositionEncoder

Array = jax.Array

# The model.victr knobs that give the published design (our defaults differ in each; BENCHMARKS.md
# and docs/method.md §6 have what each one costs).
PUBLISHED_DESIGN = {
    "visual": "class_token",
    "boost": "softmax",
    "boost_temperature": 0.01,
    "temporal_init": "normal",
    "pooling": "mean",
    "anchor": False,
}
VISUAL_KINDS = ("regions", "class_token")
BOOST_KINDS = ("relative", "softmax")
TEMPORAL_INITS = ("sinusoidal", "normal")
POOLINGS = ("ordered", "mean")


class AuxiliaryBank(nnx.Variable):
    """The auxiliary text embeddings [m, d] (objects, scenes): state, never a trainable param."""


def affinity(visual: Array, text: Array, temperature: float) -> Array:
    """visual [B, T, W], text [B, J, W] → a [B, T, J] = softmax_j(cos(v_t, w_j) / τ)."""
    cos = jnp.einsum("btw,bjw->btj", l2_normalize(visual), l2_normalize(text))
    return jax.nn.softmax(cos / temperature, axis=-1)


def boost_tokens(visual: Array, text: Array, temperature: float, relative: bool = False) -> Array:
    """Token boosting: visual [B, T, W], text [B, J, W] → u [B, T, J, W], u_{t,j} = a_{t,j} w_j,
    or J·a_{t,j}·w_j with `relative` (the affinity relative to the uniform 1/J)."""
    a = affinity(visual, text, temperature)  # [B, T, J]
    if relative:
        a = a * text.shape[1]
    return a[..., None] * text[:, None]


def reweight_text(visual: Array, text: Array, temperature: float, relative: bool = False) -> Array:
    """Affinity re-weighting: visual [B, T, W], text [B, T, J, W] → [B, T, J, W]; the text
    tokens are pooled over time and boosted again with affinities to the updated frames."""
    return boost_tokens(visual, text.mean(axis=1), temperature, relative)


def frame_changes(x: Array, floor: float = 0.05) -> Array:
    """x [B, T, J, W] → the deviations from the temporal mean, layer-normalised per frame with a
    variance floor of floor² times the mean token's variance (adapter.change_norm, per token)
    [B, T, J, W]: what changes between frames is a small part of each token, and this brings it
    to unit scale."""
    b, t, j, w = x.shape
    seq = x.transpose(0, 2, 1, 3).reshape(b * j, t, w)  # one time series per token
    mean = seq.mean(axis=1)
    changes = change_norm(seq - mean[:, None], mean, floor)
    return changes.reshape(b, j, t, w).transpose(0, 2, 1, 3)


def ordered_pool(x: Array, kernel: Array) -> Array:
    """x [B, T, J, W], kernel [T·W, W] → [B, J, W] = mean_t x_t + [c_1 … c_T] · kernel, c_t the
    normalised frame changes in frame order: the mean keeps what is there, the ordered changes
    what happens in which order (a linear map of them reads e.g. last minus first)."""
    b, t, j, w = x.shape
    changes = frame_changes(x).transpose(0, 2, 1, 3).reshape(b, j, t * w)
    return x.mean(axis=1) + changes @ kernel


def aggregate_auxiliary(classes: Array, auxiliary: Array, temperature: float) -> Array:
    """classes [B, n, W], auxiliary [B, m, W] → ĉ [B, n, W] = ĉ_i + Σ_k α_ik ê_k with
    α_ik = softmax_k(cos(c_i, e_k) / τ); with m = 0, the unit class vectors."""
    classes = l2_normalize(classes)
    if auxiliary.shape[1] == 0:
        return classes
    auxiliary = l2_normalize(auxiliary)
    alpha = jax.nn.softmax(
        jnp.einsum("bnw,bmw->bnm", classes, auxiliary) / temperature, axis=-1
    )  # [B, n, m]
    return classes + jnp.einsum("bnm,bmw->bnw", alpha, auxiliary)


def affinity_logits(
    video: Array, classes: Array, auxiliary: Array, temperature: float, scale: Array
) -> Array:
    """video [B, W], classes [B, n, W], auxiliary [B, m, W] → logits [B, n] =
    s · cos(z, aggregate_auxiliary(c, e)_i)."""
    conditioned = l2_normalize(aggregate_auxiliary(classes, auxiliary, temperature))
    return scale * jnp.einsum("bw,bnw->bn", l2_normalize(video), conditioned)


class VicTRLayer(nnx.Module):
    """Cross-modal attention per time step, temporal attention per token, affinity
    re-weighting, MLP; all pre-LN residual, on tokens X [B, T, 1+J, W] (visual first)."""

    def __init__(
        self,
        width: int,
        heads: int,
        mlp_ratio: float,
        temperature: float,
        *,
        relative: bool = False,
        rngs: nnx.Rngs,
    ):
        self.temperature = temperature
        self.relative = relative
        self.ln_cross = nnx.LayerNorm(width, rngs=rngs)
        self.cross_attn = MultiHeadAttention(width, heads, rngs=rngs)
        self.ln_temporal = nnx.LayerNorm(width, rngs=rngs)
        self.temporal_attn = MultiHeadAttention(width, heads, rngs=rngs)
        self.ln_mlp = nnx.LayerNorm(width, rngs=rngs)
        self.mlp = MLP(width, int(width * mlp_ratio), width, rngs=rngs)

    def cross_modal(self, x: Array) -> Array:
        """X + CrossModalAttn(LN(X)): every token attends to the tokens of its own frame."""
        b, t, n, w = x.shape
        h = self.ln_cross(x).reshape(b * t, n, w)
        return x + self.cross_attn(h, h).reshape(b, t, n, w)

    def temporal(self, x: Array) -> Array:
        """X + TemporalAttn(LN(X)): every token attends to itself at the other time steps."""
        b, t, n, w = x.shape
        h = self.ln_temporal(x).transpose(0, 2, 1, 3).reshape(b * n, t, w)
        out = self.temporal_attn(h, h).reshape(b, n, t, w).transpose(0, 2, 1, 3)
        return x + out

    def reweight(self, x: Array) -> Array:
        """Re-weights the text tokens by their affinity to the frames' visual tokens."""
        visual, text = x[:, :, :1], x[:, :, 1:]  # [B, T, 1, W], [B, T, J, W]
        text = reweight_text(visual[:, :, 0], text, self.temperature, self.relative)
        return jnp.concatenate([visual, text], axis=2)

    def __call__(self, x: Array) -> Array:
        """x [B, T, 1+J, W] → [B, T, 1+J, W]."""
        x = self.reweight(self.temporal(self.cross_modal(x)))
        return x + self.mlp(self.ln_mlp(x))


class FrameRegionPool(nnx.Module):
    """[ours] A frame's region tokens with their positions, pooled into one vector: the frame's
    class token asks (one attention query per frame) which regions to read; keys and values are
    the regions' tokens plus their position encoding from the ToMe map, so the vector says what
    is where."""

    def __init__(
        self, region_dim: int, text_dim: int, width: int, heads: int, bands: int, *, rngs: nnx.Rngs
    ):
        self.region_proj = nnx.Linear(region_dim, width, rngs=rngs)
        self.query_proj = nnx.Linear(text_dim, width, rngs=rngs)
        self.position = RegionPositionEncoder(width, bands, rngs=rngs)
        self.ln = nnx.LayerNorm(width, rngs=rngs)
        self.attn = MultiHeadAttention(width, heads, rngs=rngs)

    def __call__(self, regions: Array, cls: Array, dest: Array) -> Array:
        """regions [B, T, M, D], cls [B, T, d] (unit), dest [B, T, 1+N] → [B, T, W]."""
        b, t, m, _ = regions.shape
        kv = self.ln(self.region_proj(regions) + self.position(dest, m))  # [B, T, M, W]
        q = self.query_proj(cls)  # [B, T, W]
        out = self.attn(q.reshape(b * t, 1, -1), kv.reshape(b * t, m, -1))
        return out.reshape(b, t, -1)


class VicTR(nnx.Module):
    """VicTR on a frozen CLIP; class embeddings are an input, so classes swap freely."""

    def __init__(
        self,
        clip: CLIP,
        auxiliary_embeddings: Array | np.ndarray | None,
        config: ml_collections.ConfigDict,
        *,
        rngs: nnx.Rngs,
    ):
        d = clip.config.projection_dim
        vc = config.victr
        aux = jnp.zeros((0, d), jnp.float32)
        if auxiliary_embeddings is not None:
            aux = jnp.asarray(auxiliary_embeddings, jnp.float32)
        if aux.ndim != 2 or aux.shape[1] != d:
            raise ValueError(f"auxiliary embeddings must be [m, {d}], got {aux.shape}")
        for key, value, valid in (
            ("visual", vc.visual, VISUAL_KINDS),
            ("boost", vc.boost, BOOST_KINDS),
            ("temporal_init", vc.temporal_init, TEMPORAL_INITS),
            ("pooling", vc.pooling, POOLINGS),
        ):
            if value not in valid:
                raise ValueError(f"model.victr.{key} must be one of {valid}, got {value!r}")
        for key in ("affinity_temperature", "boost_temperature"):
            if vc[key] <= 0:
                raise ValueError(f"model.victr.{key} must be > 0, got {vc[key]}")
        width = vc.width or d
        self.clip = clip
        self.auxiliary = AuxiliaryBank(aux)
        self.temperature = float(vc.affinity_temperature)
        self.boost_temperature = float(vc.boost_temperature)
        self.relative = vc.boost == "relative"
        # Identity when the head works in CLIP's joint space; one map for both modalities else.
        self.in_proj = nnx.Linear(d, width, rngs=rngs) if width != d else None
        self.region_pool = (
            FrameRegionPool(
                clip.config.vision.hidden_size, d, width, vc.heads, vc.fourier_bands, rngs=rngs
            )
            if vc.visual == "regions"
            else None
        )
        if vc.temporal_init == "sinusoidal":  # RMS 1/√W: the norm of a unit token
            start = sinusoidal_embedding(config.num_frames, width) * np.sqrt(2.0 / width)
        else:
            start = 0.02 * jax.random.normal(rngs.params(), (config.num_frames, width))
        self.temporal_embedding = nnx.Param(start.astype(jnp.float32))
        self.layers = nnx.List(
            [
                VicTRLayer(
                    width,
                    vc.heads,
                    vc.mlp_ratio,
                    self.boost_temperature,
                    relative=self.relative,
                    rngs=rngs,
                )
                for _ in range(vc.layers)
            ]
        )
        self.ln_final = nnx.LayerNorm(width, rngs=rngs)
        self.pool_weights = (
            nnx.Param(
                nnx.initializers.lecun_normal()(
                    rngs.params(), (config.num_frames * width, width), jnp.float32
                )
            )
            if vc.pooling == "ordered"
            else None
        )
        self.anchor = bool(vc.anchor)
        if self.anchor:
            # Back into the joint space when the head is wider or narrower than CLIP's.
            self.out_proj = nnx.Linear(width, d, rngs=rngs) if width != d else None
            self.video_gate = nnx.Param(jnp.asarray(vc.gate_init, jnp.float32))
            self.class_gate = nnx.Param(jnp.asarray(vc.gate_init, jnp.float32))
        self.log_logit_scale = nnx.Param(jnp.log(jnp.asarray(config.logit_scale_init, jnp.float32)))

    def video_features(self, videos: Array) -> dict[str, Array]:
        """Frozen CLIP per video (ALT's path): videos [B, T, H, W, 3] → ln, cls [B, T, d], dest."""
        return frozen_video_features(self.clip, videos)

    def tokens(self, features: dict[str, Array], class_embeddings: Array) -> Array:
        """Token boosting on `video_features` outputs and class_embeddings [n, d] →
        X [B, T, 1+n+m, W] (the visual token first)."""
        cls = features["cls"]
        b, t, _ = cls.shape
        frames = self.temporal_embedding.shape[0]
        if t > frames or (self.pool_weights is not None and t != frames):
            need = "exactly" if self.pool_weights is not None else "at most"
            raise ValueError(
                f"{t} frames, but VicTR was built for {need} {frames} (model.num_frames; "
                f"model.victr.pooling={'ordered' if self.pool_weights is not None else 'mean'!r})"
            )
        visual = l2_normalize(cls.astype(jnp.float32))  # [B, T, d]
        texts = jnp.concatenate([class_embeddings.astype(jnp.float32), self.auxiliary[...]])
        texts = jnp.broadcast_to(l2_normalize(texts), (b, *texts.shape))  # [B, n+m, d]
        boosted = boost_tokens(visual, texts, self.boost_temperature, self.relative)
        x = jnp.concatenate([visual[:, :, None], boosted], 2)
        if self.in_proj is not None:
            x = self.in_proj(x)
        if self.region_pool is not None:  # the visual token gains what is where in the frame
            regions = features["ln"][:, :, 1:].astype(jnp.float32)
            pooled = self.region_pool(regions, visual, features["dest"])  # [B, T, W]
            x = x.at[:, :, 0].add(pooled)
        return x + self.temporal_embedding[...][:t, None]

    def head(
        self,
        features: dict[str, Array],
        class_embeddings: Array,
        *,
        train: bool,
        rng: Array | None = None,
    ) -> dict[str, Array]:
        """The video head and affinity classifier on `video_features` outputs → logits [B, n],
        video_embedding [B, W], class_text_embeddings [B, n, W] (the video-conditioned class
        texts, before the auxiliary aggregate)."""
        del train, rng  # no dropout or noise: training and evaluation compute the same function
        n = class_embeddings.shape[0]
        x = self.tokens(features, class_embeddings)  # [B, T, 1+n+m, W]
        for layer in self.layers:
            x = layer(x)
        x = self.ln_final(x)
        if self.pool_weights is not None:
            pooled = ordered_pool(x, self.pool_weights[...])  # [B, 1+n+m, W]
        else:
            pooled = x.mean(axis=1)
        video, classes, aux = pooled[:, 0], pooled[:, 1 : 1 + n], pooled[:, 1 + n :]
        if self.anchor:  # CLIP's frame average and prompt embeddings plus the gated head
            if self.out_proj is not None:
                video, classes, aux = (
                    self.out_proj(video),
                    self.out_proj(classes),
                    self.out_proj(aux),
                )
            frames = l2_normalize(features["cls"].astype(jnp.float32)).mean(axis=1)  # [B, d]
            prompts = l2_normalize(class_embeddings.astype(jnp.float32))  # [n, d]
            video = frames + self.video_gate[...] * l2_normalize(video)
            classes = prompts + self.class_gate[...] * l2_normalize(classes)
            aux = l2_normalize(self.auxiliary[...]) + self.class_gate[...] * l2_normalize(aux)
        logits = affinity_logits(
            video, classes, aux, self.temperature, jnp.exp(self.log_logit_scale[...])
        )
        return {"logits": logits, "video_embedding": video, "class_text_embeddings": classes}

    def __call__(
        self, videos: Array, class_embeddings: Array, *, train: bool, rng: Array | None = None
    ) -> dict[str, Array]:
        """videos float32 [B, T, H, W, 3] (CLIP-normalised), class_embeddings [n, d] →
        logits [B, n], video_embedding [B, W], class_text_embeddings [B, n, W]."""
        return self.head(self.video_features(videos), class_embeddings, train=train, rng=rng)
