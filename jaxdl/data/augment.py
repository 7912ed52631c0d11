"""Data augmentation: pure functions of ONE example and ONE key (fundamentals 000, 3.13).

Each function takes `(key, x, strength...)` with `x` a single image `(H, W, C)` (or a signal for
`shift_signal` and `gaussian_noise`), keeps its shape and dtype, and is the identity at zero
strength. A batch draws one key per example:

    keys = jax.random.split(key, len(images))
    images = jax.vmap(lambda k, x: flip_horizontal(k, x, p=0.5))(keys, images)

Strengths may be traced (vmap a sweep over them); they are range-checked only when concrete.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.scipy.ndimage import map_coordinates
from jax.typing import ArrayLike

from jaxdl import checks


def _image(x: jax.Array, owner: str, floating: bool = False) -> jax.Array:
    x = jnp.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"{owner}: x must be one image (H, W, C), got shape {x.shape}; for a "
                         f"batch use jax.vmap({owner})(keys, images) with one key per example")
    if floating and not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{owner}: x must be a float image, got dtype {x.dtype}; "
                        "convert with x.astype(jnp.float32)")
    return x


def _int_shift(value: ArrayLike, owner: str) -> ArrayLike:
    """A shift bound: an integer dtype (static, checked even when traced), >= 0 (checked when
    concrete)."""
    dtype = value.dtype if hasattr(value, "dtype") else np.asarray(value).dtype
    if not np.issubdtype(dtype, np.integer):
        raise TypeError(f"{owner}: max_shift must be an int number of pixels, got {value!r}")
    return checks.in_range(value, "max_shift", owner, 0)


def _as(value: ArrayLike, x: jax.Array) -> jax.Array:
    return jnp.asarray(value).astype(x.dtype)


def _flip(key: jax.Array, x: jax.Array, p: ArrayLike, axis: int, owner: str) -> jax.Array:
    x = _image(x, owner)
    checks.in_range(p, "p", owner, 0.0, 1.0)
    return jnp.where(jax.random.bernoulli(key, p), jnp.flip(x, axis), x)


def flip_horizontal(key: jax.Array, x: jax.Array, p: ArrayLike = 0.5) -> jax.Array:
    """Mirror left-right (x[:, ::-1]) with probability p in [0, 1]. x: (H, W, C)."""
    return _flip(key, x, p, 1, "flip_horizontal")


def flip_vertical(key: jax.Array, x: jax.Array, p: ArrayLike = 0.5) -> jax.Array:
    """Mirror top-bottom (x[::-1]) with probability p in [0, 1]. x: (H, W, C)."""
    return _flip(key, x, p, 0, "flip_vertical")


def _zero_outside(x: jax.Array, d: ArrayLike, axis: int) -> jax.Array:
    n = x.shape[axis]
    i = jnp.arange(n) - d
    valid = ((i >= 0) & (i < n)).reshape((n,) + (1,) * (x.ndim - 1 - axis))
    valid = valid.reshape((1,) * axis + valid.shape)
    return jnp.where(valid, x, jnp.zeros_like(x))


def translate(x: jax.Array, dy: ArrayLike, dx: ArrayLike) -> jax.Array:
    """Shift an image by integer (dy, dx) pixels (down, right), filling with zeros:
    y[i, j] = x[i - dy, j - dx] where that index exists, else 0. dy, dx may be traced.
    x: (H, W, C) -> (H, W, C)."""
    x = _image(x, "translate")
    y = jnp.roll(x, (dy, dx), axis=(0, 1))
    return _zero_outside(_zero_outside(y, dy, 0), dx, 1)


def shift(key: jax.Array, x: jax.Array, max_shift: ArrayLike = 2) -> jax.Array:
    """Random translation: dy, dx ~ U{-max_shift, ..., max_shift} independently, zero fill.
    x: (H, W, C)."""
    _int_shift(max_shift, "shift")
    d = jax.random.randint(key, (2,), -max_shift, max_shift + 1)
    return translate(_image(x, "shift"), d[0], d[1])


def shift_signal(key: jax.Array, x: jax.Array, max_shift: ArrayLike = 3) -> jax.Array:
    """Random shift of a 1-D signal (MNIST-1D) along its first axis by d ~ U{-max_shift, ...,
    max_shift}, zero fill: y[t] = x[t - d]. x: (L,) or (L, C)."""
    x = jnp.asarray(x)
    if x.ndim not in (1, 2):
        raise ValueError(f"shift_signal: x must be one signal (L,) or (L, C), got shape {x.shape}")
    _int_shift(max_shift, "shift_signal")
    d = jax.random.randint(key, (), -max_shift, max_shift + 1)
    return _zero_outside(jnp.roll(x, d, axis=0), d, 0)


def random_crop(key: jax.Array, x: jax.Array, padding: int = 4, *, mode: str = "constant"
                ) -> jax.Array:
    """Pad H and W by `padding` pixels (mode "constant" = zeros, "edge" or "reflect") and crop a
    random (H, W) window (offsets ~ U{0..2 padding}), as for CIFAR. `padding` is static.
    x: (H, W, C)."""
    x = _image(x, "random_crop")
    if isinstance(padding, bool) or not isinstance(padding, (int, np.integer)):
        raise TypeError(f"random_crop: padding must be an int number of pixels, got {padding!r}")
    padding = int(padding)
    if padding < 0:
        raise ValueError(f"random_crop: padding must be >= 0, got {padding}")
    if mode not in ("constant", "edge", "reflect"):
        raise ValueError(f"random_crop: mode must be 'constant', 'edge' or 'reflect', got {mode!r}")
    padded = jnp.pad(x, ((padding, padding), (padding, padding), (0, 0)), mode=mode)
    o = jax.random.randint(key, (2,), 0, 2 * padding + 1)
    return lax.dynamic_slice(padded, (o[0], o[1], 0), x.shape)


def rotate_image(x: jax.Array, degrees: ArrayLike) -> jax.Array:
    """Rotate counter-clockwise (as displayed, row 0 on top) about the image centre by `degrees`,
    bilinear interpolation, zeros outside. With c = ((H - 1) / 2, (W - 1) / 2), output pixel (i, j)
    reads the input at i' = c_i + sin(t) (j - c_j) + cos(t) (i - c_i),
    j' = c_j + cos(t) (j - c_j) - sin(t) (i - c_i). 90 degrees equals np.rot90. x: (H, W, C)."""
    x = _image(x, "rotate_image", floating=True)
    h, w, _ = x.shape
    t = jnp.deg2rad(_as(degrees, x))
    i, j = jnp.meshgrid(jnp.arange(h, dtype=x.dtype), jnp.arange(w, dtype=x.dtype), indexing="ij")
    ci, cj = (h - 1) / 2, (w - 1) / 2
    src_i = ci + jnp.sin(t) * (j - cj) + jnp.cos(t) * (i - ci)
    src_j = cj + jnp.cos(t) * (j - cj) - jnp.sin(t) * (i - ci)
    sample = lambda ch: map_coordinates(ch, [src_i, src_j], order=1, mode="constant", cval=0.0)
    return jax.vmap(sample, in_axes=2, out_axes=2)(x)


def rotate(key: jax.Array, x: jax.Array, max_degrees: ArrayLike = 15.0) -> jax.Array:
    """Small random rotation by an angle ~ U[-max_degrees, max_degrees] (see `rotate_image`).
    x: (H, W, C) float."""
    checks.in_range(max_degrees, "max_degrees", "rotate", 0.0, 180.0)
    x = _image(x, "rotate", floating=True)
    m = _as(max_degrees, x)
    return rotate_image(x, jax.random.uniform(key, (), x.dtype, -m, m))


def gaussian_noise(key: jax.Array, x: jax.Array, stddev: ArrayLike = 0.1) -> jax.Array:
    """Additive noise x + stddev * N(0, 1), elementwise. x: any shape, float."""
    checks.in_range(stddev, "stddev", "gaussian_noise", 0.0)
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"gaussian_noise: x must be float, got dtype {x.dtype}")
    return x + _as(stddev, x) * jax.random.normal(key, x.shape, x.dtype)


def _factor(key: jax.Array, strength: ArrayLike, x: jax.Array) -> jax.Array:
    """A factor ~ U[max(0, 1 - s), 1 + s]; exactly 1 when s = 0."""
    u = jax.random.uniform(key, (), x.dtype, -1.0, 1.0)
    return jnp.maximum(1.0 + _as(strength, x) * u, 0.0)


def _gray(x: jax.Array) -> jax.Array:
    if x.shape[-1] == 3:
        return jnp.tensordot(x, jnp.asarray([0.299, 0.587, 0.114], x.dtype), 1)[..., None]
    return jnp.mean(x, axis=-1, keepdims=True)


def color_jitter(key: jax.Array, x: jax.Array, brightness: ArrayLike = 0.0,
                 contrast: ArrayLike = 0.0, saturation: ArrayLike = 0.0) -> jax.Array:
    """Random brightness, contrast and saturation, in that order (torchvision's factors, without
    clipping). Each factor f ~ U[max(0, 1 - s), 1 + s]:
    brightness x f; contrast x f + m (1 - f), m the mean grey level of the image;
    saturation x f + g (1 - f), g the per-pixel grey (0.299 R + 0.587 G + 0.114 B for 3 channels,
    else the channel mean; a no-op for 1 channel). x: (H, W, C) float."""
    x = _image(x, "color_jitter", floating=True)
    for name, s in (("brightness", brightness), ("contrast", contrast),
                    ("saturation", saturation)):
        checks.in_range(s, name, "color_jitter", 0.0)
    kb, kc, ks = jax.random.split(key, 3)
    x = x * _factor(kb, brightness, x)
    f = _factor(kc, contrast, x)
    x = x * f + jnp.broadcast_to(jnp.mean(_gray(x)), x.shape) * (1.0 - f)
    f = _factor(ks, saturation, x)
    return x * f + jnp.broadcast_to(_gray(x), x.shape) * (1.0 - f)


class PCAStats(NamedTuple):
    eigvals: jax.Array  # (C,) variances along the principal colour axes, descending
    eigvecs: jax.Array  # (C, C), column k the k-th principal colour axis


def fit_pca_jitter(x_train: jax.Array) -> PCAStats:
    """Principal components of the pixel colours of the training set (Krizhevsky et al. 2012):
    the eigen-decomposition of the (C, C) covariance (ddof = 1) of all n H W pixel vectors.
    x_train: (n, H, W, C) float."""
    x_train = jnp.asarray(x_train)
    if x_train.ndim != 4 or x_train.shape[0] * x_train.shape[1] * x_train.shape[2] < 2:
        raise ValueError(f"fit_pca_jitter: x_train must be images (n, H, W, C) with at least 2 "
                         f"pixels, got shape {x_train.shape}")
    p = x_train.reshape(-1, x_train.shape[-1])
    p = p - jnp.mean(p, axis=0, keepdims=True)
    cov = p.T @ p / (p.shape[0] - 1)
    vals, vecs = jnp.linalg.eigh(cov)
    return PCAStats(jnp.maximum(vals[::-1], 0.0), vecs[:, ::-1])


def pca_jitter(key: jax.Array, x: jax.Array, stats: PCAStats, alpha_std: ArrayLike = 0.1
               ) -> jax.Array:
    """AlexNet colour augmentation: add the same colour shift to every pixel,
    x + V (alpha * lambda), alpha ~ N(0, alpha_std^2) per component, (lambda, V) from
    `fit_pca_jitter`. x: (H, W, C) float with C matching the stats."""
    x = _image(x, "pca_jitter", floating=True)
    checks.in_range(alpha_std, "alpha_std", "pca_jitter", 0.0)
    c = x.shape[-1]
    if stats.eigvals.shape != (c,):
        raise ValueError(f"pca_jitter: stats are for {stats.eigvals.shape[0]} channels, "
                         f"x has {c} (shape {x.shape})")
    alpha = _as(alpha_std, x) * jax.random.normal(key, (c,), x.dtype)
    delta = _as(stats.eigvecs, x) @ (alpha * _as(stats.eigvals, x))
    return x + jnp.broadcast_to(delta[None, None, :], x.shape)


__all__ = ["flip_horizontal", "flip_vertical", "translate", "shift", "shift_signal",
           "random_crop", "rotate_image", "rotate", "gaussian_noise", "color_jitter",
           "PCAStats", "fit_pca_jitter", "pca_jitter"]
