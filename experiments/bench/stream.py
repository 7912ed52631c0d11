"""Streaming for the benchmarks: fit from a memory-mapped `.npy` file larger than the in-memory
cap, against the in-memory fit of a subset that fits, each in a process of its own so that the
peak resident memory (`resource.getrusage(RUSAGE_SELF).ru_maxrss`) is the training's alone.

The data: MNIST-1D-shaped rows (40 float32 features, an int32 label; the 4000 MNIST-1D training
examples tiled with fresh Gaussian noise, sd 0.1, per copy). The model: the MNIST-1D MLP
40-100-100-10, Adam 1e-3, batch 512, chunks of 64 batches. Each process first runs a small fit
of the same shapes (compiling the programs), then times one epoch: the stream over every row of
the file, the in-memory fit over `subset` rows, and reports seconds per example.

`python -m experiments.bench.stream make DIR ROWS` writes DIR/x.npy, DIR/y.npy;
`python -m experiments.bench.stream stream|memory DIR SUBSET` prints JSON.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time

import jax
import numpy as np

BATCH, CHUNK, FEATURES, BLOCK = 512, 64, 40, 32


def make(directory: str, rows: int, quick: bool = False) -> None:
    """Write `rows` MNIST-1D-shaped examples to directory/x.npy and y.npy, a block at a time."""
    from experiments.bench.peers import mnist1d_numpy

    xtr, ytr = mnist1d_numpy(quick)[:2]
    os.makedirs(directory, exist_ok=True)
    x = np.lib.format.open_memmap(os.path.join(directory, "x.npy"), "w+", np.float32,
                                  (rows, FEATURES))
    y = np.lib.format.open_memmap(os.path.join(directory, "y.npy"), "w+", np.int32, (rows,))
    rng = np.random.default_rng(0)
    for lo in range(0, rows, len(xtr)):
        k = min(len(xtr), rows - lo)
        x[lo:lo + k] = xtr[:k] + rng.normal(0, 0.1, (k, FEATURES)).astype(np.float32)
        y[lo:lo + k] = ytr[:k]
    x.flush(), y.flush()
    del x, y


def _model():
    from jaxdl import optim
    from jaxdl.activations import Relu
    from jaxdl.core import serial
    from jaxdl.nn.dense import Dense

    return serial(Dense(100), Relu(), Dense(100), Relu(), Dense(10)), optim.adam(1e-3)


def run(kind: str, directory: str, subset: int) -> dict:
    """One epoch of `kind` ("stream": every row of the file; "memory": the first `subset` rows
    loaded into memory), after a warm-up fit of the same shapes; seconds, examples, peak RSS."""
    from jaxdl.data.streaming import ArrayStream
    from jaxdl.losses import softmax_cross_entropy
    from jaxdl.train import fit

    model, opt = _model()
    key = jax.random.key(0)
    xp, yp = os.path.join(directory, "x.npy"), os.path.join(directory, "y.npy")

    def train(data, epochs, **kw):
        ts, h = fit(model, softmax_cross_entropy, opt, data, epochs=epochs, key=key, verbose=0,
                    **kw)
        jax.block_until_ready(ts)
        return h

    if kind == "stream":  # the warm-up compiles a full chunk and the epoch's last, shorter one
        rows = (CHUNK + (len(np.load(yp, mmap_mode="r")) // BATCH) % CHUNK) * BATCH
        warm = [np.array(np.load(p, mmap_mode="r")[:rows]) for p in (xp, yp)]
        train(ArrayStream(*warm, BATCH), 1, chunk=CHUNK)
        del warm
        stream = ArrayStream(xp, yp, BATCH, seed=0, block=BLOCK)
        t0 = time.perf_counter()
        h = train(stream, 1, chunk=CHUNK)
        seconds, examples = time.perf_counter() - t0, len(stream) * BATCH
    else:
        x = np.array(np.load(xp, mmap_mode="r")[:subset])
        y = np.array(np.load(yp, mmap_mode="r")[:subset])
        h = train((x, y), 2, batch_size=BATCH)  # epoch 0 compiles; epoch 1 is timed
        seconds, examples = float(h.values["seconds"][1]), (subset // BATCH) * BATCH
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    return {"kind": kind, "seconds": seconds, "examples": examples,
            "s_per_example": seconds / examples, "peak_rss_bytes": peak,
            "file_bytes": os.path.getsize(xp) + os.path.getsize(yp),
            "final_train_loss": float(h.values["train_loss"][-1])}


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], int(sys.argv[3]), sys.argv[4:] == ["quick"])
    else:
        print(json.dumps(run(sys.argv[1], sys.argv[2], int(sys.argv[3]))))
