"""VicTR in plain PyTorch for inference: what `alt_jax.models.victr.VicTR` computes.

The frozen CLIP vision tower with ToMe is ALT's (`modeling_clip_video.FrozenCLIPVideoModel`),
and its layers are the ALT adapter's (`modeling_adapter`); the head is a port of `VicTR.head`
for every knob the JAX module has (visual "regions" / "class_token", boost "relative" /
"softmax", pooling "ordered" / "mean", the anchored classifier or not, a head width other than
CLIP's joint width, auxiliary texts or none). The head has no dropout or noise, so
this is the function training optimised. Class names, class embeddings, auxiliary text names and
embeddings travel with the weights, so a saved folder classifies on its own:

    model = VicTRForVideoClassification.from_pretrained("export/")
    out = model(VicTRForVideoClassification.normalize(frames_uint8))  # [B, T, H, W, 3]
    model.config.id2label[int(out.logits.argmax(-1)[0])]

Parameter names mirror the Flax modules' paths (`kernel` → `weight`, Linear kernels
transposed), so the converter maps a checkpoint mechanically.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

# Relative imports, and nothing from alt_jax: this file and those it imports are copied into
# every export folder as transformers remote code.
from .configuration_alt import VicTRConfig
from .modeling_adapter import (
    MLP,
    MultiHeadAttention,
    RegionPositionEncoder,
    adapter_layer_norm,
    change_norm,
)
from .modeling_clip_video import FrozenCLIPVideoModel, coerce_config, l2_normalize

# The knob values of `alt_jax.models.victr` the forward pass depends on (temporal_init only
# decides a start value, which comes with the weights).
VISUAL_KINDS = ("regions", "class_token")
BOOST_KINDS = ("relative", "softmax")
POOLINGS = ("ordered", "mean")
# `victr.frame_changes`' variance floor (a fraction of the mean token's standard deviation).
CHANGE_FLOOR = 0.05


@dataclass
class VicTRVideoClassifierOutput(ModelOutput):
    """What `VicTRForVideoClassification` returns: a transformers ModelOutput, readable as
    `out.logits` and as the dict `out["logits"]` the forward returned before."""

    logits: torch.Tensor | None = None  # [B, C]; with views: log of the view-averaged softmax
    video_embedding: torch.Tensor | None = None  # [B, W] (d with the anchored classifier)
    class_text_embeddings: torch.Tensor | None = None  # [B, C, W]
    dest: torch.Tensor | None = None  # [B, T, 1+N], the region of each input token
    view_logits: torch.Tensor | None = None  # [B, V, C], for [B, V, T, 3, H, W] input only


def affinity(visual: torch.Tensor, text: torch.Tensor, temperature: float) -> torch.Tensor:
    """visual [B, T, W], text [B, J, W] → a [B, T, J] = softmax_j(cos(v_t, w_j) / τ)."""
    cos = torch.einsum("btw,bjw->btj", l2_normalize(visual), l2_normalize(text))
    return (cos / temperature).softmax(-1)


def boost_tokens(
    visual: torch.Tensor, text: torch.Tensor, temperature: float, relative: bool
) -> torch.Tensor:
    """Token boosting: visual [B, T, W], text [B, J, W] → u [B, T, J, W] = a·w (J·a·w with
    `relative`)."""
    a = affinity(visual, text, temperature)
    if relative:
        a = a * text.shape[1]
    return a[..., None] * text[:, None]


def ordered_pool(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """x [B, T, J, W], kernel [T·W, W] → [B, J, W] = mean_t x_t + [c_1 … c_T] · kernel, c_t the
    frame changes layer-normalised with a variance floor (`victr.ordered_pool`)."""
    b, t, j, w = x.shape
    per_token = x.transpose(1, 2).reshape(b * j, t, w)  # one sequence of frames per token
    mean = per_token.mean(dim=1)
    changes = change_norm(per_token - mean[:, None], mean, CHANGE_FLOOR)  # [B·J, T, W]
    return (mean + changes.reshape(b * j, t * w) @ kernel).reshape(b, j, w)


def affinity_logits(
    video: torch.Tensor,
    classes: torch.Tensor,
    auxiliary: torch.Tensor,
    temperature: float,
    scale: torch.Tensor,
) -> torch.Tensor:
    """video [B, W], classes [B, n, W], auxiliary [B, m, W] → logits [B, n] = s · cos(z, ĉ_i),
    ĉ_i = ĉ(c_i) + Σ_k softmax_k(cos(c_i, e_k) / τ) ê_k (the unit class vectors when m = 0)."""
    classes = l2_normalize(classes)
    if auxiliary.shape[1]:
        auxiliary = l2_normalize(auxiliary)
        alpha = (torch.einsum("bnw,bmw->bnm", classes, auxiliary) / temperature).softmax(-1)
        classes = classes + torch.einsum("bnm,bmw->bnw", alpha, auxiliary)
    return scale * torch.einsum("bw,bnw->bn", l2_normalize(video), l2_normalize(classes))


class VicTRLayer(nn.Module):
    """Cross-modal attention per time step, temporal attention per token, affinity re-weighting
    of the text tokens, MLP; all pre-LN residual, on tokens X [B, T, 1+J, W] (visual first)."""

    def __init__(self, width: int, heads: int, mlp_hidden: int, temperature: float, relative: bool):
        super().__init__()
        self.temperature = temperature
        self.relative = relative
        self.ln_cross = adapter_layer_norm(width)
        self.cross_attn = MultiHeadAttention(width, heads)
        self.ln_temporal = adapter_layer_norm(width)
        self.temporal_attn = MultiHeadAttention(width, heads)
        self.ln_mlp = adapter_layer_norm(width)
        self.mlp = MLP(width, mlp_hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, T, 1+J, W] → [B, T, 1+J, W]."""
        b, t, n, w = x.shape
        h = self.ln_cross(x).reshape(b * t, n, w)  # the tokens of one frame attend to each other
        x = x + self.cross_attn(h, h).reshape(b, t, n, w)
        h = self.ln_temporal(x).transpose(1, 2).reshape(b * n, t, w)  # one token over time
        x = x + self.temporal_attn(h, h).reshape(b, n, t, w).transpose(1, 2)
        # Re-weighting: the time-pooled text tokens boosted again by the updated visual tokens.
        visual, text = x[:, :, :1], x[:, :, 1:]
        text = boost_tokens(visual[:, :, 0], text.mean(dim=1), self.temperature, self.relative)
        x = torch.cat([visual, text], dim=2)
        return x + self.mlp(self.ln_mlp(x))


class FrameRegionPool(nn.Module):
    """A frame's region tokens with their ToMe positions, read by one query from the frame's
    unit class token → one vector per frame [B, T, W]."""

    def __init__(self, region_dim: int, text_dim: int, width: int, heads: int, bands: int):
        super().__init__()
        self.region_proj = nn.Linear(region_dim, width)
        self.query_proj = nn.Linear(text_dim, width)
        self.position = RegionPositionEncoder(width, bands)
        self.ln = adapter_layer_norm(width)
        self.attn = MultiHeadAttention(width, heads)

    def forward(self, regions: torch.Tensor, cls: torch.Tensor, dest: torch.Tensor) -> torch.Tensor:
        """regions [B, T, M, D], cls [B, T, d] (unit), dest [B, T, 1+N] → [B, T, W]."""
        b, t, m, _ = regions.shape
        kv = self.ln(self.region_proj(regions) + self.position(dest, m))
        q = self.query_proj(cls)
        return self.attn(q.reshape(b * t, 1, -1), kv.reshape(b * t, m, -1)).reshape(b, t, -1)


def knob(v: dict[str, Any], key: str, valid: tuple[str, ...]) -> str:
    """config.victr[key], which must be one of `valid` (a ValueError naming the key)."""
    value = v.get(key)
    if value not in valid:
        raise ValueError(f"victr.{key} must be one of {valid}, got {value!r}")
    return value


class VicTRForVideoClassification(FrozenCLIPVideoModel, PreTrainedModel):
    """VicTR for inference, a transformers model; `config` is a `VicTRConfig` (or its dict)."""

    config_class = VicTRConfig
    base_model_prefix = "victr"
    main_input_name = "pixel_values"
    export_name = "VicTR"

    def __init__(self, config: VicTRConfig | dict[str, Any]):
        config = coerce_config(config, VicTRConfig)
        super().__init__(config)
        vcfg = self.build_vision(config)
        d = vcfg.projection_dim
        v = config.victr
        visual = knob(v, "visual", VISUAL_KINDS)
        self.relative = knob(v, "boost", BOOST_KINDS) == "relative"
        pooling = knob(v, "pooling", POOLINGS)
        self.boost_temperature = float(v["boost_temperature"])
        self.temperature = float(v["affinity_temperature"])
        for key in ("affinity_temperature", "boost_temperature"):
            if float(v[key]) <= 0:
                raise ValueError(f"victr.{key} must be > 0, got {v[key]}")
        width, heads, frames = int(v["width"]), int(v["heads"]), config.num_frames
        # Identity when the head works in CLIP's joint space (as the JAX module builds it).
        self.in_proj = nn.Linear(d, width) if width != d else None
        self.region_pool = (
            FrameRegionPool(vcfg.hidden_size, d, width, heads, int(v["fourier_bands"]))
            if visual == "regions"
            else None
        )
        self.temporal_embedding = nn.Parameter(torch.zeros(frames, width))
        self.layers = nn.ModuleList(
            VicTRLayer(width, heads, int(v["mlp_hidden"]), self.boost_temperature, self.relative)
            for _ in range(int(v["layers"]))
        )
        self.ln_final = adapter_layer_norm(width)
        self.pool_weights = (
            nn.Parameter(torch.zeros(frames * width, width)) if pooling == "ordered" else None
        )
        self.anchor = bool(v["anchor"])
        if self.anchor:
            self.out_proj = nn.Linear(width, d) if width != d else None
            self.video_gate = nn.Parameter(torch.zeros(()))
            self.class_gate = nn.Parameter(torch.zeros(()))
        self.log_logit_scale = nn.Parameter(torch.zeros(()))
        self.register_buffer("auxiliary", torch.zeros(len(config.auxiliary_names), d))
        self.register_buffer("class_embeddings", torch.zeros(len(config.class_names), d))
        self.post_init()
        self.eval()

    def tokens(
        self, frames: dict[str, torch.Tensor], class_embeddings: torch.Tensor
    ) -> torch.Tensor:
        """Token boosting on `video_tokens` outputs and class_embeddings [n, d] →
        X [B, T, 1+n+m, W] (the visual token first), with the temporal embedding."""
        cls = frames["cls"]
        b, t, _ = cls.shape
        built = self.temporal_embedding.shape[0]
        ordered = self.pool_weights is not None
        if t > built or (ordered and t != built):
            need = "exactly" if ordered else "at most"
            raise ValueError(
                f"{t} frames, but VicTR was built for {need} {built} "
                f"(victr.pooling={'ordered' if ordered else 'mean'!r})"
            )
        visual = l2_normalize(cls)
        texts = l2_normalize(torch.cat([class_embeddings, self.auxiliary]))
        texts = texts.expand(b, *texts.shape)  # [B, n+m, d]
        boosted = boost_tokens(visual, texts, self.boost_temperature, self.relative)
        x = torch.cat([visual[:, :, None], boosted], dim=2)
        if self.in_proj is not None:
            x = self.in_proj(x)
        if self.region_pool is not None:  # the visual token gains what is where in the frame
            pooled = self.region_pool(frames["ln"][:, :, 1:], visual, frames["dest"])
            x = torch.cat([(x[:, :, 0] + pooled)[:, :, None], x[:, :, 1:]], dim=2)
        return x + self.temporal_embedding[:t, None]

    @torch.no_grad()
    def forward(
        self, pixel_values: torch.Tensor, class_embeddings: torch.Tensor | None = None
    ) -> VicTRVideoClassifierOutput:
        """pixel_values float [B, T, 3, H, W] (CLIP-normalised) → logits [B, C], video_embedding
        [B, W] (d with the anchored classifier), class_text_embeddings [B, C, W] (the
        video-conditioned class texts, before the auxiliary aggregate) and dest [B, T, 1+N] (the
        region of each input token). [B, V, T, 3, H, W] (V views per video) → the same with a
        view axis, view_logits [B, V, C] and logits the log of the view-averaged softmax
        (`views_forward`). `class_embeddings` [C, d] replaces the stored classes."""
        if pixel_values.ndim == 6:
            return self.views_forward(pixel_values, class_embeddings)
        frames = self.video_tokens(pixel_values)
        prompts = self.class_embeddings if class_embeddings is None else class_embeddings
        n = prompts.shape[0]
        x = self.tokens(frames, prompts)
        for layer in self.layers:
            x = layer(x)
        x = self.ln_final(x)
        pooled = ordered_pool(x, self.pool_weights) if self.pool_weights is not None else x.mean(1)
        video, classes, aux = pooled[:, 0], pooled[:, 1 : 1 + n], pooled[:, 1 + n :]
        if self.anchor:  # CLIP's frame average and prompt embeddings plus the gated head
            if self.out_proj is not None:
                video, classes, aux = (
                    self.out_proj(video),
                    self.out_proj(classes),
                    self.out_proj(aux),
                )
            base = l2_normalize(frames["cls"]).mean(dim=1)
            video = base + self.video_gate * l2_normalize(video)
            classes = l2_normalize(prompts) + self.class_gate * l2_normalize(classes)
            aux = l2_normalize(self.auxiliary) + self.class_gate * l2_normalize(aux)
        logits = affinity_logits(
            video, classes, aux, self.temperature, torch.exp(self.log_logit_scale)
        )
        return VicTRVideoClassifierOutput(
            logits=logits,
            video_embedding=video,
            class_text_embeddings=classes,
            dest=frames["dest"],
        )


# save_pretrained copies this file and its relative imports into the folder and sets auto_map,
# so `AutoModel.from_pretrained(folder, trust_remote_code=True)` loads it (and
# AutoModelForVideoClassification: `FrozenCLIPVideoModel.save_pretrained`).
VicTRConfig.register_for_auto_class()
VicTRForVideoClassification.register_for_auto_class("AutoModel")
