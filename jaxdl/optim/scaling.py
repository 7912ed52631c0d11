"""Scaling transforms, the adaptive part of every optimizer (fundamentals 002: GD -> SGD ->
momentum -> AdaGrad -> RMSProp -> Adam; Adam is in `adam_scaling.py`, Rprop in `resilient.py`).

Notation: g is the incoming update (a gradient), u the outgoing one, t = 1, 2, ... the step
(`count` after the increment), lr the learning rate. Every hyperparameter may be a jax array
(traced under `jit`/`vmap`) and is cast to each leaf's dtype, so the maths keeps the leaf's dtype
under strict dtype promotion (float32, or float64 with x64). States are NamedTuples with optax's
names and fields; a moment (m, mu, nu, s) is a pytree shaped like the params, each leaf in its
param's dtype.

Complex parameters (as optax): a second moment or accumulator sums |g|^2 = g * conj(g), real and
non-negative (stored in the param's complex dtype with a zero imaginary part, as optax stores
it); first moments and momentum traces are complex.

Each `check_*` helper validates one family's hyperparameters for its `owner`, so an alias reports
a bad argument under its own name (`adam: b1 ...`), not under the building block's.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxdl import checks
from jaxdl.optim._math import _c, _flag, _inc, _sq_like, _zero_count
from jaxdl.optim.base import GradientTransformation, ScalarOrSchedule, Updates, init_empty_state
from jaxdl.spec import by_value


def _ema(g: jax.Array, m: jax.Array, decay: ArrayLike, order: int) -> jax.Array:
    """m <- (1 - decay) g + decay m (order 1), or (1 - decay) |g|^2 + decay m (order 2)."""
    x = g if order == 1 else _sq_like(g, m)
    return _c(1 - decay, m) * x + _c(decay, m) * m


def _debias(m: jax.Array, decay: ArrayLike, count: jax.Array) -> jax.Array:
    """m / (1 - decay^count) (bias correction of an EMA started at 0).

    The correction is computed in a real dtype of at least float32: in bfloat16, b2 = 0.999
    rounds to 1 and 1 - b2^t would be 0.
    """
    real = jnp.finfo(m.dtype).dtype  # float32 for complex64
    wide = jnp.float32 if jnp.finfo(m.dtype).bits < 32 else real
    correction = 1 - jnp.asarray(decay, wide) ** count.astype(wide)
    return m / correction.astype(m.dtype)


@by_value
def scale(step_size: ArrayLike) -> GradientTransformation:
    """u = step_size * g.

    Args:
      step_size: a number (any sign; -1 flips the direction) or a jax array.

    Returns:
      A stateless `GradientTransformation`.
    """
    checks.in_range(step_size, "step_size", "scale")

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        return jax.tree.map(lambda g: _c(step_size, g) * g, updates), state

    return GradientTransformation(init_empty_state, update)


class ScaleByScheduleState(NamedTuple):
    count: jax.Array  # shape=(), dtype=int32: updates so far, the schedule's next step


@by_value
def scale_by_learning_rate(learning_rate: ScalarOrSchedule) -> GradientTransformation:
    """u = -lr_t * g: the descent step, ready for `apply_updates`.

    `learning_rate` is a number (or array) or a schedule `step -> lr`. A schedule's step count
    lives in the state (`ScaleByScheduleState(count)`, int32): the first update uses lr(0), the
    next lr(1), ..., exactly as `optax.scale_by_learning_rate`.

    Args:
      learning_rate: lr >= 0, a number, a jax array (traced in a sweep) or a schedule.

    Returns:
      A `GradientTransformation`.
    """
    if not callable(learning_rate):
        checks.in_range(learning_rate, "learning_rate", "scale_by_learning_rate", 0.0)
        return scale(-learning_rate)

    def init(params):
        del params
        return ScaleByScheduleState(_zero_count())

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        lr = learning_rate(state.count)
        updates = jax.tree.map(lambda g: _c(-jnp.asarray(lr), g) * g, updates)
        return updates, ScaleByScheduleState(_inc(state.count))

    return GradientTransformation(init, update)


class TraceState(NamedTuple):
    trace: Updates  # m, shaped like the params


@by_value
def trace(decay: ArrayLike, nesterov: bool = False) -> GradientTransformation:
    """Momentum (heavy ball): m_t = g_t + decay * m_{t-1}; u = m_t, or with `nesterov`
    u = g_t + decay * m_t (Sutskever et al. 2013). State `TraceState(trace=m)`.

    Args:
      decay: decay >= 0 (< 1 for a bounded trace).
      nesterov: the Nesterov form.

    Returns:
      A `GradientTransformation`.
    """
    checks.in_range(decay, "decay", "trace", 0.0)
    _flag(nesterov, "nesterov", "trace")

    def init(params):
        return TraceState(jax.tree.map(jnp.zeros_like, params))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        f = lambda g, m: g + _c(decay, m) * m  # noqa: E731
        m = jax.tree.map(f, updates, state.trace)
        return (jax.tree.map(f, updates, m) if nesterov else m), TraceState(m)

    return GradientTransformation(init, update)


class ScaleByRssState(NamedTuple):
    sum_of_squares: Updates  # s, shaped like the params


def check_rss(owner: str, initial_accumulator_value: ArrayLike, eps: ArrayLike) -> None:
    """The hyperparameters of `scale_by_rss` (AdaGrad), each >= 0."""
    checks.in_range(initial_accumulator_value, "initial_accumulator_value", owner, 0.0)
    checks.in_range(eps, "eps", owner, 0.0)


@by_value
def scale_by_rss(initial_accumulator_value: ArrayLike = 0.1, eps: ArrayLike = 1e-7
                 ) -> GradientTransformation:
    """AdaGrad scaling (Duchi et al. 2011): s_t = s_{t-1} + |g_t|^2 (s_0 =
    initial_accumulator_value); u = g_t / sqrt(s_t + eps), and 0 where s_t = 0.
    State `ScaleByRssState(sum_of_squares=s)`.

    Args:
      initial_accumulator_value: s_0 >= 0.
      eps: >= 0, inside the square root.

    Returns:
      A `GradientTransformation`.
    """
    check_rss("scale_by_rss", initial_accumulator_value, eps)

    def init(params):
        return ScaleByRssState(
            jax.tree.map(lambda p: jnp.full_like(p, initial_accumulator_value), params))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        s = jax.tree.map(lambda g, s: _sq_like(g, s) + s, updates, state.sum_of_squares)
        inv = jax.tree.map(lambda s: jnp.where(jnp.real(s) > 0, jax.lax.rsqrt(s + _c(eps, s)),
                                               jnp.zeros_like(s)), s)
        return jax.tree.map(lambda i, g: i * g, inv, updates), ScaleByRssState(s)

    return GradientTransformation(init, update)


def _rms_scaling(nu_hat: jax.Array, eps: ArrayLike, eps_in_sqrt: bool) -> jax.Array:
    if eps_in_sqrt:
        return jax.lax.rsqrt(nu_hat + _c(eps, nu_hat))
    return 1 / (jnp.sqrt(nu_hat) + _c(eps, nu_hat))


def check_rms(owner: str, decay: ArrayLike, eps: ArrayLike, initial_scale: ArrayLike,
              eps_in_sqrt: bool, bias_correction: bool) -> None:
    """The hyperparameters of `scale_by_rms` and `scale_by_stddev` (RMSProp)."""
    checks.in_range(decay, "decay", owner, 0.0, 1.0)
    checks.in_range(eps, "eps", owner, 0.0)
    checks.in_range(initial_scale, "initial_scale", owner, 0.0)
    _flag(eps_in_sqrt, "eps_in_sqrt", owner)
    _flag(bias_correction, "bias_correction", owner)


class ScaleByRmsState(NamedTuple):
    nu: Updates  # EMA of g^2, shaped like the params


class ScaleByRmsWithCountState(NamedTuple):
    count: jax.Array  # shape=(), dtype=int32: t, for the bias correction
    nu: Updates  # EMA of g^2, shaped like the params


@by_value
def scale_by_rms(decay: ArrayLike = 0.9, eps: ArrayLike = 1e-8, initial_scale: ArrayLike = 0.0,
                 eps_in_sqrt: bool = True, bias_correction: bool = False
                 ) -> GradientTransformation:
    """RMSProp scaling (Hinton 2012): nu_t = decay nu_{t-1} + (1 - decay) |g_t|^2 (nu_0 =
    initial_scale); nu_hat = nu_t / (1 - decay^t) with `bias_correction`, else nu_t;
    u = g_t / sqrt(nu_hat + eps) (`eps_in_sqrt`, optax's default) or g_t / (sqrt(nu_hat) + eps)
    (PyTorch's). State `ScaleByRmsState(nu)`, or `ScaleByRmsWithCountState(count, nu)`.

    Args:
      decay: EMA decay in [0, 1].
      eps: >= 0.
      initial_scale: nu_0 >= 0.
      eps_in_sqrt: eps inside the square root (True) or outside.
      bias_correction: divide nu_t by 1 - decay^t.

    Returns:
      A `GradientTransformation`.
    """
    check_rms("scale_by_rms", decay, eps, initial_scale, eps_in_sqrt, bias_correction)

    def init(params):
        nu = jax.tree.map(lambda p: jnp.full_like(p, initial_scale), params)
        return ScaleByRmsWithCountState(_zero_count(), nu) if bias_correction else \
            ScaleByRmsState(nu)

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        nu = jax.tree.map(lambda g, n: _ema(g, n, decay, 2), updates, state.nu)
        if bias_correction:
            count = _inc(state.count)
            nu_hat = jax.tree.map(lambda n: _debias(n, decay, count), nu)
        else:
            nu_hat = nu
        updates = jax.tree.map(lambda n, g: _rms_scaling(n, eps, eps_in_sqrt) * g, nu_hat, updates)
        return updates, (ScaleByRmsWithCountState(count, nu) if bias_correction else
                         ScaleByRmsState(nu))

    return GradientTransformation(init, update)


class ScaleByRStdDevState(NamedTuple):
    mu: Updates  # EMA of g, shaped like the params
    nu: Updates  # EMA of g^2, shaped like the params


class ScaleByRStdDevWithCountState(NamedTuple):
    count: jax.Array  # shape=(), dtype=int32: t, for the bias correction
    mu: Updates  # EMA of g, shaped like the params
    nu: Updates  # EMA of g^2, shaped like the params


@by_value
def scale_by_stddev(decay: ArrayLike = 0.9, eps: ArrayLike = 1e-8, initial_scale: ArrayLike = 0.0,
                    eps_in_sqrt: bool = True, bias_correction: bool = False
                    ) -> GradientTransformation:
    """Centered RMSProp (Graves 2013): as `scale_by_rms` with the variance in place of the second
    moment: mu_t = decay mu_{t-1} + (1 - decay) g_t; u = g_t / sqrt(nu_hat - mu_hat^2 + eps)
    (or / (sqrt(nu_hat - mu_hat^2) + eps)), with |mu_hat|^2 for a complex leaf.
    State `ScaleByRStdDevState(mu, nu)` (+ count).

    Args:
      decay: EMA decay in [0, 1].
      eps: >= 0.
      initial_scale: nu_0 >= 0.
      eps_in_sqrt: eps inside the square root (True) or outside.
      bias_correction: divide mu_t and nu_t by 1 - decay^t.

    Returns:
      A `GradientTransformation`.
    """
    check_rms("scale_by_stddev", decay, eps, initial_scale, eps_in_sqrt, bias_correction)

    def init(params):
        mu = jax.tree.map(jnp.zeros_like, params)
        nu = jax.tree.map(lambda p: jnp.full_like(p, initial_scale), params)
        return ScaleByRStdDevWithCountState(_zero_count(), mu, nu) if bias_correction else \
            ScaleByRStdDevState(mu, nu)

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        mu = jax.tree.map(lambda g, m: _ema(g, m, decay, 1), updates, state.mu)
        nu = jax.tree.map(lambda g, n: _ema(g, n, decay, 2), updates, state.nu)
        if bias_correction:
            count = _inc(state.count)
            mu_hat = jax.tree.map(lambda m: _debias(m, decay, count), mu)
            nu_hat = jax.tree.map(lambda n: _debias(n, decay, count), nu)
        else:
            mu_hat, nu_hat = mu, nu
        updates = jax.tree.map(
            lambda m, n, g: _rms_scaling(n - _sq_like(m, n), eps, eps_in_sqrt) * g,
                               mu_hat, nu_hat, updates)
        return updates, (ScaleByRStdDevWithCountState(count, mu, nu) if bias_correction else
                         ScaleByRStdDevState(mu, nu))

    return GradientTransformation(init, update)


__all__ = [
    "ScaleByScheduleState", "TraceState", "ScaleByRssState", "ScaleByRmsState",
    "ScaleByRmsWithCountState", "ScaleByRStdDevState", "ScaleByRStdDevWithCountState",
    "scale", "scale_by_learning_rate", "trace", "scale_by_rss", "scale_by_rms", "scale_by_stddev",
]
