"""Loss scaling for float16 training (Micikevicius et al. 2018, "Mixed Precision Training").

float16's smallest normal number is 6.1e-5: small gradients of a float16 backward pass round to
zero. So the train step differentiates S * loss instead of the loss (every gradient is S times
larger and survives), and `loss_scale` divides the gradients by S before the wrapped optimizer
sees them. Too large an S overflows to inf: such a step is skipped (`apply_if_finite`).

Dynamic scaling (jmp's `DynamicLossScale`, same rules): after a non-finite gradient,
S <- max(min_loss_scale, S / factor) and the counter restarts at 0; after a finite one the counter
counts up, and every `period`-th finite step in a row S <- S * factor (kept when S * factor is
inf). A static scale keeps S (it is the dynamic rule with factor 1).

`jaxdl.train.make_train_step` finds the `LossScaleState` in the optimizer state (through
`chain`, `freeze`, `apply_if_finite`), multiplies the loss by its S and reports the unscaled loss.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxdl import checks
from jaxdl.optim.base import GradientTransformation, OptState, _check_transform
from jaxdl.optim.wrappers import ApplyIfFiniteState, apply_if_finite
from jaxdl.spec import by_value

_FLOAT32_MAX = float(np.finfo(np.float32).max)
_NEVER = 2**31 - 1  # apply_if_finite never gives up: the scale handles the non-finite steps


class LossScaleState(NamedTuple):
    loss_scale: jax.Array  # shape=(), dtype=float32: S, the factor the loss is multiplied by
    counter: jax.Array  # shape=(), dtype=int32: finite steps in a row since S last changed
    period: jax.Array  # shape=(), dtype=int32: finite steps in a row that grow S
    factor: jax.Array  # shape=(), dtype=float32: S grows and shrinks by it (1: a static scale)
    min_loss_scale: jax.Array  # shape=(), dtype=float32: S never shrinks below it
    inner_state: OptState  # ApplyIfFiniteState of the wrapped transform


def adjust(state: LossScaleState, finite: jax.Array) -> LossScaleState:
    """The state after a step whose gradients were `finite` (a bool scalar): jmp's
    `DynamicLossScale.adjust`, on S and the counter; the other fields are kept."""
    s, f = state.loss_scale, state.factor
    grown = s * f
    grown = jnp.where(jnp.isfinite(grown), grown, s)
    kept = jnp.where(state.counter == state.period - 1, grown, s)
    scale = jnp.where(finite, kept, jnp.maximum(state.min_loss_scale, s / f))
    counter = jnp.where(finite, (state.counter + 1) % state.period, jnp.zeros_like(state.counter))
    return state._replace(loss_scale=scale, counter=counter)


def _unscale(g: jax.Array, inverse: jax.Array) -> jax.Array:
    """g / S, computed in at least float32 (in float16 g / 2^15 would underflow) and returned in
    g's dtype."""
    wide = jnp.float32 if jnp.finfo(g.dtype).bits < 32 else g.dtype
    return (g.astype(wide) * inverse.astype(wide)).astype(g.dtype)


@by_value
def loss_scale(transform: GradientTransformation, initial_scale: ArrayLike = 2.0**15, *,
               dynamic: bool = True, period: int = 2000, factor: ArrayLike = 2.0,
               min_loss_scale: ArrayLike = 1.0) -> GradientTransformation:
    """Loss scaling around `transform`: u = T(g / S), and a non-finite g is skipped (u = 0, T's
    state kept) while S adapts, as jmp's `DynamicLossScale` (see the module docstring).

    Wrap the whole optimizer, so that no transform sees scaled gradients:
    `loss_scale(chain(clip_by_global_norm(1.0), adam(1e-3)))`. The train step
    (`jaxdl.train.make_train_step`, so `fit` and `vmap_fit`) multiplies the loss by S.

    Args:
      transform: T, a jaxdl or optax transform.
      initial_scale: S_0, finite and > 0 (2^15, jmp's usual start).
      dynamic: adapt S (True), or keep S = initial_scale (a static scale).
      period: finite steps in a row after which S grows, an int >= 1.
      factor: > 1, S grows and shrinks by it.
      min_loss_scale: S never shrinks below it, in (0, initial_scale].

    Returns:
      A `GradientTransformation` with state `LossScaleState(loss_scale, counter, period, factor,
      min_loss_scale, inner_state)`; `inner_state` is `apply_if_finite`'s (its
      `total_notfinite` counts the skipped steps).
    """
    owner = "loss_scale"
    _check_transform(transform, owner, "transform")
    checks.in_range(initial_scale, "initial_scale", owner, 0.0, _FLOAT32_MAX, low_open=True)
    if not isinstance(dynamic, (bool, np.bool_)):
        raise TypeError(f"{owner}: dynamic must be a bool (True or False), got {dynamic!r}")
    period = checks.positive_int(period, "period", owner)
    checks.in_range(factor, "factor", owner, 1.0, _FLOAT32_MAX, low_open=True)
    checks.in_range(min_loss_scale, "min_loss_scale", owner, 0.0, _FLOAT32_MAX, low_open=True)
    if checks.is_concrete((min_loss_scale, initial_scale)) and np.any(
            np.asarray(min_loss_scale) > np.asarray(initial_scale)):
        raise ValueError(f"{owner}: min_loss_scale must be <= initial_scale ({initial_scale}), "
                         f"got {min_loss_scale}")
    inner = apply_if_finite(transform, _NEVER)

    def init(params):
        f32 = lambda v: jnp.asarray(v, jnp.float32)  # noqa: E731
        return LossScaleState(f32(initial_scale), jnp.zeros((), jnp.int32),
                              jnp.asarray(period, jnp.int32), f32(factor if dynamic else 1.0),
                              f32(min_loss_scale if dynamic else initial_scale),
                              inner.init(params))

    def update(updates, state, params=None, **extra_args):
        inverse = 1.0 / state.loss_scale
        grads = jax.tree.map(lambda g: _unscale(g, inverse), updates)
        updates, inner_state = inner.update(grads, state.inner_state, params, **extra_args)
        return updates, adjust(state._replace(inner_state=inner_state), inner_state.last_finite)

    return GradientTransformation(init, update)


def _find(node: Any, first: bool, out: list) -> None:
    """Append (node, placed_first) for each LossScaleState below `node`: placed first when only
    a chain's first member, an apply_if_finite or the root lie above it."""
    if isinstance(node, LossScaleState):
        out.append((node, first))
    elif isinstance(node, ApplyIfFiniteState):
        _find(node.inner_state, first, out)
    elif isinstance(node, (tuple, list)):
        chain = not hasattr(node, "_fields")  # a chain's state is a plain tuple
        for i, child in enumerate(node):
            _find(child, first and chain and i == 0, out)
    elif isinstance(node, dict):
        for child in node.values():
            _find(child, False, out)


def find_loss_scale(opt_state: OptState, owner: str) -> LossScaleState | None:
    """The `LossScaleState` in an optimizer state, or None when there is none.

    Raises ValueError when there are several, or when one is not where it sees the raw
    gradients (inside a chain after another transform, or inside `masked`)."""
    found: list = []
    _find(opt_state, True, found)
    if not found:
        return None
    if len(found) > 1:
        raise ValueError(f"{owner}: the optimizer holds {len(found)} loss_scale transforms; "
                         "use one, around the whole optimizer")
    state, first = found[0]
    if not first:
        raise ValueError(
            f"{owner}: loss_scale must wrap the whole optimizer, e.g. loss_scale(chain(clip(1.0), "
            "adam(1e-3))), not sit inside a chain after another transform or inside masked: the "
            "transforms before it would see gradients multiplied by the loss scale")
    return state


def replace_loss_scale(opt_state: OptState, new: LossScaleState) -> OptState:
    """`opt_state` with its one `LossScaleState` replaced by `new`."""
    return jax.tree.map(lambda n: new if isinstance(n, LossScaleState) else n, opt_state,
                        is_leaf=lambda n: isinstance(n, LossScaleState))


__all__ = ["LossScaleState", "loss_scale", "adjust", "find_loss_scale", "replace_loss_scale"]
