"""Fully connected layers: `Dense` (y = x W + b) and the classic threshold `Perceptron`."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxdl import checks
from jaxdl.core import Layer
from jaxdl.initializers import Initializer, lecun_normal, zeros
from jaxdl.spec import by_value


@by_value
def Dense(
    features: int,
    *,
    use_bias: bool = True,
    w_init: Initializer | None = None,
    b_init: Initializer = zeros,
) -> Layer:
    """Affine map `y = x @ w + b` over the last axis.

    Params `{"w": (in, features), "b": (features,)}`, so a 2-3-2 network chains
    (1, 2) @ (2, 3) -> (1, 3) @ (3, 2) -> (1, 2) (fundamentals 001, dimension chain).

    Args:
      features: number of output units, >= 1.
      use_bias: add `b` (and create it).
      w_init: kernel initializer, default `lecun_normal()` (Var(W) = 1/fan_in).
      b_init: bias initializer, default zeros.
    x: (batch, ..., in) -> y: (batch, ..., features).
    """
    features = checks.positive_int(features, "features", "Dense")
    w_init = lecun_normal() if w_init is None else w_init

    def init(key, input_shape):
        if len(input_shape) < 1:
            raise ValueError(f"Dense: input_shape must have at least 1 axis, got {input_shape}")
        checks.positive_shape(input_shape, "Dense")
        k_w, k_b = jax.random.split(key)
        params = {"w": w_init(k_w, (input_shape[-1], features), jnp.float32)}
        if use_bias:
            params["b"] = b_init(k_b, (features,), jnp.float32)
        return params, {}, (*input_shape[:-1], features)

    def apply(params, state, x, *, key=None, train=False):
        fan_in = params["w"].shape[0]
        if x.ndim < 1 or x.shape[-1] != fan_in:
            raise ValueError(f"Dense: x must have {fan_in} features on its last axis (the "
                             f"input_shape given to init), got x of shape {x.shape}")
        y = x @ params["w"]
        if use_bias:
            y = y + jnp.broadcast_to(params["b"], y.shape)
        return y, state

    return Layer(init, apply, "dense")


@by_value
def Perceptron(
    features: int = 1,
    *,
    w_init: Initializer | None = None,
    b_init: Initializer = zeros,
) -> Layer:
    """Rosenblatt's threshold unit: output 1 where `x @ w + b > 0`, else 0.

    The threshold form "w.x >= threshold" is the same unit with `b = -threshold` (fundamentals 000,
    3.1). The step has zero gradient almost everywhere: train it with the perceptron learning rule,
    not backprop. Params `{"w": (in, features), "b": (features,)}`.
    x: (batch, in) -> y: (batch, features), in x's dtype.
    """
    dense = Dense(features, w_init=w_init, b_init=b_init)

    def apply(params, state, x, *, key=None, train=False):
        z, _ = dense.apply(params, state, x)
        return (z > 0).astype(x.dtype), state

    return Layer(dense.init, apply, "perceptron")


def perceptron_epoch(params: dict, x: jax.Array, t: jax.Array, lr: float = 1.0
                     ) -> tuple[dict, jax.Array]:
    """One pass of Rosenblatt's learning rule over the examples in order.

    For each example: y = step(w.x + b); w += lr (t - y) x; b += lr (t - y). On linearly separable
    data the number of mistakes per pass reaches 0 after finitely many passes (Novikoff 1962).

    Args:
      params: a Perceptron's {"w": (in, out), "b": (out,)}.
      x: (n, in) examples.
      t: (n, out) targets in {0, 1}.

    Returns:
      (new params, number of mistakes made during the pass).
    """

    def one(p, xt):
        xi, ti = xt
        yi = ((xi @ p["w"] + p["b"]) > 0).astype(xi.dtype)
        err = ti - yi
        new = {"w": p["w"] + lr * jnp.outer(xi, err), "b": p["b"] + lr * err}
        return new, jnp.any(err != 0)

    params, wrong = jax.lax.scan(one, params, (x, t))
    return params, jnp.sum(wrong)
