"""Region positions from the ToMe destination map (docs/method.md §5) [ours].

A region token leaves the ViT without a usable position: after a few blocks the tokens of a
frame no longer encode where their patches were. The destination map `dest` [.., 1 + N] says
which output token every input token ended in (token 0 is the class token), so each region's
geometry can be read off its patches: the centroid of their grid positions, their spread and
the area they cover. The centroid goes through Fourier features and, with the spread and area,
through a small MLP to the adapter's width. Works for any r (r = 0: every patch is a region of
area 1/N), any image size (positions are on [-1, 1]) and for cached features (dest is cached).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from alt_jax.models import tome

Array = jax.Array

POSITION_KINDS = ("fourier", "none")


def patch_grid(num_patches: int) -> Array:
    """Patch-centre (row, col) positions on [-1, 1] of a square grid: → [N, 2], row-major."""
    side = math.isqrt(num_patches)
    if side * side != num_patches:
        raise ValueError(f"{num_patches} patches do not form a square grid")
    centres = (jnp.arange(side, dtype=jnp.float32) + 0.5) / side * 2.0 - 1.0
    rows, cols = jnp.meshgrid(centres, centres, indexing="ij")
    return jnp.stack([rows.reshape(-1), cols.reshape(-1)], axis=-1)


def region_geometry(dest: Array, num_regions: int) -> Array:
    """dest [..., 1 + N] int (output token of each input token; 0 = class token) → per region
    [..., M, 5]: centroid (row, col), spread (std of rows, std of cols), area (fraction of N)."""
    lead, n = dest.shape[:-1], dest.shape[-1] - 1
    patches = dest[..., 1:].reshape(-1, n)  # [F, N]; the class token's entry is dropped
    grid = patch_grid(n)  # [N, 2]
    moments = jnp.broadcast_to(
        jnp.concatenate([grid, grid * grid], axis=-1), (patches.shape[0], n, 4)
    )
    # Output token 0 is the class token, never a patch's region: drop it after pooling.
    pooled = tome.region_mean(moments, patches, num_regions + 1)[:, 1:]  # [F, M, 4]
    mean, second = pooled[..., :2], pooled[..., 2:]
    spread = jnp.sqrt(jnp.maximum(second - mean * mean, 0.0))
    area = tome.region_sizes(patches, num_regions + 1)[:, 1:, None] / n
    out = jnp.concatenate([mean, spread, area], axis=-1)  # [F, M, 5]
    return out.reshape(*lead, num_regions, 5)


def fourier_features(x: Array, bands: int) -> Array:
    """x [..., C] on [-1, 1] → [..., C·(1 + 2·bands)]: x, sin(π·2^k·x), cos(π·2^k·x), k < bands."""
    freqs = jnp.pi * (2.0 ** jnp.arange(bands, dtype=jnp.float32))  # [F]
    angles = x[..., None] * freqs  # [..., C, F]
    flat = lambda a: a.reshape(*x.shape[:-1], -1)  # noqa: E731
    return jnp.concatenate([x, flat(jnp.sin(angles)), flat(jnp.cos(angles))], axis=-1)


def region_position_features(dest: Array, num_regions: int, bands: int) -> Array:
    """dest [..., 1 + N] → [..., M, 2·(1 + 2·bands) + 3]: Fourier features of each region's
    centroid, then its spread and area."""
    geometry = region_geometry(dest, num_regions)
    return jnp.concatenate([fourier_features(geometry[..., :2], bands), geometry[..., 2:]], -1)


def position_feature_width(bands: int) -> int:
    """Width of `region_position_features`' last axis."""
    return 2 * (1 + 2 * bands) + 3


class RegionPositionEncoder(nnx.Module):
    """Region geometry from the ToMe map → Fourier features → Linear → GELU → Linear [.., M, W]."""

    def __init__(self, width: int, bands: int, *, rngs: nnx.Rngs):
        self.bands = bands
        self.fc1 = nnx.Linear(position_feature_width(bands), width, rngs=rngs)
        self.fc2 = nnx.Linear(width, width, rngs=rngs)

    def __call__(self, dest: Array, num_regions: int) -> Array:
        """dest [..., 1 + N] → position encodings [..., M, W] of the M regions."""
        features = region_position_features(dest, num_regions, self.bands)
        return self.fc2(jax.nn.gelu(self.fc1(features)))
