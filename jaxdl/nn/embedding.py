"""Embedding: integer ids to learned vectors, a lookup table (Bengio et al. 2003).

Row `i` of the table is the vector of id `i`: looking up `ids` is `one_hot(ids) @ w` without the
matmul, and its gradient adds each upstream gradient into the row of its id.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from jaxdl import checks
from jaxdl.core import Layer
from jaxdl.initializers import Initializer, normal
from jaxdl.spec import by_value


def _check_ids(ids: np.ndarray, v: int) -> None:
    """Concrete ids must lie in [0, v); the error names the first offending id and its index."""
    bad = (ids < 0) | (ids >= v)
    if np.any(bad):
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        hint = (f", or build Embedding with num_embeddings > {ids.max()}" if ids.max() >= v
                else "")
        raise ValueError(
            f"Embedding: ids must be in [0, num_embeddings) = [0, {v}), got {ids[first]} at "
            f"index {first} ({int(bad.sum())} out of range; min {ids.min()}, max {ids.max()}). "
            f"Map unknown or padding tokens to a reserved id{hint}")


@by_value
def Embedding(num_embeddings: int, features: int, *, w_init: Initializer | None = None) -> Layer:
    """A lookup table of learned vectors: `y[b, ..., :] = w[ids[b, ...], :]`.

    Args:
      num_embeddings: V, the number of ids (vocabulary size), >= 1; the ids are 0 .. V - 1.
      features: D, the length of each vector, >= 1.
      w_init: table initializer, default `normal(1.0)` (N(0, 1), as PyTorch's `nn.Embedding`).
    Params `{"w": (V, D)}`. ids: (batch, ...) of an integer dtype -> y: (batch, ..., D) in w's
    dtype; `init` takes the per-example shape of the ids, e.g. (time,).

    Out-of-range ids (< 0 or >= V; a negative id never wraps around): concrete ids are checked,
    and a ValueError names the first offending id and its index. Under `jit` the ids are traced
    and cannot be checked: each out-of-range id then gives a row of NaN (not a clamped or
    wrapped row), so the loss turns NaN instead of training silently on the wrong vector.
    Float ids are a TypeError (a float is not an id: cast with `ids.astype(jnp.int32)`).
    """
    v = checks.positive_int(num_embeddings, "num_embeddings", "Embedding")
    d = checks.positive_int(features, "features", "Embedding")
    w_init = normal(1.0) if w_init is None else w_init

    def init(key, input_shape):
        shape = checks.positive_shape(input_shape, "Embedding")
        return {"w": w_init(key, (v, d), jnp.float32)}, {}, (*shape, d)

    def apply(params, state, x, *, key=None, train=False):
        dtype = getattr(x, "dtype", None)
        if dtype is None or not jnp.issubdtype(dtype, jnp.integer):
            raise TypeError(f"Embedding: ids must be an integer array, got "
                            f"{'dtype ' + str(dtype) if dtype is not None else repr(x)}; cast "
                            "with ids.astype(jnp.int32)")
        if x.ndim < 1:
            raise ValueError(f"Embedding: ids must have a batch axis, got shape {x.shape}")
        if checks.is_concrete(x):
            _check_ids(np.asarray(x), v)
        w = params["w"]
        inside = (x >= 0) & (x < v)
        y = jnp.take(w, x, axis=0, mode="clip")  # negative ids clip to 0: no wrap-around
        return jnp.where(inside[..., None], y, jnp.nan), state

    return Layer(init, apply, "embedding")


__all__ = ["Embedding"]
