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
from jaxdl.core import Layer
from jaxdl.data.batching import check_xy


def check_key(key: Any, owner: str) -> None:
    """`key` must be a PRNG key: a typed key (`jax.random.key(0)`) or a raw uint32 (2,) key."""
    kind = getattr(key, "dtype", None)
    if kind is None or not (jax.dtypes.issubdtype(kind, jax.dtypes.prng_key) or (
            kind == np.uint32 and np.ndim(key) == 1)):
        raise TypeError(f"{owner}: key must be a PRNG key such as jax.random.key(0), got {key!r}")


def check_inputs(model: Layer, train: Any, val: Any, epochs: Any, batch_size: Any, key: Any,
                 owner: str, init: tuple[Any, Any] | None = None) -> tuple[int, int]:
    """Validate epochs, batch size, key, data (via check_xy) and that x fits the model (by
    abstract evaluation, `jax.eval_shape`, with the given `init` (params, state) when there is
    one, so bfloat16 or float64 params are checked as they are) before anything compiles;
    return (epochs, batch_size) as ints."""

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
    n = len(x)
    if batch_size > n:
        raise ValueError(f"{owner}: batch_size must be <= the number of training examples {n}, "
                         f"got {batch_size}. Use a smaller batch.")
    shape, x_dtype = tuple(np.shape(x)[1:]), jnp.asarray(x[:1]).dtype
    try:
        out = (init if init is not None
               else jax.eval_shape(lambda k: model.init(k, shape)[:2], key))
        outputs = jax.eval_shape(lambda p, s, a: model.apply(p, s, a)[0], *out,
                                 jax.ShapeDtypeStruct((1, *shape), x_dtype))
    except (ValueError, TypeError) as err:
        error = TypeError if isinstance(err, TypeError) else ValueError
        raise error(f"{owner}: train x of shape {np.shape(x)} and dtype {x_dtype} does not fit "
                    f"the model: {err}") from err
    out_shape = tuple(getattr(outputs, "shape", ()))
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
        if tuple(np.shape(vx)[1:]) != shape:
            raise ValueError(f"{owner}: val x must have the per-example shape of train x {shape}, "
                             f"got shape {np.shape(vx)}")
        check_xy(vx, vy, owner, classes=classes, name="val")
    return epochs, batch_size


__all__ = ["check_inputs", "check_key"]
