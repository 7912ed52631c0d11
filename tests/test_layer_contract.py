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
from jaxdl.core import Concatenate, branches, parallel, residual, serial
from jaxdl.nn import (
    attention, conv, dense, dropout, embedding, normalization, pooling, recurrent, reshape,
    upsampling)

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
    "GlobalMaxPool2D": (lambda: pooling.GlobalMaxPool2D(), (4, 3, 2), False, True),
    "GlobalAvgPool2D": (lambda: pooling.GlobalAvgPool2D(), (4, 3, 2), False, True),
    "GlobalMaxPool1D": (lambda: pooling.GlobalMaxPool1D(), (5, 2), False, True),
    "GlobalAvgPool1D": (lambda: pooling.GlobalAvgPool1D(), (5, 2), False, True),
    "Conv2DTranspose_s2": (lambda: upsampling.Conv2DTranspose(2, 3, strides=2), (3, 3, 2), False,
                           True),
    "Conv2DTranspose_same": (lambda: upsampling.Conv2DTranspose(2, (2, 3), 2, "SAME"), (3, 2, 2),
                             False, True),
    "Conv1DTranspose": (lambda: upsampling.Conv1DTranspose(3, 3, 2, "SAME"), (4, 2), False, True),
    "UpSampling2D": (lambda: upsampling.UpSampling2D((2, 3)), (3, 2, 2), False, True),
    "UpSampling2D_bilinear": (lambda: upsampling.UpSampling2D(2, "bilinear"), (3, 3, 2), False,
                              True),
    "UpSampling1D_linear": (lambda: upsampling.UpSampling1D(3, "linear"), (4, 2), False, True),
    "ZeroPadding2D": (lambda: reshape.ZeroPadding2D(((1, 0), (2, 1))), (3, 3, 2), False, True),
    "ZeroPadding1D": (lambda: reshape.ZeroPadding1D((2, 1)), (4, 2), False, True),
    "Cropping2D": (lambda: reshape.Cropping2D((1, 2)), (5, 6, 2), False, True),
    "Cropping1D": (lambda: reshape.Cropping1D((0, 2)), (5, 2), False, True),
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
    # branches and Concatenate: two inputs, a tuple between layers, one array out
    "branches_two_inputs": (lambda: serial(branches(dense.Dense(2), conv.Conv1D(2, 2)),
                                           branches(A.Tanh(), pooling.GlobalMaxPool1D()),
                                           Concatenate(-1)), ((4,), (5, 2)), False, True),
    "residual": (lambda: residual(serial(dense.Dense(5), A.Tanh())), (5,), False, True),
    "residual_dropout": (lambda: residual(dropout.Dropout(0.2)), (5,), True, True),
    "Embedding": (lambda: embedding.Embedding(7, 3), (4,), False, True),
    "SimpleRNN_seq": (lambda: recurrent.SimpleRNN(3, return_sequences=True), (4, 2), False, True),
    "GRU_masked": (lambda: recurrent.GRU(3), ((4, 2), (4,)), False, True),
    "LSTM_seq": (lambda: recurrent.LSTM(3, return_sequences=True), (4, 2), False, True),
    "Bidirectional_GRU_masked": (lambda: recurrent.Bidirectional(
        recurrent.GRU(2, return_sequences=True)), ((4, 2), (4,)), False, True),
    "MultiHeadAttention_masked": (lambda: attention.MultiHeadAttention(2, causal=True),
                                  ((4, 4), (4,)), False, True),
}
NAMES = sorted(REGISTRY)
BATCH = 3


def _ids(key, shape):
    return jax.random.randint(key, (BATCH, *shape), 0, 7)


def _masked(key, shape):
    """(x, mask): example 0 whole, example 1 with 2 padded steps at the end, example 2 one step."""
    (t, f), _ = shape
    lengths = jnp.array([t, t - 2, 1])
    return jax.random.normal(key, (BATCH, t, f)), jnp.arange(t)[None, :] < lengths[:, None]


def _several(key, shapes):
    """One N(0, 1) float array per input of a several-input model."""
    return tuple(jax.random.normal(jax.random.fold_in(key, i), (BATCH, *s))
                 for i, s in enumerate(shapes))


# name -> (key, per-example shape) -> a batch, for layers whose input is not one float array
# (integer ids, an (x, mask) pair, several inputs); the others get N(0, 1) floats
INPUTS = {"Embedding": _ids, "GRU_masked": _masked, "Bidirectional_GRU_masked": _masked,
          "MultiHeadAttention_masked": _masked, "branches_two_inputs": _several}


def _input(name, key, dtype=jnp.float32):
    """A batch for REGISTRY[name]; only its float arrays take `dtype` (ids and masks stay)."""
    shape = REGISTRY[name][1]
    x = INPUTS.get(name, lambda k, s: jax.random.normal(k, (BATCH, *s)))(key, shape)
    return jax.tree.map(lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating)
                        else a, x)


def _setup(name, dtype=jnp.float32):
    make, shape, random, _ = REGISTRY[name]
    layer = make()
    params, state, out_shape = layer.init(jax.random.key(1), shape)
    cast = lambda t: jax.tree.map(lambda a: a.astype(dtype), t)  # noqa: E731
    x = _input(name, jax.random.key(2), dtype)
    return layer, cast(params), cast(state), out_shape, x, random


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
    x = _input(name, jax.random.key(5))
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

    leaves, tree = jax.tree.flatten(x)
    floats = [jnp.issubdtype(a.dtype, jnp.floating) for a in leaves]

    def f(p, xs):  # x's float arrays are differentiated, not its ids or mask
        xs = iter(xs)
        x_ = tree.unflatten([next(xs) if fl else a for a, fl in zip(leaves, floats)])
        return _run(layer, p, state, x_, False, random)[0]

    # jitted: the finite differences evaluate one compiled program, not op by op (about 20 %
    # less CPU time over the registry)
    check_grads(jax.jit(f), (params, [a for a, fl in zip(leaves, floats) if fl]), order=1,
                modes=("rev",), atol=1e-4, rtol=1e-4)


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
        yi, _ = layer.apply(params, state, jax.tree.map(lambda a: a[i:i + 1], x), train=False)
        np.testing.assert_allclose(yi[0], y1[i], rtol=1e-5, atol=1e-6)
    if random:
        yt, _ = layer.apply(params, state, x, key=jax.random.key(7), train=True)
        assert not np.allclose(yt, y1)


@pytest.mark.parametrize("name", [n for n in NAMES if REGISTRY[n][2]])
def test_random_layer_in_train_mode_without_key_raises(name):
    layer, params, state, _, x, _ = _setup(name)
    with pytest.raises(ValueError, match="key"):
        layer.apply(params, state, x, train=True)
