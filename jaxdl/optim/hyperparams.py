"""`inject_hyperparams`: an optimizer's numeric hyperparameters moved into its state, optax's
contract (`optax.inject_hyperparams`, optax 0.2.8) written in jaxdl.

`opt = inject_hyperparams(adam)(learning_rate=1e-3)` builds `adam` anew at every update from the
values in `state.hyperparams`: a number is stored once and may be changed between steps
(`state.hyperparams["learning_rate"] = 1e-4`); a schedule `step -> value` is evaluated at the
update count t = 0, 1, ... (the first update uses schedule(0)) and its last value is stored.
The state is optax's `InjectStatefulHyperparamsState(count, hyperparams, hyperparams_states,
inner_state)`, leaf by leaf: each schedule keeps a `WrappedScheduleState(count)`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.optim._math import _inc, _zero_count
from jaxdl.optim.base import GradientTransformation, OptState, _extra_args_update
from jaxdl.spec import ByValue, Spec, spec_of


class WrappedScheduleState(NamedTuple):
    count: jax.Array  # shape=(), dtype=int32: the step at which the schedule is evaluated next


class InjectStatefulHyperparamsState(NamedTuple):
    count: jax.Array  # shape=(), dtype=int32: updates so far
    hyperparams: dict[str, jax.Array]  # name -> the value the last update used (init: step 0's)
    hyperparams_states: dict[str, Any]  # name -> a schedule's state (WrappedScheduleState)
    inner_state: OptState  # the state of the inner transform


class _Wrapped:
    """A schedule `step -> value` as a stateful schedule (init, update, __call__), as optax's
    `WrappedSchedule`; extra keyword arguments are ignored."""

    def __init__(self, fn: Callable[[jax.Array], Any]):
        self.fn = fn

    def init(self) -> WrappedScheduleState:
        return WrappedScheduleState(_zero_count())

    def update(self, state: WrappedScheduleState, **extra_args: Any) -> WrappedScheduleState:
        del extra_args
        return WrappedScheduleState(_inc(state.count))

    def __call__(self, state: WrappedScheduleState, **extra_args: Any) -> Any:
        del extra_args
        return self.fn(state.count)


def _stateful(value: Any) -> bool:
    """An optax `StatefulSchedule`: init(), update(state, **extra), __call__(state, **extra)."""
    return callable(value) and callable(getattr(value, "init", None)) and callable(
        getattr(value, "update", None))


def _float_dtype(params: Any, dtype: Any) -> Any:
    """`dtype`, or the widest float dtype of the params (the real one of a complex leaf); JAX's
    default float when they hold none (no params, or only integers)."""
    if dtype is not None:
        return dtype
    kinds = [jnp.asarray(x).dtype for x in jax.tree.leaves(params)]
    floats = [jnp.finfo(d).dtype for d in kinds if jnp.issubdtype(d, jnp.inexact)]
    if not floats:
        return jnp.asarray([]).dtype
    return functools.reduce(jnp.promote_types, floats)


def _convert(x: Any, dtype: Any) -> Any:
    """A float (Python, NumPy or weakly typed) in `dtype`; strongly typed arrays and ints as
    they are (as optax's `_convert_floats`)."""
    if isinstance(x, jax.Array) and not getattr(x, "weak_type", False):
        return x
    kind = x.dtype if hasattr(x, "dtype") else type(x)
    return jnp.asarray(x, dtype=dtype) if jnp.issubdtype(kind, jnp.floating) else x


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float, jax.Array, np.ndarray)) or (
        isinstance(value, np.generic) and np.issubdtype(value.dtype, np.number))


def _spec(outer: Spec | None, name: str, inner: Spec | None) -> Spec | None:
    """`inject_hyperparams(factory)(args)`: equal when the factory call and the args are."""
    if outer is None or inner is None:
        return None
    constructor = f"inject_hyperparams({name})"
    key = (("inject_hyperparams", outer), *inner.key)
    return Spec(constructor, inner.arguments, key, hash((constructor, key)))


def inject_hyperparams(inner_factory: Callable[..., GradientTransformation],
                       static_args: str | Iterable[str] = (),
                       hyperparam_dtype: Any = None) -> Callable[..., GradientTransformation]:
    """Store the numeric hyperparameters of `inner_factory(...)` in the optimizer state.

    `inject_hyperparams(adam)(learning_rate=sched, b1=0.9)` returns a transform whose `update`
    calls `adam(learning_rate=h["learning_rate"], b1=h["b1"], ...)` with h the hyperparameters of
    this step: a number (int, float or array) is kept in `state.hyperparams` and may be replaced
    there between steps; a schedule (a callable, or optax's stateful schedule with init/update)
    is evaluated at t = `count` and its value stored; bools, None and `static_args` are passed
    as they are. Floats are cast to `hyperparam_dtype`, or to the widest float dtype of the
    params. Extra keyword arguments of `update` go to the inner transform and to stateful
    schedules. Equal calls give equal transforms (`jax.jit` reuses its program).

    Differs from optax 0.2.8 on purpose in one corner: optax casts float hyperparameters to the
    params' widest dtype even when it is complex or an integer (a learning rate of 1e-3 becomes
    0 for int32 params); jaxdl uses the real float dtype (float32 for complex64 params).

    Args:
      inner_factory: a function returning a transform, e.g. `adam` or `optax.sgd`.
      static_args: the name (or names) of parameters of `inner_factory` that are callables but
        not schedules (e.g. adamw's `mask`), passed as they are.
      hyperparam_dtype: the float dtype of the stored hyperparameters, or None (the params').

    Returns:
      A function taking `inner_factory`'s arguments and returning a `GradientTransformation`
      with state `InjectStatefulHyperparamsState(count, hyperparams, hyperparams_states,
      inner_state)`.
    """
    owner = "inject_hyperparams"
    if not callable(inner_factory):
        raise TypeError(f"{owner}: inner_factory must be a function returning a "
                        f"GradientTransformation (e.g. adam, not adam(1e-3)), got "
                        f"{inner_factory!r}")
    try:
        static = (static_args,) if isinstance(static_args, str) else tuple(static_args)
    except TypeError:
        static = (None,)
    if not all(isinstance(a, str) for a in static):
        raise TypeError(f"{owner}: static_args must be a parameter name or a sequence of them, "
                        f"got {static_args!r}")
    signature = inspect.signature(inner_factory)
    unknown = [a for a in static if a not in signature.parameters]
    if unknown:
        raise ValueError(f"{owner}: static_args must be names of parameters of inner_factory "
                         f"({', '.join(signature.parameters)}), got {static_args!r}")
    if hyperparam_dtype is not None:
        try:
            dtype = jnp.dtype(hyperparam_dtype)
        except TypeError:
            dtype = None
        if dtype is None or not jnp.issubdtype(dtype, jnp.floating):
            raise ValueError(f"{owner}: hyperparam_dtype must be a float dtype or None, got "
                             f"{hyperparam_dtype!r}")
        hyperparam_dtype = dtype
    given = {"static_args": tuple(static)} if static else {}
    given.update({"hyperparam_dtype": hyperparam_dtype} if hyperparam_dtype is not None else {})
    outer = spec_of(inject_hyperparams, inner_factory, **given)
    name = getattr(inner_factory, "__name__", type(inner_factory).__name__)

    def factory(*args: Any, **kwargs: Any) -> GradientTransformation:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"inject_hyperparams({name}): {e}") from None
        bound.apply_defaults()
        numeric, scheduled, other = {}, {}, {}
        for k, v in bound.arguments.items():
            if k in static or isinstance(v, (bool, np.bool_)) or v is None:
                other[k] = v
            elif _stateful(v):
                scheduled[k] = v
            elif callable(v):
                scheduled[k] = _Wrapped(v)
            elif _numeric(v):
                numeric[k] = v
            else:
                other[k] = v
        if all(isinstance(f, _Wrapped) for f in scheduled.values()):
            # the inner factory's own checks, now (a schedule is checked at its step 0); a
            # stateful schedule may need extra args, so it waits for the first update
            inner_factory(**other, **numeric, **{k: f(f.init()) for k, f in scheduled.items()})

        def init(params):
            dtype = _float_dtype(params, hyperparam_dtype)
            hparams = {k: jnp.asarray(_convert(v, dtype)) for k, v in numeric.items()}
            states = {k: f.init() for k, f in scheduled.items()}
            hparams.update({k: _convert(f(states[k]), dtype) for k, f in scheduled.items()})
            return InjectStatefulHyperparamsState(
                _zero_count(), hparams, states, inner_factory(**other, **hparams).init(params))

        def update(updates, state, params=None, **extra_args):
            dtype = _float_dtype(params, hyperparam_dtype)
            hparams = {k: _convert(v, dtype) for k, v in state.hyperparams.items()}
            hparams.update({k: _convert(f(state.hyperparams_states[k], **extra_args), dtype)
                            for k, f in scheduled.items()})
            states = {k: f.update(state.hyperparams_states[k], **extra_args)
                      for k, f in scheduled.items()}
            inner = _extra_args_update(inner_factory(**other, **hparams))
            updates, inner_state = inner(updates, state.inner_state, params, **extra_args)
            return updates, InjectStatefulHyperparamsState(_inc(state.count), hparams, states,
                                                           inner_state)

        try:
            inner_spec = spec_of(inner_factory, *args, **kwargs)
        except AttributeError:  # a factory without a name (a functools.partial): by identity
            inner_spec = None
        return GradientTransformation(init, update, _spec(outer, name, inner_spec))

    return factory if outer is None else ByValue(factory, outer)


__all__ = ["InjectStatefulHyperparamsState", "WrappedScheduleState", "inject_hyperparams"]
