"""jaxdl.nn.normalization against NumPy float64 formulas and lax."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from jax.test_util import check_grads

from jaxdl.activations import Relu
from jaxdl.nn.dense import Dense
from jaxdl.nn.normalization import BatchNorm, GroupNorm, LayerNorm, LocalResponseNorm, WeightNorm

EPS = 1e-5


def _normal(key, shape, i=0, loc=0.0, scale=1.0):
    return np.asarray(loc + scale * jax.random.normal(jax.random.fold_in(key, i), shape),
                      np.float64)


def _f64(tree):
    return jax.tree.map(lambda p: jnp.asarray(p, jnp.float64), tree)


def _random_affine(key, c):
    return {"scale": jnp.asarray(_normal(key, (c,), 10, 1.0, 0.5), jnp.float32),
            "bias": jnp.asarray(_normal(key, (c,), 11), jnp.float32)}


# ---------------------------------------------------------------- BatchNorm

@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 3, 2)])  # dense and NHWC
def test_batchnorm_train_output_matches_numpy_float64(key, shape):
    layer = BatchNorm()
    _, state, out = layer.init(key, shape[1:])
    assert out == shape[1:]
    params = _random_affine(key, shape[-1])
    x = _normal(key, shape, 0, loc=2.0, scale=3.0)
    axes = tuple(range(len(shape) - 1))
    mu, var = x.mean(axes), x.var(axes)  # biased batch variance, as the BN paper
    scale, bias = np.asarray(params["scale"], np.float64), np.asarray(params["bias"], np.float64)
    expected = scale * (x - mu) / np.sqrt(var + EPS) + bias
    y, _ = jax.jit(lambda p, s, x: layer.apply(p, s, x, train=True))(
        params, state, jnp.asarray(x, jnp.float32))
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    # Before scale and bias: per-channel mean 0 and variance 1.
    unit = {"scale": jnp.ones(shape[-1]), "bias": jnp.zeros(shape[-1])}
    z = np.asarray(layer.apply(unit, state, jnp.asarray(x, jnp.float32), train=True)[0],
                   np.float64)
    np.testing.assert_allclose(z.mean(axes), 0.0, atol=1e-5)
    np.testing.assert_allclose(z.var(axes), 1.0, atol=1e-4)


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 2, 2)])
def test_batchnorm_running_update_uses_unbiased_variance(key, shape):
    layer = BatchNorm(momentum=0.9)
    params, state, _ = layer.init(key, shape[1:])
    np.testing.assert_array_equal(state["mean"], 0.0)
    np.testing.assert_array_equal(state["var"], 1.0)
    axes = tuple(range(len(shape) - 1))
    x1, x2 = _normal(key, shape, 1, 1.0, 2.0), _normal(key, shape, 2, -1.0, 0.5)
    _, s1 = layer.apply(params, state, jnp.asarray(x1, jnp.float32), train=True)
    _, s2 = layer.apply(params, s1, jnp.asarray(x2, jnp.float32), train=True)
    mean1 = 0.9 * 0.0 + 0.1 * x1.mean(axes)
    var1 = 0.9 * 1.0 + 0.1 * x1.var(axes, ddof=1)  # unbiased: m / (m - 1) times the batch var
    np.testing.assert_allclose(s1["mean"], mean1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s1["var"], var1, rtol=1e-5)
    np.testing.assert_allclose(s2["mean"], 0.9 * mean1 + 0.1 * x2.mean(axes), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(s2["var"], 0.9 * var1 + 0.1 * x2.var(axes, ddof=1), rtol=1e-5)
    biased = 0.9 + 0.1 * x1.var(axes)
    assert np.all(np.abs(np.asarray(s1["var"]) - biased) > 1e-3)
    assert s1["var"].dtype == jnp.float32


def test_batchnorm_eval_uses_running_statistics_and_leaves_state_unchanged(key):
    layer = BatchNorm()
    params = _random_affine(key, 3)
    state = {"mean": jnp.array([0.5, -1.0, 2.0]), "var": jnp.array([4.0, 0.25, 1.0])}
    x = _normal(key, (5, 2, 2, 3), 3)
    y, new_state = jax.jit(layer.apply)(params, state, jnp.asarray(x, jnp.float32))
    mean, var = np.asarray(state["mean"], np.float64), np.asarray(state["var"], np.float64)
    expected = (np.asarray(params["scale"], np.float64) * (x - mean) / np.sqrt(var + EPS)
                + np.asarray(params["bias"], np.float64))
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    jax.tree.map(np.testing.assert_array_equal, new_state, state)
    # Batch independence in eval: one example alone gives the same output.
    y1, _ = layer.apply(params, state, jnp.asarray(x[:1], jnp.float32))
    np.testing.assert_allclose(y1, y[:1], rtol=1e-6)


def test_batchnorm_vmap_over_an_ensemble_equals_a_python_loop(key):
    layer = BatchNorm(momentum=0.5)
    params = {"scale": jax.random.normal(key, (3, 2)),
              "bias": jax.random.normal(jax.random.fold_in(key, 1), (3, 2))}
    _, state, _ = layer.init(key, (2,))
    states = jax.tree.map(lambda s: jnp.stack([s, s + 1, s * 2]), state)
    x = jax.random.normal(key, (6, 2))
    ys, new = jax.vmap(lambda p, s: layer.apply(p, s, x, train=True))(params, states)
    for i in range(3):
        pick = lambda t, i=i: jax.tree.map(lambda a: a[i], t)  # noqa: E731
        y, s = layer.apply(pick(params), pick(states), x, train=True)
        np.testing.assert_allclose(ys[i], y, rtol=1e-6, atol=1e-6)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), pick(new), s)


def test_batchnorm_gradients_check(key, x64):
    layer = BatchNorm()
    params, state, _ = layer.init(key, (3,))
    params, state = _f64(_random_affine(key, 3)), _f64(state)
    x = jnp.asarray(_normal(key, (5, 3), 4))
    train = jax.jit(lambda p, x: layer.apply(p, state, x, train=True)[0])
    check_grads(train, (params, x), order=2, modes=["rev"])
    check_grads(jax.jit(lambda p, x: layer.apply(p, state, x)[0]), (params, x), order=1,
                modes=["rev"])


def test_batchnorm_train_with_one_value_per_channel_raises(key):
    layer = BatchNorm()
    params, state, _ = layer.init(key, (3,))
    with pytest.raises(ValueError, match=r"BatchNorm: train=True needs more than one value"):
        layer.apply(params, state, jnp.ones((1, 3)), train=True)


# ---------------------------------------------------------------- GroupNorm / LayerNorm

def _numpy_group_norm(x, groups, scale, bias, eps=EPS):
    n, c = x.shape[0], x.shape[-1]
    g = x.reshape(n, -1, groups, c // groups)  # (batch, spatial, group, channels of the group)
    mu = g.mean(axis=(1, 3), keepdims=True)
    var = g.var(axis=(1, 3), keepdims=True)
    return scale * ((g - mu) / np.sqrt(var + eps)).reshape(x.shape) + bias


@pytest.mark.parametrize("shape, groups", [((2, 3, 3, 6), 3), ((3, 8), 2), ((2, 4, 4), 4)])
def test_groupnorm_matches_numpy_float64(key, shape, groups):
    layer = GroupNorm(groups)
    _, state, out = layer.init(key, shape[1:])
    assert out == shape[1:] and state == {}
    params = _random_affine(key, shape[-1])
    x = _normal(key, shape, 5, 1.0, 2.0)
    expected = _numpy_group_norm(x, groups, np.asarray(params["scale"], np.float64),
                                 np.asarray(params["bias"], np.float64))
    y, _ = jax.jit(layer.apply)(params, state, jnp.asarray(x, jnp.float32))
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_groupnorm_output_does_not_depend_on_batch_size(key):
    layer = GroupNorm(2)
    _, state, _ = layer.init(key, (4, 4, 4))
    params = _random_affine(key, 4)
    x = jnp.asarray(_normal(key, (16, 4, 4, 4), 6, 0.0, 3.0), jnp.float32)
    y16, _ = layer.apply(params, state, x, train=True)
    for i in (0, 7, 15):
        y1, _ = layer.apply(params, state, x[i:i + 1], train=True)
        np.testing.assert_allclose(y1[0], y16[i], rtol=1e-5, atol=1e-6)


def test_layernorm_equals_groupnorm_1_and_normalises_all_per_example_axes(key):
    x = _normal(key, (3, 2, 2, 4), 7, 1.0, 2.0)
    params = _random_affine(key, 4)
    ln, gn = LayerNorm(), GroupNorm(1)
    _, state, _ = ln.init(key, (2, 2, 4))
    y_ln, _ = ln.apply(params, state, jnp.asarray(x, jnp.float32))
    y_gn, _ = gn.apply(params, {}, jnp.asarray(x, jnp.float32))
    np.testing.assert_array_equal(y_ln, y_gn)
    mu = x.mean(axis=(1, 2, 3), keepdims=True)
    var = x.var(axis=(1, 2, 3), keepdims=True)
    expected = (np.asarray(params["scale"], np.float64) * (x - mu) / np.sqrt(var + EPS)
                + np.asarray(params["bias"], np.float64))
    np.testing.assert_allclose(y_ln, expected, rtol=1e-5, atol=1e-5)
    assert ln.name == "layer_norm" and gn.name == "group_norm"


def test_groupnorm_and_layernorm_gradients_check(key, x64):
    x = jnp.asarray(_normal(key, (2, 3, 4), 8))
    params = _f64(_random_affine(key, 4))
    for layer in (GroupNorm(2), LayerNorm()):
        f = jax.jit(lambda p, x, layer=layer: layer.apply(p, {}, x)[0])
        check_grads(f, (params, x), order=2, modes=["rev"])


@pytest.mark.parametrize("layer", [BatchNorm(), GroupNorm(2), LayerNorm(), LocalResponseNorm()])
def test_normalization_preserves_dtype(key, layer, x64):
    params, state, _ = layer.init(key, (3, 4))
    for dtype in (jnp.bfloat16, jnp.float32, jnp.float64):
        x = jax.random.normal(key, (2, 3, 4), dtype)
        assert layer.apply(params, state, x, train=True)[0].dtype == dtype
        assert layer.apply(params, state, x)[0].dtype == dtype


# ---------------------------------------------------------------- WeightNorm

def test_weightnorm_dense_effective_w_is_g_v_over_norm_v(key):
    layer = WeightNorm(Dense(3))
    params, state, out = layer.init(key, (4,))
    assert out == (3,) and set(params) == {"v", "g", "b"} and layer.name == "weight_norm"
    v, g, b = _normal(key, (4, 3), 12), _normal(key, (3,), 13), _normal(key, (3,), 14)
    w = g[None] * v / np.sqrt((v ** 2).sum(axis=0, keepdims=True))
    x = _normal(key, (5, 4), 15)
    p32 = {"v": jnp.asarray(v, jnp.float32), "g": jnp.asarray(g, jnp.float32),
           "b": jnp.asarray(b, jnp.float32)}
    y, _ = jax.jit(layer.apply)(p32, state, jnp.asarray(x, jnp.float32))
    np.testing.assert_allclose(y, x @ w + b, rtol=1e-5, atol=1e-5)


def test_weightnorm_initial_output_equals_wrapped_dense(key):
    dense = Dense(3)
    wn = WeightNorm(dense)
    pd, _, _ = dense.init(key, (4,))
    pw, state, _ = wn.init(key, (4,))
    np.testing.assert_array_equal(pw["v"], pd["w"])
    np.testing.assert_allclose(pw["g"], np.linalg.norm(np.asarray(pd["w"], np.float64), axis=0),
                               rtol=1e-6)
    x = jax.random.normal(key, (5, 4))
    np.testing.assert_allclose(wn.apply(pw, state, x)[0], dense.apply(pd, {}, x)[0],
                               rtol=1e-5, atol=1e-6)


def test_weightnorm_wraps_conv2d(key):
    from jaxdl.nn.conv import Conv2D

    conv = Conv2D(4, 3, padding=1)
    wn = WeightNorm(conv)
    pc, _, out_c = conv.init(key, (5, 5, 2))
    pw, state, out_w = wn.init(key, (5, 5, 2))
    assert out_w == out_c == (5, 5, 4) and pw["g"].shape == (4,) and pw["v"].shape == (3, 3, 2, 4)
    x = jax.random.normal(key, (2, 5, 5, 2))
    np.testing.assert_allclose(wn.apply(pw, state, x)[0], conv.apply(pc, {}, x)[0],
                               rtol=1e-5, atol=1e-5)
    v, g = _normal(key, (3, 3, 2, 4), 16), _normal(key, (4,), 17)
    w = g * v / np.sqrt((v ** 2).sum(axis=(0, 1, 2), keepdims=True))  # one norm per filter
    p = {"v": jnp.asarray(v, jnp.float32), "g": jnp.asarray(g, jnp.float32), "b": pc["b"]}
    expected = lax.conv_general_dilated(x, jnp.asarray(w, jnp.float32), (1, 1),
                                        ((1, 1), (1, 1)),
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))
    np.testing.assert_allclose(wn.apply(p, state, x)[0], expected, rtol=1e-5, atol=1e-5)


def test_weightnorm_gradients_check(key, x64):
    layer = WeightNorm(Dense(2))
    params, state, _ = layer.init(key, (3,))
    x = jnp.asarray(_normal(key, (4, 3), 18))
    f = jax.jit(lambda p, x: layer.apply(p, state, x)[0])
    check_grads(f, (_f64(params), x), order=2, modes=["rev"])


def test_weightnorm_of_a_layer_without_w_raises(key):
    with pytest.raises(ValueError, match=r"WeightNorm: the wrapped layer \(relu\).*'w'"):
        WeightNorm(Relu()).init(key, (3,))
    with pytest.raises(TypeError, match="WeightNorm: layer must be a Layer"):
        WeightNorm(Dense)


# ---------------------------------------------------------------- LocalResponseNorm

def _numpy_lrn(x, r, k, alpha, beta):
    n = x.shape[-1]
    out = np.empty_like(x)
    for i in range(n):
        s = np.zeros(x.shape[:-1])
        for j in range(max(0, i - r), min(n - 1, i + r) + 1):
            s += x[..., j] ** 2
        out[..., i] = x[..., i] / (k + alpha * s) ** beta
    return out


@pytest.mark.parametrize("r, k, alpha, beta", [(2, 2.0, 1e-4, 0.75), (1, 1.0, 0.5, 0.75),
                                               (3, 0.5, 0.2, 1.0)])
def test_lrn_matches_numpy_double_loop(key, r, k, alpha, beta):
    layer = LocalResponseNorm(r, k, alpha, beta)
    params, state, out = layer.init(key, (2, 2, 7))
    assert params == {} and state == {} and out == (2, 2, 7)
    x = _normal(key, (3, 2, 2, 7), 19, 0.0, 2.0)
    y, _ = jax.jit(layer.apply)(params, state, jnp.asarray(x, jnp.float32))
    np.testing.assert_allclose(y, _numpy_lrn(x, r, k, alpha, beta), rtol=1e-5, atol=1e-6)


def test_lrn_gradients_check(key, x64):
    layer = LocalResponseNorm(1, 1.0, 0.5, 0.75)
    x = jnp.asarray(_normal(key, (2, 5), 20))
    check_grads(jax.jit(lambda x: layer.apply({}, {}, x)[0]), (x,), order=2, modes=["rev"])


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("build, error, match", [
    (lambda: GroupNorm(0), ValueError, "GroupNorm: groups must be >= 1, got 0"),
    (lambda: GroupNorm(-2), ValueError, "GroupNorm: groups must be >= 1, got -2"),
    (lambda: GroupNorm(2.0), TypeError, "GroupNorm: groups must be a positive int, got 2.0"),
    (lambda: GroupNorm(2, eps=0.0), ValueError, "GroupNorm: eps must be in"),
    (lambda: LayerNorm(eps=-1e-5), ValueError, "LayerNorm: eps must be in"),
    (lambda: BatchNorm(eps=0.0), ValueError, "BatchNorm: eps must be in"),
    (lambda: BatchNorm(momentum=1.5), ValueError, r"BatchNorm: momentum must be in \[0.0, 1.0\], "
                                                  "got 1.5"),
    (lambda: BatchNorm(momentum=-0.1), ValueError, "BatchNorm: momentum must be in"),
    (lambda: LocalResponseNorm(0), ValueError, "LocalResponseNorm: depth_radius must be >= 1"),
    (lambda: LocalResponseNorm(-1), ValueError, "LocalResponseNorm: depth_radius must be >= 1"),
])
def test_bad_hyperparameters_raise_naming_layer_and_value(build, error, match):
    with pytest.raises(error, match=match):
        build()


def test_groupnorm_groups_not_dividing_channels_raises(key):
    with pytest.raises(ValueError, match="GroupNorm: groups must divide .* groups=3, channels=8"):
        GroupNorm(3).init(key, (4, 4, 8))


def test_batchnorm_momentum_may_be_traced(key):
    layer_state = BatchNorm().init(key, (2,))[1]
    x = jnp.array([[0.0, 1.0], [2.0, 3.0]])

    def run(momentum):
        layer = BatchNorm(momentum=momentum)
        return layer.apply({"scale": jnp.ones(2), "bias": jnp.zeros(2)}, layer_state, x,
                           train=True)[1]["mean"]

    means = jax.vmap(run)(jnp.array([0.0, 0.5]))
    np.testing.assert_allclose(means, [[1.0, 2.0], [0.5, 1.0]])
