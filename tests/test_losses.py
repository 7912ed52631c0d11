"""`jaxdl.losses` vs NumPy float64 formulas, optax, closed-form gradients and the worked example."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import standard_promotion

from jaxdl import losses

RNG = np.random.default_rng(0)


def _np_log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


# --- quadratic costs ---------------------------------------------------------------------------

def test_squared_error_reproduces_the_worked_example_e_total(x64):
    out = jnp.array([0.75136507, 0.772928465], jnp.float64)
    tgt = jnp.array([0.01, 0.99], jnp.float64)
    e_total = losses.squared_error(out, tgt)
    assert e_total.dtype == jnp.float64
    assert abs(float(e_total) - 0.298371109) < 1e-8
    # the same as one example with two outputs
    assert abs(float(losses.squared_error(out[None], tgt[None])) - 0.298371109) < 1e-8
    np.testing.assert_allclose(losses.squared_error(out, tgt, reduction="none"),
                               [0.274811083, 0.023560026], atol=1e-8)


def test_mse_is_the_half_m_quadratic_cost():
    a = RNG.normal(size=(5, 3))
    y = RNG.normal(size=(5, 3))
    ref = np.sum((y - a) ** 2) / (2 * 5)
    got = jax.jit(losses.mse)(jnp.asarray(a, jnp.float32), jnp.asarray(y, jnp.float32))
    np.testing.assert_allclose(got, ref, rtol=1e-5)
    np.testing.assert_allclose(losses.mse(a.astype(np.float32), y.astype(np.float32),
                                          reduction="none"),
                               0.5 * np.sum((y - a) ** 2, axis=1), rtol=1e-5)
    np.testing.assert_allclose(losses.mse(a.astype(np.float32), y.astype(np.float32),
                                          reduction="sum"), 5 * ref, rtol=1e-5)
    with standard_promotion():
        ref_optax = jnp.mean(jnp.sum(optax.losses.l2_loss(a, y), axis=1))
    np.testing.assert_allclose(got, ref_optax, rtol=1e-5)


def test_squared_error_mean_equals_mse_and_sums_non_batch_axes():
    a = jnp.asarray(RNG.normal(size=(4, 2, 3)), jnp.float32)
    y = jnp.asarray(RNG.normal(size=(4, 2, 3)), jnp.float32)
    np.testing.assert_allclose(losses.squared_error(a, y, reduction="mean"), losses.mse(a, y),
                               rtol=1e-6)
    np.testing.assert_allclose(losses.squared_error(a, y),
                               0.5 * np.sum((np.asarray(y, np.float64) - np.asarray(a)) ** 2),
                               rtol=1e-5)


def test_targets_of_another_shape_are_an_error_naming_both_shapes():
    with pytest.raises(ValueError, match=r"mse: targets .*\(4, 3\).*\(4, 1\)"):
        losses.mse(jnp.zeros((4, 3)), jnp.zeros((4, 1)))
    bce_msg = r"binary_cross_entropy_with_logits: targets .*\(4,\).*\(4, 1\)"
    with pytest.raises(ValueError, match=bce_msg):
        losses.binary_cross_entropy_with_logits(jnp.zeros((4,)), jnp.zeros((4, 1)))


def test_unknown_reduction_is_an_error():
    with pytest.raises(ValueError, match=r"mse: reduction must be one of .*'avg'"):
        losses.mse(jnp.zeros((2, 2)), jnp.zeros((2, 2)), reduction="avg")


# --- binary cross-entropy ------------------------------------------------------------------------

def test_binary_cross_entropy_matches_numpy_and_optax():
    z = RNG.normal(size=(6, 3)) * 3
    t = RNG.integers(0, 2, size=(6, 3)).astype(np.float64)
    p = 1 / (1 + np.exp(-z))
    ref_elem = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    ref = ref_elem.sum(1).mean()
    got_p = losses.binary_cross_entropy(jnp.asarray(p, jnp.float32), jnp.asarray(t, jnp.float32))
    got_z = jax.jit(losses.binary_cross_entropy_with_logits)(jnp.asarray(z, jnp.float32),
                                                             jnp.asarray(t, jnp.float32))
    np.testing.assert_allclose(got_p, ref, rtol=1e-4)
    np.testing.assert_allclose(got_z, ref, rtol=1e-5)
    with standard_promotion():
        ref_optax = optax.losses.sigmoid_binary_cross_entropy(jnp.asarray(z, jnp.float32),
                                                              jnp.asarray(t, jnp.float32))
    np.testing.assert_allclose(
        losses.binary_cross_entropy_with_logits(jnp.asarray(z, jnp.float32),
                                                jnp.asarray(t, jnp.float32), reduction="none"),
        np.asarray(ref_optax).sum(1), rtol=1e-5)


def test_binary_cross_entropy_clips_saturated_probabilities():
    p = jnp.array([0.0, 1.0, 0.0, 1.0])
    t = jnp.array([1.0, 0.0, 0.0, 1.0])
    per = losses.binary_cross_entropy(p, t, eps=1e-7, reduction="none")
    assert np.all(np.isfinite(per))
    # 1 - eps rounds to the float32 grid
    np.testing.assert_allclose(per[1], -np.log(1 - np.float64(np.float32(1 - 1e-7))), rtol=1e-5)
    np.testing.assert_allclose(per[0], -np.log(1e-7), rtol=1e-5)
    np.testing.assert_allclose(per[2:], 0.0, atol=1e-6)
    with pytest.raises(ValueError, match="binary_cross_entropy: eps"):
        losses.binary_cross_entropy(p, t, eps=-1.0)


def test_bce_with_logits_is_finite_and_exact_at_extreme_logits():
    z = jnp.array([1e4, -1e4, 1e4, -1e4, 0.0])
    t = jnp.array([1.0, 1.0, 0.0, 0.0, 1.0])
    per = losses.binary_cross_entropy_with_logits(z, t, reduction="none")
    np.testing.assert_allclose(per, [0.0, 1e4, 1e4, 0.0, np.log(2.0)], rtol=1e-6)
    grad = jax.grad(lambda z: losses.binary_cross_entropy_with_logits(z, t, reduction="sum"))(z)
    assert np.all(np.isfinite(grad))


def test_bce_with_logits_gradient_is_sigmoid_minus_target():
    z = jnp.asarray(RNG.normal(size=(8,)) * 4, jnp.float32)
    t = jnp.asarray(RNG.uniform(size=(8,)), jnp.float32)
    grad = jax.jit(jax.grad(losses.binary_cross_entropy_with_logits))(z, t)
    np.testing.assert_allclose(grad, (jax.nn.sigmoid(z) - t) / 8, rtol=1e-5, atol=1e-7)


# --- softmax cross-entropy -----------------------------------------------------------------------

def test_softmax_cross_entropy_integer_labels_match_numpy_and_optax():
    z = RNG.normal(size=(7, 5)) * 2
    y = RNG.integers(0, 5, size=(7,))
    ref = -_np_log_softmax(z)[np.arange(7), y]
    zf, yi = jnp.asarray(z, jnp.float32), jnp.asarray(y, jnp.int32)
    np.testing.assert_allclose(losses.softmax_cross_entropy(zf, yi, reduction="none"), ref,
                               rtol=1e-5)
    np.testing.assert_allclose(jax.jit(losses.softmax_cross_entropy)(zf, yi), ref.mean(),
                               rtol=1e-5)
    np.testing.assert_allclose(losses.softmax_cross_entropy(zf, yi, reduction="sum"), ref.sum(),
                               rtol=1e-5)
    with standard_promotion():
        ref_optax = optax.losses.softmax_cross_entropy_with_integer_labels(zf, yi)
    np.testing.assert_allclose(losses.softmax_cross_entropy(zf, yi, reduction="none"), ref_optax,
                               rtol=1e-5)


def test_softmax_cross_entropy_one_hot_and_probabilities_match_optax():
    z = jnp.asarray(RNG.normal(size=(4, 3, 6)), jnp.float32)
    y = jnp.asarray(RNG.integers(0, 6, size=(4, 3)), jnp.int32)
    one_hot = jax.nn.one_hot(y, 6, dtype=jnp.float32)
    probs = jax.nn.softmax(jnp.asarray(RNG.normal(size=(4, 3, 6)), jnp.float32))
    with standard_promotion():
        ref_hot = optax.losses.softmax_cross_entropy(z, one_hot)
        ref_probs = optax.losses.softmax_cross_entropy(z, probs)
    assert losses.softmax_cross_entropy(z, y, reduction="none").shape == (4, 3)
    np.testing.assert_allclose(losses.softmax_cross_entropy(z, one_hot, reduction="none"),
                               ref_hot, rtol=1e-5)
    np.testing.assert_allclose(losses.softmax_cross_entropy(z, y, reduction="none"), ref_hot,
                               rtol=1e-5)
    np.testing.assert_allclose(losses.softmax_cross_entropy(z, probs), np.mean(ref_probs),
                               rtol=1e-5)


def test_softmax_cross_entropy_is_finite_at_extreme_logits():
    z = jnp.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]])
    per = losses.softmax_cross_entropy(z, jnp.array([0, 0]), reduction="none")
    np.testing.assert_allclose(per, [0.0, 2e4], rtol=1e-6)
    grad = jax.grad(losses.softmax_cross_entropy)(z, jnp.array([0, 0]))
    assert np.all(np.isfinite(grad))


def test_softmax_cross_entropy_gradient_is_softmax_minus_one_hot():
    z = jnp.asarray(RNG.normal(size=(5, 4)), jnp.float32)
    y = jnp.array([0, 3, 1, 1, 2])
    grad = jax.jit(jax.grad(lambda z: losses.softmax_cross_entropy(z, y, reduction="sum")))(z)
    np.testing.assert_allclose(grad, jax.nn.softmax(z) - jax.nn.one_hot(y, 4), atol=1e-6)


def test_softmax_cross_entropy_bad_label_shape_names_labels_and_both_shapes():
    z = jnp.zeros((4, 3))
    msg = r"softmax_cross_entropy: labels .*\(4,\).*\(4, 3\).*\(5,\)"
    with pytest.raises(ValueError, match=msg):
        losses.softmax_cross_entropy(z, jnp.zeros((5,), jnp.int32))
    with pytest.raises(ValueError, match=r"softmax_cross_entropy: labels .*\(4, 1\)"):
        losses.softmax_cross_entropy(z, jnp.zeros((4, 1), jnp.int32))
    with pytest.raises(ValueError, match=r"softmax_cross_entropy: labels .*float32"):
        losses.softmax_cross_entropy(z, jnp.zeros((4,), jnp.float32))


def test_softmax_cross_entropy_rejects_out_of_range_labels():
    z = jnp.zeros((2, 3))
    with pytest.raises(ValueError, match=r"softmax_cross_entropy: labels .*\[0, 3\).*\[0, 3\]"):
        losses.softmax_cross_entropy(z, jnp.array([0, 3]))
    with pytest.raises(ValueError, match=r"\[-1, 0\]"):
        losses.softmax_cross_entropy(z, jnp.array([-1, 0]))
    # traced labels cannot be checked: the bad example becomes NaN, never a silent 0
    per = jax.jit(lambda z, y: losses.softmax_cross_entropy(z, y, reduction="none"))(
        z, jnp.array([1, 3]))
    np.testing.assert_allclose(per[0], np.log(3.0), rtol=1e-6)
    assert np.isnan(per[1])


# --- center loss ---------------------------------------------------------------------------------

def _np_center_data():
    x = RNG.normal(size=(6, 3))
    y = np.array([0, 2, 0, 2, 2, 0])  # class 1 absent
    c = RNG.normal(size=(3, 3))
    return x, y, c


def test_center_loss_matches_numpy_loop_and_paper_sum():
    x, y, c = _np_center_data()
    per = np.array([0.5 * np.sum((x[i] - c[y[i]]) ** 2) for i in range(6)])
    args = (jnp.asarray(x, jnp.float32), jnp.asarray(y), jnp.asarray(c, jnp.float32))
    np.testing.assert_allclose(losses.center_loss(*args, reduction="none"), per, rtol=1e-5)
    np.testing.assert_allclose(jax.jit(losses.center_loss)(*args), per.mean(), rtol=1e-5)
    np.testing.assert_allclose(losses.center_loss(*args, reduction="sum"), per.sum(), rtol=1e-5)


def test_center_loss_gradient_is_x_minus_center_and_centers_get_none():
    x, y, c = _np_center_data()
    args = (jnp.asarray(x, jnp.float32), jnp.asarray(y), jnp.asarray(c, jnp.float32))
    gx, gc = jax.grad(lambda x, c: losses.center_loss(x, args[1], c, reduction="sum"),
                      argnums=(0, 1))(args[0], args[2])
    np.testing.assert_allclose(gx, x - c[y], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(gc, np.zeros_like(c))


def test_update_centers_matches_numpy_loop():
    x, y, c = _np_center_data()
    alpha = 0.3
    new = c.copy()
    for j in range(3):
        num, count = np.zeros(3), 0
        for i in range(6):
            if y[i] == j:
                num += c[j] - x[i]
                count += 1
        new[j] = c[j] - alpha * num / (1 + count)
    got = jax.jit(losses.update_centers)(jnp.asarray(c, jnp.float32), jnp.asarray(x, jnp.float32),
                                         jnp.asarray(y), alpha)
    np.testing.assert_allclose(got, new, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got[1], jnp.asarray(c[1], jnp.float32))  # absent class stays
    with pytest.raises(ValueError, match="update_centers: alpha"):
        losses.update_centers(jnp.asarray(c), jnp.asarray(x), jnp.asarray(y), alpha=1.5)


def test_center_loss_rejects_bad_shapes_and_labels():
    x, c = jnp.zeros((4, 3)), jnp.zeros((2, 3))
    with pytest.raises(ValueError, match=r"center_loss: features .*\(4, 3\).*\(2, 5\)"):
        losses.center_loss(x, jnp.zeros((4,), jnp.int32), jnp.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"center_loss: labels .*\(4,\).*\(3,\)"):
        losses.center_loss(x, jnp.zeros((3,), jnp.int32), c)
    with pytest.raises(ValueError, match=r"update_centers: labels .*\[0, 2\)"):
        losses.update_centers(c, x, jnp.array([0, 1, 2, 0]))


# --- penalties and accuracy ----------------------------------------------------------------------

def _params():
    return {
        "0_dense": {"w": jnp.asarray(RNG.normal(size=(3, 4)), jnp.float32),
                    "b": jnp.asarray(RNG.normal(size=(4,)), jnp.float32)},
        "1_batchnorm": {"scale": jnp.full((4,), 2.0), "bias": jnp.ones((4,))},
        "2_weightnorm": {"v": jnp.asarray(RNG.normal(size=(4, 2)), jnp.bfloat16),
                         "g": jnp.full((2,), 3.0)},
    }


def test_penalties_count_only_weight_leaves():
    p = _params()
    ws = [np.asarray(p["0_dense"]["w"], np.float64),
          np.asarray(p["2_weightnorm"]["v"].astype(jnp.float32), np.float64)]
    lam, n = 0.1, 50
    np.testing.assert_allclose(losses.l1_penalty(p, lam, n),
                               lam / n * sum(np.abs(w).sum() for w in ws), rtol=1e-5)
    np.testing.assert_allclose(losses.l2_penalty(p, lam, n),
                               lam / (2 * n) * sum((w ** 2).sum() for w in ws), rtol=1e-5)
    every = [np.asarray(leaf.astype(jnp.float32), np.float64) for leaf in jax.tree.leaves(p)]
    np.testing.assert_allclose(losses.l2_penalty(p, lam, n, weights_only=False),
                               lam / (2 * n) * sum((w ** 2).sum() for w in every), rtol=1e-5)
    assert float(losses.l1_penalty({"b": jnp.ones(3)}, lam, n)) == 0.0


def test_l2_penalty_gradient_is_weight_decay_and_lam_may_be_traced():
    p = {"w": jnp.asarray(RNG.normal(size=(3, 2)), jnp.float32), "b": jnp.ones((2,))}
    g = jax.grad(losses.l2_penalty)(p, 0.5, 10)
    np.testing.assert_allclose(g["w"], 0.5 / 10 * p["w"], rtol=1e-6)
    np.testing.assert_array_equal(g["b"], np.zeros(2))
    lams = jnp.array([0.0, 0.1, 1.0])
    swept = jax.vmap(lambda lam: losses.l1_penalty(p, lam, 10))(lams)
    np.testing.assert_allclose(swept, np.asarray(lams) / 10 * np.abs(np.asarray(p["w"])).sum(),
                               rtol=1e-6)


def test_penalties_reject_negative_lambda_and_zero_examples():
    with pytest.raises(ValueError, match=r"l2_penalty: lam .*-0.1"):
        losses.l2_penalty({"w": jnp.ones(2)}, -0.1, 10)
    with pytest.raises(ValueError, match=r"l1_penalty: n .*0"):
        losses.l1_penalty({"w": jnp.ones(2)}, 0.1, 0)


def test_accuracy_with_integer_and_one_hot_labels():
    out = jnp.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4], [0.5, 0.4, 0.1]])
    y = jnp.array([0, 1, 0, 0])
    assert float(losses.accuracy(out, y)) == 0.75
    assert float(jax.jit(losses.accuracy)(out, jax.nn.one_hot(y, 3))) == 0.75
    with pytest.raises(ValueError, match=r"accuracy: labels .*\(4,\).*\(4, 3\).*\(3,\)"):
        losses.accuracy(out, jnp.zeros((3,), jnp.int32))


# --- dtypes --------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_losses_keep_the_input_dtype(dtype):
    z = jnp.asarray(RNG.normal(size=(4, 3)), dtype)
    y = jnp.array([0, 1, 2, 0])
    t = jax.nn.one_hot(y, 3, dtype=dtype)
    for value in (losses.mse(z, t), losses.squared_error(z, t),
                  losses.binary_cross_entropy(jax.nn.sigmoid(z), t),
                  losses.binary_cross_entropy_with_logits(z, t),
                  losses.softmax_cross_entropy(z, y), losses.softmax_cross_entropy(z, t)):
        assert value.dtype == dtype and np.isfinite(float(value))


def test_losses_keep_float64_under_x64(x64):
    z = jnp.asarray(RNG.normal(size=(4, 3)), jnp.float64)
    y = jnp.array([0, 1, 2, 0])
    ref = -_np_log_softmax(np.asarray(z))[np.arange(4), np.asarray(y)].mean()
    got = losses.softmax_cross_entropy(z, y)
    assert got.dtype == jnp.float64
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    assert losses.l2_penalty({"w": z}, 0.1, 4).dtype == jnp.float64
    # float32 targets/labels are cast explicitly: no strict-promotion error
    assert losses.mse(z, jnp.zeros((4, 3), jnp.float32)).dtype == jnp.float64
