"""Make JAX strict for every test (STYLE rule 17).

- rank promotion raises, so a missing batch axis is never silently broadcast;
- dtype promotion is "strict", so jaxdl never mixes dtypes implicitly (optax does: wrap optax
  reference calls in the `standard_promotion` context below);
- 4 CPU devices for the sharding tests, and fast-compiling XLA flags (set before JAX starts);
- warnings are errors (pyproject's filterwarnings).
"""

import os

# The suite compiles hundreds of small programs and runs each for milliseconds: compile fast
# (XLA:CPU's classic emitters and no backend optimisation cut the experiment tests' CPU time
# about 2.5x) and on one thread each (the two xdist workers already fill both cores: codegen
# and Eigen threads only contend, about 8 % of the experiment tests' CPU time). The tests'
# choice, set here before JAX starts; the library sets no flag.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4 "
                      "--xla_cpu_use_fusion_emitters=false --xla_backend_optimization_level=0 "
                      "--xla_cpu_parallel_codegen_split_count=1 --xla_cpu_multi_thread_eigen=false")
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


def pytest_collection_modifyitems(items):
    """The longest tests (every experiment and the benchmarks in quick mode, 5-30 s each) first,
    so that pytest-xdist's workers finish together instead of one running them at the end; right
    after them the test that runs the backprop experiment again (with a wrong sigmoid). xdist
    hands the first worker a run of consecutive tests (a quarter of its share), so that test runs
    in the process that ran the experiment's quick run and reuses the float64 programs it
    compiled: under 1 s of CPU instead of about 5 in a process that has not."""
    long = ("test_experiment_runs_in_quick_mode", "test_bench_runs_in_quick_mode")
    rerun = "test_backprop_verdicts_follow_a_wrong_sigmoid"

    def rank(item):
        return 0 if any(name in item.nodeid for name in long) else 1 if rerun in item.nodeid else 2

    items.sort(key=rank)
