"""jaxdl.data.augment: per-example, one-key-per-example augmentations."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.data import augment as A

STATS = A.PCAStats(jnp.asarray([0.3, 0.1, 0.01]), jnp.eye(3))

# name -> (augmentation at some strength, the same at zero strength)
REGISTRY = {
    "flip_horizontal": (lambda k, x: A.flip_horizontal(k, x, 0.5),
                        lambda k, x: A.flip_horizontal(k, x, 0.0)),
    "flip_vertical": (lambda k, x: A.flip_vertical(k, x, 0.5),
                      lambda k, x: A.flip_vertical(k, x, 0.0)),
    "shift": (lambda k, x: A.shift(k, x, 2), lambda k, x: A.shift(k, x, 0)),
    "random_crop": (lambda k, x: A.random_crop(k, x, 2), lambda k, x: A.random_crop(k, x, 0)),
    "rotate": (lambda k, x: A.rotate(k, x, 15.0), lambda k, x: A.rotate(k, x, 0.0)),
    "gaussian_noise": (lambda k, x: A.gaussian_noise(k, x, 0.1),
                       lambda k, x: A.gaussian_noise(k, x, 0.0)),
    "color_jitter": (lambda k, x: A.color_jitter(k, x, 0.4, 0.4, 0.4),
                     lambda k, x: A.color_jitter(k, x)),
    "pca_jitter": (lambda k, x: A.pca_jitter(k, x, STATS, 0.1),
                   lambda k, x: A.pca_jitter(k, x, STATS, 0.0)),
}


def _images(key, n=4, h=6, w=5, c=3):
    return jax.random.uniform(key, (n, h, w, c), jnp.float32)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_augmentation_keeps_shape_dtype_and_is_identity_at_zero_strength(key, name):
    f, f0 = REGISTRY[name]
    x = _images(key)
    keys = jax.random.split(jax.random.key(1), len(x))
    y = jax.jit(jax.vmap(f))(keys, x)
    assert y.shape == x.shape and y.dtype == x.dtype
    np.testing.assert_array_equal(jax.jit(jax.vmap(f0))(keys, x), x)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_augmentation_draws_independently_per_example_key(key, name):
    f, _ = REGISTRY[name]
    x = jnp.broadcast_to(_images(key, n=1), (8, 6, 5, 3))
    y = np.asarray(jax.vmap(f)(jax.random.split(jax.random.key(2), 8), x))
    assert len({row.tobytes() for row in y}) > 1
    np.testing.assert_array_equal(f(jax.random.split(jax.random.key(2), 8)[3], x[3]), y[3])


def test_flips_equal_jnp_flip_at_p_one(key):
    x = _images(key, n=1)[0]
    np.testing.assert_array_equal(A.flip_horizontal(key, x, 1.0), jnp.flip(x, 1))
    np.testing.assert_array_equal(A.flip_vertical(key, x, 1.0), jnp.flip(x, 0))
    flipped = jax.vmap(A.flip_horizontal)(jax.random.split(key, 200), jnp.broadcast_to(x, (200,
                                                                                     *x.shape)))
    share = np.mean([np.array_equal(f, np.flip(x, 1)) for f in np.asarray(flipped)])
    assert 0.35 < share < 0.65


def _roll_zero(x, d, axis):
    """NumPy reference: roll by d along axis and zero what wrapped around."""
    y = np.roll(x, d, axis=axis)
    idx = [slice(None)] * x.ndim
    idx[axis] = slice(0, d) if d >= 0 else slice(d, None)
    y[tuple(idx)] = 0
    return y


@pytest.mark.parametrize("dy, dx", [(0, 0), (2, -1), (-3, 4), (6, 0)])
def test_translate_equals_numpy_roll_with_zero_fill(key, dy, dx):
    x = np.asarray(_images(key, n=1)[0])
    ref = _roll_zero(_roll_zero(x, dy, 0), dx, 1)
    np.testing.assert_array_equal(jax.jit(A.translate)(x, dy, dx), ref)


def test_random_shift_is_one_of_the_allowed_zero_filled_rolls(key):
    x = np.asarray(_images(key, n=1)[0])
    m = 2
    refs = [_roll_zero(_roll_zero(x, dy, 0), dx, 1)
            for dy, dx in itertools.product(range(-m, m + 1), repeat=2)]
    hits = set()
    ys = np.asarray(jax.vmap(A.shift, in_axes=(0, None, None))(jax.random.split(key, 40), x, m))
    for i, y in enumerate(ys):
        matches = [j for j, r in enumerate(refs) if np.array_equal(y, r)]
        assert matches, f"shift {i} is not a zero-filled roll within {m} pixels"
        hits.add(matches[0])
    assert len(hits) > 5


def test_shift_signal_is_a_zero_filled_roll_of_the_signal(key):
    x = np.arange(1.0, 11.0, dtype=np.float32)
    refs = [_roll_zero(x, d, 0) for d in range(-3, 4)]
    ys = np.asarray(jax.vmap(A.shift_signal, in_axes=(0, None, None))(
        jax.random.split(key, 10), x, 3))
    assert all(any(np.array_equal(y, r) for r in refs) for y in ys)
    np.testing.assert_array_equal(A.shift_signal(key, x, 0), x)
    assert A.shift_signal(key, jnp.ones((40, 2)), 3).shape == (40, 2)


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect"])
def test_random_crop_is_a_window_of_the_padded_image(key, mode):
    x = np.asarray(_images(key, n=1)[0])
    p = 2
    padded = np.pad(x, ((p, p), (p, p), (0, 0)), mode=mode)
    y = np.asarray(A.random_crop(key, x, p, mode=mode))
    windows = [padded[i:i + 6, j:j + 5] for i in range(2 * p + 1) for j in range(2 * p + 1)]
    assert any(np.array_equal(y, w) for w in windows)


def test_rotate_image_by_90_and_180_equals_rot90(key):
    x = np.asarray(_images(key, n=1, h=5, w=5)[0])
    np.testing.assert_allclose(A.rotate_image(x, 90.0), np.rot90(x, 1, axes=(0, 1)), atol=1e-5)
    np.testing.assert_allclose(A.rotate_image(x, 180.0), np.rot90(x, 2, axes=(0, 1)), atol=1e-5)
    np.testing.assert_allclose(A.rotate_image(x, -90.0), np.rot90(x, -1, axes=(0, 1)), atol=1e-5)


def test_rotate_image_is_bilinear_between_pixels():
    # a horizontal ramp x[i, j] = j rotated by a small angle: interior pixels read the ramp at
    # j' = c + cos(t) (j - c) - sin(t) (i - c), linear in the coordinates, so bilinear is exact
    n, t = 9, np.deg2rad(10.0)
    x = np.tile(np.arange(n, dtype=np.float32), (n, 1))[..., None]
    y = np.asarray(A.rotate_image(x, 10.0))[..., 0]
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    c = (n - 1) / 2
    ref = c + np.cos(t) * (j - c) - np.sin(t) * (i - c)
    inner = (slice(2, -2), slice(2, -2))
    np.testing.assert_allclose(y[inner], ref[inner], atol=1e-4)


def test_gaussian_noise_has_the_requested_stddev(key):
    x = jnp.zeros((64, 64, 3), jnp.float32)
    d = np.asarray(A.gaussian_noise(key, x, 0.2))
    assert abs(d.mean()) < 0.01 and abs(d.std() - 0.2) < 0.01


def test_gaussian_noise_vmaps_over_a_traced_stddev(key):
    x = jnp.zeros((32, 32, 1), jnp.float32)
    y = jax.vmap(A.gaussian_noise, in_axes=(None, None, 0))(key, x, jnp.asarray([0.0, 1.0]))
    np.testing.assert_array_equal(y[0], x)
    assert abs(float(jnp.std(y[1])) - 1.0) < 0.1


def test_color_jitter_closed_forms(key):
    x = _images(key, n=1)[0] + 0.1
    b = np.asarray(A.color_jitter(key, x, brightness=0.5)) / np.asarray(x)
    np.testing.assert_allclose(b, b.flat[0], rtol=1e-5)  # one factor for the whole image
    assert 0.5 <= b.flat[0] <= 1.5
    gray = lambda z: np.asarray(z) @ np.array([0.299, 0.587, 0.114])
    c = A.color_jitter(key, x, contrast=0.5)
    np.testing.assert_allclose(gray(c).mean(), gray(x).mean(), rtol=1e-5)  # mean grey kept
    s = A.color_jitter(key, x, saturation=0.9)
    np.testing.assert_allclose(gray(s), gray(x), rtol=1e-5, atol=1e-6)  # per-pixel grey kept
    assert not np.allclose(s, x)
    one = x[..., :1]
    np.testing.assert_allclose(A.color_jitter(key, one, saturation=0.9), one, rtol=1e-6)


def test_fit_pca_jitter_matches_numpy_covariance_eigendecomposition(key):
    rng = np.random.default_rng(0)
    mix = np.array([[1.0, 0.5, 0.2], [0.0, 0.8, 0.3], [0.0, 0.0, 0.4]])
    x = (rng.normal(size=(10, 4, 4, 3)) @ mix).astype(np.float32)
    stats = A.fit_pca_jitter(x)
    cov = np.cov(x.reshape(-1, 3).astype(np.float64), rowvar=False)
    np.testing.assert_allclose(stats.eigvals, np.linalg.eigvalsh(cov)[::-1], rtol=1e-4)
    v, lam = np.asarray(stats.eigvecs, np.float64), np.asarray(stats.eigvals, np.float64)
    np.testing.assert_allclose(v @ np.diag(lam) @ v.T, cov, rtol=1e-4, atol=1e-5)
    # the colour shift is the same for every pixel, with covariance sigma^2 V diag(lambda^2) V^T
    img = jnp.zeros((2, 2, 3), jnp.float32)
    d = np.asarray(jax.vmap(A.pca_jitter, in_axes=(0, None, None, None))(
        jax.random.split(key, 4000), img, stats, 0.5), np.float64)
    np.testing.assert_array_equal(d[:, 0, 0], d[:, 1, 1])
    ref = 0.25 * v @ np.diag(lam ** 2) @ v.T
    np.testing.assert_allclose(np.cov(d[:, 0, 0], rowvar=False), ref, atol=0.08 * np.abs(ref).max())


def test_errors_name_function_argument_and_value(key):
    batch = jnp.zeros((2, 4, 4, 3))
    with pytest.raises(ValueError, match=r"flip_horizontal: x must be one image.*jax.vmap"):
        A.flip_horizontal(key, batch)
    with pytest.raises(ValueError, match=r"flip_vertical: p must be in \[0.0, 1.0\], got 1.5"):
        A.flip_vertical(key, batch[0], 1.5)
    with pytest.raises(ValueError, match=r"gaussian_noise: stddev .*got -1.0"):
        A.gaussian_noise(key, batch[0], -1.0)
    with pytest.raises(TypeError, match=r"rotate: x must be a float image, got dtype uint8"):
        A.rotate(key, jnp.zeros((4, 4, 1), jnp.uint8))
    with pytest.raises(ValueError, match=r"pca_jitter: stats are for 3 channels, x has 1"):
        A.pca_jitter(key, jnp.zeros((4, 4, 1)), STATS)
    with pytest.raises(ValueError, match=r"random_crop: mode must be .*'wrap'"):
        A.random_crop(key, batch[0], 1, mode="wrap")
