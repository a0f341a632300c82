"""The frozen CLIP video encoder every exported head shares, in plain PyTorch: transformers' CLIP
vision tower (its modules, our loop: token merging sits between each block's attention and MLP,
with proportional attention, and optionally a training-free dense path in the last block),
pixel normalisation and strict folder and state-dict loading (`FrozenCLIPVideoModel`, a mixin
before `PreTrainedModel`).

The heads (`modeling_alt.ALTForVideoClassification`, `modeling_victr.VicTRForVideoClassification`)
add their trainable parts on top.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import CLIPVisionConfig, CLIPVisionModel

# Relative imports, and nothing from alt_jax: this file and those it imports are copied into
# every export folder as transformers remote code.
from .tome import (
    bipartite_merge,
    capped_schedule,
    compose_dest,
    identity_dest,
    proportional_attention_bias,
)

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
INDEX_NAME = "model.safetensors.index.json"
# safetensors dtype names of floating-point tensors (every parameter and buffer of the model).
FLOAT_DTYPES = ("F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2")
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def l2_normalize(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """x / ‖x‖ on the last axis (an all-zero row stays zero)."""
    return x * torch.rsqrt(torch.clamp((x * x).sum(-1, keepdim=True), min=eps))


def attention(q, k, v, bias=None) -> torch.Tensor:
    """q [B, Nq, H, Dh], k/v [B, Nk, H, Dh], bias broadcastable to [B, H, Nq, Nk] → [B, Nq, H, Dh]."""
    logits = torch.einsum("bqhd,bkhd->bhqk", q, k) * q.shape[-1] ** -0.5
    if bias is not None:
        logits = logits + bias
    return torch.einsum("bhqk,bkhd->bqhd", logits.softmax(-1), v)


def attend(layer: nn.Module, x: torch.Tensor, bias=None) -> tuple[torch.Tensor, torch.Tensor]:
    """x + SelfAttn(LN(x)) of a transformers CLIPEncoderLayer with an additive logit bias, and
    its keys [B, N, H, Dh] (ToMe's similarity metric)."""
    attn = layer.self_attn
    h = layer.layer_norm1(x)
    b, n, d = h.shape
    q, k, v = (
        p(h).reshape(b, n, attn.num_heads, -1) for p in (attn.q_proj, attn.k_proj, attn.v_proj)
    )
    return x + attn.out_proj(attention(q, k, v, bias).reshape(b, n, d)), k


REGION_FEATURES = ("tokens", "maskclip", "sclip", "clearclip")


def dense_last_attention(layer: nn.Module, x: torch.Tensor, bias, kind: str):
    """The region path of a training-free dense CLIP in the last block (`alt_jax.models.clip.
    dense_last_attention`): out_proj(A · v) of LN1(x), or None for CLIP's own tokens."""
    if kind == "tokens":
        return None
    if kind not in REGION_FEATURES:
        raise ValueError(f"region_features must be one of {REGION_FEATURES}, got {kind!r}")
    attn = layer.self_attn
    h = layer.layer_norm1(x)
    b, n, d = h.shape
    q, k, v = (
        p(h).reshape(b, n, attn.num_heads, -1) for p in (attn.q_proj, attn.k_proj, attn.v_proj)
    )
    if kind == "maskclip":
        out = v
    elif kind == "clearclip":
        out = attention(q, q, v, bias)
    else:
        out = attention(q, q, v, bias) + attention(k, k, v, bias)
    return attn.out_proj(out.reshape(b, n, d))


def saved_dtypes(name_or_path: str | os.PathLike, kwargs: dict[str, Any]) -> dict[str, str]:
    """{tensor: safetensors dtype name} of the weights `from_pretrained(name_or_path, **kwargs)`
    read: a folder's model.safetensors (or its shards), else the hub's cached copy."""
    from safetensors import safe_open
    from transformers.utils import cached_file

    where = {k: kwargs[k] for k in ("cache_dir", "revision", "token", "subfolder") if k in kwargs}

    def resolve(filename: str) -> str | None:
        folder = Path(name_or_path) / kwargs.get("subfolder", "")
        if folder.is_dir():
            return str(folder / filename) if (folder / filename).is_file() else None
        # Already fetched by from_pretrained: read from the cache, never the network.
        return cached_file(
            name_or_path,
            filename,
            **where,
            local_files_only=True,
            _raise_exceptions_for_missing_entries=False,
        )

    files = [resolve(WEIGHTS_NAME)]
    if files[0] is None and (index := resolve(INDEX_NAME)) is not None:
        shards = sorted(set(json.loads(Path(index).read_text())["weight_map"].values()))
        for shard in shards:  # shards are files of the folder itself, never paths out of it
            if not isinstance(shard, str) or Path(shard).name != shard or shard in ("..", "."):
                raise ValueError(f"{index}: weight_map names {shard!r}, not a file of the folder")
        files = [resolve(shard) for shard in shards]
    dtypes = {}
    for file in files:
        if file is not None:
            with safe_open(file, framework="pt") as f:
                dtypes.update({k: f.get_slice(k).get_dtype() for k in f.keys()})
    return dtypes


def coerce_config(config: Any, config_class: type) -> Any:
    """`config` as a `config_class` instance: one already, or the dict of `convert.torch_config`,
    whose model_type must be the class's."""
    if isinstance(config, dict):
        want = config_class.model_type
        if config.get("model_type") != want:
            raise ValueError(
                f"config model_type must be {want!r}, got {config.get('model_type')!r}"
            )
        config = config_class(**{k: v for k, v in config.items() if k != "model_type"})
    return config


class FrozenCLIPVideoModel:
    """What every exported head shares (a mixin before PreTrainedModel): the frozen CLIP vision
    tower with ToMe, pixel normalisation, and strict folder and state-dict loading."""

    export_name = "ALT"  # in error messages: "not an exported ALT folder"

    def build_vision(self, config: Any) -> CLIPVisionConfig:
        """Adds the vision tower and its projection (transformers' CLIP modules) of `config`."""
        vcfg = CLIPVisionConfig(**config.vision_config)
        self.vision_model = CLIPVisionModel(vcfg)
        self.visual_projection = nn.Linear(vcfg.hidden_size, vcfg.projection_dim, bias=False)
        return vcfg

    def _init_weights(self, module: nn.Module) -> None:
        """No initialisation: every tensor comes from the export (a missing one is an error)."""

    # -- the frozen encoder -----------------------------------------------------------------------

    def frame_tokens(self, pixel_values: torch.Tensor) -> dict[str, torch.Tensor]:
        """Frames [F, 3, H, W] → ln [F, 1+M, D] (post-LN tokens), cls [F, d], dest [F, 1+N]."""
        vision = self.vision_model
        x = vision.embeddings(pixel_values, interpolate_pos_encoding=True)
        x = vision.pre_layrnorm(x)
        f, n, _ = x.shape
        size = torch.ones(f, n, 1, dtype=x.dtype, device=x.device)
        dest = identity_dest(f, n, x.device)
        schedule = capped_schedule(self.config.tome_schedule, n)
        kind = getattr(self.config, "region_features", "tokens")
        layers = vision.encoder.layers
        merged = False
        for i, (layer, r) in enumerate(zip(layers, schedule, strict=True)):
            bias = proportional_attention_bias(size) if merged and self.config.prop_attn else None
            dense = dense_last_attention(layer, x, bias, kind) if i == len(layers) - 1 else None
            x, keys = attend(layer, x, bias)
            if r > 0:
                both = x if dense is None else torch.cat([x, dense], dim=-1)
                both, size, layer_dest = bipartite_merge(both, size, keys.mean(dim=2), r)
                x, dense = (both, None) if dense is None else both.chunk(2, dim=-1)
                dest = compose_dest(dest, layer_dest)
                merged = True
            x = x + layer.mlp(layer.layer_norm2(x))
            if dense is not None:
                x = torch.cat([x[:, :1], dense[:, 1:]], dim=1)
        ln = vision.post_layernorm(x)
        return {"ln": ln, "cls": self.visual_projection(ln[:, 0]), "dest": dest}

    def views_forward(
        self, pixel_values: torch.Tensor, class_embeddings: torch.Tensor | None = None
    ) -> Any:
        """pixel_values [B, V, T, 3, H, W] (V views of each video: the processor's clips ×
        crops) → the head's output on the B·V clips with a view axis after the batch axis on
        every field, view_logits [B, V, C], and logits [B, C] = log of the class probabilities
        averaged over the views, so that softmax(logits) is what `alt_jax.predict` and the
        evaluation report."""
        b, v = pixel_values.shape[:2]
        out = self(pixel_values.flatten(0, 1), class_embeddings)
        fields = {k: t.reshape(b, v, *t.shape[1:]) for k, t in out.items()}
        view_logits = fields.pop("logits")
        logits = torch.logsumexp(view_logits.log_softmax(-1), dim=1) - math.log(v)
        return type(out)(logits=logits, view_logits=view_logits, **fields)

    def video_tokens(self, pixel_values: torch.Tensor) -> dict[str, torch.Tensor]:
        """pixel_values [B, T, 3, H, W] → ln [B, T, 1+M, D], cls [B, T, d], dest [B, T, 1+N]."""
        if pixel_values.ndim != 5:
            raise ValueError(
                f"pixel_values must be [B, T, 3, H, W], got {tuple(pixel_values.shape)}"
            )
        b, t = pixel_values.shape[:2]
        frames = self.frame_tokens(pixel_values.reshape(b * t, *pixel_values.shape[2:]))
        return {k: v.reshape(b, t, *v.shape[1:]) for k, v in frames.items()}

    @staticmethod
    def normalize(frames: torch.Tensor) -> torch.Tensor:
        """uint8 RGB frames [..., H, W, 3] → float32 CLIP-normalised [..., 3, H, W]."""
        x = torch.as_tensor(frames).float() / 255.0
        x = (x - torch.tensor(CLIP_MEAN)) / torch.tensor(CLIP_STD)
        return x.movedim(-1, -3)

    # -- folders ------------------------------------------------------------------------------------

    def save_pretrained(self, save_directory: str | os.PathLike, *args: Any, **kwargs: Any) -> Any:
        """transformers' save_pretrained; auto_map also names this class for
        AutoModelForVideoClassification, which the video-classification pipeline loads with
        (register_for_auto_class takes one auto class: it names AutoModel)."""
        if self._auto_class is not None:
            module = type(self).__module__.rpartition(".")[2]
            auto_map = dict(getattr(self.config, "auto_map", None) or {})
            auto_map["AutoModelForVideoClassification"] = f"{module}.{type(self).__name__}"
            self.config.auto_map = auto_map
        return super().save_pretrained(save_directory, *args, **kwargs)

    @classmethod
    def from_pretrained(
        cls, pretrained_model_name_or_path: str | os.PathLike, *args: Any, **kwargs: Any
    ) -> Any:
        """The model saved in a folder (or hub repo), in eval mode; a missing, unexpected or
        misshapen tensor is an error naming it (transformers would initialise it randomly), and
        so is a folder of another head (its model_type)."""
        folder = Path(pretrained_model_name_or_path)
        if folder.is_dir():
            for name in (CONFIG_NAME, WEIGHTS_NAME):
                if not (folder / name).is_file():
                    raise FileNotFoundError(
                        f"{folder / name} does not exist (not an exported {cls.export_name} folder)"
                    )
            # transformers would only warn, then build this head from the other's config.
            found = json.loads((folder / CONFIG_NAME).read_text()).get("model_type")
            want = cls.config_class.model_type
            if found is not None and found != want:
                raise ValueError(
                    f"{folder} holds a model_type {found!r} export, not {want!r} "
                    f"({cls.__name__}); load it with that head's class or AutoModel"
                )
        want_info = kwargs.pop("output_loading_info", False)
        # Misshapen tensors come back in the loading info, so the error below names them.
        kwargs["ignore_mismatched_sizes"] = True
        model, info = super().from_pretrained(
            pretrained_model_name_or_path, *args, output_loading_info=True, **kwargs
        )
        # transformers' position_ids buffer is derived, not learned.
        missing = sorted(k for k in info["missing_keys"] if not k.endswith("position_ids"))
        unexpected = sorted(info["unexpected_keys"])
        shapes = sorted(str(k) for k in info["mismatched_keys"])
        if missing or unexpected or shapes:
            raise ValueError(
                f"{pretrained_model_name_or_path}: missing {missing[:8]}, "
                f"unexpected {unexpected[:8]}, misshapen {shapes[:8]}"
            )
        # transformers casts each tensor to its parameter's dtype, so an integer tensor (an F32
        # one whose header says I32 has the same size) would load as garbage without a word.
        own = model.state_dict()
        found = saved_dtypes(pretrained_model_name_or_path, kwargs)
        mistyped = [
            f"{k}: checkpoint {found[k]}, model expects floating point ({own[k].dtype})"
            for k in sorted(found)
            if k in own and own[k].is_floating_point() and found[k] not in FLOAT_DTYPES
        ]
        if mistyped:
            raise ValueError(f"{pretrained_model_name_or_path}: dtype mismatch: {mistyped[:8]}")
        model.eval()
        return (model, info) if want_info else model

    def load_state_dict_strict(
        self, tensors: dict[str, torch.Tensor], where: Any = "state"
    ) -> None:
        """Loads every tensor; a missing, unexpected or misshapen one is an error naming it."""
        own = self.state_dict()
        # transformers' position_ids buffer is derived, not learned.
        missing = sorted(k for k in own if k not in tensors and not k.endswith("position_ids"))
        unexpected = sorted(k for k in tensors if k not in own)
        shapes = [
            f"{k}: {tuple(v.shape)} vs model {tuple(own[k].shape)}"
            for k, v in tensors.items()
            if k in own and tuple(v.shape) != tuple(own[k].shape)
        ]
        # load_state_dict would cast an integer tensor into a float parameter without a word.
        dtypes = [
            f"{k}: {v.dtype} vs model {own[k].dtype}"
            for k, v in tensors.items()
            if k in own and v.is_floating_point() != own[k].is_floating_point()
        ]
        if missing or unexpected or shapes or dtypes:
            raise ValueError(
                f"{where}: missing {missing[:8]}, unexpected {unexpected[:8]}, misshapen "
                f"{shapes[:8]}, mistyped {dtypes[:8]}"
            )
        self.load_state_dict(tensors, strict=False)
