"""Flatten, Reshape (against NumPy reshapes), ZeroPadding and Cropping (against np.pad and NumPy
slices) and Dropout (against its closed-form statistics)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxdl.nn.dropout import Dropout
from jaxdl.nn.reshape import (
    Cropping1D, Cropping2D, Flatten, Reshape, ZeroPadding1D, ZeroPadding2D)


def test_flatten_merges_per_example_axes_in_row_major_order(key):
    x = jax.random.normal(key, (2, 3, 4, 5))
    params, state, out = Flatten().init(key, (3, 4, 5))
    y, new_state = Flatten().apply(params, state, x)
    assert out == (60,) and y.shape == (2, 60) and params == {} and new_state == {}
    np.testing.assert_array_equal(y, np.asarray(x).reshape(2, 60))
    assert Flatten().init(key, (7,))[2] == (7,)
    np.testing.assert_array_equal(jax.jit(Flatten().apply)({}, {}, x)[0], y)


@pytest.mark.parametrize("shape, expected", [((4, 6), (4, 6)), ((4, -1), (4, 6)),
                                             ((-1,), (24,)), ((2, -1, 3), (2, 4, 3))])
def test_reshape_gives_each_example_the_shape(key, shape, expected):
    x = jax.random.normal(key, (5, 2, 3, 4))
    layer = Reshape(shape)
    _, state, out = layer.init(key, (2, 3, 4))
    y, _ = layer.apply({}, state, x)
    assert out == expected and y.shape == (5, *expected)
    np.testing.assert_array_equal(y, np.asarray(x).reshape(5, *expected))


def test_flatten_then_reshape_round_trips(key):
    x = jax.random.normal(key, (3, 4, 4, 2))
    flat, _ = Flatten().apply({}, {}, x)
    back, _ = Reshape((4, 4, 2)).apply({}, {}, flat)
    np.testing.assert_array_equal(back, x)


def test_reshape_bad_shapes_are_clear_errors(key):
    with pytest.raises(ValueError, match=r"Reshape: shape \(3, 5\) cannot hold the 16 elements "
                                         r"of input_shape \(4, 4\)"):
        Reshape((3, 5)).init(key, (4, 4))
    with pytest.raises(ValueError, match=r"Reshape: shape \(-1, 5\) cannot hold .*16 is not a "
                                         r"multiple of 5"):
        Reshape((-1, 5)).init(key, (4, 4))
    with pytest.raises(ValueError, match=r"Reshape: shape must be .*one -1, got \(-1, -1\)"):
        Reshape((-1, -1))
    with pytest.raises(ValueError, match=r"Reshape: shape must be ints >= 1.*got \(0, 3\)"):
        Reshape((0, 3))
    with pytest.raises(TypeError, match=r"Reshape: shape must be a sequence of ints, got 5"):
        Reshape(5)


@pytest.mark.parametrize("padding, pads", [(1, ((1, 1), (1, 1))), ((2, 0), ((2, 2), (0, 0))),
                                           (((1, 0), (2, 3)), ((1, 0), (2, 3)))])
def test_zero_padding2d_is_np_pad_with_zeros(key, padding, pads):
    x = jax.random.normal(key, (2, 3, 4, 2))
    layer = ZeroPadding2D(padding)
    params, state, out = layer.init(key, (3, 4, 2))
    y, _ = layer.apply(params, state, x)
    ref = np.pad(np.asarray(x), ((0, 0), *pads, (0, 0)))
    assert params == {} and y.shape == (2, *out) == ref.shape
    np.testing.assert_array_equal(y, ref)


@pytest.mark.parametrize("cropping, rows, cols", [(1, slice(1, 5), slice(1, 6)),
                                                  ((2, 0), slice(2, 4), slice(0, 7)),
                                                  (((0, 3), (1, 2)), slice(0, 3), slice(1, 5))])
def test_cropping2d_is_a_numpy_slice(key, cropping, rows, cols):
    x = jax.random.normal(key, (2, 6, 7, 3))
    layer = Cropping2D(cropping)
    _, _, out = layer.init(key, (6, 7, 3))
    y, _ = layer.apply({}, {}, x)
    ref = np.asarray(x)[:, rows, cols]
    assert y.shape == (2, *out) == ref.shape
    np.testing.assert_array_equal(y, ref)


def test_1d_padding_and_cropping_and_their_round_trip(key):
    x = jax.random.normal(key, (2, 5, 3))
    y, _ = ZeroPadding1D((2, 1)).apply({}, {}, x)
    assert ZeroPadding1D((2, 1)).init(key, (5, 3))[2] == (8, 3)
    np.testing.assert_array_equal(y, np.pad(np.asarray(x), ((0, 0), (2, 1), (0, 0))))
    back, _ = Cropping1D((2, 1)).apply({}, {}, y)
    np.testing.assert_array_equal(back, x)
    assert Cropping1D(2).init(key, (5, 3))[2] == (1, 3)
    np.testing.assert_array_equal(Cropping1D(2).apply({}, {}, x)[0], np.asarray(x)[:, 2:3])
    ints = jnp.arange(3).reshape(1, 3, 1)  # no float needed
    np.testing.assert_array_equal(ZeroPadding1D(1).apply({}, {}, ints)[0][0, :, 0], [0, 0, 1, 2, 0])


@pytest.mark.parametrize("make, error, message", [
    (lambda: ZeroPadding2D(-1), ValueError, r"ZeroPadding2D: padding must be >= 0 on every side, "
                                            r"got -1"),
    (lambda: ZeroPadding2D(((1, -2), (0, 0))), ValueError,
     r"ZeroPadding2D: padding must be >= 0 .*got \(\(1, -2\), \(0, 0\)\)"),
    (lambda: ZeroPadding2D((1, 2, 3)), TypeError,
     r"ZeroPadding2D: padding must be an int, 2 ints or 2 pairs of ints, got \(1, 2, 3\)"),
    (lambda: ZeroPadding1D(1.5), TypeError,
     r"ZeroPadding1D: padding must be an int or a \(low, high\) pair of ints, got 1.5"),
    (lambda: Cropping1D(-1), ValueError, r"Cropping1D: cropping must be >= 0 .*got -1"),
    (lambda: Cropping2D("1"), TypeError, r"Cropping2D: cropping must be an int.*got '1'"),
])
def test_padding_and_cropping_bad_arguments_name_layer_parameter_and_value(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_cropping_more_than_the_size_and_wrong_ranks_are_clear_errors(key):
    with pytest.raises(ValueError, match=r"Cropping2D: cropping must leave at least one cell on "
                                         r"spatial axis 1 \(size 4\), got cropping=\(2, 2\)"):
        Cropping2D((1, 2)).init(key, (5, 4, 1))
    with pytest.raises(ValueError, match=r"Cropping1D: cropping must leave .*axis 0 \(size 3\), "
                                         r"got cropping=\(3, 0\)"):
        Cropping1D((3, 0)).init(key, (3, 2))
    with pytest.raises(ValueError, match=r"ZeroPadding2D: input_shape must have 3 axes .*got "
                                         r"\(8, 8\)"):
        ZeroPadding2D().init(key, (8, 8))
    with pytest.raises(ValueError, match=r"Cropping1D: x must be \(batch, W, C\), got shape "
                                         r"\(2, 5\)"):
        Cropping1D().apply({}, {}, jnp.ones((2, 5)))


def _train(layer, x, key):
    return layer.apply({}, {}, x, key=key, train=True)[0]


def test_dropout_eval_is_identity_without_key(key):
    x = jax.random.normal(key, (4, 8))
    layer = Dropout(0.5)
    params, state, out = layer.init(key, (8,))
    y, new_state = layer.apply(params, state, x)
    assert out == (8,) and new_state == {} and y is x


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_dropout_train_drops_rate_and_keeps_expected_value(key, rate):
    x = jnp.ones((200, 500))
    y = _train(Dropout(rate), x, key)
    n = x.size
    zeroed = float(jnp.mean(y == 0))
    assert abs(zeroed - rate) < 5 * np.sqrt(rate * (1 - rate) / n)
    # inverted dropout: every kept unit is x / (1 - rate), so E[y] = x
    np.testing.assert_allclose(y[y != 0], np.full(int(jnp.sum(y != 0)), 1 / (1 - rate)),
                               rtol=1e-6)
    assert abs(float(jnp.mean(y)) - 1.0) < 5 * np.sqrt(rate / (1 - rate) / n)


def test_dropout_rate_zero_in_train_is_identity(key):
    x = jax.random.normal(key, (3, 7))
    np.testing.assert_array_equal(_train(Dropout(0.0), x, key), x)
    np.testing.assert_array_equal(_train(Dropout(jnp.float32(0.0)), x, key), x)


def test_dropout_train_without_key_names_layer_and_fix():
    with pytest.raises(ValueError, match=r"Dropout: key must be a PRNG key when train=True.*got "
                                         r"None"):
        Dropout(0.5).apply({}, {}, jnp.ones((2, 3)), train=True)


def test_dropout_zeroed_fraction_follows_rates_under_vmap(key):
    rates = jnp.array([0.0, 0.25, 0.5, 0.9])
    x = jnp.ones((100, 200))

    def run(rate):
        return _train(Dropout(rate), x, key)

    ys = jax.jit(jax.vmap(run))(rates)
    zeroed = jnp.mean(ys == 0, axis=(1, 2))
    np.testing.assert_allclose(zeroed, rates, atol=0.015)
    assert float(zeroed[0]) == 0.0
    np.testing.assert_allclose(jnp.mean(ys, axis=(1, 2)), jnp.ones(4), atol=0.05)
    for i in range(1, 4):  # kept values are scaled by 1 / (1 - rate)
        kept = ys[i][ys[i] != 0]
        np.testing.assert_allclose(kept, jnp.full(kept.shape, 1 / (1 - float(rates[i]))),
                                   rtol=1e-6)


def test_dropout_same_key_same_mask_under_jit(key):
    x = jnp.ones((4, 64))
    apply = jax.jit(functools.partial(Dropout(0.5).apply, train=True))
    a, _ = apply({}, {}, x, key=key)
    np.testing.assert_array_equal(a, _train(Dropout(0.5), x, key))
    b, _ = apply({}, {}, x, key=jax.random.fold_in(key, 1))
    assert not np.array_equal(a, b)


def test_dropout_gradient_is_mask_over_keep_probability(key, x64):
    x = jax.random.normal(key, (3, 5), jnp.float64)
    layer = Dropout(0.4)
    y = _train(layer, x, key)
    g = jax.grad(lambda x: jnp.sum(_train(layer, x, key)))(x)
    np.testing.assert_allclose(g, np.where(np.asarray(y) != 0, 1 / 0.6, 0.0), rtol=1e-12)
    check_grads(lambda x: _train(layer, x, key), (x,), order=1, modes=("rev",))


def test_dropout_preserves_dtypes(key, x64):
    for dtype in (jnp.float32, jnp.bfloat16, jnp.float64):
        x = jnp.ones((2, 16), dtype)
        assert _train(Dropout(0.5), x, key).dtype == dtype
        assert _train(Dropout(jnp.float32(0.5)), x, key).dtype == dtype
    y = _train(Dropout(jnp.float64(0.3)), jnp.ones((4, 64), jnp.float64), key)
    np.testing.assert_allclose(y[y != 0], np.full(int(jnp.sum(y != 0)), 1 / 0.7), rtol=1e-15)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, float("nan")])
def test_dropout_rate_outside_0_1_names_layer_parameter_and_value(rate):
    with pytest.raises(ValueError, match=rf"Dropout: rate must be in \[0.0, 1.0\), got {rate}"):
        Dropout(rate)


def test_dropout_non_numeric_rate_is_a_type_error():
    with pytest.raises(TypeError, match=r"Dropout: rate must be a number in \[0, 1\), got 'half'"):
        Dropout("half")
