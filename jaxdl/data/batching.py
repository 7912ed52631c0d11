"""Batching for `lax.scan` and input checks for `fit`.

An epoch is one permutation of the n examples reshaped to `[steps, batch_size]` index rows, so the
whole epoch can run as one `lax.scan` over `take(data, idx)` (fundamentals 000, 3.5: mini-batch).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import checks


def batch_indices(
    key: jax.Array, n: int, batch_size: int, *, drop_last: bool = True
) -> tuple[jax.Array, jax.Array]:
    """One epoch of shuffled batch indices.

    perm = permutation(key, n). With `drop_last`, steps = n // batch_size and the last
    n mod batch_size examples of `perm` are left out of this epoch (a different set each epoch);
    `mask` is all True. Without it, steps = ceil(n / batch_size) and `perm` is padded to
    steps * batch_size by wrapping around to its own start (so every index is valid and each of
    the n examples appears exactly once unmasked); `mask` is False on the padding. Average a
    loss over `mask` (sum(mask * loss) / sum(mask)) so padded rows count zero. `n` and
    `batch_size` are static; `key` may be traced (jit/vmap over seeds).

    Args:
      key: PRNG key.
      n: number of examples.
      batch_size: 1 <= batch_size <= n.

    Returns:
      (idx, mask): idx (steps, batch_size) int32 in [0, n); mask (steps, batch_size) bool.
    """
    n = checks.positive_int(n, "n", "batch_indices")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise TypeError(f"batch_indices: batch_size must be an int, got {batch_size!r}")
    if not 1 <= batch_size <= n:
        raise ValueError(f"batch_indices: batch_size must be in [1, n] with n = {n} examples, "
                         f"got batch_size={batch_size}")
    batch_size = int(batch_size)
    perm = jax.random.permutation(key, n).astype(jnp.int32)
    if drop_last:
        steps = n // batch_size
        idx = perm[: steps * batch_size].reshape(steps, batch_size)
        return idx, jnp.ones((steps, batch_size), bool)
    steps = -(-n // batch_size)
    pad = steps * batch_size - n
    idx = jnp.concatenate([perm, perm[:pad]]).reshape(steps, batch_size)
    mask = (jnp.arange(steps * batch_size) < n).reshape(steps, batch_size)
    return idx, mask


def take(data: Any, idx: jax.Array) -> Any:
    """Gather every leaf of a pytree of arrays (leading axis n) at `idx`:
    `(x, y)` with x (n, ...) and idx (steps, batch) -> x (steps, batch, ...), ready for scan."""
    return jax.tree.map(lambda a: jnp.asarray(a)[idx], data)


def check_xy(
    x: Any, y: Any, owner: str, *, classes: int | None = None, name: str = "train"
) -> None:
    """Check one `(x, y)` pair before training; skipped for traced arrays.

    Raises ValueError naming `owner`, the pair `name` and the values for: x and y of different
    lengths, no examples, NaN or inf in x or in float y (with their counts), integer labels
    outside [0, classes), one-hot y whose last axis is not `classes`.

    Args:
      x: (n, ...) inputs, or a tuple of such arrays (a model with several inputs).
      y: (n,) integer labels or (n, ...) float targets.
      owner: the caller named in errors ("fit").
      classes: number of classes, if known.
      name: which pair this is ("train", "val").
    """
    if isinstance(y, (tuple, list, dict)):
        raise TypeError(f"{owner}: {name} y must be one array, got a {type(y).__name__} of "
                        f"{len(y)}")
    if isinstance(x, (list, dict)):
        raise TypeError(f"{owner}: {name} x must be an array, or a tuple of arrays for a model "
                        f"with several inputs, got a {type(x).__name__} of {len(x)}")
    if isinstance(x, tuple):  # several inputs: each checked, all with the same examples
        if not x:
            raise ValueError(f"{owner}: {name} x is an empty tuple; pass an array, or one "
                             "array per model input")
        for i, xi in enumerate(x):
            if isinstance(xi, (tuple, list, dict)):
                raise TypeError(f"{owner}: {name} x[{i}] must be an array, got a "
                                f"{type(xi).__name__}; nested inputs are not supported")
            check_xy(xi, y, owner, classes=classes, name=f"{name} (input {i})")
        return
    if not (checks.is_concrete(x) and checks.is_concrete(y)):
        return
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError(f"{owner}: {name} x and y need a leading example axis, got shapes "
                         f"{x.shape} and {y.shape}")
    if len(x) != len(y):
        raise ValueError(f"{owner}: {name} x and y must have the same number of examples, got "
                         f"x with {len(x)} ({x.shape}) and y with {len(y)} ({y.shape})")
    if len(x) == 0:
        raise ValueError(f"{owner}: {name} data is empty (0 examples), got x of shape {x.shape}")
    for label, a in (("x", x), ("y", y)):
        if jnp.issubdtype(a.dtype, jnp.inexact):  # also bfloat16
            nan, inf = int(np.isnan(a).sum()), int(np.isinf(a).sum())
            if nan or inf:
                raise ValueError(f"{owner}: {name} {label} must be finite, got {nan} NaN and {inf} "
                                 f"inf values of {a.size}; clean or impute them before training")
    if classes is None:
        return
    if np.issubdtype(y.dtype, np.integer):
        bad = (y < 0) | (y >= classes)
        if bad.any():
            raise ValueError(f"{owner}: {name} labels y must be in [0, {classes}), got "
                             f"{int(bad.sum())} outside (min {y.min()}, max {y.max()})")
    elif y.ndim >= 2 and y.shape[-1] != classes:
        raise ValueError(f"{owner}: {name} one-hot y must have {classes} classes on its last axis, "
                         f"got shape {y.shape}")


def num_examples(x: Any) -> int:
    """The number of examples of `x`: an array, or a tuple of arrays (several inputs)."""
    return int(np.shape(jax.tree.leaves(x)[0])[0])


def example_shape(x: Any) -> Any:
    """The per-example shape of `x` (no batch axis), a tuple of such shapes for a tuple `x`:
    the `input_shape` a layer's init takes."""
    if isinstance(x, tuple):
        return tuple(tuple(np.shape(a)[1:]) for a in x)
    return tuple(np.shape(x)[1:])


__all__ = ["batch_indices", "take", "check_xy", "num_examples", "example_shape"]
