"""Training: `TrainState`, pure train/eval steps, and `fit` (one jitted `lax.scan` per epoch).

The loop (nanodo-style, explicit): each epoch is ONE compiled call that draws the permutation
(`jaxdl.data.batching.batch_indices`, the last partial batch is DROPPED) and scans over the
batches, gathering `x[idx[s]]` inside the scan, so small models are not bound by Python dispatch.
Validation, early stopping ("no improvement in n"), callbacks and the progress bar run between
epochs. Randomness: epoch key = `fold_in(base key, epoch)`, permutation and step keys come from
it, step key = `fold_in(step key, s)`; resuming at epoch e reproduces an uninterrupted run bit for
bit. Reference: fundamentals 000, section 3.5 (mini-batch SGD, early stopping).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
import time
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import checks, optim
from jaxdl.core import Layer, Params, State
from jaxdl.losses import accuracy

Metric = Callable[[jax.Array, jax.Array], jax.Array]
Loss = Callable[[jax.Array, jax.Array], jax.Array]
Callback = Callable[[int, "TrainState", dict], Any]


class TrainState(NamedTuple):
    """Everything a run carries: int32 `step`, `params`, model `state`, `opt_state`, base `key`."""

    step: jax.Array
    params: Params
    state: State
    opt_state: Any
    key: jax.Array


class NonFiniteError(FloatingPointError):
    """The loss or a gradient became NaN/inf; `.train_state` is the last finite state."""

    def __init__(self, message: str, train_state: TrainState, epoch: int, step: int):
        super().__init__(message)
        self.train_state, self.epoch, self.step = train_state, epoch, step


@dataclasses.dataclass
class History:
    """Per-epoch NumPy arrays in `values` (read as attributes: `history.val_loss`).

    Keys: train_loss, train_<metric>, val_loss, val_<metric> (with `val`), learning_rate (when
    the optimizer state exposes `hyperparams["learning_rate"]`, e.g. optax.inject_hyperparams),
    seconds. Epochs are counted from 0; `stopped_epoch` is the epoch early stopping stopped at
    (None if it did not), `best_epoch` the epoch whose state was kept or would be by `monitor`.
    """

    values: dict[str, np.ndarray]
    stopped_epoch: int | None = None
    best_epoch: int | None = None
    nonfinite_skipped: int = 0

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        if name in ("learning_rate", "val_loss"):
            return None
        raise AttributeError(f"History has no {name!r}; recorded: {sorted(values)}")


def _name(metric: Metric) -> str:
    return getattr(metric, "__name__", type(metric).__name__)


def _all_finite(tree: Any) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(v)) for v in jax.tree.leaves(tree)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def _where(ok: jax.Array, a: Any, b: Any) -> Any:
    return jax.tree.map(lambda u, v: jnp.where(ok, u, v), a, b)


def make_train_step(
    model: Layer, loss: Loss, optimizer: Any, *,
    penalty: Callable[[Params], jax.Array] | None = None,
    metrics: Sequence[Metric] = (), frozen: Sequence[str] = (),
) -> Callable[..., tuple[TrainState, dict[str, jax.Array]]]:
    """A pure step `step(ts, x, y, key=None) -> (ts, metrics)`: one gradient update.

    `L(theta) = loss(apply(theta, x), y) + penalty(theta)`; grads by `value_and_grad(has_aux=True)`
    (the aux is `(new_state, outputs)`); `theta <- theta + optimizer.update(grads)`. `key` defaults
    to `fold_in(ts.key, ts.step)`. Model state of the top-level layers named in `frozen` is kept.
    Metrics: "loss", each metric on the batch outputs, and "finite" (loss and grads finite). A
    non-finite loss turns the grads into NaN, so `apply_if_finite` skips that update too.
    Params of the `frozen` layers get zero gradients (stop_gradient): pair with `optim.freeze`.
    """

    def objective(params, state, x, y, key):
        if frozen:  # no gradient flows into frozen layers, so XLA drops their backward pass
            params = {k: jax.lax.stop_gradient(v) if k in frozen else v for k, v in params.items()}
        outputs, new_state = model.apply(params, state, x, key=key, train=True)
        value = loss(outputs, y)
        if penalty is not None:
            value = value + penalty(params)
        return value, (new_state, outputs)

    def step(ts: TrainState, x: jax.Array, y: jax.Array, key: jax.Array | None = None):
        key = jax.random.fold_in(ts.key, ts.step) if key is None else key
        (value, (new_state, outputs)), grads = jax.value_and_grad(objective, has_aux=True)(
            ts.params, ts.state, x, y, key)
        finite = jnp.isfinite(value)
        grads = jax.tree.map(lambda g: jnp.where(finite, g, jnp.full_like(g, jnp.nan)), grads)
        if frozen:
            new_state = {k: ts.state[k] if k in frozen else v for k, v in new_state.items()}
        updates, opt_state = optimizer.update(grads, ts.opt_state, ts.params)
        params = optim.apply_updates(ts.params, updates)
        out = {"loss": value, **{_name(m): m(outputs, y) for m in metrics}}
        out["finite"] = _all_finite(grads)
        return TrainState(ts.step + 1, params, new_state, opt_state, ts.key), out

    return step


def make_eval_step(model: Layer, loss: Loss, metrics: Sequence[Metric] = ()) -> Callable:
    """A pure `eval_step(params, state, x, y) -> {name: (batch,) per-example values}` (train=False).

    Per-example values are the loss/metric of each example on its own (`vmap` over singleton
    batches of the outputs), so padded batches can be masked and means are exact.
    """

    def eval_step(params, state, x, y):
        outputs, _ = model.apply(params, state, x, train=False)
        one = lambda f: jax.vmap(lambda o, t: f(o[None], t[None]))(outputs, y)  # noqa: E731
        return {"loss": one(loss), **{_name(m): one(m) for m in metrics}}

    return eval_step


def eval_fn(model: Layer, loss: Loss, metrics: Sequence[Metric], batch: int) -> Callable:
    """Pure `run(params, state, x, y) -> {name: mean}` over all of x in padded, masked batches."""
    eval_step = make_eval_step(model, loss, metrics)

    def run(params, state, x, y):
        n = x.shape[0]
        chunks = -(-n // batch)
        pad = chunks * batch - n
        xs = jnp.concatenate([x, jnp.zeros((pad, *x.shape[1:]), x.dtype)]) if pad else x
        ys = jnp.concatenate([y, jnp.zeros((pad, *y.shape[1:]), y.dtype)]) if pad else y
        xs = xs.reshape(chunks, batch, *x.shape[1:])
        ys = ys.reshape(chunks, batch, *y.shape[1:])
        per = jax.lax.map(lambda xy: eval_step(params, state, xy[0], xy[1]), (xs, ys))
        mask = jnp.arange(chunks * batch) < n
        return {k: jnp.sum(jnp.where(mask, v.reshape(-1).astype(jnp.float32), 0.0)) / n
                for k, v in per.items()}

    return run


@functools.lru_cache(maxsize=32)
def _compiled_eval(model, loss, metrics, batch):
    return jax.jit(eval_fn(model, loss, metrics, batch))


def _no_loss(outputs: jax.Array, targets: jax.Array) -> jax.Array:
    return jnp.zeros((), jnp.float32)


def evaluate(
    model: Layer, train_state: TrainState, data: tuple[Any, Any],
    metrics: Sequence[Metric] = (accuracy,), *, loss: Loss | None = None, batch_size: int = 1024,
) -> dict[str, float]:
    """Mean metrics (and "loss" when `loss` is given) over all of `data = (x, y)`, eval mode.

    Batched by `batch_size` with the last batch padded and masked; jitted.
    """
    x, y = jnp.asarray(data[0]), jnp.asarray(data[1])
    batch = min(checks.positive_int(batch_size, "batch_size", "evaluate"), x.shape[0])
    loss_fn = loss if loss is not None else _no_loss
    out = _compiled_eval(model, loss_fn, tuple(metrics), batch)(
        train_state.params, train_state.state, x, y)
    out = {k: float(v) for k, v in out.items()}
    if loss is None:
        out.pop("loss")
    return out


def predict(model: Layer, train_state: TrainState, x: Any) -> jax.Array:
    """Model outputs for `x` (batch, ...) in eval mode (jitted)."""
    return jax.jit(lambda p, s, x: model.apply(p, s, x, train=False)[0])(
        train_state.params, train_state.state, jnp.asarray(x))


def epoch_fn(
    model: Layer, loss: Loss, optimizer: Any, *, batch_size: int, metrics: Sequence[Metric] = (),
    penalty: Callable | None = None, skip_nonfinite: bool = False, frozen: Sequence[str] = (),
    data_sharding: Any = None,
) -> Callable:
    """The pure epoch `run(ts, epoch, x, y) -> (ts, per-step metrics, first non-finite step)`.

    A non-finite step (without `skip_nonfinite`) freezes the carried state at the last finite one
    for the rest of the scan and reports its index (-1 when none). With `skip_nonfinite` the
    optimizer (already wrapped in `apply_if_finite`) skips it and the model state is kept.
    """
    step = make_train_step(model, loss, optimizer, penalty=penalty, metrics=metrics,
                           frozen=tuple(frozen))
    from jaxdl.data.batching import batch_indices

    def run(ts, epoch, x, y):
        perm_key, step_key = jax.random.split(jax.random.fold_in(ts.key, epoch))
        idx, _ = batch_indices(perm_key, x.shape[0], batch_size, drop_last=True)

        def body(carry, s):
            ts, bad = carry
            xb, yb = x[idx[s]], y[idx[s]]
            if data_sharding is not None:
                xb = jax.lax.with_sharding_constraint(xb, data_sharding)
                yb = jax.lax.with_sharding_constraint(yb, data_sharding)
            new, m = step(ts, xb, yb, key=jax.random.fold_in(step_key, s))
            if skip_nonfinite:
                new = new._replace(state=_where(m["finite"], new.state, ts.state))
            else:
                ok = (bad < 0) & m["finite"]
                new = _where(ok, new, ts)
                bad = jnp.where((bad < 0) & ~m["finite"], s, bad)
            return (new, bad), m

        steps = jnp.arange(idx.shape[0], dtype=jnp.int32)
        (ts, bad), ms = jax.lax.scan(body, (ts, jnp.array(-1, jnp.int32)), steps)
        return ts, ms, bad

    return run


@functools.lru_cache(maxsize=32)
def _compiled_epoch(model, loss, optimizer, batch_size, metrics, penalty, skip, frozen, sharding):
    return jax.jit(epoch_fn(model, loss, optimizer, batch_size=batch_size, metrics=metrics,
                            penalty=penalty, skip_nonfinite=skip, frozen=frozen,
                            data_sharding=sharding))


@functools.lru_cache(maxsize=32)
def _wrap_optimizer(optimizer: Any, layers: tuple[str, ...], frozen: tuple[str, ...], skip: bool):
    """`optimizer` with frozen layers' updates zeroed and non-finite steps skipped; cached, so the
    same arguments give the same object and `_compiled_epoch` reuses its compiled epoch."""
    if frozen:
        optimizer = optim.chain(optimizer, optim.freeze({k: k in frozen for k in layers}))
    if skip:
        optimizer = optim.apply_if_finite(optimizer, max_consecutive_errors=2**31 - 1)
    return optimizer


def learning_rate(opt_state: Any) -> np.ndarray | None:
    """The learning rate an optimizer state exposes (`hyperparams["learning_rate"]`), or None.

    A NumPy array: a scalar for one run, (K,) for a vmapped sweep.
    """
    nodes = jax.tree.leaves(opt_state, is_leaf=lambda n: hasattr(n, "hyperparams"))
    for node in nodes:
        hp = getattr(node, "hyperparams", None)
        if isinstance(hp, dict) and "learning_rate" in hp:
            return np.asarray(hp["learning_rate"])
    return None


def _epoch_means(ms: dict, bad: int, skip: bool) -> tuple[dict[str, float], int]:
    finite = np.asarray(ms["finite"])
    keep = finite if skip else np.arange(finite.shape[0]) < (bad if bad >= 0 else finite.shape[0])
    means = {k: float(np.mean(np.asarray(v)[keep])) if keep.any() else float("nan")
             for k, v in ms.items() if k != "finite"}
    return means, int(np.sum(~finite)) if skip else 0


def check_inputs(model, train, val, epochs, batch_size, key, owner) -> tuple[Any, ...]:
    """Validate epochs, batch size and data (via check_xy) before anything compiles."""
    from jaxdl.data.batching import check_xy

    epochs = checks.positive_int(epochs, "epochs", owner)
    batch_size = checks.positive_int(batch_size, "batch_size", owner)
    x, y = train
    check_xy(x, y, owner, name="train")
    n = len(x)
    if batch_size > n:
        raise ValueError(f"{owner}: batch_size must be <= the number of training examples {n}, "
                         f"got {batch_size}. Use a smaller batch.")
    out = jax.eval_shape(lambda k: model.init(k, tuple(np.shape(x)[1:]))[:2], key)
    outputs = jax.eval_shape(lambda p, s, a: model.apply(p, s, a)[0], *out,
                             jax.ShapeDtypeStruct((1, *np.shape(x)[1:]), jnp.asarray(x[:1]).dtype))
    classes = outputs.shape[-1] if np.issubdtype(np.asarray(y[:1]).dtype, np.integer) else None
    check_xy(x, y, owner, classes=classes, name="train")
    if val is not None:
        check_xy(val[0], val[1], owner, classes=classes, name="val")
    return epochs, batch_size


def _progress(progress: bool, total: int, initial: int):
    from tqdm.auto import tqdm

    off = not progress or not sys.stdout.isatty() or bool(os.environ.get("CI"))
    return tqdm(total=total, initial=initial, disable=off, unit="epoch", leave=False)


def init_state(model: Layer, optimizer: Any, input_shape: tuple[int, ...], key: jax.Array,
               init: tuple[Params, State] | None = None) -> TrainState:
    """A fresh TrainState: params from `model.init(fold_in(key, 0), ...)` (or `init`), step 0."""
    if init is None:
        params, state, _ = model.init(jax.random.fold_in(key, 0), input_shape)
    else:
        params, state = init
    return TrainState(jnp.array(0, jnp.int32), params, state, optimizer.init(params),
                      jax.random.fold_in(key, 1))


def fit(
    model: Layer, loss: Loss, optimizer: Any, train: tuple[Any, Any], *,
    val: tuple[Any, Any] | None = None, epochs: int, batch_size: int, key: jax.Array | None = None,
    metrics: Sequence[Metric] = (accuracy,), patience: int | None = None,
    monitor: str = "val_loss", callbacks: Sequence[Callback] = (), progress: bool = True,
    penalty: Callable[[Params], jax.Array] | None = None, skip_nonfinite: bool = False,
    initial_state: TrainState | None = None, init: tuple[Params, State] | None = None,
    frozen: Sequence[str | int] = (), mesh: Any = None,
) -> tuple[TrainState, History]:
    """Train `model` on `train = (x, y)` by mini-batch gradient descent; return (state, history).

    Each epoch is one jitted `lax.scan` over `n // batch_size` batches (the last partial batch is
    dropped); validation (`val = (x, y)`, eval mode, batched) follows each epoch.

    Args:
      model, loss, optimizer: a Layer, `loss(outputs, targets) -> scalar mean`, and an
        optax-contract GradientTransformation (jaxdl.optim or optax).
      train, val: (x (n, ...), y (n, ...)) pairs; checked before anything compiles.
      epochs: total number of epochs; a resumed `initial_state` starts at `step // steps_per_epoch`.
      key: base PRNG key (init, permutations, dropout); not needed with `initial_state`.
      patience: stop after `patience` epochs without improvement of `monitor` (a name ending in
        "loss" is minimised, any other, e.g. "val_accuracy", maximised) and return the best
        epoch's TrainState.
      callbacks: `cb(epoch, train_state, logs)` after each epoch; a truthy return stops.
      penalty: `penalty(params) -> scalar` added to the loss (L1/L2, see jaxdl.losses).
      skip_nonfinite: skip non-finite updates (`apply_if_finite`) and count them instead of raising
        NonFiniteError (which names the epoch and step and carries the last finite state).
      initial_state: a TrainState to resume from (e.g. `checkpoint.restore`); use the same
        `frozen` / `skip_nonfinite` as the run that saved it (they shape the optimizer state).
      init: (params, state) to start from (fine-tuning), with a fresh optimizer state.
      frozen: top-level layer keys ("0_dense") or positions whose params get zero updates and
        whose model state (batch-norm statistics) does not move.
      mesh: a `jax.sharding.Mesh` with a "data" axis (see jaxdl.parallel) to shard each batch.
    """
    from jaxdl.checkpoint import layer_keys

    if key is None and initial_state is None:
        raise ValueError("fit: key must be a PRNG key (or pass initial_state), got None")
    epochs, batch_size = check_inputs(model, train, val, epochs, batch_size,
                                      jax.random.key(0) if key is None else key, "fit")
    if patience is not None:
        checks.positive_int(patience, "patience", "fit")
        names = ["loss", *(_name(m) for m in metrics)]
        recorded = [f"{p}_{n}" for p in ("train", "val") if p == "train" or val is not None
                    for n in names]
        if monitor not in recorded:
            hint = " (pass val=(x, y))" if monitor.startswith("val_") and val is None else ""
            raise ValueError(f"fit: monitor must be one of {recorded}, got {monitor!r}{hint}")
    x, y = jnp.asarray(train[0]), jnp.asarray(train[1])
    ts = initial_state
    if ts is None:
        ts = init_state(model, optimizer, tuple(x.shape[1:]), key, init)
    frozen_keys = layer_keys(ts.params, frozen, "fit") if frozen else ()
    optimizer = _wrap_optimizer(optimizer, tuple(ts.params), frozen_keys, skip_nonfinite)
    if initial_state is None and (frozen_keys or skip_nonfinite):
        ts = ts._replace(opt_state=optimizer.init(ts.params))
    sharding = None
    if mesh is not None:
        from jaxdl.parallel import batch_sharding, replicate

        sharding = batch_sharding(mesh, batch_size, "fit")
        ts, x, y = replicate((ts, x, y), mesh)
    run = _compiled_epoch(model, loss, optimizer, batch_size, tuple(metrics), penalty,
                          skip_nonfinite, frozen_keys, sharding)
    steps = x.shape[0] // batch_size
    start = int(ts.step) // steps
    logs_all: dict[str, list] = {}
    history = History({})
    best_value, best_ts, wait = None, ts, 0
    sign = 1.0 if monitor.endswith("loss") else -1.0
    shown = {"train_loss", monitor, *(f"val_{_name(m)}" for m in metrics[:1])}
    bar = _progress(progress, epochs, start)
    try:
        for epoch in range(start, epochs):
            t0 = time.perf_counter()
            new_ts, ms, bad = run(ts, jnp.asarray(epoch, jnp.int32), x, y)
            bad = int(bad)
            logs, skipped = _epoch_means(jax.device_get(ms), bad, skip_nonfinite)
            history.nonfinite_skipped += skipped
            if bad >= 0:
                raise NonFiniteError(
                    f"fit: non-finite loss or gradient at epoch {epoch}, step {bad} (global step "
                    f"{epoch * steps + bad}); .train_state holds the last finite state. Lower the "
                    "learning rate, clip gradients, check the data, or pass skip_nonfinite=True.",
                    new_ts, epoch, bad)
            ts = new_ts
            logs = {f"train_{k}": v for k, v in logs.items()}
            if val is not None:
                vlogs = evaluate(model, ts, val, metrics, loss=loss)
                logs.update({f"val_{k}": v for k, v in vlogs.items()})
            lr = learning_rate(ts.opt_state)
            logs["learning_rate"] = None if lr is None else float(lr)
            jax.block_until_ready(ts.params)
            logs["seconds"] = time.perf_counter() - t0
            for k, v in logs.items():
                logs_all.setdefault(k, []).append(v)
            history.values = {k: None if any(e is None for e in v) else np.asarray(v)
                              for k, v in logs_all.items()}
            bar.update(1)
            bar.set_postfix({k: v for k, v in logs.items() if k in shown})
            stop = any([bool(cb(epoch, ts, logs)) for cb in callbacks])
            if monitor in logs:
                value = sign * logs[monitor]
                if best_value is None or value < best_value:
                    best_value, best_ts, wait, history.best_epoch = value, ts, 0, epoch
                else:
                    wait += 1
            if patience is not None and wait >= patience:
                history.stopped_epoch = epoch
                ts = best_ts
                break
            if stop:
                break
    finally:
        bar.close()
    history.values = {k: v for k, v in history.values.items() if v is not None}
    return ts, history


__all__ = [
    "TrainState", "History", "NonFiniteError", "make_train_step", "make_eval_step", "epoch_fn",
    "fit", "evaluate", "predict", "init_state", "learning_rate", "check_inputs", "eval_fn",
]
