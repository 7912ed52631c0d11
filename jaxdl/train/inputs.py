"""Input checks for `fit` and `vmap_fit`: every bad argument raises before anything compiles.

Each error names the owner (`fit`), the parameter and the value. Whether x fits the model is
checked by abstract evaluation (`jax.eval_shape`: shapes and dtypes only, nothing runs).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import checks
from jaxdl.core import Layer, sublayers
from jaxdl.data.batching import check_xy, example_shape, num_examples


def check_key(key: Any, owner: str) -> None:
    """`key` must be a PRNG key: a typed key (`jax.random.key(0)`) or a raw uint32 (2,) key."""
    kind = getattr(key, "dtype", None)
    if kind is None or not (jax.dtypes.issubdtype(kind, jax.dtypes.prng_key) or (
            kind == np.uint32 and np.ndim(key) == 1)):
        raise TypeError(f"{owner}: key must be a PRNG key such as jax.random.key(0), got {key!r}")


class _ContractError(TypeError):
    """A layer's apply broke the layer contract (not a pair)."""


def _shapes(layer: Layer, shape: tuple[int, ...], dtype: Any, key: Any,
            init: tuple[Any, Any] | None = None) -> tuple[tuple[int, ...] | None, Any]:
    """(the output shape `layer.init` declares for `shape` (None when `init` gives the params),
    the abstract output of `layer.apply` on a batch of one), by abstract evaluation."""
    box = {}

    def params(k):
        p, s, out = layer.init(k, shape)
        box["declared"] = tuple(int(d) for d in out) if isinstance(out, (tuple, list)) and all(
            isinstance(d, (int, np.integer)) for d in out) else None
        return p, s

    ps = init if init is not None else jax.eval_shape(params, key)

    def outputs(p, s, a):
        out = layer.apply(p, s, a)
        if not (isinstance(out, tuple) and len(out) == 2):
            kind = f"a tuple of {len(out)}" if isinstance(out, tuple) else (
                f"one array of shape {tuple(out.shape)}" if hasattr(out, "shape") else repr(out))
            raise _ContractError(f"apply must return a (y, new_state) pair, got {kind}")
        return out[0]

    y = jax.eval_shape(outputs, *ps, batch_of_one(shape, dtype))
    return box.get("declared"), y


def batch_of_one(shape: Any, dtype: Any) -> Any:
    """A `ShapeDtypeStruct` batch of one example of per-example `shape` and `dtype`; for a model
    with several inputs, `shape` and `dtype` are tuples (one per input) and so is the result."""
    if isinstance(dtype, tuple):
        return tuple(jax.ShapeDtypeStruct((1, *s), d) for s, d in zip(shape, dtype))
    return jax.ShapeDtypeStruct((1, *shape), dtype)


def example_dtype(x: Any) -> Any:
    """The dtype jnp gives x (a tuple of dtypes for a tuple x)."""
    if isinstance(x, tuple):
        return tuple(example_dtype(a) for a in x)
    return jnp.asarray(x[:1]).dtype


def locate(layer: Layer, shape: tuple[int, ...], dtype: Any, key: Any, path: str = ""
           ) -> str | None:
    """The innermost layer of `layer` (through serial, parallel and residual) whose init and
    apply disagree for input `shape` (no batch axis), described; None when every one agrees.

    A layer is at fault when its apply returns something other than a (y, new_state) pair, or
    produces another shape than its own init declares (a layer that rejects its input is not:
    that is the input's fault, or its predecessor's); only abstract evaluation runs.
    """
    serial = getattr(layer.spec, "constructor", "").endswith(".serial")
    for name, child in sublayers(layer):
        where = f"{path}{name}"
        try:
            declared, y = _shapes(child, shape, dtype, key)
        except _ContractError as err:
            return f"layer {where} ({child!r}) {err}"
        except (ValueError, TypeError):
            return locate(child, shape, dtype, key, where + "/")
        produced = tuple(getattr(y, "shape", ()))[1:]
        if declared is not None and produced != declared:
            return locate(child, shape, dtype, key, where + "/") or (
                f"layer {where} ({child!r}) declares the output shape {declared} in init, but "
                f"its apply produces {produced}")
        if serial and declared is not None:
            shape, dtype = declared, getattr(y, "dtype", dtype)
    return None


def check_inputs(model: Layer, train: Any, val: Any, epochs: Any, batch_size: Any, key: Any,
                 owner: str, init: tuple[Any, Any] | None = None
                 ) -> tuple[int, int, tuple[int, ...]]:
    """Validate epochs, batch size, key, data (via check_xy) and that x fits the model (by
    abstract evaluation, `jax.eval_shape`, with the given `init` (params, state) when there is
    one, so bfloat16 or float64 params are checked as they are) before anything compiles;
    return (epochs, batch_size) as ints and the model's output shape for one example batch."""

    def pair(data, name):
        if not (isinstance(data, (tuple, list)) and len(data) == 2):
            what = f"an array of shape {np.shape(data)}" if hasattr(data, "shape") else repr(data)
            raise TypeError(f"{owner}: {name} must be an (x, y) pair, got {what}")
        return data[0], data[1]

    epochs = checks.positive_int(epochs, "epochs", owner)
    batch_size = checks.positive_int(batch_size, "batch_size", owner)
    check_key(key, owner)
    x, y = pair(train, "train")
    check_xy(x, y, owner, name="train")
    n = num_examples(x)
    if batch_size > n:
        raise ValueError(f"{owner}: batch_size must be <= the number of training examples {n}, "
                         f"got {batch_size}. Use a smaller batch.")
    shape, x_dtype = example_shape(x), example_dtype(x)
    try:
        declared, outputs = _shapes(model, shape, x_dtype, key, init)
    except (ValueError, TypeError) as err:
        culprit = locate(model, shape, x_dtype, key)
        error = TypeError if isinstance(err, TypeError) else ValueError
        if culprit is not None:
            raise error(f"{owner}: the model is not consistent: {culprit}") from err
        what = (f"of shape {np.shape(x)} and dtype {x_dtype}" if not isinstance(x, tuple) else
                f"with {len(x)} inputs of shapes {[np.shape(a) for a in x]} and dtypes "
                f"{list(x_dtype)}")
        raise error(f"{owner}: train x {what} does not fit the model: {err}") from err
    out_shape = tuple(getattr(outputs, "shape", ()))
    if declared is not None and out_shape[1:] != declared:
        culprit = locate(model, shape, x_dtype, key) or (
            f"its init declares the output shape {declared}, its apply produces {out_shape[1:]}")
        raise ValueError(f"{owner}: the model is not consistent: {culprit}")
    y_dtype = np.asarray(y[:1]).dtype
    if (len(out_shape) >= 2 and out_shape[-1] > 1 and np.issubdtype(y_dtype, np.floating)
            and tuple(np.shape(y)[1:]) == out_shape[1:-1]):
        raise TypeError(f"{owner}: train y must be integer class labels for a model with "
                        f"{out_shape[-1]} outputs, got {y_dtype} y of shape {np.shape(y)}; "
                        "convert with y.astype(np.int32)")
    classes = out_shape[-1] if out_shape and np.issubdtype(y_dtype, np.integer) else None
    check_xy(x, y, owner, classes=classes, name="train")
    if val is not None:
        vx, vy = pair(val, "val")
        if isinstance(vx, tuple) != isinstance(x, tuple) or example_shape(vx) != shape:
            got = example_shape(vx) if isinstance(vx, tuple) else np.shape(vx)
            raise ValueError(f"{owner}: val x must have the per-example shape of train x {shape}, "
                             f"got shape {got}")
        check_xy(vx, vy, owner, classes=classes, name="val")
    return epochs, batch_size, out_shape


def default_metrics(out_shape: tuple[int, ...], y: Any) -> tuple:
    """The metrics `fit`, `vmap_fit` and `evaluate` record when none are given: `(accuracy,)`
    for a classifier (two or more outputs on the last axis and integer labels, or one-hot y),
    and none for anything else (a regression reports its loss only, never an accuracy)."""
    from jaxdl.losses import accuracy

    if len(out_shape) < 2 or out_shape[-1] < 2:
        return ()
    y = np.asarray(y)
    if np.issubdtype(y.dtype, np.integer) and y.shape[1:] == tuple(out_shape[1:-1]):
        return (accuracy,)
    if y.shape[1:] == tuple(out_shape[1:]) and np.issubdtype(y.dtype, np.floating):
        one_hot = np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=-1) == 1)
        return (accuracy,) if one_hot else ()
    return ()


__all__ = ["check_inputs", "check_key", "default_metrics"]
