"""A model whose input is a tuple of arrays trains, evaluates and predicts like the same model
on the concatenated input: the reference is jaxdl's one-input path on `concatenate(x1, x2)`."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import optim
from jaxdl.core import Layer, serial
from jaxdl.losses import softmax_cross_entropy
from jaxdl.nn.dense import Dense
from jaxdl.activations import Relu
from jaxdl.train import evaluate, fit, predict

RNG = np.random.default_rng(3)
X1 = RNG.normal(size=(96, 3)).astype(np.float32)
X2 = RNG.normal(size=(96, 5)).astype(np.float32)
Y = ((X1[:, 0] + X2[:, 1]) > 0).astype(np.int32)
BODY = serial(Dense(8), Relu(), Dense(2))


def _two_inputs(body: Layer) -> Layer:
    """`body` applied to the concatenation of a tuple (x1, x2): init takes a tuple of shapes."""

    def init(key, shapes):
        (a,), (b,) = shapes
        return body.init(key, (a + b,))

    def apply(params, state, x, *, key=None, train=False):
        return body.apply(params, state, jnp.concatenate(x, axis=-1), key=key, train=train)

    return Layer(init, apply, "two_inputs")


def test_a_tuple_input_model_trains_exactly_like_the_concatenated_one():
    kw = dict(epochs=3, batch_size=16, key=jax.random.key(5), verbose=0)
    split = (X1[64:], X2[64:])
    ts2, h2 = fit(_two_inputs(BODY), softmax_cross_entropy, optim.adam(0.01), ((X1[:64], X2[:64]),
                  Y[:64]), val=(split, Y[64:]), **kw)
    joined = np.concatenate([X1, X2], axis=1)
    ts1, h1 = fit(BODY, softmax_cross_entropy, optim.adam(0.01), (joined[:64], Y[:64]),
                  val=(joined[64:], Y[64:]), **kw)
    for a, b in zip(jax.tree.leaves(ts2.params), jax.tree.leaves(ts1.params)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    for k in ("train_loss", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(h2.values[k], h1.values[k], rtol=1e-6)
    assert h2.values["val_accuracy"][-1] > 0.6  # it learned something, so the comparison is not vacuous
    np.testing.assert_allclose(predict(_two_inputs(BODY), ts2, split),
                               predict(BODY, ts1, joined[64:]), rtol=1e-6, atol=1e-6)
    e2 = evaluate(_two_inputs(BODY), ts2, (split, Y[64:]), loss=softmax_cross_entropy,
                  batch_size=10)
    e1 = evaluate(BODY, ts1, (joined[64:], Y[64:]), loss=softmax_cross_entropy, batch_size=10)
    assert e2.keys() == e1.keys() == {"loss", "accuracy"}
    for k in e1:
        np.testing.assert_allclose(e2[k], e1[k], rtol=1e-6)


def test_vmap_fit_takes_a_tuple_input_like_the_concatenated_one():
    from jaxdl.sweep import vmap_fit

    kw = dict(hparams={"learning_rate": np.array([0.01, 0.03])}, epochs=2, batch_size=32,
              keys=jax.random.split(jax.random.key(2), 2))
    ts2, h2 = vmap_fit(_two_inputs(BODY), softmax_cross_entropy, optim.sgd, ((X1, X2), Y), **kw)
    ts1, h1 = vmap_fit(BODY, softmax_cross_entropy, optim.sgd, (np.concatenate([X1, X2], 1), Y),
                       **kw)
    for a, b in zip(jax.tree.leaves(ts2.params), jax.tree.leaves(ts1.params)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(h2.values["train_loss"], h1.values["train_loss"], rtol=1e-6)
