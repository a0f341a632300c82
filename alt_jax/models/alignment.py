"""Entity-to-region alignment with a straight-through Gumbel one-hot (SPEC §4).

Every region token of a frame picks one entity of the corpus S. The forward value is a hard
one-hot (so each region carries exactly one entity's text embedding, which is what makes the
alignment readable), while the gradient is the softmax's, so W_r and τ_a still learn.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

Array = jax.Array


def l2_normalize(x: Array, axis: int = -1, eps: float = 1e-12) -> Array:
    """x / ‖x‖ along `axis`; the eps keeps an all-zero row finite (it stays zero)."""
    return x * jax.lax.rsqrt(jnp.maximum(jnp.sum(x * x, axis=axis, keepdims=True), eps))


def straight_through_one_hot(logits: Array, rng: Array | None = None) -> tuple[Array, Array, Array]:
    """logits [..., K] → (Â, A, index): Â = H − sg(A) + A, forward value one_hot(argmax A).

    A = softmax(logits + G) with G ~ Gumbel(0, 1) from `rng` (training), or softmax(logits)
    without noise when `rng` is None (evaluation). index [...] int32 is argmax_k A.
    """
    if rng is not None:
        logits = logits + jax.random.gumbel(rng, logits.shape, logits.dtype)
    soft = jax.nn.softmax(logits, axis=-1)
    index = jnp.argmax(soft, axis=-1).astype(jnp.int32)
    hard = jax.nn.one_hot(index, logits.shape[-1], dtype=soft.dtype)
    # (H − A) is a constant, so the gradient is A's. The forward value is exactly H: 0 − a + a
    # is 0, and for a ∈ [0, 1] the rounding error of 1 − a is at most half an ulp of 1, so
    # (1 − a) + a rounds back to exactly 1.
    return jax.lax.stop_gradient(hard - soft) + soft, soft, index


def align_regions(
    regions: Array, w_r: Array, entities: Array, log_tau: Array, rng: Array | None = None
) -> dict[str, Array]:
    """Aligns region tokens to corpus entities (SPEC §4).

    regions [..., M, D]: post_layernorm'd region tokens LN(E); w_r [D, d]; entities S [K, d]
    (L2-normalised); log_tau: scalar log τ_a; rng: Gumbel noise key (None: evaluation).
    Returns assignment Â [..., M, K] (straight-through one-hot), aligned Q̂ = Â S [..., M, d],
    index [..., M] int32 (argmax entity), features X [..., M, d] and logits [..., M, K].
    """
    x = l2_normalize(regions @ w_r)  # X = normalize(LN(E) W_r)
    logits = (x @ entities.T) / jnp.exp(log_tau)
    assignment, _, index = straight_through_one_hot(logits, rng)
    return {
        "assignment": assignment,
        "aligned": assignment @ entities,
        "index": index,
        "features": x,
        "logits": logits,
    }


class EntityAlignment(nnx.Module):
    """Holds the trainable W_r (initialised from CLIP's visual projection) and log τ_a."""

    def __init__(self, w_r_init: Array, *, tau_init: float = 0.07):
        # A copy: W_r trains while the frozen CLIP keeps its own visual projection.
        self.w_r = nnx.Param(jnp.array(w_r_init, dtype=jnp.float32, copy=True))
        self.log_tau = nnx.Param(jnp.log(jnp.asarray(tau_init, jnp.float32)))

    def __call__(self, regions: Array, entities: Array, rng: Array | None = None) -> dict:
        """regions [..., M, D], entities [K, d] → see `align_regions`; rng None at evaluation."""
        return align_regions(
            regions.astype(jnp.float32), self.w_r[...], entities, self.log_tau[...], rng
        )
