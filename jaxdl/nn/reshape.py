"""Shape layers: `Flatten` (per-example axes into one), `Reshape` (a new per-example shape), and
`ZeroPadding2D`, `ZeroPadding1D`, `Cropping2D`, `Cropping1D` (zeros added to, or cells cut from,
the borders of the spatial axes).

The batch axis is never touched, so a conv stack ending in (batch, H, W, C) feeds a Dense layer
through `Flatten()` as (batch, H * W * C).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from jax import lax

from jaxdl import checks
from jaxdl.core import Layer
from jaxdl.spec import by_value


@by_value
def Flatten() -> Layer:
    """Merge all per-example axes into one: `(batch, d1, ..., dk) -> (batch, d1 * ... * dk)`.

    Row-major (C) order, as `jnp.reshape`. No params.
    """

    def init(key, input_shape):
        return {}, {}, (math.prod(input_shape),)

    def apply(params, state, x, *, key=None, train=False):
        return x.reshape((x.shape[0], math.prod(x.shape[1:]))), state

    return Layer(init, apply, "flatten")


@by_value
def Reshape(shape: Sequence[int]) -> Layer:
    """Give each example the shape `shape`: `(batch, *input_shape) -> (batch, *shape)`.

    Args:
      shape: the per-example output shape (no batch axis): positive ints, at most one -1 that
        takes whatever size makes the element counts match. Row-major order, as `jnp.reshape`.
    A shape whose element count cannot equal the input's is a ValueError at `init`.
    """
    try:
        shape = tuple(shape)
    except TypeError:
        raise TypeError(f"Reshape: shape must be a sequence of ints, got {shape!r}") from None
    if not all(isinstance(d, int) and not isinstance(d, bool) and (d >= 1 or d == -1)
               for d in shape) or shape.count(-1) > 1:
        raise ValueError(f"Reshape: shape must be ints >= 1 with at most one -1, got {shape}")

    def init(key, input_shape):
        size, known = math.prod(input_shape), math.prod(d for d in shape if d != -1)
        if -1 in shape and size % known == 0:
            out = tuple(size // known if d == -1 else d for d in shape)
        elif -1 not in shape and size == known:
            out = shape
        else:
            raise ValueError(
                f"Reshape: shape {shape} cannot hold the {size} elements of input_shape "
                f"{tuple(input_shape)}" + (f" ({size} is not a multiple of {known})"
                                           if -1 in shape else f" (it has {known})")
            )
        return {}, {}, out

    def apply(params, state, x, *, key=None, train=False):
        return x.reshape((x.shape[0], *shape)), state

    return Layer(init, apply, "reshape")


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _border_pairs(value: Any, n: int, name: str, owner: str) -> tuple[tuple[int, int], ...]:
    """Keras' border argument as `n` (low, high) pairs of ints >= 0: an int (every side), `n`
    ints (both sides of each axis; for n = 1 a pair is (low, high)) or `n` pairs."""
    pairs = None
    if _is_int(value):
        pairs = ((value, value),) * n
    elif isinstance(value, (tuple, list)):
        items = tuple(value)
        if n == 1 and len(items) == 2 and all(_is_int(v) for v in items):
            pairs = (items,)
        elif len(items) == n and all(_is_int(v) for v in items):
            pairs = tuple((v, v) for v in items)
        elif len(items) == n and all(isinstance(v, (tuple, list)) and len(v) == 2
                                     and all(_is_int(u) for u in v) for v in items):
            pairs = tuple(tuple(v) for v in items)
    if pairs is None:
        form = "an int or a (low, high) pair" if n == 1 else f"an int, {n} ints or {n} pairs"
        raise TypeError(f"{owner}: {name} must be {form} of ints, got {value!r}")
    if any(v < 0 for p in pairs for v in p):
        raise ValueError(f"{owner}: {name} must be >= 0 on every side, got {value!r}")
    return tuple((int(lo), int(hi)) for lo, hi in pairs)


def _border(n: int, sign: int, owner: str, name: str, layout: str, pairs: Any) -> Layer:
    what = "padding" if sign > 0 else "cropping"
    pairs = _border_pairs(pairs, n, what, owner)

    def init(key, input_shape):
        checks.shape_rank(input_shape, n + 1, owner, layout)
        out = tuple(w + sign * (lo + hi) for w, (lo, hi) in zip(input_shape[:n], pairs))
        for axis, (w, o) in enumerate(zip(input_shape, out)):
            if o < 1:
                raise ValueError(f"{owner}: cropping must leave at least one cell on spatial "
                                 f"axis {axis} (size {w}), got cropping={pairs[axis]}")
        return {}, {}, (*out, input_shape[-1])

    def apply(params, state, x, *, key=None, train=False):
        if x.ndim != n + 2:
            raise ValueError(f"{owner}: x must be (batch, {layout[1:-1]}), got shape {x.shape}")
        config = ((0, 0, 0), *((sign * lo, sign * hi, 0) for lo, hi in pairs), (0, 0, 0))
        return lax.pad(x, lax.full((), 0, x.dtype), config), state

    return Layer(init, apply, name)


@by_value
def ZeroPadding2D(padding: int | Sequence[int] | Sequence[Sequence[int]] = 1) -> Layer:
    """Add rows and columns of zeros at the borders of NHWC images (Keras' `ZeroPadding2D`).

    Args:
      padding: an int P (every side), a pair (P_h, P_w) (both sides of each axis), or
        ((top, bottom), (left, right)); ints >= 0.
    x: (batch, H, W, D) -> y: (batch, top + H + bottom, left + W + right, D). No params.
    """
    return _border(2, 1, "ZeroPadding2D", "zeropadding2d", "(H, W, C)", padding)


@by_value
def ZeroPadding1D(padding: int | Sequence[int] = 1) -> Layer:
    """Add zeros at both ends of NWC sequences.

    Args:
      padding: an int P (both ends) or a (left, right) pair; ints >= 0.
    x: (batch, W, D) -> y: (batch, left + W + right, D). No params.
    """
    return _border(1, 1, "ZeroPadding1D", "zeropadding1d", "(W, C)", padding)


@by_value
def Cropping2D(cropping: int | Sequence[int] | Sequence[Sequence[int]] = 1) -> Layer:
    """Cut rows and columns from the borders of NHWC images (Keras' `Cropping2D`).

    Args:
      cropping: as `ZeroPadding2D`'s padding; at least one row and one column must remain.
    x: (batch, H, W, D) -> y: (batch, H - top - bottom, W - left - right, D). No params.
    """
    return _border(2, -1, "Cropping2D", "cropping2d", "(H, W, C)", cropping)


@by_value
def Cropping1D(cropping: int | Sequence[int] = 1) -> Layer:
    """Cut cells from both ends of NWC sequences.

    Args:
      cropping: an int (both ends) or a (left, right) pair; at least one cell must remain.
    x: (batch, W, D) -> y: (batch, W - left - right, D). No params.
    """
    return _border(1, -1, "Cropping1D", "cropping1d", "(W, C)", cropping)


__all__ = ["Cropping1D", "Cropping2D", "Flatten", "Reshape", "ZeroPadding1D", "ZeroPadding2D"]
