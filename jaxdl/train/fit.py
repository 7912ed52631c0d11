"""`fit`: the training loop. Each epoch is one call of the compiled epoch program
(`jaxdl.train.epoch`); between epochs the loop reads back a few scalars, records them in the
History and runs the callbacks (early stopping, the progress bar, the user's).

Without patience and callbacks nothing but an error can stop a run early, so epoch e + 1 is
dispatched (on the unchecked state) before epoch e's logs are read back: host work overlaps
device work. An epoch that went non-finite is re-run guarded (it is deterministic) to find the
exact step; then `NonFiniteError` carries the last finite state, or with `skip_nonfinite` the
step is skipped and counted.
"""

from __future__ import annotations

import time
from typing import Any, Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import checks, optim
from jaxdl.core import Layer, Params, State
from jaxdl.losses import accuracy
from jaxdl.optim.base import GradientTransformation
from jaxdl.train.callbacks import Callback, EarlyStopping, ProgressBar
from jaxdl.train.epoch import EpochConfig, dispatched, epoch_program
from jaxdl.train.inputs import check_inputs
from jaxdl.train.state import (
    History, Loss, Metric, NonFiniteError, TrainState, init_state, metric_name,
)
from jaxdl.train.step import Penalty

Init = TrainState | tuple[Params, State] | None


def _check_monitor(monitor: str, metrics: Sequence[Metric], has_val: bool) -> None:
    names = ["loss", *(metric_name(m) for m in metrics)]
    recorded = [f"{p}_{n}" for p in ("train", "val") if p == "train" or has_val for n in names]
    if monitor not in recorded:
        hint = " (pass val=(x, y))" if monitor.startswith("val_") and not has_val else ""
        raise ValueError(f"fit: monitor must be one of {recorded}, got {monitor!r}{hint}")


def _wrap(optimizer: GradientTransformation, layers: tuple[str, ...], frozen: tuple[str, ...],
          skip: bool) -> GradientTransformation:
    """`optimizer` with frozen layers' updates zeroed and non-finite steps skipped (built by
    value, so equal arguments give equal transforms and the compiled epoch is reused)."""
    if frozen:
        optimizer = optim.chain(optimizer, optim.freeze({k: k in frozen for k in layers}))
    if skip:
        optimizer = optim.apply_if_finite(optimizer, max_consecutive_errors=2**31 - 1)
    return optimizer


def _start(model, optimizer, x, key, init, frozen, skip) -> tuple[TrainState, Any, tuple]:
    """The first TrainState, the wrapped optimizer and the frozen layer keys."""
    from jaxdl.checkpoint import layer_keys

    ts = init if isinstance(init, TrainState) else init_state(model, optimizer, x.shape[1:],
                                                              key, init)
    frozen = layer_keys(ts.params, frozen, "fit") if frozen else ()
    wrapped = _wrap(optimizer, tuple(ts.params), frozen, skip)
    if not isinstance(init, TrainState) and wrapped is not optimizer:
        ts = ts._replace(opt_state=wrapped.init(ts.params))
    return ts, wrapped, frozen


def _epochs(run, ts: TrainState, steps: int, epochs: int, ahead: bool, skip: bool
            ) -> Iterator[tuple[int, TrainState, dict[str, float], int]]:
    """Yield (epoch, state, logs, skipped) for each epoch from the one `ts.step` is in; raise
    NonFiniteError at the first non-finite step (unless `skip`)."""
    for epoch, ts, logs, info in dispatched(run, ts, int(ts.step) // steps, epochs, ahead=ahead,
                                            check=not skip):
        if info["bad"] >= 0:  # ts is the guarded re-run's: the last finite state
            raise NonFiniteError(
                f"fit: non-finite loss or gradient at epoch {epoch}, step {info['bad']} (global "
                f"step {epoch * steps + info['bad']}); .train_state holds the last finite "
                "state. Lower the learning rate, clip gradients, check the data, or pass "
                "skip_nonfinite=True.", ts, epoch, int(info["bad"]))
        nan = not info["kept"]  # every step skipped: the train means are NaN, not 0
        yield epoch, ts, {k: float("nan") if nan and k.startswith("train_") else float(v)
                          for k, v in logs.items()}, int(info["skipped"])


def fit(
    model: Layer, loss: Loss, optimizer: GradientTransformation, train: tuple[Any, Any], *,
    val: tuple[Any, Any] | None = None, epochs: int, batch_size: int, key: jax.Array | None = None,
    metrics: Sequence[Metric] = (accuracy,), patience: int | None = None,
    monitor: str = "val_loss", callbacks: Sequence[Callback] = (), progress: bool = True,
    penalty: Penalty | None = None, skip_nonfinite: bool = False, init: Init = None,
    frozen: Sequence[str | int] = (), mesh: jax.sharding.Mesh | None = None,
) -> tuple[TrainState, History]:
    """Train `model` on `train = (x, y)` by mini-batch gradient descent; return (state, history).

    Each epoch is one compiled program: a `lax.scan` over `n // batch_size` shuffled batches (the
    last partial batch is dropped), then validation on `val = (x, y)` (eval mode, batched).

    Args:
      model: a Layer.
      loss: `loss(outputs, targets) -> scalar mean`.
      optimizer: an optax-contract GradientTransformation (jaxdl.optim or optax).
      train: an (x (n, ...), y (n, ...)) pair; checked before anything compiles.
      val: an (x (n, ...), y (n, ...)) pair; checked before anything compiles.
      epochs: total number of epochs; a resumed run (`init` a TrainState) starts at epoch
        `step // steps_per_epoch`.
      key: base PRNG key (init, permutations, dropout); not needed to resume a TrainState.
      patience: stop after `patience` epochs without improvement of `monitor` (a name ending in
        "loss" is minimised, any other, e.g. "val_accuracy", maximised) and return the best
        epoch's TrainState (also when the run was not stopped early); see `EarlyStopping`.
      callbacks: `cb(epoch, train_state, logs)` after each epoch; a truthy return stops.
      penalty: `penalty(params) -> scalar` added to the loss (L1/L2, see jaxdl.losses).
      skip_nonfinite: skip non-finite updates (`apply_if_finite`) and count them instead of raising
        NonFiniteError (which names the epoch and step and carries the last finite state).
      init: a TrainState to resume from (e.g. `checkpoint.restore`; use the same `frozen` and
        `skip_nonfinite` as the run that saved it: they shape the optimizer state), or
        (params, state) to start from with a fresh optimizer state (fine-tuning).
      frozen: top-level layer keys ("0_dense") or positions whose params get zero updates and
        whose model state (batch-norm statistics) does not move.
      mesh: a `jax.sharding.Mesh` with a "data" axis (see jaxdl.data_parallel) to shard batches.
    """
    resume = isinstance(init, TrainState)
    if key is None and not resume:
        raise ValueError("fit: key must be a PRNG key (or pass init=a TrainState), got None")
    epochs, batch_size = check_inputs(
        model, train, val, epochs, batch_size, jax.random.key(0) if key is None else key, "fit",
        (init.params, init.state) if resume else init)
    if patience is not None:
        checks.positive_int(patience, "patience", "fit")
        _check_monitor(monitor, metrics, val is not None)
    data = [jnp.asarray(a) for a in (*train, *(val or (None, None))) if a is not None]
    ts, optimizer, frozen = _start(model, optimizer, data[0], key, init, frozen, skip_nonfinite)
    sharding = None
    if mesh is not None:
        from jaxdl.data_parallel import batch_sharding, replicate

        sharding = batch_sharding(mesh, batch_size, "fit")
        ts, data = replicate((ts, data), mesh)
    config = EpochConfig(batch_size, tuple(metrics), penalty, skip_nonfinite, frozen, sharding,
                         val_batch=0 if val is None else min(1024, len(data[2])))

    def run(safe, ts, e):
        return epoch_program(model, loss, optimizer, config._replace(safe=safe), ts, e, *data)

    steps = data[0].shape[0] // batch_size
    stopper = EarlyStopping(monitor, patience)
    bar = ProgressBar(epochs, int(ts.step) // steps, ("train_loss", monitor, *(
        f"val_{metric_name(m)}" for m in metrics[:1])), progress)
    watchers, values, history = [*callbacks, stopper, bar], {}, History({})
    stopped = None
    t0 = time.perf_counter()
    try:
        for epoch, ts, logs, skipped in _epochs(run, ts, steps, epochs,
                                                patience is None and not callbacks,
                                                skip_nonfinite):
            history.nonfinite_skipped += skipped
            t1 = time.perf_counter()
            logs["seconds"], t0 = t1 - t0, t1
            for k, v in logs.items():
                values.setdefault(k, []).append(v)
            if any([bool(cb(epoch, ts, logs)) for cb in watchers]):  # every one sees each epoch
                stopped = epoch
                break
    finally:
        for cb in watchers:
            getattr(cb, "close", lambda: None)()
    for cb in watchers:
        ts = getattr(cb, "on_train_end", lambda s: None)(ts) or ts
    history.values = {k: np.asarray(v) for k, v in values.items()}
    history.stopped_epoch, history.best_epoch = stopped, stopper.best_epoch
    return ts, history


__all__ = ["fit"]
