"""Tests for alt_jax.models.tome against a loop-based NumPy reference written from docs/method.md §2."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alt_jax.models import tome


# ---------------------------------------------------------------------------------------------
# Independent NumPy reference, one item at a time, straight from the algorithm text.
# Tie rules (same as documented in tome.py): best partner = lowest B position among equal
# scores; A ranking = descending score, lower A position first among equal scores.
# ---------------------------------------------------------------------------------------------
def ref_merge_item(x, size, metric, r, class_token):
    """x [N, C], size [N], metric [N, Ck] -> (x_out, size_out, dest, groups of input indices)."""
    n = x.shape[0]
    a_pos = list(range(0, n, 2))
    b_pos = list(range(1, n, 2))
    num_mergeable = len(a_pos) - (1 if class_token else 0) if b_pos else 0
    r = max(0, min(r, num_mergeable))
    if r == 0:  # nothing merges: the tokens stay as they are (no A/B reordering), as in ToMe
        return x, size, np.arange(n), [[p] for p in range(n)]
    m = metric / np.linalg.norm(metric, axis=-1, keepdims=True)
    best, partner = [], []
    for i, p in enumerate(a_pos):
        if class_token and i == 0:
            best.append(-np.inf)
            partner.append(0)
            continue
        bs, bj = -np.inf, None
        for j, q in enumerate(b_pos):
            s = float(np.dot(m[p], m[q]))
            if bj is None or s > bs:  # strict: the first maximum wins
                bs, bj = s, j
        best.append(bs)
        partner.append(bj)
    order = sorted(range(len(a_pos)), key=lambda i: (-best[i], i))
    merged = set(order[:r])
    groups = [[a_pos[i]] for i in range(len(a_pos)) if i not in merged]
    for j, q in enumerate(b_pos):
        groups.append([q] + [a_pos[i] for i in sorted(merged) if partner[i] == j])
    x_out = np.stack([(size[g, None] * x[g]).sum(0) / size[g].sum() for g in groups])
    s_out = np.array([size[g].sum() for g in groups])
    dest = np.empty(n, np.int64)
    for o, g in enumerate(groups):
        dest[g] = o
    return x_out, s_out, dest, groups


def ref_merge(x, size, metric, r, class_token):
    outs = [
        ref_merge_item(x[b], size[b, :, 0], metric[b], r, class_token) for b in range(x.shape[0])
    ]
    return (
        np.stack([o[0] for o in outs]),
        np.stack([o[1] for o in outs])[..., None],
        np.stack([o[2] for o in outs]),
        [o[3] for o in outs],
    )


def random_inputs(seed, b, n, c=5, ck=4, unit_size=False):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(b, n, c)).astype(np.float32)
    size = np.ones((b, n, 1)) if unit_size else rng.uniform(0.5, 4.0, size=(b, n, 1))
    metric = rng.normal(size=(b, n, ck)).astype(np.float32)
    return x, size.astype(np.float32), metric


merge_jit = jax.jit(tome.bipartite_merge, static_argnums=(3, 4))


# ---------------------------------------------------------------------------------------------
# bipartite_merge vs the reference.
# ---------------------------------------------------------------------------------------------
# Odd and even N, r = 0, a middle r and r at its cap (r = 0 is free; each other case compiles).
CASES = [
    (n, r, ct) for ct in (True, False) for n in (7, 16) for r in sorted({0, 2, tome.max_r(n, ct)})
]


@pytest.mark.parametrize("n,r,class_token", CASES)
def test_merge_matches_reference(n, r, class_token):
    x, size, metric = random_inputs(n * 10 + r + class_token, b=3, n=n)
    x_out, s_out, dest = merge_jit(x, size, metric, r, class_token)
    rx, rs, rdest, _ = ref_merge(
        x.astype(np.float64), size.astype(np.float64), metric.astype(np.float64), r, class_token
    )
    assert x_out.shape == (3, n - r, 5) and s_out.shape == (3, n - r, 1)
    assert dest.dtype == jnp.int32 and dest.shape == (3, n)
    np.testing.assert_array_equal(np.asarray(dest), rdest)
    np.testing.assert_allclose(np.asarray(x_out), rx, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(s_out), rs, rtol=1e-6)


# Five scalar tokens worked by hand. A = even positions (0, 2, 4), B = odd (1, 3). Metric
# directions: 0 → (1, 0), 1 → (1, 0), 2 → (.6, .8), 3 → (0, 1), 4 → (2, 0) (length must not
# matter). Scores A×B: pos 0: (1, 0); pos 2: (.6, .8) → best B 3 at .8; pos 4: (1, 0) → best B 1.
HAND_X = np.array([[[10.0], [20.0], [30.0], [40.0], [50.0]]], np.float32)
HAND_SIZE = np.array([[[1.0], [1.0], [2.0], [1.0], [3.0]]], np.float32)
HAND_METRIC = np.array([[[1, 0], [1, 0], [0.6, 0.8], [0, 1], [2, 0]]], np.float32)


@pytest.mark.parametrize(
    "r, class_token, x, size, dest",
    [
        # Class token at 0 protected. r = 1: the best A (pos 4, score 1) joins pos 1:
        # (1·20 + 3·50) / (1 + 3) = 42.5, size 4. Outputs: kept A (0, 2), then B (1, 3).
        (1, True, [10, 30, 42.5, 40], [1, 2, 4, 1], [0, 2, 1, 3, 2]),
        # r = 2: pos 2 (score .8) also joins pos 3: (1·40 + 2·30) / (1 + 2) = 100/3, size 3.
        (2, True, [10, 42.5, 100 / 3], [1, 4, 3], [0, 1, 2, 2, 1]),
        # No class token: pos 0 and 4 both score 1 with pos 1 and both join it (the tie between
        # them does not matter at r = 2): (1·10 + 1·20 + 3·50) / (1 + 1 + 3) = 36, size 5.
        (2, False, [30, 36, 40], [2, 5, 1], [1, 1, 0, 2, 1]),
    ],
)
def test_merge_worked_by_hand(r, class_token, x, size, dest):
    x_out, s_out, d = merge_jit(HAND_X, HAND_SIZE, HAND_METRIC, r, class_token)
    np.testing.assert_allclose(np.asarray(x_out)[0, :, 0], x, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(s_out)[0, :, 0], size)
    np.testing.assert_array_equal(np.asarray(d)[0], dest)


def test_max_r():
    # With a class token: (N - 1) // 2 (docs/method.md §2); without: all ceil(N / 2) A tokens.
    assert [tome.max_r(n) for n in (1, 2, 3, 4, 197)] == [0, 0, 1, 1, 98]
    assert [tome.max_r(n, False) for n in (1, 2, 3, 4, 7)] == [0, 1, 2, 2, 4]


def test_r_above_cap_is_capped():
    x, size, metric = random_inputs(0, b=2, n=9)
    x_out, _, dest = merge_jit(x, size, metric, 100, True)
    assert x_out.shape == (2, 9 - 4, 5) and int(dest.max()) == 4


def test_ties_are_deterministic():
    # Metric rows from 3 directions: many exactly equal scores in both implementations.
    rng = np.random.default_rng(1)
    dirs = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0]], np.float32)
    for ct in (True, False):
        metric = dirs[rng.integers(0, 3, size=(4, 15))]
        x, size, _ = random_inputs(2, b=4, n=15)
        for r in (2, 5):
            _, _, dest = merge_jit(x, size, metric, r, ct)
            _, _, rdest, _ = ref_merge(x, size, metric.astype(np.float64), r, ct)
            np.testing.assert_array_equal(np.asarray(dest), rdest)
    # All scores equal: A tokens merge in position order (2, 4, ...) into B token 0 (position 1).
    metric = np.ones((1, 9, 3), np.float32)
    _, _, dest = merge_jit(
        np.zeros((1, 9, 2), np.float32), np.ones((1, 9, 1), np.float32), metric, 2, True
    )
    # Kept A: positions 0, 6, 8 -> outputs 0, 1, 2; B positions 1, 3, 5, 7 -> outputs 3..6.
    np.testing.assert_array_equal(np.asarray(dest)[0], [0, 3, 3, 4, 3, 5, 1, 6, 2])


def test_r_zero_is_identity():
    x, size, metric = random_inputs(3, b=2, n=8)
    x_out, s_out, dest = tome.bipartite_merge(x, size, metric, 0)
    assert x_out is x and s_out is size
    np.testing.assert_array_equal(np.asarray(dest), np.tile(np.arange(8), (2, 1)))


# ---------------------------------------------------------------------------------------------
# Invariants.
# ---------------------------------------------------------------------------------------------
def test_sizes_sum_and_source_map_partitions():
    x, size, metric = random_inputs(4, b=3, n=17, unit_size=True)
    x_out, s_out, dest = merge_jit(x, size, metric, 5, True)
    np.testing.assert_allclose(np.asarray(s_out).sum(axis=(1, 2)), 17.0)
    src = np.asarray(tome.source_map(dest, 12))
    assert src.shape == (3, 12, 17) and src.dtype == bool
    np.testing.assert_array_equal(src.sum(axis=1), 1)  # every patch in exactly one output
    np.testing.assert_array_equal(
        np.asarray(tome.region_sizes(dest, 12)), np.asarray(s_out)[..., 0]
    )
    # region_mean of the unit-size input features is the merged features.
    np.testing.assert_allclose(
        np.asarray(tome.region_mean(x, dest, 12)), np.asarray(x_out), rtol=1e-5, atol=1e-6
    )


def test_class_token_stays_first_and_unmerged():
    x, size, metric = random_inputs(5, b=3, n=17)
    metric[:, 0] = metric[:, 1]  # the class token would be the best match of all: still protected
    x_out, s_out, dest = merge_jit(x, size, metric, 8, True)
    np.testing.assert_array_equal(np.asarray(x_out[:, 0]), x[:, 0])
    np.testing.assert_array_equal(np.asarray(s_out[:, 0]), size[:, 0])
    dest = np.asarray(dest)
    assert (dest[:, 0] == 0).all() and (dest[:, 1:] != 0).all()


def test_untouched_tokens_are_bit_exact():
    x, size, metric = random_inputs(6, b=2, n=17)
    x_out, _, dest = merge_jit(x, size, metric, 3, True)
    dest, x_out = np.asarray(dest), np.asarray(x_out)
    for b in range(2):
        counts = np.bincount(dest[b], minlength=14)
        for p in range(17):
            if counts[dest[b, p]] == 1:
                np.testing.assert_array_equal(x_out[b, dest[b, p]], x[b, p])


@pytest.mark.slow
def test_jit_matches_eager():
    x, size, metric = random_inputs(7, b=2, n=8)
    for a, b in zip(
        tome.bipartite_merge(x, size, metric, 3), merge_jit(x, size, metric, 3, True), strict=False
    ):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6)


def test_bfloat16_features():
    x, size, metric = random_inputs(12, b=2, n=16)
    x16 = jnp.asarray(x, jnp.bfloat16)
    x_out, _, dest = merge_jit(x16, size, metric, 5, True)
    ref, _, ref_dest = merge_jit(np.asarray(x16, np.float32), size, metric, 5, True)
    assert x_out.dtype == jnp.bfloat16
    np.testing.assert_array_equal(np.asarray(dest), np.asarray(ref_dest))
    np.testing.assert_allclose(np.asarray(x_out, np.float32), np.asarray(ref), rtol=1e-2, atol=1e-2)


def test_vmap_over_frames_matches_flat_batch():
    f, b, n = 3, 2, 9
    x, size, metric = random_inputs(8, b=f * b, n=n)
    flat = merge_jit(x, size, metric, 3, True)
    fn = jax.vmap(functools.partial(tome.bipartite_merge, r=3))
    framed = jax.jit(fn)(
        x.reshape(f, b, n, -1), size.reshape(f, b, n, 1), metric.reshape(f, b, n, -1)
    )
    for a, v in zip(flat, framed, strict=False):
        np.testing.assert_allclose(
            np.asarray(a), np.asarray(v).reshape(a.shape), rtol=1e-6, atol=1e-6
        )


def test_gradient_matches_finite_differences():
    with jax.enable_x64(True):
        rng = np.random.default_rng(9)
        x = rng.normal(size=(2, 9, 3))
        size = rng.uniform(0.5, 3.0, size=(2, 9, 1))
        metric = rng.normal(size=(2, 9, 4))
        wx, ws = rng.normal(size=(2, 6, 3)), rng.normal(size=(2, 6, 1))

        @jax.jit
        def loss(x, size, metric):
            x_out, s_out, _ = tome.bipartite_merge(x, size, metric, 3)
            return (wx * x_out).sum() + (ws * s_out).sum()

        gx, gs, gm = jax.grad(loss, argnums=(0, 1, 2))(x, size, metric)
        np.testing.assert_array_equal(np.asarray(gm), 0.0)  # indices are under stop_gradient

        def fd(arr, which):
            eps, g = 1e-6, np.zeros_like(arr)
            for idx in np.ndindex(arr.shape):
                d = np.zeros_like(arr)
                d[idx] = eps
                args_p, args_m = [x, size, metric], [x, size, metric]
                args_p[which], args_m[which] = arr + d, arr - d
                g[idx] = (loss(*args_p) - loss(*args_m)) / (2 * eps)
            return g

        np.testing.assert_allclose(np.asarray(gx), fd(x, 0), rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(np.asarray(gs), fd(size, 1), rtol=1e-6, atol=1e-8)


def test_chained_merges_compose():
    b, n = 2, 17
    x, size, metric = random_inputs(10, b=b, n=n, unit_size=True)
    rng = np.random.default_rng(11)
    dest_total = tome.identity_dest(b, n)
    x1, s1, d1 = merge_jit(x, size, metric, 5, True)
    dest_total = tome.compose_dest(dest_total, d1)
    metric2 = rng.normal(size=(b, n - 5, 4)).astype(np.float32)
    x2, s2, d2 = merge_jit(x1, s1, metric2, 4, True)
    dest_total = tome.compose_dest(dest_total, d2)

    # Reference: track groups of original patches through both merges.
    _, rs1, _, g1 = ref_merge(
        x.astype(np.float64), size.astype(np.float64), metric.astype(np.float64), 5, True
    )
    rx2, _, _, g2 = ref_merge(np.asarray(x1, np.float64), rs1, metric2.astype(np.float64), 4, True)
    src = np.asarray(tome.source_map(dest_total, n - 9))
    for i in range(b):
        ref_src = np.zeros((n - 9, n), bool)
        for o, grp in enumerate(g2[i]):
            for t in grp:
                ref_src[o, g1[i][t]] = True
        np.testing.assert_array_equal(src[i], ref_src)
    np.testing.assert_allclose(np.asarray(x2), rx2, rtol=1e-5, atol=1e-5)
    # With unit initial sizes, merged sizes = patch counts; features = plain patch means.
    np.testing.assert_allclose(np.asarray(s2)[..., 0], src.sum(-1))
    np.testing.assert_allclose(
        np.asarray(x2), np.asarray(tome.region_mean(x, dest_total, n - 9)), rtol=1e-5, atol=1e-5
    )


def test_proportional_attention_bias():
    size = np.array([[[1.0], [2.0], [4.0]]], np.float32)
    bias = tome.proportional_attention_bias(size)
    assert bias.shape == (1, 1, 1, 3)
    np.testing.assert_allclose(np.asarray(bias)[0, 0, 0], np.log([1.0, 2.0, 4.0]), rtol=1e-6)
    logits = jnp.zeros((1, 2, 3, 3)) + bias  # [B, heads, queries, keys]
    np.testing.assert_allclose(
        np.asarray(jax.nn.softmax(logits))[0, 1, 2], [1 / 7, 2 / 7, 4 / 7], rtol=1e-6
    )


# ---------------------------------------------------------------------------------------------
# r schedules.
# ---------------------------------------------------------------------------------------------
def test_parse_r_int_and_list():
    assert tome.parse_r_schedule(8, 12, 197) == (8,) * 12
    assert tome.parse_r_schedule([1, 2, 3], 3, 10) == (1, 2, 3)
    assert tome.parse_r_schedule((1, 2, 3), 3, 10) == (1, 2, 3)
    assert tome.parse_r_schedule(np.int64(2), 2, 50) == (2, 2)
    assert all(type(v) is int for v in tome.parse_r_schedule([np.int64(1)] * 2, 2, 9))


def test_parse_r_ramp():
    # ToMe's parse_r: first = int(r (1 - inflect)), last = 2 r - first, truncated linear steps.
    assert tome.parse_r_schedule((8, -1.0), 12, 197) == (16, 14, 13, 11, 10, 8, 7, 5, 4, 2, 1, 0)
    assert tome.parse_r_schedule((8, 0.0), 12, 197) == (8,) * 12
    assert tome.parse_r_schedule((4, 1.0), 5, 197) == (0, 2, 4, 6, 8)
    assert tome.parse_r_schedule((6, 0.5), 4, 197) == (3, 5, 7, 9)
    assert tome.parse_r_schedule((6, -0.5), 1, 197) == (6,)
    with pytest.raises(ValueError, match="inflect"):
        tome.parse_r_schedule((8, 1.5), 12, 197)


def test_parse_r_capping():
    # 197 -> cap 98: 50 | 147 -> 73: 50 | 97 -> 48: 48 | 49 -> 24: 24.
    assert tome.parse_r_schedule(50, 4, 197) == (50, 50, 48, 24)
    assert tome.parse_r_schedule(10, 2, 7) == (3, 1)
    assert tome.parse_r_schedule(10, 2, 7, class_token=False) == (4, 2)
    assert tome.parse_r_schedule([9, 0, 9], 3, 10) == (4, 0, 2)
    sched = tome.parse_r_schedule((30, -1.0), 12, 50)
    counts = tome.tokens_per_layer(sched, 50)
    assert all(r <= tome.max_r(t) for r, t in zip(sched, counts, strict=False))


def test_parse_r_errors():
    with pytest.raises(ValueError, match="3 entries but the model has 12 layers"):
        tome.parse_r_schedule([1, 2, 3], 12, 197)
    with pytest.raises(ValueError, match="2 entries"):
        tome.parse_r_schedule((8, 0), 12, 197)  # int inflect: read as a per-layer tuple, not a ramp
    with pytest.raises(ValueError, match=">= 0"):
        tome.parse_r_schedule(-1, 12, 197)
    with pytest.raises(TypeError):
        tome.parse_r_schedule(2.5, 12, 197)


def test_tokens_per_layer():
    assert tome.tokens_per_layer((1, 2, 3), 10) == (10, 9, 7, 4)
    assert tome.tokens_per_layer((), 5) == (5,)


@pytest.mark.parametrize(
    "text, want",
    [
        ("16", 16),
        (" 14, -1.0 ", (14, -1.0)),
        ("(8, 0.5)", (8, 0.5)),
        ("16,16,8", [16, 16, 8]),
        ("[4, 0]", [4, 0]),
    ],
)
def test_schedule_text_forms(text, want):
    assert tome.parse_schedule_text(text) == want


@pytest.mark.parametrize("text", ["", "sixteen", "14,-x", "1.5"])
def test_a_bad_schedule_text_is_refused_with_the_forms(text):
    with pytest.raises(ValueError, match="ToMe schedule|e.g. '16'"):
        tome.parse_schedule_text(text)


def test_a_ramp_in_the_config_reaches_the_tower():
    """model.tome_schedule='14,-1.0' gives B/16 ToMe's decreasing ramp: r_l = int(28 − 28·l/11),
    which tome_r (an int) cannot express; a bad schedule is refused naming the key."""
    from alt_jax.builders import tome_spec
    from alt_jax.configs_lib import ConfigError, base_config, validate_config

    config = base_config()
    config.model.tome_schedule = "14,-1.0"
    validate_config(config)
    spec = tome_spec(config.model)
    ramp = [int(28 - 28 / 11 * layer) for layer in range(12)]
    assert tome.parse_r_schedule(spec, 12, 197) == tuple(ramp)
    assert 197 - sum(ramp) - 1 == 33  # regions per frame left (r = 16 constant: 10)
    config.model.tome_schedule = "14;-1"
    with pytest.raises(ConfigError, match=r"^config\.model\.tome_schedule: ToMe schedule '14;-1'"):
        validate_config(config)
