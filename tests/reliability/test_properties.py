"""Property tests (hypothesis): random layer stacks, input shapes and dtypes, and every loss.

Promises checked on stacks drawn from jaxdl's layers (Dense, Conv2D with random strides and
padding, pooling, Flatten, activations incl. PReLU/RReLU/Maxout, LayerNorm/GroupNorm/BatchNorm/
WeightNorm/LRN, Dropout, residual blocks):
(a) `init`'s output shape is the closed-form one (floor((W - F + 2P) / S) + 1, ceil(W / S) for
    SAME; fundamentals 000, 3.2.3-3.2.4) and is what `apply` returns, in the input dtype
    (float32, bfloat16, float16), with finite outputs and the state's structure and dtypes kept;
(b) `jit(apply)` equals eager `apply` (train and eval);
(c) float32 gradients of a scalar loss equal float64 ones (x64) to float32 tolerance;
(d) every loss in `jaxdl.losses` has a finite value and gradient for finite inputs, including
    logits at +-1e4 and probabilities at exactly 0 and 1.
Examples are derandomized (same cases on every run) and few: each one compiles.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jaxdl import activations as A
from jaxdl import losses
from jaxdl.core import residual, serial
from jaxdl.nn import conv, dense, dropout, normalization, pooling, reshape

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
BATCH = 3
DTYPES = ("float32", "bfloat16", "float16")

# name -> constructor from the drawn arguments; a spec is (name, args) so a failing example reads
# as the stack it was, e.g. (("conv2d", (2, 3, 2, "SAME")), ("max_pool", (2, None, "VALID"))).
BUILD = {
    "conv2d": lambda f, k, s, p: conv.Conv2D(f, k, strides=s, padding=p),
    "max_pool": lambda w, s, p: pooling.MaxPool2D(w, strides=s, padding=p),
    "avg_pool": lambda w, s, p: pooling.AvgPool2D(w, strides=s, padding=p),
    "flatten": lambda: reshape.Flatten(),
    "dense": lambda f: dense.Dense(f),
    "weight_norm_dense": lambda f: normalization.WeightNorm(dense.Dense(f)),
    "maxout": lambda f, k: A.Maxout(f, k),
    "batch_norm": lambda: normalization.BatchNorm(),
    "layer_norm": lambda: normalization.LayerNorm(),
    "group_norm": lambda g: normalization.GroupNorm(g),
    "lrn": lambda r: normalization.LocalResponseNorm(r),
    "prelu": lambda: A.PReLU(),
    "relu": lambda: A.Relu(),
    "leaky_relu": lambda: A.LeakyRelu(0.1),
    "tanh": lambda: A.Tanh(),
    "sigmoid": lambda: A.Sigmoid(),
    "elu": lambda: A.Elu(1.0),
    "softplus": lambda: A.Softplus(),
    "softmax": lambda: A.Softmax(),
    "dropout": lambda r: dropout.Dropout(r),
    "rrelu": lambda: A.RReLU(),
    "residual_conv": lambda c, k: residual(serial(conv.Conv2D(c, k, padding="SAME"), A.Tanh())),
    "residual_dense": lambda d: residual(serial(dense.Dense(d), A.Relu())),
}
ELEMENTWISE = ("batch_norm", "layer_norm", "prelu", "relu", "leaky_relu", "tanh", "sigmoid",
               "elu", "softplus", "softmax")
RANDOM = ("dropout", "rrelu")


def _pads(p, f: int, w: int, s: int) -> tuple[int, int]:
    """(low, high) zero padding of one spatial axis, as TensorFlow/XLA define SAME and VALID."""
    if p == "VALID":
        return 0, 0
    if p == "SAME":
        total = max((math.ceil(w / s) - 1) * s + f - w, 0)
        return total // 2, total - total // 2
    return p, p


def _window_out(w: int, f: int, s: int, p) -> int:
    """Closed-form output size floor((W - F + P_lo + P_hi) / S) + 1 (fundamentals 000, 3.2.3)."""
    lo, hi = _pads(p, f, w, s)
    return (w - f + lo + hi) // s + 1


@st.composite
def _image_layer(draw, shape, random_layers):
    h, w, c = shape
    names = ["conv2d", "max_pool", "avg_pool", "group_norm", "lrn", "residual_conv", "flatten",
             *ELEMENTWISE, *(RANDOM if random_layers else ())]
    name = draw(st.sampled_from(names))
    if name == "conv2d":
        f, k, s = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
        p = draw(st.sampled_from([0, 1, "SAME", "VALID"]))
        if k > min(h, w) + 2 * (p if isinstance(p, int) else 0) and p != "SAME":
            k = 1  # the kernel must fit the padded input (init rejects it otherwise)
        return (name, (f, k, s, p)), (_window_out(h, k, s, p), _window_out(w, k, s, p), f)
    if name in ("max_pool", "avg_pool"):
        win, s = draw(st.integers(1, 3)), draw(st.sampled_from([None, 1, 2]))
        p = draw(st.sampled_from(["VALID", "SAME", 0, 1]))
        if isinstance(p, int) and p >= win:  # a window wholly in padding is rejected: see below
            p = "VALID"
        if win > min(h, w) + 2 * (p if isinstance(p, int) else 0) and p != "SAME":
            win = 1
        stride = win if s is None else s
        return (name, (win, s, p)), (_window_out(h, win, stride, p),
                                     _window_out(w, win, stride, p), c)
    if name == "group_norm":
        return (name, (draw(st.sampled_from([g for g in range(1, c + 1) if c % g == 0])),)), shape
    if name == "lrn":
        return (name, (draw(st.integers(1, 2)),)), shape
    if name == "residual_conv":
        return (name, (c, draw(st.sampled_from([1, 3])))), shape
    if name == "flatten":
        return (name, ()), (h * w * c,)
    if name == "dropout":
        return (name, (draw(st.sampled_from([0.0, 0.1, 0.5])),)), shape
    return (name, ()), shape


@st.composite
def _vector_layer(draw, shape, random_layers):
    (d,) = shape
    names = ["dense", "weight_norm_dense", "maxout", "group_norm", "residual_dense", *ELEMENTWISE,
             *(RANDOM if random_layers else ())]
    name = draw(st.sampled_from(names))
    if name in ("dense", "weight_norm_dense"):
        f = draw(st.integers(1, 5))
        return (name, (f,)), (f,)
    if name == "maxout":
        f = draw(st.integers(1, 3))
        return (name, (f, draw(st.integers(1, 3)))), (f,)
    if name == "group_norm":
        return (name, (draw(st.sampled_from([g for g in range(1, d + 1) if d % g == 0])),)), shape
    if name == "residual_dense":
        return (name, (d,)), shape
    if name == "dropout":
        return (name, (draw(st.sampled_from([0.0, 0.1, 0.5])),)), shape
    return (name, ()), shape


@st.composite
def stacks(draw, random_layers=True):
    """(input_shape, layer specs, closed-form output shape) of a random valid stack."""
    if draw(st.booleans()):
        shape = (draw(st.integers(1, 6)), draw(st.integers(1, 6)), draw(st.integers(1, 3)))
    else:
        shape = (draw(st.integers(1, 6)),)
    in_shape, specs = shape, []
    for _ in range(draw(st.integers(1, 4))):
        layer = _image_layer if len(shape) == 3 else _vector_layer
        spec, shape = draw(layer(shape, random_layers))
        specs.append(spec)
    return in_shape, tuple(specs), tuple(shape)


def build(specs) -> object:
    return serial(*(BUILD[name](*args) for name, args in specs))


def _setup(in_shape, specs, seed, dtype):
    model = build(specs)
    params, state, out_shape = model.init(jax.random.key(seed), in_shape)
    x = np.random.default_rng(seed).standard_normal((BATCH, *in_shape))
    cast = lambda t: jax.tree.map(lambda a: jnp.asarray(a, dtype), t)  # noqa: E731
    return model, cast(params), cast(state), out_shape, cast(x)


# Eager apply rounds after every op; jit may keep excess precision inside a fused kernel (XLA's
# default). Allow 8 ulps of the dtype, relative to max(1, |y|): over 300 random stacks the worst
# was about 1 ulp (float32 0.8, bfloat16 1.1, float16 0).
ULPS = 8


@SETTINGS
@given(stack=stacks(), dtype=st.sampled_from(DTYPES), train=st.booleans(),
       seed=st.integers(0, 2**16))
def test_init_shape_is_what_apply_returns_in_the_input_dtype_and_jit_equals_eager(
        stack, dtype, train, seed):
    in_shape, specs, expected = stack
    model, params, state, out_shape, x = _setup(in_shape, specs, seed, jnp.dtype(dtype))
    assert tuple(out_shape) == expected  # (a) the closed form
    key = jax.random.key(seed + 1) if train else None

    def run(p, s, x_, k):
        return model.apply(p, s, x_, key=k, train=train)

    y, new_state = run(params, state, x, key)
    assert y.shape == (BATCH, *expected)  # (a) what apply returns
    assert y.dtype == jnp.dtype(dtype)
    assert bool(jnp.all(jnp.isfinite(y)))
    assert jax.tree.structure(new_state) == jax.tree.structure(state)
    assert all(a.dtype == jnp.dtype(dtype) for a in jax.tree.leaves(new_state))
    yj, new_state_j = jax.jit(run)(params, state, x, key)  # (b) jit == eager
    assert yj.dtype == y.dtype
    tol = ULPS * float(jnp.finfo(dtype).eps)
    for a, b in zip(jax.tree.leaves((yj, new_state_j)), jax.tree.leaves((y, new_state))):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        scale = max(1.0, float(np.max(np.abs(b), initial=0.0)))
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale)


def _grads(model, params, state, x, r):
    """d/d(params, x) of `mean(y * r)`, train mode (batch statistics), no random layers."""

    def loss(p, x_):
        y, _ = model.apply(p, state, x_, train=True)
        return jnp.mean(y * r)

    return jax.jit(jax.grad(loss, argnums=(0, 1)))(params, x)


@settings(SETTINGS, max_examples=15)  # float32 only, and two compiles per example
@given(stack=stacks(random_layers=False), seed=st.integers(0, 2**16))
def test_float32_gradients_agree_with_float64_gradients(stack, seed):
    in_shape, specs, out_shape = stack
    model, params, state, _, x = _setup(in_shape, specs, seed, jnp.float32)
    r = np.random.default_rng(seed + 1).standard_normal((BATCH, *out_shape))
    g32 = _grads(model, params, state, x, jnp.asarray(r, jnp.float32))
    with jax.enable_x64(True):
        to64 = lambda t: jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), t)  # noqa: E731
        g64 = _grads(model, to64(params), to64(state), to64(x), jnp.asarray(r, jnp.float64))
        assert all(a.dtype == jnp.float64 for a in jax.tree.leaves(g64))
        g64 = jax.tree.map(np.asarray, g64)
    # float32 rounding is relative to the terms summed, so a gradient that cancels to ~0 (a bias
    # before batch norm) carries noise of the order of the others: atol scales with the largest.
    # Over 200 random stacks the worst error was 5% of this bound.
    scale = max(float(np.max(np.abs(b), initial=0.0)) for b in jax.tree.leaves(g64))
    for a, b in zip(jax.tree.leaves(g32), jax.tree.leaves(g64)):
        assert a.dtype == jnp.float32
        np.testing.assert_allclose(np.asarray(a, np.float64), b, rtol=1e-3,
                                   atol=1e-5 * scale + 1e-10)


# --- (d) losses
# Shapes are fixed per loss (finiteness is about values), so each (loss, dtype) compiles once.
EXTREME_LOGITS = (-1e4, -30.0, -1.0, 0.0, 1.0, 30.0, 1e4)
SHAPE, CLASSES = (3, 4), 4


def _floats(draw, shape, lo, hi, extremes=()):
    """A float64 array of `shape`, each element in [lo, hi] or one of `extremes` (about half)."""
    values = st.floats(lo, hi, allow_nan=False, allow_infinity=False)
    if extremes:
        values = st.one_of(st.sampled_from(extremes), values)
    n = math.prod(shape)
    return np.array(draw(st.lists(values, min_size=n, max_size=n)), np.float64).reshape(shape)


def _big(dtype: str) -> float:
    """Largest |input| whose squared-error value still fits the dtype (float16 tops at 65504)."""
    return 30.0 if dtype == "float16" else 1e4


def _labels(draw, n: int, classes: int) -> np.ndarray:
    return np.array(draw(st.lists(st.integers(0, classes - 1), min_size=n, max_size=n)), np.int32)


def _case_regression(draw, dtype):
    big = _big(dtype)
    return (_floats(draw, SHAPE, -big, big, (-big, 0.0, big)),
            _floats(draw, SHAPE, -big, big, (-big, 0.0, big))), {}


def _case_bce_probs(draw, dtype):
    """Probabilities at exactly 0 and 1, targets too (tiny float16 ones: see the file's end)."""
    probs = _floats(draw, SHAPE, 0.0, 1.0, (0.0, 1.0))
    return (probs, _floats(draw, SHAPE, 0.0, 1.0, (0.0, 1.0))), {}


def _case_bce_logits(draw, dtype):
    return (_floats(draw, SHAPE, -1e4, 1e4, EXTREME_LOGITS),
            _floats(draw, SHAPE, 0.0, 1.0, (0.0, 1.0))), {}


def _case_softmax(draw, dtype):
    logits = _floats(draw, SHAPE, -1e4, 1e4, EXTREME_LOGITS)
    labels = _labels(draw, SHAPE[0], CLASSES)
    if draw(st.booleans()):  # one-hot, or probabilities with zeros that sum to 1
        soft = _floats(draw, SHAPE, 0.0, 1.0, (0.0, 1.0)) + np.eye(CLASSES)[labels]
        return (logits, soft / soft.sum(-1, keepdims=True)), {}
    return (logits, labels), {}


def _case_center(draw, dtype):
    big = _big(dtype)
    return (_floats(draw, (3, 2), -big, big, (-big, 0.0, big)), _labels(draw, 3, 3),
            _floats(draw, (3, 2), -big, big, (-big, 0.0, big))), {}


def _case_update_centers(draw, dtype):
    (features, labels, centers), _ = _case_center(draw, dtype)
    return (centers, features, labels), {"alpha": draw(st.sampled_from([0.0, 0.5, 1.0]))}


def _case_penalty(draw, dtype):
    big = _big(dtype)
    params = {"0_dense": {"w": _floats(draw, (2, 3), -big, big, (-big, 0.0, big)),
                          "b": _floats(draw, (3,), -big, big)}}
    return (params,), {"lam": draw(st.sampled_from([0.0, 1e-3, 1.0])),
                       "n": draw(st.sampled_from([1, 1000]))}


# name -> case builder `(draw, dtype) -> (args, kwargs)`; float arrays are cast to the dtype
LOSS_CASES = {
    "mse": _case_regression,
    "squared_error": _case_regression,
    "binary_cross_entropy": _case_bce_probs,
    "binary_cross_entropy_with_logits": _case_bce_logits,
    "softmax_cross_entropy": _case_softmax,
    "center_loss": _case_center,
    "update_centers": _case_update_centers,
    "l1_penalty": _case_penalty,
    "l2_penalty": _case_penalty,
    "accuracy": _case_softmax,
}
NOT_DIFFERENTIATED = ("update_centers", "accuracy")  # an update rule and an argmax count


def test_every_loss_in_jaxdl_losses_has_a_finiteness_case():
    public = {n for n in losses.__all__ if callable(getattr(losses, n))
              and getattr(getattr(losses, n), "__module__", "") == losses.__name__}
    assert public == set(LOSS_CASES)


@functools.partial(jax.jit, static_argnums=0)
def _value_and_grad(name, args, kwargs):
    """The loss and its gradient in its first argument (hyperparameters traced: one compile)."""
    fn = getattr(losses, name)
    value = fn(*args, **kwargs)
    if name in NOT_DIFFERENTIATED:
        return value, ()
    return value, jax.grad(lambda a: jnp.sum(fn(a, *args[1:], **kwargs).astype(jnp.float32)))(
        args[0])


@pytest.mark.parametrize("name", sorted(LOSS_CASES))
@SETTINGS
@given(data=st.data(), dtype=st.sampled_from(DTYPES))
def test_losses_are_finite_with_finite_gradients_at_extreme_inputs(name, data, dtype):
    args, kwargs = LOSS_CASES[name](data.draw, dtype)
    args = jax.tree.map(lambda a: jnp.asarray(a, dtype if a.dtype == np.float64 else a.dtype),
                        args)
    value, grads = _value_and_grad(name, args, kwargs)
    assert bool(jnp.all(jnp.isfinite(value))), (name, dtype, args, value)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads)), (name, dtype, args)


@pytest.mark.parametrize("layer", ["MaxPool2D", "AvgPool2D"])
def test_pooling_of_finite_input_is_finite_or_the_padding_is_rejected(layer):
    make = getattr(pooling, layer)
    try:
        pool = make(1, padding=1)
        params, state, _ = pool.init(jax.random.key(0), (3, 3, 1))
    except ValueError as err:
        assert "padding" in str(err) and layer in str(err)
        return
    y, _ = pool.apply(params, state, jnp.ones((1, 3, 3, 1)))
    assert bool(jnp.all(jnp.isfinite(y)))


def test_binary_cross_entropy_gradient_is_finite_for_tiny_float16_probabilities():
    probs = jnp.array([[1e-6, 1e-5, 2e-5, 0.0]], jnp.float16)
    targets = jnp.ones((1, 4), jnp.float16)
    value, grads = _value_and_grad("binary_cross_entropy", (probs, targets), {})
    assert bool(jnp.isfinite(value))
    assert bool(jnp.all(jnp.isfinite(grads)))
