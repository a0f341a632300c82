"""The optimizer against closed forms: schedule, decay mask, accumulation, clipping."""

import jax
import jax.numpy as jnp
import numpy as np

from alt_jax.train.optim import decay_mask, default_optim_config, make_optimizer


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
    # decay toward zero would pull them away from it (SPEC §5).
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


def test_accumulation_equals_one_step_on_the_mean_gradient():
    params = {"w": jnp.arange(4.0).reshape(2, 2)}
    g1, g2 = {"w": jnp.ones((2, 2))}, {"w": jnp.full((2, 2), 3.0)}
    accum, _ = make_optimizer(config(accum_steps=2, warmup_steps=0, grad_clip=0.0), 10)
    single, _ = make_optimizer(config(accum_steps=1, warmup_steps=0, grad_clip=0.0), 10)
    state = accum.init(params)
    u1, state = accum.update(g1, state, params)
    np.testing.assert_array_equal(u1["w"], 0.0)  # nothing applied before the 2nd micro-batch
    u2, _ = accum.update(g2, state, params)
    ref, _ = single.update({"w": jnp.full((2, 2), 2.0)}, single.init(params), params)
    np.testing.assert_allclose(u2["w"], ref["w"], rtol=1e-6)
