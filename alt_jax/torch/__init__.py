"""ALT in plain PyTorch (inference), converted from alt_jax checkpoints; imports without JAX.

Importing it registers `ALTConfig` and `ALTForVideoClassification` with transformers' Auto
classes, so `AutoModel.from_pretrained(folder)` loads an export without trust_remote_code.
"""

from __future__ import annotations

from alt_jax.torch.alt import ALTForVideoClassification
from alt_jax.torch.configuration_alt import MODEL_TYPE, ALTConfig

__all__ = ["ALTConfig", "ALTForVideoClassification", "register"]


def register() -> None:
    """Registers the ALT config and model with AutoConfig and AutoModel (idempotent)."""
    from transformers import AutoConfig, AutoModel

    AutoConfig.register(MODEL_TYPE, ALTConfig, exist_ok=True)
    AutoModel.register(ALTConfig, ALTForVideoClassification, exist_ok=True)


register()
