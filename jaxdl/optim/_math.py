"""Helpers shared by the transform families: hyperparameters cast to a leaf's dtype, step counts,
|x|^2 of a (maybe complex) leaf, and the check of a bool flag.

Notation: h is a hyperparameter (a number, or a jax array traced under `jit`/`vmap`), x a leaf of
the updates or the params, `count` an int32 step counter of shape ().
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
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


def _abs_sq(x: jax.Array) -> jax.Array:
    """|x|^2 = x * conj(x), real (float32 for a complex64 x), as optax's `abs_sq`; x * x for a real
    x. The second moments of complex leaves use it, so they stay real and non-negative."""
    if jnp.iscomplexobj(x):
        return (x * jnp.conj(x)).real
    return x * x


def _sq_like(g: jax.Array, m: jax.Array) -> jax.Array:
    """|g|^2 in the dtype of the moment `m` (complex with a zero imaginary part for a complex
    leaf, as optax stores it)."""
    return _abs_sq(g).astype(m.dtype)


def _flag(value: Any, name: str, owner: str) -> None:
    """Check that a switch is a bool (True or False), not a number or a string that happens to be
    truthy."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}: {name} must be a bool (True or False), got {value!r}")
