"""Feature scaling fitted on the training split only (fundamentals 000, 3.6.5).

Each `fit_*(x_train, ...)` returns `(transform, stats)`: `stats` is a NamedTuple of arrays computed
from `x_train` alone, and `transform(x)` is a pure jit-able function that applies them, so the
validation and test splits are scaled with the training statistics (never their own):

    transform, stats = fit_zscore(x_train, axis=0)
    x_train, x_val, x_test = transform(x_train), transform(x_val), transform(x_test)

Statistics keep the reduced axes with size 1 (`keepdims`), so `transform(x)` takes arrays of
x_train's rank and broadcasts over the reduced axes (e.g. stats (1, F) for x (n, F); use
`axis=(0, 1, 2)` for per-channel statistics of NHWC images). A constant feature has zero range or
spread; it is divided by 1 instead of 0, so it maps to the lower bound (min-max) or 0 (z-score).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import checks

Axis = int | tuple[int, ...] | None
Transform = Callable[[jax.Array], jax.Array]


class MinMaxStats(NamedTuple):
    min: jax.Array
    max: jax.Array


class ZScoreStats(NamedTuple):
    mean: jax.Array
    std: jax.Array


class LogStats(NamedTuple):
    log_max: jax.Array  # log1p(max(x_train)) over the axes


def _float(x: jax.Array, owner: str) -> jax.Array:
    x = jnp.asarray(x)
    x = x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.float32)
    if x.size == 0:
        raise ValueError(f"{owner}: x_train must not be empty, got shape {x.shape}")
    if checks.is_concrete(x) and not bool(jnp.all(jnp.isfinite(x))):
        count = int(np.sum(~np.isfinite(np.asarray(x))))
        raise ValueError(f"{owner}: x_train must be finite, got {count} NaN/inf values")
    return x


def _safe(scale: jax.Array) -> jax.Array:
    return jnp.where(scale > 0, scale, jnp.ones_like(scale))


def _cast(x: jax.Array, like: jax.Array) -> jax.Array:
    x = jnp.asarray(x)
    return x.astype(like.dtype) if x.dtype != like.dtype else x


def fit_minmax(
    x_train: jax.Array, *, axis: Axis = 0, feature_range: tuple[float, float] = (0.0, 1.0)
) -> tuple[Transform, MinMaxStats]:
    """Min-max (linear) scaling: x' = lo + (hi - lo) (x - min) / (max - min).

    Args:
      x_train: (n, ...) training inputs (integers become float32).
      axis: axes reduced for the statistics (0: one min/max per feature).
      feature_range: (lo, hi), lo < hi; (0, 1) or (-1, 1) are the usual ones.

    Returns:
      (transform, MinMaxStats(min, max)); the training split maps into [lo, hi], other splits
        may fall outside.
    """
    lo, hi = (float(v) for v in feature_range)
    if not lo < hi:
        raise ValueError(f"fit_minmax: feature_range must be (lo, hi) with lo < hi, "
                         f"got {feature_range}")
    x_train = _float(x_train, "fit_minmax")
    stats = MinMaxStats(jnp.min(x_train, axis, keepdims=True),
                        jnp.max(x_train, axis, keepdims=True))

    def transform(x: jax.Array) -> jax.Array:
        x = _cast(x, stats.min)
        unit = (x - stats.min) / _safe(stats.max - stats.min)
        return lo + (hi - lo) * unit

    return transform, stats


def fit_zscore(x_train: jax.Array, *, axis: Axis = 0) -> tuple[Transform, ZScoreStats]:
    """Z-score standardisation: x' = (x - mu) / sigma, mu and sigma (population, ddof = 0) of
    x_train over `axis`; the training split gets mean 0 and standard deviation 1.

    Args:
      x_train: (n, ...) training inputs.
      axis: axes reduced for the statistics.

    Returns:
      (transform, ZScoreStats(mean, std)).
    """
    x_train = _float(x_train, "fit_zscore")
    mean = jnp.mean(x_train, axis, keepdims=True)
    std = jnp.sqrt(jnp.mean(jnp.square(x_train - mean), axis, keepdims=True))
    stats = ZScoreStats(mean, std)

    def transform(x: jax.Array) -> jax.Array:
        return (_cast(x, stats.mean) - stats.mean) / _safe(stats.std)

    return transform, stats


def fit_log(x_train: jax.Array, *, axis: Axis = 0) -> tuple[Transform, LogStats]:
    """Log (non-linear) scaling for non-negative data spread over orders of magnitude:
    x' = log(1 + x) / log(1 + max(x_train)), so the training split maps into [0, 1].

    `log1p` rather than log keeps x = 0 finite. `x_train` must be non-negative; the transform
    clips negative values of other splits to 0 first (x' = log1p(max(x, 0)) / log_max).

    Args:
      x_train: (n, ...) non-negative training inputs.
      axis: axes reduced for the maximum.

    Returns:
      (transform, LogStats(log_max)).
    """
    x_train = _float(x_train, "fit_log")
    if checks.is_concrete(x_train) and bool(jnp.any(x_train < 0)):
        raise ValueError(f"fit_log: x_train must be non-negative (log1p scaling), got "
                         f"min {float(jnp.min(x_train))}; use fit_zscore or fit_minmax instead")
    stats = LogStats(jnp.log1p(jnp.max(x_train, axis, keepdims=True)))

    def transform(x: jax.Array) -> jax.Array:
        x = _cast(x, stats.log_max)
        return jnp.log1p(jnp.maximum(x, 0.0)) / _safe(stats.log_max)

    return transform, stats


__all__ = ["fit_minmax", "fit_zscore", "fit_log", "MinMaxStats", "ZScoreStats", "LogStats",
           "Transform"]
