"""Data for jaxdl: offline data sets, loaders, `split`, batching for `lax.scan`, input checks,
and the `preprocess` (fitted scaling) and `augment` (per-example random transforms) modules."""

from jaxdl.data import augment, preprocess
from jaxdl.data.batching import batch_indices, check_xy, take
from jaxdl.data.datasets import (
    Pair, digits, load_idx, load_npz, mnist1d, spirals, split, two_curves,
)

__all__ = [
    "digits", "mnist1d", "two_curves", "spirals", "load_npz", "load_idx", "split", "Pair",
    "batch_indices", "take", "check_xy", "preprocess", "augment",
]
