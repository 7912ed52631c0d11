"""Metrics beyond accuracy: top-k accuracy, mean absolute error, macro precision / recall / F1 and
the confusion matrix. Not differentiable; all jit-able.

The metric protocol (what `fit` and `evaluate` take in `metrics=`):

- A metric is a callable `metric(outputs, targets) -> scalar` with a `__name__` (the history
  key: "accuracy", "top_5_accuracy", "f1") that is hashable and equal by value, so it can be a
  static argument of `jax.jit`. `accuracy`, `top_k_accuracy(k)` and `mean_absolute_error` are
  means over the examples: the value over several batches is their mean weighted by batch size.
- `precision`, `recall` and `f1` are not means over the examples. They carry two more
  attributes, so batches combine exactly:
  `metric.counts(outputs, targets) -> (3, classes) int32`, additive over batches (rows: true
  positives, predicted, actual per class), and `metric.from_counts(counts) -> scalar`, with
  `metric(outputs, targets) == metric.from_counts(metric.counts(outputs, targets))`. A trainer
  sums `counts` over the batches and calls `from_counts` once; `is_count_metric(m)` tells the
  two kinds apart.

Classification metrics take `outputs` (batch, ..., classes) scores, logits or probabilities
(the prediction is their argmax; on ties the lowest class wins, as `jnp.argmax`) and `targets`
integer classes of shape outputs.shape[:-1], or one-hot of outputs.shape (as
`jaxdl.losses.accuracy`). The number of classes is static: `outputs.shape[-1]`. Concrete targets
outside [0, classes) raise; under `jit` they count in no class.

Macro averages follow scikit-learn's `average="macro", zero_division=0`: the per-class values
are averaged over the classes that occur in the targets or the predictions; a class that is
never predicted has precision 0, a class absent from the targets has recall 0.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxdl import checks
from jaxdl.losses import accuracy

_KINDS = ("precision", "recall", "f1")


def _indices(labels: jax.Array, classes: int, owner: str, name: str) -> jax.Array:
    """Integer class indices, checked to lie in [0, classes) when concrete."""
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(f"{owner}: {name} must be integer class indices, got dtype "
                        f"{labels.dtype}; convert with {name}.astype(jnp.int32)")
    if checks.is_concrete(labels) and labels.size:
        t = np.asarray(labels)
        if t.min() < 0 or t.max() >= classes:
            raise ValueError(f"{owner}: {name} must be class indices in [0, {classes}), got "
                             f"values in [{t.min()}, {t.max()}]")
    return labels.reshape(-1).astype(jnp.int32)


def _classes(outputs: ArrayLike, targets: ArrayLike, owner: str) -> tuple[jax.Array, jax.Array]:
    """Checked (scores (n, C), labels (n,)): the positions flattened, one-hot targets argmaxed."""
    outputs, targets = jnp.asarray(outputs), jnp.asarray(targets)
    if outputs.ndim < 2 or outputs.shape[-1] < 1:
        raise ValueError(f"{owner}: outputs must be (batch, ..., classes) scores, got shape "
                         f"{outputs.shape}")
    classes = outputs.shape[-1]
    if targets.shape == outputs.shape:
        targets = jnp.argmax(targets, axis=-1)
    elif targets.shape != outputs.shape[:-1]:
        raise ValueError(
            f"{owner}: targets must be integer classes of shape {outputs.shape[:-1]} or one-hot "
            f"of shape {outputs.shape} (the shape of outputs), got shape {targets.shape}")
    return outputs.reshape(-1, classes), _indices(targets, classes, owner, "targets")


def _nonempty(n: int, owner: str) -> None:
    if n == 0:
        raise ValueError(f"{owner}: outputs must hold at least one example (the mean of none is "
                         "NaN), got an empty batch")


@dataclasses.dataclass(frozen=True)
class TopKAccuracy:
    """The fraction of examples whose target is among the `k` highest scores; build it with
    `top_k_accuracy(k)`."""

    k: int
    __name__ = property(lambda self: f"top_{self.k}_accuracy")

    def __call__(self, outputs: ArrayLike, targets: ArrayLike) -> jax.Array:
        scores, labels = _classes(outputs, targets, self.__name__)
        n, classes = scores.shape
        if self.k > classes:
            raise ValueError(f"{self.__name__}: k must be <= the number of classes "
                             f"(outputs.shape[-1] = {classes}), got k={self.k}")
        _nonempty(n, self.__name__)
        mine = jnp.take_along_axis(scores, labels[:, None], axis=-1)  # (n, 1)
        index = jnp.arange(classes)[None, :]
        # rank of the target: classes scored higher, and equal classes with a lower index
        ahead = (scores > mine) | ((scores == mine) & (index < labels[:, None]))
        rank = jnp.sum(ahead.astype(jnp.int32), axis=-1)
        return jnp.mean((rank < self.k).astype(jnp.float32))


def top_k_accuracy(k: int) -> TopKAccuracy:
    """Top-k accuracy: the fraction of examples whose target class is among the k classes with
    the highest scores (ties go to the lower class index, so `top_k_accuracy(1)` equals
    `accuracy`).

    Args:
      k: how many of the highest-scoring classes count as a hit, 1 <= k <= classes.

    Returns:
      a metric `(outputs, targets) -> float32 scalar` named `f"top_{k}_accuracy"`; equal k give
      equal metrics. outputs: (batch, ..., classes) scores; targets: integer classes of shape
      outputs.shape[:-1] or one-hot of outputs.shape.
    """
    return TopKAccuracy(checks.positive_int(k, "k", "top_k_accuracy"))


def mean_absolute_error(outputs: ArrayLike, targets: ArrayLike) -> jax.Array:
    """Mean absolute error `1/(m d) sum |y - a|` over every element, as scikit-learn's.

    Args:
      outputs: (batch, ...) predictions a.
      targets: (batch, ...) targets y, the same shape (nothing broadcasts).

    Returns:
      a float32 scalar (float64 for float64 inputs).
    """
    owner = "mean_absolute_error"
    a, y = jnp.asarray(outputs), jnp.asarray(targets)
    if a.ndim < 1:
        raise ValueError(f"{owner}: outputs must have a batch axis, got shape {a.shape}")
    if y.shape != a.shape:
        raise ValueError(f"{owner}: targets must have the shape of outputs {a.shape}, got "
                         f"{y.shape}")
    _nonempty(a.shape[0], owner)
    floats = [d for d in (a.dtype, y.dtype) if jnp.issubdtype(d, jnp.floating)]
    dtype = max([jnp.dtype(jnp.float32), *floats], key=lambda d: jnp.finfo(d).bits)
    return jnp.mean(jnp.abs(a.astype(dtype) - y.astype(dtype)))


def _bincount(labels: jax.Array, classes: int, weights: jax.Array | None = None) -> jax.Array:
    ones = jnp.ones(labels.shape, jnp.int32) if weights is None else weights.astype(jnp.int32)
    return jax.ops.segment_sum(ones, labels, num_segments=classes)  # out-of-range: dropped


@dataclasses.dataclass(frozen=True)
class CountMetric:
    """A macro-averaged classification metric computed from additive per-class counts:
    `kind` is "precision", "recall" or "f1". Use the module's `precision`, `recall` and `f1`."""

    kind: str
    __name__ = property(lambda self: self.kind)

    def __post_init__(self):
        if self.kind not in _KINDS:
            raise ValueError(f"CountMetric: kind must be one of {_KINDS}, got {self.kind!r}")

    def counts(self, outputs: ArrayLike, targets: ArrayLike) -> jax.Array:
        """Per-class counts, additive over batches.

        Args:
          outputs: (batch, ..., classes) scores.
          targets: integer classes of shape outputs.shape[:-1], or one-hot of outputs.shape.

        Returns:
          (3, classes) int32: true positives, predicted and actual examples of each class.
        """
        scores, labels = _classes(outputs, targets, self.kind)
        classes = scores.shape[-1]
        predicted = jnp.argmax(scores, axis=-1).astype(jnp.int32)
        hits = _bincount(labels, classes, predicted == labels)
        return jnp.stack([hits, _bincount(predicted, classes), _bincount(labels, classes)])

    def from_counts(self, counts: ArrayLike) -> jax.Array:
        """The macro average from summed `counts` (3, classes); 0 when no class occurs.

        Args:
          counts: (3, classes) true positives, predicted and actual counts per class.

        Returns:
          a float32 scalar in [0, 1].
        """
        counts = jnp.asarray(counts)
        if counts.ndim != 2 or counts.shape[0] != 3:
            raise ValueError(f"{self.kind}.from_counts: counts must be (3, classes) as returned "
                             f"by counts(), got shape {counts.shape}")
        tp, predicted, actual = counts.astype(jnp.float32)
        num, den = {"precision": (tp, predicted), "recall": (tp, actual),
                    "f1": (2 * tp, predicted + actual)}[self.kind]
        per_class = jnp.where(den > 0, num / jnp.where(den > 0, den, 1.0), 0.0)
        present = (predicted + actual) > 0
        total = jnp.sum(jnp.where(present, per_class, 0.0))
        return total / jnp.maximum(jnp.sum(present.astype(jnp.float32)), 1.0)

    def __call__(self, outputs: ArrayLike, targets: ArrayLike) -> jax.Array:
        return self.from_counts(self.counts(outputs, targets))


precision = CountMetric("precision")
"""Macro precision: the mean over classes of `TP_c / (TP_c + FP_c)` (0 for a class never
predicted). A `CountMetric`: `precision(outputs, targets)`, `.counts`, `.from_counts`."""

recall = CountMetric("recall")
"""Macro recall: the mean over classes of `TP_c / (TP_c + FN_c)` (0 for a class absent from the
targets). A `CountMetric`: `recall(outputs, targets)`, `.counts`, `.from_counts`."""

f1 = CountMetric("f1")
"""Macro F1: the mean over classes of `2 TP_c / (2 TP_c + FP_c + FN_c)`, the harmonic mean of
each class's precision and recall (scikit-learn's `f1_score(average="macro")`). A `CountMetric`."""


def is_count_metric(metric: object) -> bool:
    """True when `metric` carries `counts` and `from_counts` (combine batches by summing
    counts), False for a mean over the examples (combine by a batch-size-weighted mean)."""
    return callable(getattr(metric, "counts", None)) and callable(
        getattr(metric, "from_counts", None))


def confusion_matrix(outputs: ArrayLike, targets: ArrayLike,
                     num_classes: int | None = None) -> jax.Array:
    """Counts of (true class, predicted class) pairs, as scikit-learn's `confusion_matrix`.

    `cm[i, j]` is the number of examples of true class i predicted as class j: rows are true,
    columns predicted; the diagonal holds the hits.

    Args:
      outputs: (batch, ..., classes) scores (the prediction is their argmax), or integer
        predicted classes of the targets' shape (then `num_classes` is required).
      targets: integer classes of shape outputs.shape[:-1] (or of outputs' shape for predicted
        classes), or one-hot of the scores' shape.
      num_classes: C, static; default (and required to be) outputs.shape[-1] for scores.

    Returns:
      (C, C) int32 counts summing to the number of examples.
    """
    owner = "confusion_matrix"
    outputs, targets = jnp.asarray(outputs), jnp.asarray(targets)
    if jnp.issubdtype(outputs.dtype, jnp.integer) and outputs.shape == targets.shape:
        if num_classes is None:
            raise ValueError(f"{owner}: num_classes must be given (an int >= 1) when outputs "
                             f"are predicted classes (integer, of the targets' shape "
                             f"{targets.shape}), got None")
        c = checks.positive_int(num_classes, "num_classes", owner)
        predicted = _indices(outputs, c, owner, "outputs")
        labels = _indices(targets, c, owner, "targets")
    else:
        scores, labels = _classes(outputs, targets, owner)
        c = scores.shape[-1]
        if num_classes is not None and num_classes != c:
            raise ValueError(f"{owner}: num_classes must equal outputs.shape[-1] = {c} for "
                             f"scores, got {num_classes!r}")
        predicted = jnp.argmax(scores, axis=-1).astype(jnp.int32)
    valid = (predicted >= 0) & (predicted < c) & (labels >= 0) & (labels < c)
    cell = jnp.where(valid, labels * c + predicted, -1)
    return _bincount(cell, c * c).reshape(c, c)


__all__ = [
    "accuracy", "top_k_accuracy", "TopKAccuracy", "mean_absolute_error", "CountMetric",
    "precision", "recall", "f1", "is_count_metric", "confusion_matrix",
]
