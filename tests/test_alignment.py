"""Straight-through Gumbel alignment against NumPy closed forms (softmax and its Jacobian)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from alt_jax.models import alignment
from alt_jax.models.alignment import EntityAlignment

# Jitted: one compile per test instead of an op-by-op dispatch (the CPU is shared).
straight_through_one_hot = jax.jit(alignment.straight_through_one_hot)
align_regions = jax.jit(alignment.align_regions)


# RBG keys compile faster on CPU than threefry; the functions take any key.


def np_softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def unit(rng: np.random.Generator, *shape: int) -> np.ndarray:
    x = rng.standard_normal(shape)
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def test_forward_value_is_exactly_one_hot_at_the_softmax_argmax():
    rng = np.random.default_rng(0)
    logits = (rng.standard_normal((3, 7, 11)) * 5).astype(np.float32)
    for key in (None, jax.random.key(1, impl="rbg")):
        hard, soft, index = straight_through_one_hot(jnp.asarray(logits), key)
        hard = np.asarray(hard)
        assert set(np.unique(hard)) <= {0.0, 1.0}
        np.testing.assert_array_equal(hard.sum(-1), 1.0)
        np.testing.assert_array_equal(hard.argmax(-1), np.asarray(index))
        np.testing.assert_array_equal(np.asarray(index), np.asarray(soft).argmax(-1))
    np.testing.assert_allclose(
        np.asarray(straight_through_one_hot(jnp.asarray(logits))[1]),
        np_softmax(logits.astype(np.float64)),
        atol=1e-6,
    )


def test_gradient_is_the_softmax_gradient():
    # f(l) = Σ c ⊙ Â(l). Through A = softmax(l + G): ∂f/∂l = A ⊙ (c − ⟨A, c⟩).
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((4, 6)).astype(np.float32)
    c = rng.standard_normal((4, 6)).astype(np.float32)
    key = jax.random.key(3, impl="rbg")
    noise = np.asarray(jax.random.gumbel(key, logits.shape, jnp.float32), np.float64)
    for k, g in ((None, 0.0), (key, noise)):
        f = lambda lg, k=k: jnp.sum(jnp.asarray(c) * straight_through_one_hot(lg, k)[0])
        grad = np.asarray(jax.grad(f)(jnp.asarray(logits)))
        a = np_softmax(logits.astype(np.float64) + g)
        expected = a * (c - (a * c).sum(-1, keepdims=True))
        np.testing.assert_allclose(grad, expected, atol=1e-6)


def test_align_regions_logits_aligned_text_and_determinism():
    rng = np.random.default_rng(2)
    regions = rng.standard_normal((2, 5, 16)).astype(np.float32)
    w_r = rng.standard_normal((16, 8)).astype(np.float32)
    entities = unit(rng, 9, 8)
    log_tau = jnp.log(0.07)
    out = align_regions(jnp.asarray(regions), jnp.asarray(w_r), jnp.asarray(entities), log_tau)
    x = regions.astype(np.float64) @ w_r
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    logits = x @ entities.T / 0.07
    np.testing.assert_allclose(np.asarray(out["features"]), x, atol=1e-5)
    np.testing.assert_allclose(np.asarray(out["logits"]), logits, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(np.asarray(out["index"]), logits.argmax(-1))
    np.testing.assert_allclose(np.asarray(out["aligned"]), entities[logits.argmax(-1)], atol=0)
    again = align_regions(jnp.asarray(regions), jnp.asarray(w_r), jnp.asarray(entities), log_tau)
    for k in out:
        np.testing.assert_array_equal(np.asarray(out[k]), np.asarray(again[k]))


def test_training_noise_follows_the_rng():
    # Same shapes as the first test: the jitted function is reused, nothing recompiles.
    logits = jnp.asarray(np.random.default_rng(4).standard_normal((3, 7, 11)), jnp.float32)
    index = lambda key: np.asarray(straight_through_one_hot(logits, key)[2])
    a0, a1 = index(jax.random.key(10, impl="rbg")), index(jax.random.key(11, impl="rbg"))
    np.testing.assert_array_equal(a0, index(jax.random.key(10, impl="rbg")))
    assert np.any(a0 != a1) and np.any(a0 != index(None))
    np.testing.assert_array_equal(index(None), np.asarray(logits).argmax(-1))


def test_module_holds_w_r_copy_and_log_tau():
    w = jnp.arange(6.0).reshape(3, 2)
    module = EntityAlignment(w, tau_init=0.07)
    np.testing.assert_array_equal(np.asarray(module.w_r[...]), np.asarray(w))
    np.testing.assert_allclose(float(module.log_tau[...]), np.log(0.07), rtol=1e-6)
    assert module.w_r[...] is not w


def test_straight_through_with_fixed_noise_worked_by_hand():
    # The noise G the key draws is read first, and the logits are set to log p − G, so that
    # softmax(logits + G) must come out as p exactly: p = (.5, .25, .25) and (.25, .25, .5).
    key = jax.random.key(5, impl="rbg")
    noise = np.asarray(jax.random.gumbel(key, (2, 3), jnp.float32))
    p = np.array([[0.5, 0.25, 0.25], [0.25, 0.25, 0.5]])
    logits = jnp.asarray(np.log(p) - noise, jnp.float32)
    hard, soft, index = straight_through_one_hot(logits, key)
    np.testing.assert_allclose(np.asarray(soft), p, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(index), [0, 2])
    np.testing.assert_array_equal(np.asarray(hard), [[1, 0, 0], [0, 0, 1]])
    # f = Σ c ⊙ Â with c = e_0 (row 0), e_1 (row 1); ∂f/∂l = A ⊙ (c − ⟨A, c⟩):
    # row 0: (.5 · .5, .25 · −.5, .25 · −.5) = (.25, −.125, −.125);
    # row 1: (.25 · −.25, .25 · .75, .5 · −.25) = (−.0625, .1875, −.125).
    c = jnp.asarray([[1.0, 0, 0], [0, 1.0, 0]])
    grad = jax.grad(lambda lg: jnp.sum(c * straight_through_one_hot(lg, key)[0]))(logits)
    expected = [[0.25, -0.125, -0.125], [-0.0625, 0.1875, -0.125]]
    np.testing.assert_allclose(np.asarray(grad), expected, atol=1e-6)


def test_align_regions_worked_by_hand():
    # W_r = diag(2, 1): region (1.5, 4) → (3, 4) → unit (.6, .8); region (−.5, −1) → (−1, −1) →
    # (−1, −1)/√2. Entities e0 = (1, 0), e1 = (0, 1), e2 = (−1, 0); τ = .5 divides the cosines:
    # row 0: (.6, .8, −.6) / .5 = (1.2, 1.6, −1.2) → e1; row 1: (−1, −1, 1) / (.5 √2) → e2.
    regions = jnp.asarray([[1.5, 4.0], [-0.5, -1.0]])
    w_r = jnp.asarray([[2.0, 0.0], [0.0, 1.0]])
    entities = jnp.asarray([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    out = align_regions(regions, w_r, entities, jnp.log(0.5))
    r = 1 / np.sqrt(2)
    np.testing.assert_allclose(np.asarray(out["features"]), [[0.6, 0.8], [-r, -r]], atol=1e-6)
    np.testing.assert_allclose(
        np.asarray(out["logits"]), [[1.2, 1.6, -1.2], [-2 * r, -2 * r, 2 * r]], atol=1e-5
    )
    np.testing.assert_array_equal(np.asarray(out["index"]), [1, 2])
    np.testing.assert_array_equal(np.asarray(out["assignment"]), [[0, 1, 0], [0, 0, 1]])
    np.testing.assert_array_equal(np.asarray(out["aligned"]), [[0, 1], [-1, 0]])


def test_gumbel_forms_add_the_noise_before_or_after_the_temperature():
    # "logits": softmax(cos/τ + G); "scaled": softmax((cos + G)/τ) (torch's gumbel_softmax).
    rng = np.random.default_rng(4)
    regions, w_r, entities = unit(rng, 2, 3, 5), rng.standard_normal((5, 4)), unit(rng, 6, 4)
    tau = 0.05
    key = jax.random.key(9, impl="rbg")
    g = np.asarray(jax.random.gumbel(key, (2, 3, 6), jnp.float32), np.float64)
    x = regions.astype(np.float64) @ w_r
    cos = (x / np.linalg.norm(x, axis=-1, keepdims=True)) @ entities.T.astype(np.float64)
    expected = {"logits": cos / tau + g, "scaled": (cos + g) / tau}
    for form, noisy in expected.items():
        out = jax.jit(alignment.align_regions, static_argnames="gumbel")(
            jnp.asarray(regions),
            jnp.asarray(w_r, jnp.float32),
            jnp.asarray(entities),
            jnp.log(jnp.float32(tau)),
            key,
            gumbel=form,
        )
        np.testing.assert_array_equal(np.asarray(out["index"]), noisy.argmax(-1))
    # With τ = 0.05 the scaled noise is 20 times larger against the same cosines: more of the
    # regions leave their noise-free argmax.
    flips = {f: (v.argmax(-1) != cos.argmax(-1)).mean() for f, v in expected.items()}
    assert flips["scaled"] >= flips["logits"]


def test_entity_ablations():
    index = jnp.asarray([[[0, 2, 2, 5], [1, 1, 3, 2]], [[2, 2, 4, 4], [0, 5, 5, 5]]])  # [B, T, M]
    key = jax.random.key(0, impl="rbg")
    same = alignment.ablate_entities(index, 6, "none", key)
    np.testing.assert_array_equal(np.asarray(same), np.asarray(index))
    # Entity 2 is the most used in the batch (5 of 16 regions) and 5 the next (5 too): the
    # lower index wins the tie, as argmax does.
    constant = np.asarray(alignment.ablate_entities(index, 6, "constant", key))
    np.testing.assert_array_equal(constant, np.full((2, 2, 4), 2))
    shuffled = np.asarray(alignment.ablate_entities(index, 6, "shuffle", key))
    np.testing.assert_array_equal(np.sort(shuffled, -1), np.sort(np.asarray(index), -1))
    assert (shuffled != np.asarray(index)).any()
    random = np.asarray(
        alignment.ablate_entities(jnp.zeros((50, 8, 16), jnp.int32), 6, "random", key)
    )
    assert set(np.unique(random)) == set(range(6))
    try:
        alignment.ablate_entities(index, 6, "zeros", key)
    except ValueError as e:
        assert "'constant', 'shuffle', 'random'" in str(e)
    else:
        raise AssertionError("an unknown ablation was accepted")


def test_w_r_frozen_is_no_parameter_and_anchored_pays_its_relative_distance():
    from flax import nnx

    w0 = np.random.default_rng(5).standard_normal((5, 4)).astype(np.float32)
    frozen = EntityAlignment(jnp.asarray(w0), w_r="frozen")
    assert not isinstance(frozen.w_r, nnx.Param) and isinstance(frozen.log_tau, nnx.Param)
    assert float(frozen.penalty()) == 0.0
    anchored = EntityAlignment(jnp.asarray(w0), w_r="anchored", anchor_weight=2.0)
    assert isinstance(anchored.w_r, nnx.Param) and not isinstance(anchored.w_r_init, nnx.Param)
    assert float(anchored.penalty()) == 0.0
    delta = np.zeros_like(w0)
    delta[1, 2] = 0.5
    anchored.w_r.set_value(anchored.w_r[...] + delta)
    np.testing.assert_allclose(
        float(anchored.penalty()), 2.0 * 0.25 / float((w0.astype(np.float64) ** 2).sum()), rtol=1e-6
    )
    free = EntityAlignment(jnp.asarray(w0))
    free.w_r.set_value(free.w_r[...] + delta)
    assert float(free.penalty()) == 0.0
