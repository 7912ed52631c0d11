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
    History, Loss, Metric, TrainState, _epoch_means, _name, check_inputs, epoch_fn, eval_fn,
    evaluate, init_state, learning_rate,
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
                    metrics: tuple[Metric, ...]) -> tuple[Callable, Callable, Callable]:
    """The jitted, vmapped (init, epoch, validate) of a sweep; cached, so a second `vmap_fit` with
    the same functions reuses the compiled programs (as `fit` does)."""

    def make(m: dict[str, Any]) -> Layer:
        return model if isinstance(model, Layer) else model(**m)

    def init(key, h, m):
        return init_state(make(m), make_optimizer(**h), shape, key)

    def epoch(ts, h, m, ph, e, x, y):
        pen = penalty if penalty is None or not ph else (lambda p: penalty(p, **ph))
        run = epoch_fn(make(m), loss, make_optimizer(**h), batch_size=batch_size,
                       metrics=metrics, penalty=pen)
        return run(ts, e, x, y)

    def validate(ts, m, vx, vy):
        return eval_fn(make(m), loss, metrics, min(1024, vx.shape[0]))(ts.params, ts.state, vx, vy)

    return (jax.jit(jax.vmap(init)),
            jax.jit(jax.vmap(epoch, in_axes=(0, 0, 0, 0, None, None, None))),
            jax.jit(jax.vmap(validate, in_axes=(0, 0, None, None))))


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
    k = _lengths("vmap_fit", keys, {"hparams": hparams, "model_hparams": model_hparams,
                                    "penalty_hparams": penalty_hparams})
    keys = keys if np.ndim(keys) == 1 else jnp.stack([keys] * k)
    hp = {n: jnp.asarray(v) for n, v in hparams.items()}
    mhp = {n: jnp.asarray(v) for n, v in model_hparams.items()}
    php = {n: jnp.asarray(v) for n, v in penalty_hparams.items()}

    first = model if isinstance(model, Layer) else model(**{n: v[0] for n, v in mhp.items()})
    epochs, batch_size = check_inputs(first, train, val, epochs, batch_size, keys[0], "vmap_fit")
    x, y = jnp.asarray(train[0]), jnp.asarray(train[1])
    init, run, check = _compiled_sweep(model, loss, make_optimizer, penalty, tuple(x.shape[1:]),
                                       batch_size, tuple(metrics))
    ts = init(keys, hp, mhp)
    logs: dict[str, list] = {}
    for e in range(epochs):
        t0 = time.perf_counter()
        ts, ms, bad = run(ts, hp, mhp, php, jnp.asarray(e, jnp.int32), x, y)
        ms, bad = jax.device_get((ms, bad))
        rows = [_epoch_means({n: v[i] for n, v in ms.items()}, int(bad[i]), False)[0]
                for i in range(k)]
        out = {f"train_{n}": np.array([r[n] for r in rows]) for n in rows[0]}
        out["nonfinite_step"] = np.asarray(bad)
        if val is not None:
            v = check(ts, mhp, jnp.asarray(val[0]), jnp.asarray(val[1]))
            out.update({f"val_{n}": np.asarray(a) for n, a in v.items()})
        lr = learning_rate(ts.opt_state)
        if lr is not None:
            out["learning_rate"] = np.broadcast_to(lr, (k,))
        jax.block_until_ready(ts.params)
        out["seconds"] = np.full((k,), time.perf_counter() - t0)
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
