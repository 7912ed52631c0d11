"""Argument checks shared by every module: each error names the owner, the parameter and the value.

A check runs only when the value is concrete (a Python number or a NumPy/JAX array that is not a
tracer), so a hyperparameter that is traced under `jit` or `vmap` passes through unchecked
(STYLE rule 10: validate a value only when it is concrete).
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np


def is_concrete(value: Any) -> bool:
    """True when `value` holds no tracer, so it can be checked in Python."""
    return not any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(value))


def _shown(value: Any) -> str:
    """repr for Python values; NumPy's printout for arrays (-0.1, not Array(-0.1, dtype=...))."""
    if isinstance(value, (np.ndarray, np.generic, jax.Array)):
        a = np.asarray(value)
        return str(a[()]) if a.ndim == 0 else np.array2string(a, separator=", ")
    return repr(value)


def _fail(owner: str, name: str, requirement: str, value: Any, hint: str = "") -> None:
    message = f"{owner}: {name} must be {requirement}, got {_shown(value)}"
    raise ValueError(message + (f". {hint}" if hint else ""))


def positive_int(value: Any, name: str, owner: str) -> int:
    """`value` as an int >= 1; a bool, float or non-positive number is a ValueError/TypeError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{owner}: {name} must be a positive int, got {value!r}")
    if value < 1:
        _fail(owner, name, ">= 1", value)
    return int(value)


def int_tuple(value: Any, n: int, name: str, owner: str) -> tuple[int, ...]:
    """An int or a length-`n` sequence of positive ints, returned as an `n`-tuple."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        items = (value,) * n
    elif isinstance(value, (tuple, list)):
        items = tuple(value)
    else:
        raise TypeError(f"{owner}: {name} must be an int or a sequence of {n} ints, got {value!r}")
    if len(items) != n:
        _fail(owner, name, f"an int or a sequence of {n} ints", value)
    return tuple(positive_int(v, name, owner) for v in items)


def _numbers(value: Any, name: str, owner: str) -> np.ndarray:
    """`value` as a float64 array; a string, None or anything non-numeric is a TypeError."""
    try:
        if value is None or isinstance(value, (str, bytes)):
            raise TypeError
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{owner}: {name} must be a number or an array of numbers, got "
                        f"{value!r}") from None
    return arr


def in_range(
    value: Any,
    name: str,
    owner: str,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> Any:
    """Check low <= value <= high (strict where `*_open`) for every element, when concrete; a
    NaN is out of every range and a non-numeric value (a string, None) is a TypeError."""
    if not is_concrete(value):
        return value
    arr = _numbers(value, name, owner)
    bad = np.zeros(arr.shape, bool) if arr.size else np.zeros((), bool)
    if low is not None:
        bad = bad | ((arr <= low) if low_open else (arr < low))
    if high is not None:
        bad = bad | ((arr >= high) if high_open else (arr > high))
    bad = bad | np.isnan(arr)
    if np.any(bad):
        lo = "-inf" if low is None else f"{low}"
        hi = "inf" if high is None else f"{high}"
        left = "(" if low_open or low is None else "["
        right = ")" if high_open or high is None else "]"
        interval = f"{left}{lo}, {hi}{right}"
        _fail(owner, name, f"in {interval}", value)
    return value


def positive_shape(input_shape: tuple[int, ...], owner: str) -> tuple[int, ...]:
    """Check every size of a per-example `input_shape` is >= 1 (an empty axis holds no data)."""
    shape = tuple(input_shape)
    if any(d < 1 for d in shape):
        raise ValueError(f"{owner}: input_shape must have sizes >= 1, got {shape}")
    return shape


def shape_rank(input_shape: tuple[int, ...], rank: int, owner: str, layout: str) -> None:
    """Check a per-example `input_shape` (no batch axis) has `rank` axes, e.g. (H, W, C) for NHWC,
    each of size >= 1."""
    if len(input_shape) != rank:
        raise ValueError(
            f"{owner}: input_shape must have {rank} axes {layout} (no batch axis), "
            f"got {tuple(input_shape)}"
        )
    positive_shape(input_shape, owner)


def floating(x: Any, name: str, owner: str, hint: str = "") -> None:
    """Check array `x` has a float dtype (static, so it also runs under jit); a TypeError if not."""
    dtype = x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype
    if not jax.numpy.issubdtype(dtype, jax.numpy.floating):
        raise TypeError(f"{owner}: {name} must be a float array, got dtype {dtype}"
                        + (f"; {hint}" if hint else ""))


def require_key(key: Any, owner: str) -> None:
    """A random layer in train mode needs a PRNG key; say how to pass one."""
    if key is None:
        raise ValueError(
            f"{owner}: key must be a PRNG key when train=True (this layer is random), got None. "
            "Pass apply(..., key=jax.random.key(0), train=True), or train=False for evaluation."
        )
