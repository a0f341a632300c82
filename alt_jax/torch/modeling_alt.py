"""ALT in plain PyTorch for inference: what `alt_jax.models.alt.ALT` computes in eval mode.

The frozen CLIP vision tower with ToMe (`modeling_clip_video`: token merging sits between each
block's attention and MLP, with proportional attention) → entity alignment (hard argmax, no
Gumbel noise; with `queries: "learned"` one learned query per region slot instead) → video
adapter (`modeling_adapter`; kind 'ordered': region positions from the ToMe map `dest`,
frame-local attention, a temporal transformer; kind 'global': the first adapter) → gated
residual → cosine classifier. Class names, class embeddings, entity names and the entity matrix
S travel with the weights, so a saved folder classifies on its own:

    model = ALTForVideoClassification.from_pretrained("export/")
    out = model(ALTForVideoClassification.normalize(frames_uint8))  # [B, T, H, W, 3]
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

# Relative imports, and nothing from alt_jax: this file and those it imports (recursively:
# modeling_adapter.py, modeling_clip_video.py, configuration_alt.py, tome.py) are copied into
# every export folder as transformers remote code.
from .configuration_alt import MODEL_TYPE, ALTConfig  # noqa: F401 - MODEL_TYPE: re-exported
from .modeling_adapter import EntityAlignment, build_adapter
from .modeling_clip_video import FrozenCLIPVideoModel, coerce_config, l2_normalize

QUERY_KINDS = ("entities", "learned")


@dataclass
class ALTVideoClassifierOutput(ModelOutput):
    """What `ALTForVideoClassification` returns: a transformers ModelOutput, readable as
    `out.logits` and as the dict `out["logits"]` the forward returned before (a field that is
    None, such as entity_index with learned queries, is no key)."""

    logits: torch.Tensor | None = None  # [B, C]; with views: log of the view-averaged softmax
    video_embedding: torch.Tensor | None = None  # [B, d]
    entity_index: torch.Tensor | None = None  # [B, T, M], the entity of each region
    dest: torch.Tensor | None = None  # [B, T, 1+N], the region of each input token
    view_logits: torch.Tensor | None = None  # [B, V, C], for [B, V, T, 3, H, W] input only


class ALTForVideoClassification(FrozenCLIPVideoModel, PreTrainedModel):
    """ALT for inference, a transformers model; `config` is an `ALTConfig` (or its dict)."""

    config_class = ALTConfig
    base_model_prefix = "alt"
    main_input_name = "pixel_values"

    def __init__(self, config: ALTConfig | dict[str, Any]):
        config = coerce_config(config, ALTConfig)
        super().__init__(config)
        vcfg = self.build_vision(config)
        d = vcfg.projection_dim
        self.queries = config.queries
        if self.queries not in QUERY_KINDS:
            raise ValueError(f"queries must be one of {QUERY_KINDS}, got {self.queries!r}")
        if self.queries == "entities":
            self.alignment = EntityAlignment(vcfg.hidden_size, d)
        else:
            self.learned_queries = nn.Parameter(torch.zeros(config.num_queries, d))
        self.adapter = build_adapter(
            config.adapter, region_dim=vcfg.hidden_size, text_dim=d, frames=config.num_frames
        )
        self.gate = nn.Parameter(torch.zeros(()))
        self.entity_readout = bool(getattr(config, "entity_readout", False))
        if self.entity_readout:
            self.entity_gate = nn.Parameter(torch.zeros(()))
        self.probe = bool(getattr(config, "probe", False))
        if self.probe:  # cos(v, t_c) + g_p · (mean_t cls_t − μ) A t_c
            self.probe_mean = nn.Parameter(torch.zeros(d))
            self.probe_map = nn.Parameter(torch.zeros(d, d))
            self.probe_gate = nn.Parameter(torch.zeros(()))
        self.log_logit_scale = nn.Parameter(torch.zeros(()))
        self.register_buffer("entities", torch.zeros(len(config.entity_names), d))
        self.register_buffer("class_embeddings", torch.zeros(len(config.class_names), d))
        self.post_init()
        self.eval()

    # -- the head -----------------------------------------------------------------------------------

    @torch.no_grad()
    def forward(
        self, pixel_values: torch.Tensor, class_embeddings: torch.Tensor | None = None
    ) -> ALTVideoClassifierOutput:
        """pixel_values float [B, T, 3, H, W] (CLIP-normalised) → logits [B, C], video_embedding
        [B, d], entity_index [B, T, M] (the entity of each region; entity queries only) and dest
        [B, T, 1+N] (the region of each input token). [B, V, T, 3, H, W] (V views per video, as
        the processor gives them) → the same with a view axis, view_logits [B, V, C] and logits
        the log of the view-averaged softmax (`views_forward`). `class_embeddings` [C, d]
        replaces the stored classes."""
        if pixel_values.ndim == 6:
            return self.views_forward(pixel_values, class_embeddings)
        frames = self.video_tokens(pixel_values)
        ln, cls, dest = frames["ln"], frames["cls"], frames["dest"]
        b, t = cls.shape[:2]
        regions = ln[:, :, 1:]
        index = None
        if self.queries == "entities":
            index, queries = self.alignment(regions, self.entities)
        else:
            m = regions.shape[2]
            if self.learned_queries.shape[0] != m:
                raise ValueError(
                    f"{m} regions per frame, but the model has {self.learned_queries.shape[0]} "
                    f"learned queries (set at the CLIP's image size and ToMe r)"
                )
            queries = self.learned_queries.expand(b, t, m, -1)
        z, readout = self.adapter(regions, ln[:, :, 0], queries, dest, index)
        pool = l2_normalize(cls) if self.config.frame_pool == "normalized" else cls
        base = pool.mean(dim=1)
        video = base + self.gate * z
        if self.entity_readout:  # e = the readout-weighted entity texts, averaged over frames
            entity = torch.einsum("btm,btmd->bd", readout, queries) / t
            video = video + self.entity_gate * base.norm(dim=-1, keepdim=True) * entity
        classes = self.class_embeddings if class_embeddings is None else class_embeddings
        classes = l2_normalize(classes)
        similarity = l2_normalize(video) @ classes.T
        if self.probe:
            appearance = (cls.mean(dim=1) - self.probe_mean) @ self.probe_map
            similarity = similarity + self.probe_gate * appearance @ classes.T
        logits = torch.exp(self.log_logit_scale) * similarity
        return ALTVideoClassifierOutput(
            logits=logits, video_embedding=video, entity_index=index, dest=dest
        )


# save_pretrained copies this file and its relative imports into the folder and sets auto_map,
# so `AutoModel.from_pretrained(folder, trust_remote_code=True)` loads it (and
# AutoModelForVideoClassification: `FrozenCLIPVideoModel.save_pretrained`).
ALTConfig.register_for_auto_class()
ALTForVideoClassification.register_for_auto_class("AutoModel")
