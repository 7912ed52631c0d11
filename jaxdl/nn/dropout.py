"""Dropout (Srivastava et al. 2014; fundamentals 000, section 3.12; 001 and 002 on dropout)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxdl import checks
from jaxdl.core import Layer
from jaxdl.spec import by_value


@by_value
def Dropout(rate: ArrayLike) -> Layer:
    """Inverted dropout: in training each unit is zeroed with probability `rate`, the kept ones
    are scaled by `1 / (1 - rate)`, so `E[y] = x`; in eval (`train=False`) it is the identity.

    `y = m * x / (1 - rate)`, `m ~ Bernoulli(1 - rate)` per element (train); `y = x` (eval).

    Args:
      rate: the probability of DROPPING a unit (as in Flax, Haiku, TensorFlow), in [0, 1).
        May be a traced jax scalar (e.g. `vmap` over a sweep of rates); it is checked only when
        concrete. `rate = 0` is the identity.
    apply needs `key` when `train=True` (whatever the rate, so a sweep that starts at 0 does not
    fail later). x: any shape -> y: the same shape and dtype.
    """
    if checks.is_concrete(rate):
        try:
            float(jnp.asarray(rate))
        except (TypeError, ValueError):
            raise TypeError(f"Dropout: rate must be a number in [0, 1), got {rate!r}") from None
    checks.in_range(rate, "rate", "Dropout", 0.0, 1.0, high_open=True)

    def init(key, input_shape):
        return {}, {}, tuple(input_shape)

    def apply(params, state, x, *, key=None, train=False):
        if not train:
            return x, state
        checks.require_key(key, "Dropout")
        if isinstance(rate, (int, float)):
            if rate == 0:
                return x, state
            scale = 1.0 / (1.0 - rate)  # a weak Python float keeps x's dtype
            keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
        else:
            r = jnp.asarray(rate)
            r = r if jnp.issubdtype(r.dtype, jnp.floating) else r.astype(jnp.float32)
            scale = (1.0 / (1.0 - r)).astype(x.dtype)
            keep = jax.random.bernoulli(key, 1.0 - r, x.shape)
        return jnp.where(keep, x * scale, jnp.zeros_like(x)), state

    return Layer(init, apply, "dropout")


__all__ = ["Dropout"]
