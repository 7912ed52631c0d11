"""Data parallelism with `jax.sharding`: shard each batch over a 'data' mesh axis.

`fit(..., mesh=data_mesh())` is the one way: the TrainState (params, optimizer state, model
state) and the training arrays are replicated on every device; inside the compiled epoch each
gathered batch is constrained to `NamedSharding(mesh, P("data"))`, so every device computes the
forward and backward pass of its `batch_size / devices` examples and XLA inserts the all-reduce of
the gradients (and of the batch-norm means and variances: `apply` sees the whole sharded batch
under jit, so the statistics are global, exactly as on one device). The result equals a
single-device run up to the order of floating-point sums (the tests check 1e-5).

What is tested: one process with 4 CPU devices (`XLA_FLAGS=--xla_force_host_platform_device_count
=4`), sharded vs one-device results to 1e-5, with batch norm. Several processes
(`jax.distributed`) are not supported yet: `replicate` puts host data on every device of the mesh
with `device_put`, which fails for devices another process owns.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P


def data_mesh(devices: Sequence[Any] | None = None) -> Mesh:
    """A 1-D `Mesh` named 'data' over `devices` (default: every device, `jax.devices()`)."""
    devices = list(jax.devices() if devices is None else devices)
    if not devices:
        raise ValueError("data_mesh: devices must hold at least one device, got none")
    return Mesh(np.array(devices), ("data",))


def batch_sharding(mesh: Mesh, batch_size: int, owner: str = "batch_sharding") -> NamedSharding:
    """`NamedSharding(mesh, P('data'))` for a batch; `batch_size` must divide by the axis size."""
    if "data" not in mesh.axis_names:
        raise ValueError(f"{owner}: mesh must have a 'data' axis, got axes {mesh.axis_names}")
    n = mesh.shape["data"]
    if batch_size % n:
        raise ValueError(f"{owner}: batch_size must be a multiple of the {n} devices on the "
                         f"'data' axis, got {batch_size}; use e.g. {max(n, batch_size // n * n)}")
    return NamedSharding(mesh, P("data"))


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Put every leaf of `tree` on all devices of `mesh` (a full copy each, `P()`)."""
    return jax.device_put(tree, NamedSharding(mesh, P()))


__all__ = ["data_mesh", "batch_sharding", "replicate"]
