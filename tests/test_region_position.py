"""Region positions from ToMe maps against NumPy loops, for r = 0 and real r > 0 maps."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from alt_jax.models.clip import CLIP
from alt_jax.models.clip_config import get_preset
from alt_jax.models.region_position import (
    RegionPositionEncoder,
    fourier_features,
    patch_grid,
    position_feature_width,
    region_geometry,
    region_position_features,
)


def numpy_geometry(dest: np.ndarray, num_regions: int) -> np.ndarray:
    """Per frame, per region: centroid (row, col), std (row, col), area — by explicit loops."""
    n = dest.shape[-1] - 1
    side = int(round(np.sqrt(n)))
    out = np.zeros((dest.shape[0], num_regions, 5))
    for f in range(dest.shape[0]):
        for region in range(1, num_regions + 1):
            rows, cols = [], []
            for p in range(n):
                if dest[f, 1 + p] == region:
                    rows.append((p // side + 0.5) / side * 2 - 1)
                    cols.append((p % side + 0.5) / side * 2 - 1)
            if rows:
                out[f, region - 1] = [
                    np.mean(rows),
                    np.mean(cols),
                    np.std(rows),
                    np.std(cols),
                    len(rows) / n,
                ]
    return out


def test_patch_grid_is_row_major_centres():
    grid = np.asarray(patch_grid(9))
    # A 3×3 grid: centres at −2/3, 0, 2/3; patch 5 is row 1, column 2.
    np.testing.assert_allclose(grid[5], [0.0, 2 / 3], atol=1e-6)
    np.testing.assert_allclose(grid[0], [-2 / 3, -2 / 3], atol=1e-6)
    with pytest.raises(ValueError, match="square"):
        patch_grid(10)


def test_geometry_at_r0_is_each_patch_position():
    n = 16
    dest = np.arange(n + 1)[None]  # identity: patch p is region p (token 0 is the class token)
    geometry = np.asarray(region_geometry(jnp.asarray(dest), n))[0]
    np.testing.assert_allclose(geometry, numpy_geometry(dest, n)[0], atol=1e-6)
    np.testing.assert_allclose(geometry[:, 2:4], 0.0, atol=1e-6)  # one patch: no spread
    np.testing.assert_allclose(geometry[:, 4], 1 / n, atol=1e-7)
    # Region 6 = patch 6 of a 4×4 grid: row 1, column 2 → (−0.25, 0.25).
    np.testing.assert_allclose(geometry[6, :2], [-0.25, 0.25], atol=1e-6)


@pytest.mark.slow
def test_geometry_of_real_tome_maps_matches_numpy():
    cfg = get_preset("tiny")
    clip = CLIP(cfg, rngs=nnx.Rngs(0), tome_r=3)
    size = cfg.vision.image_size
    images = jax.random.normal(jax.random.key(1), (3, size, size, 3))
    tokens, sizes, dest = clip.vision_model.tokens(images)
    m = tokens.shape[1] - 1
    assert m < (size // cfg.vision.patch_size) ** 2  # regions really are merged
    dest = np.asarray(dest)
    geometry = np.asarray(region_geometry(jnp.asarray(dest), m))
    np.testing.assert_allclose(geometry, numpy_geometry(dest, m), atol=1e-5)
    # Areas agree with ToMe's own size bookkeeping.
    n = dest.shape[1] - 1
    np.testing.assert_allclose(geometry[..., 4] * n, np.asarray(sizes)[:, 1:, 0], atol=1e-4)


def test_empty_region_and_leading_axes():
    dest = np.array([[[0, 1, 1, 1, 1]], [[0, 2, 2, 1, 1]]])  # [2, 1, 5]: 2×2 grid, M = 2
    geometry = np.asarray(region_geometry(jnp.asarray(dest), 2))
    assert geometry.shape == (2, 1, 2, 5)
    np.testing.assert_allclose(geometry[0, 0, 1], 0.0)  # region 2 holds no patch in frame 0
    np.testing.assert_allclose(geometry[0, 0, 0], [0, 0, 0.5, 0.5, 1.0], atol=1e-6)
    # Frame 1: region 2 = top row (row −0.5), region 1 = bottom row (row 0.5).
    np.testing.assert_allclose(geometry[1, 0, 1], [-0.5, 0, 0, 0.5, 0.5], atol=1e-6)
    np.testing.assert_allclose(geometry[1, 0, 0], [0.5, 0, 0, 0.5, 0.5], atol=1e-6)


def test_fourier_features_closed_form():
    x = np.array([[0.25, -0.5]], np.float32)
    out = np.asarray(fourier_features(jnp.asarray(x), 3))
    expected = [0.25, -0.5]
    expected += [np.sin(np.pi * 2**k * v) for v in (0.25, -0.5) for k in range(3)]
    expected += [np.cos(np.pi * 2**k * v) for v in (0.25, -0.5) for k in range(3)]
    np.testing.assert_allclose(out[0], expected, atol=1e-6)
    features = region_position_features(jnp.asarray(np.arange(5)[None]), 4, bands=3)
    assert features.shape == (1, 4, position_feature_width(3))


def test_encoder_gives_distinct_codes_for_distinct_positions():
    encoder = RegionPositionEncoder(8, 4, rngs=nnx.Rngs(0))
    codes = np.asarray(encoder(jnp.asarray(np.arange(17)[None]), 16))[0]  # [16, 8]
    assert codes.shape == (16, 8)
    distances = np.linalg.norm(codes[:, None] - codes[None], axis=-1)
    assert distances[~np.eye(16, dtype=bool)].min() > 1e-3
