"""The layer contract of `jaxdl.core`: serial/parallel/residual keys, shapes and errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.core import Layer, count_params, parallel, residual, serial
from jaxdl.nn.dense import Dense


def test_serial_chains_the_2_3_2_dimension_chain(key):
    model = serial(Dense(3), Dense(2))
    params, state, out = model.init(key, (2,))
    assert out == (2,)
    assert params["0_dense"]["w"].shape == (2, 3) and params["1_dense"]["w"].shape == (3, 2)
    assert state == {"0_dense": {}, "1_dense": {}}
    x = jnp.ones((1, 2))
    y, _ = model.apply(params, state, x)
    w1, b1, w2, b2 = (params["0_dense"]["w"], params["0_dense"]["b"],
                      params["1_dense"]["w"], params["1_dense"]["b"])
    np.testing.assert_allclose(y, (x @ w1 + b1[None]) @ w2 + b2[None], rtol=1e-6)
    assert count_params(params) == 2 * 3 + 3 + 3 * 2 + 2


def test_serial_names_position_and_shapes_when_shapes_do_not_chain(key):
    bad = Layer(lambda k, s: (_ for _ in ()).throw(ValueError("needs 3 axes")),
                lambda p, s, x, *, key=None, train=False: (x, s), "conv2d")
    with pytest.raises(ValueError, match=r"layer 1 \(1_conv2d\).*layer 0 \(0_dense\).*\(5,\)"):
        serial(Dense(5), bad).init(key, (4,))


def test_serial_rejects_an_uncalled_constructor():
    with pytest.raises(TypeError, match="forget to call"):
        serial(Dense)


def test_parallel_tuple_and_concat(key):
    tup = parallel(Dense(2), Dense(3))
    params, state, out = tup.init(key, (4,))
    assert out == ((2,), (3,))
    ys, _ = tup.apply(params, state, jnp.ones((5, 4)))
    assert ys[0].shape == (5, 2) and ys[1].shape == (5, 3)
    cat = parallel(Dense(2), Dense(3), concat_axis=-1)
    params, state, out = cat.init(key, (4,))
    assert out == (5,)
    y, _ = cat.apply(params, state, jnp.ones((5, 4)))
    assert y.shape == (5, 5)
    np.testing.assert_allclose(y[:, :2], ys[0], rtol=1e-6)


def test_residual_adds_input_and_rejects_shape_change(key):
    block = residual(Dense(4))
    params, state, out = block.init(key, (4,))
    x = jax.random.normal(key, (3, 4))
    y, _ = block.apply(params, state, x)
    inner = params["0_dense"]
    np.testing.assert_allclose(y, x + x @ inner["w"] + inner["b"][None], rtol=1e-6)
    with pytest.raises(ValueError, match=r"residual.*\(4,\) to \(3,\)"):
        residual(Dense(3)).init(key, (4,))


def test_per_layer_keys_come_from_fold_in(key):
    model = serial(Dense(3), Dense(3))
    params, _, _ = model.init(key, (3,))
    expected, _, _ = Dense(3).init(jax.random.fold_in(key, 1), (3,))
    np.testing.assert_array_equal(params["1_dense"]["w"], expected["w"])
