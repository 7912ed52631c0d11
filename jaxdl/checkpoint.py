"""Checkpoints (orbax-checkpoint) of a TrainState, and freezing masks for fine-tuning.

`save` writes `directory/<step>/` through orbax's CheckpointManager, which writes into a temporary
directory `<step>.orbax-checkpoint-tmp` and renames it when complete, so a save that fails or is
killed never touches the previous checkpoints. A save that fails (read-only directory, full disk)
removes its temporary directory and raises an OSError (PermissionError, ...) naming the
directory, the step and the cause; a killed one leaves its temporary directory, which `steps` and
`restore` ignore and the next `save` deletes. The last `keep` are kept.
The tree is stored flat, one array per leaf keyed by its path ("params.0_dense.w"), PRNG keys as
their raw key data, so `restore(directory, like)` rebuilds `like`'s exact pytree structure (empty
dicts of stateless layers included) and checks every shape and dtype against it. `like` may be
abstract (`jax.ShapeDtypeStruct` leaves, orbax's "abstract target"): `abstract_state(model,
optimizer, input_shape)` gives the TrainState `fit` trains with `jax.eval_shape`, nothing
initialised, and mirrors `fit`'s `frozen` and `skip_nonfinite`, which wrap the optimizer and so
change its state's structure. A checkpoint whose optimizer state differs from `like`'s (another
optimizer, other wrappers) is a ValueError that says so.

The three fine-tuning states (fundamentals 000, transfer learning): predict only (`restore` then
`train.predict`); train only the last layer(s) (`fit(..., init=(params, state), frozen=[...])`:
frozen params get zero updates and their batch-norm state does not move); train everything from
restored params (`fit(..., init=(params, state))`).
"""

from __future__ import annotations

import contextlib
import glob
import logging
import math
import os
import re
import shutil
from typing import TYPE_CHECKING, Any, Callable, Sequence

import jax
import numpy as np

from jaxdl import checks
from jaxdl.core import Layer, Params
from jaxdl.optim.base import GradientTransformation

if TYPE_CHECKING:  # for the annotation only: importing jaxdl.train loads all of fit
    from jaxdl.train.state import TrainState

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
    """A PRNG key array, concrete or abstract (`jax.ShapeDtypeStruct`)."""
    return isinstance(leaf, (jax.Array, jax.ShapeDtypeStruct)) and jax.dtypes.issubdtype(
        leaf.dtype, jax.dtypes.prng_key)


def _stored(leaf: Any) -> tuple[tuple[int, ...], np.dtype]:
    """The (shape, dtype) `leaf` of `like` is stored as: a PRNG key as its key data."""
    if _is_key(leaf):
        leaf = jax.eval_shape(jax.random.key_data, leaf)
    if not (hasattr(leaf, "shape") and hasattr(leaf, "dtype")):
        leaf = np.asarray(leaf)
    return tuple(leaf.shape), np.dtype(leaf.dtype)


def _key_impl(leaf: Any) -> str:
    """The PRNG implementation of key `leaf` (concrete or abstract)."""
    impl: list = []
    jax.eval_shape(lambda k: impl.append(jax.random.key_impl(k)), leaf)
    return impl[0]


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

    Args:
      directory: the directory `save` wrote.
      like: a pytree of the saved structure: concrete (a fresh `init_state`) or abstract
        (`jax.ShapeDtypeStruct` leaves, e.g. `abstract_state(model, optimizer, input_shape)`);
        only its structure, shapes and dtypes are read.
      step: the step to load; None loads the latest.

    Returns:
      `like`'s pytree with the saved arrays (PRNG keys rebuilt with `like`'s implementation).

    Raises FileNotFoundError for a missing directory or one without checkpoints, and ValueError
    (naming the directory, the step and the first mismatches) when the saved tree has other
    leaves, shapes or dtypes than `like`; when only the optimizer state differs, it says so.
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
        if _is_key(leaf):
            value = jax.random.wrap_key_data(value, impl=_key_impl(leaf))
        leaves.append(value)
    return jax.tree_util.tree_unflatten(treedef, leaves)


def abstract_state(model: Layer, optimizer: GradientTransformation, input_shape: Sequence[int],
                   *, frozen: Sequence[str | int] = (), skip_nonfinite: bool = False
                   ) -> TrainState:
    """The structure of the TrainState `fit` trains, with nothing computed: `like` for `restore`.

    `jax.eval_shape` of `jaxdl.train.state.new_state` (no param is initialised): every leaf is a
    `jax.ShapeDtypeStruct`. The optimizer state is that of the optimizer `fit` really steps:
    `frozen` chains `optim.freeze` after it and `skip_nonfinite` wraps it in
    `optim.apply_if_finite`, so pass the values the run that saved the checkpoint used.

    Args:
      model: the Layer that was trained.
      optimizer: the optimizer given to `fit`.
      input_shape: one example's shape, without the batch axis, as `fit` saw it (8, 8, 1).
      frozen: `fit`'s `frozen` (layer keys or positions).
      skip_nonfinite: `fit`'s `skip_nonfinite`.

    Returns:
      A TrainState whose leaves are `jax.ShapeDtypeStruct`s (its key of the default PRNG
      implementation).
    """
    from jaxdl.train.fit import wrap_optimizer
    from jaxdl.train.state import new_state

    owner = "checkpoint.abstract_state"
    if not isinstance(input_shape, (tuple, list)):
        raise TypeError(f"{owner}: input_shape must be a tuple of ints (one example's shape, no "
                        f"batch axis, e.g. (8, 8, 1)), got {input_shape!r}")
    shape = tuple(checks.positive_int(d, "input_shape", owner) for d in input_shape)
    if not isinstance(skip_nonfinite, bool):
        raise TypeError(f"{owner}: skip_nonfinite must be a bool, got {skip_nonfinite!r}")

    def build(key: jax.Array) -> TrainState:
        ts = new_state(model, optimizer, shape, key)
        keys = layer_keys(ts.params, frozen, owner) if frozen else ()
        wrapped = wrap_optimizer(optimizer, tuple(ts.params), keys, skip_nonfinite)
        return ts._replace(opt_state=wrapped.init(ts.params))

    return jax.eval_shape(build, jax.random.key(0))


def checkpoint_callback(directory: str | os.PathLike, every: int = 1, keep: int = 3, *,
                        monitor: str = "val_loss", save_best_only: bool = False,
                        mode: str = "auto") -> Callable[[int, Any, dict], None]:
    """A `fit` callback that saves the TrainState (step = ts.step) after every `every`-th epoch.

    With `save_best_only` (Keras' ModelCheckpoint), it saves only when `logs[monitor]` beats
    (strictly) the best value of the epochs it checked, so the latest checkpoint, which
    `restore` loads by default, holds the best epoch's state. A NaN never improves.

    Args:
      directory: where `save` writes.
      every: check (and save) after epochs every - 1, 2 every - 1, ...
      keep: how many checkpoints to keep (the latest).
      monitor: the log to compare, a History key ("val_loss", "val_accuracy", "train_loss");
        used only with `save_best_only`. Missing from the logs: a ValueError naming the keys.
      save_best_only: save only on improvement of `monitor`.
      mode: "min", "max", or "auto": a name ending in "loss" is minimised, any other
        maximised (as EarlyStopping).
    """
    owner = "checkpoint_callback"
    every = checks.positive_int(every, "every", owner)
    keep = checks.positive_int(keep, "keep", owner)
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{owner}: mode must be 'auto', 'min' or 'max', got {mode!r}")
    if not isinstance(monitor, str):
        raise TypeError(f"{owner}: monitor must be a log name such as 'val_loss', got {monitor!r}")
    if not isinstance(save_best_only, bool):
        raise TypeError(f"{owner}: save_best_only must be a bool, got {save_best_only!r}")
    minimise = monitor.endswith("loss") if mode == "auto" else mode == "min"
    best: list[float] = []  # the best value so far, once one was seen

    def callback(epoch: int, train_state: Any, logs: dict) -> None:
        if (epoch + 1) % every:
            return
        if save_best_only:
            if monitor not in logs:
                raise ValueError(f"{owner}: monitor {monitor!r} is not in the logs of epoch "
                                 f"{epoch}; available: {sorted(logs)} (val_* need fit(val=...))")
            value = float(logs[monitor])
            if math.isnan(value) or (best and not (value < best[0] if minimise
                                                   else value > best[0])):
                return
            best[:] = [value]
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


__all__ = ["save", "restore", "steps", "abstract_state", "checkpoint_callback", "freeze_mask",
           "layer_keys"]
