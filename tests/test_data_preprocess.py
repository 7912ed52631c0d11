"""jaxdl.data.preprocess: scaling fitted on the training split, against NumPy float64."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.data import preprocess


def _data():
    rng = np.random.default_rng(0)
    x_train = rng.gamma(2.0, 3.0, size=(50, 4)) * np.array([1.0, 10.0, 100.0, 0.1])
    x_test = rng.gamma(2.0, 5.0, size=(20, 4)) * np.array([1.0, 10.0, 100.0, 0.1])
    return x_train, x_test


@pytest.mark.parametrize("lo, hi", [(0.0, 1.0), (-1.0, 1.0)])
def test_minmax_matches_numpy_and_reuses_train_stats(x64, lo, hi):
    x_train, x_test = _data()
    transform, stats = preprocess.fit_minmax(jnp.asarray(x_train), feature_range=(lo, hi))
    mn, mx = x_train.min(0, keepdims=True), x_train.max(0, keepdims=True)
    np.testing.assert_allclose(stats.min, mn, rtol=1e-12)
    np.testing.assert_allclose(stats.max, mx, rtol=1e-12)
    ref = lambda x: lo + (hi - lo) * (x - mn) / (mx - mn)
    np.testing.assert_allclose(transform(jnp.asarray(x_train)), ref(x_train), rtol=1e-12,
                               atol=1e-12)
    out = jax.jit(transform)(jnp.asarray(x_test))
    np.testing.assert_allclose(out, ref(x_test), rtol=1e-12, atol=1e-12)
    # the test split is scaled with the training range, so it is not squeezed into [lo, hi]
    assert float(out.max()) > hi


def test_zscore_matches_numpy_and_reuses_train_stats(x64):
    x_train, x_test = _data()
    transform, stats = preprocess.fit_zscore(jnp.asarray(x_train), axis=0)
    mu, sd = x_train.mean(0, keepdims=True), x_train.std(0, keepdims=True)
    np.testing.assert_allclose(stats.mean, mu, rtol=1e-12)
    np.testing.assert_allclose(stats.std, sd, rtol=1e-12)
    z = np.asarray(transform(jnp.asarray(x_train)))
    np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(z.std(0), 1.0, rtol=1e-12)
    z_test = np.asarray(jax.jit(transform)(jnp.asarray(x_test)))
    np.testing.assert_allclose(z_test, (x_test - mu) / sd, rtol=1e-12, atol=1e-12)
    assert abs(z_test.mean()) > 0.1  # the test split's own statistics were not used


def test_log_scaling_matches_numpy_and_clips_negative_test_values(x64):
    x_train, x_test = _data()
    transform, stats = preprocess.fit_log(jnp.asarray(x_train))
    log_max = np.log1p(x_train.max(0, keepdims=True))
    np.testing.assert_allclose(stats.log_max, log_max, rtol=1e-12)
    np.testing.assert_allclose(transform(jnp.asarray(x_test)), np.log1p(x_test) / log_max,
                               rtol=1e-12)
    out = transform(jnp.asarray(x_train))
    assert float(out.min()) >= 0.0 and float(out.max()) == 1.0
    np.testing.assert_array_equal(transform(-jnp.ones((1, 4), jnp.float64)), np.zeros((1, 4)))


def test_float32_transforms_match_numpy_float64_closely():
    x_train, x_test = _data()
    transform, _ = preprocess.fit_zscore(jnp.asarray(x_train, jnp.float32))
    out = transform(jnp.asarray(x_test, jnp.float32))
    assert out.dtype == jnp.float32
    ref = (x_test - x_train.mean(0)) / x_train.std(0)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)


def test_constant_feature_does_not_divide_by_zero():
    x = jnp.asarray(np.c_[np.full(5, 3.0), np.arange(5.0), np.zeros(5)], jnp.float32)
    for fit, expected in ((preprocess.fit_minmax, 0.0), (preprocess.fit_zscore, 0.0),
                          (preprocess.fit_log, None)):
        transform, _ = fit(x)
        out = np.asarray(transform(x))
        assert np.isfinite(out).all(), fit.__name__
        if expected is not None:
            np.testing.assert_array_equal(out[:, 0], expected)
    np.testing.assert_array_equal(preprocess.fit_log(x)[0](x)[:, 2], 0.0)


def test_per_channel_statistics_of_nhwc_images():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 4, 4, 3)) * np.array([1.0, 2.0, 5.0]) + np.array([0.0, 1.0, -3.0])
    transform, stats = preprocess.fit_zscore(jnp.asarray(x, jnp.float32), axis=(0, 1, 2))
    assert stats.mean.shape == (1, 1, 1, 3)
    np.testing.assert_allclose(stats.mean[0, 0, 0], x.mean((0, 1, 2)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stats.std[0, 0, 0], x.std((0, 1, 2)), rtol=1e-5)


def test_integer_inputs_become_float32():
    transform, stats = preprocess.fit_minmax(jnp.arange(6, dtype=jnp.int32).reshape(3, 2))
    assert stats.min.dtype == jnp.float32
    np.testing.assert_allclose(transform(jnp.asarray([[2, 3]], jnp.int32)), [[0.5, 0.5]])


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match=r"fit_log: x_train must be non-negative.*-1.0"):
        preprocess.fit_log(jnp.asarray([[1.0], [-1.0]]))
    with pytest.raises(ValueError, match=r"fit_minmax: feature_range .*\(1.0, -1.0\)"):
        preprocess.fit_minmax(jnp.ones((2, 2)), feature_range=(1.0, -1.0))
    with pytest.raises(ValueError, match=r"fit_zscore: x_train must be finite, got 1 NaN/inf"):
        preprocess.fit_zscore(jnp.asarray([[1.0], [jnp.nan]]))
    with pytest.raises(ValueError, match=r"fit_zscore: x_train must not be empty"):
        preprocess.fit_zscore(jnp.zeros((0, 3)))
