"""Convolution layers: `Conv2D` on NHWC images, `Conv1D` on NWC sequences, and `conv_output_size`.

Fundamentals 000, section 3.2.3: a filter of size F slides with stride S over an input of width W
zero-padded by P on each side, giving a feature map of width W2 = floor((W - F + 2P) / S) + 1, one
map per filter; a layer of K filters of size F x F x D has (F * F * D + 1) * K parameters (local
connections and shared weights).
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxdl import checks
from jaxdl.core import Layer
from jaxdl.initializers import Initializer, lecun_normal, zeros
from jaxdl.spec import by_value

Padding = int | Sequence[int] | str
_PADDING_STRINGS = ("SAME", "VALID")


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def conv_output_size(w: int, f: int, p: int, s: int) -> int:
    """Output width of a convolution: `floor((W - F + 2P) / S) + 1` (fundamentals 000, 3.2.3).

    Args:
      w: input width W >= 1.
      f: filter width F >= 1.
      p: zero padding P >= 0 on each side.
      s: stride S >= 1.

    Returns:
      the feature-map width W2 (>= 1); e.g. W=5, F=3, P=0, S=2 gives 2.
    """
    owner = "conv_output_size"
    w, f, s = (checks.positive_int(v, n, owner) for v, n in ((w, "w"), (f, "f"), (s, "s")))
    if not _is_int(p) or p < 0:
        raise ValueError(f"{owner}: p must be an int >= 0, got {p!r}")
    if f > w + 2 * p:
        raise ValueError(f"{owner}: f must be <= w + 2p = {w + 2 * p} (the padded input), got {f}")
    return (w - f + 2 * p) // s + 1


def padding_spec(padding: Any, n: int, owner: str) -> str | tuple[tuple[int, int], ...]:
    """Validate `padding`: 'SAME' / 'VALID' (any case), an int >= 0, or `n` ints >= 0 (one per
    spatial axis, both sides); returns the upper-case string or `n` (low, high) pairs."""
    if isinstance(padding, str):
        if padding.upper() in _PADDING_STRINGS:
            return padding.upper()
    else:
        items = (padding,) * n if _is_int(padding) else padding
        try:
            items = tuple(items)
        except TypeError:
            items = ()
        if len(items) == n and all(
            _is_int(p) and p >= 0 for p in items
        ):
            return tuple((int(p), int(p)) for p in items)
    raise ValueError(
        f"{owner}: padding must be 'SAME', 'VALID', an int >= 0 or {n} ints >= 0, got {padding!r}"
    )


def output_shape(
    spatial: tuple[int, ...], window: tuple[int, ...], strides: tuple[int, ...],
    padding: str | tuple[tuple[int, int], ...], owner: str, what: str = "kernel_size",
) -> tuple[tuple[int, ...], tuple[tuple[int, int], ...]]:
    """Spatial output shape and explicit (low, high) pads; raises when a window exceeds its
    padded input."""
    pads = tuple(lax.padtype_to_pads(spatial, window, strides, padding)) if isinstance(
        padding, str) else padding
    out = []
    for axis, (w, f, s, (lo, hi)) in enumerate(zip(spatial, window, strides, pads)):
        if f > w + lo + hi:
            raise ValueError(
                f"{owner}: {what} must be <= the padded input size {w + lo + hi} on spatial axis "
                f"{axis} (input {w}, padding {(lo, hi)}), got {f}"
            )
        out.append((w + lo + hi - f) // s + 1)
    return tuple(out), tuple((int(lo), int(hi)) for lo, hi in pads)


def kernel_params(key: jax.Array, window: tuple[int, ...], channels: int, features: int,
                  use_bias: bool, w_init: Initializer, b_init: Initializer) -> dict:
    """{"w": (*window, channels, features), "b": (features,) when `use_bias`}, float32."""
    k_w, k_b = jax.random.split(key)
    params = {"w": w_init(k_w, (*window, channels, features), jnp.float32)}
    if use_bias:
        params["b"] = b_init(k_b, (features,), jnp.float32)
    return params


def check_channels(params: dict, x: jax.Array, n: int, layout: str, owner: str) -> None:
    """x must be (batch, *n spatial axes, C) of floats, C the kernel's input channels."""
    channels = params["w"].shape[-2]
    if x.ndim != n + 2 or x.shape[-1] != channels:
        raise ValueError(f"{owner}: x must be (batch, {layout[1:-1]}) with C = {channels} "
                         f"channels (the input_shape given to init), got shape {x.shape}")
    checks.floating(x, "x", owner, "convert integer images with x.astype(jnp.float32)")


def _conv(
    n: int, owner: str, name: str, layout: str, numbers: tuple[str, str, str], features: int,
    kernel_size: int | Sequence[int], strides: int | Sequence[int], padding: Padding,
    use_bias: bool, w_init: Initializer | None, b_init: Initializer,
) -> Layer:
    features = checks.positive_int(features, "features", owner)
    window = checks.int_tuple(kernel_size, n, "kernel_size", owner)
    strides = checks.int_tuple(strides, n, "strides", owner)
    padding = padding_spec(padding, n, owner)
    w_init = lecun_normal() if w_init is None else w_init

    def init(key, input_shape):
        checks.shape_rank(input_shape, n + 1, owner, layout)
        out, _ = output_shape(tuple(input_shape[:n]), window, strides, padding, owner)
        params = kernel_params(key, window, input_shape[-1], features, use_bias, w_init, b_init)
        return params, {}, (*out, features)

    def apply(params, state, x, *, key=None, train=False):
        check_channels(params, x, n, layout, owner)
        _, pads = output_shape(x.shape[1:-1], window, strides, padding, owner)
        y = lax.conv_general_dilated(x, params["w"], strides, pads, dimension_numbers=numbers)
        if use_bias:
            y = y + jnp.broadcast_to(params["b"], y.shape)
        return y, state

    return Layer(init, apply, name)


@by_value
def Conv2D(
    features: int,
    kernel_size: int | Sequence[int],
    strides: int | Sequence[int] = 1,
    padding: Padding = 0,
    *,
    use_bias: bool = True,
    w_init: Initializer | None = None,
    b_init: Initializer = zeros,
) -> Layer:
    """2-D convolution (cross-correlation, as in every framework) on NHWC images.

    `y[n, i, j, k] = b[k] + sum_{m, l, d} w[m, l, d, k] x[n, S i + m - P, S j + l - P, d]`
    (fundamentals 000, 3.2.3), output size `floor((W - F + 2P) / S) + 1` per spatial axis,
    `(F * F * D + 1) * K` parameters. Computed with `lax.conv_general_dilated` (NHWC, HWIO, NHWC).

    Args:
      features: K, the number of filters (output channels), >= 1.
      kernel_size: F, an int or an (F_h, F_w) pair, >= 1.
      strides: S, an int or a pair, >= 1.
      padding: zeros added on each side: an int P, a pair (P_h, P_w), or 'SAME' (output
        ceil(W / S)) / 'VALID' (no padding), any case.
      use_bias: add `b` (and create it).
      w_init: kernel initializer, default `lecun_normal()`.
      b_init: bias initializer, default zeros.
    Params `{"w": (F_h, F_w, D, K), "b": (K,)}`; x: (batch, H, W, D) -> y: (batch, H2, W2, K).
    """
    return _conv(2, "Conv2D", "conv2d", "(H, W, C)", ("NHWC", "HWIO", "NHWC"), features,
                 kernel_size, strides, padding, use_bias, w_init, b_init)


@by_value
def Conv1D(
    features: int,
    kernel_size: int | Sequence[int],
    strides: int | Sequence[int] = 1,
    padding: Padding = 0,
    *,
    use_bias: bool = True,
    w_init: Initializer | None = None,
    b_init: Initializer = zeros,
) -> Layer:
    """1-D convolution on NWC sequences: `Conv2D`'s contract with one spatial axis.

    `y[n, i, k] = b[k] + sum_{m, d} w[m, d, k] x[n, S i + m - P, d]`, output width
    `floor((W - F + 2P) / S) + 1`, `(F * D + 1) * K` parameters.

    Args:
      features: K, the number of filters, >= 1.
      kernel_size: F >= 1 (an int or a 1-sequence).
      strides: S >= 1.
      padding: an int P >= 0 on each side, or 'SAME' / 'VALID' (any case).
      use_bias: as in `Conv2D`.
      w_init: as in `Conv2D`.
      b_init: as in `Conv2D`.
    Params `{"w": (F, D, K), "b": (K,)}`; x: (batch, W, D) -> y: (batch, W2, K).
    """
    return _conv(1, "Conv1D", "conv1d", "(W, C)", ("NWC", "WIO", "NWC"), features,
                 kernel_size, strides, padding, use_bias, w_init, b_init)


__all__ = ["Conv1D", "Conv2D", "conv_output_size"]
