"""ALT in plain PyTorch for inference: what `alt_jax.models.alt.ALT` computes in eval mode.

transformers' CLIP vision tower (its modules, our loop: token merging sits between each block's
attention and MLP, with proportional attention) → entity alignment (hard argmax, no Gumbel
noise) → video adapter → gated residual → cosine classifier. Class names, class embeddings,
entity names and the entity matrix S travel with the weights, so a saved folder classifies on
its own:

    model = ALTForVideoClassification.from_pretrained("export/")
    out = model(ALTForVideoClassification.normalize(frames_uint8))  # [B, T, H, W, 3]
    model.config["class_names"][out["logits"].argmax(-1)]

Parameter names mirror the Flax modules' paths (`kernel` → `weight`, Linear kernels
transposed), so the converter maps a checkpoint mechanically.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import CLIPVisionConfig, CLIPVisionModel

from alt_jax.torch import tome

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
MODEL_TYPE = "alt_video_classifier"
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
# nnx.LayerNorm's default epsilon (the adapter's layer norms); CLIP's come from its config.
ADAPTER_LN_EPS = 1e-6


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


class MLP(nn.Module):
    """Linear → GELU (tanh approximation, jax.nn.gelu's default) → Linear."""

    def __init__(self, d_in: int, hidden: int, d_out: int):
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden)
        self.fc2 = nn.Linear(hidden, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class MultiHeadAttention(nn.Module):
    """Multi-head attention of a query sequence over a key/value sequence."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(width, width)
        self.k_proj = nn.Linear(width, width)
        self.v_proj = nn.Linear(width, width)
        self.out_proj = nn.Linear(width, width)

    def forward(self, q: torch.Tensor, kv: torch.Tensor) -> torch.Tensor:
        """q [B, Nq, W], kv [B, Nk, W] → [B, Nq, W]."""

        def split(t):
            return t.reshape(*t.shape[:2], self.heads, -1)

        out = attention(split(self.q_proj(q)), split(self.k_proj(kv)), split(self.v_proj(kv)))
        return self.out_proj(out.reshape(q.shape))


class DecoderLayer(nn.Module):
    """Q ← Q + CrossAttn(LN(Q), LN(KV)); Q ← Q + SelfAttn(LN(Q)); Q ← Q + MLP(LN(Q))."""

    def __init__(self, width: int, heads: int, mlp_hidden: int):
        super().__init__()
        ln = lambda: nn.LayerNorm(width, eps=ADAPTER_LN_EPS)  # noqa: E731
        self.ln_q, self.ln_kv, self.ln_self, self.ln_mlp = ln(), ln(), ln(), ln()
        self.cross_attn = MultiHeadAttention(width, heads)
        self.self_attn = MultiHeadAttention(width, heads)
        self.mlp = MLP(width, mlp_hidden, width)

    def forward(self, q: torch.Tensor, kv: torch.Tensor) -> torch.Tensor:
        q = q + self.cross_attn(self.ln_q(q), self.ln_kv(kv))
        h = self.ln_self(q)
        q = q + self.self_attn(h, h)
        return q + self.mlp(self.ln_mlp(q))


class VideoAdapter(nn.Module):
    """Aligned entity texts query the frames' region tokens → a video vector [B, d]."""

    def __init__(
        self, *, region_dim, text_dim, width, depth, heads, mlp_hidden, conv_kernel, frames
    ):
        super().__init__()
        self.mlp_kv = MLP(region_dim, width, width)
        self.mlp_q = MLP(text_dim, width, width)
        self.temporal_embedding = nn.Parameter(torch.zeros(frames, width))
        self.conv_kernel = nn.Parameter(torch.zeros(conv_kernel, width))
        self.conv_bias = nn.Parameter(torch.zeros(width))
        self.layers = nn.ModuleList(DecoderLayer(width, heads, mlp_hidden) for _ in range(depth))
        self.out_proj = nn.Linear(width, text_dim, bias=False)

    def temporal_conv(self, x: torch.Tensor) -> torch.Tensor:
        """Depthwise conv over time, zero padded: x [B, T, C] → [B, T, C] (cross-correlation)."""
        k, t = self.conv_kernel.shape[0], x.shape[1]
        padded = F.pad(x, (0, 0, k // 2, k // 2))
        return sum(padded[:, j : j + t] * self.conv_kernel[j] for j in range(k)) + self.conv_bias

    def forward(self, regions, cls, queries) -> torch.Tensor:
        """regions [B, T, M, D], cls [B, T, D], queries [B, T, M, d] → z [B, d]."""
        b, t, m, _ = regions.shape
        if t > self.temporal_embedding.shape[0]:
            raise ValueError(
                f"{t} frames, but the adapter has a temporal embedding for "
                f"{self.temporal_embedding.shape[0]}"
            )
        temb = self.temporal_embedding[:t]
        context = self.temporal_conv(self.mlp_kv(cls))  # [B, T, W]
        kv = self.mlp_kv(regions) + (temb + context)[:, :, None]
        q = self.mlp_q(queries) + temb[None, :, None]
        kv, q = kv.reshape(b, t * m, -1), q.reshape(b, t * m, -1)
        for layer in self.layers:
            q = layer(q, kv)
        return self.out_proj(q.mean(dim=1))


class EntityAlignment(nn.Module):
    """W_r [D, d] and log τ_a; every region picks its most similar entity (evaluation mode)."""

    def __init__(self, region_dim: int, text_dim: int):
        super().__init__()
        self.w_r = nn.Parameter(torch.zeros(region_dim, text_dim))
        self.log_tau = nn.Parameter(torch.zeros(()))

    def forward(self, regions: torch.Tensor, entities: torch.Tensor):
        """regions [..., M, D], entities S [K, d] → (index [..., M], aligned Q̂ = S[index])."""
        x = l2_normalize(regions @ self.w_r)
        soft = ((x @ entities.T) / torch.exp(self.log_tau)).softmax(-1)
        index = soft.argmax(-1)  # argmax of the softmax, as the JAX model takes it
        return index, entities[index]


class ALTForVideoClassification(nn.Module):
    """ALT for inference; `config` is the dict saved as config.json (see `default_config`)."""

    def __init__(self, config: dict[str, Any]):
        super().__init__()
        if config.get("model_type") != MODEL_TYPE:
            raise ValueError(
                f"config model_type must be {MODEL_TYPE!r}, got {config.get('model_type')!r}"
            )
        self.config = config
        vcfg = CLIPVisionConfig(**config["vision_config"])
        d = vcfg.projection_dim
        self.vision_model = CLIPVisionModel(vcfg)
        self.visual_projection = nn.Linear(vcfg.hidden_size, d, bias=False)
        self.alignment = EntityAlignment(vcfg.hidden_size, d)
        a = config["adapter"]
        self.adapter = VideoAdapter(
            region_dim=vcfg.hidden_size,
            text_dim=d,
            width=a["width"],
            depth=a["depth"],
            heads=a["heads"],
            mlp_hidden=a["mlp_hidden"],
            conv_kernel=a["conv_kernel"],
            frames=config["num_frames"],
        )
        self.gate = nn.Parameter(torch.zeros(()))
        self.log_logit_scale = nn.Parameter(torch.zeros(()))
        self.register_buffer("entities", torch.zeros(len(config["entity_names"]), d))
        self.register_buffer("class_embeddings", torch.zeros(len(config["class_names"]), d))
        self.eval()

    # -- the frozen encoder -----------------------------------------------------------------------

    def frame_tokens(self, pixel_values: torch.Tensor) -> dict[str, torch.Tensor]:
        """Frames [F, 3, H, W] → ln [F, 1+M, D] (post-LN tokens), cls [F, d], dest [F, 1+N]."""
        vision = self.vision_model
        x = vision.embeddings(pixel_values, interpolate_pos_encoding=True)
        x = vision.pre_layrnorm(x)
        f, n, _ = x.shape
        size = torch.ones(f, n, 1, dtype=x.dtype, device=x.device)
        dest = tome.identity_dest(f, n, x.device)
        schedule = tome.capped_schedule(self.config["tome_schedule"], n)
        merged = False
        for layer, r in zip(vision.encoder.layers, schedule, strict=True):
            bias = (
                tome.proportional_attention_bias(size)
                if merged and self.config["prop_attn"]
                else None
            )
            x, keys = attend(layer, x, bias)
            if r > 0:
                x, size, layer_dest = tome.bipartite_merge(x, size, keys.mean(dim=2), r)
                dest = tome.compose_dest(dest, layer_dest)
                merged = True
            x = x + layer.mlp(layer.layer_norm2(x))
        ln = vision.post_layernorm(x)
        return {"ln": ln, "cls": self.visual_projection(ln[:, 0]), "dest": dest}

    # -- the head -----------------------------------------------------------------------------------

    @torch.no_grad()
    def forward(
        self, pixel_values: torch.Tensor, class_embeddings: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """pixel_values float [B, T, 3, H, W] (CLIP-normalised) → logits [B, C], video_embedding
        [B, d], entity_index [B, T, M] (the entity of each region) and dest [B, T, 1+N] (the region
        of each input token). `class_embeddings` [C, d] replaces the stored classes."""
        if pixel_values.ndim != 5:
            raise ValueError(
                f"pixel_values must be [B, T, 3, H, W], got {tuple(pixel_values.shape)}"
            )
        b, t = pixel_values.shape[:2]
        frames = self.frame_tokens(pixel_values.reshape(b * t, *pixel_values.shape[2:]))
        ln = frames["ln"].reshape(b, t, *frames["ln"].shape[1:])
        cls = frames["cls"].reshape(b, t, -1)
        index, aligned = self.alignment(ln[:, :, 1:], self.entities)
        z = self.adapter(ln[:, :, 1:], ln[:, :, 0], aligned)
        pool = l2_normalize(cls) if self.config["frame_pool"] == "normalized" else cls
        video = pool.mean(dim=1) + self.gate * z
        classes = self.class_embeddings if class_embeddings is None else class_embeddings
        logits = torch.exp(self.log_logit_scale) * (l2_normalize(video) @ l2_normalize(classes).T)
        return {
            "logits": logits,
            "video_embedding": video,
            "entity_index": index,
            "dest": frames["dest"].reshape(b, t, -1),
        }

    @staticmethod
    def normalize(frames: torch.Tensor) -> torch.Tensor:
        """uint8 RGB frames [..., H, W, 3] → float32 CLIP-normalised [..., 3, H, W]."""
        x = torch.as_tensor(frames).float() / 255.0
        x = (x - torch.tensor(CLIP_MEAN)) / torch.tensor(CLIP_STD)
        return x.movedim(-1, -3)

    # -- folders ------------------------------------------------------------------------------------

    def save_pretrained(self, folder: str | os.PathLike) -> Path:
        """Writes config.json and model.safetensors."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(folder / WEIGHTS_NAME), metadata={"format": "pt"})
        (folder / CONFIG_NAME).write_text(json.dumps(self.config, indent=1) + "\n")
        return folder

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike) -> "ALTForVideoClassification":
        """The model saved in `folder` (config.json + model.safetensors), in eval mode."""
        from safetensors.torch import load_file

        folder = Path(folder)
        for name in (CONFIG_NAME, WEIGHTS_NAME):
            if not (folder / name).is_file():
                raise FileNotFoundError(
                    f"{folder / name} does not exist (not an exported ALT folder)"
                )
        model = cls(json.loads((folder / CONFIG_NAME).read_text()))
        model.load_state_dict_strict(
            load_file(str(folder / WEIGHTS_NAME)), where=folder / WEIGHTS_NAME
        )
        return model

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
        if missing or unexpected or shapes:
            raise ValueError(
                f"{where}: missing {missing[:8]}, unexpected {unexpected[:8]}, misshapen {shapes[:8]}"
            )
        self.load_state_dict(tensors, strict=False)
