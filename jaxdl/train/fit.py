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
from typing import Any, Generator, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import checks, optim
from jaxdl.core import Layer, Params, State
from jaxdl.optim.base import GradientTransformation
from jaxdl.data.batching import example_shape, num_examples
from jaxdl.train.callbacks import Callback, EarlyStopping, ProgressBar
from jaxdl.train.epoch import EpochConfig, dispatched, epoch_program
from jaxdl.train.inputs import check_inputs, default_metrics
from jaxdl.train.loggers import PrintLogger
from jaxdl.train.stream import Source, is_stream, placer, stream_epochs
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


def wrap_optimizer(optimizer: GradientTransformation, layers: tuple[str, ...],
                   frozen: tuple[str, ...], skip: bool) -> GradientTransformation:
    """`optimizer` as `fit` runs it: the updates of the `frozen` top-level layers (of `layers`)
    zeroed, non-finite steps skipped with `skip`. Its state is what a TrainState of such a run
    holds (see `checkpoint.abstract_state`). Built by value, so equal arguments give equal
    transforms and the compiled epoch is reused."""
    if frozen:
        optimizer = optim.chain(optimizer, optim.freeze({k: k in frozen for k in layers}))
    if skip:
        optimizer = optim.apply_if_finite(optimizer, max_consecutive_errors=2**31 - 1)
    return optimizer


def _start(model, optimizer, x, key, init, frozen, skip) -> tuple[TrainState, Any, tuple]:
    """The first TrainState, the wrapped optimizer and the frozen layer keys."""
    from jaxdl.checkpoint import layer_keys

    ts = init if isinstance(init, TrainState) else init_state(model, optimizer,
                                                              example_shape(x), key, init)
    frozen = layer_keys(ts.params, frozen, "fit") if frozen else ()
    wrapped = wrap_optimizer(optimizer, tuple(ts.params), frozen, skip)
    if not isinstance(init, TrainState) and wrapped is not optimizer:
        ts = ts._replace(opt_state=wrapped.init(ts.params))
    return ts, wrapped, frozen


def _kinds(tree: Any) -> str:
    """The NamedTuple types of an optimizer state, depth first ("TraceState, EmptyState")."""
    out = []

    def visit(node):
        if hasattr(node, "_fields"):
            out.append(type(node).__name__)
        if isinstance(node, (tuple, list)):
            for child in node:
                visit(child)
        elif isinstance(node, dict):
            for child in node.values():
                visit(child)

    visit(tree)
    return ", ".join(out) or "no NamedTuple"


def _check_resume(ts: TrainState, user: GradientTransformation, wrapped: GradientTransformation,
                  first: int, epochs: int) -> None:
    """A TrainState to resume must fit the optimizer and still have epochs to run."""
    want = jax.eval_shape(wrapped.init, ts.params)
    got_leaves, got_def = jax.tree.flatten(ts.opt_state)
    want_leaves, want_def = jax.tree.flatten(want)
    if got_def != want_def or any(
            np.shape(a) != b.shape or jnp.asarray(a).dtype != b.dtype
            for a, b in zip(got_leaves, want_leaves)):
        raise ValueError(
            f"fit: init is a TrainState whose optimizer state was not made by this optimizer "
            f"{user!r} (with these frozen= and skip_nonfinite= settings): it holds "
            f"[{_kinds(ts.opt_state)}], this optimizer's holds [{_kinds(want)}]. Resume with the "
            "optimizer and settings of the run that saved it, or pass init=(ts.params, ts.state) "
            "for a fresh optimizer state.")
    if first >= epochs:
        raise ValueError(
            f"fit: init is a TrainState after {first} epochs (step {int(ts.step)}), so "
            f"epochs={epochs} leaves none to run; epochs counts from the start of training: pass "
            f"epochs > {first}")


def _epochs(epochs_run, steps: int | None
            ) -> Generator[tuple[int, TrainState, dict[str, float], int], TrainState | None, None]:
    """Yield (epoch, state, logs, skipped) from `epochs_run` (`dispatched` or `stream_epochs`);
    raise NonFiniteError at the first non-finite step. A state sent in replaces the one the next
    epoch starts from."""
    replaced = None
    while True:
        try:
            epoch, ts, logs, info = epochs_run.send(replaced)
        except StopIteration:
            return
        steps = info.get("steps", steps)
        if info["bad"] >= 0:  # ts is the guarded re-run's: the last finite state
            where = "" if steps is None else f" (global step {epoch * steps + info['bad']})"
            raise NonFiniteError(
                f"fit: non-finite loss or gradient at epoch {epoch}, step {info['bad']}{where}; "
                ".train_state holds the last finite "
                "state. Lower the learning rate, clip gradients, check the data, or pass "
                "skip_nonfinite=True.", ts, epoch, int(info["bad"]))
        nan = not info["kept"]  # every step skipped: the train means are NaN, not 0
        order = sorted(logs, key=lambda k: (not k.startswith("train_"), not k.startswith("val_"),
                                            not k.endswith("_loss"), k))  # train_loss first
        replaced = yield epoch, ts, {k: float("nan") if nan and k.startswith("train_") else
                                     float(logs[k]) for k in order}, int(info["skipped"])


def _watchers(callbacks, stopper, epochs, first, shown, verbose) -> list:
    if isinstance(verbose, bool) or verbose not in (0, 1, 2):
        raise ValueError(f"fit: verbose must be 0 (silent), 1 (a progress bar on a terminal) or "
                         f"2 (one line per epoch), got {verbose!r}")
    out = [*callbacks, stopper]
    if verbose == 1:
        out.append(ProgressBar(epochs, first, shown, True))
    elif verbose == 2:
        out.append(PrintLogger(epochs))
    return out


def fit(
    model: Layer, loss: Loss, optimizer: GradientTransformation, train: Any, *,
    val: tuple[Any, Any] | None = None, epochs: int, batch_size: int | None = None,
    key: jax.Array | None = None,
    metrics: Sequence[Metric] | None = None, patience: int | None = None,
    monitor: str = "val_loss", callbacks: Sequence[Callback] = (), verbose: int = 1,
    penalty: Penalty | None = None, skip_nonfinite: bool = False, init: Init = None,
    frozen: Sequence[str | int] = (), mesh: jax.sharding.Mesh | None = None,
    steps_per_epoch: int | None = None, chunk: int = 32,
) -> tuple[TrainState, History]:
    """Train `model` on `train = (x, y)`, or on a source of batches, by mini-batch gradient
    descent; return (state, history).

    In memory, each epoch is one compiled program: a `lax.scan` over `n // batch_size` shuffled
    batches (the last partial batch is dropped), then validation on `val = (x, y)` (eval mode,
    batched). From a source of (x, y) batches (data larger than memory, a grain loader; see
    `jaxdl.train.stream`), each chunk of `chunk` batches is one compiled scan, the next chunk
    read by a background thread meanwhile.

    Args:
      model: a Layer.
      loss: `loss(outputs, targets) -> scalar mean`.
      optimizer: an optax-contract GradientTransformation (jaxdl.optim or optax).
      train: an (x (n, ...), y (n, ...)) pair, x a tuple of arrays for a model with several
        inputs; or a source of such (x, y) NumPy batches: a callable `epoch -> batches` (the
        resumable form, e.g. `jaxdl.data.streaming.ArrayStream`), a re-iterable (a grain
        dataset, read once per epoch) or an iterator (one pass across epochs). Checked (for a
        source: its first batch) before anything compiles.
      val: an (x (n, ...), y (n, ...)) pair; checked before anything compiles.
      epochs: total number of epochs; a resumed run (`init` a TrainState) starts at epoch
        `step // steps_per_epoch`.
      batch_size: the batch size for arrays; for a source, its (global) batch size or None.
      key: base PRNG key (init, permutations, dropout); not needed to resume a TrainState.
      metrics: `metric(outputs, y) -> scalar` functions recorded per epoch (see jaxdl.metrics);
        None: accuracy for a classifier (2+ outputs, integer or one-hot y), none otherwise (a
        regression records its loss only).
      patience: stop after `patience` epochs without improvement of `monitor` (a name ending in
        "loss" is minimised, any other, e.g. "val_accuracy", maximised) and return the best
        epoch's TrainState (also when the run was not stopped early); see `EarlyStopping`.
      callbacks: `cb(epoch, train_state, logs)` after each epoch: a returned TrainState is
        continued from, another truthy return stops (see jaxdl.train.callbacks, loggers).
      verbose: 0 silent; 1 a progress bar when stdout is a terminal (not under `CI`), left on
        the screen; 2 one line per epoch on stdout (files, CI logs, notebooks).
      penalty: `penalty(params) -> scalar` added to the loss (L1/L2, see jaxdl.losses).
      skip_nonfinite: skip non-finite updates (`apply_if_finite`) and count them instead of raising
        NonFiniteError (which names the epoch and step and carries the last finite state).
      init: a TrainState to resume from (e.g. `checkpoint.restore`; use the same `frozen` and
        `skip_nonfinite` as the run that saved it: they shape the optimizer state), or
        (params, state) to start from with a fresh optimizer state (fine-tuning).
      frozen: top-level layer keys ("0_dense") or positions whose params get zero updates and
        whose model state (batch-norm statistics) does not move.
      mesh: a `jax.sharding.Mesh` with a "data" axis (see jaxdl.data_parallel) to shard batches;
        with several processes, each process's source yields its own rows of each batch.
      steps_per_epoch: for a source: batches per epoch (default `len(source)`, else what epoch 0
        yields); needed to resume a source without len().
      chunk: for a source: batches per compiled scan (host memory holds two chunks).
    """
    resume = isinstance(init, TrainState)
    if key is None and not resume:
        raise ValueError("fit: key must be a PRNG key (or pass init=a TrainState), got None")
    params_state = (init.params, init.state) if resume else init
    key_or_0 = jax.random.key(0) if key is None else key
    if is_stream(train):
        source = Source(train, steps_per_epoch, chunk, init if resume else None, mesh,
                        batch_size)
        epochs, _, out_shape = check_inputs(model, source.first_batch, val, epochs,
                                            source.local_batch, key_or_0, "fit", params_state)
        batch_size, steps, first_y = source.global_batch, source.steps, source.first_batch[1]
        x0 = source.first_batch[0]
    else:
        if steps_per_epoch is not None:
            raise ValueError(f"fit: steps_per_epoch is for a source of batches; with arrays an "
                             f"epoch is n // batch_size steps, got steps_per_epoch="
                             f"{steps_per_epoch!r}")
        epochs, batch_size, out_shape = check_inputs(model, train, val, epochs, batch_size,
                                                     key_or_0, "fit", params_state)
        x0, first_y, source = train[0], train[1], None
    metrics = default_metrics(out_shape, first_y) if metrics is None else tuple(metrics)
    if patience is not None:
        checks.positive_int(patience, "patience", "fit")
        _check_monitor(monitor, metrics, val is not None)
    data = [jax.tree.map(jnp.asarray, a) for a in
            ((*train, *(val or ())) if source is None else (val or ())) if a is not None]
    user_optimizer = optimizer
    ts, optimizer, frozen = _start(model, optimizer, x0, key, init, frozen, skip_nonfinite)
    if source is None:
        steps = num_examples(data[0]) // batch_size
    first = int(ts.step) // steps if resume else 0
    if resume:
        _check_resume(ts, user_optimizer, optimizer, first, epochs)
    stopper = EarlyStopping(monitor, patience)
    sharding = None
    if mesh is not None:
        from jaxdl.data_parallel import batch_sharding, replicate

        sharding = batch_sharding(mesh, batch_size, "fit")
        ts, data = replicate((ts, data), mesh)
    val_data = data[-2:] if val is not None else [None, None]
    config = EpochConfig(batch_size, metrics, penalty, skip_nonfinite, frozen, sharding,
                         val_batch=0 if val is None else min(1024, num_examples(val_data[0])))
    if source is None:
        def run(safe, ts, e):
            return epoch_program(model, loss, optimizer, config._replace(safe=safe), ts, e, *data)

        epochs_gen = dispatched(run, ts, first, epochs,
                                ahead=patience is None and not callbacks, check=not skip_nonfinite)
    else:
        epochs_gen = stream_epochs(model, loss, optimizer, config, ts, source.batches, first,
                                   epochs, steps, source.chunk, source.spec, placer(mesh),
                                   tuple(val_data), not skip_nonfinite, "fit")
    shown = ("train_loss", monitor, *(f"val_{metric_name(m)}" for m in metrics[:1]))
    watchers = _watchers(callbacks, stopper, epochs, first, shown, verbose)
    values, history, stopped = {}, History({}), None
    try:
        for cb in watchers:
            getattr(cb, "on_train_begin", lambda s: None)(ts)
        epochs_run = _epochs(epochs_gen, steps)
        replaced, t0 = None, time.perf_counter()
        while True:
            try:
                epoch, ts, logs, skipped = epochs_run.send(replaced)
            except StopIteration:
                break
            history.nonfinite_skipped += skipped
            t1 = time.perf_counter()
            logs["seconds"], t0 = t1 - t0, t1
            for k, v in logs.items():
                values.setdefault(k, []).append(v)
            replaced, stop = None, False
            for cb in watchers:  # every one sees each epoch, and the state a previous one made
                out = cb(epoch, ts, logs)
                if isinstance(out, TrainState):
                    ts = replaced = out
                else:
                    stop = stop or bool(out)
            if stop:
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


__all__ = ["fit", "wrap_optimizer"]
