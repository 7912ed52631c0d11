"""Helper for test_parallel: fit on 1 device and sharded over 4 CPU devices; compare to 1e-5.

Run with XLA_FLAGS=--xla_force_host_platform_device_count=4; prints "OK <devices>" on success.
"""

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import optim
from jaxdl.activations import Relu
from jaxdl.core import serial
from jaxdl.data import digits
from jaxdl.losses import softmax_cross_entropy
from jaxdl.nn.dense import Dense
from jaxdl.nn.normalization import BatchNorm
from jaxdl.nn.reshape import Flatten
from jaxdl.data_parallel import batch_sharding, data_mesh, replicate
from jaxdl.train import EpochConfig, fit, init_state, run_epoch

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")

assert len(jax.devices()) == 4, jax.devices()
(x, y), _ = digits()
x, y = x[:256], y[:256]
# no bias before BatchNorm: its gradient is exactly 0 in theory, rounding noise in practice, and
# Adam's g / sqrt(v) would blow that noise up to +-lr per step on either run
model = serial(Flatten(), Dense(32, use_bias=False), BatchNorm(), Relu(), Dense(10))
opt = optim.adam(1e-2)
args = dict(epochs=2, batch_size=32, key=jax.random.key(0), verbose=0, val=(x[:64], y[:64]))
one, h1 = fit(model, softmax_cross_entropy, opt, (x, y), **args)
mesh = data_mesh()
many, h4 = fit(model, softmax_cross_entropy, opt, (x, y), mesh=mesh, **args)
for a, b in zip(jax.tree.leaves((one.params, one.state)),
                jax.tree.leaves((many.params, many.state))):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)
np.testing.assert_allclose(h1.train_loss, h4.train_loss, rtol=1e-5)
assert all(leaf.sharding.is_fully_replicated and len(leaf.sharding.device_set) == 4
           for leaf in jax.tree.leaves(many.params))
# the compiled epoch really splits the batch: the gradient needs a cross-device reduction
config = EpochConfig(32, sharding=batch_sharding(mesh, 32))
run = jax.jit(lambda *a: run_epoch(model, softmax_cross_entropy, opt, config, *a))
ts, xs, ys = replicate((init_state(model, opt, (8, 8, 1), jax.random.key(0)), x, y), mesh)
hlo = run.lower(ts, jnp.asarray(0, jnp.int32), xs, ys).compile().as_text()
assert "all-reduce" in hlo
print("OK", len(jax.devices()))
