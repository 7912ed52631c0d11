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


def stream(shard=None):
    """The streamed run's source: DATA in global batches of 32, each process its own rows
    (`shard=None`: from jax.process_index()); `fit(MODEL, LOSS, OPT, stream(), **STREAM)`."""
    from jaxdl.data.streaming import ArrayStream

    return ArrayStream(*DATA, 32, seed=5, shard=shard)


def grain_loader(epoch, shard_options):
    """A grain DataLoader over DATA for one epoch: the examples of this shard (grain's
    `ShardByJaxProcess` in each process: contiguous halves), shuffled by the epoch, in local
    batches of 16 (a global batch of 32 over 2 processes)."""
    import grain

    examples = [(DATA[0][i], DATA[1][i]) for i in range(len(DATA[1]))]
    sampler = grain.samplers.IndexSampler(len(examples), shard_options=shard_options,
                                          shuffle=True, seed=epoch, num_epochs=1)
    return grain.DataLoader(data_source=examples, sampler=sampler, worker_count=0,
                            operations=[grain.transforms.Batch(16, drop_remainder=True)])


STREAM = dict(epochs=2, key=jax.random.key(0), verbose=0, chunk=3)
