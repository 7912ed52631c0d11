"""The run test_multiprocess trains: the same model, data and settings in the test process (the
1-process x 4-device reference) and in each `jax.distributed` process."""

import jax

from jaxdl import optim
from jaxdl.activations import Relu
from jaxdl.core import serial
from jaxdl.data import digits
from jaxdl.losses import softmax_cross_entropy
from jaxdl.nn.dense import Dense
from jaxdl.nn.normalization import BatchNorm
from jaxdl.nn.reshape import Flatten

(x, y), _ = digits()
DATA = (x[:256], y[:256])
# no bias before BatchNorm (see _parallel_check.py: its gradient is rounding noise)
MODEL = serial(Flatten(), Dense(32, use_bias=False), BatchNorm(), Relu(), Dense(10))
OPT = optim.adam(1e-2)
LOSS = softmax_cross_entropy
ARGS = dict(epochs=2, batch_size=32, key=jax.random.key(0), verbose=0, val=(x[:64], y[:64]))
