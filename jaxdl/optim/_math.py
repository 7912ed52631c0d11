"""Helpers shared by the transform families: hyperparameters cast to a leaf's dtype, step counts.

Notation: h is a hyperparameter (a number, or a jax array traced under `jit`/`vmap`), x a leaf of
the updates or the params, `count` an int32 step counter of shape ().
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

_INT32_MAX = jnp.iinfo(jnp.int32).max


def _c(h: ArrayLike, x: jax.Array) -> jax.Array:
    """Hyperparameter `h` in the dtype of leaf `x`."""
    return jnp.asarray(h, dtype=jnp.asarray(x).dtype)


def _inc(count: jax.Array) -> jax.Array:
    """count + 1, saturating at the int32 maximum (no overflow to negative steps)."""
    return jnp.where(count < _INT32_MAX, count + 1, count)


def _zero_count() -> jax.Array:
    """A fresh step counter: 0, shape=(), dtype=int32."""
    return jnp.zeros([], jnp.int32)
