"""What a run carries and returns: `TrainState`, `History`, `NonFiniteError`, `init_state`.

Reference: fundamentals 000, section 3.5 (mini-batch SGD, early stopping).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.core import Layer, Params, State
from jaxdl.optim.base import GradientTransformation, OptState

Metric = Callable[[jax.Array, jax.Array], jax.Array]  # (outputs, targets) -> scalar mean
Loss = Callable[[jax.Array, jax.Array], jax.Array]  # (outputs, targets) -> scalar mean


class TrainState(NamedTuple):
    """Everything a run carries: int32 `step`, `params`, model `state`, `opt_state`, base `key`."""

    step: jax.Array  # shape=(), dtype=int32: updates so far
    params: Params
    state: State
    opt_state: OptState
    key: jax.Array  # the run's base key: epoch e draws from fold_in(key, e)


class NonFiniteError(FloatingPointError):
    """The loss or a gradient became NaN/inf; `.train_state` is the last finite state."""

    def __init__(self, message: str, train_state: TrainState, epoch: int, step: int):
        super().__init__(message)
        self.train_state, self.epoch, self.step = train_state, epoch, step


@dataclasses.dataclass
class History:
    """Per-epoch NumPy arrays in `values` (read as attributes: `history.val_loss`).

    Keys: train_loss, train_<metric>, val_loss, val_<metric> (with `val`), learning_rate (when
    the optimizer state exposes `hyperparams["learning_rate"]`, e.g. optax.inject_hyperparams),
    seconds. Epochs are counted from 0; `stopped_epoch` is the epoch after which early stopping or
    another callback stopped the run (None if it ran to the end), `best_epoch` the epoch whose
    state was kept or would be by fit's `monitor`.
    """

    values: dict[str, np.ndarray]
    stopped_epoch: int | None = None
    best_epoch: int | None = None
    nonfinite_skipped: int = 0

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        if name in ("learning_rate", "val_loss"):
            return None
        raise AttributeError(f"History has no {name!r}; recorded: {sorted(values)}")


def metric_name(metric: Metric) -> str:
    """The name a metric is recorded under: its `__name__` ("accuracy")."""
    return getattr(metric, "__name__", type(metric).__name__)


def new_state(model: Layer, optimizer: GradientTransformation, input_shape: tuple[int, ...],
              key: jax.Array, init: tuple[Params, State] | None = None) -> TrainState:
    """`init_state` as a pure function, not compiled (to call inside a traced program)."""
    if init is None:
        params, state, _ = model.init(jax.random.fold_in(key, 0), input_shape)
    else:
        params, state = init
    return TrainState(jnp.zeros((), jnp.int32), params, state, optimizer.init(params),
                      jax.random.fold_in(key, 1))


# jit's own cache, keyed by the model, optimizer and shape (equal by value, see jaxdl.spec)
_init_program = jax.jit(new_state, static_argnums=(0, 1, 2))


def init_state(model: Layer, optimizer: GradientTransformation, input_shape: tuple[int, ...],
               key: jax.Array, init: tuple[Params, State] | None = None) -> TrainState:
    """A fresh TrainState: params from `model.init(fold_in(key, 0), input_shape)` (or the given
    `init = (params, state)`), the optimizer's initial state, step 0, base key `fold_in(key, 1)`.

    One jitted program, compiled once per (model, optimizer, shape) and reused for equal ones;
    it also runs inside `jit`/`vmap` (vmap_fit initialises K models with it).
    """
    return _init_program(model, optimizer, tuple(input_shape), key, init)


def learning_rate(state: TrainState | OptState, optimizer: GradientTransformation | None = None
                  ) -> np.ndarray | None:
    """The learning rate of the latest update (before any update: of the first), or None.

    Read from the optimizer state when it exposes `hyperparams["learning_rate"]`
    (`jaxdl.optim.inject_hyperparams`, `optax.inject_hyperparams`); otherwise, given the
    `optimizer` that made the state, from the `learning_rate` its constructor was called with (a
    number, or a schedule evaluated at the update count): `learning_rate(ts, optim.adam(sched))`.

    Args:
      state: a TrainState or an optimizer state.
      optimizer: the jaxdl optimizer that made the state (optional).

    Returns:
      A NumPy array (a scalar for one run, (K,) for a vmapped sweep), or None when neither the
      state nor the optimizer tells the learning rate.
    """
    opt_state = state.opt_state if isinstance(state, TrainState) else state
    lr = learning_rate_of(opt_state, optimizer)
    return None if lr is None else np.asarray(lr)


def _replace_lr(node: Any, value: Any) -> tuple[Any, bool]:
    """`node` with its first `hyperparams["learning_rate"]` set to `value`; (node, found)."""
    hp = getattr(node, "hyperparams", None)
    if isinstance(hp, dict) and "learning_rate" in hp:
        old = jnp.asarray(hp["learning_rate"])
        return node._replace(hyperparams={**hp, "learning_rate": jnp.broadcast_to(
            jnp.asarray(value, old.dtype), old.shape)}), True
    if isinstance(node, (tuple, list)) or isinstance(node, dict):
        items = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
        for k, child in items:
            new, found = _replace_lr(child, value)
            if found:
                if isinstance(node, dict):
                    return {**node, k: new}, True
                out = list(node)
                out[k] = new
                return (type(node)(*out) if hasattr(node, "_fields") else type(node)(out)), True
    return node, False


def set_learning_rate(state: TrainState | OptState, value: Any, *, owner: str = "set_learning_rate"
                      ) -> TrainState | OptState:
    """The state with the learning rate in its `hyperparams` set to `value` (same dtype and
    shape as before), for the optimizers built with `jaxdl.optim.inject_hyperparams` or
    `optax.inject_hyperparams` with a numeric learning rate (a schedule would overwrite it at the
    next step). Nothing is recompiled: the learning rate is an array of the state.

    Args:
      state: a TrainState or an optimizer state.
      value: the new learning rate, a number >= 0 (or an array of the old one's shape).
      owner: the name errors give (the callback that calls it).

    Returns:
      A new state of the same kind; raises ValueError when the state exposes no learning rate.
    """
    opt_state = state.opt_state if isinstance(state, TrainState) else state
    if learning_rate_of(opt_state) is None:
        raise ValueError(
            f"{owner}: the optimizer state exposes no hyperparams['learning_rate'] to change; "
            "build the optimizer with it injected, e.g. "
            "optim.inject_hyperparams(optim.adam)(learning_rate=1e-3)")
    try:
        ok = value is not None and bool(np.all(np.asarray(value, np.float64) >= 0))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{owner}: learning rate must be >= 0, got {value!r}")
    new, _ = _replace_lr(opt_state, value)
    return state._replace(opt_state=new) if isinstance(state, TrainState) else new


def _counts(node: Any) -> list[jax.Array]:
    """The `count` fields of the NamedTuples in an optimizer state, depth first."""
    found = [node.count] if hasattr(node, "_fields") and "count" in node._fields else []
    children = node.values() if isinstance(node, dict) else (
        node if isinstance(node, (tuple, list)) else ())
    for child in children:
        found += _counts(child)
    return found


def spec_learning_rate(optimizer: Any) -> Any:
    """The `learning_rate` argument a by-value transform was built with, searched depth first
    through the transforms in its arguments (`chain(clip(1.0), adam(sched))` gives `sched`);
    None when there is none or more than one."""
    found = []

    def visit(t):
        spec = getattr(t, "spec", None)
        if spec is None:
            return
        args = dict(spec.arguments)
        if "learning_rate" in args and (callable(args["learning_rate"])
                                        or np.ndim(args["learning_rate"]) == 0):
            found.append(args["learning_rate"])
            return
        for _, value in spec.arguments:
            many = isinstance(value, tuple) and not isinstance(value, GradientTransformation)
            for v in (value if many else (value,)):
                if isinstance(v, GradientTransformation):
                    visit(v)

    visit(optimizer)
    return found[0] if len(found) == 1 else None


def learning_rate_of(opt_state: OptState, optimizer: Any = None) -> jax.Array | None:
    """`learning_rate` without leaving the device (for use inside a compiled program)."""
    nodes = jax.tree.leaves(opt_state, is_leaf=lambda n: hasattr(n, "hyperparams"))
    for node in nodes:
        hp = getattr(node, "hyperparams", None)
        if isinstance(hp, dict) and "learning_rate" in hp:
            return hp["learning_rate"]
    lr = spec_learning_rate(optimizer)
    if lr is None:
        return None
    if not callable(lr):
        return jnp.asarray(lr, jnp.float32)
    counts = _counts(opt_state)
    if not counts:
        return None
    return jnp.asarray(lr(jnp.maximum(counts[0] - 1, 0)), jnp.float32)


__all__ = ["TrainState", "History", "NonFiniteError", "Metric", "Loss", "init_state", "new_state",
           "learning_rate", "set_learning_rate", "learning_rate_of", "spec_learning_rate", "metric_name"]
