"""Errors that name what the user did: a resumed state from another optimizer or already past
`epochs`, a custom layer whose apply breaks the contract (named, not the data), one example
without its batch axis, several inputs; each raised before an epoch is traced."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import optim
from jaxdl.core import Layer, parallel, residual, serial
from jaxdl.losses import softmax_cross_entropy
from jaxdl.nn.dense import Dense
from jaxdl.train import evaluate, fit, predict

RNG = np.random.default_rng(1)
X = RNG.normal(size=(64, 4)).astype(np.float32)
Y = (X[:, 0] > 0).astype(np.int32)
CLS = serial(Dense(2))
CALLS = []


def _loss(outputs, y):
    CALLS.append(1)
    return softmax_cross_entropy(outputs, y)


def _fit(model=CLS, opt=None, **kw):
    CALLS.clear()
    return fit(model, _loss, opt or optim.sgd(0.1), (X, Y),
               **{"epochs": 1, "batch_size": 16, "key": jax.random.key(0), "verbose": 0, **kw})


@pytest.fixture(scope="module")
def after_4_epochs():
    return fit(CLS, softmax_cross_entropy, optim.momentum(0.1), (X, Y), epochs=4, batch_size=16,
               key=jax.random.key(0), verbose=0)[0]


@pytest.mark.parametrize("opt, kinds", [
    (optim.sgd(0.1), r"holds \[TraceState, EmptyState\], this optimizer's holds "
                     r"\[EmptyState, EmptyState\]"),
    (optim.adam(0.1), r"this optimizer's holds \[ScaleByAdamState, EmptyState\]")])
def test_resuming_with_another_optimizer_is_named_before_compiling(after_4_epochs, opt, kinds):
    with pytest.raises(ValueError, match=r"fit: init is a TrainState whose optimizer state was "
                                         r"not made by this optimizer .*" + kinds):
        _fit(opt=opt, epochs=6, init=after_4_epochs)
    assert not CALLS


def test_resuming_with_other_wrappers_is_named(after_4_epochs):
    with pytest.raises(ValueError, match="skip_nonfinite= settings"):
        _fit(opt=optim.momentum(0.1), epochs=6, init=after_4_epochs, skip_nonfinite=True)


@pytest.mark.parametrize("epochs", [2, 4])
def test_resuming_a_state_already_past_epochs_is_an_error(after_4_epochs, epochs):
    with pytest.raises(ValueError, match=rf"fit: init is a TrainState after 4 epochs \(step 16\)"
                                         rf", so epochs={epochs} leaves none to run.*epochs > 4"):
        _fit(opt=optim.momentum(0.1), epochs=epochs, init=after_4_epochs)
    assert not CALLS


def test_resuming_with_the_same_optimizer_runs_the_remaining_epochs(after_4_epochs):
    ts, history = _fit(opt=optim.momentum(0.1), epochs=5, init=after_4_epochs)
    assert int(ts.step) == 20 and len(history.train_loss) == 1


def _identity_init(key, shape):
    return {}, {}, shape


NO_STATE = Layer(_identity_init, lambda p, s, x, key=None, train=False: x, "no_state")
TRIPLE = Layer(_identity_init, lambda p, s, x, key=None, train=False: (x, s, 0), "triple")
LIAR = Layer(lambda k, s: ({}, {}, (7,)), lambda p, s, x, key=None, train=False: (x, s), "liar")


@pytest.mark.parametrize("model, error, where, what", [
    (serial(Dense(3), NO_STATE, Dense(2)), TypeError, "layer 1_no_state",
     r"apply must return a \(y, new_state\) pair, got one array of shape \(1, 3\)"),
    (serial(Dense(3), residual(serial(Dense(3), TRIPLE)), Dense(2)), TypeError,
     "layer 1_residual/0_serial/1_triple", r"got a tuple of 3"),
    (serial(Dense(3), LIAR, Dense(2)), ValueError, "layer 1_liar",
     r"declares the output shape \(7,\) in init, but its apply produces \(3,\)"),
    (serial(parallel(Dense(2), LIAR, concat_axis=-1), Dense(2)), ValueError,
     "layer 0_parallel/1_liar", r"declares the output shape \(7,\)"),
])
def test_a_custom_layer_that_breaks_the_contract_is_named_not_the_data(model, error, where,
                                                                       what):
    with pytest.raises(error, match=rf"fit: the model is not consistent: {where} .*{what}"):
        _fit(model=model)
    assert not CALLS


def test_serial_names_a_layer_whose_apply_returns_no_state_when_applied_directly():
    model = serial(Dense(3), NO_STATE)
    params, state, _ = model.init(jax.random.key(0), (4,))
    with pytest.raises(TypeError, match=r"serial: layer 1_no_state .* apply must return a "
                                        r"\(y, new_state\) pair, got .*shape \(2, 3\)"):
        model.apply(params, state, jnp.ones((2, 4)))


def test_predict_on_one_example_without_a_batch_axis_says_to_add_it(after_4_epochs):
    with pytest.raises(ValueError, match=r"predict: x of shape \(4,\) has no batch axis: the "
                                         r"model takes batches \(n, 4\); .* x\[None\]"):
        predict(CLS, after_4_epochs, X[0])
    np.testing.assert_allclose(predict(CLS, after_4_epochs, X[0][None]),
                               predict(CLS, after_4_epochs, X[:1]))
    with pytest.raises(ValueError, match="predict: x must have a batch axis, got a scalar"):
        predict(CLS, after_4_epochs, 1.0)


@pytest.mark.parametrize("x", [[X, X], {"a": X}])
def test_inputs_that_are_neither_an_array_nor_a_tuple_get_a_clear_message(after_4_epochs, x):
    kind = type(x).__name__
    with pytest.raises(TypeError, match=f"fit: train x must be an array, or a tuple of arrays "
                                        f"for a model with several inputs, got a {kind} of {len(x)}"):
        fit(CLS, _loss, optim.sgd(0.1), (x, Y), epochs=1, batch_size=16,
            key=jax.random.key(0))
    with pytest.raises(TypeError, match=f"predict: x must be an array, or a tuple of arrays .* "
                                        f"got a {kind}"):
        predict(CLS, after_4_epochs, x)
    with pytest.raises(TypeError, match=f"evaluate: data x must be an array, or a tuple .* got "
                                        f"a {kind}"):
        evaluate(CLS, after_4_epochs, (x, Y))


def test_two_inputs_for_a_one_input_model_say_which_shapes_do_not_fit():
    with pytest.raises(TypeError, match=r"fit: train x with 2 inputs of shapes \[\(64, 4\), "
                                        r"\(64, 4\)\] .* does not fit the model"):
        fit(CLS, _loss, optim.sgd(0.1), ((X, X), Y), epochs=1, batch_size=16,
            key=jax.random.key(0))
    assert CALLS == []
    with pytest.raises(ValueError, match=r"fit: train \(input 1\) x and y must have the same "
                                         r"number of examples, got x with 63"):
        fit(CLS, _loss, optim.sgd(0.1), ((X, X[:63]), Y), epochs=1, batch_size=16,
            key=jax.random.key(0))
