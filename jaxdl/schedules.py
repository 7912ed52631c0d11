"""Learning-rate schedules: each constructor returns a pure `step -> learning_rate` function.

Names follow TensorFlow's `tf.compat.v1.train.*_decay` (the call argument is TF's `global_step`).
With t the step, T = decay_steps, lr = learning_rate (fundamentals 000, section 3.9):

    constant                   lr
    piecewise_constant         values[i] for boundaries[i-1] < t <= boundaries[i]
    exponential_decay          lr * decay_rate^(t / T)                 (staircase: floor(t / T))
    natural_exp_decay          lr * exp(-decay_rate * t / T)           (staircase: floor(t / T))
    inverse_time_decay         lr / (1 + decay_rate * t / T)           (staircase: floor(t / T))
    polynomial_decay           (lr - end) * (1 - min(t, T) / T)^power + end
                               (cycle: T <- T * max(ceil(t / T), 1), no min)
    cosine_decay               lr * ((1 - alpha) * 0.5 * (1 + cos(pi * min(t, T) / T)) + alpha)
    linear_cosine_decay        lr * ((alpha + (T - t') / T) * 0.5 * (1 + cos(2 pi p t' / T))
                               + beta),
                               t' = min(t, T), p = num_periods
    noisy_linear_cosine_decay  as linear cosine with (T - t') / T + eps_t,
                               eps_t ~ N(0, initial_variance / (1 + t')^variance_decay)
    cosine_decay_restarts      SGDR: cycle i lasts T * t_mul^i steps and peaks at lr * m_mul^i
    warmup                     linear from init_value to schedule(0) over warmup_steps, then
                               schedule(t - warmup_steps)

A step may be a Python int or float or a (traced) scalar array; the result is a scalar array of
the learning rate's float dtype (float32, or float64 under x64). Step counts (a step, decay_steps,
boundaries, warmup_steps) may exceed int32, e.g. decay_steps=int(1e10): a Python or NumPy
integer goes through float64 on the host (as optax turns such ints into floats). Hyperparameters
may be jax arrays or tracers, so `jax.vmap` over a batch of learning rates or decay rates works;
they are validated only when concrete (STYLE rule 10).
"""

from __future__ import annotations

from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxdl import checks
from jaxdl.spec import by_value


class Schedule(Protocol):
    def __call__(self, step: ArrayLike) -> jax.Array: ...


def _dtype(value: Any) -> Any:
    """The float dtype of a hyperparameter; the default float for ints and Python numbers."""
    dt = jnp.result_type(value)
    return dt if jnp.issubdtype(dt, jnp.floating) else jnp.result_type(float)


def _cast(value: Any, dtype: Any) -> jax.Array:
    if isinstance(value, (int, float, np.ndarray, np.generic)):  # host numbers: no int32 trip
        return jnp.asarray(np.asarray(value, np.float64).astype(dtype))
    return jnp.asarray(value).astype(dtype)


def _step(step: ArrayLike) -> jax.Array:
    """A step as an array: an integer beyond int32 becomes a float."""
    big = isinstance(step, (int, np.integer)) and not -2**31 <= step < 2**31
    return jnp.asarray(float(step) if big else step)


def _check_lr(value: Any, owner: str, name: str = "learning_rate") -> None:
    checks.in_range(value, name, owner, 0.0)


def _check_steps(value: Any, owner: str, name: str = "decay_steps") -> None:
    checks.in_range(value, name, owner, 0.0, low_open=True)


def _progress(step: ArrayLike, steps: jax.Array, staircase: bool) -> jax.Array:
    """t / T, or floor(t / T) (exact for integer-valued floats) when `staircase`."""
    s = _cast(step, steps.dtype)
    return jnp.floor_divide(s, steps) if staircase else s / steps


@by_value
def constant(learning_rate: ArrayLike) -> Schedule:
    """The same learning rate at every step: lr."""
    _check_lr(learning_rate, "constant")
    lr = _cast(learning_rate, _dtype(learning_rate))

    def schedule(step: ArrayLike) -> jax.Array:
        del step
        return lr

    return schedule


@by_value
def piecewise_constant(boundaries: ArrayLike, values: ArrayLike) -> Schedule:
    """Piecewise constant: values[0] for t <= b[0], values[i] for b[i-1] < t <= b[i], then
    values[-1]; b = boundaries.

    Args:
      boundaries: (n,) strictly increasing steps.
      values: (n + 1,) non-negative learning rates.

    Returns:
      a schedule (a scalar step only; vmap it over many steps). Fundamentals 000, 3.9.3.
    """
    owner = "piecewise_constant"
    b = np.asarray(boundaries) if checks.is_concrete(boundaries) else jnp.asarray(boundaries)
    v = jnp.asarray(values)
    if b.ndim != 1:
        raise ValueError(f"{owner}: boundaries must be 1-D (n steps), got shape {b.shape}: "
                         f"{boundaries!r}")
    if v.ndim != 1 or v.shape[0] != b.shape[0] + 1:
        raise ValueError(
            f"{owner}: values must be 1-D with len(boundaries) + 1 = {b.shape[0] + 1} entries "
            f"(one per interval), got shape {v.shape}: {values!r}"
        )
    if checks.is_concrete(b) and b.shape[0] > 1 and not np.all(np.diff(np.asarray(b)) > 0):
        raise ValueError(f"{owner}: boundaries must be strictly increasing, got {boundaries!r}")
    _check_lr(values, owner, "values")
    dtype = _dtype(v)
    b, v = _cast(b, dtype), _cast(v, dtype)

    def schedule(step: ArrayLike) -> jax.Array:
        i = jnp.sum(_cast(step, dtype) > b, dtype=jnp.int32)
        return v[i]

    return schedule


def _decay_args(owner: str, learning_rate: Any, decay_steps: Any, decay_rate: Any,
                rate_positive: bool) -> tuple[jax.Array, jax.Array, jax.Array]:
    _check_lr(learning_rate, owner)
    _check_steps(decay_steps, owner)
    checks.in_range(decay_rate, "decay_rate", owner, 0.0, low_open=rate_positive)
    dtype = _dtype(learning_rate)
    return tuple(_cast(x, dtype) for x in (learning_rate, decay_steps, decay_rate))


@by_value
def exponential_decay(learning_rate: ArrayLike, decay_steps: ArrayLike, decay_rate: ArrayLike,
                      staircase: bool = False) -> Schedule:
    """Exponential decay: lr * decay_rate^(t / T); `staircase` uses floor(t / T).

    Args:
      learning_rate: >= 0.
      decay_steps: T > 0.
      decay_rate: > 0 (< 1 decays).
      staircase: a bool.

    Returns:
      a schedule. Fundamentals 000, 3.9.4; TF `exponential_decay`.
    """
    lr, steps, rate = _decay_args("exponential_decay", learning_rate, decay_steps, decay_rate, True)

    def schedule(step: ArrayLike) -> jax.Array:
        return lr * jnp.power(rate, _progress(step, steps, staircase))

    return schedule


@by_value
def natural_exp_decay(learning_rate: ArrayLike, decay_steps: ArrayLike, decay_rate: ArrayLike,
                      staircase: bool = False) -> Schedule:
    """Natural exponential decay: lr * exp(-decay_rate * t / T); `staircase` uses floor(t / T).

    The fundamentals (000, 3.9.5) print lr * e^(-decay_rate / global_step), a misprint: its
    exponent is infinite at step 0 (division by zero) and the rate then *grows* towards lr. jaxdl
    implements TF's `natural_exp_decay`, the formula above, which equals exponential_decay with
    decay_rate e^(-decay_rate).

    Args:
      learning_rate: >= 0.
      decay_steps: T > 0.
      decay_rate: >= 0 (0 is a constant).
      staircase: a bool.

    Returns:
      a schedule.
    """
    lr, steps, rate = _decay_args(
        "natural_exp_decay", learning_rate, decay_steps, decay_rate, False)

    def schedule(step: ArrayLike) -> jax.Array:
        return lr * jnp.exp(-rate * _progress(step, steps, staircase))

    return schedule


@by_value
def inverse_time_decay(learning_rate: ArrayLike, decay_steps: ArrayLike, decay_rate: ArrayLike,
                       staircase: bool = False) -> Schedule:
    """Inverse time decay: lr / (1 + decay_rate * t / T); `staircase` uses floor(t / T).

    Args:
      learning_rate: >= 0.
      decay_steps: T > 0.
      decay_rate: >= 0 (0 is a constant).
      staircase: a bool.

    Returns:
      a schedule. TF `inverse_time_decay`.
    """
    lr, steps, rate = _decay_args(
        "inverse_time_decay", learning_rate, decay_steps, decay_rate, False)

    def schedule(step: ArrayLike) -> jax.Array:
        return lr / (1.0 + rate * _progress(step, steps, staircase))

    return schedule


@by_value
def polynomial_decay(learning_rate: ArrayLike, decay_steps: ArrayLike,
                     end_learning_rate: ArrayLike = 1e-4, power: ArrayLike = 1.0,
                     cycle: bool = False) -> Schedule:
    """Polynomial decay: (lr - end) * (1 - t' / T')^power + end.

    Without `cycle`, t' = min(t, T) and T' = T: the rate stays at `end` after T steps. With
    `cycle`, t' = t and T' = T * max(ceil(t / T), 1): the rate jumps back up at every multiple of
    T (to escape a local minimum late in training).

    Args:
      learning_rate: >= 0.
      decay_steps: T > 0.
      end_learning_rate: >= 0.
      power: > 0.
      cycle: a bool.

    Returns:
      a schedule. Fundamentals 000, 3.9.6; TF `polynomial_decay`.
    """
    owner = "polynomial_decay"
    _check_lr(learning_rate, owner)
    _check_lr(end_learning_rate, owner, "end_learning_rate")
    _check_steps(decay_steps, owner)
    checks.in_range(power, "power", owner, 0.0, low_open=True)
    dtype = _dtype(learning_rate)
    lr, steps, end, p = (_cast(x, dtype) for x in (learning_rate, decay_steps, end_learning_rate,
                                                   power))

    def schedule(step: ArrayLike) -> jax.Array:
        s = _cast(step, dtype)
        if cycle:
            period = steps * jnp.maximum(-jnp.floor_divide(-s, steps), 1.0)
        else:
            s, period = jnp.minimum(s, steps), steps
        # The clip guards t = T: under jit XLA divides by a constant T as t * (1 / T), which can
        # exceed 1 by an ulp, and a negative base to a fractional power is NaN.
        return (lr - end) * jnp.power(jnp.maximum(1.0 - s / period, 0.0), p) + end

    return schedule


@by_value
def cosine_decay(learning_rate: ArrayLike, decay_steps: ArrayLike,
                 alpha: ArrayLike = 0.0) -> Schedule:
    """Cosine decay: lr * ((1 - alpha) * 0.5 * (1 + cos(pi * t' / T)) + alpha), t' = min(t, T).

    Args:
      learning_rate: >= 0.
      decay_steps: T > 0.
      alpha: in [0, 1] (the floor, as a fraction of lr).

    Returns:
      a schedule. Fundamentals 000, 3.9.7; Loshchilov & Hutter 2017; TF `cosine_decay`.
    """
    owner = "cosine_decay"
    _check_lr(learning_rate, owner)
    _check_steps(decay_steps, owner)
    checks.in_range(alpha, "alpha", owner, 0.0, 1.0)
    dtype = _dtype(learning_rate)
    lr, steps, a = (_cast(x, dtype) for x in (learning_rate, decay_steps, alpha))

    def schedule(step: ArrayLike) -> jax.Array:
        s = jnp.minimum(_cast(step, dtype), steps)
        return lr * ((1.0 - a) * 0.5 * (1.0 + jnp.cos(jnp.pi * s / steps)) + a)

    return schedule


def _linear_cosine_args(owner, learning_rate, decay_steps, num_periods, alpha, beta):
    _check_lr(learning_rate, owner)
    _check_steps(decay_steps, owner)
    checks.in_range(num_periods, "num_periods", owner, 0.0)
    checks.in_range(alpha, "alpha", owner, 0.0, 1.0)
    checks.in_range(beta, "beta", owner, 0.0)
    dtype = _dtype(learning_rate)
    return tuple(_cast(x, dtype) for x in (learning_rate, decay_steps, num_periods, alpha, beta))


@by_value
def linear_cosine_decay(learning_rate: ArrayLike, decay_steps: ArrayLike,
                        num_periods: ArrayLike = 0.5, alpha: ArrayLike = 0.0,
                        beta: ArrayLike = 0.001) -> Schedule:
    """Linear cosine decay: lr * ((alpha + linear) * cosine + beta), with t' = min(t, T),
    linear = (T - t') / T and cosine = 0.5 * (1 + cos(pi * 2 * num_periods * t' / T)).

    Args:
      learning_rate: >= 0.
      decay_steps: T > 0.
      num_periods: >= 0.
      alpha: in [0, 1].
      beta: >= 0.

    Returns:
      a schedule. Bello et al. 2017 (Neural Optimizer Search); TF `linear_cosine_decay`.
    """
    lr, steps, periods, a, b = _linear_cosine_args(
        "linear_cosine_decay", learning_rate, decay_steps, num_periods, alpha, beta)

    def schedule(step: ArrayLike) -> jax.Array:
        s = jnp.minimum(_cast(step, lr.dtype), steps)
        cosine = 0.5 * (1.0 + jnp.cos(jnp.pi * 2.0 * periods * s / steps))
        return lr * ((a + (steps - s) / steps) * cosine + b)

    return schedule


@by_value
def noisy_linear_cosine_decay(learning_rate: ArrayLike, decay_steps: ArrayLike,
                              initial_variance: ArrayLike = 1.0, variance_decay: ArrayLike = 0.55,
                              num_periods: ArrayLike = 0.5, alpha: ArrayLike = 0.0,
                              beta: ArrayLike = 0.001, seed: ArrayLike = 0) -> Schedule:
    """Noisy linear cosine decay: linear cosine decay with linear + eps_t in place of linear,

        eps_t ~ N(0, initial_variance / (1 + t')^variance_decay),  t' = min(t, T)

    (the second argument is a variance). The noise of step t is drawn from
    `fold_in(PRNGKey(seed), t)` (a float step is truncated to an int first), so the schedule is a
    pure, reproducible function of the step; `seed` may be a traced int (vmap over seeds).

    Args:
      learning_rate: >= 0.
      decay_steps: T > 0.
      initial_variance: >= 0.
      variance_decay: >= 0.
      num_periods: >= 0.
      alpha: in [0, 1].
      beta: >= 0.
      seed: an int.

    Returns:
      a schedule. Bello et al. 2017; TF `noisy_linear_cosine_decay`.
    """
    owner = "noisy_linear_cosine_decay"
    lr, steps, periods, a, b = _linear_cosine_args(
        owner, learning_rate, decay_steps, num_periods, alpha, beta)
    checks.in_range(initial_variance, "initial_variance", owner, 0.0)
    checks.in_range(variance_decay, "variance_decay", owner, 0.0)
    var0, vdecay = _cast(initial_variance, lr.dtype), _cast(variance_decay, lr.dtype)
    root = jax.random.PRNGKey(seed)

    def schedule(step: ArrayLike) -> jax.Array:
        t = _step(step)
        t_int = t if jnp.issubdtype(t.dtype, jnp.integer) else jnp.clip(
            t, -2.0**31, 2.0**31 - 2.0**7).astype(jnp.int32)  # float32's last step below 2^31
        s = jnp.minimum(_cast(t, lr.dtype), steps)
        std = jnp.sqrt(var0 / jnp.power(1.0 + s, vdecay))
        eps = std * jax.random.normal(jax.random.fold_in(root, t_int), (), lr.dtype)
        cosine = 0.5 * (1.0 + jnp.cos(jnp.pi * 2.0 * periods * s / steps))
        return lr * ((a + (steps - s) / steps + eps) * cosine + b)

    return schedule


def _int_power(base: jax.Array, n: jax.Array) -> jax.Array:
    """base^n for an integer-valued float n in [0, 2^32), by repeated squaring: exact whenever the
    true power is representable (jnp.power goes through exp/log and may miss it by an ulp)."""

    def body(_, carry):
        result, b, rest = carry
        bit = jnp.mod(rest, 2.0) == 1.0
        return jnp.where(bit, result * b, result), b * b, jnp.floor_divide(rest, 2.0)

    one = jnp.ones_like(base)
    result, _, _ = jax.lax.fori_loop(0, 32, body, (one, base, n))
    return result


@jax.jit
def _sgdr_cycle(s: jax.Array, steps: jax.Array, tm: jax.Array
                ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(i, S_i, T * t_mul^i): the cycle of step s, its start and its length (jitted once, since
    eager dispatch of the 32-step power loop is slow; inlined under an outer jit)."""
    # t_mul == 1: cycles of T steps.
    i_one = jnp.floor_divide(s, steps)
    # t_mul > 1: S_i = T * (t_mul^i - 1) / (t_mul - 1); log estimate i0, then +-1 by comparison.
    geometric = tm != 1.0
    t = jnp.where(geometric, tm, 2.0)
    i0 = jnp.maximum(jnp.floor(jnp.log1p(s / steps * (t - 1.0)) / jnp.log(t)), 0.0)
    p0 = _int_power(t, i0)
    powers = jnp.stack([p0 / t, p0, p0 * t])
    starts = steps * ((powers - 1.0) / (t - 1.0))
    k = jnp.where(s >= starts[2], 2, jnp.where(s < starts[1], 0, 1))
    i = jnp.where(geometric, i0 + k.astype(s.dtype) - 1.0, i_one)
    start = jnp.where(geometric, starts[k], i_one * steps)
    length = steps * jnp.where(geometric, powers[k], 1.0)
    return i, start, length


@by_value
def cosine_decay_restarts(learning_rate: ArrayLike, first_decay_steps: ArrayLike,
                          t_mul: ArrayLike = 2.0, m_mul: ArrayLike = 1.0,
                          alpha: ArrayLike = 0.0) -> Schedule:
    """Cosine decay with warm restarts (SGDR).

    Cycle i starts at S_i = T * (1 + t_mul + ... + t_mul^(i-1)) and lasts T * t_mul^i steps; in it,
    with f = (t - S_i) / (T * t_mul^i),

        lr_t = lr * ((1 - alpha) * m_mul^i * 0.5 * (1 + cos(pi * f)) + alpha)

    so cycle i peaks at lr * m_mul^i (times 1 - alpha, plus the unscaled alpha floor). The cycle
    index is exact: a log estimate corrected by comparing t with the exactly computed S_i, S_(i+1),
    so an exact cycle start t = S_i gives the peak, never the previous cycle's floor.

    Args:
      learning_rate: >= 0.
      first_decay_steps: T > 0.
      t_mul: >= 1.
      m_mul: >= 0.
      alpha: in [0, 1].

    Returns:
      a schedule. Loshchilov & Hutter 2017; TF `cosine_decay_restarts`.
    """
    owner = "cosine_decay_restarts"
    _check_lr(learning_rate, owner)
    _check_steps(first_decay_steps, owner, "first_decay_steps")
    checks.in_range(t_mul, "t_mul", owner, 1.0)
    checks.in_range(m_mul, "m_mul", owner, 0.0)
    checks.in_range(alpha, "alpha", owner, 0.0, 1.0)
    dtype = _dtype(learning_rate)
    lr, steps, tm, mm, a = (_cast(x, dtype) for x in (learning_rate, first_decay_steps, t_mul,
                                                      m_mul, alpha))

    def schedule(step: ArrayLike) -> jax.Array:
        s = _cast(step, dtype)
        i, start, length = _sgdr_cycle(s, steps, tm)
        frac = (s - start) / length
        cosine = 0.5 * jnp.power(mm, i) * (1.0 + jnp.cos(jnp.pi * frac))
        return lr * ((1.0 - a) * cosine + a)

    return schedule


@by_value
def warmup(schedule: Schedule, warmup_steps: ArrayLike, init_value: ArrayLike = 0.0) -> Schedule:
    """Linear warm-up, then `schedule` shifted by warmup_steps W:

        lr_t = init + (schedule(0) - init) * t / W   for t < W,   schedule(t - W) after.

    Args:
      schedule: a `step -> learning_rate` function.
      warmup_steps: W >= 0 (0: no warm-up).
      init_value: >= 0 (the rate at step 0).

    Returns:
      a schedule of schedule(0)'s dtype. Goyal et al. 2017 (gradual warm-up).
    """
    owner = "warmup"
    if not callable(schedule):
        raise TypeError(f"{owner}: schedule must be a function step -> learning_rate, e.g. "
                        f"cosine_decay(0.1, 1000), got {schedule!r}")
    checks.in_range(warmup_steps, "warmup_steps", owner, 0.0)
    _check_lr(init_value, owner, "init_value")
    int_shift = isinstance(warmup_steps, (int, np.integer)) and not isinstance(warmup_steps, bool)

    def warmed(step: ArrayLike) -> jax.Array:
        peak = schedule(0)
        w, init = _cast(warmup_steps, peak.dtype), _cast(init_value, peak.dtype)
        t = _step(step)
        s = _cast(t, peak.dtype)
        exact = int_shift and jnp.issubdtype(t.dtype, jnp.integer) and (
            warmup_steps <= jnp.iinfo(t.dtype).max)  # else t - W would overflow t's int type
        shifted = t - warmup_steps if exact else s - w
        ramp = init + (peak - init) * s / jnp.where(w > 0, w, 1.0)
        return jnp.where(s < w, ramp, schedule(shifted))

    return warmed


__all__ = [
    "Schedule", "constant", "piecewise_constant", "exponential_decay", "natural_exp_decay",
    "inverse_time_decay", "polynomial_decay", "cosine_decay", "linear_cosine_decay",
    "noisy_linear_cosine_decay", "cosine_decay_restarts", "warmup",
]
