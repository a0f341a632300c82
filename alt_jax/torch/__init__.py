"""ALT and VicTR in plain PyTorch (inference), converted from alt_jax checkpoints; imports
without JAX.

Importing it registers `ALTConfig` / `ALTForVideoClassification` and `VicTRConfig` /
`VicTRForVideoClassification` with transformers' Auto classes (AutoModel and
AutoModelForVideoClassification), and `ALTVideoProcessor` (either head's) with AutoVideoProcessor
and AutoProcessor, so `AutoModel.from_pretrained(folder)`, `AutoProcessor.from_pretrained(folder)`
and the video-classification pipeline load an export of either head without trust_remote_code.
"""

from __future__ import annotations

from alt_jax.torch.configuration_alt import MODEL_TYPE, VICTR_MODEL_TYPE, ALTConfig, VicTRConfig
from alt_jax.torch.modeling_alt import ALTForVideoClassification
from alt_jax.torch.modeling_victr import VicTRForVideoClassification
from alt_jax.torch.video_processing_alt import ALTVideoProcessor

__all__ = [
    "ALTConfig",
    "ALTForVideoClassification",
    "ALTVideoProcessor",
    "VicTRConfig",
    "VicTRForVideoClassification",
    "register",
]


def register() -> None:
    """Registers both heads' configs, models and the video processor with transformers' Auto
    classes (idempotent)."""
    from transformers import AutoConfig, AutoModel, AutoModelForVideoClassification, AutoProcessor

    # The module's class: `transformers.AutoVideoProcessor` is a placeholder that raises without
    # torchvision, which the pipeline and AutoProcessor do not need (they import this one).
    from transformers.models.auto.video_processing_auto import AutoVideoProcessor

    for model_type, config, model in (
        (MODEL_TYPE, ALTConfig, ALTForVideoClassification),
        (VICTR_MODEL_TYPE, VicTRConfig, VicTRForVideoClassification),
    ):
        AutoConfig.register(model_type, config, exist_ok=True)
        AutoModel.register(config, model, exist_ok=True)
        AutoModelForVideoClassification.register(config, model, exist_ok=True)
        AutoVideoProcessor.register(config, ALTVideoProcessor, exist_ok=True)
        AutoProcessor.register(config, ALTVideoProcessor, exist_ok=True)


register()
