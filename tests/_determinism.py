"""Helper for test_train: fit a small model for each seed in argv[2:], save params to argv[1]."""

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
from jaxdl.nn.reshape import Flatten
from jaxdl.train import fit

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")

(x, y), _ = digits()
model = serial(Flatten(), Dense(32), Relu(), Dropout(0.2), Dense(10))
opt = optim.adam(1e-2)
out = {}
for seed in sys.argv[2:]:
    ts, _ = fit(model, softmax_cross_entropy, opt, (x[:512], y[:512]), epochs=2, batch_size=32,
                key=jax.random.key(int(seed)), progress=False)
    for path, leaf in jax.tree_util.tree_flatten_with_path(ts.params)[0]:
        out[f"seed{seed}/{jax.tree_util.keystr(path)}"] = np.asarray(leaf)
np.savez(sys.argv[1], **out)
