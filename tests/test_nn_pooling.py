"""MaxPool2D, AvgPool2D and their 1-D versions against NumPy float64 loops (fundamentals 000,
3.2.4); the global poolings against NumPy reductions and a pool whose window is the input."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxdl.nn.pooling import (
    AvgPool2D, AvgPool1D, GlobalAvgPool1D, GlobalAvgPool2D, GlobalMaxPool1D, GlobalMaxPool2D,
    MaxPool2D, MaxPool1D)


def same_pads(w, f, s):
    total = max((math.ceil(w / s) - 1) * s + f - w, 0)
    return total // 2, total - total // 2


def pads_for(padding, spatial, window, strides):
    if isinstance(padding, str):
        if padding.upper() == "VALID":
            return tuple((0, 0) for _ in spatial)
        return tuple(same_pads(w, f, s) for w, f, s in zip(spatial, window, strides))
    return tuple((padding, padding) for _ in spatial)


def pool_ref(x, window, strides, pads, kind):
    """Loops over output positions; padded cells are NaN so nanmax/nanmean ignore them."""
    x = np.pad(np.asarray(x, np.float64), ((0, 0), *pads, (0, 0)), constant_values=np.nan)
    reduce = np.nanmax if kind == "max" else np.nanmean
    spatial = x.shape[1:-1]
    out = [(n - f) // s + 1 for n, f, s in zip(spatial, window, strides)]
    y = np.zeros((x.shape[0], *out, x.shape[-1]))
    for idx in np.ndindex(*out):
        cells = tuple(slice(i * s, i * s + f) for i, s, f in zip(idx, strides, window))
        patch = x[(slice(None), *cells, slice(None))]
        y[(slice(None), *idx, slice(None))] = reduce(patch, axis=tuple(range(1, 1 + len(idx))))
    return y


CASES_2D = [
    (2, None, "VALID"),      # 2x2, stride 2
    (3, 2, "VALID"),         # overlapping 3x3, stride 2
    (3, 2, "SAME"),
    (2, 1, 1),
    ((2, 3), (1, 2), "same"),
]


@pytest.mark.parametrize("kind, make", [("max", MaxPool2D), ("avg", AvgPool2D)])
@pytest.mark.parametrize("window, strides, padding", CASES_2D)
def test_pool2d_matches_numpy_loop(key, kind, make, window, strides, padding):
    x = jax.random.normal(key, (2, 7, 6, 3))
    layer = make(window, strides, padding)
    params, state, out = layer.init(key, (7, 6, 3))
    y, new_state = layer.apply(params, state, x)
    f = (window, window) if isinstance(window, int) else window
    s = f if strides is None else ((strides, strides) if isinstance(strides, int) else strides)
    ref = pool_ref(x, f, s, pads_for(padding, (7, 6), f, s), kind)
    assert params == {} and new_state == {}
    assert y.shape == (2, *out) == ref.shape and out[-1] == 3  # depth unchanged
    np.testing.assert_allclose(y, ref, rtol=1e-6, atol=1e-6)


def test_maxpool_2x2_stride_2_hand_example():
    x = jnp.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], jnp.float32)
    y, _ = MaxPool2D(2).apply({}, {}, x[None, :, :, None])
    np.testing.assert_array_equal(y[0, :, :, 0], [[6, 8], [3, 4]])
    y, _ = AvgPool2D(2).apply({}, {}, x[None, :, :, None])
    np.testing.assert_array_equal(y[0, :, :, 0], [[13 / 4, 21 / 4], [2, 2]])


def test_avgpool_averages_only_real_cells_at_padded_borders():
    # count_include_pad=False: a constant image stays constant, even in border windows.
    x = jnp.full((1, 5, 5, 2), 3.0)
    for padding in ("SAME", 1):
        y, _ = AvgPool2D(3, 2, padding).apply({}, {}, x)
        np.testing.assert_allclose(y, jnp.full(y.shape, 3.0), rtol=1e-6)
    x = jnp.arange(4.0).reshape(1, 2, 2, 1)  # [[0, 1], [2, 3]], padding 1, window 2, stride 2
    y, _ = AvgPool2D(2, 2, 1).apply({}, {}, x)
    np.testing.assert_array_equal(y[0, :, :, 0], [[0, 1], [2, 3]])  # one real cell each


@pytest.mark.parametrize("kind, make", [("max", MaxPool1D), ("avg", AvgPool1D)])
@pytest.mark.parametrize("window, strides, padding", [(2, None, "VALID"), (3, 2, "SAME"),
                                                      (3, 1, 1)])
def test_pool1d_matches_numpy_loop(key, kind, make, window, strides, padding):
    x = jax.random.normal(key, (2, 9, 3))
    layer = make(window, strides, padding)
    _, state, out = layer.init(key, (9, 3))
    y, _ = layer.apply({}, state, x)
    s = window if strides is None else strides
    ref = pool_ref(x, (window,), (s,), pads_for(padding, (9,), (window,), (s,)), kind)
    assert y.shape == (2, *out) == ref.shape
    np.testing.assert_allclose(y, ref, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("make", [MaxPool2D, AvgPool2D])
def test_pool2d_gradients_match_finite_differences(key, x64, make):
    x = jax.random.normal(key, (1, 5, 4, 2), jnp.float64)
    layer = make(3, 2, "SAME")
    check_grads(lambda x: layer.apply({}, {}, x)[0], (x,), order=1, modes=("rev",))


def test_pool_jit_equal_and_dtypes_preserved(key):
    x = jax.random.normal(key, (2, 6, 6, 2))
    for layer in (MaxPool2D(3, 2, "SAME"), AvgPool2D(3, 2, "SAME")):
        y, _ = layer.apply({}, {}, x)
        y_jit, _ = jax.jit(layer.apply)({}, {}, x)
        np.testing.assert_allclose(y_jit, y, rtol=1e-6)
        assert layer.apply({}, {}, x.astype(jnp.bfloat16))[0].dtype == jnp.bfloat16


def test_pool_float64_preserved(x64):
    for layer in (MaxPool2D(2), AvgPool2D(2, 1, "SAME")):
        assert layer.apply({}, {}, jnp.ones((1, 4, 4, 1), jnp.float64))[0].dtype == jnp.float64


def test_pool_names():
    assert [m(2).name for m in (MaxPool2D, AvgPool2D, MaxPool1D, AvgPool1D)] == [
        "maxpool", "avgpool", "maxpool1d", "avgpool1d"]


@pytest.mark.parametrize("make, message", [
    (lambda: MaxPool2D(0), r"MaxPool2D: window must be >= 1, got 0"),
    (lambda: AvgPool2D((2, -1)), r"AvgPool2D: window must be >= 1, got -1"),
    (lambda: MaxPool2D(2, 0), r"MaxPool2D: strides must be >= 1, got 0"),
    (lambda: AvgPool2D(2, padding="full"), r"AvgPool2D: padding must be .*'SAME'.*got 'full'"),
    (lambda: MaxPool2D(2, padding=-1), r"MaxPool2D: padding must be .*got -1"),
    (lambda: MaxPool1D(0), r"MaxPool1D: window must be >= 1, got 0"),
    (lambda: AvgPool1D(2, 0), r"AvgPool1D: strides must be >= 1, got 0"),
    (lambda: AvgPool1D(2, padding="reflect"), r"AvgPool1D: padding must be .*got 'reflect'"),
])
def test_pool_bad_arguments_name_owner_parameter_and_value(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_pool_bad_input_shapes_are_clear_errors(key):
    with pytest.raises(ValueError, match=r"MaxPool2D: input_shape must have 3 axes .*got \(4, 4\)"):
        MaxPool2D(2).init(key, (4, 4))
    with pytest.raises(ValueError, match=r"AvgPool1D: input_shape must have 2 axes .*got \(4,\)"):
        AvgPool1D(2).init(key, (4,))
    with pytest.raises(ValueError, match=r"MaxPool2D: window must be <= the padded input size 3"
                                         r".*got 4"):
        MaxPool2D(4).init(key, (3, 5, 1))
    with pytest.raises(TypeError, match=r"AvgPool2D: window must be an int .*got 2.0"):
        AvgPool2D(2.0)


@pytest.mark.parametrize("make, reduce", [(GlobalMaxPool2D, np.max), (GlobalAvgPool2D, np.mean)])
def test_global_pool2d_reduces_each_channel_over_the_image(key, x64, make, reduce):
    x = jax.random.normal(key, (3, 5, 4, 2), jnp.float64)
    layer = make()
    params, state, out = layer.init(key, (5, 4, 2))
    y, new_state = layer.apply(params, state, x)
    assert params == {} and new_state == {} and out == (2,) and y.shape == (3, 2)
    np.testing.assert_allclose(y, reduce(np.asarray(x), axis=(1, 2)), rtol=1e-12)
    # the same as a pool whose window is the whole image
    window = (MaxPool2D if make is GlobalMaxPool2D else AvgPool2D)((5, 4))
    np.testing.assert_allclose(y, window.apply({}, {}, x)[0][:, 0, 0], rtol=1e-12)


@pytest.mark.parametrize("make, reduce", [(GlobalMaxPool1D, np.max), (GlobalAvgPool1D, np.mean)])
def test_global_pool1d_reduces_each_channel_over_the_sequence(key, make, reduce):
    x = jax.random.normal(key, (3, 7, 2))
    _, _, out = make().init(key, (7, 2))
    y, _ = make().apply({}, {}, x)
    assert out == (2,)
    np.testing.assert_allclose(y, reduce(np.asarray(x, np.float64), axis=1), rtol=1e-6)


def test_global_pool_names_and_rank_errors(key):
    assert [m().name for m in (GlobalMaxPool2D, GlobalAvgPool2D, GlobalMaxPool1D,
                               GlobalAvgPool1D)] == ["globalmaxpool", "globalavgpool",
                                                     "globalmaxpool1d", "globalavgpool1d"]
    with pytest.raises(ValueError, match=r"GlobalAvgPool2D: input_shape must have 3 axes "
                                         r"\(H, W, C\) \(no batch axis\), got \(8, 8\)"):
        GlobalAvgPool2D().init(key, (8, 8))
    with pytest.raises(ValueError, match=r"GlobalMaxPool1D: input_shape must have 2 axes .*got "
                                         r"\(4, 4, 1\)"):
        GlobalMaxPool1D().init(key, (4, 4, 1))
    with pytest.raises(ValueError, match=r"GlobalMaxPool2D: x must be \(batch, H, W, C\), got "
                                         r"shape \(2, 4, 1\)"):
        GlobalMaxPool2D().apply({}, {}, jnp.ones((2, 4, 1)))
