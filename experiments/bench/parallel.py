"""Data parallel for the benchmarks, run in its own process so that the device count can be
forced before JAX starts: `fit(..., mesh=data_mesh())` over every device vs `fit` on one device,
the MNIST-1D MLP, same key. Prints JSON: devices, samples/s of each, and the largest parameter
and train-loss differences. `XLA_FLAGS=--xla_force_host_platform_device_count=4` on CPU gives 4
host devices sharing the same cores: the equality check is real, the throughput is not scaling.

`python -m experiments.bench.parallel EPOCHS REPS [quick]`
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import jax
import numpy as np

from experiments.bench.peers import BATCH, HIDDEN, LR, mnist1d_numpy
from jaxdl import optim
from jaxdl.data_parallel import data_mesh
from jaxdl.losses import softmax_cross_entropy
from jaxdl.nn import Dense, Relu, serial
from jaxdl.train import fit


def main(epochs: int, reps: int, quick: bool, model=None, opt=None) -> dict:
    """Time fit on every device vs one; `model`, `opt` default to the MNIST-1D MLP and Adam."""
    xtr, ytr, xte, yte = mnist1d_numpy(quick)
    model = model or serial(Dense(HIDDEN), Relu(), Dense(HIDDEN), Relu(), Dense(10))
    opt, mesh = opt or optim.adam(LR), data_mesh()

    def run(m):
        ts, h = fit(model, softmax_cross_entropy, opt, (xtr, ytr), val=(xte, yte), epochs=epochs,
                    batch_size=BATCH, key=jax.random.key(0), verbose=0, mesh=m)
        return jax.block_until_ready(ts), h

    (one, h1), (many, hn) = run(None), run(mesh)  # compile both, and the results to compare
    times: dict[str, list[float]] = {"one": [], "all": []}
    for i in range(reps):
        for name, m in (("one", None), ("all", mesh)) if i % 2 == 0 else (("all", mesh),
                                                                          ("one", None)):
            t0 = time.perf_counter()
            run(m)
            times[name].append(time.perf_counter() - t0)
    samples = epochs * (len(xtr) // BATCH) * BATCH
    diff = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
               for a, b in zip(jax.tree.leaves(one.params), jax.tree.leaves(many.params)))
    loss = float(np.max(np.abs(h1.train_loss - hn.train_loss) / np.abs(h1.train_loss)))
    return {"devices": len(jax.devices()), "device": jax.devices()[0].device_kind,
            "samples_per_s_one": samples / statistics.median(times["one"]),
            "samples_per_s_all": samples / statistics.median(times["all"]),
            "seconds_one": times["one"], "seconds_all": times["all"],
            "max_param_diff": diff, "max_train_loss_rel_diff": loss,
            "replicated": all(len(leaf.sharding.device_set) == len(jax.devices())
                              for leaf in jax.tree.leaves(many.params))}


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:] == ["quick"])))
