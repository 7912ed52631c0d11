"""Wrappers: transforms that run another transform and decide what to do with its update.

Notation: T is the wrapped transform, g the incoming update (a gradient), u the outgoing one.
A NaN or an Inf in any leaf makes g non-finite. States are NamedTuples with optax's names and
fields; the wrapped transform's state sits in `inner_state`.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.optim._math import _inc, _zero_count
from jaxdl.optim.base import GradientTransformation, OptState, _check_transform, _extra_args_update
from jaxdl.spec import by_value


class ApplyIfFiniteState(NamedTuple):
    notfinite_count: jax.Array  # shape=(), dtype=int32: non-finite updates in a row
    last_finite: jax.Array  # shape=(), dtype=bool: was the last update finite
    total_notfinite: jax.Array  # shape=(), dtype=int32: non-finite updates since init
    inner_state: OptState  # the state of T


@by_value
def apply_if_finite(transform: GradientTransformation, max_consecutive_errors: int
                    ) -> GradientTransformation:
    """Skip non-finite updates: when any leaf of g holds a NaN or an Inf, u = 0 and the inner state
    stays unchanged, unless more than `max_consecutive_errors` such updates came in a row (then
    it gives up and applies them). Counts them as optax's `ApplyIfFiniteState`
    (notfinite_count, last_finite, total_notfinite, inner_state).

    Args:
      transform: T, a jaxdl or optax transform; extra keyword arguments of `update` go to it.
      max_consecutive_errors: an int >= 0.

    Returns:
      A `GradientTransformation`.
    """
    _check_transform(transform, "apply_if_finite", "transform")
    if isinstance(max_consecutive_errors, bool) or not isinstance(
            max_consecutive_errors, (int, np.integer)) or max_consecutive_errors < 0:
        raise ValueError(f"apply_if_finite: max_consecutive_errors must be an int >= 0, got "
                         f"{max_consecutive_errors!r}")
    inner_update = _extra_args_update(transform)

    def init(params):
        return ApplyIfFiniteState(_zero_count(), jnp.array(True), _zero_count(),
                                  transform.init(params))

    def update(updates, state, params=None, **extra_args):
        finite = functools.reduce(
            jnp.logical_and, [jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(updates)],
            jnp.array(True))
        notfinite_count = jnp.where(finite, jnp.zeros_like(state.notfinite_count),
                                    _inc(state.notfinite_count))
        new_updates, inner = jax.lax.cond(
            finite | (notfinite_count > max_consecutive_errors),
            lambda: inner_update(updates, state.inner_state, params, **extra_args),
            lambda: (jax.tree.map(jnp.zeros_like, updates), state.inner_state))
        total = jnp.where(finite, state.total_notfinite, _inc(state.total_notfinite))
        return new_updates, ApplyIfFiniteState(notfinite_count, finite, total, inner)

    return GradientTransformation(init, update)


__all__ = ["ApplyIfFiniteState", "apply_if_finite"]
