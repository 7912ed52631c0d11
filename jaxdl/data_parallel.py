"""Data parallelism with `jax.sharding`: shard each batch over a 'data' mesh axis.

`fit(..., mesh=data_mesh())` is the one way: the TrainState (params, optimizer state, model
state) and the training arrays are replicated on every device; inside the compiled epoch each
gathered batch is constrained to `NamedSharding(mesh, P("data"))`, so every device computes the
forward and backward pass of its `batch_size / devices` examples and XLA inserts the all-reduce of
the gradients (and of the batch-norm means and variances: `apply` sees the whole sharded batch
under jit, so the statistics are global, exactly as on one device). The result equals a
single-device run up to the order of floating-point sums (the tests check 1e-5).

Several processes (`jax.distributed`): each process passes the same data and settings;
`replicate` builds global arrays from each process's full copy (`jax.make_array_from_callback`),
so nothing is put on a device another process owns, and `to_host` reads a replicated array that
spans processes from the local copy.

A process that dies is not handled here: JAX's coordination service aborts the others
(SIGABRT, their stderr naming the lost process) `heartbeat_timeout_seconds` after the death, an
argument of `jax.distributed.initialize` (default 100 s); the checkpoints saved before stay
restorable (`jaxdl.checkpoint`, several processes).

What is tested: one process with 4 CPU devices (`XLA_FLAGS=--xla_force_host_platform_device_count
=4`), sharded vs one-device results to 1e-5, with batch norm; two processes x 2 CPU devices
(gloo collectives, localhost): bit-equal results on both, equal to one process with 4 devices to
1e-5, a checkpoint saved by both and resumed bit for bit, and a SIGKILLed peer
(tests/test_multiprocess.py).
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


def _global(leaf: Any, sharding: NamedSharding) -> jax.Array:
    """One leaf as a global array with `sharding`, built from this process's full copy."""
    if isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        data = _global(jax.random.key_data(leaf), sharding)
        return jax.random.wrap_key_data(data, impl=jax.random.key_impl(leaf))
    host = np.asarray(leaf)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Put every leaf of `tree` on all devices of `mesh` (a full copy each, `P()`).

    Works when the mesh spans several processes (`jax.distributed`): each process passes the
    same full value and keeps the copies on its own devices (`jax.make_array_from_callback`),
    so nothing is sent to a device another process owns.
    """
    sharding = NamedSharding(mesh, P())
    return jax.tree.map(lambda leaf: _global(leaf, sharding), tree)


def to_host(tree: Any) -> Any:
    """NumPy copies of the leaves of `tree`; a replicated array that spans several processes is
    read from this process's own copy (`jax.device_get` refuses it)."""

    def get(leaf):
        if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
            if not leaf.sharding.is_fully_replicated:
                raise ValueError(f"to_host: an array sharded over several processes has no "
                                 f"full copy here, got sharding {leaf.sharding}")
            leaf = leaf.addressable_data(0)
        if isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype,
                                                                 jax.dtypes.prng_key):
            return leaf
        return np.asarray(leaf) if isinstance(leaf, (jax.Array, np.ndarray)) else leaf

    return jax.tree.map(get, tree)


def placed_like(tree: Any, reference: Any) -> Any:
    """`tree` replicated on the mesh of `reference`'s first leaf when that leaf spans several
    processes (evaluate and predict on a multi-process TrainState); else `tree` unchanged."""
    leaves = [leaf for leaf in jax.tree.leaves(reference) if isinstance(leaf, jax.Array)]
    if not leaves or leaves[0].is_fully_addressable or not isinstance(leaves[0].sharding,
                                                                      NamedSharding):
        return tree
    return replicate(tree, leaves[0].sharding.mesh)


__all__ = ["data_mesh", "batch_sharding", "replicate", "to_host", "placed_like"]
