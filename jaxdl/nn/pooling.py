"""Pooling layers: `MaxPool2D`, `AvgPool2D` (NHWC images) and `MaxPool1D`, `AvgPool1D` (NWC), and
their global versions `GlobalMaxPool2D`, `GlobalAvgPool2D`, `GlobalMaxPool1D`, `GlobalAvgPool1D`.

Fundamentals 000, section 3.2.4: pooling downsamples each feature map independently, keeping the
maximum (max pooling) or the mean (average pooling) of every window, so the depth D is unchanged.
Output size per spatial axis is `floor((W - F + 2P) / S) + 1`, as for a convolution. Global
pooling takes one window as large as the input (Lin et al. 2014, "Network in network"): one
number per channel, whatever the input size.
"""

from __future__ import annotations

from typing import Sequence

import jax.numpy as jnp
from jax import lax

from jaxdl import checks
from jaxdl.core import Layer
from jaxdl.checks import int_tuple
from jaxdl.nn.conv import Padding, output_shape, padding_spec
from jaxdl.spec import by_value


def _pool(
    n: int, kind: str, owner: str, layout: str, window: int | Sequence[int],
    strides: int | Sequence[int] | None, padding: Padding,
) -> Layer:
    window = int_tuple(window, n, "window", owner)
    strides = window if strides is None else int_tuple(strides, n, "strides", owner)
    padding = padding_spec(padding, n, owner)
    if not isinstance(padding, str) and any(max(p) >= f for p, f in zip(padding, window)):
        raise ValueError(f"{owner}: padding must be < window on each side (a window of only "
                         f"padding has no input cell), got padding={padding} for window={window}")
    dims, steps = (1, *window, 1), (1, *strides, 1)

    def init(key, input_shape):
        checks.shape_rank(input_shape, n + 1, owner, layout)
        out, _ = output_shape(tuple(input_shape[:n]), window, strides, padding, owner, "window")
        return {}, {}, (*out, input_shape[-1])

    def apply(params, state, x, *, key=None, train=False):
        _, pads = output_shape(x.shape[1:-1], window, strides, padding, owner, "window")
        pads = ((0, 0), *pads, (0, 0))
        if kind == "max":  # padded cells are -inf, so they never win
            return lax.reduce_window(x, -jnp.inf, lax.max, dims, steps, pads), state
        total = lax.reduce_window(x, 0.0, lax.add, dims, steps, pads)
        ones = jnp.ones((1, *x.shape[1:-1], 1), x.dtype)
        count = lax.reduce_window(ones, 0.0, lax.add, dims, steps, pads)
        return total / jnp.broadcast_to(count, total.shape), state

    return Layer(init, apply, f"{kind}pool" + ("1d" if n == 1 else ""))


@by_value
def MaxPool2D(
    window: int | Sequence[int], strides: int | Sequence[int] | None = None,
    padding: Padding = "VALID",
) -> Layer:
    """Max pooling per channel on NHWC images: `y[n, i, j, d] = max_{m,l} x[n, Si + m, Sj + l, d]`.

    Args:
      window: F, an int or an (F_h, F_w) pair, >= 1.
      strides: S, an int or a pair, >= 1; default `window` (non-overlapping windows).
      padding: 'VALID' (default), 'SAME' (output ceil(W / S)), an int P or a pair, on each side;
        padded cells are ignored (they count as -inf).
    x: (batch, H, W, D) -> y: (batch, H2, W2, D).
    """
    return _pool(2, "max", "MaxPool2D", "(H, W, C)", window, strides, padding)


@by_value
def AvgPool2D(
    window: int | Sequence[int], strides: int | Sequence[int] | None = None,
    padding: Padding = "VALID",
) -> Layer:
    """Average pooling per channel on NHWC images: the mean of each window.

    `y[n, i, j, d] = sum_{(m, l) real} x[n, S i + m, S j + l, d] / #real cells`: padded cells
    are left out of both the sum and the count (PyTorch's `count_include_pad=False`, the
    `padding='SAME'` behaviour of TensorFlow and Flax), so a border window averages only the
    image pixels it covers.

    Args:
      window: as in `MaxPool2D`.
      strides: as in `MaxPool2D`.
      padding: as in `MaxPool2D`.
    x: (batch, H, W, D) -> y: (batch, H2, W2, D).
    """
    return _pool(2, "avg", "AvgPool2D", "(H, W, C)", window, strides, padding)


@by_value
def MaxPool1D(
    window: int | Sequence[int], strides: int | Sequence[int] | None = None,
    padding: Padding = "VALID",
) -> Layer:
    """`MaxPool2D` on NWC sequences: `y[n, i, d] = max_m x[n, S i + m, d]`.

    x: (batch, W, D) -> y: (batch, W2, D).
    """
    return _pool(1, "max", "MaxPool1D", "(W, C)", window, strides, padding)


@by_value
def AvgPool1D(
    window: int | Sequence[int], strides: int | Sequence[int] | None = None,
    padding: Padding = "VALID",
) -> Layer:
    """`AvgPool2D` on NWC sequences: the mean of the real (unpadded) cells of each window.

    x: (batch, W, D) -> y: (batch, W2, D).
    """
    return _pool(1, "avg", "AvgPool1D", "(W, C)", window, strides, padding)


def _global_pool(n: int, kind: str, owner: str, layout: str) -> Layer:
    axes = tuple(range(1, n + 1))

    def init(key, input_shape):
        checks.shape_rank(input_shape, n + 1, owner, layout)
        return {}, {}, (input_shape[-1],)

    def apply(params, state, x, *, key=None, train=False):
        if x.ndim != n + 2:
            raise ValueError(f"{owner}: x must be (batch, {layout[1:-1]}), got shape {x.shape}")
        return (jnp.max if kind == "max" else jnp.mean)(x, axis=axes), state

    return Layer(init, apply, f"global{kind}pool" + ("1d" if n == 1 else ""))


@by_value
def GlobalMaxPool2D() -> Layer:
    """The maximum of each channel over the whole image: `y[n, d] = max_{i,j} x[n, i, j, d]`.

    x: (batch, H, W, D) -> y: (batch, D). No params.
    """
    return _global_pool(2, "max", "GlobalMaxPool2D", "(H, W, C)")


@by_value
def GlobalAvgPool2D() -> Layer:
    """The mean of each channel over the whole image: `y[n, d] = mean_{i,j} x[n, i, j, d]`.

    x: (batch, H, W, D) -> y: (batch, D). No params.
    """
    return _global_pool(2, "avg", "GlobalAvgPool2D", "(H, W, C)")


@by_value
def GlobalMaxPool1D() -> Layer:
    """The maximum of each channel over the sequence: `y[n, d] = max_i x[n, i, d]`.

    x: (batch, W, D) -> y: (batch, D). No params.
    """
    return _global_pool(1, "max", "GlobalMaxPool1D", "(W, C)")


@by_value
def GlobalAvgPool1D() -> Layer:
    """The mean of each channel over the sequence: `y[n, d] = mean_i x[n, i, d]`.

    x: (batch, W, D) -> y: (batch, D). No params.
    """
    return _global_pool(1, "avg", "GlobalAvgPool1D", "(W, C)")


__all__ = ["AvgPool2D", "AvgPool1D", "MaxPool2D", "MaxPool1D", "GlobalAvgPool2D",
           "GlobalAvgPool1D", "GlobalMaxPool2D", "GlobalMaxPool1D"]
