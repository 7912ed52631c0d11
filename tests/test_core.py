"""The layer contract of `jaxdl.core`: serial/parallel/residual keys, shapes and errors; the
several-input combinators `branches` and `Concatenate` against each branch applied by hand and
np.concatenate (their jit/vmap/dtype/gradient contract is in tests/test_layer_contract.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.activations import Tanh
from jaxdl.core import Concatenate, Layer, branches, count_params, parallel, residual, serial
from jaxdl.nn.conv import Conv1D
from jaxdl.nn.dense import Dense
from jaxdl.nn.pooling import GlobalAvgPool1D
from jaxdl.nn.reshape import Flatten
from jaxdl.summary import summary


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


# --- several inputs: branches, Concatenate, parallel of tuple layers ---------------------------

SHAPES = ((4,), (5, 2))  # a table row and a 2-channel sequence


def _two_inputs(key, n=3):
    k1, k2 = jax.random.split(key)
    return jax.random.normal(k1, (n, 4)), jax.random.normal(k2, (n, 5, 2))


def _model():
    return serial(branches(Dense(3), serial(Conv1D(2, 2), GlobalAvgPool1D())), Concatenate(),
                  Tanh(), Dense(1))


def test_branches_applies_each_layer_to_its_own_input_and_concatenates(key):
    left, right = Dense(2), serial(Flatten(), Dense(3))
    model = branches(left, right, concat_axis=-1)
    params, state, out = model.init(key, SHAPES)
    assert out == (5,) and list(params) == list(state) == ["0_dense", "1_serial"]
    # per-branch keys come from fold_in(key, i), as in serial
    np.testing.assert_array_equal(params["1_serial"]["1_dense"]["w"],
                                  right.init(jax.random.fold_in(key, 1), (5, 2))[0]["1_dense"]["w"])
    x1, x2 = _two_inputs(key)
    y, _ = model.apply(params, state, (x1, x2))
    a, _ = left.apply(params["0_dense"], {}, x1)
    b, _ = right.apply(params["1_serial"], state["1_serial"], x2)
    np.testing.assert_array_equal(y, np.concatenate([a, b], axis=-1))
    tup, _ = branches(left, right).apply(params, state, [x1, x2])
    assert branches(left, right).init(key, SHAPES)[2] == ((2,), (3,))
    np.testing.assert_array_equal(tup[0], a)
    np.testing.assert_array_equal(tup[1], b)


@pytest.mark.parametrize("axis, shapes, out", [(-1, ((2, 3), (2, 1)), (2, 4)),
                                               (0, ((2, 3), (4, 3)), (6, 3)),
                                               (1, ((2, 3), (2, 2), (2, 1)), (2, 6))])
def test_concatenate_merges_a_tuple_on_a_per_example_axis(key, axis, shapes, out):
    xs = tuple(jax.random.normal(jax.random.fold_in(key, i), (3, *s)) for i, s in
               enumerate(shapes))
    params, state, shape = Concatenate(axis).init(key, shapes)
    y, _ = Concatenate(axis).apply(params, state, xs)
    ref = np.concatenate([np.asarray(x) for x in xs], axis=axis if axis < 0 else axis + 1)
    assert shape == out and y.shape == (3, *out) == ref.shape
    np.testing.assert_array_equal(y, ref)


def test_parallel_of_layers_that_take_a_tuple_gives_each_the_whole_tuple(key):
    inner = branches(Dense(1), serial(Flatten(), Dense(2)), concat_axis=-1)
    model = parallel(Concatenate(), inner)
    params, state, out = model.init(key, ((4,), (4,)))
    assert out == ((8,), (3,))
    x = (jnp.ones((2, 4)), jax.random.normal(key, (2, 4)))
    (cat, br), _ = model.apply(params, state, x)
    np.testing.assert_array_equal(cat, np.concatenate([np.asarray(a) for a in x], axis=1))
    np.testing.assert_array_equal(br, inner.apply(params["1_branches"], state["1_branches"], x)[0])


def test_residual_over_two_inputs_adds_each_input_to_its_branch(key):
    model = residual(branches(Dense(4), Dense(3)))
    params, state, out = model.init(key, ((4,), (3,)))
    x = (jax.random.normal(key, (2, 4)), jnp.ones((2, 3)))
    (y1, y2), _ = model.apply(params, state, x)
    p = params["0_branches"]
    np.testing.assert_allclose(y1, x[0] + Dense(4).apply(p["0_dense"], {}, x[0])[0], rtol=1e-6)
    np.testing.assert_allclose(y2, x[1] + Dense(3).apply(p["1_dense"], {}, x[1])[0], rtol=1e-6)
    assert out == ((4,), (3,))


def test_summary_lists_the_branches_of_a_two_input_model(key):
    model = _model()
    text = summary(model, SHAPES, print_fn=None)
    params, _, _ = model.init(key, SHAPES)
    assert f"Total params: {count_params(params):,}" in text
    assert "input [(None, 4), (None, 5, 2)] -> output (None, 1)" in text
    rows = {line.split()[0]: line for line in text.splitlines()[4:-4]}
    assert list(rows) == ["0_branches", "0_branches/0_dense", "0_branches/1_serial",
                          "0_branches/1_serial/0_conv1d", "0_branches/1_serial/1_globalavgpool1d",
                          "1_concatenate", "2_tanh", "3_dense"]
    assert "[(None, 3), (None, 2)]" in rows["0_branches"] and "(None, 5)" in rows["1_concatenate"]


@pytest.mark.parametrize("call, error, message", [
    (lambda k: branches(Dense(2), Dense(3)).init(k, (4,)), ValueError,
     r"branches: input_shape must be a tuple of 2 per-example shapes \(one per branch\), got "
     r"\(4,\)"),
    (lambda k: branches(Dense(2), Dense(3)).init(k, ((4,), (4,), (4,))), ValueError,
     r"branches: input_shape must be a tuple of 2 .*got \(\(4,\), \(4,\), \(4,\)\)"),
    (lambda k: branches(Dense(2), Dense(3)).apply({}, {}, jnp.ones((2, 4))), TypeError,
     r"branches: x must be a tuple of 2 arrays \(one per branch\), got ArrayImpl of shape "
     r"\(2, 4\)"),
    (lambda k: Concatenate(-1).init(k, ((4, 3), (5, 2))), ValueError,
     r"Concatenate: input shapes must agree on every axis but axis=-1 to be concatenated, got "
     r"shapes \(\(4, 3\), \(5, 2\)\)"),
    (lambda k: Concatenate(2).init(k, ((4, 3), (4, 2))), ValueError,
     r"Concatenate: axis must be in \[-2, 2\) .*got 2"),
    (lambda k: Concatenate(-1).init(k, (4, 3)), ValueError,
     r"Concatenate: input_shape must be a tuple of per-example shapes .*got \(4, 3\)"),
    (lambda k: Concatenate(-1).apply({}, {}, jnp.ones((2, 4))), TypeError,
     r"Concatenate: x must be a tuple of arrays, got ArrayImpl of shape \(2, 4\)"),
    (lambda k: Concatenate(1.0), TypeError, r"Concatenate: axis must be an int, got 1.0"),
    (lambda k: branches(Dense(2), Dense(3), concat_axis=0).init(k, ((4,), (4, 2))), ValueError,
     r"branches: outputs must agree on every axis but concat_axis=0 .*\(\(2,\), \(4, 3\)\)"),
    (lambda k: parallel(Dense(2), Dense(3), concat_axis=1).init(k, (4,)), ValueError,
     r"parallel: concat_axis must be in \[-1, 1\) .*got 1"),
    (lambda k: serial(branches(Dense(2), Conv1D(2, 2)), Concatenate()).init(k, ((3,), (4,))),
     ValueError, r"serial: layer 0 \(0_branches\) cannot take the output of the input, of shape "
     r"\(\(3,\), \(4,\)\): branches: branch 1 \(1_conv1d\) cannot take input 1, of shape "
     r"\(4,\): Conv1D: input_shape must have 2 axes \(W, C\) .*got \(4,\)"),
    (lambda k: parallel(Dense(2), concat_axis="last"), TypeError,
     r"parallel: concat_axis must be an int or None, got 'last'"),
])
def test_combinator_bad_inputs_name_the_owner_parameter_and_value(key, call, error, message):
    with pytest.raises(error, match=message):
        call(key)
