"""Every jaxdl optimizer against its optax namesake in float64 (x64): rel <= 1e-12 after 100 steps.

Same cases and harness as test_optim_vs_optax.py (float32); here problem (a) gets the schedule and
(b) the constant learning rate, the other way round from the float32 run.
"""

import jax.numpy as jnp
import pytest
from test_optim_vs_optax import CASES, _compare


@pytest.mark.parametrize("name", sorted(CASES))
def test_optimizer_matches_optax_for_100_steps_float64(name, x64):
    _compare(name, jnp.float64, 1e-12, scheduled="a")
