"""VicTR: video-conditioned text representations (Kahatapitiya et al., CVPR 2024; docs/method.md §6).

A second head on ALT's frozen CLIP encoder. Its inputs are the per-frame class tokens v_t (the
`cls` entry of `video_features`, so one feature cache serves both heads), the n class-prompt
embeddings (an input, so classes swap without retraining) and m auxiliary text embeddings (state:
by default the entity corpus, "{unit}: {description}", the same matrix ALT aligns regions with).

    token boosting   a_{t,j} = softmax_j(cos(v_t, w_j) / τ),  u_{t,j} = a_{t,j} · w_j
                     → tokens X [B, T, 1+n+m, W] (visual token first)
    L × layer        X ← X + CrossModalAttn(LN(X))   over the 1+n+m tokens of one time step
                     X ← X + TemporalAttn(LN(X))     over T, per token (one set of weights for
                                                      visual and text tokens)
                     affinity re-weighting: ū_j = mean_t u_{t,j};  u_{t,j} ← a'_{t,j} · ū_j with
                     a'_{t,j} = softmax_j(cos(v_t, ū_j) / τ)
                     X ← X + MLP(LN(X))
    classifier       temporal mean pooling → video z, classes c_i, auxiliaries e_k;
                     ĉ_i = ĉ(c_i) + Σ_k softmax_k(cos(c_i, e_k) / τ) ê_k   (x̂ = x / ‖x‖)
                     logits_i = s · cos(z, ĉ_i)

[ours] choices where the notes are silent (all but the first two are config knobs):
- The CLIP embeddings are L2-normalised before boosting, so both modalities enter the head on
  CLIP's unit sphere (raw image features are ~10× longer than text features).
- One temperature τ (`victr.affinity_temperature`, default 0.01 = CLIP's logit scale 100) for
  every affinity softmax: boosting, re-weighting and the auxiliary aggregation; fixed, not learnt.
- Re-weighting replaces the text tokens by a'_{t,j} · ū_j (the boosting rule applied to the
  updated, temporally pooled tokens); the visual tokens pass through unchanged.
- Tokens live at width W (`victr.width`, 0 = d); when W ≠ d one linear map, shared by both
  modalities, projects them in. A learnt temporal embedding [T, W] is added to every token of
  frame t; the head ends with a LayerNorm before the temporal pooling.
- The auxiliary aggregate is added to the class's unit vector (not a weighted score), and the
  logit scale s is learnt (its log), initialised at `logit_scale_init` like ALT's.
- No dropout, so `rng` is accepted for the shared interface and unused; the head has no zero-init
  gate, so unlike ALT it does not start at CLIP zero-shot.
- Defaults: 2 layers, 8 heads, MLP ratio 4 (the notes give no depth).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from alt_jax.models.adapter import MLP, MultiHeadAttention
from alt_jax.models.alignment import l2_normalize
from alt_jax.models.alt import build_clip, corpus_embeddings, frozen_video_features
from alt_jax.models.clip import CLIP

Array = jax.Array


class AuxiliaryBank(nnx.Variable):
    """The auxiliary text embeddings [m, d] (objects, scenes): state, never a trainable param."""


def affinity(visual: Array, text: Array, temperature: float) -> Array:
    """visual [B, T, W], text [B, J, W] → a [B, T, J] = softmax_j(cos(v_t, w_j) / τ)."""
    cos = jnp.einsum("btw,bjw->btj", l2_normalize(visual), l2_normalize(text))
    return jax.nn.softmax(cos / temperature, axis=-1)


def boost_tokens(visual: Array, text: Array, temperature: float) -> Array:
    """Token boosting: visual [B, T, W], text [B, J, W] → u [B, T, J, W], u_{t,j} = a_{t,j} w_j."""
    a = affinity(visual, text, temperature)  # [B, T, J]
    return a[..., None] * text[:, None]


def reweight_text(visual: Array, text: Array, temperature: float) -> Array:
    """Affinity re-weighting: visual [B, T, W], text [B, T, J, W] → [B, T, J, W]; the text
    tokens are pooled over time and boosted again with affinities to the updated frames."""
    return boost_tokens(visual, text.mean(axis=1), temperature)


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
        self, width: int, heads: int, mlp_ratio: float, temperature: float, *, rngs: nnx.Rngs
    ):
        self.temperature = temperature
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
        text = reweight_text(visual[:, :, 0], text, self.temperature)
        return jnp.concatenate([visual, text], axis=2)

    def __call__(self, x: Array) -> Array:
        """x [B, T, 1+J, W] → [B, T, 1+J, W]."""
        x = self.reweight(self.temporal(self.cross_modal(x)))
        return x + self.mlp(self.ln_mlp(x))


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
        if vc.affinity_temperature <= 0:
            raise ValueError(f"affinity_temperature must be > 0, got {vc.affinity_temperature}")
        width = vc.width or d
        self.clip = clip
        self.auxiliary = AuxiliaryBank(aux)
        self.temperature = float(vc.affinity_temperature)
        # Identity when the head works in CLIP's joint space; one map for both modalities else.
        self.in_proj = nnx.Linear(d, width, rngs=rngs) if width != d else None
        self.temporal_embedding = nnx.Param(
            0.02 * jax.random.normal(rngs.params(), (config.num_frames, width), jnp.float32)
        )
        self.layers = nnx.List(
            [
                VicTRLayer(width, vc.heads, vc.mlp_ratio, self.temperature, rngs=rngs)
                for _ in range(vc.layers)
            ]
        )
        self.ln_final = nnx.LayerNorm(width, rngs=rngs)
        self.log_logit_scale = nnx.Param(jnp.log(jnp.asarray(config.logit_scale_init, jnp.float32)))

    def video_features(self, videos: Array) -> dict[str, Array]:
        """Frozen CLIP per video (ALT's path): videos [B, T, H, W, 3] → ln, cls [B, T, d], dest."""
        return frozen_video_features(self.clip, videos)

    def tokens(self, cls: Array, class_embeddings: Array) -> Array:
        """Token boosting: cls [B, T, d], class_embeddings [n, d] → X [B, T, 1+n+m, W]."""
        b, t, _ = cls.shape
        if t > self.temporal_embedding.shape[0]:
            raise ValueError(
                f"{t} frames, but VicTR has a temporal embedding for "
                f"{self.temporal_embedding.shape[0]}"
            )
        visual = l2_normalize(cls.astype(jnp.float32))  # [B, T, d]
        texts = jnp.concatenate([class_embeddings.astype(jnp.float32), self.auxiliary[...]])
        texts = jnp.broadcast_to(l2_normalize(texts), (b, *texts.shape))  # [B, n+m, d]
        x = jnp.concatenate([visual[:, :, None], boost_tokens(visual, texts, self.temperature)], 2)
        if self.in_proj is not None:
            x = self.in_proj(x)
        return x + self.temporal_embedding[...][:t, None]

    def head(
        self,
        features: dict[str, Array],
        class_embeddings: Array,
        *,
        train: bool,
        rng: Array | None = None,
    ) -> dict[str, Array]:
        """The video head and affinity classifier on `video_features` outputs (uses `cls`) →
        logits [B, n], video_embedding [B, W], class_text_embeddings [B, n, W] (the
        video-conditioned class texts, before the auxiliary aggregate)."""
        del train, rng  # no dropout or noise: training and evaluation compute the same function
        n = class_embeddings.shape[0]
        x = self.tokens(features["cls"], class_embeddings)  # [B, T, 1+n+m, W]
        for layer in self.layers:
            x = layer(x)
        pooled = self.ln_final(x).mean(axis=1)  # [B, 1+n+m, W]
        video, classes, aux = pooled[:, 0], pooled[:, 1 : 1 + n], pooled[:, 1 + n :]
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


def build_victr(
    config: ml_collections.ConfigDict,
    *,
    clip: CLIP | None = None,
    auxiliary_embeddings: Array | np.ndarray | None = None,
    seed: int = 0,
) -> VicTR:
    """VicTR from a model config: ALT's CLIP, and the entity corpus as auxiliary texts (unless
    given, or `victr.aux_texts` is False)."""
    if clip is None:
        clip = build_clip(config, seed=seed)
    if auxiliary_embeddings is None and config.victr.aux_texts:
        auxiliary_embeddings = corpus_embeddings(config, clip)
    return VicTR(clip, auxiliary_embeddings, config, rngs=nnx.Rngs(seed + 1))
