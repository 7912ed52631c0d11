"""Programs are compiled once and reused (issue 12): a second epoch, a second `fit` with new but
equal model and optimizer objects, repeated `predict`/`evaluate` and a second `vmap_fit` compile
nothing; unequal objects never share a program. Compilations are counted with JAX's own
`/jax/core/compile/backend_compile_duration` monitoring event (one per XLA compile)."""

import contextlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import optim, schedules
from jaxdl.activations import Relu
from jaxdl.core import Layer, serial
from jaxdl.data import digits
from jaxdl.losses import accuracy, softmax_cross_entropy
from jaxdl.nn import Dense, Dropout, Flatten
from jaxdl.sweep import vmap_fit
from jaxdl.train import evaluate, fit, predict

(X, Y), (VX, VY) = digits()
X, Y, VX, VY = X[:512], Y[:512], VX[:200], VY[:200]


@contextlib.contextmanager
def compiles():
    """Collects one entry per XLA compilation while the block runs."""
    seen = []

    def listener(event, seconds, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            seen.append(seconds)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield seen
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


def _model(width):  # a new object on every call, equal for equal widths
    return serial(Flatten(), Dense(width), Relu(), Dropout(0.1), Dense(10))


def _fit(width, lr=1e-2, epochs=1, **kw):
    return fit(_model(width), softmax_cross_entropy, optim.adam(lr), (X, Y), val=(VX, VY),
               epochs=epochs, batch_size=64, key=jax.random.key(0), verbose=0, **kw)


def test_listener_counts_a_compilation():  # the counter itself can see one
    with compiles() as seen:
        jax.jit(lambda v: v * 3.0 + 1.0)(jnp.ones((7, 3)))
    assert len(seen) >= 1


def test_more_epochs_compile_nothing_more():
    _fit(13, epochs=1)  # the eager ops every fit uses compile on their first use in a process
    with compiles() as one:
        _fit(17, epochs=1)
    with compiles() as three:
        _fit(19, epochs=3)  # a new width: as cold as the first
    assert len(one) >= 1 and len(three) == len(one)


def test_second_fit_with_new_but_equal_objects_compiles_nothing():
    first, h1 = _fit(23, epochs=2, patience=5)
    with compiles() as seen:
        second, h2 = _fit(23, epochs=2, patience=5)
    assert seen == []
    np.testing.assert_array_equal(h1.train_loss, h2.train_loss)
    for a, b in zip(jax.tree.leaves(first.params), jax.tree.leaves(second.params)):
        np.testing.assert_array_equal(a, b)


def test_unequal_optimizers_do_not_share_a_program():
    a, _ = _fit(29, lr=1e-2)
    with compiles() as seen:
        b, _ = _fit(29, lr=3e-2)
    assert len(seen) >= 1
    assert not np.allclose(a.params["1_dense"]["w"], b.params["1_dense"]["w"])


def test_a_schedule_rebuilt_equal_reuses_the_program():
    def run():
        lr = schedules.warmup(schedules.cosine_decay(1e-2, 40), 5)
        return fit(_model(31), softmax_cross_entropy, optim.adam(lr), (X, Y), epochs=1,
                   batch_size=64, key=jax.random.key(0), verbose=0)
    run()
    with compiles() as seen:
        run()
    assert seen == []


def test_repeated_predict_and_evaluate_compile_nothing():
    ts, _ = _fit(37)
    predict(_model(37), ts, VX[:5])
    evaluate(_model(37), ts, (VX, VY), (accuracy,), loss=softmax_cross_entropy, batch_size=64)
    with compiles() as seen:
        for _ in range(5):
            predict(_model(37), ts, VX[:5])
            evaluate(_model(37), ts, (VX, VY), (accuracy,), loss=softmax_cross_entropy,
                     batch_size=64)
    assert seen == []


def make_adam(learning_rate):  # module level: the same function object on every call
    return optim.adam(learning_rate)


def test_second_vmap_fit_compiles_nothing():
    def run():
        return vmap_fit(_model(41), softmax_cross_entropy, make_adam, (X, Y),
                        hparams={"learning_rate": np.array([1e-3, 1e-2], np.float32)},
                        keys=jax.random.key(0), val=(VX, VY), epochs=2, batch_size=64)
    run()
    with compiles() as seen:
        run()
    assert seen == []


def test_a_hand_written_layer_falls_back_to_identity():
    inner = Dense(10)
    mine = Layer(inner.init, inner.apply, "mine")
    assert mine == mine and mine != Layer(inner.init, inner.apply, "mine2")
    assert mine != Layer(lambda k, s: inner.init(k, s), inner.apply, "mine")
    ts, _ = fit(serial(Flatten(), mine), softmax_cross_entropy, optim.adam(1e-2), (X, Y),
                epochs=1, batch_size=64, key=jax.random.key(0), verbose=0)
    with compiles() as first:
        predict(serial(Flatten(), mine), ts, VX[:5])
    with compiles() as second:  # a new serial around the same layer: the same program
        predict(serial(Flatten(), mine), ts, VX[:5])
    with compiles() as other:  # an equal-looking layer with a new function: compiled anew
        predict(serial(Flatten(), Layer(lambda *a, **k: inner.init(*a, **k), inner.apply,
                                        "mine")), ts, VX[:5])
    assert len(first) >= 1 and second == [] and len(other) >= 1


@pytest.mark.parametrize("make", [lambda: optim.adam(1e-3), lambda: Dense(8)])
def test_hash_and_equality_agree_for_equal_constructions(make):
    a, b = make(), make()
    assert a is not b and a == b and hash(a) == hash(b) and not (a != b)
