"""ALT: frozen CLIP (with ToMe) → entity-to-region alignment → video adapter → classifier.

Frozen vs trainable is explicit: every trainable parameter is an `nnx.Param` outside the `clip`
sub-module (`trainable_filter`); the CLIP towers stay in the model but are filtered out and run
under stop_gradient; the corpus matrix S is an `EntityBank` variable, not a parameter.
`split_trainable` gives the optimizer the trainable state alone.

Frame pooling [ours]: the residual base mean_t(cls_t) averages the *raw* projected class tokens
(as `get_image_features` returns them), not unit vectors; with g = 0 the logits are exactly
s · cos(mean_t(f_t), t_c), CLIP's zero-shot on the frame-averaged image feature.
`frame_pool='normalized'` averages unit vectors instead.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

from alt_jax.models.adapter import GlobalVideoAdapter, OrderedVideoAdapter, gated_residual
from alt_jax.models.alignment import EntityAlignment, ablate_entities, l2_normalize
from alt_jax.models.clip import CLIP

Array = jax.Array


class EntityBank(nnx.Variable):
    """The frozen entity text embeddings S [K, d]: state, never a trainable parameter."""


# Trainable: nnx.Param outside the CLIP towers. Frozen: everything else (CLIP params, S).
trainable_filter = nnx.All(nnx.Param, nnx.Not(nnx.PathContains("clip")))


def pool_frames(cls: Array, mode: str) -> Array:
    """mean_t(cls_t): cls [B, T, d] → [B, d], of raw features ("raw") or unit vectors
    ("normalized")."""
    if mode == "normalized":
        cls = l2_normalize(cls)
    elif mode != "raw":
        raise ValueError(f"frame_pool must be 'raw' or 'normalized', got {mode!r}")
    return cls.mean(axis=1)


def frozen_frame_tokens(clip: CLIP, frames: Array) -> dict[str, Array]:
    """Frozen CLIP on frames [F, H, W, 3] → ln [F, 1+M, D], cls [F, d], dest [F, 1+N]."""
    vision = clip.vision_model
    tokens, _, dest = vision.tokens(frames)
    ln = vision.post_layernorm(tokens)
    cls = clip.visual_projection(ln[:, 0])
    return jax.lax.stop_gradient(
        {"ln": ln.astype(jnp.float32), "cls": cls.astype(jnp.float32), "dest": dest}
    )


# What the frozen encoder gives every head, per clip (and what the feature cache stores).
FEATURE_KEYS = ("ln", "cls", "dest")


def frozen_video_features(clip: CLIP, videos: Array) -> dict[str, Array]:
    """Frozen CLIP per video: videos [B, T, H, W, 3] → ln [B, T, 1+M, D], cls [B, T, d],
    dest [B, T, 1+N] (shared by every head, so one feature cache serves them all)."""
    b, t = videos.shape[:2]
    frames = frozen_frame_tokens(clip, videos.reshape(b * t, *videos.shape[2:]))
    return {key: value.reshape(b, t, *value.shape[1:]) for key, value in frames.items()}


QUERY_KINDS = ("entities", "learned")
ADAPTER_KINDS = ("ordered", "global")


def num_regions(clip: CLIP) -> int:
    """Region tokens per frame M at the CLIP's own image size, after its ToMe merges."""
    vision = clip.config.vision
    tokens = 1 + (vision.image_size // vision.patch_size) ** 2
    return tokens - sum(clip.vision_model.r_schedule(tokens)) - 1


def build_adapter(
    config: ml_collections.ConfigDict,
    *,
    region_dim: int,
    text_dim: int,
    num_frames: int,
    rngs: nnx.Rngs,
    relevance: bool = True,
) -> OrderedVideoAdapter | GlobalVideoAdapter:
    """The video adapter of `model.adapter` (kind "ordered" or "global"); `relevance` gives the
    ordered one its learned readout scores (for the model's entity readout)."""
    if config.kind not in ADAPTER_KINDS:
        raise ValueError(f"adapter.kind must be one of {ADAPTER_KINDS}, got {config.kind!r}")
    common = dict(
        region_dim=region_dim,
        text_dim=text_dim,
        width=config.width or text_dim,
        depth=config.depth,
        heads=config.heads,
        mlp_ratio=config.mlp_ratio,
        conv_kernel=config.conv_kernel,
        num_frames=num_frames,
        zero_output=config.zero_output,
        rngs=rngs,
    )
    if config.kind == "global":
        return GlobalVideoAdapter(**common)
    return OrderedVideoAdapter(
        position=config.position,
        fourier_bands=config.fourier_bands,
        frame_window=config.frame_window,
        temporal_depth=config.temporal_depth,
        temporal_position=config.temporal_position,
        readout=config.readout,
        temporal_input=config.temporal_input,
        change_floor=config.change_floor,
        query_position=config.query_position,
        conv_padding=config.conv_padding,
        frame_embedding=config.frame_embedding,
        query_pooling=config.query_pooling,
        class_token=config.class_token,
        relevance=relevance,
        **common,
    )


class ALT(nnx.Module):
    """The ALT video classifier; class embeddings are an input, so classes swap freely."""

    def __init__(
        self,
        clip: CLIP,
        entity_embeddings: Array | np.ndarray,
        config: ml_collections.ConfigDict,
        *,
        rngs: nnx.Rngs,
    ):
        if config.frame_pool not in ("raw", "normalized"):
            raise ValueError(f"frame_pool must be 'raw' or 'normalized', got {config.frame_pool!r}")
        if config.adapter.get("zero_output", False) and config.gate_init == 0:
            # z = 0 and g = 0: neither W_o nor g gets a gradient, the adapter never trains.
            raise ValueError(
                "model.adapter.zero_output=True needs model.gate_init != 0 (with both at zero "
                "no gradient reaches the adapter)"
            )
        if config.queries not in QUERY_KINDS:
            raise ValueError(f"queries must be one of {QUERY_KINDS}, got {config.queries!r}")
        cfg = clip.config
        d = cfg.projection_dim
        entities = jnp.asarray(entity_embeddings, jnp.float32)
        if entities.ndim != 2 or entities.shape[1] != d:
            raise ValueError(f"entity embeddings must be [K, {d}], got {entities.shape}")
        self.clip = clip
        self.entities = EntityBank(entities)
        self.frame_pool = config.frame_pool
        self.queries = config.queries
        if config.queries == "entities":
            self.alignment = EntityAlignment(
                clip.visual_projection.kernel[...],
                tau_init=config.tau_init,
                gumbel=config.alignment.gumbel,
                w_r=config.alignment.w_r,
                anchor_weight=config.alignment.anchor_weight,
            )
        else:
            # Unit-norm rows like the entity texts, so MLP_q sees inputs of the same scale.
            slots = jax.random.normal(rngs.params(), (num_regions(clip), d), jnp.float32)
            self.learned_queries = nnx.Param(l2_normalize(slots))  # [M, d]
        self.adapter = build_adapter(
            config.adapter,
            region_dim=cfg.vision.hidden_size,
            text_dim=d,
            num_frames=config.num_frames,
            rngs=rngs,
            relevance=config.entity_readout,
        )
        self.gate = nnx.Param(jnp.asarray(config.gate_init, jnp.float32))
        self.entity_readout = config.entity_readout
        if config.entity_readout:
            self.entity_gate = nnx.Param(jnp.asarray(config.gate_init, jnp.float32))
        self.log_logit_scale = nnx.Param(jnp.log(jnp.asarray(config.logit_scale_init, jnp.float32)))
        probe = config.get("probe", ml_collections.ConfigDict({"enabled": False}))
        self.probe_enabled = bool(probe.enabled)
        if self.probe_enabled:
            # Zero until fitted (train/probe_fit.py): the logits are then exactly ALT's without it.
            self.probe_mean = nnx.Param(jnp.zeros((d,), jnp.float32))
            self.probe_map = nnx.Param(jnp.zeros((d, d), jnp.float32))
            self.probe_gate = nnx.Param(jnp.asarray(1.0, jnp.float32))
            self.probe_trainable = bool(probe.trainable)

    def frame_tokens(self, frames: Array) -> dict[str, Array]:
        """Frozen CLIP on frames [F, H, W, 3] → LN'd tokens [F, 1+M, D], projected class token
        [F, d] and dest [F, 1+N]; no gradient flows into the backbone."""
        return frozen_frame_tokens(self.clip, frames)

    def video_features(self, videos: Array) -> dict[str, Array]:
        """The frozen encoder's outputs per video: videos [B, T, H, W, 3] → ln [B, T, 1+M, D],
        cls [B, T, d], dest [B, T, 1+N]. They can be computed once and cached (the encoder is
        frozen); `head` takes it from there."""
        return frozen_video_features(self.clip, videos)

    def head(
        self,
        features: dict[str, Array],
        class_embeddings: Array,
        *,
        train: bool,
        rng: Array | None = None,
        entity_ablation: str = "none",
    ) -> dict[str, Array]:
        """Alignment, adapter and classifier on `video_features` outputs; `entity_ablation`
        (alignment.ENTITY_ABLATIONS) replaces the aligned entities at evaluation."""
        if train and rng is None:
            raise ValueError("training needs an rng for the Gumbel noise")
        ln, cls = features["ln"], features["cls"]  # [B, T, 1+M, D], [B, T, d]
        regions = ln[:, :, 1:]
        out = {"dest": features["dest"]}
        if self.queries == "entities":
            entities = self.entities[...]
            aligned = self.alignment(regions, entities, rng if train else None)
            queries = aligned["aligned"]  # Q̂ [B, T, M, d]
            out["entity_index"] = aligned["index"]
            out["regularization"] = self.alignment.penalty()
            if entity_ablation != "none":
                if train:
                    raise ValueError("entity ablations are for evaluation")
                index = ablate_entities(
                    aligned["index"], entities.shape[0], entity_ablation, jax.random.key(0)
                )
                queries, out["entity_index"] = entities[index], index
        else:
            slots = self.learned_queries[...]  # [M, d]
            if slots.shape[0] != regions.shape[2]:
                raise ValueError(
                    f"{regions.shape[2]} regions per frame, but the model has "
                    f"{slots.shape[0]} learned queries (set at the CLIP's image size and ToMe r)"
                )
            queries = jnp.broadcast_to(slots, (*regions.shape[:3], slots.shape[1]))
        z, readout = self.adapter(
            regions, ln[:, :, 0], queries, features["dest"], out.get("entity_index")
        )
        base = pool_frames(cls, self.frame_pool)  # [B, d]
        video = gated_residual(base, z, self.gate[...])
        if self.entity_readout:
            entity = jnp.einsum("btm,btmd->bd", readout, queries) / queries.shape[1]  # e [B, d]
            scale = jnp.linalg.norm(base, axis=-1, keepdims=True)
            video = video + self.entity_gate[...] * scale * entity
            out["readout_weights"] = readout
        classes = l2_normalize(class_embeddings.astype(jnp.float32))
        similarity = l2_normalize(video) @ classes.T  # [B, C]
        if self.probe_enabled:  # + g_p · (x̄ − μ) A t_c: the probe's text-space prediction
            mean, probe_map = self.probe_mean[...], self.probe_map[...]
            if not self.probe_trainable:
                mean, probe_map = jax.lax.stop_gradient(mean), jax.lax.stop_gradient(probe_map)
            x = cls.astype(jnp.float32).mean(axis=1)  # x̄ [B, d]
            similarity = similarity + self.probe_gate[...] * ((x - mean) @ probe_map) @ classes.T
        logits = jnp.exp(self.log_logit_scale[...]) * similarity
        return {"logits": logits, "video_embedding": video, **out}

    def __call__(
        self,
        videos: Array,
        class_embeddings: Array,
        *,
        train: bool,
        rng: Array | None = None,
        entity_ablation: str = "none",
    ) -> dict[str, Array]:
        """videos float32 [B, T, H, W, 3] (CLIP-normalised), class_embeddings [C, d] →
        logits [B, C], video_embedding [B, d], dest [B, T, 1+N], and with entity queries
        entity_index [B, T, M]."""
        if train and rng is None:
            raise ValueError("training needs an rng for the Gumbel noise")
        return self.head(
            self.video_features(videos),
            class_embeddings,
            train=train,
            rng=rng,
            entity_ablation=entity_ablation,
        )


def split_trainable(model: ALT) -> tuple[nnx.GraphDef, nnx.State, nnx.State]:
    """(graphdef, trainable state, frozen state); `nnx.merge(graphdef, trainable, frozen)`
    rebuilds the model, and the optimizer sees only the trainable state."""
    return nnx.split(model, trainable_filter, ...)


def count_parameters(state: nnx.State) -> int:
    """Number of scalars in a state's array leaves."""
    return sum(math.prod(leaf.shape) for leaf in jax.tree_util.tree_leaves(state))


def cross_entropy(logits: Array, labels: Array, label_smoothing: float = 0.0) -> Array:
    """Mean softmax cross-entropy of logits [B, C] against int labels [B]; the target puts
    1 − ε + ε/C on the label and ε/C elsewhere."""
    num_classes = logits.shape[-1]
    targets = optax.smooth_labels(jax.nn.one_hot(labels, num_classes), label_smoothing)
    return optax.softmax_cross_entropy(logits.astype(jnp.float32), targets).mean()
