"""The optimizer against closed forms: schedule, decay mask, accumulation, clipping."""

import jax
import jax.numpy as jnp
import numpy as np

from alt_jax.configs_lib import default_optim_config
from alt_jax.train.optim import decay_mask, learning_rate_at, make_optimizer, num_updates


def config(**overrides):
    c = default_optim_config()
    c.update(overrides)
    return c


def test_schedule_warms_up_linearly_then_decays_by_cosine():
    _, schedule = make_optimizer(config(lr=1.0, warmup_steps=10, end_factor=0.0), total_steps=110)
    np.testing.assert_allclose([schedule(0), schedule(5), schedule(10)], [0.0, 0.5, 1.0], atol=1e-6)
    # Halfway through the decay the cosine is at 0.5; at the end at end_factor.
    np.testing.assert_allclose(schedule(60), 0.5, atol=1e-6)
    np.testing.assert_allclose(schedule(110), 0.0, atol=1e-6)


def test_decay_mask_spares_norms_biases_scales_and_scalars():
    params = {
        "adapter": {
            "fc1": {"kernel": jnp.ones((3, 4)), "bias": jnp.ones(4)},
            "ln": {"scale": jnp.ones(4)},
        },
        "alignment": {"w_r": jnp.ones((4, 2)), "log_tau": jnp.ones(())},
        "gate": jnp.ones(()),
        "log_logit_scale": jnp.ones(()),
        "temporal_embedding": jnp.ones((8, 4)),
        "conv_kernel": jnp.ones((3, 4)),
        "temporal_position": jnp.ones((8, 4)),
    }
    mask = decay_mask(params)
    assert mask["adapter"]["fc1"]["kernel"]
    # Initialised to something meaningful (W_r = CLIP's projection, the conv = identity):
    # decay toward zero would pull them away from it (docs/method.md §5).
    assert not mask["alignment"]["w_r"] and not mask["conv_kernel"]
    for leaf in (
        mask["temporal_position"],
        mask["adapter"]["fc1"]["bias"],
        mask["adapter"]["ln"]["scale"],
        mask["alignment"]["log_tau"],
        mask["gate"],
        mask["log_logit_scale"],
        mask["temporal_embedding"],
    ):
        assert not leaf


def test_decoupled_weight_decay_only_where_masked():
    tx, _ = make_optimizer(config(lr=0.1, warmup_steps=0, weight_decay=0.5, grad_clip=0.0), 10)
    params = {"w": jnp.full((2, 2), 2.0), "bias": jnp.full((2,), 2.0)}
    zero = jax.tree.map(jnp.zeros_like, params)
    updates, _ = tx.update(zero, tx.init(params), params)
    lr0 = 0.1  # step 0 of a cosine schedule without warm-up
    np.testing.assert_allclose(updates["w"], -lr0 * 0.5 * 2.0, rtol=1e-6)  # −lr·wd·w
    np.testing.assert_allclose(updates["bias"], 0.0)


def adamw_numpy(params, grads_per_update, lrs, *, b1, b2, eps, wd, clip=0.0):
    """AdamW written out (decoupled decay on every leaf here), optionally after global-norm
    clipping: the reference the optax chain must reproduce."""
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(x) for k, x in p.items()}
    for t, (g, lr) in enumerate(zip(grads_per_update, lrs), start=1):
        g = {k: np.asarray(x, np.float64) for k, x in g.items()}
        norm = np.sqrt(sum((x**2).sum() for x in g.values()))
        if clip and norm > clip:
            g = {k: x * clip / norm for k, x in g.items()}
        for k in p:
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
            m_hat, v_hat = m[k] / (1 - b1**t), v[k] / (1 - b2**t)
            p[k] = p[k] - lr * (m_hat / (np.sqrt(v_hat) + eps) + wd * p[k])
    return p


def run_optax(tx, params, grads):
    state = tx.init(params)
    for g in grads:
        updates, state = tx.update(g, state, params)
        params = jax.tree.map(lambda p, u: p + u, params, updates)
    return params, state


def test_accumulation_equals_adamw_on_the_mean_gradient():
    """2 updates of 2 micro-batches each = AdamW on the micro-batch means. The gradients differ
    in sign and size, so the mean, the sum and the last gradient all give different results
    (Adam's first step alone is -lr·sign(g) and could not tell them apart)."""
    c = config(accum_steps=2, warmup_steps=0, grad_clip=0.0, weight_decay=0.1, lr=0.1)
    tx, schedule = make_optimizer(c, total_steps=2)
    params = {"w": jnp.asarray([[1.0, -2.0], [0.5, 3.0]])}
    micro = [
        np.array([[1.0, 3.0], [-2.0, 0.5]]),
        np.array([[-3.0, -1.0], [4.0, 0.1]]),
        np.array([[0.2, -0.4], [1.0, -2.0]]),
        np.array([[0.6, 2.0], [-1.0, -4.0]]),
    ]
    ours, state = run_optax(tx, params, [{"w": jnp.asarray(g)} for g in micro])
    means = [{"w": (micro[0] + micro[1]) / 2}, {"w": (micro[2] + micro[3]) / 2}]
    lrs = [0.1, 0.1 * 0.5 * (1 + np.cos(np.pi * 1 / 2))]  # cosine over 2 updates
    np.testing.assert_allclose([schedule(0), schedule(1)], lrs, rtol=1e-6)
    ref = adamw_numpy(params, means, lrs, b1=c.b1, b2=c.b2, eps=c.eps, wd=c.weight_decay)
    np.testing.assert_allclose(ours["w"], ref["w"], rtol=1e-5)
    # The inner Adam saw the means: its first moment is b1·(1-b1)·mean₁ + (1-b1)·mean₂.
    mu = state.inner_opt_state[0][0].mu["w"]  # chain(adamw) → (scale_by_adam, ...)
    expected_mu = c.b1 * (1 - c.b1) * means[0]["w"] + (1 - c.b1) * means[1]["w"]
    np.testing.assert_allclose(mu, expected_mu, rtol=1e-5)


def test_gradient_clipping_scales_by_the_global_norm():
    """grad_clip=1: a gradient of global norm 5 (over two leaves) is scaled by 1/5 before Adam;
    one of norm 0.44 is left alone. Compared with AdamW on the clipped gradients."""
    c = config(grad_clip=1.0, warmup_steps=0, weight_decay=0.0, lr=0.1)
    tx, schedule = make_optimizer(c, total_steps=2)
    params = {"a": jnp.zeros((2,)), "b": jnp.zeros((1,))}
    grads = [
        {"a": np.array([3.0, 2.0]), "b": np.array([np.sqrt(12.0)])},  # norm 5 → clipped
        {"a": np.array([0.1, 0.3]), "b": np.array([-0.3])},  # norm 0.44 → unchanged
    ]
    ours, state = run_optax(tx, params, [jax.tree.map(jnp.asarray, g) for g in grads])
    lrs = [float(schedule(0)), float(schedule(1))]
    ref = adamw_numpy(params, grads, lrs, b1=c.b1, b2=c.b2, eps=c.eps, wd=0.0, clip=1.0)
    for k in ref:
        np.testing.assert_allclose(ours[k], ref[k], rtol=1e-5, atol=1e-9, err_msg=k)
    unclipped = adamw_numpy(params, grads, lrs, b1=c.b1, b2=c.b2, eps=c.eps, wd=0.0)
    assert not np.allclose(ref["a"], unclipped["a"], rtol=1e-3)  # the case can tell


def test_schedule_counts_updates_not_micro_steps():
    """10 micro-steps with accum_steps=2 are 5 updates: the schedule that `make_optimizer` is
    given for them reaches end_factor·lr after the 5th update, not halfway."""
    assert num_updates(10, 2) == 5 and num_updates(11, 2) == 5 and num_updates(3, 1) == 3
    _, schedule = make_optimizer(config(lr=1.0, warmup_steps=0, end_factor=0.0), 5)
    np.testing.assert_allclose(schedule(5), 0.0, atol=1e-7)
    # The rate logged at micro-step s is that of the last update applied (update s // k - 1).
    np.testing.assert_allclose(learning_rate_at(schedule, 10, 2), schedule(4), rtol=1e-6)
    np.testing.assert_allclose(learning_rate_at(schedule, 3, 2), 1.0, rtol=1e-6)
