"""Make JAX strict for every test (STYLE rule 17).

- rank promotion raises, so a missing batch axis is never silently broadcast;
- dtype promotion is "strict", so jaxdl never mixes dtypes implicitly (optax does: wrap optax
  reference calls in the `standard_promotion` context below);
- 4 CPU devices for the sharding tests (set before JAX is imported);
- warnings are errors (pyproject's filterwarnings).
"""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
os.environ.setdefault("MPLBACKEND", "Agg")

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")


def standard_promotion():
    """Context for calling third-party references (optax) that rely on implicit promotion."""
    return jax.numpy_dtype_promotion("standard")


@pytest.fixture
def key():
    return jax.random.key(0)


@pytest.fixture
def x64():
    """Run the test body with 64-bit types enabled."""
    with jax.enable_x64(True):
        yield
