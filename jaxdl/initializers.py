"""Weight initializers with the `jax.nn.initializers` signature `init(key, shape, dtype) -> array`.

Factories return an initializer (`he_normal()`, `sparse(connections=10)`); `zeros` and `ones` are
initializers themselves. Fans follow Dense `(in, out)` and Conv HWIO `(*window, in, out)` kernels:
fan_in = in * prod(window), fan_out = out * prod(window).

Fundamentals (000, section 3.8; 003): all-zero or constant weights make every hidden unit compute
the same function, so they stay identical (the symmetry trap); small random N(0, 0.01) vanishes in
deep nets; Var(W) = 1/fan_in keeps the forward variance (LeCun), 2/(fan_in + fan_out) balances
forward and backward (Xavier/Glorot), 2/fan_in compensates ReLU's halving (He).
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import jax
import jax.numpy as jnp

from jaxdl import checks
from jaxdl.spec import by_value

DType = Any


class Initializer(Protocol):
    def __call__(self, key: jax.Array, shape: tuple[int, ...], dtype: DType = jnp.float32
                 ) -> jax.Array: ...


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a kernel: the last axis is outputs, the one before it inputs, the
    leading ones a receptive field (Conv HWIO). A vector (bias) counts as (size, size)."""
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def _draw(dtype: DType) -> DType:
    """Sample in float32 at least (bfloat16 draws are coarse), in float64 when that is asked for."""
    return jnp.float64 if jnp.dtype(dtype) == jnp.float64 else jnp.float32


def zeros(key: jax.Array, shape: tuple[int, ...], dtype: DType = jnp.float32) -> jax.Array:
    """All zeros: fine for biases, the symmetry trap for weights."""
    del key
    return jnp.zeros(shape, dtype)


def ones(key: jax.Array, shape: tuple[int, ...], dtype: DType = jnp.float32) -> jax.Array:
    """All ones (batch-norm scale)."""
    del key
    return jnp.ones(shape, dtype)


@by_value
def constant(value: float) -> Initializer:
    """Every weight equal to `value`: as symmetric as zeros."""

    def init(key, shape, dtype=jnp.float32):
        del key
        return jnp.full(shape, value, dtype)

    return init


@by_value
def normal(stddev: float = 1.0) -> Initializer:
    """N(0, stddev^2)."""
    checks.in_range(stddev, "stddev", "normal", 0.0)

    def init(key, shape, dtype=jnp.float32):
        return (stddev * jax.random.normal(key, shape, _draw(dtype))).astype(dtype)

    return init


@by_value
def small_random(stddev: float = 0.01) -> Initializer:
    """N(0, 0.01^2): the fundamentals' 'small random numbers'; activations vanish with depth."""
    return normal(stddev)


@by_value
def uniform(scale: float = 1e-2) -> Initializer:
    """U(-scale, scale)."""
    checks.in_range(scale, "scale", "uniform", 0.0)

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, _draw(dtype), -scale, scale).astype(dtype)

    return init


_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("normal", "truncated_normal", "uniform")


@by_value
def variance_scaling(scale: float, mode: str, distribution: str) -> Initializer:
    """Weights with Var(W) = scale / n, n = fan_in, fan_out or (fan_in + fan_out) / 2.

    `normal` draws N(0, scale/n); `truncated_normal` draws from N(0, s^2) cut at +-2s with s chosen
    so that the variance is scale/n (as `jax.nn.initializers`); `uniform` draws U(-l, l) with
    l = sqrt(3 scale / n).
    """
    checks.in_range(scale, "scale", "variance_scaling", 0.0, low_open=True)
    if mode not in _MODES:
        raise ValueError(f"variance_scaling: mode must be one of {_MODES}, got {mode!r}")
    if distribution not in _DISTRIBUTIONS:
        raise ValueError(
            f"variance_scaling: distribution must be one of {_DISTRIBUTIONS}, got {distribution!r}"
        )

    def init(key, shape, dtype=jnp.float32):
        fan_in, fan_out = fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
        if n <= 0:
            raise ValueError(f"variance_scaling: shape must have {mode} >= 1 (Var(W) = scale / "
                             f"{mode}), got shape {tuple(shape)}")
        variance = scale / n
        if distribution == "normal":
            w = math.sqrt(variance) * jax.random.normal(key, shape, _draw(dtype))
        elif distribution == "truncated_normal":
            stddev = math.sqrt(variance) / 0.87962566103423978  # std of N(0,1) cut at +-2
            w = stddev * jax.random.truncated_normal(key, -2.0, 2.0, shape, _draw(dtype))
        else:
            limit = math.sqrt(3.0 * variance)
            w = jax.random.uniform(key, shape, _draw(dtype), -limit, limit)
        return w.astype(dtype)

    return init


@by_value
def lecun_normal() -> Initializer:
    """N(0, 1/fan_in): the 1/sqrt(n) rule (Var(W) = 1/M keeps a linear layer's variance)."""
    return variance_scaling(1.0, "fan_in", "normal")


@by_value
def lecun_uniform() -> Initializer:
    """U(-sqrt(3/fan_in), sqrt(3/fan_in))."""
    return variance_scaling(1.0, "fan_in", "uniform")


@by_value
def glorot_normal() -> Initializer:
    """Xavier/Glorot normal: N(0, 2/(fan_in + fan_out)) (Glorot & Bengio 2010)."""
    return variance_scaling(1.0, "fan_avg", "normal")


@by_value
def glorot_uniform() -> Initializer:
    """Xavier/Glorot uniform: U(-l, l), l = sqrt(6/(fan_in + fan_out))."""
    return variance_scaling(1.0, "fan_avg", "uniform")


xavier_normal = glorot_normal
xavier_uniform = glorot_uniform


@by_value
def he_normal() -> Initializer:
    """He/Kaiming normal: N(0, 2/fan_in), for ReLU (He et al. 2015)."""
    return variance_scaling(2.0, "fan_in", "normal")


@by_value
def he_uniform() -> Initializer:
    """He/Kaiming uniform: U(-l, l), l = sqrt(6/fan_in)."""
    return variance_scaling(2.0, "fan_in", "uniform")


@by_value
def sparse(connections: int = 10, stddev: float = 0.01) -> Initializer:
    """Sparse init (Martens 2010): each output unit gets exactly `connections` nonzero incoming
    weights, drawn N(0, stddev^2), at positions chosen at random among its fan_in inputs."""
    connections = checks.positive_int(connections, "connections", "sparse")
    checks.in_range(stddev, "stddev", "sparse", 0.0)

    def init(key, shape, dtype=jnp.float32):
        if len(shape) < 2:
            raise ValueError(
                f"sparse: shape must be a kernel (in, out) or (*window, in, out), got "
                f"{tuple(shape)}; use zeros or normal for biases"
            )
        fan_in, _ = fans(shape)
        units = shape[-1]
        if connections > fan_in:
            raise ValueError(
                f"sparse: connections must be <= fan_in ({fan_in}) of shape {tuple(shape)}, "
                f"got {connections}"
            )
        k_pos, k_val = jax.random.split(key)
        # rank a random score per (input, unit): the `connections` smallest ranks are kept
        scores = jax.random.uniform(k_pos, (fan_in, units))
        ranks = jnp.argsort(jnp.argsort(scores, axis=0), axis=0)
        mask = ranks < connections
        values = stddev * jax.random.normal(k_val, (fan_in, units), _draw(dtype))
        w = jnp.where(mask, values, jnp.zeros_like(values))
        return w.reshape(tuple(shape)).astype(dtype)

    return init


__all__ = [
    "Initializer", "fans", "zeros", "ones", "constant", "normal", "small_random", "uniform",
    "variance_scaling", "lecun_normal", "lecun_uniform", "glorot_normal", "glorot_uniform",
    "xavier_normal", "xavier_uniform", "he_normal", "he_uniform", "sparse",
]
