"""`evaluate` and `predict`: a trained model in eval mode, each one jitted program that is
compiled once per model (by value, see jaxdl.spec) and input shape, and reused on every call."""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import checks
from jaxdl.core import Layer, Params, State
from jaxdl.losses import accuracy
from jaxdl.train.state import Loss, Metric, TrainState
from jaxdl.train.step import batched_means

_means_program = jax.jit(batched_means, static_argnums=(0, 1, 2, 3))


def evaluate(
    model: Layer, train_state: TrainState, data: tuple[Any, Any],
    metrics: Sequence[Metric] = (accuracy,), *, loss: Loss | None = None, batch_size: int = 1024,
) -> dict[str, float]:
    """Mean metrics (and "loss" when `loss` is given) over all of `data = (x, y)`, eval mode.

    The examples go through the model `batch_size` at a time; each batch's mean is weighted by
    its size (see `jaxdl.train.step.batched_means`).
    """
    x, y = jnp.asarray(data[0]), jnp.asarray(data[1])
    batch = min(checks.positive_int(batch_size, "batch_size", "evaluate"), x.shape[0])
    out = _means_program(model, loss, tuple(metrics), batch, train_state.params,
                         train_state.state, x, y)
    return {k: float(v) for k, v in out.items()}


def _outputs(model: Layer, params: Params, state: State, x: jax.Array) -> jax.Array:
    return model.apply(params, state, x, train=False)[0]


_predict_program = jax.jit(_outputs, static_argnums=0)


def predict(model: Layer, train_state: TrainState, x: Any) -> jax.Array:
    """Model outputs for `x` (batch, ...) in eval mode (jitted once per model and shape)."""
    x = x if isinstance(x, (np.ndarray, jax.Array)) else np.asarray(x)  # jit takes both as is
    return _predict_program(model, train_state.params, train_state.state, x)


__all__ = ["evaluate", "predict"]
