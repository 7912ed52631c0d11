"""Cold start (issue 12): a fresh fit against the same run hand-written as one jitted lax.scan per
epoch, both compiled from nothing (`jax.clear_caches()` before each, so neither reuses a program
or an eager op compiled earlier in the process); a second fit with new but equal objects; and
`predict` against a hand-held `jax.jit` of `model.apply`."""

from __future__ import annotations

import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax


def hand_run(data, epochs: int, batch: int, lr: float, hidden: int) -> Callable[[], object]:
    """The MNIST-1D MLP run written by hand in JAX + optax: one jitted lax.scan per epoch that
    records what fit's History records (train loss and accuracy, val loss and accuracy)."""
    xtr, ytr, xte, yte = data
    xd, yd, vxd, vyd = (jnp.asarray(a) for a in data)
    steps = len(xtr) // batch
    tx = optax.adam(lr)

    def xent(z, y):
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(z), y[:, None], axis=1))

    def apply(ps, x):
        for i, p in enumerate(ps):
            x = x @ p["w"] + p["b"]
            x = jax.nn.relu(x) if i < len(ps) - 1 else x
        return x

    def body(c, idx):
        params, s = c
        (loss, z), g = jax.value_and_grad(
            lambda p: (lambda z: (xent(z, yd[idx]), z))(apply(p, xd[idx])), has_aux=True)(
            params)
        u, s = tx.update(g, s, params)
        return (optax.apply_updates(params, u), s), (loss, jnp.mean(
            jnp.argmax(z, -1) == yd[idx]))

    @jax.jit
    def epoch(c, e):
        rows = jax.random.permutation(jax.random.fold_in(jax.random.key(1), e), len(xtr))
        c, (loss, acc) = jax.lax.scan(body, c, rows[:steps * batch].reshape(steps, batch))
        z = apply(c[0], vxd)
        return c, {"train_loss": jnp.mean(loss), "train_accuracy": jnp.mean(acc),
                   "val_loss": xent(z, vyd),
                   "val_accuracy": jnp.mean(jnp.argmax(z, -1) == vyd)}

    def run():
        sizes = [xtr.shape[1], hidden, hidden, 10]
        keys = jax.random.split(jax.random.key(0), 3)
        p0 = [{"w": jax.random.normal(k, (a, b), jnp.float32) / np.sqrt(a),
               "b": jnp.zeros((b,), jnp.float32)} for k, a, b in zip(keys, sizes[:-1], sizes[1:])]
        c, logs = (p0, tx.init(p0)), []
        for e in range(epochs):
            c, out = epoch(c, np.int32(e))
            logs.append(out)
        jax.device_get(logs)
        return c[0]

    return run


def fit_run(data, epochs: int, batch: int, lr: float, hidden: int) -> Callable[[], object]:
    """The same run with jaxdl: a new model and a new optimizer object on every call."""
    from jaxdl import optim
    from jaxdl.losses import softmax_cross_entropy
    from jaxdl.nn import Dense, Relu, serial
    from jaxdl.train import fit

    xtr, ytr, xte, yte = data

    def run():
        model = serial(Dense(hidden), Relu(), Dense(hidden), Relu(), Dense(10))
        ts, _ = fit(model, softmax_cross_entropy, optim.adam(lr), (xtr, ytr), val=(xte, yte),
                    epochs=epochs, batch_size=batch, key=jax.random.key(0), verbose=0)
        return ts.params

    return run


def cold(run: Callable[[], object]) -> Callable[[], object]:
    """`run` after `jax.clear_caches()`: every program and eager op compiles again."""
    def go():
        jax.clear_caches()
        return run()
    return go


def predict_pair(hidden: int, x: np.ndarray):
    """(jaxdl predict, hand-held jit of model.apply) on the same 5 examples, both warm."""
    from jaxdl import optim
    from jaxdl.nn import Dense, Relu, serial
    from jaxdl.train import init_state, predict

    def make():
        return serial(Dense(hidden), Relu(), Dense(hidden), Relu(), Dense(10))

    ts = init_state(make(), optim.adam(1e-3), x.shape[1:], jax.random.key(0))
    model = make()
    held = jax.jit(lambda p, s, x: model.apply(p, s, x, train=False)[0])
    xs = x[:5]
    return (lambda: predict(model, ts, xs)), (lambda: held(ts.params, ts.state, xs))
