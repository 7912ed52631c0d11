"""Losses, penalties and metrics: `(outputs, targets) -> scalar`.

Axis 0 is the batch. Each loss first computes a per-example value (summed over the other axes,
or per position for `softmax_cross_entropy`), then reduces it: `reduction='mean'` (default,
the 1/m of the fundamentals), `'sum'` or `'none'` (the per-example values). Maths runs in at
least float32 and the result has the inputs' float dtype. Shapes never broadcast: a mismatch is
a ValueError naming the function, the parameter and both shapes.

References: fundamentals 000 (3.2.5 worked backprop example, 3.4.11 cross-entropy, 3.4.12 center
loss) and 001 (3: quadratic cost, cross-entropy, softmax + log-likelihood; 5: L1/L2).
"""

from __future__ import annotations

import functools
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxdl import checks

Reduction = Literal["mean", "sum", "none"]
_REDUCTIONS = ("mean", "sum", "none")
WEIGHT_KEYS = ("w", "v")  # Dense/Conv kernels, WeightNorm's direction


def _float(x: ArrayLike) -> jax.Array:
    x = jnp.asarray(x)
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.float32)


def _work(x: jax.Array) -> jax.Array:
    """x in a dtype of at least float32 precision (bfloat16/float16 are upcast)."""
    return x.astype(jnp.float32) if jnp.finfo(x.dtype).bits < 32 else x


def _check_reduction(reduction: str, owner: str, name: str, shape: tuple[int, ...],
                     positions: tuple[int, ...]) -> None:
    """A known reduction, and something to average for 'mean' (the mean of nothing is NaN)."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{owner}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if reduction == "mean" and int(np.prod(positions)) == 0:
        raise ValueError(f"{owner}: {name} must hold at least one example for reduction='mean' "
                         f"(the mean of none is NaN), got shape {shape}")


def _pair(outputs: ArrayLike, targets: ArrayLike, owner: str, names: tuple[str, str],
          reduction: str):
    outputs = _float(outputs)
    targets = jnp.asarray(targets)
    if outputs.ndim < 1:
        raise ValueError(f"{owner}: {names[0]} must have a batch axis, got shape {outputs.shape}")
    _check_reduction(reduction, owner, names[0], outputs.shape, outputs.shape[:1])
    if targets.shape != outputs.shape:
        raise ValueError(
            f"{owner}: {names[1]} must have the shape of {names[0]} {outputs.shape}, "
            f"got {targets.shape}"
        )
    return _work(outputs), _work(targets.astype(outputs.dtype)), outputs.dtype


def _per_example(x: jax.Array) -> jax.Array:
    """Sum over every axis but the batch axis: (batch, ...) -> (batch,)."""
    return jnp.sum(x, axis=tuple(range(1, x.ndim)))


def _reduce(per_example: jax.Array, reduction: str, owner: str, dtype) -> jax.Array:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{owner}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if reduction == "mean":
        per_example = jnp.mean(per_example)
    elif reduction == "sum":
        per_example = jnp.sum(per_example)
    return per_example.astype(dtype)


def _check_labels(labels: jax.Array, classes: int, owner: str) -> None:
    if checks.is_concrete(labels) and labels.size:
        arr = np.asarray(labels)
        if arr.min() < 0 or arr.max() >= classes:
            raise ValueError(
                f"{owner}: labels must be class indices in [0, {classes}), got values in "
                f"[{arr.min()}, {arr.max()}]"
            )


def mse(outputs: ArrayLike, targets: ArrayLike, *, reduction: Reduction = "mean") -> jax.Array:
    """Quadratic cost `C = 1/(2m) sum_x ||y(x) - a(x)||^2` (the 1/2m convention).

    Per example `1/2 ||y - a||^2` (summed over the non-batch axes); 'mean' divides by the batch
    size m. Note the 1/2: this is half the "mean squared error" of conventions that omit it.

    Args:
      outputs: (batch, ...) network outputs a.
      targets: (batch, ...) targets y, same shape.
      reduction: 'mean' (1/(2m) sum), 'sum' (1/2 sum) or 'none' ((batch,) values).

    Returns:
      a scalar, or (batch,) for 'none'.
    Reference: fundamentals 001, section 3(1) (quadratic cost).
    """
    a, y, dtype = _pair(outputs, targets, "mse", ("outputs", "targets"), reduction)
    return _reduce(_per_example(0.5 * jnp.square(y - a)), reduction, "mse", dtype)


def squared_error(
    outputs: ArrayLike, targets: ArrayLike, *, reduction: Reduction = "sum"
) -> jax.Array:
    """Total squared error `E_total = sum 1/2 (target - output)^2`, summed by default.

    The worked backprop example: outputs (0.75136507, 0.772928465), targets (0.01, 0.99) give
    E_total = 0.298371109. With reduction='mean' this equals `mse`.

    Args:
      outputs: (batch, ...) outputs o.
      targets: (batch, ...) targets t, same shape.
      reduction: 'sum' (default, E_total), 'mean' over the batch, or 'none' ((batch,) values).

    Returns:
      a scalar, or (batch,) for 'none'.
    Reference: fundamentals 000, section 3.2.5.
    """
    o, t, dtype = _pair(outputs, targets, "squared_error", ("outputs", "targets"),
                         reduction)
    return _reduce(_per_example(0.5 * jnp.square(t - o)), reduction, "squared_error", dtype)


def binary_cross_entropy(
    probs: ArrayLike, targets: ArrayLike, *, eps: float = 1e-7, reduction: Reduction = "mean"
) -> jax.Array:
    """Cross-entropy from probabilities `C = -1/m sum_x sum_j [y ln a + (1 - y) ln(1 - a)]`.

    `a` is clipped to [eps, 1 - eps] so that saturated probabilities give a finite loss; prefer
    `binary_cross_entropy_with_logits` when the logits are at hand.

    Args:
      probs: (batch, ...) probabilities a in [0, 1].
      targets: (batch, ...) targets y in [0, 1] (0/1 labels or soft targets), same shape.
      eps: clipping margin, in [0, 0.5).
      reduction: 'mean', 'sum' or 'none' ((batch,) values, summed over the other axes).

    Returns:
      a scalar, or (batch,) for 'none'.
    Reference: fundamentals 001, section 3(2); 000, section 3.4.11.
    """
    checks.in_range(eps, "eps", "binary_cross_entropy", 0.0, 0.5, high_open=True)
    a, y, dtype = _pair(probs, targets, "binary_cross_entropy", ("probs", "targets"),
                        reduction)
    # the margin keeps the gradient -y/a finite in float16 too (|1/a| <= max / 2)
    lo = jnp.maximum(jnp.asarray(eps, a.dtype), 2.0 / float(jnp.finfo(dtype).max))
    a = jnp.clip(a, lo, 1.0 - lo)
    loss = -(y * jnp.log(a) + (1.0 - y) * jnp.log1p(-a))
    return _reduce(_per_example(loss), reduction, "binary_cross_entropy", dtype)


def binary_cross_entropy_with_logits(
    logits: ArrayLike, targets: ArrayLike, *, reduction: Reduction = "mean"
) -> jax.Array:
    """Cross-entropy of `sigmoid(z)`, stable: `max(z, 0) - z t + log1p(exp(-|z|))`.

    Equal to `-[t ln s(z) + (1 - t) ln(1 - s(z))]` but finite for any z; dC/dz = s(z) - t.

    Args:
      logits: (batch, ...) logits z.
      targets: (batch, ...) targets t in [0, 1], same shape.
      reduction: 'mean', 'sum' or 'none' ((batch,) values, summed over the other axes).

    Returns:
      a scalar, or (batch,) for 'none'.
    Reference: fundamentals 001, section 3(2).
    """
    owner = "binary_cross_entropy_with_logits"
    z, t, dtype = _pair(logits, targets, owner, ("logits", "targets"), reduction)
    loss = jnp.maximum(z, 0.0) - z * t + jnp.log1p(jnp.exp(-jnp.abs(z)))
    return _reduce(_per_example(loss), reduction, owner, dtype)


def softmax_cross_entropy(
    logits: ArrayLike, labels: ArrayLike, *, reduction: Reduction = "mean"
) -> jax.Array:
    """Softmax + log-likelihood `C = -sum_j y_j ln softmax(z)_j` (= `-ln a_y` for a class y).

    Computed with `log_softmax`, so finite for any logits; dC/dz = softmax(z) - y.

    Args:
      logits: (batch, ..., classes) logits z.
      labels: integer class indices of shape logits.shape[:-1], or one-hot / probabilities of
        logits.shape.
      reduction: 'mean' over every position of logits.shape[:-1], 'sum', or 'none'
        (logits.shape[:-1]).

    Returns:
      a scalar, or logits.shape[:-1] for 'none'.
    Reference: fundamentals 001, section 3(3); 000, sections 3.4.9-3.4.11.
    """
    owner = "softmax_cross_entropy"
    z = _float(logits)
    labels = jnp.asarray(labels)
    if z.ndim < 1:
        raise ValueError(f"{owner}: logits must have a class axis, got shape {z.shape}")
    _check_reduction(reduction, owner, "logits", z.shape, z.shape[:-1])
    dtype, classes = z.dtype, z.shape[-1]
    logp = jax.nn.log_softmax(_work(z), axis=-1)
    if labels.shape == z.shape:
        loss = -jnp.sum(labels.astype(logp.dtype) * logp, axis=-1)
    elif labels.shape == z.shape[:-1] and jnp.issubdtype(labels.dtype, jnp.integer):
        _check_labels(labels, classes, owner)
        picked = jnp.take_along_axis(logp, labels[..., None], axis=-1)[..., 0]
        valid = (labels >= 0) & (labels < classes)
        loss = jnp.where(valid, -picked, jnp.full_like(picked, jnp.nan))
    else:
        raise ValueError(
            f"{owner}: labels must be integer class indices of shape {z.shape[:-1]} or "
            f"one-hot/probabilities of shape {z.shape} (the shape of logits), got labels of "
            f"shape {labels.shape} and dtype {labels.dtype}"
        )
    return _reduce(loss, reduction, owner, dtype)


def _center_args(features, labels, centers, owner):
    x, c = _float(features), _float(centers)
    labels = jnp.asarray(labels)
    if x.ndim != 2 or c.ndim != 2 or c.shape[1] != x.shape[1]:
        raise ValueError(
            f"{owner}: features must be (batch, d) and centers (classes, d), got features "
            f"{x.shape} and centers {c.shape}"
        )
    if labels.shape != x.shape[:1] or not jnp.issubdtype(labels.dtype, jnp.integer):
        raise ValueError(
            f"{owner}: labels must be integer class indices of shape {x.shape[:1]}, got shape "
            f"{labels.shape} and dtype {labels.dtype}"
        )
    if c.dtype != x.dtype:
        raise TypeError(f"{owner}: centers dtype {c.dtype} must equal features dtype {x.dtype}")
    _check_labels(labels, c.shape[0], owner)
    return x, labels, c


def center_loss(
    features: ArrayLike, labels: ArrayLike, centers: ArrayLike, *, reduction: Reduction = "mean"
) -> jax.Array:
    """Center loss `L_C = 1/2 sum_i ||x_i - c_{y_i}||^2` (averaged over the batch by default).

    The centers are held constant (`stop_gradient`): dL_C/dx_i = x_i - c_{y_i} (per example) and
    the centers receive no gradient; move them with `update_centers` after each step, as in the
    paper. reduction='sum' gives the paper's `1/2 sum_i`.

    Args:
      features: (batch, d) deep features x_i (before the last dense layer).
      labels: (batch,) integer classes y_i in [0, classes).
      centers: (classes, d) class centers c_j.
      reduction: 'mean', 'sum' or 'none' ((batch,) values).

    Returns:
      a scalar, or (batch,) for 'none'.
    Reference: Wen et al. 2016, "A Discriminative Feature Learning Approach for Deep Face
    Recognition"; fundamentals 000, section 3.4.12.
    """
    x, labels, c = _center_args(features, labels, centers, "center_loss")
    _check_reduction(reduction, "center_loss", "features", x.shape, x.shape[:1])
    c_y = jnp.take(jax.lax.stop_gradient(c), labels, axis=0)
    per = 0.5 * jnp.sum(jnp.square(_work(x) - _work(c_y)), axis=-1)
    return _reduce(per, reduction, "center_loss", x.dtype)


def update_centers(
    centers: ArrayLike, features: ArrayLike, labels: ArrayLike, alpha: ArrayLike = 0.5
) -> jax.Array:
    """One center update `c_j <- c_j - alpha * delta_c_j`.

    `delta_c_j = sum_i [y_i = j] (c_j - x_i) / (1 + sum_i [y_i = j])`; classes absent from the
    batch do not move.

    Args:
      centers: (classes, d) current centers.
      features: (batch, d) features x_i.
      labels: (batch,) integer classes y_i.
      alpha: center learning rate in [0, 1].

    Returns:
      (classes, d) new centers, in centers' dtype.
    Reference: Wen et al. 2016, eq. 4 and Algorithm 1; fundamentals 000, section 3.4.12.
    """
    checks.in_range(alpha, "alpha", "update_centers", 0.0, 1.0)
    x, labels, c = _center_args(features, labels, centers, "update_centers")
    k = c.shape[0]
    xw, cw = _work(x), _work(c)
    sums = jax.ops.segment_sum(xw, labels, num_segments=k)  # (classes, d)
    counts = jax.ops.segment_sum(jnp.ones(labels.shape, cw.dtype), labels, num_segments=k)
    delta = (counts[:, None] * cw - sums) / (1.0 + counts[:, None])
    alpha = jnp.asarray(alpha).astype(cw.dtype)
    return (cw - alpha * delta).astype(c.dtype)


def _weights(params, weights_only: bool) -> list[jax.Array]:
    leaves = jax.tree_util.tree_leaves_with_path(params)
    if not weights_only:
        return [leaf for _, leaf in leaves]
    return [
        leaf for path, leaf in leaves
        if path and isinstance(path[-1], jax.tree_util.DictKey) and path[-1].key in WEIGHT_KEYS
    ]


def _wider(a, b):
    return a if jnp.finfo(a).bits >= jnp.finfo(b).bits else b


def _penalty(params, lam, n, weights_only, owner, term, half):
    checks.in_range(lam, "lam", owner, 0.0)
    checks.in_range(n, "n", owner, 1.0)
    leaves = [_float(w) for w in _weights(params, weights_only)]
    dtype = functools.reduce(_wider, [w.dtype for w in leaves], jnp.dtype(jnp.float32))
    total = jnp.zeros((), dtype)
    for w in leaves:
        total = total + jnp.sum(term(w.astype(dtype)))
    scale = jnp.asarray(lam).astype(dtype) / jnp.asarray(n).astype(dtype)
    return (0.5 * scale if half else scale) * total


def l1_penalty(params, lam: ArrayLike, n: ArrayLike, *, weights_only: bool = True) -> jax.Array:
    """L1 regularization `lam/n * sum_w |w|`, added to the cost.

    Args:
      params: a params pytree; with weights_only, only leaves under a dict key "w" (Dense/Conv
        kernels) or "v" (WeightNorm direction) count, not biases or norm scales.
      lam: regularization strength lambda >= 0.
      n: number of training examples, >= 1.
      weights_only: False to penalize every leaf.

    Returns:
      a scalar (0 when no leaf counts).
    Reference: fundamentals 001, section 5(3).
    """
    return _penalty(params, lam, n, weights_only, "l1_penalty", jnp.abs, half=False)


def l2_penalty(params, lam: ArrayLike, n: ArrayLike, *, weights_only: bool = True) -> jax.Array:
    """L2 regularization (weight decay) `lam/(2n) * sum_w w^2`, added to the cost.

    Args:
      params: a params pytree; with weights_only, only leaves under a dict key "w" (Dense/Conv
        kernels) or "v" (WeightNorm direction) count, not biases or norm scales.
      lam: regularization strength lambda >= 0.
      n: number of training examples, >= 1.
      weights_only: False to penalize every leaf.

    Returns:
      a scalar (0 when no leaf counts).
    Reference: fundamentals 001, section 5(2).
    """
    return _penalty(params, lam, n, weights_only, "l2_penalty", jnp.square, half=True)


def accuracy(outputs: ArrayLike, labels: ArrayLike) -> jax.Array:
    """Fraction of examples whose `argmax(outputs, -1)` equals the label.

    Args:
      outputs: (batch, ..., classes) scores, logits or probabilities.
      labels: integer classes of shape outputs.shape[:-1], or one-hot of outputs.shape (argmax).

    Returns:
      a float32 scalar in [0, 1].
    """
    outputs, labels = jnp.asarray(outputs), jnp.asarray(labels)
    if labels.shape == outputs.shape and outputs.ndim >= 1:
        labels = jnp.argmax(labels, axis=-1)
    elif outputs.ndim < 1 or labels.shape != outputs.shape[:-1]:
        raise ValueError(
            f"accuracy: labels must be integer classes of shape {outputs.shape[:-1]} or one-hot "
            f"of shape {outputs.shape} (the shape of outputs), got labels of shape {labels.shape}"
        )
    hits = jnp.argmax(outputs, axis=-1).astype(jnp.int32) == labels.astype(jnp.int32)
    return jnp.mean(hits.astype(jnp.float32))


__all__ = [
    "Reduction", "WEIGHT_KEYS", "mse", "squared_error", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "softmax_cross_entropy", "center_loss",
    "update_centers", "l1_penalty", "l2_penalty", "accuracy",
]
