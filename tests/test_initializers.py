"""`jaxdl.initializers`: shapes, dtypes, variances against the closed-form formulas, fans of Dense
and Conv kernels, uniform limits, `jax.nn.initializers` statistics, sparse connectivity, bad
input."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import initializers as init

DENSE = (400, 300)  # fan_in 400, fan_out 300
CONV = (3, 3, 64, 128)  # HWIO: fan_in 64 * 9 = 576, fan_out 128 * 9 = 1152
FANS = {DENSE: (400, 300), CONV: (576, 1152)}

# name -> (initializer, variance as a function of (fan_in, fan_out))
VARIANCE = {
    "lecun_normal": (init.lecun_normal(), lambda fi, fo: 1 / fi),
    "lecun_uniform": (init.lecun_uniform(), lambda fi, fo: 1 / fi),
    "glorot_normal": (init.glorot_normal(), lambda fi, fo: 2 / (fi + fo)),
    "glorot_uniform": (init.glorot_uniform(), lambda fi, fo: 2 / (fi + fo)),
    "xavier_normal": (init.xavier_normal(), lambda fi, fo: 2 / (fi + fo)),
    "xavier_uniform": (init.xavier_uniform(), lambda fi, fo: 2 / (fi + fo)),
    "he_normal": (init.he_normal(), lambda fi, fo: 2 / fi),
    "he_uniform": (init.he_uniform(), lambda fi, fo: 2 / fi),
    "normal": (init.normal(0.05), lambda fi, fo: 0.05**2),
    "small_random": (init.small_random(), lambda fi, fo: 0.01**2),
    "uniform": (init.uniform(0.1), lambda fi, fo: 0.1**2 / 3),
    "vs_fan_out_truncated": (init.variance_scaling(0.5, "fan_out", "truncated_normal"),
                             lambda fi, fo: 0.5 / fo),
    "vs_fan_avg_normal": (init.variance_scaling(3.0, "fan_avg", "normal"),
                          lambda fi, fo: 3.0 / ((fi + fo) / 2)),
}
ALL = {**{k: v[0] for k, v in VARIANCE.items()}, "zeros": init.zeros, "ones": init.ones,
       "constant": init.constant(0.3), "sparse": init.sparse(2)}


@pytest.mark.parametrize("name", sorted(ALL))
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_initializer_returns_requested_shape_and_dtype(name, dtype, key):
    for shape in [(4, 3), (3, 3, 2, 5)]:
        w = ALL[name](key, shape, dtype)
        assert w.shape == shape and w.dtype == dtype
        assert np.all(np.isfinite(np.asarray(w, np.float32)))


def test_initializers_return_float64_under_x64(x64, key):
    for name, fn in ALL.items():
        w = fn(key, (4, 3), jnp.float64)
        assert w.dtype == jnp.float64, name


def test_fans_of_dense_and_conv_kernels():
    assert init.fans(DENSE) == (400, 300)
    assert init.fans(CONV) == (64 * 9, 128 * 9)
    assert init.fans((7,)) == (7, 7)


@pytest.mark.parametrize("name", sorted(VARIANCE))
@pytest.mark.parametrize("shape", [DENSE, CONV], ids=["dense", "conv"])
def test_sample_variance_matches_the_formula(name, shape, key):
    fn, formula = VARIANCE[name]
    w = np.asarray(fn(key, shape, jnp.float32), np.float64)
    expected = formula(*FANS[shape])
    assert abs(w.var() / expected - 1) < 0.03, (w.var(), expected)
    assert abs(w.mean()) < 5 * math.sqrt(expected / w.size)


@pytest.mark.parametrize("name, limit", [
    ("glorot_uniform", lambda fi, fo: math.sqrt(6 / (fi + fo))),
    ("he_uniform", lambda fi, fo: math.sqrt(6 / fi)),
    ("lecun_uniform", lambda fi, fo: math.sqrt(3 / fi)),
    ("uniform", lambda fi, fo: 0.1),
])
@pytest.mark.parametrize("shape", [DENSE, CONV], ids=["dense", "conv"])
def test_uniform_samples_stay_within_and_reach_the_limit(name, limit, shape, key):
    w = np.abs(np.asarray(VARIANCE[name][0](key, shape, jnp.float32), np.float64))
    lim = limit(*FANS[shape])
    assert w.max() <= lim * (1 + 1e-6)
    assert w.max() >= 0.999 * lim
    # uniform: P(|w| < lim/2) = 1/2
    assert abs(np.mean(w < lim / 2) - 0.5) < 0.01


def _phi(x):
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def test_distribution_shapes_normal_truncated_uniform(key):
    """P(|w| < sigma): 0.683 for a Gaussian, 1/sqrt(3) for a uniform, and the truncated value."""
    shape, var = DENSE, 1 / 400
    sigma = math.sqrt(var)
    normal = np.asarray(init.variance_scaling(1.0, "fan_in", "normal")(key, shape))
    trunc = np.asarray(init.variance_scaling(1.0, "fan_in", "truncated_normal")(key, shape))
    unif = np.asarray(init.variance_scaling(1.0, "fan_in", "uniform")(key, shape))
    assert abs(np.mean(np.abs(normal) < sigma) - (2 * _phi(1) - 1)) < 0.01
    assert abs(np.mean(np.abs(unif) < sigma) - 1 / math.sqrt(3)) < 0.01
    c = 0.87962566103423978  # std of N(0, 1) cut at +-2
    p_trunc = (2 * _phi(c) - 1) / (2 * _phi(2) - 1)
    assert abs(np.mean(np.abs(trunc) < sigma) - p_trunc) < 0.01
    assert np.abs(trunc).max() <= 2 * sigma / c * (1 + 1e-6)


@pytest.mark.parametrize("name", ["glorot_normal", "he_normal", "lecun_normal",
                                  "glorot_uniform", "he_uniform", "lecun_uniform"])
@pytest.mark.parametrize("shape", [DENSE, CONV], ids=["dense", "conv"])
def test_variance_agrees_with_jax_nn_initializers(name, shape, key):
    ours = np.asarray(getattr(init, name)()(key, shape, jnp.float32), np.float64)
    ref_fn = getattr(jax.nn.initializers, name)()
    ref = np.asarray(ref_fn(jax.random.fold_in(key, 1), shape, jnp.float32), np.float64)
    assert abs(ours.var() / ref.var() - 1) < 0.04
    if name.endswith("uniform"):
        np.testing.assert_allclose(np.abs(ours).max(), np.abs(ref).max(), rtol=2e-3)


@pytest.mark.parametrize("shape, connections", [((50, 20), 10), ((3, 3, 8, 16), 5)],
                         ids=["dense", "conv"])
def test_sparse_gives_each_unit_exactly_connections_nonzeros(shape, connections, key):
    w = np.asarray(init.sparse(connections)(key, shape))
    per_unit = w.reshape(-1, shape[-1])  # (fan_in, units)
    np.testing.assert_array_equal(np.count_nonzero(per_unit, axis=0), connections)
    patterns = {tuple(np.flatnonzero(col)) for col in per_unit.T}
    assert len(patterns) > 1  # positions are random per unit, not one shared pattern


def test_sparse_nonzero_values_have_the_given_stddev(key):
    w = np.asarray(init.sparse(10, stddev=0.5)(key, DENSE), np.float64)
    nz = w[w != 0]
    assert nz.size == 10 * 300
    assert abs(nz.std() / 0.5 - 1) < 0.06


def test_sparse_rejects_more_connections_than_inputs(key):
    with pytest.raises(ValueError, match=r"sparse: connections must be <= fan_in \(5\).*got 10"):
        init.sparse(10)(key, (5, 4))
    with pytest.raises(ValueError, match=r"sparse: connections .*fan_in \(72\).*got 73"):
        init.sparse(73)(key, (3, 3, 8, 16))
    with pytest.raises(ValueError, match=r"sparse: shape .*\(5,\)"):
        init.sparse(2)(key, (5,))


@pytest.mark.parametrize("fn, value", [(init.zeros, 0.0), (init.ones, 1.0),
                                       (init.constant(0.3), 0.3)])
def test_zeros_ones_constant_give_identical_values(fn, value, key):
    w = np.asarray(fn(key, (6, 4)))
    np.testing.assert_allclose(w, np.full((6, 4), value, np.float32))


def test_constant_weights_keep_hidden_units_identical_the_symmetry_trap(key):
    """Every hidden unit gets the same gradient, so gradient descent never separates them."""
    w1 = init.constant(0.3)(key, (3, 5))
    w2 = init.constant(0.3)(key, (5, 2))
    x = jax.random.normal(key, (8, 3))
    y = jax.random.normal(jax.random.fold_in(key, 1), (8, 2))

    def loss(ws):
        return jnp.mean(jnp.square(jnp.tanh(x @ ws[0]) @ ws[1] - y))

    @jax.jit
    def step(ws):
        return jax.tree.map(lambda w, d: w - 0.5 * d, ws, jax.grad(loss)(ws))

    ws = (w1, w2)
    for _ in range(3):
        ws = step(ws)
    cols = np.asarray(ws[0])
    np.testing.assert_allclose(cols, np.broadcast_to(cols[:, :1], cols.shape), rtol=1e-6)
    assert not np.allclose(cols, 0.3)  # they did move, all together
    rand = init.glorot_normal()(key, (3, 5))
    assert np.unique(np.asarray(rand)).size == 15


def test_same_key_same_weights_other_key_other_weights(key):
    fn = init.he_normal()
    np.testing.assert_array_equal(fn(key, (4, 3)), fn(key, (4, 3)))
    assert not np.array_equal(fn(key, (4, 3)), fn(jax.random.fold_in(key, 1), (4, 3)))


def test_bad_hyperparameters_are_errors_naming_the_parameter():
    with pytest.raises(ValueError, match=r"normal: stddev .*-1.0"):
        init.normal(-1.0)
    with pytest.raises(ValueError, match=r"uniform: scale .*-0.5"):
        init.uniform(-0.5)
    with pytest.raises(ValueError, match=r"variance_scaling: scale .*0.0"):
        init.variance_scaling(0.0, "fan_in", "normal")
    with pytest.raises(ValueError, match=r"variance_scaling: mode .*'fan_sum'"):
        init.variance_scaling(1.0, "fan_sum", "normal")
    with pytest.raises(ValueError, match=r"variance_scaling: distribution .*'cauchy'"):
        init.variance_scaling(1.0, "fan_in", "cauchy")
    with pytest.raises(ValueError, match=r"sparse: connections must be >= 1, got 0"):
        init.sparse(0)
    with pytest.raises(TypeError, match=r"sparse: connections .*2.5"):
        init.sparse(2.5)
    with pytest.raises(ValueError, match=r"sparse: stddev .*-0.1"):
        init.sparse(3, stddev=-0.1)
