"""Training: `TrainState`, pure train/eval steps, and `fit` (one jitted `lax.scan` per epoch).

The loop (nanodo-style, explicit): each epoch is ONE compiled call that draws the permutation
(`jaxdl.data.batching.batch_indices`, the last partial batch is DROPPED), scans over the
batches, gathering `x[idx[s]]` inside the scan, so small models are not bound by Python dispatch,
and computes the epoch's means and the validation metrics on device; fit reads back a few
scalars per epoch. Early stopping ("no improvement in n"), callbacks and the progress bar run
between epochs. The fast epoch checks only the loss for non-finite values and guards nothing; an
epoch that went non-finite is re-run guarded (see `_compiled_epoch`). Randomness: epoch key =
`fold_in(base key, epoch)`, permutation and step keys come from it, step key =
`fold_in(step key, s)`; resuming at epoch e reproduces an uninterrupted run bit for bit.
Reference: fundamentals 000, section 3.5 (mini-batch SGD, early stopping).
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
    metrics: Sequence[Metric] = (), frozen: Sequence[str] = (), check_grads: bool = False,
) -> Callable[..., tuple[TrainState, dict[str, jax.Array]]]:
    """A pure step `step(ts, x, y, key=None) -> (ts, metrics)`: one gradient update.

    `L(theta) = loss(apply(theta, x), y) + penalty(theta)`; grads by `value_and_grad(has_aux=True)`
    (the aux is `(new_state, outputs)`); `theta <- theta + optimizer.update(grads)`. `key` defaults
    to `fold_in(ts.key, ts.step)` (dead code, removed by XLA, when no layer is random). Model state
    of the top-level layers named in `frozen` is kept; their params get zero gradients
    (stop_gradient): pair with `optim.freeze`.
    Metrics: "loss", each metric on the batch outputs, and "finite": `isfinite(loss)` (a scalar,
    free); with `check_grads` also every gradient finite, and a non-finite loss turns the grads
    into NaN so that `apply_if_finite` skips that update too (one more pass over the gradients).
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
        if check_grads:
            grads = jax.tree.map(lambda g: jnp.where(finite, g, jnp.full_like(g, jnp.nan)), grads)
            finite = _all_finite(grads)
        if frozen:
            new_state = {k: ts.state[k] if k in frozen else v for k, v in new_state.items()}
        updates, opt_state = optimizer.update(grads, ts.opt_state, ts.params)
        params = optim.apply_updates(ts.params, updates)
        out = {"loss": value, **{_name(m): m(outputs, y) for m in metrics}, "finite": finite}
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
    data_sharding: Any = None, check_grads: bool = False, guard: bool = True,
) -> Callable:
    """The pure epoch `run(ts, epoch, x, y) -> (ts, per-step metrics, first non-finite step)`.

    A non-finite step (without `skip_nonfinite`) freezes the carried state at the last finite one
    for the rest of the scan and reports its index (-1 when none); "non-finite" is the loss, and
    with `check_grads` (implied by `skip_nonfinite`) also any gradient. With `skip_nonfinite` the
    optimizer (already wrapped in `apply_if_finite`) skips it and the model state is kept.
    `guard=False` drops the freezing (a select over the whole state each step, for which XLA
    copies every buffer of the carry): the index is still reported, but the returned state went
    on past it, so re-run the epoch guarded (it is deterministic) when it is >= 0, as fit does.
    """
    step = make_train_step(model, loss, optimizer, penalty=penalty, metrics=metrics,
                           frozen=tuple(frozen), check_grads=check_grads or skip_nonfinite)
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
            elif guard:
                ok = (bad < 0) & m["finite"]
                new = _where(ok, new, ts)
                bad = jnp.where((bad < 0) & ~m["finite"], s, bad)
            return (new, bad), m

        steps = jnp.arange(idx.shape[0], dtype=jnp.int32)
        (ts, bad), ms = jax.lax.scan(body, (ts, jnp.array(-1, jnp.int32)), steps)
        if not (guard or skip_nonfinite):
            nonfinite = ~ms["finite"]
            bad = jnp.where(jnp.any(nonfinite), jnp.argmax(nonfinite).astype(jnp.int32), bad)
        return ts, ms, bad

    return run


def epoch_logs(ms: dict, bad: jax.Array, skip: bool) -> tuple[dict, jax.Array, jax.Array]:
    """On device: the means of the per-step metrics `ms` over the kept steps (the finite ones
    with `skip`, else those before `bad`; 0 when none is kept: no NaN is made here, so that
    `jax.debug_nans` stops at the op that made one), the kept count and the non-finite count."""
    finite = ms["finite"]
    steps = jnp.arange(finite.shape[0], dtype=jnp.int32)
    keep = finite if skip else (bad < 0) | (steps < bad)
    count = jnp.sum(keep.astype(jnp.int32))
    logs = {}
    for k, v in ms.items():
        if k != "finite":
            v = v.astype(jnp.float32).reshape(finite.shape[0], -1)
            total = jnp.sum(jnp.where(keep[:, None], v, jnp.zeros_like(v)))
            logs[k] = total / (jnp.maximum(count, 1) * v.shape[1]).astype(jnp.float32)
    skipped = jnp.sum((~finite).astype(jnp.int32)) if skip else jnp.zeros((), jnp.int32)
    return logs, count, skipped


def all_finite_state(ts: TrainState) -> jax.Array:
    """True when every float leaf of the params and the optimizer state is finite."""
    leaves = [v for v in jax.tree.leaves((ts.params, ts.opt_state))
              if jnp.issubdtype(v.dtype, jnp.inexact)]
    return _all_finite(leaves)


@functools.lru_cache(maxsize=32)
def _compiled_epoch(model, loss, optimizer, batch_size, metrics, penalty, skip, frozen, sharding,
                    safe, val_batch):
    """fit's epoch as ONE jitted program (one dispatch, a few scalars fetched per epoch):
    `program(ts, epoch, x, y, vx, vy) -> (ts, logs, info)`; logs are the "train_*" means over the
    kept steps and the "val_*" means (when `val_batch`); info holds the first non-finite step
    "bad", the "skipped" count and "finite_state" (`all_finite_state` at the end). Fast
    (`safe=False`): the loss alone is checked and nothing is guarded, so a non-finite loss
    (`bad >= 0`) or a non-finite gradient under a finite loss (`finite_state` False) makes fit
    re-run the epoch with `safe=True`: guarded, every gradient checked (the exact semantics)."""
    run = epoch_fn(model, loss, optimizer, batch_size=batch_size, metrics=metrics,
                   penalty=penalty, skip_nonfinite=skip, frozen=frozen, data_sharding=sharding,
                   check_grads=safe, guard=safe)
    validate = eval_fn(model, loss, metrics, val_batch) if val_batch else None

    def program(ts, epoch, x, y, vx, vy):
        ts, ms, bad = run(ts, epoch, x, y)
        means, kept, skipped = epoch_logs(ms, bad, skip)
        logs = {f"train_{k}": v for k, v in means.items()}
        if validate is not None:
            logs.update({f"val_{k}": v for k, v in validate(ts.params, ts.state, vx, vy).items()})
        lr = _learning_rate(ts.opt_state)
        if lr is not None:
            logs["learning_rate"] = lr
        info = {"bad": bad, "kept": kept, "skipped": skipped,
                "finite_state": all_finite_state(ts)}
        return ts, logs, info

    return jax.jit(program)


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
    lr = _learning_rate(opt_state)
    return None if lr is None else np.asarray(lr)


def _learning_rate(opt_state: Any) -> jax.Array | None:
    nodes = jax.tree.leaves(opt_state, is_leaf=lambda n: hasattr(n, "hyperparams"))
    for node in nodes:
        hp = getattr(node, "hyperparams", None)
        if isinstance(hp, dict) and "learning_rate" in hp:
            return hp["learning_rate"]
    return None


def check_inputs(model, train, val, epochs, batch_size, key, owner,
                 init: tuple[Any, Any] | None = None) -> tuple[Any, ...]:
    """Validate epochs, batch size, key, data (via check_xy) and that x fits the model (by
    abstract evaluation, `jax.eval_shape`, with the given `init` (params, state) when there is
    one, so bfloat16 or float64 params are checked as they are) before anything compiles."""
    from jaxdl.data.batching import check_xy

    def pair(data, name):
        if not (isinstance(data, (tuple, list)) and len(data) == 2):
            what = f"an array of shape {np.shape(data)}" if hasattr(data, "shape") else repr(data)
            raise TypeError(f"{owner}: {name} must be an (x, y) pair, got {what}")
        return data[0], data[1]

    epochs = checks.positive_int(epochs, "epochs", owner)
    batch_size = checks.positive_int(batch_size, "batch_size", owner)
    kind = getattr(key, "dtype", None)
    if kind is None or not (jax.dtypes.issubdtype(kind, jax.dtypes.prng_key) or (
            kind == np.uint32 and np.ndim(key) == 1)):
        raise TypeError(f"{owner}: key must be a PRNG key such as jax.random.key(0), got {key!r}")
    x, y = pair(train, "train")
    check_xy(x, y, owner, name="train")
    n = len(x)
    if batch_size > n:
        raise ValueError(f"{owner}: batch_size must be <= the number of training examples {n}, "
                         f"got {batch_size}. Use a smaller batch.")
    shape, x_dtype = tuple(np.shape(x)[1:]), jnp.asarray(x[:1]).dtype
    try:
        out = (init if init is not None
               else jax.eval_shape(lambda k: model.init(k, shape)[:2], key))
        outputs = jax.eval_shape(lambda p, s, a: model.apply(p, s, a)[0], *out,
                                 jax.ShapeDtypeStruct((1, *shape), x_dtype))
    except (ValueError, TypeError) as err:
        error = TypeError if isinstance(err, TypeError) else ValueError
        raise error(f"{owner}: train x of shape {np.shape(x)} and dtype {x_dtype} does not fit "
                    f"the model: {err}") from err
    out_shape = tuple(getattr(outputs, "shape", ()))
    y_dtype = np.asarray(y[:1]).dtype
    if (len(out_shape) >= 2 and out_shape[-1] > 1 and np.issubdtype(y_dtype, np.floating)
            and tuple(np.shape(y)[1:]) == out_shape[1:-1]):
        raise TypeError(f"{owner}: train y must be integer class labels for a model with "
                        f"{out_shape[-1]} outputs, got {y_dtype} y of shape {np.shape(y)}; "
                        "convert with y.astype(np.int32)")
    classes = out_shape[-1] if out_shape and np.issubdtype(y_dtype, np.integer) else None
    check_xy(x, y, owner, classes=classes, name="train")
    if val is not None:
        vx, vy = pair(val, "val")
        if tuple(np.shape(vx)[1:]) != shape:
            raise ValueError(f"{owner}: val x must have the per-example shape of train x {shape}, "
                             f"got shape {np.shape(vx)}")
        check_xy(vx, vy, owner, classes=classes, name="val")
    return epochs, batch_size


def _progress(progress: bool, total: int, initial: int):
    from tqdm.auto import tqdm

    off = not progress or not sys.stdout.isatty() or bool(os.environ.get("CI"))
    return tqdm(total=total, initial=initial, disable=off, unit="epoch", leave=False)


def init_state(model: Layer, optimizer: Any, input_shape: tuple[int, ...], key: jax.Array,
               init: tuple[Params, State] | None = None) -> TrainState:
    """A fresh TrainState: params from `model.init(fold_in(key, 0), ...)` (or `init`), step 0.

    Outside a trace it runs as one jitted program (cached per model, optimizer and shape), not as
    dozens of eager ops that each compile on first use. On CPU that program is compiled without
    LLVM optimisation (it runs once), which cuts its compile time about 5x; values can then differ
    from an eager `model.init` in the last bit (no multiply-add contraction), and are the same on
    every call.
    """
    shape = tuple(input_shape)
    traced = isinstance(jnp.zeros(()), jax.core.Tracer) or any(
        isinstance(v, jax.core.Tracer) for v in jax.tree.leaves((key, init)))
    if traced:  # inside jit/vmap (vmap_fit): trace inline, cache nothing that holds tracers
        return _make_state(model, optimizer, shape, key, init)
    try:
        program = _init_program(model, optimizer, shape)
    except TypeError:  # an unhashable model or optimizer: jit without the cache
        program = _init_program.__wrapped__(model, optimizer, shape)
    return program(key, init)


def _make_state(model, optimizer, input_shape, key, init) -> TrainState:
    if init is None:
        params, state, _ = model.init(jax.random.fold_in(key, 0), input_shape)
    else:
        params, state = init
    return TrainState(jnp.zeros((), jnp.int32), params, state, optimizer.init(params),
                      jax.random.fold_in(key, 1))


@functools.lru_cache(maxsize=32)
def _init_program(model: Layer, optimizer: Any, input_shape: tuple[int, ...]) -> Callable:
    cpu = jax.default_backend() == "cpu"
    return jax.jit(functools.partial(_make_state, model, optimizer, input_shape),
                   compiler_options={"xla_backend_optimization_level": 0} if cpu else None)


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
    dropped); validation (`val = (x, y)`, eval mode, batched) follows each epoch in the same
    compiled program. Without `patience` and `callbacks`, epoch e + 1 is dispatched before epoch
    e's logs are read back, so host work overlaps device work.

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
    given = init if initial_state is None else (initial_state.params, initial_state.state)
    epochs, batch_size = check_inputs(model, train, val, epochs, batch_size,
                                      jax.random.key(0) if key is None else key, "fit", given)
    if patience is not None:
        checks.positive_int(patience, "patience", "fit")
        names = ["loss", *(_name(m) for m in metrics)]
        recorded = [f"{p}_{n}" for p in ("train", "val") if p == "train" or val is not None
                    for n in names]
        if monitor not in recorded:
            hint = " (pass val=(x, y))" if monitor.startswith("val_") and val is None else ""
            raise ValueError(f"fit: monitor must be one of {recorded}, got {monitor!r}{hint}")
    x, y = jnp.asarray(train[0]), jnp.asarray(train[1])
    vx, vy = (None, None) if val is None else (jnp.asarray(val[0]), jnp.asarray(val[1]))
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
        ts, x, y, vx, vy = replicate((ts, x, y, vx, vy), mesh)
    program = functools.partial(
        _compiled_epoch, model, loss, optimizer, batch_size, tuple(metrics), penalty,
        skip_nonfinite, frozen_keys, sharding, val_batch=0 if vx is None else min(1024, len(vx)))
    steps = x.shape[0] // batch_size
    start = int(ts.step) // steps
    logs_all: dict[str, list] = {}
    history = History({})
    best_value, best_ts, wait = None, ts, 0
    sign = 1.0 if monitor.endswith("loss") else -1.0
    shown = {"train_loss", monitor, *(f"val_{_name(m)}" for m in metrics[:1])}
    bar = _progress(progress, epochs, start)
    # With no patience and no callbacks nothing but an error stops the run early, so epoch e + 1
    # is dispatched (on the unchecked state) before epoch e's logs are read: the host work of
    # each epoch overlaps the next one on the device. An error discards that epoch.
    ahead = patience is None and not callbacks
    pending, t0 = None, time.perf_counter()
    try:
        for epoch in range(start, epochs):
            e = np.int32(epoch)  # a NumPy scalar: no eager op per epoch
            new_ts, logs, info = pending or program(safe=skip_nonfinite)(ts, e, x, y, vx, vy)
            pending = None
            if ahead and epoch + 1 < epochs:
                pending = program(safe=skip_nonfinite)(new_ts, e + 1, x, y, vx, vy)
            logs, info = jax.device_get((logs, info))
            if not skip_nonfinite and (info["bad"] >= 0 or not info["finite_state"]):
                # re-run the epoch (deterministic) guarded, checking every gradient
                pending = None
                new_ts, logs, info = program(safe=True)(ts, e, x, y, vx, vy)
                logs, info = jax.device_get((logs, info))
            bad = int(info["bad"])
            history.nonfinite_skipped += int(info["skipped"])
            if bad >= 0:
                raise NonFiniteError(
                    f"fit: non-finite loss or gradient at epoch {epoch}, step {bad} (global step "
                    f"{epoch * steps + bad}); .train_state holds the last finite state. Lower the "
                    "learning rate, clip gradients, check the data, or pass skip_nonfinite=True.",
                    new_ts, epoch, bad)
            ts = new_ts
            logs = {k: float(v) if info["kept"] or not k.startswith("train_") else float("nan")
                    for k, v in logs.items()}  # no step kept (all skipped): NaN means
            logs.setdefault("learning_rate", None)
            t1 = time.perf_counter()
            logs["seconds"], t0 = t1 - t0, t1
            for k, v in logs.items():
                logs_all.setdefault(k, []).append(v)
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
    history.values = {k: np.asarray(v) for k, v in logs_all.items()
                      if not any(u is None for u in v)}
    return ts, history


__all__ = [
    "TrainState", "History", "NonFiniteError", "make_train_step", "make_eval_step", "epoch_fn",
    "fit", "evaluate", "predict", "init_state", "learning_rate", "check_inputs", "eval_fn",
]
