"""The gradient-transformation contract (optax's): a pair of pure functions.

- `init(params) -> state`
- `update(updates, state, params=None) -> (new_updates, new_state)`

States are plain NamedTuples and tuples (pytrees), with optax's field names, so a jaxdl transform
runs inside `optax.chain`, an optax transform inside `jaxdl.optim.chain`, and the two libraries'
states compare leaf by leaf.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Protocol, Union

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxdl.core import Params  # re-exported: the package's one Params (a pytree of arrays)
from jaxdl.schedules import Schedule  # re-exported: the package's one Schedule (step -> lr)
from jaxdl.spec import Spec, by_value, hash_by_spec, same_by_spec

Updates = Any  # a pytree of arrays shaped like Params
OptState = Any  # a pytree (NamedTuples, tuples, arrays)
ScalarOrSchedule = Union[ArrayLike, Schedule]
Mask = Union[Any, Callable[[Params], Any]]  # a pytree of bools (or a prefix), or params -> that


class InitFn(Protocol):
    def __call__(self, params: Params) -> OptState: ...


class UpdateFn(Protocol):
    def __call__(self, updates: Updates, state: OptState, params: Params | None = None
                 ) -> tuple[Updates, OptState]: ...


class GradientTransformation(NamedTuple):
    """A transform: `init(params) -> state`, `update(updates, state, params=None)`.

    `spec` records the constructor call that built it (see `jaxdl.spec`): `adam(1e-3) ==
    adam(1e-3)`, so `jax.jit` reuses a program compiled for either. Transforms written by hand
    (spec None) compare by identity.
    """

    init: InitFn
    update: UpdateFn
    spec: Spec | None = None

    def __eq__(self, other: object) -> bool:
        return same_by_spec(self, other, ())

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash_by_spec(self, ())

    def __repr__(self) -> str:
        return repr(self.spec) if self.spec is not None else "GradientTransformation(...)"


class EmptyState(NamedTuple):
    """The state of a stateless transform (no leaves)."""


class MaskedNode(NamedTuple):
    """Stands in for a leaf that `masked` hides from its inner transform (no leaves)."""


class MaskedState(NamedTuple):
    """State of `masked`: the inner state, built only for the leaves the mask selects."""

    inner_state: Any


def init_empty_state(params: Params) -> EmptyState:
    """`init` of a stateless transform."""
    del params
    return EmptyState()


@by_value
def identity() -> GradientTransformation:
    """u = g: leaves the updates unchanged."""

    def update(updates, state, params=None):
        del params
        return updates, state

    return GradientTransformation(init_empty_state, update)


@by_value
def set_to_zero() -> GradientTransformation:
    """u = 0: applying it leaves the parameters unchanged."""

    def update(updates, state, params=None):
        del params
        return jax.tree.map(jnp.zeros_like, updates), state

    return GradientTransformation(init_empty_state, update)


def _check_transform(t: Any, owner: str, i: int) -> None:
    if not (callable(getattr(t, "init", None)) and callable(getattr(t, "update", None))):
        hint = " Did you forget to call the constructor, e.g. adam(1e-3) not adam?" if callable(
            t) else ""
        raise TypeError(
            f"{owner}: argument {i} must be a GradientTransformation (init, update), got {t!r}."
            f"{hint}"
        )


@by_value
def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Compose transforms left to right: u = T_n(... T_1(g)); state is the tuple of their states.

    Accepts optax transforms too (anything with optax's `init`/`update` contract).
    """
    for i, t in enumerate(transforms):
        _check_transform(t, "chain", i)

    def init(params):
        return tuple(t.init(params) for t in transforms)

    def update(updates, state, params=None):
        if len(state) != len(transforms):
            raise ValueError(
                f"chain: state must hold one entry per transform ({len(transforms)}), got "
                f"{len(state)}. Build the state with this chain's init(params)."
            )
        new_state = []
        for t, s in zip(transforms, state):
            updates, s = t.update(updates, s, params)
            new_state.append(s)
        return updates, tuple(new_state)

    return GradientTransformation(init, update)


def apply_updates(params: Params, updates: Updates) -> Params:
    """w_new = w + u, leaf by leaf, in each parameter's own dtype.

    Args:
      params: a pytree of arrays.
      updates: a pytree of the same structure and shapes (the output of `update`).

    Returns:
      The new parameters, each leaf with its old dtype.
    """
    return jax.tree.map(
        lambda p, u: jnp.asarray(p + jnp.asarray(u).astype(jnp.asarray(p).dtype)),
        params, updates)


def _mask_tree(mask: Mask, tree: Any) -> Any:
    return mask(tree) if callable(mask) else mask


def _apply_mask(tree: Any, mask_tree: Any) -> Any:
    # the mask comes first so that it may be a prefix of `tree`
    return jax.tree.map(lambda m, t: t if m else MaskedNode(), mask_tree, tree)


@by_value
def masked(transform: GradientTransformation, mask: Mask) -> GradientTransformation:
    """Apply `transform` only where `mask` is True; other leaves pass through unchanged.

    u_i = T(g)_i where mask_i else g_i. The inner transform sees (and keeps state for) the selected
    leaves only; the others are replaced by an empty `MaskedNode`, as in `optax.masked`, so the
    states compare leaf by leaf. Typical use: no weight decay on biases,
    `masked(add_decayed_weights(1e-4), lambda p: jax.tree.map(lambda w: w.ndim > 1, p))`.

    Args:
      transform: the inner transform.
      mask: a pytree of Python bools with the params' structure (or a prefix of it), or a function
        `params -> such a pytree`. The mask must be static (not traced).
    """
    _check_transform(transform, "masked", 0)

    def init(params):
        return MaskedState(transform.init(_apply_mask(params, _mask_tree(mask, params))))

    def update(updates, state, params=None):
        mask_tree = _mask_tree(mask, updates)
        inner_params = None if params is None else _apply_mask(params, mask_tree)
        new, inner = transform.update(_apply_mask(updates, mask_tree), state.inner_state,
                                      inner_params)
        out = jax.tree.map(lambda m, n, u: n if m else u, mask_tree, new, updates)
        return out, MaskedState(inner)

    return GradientTransformation(init, update)


@by_value
def freeze(mask: Mask) -> GradientTransformation:
    """Freeze the leaves where `mask` is True: u_i = 0 there, u_i = g_i elsewhere.

    For fine-tuning: put it last in a chain to keep pretrained layers fixed, e.g.
    `chain(adam(1e-3), freeze({"0_dense": True, "1_dense": False}))` (the mask may be a prefix
    of the params tree, so a whole layer is one bool). Same as `optax.freeze`.
    """
    return masked(set_to_zero(), mask)


__all__ = [
    "Params", "Updates", "OptState", "Schedule", "ScalarOrSchedule", "Mask",
    "GradientTransformation", "EmptyState", "MaskedNode", "MaskedState", "init_empty_state",
    "identity", "set_to_zero", "chain", "apply_updates", "masked", "freeze",
]
