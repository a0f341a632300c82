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
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

from alt_jax.models.adapter import GlobalVideoAdapter, OrderedVideoAdapter, gated_residual
from alt_jax.models.alignment import EntityAlignment, ablate_entities, l2_normalize
from alt_jax.models.clip import CLIP, get_preset
from alt_jax.resources import SHIPPED_CORPUS

Array = jax.Array


class EntityBank(nnx.Variable):
    """The frozen entity text embeddings S [K, d]: state, never a trainable parameter."""


# Trainable: nnx.Param outside the CLIP towers. Frozen: everything else (CLIP params, S).
trainable_filter = nnx.All(nnx.Param, nnx.Not(nnx.PathContains("clip")))


def default_model_config() -> ml_collections.ConfigDict:
    """The ALT model's configuration with its defaults ([ours] choices are all knobs here)."""
    c = ml_collections.ConfigDict()
    c.backbone = ml_collections.ConfigDict()
    c.backbone.source = ""  # transformers folder / hub id; "" = random weights at `preset`
    c.backbone.preset = "B/16"
    c.backbone.dtype = "float32"  # CLIP compute dtype: float32 or bfloat16
    # How the frozen CLIP's parameters are stored: bfloat16 halves their memory and reads (the
    # towers are never trained, so no float32 master copy is needed).
    c.backbone.param_dtype = "float32"
    # Attention implementation of both towers (clip.ATTENTION_IMPLEMENTATIONS): "auto" picks by
    # platform and dtype (CPU: "reference"; GPU: cuDNN's fused kernel in bfloat16, else XLA's).
    c.backbone.attention = "auto"
    c.tome_r = 16  # ToMe merges per layer (0: plain CLIP)
    # A schedule in its own words, read instead of tome_r when not empty: "14,-1.0" (an (r,
    # inflect) ramp: 2r merges in the first layer decreasing to 0) or one int per layer.
    c.tome_schedule = ""
    c.prop_attn = True
    # How the frozen CLIP's last block computes region tokens (clip.REGION_FEATURES): "tokens"
    # (CLIP's own, exact parity) or a training-free dense-CLIP path ("maskclip", "sclip",
    # "clearclip"); measured on alignment grounding in BENCHMARKS.md.
    c.region_features = "tokens"
    c.num_frames = 8
    c.corpus = ml_collections.ConfigDict()
    c.corpus.path = SHIPPED_CORPUS  # inside the installed package (alt_jax.resources)
    c.corpus.cache_dir = "~/.cache/alt_jax"
    c.corpus.batch_size = 256
    # How each entity becomes text (corpus.ENTITY_TEXT_FORMS): "unit", "templates" (the unit in
    # each of corpus.templates, averaged), "pair" (the paper's "{unit}: {description}") or
    # "pair+templates". Chosen by alignment grounding (BENCHMARKS.md).
    c.corpus.text_form = "templates"
    c.corpus.templates = ("a photo of a {}.",)
    c.tau_init = 0.07  # alignment temperature τ_a
    c.alignment = ml_collections.ConfigDict()
    c.alignment.gumbel = "logits"  # alignment.GUMBEL_FORMS: softmax(cos/τ + G) or ((cos + G)/τ)
    # alignment.W_R_MODES: "free", "frozen", "anchored" (a free W_r drifts: the demo's
    # background regions collapsed onto one entity within 150 steps).
    c.alignment.w_r = "anchored"
    c.alignment.anchor_weight = 1.0  # weight of ‖W_r − W_r⁰‖²/‖W_r⁰‖² when anchored
    # The adapter's queries: "entities" (the aligned entity texts Q̂, ALT) or "learned" (the
    # ablation without alignment: one learned query per region slot, shared by every frame and
    # video, so the adapter and its query count stay as they are and only Q̂ is replaced).
    c.queries = "entities"
    c.adapter = ml_collections.ConfigDict()
    # "ordered": frame-local attention over positioned regions, then a temporal transformer over
    # the ordered frame summaries (docs/method.md §5); "global": the first version (no region position, all
    # T·M queries over all T·M regions, mean readout), kept for the ablation.
    c.adapter.kind = "ordered"
    c.adapter.width = 0  # 0: the CLIP joint width d
    c.adapter.depth = 4
    c.adapter.heads = 8
    c.adapter.mlp_ratio = 4.0
    c.adapter.conv_kernel = 3
    # The knobs below are the ordered adapter's.
    c.adapter.position = "fourier"  # region positions from the ToMe map; "none" for the ablation
    c.adapter.fourier_bands = 4  # centroid frequencies π·2^k, k < bands
    c.adapter.frame_window = 0  # queries of frame t see the regions of frames t ± w
    c.adapter.temporal_depth = 1  # layers of the temporal transformer over frame summaries
    c.adapter.temporal_position = True  # temporal position embeddings on the frame summaries
    c.adapter.readout = "ordered"  # "ordered" (frames concatenated in order), "video_token", "mean"
    # What the temporal module sees of the frame summaries (adapter.TEMPORAL_INPUTS): the
    # summaries share a large component (the clip's appearance), and what changes between frames
    # is a small part of them; "appearance_and_change" gives the temporal module the clip mean
    # and the deviations from it as separate tokens, each normalised on its own, so both reach
    # z at unit scale. "centred" (deviations only) and "raw" are the ablations.
    c.adapter.temporal_input = "appearance_and_change"
    c.adapter.change_floor = 0.05  # deviations below this share of the clip's scale stay small
    # Region positions on the keys only: a query is its entity's text, so the adapter's queries
    # depend on the alignment (with positions on the queries too, the entities were redundant).
    c.adapter.query_position = False
    c.adapter.conv_padding = "zero"  # the class-token convolution's ends: "zero" or "edge"
    c.adapter.frame_embedding = False  # a per-frame time code on keys and queries
    c.adapter.query_pooling = "entity"  # frame summary: every aligned entity alike, or "mean"
    # The clip's mean class token (one linear map) as a token of the temporal module.
    c.adapter.class_token = False
    # W_o = 0 at init: z = 0, so an open gate (gate_init != 0) starts at CLIP's frame average
    # (plus the entity readout) and still trains W_o from the first step.
    c.adapter.zero_output = False
    c.gate_init = 0.0  # g and g_e at init (0: exactly CLIP's frame-average zero-shot)
    # The entity readout [ours]: the aligned entity texts themselves, pooled per frame by the
    # adapter's readout weights and averaged over frames (e, in the joint space), join the video
    # vector at the frame average's scale: video = base + g·z + g_e·‖base‖·e. It is where the
    # entities reach the classifier as text.
    c.entity_readout = True
    # The closed-form appearance probe [ours] (models/probe.py): a ridge map from the clip's mean
    # class token into the text space, fitted on the training set before step 0; its score for
    # each class text joins the cosine through its own gate g_p (1 at init). Off: not fitted.
    c.probe = ml_collections.ConfigDict()
    c.probe.enabled = False
    c.probe.trainable = False  # the map (and μ) trained from its fit, or kept as fitted
    # The fit reads `views` augmented views of up to `max_clips` training clips (0: all): the
    # views are the feature cache's (or passes over the videos with seeds seed, seed + 1, …).
    c.probe.views = 4
    c.probe.max_clips = 0
    c.logit_scale_init = 100.0  # stored as its log
    c.frame_pool = "raw"  # "raw" or "normalized" per-frame class features in mean_t(cls_t)
    c.prompt_templates = ("a video of a person {}.",)
    # Subtract the mean class embedding before the classifier (off for ALT as published).
    c.center_class_embeddings = False
    c.label_smoothing = 0.0
    # Which head sits on the frozen encoder: "alt" (this module) or "victr" (models/victr.py).
    c.head = "alt"
    c.victr = ml_collections.ConfigDict()
    c.victr.layers = 2  # [ours] the notes do not give the depth of the video head
    c.victr.heads = 8
    c.victr.width = 0  # 0: the CLIP joint width d
    c.victr.mlp_ratio = 4.0
    c.victr.affinity_temperature = 0.01  # [ours] τ of every softmax affinity (CLIP's 1/100)
    c.victr.aux_texts = True  # auxiliary texts = the entity corpus at corpus.path; False: none
    # [ours] What the visual token of frame t holds (victr.VISUAL_KINDS): "class_token" (the
    # published design: CLIP's projected class token) or "regions" (the class token plus the
    # frame's region tokens pooled with their positions from the ToMe map: a class token does not
    # say where things are, so motion could not be read from it).
    c.victr.visual = "regions"
    c.victr.fourier_bands = 4  # region centroid frequencies π·2^k, k < bands ("regions")
    # [ours] How token boosting weights the texts (victr.BOOST_KINDS): "softmax" (u = a·w, the
    # published rule; at τ = 0.01 most texts get a < 1e-3 and lose their identity) or "relative"
    # (u = J·a·w: the affinity relative to the uniform 1/J, so an average text keeps unit norm).
    c.victr.boost = "relative"
    c.victr.boost_temperature = 0.1  # [ours] τ of the boosting softmax
    # [ours] The learnt temporal embedding's start (victr.TEMPORAL_INITS): "sinusoidal" (at a unit
    # token's norm) or "normal" (N(0, 0.02²), the first version's: a 4th of a token's norm).
    c.victr.temporal_init = "sinusoidal"
    # [ours] Temporal pooling of the tokens (victr.POOLINGS): "mean" (the published design) or
    # "ordered" (the mean plus a linear map of every frame's normalised change from the mean,
    # concatenated in frame order: a mean cannot tell a motion from its reverse; needs exactly
    # num_frames frames).
    c.victr.pooling = "ordered"
    # [ours] Anchor both sides of the classifier at CLIP: the video vector is the frame average
    # of the unit class tokens plus g_v times the head's (unit) video token, each class vector its
    # prompt embedding plus g_c times its (unit) video-conditioned token (g_v = g_c = `gate_init`
    # at init). The class texts then keep their identity whatever the head does to them; with
    # the gates at 0 the logits are CLIP's zero-shot on the frame average. False: the published
    # classifier on the head's pooled tokens alone.
    c.victr.anchor = True
    c.victr.gate_init = 1.0
    return c


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


DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def backbone_dtype(config: ml_collections.ConfigDict, field: str) -> Any:
    """`backbone.<field>` ("dtype" or "param_dtype") as a JAX dtype; other names are refused."""
    name = config.backbone.get(field, "float32")  # configs recorded before param_dtype lack it
    if name not in DTYPES:
        raise ValueError(f"model.backbone.{field} must be one of {sorted(DTYPES)}, got {name!r}")
    return DTYPES[name]


def tome_spec(config: ml_collections.ConfigDict) -> Any:
    """The model config's ToMe schedule: `tome_schedule` parsed when set, else `tome_r`."""
    from alt_jax.models.tome import parse_schedule_text

    text = config.get("tome_schedule", "")  # configs recorded before the field lack it
    return parse_schedule_text(text) if text else config.tome_r


def build_clip(config: ml_collections.ConfigDict, *, seed: int = 0) -> CLIP:
    """The frozen CLIP of a model config: from `backbone.source`, or random at
    `backbone.preset` when that is empty."""
    numerics = dict(
        tome_r=tome_spec(config),
        prop_attn=config.prop_attn,
        region_features=config.region_features,
        param_dtype=backbone_dtype(config, "param_dtype"),
        attention=config.backbone.get("attention", "auto"),
    )
    dtype = backbone_dtype(config, "dtype")
    if config.backbone.source:
        from alt_jax.weights import load_clip

        return load_clip(config.backbone.source, dtype, **numerics)
    # Initialised inside one jit: eager initialisation compiles every op on its own.
    return nnx.jit(
        lambda: CLIP(
            get_preset(config.backbone.preset), dtype=dtype, rngs=nnx.Rngs(seed), **numerics
        )
    )()


def corpus_embeddings(config: ml_collections.ConfigDict, clip: CLIP) -> np.ndarray:
    """The entity corpus at `corpus.path` encoded by `clip`'s text tower (or from the cache)."""
    from alt_jax.corpus import entity_embeddings

    return entity_embeddings(
        config.corpus.path,
        clip,
        cache_dir=config.corpus.cache_dir or None,
        batch_size=config.corpus.batch_size,
        text_form=config.corpus.text_form,
        templates=tuple(config.corpus.templates),
    )


def build_alt(
    config: ml_collections.ConfigDict,
    *,
    clip: CLIP | None = None,
    entity_embeddings: Array | np.ndarray | None = None,
    seed: int = 0,
) -> ALT:
    """ALT from a config: the CLIP from `backbone.source` (random at `backbone.preset` when
    empty) unless given, S from the corpus (encoded or read from the cache) unless given."""
    if clip is None:
        clip = build_clip(config, seed=seed)
    if entity_embeddings is None:
        entity_embeddings = corpus_embeddings(config, clip)
    entities = jnp.asarray(entity_embeddings, jnp.float32)
    # Initialised inside one jit: eager initialisation compiles every op on its own.
    return nnx.jit(lambda clip, entities: ALT(clip, entities, config, rngs=nnx.Rngs(seed + 1)))(
        clip, entities
    )
