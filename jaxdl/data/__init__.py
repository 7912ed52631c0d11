"""Data for jaxdl: offline data sets, loaders, `split`, batching for `lax.scan`, input checks,
the `preprocess` (fitted scaling) and `augment` (per-example random transforms) modules, and
`streaming.ArrayStream` (batches of arrays or `.npy` files larger than memory)."""

from jaxdl.data import augment, preprocess
from jaxdl.data.batching import batch_indices, check_xy, take
from jaxdl.data.streaming import ArrayStream
from jaxdl.data.datasets import (
    Pair, digits, load_idx, load_npz, mnist1d, spirals, split, two_curves,
)

__all__ = [
    "digits", "mnist1d", "two_curves", "spirals", "load_npz", "load_idx", "split", "Pair",
    "batch_indices", "take", "check_xy", "preprocess", "augment", "ArrayStream",
]
