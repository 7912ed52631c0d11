"""Rprop, resilient backpropagation (Riedmiller & Braun 1993; fundamentals 002): a step size per
weight, grown while the gradient keeps its sign and shrunk when it flips; only the sign of the
gradient is used.

Notation: g is the incoming update (a gradient), u the outgoing one, p_{t-1} the previous u.
Every hyperparameter may be a jax array (traced under `jit`/`vmap`) and is cast to each leaf's
dtype. The state is optax's `ScaleByRpropState(step_sizes, prev_updates)`. Complex leaves are
rejected: the sign test needs an order, which complex numbers lack.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxdl import checks
from jaxdl.optim._math import _c
from jaxdl.optim.base import GradientTransformation, Updates
from jaxdl.spec import by_value


class ScaleByRpropState(NamedTuple):
    step_sizes: Updates  # step_t, one per weight, shaped like the params
    prev_updates: Updates  # u of the previous update (the sign test's p_{t-1})


def check_rprop(owner: str, learning_rate: ArrayLike, eta_minus: ArrayLike, eta_plus: ArrayLike,
                min_step_size: ArrayLike, max_step_size: ArrayLike) -> None:
    """The hyperparameters of `scale_by_rprop`."""
    if callable(learning_rate):
        raise TypeError(f"{owner}: learning_rate must be a number or an array (the initial step "
                        f"size), not a schedule, got {learning_rate!r}")
    checks.in_range(learning_rate, "learning_rate", owner, 0.0)
    checks.in_range(eta_minus, "eta_minus", owner, 0.0, 1.0, low_open=True, high_open=True)
    checks.in_range(eta_plus, "eta_plus", owner, 1.0, low_open=True)
    checks.in_range(min_step_size, "min_step_size", owner, 0.0)
    checks.in_range(max_step_size, "max_step_size", owner, 0.0)
    if checks.is_concrete((min_step_size, max_step_size)) and np.any(
            np.asarray(max_step_size) < np.asarray(min_step_size)):
        raise ValueError(f"{owner}: max_step_size must be >= min_step_size ({min_step_size}), "
                         f"got {max_step_size}")


def _reject_complex(tree: Updates, owner: str, name: str) -> None:
    for path, x in jax.tree_util.tree_flatten_with_path(tree)[0]:
        if jnp.iscomplexobj(x):
            raise ValueError(
                f"{owner}: {name} must be real (Rprop's sign test has no complex form), got a "
                f"{jnp.asarray(x).dtype} leaf at {jax.tree_util.keystr(path) or 'the root'}. "
                f"Optimize the real and imaginary parts as two real parameters instead.")


def rprop_transform(owner: str, learning_rate: ArrayLike, eta_minus: ArrayLike,
                    eta_plus: ArrayLike, min_step_size: ArrayLike, max_step_size: ArrayLike
                    ) -> GradientTransformation:
    """`scale_by_rprop`'s transform, its errors named after `owner` (the caller's name)."""

    def init(params):
        _reject_complex(params, owner, "params")
        return ScaleByRpropState(jax.tree.map(lambda p: jnp.full_like(p, learning_rate), params),
                                 jax.tree.map(jnp.zeros_like, params))

    def new_step(g, prev, step):
        s = jnp.sign(g * prev)
        factor = jnp.where(s > 0, _c(eta_plus, g), jnp.where(s < 0, _c(eta_minus, g),
                                                             jnp.ones_like(g)))
        return jnp.clip(step * factor, _c(min_step_size, g), _c(max_step_size, g))

    def new_update(g, prev, step):
        return jnp.where(g * prev < 0, jnp.zeros_like(g), step * jnp.sign(g))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _reject_complex(updates, owner, "updates")
        step = jax.tree.map(new_step, updates, state.prev_updates, state.step_sizes)
        u = jax.tree.map(new_update, updates, state.prev_updates, step)
        return u, ScaleByRpropState(step, u)

    return GradientTransformation(init, update)


@by_value
def scale_by_rprop(learning_rate: ArrayLike, eta_minus: ArrayLike = 0.5,
                   eta_plus: ArrayLike = 1.2, min_step_size: ArrayLike = 1e-6,
                   max_step_size: ArrayLike = 50.0) -> GradientTransformation:
    """Rprop step sizes, iRprop- as PyTorch's `torch.optim.Rprop` (Riedmiller & Braun 1993;
    Igel & Huesken 2003). Step sizes start at `learning_rate`; with p_{t-1} the previous output:

    s = sign(g_t * p_{t-1});  step_t = clip(step_{t-1} * (eta_plus if s > 0, eta_minus if s < 0,
    1 if s = 0), min_step_size, max_step_size);  g_t <- 0 where s < 0;  u = step_t * sign(g_t).

    So on a sign change the step shrinks and that update is zero (and the next step sees no sign).
    u is the ascent direction, as optax's `scale_by_rprop`; the `rprop` alias negates it.
    State `ScaleByRpropState(step_sizes, prev_updates=u)` (optax's names and contents).

    Differs from optax 0.2.8 on purpose: optax returns the previous step's update (zeroed where
    the gradient flips now), so its first update is always zero and every update comes one step
    late (optax PR #1725); jaxdl returns the current one, as PyTorch. Like PyTorch, the clip also
    applies when s = 0. Complex params or updates are a ValueError (optax fails inside
    `jnp.clip`): a sign change has no complex analogue.

    Args:
      learning_rate: the initial step size >= 0 (a number or array, not a schedule).
      eta_minus: shrink factor in (0, 1).
      eta_plus: growth factor > 1.
      min_step_size: lower bound of the step size, 0 <= min <= max.
      max_step_size: upper bound of the step size, 0 <= min <= max.

    Returns:
      A `GradientTransformation`.
    """
    check_rprop("scale_by_rprop", learning_rate, eta_minus, eta_plus, min_step_size,
                max_step_size)
    return rprop_transform("scale_by_rprop", learning_rate, eta_minus, eta_plus, min_step_size,
                           max_step_size)


__all__ = ["ScaleByRpropState", "scale_by_rprop"]
