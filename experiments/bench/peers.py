"""The MNIST-1D MLP (40-100-100-10, Adam 1e-2, batch 100) as each library's idiomatic training
loop, for the benchmarks: hand-written JAX + optax, Flax NNX (`nnx.jit` step), Equinox
(`eqx.filter_jit` step), Haiku (`hk.transform` + `jax.jit` step). Every loop takes the same
batches (one permutation per epoch, drawn on device, gathered in NumPy on the host as the
libraries' examples do) and evaluates validation accuracy after each epoch.

`python -m experiments.bench.peers NAME` (NAME a key of LOOPS, or "jaxdl") measures, in a fresh
process, the seconds from the start (after imports, data and a JAX warm-up) to the first finished
step and to the first validated epoch, and prints them as JSON.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

LR, BATCH, HIDDEN = 1e-2, 100, 100


def xent(logits: jax.Array, y: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy with integer labels."""
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))


def hand_mlp(sizes: list[int], key: jax.Array) -> list[dict]:
    """LeCun-normal weights (as jaxdl's Dense), zero biases."""
    keys = jax.random.split(key, len(sizes) - 1)
    return [{"w": jax.random.normal(k, (a, b), jnp.float32) / np.sqrt(a),
             "b": jnp.zeros((b,), jnp.float32)} for k, a, b in zip(keys, sizes[:-1], sizes[1:])]


def hand_mlp_apply(params: list[dict], x: jax.Array) -> jax.Array:
    for i, p in enumerate(params):
        x = x @ p["w"] + p["b"][None, :]
        if i < len(params) - 1:
            x = jax.nn.relu(x)
    return x


def mlp(hidden: list[int], classes: int = 10):
    """jaxdl's MLP: Dense + Relu per hidden width, then Dense(classes)."""
    from jaxdl.nn import Dense, Relu, serial

    layers = []
    for h in hidden:
        layers += [Dense(h), Relu()]
    return serial(*layers, Dense(classes))


def cnn():
    """jaxdl's CNN on 8x8x1 digits: conv16-pool-conv32-pool-dense10."""
    from jaxdl.nn import Conv2D, Dense, Flatten, MaxPool2D, Relu, serial

    return serial(Conv2D(16, 3, padding="SAME"), Relu(), MaxPool2D(2),
                  Conv2D(32, 3, padding="SAME"), Relu(), MaxPool2D(2), Flatten(), Dense(10))


def hand_step(apply, tx):
    """The hand-written jitted Adam step: `step((params, opt_state), x, y)`."""
    def step(carry, x, y):
        params, opt_state = carry
        loss, grads = jax.value_and_grad(lambda p: xent(apply(p, x), y))(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss
    return jax.jit(step)


def hand_cnn_params(key):
    k = jax.random.split(key, 3)
    return {"c1": jax.random.normal(k[0], (3, 3, 1, 16)) / 3.0, "b1": jnp.zeros(16),
            "c2": jax.random.normal(k[1], (3, 3, 16, 32)) / 12.0, "b2": jnp.zeros(32),
            "w": jax.random.normal(k[2], (128, 10)) / np.sqrt(128), "b": jnp.zeros(10)}


def hand_cnn_apply(p, x):
    dn = ("NHWC", "HWIO", "NHWC")

    def block(h, w, b):
        h = jax.nn.relu(jax.lax.conv_general_dilated(h, w, (1, 1), "SAME",
                                                     dimension_numbers=dn) + b[None, None, None, :])
        return jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1),
                                     "VALID")

    h = block(block(x, p["c1"], p["b1"]), p["c2"], p["b2"])
    return h.reshape(h.shape[0], -1) @ p["w"] + p["b"][None, :]


class Loop(NamedTuple):
    """`init() -> carry`, `step(carry, x, y) -> carry`, `accuracy(carry, x, y) -> scalar`."""

    init: Callable[[], Any]
    step: Callable[[Any, Any, Any], Any]
    accuracy: Callable[[Any, Any, Any], jax.Array]


def hand_loop() -> Loop:
    tx = optax.adam(LR)

    @jax.jit
    def step(c, x, y):
        p, s = c
        g = jax.grad(lambda p: xent(hand_mlp_apply(p, x), y))(p)
        u, s = tx.update(g, s, p)
        return optax.apply_updates(p, u), s

    def init():
        p = hand_mlp([40, HIDDEN, HIDDEN, 10], jax.random.key(0))
        return p, tx.init(p)

    acc = jax.jit(lambda c, x, y: jnp.mean(jnp.argmax(hand_mlp_apply(c[0], x), -1) == y))
    return Loop(init, step, acc)


def flax_loop() -> Loop:
    from flax import nnx

    class MLP(nnx.Module):
        def __init__(self, rngs):
            self.l1 = nnx.Linear(40, HIDDEN, rngs=rngs)
            self.l2 = nnx.Linear(HIDDEN, HIDDEN, rngs=rngs)
            self.l3 = nnx.Linear(HIDDEN, 10, rngs=rngs)

        def __call__(self, x):
            return self.l3(jax.nn.relu(self.l2(jax.nn.relu(self.l1(x)))))

    @nnx.jit
    def train_step(m, o, x, y):
        loss, g = nnx.value_and_grad(lambda m: xent(m(x), y))(m)
        o.update(m, g)
        return loss

    first = []

    def init():  # built once; later runs start from a copy (new objects would recompile)
        if not first:
            m = MLP(nnx.Rngs(0))
            first.append(nnx.split((m, nnx.Optimizer(m, optax.adam(LR), wrt=nnx.Param))))
        return nnx.merge(*first[0])

    def step(c, x, y):
        train_step(c[0], c[1], x, y)
        return c

    acc = nnx.jit(lambda m, x, y: jnp.mean(jnp.argmax(m(x), -1) == y))
    return Loop(init, step, lambda c, x, y: acc(c[0], x, y))


def equinox_loop() -> Loop:
    import equinox as eqx

    tx = optax.adam(LR)

    @eqx.filter_jit
    def step(c, x, y):
        m, s = c
        g = eqx.filter_grad(lambda m: xent(jax.vmap(m)(x), y))(m)
        u, s = tx.update(g, s, eqx.filter(m, eqx.is_array))
        return eqx.apply_updates(m, u), s

    def init():
        m = eqx.nn.MLP(40, 10, HIDDEN, 2, activation=jax.nn.relu, key=jax.random.key(0))
        return m, tx.init(eqx.filter(m, eqx.is_array))

    acc = eqx.filter_jit(lambda c, x, y: jnp.mean(jnp.argmax(jax.vmap(c[0])(x), -1) == y))
    return Loop(init, step, acc)


def haiku_loop() -> Loop:
    import haiku as hk

    net = hk.without_apply_rng(hk.transform(lambda x: hk.nets.MLP([HIDDEN, HIDDEN, 10])(x)))
    tx = optax.adam(LR)

    @jax.jit
    def step(c, x, y):
        p, s = c
        g = jax.grad(lambda p: xent(net.apply(p, x), y))(p)
        u, s = tx.update(g, s, p)
        return optax.apply_updates(p, u), s

    def init():
        p = net.init(jax.random.key(0), jnp.zeros((1, 40), jnp.float32))
        return p, tx.init(p)

    acc = jax.jit(lambda c, x, y: jnp.mean(jnp.argmax(net.apply(c[0], x), -1) == y))
    return Loop(init, step, acc)


LOOPS = {"JAX+optax": hand_loop, "Flax NNX": flax_loop, "Equinox": equinox_loop,
         "Haiku": haiku_loop}
MODULES = {"Flax NNX": "flax.nnx", "Equinox": "equinox", "Haiku": "haiku"}


def available() -> dict[str, Callable[[], Loop]]:
    """The loops whose library imports (the peers are the optional `bench` extra)."""
    import importlib

    out = {}
    for name, make in LOOPS.items():
        try:
            if name in MODULES:
                importlib.import_module(MODULES[name])
            out[name] = make
        except ImportError:
            pass
    return out


@functools.partial(jax.jit, static_argnums=(1, 2))
def _permutation(key: jax.Array, n: int, steps: int) -> jax.Array:
    return jax.random.permutation(key, n)[:steps * BATCH].reshape(steps, BATCH)


def epoch_rows(n: int, steps: int) -> Callable[[int], np.ndarray]:
    """`rows(epoch)` -> (steps, BATCH) int indices: one permutation per epoch (on device; one
    program per (n, steps), in jit's own cache)."""
    return lambda e: np.asarray(_permutation(jax.random.fold_in(jax.random.key(1), e), n, steps))


def run(loop: Loop, data: tuple, epochs: int) -> tuple[Any, float]:
    """Train `epochs` epochs on `data = (xtr, ytr, xte, yte)` (NumPy); final val accuracy."""
    xtr, ytr, xte, yte = data
    rows = epoch_rows(len(xtr), len(xtr) // BATCH)
    c, acc = loop.init(), None
    for e in range(epochs):
        for idx in rows(e):
            c = loop.step(c, xtr[idx], ytr[idx])
        acc = loop.accuracy(c, xte, yte)
    return c, float(acc)


def mnist1d_numpy(quick: bool) -> tuple[np.ndarray, ...]:
    """MNIST-1D (4000 train, 1000 val) as NumPy; `quick`: random data of the same shape, 1000 +
    200 examples (generating MNIST-1D takes seconds; a smoke test needs no real data)."""
    if quick:
        rng = np.random.default_rng(0)
        return (rng.normal(size=(1000, 40)).astype(np.float32),
                rng.integers(0, 10, 1000).astype(np.int32),
                rng.normal(size=(200, 40)).astype(np.float32),
                rng.integers(0, 10, 200).astype(np.int32))
    from jaxdl.data import mnist1d

    (xtr, ytr), (xte, yte) = mnist1d()
    return tuple(np.asarray(a) for a in (xtr, ytr, xte, yte))


def first_result(name: str, quick: bool) -> dict[str, float]:
    """Seconds to the first finished step and the first validated epoch, from a cold start."""
    data = mnist1d_numpy(quick)
    xtr, ytr, xte, yte = data
    if name == "jaxdl":
        from jaxdl import optim
        from jaxdl.losses import softmax_cross_entropy
        from jaxdl.nn import Dense, Relu, serial
        from jaxdl.train import fit

        model = serial(Dense(HIDDEN), Relu(), Dense(HIDDEN), Relu(), Dense(10))
    else:
        loop = LOOPS[name]()
    jax.block_until_ready(jax.jit(lambda a: a + 1.0)(jnp.ones(4)))  # backend start-up
    t0 = time.perf_counter()
    if name == "jaxdl":  # fit's first result is its first epoch, validated
        ts, _ = fit(model, softmax_cross_entropy, optim.adam(LR), (xtr, ytr), val=(xte, yte),
                    epochs=1, batch_size=BATCH, key=jax.random.key(0), verbose=0)
        jax.block_until_ready(ts.params)
        first = epoch = time.perf_counter() - t0
    else:
        rows = epoch_rows(len(xtr), len(xtr) // BATCH)(0)
        c = loop.step(loop.init(), xtr[rows[0]], ytr[rows[0]])
        jax.block_until_ready(c)
        first = time.perf_counter() - t0
        for idx in rows[1:]:
            c = loop.step(c, xtr[idx], ytr[idx])
        float(loop.accuracy(c, xte, yte))
        epoch = time.perf_counter() - t0
    return {"first_step": first, "first_epoch": epoch}


if __name__ == "__main__":
    print(json.dumps(first_result(sys.argv[1], len(sys.argv) > 2 and sys.argv[2] == "quick")))
