"""`evaluate` and `predict`: a trained model in eval mode, each one jitted program that is
compiled once per model (by value, see jaxdl.spec) and input shape, and reused on every call."""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import checks
from jaxdl.core import Layer, Params, State
from jaxdl.data.batching import check_xy, num_examples
from jaxdl.data_parallel import placed_like, to_host
from jaxdl.train.inputs import default_metrics
from jaxdl.train.state import Loss, Metric, TrainState
from jaxdl.train.step import batched_means

_means_program = jax.jit(batched_means, static_argnums=(0, 1, 2, 3))


def evaluate(
    model: Layer, train_state: TrainState, data: tuple[Any, Any],
    metrics: Sequence[Metric] | None = None, *, loss: Loss | None = None, batch_size: int = 1024,
) -> dict[str, float]:
    """Mean metrics (and "loss" when `loss` is given) over all of `data = (x, y)`, eval mode
    (x a tuple of arrays for a model with several inputs).

    The examples go through the model `batch_size` at a time; each batch's mean is weighted by
    its size (see `jaxdl.train.step.batched_means`). `metrics=None` takes fit's default:
    accuracy for a classifier, none for a regression.
    """
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise TypeError(f"evaluate: data must be an (x, y) pair, got {type(data).__name__}")
    check_xy(data[0], data[1], "evaluate", name="data")
    x, y = placed_like(jax.tree.map(jnp.asarray, (data[0], data[1])), train_state.params)
    batch = min(checks.positive_int(batch_size, "batch_size", "evaluate"), num_examples(x))
    if metrics is None:
        out = jax.eval_shape(lambda p, s, a: _outputs(model, p, s, a), train_state.params,
                             train_state.state, jax.tree.map(lambda a: a[:1], x))
        metrics = default_metrics(tuple(getattr(out, "shape", ())), np.asarray(data[1]))
    out = _means_program(model, loss, tuple(metrics), batch, train_state.params,
                         train_state.state, x, y)
    return {k: float(v) for k, v in to_host(out).items()}


def _outputs(model: Layer, params: Params, state: State, x: jax.Array) -> jax.Array:
    return model.apply(params, state, x, train=False)[0]


_predict_program = jax.jit(_outputs, static_argnums=0)


def predict(model: Layer, train_state: TrainState, x: Any) -> jax.Array:
    """Model outputs for `x` (batch, ...) in eval mode (jitted once per model and shape); x is
    a tuple of such arrays for a model with several inputs.

    One example needs its batch axis: `predict(model, ts, x[None])`; an `x` without it is an
    error when the model fails on it or its outputs do not keep x's leading axis. With a
    TrainState that spans several processes (`fit(..., mesh=)` under `jax.distributed`), every
    process passes the same x and gets its own copy of the outputs.
    """
    if isinstance(x, (list, dict)):
        raise TypeError(f"predict: x must be an array, or a tuple of arrays for a model with "
                        f"several inputs, got a {type(x).__name__} of {len(x)}")
    if isinstance(x, tuple):
        if not x or any(np.ndim(a) == 0 for a in x):
            raise ValueError(f"predict: x must be a tuple of arrays with a batch axis each, got "
                             f"shapes {[np.shape(a) for a in x]}")
        x = tuple(a if isinstance(a, (np.ndarray, jax.Array)) else np.asarray(a) for a in x)
        y = _predict_program(model, train_state.params, train_state.state,
                             placed_like(x, train_state.params))
        return jax.tree.map(lambda a: a if a.is_fully_addressable else a.addressable_data(0), y)
    x = x if isinstance(x, (np.ndarray, jax.Array)) else np.asarray(x)  # jit takes both as is
    if np.ndim(x) == 0:
        raise ValueError(f"predict: x must have a batch axis, got a scalar {x!r}")
    try:
        y = _predict_program(model, train_state.params, train_state.state,
                             placed_like(x, train_state.params))
    except (ValueError, TypeError) as err:
        _no_batch_axis(model, train_state, x, err)
        raise
    lead = [np.shape(a)[:1] for a in jax.tree.leaves(y)]
    if lead and lead[0] != np.shape(x)[:1]:
        _no_batch_axis(model, train_state, x, None)
    return jax.tree.map(lambda a: a if a.is_fully_addressable else a.addressable_data(0), y)


def _no_batch_axis(model: Layer, train_state: TrainState, x: Any, err: Exception | None) -> None:
    """Raise the missing-batch-axis error when the model takes `x[None]`."""
    try:
        jax.eval_shape(lambda p, s, a: _outputs(model, p, s, a), train_state.params,
                       train_state.state, jax.ShapeDtypeStruct((1, *np.shape(x)), x.dtype))
    except (ValueError, TypeError):
        return
    raise ValueError(f"predict: x of shape {np.shape(x)} has no batch axis: the model takes "
                     f"batches (n, {', '.join(map(str, np.shape(x)))}); for one example pass "
                     "x[None]") from err


__all__ = ["evaluate", "predict"]
