"""ALT and VicTR in plain PyTorch (inference), converted from alt_jax checkpoints; imports
without JAX.

Importing it registers `ALTConfig` / `ALTForVideoClassification` and `VicTRConfig` /
`VicTRForVideoClassification` with transformers' Auto classes, so `AutoModel.from_pretrained
(folder)` loads an export of either head without trust_remote_code.
"""

from __future__ import annotations

from alt_jax.torch.configuration_alt import MODEL_TYPE, VICTR_MODEL_TYPE, ALTConfig, VicTRConfig
from alt_jax.torch.modeling_alt import ALTForVideoClassification
from alt_jax.torch.modeling_victr import VicTRForVideoClassification

__all__ = [
    "ALTConfig",
    "ALTForVideoClassification",
    "VicTRConfig",
    "VicTRForVideoClassification",
    "register",
]


def register() -> None:
    """Registers both heads' configs and models with AutoConfig and AutoModel (idempotent)."""
    from transformers import AutoConfig, AutoModel

    AutoConfig.register(MODEL_TYPE, ALTConfig, exist_ok=True)
    AutoModel.register(ALTConfig, ALTForVideoClassification, exist_ok=True)
    AutoConfig.register(VICTR_MODEL_TYPE, VicTRConfig, exist_ok=True)
    AutoModel.register(VicTRConfig, VicTRForVideoClassification, exist_ok=True)


register()
