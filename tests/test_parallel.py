"""`jaxdl.parallel`: data-parallel fit over 4 CPU devices equals one device to 1e-5."""

import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from jaxdl import optim
from jaxdl.core import serial
from jaxdl.losses import softmax_cross_entropy
from jaxdl.nn.dense import Dense
from jaxdl.data_parallel import batch_sharding, data_mesh
from jaxdl.train import fit

HERE = os.path.dirname(__file__)


def test_sharded_fit_with_batchnorm_equals_one_device_in_a_4_device_subprocess():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
           "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, os.path.join(HERE, "_parallel_check.py")], env=env,
                         cwd=HERE, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("OK 4")


def test_data_mesh_spans_every_device_and_names_the_data_axis():
    mesh = data_mesh()
    assert mesh.axis_names == ("data",) and mesh.shape["data"] == len(jax.devices()) == 4
    assert batch_sharding(mesh, 8).spec == jax.sharding.PartitionSpec("data")


def test_fit_rejects_a_batch_that_does_not_split_over_the_devices():
    x = np.ones((40, 3), np.float32)
    y = np.zeros((40,), np.int32)
    with pytest.raises(ValueError, match="fit: batch_size must be a multiple of the 4 devices.*"
                                         "got 10"):
        fit(serial(Dense(2)), softmax_cross_entropy, optim.sgd(0.1), (x, y), epochs=1,
            batch_size=10, key=jax.random.key(0), mesh=data_mesh())
    with pytest.raises(ValueError, match="data_mesh: devices must hold at least one device"):
        data_mesh([])
