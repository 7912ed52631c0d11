"""Shape layers: `Flatten` (per-example axes into one) and `Reshape` (a new per-example shape).

The batch axis is never touched, so a conv stack ending in (batch, H, W, C) feeds a Dense layer
through `Flatten()` as (batch, H * W * C).
"""

from __future__ import annotations

import math
from typing import Sequence

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


__all__ = ["Flatten", "Reshape"]
