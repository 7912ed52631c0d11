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


def learning_rate(opt_state: OptState) -> np.ndarray | None:
    """The learning rate an optimizer state exposes (`hyperparams["learning_rate"]`), or None.

    A NumPy array: a scalar for one run, (K,) for a vmapped sweep.
    """
    lr = learning_rate_of(opt_state)
    return None if lr is None else np.asarray(lr)


def learning_rate_of(opt_state: OptState) -> jax.Array | None:
    """`learning_rate` without leaving the device (for use inside a compiled program)."""
    nodes = jax.tree.leaves(opt_state, is_leaf=lambda n: hasattr(n, "hyperparams"))
    for node in nodes:
        hp = getattr(node, "hyperparams", None)
        if isinstance(hp, dict) and "learning_rate" in hp:
            return hp["learning_rate"]
    return None


__all__ = ["TrainState", "History", "NonFiniteError", "Metric", "Loss", "init_state", "new_state",
           "learning_rate", "metric_name"]
