"""Checkpoints (orbax-checkpoint) of a TrainState, and freezing masks for fine-tuning.

`save` writes `directory/<step>/` through orbax's CheckpointManager, which writes into a temporary
directory `<step>.orbax-checkpoint-tmp` and renames it when complete, so a save that fails or is
killed never touches the previous checkpoints. A save that fails (read-only directory, full disk)
removes its temporary directory and raises an OSError (PermissionError, ...) naming the
directory, the step and the cause; a killed one leaves its temporary directory, which `steps` and
`restore` ignore and the next `save` deletes. The last `keep` are kept.
The tree is stored flat, one array per leaf keyed by its path ("params.0_dense.w"), PRNG keys as
their raw key data, so `restore(directory, like)` rebuilds `like`'s exact pytree structure (empty
dicts of stateless layers included) and checks every shape and dtype against it.

The three fine-tuning states (fundamentals 000, transfer learning): predict only (`restore` then
`train.predict`); train only the last layer(s) (`fit(..., init=(params, state), frozen=[...])`:
frozen params get zero updates and their batch-norm state does not move); train everything from
restored params (`fit(..., init=(params, state))`).
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import re
import shutil
from typing import Any, Callable, Sequence

import jax
import numpy as np

from jaxdl import checks
from jaxdl.core import Params

_TMP = ".orbax-checkpoint-tmp"  # orbax's suffix for a checkpoint being written


def _path_name(path: tuple) -> str:
    parts = []
    for p in path:
        for attr in ("key", "name", "idx"):
            if hasattr(p, attr):
                parts.append(str(getattr(p, attr)))
                break
        else:
            parts.append(str(p))
    return ".".join(parts)


def _is_key(leaf: Any) -> bool:
    return isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def _flat(tree: Any) -> dict[str, np.ndarray]:
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {_path_name(p): np.asarray(jax.random.key_data(v) if _is_key(v) else v)
            for p, v in leaves}


@contextlib.contextmanager
def _quiet():
    """Silence orbax's and absl's logging for the duration of one call: its failures reach the
    caller as exceptions (`save` turns I/O ones into a clear OSError), not as logged tracebacks."""
    loggers = [logging.getLogger(n) for n in ("absl", "orbax", "orbax.checkpoint")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _manager(directory: str, keep: int | None, create: bool):
    import orbax.checkpoint as ocp

    options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=create,
                                           cleanup_tmp_directories=create,
                                           enable_async_checkpointing=False)
    return ocp.CheckpointManager(os.path.abspath(directory), options=options)


def save(directory: str | os.PathLike, train_state: Any, *, step: int | None = None,
         keep: int = 3) -> int:
    """Save `train_state` (any pytree) as checkpoint `step` (default `int(train_state.step)`).

    Keeps the `keep` most recent checkpoints. Returns the step saved. A failed write raises an
    OSError with the cause's errno (PermissionError for a read-only directory, errno ENOSPC for
    a full disk) naming the directory and the step; the partial write is removed and the
    checkpoints already in `directory` are left as they were.
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
    try:
        with _quiet():
            manager = _manager(directory, keep, create=True)
            try:
                manager.save(step, args=ocp.args.StandardSave(_flat(train_state)), force=True)
                manager.wait_until_finished()
            finally:
                manager.close()
    except Exception as e:
        for partial in glob.glob(os.path.join(glob.escape(directory), f"{step}{_TMP}*")):
            shutil.rmtree(partial, ignore_errors=True)
        code, detail = _os_error(e)
        if code is None:
            raise
        raise OSError(code, f"checkpoint.save: cannot write step {step} to {directory!r}: "
                      f"{os.strerror(code)} ({detail}). The checkpoints already there are "
                      "intact; fix the cause (permissions, free space) and save again.") from e
    return step


def _os_error(e: BaseException) -> tuple[int | None, str]:
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
    """The checkpoint steps present in `directory` (complete ones only), ascending."""
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"checkpoint: directory {directory!r} does not exist")
    with _quiet():
        manager = _manager(directory, None, create=False)
        found = sorted(manager.all_steps())
        manager.close()
    return found


def restore(directory: str | os.PathLike, like: Any, *, step: int | None = None) -> Any:
    """Load checkpoint `step` (default: the latest) into the pytree structure of `like`.

    Raises FileNotFoundError for a missing directory or one without checkpoints, and ValueError
    (naming the directory and the first mismatches) when the saved tree has other leaves, shapes
    or dtypes than `like`.
    """
    import orbax.checkpoint as ocp

    directory = os.fspath(directory)
    found = steps(directory)
    if not found:
        raise FileNotFoundError(f"checkpoint: directory {directory!r} holds no checkpoint")
    step = found[-1] if step is None else int(step)
    if step not in found:
        raise ValueError(f"checkpoint.restore: step {step} not in {directory!r}; steps: {found}")
    with _quiet():
        manager = _manager(directory, None, create=False)
        saved = manager.restore(step, args=ocp.args.StandardRestore())
        manager.close()
    paths, treedef = jax.tree_util.tree_flatten_with_path(like)
    expected = {_path_name(p): v for p, v in paths}
    missing = [k for k in expected if k not in saved]
    unexpected = [k for k in saved if k not in expected]
    mismatched = []
    for name, leaf in expected.items():
        if name in saved:
            want = np.asarray(jax.random.key_data(leaf) if _is_key(leaf) else leaf)
            got = np.asarray(saved[name])
            if got.shape != want.shape or got.dtype != want.dtype:
                mismatched.append(f"{name}: saved {got.dtype}{list(got.shape)}, "
                                  f"expected {want.dtype}{list(want.shape)}")
    problems = [f"{label} ({len(items)}): " + "; ".join(items[:3]) + ("; ..." if len(items) > 3
                                                                      else "")
                for label, items in (("mismatched", mismatched), ("missing", missing),
                                     ("unexpected", unexpected)) if items]
    if problems:
        raise ValueError(f"checkpoint.restore: {directory!r} step {step} holds a different "
                         f"structure than `like`: " + " | ".join(problems))
    leaves = []
    for name, leaf in expected.items():
        value = jax.numpy.asarray(np.asarray(saved[name]))
        if _is_key(leaf):
            value = jax.random.wrap_key_data(value, impl=jax.random.key_impl(leaf))
        leaves.append(value)
    return jax.tree_util.tree_unflatten(treedef, leaves)


def checkpoint_callback(directory: str | os.PathLike, every: int = 1,
                        keep: int = 3) -> Callable[[int, Any, dict], None]:
    """A `fit` callback saving the TrainState after every `every`-th epoch (step = ts.step)."""
    every = checks.positive_int(every, "every", "checkpoint_callback")
    keep = checks.positive_int(keep, "keep", "checkpoint_callback")

    def callback(epoch: int, train_state: Any, logs: dict) -> None:
        if (epoch + 1) % every == 0:
            save(directory, train_state, keep=keep)

    return callback


def layer_keys(params: Params, frozen: Sequence[str | int], owner: str = "freeze_mask"
               ) -> tuple[str, ...]:
    """The top-level keys of `params` named by `frozen` (keys like "0_dense" or positions)."""
    names = list(params)
    if isinstance(frozen, (str, int)):
        frozen = [frozen]
    out = []
    for f in frozen:
        if isinstance(f, (int, np.integer)) and not isinstance(f, bool):
            match = [k for k in names if k.split("_", 1)[0] == str(int(f))]
            if not match:
                raise ValueError(f"{owner}: frozen position {f} is not a layer; layers: {names}")
            out.append(match[0])
        elif isinstance(f, str) and f in params:
            out.append(f)
        else:
            raise ValueError(f"{owner}: frozen entry {f!r} is not a top-level layer key or "
                             f"position; layers: {names}")
    return tuple(out)


def freeze_mask(params: Params, frozen: Sequence[str | int]) -> Any:
    """A bool pytree like `params`: True on every leaf of the frozen top-level layers.

    Use with `jaxdl.optim.freeze(mask)` (zero updates where True) or `fit(..., frozen=...)`.
    """
    keys = layer_keys(params, frozen)
    return {k: jax.tree.map(lambda _: k in keys, v) for k, v in params.items()}


__all__ = ["save", "restore", "steps", "checkpoint_callback", "freeze_mask", "layer_keys"]
