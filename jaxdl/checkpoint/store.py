"""Writing checkpoints: `save` through orbax's CheckpointManager, and `steps`, the list of them.

The tree is stored flat, one array per leaf keyed by its path ("params.0_dense.w"), PRNG keys as
their raw key data; with it, `save` stores jaxdl's integrity record (`integrity.record`: every
leaf's dtype, shape and CRC-32) as a second item, so `restore` can tell a damaged
checkpoint from an intact one.

Several processes (`jax.distributed`): every process calls `save` with the same replicated
state (what `fit(..., mesh=...)` trains), and orbax's multi-process protocol makes one checkpoint
of it: process 0 alone writes the arrays, the record and orbax's metadata and commits the step,
the others wait at orbax's barriers; the processes first compare the CRC-32 of their records, so
a checkpoint is only written when every process holds the same bits. Listing (`steps`) and
reading (`restore`) are local to the calling process: no barrier, so any subset of the processes,
or one process of another run, can read a checkpoint.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import re
import shutil
from typing import Any

import jax
import numpy as np

from jaxdl import checks
from jaxdl.checkpoint.integrity import ITEM, RECORD, record

TMP = ".orbax-checkpoint-tmp"  # orbax's suffix for a checkpoint being written


def path_name(path: tuple) -> str:
    """The flat key of a leaf: its pytree path joined by dots ("params.0_dense.w")."""
    parts = []
    for p in path:
        for attr in ("key", "name", "idx"):
            if hasattr(p, attr):
                parts.append(str(getattr(p, attr)))
                break
        else:
            parts.append(str(p))
    return ".".join(parts)


def is_key(leaf: Any) -> bool:
    """A PRNG key array, concrete or abstract (`jax.ShapeDtypeStruct`)."""
    return isinstance(leaf, (jax.Array, jax.ShapeDtypeStruct)) and jax.dtypes.issubdtype(
        leaf.dtype, jax.dtypes.prng_key)


def _host(leaf: Any, name: str) -> np.ndarray:
    """This process's NumPy copy of `leaf`; a replicated array that spans several processes is
    read from its local copy, one sharded over them is a ValueError (it has no copy here)."""
    if is_key(leaf):
        leaf = jax.random.key_data(leaf)
    if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
        if not leaf.sharding.is_fully_replicated:
            raise ValueError(f"checkpoint.save: leaf {name} is sharded over several processes "
                             f"({leaf.sharding}), so this process holds only part of it; save "
                             "a replicated state (what fit(..., mesh=...) trains)")
        leaf = leaf.addressable_data(0)
    return np.asarray(leaf)


def _flat(tree: Any) -> dict[str, np.ndarray]:
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {path_name(p): _host(v, path_name(p)) for p, v in leaves}


def _check_same(rec: dict, directory: str, step: int) -> None:
    """With several processes: every one saves step `step` of the same bits (the CRC-32 of its
    record), else the same ValueError in all of them, before anything is written."""
    from jax.experimental import multihost_utils

    mine = np.array([rec["crc32"], step], dtype=np.uint32)
    every = np.asarray(multihost_utils.process_allgather(mine)).reshape(-1, 2)
    if (every != mine).any():
        raise ValueError(
            f"checkpoint.save: the {len(every)} processes must save the same state and step, got "
            f"(record CRC-32, step) per process {[tuple(int(v) for v in r) for r in every]} for "
            f"{directory!r}; every process calls save with the replicated TrainState of one run")


def local_options() -> Any:
    """orbax's options for work of this process alone (listing and reading steps): with several
    `jax.distributed` processes, no barrier waits for the others."""
    import orbax.checkpoint as ocp

    me = jax.process_index()
    return ocp.options.MultiprocessingOptions(primary_host=me, active_processes={me})


@contextlib.contextmanager
def quiet():
    """Silence orbax's and absl's logging for the duration of one call: its failures reach the
    caller as exceptions (`save` turns I/O ones into a clear OSError), not as logged tracebacks."""
    loggers = [logging.getLogger(n) for n in ("absl", "orbax", "orbax.checkpoint", "asyncio")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def manager(directory: str, keep: int | None, create: bool):
    """orbax's CheckpointManager of `directory`, synchronous, keeping the last `keep` steps;
    `create` (saving) runs on every process, else (listing) on this one alone."""
    import orbax.checkpoint as ocp

    extra = {} if create else {"multiprocessing_options": local_options()}
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=create,
                                           cleanup_tmp_directories=create,
                                           enable_async_checkpointing=False, **extra)
    return ocp.CheckpointManager(os.path.abspath(directory), options=options)


def save(directory: str | os.PathLike, train_state: Any, *, step: int | None = None,
         keep: int = 3) -> int:
    """Save `train_state` (any pytree) as checkpoint `step` (default `int(train_state.step)`).

    Keeps the `keep` most recent checkpoints. Returns the step saved. A failed write raises an
    OSError with the cause's errno (PermissionError for a read-only directory, errno ENOSPC for
    a full disk) naming the directory and the step; the partial write is removed and the
    checkpoints already in `directory` are left as they were. Every leaf's dtype, shape and
    CRC-32 are saved with it (`<step>/jaxdl/metadata`), for `restore` to check.

    With several `jax.distributed` processes every process calls `save` with the same state
    (replicated over a mesh, as `fit(..., mesh=...)` trains it) and the same `directory`, which
    every process must see (one machine, or a shared file system); process 0 writes, the others
    wait for it (orbax's barriers). Processes that hold different bits or steps all raise a
    ValueError before anything is written; a leaf sharded over processes is a ValueError.

    Args:
      directory: where `directory/<step>/` is written (created if missing).
      train_state: the pytree to save (a TrainState, a dict of arrays, ...).
      step: the checkpoint's step; None takes `int(train_state.step)`.
      keep: how many checkpoints to keep (the latest).

    Returns:
      The step saved.
    """
    import orbax.checkpoint as ocp

    keep = checks.positive_int(keep, "keep", "checkpoint.save")
    if step is None:
        step = int(train_state.step)
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)):
        raise TypeError(f"checkpoint.save: step must be an int >= 0, got {step!r}")
    if step < 0:
        raise ValueError(f"checkpoint.save: step must be >= 0, got {step}")
    directory, step = os.fspath(directory), int(step)
    flat = _flat(train_state)
    rec = record(flat)
    if jax.process_count() > 1:
        _check_same(rec, directory, step)
    try:
        with quiet():
            mgr = manager(directory, keep, create=True)
            try:
                items = {ITEM: ocp.args.StandardSave(flat), RECORD: ocp.args.JsonSave(rec)}
                mgr.save(step, args=ocp.args.Composite(**items), force=True)
                mgr.wait_until_finished()
            finally:
                mgr.close()
    except Exception as e:
        if jax.process_index() == 0:  # the process that writes removes the partial write
            for partial in glob.glob(os.path.join(glob.escape(directory), f"{step}{TMP}*")):
                shutil.rmtree(partial, ignore_errors=True)
        code, detail = os_error(e)
        if code is None:
            raise
        raise OSError(code, f"checkpoint.save: cannot write step {step} to {directory!r}: "
                      f"{os.strerror(code)} ({detail}). The checkpoints already there are "
                      "intact; fix the cause (permissions, free space) and save again.") from e
    return step


def os_error(e: BaseException) -> tuple[int | None, str]:
    """The errno (and the message) of the first OS error in `e`'s chain, or (None, "").

    Python-side writes raise OSError; tensorstore's C++ writes raise ValueError("... [os_error_code
    ='28']")."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno is not None:
            return e.errno, str(e)
        found = re.search(r"os_error_code='?(\d+)", str(e))
        if found:
            return int(found.group(1)), str(e).splitlines()[0]
        e = e.__cause__ or e.__context__
    return None, ""


def steps(directory: str | os.PathLike) -> list[int]:
    """The checkpoint steps present in `directory`, ascending.

    A step is listed once orbax gave its directory its final name (`<step>`, no temporary
    suffix): a save that failed or was killed is never listed. The contents are checked by
    `restore`, which raises `CheckpointCorruptError` for a listed step that is damaged.

    Args:
      directory: the directory `save` wrote.

    Returns:
      The steps, ascending (empty when `directory` holds no checkpoint).
    """
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"checkpoint: directory {directory!r} does not exist")
    with quiet():
        mgr = manager(directory, None, create=False)
        found = sorted(mgr.all_steps())
        mgr.close()
    return found
