"""The PyTorch peers (transformers, random weights at published shapes) and their inference paths.

X-CLIP-B/16 8 frames is `XCLIPConfig` with the vision tower at patch 16 and `num_frames` 8 and
the settings of microsoft/xclip-base-patch16: a 1-layer MIT of width 512 (2048 MLP, 8 heads),
a 2-layer video-specific prompt generator (8 heads, alpha 0.1, quick_gelu), projection 512 and
CLIP-B's text tower. Widths come from the alt_jax CLIP preset, so `--preset=tiny` shrinks
every contender alike.
"""

import dataclasses
from typing import Any

import torch
from transformers import CLIPConfig, CLIPModel, XCLIPConfig, XCLIPModel

from alt_jax.models.clip_config import get_preset


def xclip_config(preset: str, frames: int) -> XCLIPConfig:
    """X-CLIP at the shapes of a CLIP preset; for B/16 those of microsoft/xclip-base-patch16."""
    cfg = get_preset(preset)
    vision = dataclasses.asdict(cfg.vision)
    vision.update(
        num_frames=frames,
        mit_hidden_size=cfg.projection_dim,
        mit_intermediate_size=4 * cfg.projection_dim,
        mit_num_hidden_layers=1,
        mit_num_attention_heads=8,
    )
    text = {k: v for k, v in dataclasses.asdict(cfg.text).items() if k != "eos_token_id"}
    return XCLIPConfig(
        text_config=text,
        vision_config=vision,
        projection_dim=cfg.projection_dim,
        prompt_layers=2,
        prompt_alpha=0.1,
        prompt_hidden_act="quick_gelu",
        prompt_num_attention_heads=8,
        prompt_attention_dropout=0.0,
        prompt_projection_dropout=0.0,
    )


def xclip_config_summary(config: XCLIPConfig) -> dict[str, Any]:
    """The X-CLIP config values that set its cost, for the result files."""
    v = config.vision_config
    keys = (
        "hidden_size intermediate_size num_hidden_layers num_attention_heads image_size "
        "patch_size num_frames mit_hidden_size mit_intermediate_size mit_num_hidden_layers "
        "mit_num_attention_heads"
    ).split()
    return {
        "vision": {k: getattr(v, k) for k in keys},
        **{
            k: getattr(config, k)
            for k in (
                "projection_dim prompt_layers prompt_alpha prompt_hidden_act "
                "prompt_num_attention_heads"
            ).split()
        },
    }


def build_xclip(preset: str, frames: int, seed: int = 0) -> XCLIPModel:
    """X-CLIP with random weights."""
    torch.manual_seed(seed)
    return XCLIPModel(xclip_config(preset, frames))


def build_torch_clip(preset: str, seed: int = 0) -> CLIPModel:
    """transformers CLIP with random weights at a preset's shapes."""
    torch.manual_seed(seed)
    return CLIPModel(CLIPConfig(**get_preset(preset).to_transformers_dict()))


def xclip_video_logits(
    model: XCLIPModel, pixel_values: torch.Tensor, text_embeds: torch.Tensor
) -> torch.Tensor:
    """`XCLIPModel.forward`'s logits_per_video with the text tower's output given:
    pixel_values [B, T, 3, H, W], text_embeds [C, d] (text_projection of the class prompts,
    computed once per label set) → [B, C]. Runs the vision tower with cross-frame tokens, MIT,
    and the video-conditioned prompt generator, as the model's forward does."""
    b, t = pixel_values.shape[:2]
    vision = model.vision_model(pixel_values=pixel_values.flatten(0, 1))
    video = model.visual_projection(vision.pooler_output).view(b, t, -1)
    video = model.mit(video).pooler_output  # [B, d]
    regions = model.prompts_visual_layernorm(vision.last_hidden_state[:, 1:])
    regions = (regions @ model.prompts_visual_projection).view(b, t, -1, video.shape[-1]).mean(1)
    text = text_embeds.unsqueeze(0).expand(b, -1, -1)
    text = text + model.prompts_generator(text, regions)  # [B, C, d]
    video = video / video.norm(dim=-1, keepdim=True)
    text = text / text.norm(dim=-1, keepdim=True)
    return model.logit_scale.exp() * torch.einsum("bd,bkd->bk", video, text)


def clip_frame_average_logits(
    model: CLIPModel, pixel_values: torch.Tensor, text_embeds: torch.Tensor
) -> torch.Tensor:
    """Zero-shot CLIP on a video: mean over frames of `get_image_features`, cosine logits
    against text_embeds [C, d]; pixel_values [B, T, 3, H, W] → [B, C]."""
    b, t = pixel_values.shape[:2]
    features = model.get_image_features(pixel_values=pixel_values.flatten(0, 1))
    if not isinstance(features, torch.Tensor):  # transformers ≥ 5 returns the model output
        features = features.pooler_output
    video = features.view(b, t, -1).mean(1)
    video = video / video.norm(dim=-1, keepdim=True)
    text = text_embeds / text_embeds.norm(dim=-1, keepdim=True)
    return model.logit_scale.exp() * video @ text.T
