"""Normalization layers: BatchNorm, GroupNorm, LayerNorm, WeightNorm, LocalResponseNorm.

Fundamentals 000, section 3.6: LRN (3.6.6-3.6.7), batch normalization and its inference
statistics (3.6.8-3.6.10), group normalization (3.6.11), weight normalization (3.6.12).
Channels are the last axis (NHWC). Statistics and the normalization are computed in at least
float32 (a bfloat16/float16 x is upcast, as Flax does: a mean rounded to 8 or 11 bits shifts
x - mean, and so the variance, by up to half its spacing); the output has x's dtype.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxdl import checks
from jaxdl.core import Layer
from jaxdl.spec import by_value


def _channels(input_shape: tuple[int, ...], owner: str) -> int:
    if len(input_shape) < 1:
        raise ValueError(f"{owner}: input_shape must have at least 1 axis (channels last), "
                         f"got {tuple(input_shape)}")
    return int(input_shape[-1])


def _wide(x: jax.Array) -> jax.Array:
    """x in at least float32 (bfloat16/float16 are upcast)."""
    half = jnp.issubdtype(x.dtype, jnp.floating) and jnp.finfo(x.dtype).bits < 32
    return x.astype(jnp.float32) if half else x


def _per_channel(v: jax.Array, x: jax.Array) -> jax.Array:
    """A (C,) vector cast to x's dtype and broadcast to x's shape (rank promotion is explicit)."""
    return jnp.broadcast_to(v.astype(x.dtype), x.shape)


def _scale_bias_init(c: int) -> dict[str, jax.Array]:
    return {"scale": jnp.ones((c,), jnp.float32), "bias": jnp.zeros((c,), jnp.float32)}


def _affine(params: dict[str, jax.Array], x_hat: jax.Array) -> jax.Array:
    return _per_channel(params["scale"], x_hat) * x_hat + _per_channel(params["bias"], x_hat)


@by_value
def BatchNorm(momentum: ArrayLike = 0.99, eps: ArrayLike = 1e-5) -> Layer:
    """Batch normalization (Ioffe & Szegedy 2015): `y = scale * (x - mu) / sqrt(var + eps) + bias`.

    Train: mu = mu_B and the biased var = var_B = mean((x - mu_B)^2) are taken over every axis but
    the last (m = batch * spatial elements per channel), and the running statistics are updated as
    `new = momentum * old + (1 - momentum) * batch` with the UNBIASED variance var_B * m / (m - 1):
    the fundamentals (000, 3.6.10) prescribe the unbiased estimate for inference. Flax and Haiku
    keep the biased one instead (PyTorch keeps the unbiased one). Eval: normalise with the running
    mean and variance; the state is returned unchanged. For a bfloat16/float16 x the statistics
    are float32 and the state keeps its dtype (float32); y has x's dtype.

    Args:
      momentum: weight of the old running value, in [0, 1].
      eps: added to the variance, > 0.
    Params `{"scale": (C,), "bias": (C,)}` (1 and 0); state `{"mean": (C,), "var": (C,)}` (0 and 1).
    x: (batch, ..., C) -> y: same shape.
    """
    checks.in_range(momentum, "momentum", "BatchNorm", 0.0, 1.0)
    checks.in_range(eps, "eps", "BatchNorm", 0.0, low_open=True)

    def init(key, input_shape):
        c = _channels(input_shape, "BatchNorm")
        state = {"mean": jnp.zeros((c,), jnp.float32), "var": jnp.ones((c,), jnp.float32)}
        return _scale_bias_init(c), state, tuple(input_shape)

    def apply(params, state, x, *, key=None, train=False):
        axes = tuple(range(x.ndim - 1))
        out, x = x.dtype, _wide(x)
        if not train:
            x_hat = (x - _per_channel(state["mean"], x)) * jax.lax.rsqrt(
                _per_channel(state["var"], x) + eps)
            return _affine(params, x_hat).astype(out), state
        m = math.prod(x.shape[:-1])
        if m < 2:
            raise ValueError(
                f"BatchNorm: train=True needs more than one value per channel to estimate the "
                f"variance, got x of shape {x.shape}. Use a batch of 2 or more, or train=False.")
        mean = jnp.mean(x, axis=axes, keepdims=True)
        var = jnp.mean(jnp.square(x - mean), axis=axes, keepdims=True)
        x_hat = (x - mean) * jax.lax.rsqrt(var + eps)
        batch_mean = mean.reshape(-1).astype(state["mean"].dtype)
        batch_var = (var.reshape(-1) * (m / (m - 1))).astype(state["var"].dtype)
        new_state = {"mean": momentum * state["mean"] + (1 - momentum) * batch_mean,
                     "var": momentum * state["var"] + (1 - momentum) * batch_var}
        return _affine(params, x_hat).astype(out), new_state

    return Layer(init, apply, "batch_norm")


def _group_normalize(x: jax.Array, groups: int, eps: ArrayLike) -> jax.Array:
    """(x - mu) / sqrt(var + eps), statistics per example over the spatial axes and the channels
    of each of `groups` groups."""
    g = x.reshape(*x.shape[:-1], groups, x.shape[-1] // groups)
    axes = (*range(1, g.ndim - 2), g.ndim - 1)
    mean = jnp.mean(g, axis=axes, keepdims=True)
    var = jnp.mean(jnp.square(g - mean), axis=axes, keepdims=True)
    return ((g - mean) * jax.lax.rsqrt(var + eps)).reshape(x.shape)


@by_value
def GroupNorm(groups: int, eps: ArrayLike = 1e-5) -> Layer:
    """Group normalization (Wu & He 2018): `y = scale * (x - mu_g) / sqrt(var_g + eps) + bias`.

    mu_g, var_g (biased) are per example and per group of C / groups consecutive channels, over
    the spatial axes and that group's channels, so the output does not depend on the batch
    (fundamentals 000, 3.6.11). Scale and bias are per channel.

    Args:
      groups: number of channel groups, >= 1, must divide C.
      eps: added to the variance, > 0.
    Params `{"scale": (C,), "bias": (C,)}`. x: (batch, ..., C) -> y: same shape.
    """
    groups = checks.positive_int(groups, "groups", "GroupNorm")
    checks.in_range(eps, "eps", "GroupNorm", 0.0, low_open=True)

    def init(key, input_shape):
        c = _channels(input_shape, "GroupNorm")
        if c % groups:
            raise ValueError(f"GroupNorm: groups must divide the number of channels, got "
                             f"groups={groups}, channels={c}")
        return _scale_bias_init(c), {}, tuple(input_shape)

    def apply(params, state, x, *, key=None, train=False):
        return _affine(params, _group_normalize(_wide(x), groups, eps)).astype(x.dtype), state

    return Layer(init, apply, "group_norm")


@by_value
def LayerNorm(eps: ArrayLike = 1e-5) -> Layer:
    """Layer normalization (Ba et al. 2016): `y = scale * (x - mu) / sqrt(var + eps) + bias`.

    mu, var (biased) are per example over ALL per-example axes, as in the paper ("all the hidden
    units in a layer"); this equals `GroupNorm(1)`. (Flax's and PyTorch's usual LayerNorm over the
    last axis only differs for inputs with spatial axes.) Scale and bias are per channel.

    Args:
      eps: added to the variance, > 0.
    Params `{"scale": (C,), "bias": (C,)}`. x: (batch, ..., C) -> y: same shape.
    """
    checks.in_range(eps, "eps", "LayerNorm", 0.0, low_open=True)

    def init(key, input_shape):
        return _scale_bias_init(_channels(input_shape, "LayerNorm")), {}, tuple(input_shape)

    def apply(params, state, x, *, key=None, train=False):
        return _affine(params, _group_normalize(_wide(x), 1, eps)).astype(x.dtype), state

    return Layer(init, apply, "layer_norm")


def _unit_columns(v: jax.Array) -> jax.Array:
    """v / ||v|| with the norm over every axis but the last (one norm per output unit)."""
    axes = tuple(range(v.ndim - 1))
    return v * jax.lax.rsqrt(jnp.sum(jnp.square(v), axis=axes, keepdims=True))


@by_value
def WeightNorm(layer: Layer) -> Layer:
    """Weight normalization (Salimans & Kingma 2016): the wrapped kernel is `w = g * v / ||v||`.

    The norm runs over every axis of `v` but the last (output units), so each unit's weight vector
    has length g (fundamentals 000, 3.6.12). At init v is the wrapped layer's w and g = ||v||, so
    the initial function equals the wrapped layer's.

    Args:
      layer: a layer whose params hold a kernel "w" with output units on the last axis (Dense,
        Conv2D).
    Params `{"v": w's shape, "g": (out,), plus the wrapped layer's other params, e.g. "b"}`.
    """
    if not isinstance(layer, Layer):
        raise TypeError(f"WeightNorm: layer must be a Layer, got {layer!r}")

    def init(key, input_shape):
        params, state, out = layer.init(key, input_shape)
        if not isinstance(params, dict) or "w" not in params:
            keys = sorted(params) if isinstance(params, dict) else params
            raise ValueError(f"WeightNorm: the wrapped layer ({layer.name}) must have a kernel "
                             f"param 'w', got params {keys!r}. Wrap a Dense or Conv2D.")
        rest = {k: p for k, p in params.items() if k != "w"}
        v = params["w"]
        g = jnp.sqrt(jnp.sum(jnp.square(v), axis=tuple(range(v.ndim - 1))))
        return {"v": v, "g": g, **rest}, state, out

    def apply(params, state, x, *, key=None, train=False):
        rest = {k: p for k, p in params.items() if k not in ("v", "g")}
        v = params["v"]
        w = jnp.broadcast_to(params["g"], v.shape) * _unit_columns(v)
        return layer.apply({**rest, "w": w}, state, x, key=key, train=train)

    return Layer(init, apply, "weight_norm")


@by_value
def LocalResponseNorm(
    depth_radius: int = 2,
    bias: ArrayLike = 2.0,
    alpha: ArrayLike = 1e-4,
    beta: ArrayLike = 0.75,
) -> Layer:
    """Local response normalization across channels (Krizhevsky et al. 2012, AlexNet).

    `b^i = a^i / (k + alpha * sum_{j=max(0, i-r)}^{min(N-1, i+r)} (a^j)^2)^beta`, i a channel of N,
    r = depth_radius (n/2 in the fundamentals' formula, 000 3.6.7), k = bias. AlexNet: r=2, k=2,
    alpha=1e-4, beta=0.75. No params.

    Args:
      depth_radius: half-width r of the channel window, >= 1.
      bias: k >= 0.
      alpha: >= 0.
      beta: >= 0.
    x: (batch, ..., N) -> y: same shape.
    """
    r = checks.positive_int(depth_radius, "depth_radius", "LocalResponseNorm")
    checks.in_range(bias, "bias", "LocalResponseNorm", 0.0)
    checks.in_range(alpha, "alpha", "LocalResponseNorm", 0.0)
    checks.in_range(beta, "beta", "LocalResponseNorm", 0.0)

    def init(key, input_shape):
        _channels(input_shape, "LocalResponseNorm")
        return {}, {}, tuple(input_shape)

    def apply(params, state, x, *, key=None, train=False):
        idx = jnp.arange(x.shape[-1])
        band = (jnp.abs(idx[:, None] - idx[None, :]) <= r).astype(x.dtype)  # (N, N) window
        window_sum = jnp.square(x) @ band
        return x / (bias + alpha * window_sum) ** beta, state

    return Layer(init, apply, "local_response_norm")


__all__ = ["BatchNorm", "GroupNorm", "LayerNorm", "WeightNorm", "LocalResponseNorm"]
