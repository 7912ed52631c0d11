"""Sweeps: K models trained in one compiled program (`vmap_fit`), grid and random search.

`vmap_fit` vmaps `fit`'s epoch over a leading axis of K seeds and/or hyperparameters: the
optimizer is rebuilt inside the vmapped function from traced hyperparameters
(`make_optimizer(lr=...)`), so a learning-rate sweep costs one compile and little more than one
run. Model hyperparameters (init scale, dropout rate) go through `make_model(**model_hparams)`.

`grid_search` / `random_search` follow train -> val -> test (fundamentals 000, 3.5: the
validation split picks the hyperparameters, the test split is touched once, for the winner).
"""

from __future__ import annotations

import functools
import itertools
import time
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.core import Layer
from jaxdl.losses import accuracy
from jaxdl.train import (
    History, Loss, Metric, TrainState, _learning_rate, _name, all_finite_state, check_inputs,
    epoch_fn, epoch_logs, eval_fn, evaluate, init_state,
)

ModelLike = Layer | Callable[..., Layer]


def _lengths(owner: str, keys: Any, groups: dict[str, dict[str, Any]]) -> int:
    sizes = {} if keys is None or np.ndim(keys) == 0 else {"keys": len(keys)}
    for group in groups.values():
        for name, value in group.items():
            if np.ndim(value) != 1:
                raise ValueError(f"{owner}: hyperparameter {name!r} must be a 1-D array of "
                                 f"length K, got shape {np.shape(value)}")
            sizes[name] = len(value)
    if not sizes:
        raise ValueError(f"{owner}: give keys of length K and/or hparams arrays of length K")
    if len(set(sizes.values())) != 1:
        raise ValueError(f"{owner}: every sweep axis must have the same length K, got lengths "
                         + ", ".join(f"{k}={v}" for k, v in sizes.items()))
    return next(iter(sizes.values()))


@functools.lru_cache(maxsize=16)
def _compiled_sweep(model: ModelLike, loss: Loss, make_optimizer: Callable[..., Any],
                    penalty: Callable | None, shape: tuple[int, ...], batch_size: int,
                    metrics: tuple[Metric, ...], val_batch: int) -> tuple[Callable, Callable]:
    """The jitted, vmapped init and `epoch(safe)` programs of a sweep; cached, so a second
    `vmap_fit` with the same functions reuses the compiled programs (as `fit` does).

    `epoch(safe)(ts, h, m, ph, e, x, y, vx, vy) -> (ts, logs, bad, finite_state)`: one dispatch
    per epoch for all K models, with the epoch means and validation computed on device. As in
    fit, the fast program (`safe=False`) checks the loss alone and guards nothing; vmap_fit re-runs
    the epoch with `safe=True` (guarded, every gradient checked) when a member went non-finite.
    """

    def make(m: dict[str, Any]) -> Layer:
        return model if isinstance(model, Layer) else model(**m)

    def init(key, h, m):
        return init_state(make(m), make_optimizer(**h), shape, key)

    def program(safe):
        def epoch(ts, h, m, ph, e, x, y, vx, vy):
            pen = penalty if penalty is None or not ph else (lambda p: penalty(p, **ph))
            net = make(m)
            run = epoch_fn(net, loss, make_optimizer(**h), batch_size=batch_size,
                           metrics=metrics, penalty=pen, check_grads=safe, guard=safe)
            ts, ms, bad = run(ts, e, x, y)
            means, kept, _ = epoch_logs(ms, bad, False)
            logs = {"kept": kept, **{f"train_{n}": v for n, v in means.items()}}
            if val_batch:
                val = eval_fn(net, loss, metrics, val_batch)(ts.params, ts.state, vx, vy)
                logs.update({f"val_{n}": v for n, v in val.items()})
            lr = _learning_rate(ts.opt_state)
            if lr is not None:
                logs["learning_rate"] = lr
            return ts, logs, bad, all_finite_state(ts)

        return jax.jit(jax.vmap(epoch, in_axes=(0, 0, 0, 0, None, None, None, None, None)))

    cpu = jax.default_backend() == "cpu"  # init runs once: compile it fast (see init_state)
    fast_init = {"xla_backend_optimization_level": 0} if cpu else None
    return (jax.jit(jax.vmap(init), compiler_options=fast_init),
            functools.lru_cache(maxsize=2)(program))


def vmap_fit(
    model: ModelLike, loss: Loss, make_optimizer: Callable[..., Any], train: tuple[Any, Any], *,
    hparams: dict[str, Any] | None = None, keys: jax.Array, val: tuple[Any, Any] | None = None,
    epochs: int, batch_size: int, metrics: Sequence[Metric] = (accuracy,),
    penalty: Callable | None = None, model_hparams: dict[str, Any] | None = None,
    penalty_hparams: dict[str, Any] | None = None,
) -> tuple[TrainState, History]:
    """Train K models in one compiled program; model k equals `fit(model_k, loss,
    make_optimizer(**hparams[k]), train, key=keys[k], ...)` (to float tolerance).

    Args:
      model: a Layer, or `make_model(**model_hparams[k]) -> Layer` (same structure for every k).
      make_optimizer: `make_optimizer(**hparams[k])` -> GradientTransformation; its arguments
        arrive as traced scalars, so they must not be checked in Python (jaxdl.optim is fine).
      hparams, model_hparams: dicts of 1-D arrays of length K.
      keys: (K,) PRNG keys, one per model, or one key shared by all K.
      val, epochs, batch_size, metrics, penalty: as in `fit` (no early stopping; a model whose
        loss turns non-finite keeps its last finite state, `history.nonfinite_step` says where).
    Returns:
      (TrainState with a leading K axis on every leaf, History with (K, epochs) arrays).
    """
    hparams, model_hparams = dict(hparams or {}), dict(model_hparams or {})
    penalty_hparams = dict(penalty_hparams or {})
    if penalty_hparams and penalty is None:
        raise ValueError("vmap_fit: penalty_hparams needs a penalty(params, **h), got penalty=None")
    if keys is None:
        raise TypeError("vmap_fit: keys must be a PRNG key or (K,) keys such as "
                        "jax.random.split(jax.random.key(0), K), got None")
    k = _lengths("vmap_fit", keys, {"hparams": hparams, "model_hparams": model_hparams,
                                    "penalty_hparams": penalty_hparams})
    # build each member's optimizer and model once from concrete values, before anything
    # compiles: a bad value (a negative learning rate) raises here, not traced through unchecked
    from jaxdl.checks import is_concrete

    make_model = None if isinstance(model, Layer) else model
    for what, build, group in (("hparams", make_optimizer, hparams),
                               ("model_hparams", make_model, model_hparams)):
        if build is None or not group or not is_concrete(group):
            continue
        for i in range(k):
            try:
                build(**{n: jnp.asarray(v)[i] for n, v in group.items()})
            except (ValueError, TypeError) as err:
                shown = ", ".join(f"{n}={np.asarray(v)[i]}" for n, v in group.items())
                raise (TypeError if isinstance(err, TypeError) else ValueError)(
                    f"vmap_fit: {what} of member {i} ({shown}) are invalid: {err}") from err
    keys = keys if np.ndim(keys) == 1 else jnp.stack([keys] * k)
    hp = {n: jnp.asarray(v) for n, v in hparams.items()}
    mhp = {n: jnp.asarray(v) for n, v in model_hparams.items()}
    php = {n: jnp.asarray(v) for n, v in penalty_hparams.items()}

    first = model if isinstance(model, Layer) else model(**{n: v[0] for n, v in mhp.items()})
    epochs, batch_size = check_inputs(first, train, val, epochs, batch_size, keys[0], "vmap_fit")
    x, y = jnp.asarray(train[0]), jnp.asarray(train[1])
    vx, vy = (None, None) if val is None else (jnp.asarray(val[0]), jnp.asarray(val[1]))
    init, program = _compiled_sweep(model, loss, make_optimizer, penalty, tuple(x.shape[1:]),
                                    batch_size, tuple(metrics),
                                    0 if vx is None else min(1024, len(vx)))
    ts = init(keys, hp, mhp)
    logs: dict[str, list] = {}
    pending, t0 = None, time.perf_counter()
    for e in range(epochs):
        args = (hp, mhp, php, np.int32(e), x, y, vx, vy)
        new, out, bad, ok = pending or program(False)(ts, *args)
        pending = None
        if e + 1 < epochs:  # dispatched before this epoch is read back (as in fit)
            pending = program(False)(new, hp, mhp, php, np.int32(e + 1), x, y, vx, vy)
        out, bad, ok = jax.device_get((out, bad, ok))
        if np.any(bad >= 0) or not np.all(ok):  # re-run guarded, every gradient checked
            pending = None
            new, out, bad, ok = program(True)(ts, *args)
            out, bad = jax.device_get((out, bad))
        ts = new
        kept = np.asarray(out.pop("kept"))
        out = {n: np.where(kept > 0, v, np.nan) if n.startswith("train_") else np.asarray(v)
               for n, v in out.items()}  # no step kept: NaN means
        out["nonfinite_step"] = np.asarray(bad)
        if "learning_rate" in out:
            out["learning_rate"] = np.broadcast_to(out.pop("learning_rate"), (k,))
        t1 = time.perf_counter()
        out["seconds"], t0 = np.full((k,), t1 - t0), t1
        for n, a in out.items():
            logs.setdefault(n, []).append(a)
    return ts, History({n: np.stack(a, axis=1) for n, a in logs.items()})


class SearchResult(NamedTuple):
    """The winner (chosen on val), its test score, and every candidate's val score."""

    best: dict[str, float]
    best_index: int
    test_score: float
    val_scores: np.ndarray
    candidates: dict[str, np.ndarray]


TrainFn = Callable[[dict[str, np.ndarray]], tuple[Any, Callable[[int], float]]]


def _search(candidates: dict[str, np.ndarray], train_fn: TrainFn, mode: str) -> SearchResult:
    if mode not in ("max", "min"):
        raise ValueError(f"search: mode must be 'max' or 'min', got {mode!r}")
    val_scores, test_score = train_fn(candidates)
    val_scores = np.asarray(val_scores, np.float64)
    scores = np.where(np.isfinite(val_scores), val_scores, -np.inf if mode == "max" else np.inf)
    i = int(np.argmax(scores) if mode == "max" else np.argmin(scores))
    best = {n: v[i].item() for n, v in candidates.items()}
    return SearchResult(best, i, float(test_score(i)), val_scores, candidates)


def _check_search(owner: str, space: dict[str, Any], mode: str) -> None:
    """`mode` and every entry of `space` checked before any candidate trains."""
    if mode not in ("max", "min"):
        raise ValueError(f"{owner}: mode must be 'max' (accuracy-like) or 'min' (losses), got "
                         f"{mode!r}")
    for name, spec in space.items():
        if not callable(spec) and len(list(spec)) == 0:
            raise ValueError(f"{owner}: space[{name!r}] must list at least one value, got "
                             f"{spec!r}")


def grid_search(space: dict[str, Sequence[Any]], train_fn: TrainFn, *,
                mode: str = "max") -> SearchResult:
    """Try every combination of `space` ({name: values}); pick by validation score.

    `train_fn(candidates)` gets {name: (K,) array} for all K candidates at once (train them in one
    `vmap_fit`, see `vmap_trainer`) and returns `(val_scores (K,), test_score)`, where
    `test_score(i)` evaluates candidate i on the test split; it is called for the winner only.
    `mode`: "max" for accuracy-like scores, "min" for losses.
    """
    if not space:
        raise ValueError("grid_search: space must name at least one hyperparameter, got {}")
    _check_search("grid_search", space, mode)
    names = list(space)
    combos = list(itertools.product(*(list(space[n]) for n in names)))
    candidates = {n: np.array([c[j] for c in combos]) for j, n in enumerate(names)}
    return _search(candidates, train_fn, mode)


def uniform(low: float, high: float) -> Callable[[jax.Array, int], np.ndarray]:
    """A `random_search` sampler: n draws from U[low, high)."""
    return lambda key, n: np.asarray(jax.random.uniform(key, (n,), minval=low, maxval=high))


def log_uniform(low: float, high: float) -> Callable[[jax.Array, int], np.ndarray]:
    """A `random_search` sampler: n draws with log(value) ~ U[log low, log high) (for rates)."""
    if not 0 < low < high:
        raise ValueError(f"log_uniform: need 0 < low < high, got low={low}, high={high}")
    lo, hi = float(np.log(low)), float(np.log(high))
    return lambda key, n: np.exp(np.asarray(jax.random.uniform(key, (n,), minval=lo, maxval=hi)))


def random_search(space: dict[str, Any], n: int, key: jax.Array, train_fn: TrainFn, *,
                  mode: str = "max") -> SearchResult:
    """Try `n` random candidates; pick by validation score (Bergstra & Bengio 2012).

    `space` maps a name to a sequence of choices (drawn uniformly) or a sampler
    `sample(key, n) -> (n,) array` such as `log_uniform(1e-4, 1e-1)`. `train_fn` and `mode` as in
    `grid_search`.
    """
    if not space:
        raise ValueError("random_search: space must name at least one hyperparameter, got {}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"random_search: n must be an int >= 1, got {n!r}")
    _check_search("random_search", space, mode)
    candidates = {}
    for i, (name, spec) in enumerate(space.items()):
        sub = jax.random.fold_in(key, i)
        if callable(spec):
            candidates[name] = np.asarray(spec(sub, n))
        else:
            choices = np.asarray(list(spec))
            candidates[name] = choices[np.asarray(jax.random.randint(sub, (n,), 0, len(choices)))]
    return _search(candidates, train_fn, mode)


def vmap_trainer(
    model: ModelLike, loss: Loss, make_optimizer: Callable[..., Any], train: tuple[Any, Any],
    val: tuple[Any, Any], test: tuple[Any, Any], *, epochs: int, batch_size: int, key: jax.Array,
    metric: Metric = accuracy, model_names: Sequence[str] = (),
) -> TrainFn:
    """A `train_fn` for the searches: all candidates in one `vmap_fit` with the same `key`.

    The val score is `metric` on `val` after the last epoch; `test_score(i)` evaluates candidate
    i on `test`. Names in `model_names` go to `make_model(**...)` (`model` callable), the rest to
    `make_optimizer`.
    """

    def train_fn(candidates: dict[str, np.ndarray]):
        hp = {n: v for n, v in candidates.items() if n not in model_names}
        mhp = {n: v for n, v in candidates.items() if n in model_names}
        ts, history = vmap_fit(model, loss, make_optimizer, train, hparams=hp, keys=key, val=val,
                               epochs=epochs, batch_size=batch_size, metrics=(metric,),
                               model_hparams=mhp)
        scores = history.values[f"val_{_name(metric)}"][:, -1]

        def test_score(i: int) -> float:
            member = jax.tree.map(lambda a: a[i], ts)
            net = model if isinstance(model, Layer) else model(**{n: v[i] for n, v in mhp.items()})
            return evaluate(net, member, test, (metric,))[_name(metric)]

        return scores, test_score

    return train_fn


__all__ = ["vmap_fit", "grid_search", "random_search", "vmap_trainer", "SearchResult", "uniform",
           "log_uniform"]
