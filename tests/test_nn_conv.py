"""Conv2D, Conv1D and conv_output_size against NumPy float64 loops and the fundamentals' worked
examples (000, section 3.2.3)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxdl.core import count_params
from jaxdl.nn.conv import Conv1D, Conv2D, conv_output_size


def same_pads(w, f, s):
    """TensorFlow's SAME rule, written out: output ceil(w / s), the extra pad cell at the end."""
    total = max((math.ceil(w / s) - 1) * s + f - w, 0)
    return total // 2, total - total // 2


def conv2d_ref(x, w, b, strides, pads):
    """Cross-correlation by loops over output positions, float64; pads = ((lo, hi), (lo, hi))."""
    x = np.pad(np.asarray(x, np.float64), ((0, 0), *pads, (0, 0)))
    w, b = np.asarray(w, np.float64), np.asarray(b, np.float64)
    n, h, wd, d = x.shape
    fh, fw, _, k = w.shape
    (sh, sw) = strides
    oh, ow = (h - fh) // sh + 1, (wd - fw) // sw + 1
    y = np.zeros((n, oh, ow, k))
    for i in range(oh):
        for j in range(ow):
            for m in range(fh):
                for l in range(fw):
                    y[:, i, j, :] += x[:, i * sh + m, j * sw + l, :] @ w[m, l]
    return y + b


def conv1d_ref(x, w, b, s, pad):
    x = np.pad(np.asarray(x, np.float64), ((0, 0), pad, (0, 0)))
    w, b = np.asarray(w, np.float64), np.asarray(b, np.float64)
    f = w.shape[0]
    out = (x.shape[1] - f) // s + 1
    y = np.zeros((x.shape[0], out, w.shape[-1]))
    for i in range(out):
        for m in range(f):
            y[:, i, :] += x[:, i * s + m, :] @ w[m]
    return y + b


def _random_params(key, params):
    """Replace zero biases by random ones so the bias is tested too."""
    return {**params, "b": jax.random.normal(key, params["b"].shape)}


@pytest.mark.parametrize(
    "kernel, strides, padding",
    [(3, 1, 0), (3, 2, 1), ((2, 3), (1, 2), (1, 0)), (3, 2, "SAME"), (4, 3, "valid"), (1, 1, 0),
     (5, 1, "same"), (2, 2, 2)],
)
def test_conv2d_matches_numpy_loop(key, kernel, strides, padding):
    x = jax.random.normal(jax.random.fold_in(key, 1), (2, 7, 6, 3))
    layer = Conv2D(4, kernel, strides, padding)
    params, state, out = layer.init(key, (7, 6, 3))
    params = _random_params(jax.random.fold_in(key, 2), params)
    y, new_state = layer.apply(params, state, x)
    f = (kernel, kernel) if isinstance(kernel, int) else kernel
    s = (strides, strides) if isinstance(strides, int) else strides
    if isinstance(padding, str):
        pads = ((0, 0), (0, 0)) if padding.upper() == "VALID" else tuple(
            same_pads(n, fi, si) for n, fi, si in zip((7, 6), f, s))
    else:
        p = (padding, padding) if isinstance(padding, int) else padding
        pads = ((p[0], p[0]), (p[1], p[1]))
    ref = conv2d_ref(x, params["w"], params["b"], s, pads)
    assert params["w"].shape == (*f, 3, 4) and params["b"].shape == (4,)
    assert y.shape == (2, *out) == ref.shape and new_state == {}
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


# The 5x5 image and 3x3 filter of the figure in fundamentals 000, 3.2.3 (the figure itself is not
# in the text; these are the classic ones it comes from, and they reproduce every printed term).
IMAGE = np.array([[1, 1, 1, 0, 0],
                  [0, 1, 1, 1, 0],
                  [0, 0, 1, 1, 1],
                  [0, 0, 1, 1, 0],
                  [0, 1, 1, 0, 0]], np.float32)
FILTER = np.array([[1, 0, 1],
                   [0, 1, 0],
                   [1, 0, 1]], np.float32)


def _worked_example(strides, key):
    layer = Conv2D(1, 3, strides)
    params, state, out = layer.init(key, (5, 5, 1))
    params = {"w": jnp.asarray(FILTER)[:, :, None, None], "b": jnp.zeros((1,))}
    y, _ = layer.apply(params, state, jnp.asarray(IMAGE)[None, :, :, None])
    return jax.nn.relu(y)[0, :, :, 0], out


def test_conv2d_worked_example_stride_1_gives_3x3_map_with_a00_4(key):
    # the text prints a_00 = relu(sum w_mn x_mn) = 1 + 0 + 1 + 0 + 1 + 0 + 0 + 0 + 1 = 4
    assert (FILTER * IMAGE[:3, :3]).ravel().tolist() == [1, 0, 1, 0, 1, 0, 0, 0, 1]
    a, out = _worked_example(1, key)
    assert out == (3, 3, 1) and a.shape == (3, 3)
    assert a[0, 0] == 4
    np.testing.assert_array_equal(a, [[4, 3, 4], [2, 4, 3], [2, 3, 4]])


def test_conv2d_worked_example_stride_2_gives_2x2_map(key):
    a, out = _worked_example(2, key)
    assert out == (2, 2, 1)
    np.testing.assert_array_equal(a, [[4, 4], [2, 4]])
    assert conv_output_size(5, 3, 0, 2) == 2  # W1=5, F=3, P=0, S=2 -> W2 = 2


def test_conv2d_two_3x3x3_filters_stride_2_padding_1_give_3x3x2_and_56_params(key):
    # The figure's 7x7x3 volume already shows the zero padding of 1: a 5x5x3 image padded by 1.
    layer = Conv2D(2, 3, strides=2, padding=1)
    params, state, out = layer.init(key, (5, 5, 3))
    assert out == (3, 3, 2)
    assert count_params(params) == 56 == (3 * 3 * 3 + 1) * 2
    x = jax.random.normal(key, (1, 5, 5, 3))
    y, _ = layer.apply(params, state, x)
    padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))  # the 7x7x3 volume of the figure
    on_padded = Conv2D(2, 3, strides=2)
    _, _, out_padded = on_padded.init(key, (7, 7, 3))
    y_padded, _ = on_padded.apply(params, state, padded)
    assert out_padded == (3, 3, 2) and y.shape == (1, 3, 3, 2)
    np.testing.assert_allclose(y, y_padded, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("f, d, k", [(1, 1, 1), (3, 3, 2), (5, 4, 7)])
def test_conv2d_parameter_count_is_f_f_d_plus_1_times_k(key, f, d, k):
    params, _, _ = Conv2D(k, f).init(key, (8, 8, d))
    assert count_params(params) == (f * f * d + 1) * k
    no_bias, _, _ = Conv2D(k, f, use_bias=False).init(key, (8, 8, d))
    assert set(no_bias) == {"w"} and count_params(no_bias) == f * f * d * k


def test_conv_output_size_matches_real_layer_output_over_a_grid(key):
    for w in range(1, 8):
        for f in range(1, 5):
            for p in range(0, 3):
                for s in range(1, 4):
                    if f > w + 2 * p:
                        with pytest.raises(ValueError, match="conv_output_size: f must be"):
                            conv_output_size(w, f, p, s)
                        continue
                    expected = len(range(0, w + 2 * p - f + 1, s))  # window start positions
                    assert conv_output_size(w, f, p, s) == expected, (w, f, p, s)
                    layer = Conv1D(2, f, s, p)
                    params, state, out = layer.init(key, (w, 1))
                    y = jax.eval_shape(layer.apply, params, state,
                                       jax.ShapeDtypeStruct((1, w, 1), jnp.float32))[0]
                    assert out == (expected, 2) and y.shape == (1, expected, 2), (w, f, p, s)


def test_conv2d_init_shape_equals_apply_shape(key):
    for kernel, strides, padding in [(3, 2, "SAME"), ((1, 3), (2, 1), (0, 2)), (2, 3, "VALID")]:
        layer = Conv2D(3, kernel, strides, padding)
        params, state, out = layer.init(key, (9, 5, 2))
        y = jax.eval_shape(layer.apply, params, state,
                           jax.ShapeDtypeStruct((4, 9, 5, 2), jnp.float32))[0]
        assert y.shape == (4, *out)


@pytest.mark.parametrize("f", [1, 2, 3, 4, 5])
def test_conv2d_same_padding_keeps_size_at_stride_1(key, f):
    for w in (5, 6):
        layer = Conv2D(2, f, 1, "SAME")
        params, state, out = layer.init(key, (w, w, 3))
        y, _ = layer.apply(params, state, jnp.ones((1, w, w, 3)))
        assert out == (w, w, 2) and y.shape == (1, w, w, 2)


def test_conv2d_padding_strings_are_case_insensitive(key):
    x = jax.random.normal(key, (1, 6, 6, 2))
    for upper, lower in (("SAME", "same"), ("VALID", "Valid")):
        a, b = Conv2D(2, 3, 2, upper), Conv2D(2, 3, 2, lower)
        params, state, out = a.init(key, (6, 6, 2))
        assert b.init(key, (6, 6, 2))[2] == out
        np.testing.assert_array_equal(a.apply(params, state, x)[0], b.apply(params, state, x)[0])


@pytest.mark.parametrize("kernel, strides, padding", [(3, 1, 0), (3, 2, 1), (4, 3, "SAME"),
                                                      (2, 1, "valid")])
def test_conv1d_matches_numpy_loop(key, kernel, strides, padding):
    x = jax.random.normal(jax.random.fold_in(key, 1), (3, 10, 2))
    layer = Conv1D(5, kernel, strides, padding)
    params, state, out = layer.init(key, (10, 2))
    params = _random_params(jax.random.fold_in(key, 2), params)
    y, _ = layer.apply(params, state, x)
    if padding == "SAME":
        pad = same_pads(10, kernel, strides)
    else:
        pad = (0, 0) if padding == "valid" else (padding, padding)
    ref = conv1d_ref(x, params["w"], params["b"], strides, pad)
    assert params["w"].shape == (kernel, 2, 5) and y.shape == (3, *out) == ref.shape
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


def test_conv2d_gradients_match_finite_differences(key, x64):
    layer = Conv2D(2, 2, strides=(1, 2), padding=1)
    params, state, _ = layer.init(key, (3, 4, 2))
    params = jax.tree.map(lambda p: p.astype(jnp.float64), _random_params(key, params))
    x = jax.random.normal(jax.random.fold_in(key, 3), (2, 3, 4, 2), jnp.float64)
    check_grads(lambda p, x: layer.apply(p, state, x)[0], (params, x), order=1, modes=("rev",))


def test_conv1d_gradients_match_finite_differences(key, x64):
    layer = Conv1D(2, 3, strides=2, padding="SAME")
    params, state, _ = layer.init(key, (5, 2))
    params = jax.tree.map(lambda p: p.astype(jnp.float64), _random_params(key, params))
    x = jax.random.normal(jax.random.fold_in(key, 3), (2, 5, 2), jnp.float64)
    check_grads(lambda p, x: layer.apply(p, state, x)[0], (params, x), order=1, modes=("rev",))


def test_conv2d_jit_dtypes_and_ensemble_vmap(key):
    layer = Conv2D(3, 3, 2, "SAME")
    params, state, _ = layer.init(key, (6, 6, 2))
    x = jax.random.normal(key, (2, 6, 6, 2))
    apply = jax.jit(layer.apply)
    np.testing.assert_allclose(apply(params, state, x)[0], layer.apply(params, state, x)[0],
                               rtol=1e-5, atol=1e-6)
    low = jax.tree.map(lambda p: p.astype(jnp.bfloat16), params)
    assert apply(low, state, x.astype(jnp.bfloat16))[0].dtype == jnp.bfloat16
    keys = jax.random.split(key, 3)
    ensemble = jax.vmap(lambda k: layer.init(k, (6, 6, 2))[0])(keys)
    ys = jax.vmap(layer.apply, in_axes=(0, None, None))(ensemble, state, x)[0]
    for i in range(3):
        member = layer.init(keys[i], (6, 6, 2))[0]
        np.testing.assert_allclose(ys[i], layer.apply(member, state, x)[0], rtol=1e-5, atol=1e-5)


def test_conv2d_float64_preserved(key, x64):
    layer = Conv2D(2, 3)
    params, state, _ = layer.init(key, (4, 4, 1))
    params = jax.tree.map(lambda p: p.astype(jnp.float64), params)
    y, _ = layer.apply(params, state, jnp.ones((1, 4, 4, 1), jnp.float64))
    assert y.dtype == jnp.float64


@pytest.mark.parametrize("make, message", [
    (lambda: Conv2D(0, 3), r"Conv2D: features must be >= 1, got 0"),
    (lambda: Conv2D(-2, 3), r"Conv2D: features must be >= 1, got -2"),
    (lambda: Conv2D(2, 0), r"Conv2D: kernel_size must be >= 1, got 0"),
    (lambda: Conv2D(2, (3, 0)), r"Conv2D: kernel_size must be >= 1, got 0"),
    (lambda: Conv2D(2, 3, 0), r"Conv2D: strides must be >= 1, got 0"),
    (lambda: Conv2D(2, 3, (1, -1)), r"Conv2D: strides must be >= 1, got -1"),
    (lambda: Conv2D(2, 3, 1, "full"), r"Conv2D: padding must be .*'SAME'.*got 'full'"),
    (lambda: Conv2D(2, 3, 1, -1), r"Conv2D: padding must be .*>= 0.*got -1"),
    (lambda: Conv2D(2, (1, 2, 3)), r"Conv2D: kernel_size must be an int or a sequence of 2"),
    (lambda: Conv1D(0, 3), r"Conv1D: features must be >= 1, got 0"),
    (lambda: Conv1D(2, 0), r"Conv1D: kernel_size must be >= 1, got 0"),
    (lambda: Conv1D(2, 3, 0), r"Conv1D: strides must be >= 1, got 0"),
    (lambda: Conv1D(2, 3, 1, "causal"), r"Conv1D: padding must be .*got 'causal'"),
    (lambda: conv_output_size(5, 3, 0, 0), r"conv_output_size: s must be >= 1, got 0"),
    (lambda: conv_output_size(5, 0, 0, 1), r"conv_output_size: f must be >= 1, got 0"),
    (lambda: conv_output_size(5, 3, -1, 1), r"conv_output_size: p must be an int >= 0, got -1"),
    (lambda: conv_output_size(3, 5, 0, 1), r"conv_output_size: f must be <= w \+ 2p = 3.*got 5"),
])
def test_conv_bad_arguments_name_owner_parameter_and_value(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_conv_bad_types_and_input_shapes_are_clear_errors(key):
    with pytest.raises(TypeError, match=r"Conv2D: kernel_size must be an int .*got 3.0"):
        Conv2D(2, 3.0)
    with pytest.raises(TypeError, match=r"Conv2D: features must be a positive int, got 2.5"):
        Conv2D(2.5, 3)
    with pytest.raises(ValueError, match=r"Conv2D: input_shape must have 3 axes .*got \(5, 5\)"):
        Conv2D(2, 3).init(key, (5, 5))
    with pytest.raises(ValueError, match=r"Conv1D: input_shape must have 2 axes .*got \(5, 5, 1\)"):
        Conv1D(2, 3).init(key, (5, 5, 1))
    with pytest.raises(ValueError, match=r"Conv2D: kernel_size must be <= the padded input size 4"
                                         r".*got 5"):
        Conv2D(2, 5, padding=(0, 1)).init(key, (4, 4, 1))
