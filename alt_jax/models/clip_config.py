"""CLIP's shapes: the vision and text tower configs (transformers' `CLIPConfig` fields) and the
named presets (OpenAI's B/32, B/16, L/14 and the small ones of the demo and the tests)."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class VisionConfig:
    """Shapes of the vision tower (field names as in transformers' CLIPVisionConfig)."""

    hidden_size: int = 768
    intermediate_size: int = 3072
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    image_size: int = 224
    patch_size: int = 16
    num_channels: int = 3
    hidden_act: str = "quick_gelu"
    layer_norm_eps: float = 1e-5


@dataclasses.dataclass(frozen=True)
class TextConfig:
    """Shapes of the text tower (field names as in transformers' CLIPTextConfig)."""

    hidden_size: int = 512
    intermediate_size: int = 2048
    num_hidden_layers: int = 12
    num_attention_heads: int = 8
    vocab_size: int = 49408
    max_position_embeddings: int = 77
    hidden_act: str = "quick_gelu"
    layer_norm_eps: float = 1e-5
    eos_token_id: int = 49407


@dataclasses.dataclass(frozen=True)
class ClipConfig:
    """A whole CLIP: both towers and the joint embedding width."""

    vision: VisionConfig = VisionConfig()
    text: TextConfig = TextConfig()
    projection_dim: int = 512
    logit_scale_init_value: float = 2.6592

    @classmethod
    def from_transformers_dict(cls, d: dict[str, Any]) -> "ClipConfig":
        """Reads a transformers `CLIPConfig` dict (the contents of config.json)."""

        def pick(klass, sub: dict[str, Any]):
            names = {f.name for f in dataclasses.fields(klass)}
            return klass(**{k: v for k, v in sub.items() if k in names})

        vision = pick(VisionConfig, d.get("vision_config") or {})
        text = pick(TextConfig, d.get("text_config") or {})
        if isinstance(text.eos_token_id, (list, tuple)):
            text = dataclasses.replace(text, eos_token_id=int(text.eos_token_id[0]))
        return cls(
            vision=vision,
            text=text,
            projection_dim=int(d.get("projection_dim", 512)),
            logit_scale_init_value=float(d.get("logit_scale_init_value", 2.6592)),
        )

    def to_transformers_dict(self) -> dict[str, Any]:
        """The equivalent transformers `CLIPConfig` keyword arguments."""
        return {
            "vision_config": dataclasses.asdict(self.vision),
            "text_config": dataclasses.asdict(self.text),
            "projection_dim": self.projection_dim,
            "logit_scale_init_value": self.logit_scale_init_value,
        }


def _b(patch: int, image: int = 224) -> ClipConfig:
    return ClipConfig(vision=VisionConfig(patch_size=patch, image_size=image))


def _l(image: int = 224) -> ClipConfig:
    return ClipConfig(
        vision=VisionConfig(
            hidden_size=1024,
            intermediate_size=4096,
            num_hidden_layers=24,
            num_attention_heads=16,
            patch_size=14,
            image_size=image,
        ),
        text=TextConfig(hidden_size=768, intermediate_size=3072, num_attention_heads=12),
        projection_dim=768,
    )


# Small enough to train the demo in minutes on 2 CPU cores: 112 px, 7 × 7 patches of 16.
_DEMO_VISION = VisionConfig(
    hidden_size=128,
    intermediate_size=256,
    num_hidden_layers=4,
    num_attention_heads=4,
    image_size=112,
    patch_size=16,
)

# The OpenAI CLIP shapes, and a tiny one for tests and demos.
PRESETS: dict[str, ClipConfig] = {
    "B/32": _b(32),
    "B/16": _b(16),
    "L/14": _l(224),
    "L/14@336": _l(336),
    "demo": ClipConfig(
        vision=_DEMO_VISION,
        text=TextConfig(
            hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4
        ),
        projection_dim=128,
    ),
    # The CLIP pre-trained here on synthetic scenes (tools/pretrain_clip.py): the demo's vision
    # tower and a narrow text tower, whose 49408 × 64 token table keeps the checkpoint small.
    "synthclip": ClipConfig(
        vision=_DEMO_VISION,
        text=TextConfig(
            hidden_size=64, intermediate_size=256, num_hidden_layers=3, num_attention_heads=4
        ),
        projection_dim=128,
    ),
    "tiny": ClipConfig(
        vision=VisionConfig(
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=32,
            patch_size=8,
        ),
        text=TextConfig(
            hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4
        ),
        projection_dim=32,
    ),
}


def get_preset(name: str) -> ClipConfig:
    """A named CLIP shape; an unknown name is refused with the valid ones."""
    if name not in PRESETS:
        raise KeyError(f"unknown CLIP preset {name!r}; valid: {sorted(PRESETS)}")
    return PRESETS[name]
