"""Clipping and constraints: transforms that bound the update or act on the weights themselves.

Notation: g is the incoming update (a gradient), u the outgoing one, w a parameter, ||.|| the
Euclidean norm, t = 1, 2, ... the step (`count` after the increment). Every hyperparameter may be
a jax array (traced under `jit`/`vmap`) and is cast to each leaf's dtype, so the maths keeps the
leaf's dtype under strict dtype promotion (float32, or float64 with x64). States are NamedTuples
with optax's names and fields. Complex leaves (as optax): norms use |g|^2 = g * conj(g); `clip`
rejects them (complex numbers have no order to clip against).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxdl import checks
from jaxdl.optim._math import _abs_sq, _c, _inc, _zero_count
from jaxdl.optim.base import (
    EmptyState, GradientTransformation, Mask, Params, ScalarOrSchedule, Updates, _check_mask,
    init_empty_state, masked)
from jaxdl.spec import by_value


def _needs_params(params: Params | None, owner: str) -> None:
    if params is None:
        raise ValueError(
            f"{owner}: params must be passed to update(updates, state, params), got None")


@by_value
def clip(max_delta: ArrayLike) -> GradientTransformation:
    """Element-wise clipping: u = clip(g, -max_delta, max_delta).

    Args:
      max_delta: the bound >= 0.

    Returns:
      A stateless `GradientTransformation`; a complex leaf is a ValueError (no order), use
      `clip_by_global_norm` for complex parameters.
    """
    checks.in_range(max_delta, "max_delta", "clip", 0.0)

    def one(g):
        if jnp.iscomplexobj(g):
            raise ValueError(f"clip: updates must be real (complex numbers have no order to clip "
                             f"against), got a {g.dtype} leaf. Use clip_by_global_norm instead.")
        return jnp.clip(g, -_c(max_delta, g), _c(max_delta, g))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        return jax.tree.map(one, updates), state

    return GradientTransformation(init_empty_state, update)


def global_norm(updates: Updates) -> jax.Array:
    """||g|| = sqrt(sum over all leaves of sum |g|^2), in the widest real float dtype of the leaves
    (float32 for complex64; 0 with a zero gradient at g = 0).

    Args:
      updates: a pytree of arrays.

    Returns:
      The norm, a scalar array.
    """
    leaves = jax.tree.leaves(updates)
    if not leaves:
        return jnp.zeros([], jnp.float32)
    dtype = max((jnp.finfo(jnp.asarray(x).dtype).dtype for x in leaves),
                key=lambda d: jnp.finfo(d).bits)
    sq = sum(jnp.sum(_abs_sq(x)).astype(dtype) for x in leaves)
    positive = sq > 0  # sqrt'(0) is infinite: take the gradient at 0 to be 0, not NaN
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, jnp.ones_like(sq))),
                     jnp.zeros_like(sq))


@by_value
def clip_by_global_norm(max_norm: ArrayLike) -> GradientTransformation:
    """Rescale when too long (Pascanu et al. 2013): u = g if ||g|| <= max_norm else
    g / ||g|| * max_norm, with ||g|| the norm over all leaves together.

    Differs from optax on purpose: optax tests ||g|| < max_norm, so ||g|| = max_norm = 0 gives
    0/0 = NaN; jaxdl keeps g (finite, and the gradient through it too).

    Args:
      max_norm: the largest norm >= 0.

    Returns:
      A stateless `GradientTransformation`.
    """
    checks.in_range(max_norm, "max_norm", "clip_by_global_norm", 0.0)

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        norm = global_norm(updates)
        keep = norm <= _c(max_norm, norm)
        denom = jnp.where(keep, jnp.ones_like(norm), norm)

        def one(g):
            return jnp.where(keep, g, g / denom.astype(g.dtype) * _c(max_norm, g))

        return jax.tree.map(one, updates), state

    return GradientTransformation(init_empty_state, update)


class WeightDecaySchedule(NamedTuple):
    count: jax.Array  # shape=(), dtype=int32: updates so far, the schedule's next step


def check_weight_decay(owner: str, weight_decay: ScalarOrSchedule, mask: Mask | None) -> None:
    """The arguments of `add_decayed_weights`: weight_decay >= 0 (or a schedule), mask."""
    if not callable(weight_decay):
        checks.in_range(weight_decay, "weight_decay", owner, 0.0)
    if mask is not None:
        _check_mask(mask, owner)


@by_value
def add_decayed_weights(weight_decay: ScalarOrSchedule = 0.0, mask: Mask | None = None
                        ) -> GradientTransformation:
    """Decoupled weight decay (Loshchilov & Hutter 2019): u = g + weight_decay * w.

    Chained before `scale_by_learning_rate`, the step is -lr (g + weight_decay w): L2 decay that
    bypasses any adaptive scaling (AdamW). `weight_decay` may be a schedule (its count in a
    `WeightDecaySchedule(count)` state). `mask` (pytree of bools or params -> bools) picks the
    leaves to decay, e.g. weights but not biases. Needs `params` in `update`.

    Args:
      weight_decay: lambda >= 0, a number, a jax array or a schedule.
      mask: a pytree of bools (True: decay) or a function params -> such a pytree; None decays
        every leaf.

    Returns:
      A `GradientTransformation`.
    """
    check_weight_decay("add_decayed_weights", weight_decay, mask)

    def init(params):
        del params
        return WeightDecaySchedule(_zero_count()) if callable(weight_decay) else EmptyState()

    def update(updates, state, params=None, **extra_args):
        del extra_args
        _needs_params(params, "add_decayed_weights")
        if callable(weight_decay):
            wd, new_state = weight_decay(state.count), WeightDecaySchedule(_inc(state.count))
        else:
            wd, new_state = weight_decay, state
        return jax.tree.map(lambda g, p: g + _c(wd, p) * p, updates, params), new_state

    t = GradientTransformation(init, update)
    return t if mask is None else masked(t, mask)


@by_value
def max_norm(max_value: ArrayLike, axis: int = 0) -> GradientTransformation:
    """Max-norm constraint (Srebro et al. 2005; with dropout, Srivastava et al. 2014, 5.1).

    Returns u' such that w + u' = (w + u) * min(1, max_value / ||w + u||_unit): every unit's
    incoming weight vector is renormalized to norm max_value when it is longer, and kept
    otherwise (up to the rounding of one addition in `apply_updates`). The unit norm is taken
    over `axis` for a 2-D kernel (Dense w of shape (in, out): axis=0 gives one norm per output
    unit, a column), over every axis but the last for a Conv HWIO kernel (one per output
    channel); leaves with fewer than 2 axes (biases, scalars) pass through untouched.
    Put it last in a chain (after the learning rate); it needs `params` in `update`.

    Args:
      max_value: the largest unit norm > 0.
      axis: 0 or 1 (-2, -1): the axis of a 2-D kernel that a unit's weights lie along.

    Returns:
      A stateless `GradientTransformation`.
    """
    checks.in_range(max_value, "max_value", "max_norm", 0.0, low_open=True)
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or axis not in (
            0, 1, -1, -2):
        raise ValueError(f"max_norm: axis must be 0 or 1 (an axis of a 2-D kernel), got {axis!r}")

    def one(u, p):
        if p.ndim < 2:
            return u
        axes = (axis,) if p.ndim == 2 else tuple(range(p.ndim - 1))
        w = p + u
        norm = jnp.sqrt(jnp.sum(_abs_sq(w), axis=axes, keepdims=True))
        over = norm > _c(max_value, norm)
        factor = jnp.where(over, _c(max_value, norm) / jnp.where(over, norm, jnp.ones_like(norm)),
                           jnp.ones_like(norm))
        return w * factor.astype(w.dtype) - p

    def update(updates, state, params=None, **extra_args):
        del extra_args
        _needs_params(params, "max_norm")
        return jax.tree.map(one, updates, params), state

    return GradientTransformation(init_empty_state, update)


__all__ = [
    "WeightDecaySchedule", "clip", "global_norm", "clip_by_global_norm", "add_decayed_weights",
    "max_norm",
]
