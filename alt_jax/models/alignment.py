"""Entity-to-region alignment with a straight-through Gumbel one-hot (docs/method.md §4).

Every region token of a frame picks one entity of the corpus S. The forward value is a hard
one-hot (so each region carries exactly one entity's text embedding, which is what makes the
alignment readable), while the gradient is the softmax's, so W_r and τ_a still learn.

Choices [ours], each a knob: the Gumbel noise is added to the logits cos/τ ("logits",
softmax(cos/τ + G)) or to the cosines before the temperature ("scaled", softmax((cos + G)/τ),
torch's gumbel_softmax and GroupViT, whose noise is 1/τ times larger against the signal); W_r
trains freely, stays frozen at CLIP's visual projection, or is anchored to it by a penalty on
its relative squared distance.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

Array = jax.Array


def l2_normalize(x: Array, axis: int = -1, eps: float = 1e-12) -> Array:
    """x / ‖x‖ along `axis`; the eps keeps an all-zero row finite (it stays zero)."""
    return x * jax.lax.rsqrt(jnp.maximum(jnp.sum(x * x, axis=axis, keepdims=True), eps))


GUMBEL_FORMS = ("logits", "scaled")
W_R_MODES = ("free", "frozen", "anchored")
# Evaluation-time ablations of the aligned entities: every region of every video gets the
# batch's most used entity ("constant"), a frame's entities are permuted among its regions
# ("shuffle"), or each region gets a uniformly drawn entity ("random").
ENTITY_ABLATIONS = ("none", "constant", "shuffle", "random")


def straight_through_one_hot(
    logits: Array, rng: Array | None = None, noise_scale: Array | float = 1.0
) -> tuple[Array, Array, Array]:
    """logits [..., K] → (Â, A, index): Â = H − sg(A) + A, forward value one_hot(argmax A).

    A = softmax(logits + noise_scale · G) with G ~ Gumbel(0, 1) from `rng` (training), or
    softmax(logits) without noise when `rng` is None (evaluation). index [...] int32 is
    argmax_k A.
    """
    if rng is not None:
        logits = logits + noise_scale * jax.random.gumbel(rng, logits.shape, logits.dtype)
    soft = jax.nn.softmax(logits, axis=-1)
    index = jnp.argmax(soft, axis=-1).astype(jnp.int32)
    hard = jax.nn.one_hot(index, logits.shape[-1], dtype=soft.dtype)
    # (H − A) is a constant, so the gradient is A's. The forward value is exactly H: 0 − a + a
    # is 0, and for a ∈ [0, 1] the rounding error of 1 − a is at most half an ulp of 1, so
    # (1 − a) + a rounds back to exactly 1.
    return jax.lax.stop_gradient(hard - soft) + soft, soft, index


def align_regions(
    regions: Array,
    w_r: Array,
    entities: Array,
    log_tau: Array,
    rng: Array | None = None,
    gumbel: str = "logits",
) -> dict[str, Array]:
    """Aligns region tokens to corpus entities (docs/method.md §4).

    regions [..., M, D]: post_layernorm'd region tokens LN(E); w_r [D, d]; entities S [K, d]
    (L2-normalised); log_tau: scalar log τ_a; rng: Gumbel noise key (None: evaluation);
    gumbel: where the noise enters (GUMBEL_FORMS).
    Returns assignment Â [..., M, K] (straight-through one-hot), aligned Q̂ = Â S [..., M, d],
    index [..., M] int32 (argmax entity), features X [..., M, d] and logits [..., M, K].
    """
    if gumbel not in GUMBEL_FORMS:
        raise ValueError(f"alignment.gumbel must be one of {GUMBEL_FORMS}, got {gumbel!r}")
    x = l2_normalize(regions @ w_r)  # X = normalize(LN(E) W_r)
    tau = jnp.exp(log_tau)
    logits = (x @ entities.T) / tau
    noise_scale = 1.0 if gumbel == "logits" else 1.0 / tau  # (cos + G)/τ = cos/τ + G/τ
    assignment, _, index = straight_through_one_hot(logits, rng, noise_scale)
    return {
        "assignment": assignment,
        "aligned": assignment @ entities,
        "index": index,
        "features": x,
        "logits": logits,
    }


def ablate_entities(index: Array, num_entities: int, kind: str, rng: Array) -> Array:
    """index [..., M] (entity of each region of a frame) → the ENTITY_ABLATIONS `kind` of it."""
    if kind == "none":
        return index
    if kind == "constant":
        counts = jnp.zeros((num_entities,), jnp.int32).at[index.ravel()].add(1)
        return jnp.full(index.shape, counts.argmax(), index.dtype)
    if kind == "shuffle":
        keys = jax.random.uniform(rng, index.shape)
        return jnp.take_along_axis(index, jnp.argsort(keys, axis=-1), axis=-1)
    if kind == "random":
        return jax.random.randint(rng, index.shape, 0, num_entities, index.dtype)
    raise ValueError(f"entity ablation must be one of {ENTITY_ABLATIONS}, got {kind!r}")


def anchor_penalty(w_r: Array, w_r_init: Array) -> Array:
    """‖W_r − W_r⁰‖² / ‖W_r⁰‖²: the relative squared distance from CLIP's visual projection."""
    return jnp.sum((w_r - w_r_init) ** 2) / jnp.sum(w_r_init**2)


class AnchorWeights(nnx.Variable):
    """A frozen copy of a trainable parameter's initial value (W_r⁰), never a parameter."""


class EntityAlignment(nnx.Module):
    """W_r (initialised from CLIP's visual projection: trainable, frozen or anchored to it) and
    the trainable log τ_a."""

    def __init__(
        self,
        w_r_init: Array,
        *,
        tau_init: float = 0.07,
        gumbel: str = "logits",
        w_r: str = "free",
        anchor_weight: float = 0.0,
    ):
        if gumbel not in GUMBEL_FORMS:
            raise ValueError(f"alignment.gumbel must be one of {GUMBEL_FORMS}, got {gumbel!r}")
        if w_r not in W_R_MODES:
            raise ValueError(f"alignment.w_r must be one of {W_R_MODES}, got {w_r!r}")
        self.gumbel = gumbel
        self.w_r_mode = w_r
        self.anchor_weight = anchor_weight
        # A copy: W_r trains while the frozen CLIP keeps its own visual projection.
        initial = jnp.array(w_r_init, dtype=jnp.float32, copy=True)
        self.w_r = (AnchorWeights if w_r == "frozen" else nnx.Param)(initial)
        if w_r == "anchored":
            self.w_r_init = AnchorWeights(jnp.array(initial, copy=True))
        self.log_tau = nnx.Param(jnp.log(jnp.asarray(tau_init, jnp.float32)))

    def penalty(self) -> Array:
        """The training loss term of an anchored W_r (0 otherwise)."""
        if self.w_r_mode != "anchored":
            return jnp.zeros((), jnp.float32)
        return self.anchor_weight * anchor_penalty(self.w_r[...], self.w_r_init[...])

    def __call__(self, regions: Array, entities: Array, rng: Array | None = None) -> dict:
        """regions [..., M, D], entities [K, d] → see `align_regions`; rng None at evaluation."""
        return align_regions(
            regions.astype(jnp.float32),
            self.w_r[...],
            entities,
            self.log_tau[...],
            rng,
            self.gumbel,
        )
