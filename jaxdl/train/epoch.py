"""The one epoch program, used by `fit` (one model) and `vmap_fit` (K models under `vmap`).

`run_epoch(model, loss, optimizer, config, ts, epoch, x, y, vx, vy) -> (ts, logs, info)` is pure:
it draws the epoch's permutation (`batch_indices`, the last partial batch is DROPPED), scans the
train step over the batches, gathering `x[idx[s]]` inside the scan so small models are not bound
by Python dispatch, and computes on device the epoch's means ("train_*"), the validation means
("val_*", when `config.val_batch`) and the learning rate (when the optimizer state exposes one).
`info` holds the first non-finite step "bad" (-1 if none), the steps "kept" in the means, the
"skipped" count (with `skip_nonfinite`) and "finite_state" (params and optimizer state finite).

Fast (`config.safe=False`): only the loss is checked and nothing is guarded, so a non-finite loss
(`bad >= 0`) or a non-finite gradient under a finite loss (`finite_state` False) tells the
caller to re-run the epoch with `safe=True`: guarded (the carried state freezes at the last finite
step) and every gradient checked. The epoch is deterministic, so the re-run sees the same steps.

Randomness: epoch key = `fold_in(ts.key, epoch)`; the permutation and step keys come from it,
step key = `fold_in(step key, s)`: resuming at epoch e reproduces an uninterrupted run bit for bit.

`epoch_program` is `run_epoch` jitted with the model, loss, optimizer and config static: jit's own
cache holds one program per distinct (by value, see jaxdl.spec) combination, and nothing else.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.core import Layer
from jaxdl.data_parallel import to_host
from jaxdl.data.batching import batch_indices
from jaxdl.optim.base import GradientTransformation
from jaxdl.train.state import Loss, Metric, TrainState, learning_rate_of, metric_name
from jaxdl.metrics import is_count_metric as counted
from jaxdl.train.step import Penalty, all_finite, batched_means, make_train_step


class EpochConfig(NamedTuple):
    """What shapes the epoch program besides the model, loss and optimizer (all static)."""

    batch_size: int
    metrics: tuple[Metric, ...] = ()
    penalty: Penalty | None = None
    skip_nonfinite: bool = False  # the optimizer is wrapped in apply_if_finite
    frozen: tuple[str, ...] = ()  # top-level layer keys whose params and state stay fixed
    sharding: Any = None  # a NamedSharding for each batch (data parallelism), or None
    safe: bool = False  # guard the state and check every gradient (the re-run)
    val_batch: int = 0  # validation batch size; 0: no validation


def _where(ok: jax.Array, a: Any, b: Any) -> Any:
    return jax.tree.map(lambda u, v: jnp.where(ok, u, v), a, b)


def scan_steps(model: Layer, loss: Loss, optimizer: GradientTransformation, config: EpochConfig,
               ts: TrainState, batch_at: Callable[[jax.Array], tuple[Any, Any]], n_steps: int,
               step_key: jax.Array, first_step: jax.Array | int = 0
               ) -> tuple[TrainState, jax.Array, dict[str, jax.Array]]:
    """`n_steps` train steps as one `lax.scan`: step i trains on `batch_at(i)` with the key
    `fold_in(step_key, first_step + i)`; returns (ts, bad, per-step metrics with "finite").

    `bad` is the first non-finite step (counted from `first_step`) in guarded mode (`config.safe`
    without `skip_nonfinite`: the carried state freezes at the last finite step), else -1.
    """
    c = config
    skip, guard = c.skip_nonfinite, c.safe and not c.skip_nonfinite
    step = make_train_step(model, loss, optimizer, penalty=c.penalty, metrics=c.metrics,
                           frozen=c.frozen, check_grads=c.safe or skip)

    def body(carry, i):
        ts, bad = carry
        xb, yb = batch_at(i)
        if c.sharding is not None:
            xb, yb = jax.tree.map(lambda a: jax.lax.with_sharding_constraint(a, c.sharding),
                                  (xb, yb))
        s = first_step + i
        new, m = step(ts, xb, yb, key=jax.random.fold_in(step_key, s))
        if skip:  # the optimizer skipped the update; keep the model state too
            new = new._replace(state=_where(m["finite"], new.state, ts.state))
        elif guard:  # freeze at the last finite state
            ok = (bad < 0) & m["finite"]
            new = _where(ok, new, ts)
            bad = jnp.where((bad < 0) & ~m["finite"], s, bad)
        return (new, bad), m

    steps = jnp.arange(n_steps, dtype=jnp.int32)
    (ts, bad), ms = jax.lax.scan(body, (ts, jnp.array(-1, jnp.int32)), steps)
    return ts, bad, ms


def step_sums(config: EpochConfig, ms: dict[str, jax.Array], keep: jax.Array
              ) -> dict[str, jax.Array]:
    """Per-metric sums over the kept steps (`keep`, (steps,) bool): the sum of the per-step
    means, or for a count metric (precision, recall, F1) the summed counts."""
    by_counts = {metric_name(m) for m in config.metrics if counted(m)}
    out = {}
    for k, v in ms.items():
        if k in by_counts:
            out[k] = jnp.sum(jnp.where(keep.reshape((-1,) + (1,) * (v.ndim - 1)), v, 0), axis=0)
        else:
            per_step = jnp.mean(v.astype(jnp.float32).reshape(keep.shape[0], -1), axis=1)
            out[k] = jnp.sum(jnp.where(keep, per_step, 0.0))
    return out


def epoch_logs(model: Layer, loss: Loss, optimizer: GradientTransformation, config: EpochConfig,
               ts: TrainState, sums: dict[str, jax.Array], kept: jax.Array,
               vx: Any = None, vy: Any = None) -> dict[str, jax.Array]:
    """The epoch's logs from `step_sums` over `kept` steps: "train_*" means (0 when none is
    kept: no NaN is made here, so `jax.debug_nans` stops at the op that made one), "val_*"
    (when `config.val_batch`) and "learning_rate" (when the optimizer exposes one)."""
    by_counts = {metric_name(m): m for m in config.metrics if counted(m)}
    logs = {f"train_{k}": by_counts[k].from_counts(v) if k in by_counts else
            v / jnp.maximum(kept, 1).astype(jnp.float32) for k, v in sums.items()}
    if config.val_batch:
        val = batched_means(model, loss, config.metrics, config.val_batch, ts.params, ts.state,
                            vx, vy)
        logs.update({f"val_{k}": v for k, v in val.items()})
    lr = learning_rate_of(ts.opt_state, optimizer)
    if lr is not None:
        logs["learning_rate"] = lr
    return logs


def state_finite(ts: TrainState) -> jax.Array:
    """Params and optimizer state all finite."""
    return all_finite([v for v in jax.tree.leaves((ts.params, ts.opt_state))
                       if jnp.issubdtype(v.dtype, jnp.inexact)])


def run_epoch(model: Layer, loss: Loss, optimizer: GradientTransformation, config: EpochConfig,
              ts: TrainState, epoch: jax.Array, x: Any, y: jax.Array,
              vx: Any = None, vy: jax.Array | None = None
              ) -> tuple[TrainState, dict[str, jax.Array], dict[str, jax.Array]]:
    """One epoch of training, then validation (see the module docstring). `x` is an array or a
    tuple of arrays (a model with several inputs), each with the examples on axis 0."""
    c = config
    perm_key, step_key = jax.random.split(jax.random.fold_in(ts.key, epoch))
    n = jax.tree.leaves(x)[0].shape[0]
    idx, _ = batch_indices(perm_key, n, c.batch_size, drop_last=True)

    def batch_at(s):
        return jax.tree.map(lambda a: a[idx[s]], x), y[idx[s]]

    ts, bad, ms = scan_steps(model, loss, optimizer, c, ts, batch_at, idx.shape[0], step_key)
    sums, kept, info = scan_outcome(c, ts, ms, bad, jnp.arange(idx.shape[0], dtype=jnp.int32))
    return ts, epoch_logs(model, loss, optimizer, c, ts, sums, kept, vx, vy), info


def scan_outcome(config: EpochConfig, ts: TrainState, ms: dict[str, jax.Array], bad: jax.Array,
                 steps: jax.Array) -> tuple[dict[str, jax.Array], jax.Array, dict[str, jax.Array]]:
    """After `scan_steps` over the steps numbered `steps`: (the kept steps' `step_sums`, their
    count, info {"bad", "kept", "skipped", "finite_state"}). Kept: the finite steps with
    `skip_nonfinite` (the others are counted as skipped), else those before the first
    non-finite one ("bad"; -1 if none)."""
    skip, guard = config.skip_nonfinite, config.safe and not config.skip_nonfinite
    ms = dict(ms)
    finite = ms.pop("finite")
    if not (guard or skip):  # skipped steps are not "bad": they are counted below
        bad = jnp.where(jnp.any(~finite), steps[jnp.argmax(~finite)], bad)
    keep = finite if skip else (bad < 0) | (steps < bad)
    kept = jnp.sum(keep.astype(jnp.int32))
    skipped = jnp.sum((~finite).astype(jnp.int32)) if skip else jnp.zeros((), jnp.int32)
    info = {"bad": bad, "kept": kept, "skipped": skipped, "finite_state": state_finite(ts)}
    return step_sums(config, ms, keep), kept, info


epoch_program = jax.jit(run_epoch, static_argnums=(0, 1, 2, 3))

Dispatch = Callable[[bool, Any, np.int32], tuple[Any, dict, dict]]  # (safe, ts, epoch) -> outputs


def dispatched(run: Dispatch, ts: Any, first: int, last: int, *, ahead: bool, check: bool
               ) -> Iterator[tuple[int, Any, dict, dict]]:
    """Yield (epoch, ts, logs, info), logs and info on the host, for epochs first .. last - 1.

    `run(safe, ts, e)` dispatches epoch e (one model, or K under vmap). With `ahead`, epoch e + 1
    is dispatched on the unchecked state before epoch e is read back, so host work overlaps
    device work. With `check`, an epoch in which any loss went non-finite (`info["bad"] >= 0`)
    or any state did (`info["finite_state"]` False) is re-run with `safe=True` (guarded, every
    gradient checked; the epoch is deterministic, so it sees the same steps). A state sent
    into the generator (`gen.send(ts)`) replaces the one the next epoch starts from.
    """
    pending = None
    for epoch in range(first, last):
        e = np.int32(epoch)  # a NumPy scalar: no eager op per epoch
        new, logs, info = pending or run(False, ts, e)
        pending = run(False, new, e + 1) if ahead and epoch + 1 < last else None
        logs, info = to_host((logs, info))
        if check and (np.any(info["bad"] >= 0) or not np.all(info["finite_state"])):
            pending = None
            new, logs, info = run(True, ts, e)
            logs, info = to_host((logs, info))
        ts = new
        replaced = yield epoch, ts, logs, info
        if replaced is not None:  # a callback changed the state: epoch e + 1 starts from it
            ts, pending = replaced, None


__all__ = ["EpochConfig", "run_epoch", "epoch_program", "dispatched", "scan_steps", "step_sums",
           "scan_outcome", "epoch_logs", "state_finite"]
