"""scaled_dot_product_attention against jax.nn.dot_product_attention (same inputs, its own causal
and padding masks), and MultiHeadAttention against a float64 NumPy implementation of Vaswani et
al. (2017), 3.2.2."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.nn import MultiHeadAttention, scaled_dot_product_attention

B, N, T, D = 2, 2, 5, 4
VALID = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)  # key padding: lengths 3 and 5


def standard():
    """jax.nn's implementation relies on JAX's default promotion (the suite makes it strict)."""
    return jax.numpy_dtype_promotion("standard"), jax.numpy_rank_promotion("allow")


@pytest.fixture(scope="module")
def qkv():
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    return tuple(jax.random.normal(k, (B, N, T, D)) for k in (k1, k2, k3))


@pytest.mark.parametrize("padding, causal", [(False, False), (True, False), (False, True),
                                             (True, True)])
def test_attention_matches_jax_nn_dot_product_attention(qkv, padding, causal):
    q, k, v = qkv
    mask = jnp.ones((B, 1, 1, T), bool)
    if padding:
        mask = mask & jnp.asarray(VALID)[:, None, None, :]
    if causal:
        mask = mask & jnp.tril(jnp.ones((T, T), bool))[None, None]
    y = scaled_dot_product_attention(q, k, v, mask if padding or causal else None)
    a, b = standard()
    with a, b:
        ref = jax.nn.dot_product_attention(
            *(jnp.swapaxes(t, 1, 2) for t in (q, k, v)),  # (B, T, N, d): jax.nn's layout
            mask=jnp.asarray(VALID)[:, None, None, :] if padding else None, is_causal=causal)
    np.testing.assert_allclose(y, jnp.swapaxes(ref, 1, 2), rtol=1e-5, atol=1e-6)


def test_a_query_with_no_allowed_key_gets_zero_and_finite_gradients(qkv):
    q, k, v = qkv
    mask = jnp.ones((B, N, T, T), bool).at[0, 1, 2].set(False)  # query 2 of head 1 sees nothing
    y = scaled_dot_product_attention(q, k, v, mask)
    np.testing.assert_array_equal(y[0, 1, 2], 0.0)
    np.testing.assert_allclose(y[1], scaled_dot_product_attention(q[1], k[1], v[1]), rtol=1e-6)
    g = jax.grad(lambda q_: jnp.sum(scaled_dot_product_attention(q_, k, v, mask) ** 2))(q)
    assert np.isfinite(g).all()


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_logits_of_plus_minus_1e4_stay_finite_and_pick_the_best_key(dtype):
    """q.k / sqrt(2) = 1e4, -1e4, 0 for the three keys: the weights are (1, 0, 0) (a softmax
    without the max subtracted overflows exp(1e4) = inf and gives NaN)."""
    s = float(np.sqrt(1e4 * np.sqrt(2.0)))
    q = jnp.array([[[s, 0.0]]], dtype)
    k = jnp.array([[[s, 0.0], [-s, 0.0], [0.0, s]]], dtype)
    v = jnp.array([[[1.0, 2.0], [30.0, 40.0], [500.0, 600.0]]], dtype)
    y = scaled_dot_product_attention(q, k, v)
    assert y.dtype == jnp.dtype(dtype)
    np.testing.assert_array_equal(np.asarray(y, np.float32), [[[1.0, 2.0]]])
    g = jax.grad(lambda q_: jnp.sum(scaled_dot_product_attention(q_, k, v).astype(jnp.float32))
                 )(q)
    assert np.isfinite(np.asarray(g, np.float32)).all()


def mha_reference(p, x, valid=None, causal=False):
    """Vaswani et al. 3.2.2 in float64: per-head projections, softmax(q k^T / sqrt(d)) v with
    disallowed keys at -inf, heads mixed by W_o; padded positions output 0."""
    p = {k: np.asarray(v, np.float64) for k, v in p.items()}
    x = np.asarray(x, np.float64)
    n, t, _ = x.shape
    q, k, v = (np.einsum("btd,dnh->bnth", x, p[f"w_{c}"]) + p[f"b_{c}"][None, :, None, :]
               for c in "qkv")
    logits = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    allowed = np.ones((n, 1, t, t), bool)
    if valid is not None:
        allowed &= valid[:, None, None, :]
    if causal:
        allowed &= np.tril(np.ones((t, t), bool))
    logits = np.where(allowed, logits, -np.inf)
    top = np.max(logits, -1, keepdims=True)
    e = np.exp(logits - np.where(np.isfinite(top), top, 0.0))
    w = e / np.maximum(e.sum(-1, keepdims=True), 1e-300)
    y = np.einsum("bnth,nho->bto", w @ v, p["w_o"]) + p["b_o"]
    return y if valid is None else np.where(valid[..., None], y, 0.0)


@pytest.mark.parametrize("layer, causal", [
    (MultiHeadAttention(2), False),  # 2 heads of width D / 2 = 2
    (MultiHeadAttention(3, 2, out_features=5, causal=True), True)],  # 3 heads of 2 on D = 4
    ids=["2_heads", "3_heads_causal"])
def test_multi_head_attention_matches_numpy_float64(layer, causal):
    """With and without a padding mask; biases random so that they are tested."""
    x = jax.random.normal(jax.random.key(1), (B, T, D))
    params, _, out = layer.init(jax.random.key(2), (T, D))
    keys = iter(jax.random.split(jax.random.key(3), 4))
    params = {n: jax.random.normal(next(keys), a.shape) if n.startswith("b") else a
              for n, a in params.items()}
    apply = jax.jit(lambda p, x_: layer.apply(p, {}, x_)[0])
    y, y_pad = apply(params, x), apply(params, (x, jnp.asarray(VALID)))
    assert y.shape == (B, *out)
    np.testing.assert_allclose(y, mha_reference(params, x, causal=causal), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y_pad, mha_reference(params, x, VALID, causal), rtol=1e-5,
                               atol=1e-5)
