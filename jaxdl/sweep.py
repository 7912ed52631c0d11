"""Sweeps: K models trained in one compiled program (`vmap_fit`), grid and random search.

`vmap_fit` vmaps `fit`'s epoch over a leading axis of K seeds and/or hyperparameters: the
optimizer is rebuilt inside the vmapped function from traced hyperparameters
(`make_optimizer(lr=...)`), so a learning-rate sweep costs one compile and little more than one
run. Model hyperparameters (init scale, dropout rate) go through `make_model(**model_hparams)`.

`grid_search` / `random_search` follow train -> val -> test (fundamentals 000, 3.5: the
validation split picks the hyperparameters, the test split is touched once, for the winner).
"""

from __future__ import annotations

import itertools
import time
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.checks import is_concrete
from jaxdl.core import Layer
from jaxdl.data.batching import example_shape, num_examples
from jaxdl.losses import accuracy
from jaxdl.optim.base import GradientTransformation
from jaxdl.train.epoch import EpochConfig, dispatched, run_epoch
from jaxdl.train.evaluate import evaluate
from jaxdl.train.inputs import check_inputs, default_metrics
from jaxdl.train.state import History, Loss, Metric, TrainState, metric_name, new_state

ModelLike = Layer | Callable[..., Layer]
MakeOptimizer = Callable[..., GradientTransformation]


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


def _member(model: ModelLike, m: dict[str, Any]) -> Layer:
    return model if isinstance(model, Layer) else model(**m)


def _sweep_init(model, make_optimizer, shape, keys, h, m):
    return jax.vmap(lambda k, h, m: new_state(_member(model, m), make_optimizer(**h), shape, k))(
        keys, h, m)


def _sweep_epoch(model, loss, make_optimizer, penalty, config, ts, h, m, ph, e, x, y, vx, vy):
    """`run_epoch` for K members at once: member k's model and optimizer are built inside the
    vmap from its (traced) hyperparameters."""

    def member(ts, h, m, ph):
        pen = penalty if penalty is None or not ph else (lambda p: penalty(p, **ph))
        return run_epoch(_member(model, m), loss, make_optimizer(**h),
                         config._replace(penalty=pen), ts, e, x, y, vx, vy)

    return jax.vmap(member)(ts, h, m, ph)


# jit's own caches, keyed by the functions given (a module-level make_optimizer is reused)
_init_program = jax.jit(_sweep_init, static_argnums=(0, 1, 2))
_epoch_program = jax.jit(_sweep_epoch, static_argnums=(0, 1, 2, 3, 4))


def _check_members(k: int, builds: dict[str, tuple[Callable | None, dict]]) -> None:
    """Build each member's optimizer and model once from concrete values, before anything
    compiles: a bad value (a negative learning rate) raises here, not traced through unchecked."""
    for what, (build, group) in builds.items():
        if build is None or not group or not is_concrete(group):
            continue
        for i in range(k):
            try:
                build(**{n: jnp.asarray(v)[i] for n, v in group.items()})
            except (ValueError, TypeError) as err:
                shown = ", ".join(f"{n}={np.asarray(v)[i]}" for n, v in group.items())
                raise (TypeError if isinstance(err, TypeError) else ValueError)(
                    f"vmap_fit: {what} of member {i} ({shown}) are invalid: {err}") from err


def vmap_fit(
    model: ModelLike, loss: Loss, make_optimizer: MakeOptimizer, train: tuple[Any, Any], *,
    hparams: dict[str, Any] | None = None, keys: jax.Array, val: tuple[Any, Any] | None = None,
    epochs: int, batch_size: int, metrics: Sequence[Metric] | None = None,
    penalty: Callable | None = None, model_hparams: dict[str, Any] | None = None,
    penalty_hparams: dict[str, Any] | None = None,
) -> tuple[TrainState, History]:
    """Train K models in one compiled program; model k equals `fit(model_k, loss,
    make_optimizer(**hparams[k]), train, key=keys[k], ...)` (to float tolerance).

    Each epoch is `jaxdl.train.epoch.run_epoch`, fit's own epoch, under `vmap`: one dispatch per
    epoch for all K models. As in fit, an epoch in which a member went non-finite is re-run
    guarded (that member keeps its last finite state; `history.nonfinite_step` says where).

    Args:
      model: a Layer, or `make_model(**model_hparams[k]) -> Layer` (same structure for every k).
      make_optimizer: `make_optimizer(**hparams[k])` -> GradientTransformation; its arguments
        arrive as traced scalars, so they must not be checked in Python (jaxdl.optim is fine).
        A module-level function is compiled once; a new lambda per call compiles again.
      hparams: dict of 1-D arrays of length K.
      model_hparams: dict of 1-D arrays of length K.
      penalty_hparams: dict of 1-D arrays of length K
        (`penalty(params, **penalty_hparams[k])`).
      keys: (K,) PRNG keys, one per model, or one key shared by all K.
      val: as in `fit`.
      epochs: as in `fit` (no early stopping).
      batch_size: as in `fit`.
      metrics: as in `fit`.
      penalty: as in `fit`.

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
    make_model = None if isinstance(model, Layer) else model
    _check_members(k, {"hparams": (make_optimizer, hparams),
                       "model_hparams": (make_model, model_hparams)})
    keys = keys if np.ndim(keys) == 1 else jnp.stack([keys] * k)
    hp, mhp, php = ({n: jnp.asarray(v) for n, v in g.items()}
                    for g in (hparams, model_hparams, penalty_hparams))
    first = _member(model, {n: v[0] for n, v in mhp.items()})
    epochs, batch_size, out_shape = check_inputs(first, train, val, epochs, batch_size, keys[0],
                                                 "vmap_fit")
    metrics = default_metrics(out_shape, train[1]) if metrics is None else tuple(metrics)
    data = [jax.tree.map(jnp.asarray, a) for a in (*train, *(val or (None, None)))
            if a is not None]
    data += [None] * (4 - len(data))
    config = EpochConfig(batch_size, tuple(metrics),
                         val_batch=0 if val is None else min(1024, num_examples(data[2])))
    ts = _init_program(model, make_optimizer, example_shape(data[0]), keys, hp, mhp)

    def run(safe, ts, e):
        return _epoch_program(model, loss, make_optimizer, penalty, config._replace(safe=safe),
                              ts, hp, mhp, php, e, *data)

    logs: dict[str, list] = {}
    t0 = time.perf_counter()
    for _, ts, out, info in dispatched(run, ts, 0, epochs, ahead=True, check=True):
        out = {n: np.where(info["kept"] > 0, v, np.nan) if n.startswith("train_")
               else np.asarray(v) for n, v in out.items()}  # no step kept: NaN means
        out["nonfinite_step"] = np.asarray(info["bad"])
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
        scores = history.values[f"val_{metric_name(metric)}"][:, -1]

        def test_score(i: int) -> float:
            member = jax.tree.map(lambda a: a[i], ts)
            net = model if isinstance(model, Layer) else model(**{n: v[i] for n, v in mhp.items()})
            return evaluate(net, member, test, (metric,))[metric_name(metric)]

        return scores, test_score

    return train_fn


__all__ = ["vmap_fit", "grid_search", "random_search", "vmap_trainer", "SearchResult", "uniform",
           "log_uniform"]
