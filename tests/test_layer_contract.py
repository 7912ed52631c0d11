"""One registry of every layer, swept by the same contract tests (Haiku's descriptors pattern).

For every layer: `init`'s output shape is what `apply` returns; jit equals no jit; a vmapped
ensemble of params equals a Python loop; float32 / bfloat16 / float64 are preserved; gradients
match finite differences (float64); eval mode leaves state unchanged and is deterministic; a
random layer in train mode without a key raises.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxdl import activations as A
from jaxdl.core import parallel, residual, serial
from jaxdl.nn import conv, dense, dropout, normalization, pooling, reshape

# name -> (constructor thunk, per-example input shape, random in train, differentiable)
REGISTRY = {
    "Dense": (lambda: dense.Dense(4), (5,), False, True),
    "Perceptron": (lambda: dense.Perceptron(2), (5,), False, False),
    "Conv2D_same": (lambda: conv.Conv2D(3, 3, padding="SAME"), (6, 6, 2), False, True),
    "Conv2D_s2p1": (lambda: conv.Conv2D(2, 3, strides=2, padding=1), (7, 7, 3), False, True),
    "Conv1D": (lambda: conv.Conv1D(3, 3), (10, 2), False, True),
    "MaxPool2D": (lambda: pooling.MaxPool2D(2), (6, 6, 2), False, True),
    "AvgPool_same": (lambda: pooling.AvgPool2D(2, padding="SAME"), (5, 5, 2), False, True),
    "MaxPool1D": (lambda: pooling.MaxPool1D(2), (10, 2), False, True),
    "AvgPool1D": (lambda: pooling.AvgPool1D(2), (10, 2), False, True),
    "Flatten": (lambda: reshape.Flatten(), (3, 4, 2), False, True),
    "Reshape": (lambda: reshape.Reshape((8, 3)), (4, 6), False, True),
    "Dropout": (lambda: dropout.Dropout(0.5), (10,), True, True),
    "BatchNorm": (lambda: normalization.BatchNorm(), (4, 4, 3), False, True),
    "GroupNorm": (lambda: normalization.GroupNorm(2), (4, 4, 4), False, True),
    "LayerNorm": (lambda: normalization.LayerNorm(), (6,), False, True),
    "WeightNorm_Dense": (lambda: normalization.WeightNorm(dense.Dense(3)), (5,), False, True),
    "WeightNorm_Conv2D": (lambda: normalization.WeightNorm(conv.Conv2D(2, 3)), (5, 5, 2), False,
                          True),
    "LocalResponseNorm": (lambda: normalization.LocalResponseNorm(), (3, 3, 7), False, True),
    "Sigmoid": (lambda: A.Sigmoid(), (6,), False, True),
    "Tanh": (lambda: A.Tanh(), (6,), False, True),
    "Relu": (lambda: A.Relu(), (6,), False, True),
    "LeakyRelu": (lambda: A.LeakyRelu(0.5), (6,), False, True),
    "Softplus": (lambda: A.Softplus(), (6,), False, True),
    "Softmax": (lambda: A.Softmax(), (6,), False, True),
    "Elu": (lambda: A.Elu(1.0), (6,), False, True),
    "Step": (lambda: A.Step(), (6,), False, False),
    "PReLU": (lambda: A.PReLU(), (4, 4, 3), False, True),
    "RReLU": (lambda: A.RReLU(), (6,), True, True),
    "Maxout": (lambda: A.Maxout(3, 2), (5,), False, True),
    "serial": (lambda: serial(dense.Dense(4), A.Relu(), dense.Dense(2)), (5,), False, True),
    "parallel": (lambda: parallel(dense.Dense(2), dense.Dense(3), concat_axis=-1), (5,), False,
                 True),
    "residual": (lambda: residual(serial(dense.Dense(5), A.Tanh())), (5,), False, True),
    "residual_dropout": (lambda: residual(dropout.Dropout(0.2)), (5,), True, True),
}
NAMES = sorted(REGISTRY)
BATCH = 3


def _setup(name, dtype=jnp.float32):
    make, shape, random, _ = REGISTRY[name]
    layer = make()
    params, state, out_shape = layer.init(jax.random.key(1), shape)
    x = jax.random.normal(jax.random.key(2), (BATCH, *shape), jnp.float32)
    cast = lambda t: jax.tree.map(lambda a: a.astype(dtype), t)  # noqa: E731
    return layer, cast(params), cast(state), out_shape, x.astype(dtype), random


def _run(layer, params, state, x, train, random):
    key = jax.random.key(3) if (train and random) else None
    return layer.apply(params, state, x, key=key, train=train)


@pytest.mark.parametrize("name", NAMES)
def test_init_output_shape_is_what_apply_returns_and_params_have_readable_keys(name):
    layer, params, state, out_shape, x, random = _setup(name)
    for train in (False, True):
        y, new_state = _run(layer, params, state, x, train, random)
        assert y.shape == (BATCH, *out_shape)
        assert jax.tree.structure(new_state) == jax.tree.structure(state)
    for path, _ in jax.tree_util.tree_leaves_with_path(params):
        assert all(isinstance(p, jax.tree_util.DictKey) and isinstance(p.key, str) for p in path)


@pytest.mark.parametrize("name", NAMES)
def test_jit_equals_no_jit(name):
    layer, params, state, _, x, random = _setup(name)
    for train in (False, True):
        y, s = _run(layer, params, state, x, train, random)
        yj, sj = jax.jit(lambda p, s_, x_: _run(layer, p, s_, x_, train, random))(params, state, x)
        np.testing.assert_allclose(yj, y, rtol=1e-5, atol=1e-6)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), sj, s)


@pytest.mark.parametrize("name", NAMES)
def test_vmapped_ensemble_of_params_equals_a_python_loop(name):
    make, shape, _, _ = REGISTRY[name]
    layer = make()
    keys = jax.random.split(jax.random.key(4), 3)
    inits = [layer.init(k, shape) for k in keys]
    if not jax.tree.leaves(inits[0][0]):
        pytest.skip("no params to stack into an ensemble")
    params = jax.tree.map(lambda *a: jnp.stack(a), *[i[0] for i in inits])
    state = inits[0][1]
    x = jax.random.normal(jax.random.key(5), (BATCH, *shape))
    ys, _ = jax.vmap(lambda p: layer.apply(p, state, x))(params)
    for i, (p, _, _) in enumerate(inits):
        y, _ = layer.apply(p, state, x)
        np.testing.assert_allclose(ys[i], y, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("name", NAMES)
def test_dtype_is_preserved(name, dtype):
    layer, params, state, _, x, random = _setup(name, jnp.dtype(dtype))
    for train in (False, True):
        y, new_state = _run(layer, params, state, x, train, random)
        assert y.dtype == jnp.dtype(dtype)
        for a in jax.tree.leaves(new_state):
            assert a.dtype == jnp.dtype(dtype)


@pytest.mark.parametrize("name", NAMES)
def test_float64_gradients_match_finite_differences(name, x64):
    make, shape, random, differentiable = REGISTRY[name]
    if not differentiable:
        pytest.skip("a step function has zero gradient almost everywhere")
    layer, params, state, _, x, _ = _setup(name, jnp.float64)
    y, _ = _run(layer, params, state, x, False, random)
    assert y.dtype == jnp.float64

    def f(p, x_):
        return _run(layer, p, state, x_, False, random)[0]

    check_grads(f, (params, x), order=1, modes=("rev",), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_eval_leaves_state_unchanged_and_is_deterministic(name):
    """Eval mode ignores the key (two keys, one output), leaves the state as it was, and treats
    each example on its own: an example gives the same output alone as in a batch (batch
    statistics, or a random draw shared across the batch, would break it). For a random layer,
    train mode with a key does differ from eval mode."""
    layer, params, state, _, x, random = _setup(name)
    y1, s1 = layer.apply(params, state, x, key=jax.random.key(7), train=False)
    y2, _ = layer.apply(params, state, x, key=jax.random.key(8), train=False)
    np.testing.assert_array_equal(y1, y2)
    jax.tree.map(np.testing.assert_array_equal, s1, state)
    for i in range(BATCH):
        yi, _ = layer.apply(params, state, x[i:i + 1], train=False)
        np.testing.assert_allclose(yi[0], y1[i], rtol=1e-5, atol=1e-6)
    if random:
        yt, _ = layer.apply(params, state, x, key=jax.random.key(7), train=True)
        assert not np.allclose(yt, y1)


@pytest.mark.parametrize("name", [n for n in NAMES if REGISTRY[n][2]])
def test_random_layer_in_train_mode_without_key_raises(name):
    layer, params, state, _, x, _ = _setup(name)
    with pytest.raises(ValueError, match="key"):
        layer.apply(params, state, x, train=True)
