"""The gradient-transformation contract (optax's): a pair of pure functions.

- `init(params) -> state`
- `update(updates, state, params=None, **extra_args) -> (new_updates, new_state)`

States are plain NamedTuples and tuples (pytrees), with optax's field names, so a jaxdl transform
runs inside `optax.chain`, an optax transform inside `jaxdl.optim.chain`, and the two libraries'
states compare leaf by leaf. Every jaxdl `update` takes extra keyword arguments (optax's
`GradientTransformationExtraArgs`, e.g. `value=loss` for a line search): the combinators pass them
on to their members, and the others ignore them. A `None` leaf (a parameter without a gradient)
passes through every transform as `None`, as in optax.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, NamedTuple, Protocol, Union

import jax
import jax.numpy as jnp
import numpy as np
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
    def __call__(self, updates: Updates, state: OptState, params: Params | None = None,
                 **extra_args: Any) -> tuple[Updates, OptState]: ...


class GradientTransformation(NamedTuple):
    """A transform: `init(params) -> state`, `update(updates, state, params=None, **extra_args)`.

    Every jaxdl transform is what optax calls a `GradientTransformationExtraArgs`: its `update`
    accepts extra keyword arguments (and ignores those it does not use).

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

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        return updates, state

    return GradientTransformation(init_empty_state, update)


@by_value
def set_to_zero() -> GradientTransformation:
    """u = 0: applying it leaves the parameters unchanged."""

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        return jax.tree.map(jnp.zeros_like, updates), state

    return GradientTransformation(init_empty_state, update)


def _check_transform(t: Any, owner: str, name: str) -> None:
    if not (callable(getattr(t, "init", None)) and callable(getattr(t, "update", None))):
        hint = " Did you forget to call the constructor, e.g. adam(1e-3) not adam?" if callable(
            t) else ""
        raise TypeError(
            f"{owner}: {name} must be a GradientTransformation (init, update), got {t!r}.{hint}")


def _is_bool(leaf: Any) -> bool:
    return isinstance(leaf, (bool, np.bool_)) or (
        getattr(leaf, "dtype", None) == np.bool_ and np.ndim(leaf) == 0)


def _check_mask(mask: Any, owner: str) -> None:
    """A mask is a function, or a pytree whose leaves are bools (static, one per leaf or prefix)."""
    if not callable(mask) and not all(_is_bool(m) for m in jax.tree.leaves(mask)):
        raise TypeError(f"{owner}: mask must be a pytree of bools (True where to apply) or a "
                        f"function params -> such a pytree, got {mask!r}")


def _extra_args_update(t: GradientTransformation) -> UpdateFn:
    """`t.update` as a function that accepts extra keyword arguments: `t.update` itself when it
    takes `**kwargs` (every jaxdl transform, optax's `GradientTransformationExtraArgs`), else a
    wrapper that drops them (as `optax.with_extra_args_support`)."""
    try:
        takes = any(p.kind is p.VAR_KEYWORD
                    for p in inspect.signature(t.update).parameters.values())
    except (TypeError, ValueError):  # no signature to read: pass nothing extra
        takes = False
    if takes:
        return t.update

    def update(updates, state, params=None, **extra_args):
        del extra_args
        return t.update(updates, state, params)

    return update


@by_value
def with_extra_args_support(transform: GradientTransformation) -> GradientTransformation:
    """`transform` with an `update` that accepts extra keyword arguments, dropping them when
    `transform.update` does not take `**kwargs` (a plain optax transform); as
    `optax.with_extra_args_support`. Every jaxdl transform takes them already.

    Args:
      transform: a jaxdl or optax transform.

    Returns:
      A `GradientTransformation` with `transform`'s `init` and state.
    """
    _check_transform(transform, "with_extra_args_support", "transform")
    return GradientTransformation(transform.init, _extra_args_update(transform))


@by_value
def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Compose transforms left to right: u = T_n(... T_1(g)); state is the tuple of their states.

    Accepts optax transforms too (anything with optax's `init`/`update` contract). Extra keyword
    arguments of `update` (e.g. `value=loss`) go to every member that takes them, and are dropped
    for those that do not (as `optax.chain`).

    Args:
      *transforms: the transforms, applied first to last.

    Returns:
      A `GradientTransformation`.
    """
    for i, t in enumerate(transforms):
        _check_transform(t, "chain", f"argument {i}")
    update_fns = [_extra_args_update(t) for t in transforms]

    def init(params):
        return tuple(t.init(params) for t in transforms)

    def update(updates, state, params=None, **extra_args):
        if len(state) != len(transforms):
            raise ValueError(
                f"chain: state must hold one entry per transform ({len(transforms)}), got "
                f"{len(state)}. Build the state with this chain's init(params)."
            )
        new_state = []
        for fn, s in zip(update_fns, state):
            updates, s = fn(updates, s, params, **extra_args)
            new_state.append(s)
        return updates, tuple(new_state)

    return GradientTransformation(init, update)


def apply_updates(params: Params, updates: Updates) -> Params:
    """w_new = w + u, leaf by leaf, in each parameter's own dtype.

    A `None` parameter stays `None` (as `optax.apply_updates`), and a `None` update leaves its
    parameter as it is.

    Args:
      params: a pytree of arrays (`None` leaves allowed).
      updates: a pytree of the same structure and shapes (the output of `update`).

    Returns:
      The new parameters, each leaf with its old dtype.
    """

    def one(p, u):
        if p is None or u is None:
            return p
        p = jnp.asarray(p)
        return jnp.asarray(p + jnp.asarray(u).astype(p.dtype))

    return jax.tree.map(one, params, updates, is_leaf=lambda x: x is None)


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

    Returns:
      A `GradientTransformation`; extra keyword arguments of `update` go to `transform` as they
      are.
    """
    _check_transform(transform, "masked", "transform")
    _check_mask(mask, "masked")
    inner_update = _extra_args_update(transform)

    def init(params):
        return MaskedState(transform.init(_apply_mask(params, _mask_tree(mask, params))))

    def update(updates, state, params=None, **extra_args):
        mask_tree = _mask_tree(mask, updates)
        inner_params = None if params is None else _apply_mask(params, mask_tree)
        new, inner = inner_update(_apply_mask(updates, mask_tree), state.inner_state,
                                  inner_params, **extra_args)
        out = jax.tree.map(lambda m, n, u: n if m else u, mask_tree, new, updates)
        return out, MaskedState(inner)

    return GradientTransformation(init, update)


@by_value
def freeze(mask: Mask) -> GradientTransformation:
    """Freeze the leaves where `mask` is True: u_i = 0 there, u_i = g_i elsewhere.

    For fine-tuning: put it last in a chain to keep pretrained layers fixed, e.g.
    `chain(adam(1e-3), freeze({"0_dense": True, "1_dense": False}))` (the mask may be a prefix
    of the params tree, so a whole layer is one bool). Same as `optax.freeze`.

    Args:
      mask: a pytree of bools (True: frozen) or a function `params -> such a pytree`.

    Returns:
      A `GradientTransformation`.
    """
    _check_mask(mask, "freeze")
    return masked(set_to_zero(), mask)


__all__ = [
    "Params", "Updates", "OptState", "Schedule", "ScalarOrSchedule", "Mask",
    "GradientTransformation", "EmptyState", "MaskedNode", "MaskedState", "init_empty_state",
    "identity", "set_to_zero", "chain", "apply_updates", "masked", "freeze",
    "with_extra_args_support",
]
