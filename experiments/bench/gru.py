"""The MNIST-1D paper's GRU (bidirectional, 6 units per direction, 40 steps of 1 feature, the 480
outputs flattened into Linear(480, 10); batch 100, Adam 1e-2): training epochs with jaxdl's
`fit` against the same GRU written by hand, a `lax.scan` over time inside a `lax.scan` over the
epoch's batches with an optax Adam step, one compiled program per epoch, recording the same
train loss and accuracy. Both take the same data, batch size and number of steps; the ratio is
the median of the per-pair ratios of interleaved repetitions (`util.paired`), each after a
warm-up run (compiled), `block_until_ready` before each clock read.

`python -m experiments.bench.gru [EPOCHS REPS]` from the repository root prints JSON: seconds
per train step of each, their ratio and its quartiles. `measure(quick)` returns the same dict.
"""

from __future__ import annotations

import json
import math
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments.bench.peers import BATCH, LR, mnist1d_numpy, xent
from experiments.bench.util import paired
from jaxdl import initializers, optim
from jaxdl.losses import softmax_cross_entropy
from jaxdl.nn import GRU, Bidirectional, Dense, Flatten, Reshape, serial
from jaxdl.train import fit

H, T = 6, 40


def model(hidden: int = H):
    """jaxdl's GRUBase, PyTorch's init U(-1/sqrt(fan), 1/sqrt(fan)) as in the paper."""
    u = initializers.uniform(1.0 / math.sqrt(hidden))
    lin = {"w_init": initializers.uniform(1.0 / math.sqrt(T * 2 * hidden)),
           "b_init": initializers.uniform(1.0 / math.sqrt(T * 2 * hidden))}
    return serial(Reshape((T, 1)),
                  Bidirectional(GRU(hidden, return_sequences=True, w_init=u, w_h_init=u,
                                    b_init=u)),
                  Flatten(), Dense(10, **lin))


def hand_params(key: jax.Array, hidden: int = H) -> dict:
    """The same parameters as a plain dict, drawn as PyTorch does."""
    k = jax.random.split(key, 10)
    u = lambda k_, shape, fan: jax.random.uniform(k_, shape, jnp.float32, -fan ** -0.5,  # noqa
                                                  fan ** -0.5)
    gru = lambda ks: {"w_i": u(ks[0], (1, 3 * hidden), hidden),  # noqa: E731
                      "w_h": u(ks[1], (hidden, 3 * hidden), hidden),
                      "b_i": u(ks[2], (3 * hidden,), hidden),
                      "b_h": u(ks[3], (3 * hidden,), hidden)}
    return {"fwd": gru(k[:4]), "bwd": gru(k[4:8]),
            "w": u(k[8], (T * 2 * hidden, 10), T * 2 * hidden),
            "b": u(k[9], (10,), T * 2 * hidden)}


def hand_gru(p: dict, x: jax.Array) -> jax.Array:
    """PyTorch's GRU over x (batch, time, 1) -> (batch, time, H), written out."""
    hidden = p["w_h"].shape[0]
    xw = x @ p["w_i"] + p["b_i"]

    def step(h, xw_t):
        (x_r, x_z, x_n), (h_r, h_z, h_n) = (jnp.split(a, 3, -1)
                                            for a in (xw_t, h @ p["w_h"] + p["b_h"]))
        r, z = jax.nn.sigmoid(x_r + h_r), jax.nn.sigmoid(x_z + h_z)
        n = jnp.tanh(x_n + r * h_n)
        h = (1 - z) * n + z * h
        return h, h

    _, ys = jax.lax.scan(step, jnp.zeros((x.shape[0], hidden), x.dtype), jnp.swapaxes(xw, 0, 1))
    return jnp.swapaxes(ys, 0, 1)


def hand_apply(p: dict, x: jax.Array) -> jax.Array:
    x = x[..., None]
    fwd = hand_gru(p["fwd"], x)
    bwd = hand_gru(p["bwd"], x[:, ::-1])[:, ::-1]
    h = jnp.concatenate([fwd, bwd], -1).reshape(x.shape[0], -1)
    return h @ p["w"] + p["b"]


def hand_epoch(tx, xd: jax.Array, yd: jax.Array, steps: int):
    """One epoch as one jitted lax.scan over shuffled batches, recording the mean train loss and
    accuracy (what fit's History records without validation)."""
    def body(c, idx):
        params, s = c
        (loss, z), g = jax.value_and_grad(
            lambda p: (lambda z_: (xent(z_, yd[idx]), z_))(hand_apply(p, xd[idx])),
            has_aux=True)(params)
        u, s = tx.update(g, s, params)
        return (optax.apply_updates(params, u), s), (loss, jnp.mean(jnp.argmax(z, -1) == yd[idx]))

    def epoch(c, e):
        rows = jax.random.permutation(jax.random.fold_in(jax.random.key(1), e),
                                      len(xd))[:steps * BATCH].reshape(steps, BATCH)
        c, (loss, acc) = jax.lax.scan(body, c, rows)
        return c, {"train_loss": jnp.mean(loss), "train_accuracy": jnp.mean(acc)}
    return jax.jit(epoch)


def measure(quick: bool, epochs: int | None = None, reps: int | None = None) -> dict:
    """Seconds per train step of fit and of the hand-written scan, and their ratio."""
    epochs = epochs or (1 if quick else 5)
    reps = reps or (2 if quick else 9)
    xtr, ytr, _, _ = mnist1d_numpy(quick)
    steps = len(xtr) // BATCH
    net, adam, tx = model(), optim.adam(LR), optax.adam(LR)
    xd, yd = jnp.asarray(xtr), jnp.asarray(ytr)
    run_epoch = hand_epoch(tx, xd, yd, steps)

    def run_fit():
        ts, _ = fit(net, softmax_cross_entropy, adam, (xtr, ytr), epochs=epochs,
                    batch_size=BATCH, key=jax.random.key(0), verbose=0)
        return ts.params

    def run_hand():
        p = hand_params(jax.random.key(0))
        c, logs = (p, tx.init(p)), []
        for e in range(epochs):
            c, out = run_epoch(c, np.int32(e))
            logs.append(out)
        jax.device_get(logs)  # as fit, which hands the logs to the host
        return c[0]

    p = paired(run_fit, run_hand, reps, warm=1)
    n = epochs * steps
    return {"fit_step_s": p.a / n, "hand_step_s": p.b / n, "ratio": p.ratio, "q1": p.q1,
            "q3": p.q3, "steps_per_run": n, "reps": reps, "batch": BATCH, "hidden": H,
            "time_steps": T}


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    print(json.dumps(measure(False, *args)))
