"""Clipping and constraints: transforms that bound the update or act on the weights themselves.

Notation: g is the incoming update (a gradient), u the outgoing one, w a parameter, ||.|| the
Euclidean norm, t = 1, 2, ... the step (`count` after the increment). Every hyperparameter may be
a jax array (traced under `jit`/`vmap`) and is cast to each leaf's dtype, so the maths keeps the
leaf's dtype under strict dtype promotion (float32, or float64 with x64). States are NamedTuples
with optax's names and fields.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxdl import checks
from jaxdl.optim._math import _c, _inc, _zero_count
from jaxdl.optim.base import (
    EmptyState, GradientTransformation, Mask, Params, ScalarOrSchedule, Updates, init_empty_state,
    masked)
from jaxdl.spec import by_value


def _needs_params(params: Params | None, owner: str) -> None:
    if params is None:
        raise ValueError(
            f"{owner}: params must be passed to update(updates, state, params), got None")


@by_value
def clip(max_delta: ArrayLike) -> GradientTransformation:
    """Element-wise clipping: u = clip(g, -max_delta, max_delta)."""
    checks.in_range(max_delta, "max_delta", "clip", 0.0)

    def update(updates, state, params=None):
        del params
        return jax.tree.map(lambda g: jnp.clip(g, -_c(max_delta, g), _c(max_delta, g)),
                            updates), state

    return GradientTransformation(init_empty_state, update)


def global_norm(updates: Updates) -> jax.Array:
    """||g|| = sqrt(sum over all leaves of sum g^2), in the widest float dtype of the leaves
    (0 with a zero gradient at g = 0)."""
    leaves = jax.tree.leaves(updates)
    if not leaves:
        return jnp.zeros([], jnp.float32)
    dtype = max((jnp.asarray(x).dtype for x in leaves), key=lambda d: jnp.finfo(d).bits)
    sq = sum(jnp.sum(x * x).astype(dtype) for x in leaves)
    positive = sq > 0  # sqrt'(0) is infinite: take the gradient at 0 to be 0, not NaN
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, jnp.ones_like(sq))),
                     jnp.zeros_like(sq))


@by_value
def clip_by_global_norm(max_norm: ArrayLike) -> GradientTransformation:
    """Rescale when too long (Pascanu et al. 2013): u = g if ||g|| <= max_norm else
    g / ||g|| * max_norm, with ||g|| the norm over all leaves together.

    Differs from optax on purpose: optax tests ||g|| < max_norm, so ||g|| = max_norm = 0 gives
    0/0 = NaN; jaxdl keeps g (finite, and the gradient through it too).
    """
    checks.in_range(max_norm, "max_norm", "clip_by_global_norm", 0.0)

    def update(updates, state, params=None):
        del params
        norm = global_norm(updates)
        keep = norm <= _c(max_norm, norm)
        denom = jnp.where(keep, jnp.ones_like(norm), norm)

        def one(g):
            return jnp.where(keep, g, g / denom.astype(g.dtype) * _c(max_norm, g))

        return jax.tree.map(one, updates), state

    return GradientTransformation(init_empty_state, update)


class WeightDecaySchedule(NamedTuple):
    count: jax.Array  # shape=(), dtype=int32: updates so far, the schedule's next step


@by_value
def add_decayed_weights(weight_decay: ScalarOrSchedule = 0.0, mask: Mask | None = None
                        ) -> GradientTransformation:
    """Decoupled weight decay (Loshchilov & Hutter 2019): u = g + weight_decay * w.

    Chained before `scale_by_learning_rate`, the step is -lr (g + weight_decay w): L2 decay that
    bypasses any adaptive scaling (AdamW). `weight_decay` may be a schedule (its count in a
    `WeightDecaySchedule(count)` state). `mask` (pytree of bools or params -> bools) picks the
    leaves to decay, e.g. weights but not biases. Needs `params` in `update`.
    """
    if not callable(weight_decay):
        checks.in_range(weight_decay, "weight_decay", "add_decayed_weights", 0.0)

    def init(params):
        del params
        return WeightDecaySchedule(_zero_count()) if callable(weight_decay) else EmptyState()

    def update(updates, state, params=None):
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
    """
    checks.in_range(max_value, "max_value", "max_norm", 0.0, low_open=True)
    if axis not in (0, 1, -1, -2):
        raise ValueError(f"max_norm: axis must be 0 or 1 (an axis of a 2-D kernel), got {axis!r}")

    def one(u, p):
        if p.ndim < 2:
            return u
        axes = (axis,) if p.ndim == 2 else tuple(range(p.ndim - 1))
        w = p + u
        norm = jnp.sqrt(jnp.sum(w * w, axis=axes, keepdims=True))
        over = norm > _c(max_value, norm)
        factor = jnp.where(over, _c(max_value, norm) / jnp.where(over, norm, jnp.ones_like(norm)),
                           jnp.ones_like(norm))
        return w * factor - p

    def update(updates, state, params=None):
        _needs_params(params, "max_norm")
        return jax.tree.map(one, updates, params), state

    return GradientTransformation(init_empty_state, update)


__all__ = [
    "WeightDecaySchedule", "clip", "global_norm", "clip_by_global_norm", "add_decayed_weights",
    "max_norm",
]
