"""benchmarks/flops.py: FlopCounterMode counts CPU fused attention, and the counts of CLIP's
vision tower and X-CLIP's video path equal their hand counts, each an independent closed form."""

import dataclasses

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from alt_jax.models.clip_config import get_preset  # noqa: E402
from benchmarks import flops, peers  # noqa: E402

B, H, NQ, NK, D = 2, 3, 5, 7, 4  # batch, heads, queries, keys, head width


def _qkv(requires_grad: bool = False) -> tuple:
    """CPU float32 query [B, H, NQ, D], key and value [B, H, NK, D]."""
    gen = torch.Generator().manual_seed(0)
    shapes = ((B, H, NQ, D), (B, H, NK, D), (B, H, NK, D))
    return tuple(torch.randn(s, generator=gen, requires_grad=requires_grad) for s in shapes)


def _stock_flops(fn) -> int:
    """FlopCounterMode's count with torch's formulas only (those of benchmarks.flops removed)."""
    counter = FlopCounterMode(display=False)
    for op in flops.REGISTERED:
        counter.flop_registry.pop(op, None)
    with counter:
        fn()
    return counter.get_total_flops()


def test_registration_is_idempotent():
    """Registering again adds nothing and raises nothing; torch 2.13 lacked the CPU formulas."""
    flops.register_cpu_attention_flops()
    assert flops.register_cpu_attention_flops() == []
    names = {op.__name__ for op in flops.REGISTERED}
    assert names == {
        "_scaled_dot_product_flash_attention_for_cpu",
        "_scaled_dot_product_flash_attention_for_cpu_backward",
    }


@pytest.mark.parametrize("mode", ["grad", "no_grad", "inference_mode"])
def test_sdpa_forward_on_cpu(mode):
    """QK^T and AV: 2·NQ·NK·D each per batch and head, 4·B·H·NQ·NK·D in all; torch's own
    formulas count 0 (the CPU kernel has none), which is what this guards."""
    q, k, v = _qkv(requires_grad=mode == "grad")
    context = {"grad": torch.enable_grad, "no_grad": torch.no_grad}.get(mode, torch.inference_mode)

    def run():
        with context():
            torch.nn.functional.scaled_dot_product_attention(q, k, v)

    assert flops.torch_flops(run) == 4 * B * H * NQ * NK * D
    assert _stock_flops(run) == 0


def test_sdpa_backward_on_cpu():
    """Backward: the gradients of both forward matmuls, 2 matmuls each (dV = Pᵀ·dO,
    dP = dO·Vᵀ, dQ = dS·K, dK = dSᵀ·Q), 8·B·H·NQ·NK·D, plus the scores S = Q·Kᵀ recomputed
    by the flash kernel (it keeps only the log-sum-exp), 2·B·H·NQ·NK·D: 10·B·H·NQ·NK·D."""
    q, k, v = _qkv(requires_grad=True)
    grad_out = torch.ones(B, H, NQ, D)

    def run():
        torch.nn.functional.scaled_dot_product_attention(q, k, v).backward(grad_out)

    forward = 4 * B * H * NQ * NK * D
    assert flops.torch_flops(run) == forward + 10 * B * H * NQ * NK * D
    assert _stock_flops(run) == 0

    # The math backend runs plain matmuls that torch counts itself and saves P, so its backward
    # is the 4 gradient matmuls alone: 8·B·H·NQ·NK·D, the fused count less the recomputation.
    def run_math():
        with torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.MATH):
            run()

    assert _stock_flops(run_math) == forward + 8 * B * H * NQ * NK * D


@pytest.mark.parametrize("projection_dim", [0, 16])
@pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
def test_clip_vision_tower_is_its_hand_count(attn_implementation, projection_dim):
    """transformers' CLIP vision tower (tiny shapes; with projection_dim, the visual projection
    too) counts exactly `vit_matmul_flops`, whether attention is fused (SDPA) or two matmuls."""
    tiny = dataclasses.asdict(get_preset("tiny").vision)  # hidden 64, 2 layers, 32 px, patch 8
    config = transformers.CLIPVisionConfig(
        **tiny, projection_dim=max(projection_dim, 1), attn_implementation=attn_implementation
    )
    torch.manual_seed(0)
    cls = (
        transformers.CLIPVisionModelWithProjection
        if projection_dim
        else transformers.CLIPVisionModel
    )
    model = cls(config).eval()
    assert model.config._attn_implementation == attn_implementation
    pixels = torch.randn(3, 3, 32, 32)

    def run():
        with torch.inference_mode():
            model(pixel_values=pixels)

    expected = flops.vit_matmul_flops(32, 8, 64, 2, 128, projection_dim=projection_dim)
    assert flops.torch_flops(run) == 3 * expected


def test_xclip_video_path_is_its_hand_count():
    """X-CLIP at tiny shapes through `peers.xclip_video_logits`: exactly `xclip_flops_per_view`
    per video."""
    torch.manual_seed(0)
    batch, frames, classes = 2, 3, 5
    model = peers.build_xclip("tiny", frames=frames).eval()
    assert model.config._attn_implementation == "sdpa"
    size = model.config.vision_config.image_size
    pixels = torch.randn(batch, frames, 3, size, size)
    text = torch.randn(classes, model.config.projection_dim)

    def run():
        with torch.inference_mode():
            peers.xclip_video_logits(model, pixels, text)

    assert flops.torch_flops(run) == batch * flops.xclip_flops_per_view(model.config, classes)


@pytest.mark.slow
def test_xclip_b16_counts_144_gmacs_per_view():
    """X-CLIP-B/16, 8 frames, 400 classes at its real shapes: the hand count is 144.18 GMACs
    per view (as benchmarks/flops.py states) and FlopCounterMode agrees within 0.5 %."""
    config = peers.xclip_config("B/16", frames=8)
    hand = flops.xclip_flops_per_view(config, 400)
    assert round(hand / 2e9, 2) == 144.18

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the machine is shared; one view takes seconds
    try:
        model = peers.build_xclip("B/16", frames=8).eval()
        pixels = torch.randn(1, 8, 3, 224, 224)
        text = torch.randn(400, 512)

        def run():
            with torch.inference_mode():
                peers.xclip_video_logits(model, pixels, text)

        counted = flops.torch_flops(run)
    finally:
        torch.set_num_threads(threads)
    assert counted == pytest.approx(hand, rel=5e-3)
