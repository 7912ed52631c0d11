"""Layers that grow the spatial size: `Conv2DTranspose`, `Conv1DTranspose` (learned) and
`UpSampling2D`, `UpSampling1D` (fixed: nearest or (bi)linear).

A transposed convolution is the adjoint of a convolution: each input cell scatters its kernel,
scaled, into the output at stride S, `y[S i + m - P] += x[i] w[m]`, so a stride-2 layer doubles
the size where a stride-2 `Conv` halves it (the decoder half of an encoder-decoder; Dumoulin and
Visin 2016, "A guide to convolution arithmetic", section 4). Up-sampling repeats (nearest) or
interpolates (bilinear) cells and has no params.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
from jax import lax

from jaxdl import checks
from jaxdl.core import Layer
from jaxdl.initializers import Initializer, lecun_normal, zeros
from jaxdl.nn.conv import Padding, check_channels, kernel_params, padding_spec
from jaxdl.spec import by_value


def transpose_pads(
    window: tuple[int, ...], strides: tuple[int, ...], padding: str | tuple[tuple[int, int], ...],
) -> tuple[tuple[int, int], ...]:
    """(low, high) pads of the stride-1 convolution, with the flipped kernel, of the input
    dilated by `strides` that computes a transposed convolution; its output size per axis is
    `(W - 1) S + 1 + low + high - F + 1`:
    'VALID' `W S + max(F - S, 0)`, 'SAME' `W S` (TensorFlow's and `lax.conv_transpose`'s rules),
    explicit (P_lo, P_hi) `(W - 1) S + F - P_lo - P_hi` (PyTorch's, P cells cropped per side)."""
    pads = []
    per_axis = (padding,) * len(window) if isinstance(padding, str) else padding
    for f, s, p in zip(window, strides, per_axis):
        if padding == "VALID":
            pads.append((f - 1, f - 1 + max(s - f, 0)))
        elif padding == "SAME":
            low = f - 1 - max(f - s, 0) // 2
            pads.append((low, f + s - 2 - low))
        else:
            pads.append((f - 1 - p[0], f - 1 - p[1]))
    return tuple(pads)


def _conv_transpose(
    n: int, owner: str, name: str, layout: str, numbers: tuple[str, str, str], features: int,
    kernel_size: int | Sequence[int], strides: int | Sequence[int], padding: Padding,
    use_bias: bool, w_init: Initializer | None, b_init: Initializer,
) -> Layer:
    features = checks.positive_int(features, "features", owner)
    window = checks.int_tuple(kernel_size, n, "kernel_size", owner)
    strides = checks.int_tuple(strides, n, "strides", owner)
    given, padding = padding, padding_spec(padding, n, owner)
    if not isinstance(padding, str) and any(max(p) >= f for p, f in zip(padding, window)):
        raise ValueError(f"{owner}: padding must be <= kernel_size - 1 on each side (the cells "
                         f"cropped from the full output), got padding={given!r} for "
                         f"kernel_size={window}")
    w_init = lecun_normal() if w_init is None else w_init
    pads = transpose_pads(window, strides, padding)

    def init(key, input_shape):
        checks.shape_rank(input_shape, n + 1, owner, layout)
        out = tuple((w - 1) * s + lo + hi - f + 2
                    for w, f, s, (lo, hi) in zip(input_shape[:n], window, strides, pads))
        if min(out) < 1:
            raise ValueError(f"{owner}: padding={given!r} crops the whole output of input_shape "
                             f"{tuple(input_shape)} (output {out}); use a smaller padding")
        params = kernel_params(key, window, input_shape[-1], features, use_bias, w_init, b_init)
        return params, {}, (*out, features)

    def apply(params, state, x, *, key=None, train=False):
        check_channels(params, x, n, layout, owner)
        w = jnp.flip(params["w"], tuple(range(n)))  # the scatter is a correlation, flipped
        y = lax.conv_general_dilated(x, w, (1,) * n, pads, lhs_dilation=strides,
                                     dimension_numbers=numbers)
        if use_bias:
            y = y + jnp.broadcast_to(params["b"], y.shape)
        return y, state

    return Layer(init, apply, name)


@by_value
def Conv2DTranspose(
    features: int,
    kernel_size: int | Sequence[int],
    strides: int | Sequence[int] = 1,
    padding: Padding = "VALID",
    *,
    use_bias: bool = True,
    w_init: Initializer | None = None,
    b_init: Initializer = zeros,
) -> Layer:
    """Transposed 2-D convolution on NHWC images (Keras' `Conv2DTranspose`, PyTorch's
    `ConvTranspose2d`): every input cell adds its kernel, scaled, to the output at stride S.

    `y[n, S i + m - P_lo, S j + l - P_lo, k] += sum_d x[n, i, j, d] w[m, l, d, k]`, then `+ b[k]`;
    the adjoint of `Conv2D` (the gradient of a convolution with respect to its input). Computed
    as a stride-1 convolution of the input dilated by S with the flipped kernel; equal to
    `lax.conv_transpose(x, w.swapaxes(2, 3), S, padding, transpose_kernel=True)`.

    Args:
      features: K, the number of output channels, >= 1.
      kernel_size: F, an int or an (F_h, F_w) pair, >= 1.
      strides: S, an int or a pair, >= 1 (the up-sampling factor).
      padding: 'VALID' (default: output `W S + max(F - S, 0)`), 'SAME' (output `W S`), or an int
        P / a pair (P_h, P_w) of cells cropped from each side of the full output, 0 <= P <= F - 1
        (output `(W - 1) S + F - 2P`, PyTorch's `padding`).
      use_bias: add `b` (and create it).
      w_init: kernel initializer, default `lecun_normal()`.
      b_init: bias initializer, default zeros.
    Params `{"w": (F_h, F_w, D, K), "b": (K,)}`; x: (batch, H, W, D) -> y: (batch, H2, W2, K).
    """
    return _conv_transpose(2, "Conv2DTranspose", "conv2dtranspose", "(H, W, C)",
                           ("NHWC", "HWIO", "NHWC"), features, kernel_size, strides, padding,
                           use_bias, w_init, b_init)


@by_value
def Conv1DTranspose(
    features: int,
    kernel_size: int | Sequence[int],
    strides: int | Sequence[int] = 1,
    padding: Padding = "VALID",
    *,
    use_bias: bool = True,
    w_init: Initializer | None = None,
    b_init: Initializer = zeros,
) -> Layer:
    """`Conv2DTranspose` on NWC sequences: `y[n, S i + m - P_lo, k] += sum_d x[n, i, d] w[m, d, k]`.

    Args: as in `Conv2DTranspose`, with one spatial axis.
    Params `{"w": (F, D, K), "b": (K,)}`; x: (batch, W, D) -> y: (batch, W2, K).
    """
    return _conv_transpose(1, "Conv1DTranspose", "conv1dtranspose", "(W, C)",
                           ("NWC", "WIO", "NWC"), features, kernel_size, strides, padding,
                           use_bias, w_init, b_init)


def _upsampling(n: int, owner: str, name: str, layout: str, size: int | Sequence[int],
                method: str, methods: tuple[str, str]) -> Layer:
    size = checks.int_tuple(size, n, "size", owner)
    if method not in methods:
        raise ValueError(f"{owner}: method must be one of {methods}, got {method!r}")

    def init(key, input_shape):
        checks.shape_rank(input_shape, n + 1, owner, layout)
        return {}, {}, (*(w * s for w, s in zip(input_shape[:n], size)), input_shape[-1])

    def apply(params, state, x, *, key=None, train=False):
        if x.ndim != n + 2:
            raise ValueError(f"{owner}: x must be (batch, {layout[1:-1]}), got shape {x.shape}")
        if method == "nearest":
            for axis, s in enumerate(size, start=1):
                x = jnp.repeat(x, s, axis=axis)
            return x, state
        checks.floating(x, "x", owner, f"{method} interpolation needs x.astype(jnp.float32)")
        out = (x.shape[0], *(w * s for w, s in zip(x.shape[1:-1], size)), x.shape[-1])
        return jax.image.resize(x, out, "linear"), state

    return Layer(init, apply, name)


@by_value
def UpSampling2D(size: int | Sequence[int] = 2, method: str = "nearest") -> Layer:
    """Up-sample NHWC images by an integer factor per axis (Keras' `UpSampling2D`). No params.

    'nearest' repeats every cell `size` times along each axis: `y[n, i, j, d] =
    x[n, i // s_h, j // s_w, d]`. 'bilinear' interpolates between the cell centres (half-pixel
    centres, `jax.image.resize`): output cell i samples the input at `(i + 1/2) / s - 1/2`,
    clamped to the border cells.

    Args:
      size: (s_h, s_w), an int or a pair, >= 1.
      method: 'nearest' (default) or 'bilinear'.
    x: (batch, H, W, D) -> y: (batch, s_h H, s_w W, D).
    """
    return _upsampling(2, "UpSampling2D", "upsampling2d", "(H, W, C)", size, method,
                       ("nearest", "bilinear"))


@by_value
def UpSampling1D(size: int | Sequence[int] = 2, method: str = "nearest") -> Layer:
    """`UpSampling2D` on NWC sequences: 'nearest' `y[n, i, d] = x[n, i // s, d]`, or 'linear'.

    x: (batch, W, D) -> y: (batch, s W, D).
    """
    return _upsampling(1, "UpSampling1D", "upsampling1d", "(W, C)", size, method,
                       ("nearest", "linear"))


__all__ = ["Conv1DTranspose", "Conv2DTranspose", "UpSampling1D", "UpSampling2D"]
