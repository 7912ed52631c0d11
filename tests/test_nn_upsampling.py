"""Conv2DTranspose, Conv1DTranspose against `lax.conv_transpose`, a float64 NumPy scatter-add
written from the definition and the adjoint of `Conv2D`; UpSampling2D/1D against NumPy repeats
and a float64 half-pixel bilinear interpolation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jaxdl.nn.conv import Conv2D
from jaxdl.nn.upsampling import Conv1DTranspose, Conv2DTranspose, UpSampling1D, UpSampling2D


def _with_bias(key, params):
    return {**params, "b": jax.random.normal(key, params["b"].shape)}


def scatter_ref(x, w, b, strides, padding):
    """y[S i + m, S j + r] += x[i, j] @ w[m, r] over the full output ((W - 1) S + F), then the
    crop the padding asks for: VALID none (zeros to W S when S > F), SAME floor((F - S)^+ / 2)
    at the start and length W S (TensorFlow: the gradient of a SAME convolution), P cells per
    side for an int P (PyTorch). float64 loops."""
    x, w, b = (np.asarray(a, np.float64) for a in (x, w, b))
    n, h, wd, _ = x.shape
    fh, fw, _, k = w.shape
    sh, sw = strides
    full = np.zeros((n, (h - 1) * sh + fh, (wd - 1) * sw + fw, k))
    for i in range(h):
        for j in range(wd):
            for m in range(fh):
                for r in range(fw):
                    full[:, sh * i + m, sw * j + r] += x[:, i, j] @ w[m, r]
    spans = []
    for size, f, s in ((h, fh, sh), (wd, fw, sw)):
        if padding == "VALID":
            spans.append((0, size * s + max(f - s, 0)))
        elif padding == "SAME":
            spans.append((max(f - s, 0) // 2, size * s))
        else:
            spans.append((padding, (size - 1) * s + f - 2 * padding))
    out = np.zeros((n, spans[0][1], spans[1][1], k))
    (r0, rn), (c0, cn) = spans
    crop = full[:, r0:r0 + rn, c0:c0 + cn]
    out[:, :crop.shape[1], :crop.shape[2]] = crop  # the rest (S > F, VALID/SAME) stays zero
    return out + b


CASES = [(3, 2, "VALID"), (3, 2, "SAME"), (4, 2, "SAME"), (2, 3, "VALID"), (2, 3, "SAME"),
         (3, 2, 1), ((3, 2), (2, 1), "VALID"), (3, 1, 2)]


@pytest.mark.parametrize("kernel, strides, padding", CASES)
def test_conv2d_transpose_matches_lax_conv_transpose(key, kernel, strides, padding):
    k1, k2, k3 = jax.random.split(key, 3)
    layer = Conv2DTranspose(3, kernel, strides, padding)
    params, state, out = layer.init(k1, (4, 3, 2))
    params = _with_bias(k2, params)
    x = jax.random.normal(k3, (2, 4, 3, 2))
    y, new_state = layer.apply(params, state, x)
    s = (strides, strides) if isinstance(strides, int) else strides
    # transpose_kernel=True reads w as the forward conv's (F, F, K, D) kernel: swap I and O.
    pad = padding if isinstance(padding, str) else ((padding, padding),) * 2
    ref = lax.conv_transpose(x, params["w"].swapaxes(2, 3), s, pad,
                             dimension_numbers=("NHWC", "HWIO", "NHWC"), transpose_kernel=True,
                             use_consistent_padding=not isinstance(padding, str))
    ref = np.asarray(ref) + np.asarray(params["b"])
    assert y.shape == (2, *out) == ref.shape and new_state == {}
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kernel, strides, padding", [(3, 2, "VALID"), (4, 2, "SAME"),
                                                      (2, 3, "VALID"), (3, 2, 1)])
def test_conv2d_transpose_matches_a_float64_scatter_add(key, x64, kernel, strides, padding):
    k1, k2, k3 = jax.random.split(key, 3)
    layer = Conv2DTranspose(2, kernel, strides, padding)
    params, state, out = layer.init(k1, (3, 2, 2))
    params = jax.tree.map(lambda a: a.astype(jnp.float64), _with_bias(k2, params))
    x = jax.random.normal(k3, (2, 3, 2, 2), jnp.float64)
    y, _ = layer.apply(params, state, x)
    ref = scatter_ref(x, params["w"], params["b"], (strides, strides), padding)
    assert y.dtype == jnp.float64 and y.shape == (2, *out) == ref.shape
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)


def test_conv2d_transpose_is_the_adjoint_of_conv2d(key, x64):
    """<Conv(x), u> = <x, ConvT(u)> with the same kernel (in and out channels swapped): the
    transposed convolution is the gradient of a convolution with respect to its input."""
    k1, k2, k3 = jax.random.split(key, 3)
    conv = Conv2D(3, 3, strides=2, padding=1, use_bias=False)
    pc, _, out = conv.init(k1, (7, 7, 2))
    pc = jax.tree.map(lambda a: a.astype(jnp.float64), pc)
    convt = Conv2DTranspose(2, 3, strides=2, padding=1, use_bias=False)
    _, _, back = convt.init(k1, out)
    assert back == (7, 7, 2)
    x = jax.random.normal(k2, (2, 7, 7, 2), jnp.float64)
    u = jax.random.normal(k3, (2, *out), jnp.float64)
    y, _ = conv.apply(pc, {}, x)
    xt, _ = convt.apply({"w": pc["w"].swapaxes(2, 3)}, {}, u)
    np.testing.assert_allclose(jnp.vdot(y, u), jnp.vdot(x, xt), rtol=1e-12)
    _, vjp = jax.vjp(lambda a: conv.apply(pc, {}, a)[0], x)
    np.testing.assert_allclose(vjp(u)[0], xt, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("padding", ["SAME", 1])
def test_conv1d_transpose_matches_lax_conv_transpose(key, padding):
    layer = Conv1DTranspose(3, 3, 2, padding)
    params, state, out = layer.init(key, (5, 2))
    params = _with_bias(key, params)
    x = jax.random.normal(key, (2, 5, 2))
    y, _ = layer.apply(params, state, x)
    pad = padding if isinstance(padding, str) else ((padding, padding),)
    ref = lax.conv_transpose(x, params["w"].swapaxes(1, 2), (2,), pad,
                             dimension_numbers=("NWC", "WIO", "NWC"), transpose_kernel=True,
                             use_consistent_padding=not isinstance(padding, str))
    assert y.shape == (2, *out) == ref.shape == ((2, 10, 3) if padding == "SAME" else (2, 9, 3))
    np.testing.assert_allclose(y, np.asarray(ref) + np.asarray(params["b"]), rtol=1e-5,
                               atol=1e-5)


def test_conv_transpose_output_sizes_follow_the_stated_formulas(key):
    """VALID W S + max(F - S, 0), SAME W S, P: (W - 1) S + F - 2P; params (F, F, D, K), (K,)."""
    for kernel, strides, padding, expected in [(3, 2, "VALID", 11), (2, 3, "VALID", 15),
                                              (3, 2, "SAME", 10), (4, 2, 1, 10), (1, 1, 0, 5)]:
        params, _, out = Conv2DTranspose(4, kernel, strides, padding).init(key, (5, 5, 3))
        assert out == (expected, expected, 4)
        assert params["w"].shape == (kernel, kernel, 3, 4) and params["b"].shape == (4,)


def upsample_linear_ref(x, size, axes):
    """Half-pixel linear interpolation along each axis: output i samples input position
    (i + 1/2) / s - 1/2, clamped to [0, W - 1]. float64."""
    y = np.asarray(x, np.float64)
    for axis, s in zip(axes, size):
        w = y.shape[axis]
        pos = np.clip((np.arange(w * s) + 0.5) / s - 0.5, 0, w - 1)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, w - 1)
        t = (pos - lo).reshape([-1 if a == axis else 1 for a in range(y.ndim)])
        y = (1 - t) * np.take(y, lo, axis=axis) + t * np.take(y, hi, axis=axis)
    return y


def test_upsampling_nearest_repeats_every_cell(key):
    x = jax.random.normal(key, (2, 3, 4, 2))
    y, state = UpSampling2D((2, 3)).apply({}, {}, x)
    assert UpSampling2D((2, 3)).init(key, (3, 4, 2)) == ({}, {}, (6, 12, 2)) and state == {}
    np.testing.assert_array_equal(y, np.repeat(np.repeat(np.asarray(x), 2, 1), 3, 2))
    x1 = x[:, :, 0]
    y1, _ = UpSampling1D(3).apply({}, {}, x1)
    np.testing.assert_array_equal(y1, np.repeat(np.asarray(x1), 3, 1))
    ints = jnp.arange(6).reshape(1, 3, 2)  # nearest needs no floats
    y_ints, _ = UpSampling1D().apply({}, {}, ints)
    np.testing.assert_array_equal(y_ints[0, :, 1], [1, 1, 3, 3, 5, 5])


def test_upsampling_bilinear_matches_half_pixel_interpolation(key, x64):
    x = jax.random.normal(key, (2, 3, 4, 2), jnp.float64)
    y, _ = UpSampling2D((2, 3), "bilinear").apply({}, {}, x)
    np.testing.assert_allclose(y, upsample_linear_ref(x, (2, 3), (1, 2)), rtol=1e-12, atol=1e-12)
    y1, _ = UpSampling1D(2, "linear").apply({}, {}, x[:, 0])
    np.testing.assert_allclose(y1, upsample_linear_ref(x[:, 0], (2,), (1,)), rtol=1e-12,
                               atol=1e-12)
    # worked example: [0, 4] up 2 -> samples at -1/4, 1/4, 3/4, 5/4 -> [0, 1, 3, 4]
    row = jnp.array([[[0.0], [4.0]]])
    np.testing.assert_allclose(UpSampling1D(2, "linear").apply({}, {}, row)[0][0, :, 0],
                               [0, 1, 3, 4])


@pytest.mark.parametrize("make, error, message", [
    (lambda: Conv2DTranspose(2, 3, strides=0), ValueError,
     r"Conv2DTranspose: strides must be >= 1, got 0"),
    (lambda: Conv2DTranspose(2, 3, strides=(2, -1)), ValueError,
     r"Conv2DTranspose: strides must be >= 1, got -1"),
    (lambda: Conv2DTranspose(2, 3, strides=1.5), TypeError,
     r"Conv2DTranspose: strides must be an int or a sequence of 2 ints, got 1.5"),
    (lambda: Conv2DTranspose(2, 3, padding=3), ValueError,
     r"Conv2DTranspose: padding must be <= kernel_size - 1 .*got padding=3 for kernel_size="
     r"\(3, 3\)"),
    (lambda: Conv2DTranspose(2, 3, padding="FULL"), ValueError,
     r"Conv2DTranspose: padding must be 'SAME', 'VALID'.*got 'FULL'"),
    (lambda: Conv2DTranspose(0, 3), ValueError, r"Conv2DTranspose: features must be >= 1, got 0"),
    (lambda: Conv1DTranspose(2, 3, padding=-1), ValueError,
     r"Conv1DTranspose: padding must be .*got -1"),
    (lambda: UpSampling2D(0), ValueError, r"UpSampling2D: size must be >= 1, got 0"),
    (lambda: UpSampling2D(2, "bicubic"), ValueError,
     r"UpSampling2D: method must be one of \('nearest', 'bilinear'\), got 'bicubic'"),
    (lambda: UpSampling1D(2, "bilinear"), ValueError,
     r"UpSampling1D: method must be one of \('nearest', 'linear'\), got 'bilinear'"),
])
def test_bad_arguments_name_the_layer_parameter_and_value(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_bad_input_shapes_are_clear_errors(key):
    with pytest.raises(ValueError, match=r"Conv2DTranspose: input_shape must have 3 axes "
                                         r"\(H, W, C\).*got \(4, 4\)"):
        Conv2DTranspose(2, 3).init(key, (4, 4))
    with pytest.raises(ValueError, match=r"Conv2DTranspose: padding=2 crops the whole output of "
                                         r"input_shape \(1, 4, 1\) \(output \(-1, 5\)\)"):
        Conv2DTranspose(2, 3, 2, padding=2).init(key, (1, 4, 1))
    with pytest.raises(ValueError, match=r"UpSampling1D: input_shape must have 2 axes .*got "
                                         r"\(4, 4, 1\)"):
        UpSampling1D().init(key, (4, 4, 1))
    layer = Conv2DTranspose(2, 3)
    params, _, _ = layer.init(key, (4, 4, 1))
    with pytest.raises(ValueError, match=r"Conv2DTranspose: x must be \(batch, H, W, C\) with "
                                         r"C = 1 channels .*got shape \(2, 4, 4, 3\)"):
        layer.apply(params, {}, jnp.ones((2, 4, 4, 3)))
    with pytest.raises(TypeError, match=r"UpSampling2D: x must be a float array, got dtype int32"):
        UpSampling2D(2, "bilinear").apply({}, {}, jnp.ones((1, 2, 2, 1), jnp.int32))
