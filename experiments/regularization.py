"""Regularization: an MLP trained on 216 digits with 20 % noisy labels until it overfits, then L2,
L1, dropout (hidden and input), max-norm, six augmentations and early stopping, each judged by the
train-val gap and the test accuracy over 5 seeds (2-SE rule), the weights they leave, and the gap
against the training-set size."""

import jax
import jax.numpy as jnp
import numpy as np
from _harness import Experiment, exceeds, run, sem

from jaxdl import data, optim, plot
from jaxdl.data import augment
from jaxdl.losses import accuracy, l1_penalty, l2_penalty, softmax_cross_entropy
from jaxdl.nn import Dense, Dropout, Relu, serial
from jaxdl.sweep import vmap_fit
from jaxdl.train import evaluate, fit


def member(tree, i):
    """Member i of a vmapped pytree, sliced in NumPy (the same values as `a[i]`, without an eager
    program compiled per leaf shape); PRNG key leaves are sliced by JAX."""
    return jax.tree.map(lambda a: a[i] if jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key)
                        else np.asarray(a)[i], tree)


def more_data(ex, x_all, y_all, net, seeds, noise, batch, adam):
    """The train-val gap against the training-set size (same label noise, same steps); `adam`:
    the optimizer function of main's runs (the same compiled initialisation)."""
    SIZES, STEPS = ex.pick((50, 100, 200, 400, 800), (50, 100)), ex.pick(1000, 10)
    (xi, yi), (vx, vy), _ = data.split(x_all, y_all, val=0.3, test=0.0, key=jax.random.key(9))
    # reshaped (and sliced below) in NumPy, then put on the device: no eager program per shape
    xf = np.asarray(xi).reshape(len(yi), -1)
    vx = jax.device_put(np.asarray(vx).reshape(len(vy), -1))
    keys = jax.random.split(jax.random.key(10), seeds)
    gaps = {}

    def member_accuracy(params, state, a, b):  # one accuracy per member
        return jax.vmap(lambda p, s: jnp.mean(jnp.argmax(net.apply(p, s, a)[0], -1) == b))(
            params, state)

    def noisy_labels(n):
        flip = jax.random.uniform(jax.random.key(11), (n,)) < noise
        return jnp.where(flip, jax.random.randint(jax.random.key(12), (n,), 0, 10), yi[:n])

    if ex.quick:  # quick: jitted, one program per shape instead of one per operation; the labels
        # drawn once, for the largest size, and sliced
        member_accuracy = jax.jit(member_accuracy)
        drawn = np.asarray(jax.jit(noisy_labels, static_argnums=0)(max(SIZES)))
        noisy_labels = lambda n: jax.device_put(drawn[:n])  # noqa: E731
    for n in SIZES:
        yn, xn = noisy_labels(n), jax.device_put(xf[:n])
        ts, _ = vmap_fit(net, softmax_cross_entropy, adam, (xn, yn),
                         keys=keys, epochs=max(1, STEPS * batch // n), batch_size=batch)
        acc = [np.asarray(member_accuracy(ts.params, ts.state, a, b))
               for a, b in ((xn, yn), (vx, vy))]
        gaps[n] = (acc[0] - acc[1], acc[1])
    ex.table(f"Train-val gap against the training-set size ({STEPS} steps of batch {batch}, "
             f"{noise:.0%} label noise, {seeds} seeds)",
             ["training examples", "gap (mean ± SE)", "val accuracy"],
             [[n, f"{g.mean():.3f} ± {sem(g):.3f}", f"{v.mean():.3f}"] for n, (g, v) in
              gaps.items()])
    ex.metrics["gap_vs_size"] = {str(n): {"gap": g, "val_acc": v} for n, (g, v) in gaps.items()}
    steps = {f"{a} -> {b}": exceeds(gaps[a][0], gaps[b][0]) for a, b in zip(SIZES, SIZES[1:])}
    ex.verdict_cases("More training data reduces overfitting (000 3.12.1): the train-val gap "
                     "falls by 2 SE at each doubling of the training set", steps,
                     "gap " + ", ".join(f"{n}: {g.mean():.3f}" for n, (g, _) in gaps.items()),
                     subject="the doubling", ordered=True)
    fig, axes = plot.figure(1)
    g = np.array([gaps[n][0] for n in SIZES])
    axes[0, 0].errorbar(SIZES, g.mean(1), yerr=[2 * sem(v) for v in g], marker="o", capsize=3,
                        label="train - val accuracy")
    axes[0, 0].plot(SIZES, [gaps[n][1].mean() for n in SIZES], "s--", label="val accuracy")
    axes[0, 0].set_xscale("log")
    axes[0, 0].minorticks_off()
    axes[0, 0].set_xticks(SIZES, [str(n) for n in SIZES])
    plot.label(axes[0, 0], "gap vs training-set size (2 SE bars)", "training examples (log)",
               "accuracy", legend=True)
    ex.figure(fig, "gap_vs_size.png", "More data, less overfitting: the train-val gap by "
              "training-set size")


def main(quick: bool) -> Experiment:
    ex = Experiment("regularization", "fighting overfitting on a small training set",
                    "000 sections 3.12 (dropout, max-norm), 3.13 (augmentation); 001 section 5 "
                    "(L1, L2, early stopping); 002 'over/underfitting', 'L1/L2', 'dropout'",
                    quick=quick)
    SEEDS = ex.pick(5, 2)
    EPOCHS = ex.pick(150, 3)
    HIDDEN = ex.pick(256, 32)
    LAYERS = ex.pick(2, 1)  # hidden layers (quick: one, so that every program compiles faster)
    BATCH, LR, PATIENCE, NOISE = 32, 1e-3, 30, 0.2
    LAM_L2, LAM_L1, MAX_NORM, COPIES, BIG_LR, BIG_L2 = 0.2, 0.05, 2.0, 5, 0.03, 20.0
    MAXNORM = f"max-norm {MAX_NORM:g} + dropout 0.2 in / 0.5 hidden"
    ex.setting(seeds=SEEDS, epochs=EPOCHS, label_noise=f"{NOISE:.0%} of the training labels "
               "replaced by random classes (val and test clean), so that memorising hurts",
               noise_rule="a difference counts when it exceeds 2 standard errors over the seeds",
               large_lr=f"Adam {BIG_LR} for the max-norm test", too_large_l2=BIG_L2,
               hidden="-".join(["64", *[str(HIDDEN)] * LAYERS, "10"]) + " relu", batch=BATCH,
               optimizer=f"adam lr {LR}", l2_lambda=LAM_L2, l1_lambda=LAM_L1, max_norm=MAX_NORM,
               patience=f"{PATIENCE} epochs on val accuracy",
               augmentation=f"{COPIES}x pre-augmented set (one augmentation per run), "
               f"{EPOCHS // COPIES} epochs = same number of steps")

    # --- data: a small stratified subset of the digits' train split; the official test split --
    (x_all, y_all), (x_test, y_test) = data.digits()
    (x_img, y_tr), val_img, _ = data.split(x_all, y_all, val=0.3, test=0.55,
                                           key=jax.random.key(0))
    # reshaped in NumPy, then on the device: the same values without an eager program per shape
    flat = lambda x: jax.device_put(np.asarray(x).reshape(x.shape[0], -1))  # noqa: E731
    train, val, test = (flat(x_img), y_tr), (flat(val_img[0]), val_img[1]), (flat(x_test), y_test)
    n = int(train[0].shape[0])
    flip = jax.random.uniform(jax.random.key(5), (n,)) < NOISE
    noisy = jnp.where(flip, jax.random.randint(jax.random.key(6), (n,), 0, 10), train[1])
    train, y_tr = (train[0], noisy), noisy
    ex.setting(n_train=n, n_val=int(val[0].shape[0]), n_test=int(test[0].shape[0]))

    def make_model(input_rate, hidden_rate):
        return serial(Dropout(input_rate),
                      *[layer for _ in range(LAYERS)
                        for layer in (Dense(HIDDEN), Relu(), Dropout(hidden_rate))],
                      Dense(10))

    def make_opt(max_value, lr):
        return optim.chain(optim.adam(lr), optim.max_norm(max_value))

    plain_net = make_model(0.0, 0.0)  # eval mode: dropout is the identity, any rate evaluates
    loss = softmax_cross_entropy
    keys = jax.random.split(jax.random.key(1), SEEDS)
    runs = {}  # name -> {"ts": per-seed TrainStates, "curves" or early stopping's epochs}

    def members(ts, k):  # quick: sliced in NumPy (no eager program per leaf shape)
        if ex.quick:
            return [member(ts, i) for i in range(k)]
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
               L2_NAME: (0.0, 0.0, 1e4, 0.0, LAM_L2), L1_NAME: (0.0, 0.0, 1e4, LAM_L1, 0.0),
               f"L2 (lambda {BIG_L2:g}, too large)": (0.0, 0.0, 1e4, 0.0, BIG_L2),
               f"dropout 0.5, lr {BIG_LR}": (0.2, 0.5, 1e4, 0.0, 0.0, BIG_LR),
               f"{MAXNORM}, lr {BIG_LR}": (0.2, 0.5, MAX_NORM, 0.0, 0.0, BIG_LR)}
    configs = {k: v if len(v) == 6 else (*v, LR) for k, v in configs.items()}
    names = list(configs)
    def col(j):
        return np.repeat(np.array([configs[c][j] for c in names], np.float32), SEEDS)

    def penalty(p, l1, l2):
        return l1_penalty(p, l1, n) + l2_penalty(p, l2, n)

    ts, hist = vmap_fit(make_model, loss, make_opt, train, val=val, epochs=EPOCHS, batch_size=BATCH,
                        keys=jnp.concatenate([keys] * len(names)),
                        hparams={"max_value": col(2), "lr": col(5)},
                        model_hparams={"input_rate": col(0), "hidden_rate": col(1)},
                        penalty=penalty, penalty_hparams={"l1": col(3), "l2": col(4)})
    all_ts = members(ts, len(names) * SEEDS)
    for c, name in enumerate(names):
        sl = slice(c * SEEDS, (c + 1) * SEEDS)
        runs[name] = {"ts": all_ts[sl], "curves": {k: v[sl] for k, v in hist.values.items()}}

    # --- 3. augmentation: fit has no augmentation hook, so the training set is pre-augmented
    # (COPIES - 1 augmented copies + the originals, EPOCHS / COPIES epochs = the same steps)
    AUGS = {"shift 1 px + rotate 10 deg": lambda k, im: augment.rotate(
                k, augment.shift(jax.random.fold_in(k, 1), im, max_shift=1), max_degrees=10.0),
            "gaussian noise 0.1": lambda k, im: augment.gaussian_noise(k, im, 0.1),
            "PCA jitter 0.5": lambda k, im: augment.pca_jitter(k, im, pca, 0.5),
            "colour jitter (brightness, contrast 0.4)": lambda k, im: augment.color_jitter(
                k, im, brightness=0.4, contrast=0.4),
            "random crop (pad 1)": lambda k, im: augment.random_crop(k, im, 1),
            "horizontal flip": lambda k, im: augment.flip_horizontal(k, im)}
    AUGS = ex.pick(AUGS, dict(list(AUGS.items())[:1]))  # quick: one (one jitted program each)
    if "PCA jitter 0.5" in AUGS:  # (its lambda reads pca when called)
        pca = augment.fit_pca_jitter(x_img)
    akeys = jax.random.split(jax.random.key(2), (COPIES - 1) * n)
    # the copies concatenated in NumPy (the same values, no eager programs)
    x_np = np.asarray(x_img)
    x_copies, y_aug = np.concatenate([x_np] * (COPIES - 1)), np.concatenate([y_tr] * COPIES)

    def adam():  # one function for every augmentation run: one compiled program
        return optim.adam(LR)

    for aug_name, fn in AUGS.items():
        # quick: jitted, one program per augmentation instead of one per operation
        extra = ex.pick(jax.vmap(fn), jax.jit(jax.vmap(fn)))(akeys, x_copies)
        aug_train = (flat(np.concatenate([x_np, np.asarray(extra)])), jax.device_put(y_aug))
        ts, hist = vmap_fit(plain_net, loss, adam, aug_train, val=val,
                            epochs=max(1, EPOCHS // COPIES), batch_size=BATCH, keys=keys)
        runs[f"augmentation: {aug_name}"] = {"ts": members(ts, SEEDS), "curves": hist.values}

    # --- 4. early stopping (001 section 5: stop when the val accuracy saturates): patience
    es_ts, es_curves = [], []
    for s in range(SEEDS):
        state, h = fit(plain_net, loss, optim.adam(LR), train, val=val, epochs=EPOCHS,
                       batch_size=BATCH, key=keys[s], patience=min(PATIENCE, EPOCHS),
                       monitor="val_accuracy", verbose=0)
        es_ts.append(state)
        es_curves.append(h)
    runs["early stopping"] = {"ts": es_ts, "stopped": [h.stopped_epoch for h in es_curves],
                              "best": [h.best_epoch for h in es_curves]}

    # --- measurements: eval-mode accuracy on train / val / test, gaps, weights --------------------
    rows, table = {}, []
    for name, r in runs.items():
        # one evaluation per member and split gives both its accuracy and its loss (metrics
        # given: evaluate's default for these labels, without its shape probe per call)
        ev = {split: [evaluate(plain_net, t, d, (accuracy,), loss=loss) for t in r["ts"]]
              for split, d in (("train", train), ("val", val), ("test", test))}
        acc = {split: np.array([e["accuracy"] for e in es]) for split, es in ev.items()}
        vloss = np.array([e["loss"] for e in ev["val"]])
        tloss = np.array([e["loss"] for e in ev["train"]])
        w = np.concatenate([np.abs(np.asarray(r["ts"][0].params[k]["w"])).ravel()
                            for k in r["ts"][0].params if "dense" in k])
        dense = [k for k in r["ts"][0].params if "dense" in k]
        xp = ex.pick(jnp, np)  # quick: NumPy, no eager programs
        sq = np.array([sum(float(xp.sum(xp.asarray(t.params[k]["w"]) ** 2)) for k in dense)
                       for t in r["ts"]])
        colmax = np.array([max(float(xp.max(xp.linalg.norm(xp.asarray(t.params[k]["w"]),
                                                           axis=0))) for k in dense)
                           for t in r["ts"]])
        rows[name] = {"train_acc": acc["train"], "val_acc": acc["val"], "test_acc": acc["test"],
                      "sq_norm": sq, "max_column_norm": colmax,
                      "gap": acc["train"] - acc["val"], "loss_gap": vloss - tloss,
                      "frac_abs_w_below_1e-3": float(np.mean(w < 1e-3)),
                      "frac_abs_w_below_1e-2": float(np.mean(w < 1e-2)),
                      "mean_abs_w": float(w.mean()), "max_abs_w": float(w.max()), "_w": w}
        m = lambda a: f"{a.mean():.3f} ± {sem(a):.3f}"  # noqa: E731
        table.append([name, m(acc["train"]), m(acc["val"]), m(acc["test"]),
                      m(rows[name]["gap"]), m(rows[name]["loss_gap"]),
                      rows[name]["frac_abs_w_below_1e-3"], rows[name]["mean_abs_w"]])
    ex.table(f"Eval-mode accuracy after training ({SEEDS} seeds, mean ± SE; train accuracy on "
             f"the noisy labels)",
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
    overfits = rows["none"]["train_acc"].mean() - rows["none"]["val_acc"].mean()
    ex.verdict("Without regularization the network overfits the small set (train acc >> val acc)",
               overfits > 0.03, f"train {rows['none']['train_acc'].mean():.3f} vs val "
               f"{rows['none']['val_acc'].mean():.3f} on {n} examples")
    others = [k for k in rows if k != "none" and "lr " not in k and "too large" not in k]

    def below(a, b):  # mean of a below mean of b by 2 SE
        return exceeds(b, a)

    def show(a):
        return f"{a.mean():.3f} ± {sem(a):.3f}"

    ex.verdict_cases("Each regularizer reduces the train-val gap (by 2 SE)",
                     {k: below(rows[k]["gap"], rows["none"]["gap"]) for k in others},
                     f"gap none {show(rows['none']['gap'])}; "
                     + ", ".join(f"{k} {show(rows[k]['gap'])}" for k in others),
                     subject="the method")
    lgap = {k: float(v["loss_gap"].mean()) for k, v in rows.items()}
    ex.verdict_cases("Each regularizer reduces the gap between val and train loss (by 2 SE)",
                     {k: below(rows[k]["loss_gap"], rows["none"]["loss_gap"]) for k in others},
                     f"loss gap none {show(rows['none']['loss_gap'])}; "
                     + ", ".join(f"{k} {show(rows[k]['loss_gap'])}" for k in others),
                     subject="the method")
    for key, name in (("Dropout reduces overfitting (002)", "dropout hidden 0.5"),
                      ("Early stopping reduces overfitting (002; 001 section 5)",
                       "early stopping")):
        ex.verdict(f"{key}: train-val gap below no regularization's by 2 SE",
                   below(rows[name]["gap"], rows["none"]["gap"]),
                   f"gap {name} {show(rows[name]['gap'])} vs none {show(rows['none']['gap'])}; "
                   f"test accuracy {show(rows[name]['test_acc'])} vs "
                   f"{show(rows['none']['test_acc'])}")
    augs = [k for k in rows if k.startswith("augmentation: ")]
    ex.verdict_cases("Each augmentation the chapter lists improves generalization (000 3.13; 002 "
                     "'copy the data with noise'): test accuracy above no augmentation's by 2 SE",
                     {k[len("augmentation: "):]: below(rows["none"]["test_acc"],
                                                       rows[k]["test_acc"]) for k in augs},
                     f"test accuracy none {show(rows['none']['test_acc'])}; " + ", ".join(
                         f"{k[len('augmentation: '):]} {show(rows[k]['test_acc'])}"
                         for k in augs), subject="the augmentation")
    d5 = rows["dropout hidden 0.5"]["sq_norm"]
    ex.verdict("Dropout shrinks the weights like L2 (000 3.12.3): the sum of squared dense "
               "weights with dropout 0.5 below no regularization's by 2 SE",
               below(d5, rows["none"]["sq_norm"]),
               f"sum w^2: dropout 0.5 {d5.mean():.1f} ± {sem(d5):.1f}, none "
               f"{rows['none']['sq_norm'].mean():.1f} ± {sem(rows['none']['sq_norm']):.1f}, "
               f"L2 {rows[L2_NAME]['sq_norm'].mean():.1f} ({SEEDS} seeds)")

    def rises(name):  # share of epochs whose train-mode loss rose, per seed
        c = runs[name]["curves"]["train_loss"]
        return np.mean(np.diff(c, axis=1) > 0, axis=1)

    rd, rn = rises("dropout hidden 0.5"), rises("none")
    ex.verdict("With dropout the cost no longer falls monotonically (000 3.12.5): the share of "
               "epochs whose training loss rose is above no regularization's by 2 SE",
               below(rn, rd), f"share of epochs with a rise: dropout 0.5 {show(rd)}, none "
               f"{show(rn)} (train-mode epoch means)")
    free, capped = rows[f"dropout 0.5, lr {BIG_LR}"], rows[f"{MAXNORM}, lr {BIG_LR}"]
    ex.verdict(f"Max-norm prevents blow-up at a large learning rate (000 3.12.4): at Adam {BIG_LR} "
               f"every column norm stays <= {MAX_NORM:g} with max-norm, while without it the "
               "largest grows past twice that in every seed",
               bool(np.all(capped["max_column_norm"] <= MAX_NORM * 1.001)
                    and np.all(free["max_column_norm"] > 2 * MAX_NORM)),
               f"largest column norm: without {show(free['max_column_norm'])}, with "
               f"{show(capped['max_column_norm'])}; test accuracy without "
               f"{show(free['test_acc'])}, with {show(capped['test_acc'])}")
    big = rows[f"L2 (lambda {BIG_L2:g}, too large)"]
    ex.verdict(f"Too large a lambda suppresses learning (002): with L2 lambda {BIG_L2:g} the "
               "training accuracy is >= 10 points below no regularization's (and by 2 SE) and "
               f"the test accuracy below lambda {LAM_L2:g}'s by 2 SE",
               rows["none"]["train_acc"].mean() - big["train_acc"].mean() >= 0.10
               and below(big["train_acc"], rows["none"]["train_acc"])
               and below(big["test_acc"], rows[L2_NAME]["test_acc"]),
               f"train accuracy {show(big['train_acc'])} vs none "
               f"{show(rows['none']['train_acc'])}; test accuracy {show(big['test_acc'])} vs "
               f"lambda {LAM_L2:g} {show(rows[L2_NAME]['test_acc'])}")
    more_data(ex, x_all, y_all, make_model(0.0, 0.0), SEEDS, NOISE, BATCH, adam)

    def ranking(prefix):
        """Mean test accuracy per rate, the best rate, and whether its lead beats the seed noise."""
        acc = {r: rows[f"{prefix} {r}"]["test_acc"] for r in ("0.2", "0.5", "0.8")}
        best = max(acc, key=lambda r: acc[r].mean())
        clear = all(below(acc[r], acc[best]) for r in acc if r != best)
        text = ", ".join(f"rate {r}: {a.mean():.3f} ± {sem(a):.3f}" for r, a in acc.items())
        return best, clear, f"test acc {text}"

    def best_rate(claim, prefix, rate):
        best, clear, text = ranking(prefix)
        ex.verdict_cases(claim, {"by mean test accuracy": best == rate,
                                 "by a lead of 2 standard errors over each other rate":
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
            "augmentation: shift 1 px + rotate 10 deg"]
    show = ex.pick(show, [show[0], show[-1]])  # quick: two panels (each costs drawing time)
    fig, axes = plot.figure(min(3, len(show)), -(-len(show) // 3), width=4.4, height=3.5)
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

    hists = ex.pick(("none", l2, l1), ("none",))  # quick: one panel
    fig, axes = plot.figure(len(hists), 1, width=4.4, height=3.3)
    for ax, name in zip(axes[0], hists):
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
        ax.barh(order, [ref[k] for k in order], xerr=[2 * sem(rows[k][key]) for k in order],
                color="C1")
        ax.axvline(ref["none"], color="k", lw=0.8, ls="--")
        plot.label(ax, f"{title} (dashed: none)", "gap", "")
    axes[0, 1].set_yticklabels([])
    ex.figure(fig, "gap.png", "Train-val gap per method, in accuracy and in loss (mean, bars 2 SE "
              "over seeds, eval mode)")
    return ex.finish()


if __name__ == "__main__":
    run(main)
