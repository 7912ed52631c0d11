"""Hyperparameter search: grid vs random search over learning rate and weight decay with the same
budget, on MNIST-1D, following train -> val -> test (choose on val, report the winner's test score).

Every search is run by `jaxdl.sweep.grid_search` / `random_search`. To train all of them in ONE
compiled `vmap_fit`, the searches run twice: a first pass only records the candidates each search
asks for (both searches are deterministic given their key), one `vmap_fit` trains every candidate
of every search, and the second pass hands each search its own validation scores and a test
evaluation that is called for its winner only.

Then the learning rate's extremes (002): full-batch gradient descent on digits from 1e-3 to 10."""

import jax
import jax.numpy as jnp
import numpy as np
from _harness import Experiment, run

from jaxdl import data, optim, plot
from jaxdl.losses import accuracy, softmax_cross_entropy
from jaxdl.nn import Dense, Relu, serial
from jaxdl.sweep import grid_search, log_uniform, random_search, vmap_fit
from jaxdl.train import evaluate


def make_opt(lr, wd):
    return optim.adamw(lr, weight_decay=wd)


def make_sgd(lr):
    return optim.sgd(lr)


def learning_rate_extremes(ex: Experiment) -> None:
    """002: too small a learning rate descends very slowly, too large a one oscillates or flies
    out of the valley. Full-batch gradient descent (one step per epoch) on digits, MLP 64-32-10,
    one vmap_fit over rates x seeds."""
    LRS = np.array([1e-3, 1e-2, 1e-1, 1.0, 3.0, 10.0], np.float32)
    SEEDS, STEPS = ex.pick(5, 2), ex.pick(150, 5)
    (x, y), _ = data.digits()
    x = x.reshape(x.shape[0], -1)
    keys = jnp.tile(jax.random.split(jax.random.key(11), SEEDS), (len(LRS),))
    _, hist = vmap_fit(serial(Dense(32), Relu(), Dense(10)), softmax_cross_entropy, make_sgd,
                       (x, y), hparams={"lr": np.repeat(LRS, SEEDS)}, keys=keys, epochs=STEPS,
                       batch_size=int(x.shape[0]))
    loss = np.asarray(hist.train_loss, np.float64).reshape(len(LRS), SEEDS, STEPS)
    ex.setting(lr_extremes=f"full-batch GD on digits (n={x.shape[0]}), MLP 64-32-10 relu, "
               f"{STEPS} steps, lrs {LRS.tolist()}, {SEEDS} seeds")
    drop = loss[:, :, 0] - loss[:, :, -1]  # (lrs, seeds)
    rises = (np.diff(loss, axis=2) > 0).mean(axis=2)
    best = int(np.argmax(drop.mean(1)))
    rows = [[f"{lr:g}", f"{loss[i, :, -1].mean():.3f}", f"{drop[i].mean():.3f}",
             f"{rises[i].mean():.2f}"] for i, lr in enumerate(LRS)]
    ex.table(f"Full-batch gradient descent: loss after {STEPS} steps by learning rate (mean of "
             f"{SEEDS} seeds)", ["lr", "final loss", "loss drop", "fraction of steps that raise "
                                 "the loss"], rows)
    ex.metrics["lr_extremes"] = {"lrs": LRS, "final_loss": loss[:, :, -1], "drop": drop,
                                 "rising_fraction": rises}
    slow = drop[0] < 0.1 * drop[best]
    bad = (loss[-1, :, -1] > loss[best, :, -1] + 1.0) & (rises[-1] > 0)
    ex.verdict("Too small a learning rate descends very slowly; too large a rate oscillates or "
               "flies out of the valley (002)", bool(slow.all() and bad.all()),
               f"lr {LRS[0]:g} drops the loss by {drop[0].mean():.3f} vs {drop[best].mean():.3f} "
               f"at lr {LRS[best]:g} (< 10 % in {int(slow.sum())}/{SEEDS} seeds); lr {LRS[-1]:g} "
               f"ends at {loss[-1, :, -1].mean():.3f} vs {loss[best, :, -1].mean():.3f}, raising "
               f"the loss on {rises[-1].mean():.0%} of its steps (worse by > 1 and rising in "
               f"{int(bad.sum())}/{SEEDS} seeds)")


def main(quick: bool) -> Experiment:
    ex = Experiment("hyperparams",
                    "grid search vs random search, and the train -> val -> test protocol",
                    "000 section 3.3 (3.3.2 grid / random search, 3.3.3 the search procedure); "
                    "Bergstra & Bengio 2012; 002 'learning rate'", quick=quick)
    REPEATS = ex.pick(8, 1)
    SIDE = ex.pick(4, 2)  # grid SIDE x SIDE, random SIDE**2: the same budget
    EPOCHS, BATCH = ex.pick((8, 100), (1, 100))
    LR, WD = (1e-4, 1e-1), (1e-5, 1e-1)
    BUDGET = SIDE * SIDE
    ex.setting(repeats=REPEATS, budget=BUDGET, grid=f"{SIDE} x {SIDE} log-spaced (ends included)",
               lr_range=LR, weight_decay_range=WD, optimizer="adamw(lr, weight_decay=wd)",
               model="MLP 40-64-64-10 relu", epochs=EPOCHS, batch=BATCH, score="val accuracy")

    # --- data: mnist1d train -> (train, val); its test split is touched once per search -------
    (x_all, y_all), test = data.mnist1d()
    take = ex.pick(None, 800)  # None: all
    train, val, _ = data.split(x_all[:take], y_all[:take], val=0.25, test=0.0,
                               key=jax.random.key(0))
    ex.setting(n_train=int(train[0].shape[0]), n_val=int(val[0].shape[0]),
               n_test=int(test[0].shape[0]))
    net = serial(Dense(64), Relu(), Dense(64), Relu(), Dense(10))

    train_keys = jax.random.split(jax.random.key(1), REPEATS)  # repeat r: both searches use key r
    # "round": the usual round-number ranges; "shifted": both ranges times 10**u, u ~ U[-0.5, 0.5)
    # per repeat, so where the best learning rate falls between the grid's values is left to chance.
    SHIFT = {"round": np.ones(REPEATS),
             "shifted": 10.0 ** np.asarray(jax.random.uniform(jax.random.key(3), (REPEATS,),
                                                              minval=-0.5, maxval=0.5))}
    CONDS = list(SHIFT)

    def run_searches(train_fn_for):
        out = {}
        for cond in CONDS:
            for r in range(REPEATS):
                lr = (LR[0] * SHIFT[cond][r], LR[1] * SHIFT[cond][r])
                grid_space = {"lr": np.geomspace(*lr, SIDE).astype(np.float32),
                              "wd": np.geomspace(*WD, SIDE).astype(np.float32)}
                random_space = {"lr": log_uniform(*lr), "wd": log_uniform(*WD)}
                out[cond, "grid", r] = grid_search(grid_space, train_fn_for((cond, "grid", r)))
                out[cond, "random", r] = random_search(
                    random_space, BUDGET, jax.random.fold_in(jax.random.key(2), r),
                    train_fn_for((cond, "random", r)))
        return out

    # --- pass 1: record what every search asks for ------------------------------------------------
    asked = {}

    def recorder(name):
        def train_fn(candidates):
            asked[name] = {k: np.asarray(v, np.float32) for k, v in candidates.items()}
            return np.zeros(len(candidates["lr"])), lambda i: float("nan")
        return train_fn

    run_searches(recorder)
    order = list(asked)
    offset = dict(zip(order, np.cumsum([0] + [len(asked[o]["lr"]) for o in order[:-1]]).tolist()))
    hp = {k: np.concatenate([asked[o][k] for o in order]) for k in ("lr", "wd")}
    keys = jnp.concatenate([jnp.stack([train_keys[o[2]]] * len(asked[o]["lr"])) for o in order])

    # --- one vmap_fit trains every candidate of every search --------------------------------------
    ts, hist = vmap_fit(net, softmax_cross_entropy, make_opt, train, hparams=hp, keys=keys, val=val,
                        epochs=EPOCHS, batch_size=BATCH, metrics=(accuracy,))
    val_acc = hist.values["val_accuracy"][:, -1]
    tested = []

    def server(name):
        start = offset[name]

        def train_fn(candidates):
            assert all(np.array_equal(candidates[k], asked[name][k]) for k in candidates)
            size = len(candidates["lr"])

            def test_score(i):
                tested.append((name, i))
                member = jax.tree.map(lambda a: a[start + i], ts)
                return evaluate(net, member, test)["accuracy"]
            return val_acc[start:start + size], test_score
        return train_fn

    # --- pass 2: each search chooses on val; the test split sees its winner only ------------------
    results = run_searches(server)
    per = {}
    for (cond, kind, r), res in results.items():
        per.setdefault(cond, {}).setdefault(kind, []).append(
            {"best_val": float(res.val_scores[res.best_index]), "test_of_winner": res.test_score,
             "best_lr": res.best["lr"], "best_wd": res.best["wd"], "lr_shift": SHIFT[cond][r],
             "distinct_lr": int(len(np.unique(res.candidates["lr"]))),
             "distinct_wd": int(len(np.unique(res.candidates["wd"])))})
    rows = []
    for cond in CONDS:
        for r in range(REPEATS):
            g, q = per[cond]["grid"][r], per[cond]["random"][r]
            rows.append([cond, r, f"{SHIFT[cond][r]:.3f}", g["best_val"], q["best_val"],
                         g["test_of_winner"], q["test_of_winner"],
                         f"{g['best_lr']:.2e} / {q['best_lr']:.2e}"])
    ex.table(f"Best of {BUDGET} candidates per search (val accuracy chooses; test accuracy of the "
             "winner only)",
             ["ranges", "repeat", "lr range x", "grid best val", "random best val",
              "grid winner test", "random winner test", "winner lr (grid / random)"], rows)
    ex.metrics["searches"] = per
    ex.metrics["test_evaluations"] = len(tested)

    # --- which parameter matters: main effects on the round grid (averaged over repeats) ----------
    grid_scores = np.stack([val_acc[offset["round", "grid", r]:offset["round", "grid", r] + BUDGET]
                            for r in range(REPEATS)]).mean(0).reshape(SIDE, SIDE)  # [lr, wd]
    effect_lr, effect_wd = float(np.ptp(grid_scores.mean(1))), float(np.ptp(grid_scores.mean(0)))
    ex.metrics["main_effect_range"] = {"lr": effect_lr, "wd": effect_wd}
    ex.verdict("On this problem one parameter (the learning rate) matters much more than the other",
               effect_lr > 3 * effect_wd, f"range of the grid's mean val accuracy over lr "
               f"{effect_lr:.3f} vs over weight decay {effect_wd:.3f}")
    dl = (per["round"]["grid"][0]["distinct_lr"], per["round"]["random"][0]["distinct_lr"])
    ex.verdict("With the same budget, random search tries more values of the important parameter",
               dl[1] > dl[0], f"distinct learning rates tried: grid {dl[0]}, random {dl[1]} "
               f"(of {BUDGET} runs)")
    summary, wins_in = {}, {}
    for cond in CONDS:
        bg = np.array([p["best_val"] for p in per[cond]["grid"]])
        br = np.array([p["best_val"] for p in per[cond]["random"]])
        wins, ties = int(np.sum(br > bg)), int(np.sum(br == bg))
        summary[cond] = {"grid_best_val_mean": bg.mean(), "random_best_val_mean": br.mean(),
                         "random_wins": wins, "ties": ties, "repeats": REPEATS,
                         "grid_test_mean": np.mean([p["test_of_winner"]
                                                    for p in per[cond]["grid"]]),
                         "random_test_mean": np.mean([p["test_of_winner"]
                                                      for p in per[cond]["random"]])}
        wins_in[cond] = br.mean() > bg.mean() and wins > REPEATS - wins - ties
    ex.metrics["summary"] = summary

    def say(c):
        m = summary[c]
        return (f"{c} ranges: mean best val random {m['random_best_val_mean']:.4f} vs grid "
                f"{m['grid_best_val_mean']:.4f}, random better in {m['random_wins']}/{REPEATS} "
                f"(ties {m['ties']}); winners' test {m['random_test_mean']:.4f} vs "
                f"{m['grid_test_mean']:.4f}")

    ex.verdict_cases("Random search finds a better validation score than grid search (same "
                     "budget)", wins_in, "; ".join(say(c) for c in CONDS) + " (shifted: the "
                     "grid's values fall at random relative to the best learning rate)",
                     subject="the placement of the ranges")
    ex.verdict("The protocol touches the test split once per search, for the winner only",
               len(tested) == len(results), f"{len(tested)} test evaluations for {len(results)} "
               f"searches of {BUDGET} candidates each")

    learning_rate_extremes(ex)

    # --- figures ----------------------------------------------------------------------------------
    fig, axes = plot.figure(2, 2, width=4.4, height=3.6)
    lo, hi = float(val_acc.min()), float(val_acc.max())
    for row, cond in enumerate(CONDS):
        for ax, kind in zip(axes[row], ("grid", "random")):
            name = (cond, kind, 0)
            c, s, res = asked[name], offset[name], results[name]
            sc = ax.scatter(c["lr"], c["wd"], c=val_acc[s:s + BUDGET], cmap="viridis", vmin=lo,
                            vmax=hi, s=60, edgecolors="k", linewidths=0.4)
            ax.scatter([res.best["lr"]], [res.best["wd"]], marker="*", s=260, facecolors="none",
                       edgecolors="r", linewidths=1.5, label="chosen on val")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlim(LR[0] * SHIFT[cond][0] / 1.6, LR[1] * SHIFT[cond][0] * 1.6)
            ax.set_ylim(WD[0] / 1.6, WD[1] * 1.6)
            plot.label(ax, f"{kind} search, {cond} ranges", "learning rate",
                       "weight decay", legend=True)
    fig.colorbar(sc, ax=list(axes.ravel()), label="val accuracy", pad=0.02)
    ex.figure(fig, "search.png", f"The {BUDGET} sampled points of each search coloured by "
              "validation accuracy (red star: the winner chosen on val); same budget, same "
              "training seed")

    fig, axes = plot.figure(2, 1, width=4.6, height=3.4)
    ax = axes[0, 0]
    for kind, m in (("grid", "s"), ("random", "o")):
        name = ("round", kind, 0)
        ax.scatter(asked[name]["lr"], val_acc[offset[name]:offset[name] + BUDGET], marker=m, s=25,
                   alpha=0.8, label=kind)
    ax.set_xscale("log")
    plot.label(ax, "round ranges, repeat 0, against the lr", "learning rate", "val accuracy",
               legend=True)
    ax = axes[0, 1]
    for cond, ls in zip(CONDS, ("-", "--")):
        for kind, m in (("grid", "s"), ("random", "o")):
            ax.plot(np.arange(REPEATS), [p["best_val"] for p in per[cond][kind]], m + ls,
                    label=f"{kind}, {cond}", color="C0" if kind == "grid" else "C1")
    ax.set_xticks(np.arange(REPEATS))
    plot.label(ax, f"best val accuracy of {BUDGET} runs", "repeat (training seed, random draw)",
               "best val accuracy")
    ax.legend(fontsize=8, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.2))
    ex.figure(fig, "repeats.png", "Left: val accuracy against the learning rate (the grid stacks "
              f"its {BUDGET} runs on {SIDE} values); right: best val accuracy per repeat and "
              "ranges")
    return ex.finish()


if __name__ == "__main__":
    run(main)
