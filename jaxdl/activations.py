"""Activation functions, their derivatives, and their layers.

Plain functions (`sigmoid`, `relu`, `softmax`, ...) are numerically stable: sigmoid, softplus,
softmax and log_softmax stay finite at +-1000. The derivatives the fundamentals tabulate (000,
3.4.3) are written in closed form (`sigmoid_grad`, `tanh_grad`, `relu_grad`, ...); the tests
check each against `jax.grad`.

Layers (every constructor is called): `Sigmoid()`, `Tanh()`, `Relu()`, `LeakyRelu()`,
`Softplus()`, `Softmax()`, `Elu()`, `Step()` are parameter-free; `PReLU()` learns a slope per
channel, `RReLU()` draws a random slope in training, `Maxout()` takes the max of affine maps.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxdl import checks
from jaxdl.core import Layer
from jaxdl.initializers import Initializer, lecun_normal, zeros
from jaxdl.spec import by_value


# ---------------------------------------------------------------- functions

def sigmoid(x: ArrayLike) -> jax.Array:
    """Logistic sigmoid `1 / (1 + e^-x)`, computed from `e^-|x|` so it never overflows."""
    x = jnp.asarray(x)
    e = jnp.exp(-jnp.abs(x))
    return jnp.where(x >= 0, 1 / (1 + e), e / (1 + e))


def tanh(x: ArrayLike) -> jax.Array:
    """Hyperbolic tangent `(e^x - e^-x) / (e^x + e^-x)`, range (-1, 1)."""
    return jnp.tanh(x)


def relu(x: ArrayLike) -> jax.Array:
    """Rectified linear unit `max(0, x)`; its gradient at 0 is taken as 0."""
    x = jnp.asarray(x)
    return jnp.where(x > 0, x, jnp.zeros_like(x))


def leaky_relu(x: ArrayLike, negative_slope: ArrayLike = 0.01) -> jax.Array:
    """`x` for x >= 0, `negative_slope * x` below (fundamentals 000, 3.4.2)."""
    x = jnp.asarray(x)
    return jnp.where(x >= 0, x, negative_slope * x)


def softplus(x: ArrayLike) -> jax.Array:
    """`ln(1 + e^x) = ln(e^0 + e^x)`, a stable log-sum-exp (no overflow; gradient sigmoid(x))."""
    return jnp.logaddexp(jnp.asarray(x), 0.0)


def softmax(x: ArrayLike, axis: int = -1) -> jax.Array:
    """`e^{x_j} / sum_k e^{x_k}` along `axis`, shifted by the max so nothing overflows."""
    x = jnp.asarray(x)
    e = jnp.exp(x - jax.lax.stop_gradient(jnp.max(x, axis=axis, keepdims=True)))
    return e / jnp.sum(e, axis=axis, keepdims=True)


def log_softmax(x: ArrayLike, axis: int = -1) -> jax.Array:
    """`x_j - log sum_k e^{x_k}` along `axis` (log-sum-exp with the max shifted out)."""
    x = jnp.asarray(x)
    shifted = x - jax.lax.stop_gradient(jnp.max(x, axis=axis, keepdims=True))
    return shifted - jnp.log(jnp.sum(jnp.exp(shifted), axis=axis, keepdims=True))


def elu(x: ArrayLike, alpha: ArrayLike = 1.0) -> jax.Array:
    """Exponential linear unit: `x` for x > 0, `alpha * (e^x - 1)` otherwise (Clevert et al.
    2016); the unused branch never overflows."""
    x = jnp.asarray(x)
    return jnp.where(x > 0, x, alpha * jnp.expm1(jnp.where(x > 0, jnp.zeros_like(x), x)))


def step(x: ArrayLike) -> jax.Array:
    """Heaviside step: 1 where x > 0, else 0, in x's dtype (the perceptron's activation)."""
    x = jnp.asarray(x)
    return (x > 0).astype(x.dtype)


def prelu(x: ArrayLike, a: ArrayLike) -> jax.Array:
    """Parametric ReLU `x` for x >= 0, `a * x` below; `a` a scalar or one slope per channel
    (last axis), cast to x's dtype (He et al. 2015)."""
    x = jnp.asarray(x)
    a = jnp.broadcast_to(jnp.asarray(a).astype(x.dtype), x.shape)
    return jnp.where(x >= 0, x, a * x)


# ---------------------------------------------------------------- derivatives (000, 3.4.3)

def sigmoid_grad(x: ArrayLike) -> jax.Array:
    """`s'(x) = s(x) (1 - s(x))`, at most 0.25 (at x = 0)."""
    s = sigmoid(x)
    return s * (1 - s)


def tanh_grad(x: ArrayLike) -> jax.Array:
    """`tanh'(x) = 1 - tanh(x)^2`, at most 1 (at x = 0).

    The derivative table of the fundamentals (000, 3.4.3) prints `-(tanh(x))^2`, which is wrong
    (it is never positive, yet the same row says f'(0) = 1); section 3.4.12 has the right form.
    """
    t = jnp.tanh(x)
    return 1 - t * t


def relu_grad(x: ArrayLike) -> jax.Array:
    """`relu'(x) = step(x)`: 1 for x > 0, 0 for x < 0, and 0 at x = 0 by convention."""
    return step(x)


def leaky_relu_grad(x: ArrayLike, negative_slope: ArrayLike = 0.01) -> jax.Array:
    """1 for x >= 0, `negative_slope` below (matches `leaky_relu`'s convention at 0)."""
    x = jnp.asarray(x)
    return jnp.where(x >= 0, jnp.ones_like(x), negative_slope * jnp.ones_like(x))


def softplus_grad(x: ArrayLike) -> jax.Array:
    """`softplus'(x) = sigmoid(x)`."""
    return sigmoid(x)


def elu_grad(x: ArrayLike, alpha: ArrayLike = 1.0) -> jax.Array:
    """1 for x > 0, `alpha * e^x` otherwise."""
    x = jnp.asarray(x)
    return jnp.where(x > 0, jnp.ones_like(x), alpha * jnp.exp(jnp.minimum(x, 0)))


# ---------------------------------------------------------------- layers

def _elementwise(fn: Callable[[jax.Array], jax.Array], name: str) -> Layer:
    def init(key, input_shape):
        return {}, {}, tuple(input_shape)

    def apply(params, state, x, *, key=None, train=False):
        return fn(x), state

    return Layer(init, apply, name)


@by_value
def Sigmoid() -> Layer:
    """Layer `y = sigmoid(x)`, any shape."""
    return _elementwise(sigmoid, "sigmoid")


@by_value
def Tanh() -> Layer:
    """Layer `y = tanh(x)`, any shape."""
    return _elementwise(tanh, "tanh")


@by_value
def Relu() -> Layer:
    """Layer `y = max(0, x)`, any shape."""
    return _elementwise(relu, "relu")


@by_value
def LeakyRelu(negative_slope: ArrayLike = 0.01) -> Layer:
    """Layer `y = leaky_relu(x, negative_slope)`; negative_slope >= 0."""
    checks.in_range(negative_slope, "negative_slope", "LeakyRelu", 0.0)
    return _elementwise(lambda x: leaky_relu(x, negative_slope), "leaky_relu")


@by_value
def Softplus() -> Layer:
    """Layer `y = ln(1 + e^x)`, any shape."""
    return _elementwise(softplus, "softplus")


@by_value
def Softmax(axis: int = -1) -> Layer:
    """Layer `y = softmax(x)` along `axis`, an axis of the per-example shape (as in `parallel`'s
    `concat_axis`): -1 is the last axis, 0 the first axis after the batch axis."""
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise TypeError(f"Softmax: axis must be an int, got {axis!r}")

    def init(key, input_shape):
        if not -len(input_shape) <= axis < len(input_shape):
            raise ValueError(f"Softmax: axis {axis} is out of range for input_shape "
                             f"{tuple(input_shape)}")
        return {}, {}, tuple(input_shape)

    def apply(params, state, x, *, key=None, train=False):
        return softmax(x, axis=axis if axis < 0 else axis + 1), state

    return Layer(init, apply, "softmax")


@by_value
def Elu(alpha: ArrayLike = 1.0) -> Layer:
    """Layer `y = elu(x, alpha)`; alpha >= 0."""
    checks.in_range(alpha, "alpha", "Elu", 0.0)
    return _elementwise(lambda x: elu(x, alpha), "elu")


@by_value
def Step() -> Layer:
    """Layer `y = step(x)` (1 where x > 0); zero gradient almost everywhere."""
    return _elementwise(step, "step")


@by_value
def PReLU(init: float = 0.25) -> Layer:
    """Parametric ReLU with a learnable slope per channel (He et al. 2015).

    `y = x` for x >= 0, `a_c * x` below. Params `{"a": (C,)}`, C = the last axis, every slope
    starting at `init`. x: (batch, ..., C) -> y: same shape.
    """
    try:
        if isinstance(init, (str, bytes, bool)):
            raise TypeError
        slope0 = float(init)
    except (TypeError, ValueError):
        raise TypeError(f"PReLU: init must be a number (the initial slope), got {init!r}") from None

    def init_fn(key, input_shape):
        if len(input_shape) < 1:
            raise ValueError(f"PReLU: input_shape must have at least 1 axis, got {input_shape}")
        return {"a": jnp.full((input_shape[-1],), slope0, jnp.float32)}, {}, tuple(input_shape)

    def apply(params, state, x, *, key=None, train=False):
        return prelu(x, params["a"]), state

    return Layer(init_fn, apply, "prelu")


@by_value
def RReLU(lower: ArrayLike = 1 / 8, upper: ArrayLike = 1 / 3) -> Layer:
    """Randomized leaky ReLU (Xu et al. 2015): `y = x` for x >= 0, `a * x` below.

    Train: a fresh slope per element `a ~ U(lower, upper)` (needs `key`); eval: the mean slope
    `(lower + upper) / 2`, deterministic. Requires 0 <= lower <= upper. Any shape.
    """
    checks.in_range(lower, "lower", "RReLU", 0.0)
    checks.in_range(upper, "upper", "RReLU", 0.0)
    if checks.is_concrete((lower, upper)) and float(lower) > float(upper):
        raise ValueError(f"RReLU: lower must be <= upper, got lower={lower!r}, upper={upper!r}")

    def init(key, input_shape):
        return {}, {}, tuple(input_shape)

    def apply(params, state, x, *, key=None, train=False):
        if train:
            checks.require_key(key, "RReLU")
            a = jax.random.uniform(key, x.shape, x.dtype, lower, upper)
        else:
            a = jnp.full(x.shape, (lower + upper) / 2, x.dtype)
        return jnp.where(x >= 0, x, a * x), state

    return Layer(init, apply, "rrelu")


@by_value
def Maxout(
    features: int,
    pieces: int,
    *,
    w_init: Initializer | None = None,
    b_init: Initializer = zeros,
) -> Layer:
    """Maxout unit (Goodfellow et al. 2013): `h_i = max_{j < pieces} (x @ W[:, i, j] + b[i, j])`.

    Params `{"w": (in, features * pieces), "b": (features * pieces,)}`: column `i * pieces + j`
    is piece j of unit i (a Dense kernel, so initializer fans stay those of a Dense layer).
    x: (batch, ..., in) -> y: (batch, ..., features).
    """
    features = checks.positive_int(features, "features", "Maxout")
    pieces = checks.positive_int(pieces, "pieces", "Maxout")
    w_init = lecun_normal() if w_init is None else w_init

    def init(key, input_shape):
        if len(input_shape) < 1:
            raise ValueError(f"Maxout: input_shape must have at least 1 axis, got {input_shape}")
        k_w, k_b = jax.random.split(key)
        params = {"w": w_init(k_w, (input_shape[-1], features * pieces), jnp.float32),
                  "b": b_init(k_b, (features * pieces,), jnp.float32)}
        return params, {}, (*input_shape[:-1], features)

    def apply(params, state, x, *, key=None, train=False):
        z = x @ params["w"]
        z = z + jnp.broadcast_to(params["b"], z.shape)
        return jnp.max(z.reshape(*z.shape[:-1], features, pieces), axis=-1), state

    return Layer(init, apply, "maxout")


__all__ = [
    "sigmoid", "tanh", "relu", "leaky_relu", "softplus", "softmax", "log_softmax", "elu", "step",
    "prelu", "sigmoid_grad", "tanh_grad", "relu_grad", "leaky_relu_grad", "softplus_grad",
    "elu_grad", "Sigmoid", "Tanh", "Relu", "LeakyRelu", "Softplus", "Softmax", "Elu", "Step",
    "PReLU", "RReLU", "Maxout",
]
