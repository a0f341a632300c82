"""The adapter's temporal conv and gated residual against NumPy; shapes and temporal order."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from alt_jax.models.adapter import VideoAdapter, depthwise_temporal_conv, gated_residual


@pytest.mark.parametrize("k", [1, 3, 5])
def test_depthwise_temporal_conv_matches_numpy_loops(k):
    rng = np.random.default_rng(k)
    x = rng.standard_normal((2, 4, 6))
    kernel = rng.standard_normal((k, 6))
    bias = rng.standard_normal(6)
    expected = np.zeros_like(x)
    for b in range(2):
        for t in range(4):
            for c in range(6):
                acc = bias[c]
                for j in range(k):
                    s = t + j - k // 2
                    if 0 <= s < 4:  # zero padding outside the clip
                        acc += kernel[j, c] * x[b, s, c]
                expected[b, t, c] = acc
    ours = depthwise_temporal_conv(*(jnp.asarray(a, jnp.float32) for a in (x, kernel, bias)))
    np.testing.assert_allclose(np.asarray(ours), expected, atol=1e-5)


def test_even_kernel_is_refused():
    with pytest.raises(ValueError, match="odd"):
        depthwise_temporal_conv(jnp.zeros((1, 3, 2)), jnp.zeros((2, 2)), jnp.zeros(2))


def test_gated_residual_matches_numpy():
    rng = np.random.default_rng(0)
    base, update = rng.standard_normal((2, 3, 5)).astype(np.float32)
    for g in (0.0, 0.3, -1.5):
        ours = np.asarray(gated_residual(jnp.asarray(base), jnp.asarray(update), jnp.asarray(g)))
        np.testing.assert_allclose(ours, base + np.float32(g) * update, atol=1e-6)
    np.testing.assert_array_equal(
        np.asarray(gated_residual(jnp.asarray(base), jnp.asarray(update) * 1e6, 0.0)), base
    )


def test_adapter_shapes_and_frame_order_matters():
    adapter = nnx.jit(  # built under jit: one compile instead of one per initialiser shape
        lambda: VideoAdapter(
            region_dim=12,
            text_dim=8,
            width=16,
            depth=1,
            heads=4,
            mlp_ratio=2.0,
            conv_kernel=3,
            num_frames=4,
            rngs=nnx.Rngs(0),
        )
    )()
    rng = np.random.default_rng(1)
    regions = jnp.asarray(rng.standard_normal((2, 3, 5, 12)), jnp.float32)
    cls = jnp.asarray(rng.standard_normal((2, 3, 12)), jnp.float32)
    queries = jnp.asarray(rng.standard_normal((2, 3, 5, 8)), jnp.float32)
    run = nnx.jit(lambda m, r, c, q: m(r, c, q))
    z = run(adapter, regions, cls, queries)
    assert z.shape == (2, 8)
    # Temporal embedding and conv make the output depend on the order of frames.
    flipped = run(adapter, regions[:, ::-1], cls[:, ::-1], queries[:, ::-1])
    assert not np.allclose(np.asarray(z), np.asarray(flipped), atol=1e-4)
    with pytest.raises(ValueError, match="temporal embedding"):
        adapter(jnp.zeros((1, 5, 5, 12)), jnp.zeros((1, 5, 12)), jnp.zeros((1, 5, 5, 8)))
