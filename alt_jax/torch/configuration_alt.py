"""The transformers configs of the PyTorch ALT (`model_type` "alt_video_classifier") and VicTR
(`model_type` "victr_video_classifier").

This file is copied into every export folder (transformers' remote code), so it imports only
transformers: `AutoConfig.from_pretrained(folder, trust_remote_code=True)` needs no alt_jax.
"""

from __future__ import annotations

from typing import Any, Sequence

from transformers import PretrainedConfig

MODEL_TYPE = "alt_video_classifier"
VICTR_MODEL_TYPE = "victr_video_classifier"


class DictAccess:
    """config["key"], config.get("key") and "key" in config: the dict interface of the first
    exports (a mixin before PretrainedConfig)."""

    def __getitem__(self, key: str) -> Any:
        """config["key"] (the dict interface of earlier exports)."""
        if not hasattr(self, key):
            raise KeyError(key)
        return getattr(self, key)

    def __setitem__(self, key: str, value: Any) -> None:
        """config["key"] = value."""
        setattr(self, key, value)

    def __contains__(self, key: str) -> bool:
        """Whether config has `key` (`"key" in config`)."""
        return hasattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        """config.get("key", default)."""
        return getattr(self, key, default)


def label_kwargs(class_names: list[str], kwargs: dict[str, Any]) -> dict[str, Any]:
    """`kwargs` with id2label and label2id from the class names (pipelines and users read labels
    from id2label), unless given."""
    if class_names and "id2label" not in kwargs:
        kwargs["id2label"] = dict(enumerate(class_names))
        kwargs.setdefault("label2id", {n: i for i, n in enumerate(class_names)})
    return kwargs


def set_shared_fields(config: PretrainedConfig, args: dict[str, Any]) -> None:
    """Sets the fields ALT's and VicTR's configs share from `args`, their __init__'s arguments."""
    config.vision_config = dict(args["vision_config"] or {})
    config.image_size = int(args["image_size"])
    config.tome_schedule = [int(r) for r in args["tome_schedule"]]
    config.prop_attn = bool(args["prop_attn"])
    config.region_features = args["region_features"]
    config.num_frames = int(args["num_frames"])
    config.class_names = list(args["class_names"])
    config.prompt_templates = list(args["prompt_templates"])
    config.center_class_embeddings = bool(args["center_class_embeddings"])
    config.backbone_dtype_in_training = args["backbone_dtype_in_training"]
    config.source = dict(args["source"] or {})


class ALTConfig(DictAccess, PretrainedConfig):
    """Shapes, ToMe schedule, adapter knobs, class and entity names of an exported ALT.

    Also readable as a dict (`config["class_names"]`), as configs were before this class.
    """

    model_type = MODEL_TYPE

    def __init__(
        self,
        vision_config: dict[str, Any] | None = None,
        image_size: int = 224,
        tome_schedule: Sequence[int] = (),
        prop_attn: bool = True,
        region_features: str = "tokens",  # folders exported before it: CLIP's own tokens
        num_frames: int = 8,
        frame_pool: str = "raw",
        queries: str = "entities",  # folders exported before learned queries have none
        entity_readout: bool = False,  # folders exported before it have none
        probe: bool = False,  # the closed-form appearance probe (folders before it have none)
        num_queries: int | None = None,
        adapter: dict[str, Any] | None = None,
        class_names: Sequence[str] = (),
        entity_names: Sequence[str] = (),
        prompt_templates: Sequence[str] = (),
        center_class_embeddings: bool = False,
        backbone_dtype_in_training: str = "float32",
        source: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """The config of an ALT export (the keyword arguments are config.json's keys)."""
        set_shared_fields(self, locals())  # the arguments by name, before any other local
        self.frame_pool = frame_pool
        self.queries = queries
        self.entity_readout = bool(entity_readout)
        self.probe = bool(probe)
        self.num_queries = num_queries
        self.adapter = dict(adapter or {})
        self.entity_names = list(entity_names)
        super().__init__(**label_kwargs(self.class_names, kwargs))


class VicTRConfig(DictAccess, PretrainedConfig):
    """Shapes, ToMe schedule, VicTR head knobs (`victr`: layers, heads, width, mlp_hidden,
    visual, boost, temperatures, pooling, anchor, fourier_bands), class and auxiliary text names
    of an exported VicTR."""

    model_type = VICTR_MODEL_TYPE

    def __init__(
        self,
        vision_config: dict[str, Any] | None = None,
        image_size: int = 224,
        tome_schedule: Sequence[int] = (),
        prop_attn: bool = True,
        region_features: str = "tokens",
        num_frames: int = 8,
        victr: dict[str, Any] | None = None,
        class_names: Sequence[str] = (),
        auxiliary_names: Sequence[str] = (),
        prompt_templates: Sequence[str] = (),
        center_class_embeddings: bool = False,
        backbone_dtype_in_training: str = "float32",
        source: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """The config of a VicTR export (the keyword arguments are config.json's keys)."""
        set_shared_fields(self, locals())  # the arguments by name, before any other local
        self.victr = dict(victr or {})
        self.auxiliary_names = list(auxiliary_names)
        super().__init__(**label_kwargs(self.class_names, kwargs))
