"""jaxdl.activations against jax.nn, NumPy float64 and closed forms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxdl import activations as A

GRID = np.linspace(-6.0, 6.0, 49).astype(np.float32)  # includes 0


def _f64(tree):
    return jax.tree.map(lambda p: jnp.asarray(p, jnp.float64), tree)


@pytest.mark.parametrize("ours, ref", [
    (A.sigmoid, jax.nn.sigmoid),
    (A.tanh, jnp.tanh),
    (A.relu, jax.nn.relu),
    (lambda x: A.leaky_relu(x, 0.1), lambda x: jax.nn.leaky_relu(x, 0.1)),
    (A.leaky_relu, jax.nn.leaky_relu),
    (A.softplus, jax.nn.softplus),
    (A.elu, jax.nn.elu),
    (lambda x: A.elu(x, 0.5), lambda x: jax.nn.elu(x, 0.5)),
    (A.softmax, jax.nn.softmax),
    (A.log_softmax, jax.nn.log_softmax),
    (lambda x: A.softmax(x, axis=0), lambda x: jax.nn.softmax(x, axis=0)),
])
def test_activation_matches_jax_nn(ours, ref):
    x = jnp.asarray(GRID.reshape(7, 7))
    np.testing.assert_allclose(ours(x), ref(x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(jax.jit(ours)(x), ref(x), rtol=1e-6, atol=1e-7)


def test_step_and_prelu_match_numpy():
    x = GRID.astype(np.float64)
    np.testing.assert_array_equal(A.step(jnp.asarray(GRID)), (x > 0).astype(np.float32))
    assert A.step(jnp.asarray(GRID)).dtype == jnp.float32
    a = np.array([0.1, 0.2, 0.3], np.float32)
    xm = GRID[:48].reshape(16, 3)
    expected = np.where(xm >= 0, xm, a[None] * xm)
    np.testing.assert_allclose(A.prelu(jnp.asarray(xm), jnp.asarray(a)), expected, rtol=1e-6)


def test_softmax_of_3_1_minus3_matches_numpy():
    z = np.array([3.0, 1.0, -3.0])
    expected = np.exp(z) / np.exp(z).sum()  # ~ [0.8789, 0.1189, 0.0022]
    np.testing.assert_allclose(A.softmax(jnp.asarray(z, jnp.float32)), expected, rtol=1e-6)
    np.testing.assert_allclose(A.log_softmax(jnp.asarray(z, jnp.float32)), np.log(expected),
                               rtol=1e-6)


def test_stable_functions_are_finite_with_correct_limits_at_pm_1000():
    x = jnp.array([-1000.0, 1000.0])
    np.testing.assert_array_equal(A.sigmoid(x), [0.0, 1.0])
    np.testing.assert_allclose(A.softplus(x), [0.0, 1000.0])
    np.testing.assert_allclose(A.softmax(x), [0.0, 1.0])
    np.testing.assert_allclose(A.log_softmax(x), [-2000.0, 0.0])
    np.testing.assert_allclose(A.softmax(jnp.array([1000.0, 1000.0])), [0.5, 0.5])
    for fn in (A.sigmoid, A.softplus):
        g = jax.vmap(jax.grad(fn))(x)
        assert np.all(np.isfinite(g))
    g = jax.grad(lambda v: A.log_softmax(v)[0])(x)
    np.testing.assert_allclose(g, [1.0, -1.0])  # d log p_0 = e_0 - softmax


@pytest.mark.parametrize("fn, grad_fn", [
    (A.sigmoid, A.sigmoid_grad),
    (A.tanh, A.tanh_grad),
    (A.relu, A.relu_grad),
    (A.leaky_relu, A.leaky_relu_grad),
    (lambda x: A.leaky_relu(x, 0.2), lambda x: A.leaky_relu_grad(x, 0.2)),
    (A.softplus, A.softplus_grad),
    (A.elu, A.elu_grad),
    (lambda x: A.elu(x, 0.7), lambda x: A.elu_grad(x, 0.7)),
])
def test_derivative_matches_jax_grad_on_a_grid(fn, grad_fn):
    x = jnp.asarray(GRID)
    np.testing.assert_allclose(grad_fn(x), jax.vmap(jax.grad(fn))(x), rtol=1e-6, atol=1e-6)


def test_sigmoid_derivative_peaks_at_quarter_and_tanh_derivative_at_one():
    x = jnp.asarray(GRID)
    s, t = A.sigmoid_grad(x), A.tanh_grad(x)
    assert float(A.sigmoid_grad(jnp.float32(0.0))) == 0.25 and float(jnp.max(s)) == 0.25
    assert float(A.tanh_grad(jnp.float32(0.0))) == 1.0 and float(jnp.max(t)) == 1.0
    assert float(s[0]) < 0.01 and float(t[0]) < 1e-4  # saturated at |x| = 6


def test_tanh_derivative_is_not_the_printed_minus_tanh_squared():
    x = jnp.asarray(GRID)
    printed = -jnp.tanh(x) ** 2  # the fundamentals' table (000, 3.4.3)
    true = jax.vmap(jax.grad(jnp.tanh))(x)
    np.testing.assert_allclose(A.tanh_grad(x), true, rtol=1e-6, atol=1e-6)
    assert float(jnp.max(jnp.abs(printed - true))) > 0.99  # off by exactly 1 everywhere


@pytest.mark.parametrize("layer, fn", [
    (A.Sigmoid(), jax.nn.sigmoid), (A.Tanh(), jnp.tanh), (A.Relu(), jax.nn.relu),
    (A.LeakyRelu(0.2), lambda x: jax.nn.leaky_relu(x, 0.2)), (A.Softplus(), jax.nn.softplus),
    (A.Softmax(), jax.nn.softmax), (A.Elu(0.5), lambda x: jax.nn.elu(x, 0.5)),
    (A.Step(), lambda x: (x > 0).astype(x.dtype)),
])
def test_activation_layer_applies_its_function_and_keeps_shape(key, layer, fn):
    params, state, out = layer.init(key, (3, 4))
    assert params == {} and state == {} and out == (3, 4)
    x = jax.random.normal(key, (2, 3, 4))
    y, new_state = jax.jit(layer.apply)(params, state, x)
    np.testing.assert_allclose(y, fn(x), rtol=1e-6, atol=1e-7)
    assert new_state == {}
    xb = x.astype(jnp.bfloat16)
    assert layer.apply(params, state, xb)[0].dtype == jnp.bfloat16


def test_softmax_layer_axis_is_a_per_example_axis(key):
    layer = A.Softmax(axis=0)
    params, state, _ = layer.init(key, (3, 4))
    x = jax.random.normal(key, (2, 3, 4))
    y, _ = layer.apply(params, state, x)
    np.testing.assert_allclose(y, jax.nn.softmax(x, axis=1), rtol=1e-6)
    with pytest.raises(ValueError, match="Softmax: axis 2"):
        A.Softmax(axis=2).init(key, (3, 4))


def test_layer_names():
    names = [A.Relu().name, A.LeakyRelu().name, A.PReLU().name, A.RReLU().name,
             A.Maxout(2, 3).name, A.Sigmoid().name, A.Softmax().name, A.Step().name]
    assert names == ["relu", "leaky_relu", "prelu", "rrelu", "maxout", "sigmoid", "softmax", "step"]


def test_prelu_gradient_flows_to_a(key):
    layer = A.PReLU(init=0.25)
    params, state, _ = layer.init(key, (3,))
    np.testing.assert_array_equal(params["a"], [0.25, 0.25, 0.25])
    x = np.array([[-1.0, 2.0, -3.0], [-0.5, -1.0, 4.0]], np.float32)
    y, _ = layer.apply(params, state, jnp.asarray(x))
    np.testing.assert_allclose(y, np.where(x >= 0, x, 0.25 * x))
    grad = jax.grad(lambda p: jnp.sum(layer.apply(p, state, jnp.asarray(x))[0]))(params)
    np.testing.assert_allclose(grad["a"], np.where(x < 0, x, 0.0).sum(0))  # dy/da = x for x < 0


def test_prelu_and_maxout_gradients_check(key, x64):
    x = jax.random.normal(key, (4, 3), jnp.float64)
    prelu = A.PReLU(0.3)
    p, s, _ = prelu.init(key, (3,))
    f = jax.jit(lambda p, x: prelu.apply(p, s, x)[0])
    check_grads(f, (_f64(p), x), order=2, modes=["rev"])
    maxout = A.Maxout(2, 3)
    p, s, _ = maxout.init(key, (3,))
    f = jax.jit(lambda p, x: maxout.apply(p, s, x)[0])
    check_grads(f, (_f64(p), x), order=1, modes=["rev"])
    check_grads(jax.jit(A.log_softmax), (x,), order=2, modes=["rev"])
    check_grads(jax.jit(A.softmax), (x,), order=2, modes=["rev"])


def test_rrelu_train_slopes_within_bounds_and_eval_uses_mean_slope(key):
    layer = A.RReLU(lower=0.1, upper=0.3)
    params, state, _ = layer.init(key, (50,))
    x = -jnp.ones((20, 50))
    y, _ = jax.jit(lambda x, k: layer.apply(params, state, x, key=k, train=True))(x, key)
    slopes = np.asarray(y / x)
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3
    assert slopes.std() > 0.04  # ~ (0.3 - 0.1) / sqrt(12) = 0.058: one slope per element
    assert abs(slopes.mean() - 0.2) < 0.01
    y_eval, _ = layer.apply(params, state, x)
    np.testing.assert_allclose(y_eval, -0.2 * np.ones((20, 50)), rtol=1e-6)
    xp = jnp.abs(jax.random.normal(key, (4, 50)))
    np.testing.assert_array_equal(layer.apply(params, state, xp, key=key, train=True)[0], xp)


def test_rrelu_in_train_without_key_raises(key):
    layer = A.RReLU()
    params, state, _ = layer.init(key, (3,))
    with pytest.raises(ValueError, match="RReLU: key"):
        layer.apply(params, state, jnp.ones((2, 3)), train=True)


def test_maxout_matches_numpy(key):
    layer = A.Maxout(features=3, pieces=4)
    params, state, out = layer.init(key, (5,))
    assert out == (3,) and params["w"].shape == (5, 12) and params["b"].shape == (12,)
    params = {"w": params["w"], "b": jax.random.normal(key, (12,))}
    x = np.asarray(jax.random.normal(jax.random.fold_in(key, 1), (6, 5)), np.float64)
    w = np.asarray(params["w"], np.float64).reshape(5, 3, 4)
    b = np.asarray(params["b"], np.float64).reshape(3, 4)
    expected = np.empty((6, 3))
    for n in range(6):
        for i in range(3):
            expected[n, i] = max(x[n] @ w[:, i, j] + b[i, j] for j in range(4))
    y, _ = jax.jit(layer.apply)(params, state, jnp.asarray(x, jnp.float32))
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("build, match", [
    (lambda: A.RReLU(lower=0.5, upper=0.1), "RReLU: lower must be <= upper, got lower=0.5"),
    (lambda: A.RReLU(lower=-0.1, upper=0.1), "RReLU: lower must be in"),
    (lambda: A.Maxout(3, 0), "Maxout: pieces must be >= 1, got 0"),
    (lambda: A.Maxout(0, 2), "Maxout: features must be >= 1, got 0"),
    (lambda: A.LeakyRelu(-1.0), "LeakyRelu: negative_slope"),
    (lambda: A.Elu(-1.0), "Elu: alpha"),
])
def test_bad_hyperparameters_raise_naming_layer_and_value(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_rrelu_bounds_may_be_traced(key):
    def eval_mean(lower, upper):
        layer = A.RReLU(lower, upper)
        return layer.apply({}, {}, -jnp.ones((2,)))[0]

    y = jax.vmap(eval_mean)(jnp.array([0.1, 0.2]), jnp.array([0.3, 0.4]))
    np.testing.assert_allclose(y, [[-0.2, -0.2], [-0.3, -0.3]], rtol=1e-6)
