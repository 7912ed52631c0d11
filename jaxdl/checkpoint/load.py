"""Reading checkpoints: `restore`, with every damage a `CheckpointCorruptError` and an opt-in
fallback to the newest intact step."""

from __future__ import annotations

import errno
import gc
import os
import warnings
from typing import Any

import jax
import numpy as np

from jaxdl.checkpoint import integrity
from jaxdl.checkpoint.integrity import CheckpointCorruptError, CheckpointFallbackWarning
from jaxdl.checkpoint.store import is_key, local_options, os_error, path_name, quiet, steps


def _stored(leaf: Any) -> tuple[tuple[int, ...], np.dtype]:
    """The (shape, dtype) `leaf` of `like` is stored as: a PRNG key as its key data."""
    if is_key(leaf):
        leaf = jax.eval_shape(jax.random.key_data, leaf)
    if not (hasattr(leaf, "shape") and hasattr(leaf, "dtype")):
        leaf = np.asarray(leaf)
    return tuple(leaf.shape), np.dtype(leaf.dtype)


def _key_impl(leaf: Any) -> str:
    """The PRNG implementation of key `leaf` (concrete or abstract)."""
    impl: list = []
    jax.eval_shape(lambda k: impl.append(jax.random.key_impl(k)), leaf)
    return impl[0]


def _read(directory: str, step: int) -> dict:
    """The flat {leaf name: array} of step `step`, checked against its record.

    Raises CheckpointCorruptError for any damage, OSError for a file that cannot be opened
    (permissions)."""
    import orbax.checkpoint as ocp

    leaves = integrity.check_step(directory, step)
    failure = None
    with quiet(), warnings.catch_warnings():
        # a failed read leaves orbax's coroutines unawaited: collect them here, silently, with
        # nothing (no chained exception) keeping them alive
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            reader = ocp.Checkpointer(ocp.StandardCheckpointHandler(),
                                      multiprocessing_options=local_options())
            try:  # the item alone: orbax's step metadata is not needed (nor trusted)
                saved = reader.restore(os.path.join(os.path.abspath(directory), str(step),
                                                    integrity.ITEM))
            finally:
                reader.close()
        except MemoryError:
            raise
        except Exception as e:
            where = os.path.join(os.path.abspath(directory), str(step))
            failure = os_error(e)[0], str(e), integrity.describe(e, where)
        if failure is not None:
            gc.collect()
    if failure is not None:
        code, text, problem = failure
        if code in (errno.EACCES, errno.EPERM) or "PERMISSION_DENIED" in text:
            raise PermissionError(code or errno.EACCES, f"checkpoint.restore: cannot read "
                                  f"{directory!r} step {step}: {text[:300]}")
        raise integrity.damaged(directory, step, problem)
    integrity.verify(directory, step, saved, leaves)
    return saved


def _build(directory: str, like: Any, step: int, saved: dict) -> Any:
    """`like`'s pytree of the arrays `saved` (step `step` of `directory`), or the ValueError
    naming the leaves that differ from `like`'s."""
    paths, treedef = jax.tree_util.tree_flatten_with_path(like)
    expected = {path_name(p): v for p, v in paths}
    missing = [k for k in expected if k not in saved]
    unexpected = [k for k in saved if k not in expected]
    mismatched = []
    for name, leaf in expected.items():
        if name in saved:
            shape, dtype = _stored(leaf)
            got = np.asarray(saved[name])
            if got.shape != shape or got.dtype != dtype:
                mismatched.append(f"{name}: saved {got.dtype}{list(got.shape)}, "
                                  f"expected {dtype}{list(shape)}")
    problems = [f"{label} ({len(items)}): " + "; ".join(items[:3]) + ("; ..." if len(items) > 3
                                                                      else "")
                for label, items in (("mismatched", mismatched), ("missing", missing),
                                     ("unexpected", unexpected)) if items]
    if problems:
        names = [n.split(":")[0] for n in mismatched] + missing + unexpected
        where = ""
        if all(n.startswith("opt_state.") for n in names):
            where = (" in its optimizer state (opt_state): it was saved with another optimizer, "
                     "or with other fit(frozen=..., skip_nonfinite=...) settings; build `like` "
                     "with checkpoint.abstract_state(model, optimizer, input_shape, frozen=..., "
                     "skip_nonfinite=...) as in the run that saved it")
        raise ValueError(f"checkpoint.restore: {directory!r} step {step} holds a different "
                         f"structure than `like`{where}: " + " | ".join(problems))
    leaves = []
    for name, leaf in expected.items():
        value = jax.numpy.asarray(np.asarray(saved[name]))
        if is_key(leaf):
            value = jax.random.wrap_key_data(value, impl=_key_impl(leaf))
        leaves.append(value)
    return jax.tree_util.tree_unflatten(treedef, leaves)


def restore(directory: str | os.PathLike, like: Any, *, step: int | None = None,
            fallback: bool = False, mesh: jax.sharding.Mesh | None = None) -> Any:
    """Load checkpoint `step` (default: the latest) into the pytree structure of `like`.

    Every array is read and checked (commit marker, metadata, and each leaf's dtype, shape and
    CRC-32 against the record `save` wrote) before anything is returned: a damaged checkpoint
    (truncated or corrupted metadata or array data, a missing file, a step directory without
    its commit marker) raises `CheckpointCorruptError`, never a partial or altered state.

    The read is this process's alone (no barrier with other `jax.distributed` processes): a
    checkpoint saved by several processes restores in one process (plain arrays, e.g. for
    `predict`), or in each process of a run with `mesh=` (arrays replicated over the mesh, as
    `fit(..., mesh=...)` places its state; each process reads the files itself).

    Args:
      directory: the directory `save` wrote.
      like: a pytree of the saved structure: concrete (a fresh `init_state`) or abstract
        (`jax.ShapeDtypeStruct` leaves, e.g. `abstract_state(model, optimizer, input_shape)`);
        only its structure, shapes and dtypes are read.
      step: the step to load; None loads the latest.
      fallback: with `step=None`, load the newest intact step instead of failing on a damaged
        latest one; a `CheckpointFallbackWarning` names each step skipped and its damage.
      mesh: a `jax.sharding.Mesh` (e.g. `data_parallel.data_mesh()`) to replicate every array
        over (`data_parallel.replicate`), also one that spans several processes; None: arrays
        on the default device.

    Returns:
      `like`'s pytree with the saved arrays (PRNG keys rebuilt with `like`'s implementation).

    Raises:
      FileNotFoundError: a missing directory or one without checkpoints.
      CheckpointCorruptError: (a ValueError) the step is damaged, naming the directory, the
        step and the damage; with `fallback`, when no step is intact, naming every step's.
      ValueError: the saved tree has other leaves, shapes or dtypes than `like` (naming the
        directory, the step and the first mismatches; when only the optimizer state differs,
        it says so), or `step` is not in the directory.
    """
    directory = os.fspath(directory)
    if not isinstance(fallback, bool):
        raise TypeError(f"checkpoint.restore: fallback must be a bool, got {fallback!r}")
    if mesh is not None and not isinstance(mesh, jax.sharding.Mesh):
        raise TypeError(f"checkpoint.restore: mesh must be a jax.sharding.Mesh (e.g. "
                        f"data_parallel.data_mesh()) or None, got {mesh!r}")
    tree = _restore(directory, like, step, fallback)
    if mesh is None:
        return tree
    from jaxdl.data_parallel import replicate

    return replicate(tree, mesh)


def _restore(directory: str, like: Any, step: int | None, fallback: bool) -> Any:
    """`restore` without the placement on a mesh."""
    found = steps(directory)
    if not found:
        raise FileNotFoundError(f"checkpoint: directory {directory!r} holds no checkpoint")
    if step is not None:
        if fallback:
            raise ValueError(f"checkpoint.restore: fallback=True looks for the newest intact "
                             f"step, so it needs step=None, got step={step}")
        step = int(step)
        if step not in found:
            raise ValueError(f"checkpoint.restore: step {step} not in {directory!r}; "
                             f"steps: {found}")
        return _build(directory, like, step, _read(directory, step))
    if not fallback:
        return _build(directory, like, found[-1], _read(directory, found[-1]))
    skipped: dict[int, str] = {}
    for candidate in reversed(found):
        try:
            saved = _read(directory, candidate)
        except CheckpointCorruptError as e:
            skipped[candidate] = e.problem
            continue
        if skipped:
            warnings.warn(CheckpointFallbackWarning(
                f"checkpoint.restore: loading step {candidate} of {directory!r}, skipping the "
                "damaged newer step(s) " + "; ".join(f"{s}: {p}" for s, p in skipped.items()),
                skipped), stacklevel=3)
        return _build(directory, like, candidate, saved)
    damage = "; ".join(f"step {s}: {p}" for s, p in skipped.items())
    raise CheckpointCorruptError(f"checkpoint.restore: no intact checkpoint in {directory!r}; "
                                 f"every step is damaged: {damage}", directory, None, damage)
