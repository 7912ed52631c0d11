"""jaxdl.schedules against optax where optax has the same schedule, else against float64 NumPy
references written here from the formulas; plus identities, jit/vmap and bad input."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import standard_promotion

from jaxdl import schedules as S

DRAWS = [0, 1, 2]


def _grid(T, extra=()):
    """The steps every comparison covers, plus a few random ones."""
    rng = np.random.default_rng(T)
    steps = [0, 1, T - 1, T, T + 1, 10 * T, *extra, *rng.integers(0, 3 * T, 6)]
    return np.array(sorted(set(int(s) for s in steps)), np.int32)


def _ours(schedule, steps):
    return np.asarray(jax.jit(jax.vmap(schedule))(jnp.asarray(steps)))


def _optax(schedule, steps):
    """optax called with Python int steps, so its `floor(count / T)` divides exactly; under jit or
    vmap XLA turns `/ T` into `* (1 / T)` and optax's staircase lands a step late at t = k * T."""
    with standard_promotion():
        return np.array([schedule(int(t)) for t in steps])


def _close(actual, expected, scale, dtype=np.float32):
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


def _draw(i):
    rng = np.random.default_rng(100 + i)
    return dict(lr=float(rng.uniform(1e-3, 1.0)), T=int(rng.integers(3, 200)),
                rate=float(rng.uniform(0.05, 0.99)), alpha=float(rng.uniform(0.0, 0.5)),
                power=float(rng.uniform(0.3, 3.0)), end=float(rng.uniform(0.0, 1e-3)))


# --- against optax -------------------------------------------------------------------------------

@pytest.mark.parametrize("staircase", [False, True])
@pytest.mark.parametrize("i", DRAWS)
def test_exponential_decay_matches_optax(i, staircase):
    d = _draw(i)
    steps = _grid(d["T"])
    ours = _ours(S.exponential_decay(d["lr"], d["T"], d["rate"], staircase), steps)
    ref = _optax(optax.exponential_decay(d["lr"], d["T"], d["rate"], staircase=staircase), steps)
    _close(ours, ref, d["lr"])


@pytest.mark.parametrize("staircase", [False, True])
@pytest.mark.parametrize("i", DRAWS)
def test_natural_exp_decay_matches_optax_exponential_with_rate_e_to_minus_k(i, staircase):
    d = _draw(i)
    k = 3.0 * d["rate"]
    steps = _grid(d["T"])
    ours = _ours(S.natural_exp_decay(d["lr"], d["T"], k, staircase), steps)
    ref = _optax(optax.exponential_decay(d["lr"], d["T"], math.exp(-k), staircase=staircase),
                 steps)
    np.testing.assert_allclose(ours, ref, rtol=2e-5, atol=1e-6 * d["lr"])


@pytest.mark.parametrize("T", [3, 7, 109, 1000])
def test_staircase_switches_exactly_at_multiples_of_decay_steps_under_jit(T):
    steps = np.array([k * T + d for k in range(1, 12) for d in (-1, 0)], np.int32)
    ours = _ours(S.exponential_decay(1.0, T, 0.5, staircase=True), steps)
    np.testing.assert_allclose(ours, 0.5 ** (steps // T), rtol=1e-6)
    ours = _ours(S.polynomial_decay(1.0, T, 0.0, 1.0, cycle=True), steps[1::2] + 1)
    np.testing.assert_allclose(ours, (T - 1) / (T * (steps[1::2] // T + 1)), rtol=1e-5)


@pytest.mark.parametrize("i", DRAWS)
def test_polynomial_decay_without_cycle_matches_optax_polynomial_schedule(i):
    d = _draw(i)
    steps = _grid(d["T"])
    ours = _ours(S.polynomial_decay(d["lr"], d["T"], d["end"], d["power"]), steps)
    ref = _optax(optax.polynomial_schedule(d["lr"], d["end"], d["power"], d["T"]), steps)
    _close(ours, ref, d["lr"])


@pytest.mark.parametrize("i", DRAWS)
def test_cosine_decay_matches_optax(i):
    d = _draw(i)
    steps = _grid(d["T"])
    ours = _ours(S.cosine_decay(d["lr"], d["T"], d["alpha"]), steps)
    ref = _optax(optax.cosine_decay_schedule(d["lr"], d["T"], d["alpha"]), steps)
    _close(ours, ref, d["lr"])


def test_decay_schedules_match_optax_in_float64(x64):
    d = _draw(0)
    steps = _grid(d["T"])
    pairs = [
        (S.exponential_decay(d["lr"], d["T"], d["rate"]),
         optax.exponential_decay(d["lr"], d["T"], d["rate"])),
        (S.polynomial_decay(d["lr"], d["T"], d["end"], d["power"]),
         optax.polynomial_schedule(d["lr"], d["end"], d["power"], d["T"])),
        (S.cosine_decay(d["lr"], d["T"], d["alpha"]),
         optax.cosine_decay_schedule(d["lr"], d["T"], d["alpha"])),
    ]
    for ours, ref in pairs:
        out = _ours(ours, steps)
        assert out.dtype == np.float64
        _close(out, _optax(ref, steps), d["lr"], np.float64)


@pytest.mark.parametrize("i", DRAWS)
def test_piecewise_constant_matches_optax_with_boundaries_shifted_by_one(i):
    rng = np.random.default_rng(200 + i)
    boundaries = np.cumsum(rng.integers(1, 50, 3)).tolist()
    values = rng.uniform(0.01, 1.0, 4).tolist()
    scales = {b + 1: values[j + 1] / values[j] for j, b in enumerate(boundaries)}
    steps = np.unique(np.concatenate([_grid(boundaries[0]), np.array(boundaries) - 1,
                                      np.array(boundaries), np.array(boundaries) + 1]))
    ours = _ours(S.piecewise_constant(boundaries, values), steps)
    ref = _optax(optax.piecewise_constant_schedule(values[0], scales), steps)
    np.testing.assert_allclose(ours, ref, rtol=1e-5)
    # The spec itself: values[i] while boundaries[i-1] < step <= boundaries[i].
    expected = [values[int(np.searchsorted(boundaries, s, side="left"))] for s in steps]
    np.testing.assert_allclose(ours, np.float32(expected), rtol=0)


@pytest.mark.parametrize("i", DRAWS)
def test_warmup_cosine_matches_optax_warmup_cosine_decay_schedule(i):
    d = _draw(i)
    W, init = d["T"] // 3 + 1, 0.1 * d["lr"]
    steps = _grid(d["T"] + W, extra=(W - 1, W, W + 1))
    ours = _ours(S.warmup(S.cosine_decay(d["lr"], d["T"], d["alpha"]), W, init), steps)
    ref = optax.warmup_cosine_decay_schedule(init, d["lr"], W, W + d["T"], d["alpha"] * d["lr"])
    _close(ours, _optax(ref, steps), d["lr"])


def test_warmup_exponential_matches_optax_join_schedules():
    W, T = 7, 20
    steps = _grid(T + W, extra=(W - 1, W, W + 1))
    ours = _ours(S.warmup(S.exponential_decay(0.3, T, 0.5), W), steps)
    ref = optax.join_schedules(
        [optax.linear_schedule(0.0, 0.3, W), optax.exponential_decay(0.3, T, 0.5)], [W])
    _close(ours, _optax(ref, steps), 0.3)


def test_constant_matches_optax():
    steps = _grid(10)
    _close(_ours(S.constant(0.37), steps), _optax(optax.constant_schedule(0.37), steps), 0.37)


# --- against NumPy float64 references ------------------------------------------------------------

def _ref_polynomial_cycle(t, lr, T, end, power):
    period = T * max(math.ceil(t / T), 1)
    return (lr - end) * (1 - t / period) ** power + end


def _ref_linear_cosine(t, lr, T, periods, alpha, beta, eps=0.0):
    t = min(t, T)
    linear = (T - t) / T + eps
    cosine = 0.5 * (1 + math.cos(math.pi * 2 * periods * t / T))
    return lr * ((alpha + linear) * cosine + beta)


def _ref_cycle(t, T, t_mul):
    """(i, start, length) of the SGDR cycle holding step t, by walking the cycles in float64."""
    start, length, i = 0.0, float(T), 0
    while t >= start + length:
        start, length, i = start + length, length * t_mul, i + 1
    return i, start, length


def _ref_restarts(t, lr, T, t_mul, m_mul, alpha):
    i, start, length = _ref_cycle(t, T, t_mul)
    cosine = 0.5 * m_mul ** i * (1 + math.cos(math.pi * (t - start) / length))
    return lr * ((1 - alpha) * cosine + alpha)


@pytest.mark.parametrize("i", DRAWS)
def test_polynomial_decay_with_cycle_matches_numpy(i):
    d = _draw(i)
    steps = _grid(d["T"], extra=(2 * d["T"], 2 * d["T"] + 1, 3 * d["T"] - 1))
    ours = _ours(S.polynomial_decay(d["lr"], d["T"], d["end"], d["power"], cycle=True), steps)
    ref = [_ref_polynomial_cycle(int(t), d["lr"], d["T"], d["end"], d["power"]) for t in steps]
    _close(ours, ref, d["lr"])
    assert ours[list(steps).index(d["T"] + 1)] > ours[list(steps).index(d["T"])]  # it restarts


@pytest.mark.parametrize("staircase", [False, True])
@pytest.mark.parametrize("i", DRAWS)
def test_inverse_time_decay_matches_numpy(i, staircase):
    d = _draw(i)
    steps = _grid(d["T"])
    ours = _ours(S.inverse_time_decay(d["lr"], d["T"], d["rate"], staircase), steps)
    p = [(t // d["T"]) if staircase else t / d["T"] for t in steps.tolist()]
    _close(ours, [d["lr"] / (1 + d["rate"] * q) for q in p], d["lr"])


@pytest.mark.parametrize("i", DRAWS)
def test_linear_cosine_decay_matches_numpy(i):
    d = _draw(i)
    periods, beta = 0.5 + i, 1e-3 * (i + 1)
    steps = _grid(d["T"])
    ours = _ours(S.linear_cosine_decay(d["lr"], d["T"], periods, d["alpha"], beta), steps)
    ref = [_ref_linear_cosine(int(t), d["lr"], d["T"], periods, d["alpha"], beta) for t in steps]
    _close(ours, ref, d["lr"])


def test_noisy_linear_cosine_decay_matches_numpy_with_fold_in_noise():
    lr, T, var0, vdecay, seed = 0.2, 40, 0.3, 0.55, 7
    steps = _grid(T)
    ours = _ours(S.noisy_linear_cosine_decay(lr, T, var0, vdecay, seed=seed), steps)
    ref = []
    for t in steps.tolist():
        z = float(jax.random.normal(jax.random.fold_in(jax.random.PRNGKey(seed), t), ()))
        eps = math.sqrt(var0 / (1 + min(t, T)) ** vdecay) * z
        ref.append(_ref_linear_cosine(t, lr, T, 0.5, 0.0, 0.001, eps))
    _close(ours, ref, lr)


RESTART_CASES = [  # (T, t_mul, m_mul, alpha, exact cycle starts); a float32 log puts 81910
    (10, 2.0, 1.0, 0.0, [10, 30, 70, 150, 310, 630, 81910, 327670]),  # (cycle 13) in cycle 12
    (10, 1.0, 1.0, 0.0, [10, 20, 30, 90, 1000]),
    (10, 2.0, 0.7, 0.2, [10, 30, 70, 150, 81910]),
    (10, 1.0, 0.5, 0.1, [10, 20, 30, 40]),
    (3, 3.0, 0.9, 0.05, [3, 12, 39, 120, 363, 1092, 3279]),
    (8, 1.5, 0.8, 0.1, [8, 20, 38, 65]),
]


@pytest.mark.parametrize("T,t_mul,m_mul,alpha,starts", RESTART_CASES)
def test_cosine_decay_restarts_matches_numpy_including_exact_cycle_starts(
        T, t_mul, m_mul, alpha, starts):
    lr = 0.5
    extra = [s + d for s in starts for d in (-1, 0, 1)]
    steps = _grid(T, extra=extra)
    ours = _ours(S.cosine_decay_restarts(lr, T, t_mul, m_mul, alpha), steps)
    ref = [_ref_restarts(int(t), lr, T, t_mul, m_mul, alpha) for t in steps]
    _close(ours, ref, lr)
    # At an exact start of cycle i the rate is the (scaled) peak, not the previous cycle's floor.
    at_starts = _ours(S.cosine_decay_restarts(lr, T, t_mul, m_mul, alpha), np.int32(starts))
    cycles = [_ref_cycle(t, T, t_mul) for t in starts]
    assert [start for _, start, _ in cycles] == starts
    peaks = [lr * ((1 - alpha) * m_mul ** i + alpha) for i, _, _ in cycles]
    np.testing.assert_allclose(at_starts, peaks, rtol=1e-6)


def test_cosine_decay_restarts_with_traced_t_mul_matches_numpy():
    steps = _grid(10, extra=(30, 70, 150))
    for t_mul in (1.0, 2.0):
        fn = jax.jit(jax.vmap(lambda t, m: S.cosine_decay_restarts(0.5, 10, m, 0.8, 0.1)(t),
                              in_axes=(0, None)))
        ours = np.asarray(fn(jnp.asarray(steps), jnp.float32(t_mul)))
        _close(ours, [_ref_restarts(int(t), 0.5, 10, t_mul, 0.8, 0.1) for t in steps], 0.5)


# --- identities ----------------------------------------------------------------------------------

def test_noisy_linear_cosine_with_zero_variance_equals_linear_cosine():
    steps = _grid(50)
    noisy = _ours(S.noisy_linear_cosine_decay(0.1, 50, 0.0, 0.55, 1.5, 0.1, 0.01, seed=3), steps)
    plain = _ours(S.linear_cosine_decay(0.1, 50, 1.5, 0.1, 0.01), steps)
    np.testing.assert_allclose(noisy, plain, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("t", [5, 300])
def test_noisy_linear_cosine_spread_over_2000_seeds_matches_the_variance_formula(t):
    lr, T, var0, vdecay, periods = 0.1, 100, 0.5, 0.55, 1.0
    seeds = jnp.arange(2000)
    fn = jax.jit(jax.vmap(
        lambda s: S.noisy_linear_cosine_decay(lr, T, var0, vdecay, periods, seed=s)(t)))
    samples = np.asarray(fn(seeds), np.float64)
    clean = _ref_linear_cosine(t, lr, T, periods, 0.0, 0.001)
    cosine = 0.5 * (1 + math.cos(math.pi * 2 * periods * min(t, T) / T))
    std = lr * cosine * math.sqrt(var0 / (1 + min(t, T)) ** vdecay)
    assert abs(samples.std() / std - 1) < 0.1
    assert abs(samples.mean() - clean) < 4 * std / math.sqrt(2000)


def test_noisy_linear_cosine_is_a_pure_function_of_the_step():
    fn = S.noisy_linear_cosine_decay(0.1, 100, seed=5)
    assert float(fn(17)) == float(fn(17)) == float(fn(jnp.int32(17)))
    np.testing.assert_allclose(fn(17.0), fn(17), rtol=1e-7)
    assert float(fn(17)) != float(fn(18))
    assert float(fn(17)) != float(S.noisy_linear_cosine_decay(0.1, 100, seed=6)(17))


def test_natural_exp_decay_is_finite_and_lr_at_step_zero():
    np.testing.assert_allclose(S.natural_exp_decay(0.1, 10, 0.5)(0), 0.1, rtol=1e-7)


# --- steps, jit and vmap -------------------------------------------------------------------------

REGISTRY = {
    "constant": lambda lr: S.constant(lr),
    "piecewise_constant": lambda lr: S.piecewise_constant([5, 15], lr * jnp.array([1.0, 0.5, 0.1])),
    "exponential_decay": lambda lr: S.exponential_decay(lr, 10, 0.5),
    "natural_exp_decay": lambda lr: S.natural_exp_decay(lr, 10, 0.5, True),
    "inverse_time_decay": lambda lr: S.inverse_time_decay(lr, 10, 0.5),
    "polynomial_decay": lambda lr: S.polynomial_decay(lr, 10, 1e-4, 2.0, cycle=True),
    "cosine_decay": lambda lr: S.cosine_decay(lr, 10, 0.1),
    "linear_cosine_decay": lambda lr: S.linear_cosine_decay(lr, 10),
    "noisy_linear_cosine_decay": lambda lr: S.noisy_linear_cosine_decay(lr, 10, 0.1),
    "cosine_decay_restarts": lambda lr: S.cosine_decay_restarts(lr, 4, 2.0, 0.5, 0.1),
    "warmup": lambda lr: S.warmup(S.cosine_decay(lr, 10), 3, 0.01),
}


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_schedule_accepts_int_float_and_traced_steps_under_jit_and_vmap(name):
    fn = REGISTRY[name](0.3)
    eager = [float(fn(t)) for t in range(0, 30, 7)]
    assert all(np.isfinite(eager))
    np.testing.assert_allclose([float(fn(float(t))) for t in range(0, 30, 7)], eager, rtol=1e-6)
    np.testing.assert_allclose(jax.jit(fn)(jnp.int32(14)), eager[2], rtol=1e-6)
    np.testing.assert_allclose(_ours(fn, np.arange(0, 30, 7)), eager, rtol=1e-6)
    assert jnp.asarray(fn(3)).dtype == jnp.float32


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_vmap_over_8_learning_rates_equals_8_separate_runs(name):
    lrs = jnp.linspace(0.01, 1.0, 8)
    steps = jnp.arange(0, 40, 3)
    batched = jax.jit(jax.vmap(lambda lr: jax.vmap(REGISTRY[name](lr))(steps)))(lrs)
    separate = [jax.vmap(REGISTRY[name](float(lr)))(steps) for lr in lrs]
    np.testing.assert_allclose(batched, np.stack(separate), rtol=1e-6)


def test_vmap_over_decay_rates_matches_numpy():
    rates = jnp.array([0.1, 0.5, 0.9])
    out = jax.jit(jax.vmap(lambda r: S.exponential_decay(0.2, 10, r)(25)))(rates)
    np.testing.assert_allclose(out, 0.2 * np.array([0.1, 0.5, 0.9]) ** 2.5, rtol=1e-6)


def test_schedules_are_float64_under_x64(x64):
    for name, build in REGISTRY.items():
        assert jnp.asarray(build(0.3)(jnp.int32(4))).dtype == jnp.float64, name


# --- bad input -----------------------------------------------------------------------------------

BAD = [
    (lambda: S.exponential_decay(0.1, 0, 0.5), "exponential_decay: decay_steps.*got 0"),
    (lambda: S.exponential_decay(-0.1, 10, 0.5), "exponential_decay: learning_rate.*got -0.1"),
    (lambda: S.exponential_decay(0.1, 10, 0.0), "exponential_decay: decay_rate.*got 0.0"),
    (lambda: S.natural_exp_decay(0.1, 10, -1.0), "natural_exp_decay: decay_rate.*got -1.0"),
    (lambda: S.inverse_time_decay(0.1, -5, 0.5), "inverse_time_decay: decay_steps.*got -5"),
    (lambda: S.polynomial_decay(0.1, 10, power=0.0), "polynomial_decay: power.*got 0.0"),
    (lambda: S.polynomial_decay(0.1, 10, -1e-3), "polynomial_decay: end_learning_rate.*-0.001"),
    (lambda: S.cosine_decay(0.1, 10, alpha=1.5), r"cosine_decay: alpha.*\[0.0, 1.0\].*got 1.5"),
    (lambda: S.cosine_decay(0.1, 10, alpha=-0.1), "cosine_decay: alpha.*got -0.1"),
    (lambda: S.linear_cosine_decay(0.1, 10, alpha=2.0), "linear_cosine_decay: alpha.*got 2.0"),
    (lambda: S.noisy_linear_cosine_decay(0.1, 10, -1.0),
     "noisy_linear_cosine_decay: initial_variance.*got -1.0"),
    (lambda: S.noisy_linear_cosine_decay(0.1, 10, 1.0, -0.5),
     "noisy_linear_cosine_decay: variance_decay.*got -0.5"),
    (lambda: S.piecewise_constant([10, 5], [1.0, 0.5, 0.1]),
     r"piecewise_constant: boundaries.*strictly increasing.*\[10, 5\]"),
    (lambda: S.piecewise_constant([10, 10], [1.0, 0.5, 0.1]), "piecewise_constant: boundaries"),
    (lambda: S.piecewise_constant([10, 20], [1.0, 0.5]), r"piecewise_constant: values.*\(2,\)"),
    (lambda: S.piecewise_constant([10], [1.0, -0.5]), "piecewise_constant: values.*-0.5"),
    (lambda: S.cosine_decay_restarts(0.1, 0), "cosine_decay_restarts: first_decay_steps.*got 0"),
    (lambda: S.cosine_decay_restarts(0.1, 10, t_mul=0.5), "cosine_decay_restarts: t_mul.*0.5"),
    (lambda: S.cosine_decay_restarts(0.1, 10, alpha=2.0), "cosine_decay_restarts: alpha.*2.0"),
    (lambda: S.warmup(S.constant(0.1), -1), "warmup: warmup_steps.*got -1"),
]


@pytest.mark.parametrize("build,match", BAD)
def test_bad_hyperparameter_raises_naming_schedule_parameter_and_value(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_warmup_rejects_a_number_for_schedule():
    with pytest.raises(TypeError, match="warmup: schedule must be a function"):
        S.warmup(0.1, 10)


def test_traced_hyperparameters_pass_validation():
    fn = jax.jit(lambda T, rate, alpha: (S.exponential_decay(0.1, T, rate)(3)
                                         + S.cosine_decay(0.1, T, alpha)(3)))
    assert np.isfinite(fn(jnp.float32(10.0), jnp.float32(0.5), jnp.float32(0.1)))
    fn(jnp.float32(-1.0), jnp.float32(-0.5), jnp.float32(2.0))  # traced: no check, no raise


def test_every_schedule_docstring_gives_its_formula():
    for name in S.__all__[1:]:
        doc = getattr(S, name).__doc__
        assert doc and ("=" in doc or "lr" in doc), name
    assert "e^(-decay_rate / global_step)" in S.natural_exp_decay.__doc__


# --- step counts beyond int32 (optax's test_with_giant_int_steps) --------------------------------

BIG = int(1e10)  # > 2^31 - 1: an int32 OverflowError before the fix


def test_cosine_decay_with_giant_int_decay_steps_is_optax_975_52826():
    """optax's own case (schedules/_schedule_test.py, test_with_giant_int_steps): cosine decay
    from 1000 over 1e10 steps, at step 1e9 under jit: 500 (1 + cos(0.1 pi)) = 975.52826."""
    ours = float(jax.jit(S.cosine_decay(1000.0, BIG))(int(1e9)))
    with standard_promotion():
        ref = float(jax.jit(optax.cosine_decay_schedule(1000.0, decay_steps=BIG))(int(1e9)))
    closed = 500.0 * (1.0 + math.cos(0.1 * math.pi))
    np.testing.assert_allclose([ours, ref], [975.52826, 975.52826], rtol=1e-7)
    np.testing.assert_allclose(ours, closed, rtol=1e-6)


def _lincos(t, T, lr, periods=0.5, alpha=0.0, beta=0.001):
    s = min(t, T)
    return lr * ((alpha + (T - s) / T) * 0.5 * (1 + math.cos(2 * math.pi * periods * s / T)) + beta)


def _sgdr(t, T, lr, t_mul=2.0):
    start, length, i = 0.0, float(T), 0
    while t >= start + length:
        start, length, i = start + length, length * t_mul, i + 1
    return lr * 0.5 * (1 + math.cos(math.pi * (t - start) / length))


# name: (schedule with a step count of 1e10, float64 closed form of step t)
GIANT = {
    "exponential_decay": (S.exponential_decay(1000.0, BIG, 0.5), lambda t: 1000 * 0.5 ** (t / BIG)),
    "natural_exp_decay": (S.natural_exp_decay(1000.0, BIG, 0.5),
                          lambda t: 1000 * math.exp(-0.5 * t / BIG)),
    "inverse_time_decay": (S.inverse_time_decay(1000.0, BIG, 0.5),
                           lambda t: 1000 / (1 + 0.5 * t / BIG)),
    "exponential_staircase": (S.exponential_decay(1000.0, BIG, 0.5, staircase=True),
                              lambda t: 1000 * 0.5 ** (t // BIG)),
    "polynomial_decay": (S.polynomial_decay(1000.0, BIG, 0.0),
                         lambda t: 1000 * (1 - min(t, BIG) / BIG)),
    "cosine_decay": (S.cosine_decay(1000.0, BIG),
                     lambda t: 500 * (1 + math.cos(math.pi * min(t, BIG) / BIG))),
    "linear_cosine_decay": (S.linear_cosine_decay(1000.0, BIG), lambda t: _lincos(t, BIG, 1000)),
    "noisy_linear_cosine_decay": (S.noisy_linear_cosine_decay(1000.0, BIG, initial_variance=0.0),
                                  lambda t: _lincos(t, BIG, 1000)),
    "cosine_decay_restarts": (S.cosine_decay_restarts(1000.0, BIG), lambda t: _sgdr(t, BIG, 1000)),
    "piecewise_constant": (S.piecewise_constant([BIG, 2 * BIG], [1.0, 0.5, 0.25]),
                           lambda t: 1.0 if t <= BIG else 0.5 if t <= 2 * BIG else 0.25),
    "warmup": (S.warmup(S.constant(1.0), BIG), lambda t: min(t / BIG, 1.0)),
}


@pytest.mark.parametrize("name", sorted(GIANT))
def test_every_step_count_parameter_takes_1e10(name):
    """Python int steps on both sides of the 1e10 count (the steps beyond int32 too), eagerly and
    under jit with an int32 step."""
    schedule, closed = GIANT[name]
    steps = [0, int(1e9), int(5e9), int(1.5e10), int(2.5e10)]
    ours = [float(schedule(t)) for t in steps]
    np.testing.assert_allclose(ours, [closed(t) for t in steps], rtol=2e-6, atol=1e-6)
    jitted = float(jax.jit(schedule)(jnp.int32(10**9)))
    np.testing.assert_allclose(jitted, closed(10**9), rtol=2e-6)


def test_int64_steps_beyond_int32_under_x64(x64):
    warm = S.warmup(S.exponential_decay(1.0, BIG, 0.5), BIG)  # the exact integer shift, in int64
    t = jnp.asarray(3 * BIG, jnp.int64)
    np.testing.assert_allclose(float(jax.jit(warm)(t)), 0.25, rtol=1e-12)
