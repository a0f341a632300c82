"""FLOPs of the PyTorch peers: torch's FlopCounterMode with CPU attention counted, and hand counts.

`torch.utils.flop_counter.FlopCounterMode` has formulas for matmuls, convolutions and the CUDA
fused attention kernels, but none for the kernel that `scaled_dot_product_attention` runs on CPU,
`aten._scaled_dot_product_flash_attention_for_cpu` (and its backward), so on CPU it counts
attention as 0 FLOPs. transformers' CLIP and X-CLIP use SDPA, so X-CLIP-B/16 at 8 frames came
out at 138.24 GMACs per view instead of 144.18 (and CLIP-B/16 at 16.85 GMACs per image instead
of 17.56). `torch_flops` registers torch's own SDPA formulas for those kernels first.
Everything here counts a multiply-add as 2 FLOPs (as XLA does); papers (fvcore) quote
GMACs = FLOPs / 2. Biases, normalisations, activations, softmax and other element-wise work are
not counted, by the counter or by the hand counts.

The hand counts (`vit_matmul_flops`, `xclip_flops_per_view`) state every matmul of the model
from its config, as an independent check of the counter (tests/test_flops.py).
"""

from collections.abc import Callable, Sequence
from typing import Any

# The fused attention kernels that SDPA dispatches to on CPU and that torch has no formula for.
_CPU_ATTENTION_FORWARD = ("_scaled_dot_product_flash_attention_for_cpu",)
_CPU_ATTENTION_BACKWARD = ("_scaled_dot_product_flash_attention_for_cpu_backward",)


# The ops this module registered formulas for (torch's own never show up here).
REGISTERED: set[Any] = set()


def register_cpu_attention_flops() -> list[str]:
    """Registers torch's SDPA flop formulas for the CPU attention kernels; returns those added."""
    import torch
    from torch.utils import flop_counter

    def forward(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
        # (query, key, value, dropout_p, is_causal, *, attn_mask, scale): QK^T and AV,
        # counted in full even when causal, as torch counts its CUDA kernels.
        return flop_counter.sdpa_flop_count(query_shape, key_shape, value_shape)

    def backward(
        grad_out_shape, query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs
    ) -> int:
        # (grad_out, query, key, value, out, logsumexp, ...): the scores recomputed, then the
        # gradients of both forward matmuls, 2 matmuls each.
        return flop_counter.sdpa_backward_flop_count(
            grad_out_shape, query_shape, key_shape, value_shape
        )

    added = []
    for names, formula in ((_CPU_ATTENTION_FORWARD, forward), (_CPU_ATTENTION_BACKWARD, backward)):
        for name in names:
            op = getattr(torch.ops.aten, name, None)  # absent in other torch builds
            # Look the registry up on the module: torch rebinds it after its own registrations.
            if op is None or op in flop_counter.flop_registry:
                continue  # idempotent, and torch's own formula wins once it has one
            try:
                flop_counter.register_flop_formula(op)(formula)
            except RuntimeError:  # registered meanwhile ("duplicate registrations")
                continue
            REGISTERED.add(op)
            added.append(name)
    return added


def torch_flops(fn: Callable[[], Any]) -> float:
    """FLOPs of one call of fn by FlopCounterMode, CPU fused attention included (multiply-add = 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    register_cpu_attention_flops()  # before the mode is built: it copies the registry
    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


def _attention_flops(tokens: int, width: int, keys: int | None = None) -> int:
    """Multi-head attention on `tokens` queries over `keys` keys (default: self-attention):
    Q, K, V and output projections plus QK^T and AV; the head count does not change it."""
    keys = tokens if keys is None else keys
    return (
        2 * tokens * width * width  # Q projection
        + 2 * 2 * keys * width * width  # K and V projections
        + 2 * tokens * keys * width  # QK^T: [N, D] @ [D, M] over all heads
        + 2 * tokens * keys * width  # AV: [N, M] @ [M, D] over all heads
        + 2 * tokens * width * width  # output projection
    )


def vit_matmul_flops(
    image_size: int,
    patch_size: int,
    width: int,
    layers: int,
    mlp_dim: int,
    channels: int = 3,
    projection_dim: int = 0,
    merged_tokens: Sequence[int] | None = None,
) -> int:
    """FLOPs of a CLIP ViT vision tower on one image (transformers' CLIPVisionModel; with
    projection_dim, also the visual projection of `get_image_features`).

    With P = (image/patch)^2 patches, N = 1 + P tokens, width W, MLP width I, L layers:
    2·P·(C·p²)·W + L·(8·N·W² + 4·N²·W + 4·N·W·I) [+ 2·W·d].
    CLIP-B/16 (224, 16, W 768, I 3072, 12 layers, d 512): 17.563 GMACs (35.13 GFLOPs) per image
    with the projection; `torch_flops` of `get_image_features` agrees exactly, where the plain
    FlopCounterMode counted 16.848 (attention's 0.715 missing).
    With token merging, `merged_tokens` gives the tokens entering each layer and leaving the last
    (L + 1 counts, as `alt_jax.models.tome.tokens_per_layer`): layer l attends over n_l tokens
    and runs its MLP on the n_{l+1} left after its merge; the merge's own scoring and scatter
    matmuls are not counted.
    """
    patches = (image_size // patch_size) ** 2
    tokens = merged_tokens or [1 + patches] * (layers + 1)  # the class token included
    if len(tokens) != layers + 1:
        raise ValueError(f"merged_tokens has {len(tokens)} counts, not layers + 1 = {layers + 1}")
    flops = 2 * patches * channels * patch_size**2 * width  # patch embedding: a p×p stride-p conv
    for entering, leaving in zip(tokens[:-1], tokens[1:], strict=True):
        flops += _attention_flops(entering, width)  # QKV/out projections, QK^T, AV
        flops += 2 * 2 * leaving * width * mlp_dim  # MLP: fc1 [W→I] and fc2 [I→W]
    flops += 2 * width * projection_dim  # visual projection of the pooled class token
    return flops


def xclip_flops_per_view(config: Any, num_classes: int) -> int:
    """FLOPs of X-CLIP's timed video path (`peers.xclip_video_logits`) on one video of
    T = num_frames frames against C = num_classes text embeddings, from an `XCLIPConfig`.

    Per frame, with P patches, N = 1 + P tokens, width W, MLP width I, L layers:
      patch embedding 2·P·(3p²)·W, and per layer (`XCLIPVisionEncoderLayer`):
      message_fc on the class token 2·W², message attention over the T message tokens of the
      video 8·W² + 4·T·W (per frame), self-attention over N + 1 tokens (the frame's message
      token appended) 8·(N+1)·W² + 4·(N+1)²·W, MLP over N tokens (message token dropped) 4·N·W·I;
      then visual projection 2·W·d and prompt projection of the patch tokens 2·P·W·d.
    Per video, projection width d: MIT (L_m layers, width d_m = d, MLP I_m, T tokens)
      L_m·(8·T·d_m² + 4·T²·d_m + 4·T·d_m·I_m); prompt generator (L_p layers, C text queries
      attending to the P frame-averaged patch tokens, MLP 4d) L_p·(4·C·d² + 4·P·d² + 4·C·P·d
      + 16·C·d²); cosine logits 2·C·d.
    X-CLIP-B/16, 8 frames, 400 classes: vision tower 141.07 GMACs (8 × 17.634), projections
    0.62, MIT 0.025, prompt generator 2.46, logits 0.0002: 144.18 GMACs per view (288.36 GFLOPs).
    `torch_flops` agrees exactly (tests/test_flops.py); the plain FlopCounterMode counted 138.24,
    the 5.94 GMACs of QK^T and AV missing.
    """
    v = config.vision_config
    t, w, i = v.num_frames, v.hidden_size, v.intermediate_size
    d, c = config.projection_dim, num_classes
    patches = (v.image_size // v.patch_size) ** 2
    tokens = 1 + patches  # the class token

    # Vision tower, per frame.
    frame = 2 * patches * v.num_channels * v.patch_size**2 * w  # patch embedding conv
    layer = 2 * w * w  # message_fc on the frame's class token
    layer += _attention_flops(t, w) // t  # message_attn over the video's T message tokens
    layer += _attention_flops(tokens + 1, w)  # self-attention, the message token appended
    layer += 2 * 2 * tokens * w * i  # MLP fc1 and fc2, message token sliced off
    frame += v.num_hidden_layers * layer
    frame += 2 * w * d  # visual_projection of the pooled class token
    frame += 2 * patches * w * d  # prompts_visual_projection of the patch tokens
    flops = t * frame

    # MIT over the T frame embeddings (width mit_hidden_size, which must equal d).
    dm, im = v.mit_hidden_size, v.mit_intermediate_size
    flops += v.mit_num_hidden_layers * (_attention_flops(t, dm) + 2 * 2 * t * dm * im)

    # Prompt generator: C class embeddings cross-attend to the P frame-averaged patch tokens.
    prompt_layer = _attention_flops(c, d, keys=patches)  # q/out on C, k/v on P, QK^T, AV
    prompt_layer += 2 * 2 * c * d * 4 * d  # MLP d → 4d → d
    flops += config.prompt_layers * prompt_layer

    flops += 2 * c * d  # cosine logits: [d] · [C, d]
    return flops
