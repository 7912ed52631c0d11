"""Tree comparison shared by the tests (tests/ is on pytest's pythonpath, see pyproject.toml)."""

import jax
import numpy as np


def assert_trees_equal(a, b) -> None:
    """Same structure, dtypes, shapes and values, bit for bit (PRNG keys by their key data)."""
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        if jax.dtypes.issubdtype(u.dtype, jax.dtypes.prng_key):
            u, v = jax.random.key_data(u), jax.random.key_data(v)
        assert u.dtype == v.dtype and u.shape == v.shape
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))
