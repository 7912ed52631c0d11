"""Attention (Vaswani et al. 2017): `scaled_dot_product_attention` and the `MultiHeadAttention`
layer (self-attention over a sequence), each with an optional mask.

The softmax subtracts each row's maximum and runs in float32 or wider (bfloat16 and float16
logits are upcast), so logits of +-1e4 give finite weights; a masked key gets weight exactly 0,
and a query that may attend to no key at all gets the output 0 (where `jax.nn`'s
`dot_product_attention` averages every value).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import checks
from jaxdl.core import Layer
from jaxdl.initializers import Initializer, lecun_normal, zeros
from jaxdl.nn.recurrent import check_sequence, sequence_shape, split_mask
from jaxdl.spec import by_value

OWNER = "scaled_dot_product_attention"


def _check_qkv(q: Any, k: Any, v: Any, mask: Any) -> None:
    shapes = {n: tuple(getattr(a, "shape", ())) for n, a in (("q", q), ("k", k), ("v", v))}
    for n, s in shapes.items():
        if len(s) < 2:
            raise ValueError(f"{OWNER}: {n} must have at least 2 axes (..., length, size), got "
                             f"shape {s}")
    (q_s, k_s, v_s) = shapes.values()
    if k_s[:-2] != q_s[:-2] or k_s[-1] != q_s[-1]:
        raise ValueError(f"{OWNER}: k must be (..., Tk, d_k) with q's leading axes {q_s[:-2]} "
                         f"and d_k = {q_s[-1]}, got q {q_s} and k {k_s}")
    if v_s[:-1] != k_s[:-1]:
        raise ValueError(f"{OWNER}: v must be (..., Tk, d_v) with k's leading axes and length "
                         f"{k_s[:-1]}, got k {k_s} and v {v_s}")
    if mask is None:
        return
    logits = (*q_s[:-1], k_s[-2])
    m_s = tuple(getattr(mask, "shape", ()))
    try:
        ok = np.broadcast_shapes(m_s, logits) == logits
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{OWNER}: mask must broadcast to (..., Tq, Tk) = {logits}, got shape "
                         f"{m_s}")
    if not (jnp.issubdtype(mask.dtype, jnp.bool_) or jnp.issubdtype(mask.dtype, jnp.integer)):
        raise TypeError(f"{OWNER}: mask must be bool (True = may attend) or integer, got dtype "
                        f"{mask.dtype}")


def scaled_dot_product_attention(q: jax.Array, k: jax.Array, v: jax.Array,
                                 mask: jax.Array | None = None) -> jax.Array:
    """`softmax(q k^T / sqrt(d_k)) v` over the keys (Vaswani et al. 2017, eq. 1).

    Args:
      q: (..., Tq, d_k) queries.
      k: (..., Tk, d_k) keys, with q's leading axes (batch, heads, ...).
      v: (..., Tk, d_v) values.
      mask: optional, bool or integer, broadcastable to (..., Tq, Tk): True (nonzero) where
        query i may attend to key j. Padding: `valid[..., None, :]`; causal:
        `jnp.tril(jnp.ones((Tq, Tk), bool))`.
    Returns:
      (..., Tq, d_v) in v's dtype; 0 for a query whose mask row is all False.
    """
    _check_qkv(q, k, v, mask)
    wide = q.dtype if jnp.finfo(q.dtype).bits >= 32 else jnp.dtype(jnp.float32)
    logits = jnp.einsum("...qd,...kd->...qk", q, k, preferred_element_type=wide)
    logits = logits * (1.0 / math.sqrt(q.shape[-1]))
    if mask is not None:
        m = jnp.broadcast_to(jnp.asarray(mask).astype(bool), logits.shape)
        logits = jnp.where(m, logits, jnp.finfo(wide).min)
    e = jnp.exp(logits - jax.lax.stop_gradient(jnp.max(logits, axis=-1, keepdims=True)))
    if mask is not None:
        e = jnp.where(m, e, jnp.zeros_like(e))
    total = jnp.sum(e, axis=-1, keepdims=True)
    weights = e / jnp.where(total > 0, total, jnp.ones_like(total))
    return jnp.einsum("...qk,...kd->...qd", weights.astype(v.dtype), v)


def _projection(init: Initializer, key: jax.Array, fan_in: int, shape: tuple[int, ...]
                ) -> jax.Array:
    """A kernel drawn as (fan_in, prod(rest)) (so fans are those of a Dense), then reshaped."""
    return init(key, (fan_in, math.prod(shape) // fan_in), jnp.float32).reshape(shape)


@by_value
def MultiHeadAttention(num_heads: int, head_size: int | None = None, *,
                       out_features: int | None = None, causal: bool = False,
                       use_bias: bool = True, w_init: Initializer | None = None,
                       b_init: Initializer = zeros) -> Layer:
    """Multi-head self-attention (Vaswani et al. 2017, 3.2.2): every head n attends with its
    own projections of the same sequence x, and one output projection mixes the heads.

        head_n = attention(x W_q[n] + b_q[n], x W_k[n] + b_k[n], x W_v[n] + b_v[n])
        y = sum_n head_n W_o[n] + b_o        (= concat_n(head_n) W_o)

    `attention` is `scaled_dot_product_attention` with the mask below.

    Args:
      num_heads: N, the number of heads, >= 1.
      head_size: the size of each head's queries, keys and values; default D / N, which needs N
        to divide the model width D (x's last axis).
      out_features: the output width, default D.
      causal: step t attends only to steps <= t (a decoder); combines with a padding mask.
      use_bias: add the biases (and create them).
      w_init: initializer of the four kernels (drawn with the fans of a Dense), default
        `lecun_normal()`.
      b_init: bias initializer, default zeros.
    Params `{"w_q", "w_k", "w_v": (D, N, head_size), "b_q", "b_k", "b_v": (N, head_size),
    "w_o": (N, head_size, out), "b_o": (out,)}` (Flax's `MultiHeadDotProductAttention` layout).
    x: (batch, T, D) -> y: (batch, T, out); or the pair (x, mask), mask (batch, T) of bool or
    integers, True for a real token: no query attends to a padded token, and the output at a
    padded position is 0 (the recurrent layers' rule).
    """
    owner = "MultiHeadAttention"
    n = checks.positive_int(num_heads, "num_heads", owner)
    size = None if head_size is None else checks.positive_int(head_size, "head_size", owner)
    out = None if out_features is None else checks.positive_int(out_features, "out_features",
                                                                 owner)
    w_init = lecun_normal() if w_init is None else w_init

    def init(key, input_shape):
        time, d = sequence_shape(input_shape, owner)
        if size is None and d % n:
            raise ValueError(f"{owner}: num_heads must divide the model width D = {d} (x's last "
                             f"axis) when head_size is not given, got num_heads={n}. Give "
                             f"head_size, or a num_heads that divides {d}")
        hs, o = d // n if size is None else size, d if out is None else out
        keys = jax.random.split(key, 8)
        params = {f"w_{c}": _projection(w_init, k, d, (d, n, hs)) for c, k in zip("qkv", keys)}
        params["w_o"] = _projection(w_init, keys[3], n * hs, (n, hs, o))
        if use_bias:
            params.update({f"b_{c}": b_init(k, (n * hs,), jnp.float32).reshape(n, hs)
                           for c, k in zip("qkv", keys[4:])})
            params["b_o"] = b_init(keys[7], (o,), jnp.float32)
        return params, {}, (time, o)

    def apply(params, state, x, *, key=None, train=False):
        x, pad = split_mask(x, owner)
        check_sequence(x, pad, params["w_q"].shape[0], owner)
        t = x.shape[1]

        def heads(c):  # (batch, N, T, head_size)
            y = jnp.einsum("btd,dnh->bnth", x, params[f"w_{c}"])
            return y + jnp.broadcast_to(params[f"b_{c}"][:, None, :], y.shape) if use_bias else y

        mask = None
        if pad is not None:
            pad = jnp.asarray(pad).astype(bool)
            mask = jnp.broadcast_to(pad[:, None, None, :], (x.shape[0], 1, t, t))
        if causal:
            tril = jnp.broadcast_to(jnp.tril(jnp.ones((t, t), bool)), (x.shape[0], 1, t, t))
            mask = tril if mask is None else mask & tril
        a = scaled_dot_product_attention(heads("q"), heads("k"), heads("v"), mask)
        y = jnp.einsum("bnth,nho->bto", a, params["w_o"])
        if use_bias:
            y = y + jnp.broadcast_to(params["b_o"], y.shape)
        if pad is not None:
            y = jnp.where(pad[..., None], y, jnp.zeros_like(y))
        return y, state

    return Layer(init, apply, "multi_head_attention")


__all__ = ["scaled_dot_product_attention", "MultiHeadAttention"]
