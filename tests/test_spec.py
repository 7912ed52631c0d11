"""`jaxdl.spec`: equal constructor calls give equal objects; anything that might differ does not."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdl import initializers, optim, schedules
from jaxdl.activations import Relu
from jaxdl.core import Layer, residual, serial
from jaxdl.nn import Conv2D, Dense, Flatten, MaxPool2D


def test_equal_calls_are_equal_whatever_the_argument_spelling():
    assert Dense(128) == Dense(features=128) == Dense(128, use_bias=True)
    assert serial(Flatten(), Dense(4), Relu()) == serial(Flatten(), Dense(4), Relu())
    assert optim.adam(1e-3) == optim.adam(learning_rate=1e-3, b1=0.9)
    assert schedules.cosine_decay(1e-2, 100) == schedules.cosine_decay(1e-2, 100)
    assert initializers.he_normal() == initializers.he_normal()


def test_different_arguments_types_or_structure_are_not_equal():
    assert Dense(128) != Dense(64)
    assert Dense(2) != Dense(2, use_bias=False)
    assert optim.adam(1e-3) != optim.adam(2e-3)
    assert optim.sgd(1) != optim.sgd(1.0)  # int and float compile differently
    assert optim.sgd(0.0) != optim.sgd(-0.0)
    assert serial(Dense(4), Relu()) != serial(Relu(), Dense(4))
    assert residual(Dense(4)) != serial(Dense(4))
    assert Dense(4, w_init=initializers.he_normal()) != Dense(4, w_init=initializers.he_uniform())
    assert optim.adam(schedules.constant(1e-3)) != optim.adam(schedules.constant(1e-2))
    assert Dense(4)._replace(name="other") != Dense(4)


def test_array_arguments_fall_back_to_identity():
    lr = jnp.asarray(1e-3)
    a, b = optim.adam(lr), optim.adam(lr)
    assert a.spec is None and a == a and a != b
    assert Conv2D(4, 3).spec is not None and MaxPool2D(np.int64(2)).spec is not None
    rate = np.array(0.1)
    assert optim.sgd(rate).spec is None


def test_traced_arguments_leave_no_spec():
    specs = []

    def f(lr):
        specs.append(optim.adam(lr).spec)
        return lr

    jax.vmap(f)(jnp.array([1e-3, 1e-2]))
    assert specs == [None]


def test_repr_shows_the_call():
    assert repr(serial(Flatten(), Dense(128), Relu())) == (
        "serial(Flatten(), Dense(features=128), Relu())")
    assert repr(optim.adam(1e-3)) == "adam(learning_rate=0.001)"
    assert repr(Dense(3, w_init=initializers.he_normal())) == (
        "Dense(features=3, w_init=he_normal())")


def test_by_value_objects_keep_their_behaviour():
    s = schedules.exponential_decay(0.1, 10, 0.5)
    np.testing.assert_allclose(s(jnp.int32(10)), 0.05, rtol=1e-6)
    np.testing.assert_allclose(jax.jit(s)(20), 0.025, rtol=1e-6)
    w = initializers.constant(2.0)(jax.random.key(0), (2, 3), jnp.float32)
    np.testing.assert_array_equal(w, np.full((2, 3), 2.0, np.float32))
    params = {"w": jnp.ones(3)}
    tx = optax.chain(optim.adam(1e-3), optax.scale(1.0))  # still inside optax's chain
    updates, _ = tx.update({"w": jnp.ones(3)}, tx.init(params), params)
    assert updates["w"].shape == (3,)


def test_hand_written_layers_compare_by_identity():
    d = Dense(3)
    a = Layer(d.init, d.apply, "a")
    assert a == Layer(d.init, d.apply, "a") and hash(a) == hash(Layer(d.init, d.apply, "a"))
    assert a != Layer(d.init, d.apply, "b")
    assert a != Layer(lambda k, s: d.init(k, s), d.apply, "a")
