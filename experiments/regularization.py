"""Regularization: an MLP trained on 216 digits until it overfits, then L2, L1, dropout (hidden and
input), max-norm + dropout, data augmentation and early stopping, each judged by the train-val gap,
the test accuracy and (for L1/L2) the weights they leave."""

import jax
import jax.numpy as jnp
import numpy as np
from _harness import Experiment, run, sem

from jaxdl import data, optim, plot
from jaxdl.data import augment
from jaxdl.losses import l1_penalty, l2_penalty, softmax_cross_entropy
from jaxdl.nn import Dense, Dropout, Relu, serial
from jaxdl.sweep import vmap_fit
from jaxdl.train import evaluate, fit


def main(quick: bool) -> Experiment:
    ex = Experiment("regularization", "fighting overfitting on a small training set",
                    "000 sections 3.12 (dropout, max-norm), 3.13 (augmentation); 001 section 5 "
                    "(L1, L2, early stopping); 002 'over/underfitting', 'L1/L2', 'dropout'",
                    quick=quick)
    SEEDS = ex.pick(3, 1)
    EPOCHS = ex.pick(300, 3)
    HIDDEN = ex.pick(256, 32)
    BATCH, LR, PATIENCE = 32, 1e-3, 30
    LAM_L2, LAM_L1, MAX_NORM, COPIES = 0.2, 0.05, 2.0, 5
    MAXNORM = f"max-norm {MAX_NORM:g} + dropout 0.2 in / 0.5 hidden"
    ex.setting(seeds=SEEDS, epochs=EPOCHS, hidden=f"64-{HIDDEN}-{HIDDEN}-10 relu", batch=BATCH,
               optimizer=f"adam lr {LR}", l2_lambda=LAM_L2, l1_lambda=LAM_L1, max_norm=MAX_NORM,
               patience=f"{PATIENCE} epochs on val accuracy",
               augmentation=f"{COPIES}x pre-augmented set (shift 1 px, rotate 10 deg), "
               f"{EPOCHS // COPIES} epochs = same number of steps")

    # --- data: a small stratified subset of the digits' train split; the official test split --
    (x_all, y_all), (x_test, y_test) = data.digits()
    (x_img, y_tr), val_img, _ = data.split(x_all, y_all, val=0.3, test=0.55,
                                           key=jax.random.key(0))
    flat = lambda x: x.reshape(x.shape[0], -1)  # noqa: E731
    train, val, test = (flat(x_img), y_tr), (flat(val_img[0]), val_img[1]), (flat(x_test), y_test)
    n = int(train[0].shape[0])
    ex.setting(n_train=n, n_val=int(val[0].shape[0]), n_test=int(test[0].shape[0]))

    def make_model(input_rate, hidden_rate):
        return serial(Dropout(input_rate), Dense(HIDDEN), Relu(), Dropout(hidden_rate),
                      Dense(HIDDEN), Relu(), Dropout(hidden_rate), Dense(10))

    def make_opt(max_value):
        return optim.chain(optim.adam(LR), optim.max_norm(max_value))

    plain_net = make_model(0.0, 0.0)  # eval mode: dropout is the identity, any rate evaluates
    loss = softmax_cross_entropy
    keys = jax.random.split(jax.random.key(1), SEEDS)
    runs = {}  # name -> {"ts": per-seed TrainStates, "curves" or early stopping's epochs}

    def members(ts, k):
        return [jax.tree.map(lambda a, i=i: a[i], ts) for i in range(k)]

    # --- 1+2. dropout (hidden / input), max-norm + dropout, L2 and L1: ONE vmap_fit over
    # configs x seeds. configs: (input dropout, hidden dropout, max-norm, L1 lambda, L2 lambda);
    # lambda 0 adds nothing.
    L2_NAME, L1_NAME = f"L2 (lambda {LAM_L2:g})", f"L1 (lambda {LAM_L1:g})"
    configs = {"none": (0.0, 0.0, 1e4, 0.0, 0.0), "dropout hidden 0.2": (0.0, 0.2, 1e4, 0.0, 0.0),
               "dropout hidden 0.5": (0.0, 0.5, 1e4, 0.0, 0.0),
               "dropout hidden 0.8": (0.0, 0.8, 1e4, 0.0, 0.0),
               "dropout input 0.2": (0.2, 0.0, 1e4, 0.0, 0.0),
               "dropout input 0.5": (0.5, 0.0, 1e4, 0.0, 0.0),
               "dropout input 0.8": (0.8, 0.0, 1e4, 0.0, 0.0),
               MAXNORM: (0.2, 0.5, MAX_NORM, 0.0, 0.0),
               L2_NAME: (0.0, 0.0, 1e4, 0.0, LAM_L2), L1_NAME: (0.0, 0.0, 1e4, LAM_L1, 0.0)}
    names = list(configs)
    def col(j):
        return np.repeat(np.array([configs[c][j] for c in names], np.float32), SEEDS)

    def penalty(p, l1, l2):
        return l1_penalty(p, l1, n) + l2_penalty(p, l2, n)

    ts, hist = vmap_fit(make_model, loss, make_opt, train, val=val, epochs=EPOCHS, batch_size=BATCH,
                        keys=jnp.concatenate([keys] * len(names)), hparams={"max_value": col(2)},
                        model_hparams={"input_rate": col(0), "hidden_rate": col(1)},
                        penalty=penalty, penalty_hparams={"l1": col(3), "l2": col(4)})
    all_ts = members(ts, len(names) * SEEDS)
    for c, name in enumerate(names):
        sl = slice(c * SEEDS, (c + 1) * SEEDS)
        runs[name] = {"ts": all_ts[sl], "curves": {k: v[sl] for k, v in hist.values.items()}}

    # --- 3. augmentation: fit has no augmentation hook, so the training set is pre-augmented ------
    def jitter(key, img):
        k1, k2 = jax.random.split(key)
        return augment.rotate(k2, augment.shift(k1, img, max_shift=1), max_degrees=10.0)

    akeys = jax.random.split(jax.random.key(2), (COPIES - 1) * n)
    extra = jax.vmap(jitter)(akeys, jnp.concatenate([x_img] * (COPIES - 1)))
    aug_train = (flat(jnp.concatenate([x_img, extra])), jnp.concatenate([y_tr] * COPIES))
    ts, hist = vmap_fit(plain_net, loss, lambda: optim.adam(LR), aug_train, val=val,
                        epochs=max(1, EPOCHS // COPIES), batch_size=BATCH, keys=keys)
    runs[f"augmentation ({COPIES}x)"] = {"ts": members(ts, SEEDS), "curves": hist.values}

    # --- 4. early stopping (001 section 5: stop when the val accuracy saturates): patience
    es_ts, es_curves = [], []
    for s in range(SEEDS):
        state, h = fit(plain_net, loss, optim.adam(LR), train, val=val, epochs=EPOCHS,
                       batch_size=BATCH, key=keys[s], patience=min(PATIENCE, EPOCHS),
                       monitor="val_accuracy", progress=False)
        es_ts.append(state)
        es_curves.append(h)
    runs["early stopping"] = {"ts": es_ts, "stopped": [h.stopped_epoch for h in es_curves],
                              "best": [h.best_epoch for h in es_curves]}

    # --- measurements: eval-mode accuracy on train / val / test, gaps, weights --------------------
    rows, table = {}, []
    for name, r in runs.items():
        acc = {split: np.array([evaluate(plain_net, t, d, loss=loss)["accuracy"] for t in r["ts"]])
               for split, d in (("train", train), ("val", val), ("test", test))}
        vloss = np.array([evaluate(plain_net, t, val, loss=loss)["loss"] for t in r["ts"]])
        tloss = np.array([evaluate(plain_net, t, train, loss=loss)["loss"] for t in r["ts"]])
        w = np.concatenate([np.abs(np.asarray(r["ts"][0].params[k]["w"])).ravel()
                            for k in r["ts"][0].params if "dense" in k])
        rows[name] = {"train_acc": acc["train"], "val_acc": acc["val"], "test_acc": acc["test"],
                      "gap": acc["train"] - acc["val"], "loss_gap": vloss - tloss,
                      "frac_abs_w_below_1e-3": float(np.mean(w < 1e-3)),
                      "frac_abs_w_below_1e-2": float(np.mean(w < 1e-2)),
                      "mean_abs_w": float(w.mean()), "max_abs_w": float(w.max()), "_w": w}
        m = lambda a: f"{a.mean():.3f} +- {a.std():.3f}"  # noqa: E731
        table.append([name, m(acc["train"]), m(acc["val"]), m(acc["test"]),
                      m(rows[name]["gap"]), m(rows[name]["loss_gap"]),
                      rows[name]["frac_abs_w_below_1e-3"], rows[name]["mean_abs_w"]])
    ex.table(f"Eval-mode accuracy after training ({SEEDS} seeds, mean +- std)",
             ["method", "train acc", "val acc", "test acc", "gap (train - val acc)",
              "gap (val - train loss)", "frac |w| < 1e-3 (seed 0)", "mean |w|"], table,
             note="Early stopping keeps the state of the epoch with the best val accuracy (stopped "
                  f"at epochs {runs['early stopping']['stopped']}, best "
                  f"{runs['early stopping']['best']}).")
    ex.metrics["methods"] = {k: {a: b for a, b in v.items() if not a.startswith("_")}
                             for k, v in rows.items()}
    ex.metrics["early_stopping"] = {"stopped_epoch": runs["early stopping"]["stopped"],
                                    "best_epoch": runs["early stopping"]["best"]}

    # --- verdicts ---------------------------------------------------------------------------------
    gap = {k: float(v["gap"].mean()) for k, v in rows.items()}
    base = gap["none"]
    overfits = rows["none"]["train_acc"].mean() - rows["none"]["val_acc"].mean()
    ex.verdict("Without regularization the network overfits the small set (train acc >> val acc)",
               overfits > 0.03, f"train {rows['none']['train_acc'].mean():.3f} vs val "
               f"{rows['none']['val_acc'].mean():.3f} on {n} examples")
    others = [k for k in rows if k != "none"]
    ex.verdict_cases("Each regularizer reduces the train-val gap",
                     {k: gap[k] < base for k in others},
                     f"gap none {base:.3f}; " + ", ".join(f"{k} {gap[k]:.3f}" for k in others),
                     subject="the method")
    lgap = {k: float(v["loss_gap"].mean()) for k, v in rows.items()}
    ex.verdict_cases("Each regularizer reduces the gap between val and train loss",
                     {k: lgap[k] < lgap["none"] for k in others},
                     f"loss gap none {lgap['none']:.3f}; "
                     + ", ".join(f"{k} {lgap[k]:.3f}" for k in others), subject="the method")

    def ranking(prefix):
        """Mean test accuracy per rate, the best rate, and whether its lead beats the seed noise."""
        acc = {r: rows[f"{prefix} {r}"]["test_acc"] for r in ("0.2", "0.5", "0.8")}
        best = max(acc, key=lambda r: acc[r].mean())
        second = max(acc[r].mean() for r in acc if r != best)
        se = max(sem(acc[r]) for r in acc)
        text = ", ".join(f"rate {r}: {a.mean():.3f} +- {a.std():.3f}" for r, a in acc.items())
        return best, acc[best].mean() - second > se, f"test acc {text}"

    def best_rate(claim, prefix, rate):
        best, clear, text = ranking(prefix)
        ex.verdict_cases(claim, {"by mean test accuracy": best == rate,
                                 "by a lead larger than one standard error":
                                 best == rate and clear},
                         text + f"; best rate {best}", subject="the ranking")

    best_rate("Dropout rate 0.5 is the best rate on hidden units", "dropout hidden", "0.5")
    best_rate("On the input layer a rate near 0 (keep 0.8, rate 0.2) is best", "dropout input",
              "0.2")
    l1, l2 = f"L1 (lambda {LAM_L1:g})", f"L2 (lambda {LAM_L2:g})"
    z = {k: rows[k]["frac_abs_w_below_1e-3"] for k in ("none", l1, l2)}
    ex.verdict("L1 makes the weights sparse (many exact-ish zeros)",
               z[l1] > 3 * max(z["none"], z[l2]),
               "fraction |w| < 1e-3: " + ", ".join(f"{k} {v:.3f}" for k, v in z.items()))
    mw = {k: rows[k]["mean_abs_w"] for k in ("none", l1, l2)}
    ex.verdict("L2 makes the weights small but not zero", mw[l2] < mw["none"] and z[l2] < z[l1],
               f"mean |w| none {mw['none']:.4f}, L2 {mw[l2]:.4f}; fraction |w| < 1e-3 L2 "
               f"{z[l2]:.3f} vs L1 {z[l1]:.3f}")

    # --- figures ----------------------------------------------------------------------------------
    show = ["none", l2, l1, "dropout hidden 0.5", MAXNORM,
            f"augmentation ({COPIES}x)"]
    fig, axes = plot.figure(3, 2, width=4.4, height=3.5)
    low = min(0.5, min(float(runs[k]["curves"][f"{s}_accuracy"].mean(0).min()) for k in show
                       for s in ("train", "val")) - 0.05)
    for ax, name in zip(axes.ravel(), show):
        c = runs[name]["curves"]
        steps_per_epoch = (COPIES if name.startswith("augmentation") else 1)
        ep = np.arange(1, c["val_accuracy"].shape[1] + 1) * steps_per_epoch
        mark = "o" if len(ep) < 10 else None
        ax.plot(ep, c["train_accuracy"].mean(0), marker=mark, label="train (train mode)")
        ax.plot(ep, c["val_accuracy"].mean(0), marker=mark, label="val")
        ax.set_ylim(max(low, 0.0), 1.01)
        plot.label(ax, name, f"passes over {n} examples", "accuracy", legend=True)
    ex.figure(fig, "curves.png", "Train / val accuracy per epoch (mean over seeds); the train "
              "curve is measured with dropout active")

    fig, axes = plot.figure(3, 1, width=4.4, height=3.3)
    for ax, name in zip(axes[0], ("none", l2, l1)):
        w = rows[name]["_w"]
        ax.hist(np.log10(w + 1e-12), bins=80, range=(-9, 0.5), color="C0")
        ax.axvline(-3, color="r", ls="--", lw=1, label="|w| = 1e-3")
        ax.set_yscale("log")
        plot.label(ax, f"{name}: {np.mean(w < 1e-3):.1%} below 1e-3", "log10 |w|", "count",
                   legend=True)
    ex.figure(fig, "weights.png", "Histograms of |w| over every dense kernel (seed 0)")

    fig, axes = plot.figure(2, 1, width=5.2, height=3.8)
    order = list(rows)
    for ax, key, ref, title in ((axes[0, 0], "gap", gap, "train - val accuracy"),
                                (axes[0, 1], "loss_gap", lgap, "val - train loss")):
        ax.barh(order, [ref[k] for k in order], xerr=[rows[k][key].std() for k in order],
                color="C1")
        ax.axvline(ref["none"], color="k", lw=0.8, ls="--")
        plot.label(ax, f"{title} (dashed: none)", "gap", "")
    axes[0, 1].set_yticklabels([])
    ex.figure(fig, "gap.png", "Train-val gap per method, in accuracy and in loss (mean +- std over "
              "seeds, eval mode)")
    return ex.finish()


if __name__ == "__main__":
    run(main)
