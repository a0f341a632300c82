"""Token merging (ToMe, Bolya et al. 2023): bipartite soft matching as pure functions.

docs/method.md §2. Everything here is a pure, jittable function of arrays plus *static* Python ints (r and
the schedule), so token counts, and hence all shapes, are known at trace time.

Conventions (B = batch, N = tokens entering a layer, N0 = tokens entering the first layer):
  x       [B, N, C]   token features.
  size    [B, N, 1]   float; how many input patches each token holds (ones at the start).
  metric  [B, N, Ck]  similarity features (attention keys averaged over heads).
  dest    [B, N] int32  for every input token, the index of the output token it went into.
  dest_total [B, N0] int32  the same map composed over layers: original patch -> current token.

Typical use inside a vision block (the tower owns this loop):

  bias = proportional_attention_bias(size)          # add to attention logits
  ...attention..., keys -> metric = keys.mean(heads)
  x, size, dest = bipartite_merge(x, size, metric, r[l])
  dest_total = compose_dest(dest_total, dest)
  ...MLP...

Tie-breaking (deterministic, documented so that any reference can reproduce it):
  * best partner of an A token: among B tokens with equal score the lowest B position wins
    (`jnp.argmax` returns the first maximum);
  * ranking of A tokens: `jnp.argsort(-score, stable=True)`, so among equal scores the lower A
    position (= lower original position) ranks higher and is merged first.
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

RSpec = int | Sequence[int] | tuple[int, float]

# Clamp for the metric norm: an all-zero key would otherwise give NaN scores.
_NORM_EPS = 1e-12


def max_r(num_tokens: int, class_token: bool = True) -> int:
    """Largest valid r for a layer with `num_tokens` tokens: the number of mergeable A tokens."""
    # A = even positions: ceil(N/2) tokens, of which the class token (position 0) is protected.
    # With a class token this is (N - 1) // 2, the cap of docs/method.md §2. Without one every A token may merge
    # (into the N // 2 B tokens), i.e. (N + 1) // 2; ToMe's reference caps at N // 2 there, which
    # only differs for odd N. Nothing can merge when B is empty (N < 2).
    if num_tokens < 2:
        return 0
    num_a = (num_tokens + 1) // 2
    return num_a - int(bool(class_token))


def identity_dest(batch: int, num_tokens: int) -> jax.Array:
    """The starting index map (every patch is its own token): int32 [batch, num_tokens]."""
    return jnp.broadcast_to(jnp.arange(num_tokens, dtype=jnp.int32), (batch, num_tokens))


def _merge_indices(metric: jax.Array, r: int, class_token: bool):
    """Index bookkeeping of one merge (no gradients).

    Returns (unm_idx [B, Na-r], src_idx [B, r], dst_idx [B, r], dest [B, N]); A/B indices are
    positions inside the A (even) / B (odd) subsets.
    """
    b, n, _ = metric.shape
    num_a, num_b = (n + 1) // 2, n // 2
    m = metric.astype(jnp.promote_types(metric.dtype, jnp.float32))  # scores in >= f32
    m = m / jnp.maximum(jnp.linalg.norm(m, axis=-1, keepdims=True), _NORM_EPS)
    m_a, m_b = m[:, 0::2], m[:, 1::2]  # [B, Na, Ck], [B, Nb, Ck]
    scores = jnp.einsum(
        "bic,bjc->bij", m_a, m_b, precision=jax.lax.Precision.HIGHEST
    )  # [B, Na, Nb]
    if class_token:
        scores = scores.at[:, 0, :].set(-jnp.inf)  # class token never merges
    node_max = scores.max(axis=-1)  # [B, Na]
    node_idx = scores.argmax(axis=-1).astype(jnp.int32)  # [B, Na] first max wins
    order = jnp.argsort(-node_max, axis=-1, stable=True).astype(jnp.int32)  # [B, Na]
    src_idx = order[:, :r]  # [B, r] merged A tokens
    # Kept A tokens in ascending original position (docs/method.md §2 step 7).
    unm_idx = jnp.sort(order[:, r:], axis=-1)  # [B, Na-r]
    dst_idx = jnp.take_along_axis(node_idx, src_idx, axis=-1)  # [B, r] their B partners

    # dest: kept A token -> its rank among kept ones; merged A -> (Na-r) + partner; B j -> (Na-r)+j.
    rank = jnp.argsort(order, axis=-1).astype(jnp.int32)  # [B, Na] inverse perm.
    merged = rank < r  # [B, Na]
    kept_pos = jnp.cumsum(~merged, axis=-1, dtype=jnp.int32) - 1  # [B, Na]
    num_kept = num_a - r
    dest_a = jnp.where(merged, num_kept + node_idx, kept_pos)  # [B, Na]
    dest_b = jnp.broadcast_to(num_kept + jnp.arange(num_b, dtype=jnp.int32), (b, num_b))
    # Interleave back to original positions (stack + reshape, no scatter); odd N has one extra A.
    dest = jnp.stack([dest_a[:, :num_b], dest_b], axis=-1).reshape(b, 2 * num_b)
    dest = jnp.concatenate([dest, dest_a[:, num_b:]], axis=1)  # [B, N]
    return unm_idx, src_idx, dst_idx, dest


def bipartite_merge(
    x: jax.Array,
    size: jax.Array,
    metric: jax.Array,
    r: int,
    class_token: bool = True,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Merges r tokens by bipartite soft matching: ([B,N,C], [B,N,1], [B,N,Ck]) -> N - r tokens."""
    # Shapes: x [B, N, C], size [B, N, 1], metric [B, N, Ck] -> x' [B, N-r, C], size' [B, N-r, 1],
    # dest [B, N] int32. r is static and is capped at max_r(N, class_token).
    b, n, _ = x.shape
    r = min(int(r), max_r(n, class_token))
    if r <= 0:
        return x, size, identity_dest(b, n)

    x, size, metric = jnp.asarray(x), jnp.asarray(size), jnp.asarray(metric)  # canonical dtypes
    unm_idx, src_idx, dst_idx, dest = _merge_indices(jax.lax.stop_gradient(metric), r, class_token)

    # Average in the wider of x's and size's dtypes (bf16 x with f32 size averages in f32).
    x_dtype = x.dtype
    x = x.astype(jnp.promote_types(x.dtype, size.dtype))
    x_a, x_b = x[:, 0::2], x[:, 1::2]  # [B, Na, C], [B, Nb, C]
    s_a, s_b = size[:, 0::2], size[:, 1::2]  # [B, Na, 1], [B, Nb, 1]

    def take(t, idx):  # [B, M, *] x [B, K] -> [B, K, *]
        return jnp.take_along_axis(t, idx[..., None], axis=1)

    x_unm, s_unm = take(x_a, unm_idx), take(s_a, unm_idx)  # [B, Na-r, *] exact copies
    x_src, s_src = take(x_a, src_idx), take(s_a, src_idx)  # [B, r, *]
    x_dst = take(x_b, dst_idx)  # [B, r, C]

    # Size-weighted average written as an update of the B token:
    #   (s_b x_b + Σ s_i x_i) / (s_b + Σ s_i) = x_b + Σ s_i (x_i - x_b) / (s_b + Σ s_i),
    # so B tokens that receive nothing stay bit-exact. The r -> Nb scatter-add is a small one-hot
    # matmul ([B, r, Nb], r*Nb*C FLOPs): deterministic (unlike a GPU scatter-add) and MXU-friendly.
    # HIGHEST precision because TPU's default f32 matmul would round x to bf16.
    onehot = jax.nn.one_hot(dst_idx, x_b.shape[1], dtype=x.dtype)  # [B, r, Nb]

    def scatter(t):  # [B, r, *] -> [B, Nb, *], summed per destination
        return jnp.einsum(
            "brj,brc->bjc", onehot.astype(t.dtype), t, precision=jax.lax.Precision.HIGHEST
        )

    s_new = s_b + scatter(s_src)  # [B, Nb, 1]
    x_new = x_b + scatter(s_src.astype(x.dtype) * (x_src - x_dst)) / s_new.astype(x.dtype)

    x_out = jnp.concatenate([x_unm, x_new], axis=1).astype(x_dtype)  # [B, N-r, C]
    s_out = jnp.concatenate([s_unm, s_new], axis=1)  # [B, N-r, 1]
    return x_out, s_out, dest


def compose_dest(dest_total: jax.Array, dest_layer: jax.Array) -> jax.Array:
    """Maps original patches through one more merge: [B, N0] x [B, N_l] -> [B, N0] int32."""
    return jnp.take_along_axis(dest_layer, dest_total, axis=1)


def source_map(dest: jax.Array, num_out: int) -> jax.Array:
    """Boolean source matrix: out[b, o, p] = patch p lies in output token o. [B, num_out, N0]."""
    return dest[:, None, :] == jnp.arange(num_out, dtype=dest.dtype)[None, :, None]


def region_sizes(dest: jax.Array, num_out: int) -> jax.Array:
    """Number of original patches held by each output token: [B, N0] -> int32 [B, num_out]."""
    return source_map(dest, num_out).sum(axis=-1, dtype=jnp.int32)


def region_mean(values: jax.Array, dest: jax.Array, num_out: int) -> jax.Array:
    """Averages per-patch values into the output tokens: [B, N0, C] -> [B, num_out, C]."""
    # E.g. pooling patch positions or masks into regions; one-hot matmul, as in the merge.
    src = source_map(dest, num_out).astype(values.dtype)  # [B, num_out, N0]
    total = jnp.einsum("bop,bpc->boc", src, values, precision=jax.lax.Precision.HIGHEST)
    return total / jnp.maximum(src.sum(-1, keepdims=True), 1)


def proportional_attention_bias(size: jax.Array) -> jax.Array:
    """log(size) of every key, to add to attention logits: [B, N, 1] -> [B, 1, 1, N]."""
    # Broadcasts over heads and queries; a token holding s patches counts s times in softmax.
    return jnp.log(size[..., 0])[:, None, None, :]


def _check_r(v, what: str) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{what} must be an int, got {v!r} ({type(v).__name__}).")
    if v < 0:
        raise ValueError(f"{what} must be >= 0, got {v}.")
    return int(v)


def parse_r_schedule(
    spec: RSpec,
    num_layers: int,
    num_tokens: int,
    class_token: bool = True,
) -> tuple[int, ...]:
    """Turns an r spec into a valid static per-layer schedule (tuple of num_layers ints)."""
    # spec forms:
    #   int r                -> r in every layer.
    #   (r, inflect)         -> linear ramp as ToMe's `parse_r`; recognised as a 2-tuple whose
    #                           second element is a float (write 0.0, -1.0), inflect in [-1, 1]:
    #                             first = int(r * (1 - inflect)), last = 2 * r - first,
    #                             r_l = int(first + (last - first) / (L - 1) * l)   (truncation).
    #                           inflect = -1: 2r decreasing to 0 (the paper's "decreasing
    #                           schedule"); 0: constant r; +1: 0 increasing to 2r. For L = 1
    #                           the single layer gets `first`'s and `last`'s mean, r.
    #   list/tuple of ints   -> per layer; its length must equal num_layers (ToMe pads short
    #                           lists with zeros; we refuse, to catch config mistakes).
    # num_tokens counts every token entering the first layer (class token included). Each layer's
    # r is then capped at max_r(tokens left), so any spec gives a valid schedule.
    num_layers = int(num_layers)
    if num_layers < 1:
        raise ValueError(f"num_layers must be >= 1, got {num_layers}.")
    if (
        isinstance(spec, (list, tuple))
        and len(spec) == 2
        and isinstance(spec[1], (float, np.floating))
    ):
        r = _check_r(spec[0], "r of an (r, inflect) ramp")
        inflect = float(spec[1])
        if not -1.0 <= inflect <= 1.0:
            raise ValueError(f"inflect must be in [-1, 1], got {inflect}.")
        first = int(r * (1.0 - inflect))
        last = 2 * r - first
        if num_layers == 1:
            raw = [r]
        else:
            step = (last - first) / (num_layers - 1)
            raw = [int(first + step * i) for i in range(num_layers)]
    elif isinstance(spec, (list, tuple)):
        if len(spec) != num_layers:
            raise ValueError(
                f"r schedule has {len(spec)} entries but the model has {num_layers} layers: "
                f"{list(spec)!r}. Give one int per layer, a single int, or an (r, inflect) ramp "
                "with a float inflect, e.g. (8, -1.0)."
            )
        raw = [_check_r(v, f"r of layer {i}") for i, v in enumerate(spec)]
    else:
        raw = [_check_r(spec, "r")] * num_layers

    schedule = []
    tokens = int(num_tokens)
    for r in raw:
        r = min(r, max_r(tokens, class_token))
        schedule.append(r)
        tokens -= r
    return tuple(schedule)


def parse_schedule_text(text: str) -> RSpec:
    """A schedule written as config text → an RSpec: "16" (every layer), "14,-1.0" (an
    (r, inflect) ramp: two entries, the second with a decimal point), "16,16,8,…" (per layer)."""
    parts = [p.strip() for p in str(text).strip().strip("()[]").split(",") if p.strip()]
    if not parts:
        raise ValueError(f"empty ToMe schedule {text!r}; e.g. '16', '14,-1.0' or '16,16,8'")
    try:
        if len(parts) == 2 and any(c in parts[1] for c in ".eE"):
            return (int(parts[0]), float(parts[1]))
        values = [int(p) for p in parts]
    except ValueError:
        raise ValueError(
            f"ToMe schedule {text!r} is not r ('16'), an (r, inflect) ramp ('14,-1.0') or one "
            "int per layer ('16,16,8')"
        ) from None
    return values[0] if len(values) == 1 else values


def tokens_per_layer(schedule: Sequence[int], num_tokens: int) -> tuple[int, ...]:
    """Token counts: entry l = tokens entering layer l, last entry = tokens leaving (len L+1)."""
    counts = [int(num_tokens)]
    for r in schedule:
        counts.append(counts[-1] - int(r))
    return tuple(counts)
