"""Helper for test_determinism: `python _determinism_run.py OUT.npz SEED [SEED ...]`.

For each seed, fits a small MLP with batch norm and dropout on the first 512 digits (2 epochs,
with validation) and saves every leaf of the final TrainState (params, model state, optimizer
state, step) and every history value but the wall-clock "seconds", under "seed{s}/...".
"""

import sys

import jax
import numpy as np

from jaxdl import optim
from jaxdl.activations import Relu
from jaxdl.core import serial
from jaxdl.data import digits
from jaxdl.losses import softmax_cross_entropy
from jaxdl.nn.dense import Dense
from jaxdl.nn.dropout import Dropout
from jaxdl.nn.normalization import BatchNorm
from jaxdl.nn.reshape import Flatten
from jaxdl.train import fit

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")


def main(out: str, seeds: list[str]) -> None:
    (x, y), (xt, yt) = digits()
    model = serial(Flatten(), Dense(32), BatchNorm(), Relu(), Dropout(0.2), Dense(10))
    arrays = {}
    for seed in seeds:
        ts, history = fit(model, softmax_cross_entropy, optim.adam(1e-2), (x[:512], y[:512]),
                          val=(xt[:128], yt[:128]), epochs=2, batch_size=32,
                          key=jax.random.key(int(seed)), verbose=0)
        for path, leaf in jax.tree_util.tree_flatten_with_path(ts)[0]:
            value = jax.random.key_data(leaf) if jax.dtypes.issubdtype(
                leaf.dtype, jax.dtypes.prng_key) else leaf
            arrays[f"seed{seed}/state{jax.tree_util.keystr(path)}"] = np.asarray(value)
        for name, values in history.values.items():
            if name != "seconds":
                arrays[f"seed{seed}/history/{name}"] = np.asarray(values)
    np.savez(out, **arrays)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
