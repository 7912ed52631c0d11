"""Normalization: (a) gradient descent on linear regression with raw vs standardised features,
(b) min-max vs z-score vs log scaling of a skewed feature, (c) BatchNorm, GroupNorm, LayerNorm,
WeightNorm and LRN in a small CNN on digits (5 seeds, 2-SE rule), BN vs GN at batch 2, and BN's
learning-rate range over seeds."""

import jax
import jax.numpy as jnp
import numpy as np
from _harness import Experiment, exceeds, run, sem

from jaxdl import data, optim, plot
from jaxdl.data.preprocess import fit_log, fit_minmax, fit_zscore
from jaxdl.losses import mse, softmax_cross_entropy
from jaxdl.nn import (BatchNorm, Conv2D, Dense, Flatten, GroupNorm, LayerNorm, LocalResponseNorm,
                      MaxPool2D, Relu, WeightNorm, serial)
from jaxdl.sweep import vmap_fit
from jaxdl.train import fit


def cnn(norm: str, features: tuple[int, ...] = (8, 16)):
    """Conv blocks (by default two, of 8 and 16 channels) with the normalization `norm`, then
    Dense(10)."""
    def block(features):
        conv = Conv2D(features, 3, padding="SAME")
        layers = [WeightNorm(conv) if norm == "weightnorm" else conv]
        layers += {"batchnorm": [BatchNorm(0.9)], "batchnorm+lrn": [BatchNorm(0.9)],
                   "groupnorm": [GroupNorm(4)], "layernorm": [LayerNorm()]}.get(norm, [])
        layers.append(Relu())
        if norm in ("lrn", "batchnorm+lrn"):
            layers.append(LocalResponseNorm())
        return serial(*layers, MaxPool2D(2))
    return serial(*[block(f) for f in features], Flatten(), Dense(10))


def one_program(ex: Experiment, f):
    """`f` as it is in the full run; jitted in quick mode, where it then compiles once instead of
    once per eager op (quick numbers may differ in the last bits: they mean nothing)."""
    return jax.jit(f) if ex.quick else f


def main(quick: bool) -> Experiment:
    ex = Experiment("normalization", "input scaling and normalization layers",
                    "000 sections 3.6.3-3.6.5 (input scaling), 3.6.6-3.6.13 (LRN, BN, GN, WN), "
                    "3.14 (internal covariate shift)", quick=quick)
    gd_on_regression(ex)
    skewed_feature(ex)
    norm_layers(ex)
    return ex.finish()


def gd_on_regression(ex: Experiment) -> None:
    """(a) Full-batch GD on linear regression, features on [-10, 10] and [-100, 100] vs
    standardised."""
    N_REG, TOL = 200, 1e-4
    GD_EPOCHS = ex.pick(1500, 60)
    # quick: every rate below the raw design's 2 / lambda_max (~6e-4), so no member diverges and
    # no epoch is re-run (nothing converges in 60 steps either: a smoke test)
    LRS = np.geomspace(1e-5, ex.pick(10.0, 5e-4), ex.pick(49, 13)).astype(np.float32)

    def regression_data():
        kx1, kx2, ke = jax.random.split(jax.random.key(0), 3)
        x_raw = jnp.concatenate([jax.random.uniform(kx1, (N_REG, 1), minval=-10.0, maxval=10.0),
                                 jax.random.uniform(kx2, (N_REG, 1), minval=-100.0, maxval=100.0)],
                                1)
        w_true = jnp.array([3.0, 0.3])  # both features move y by about the same amount
        t = x_raw @ w_true[:, None] + jax.random.normal(ke, (N_REG, 1))
        t = t - jnp.mean(t)
        to_std, zstats = fit_zscore(x_raw)
        return x_raw, t, to_std(x_raw), zstats

    x_raw, t, x_std, zstats = one_program(ex, regression_data)()
    designs = {"raw [-10,10] x [-100,100]": x_raw, "z-score standardised": x_std}
    ex.setting(regression=f"y = 3 x1 + 0.3 x2 + N(0,1), n={N_REG}, no bias, loss mse (1/2m), "
                          "full-batch GD (jaxdl.optim.gd) via vmap_fit over "
                          f"{len(LRS)} learning rates {LRS[0]:.0e}..{LRS[-1]:g}, {GD_EPOCHS} steps",
               converged=f"(L - L*) / (L0 - L*) < {TOL}", stable="final loss finite and below L0",
               path="drawn at each design's best constant step 2 / (lambda_min + lambda_max), "
                    "from its Hessian X^T X / n")
    w0_raw = np.array([-3.0, -1.5], np.float32)  # the same start function in both parametrisations
    reg, paths, quad = {}, {}, {}
    for (name, xd), w0 in zip(designs.items(), [w0_raw, w0_raw * np.asarray(zstats.std)[0]]):
        xd64, t64 = np.asarray(xd, np.float64), np.asarray(t, np.float64)
        a_mat, b_vec = xd64.T @ xd64 / N_REG, xd64.T @ t64[:, 0] / N_REG
        c = t64[:, 0] @ t64[:, 0] / N_REG
        w_star = np.linalg.solve(a_mat, b_vec)
        l_star = 0.5 * (w_star @ a_mat @ w_star - 2 * b_vec @ w_star + c)
        lam = np.linalg.eigvalsh(a_mat)  # the Hessian of the 1/2m loss is X^T X / n
        model = serial(Dense(1, use_bias=False,
                             w_init=lambda k, s, d=jnp.float32, w0=w0:
                             jnp.asarray(w0, d).reshape(s)))
        _, hist = vmap_fit(model, mse, lambda lr: optim.gd(lr), (xd, t), hparams={"lr": LRS},
                           keys=jax.random.key(1), epochs=GD_EPOCHS, batch_size=N_REG, metrics=())
        loss = hist.train_loss  # (K, epochs): loss before each step
        gap = (loss - l_star) / (loss[:, :1] - l_star)
        stable = (np.isfinite(loss[:, -1]) & (loss[:, -1] < loss[:, 0])
                  & (hist.nonfinite_step < 0).all(1))
        steps = np.array([int(np.argmax(g < TOL)) if (g < TOL).any() and s else -1
                          for g, s in zip(gap, stable)])
        ok = steps >= 0
        lr_stable = float(LRS[stable].max()) if stable.any() else float("nan")
        best = int(np.argmin(np.where(ok, steps, 10**9))) if ok.any() else None
        lr_path = 2 / (lam[0] + lam[-1])  # the best constant step for this quadratic
        curve = []
        fit(model, mse, optim.gd(lr_path), (xd, t), epochs=min(GD_EPOCHS, 400), batch_size=N_REG,
            key=jax.random.key(1), metrics=(), verbose=0,
            callbacks=[lambda e, ts, logs:
                       curve.append(np.asarray(ts.params["0_dense"]["w"])[:, 0])])
        path = np.concatenate([w0[None], np.stack(curve)])
        steep = np.argmax(np.abs(np.linalg.eigh(a_mat)[1][:, -1]))  # weight along the steepest axis
        reversals = int(np.sum(np.diff(np.sign(np.diff(path[:40, steep]))) != 0))
        paths[name], quad[name] = path, (a_mat, b_vec, c, w_star)
        reg[name] = {"eigenvalues": lam, "condition_number": lam[-1] / lam[0], "w_star": w_star,
                     "theory_max_lr": 2 / lam[-1], "theory_best_lr": 2 / (lam[0] + lam[-1]),
                     "largest_stable_lr": lr_stable, "fewest_steps": None if best is None else
                     int(steps[best]),
                     "lr_of_fewest_steps": None if best is None else float(LRS[best]),
                     "steps_per_lr": steps, "path_lr": lr_path,
                     "steep_axis_reversals_first_40": reversals}
    ex.metrics["regression"] = reg
    ex.metrics["regression_lrs"] = LRS
    names = list(reg)
    ex.table("(a) Full-batch GD on linear regression",
             ["features", "Hessian eigenvalues", "condition", "2/lambda_max",
              "largest stable lr (grid)", "fewest steps to converge", "at lr",
              "steep-axis reversals (path, 40 steps)"],
             [[k, " / ".join(f"{v:.3g}" for v in r["eigenvalues"]), r["condition_number"],
               r["theory_max_lr"], r["largest_stable_lr"], r["fewest_steps"] or "not converged",
               r["lr_of_fewest_steps"] or "-", r["steep_axis_reversals_first_40"]]
              for k, r in reg.items()])
    raw, std = reg[names[0]], reg[names[1]]
    few_raw, few_std = raw["fewest_steps"] or np.inf, std["fewest_steps"] or np.inf
    ex.verdict("Unscaled features make GD zig-zag and need many more steps; standardised ones "
               "converge fast (3.6.3-3.6.4)",
               few_std * 2 <= few_raw and raw["steep_axis_reversals_first_40"] > 5,
               f"fewest steps to converge over the lr grid: raw {few_raw}, standardised "
               f"{few_std}; raw path reverses along its steep axis "
               f"{raw['steep_axis_reversals_first_40']} times in 40 steps; condition number "
               f"{raw['condition_number']:.0f} vs "
               f"{std['condition_number']:.2f}")
    ex.verdict("Unscaled features force a small learning rate (lr_max = 2/lambda_max)",
               raw["largest_stable_lr"] * 10 < std["largest_stable_lr"],
               f"largest stable lr raw {raw['largest_stable_lr']:.3g} "
               f"(theory {raw['theory_max_lr']:.3g}), "
               f"standardised {std['largest_stable_lr']:.3g} (theory {std['theory_max_lr']:.3g})")

    fig, axes = plot.figure(3)
    for ax, name in zip(axes[0, :2], names):
        a_mat, b_vec, c, w_star = quad[name]
        p = paths[name]
        span = np.abs(p - w_star).max(0) * 1.15 + 1e-3

        def f(g1, g2, a_mat=a_mat, b_vec=b_vec, c=c):
            return 0.5 * (a_mat[0, 0] * g1**2 + 2 * a_mat[0, 1] * g1 * g2 + a_mat[1, 1] * g2**2
                          - 2 * (b_vec[0] * g1 + b_vec[1] * g2) + c)
        plot.contour_path(ax, f, {f"GD lr {reg[name]['path_lr']:.2g}": p[:60]},
                          (w_star[0] - span[0], w_star[0] + span[0], w_star[1] - span[1],
                           w_star[1] + span[1]), title=f"{name}: first 60 steps")
    for name in names:
        s = reg[name]["steps_per_lr"]
        axes[0, 2].semilogx(LRS[s >= 0], s[s >= 0], "o-", ms=3, label=name)
    plot.label(axes[0, 2], "steps to converge vs learning rate", "learning rate (log)",
               "steps (unstable/unconverged omitted)", legend=True)
    ex.figure(fig, "gd_contours.png", "GD paths on the loss contours (raw: zig-zag across the "
              "narrow valley; standardised: nearly round contours) and steps to converge per "
              "learning rate")


def skewed_feature(ex: Experiment) -> None:
    """(b) Min-max vs z-score vs log scaling of a skewed (lognormal) feature."""
    rng = np.random.default_rng(0)
    skewed = rng.lognormal(0.0, 1.0, (5000, 1)).astype(np.float32)

    def skew(v):
        v = np.asarray(v, np.float64).ravel()
        return float(np.mean((v - v.mean()) ** 3) / v.std() ** 3)

    scalers = {"min-max [0, 1]": fit_minmax, "z-score": fit_zscore,
               "log: log1p(x)/log1p(max)": fit_log}
    out = one_program(ex, lambda v: {n: fit_(v)[0](v) for n, fit_ in scalers.items()})(skewed)
    scaled = {"raw (lognormal)": skewed, **{n: out[n] for n in scalers}}
    scale_rows, scale_m = [], {}
    for name, v in scaled.items():
        v = np.asarray(v).ravel()
        lo, hi = v.min(), v.max()
        crowd = float(np.mean(v < lo + 0.1 * (hi - lo)))
        scale_m[name] = {"mean": float(v.mean()), "std": float(v.std()), "min": float(lo),
                         "max": float(hi), "skewness": skew(v), "fraction_in_lowest_tenth": crowd}
        scale_rows.append([name, v.mean(), v.std(), lo, hi, skew(v), crowd])
    resample = [rng.lognormal(0.0, 1.0, (500, 1)).astype(np.float32) for _ in range(30)]
    cv = lambda a: float(np.std(a) / np.mean(a))  # noqa: E731
    spread = one_program(ex, lambda r: (fit_minmax(r)[1].max[0, 0] - fit_minmax(r)[1].min[0, 0],
                                        fit_zscore(r)[1].std[0, 0]))  # range and std
    spreads = [spread(r) for r in resample]
    range_cv = cv([float(a) for a, _ in spreads])
    std_cv = cv([float(b) for _, b in spreads])
    scale_m["resampling"] = {"samples": 30, "size": 500, "cv_of_minmax_range": range_cv,
                             "cv_of_zscore_std": std_cv}
    ex.metrics["scaling"] = scale_m
    ex.table("(b) Scaling a lognormal feature (5000 samples)",
             ["scaling", "mean", "std", "min", "max", "skewness",
              "fraction in lowest 10% of range"],
             scale_rows, note=f"Over 30 resamples of 500: coefficient of variation of the min-max "
                              f"range "
                              f"{range_cv:.3f}, of the z-score std {std_cv:.3f}.")
    sk = {k: v["skewness"] for k, v in scale_m.items() if k != "resampling"}
    raw_sk = sk["raw (lognormal)"]
    linear_same = all(abs(sk[k] - raw_sk) < 1e-3 * abs(raw_sk)
                      for k in ("min-max [0, 1]", "z-score"))
    ex.verdict("Linear scaling (min-max, z-score) only shifts and rescales: the skew stays (3.6.5)",
               linear_same, f"skewness raw {raw_sk:.3f}, min-max {sk['min-max [0, 1]']:.3f}, "
                            f"z-score {sk['z-score']:.3f}")
    log_sk = sk["log: log1p(x)/log1p(max)"]
    ex.verdict("Non-linear (log) scaling suits data spread over orders of magnitude (3.6.5): it at "
               "least halves the skew and un-crowds the low end",
               abs(log_sk) < 0.5 * abs(raw_sk)
               and scale_m["log: log1p(x)/log1p(max)"]["fraction_in_lowest_tenth"]
               < scale_m["min-max [0, 1]"]["fraction_in_lowest_tenth"],
               f"skewness {raw_sk:.2f} -> {log_sk:.2f}; share of values in the lowest tenth of "
               "[0, 1]: "
               f"min-max {scale_m['min-max [0, 1]']['fraction_in_lowest_tenth']:.2f}, log "
               f"{scale_m['log: log1p(x)/log1p(max)']['fraction_in_lowest_tenth']:.2f}")
    ex.verdict("Min-max is unstable when max and min are unstable (3.6.5)", range_cv > std_cv,
               f"over 30 resamples: CV of max - min {range_cv:.3f} vs CV of std {std_cv:.3f}")
    fig, axes = plot.figure(4, width=3.4)
    for ax, (name, v) in zip(axes[0], scaled.items()):
        ax.hist(np.asarray(v).ravel(), bins=60, color="tab:blue")
        plot.label(ax, f"{name}\nskewness {sk[name]:.2f}", "value", "count")
    ex.figure(fig, "skewed_scaling.png",
              "A lognormal feature before and after min-max, z-score and log scaling")


def norm_layers(ex: Experiment) -> None:
    """(c) Normalization layers in a small CNN on digits: every layer at batch 64, BN and GN
    also at small batches, all seeds of one setting in one vmap_fit; then BN's learning-rate
    range over seeds."""
    NORMS = ("none", "batchnorm", "groupnorm", *ex.pick(("layernorm",), ()), "weightnorm", "lrn",
             "batchnorm+lrn")  # a quick run: fewer programs to compile
    LARGE, SMALL = 64, ex.pick((2,), (64,))
    EPOCHS = ex.pick({2: 1, 64: 10}, {64: 2})
    SEEDS, CNN_LR = ex.pick(5, 2), 1e-3
    SWEEP_LRS = np.array(ex.pick([0.03, 0.1, 0.3, 1.0, 3.0], [0.03, 0.1]), np.float32)
    FEATURES = ex.pick((8, 16), (8,))  # quick: one conv block, a smaller program to compile
    SWEEP_EPOCHS, WORKING = ex.pick(5, 1), 0.9
    digits_train, digits_test = data.digits()
    take = ex.pick(None, 128)  # None: all
    digits_train = (np.asarray(digits_train[0])[:take], np.asarray(digits_train[1])[:take])
    if ex.quick:  # a smaller test split too: cheaper evaluation programs
        digits_test = (np.asarray(digits_test[0])[:take], np.asarray(digits_test[1])[:take])
    ex.setting(cnn=" -> ".join(f"Conv {f}@3x3 SAME -> [norm] -> ReLU [-> LRN] -> MaxPool2D 2"
                               for f in FEATURES) + " -> Dense 10",
               norms="BatchNorm(momentum 0.9), GroupNorm(4 groups), LayerNorm, WeightNorm (on "
                     f"{ex.pick('both convs', 'the conv')}), LocalResponseNorm (AlexNet k=2, r=2, "
                     "alpha=1e-4, beta=0.75)",
               cnn_training=f"Adam lr {CNN_LR}, every norm at batch {LARGE}, BN and GN also at "
                            f"{SMALL}; epochs per batch size {EPOCHS}; {SEEDS} seeds per setting "
                            "in one vmap_fit; accuracy on the digits test split "
                            f"({int(digits_test[0].shape[0])}); comparisons by the 2-SE rule",
               lr_sweep=f"SGD momentum 0.9, batch 64, {SWEEP_EPOCHS} epochs, lr "
                        f"{SWEEP_LRS.tolist()} x {SEEDS} seeds in one vmap_fit; 'works' = mean "
                        f"test accuracy - 2 SE >= {WORKING}")
    keys = jax.random.split(jax.random.key(2), SEEDS)
    res, rows = {}, []
    settings = list(dict.fromkeys([(n, LARGE) for n in NORMS] + [
        (n, b) for n in ("batchnorm", "groupnorm") for b in SMALL]))
    for norm, b in settings:
        model = cnn(norm, FEATURES)
        ts, h = vmap_fit(model, softmax_cross_entropy, lambda: optim.adam(CNN_LR), digits_train,
                         keys=keys, epochs=EPOCHS[b], batch_size=b,
                         metrics=ex.pick(None, ()))  # quick: no unused accuracy to compile
        acc = np.asarray(one_program(ex, jax.vmap(lambda p, s: jnp.mean(jnp.argmax(
            model.apply(p, s, digits_test[0])[0], -1) == digits_test[1])))(ts.params, ts.state))
        sec = np.asarray(h.seconds)[0, 1:] if EPOCHS[b] > 1 else np.asarray(h.seconds)[0]
        res[(norm, b)] = {"accuracy_per_seed": acc, "train_loss_per_seed": h.train_loss[:, -1],
                          "seconds_per_epoch": sec}
        rows.append([norm, b, f"{acc.mean():.3f} ± {sem(acc):.3f}",
                     f"{h.train_loss[:, -1].mean():.4f} ± {sem(h.train_loss[:, -1]):.4f}",
                     float(np.median(sec))])
    ex.metrics["cnn"] = {f"{n}@{b}": r for (n, b), r in res.items()}
    ex.table("(c) Normalization layers in the CNN (mean ± SE over seeds)",
             ["norm", "batch", "test accuracy", "final training loss (epoch mean)",
              f"s/epoch ({SEEDS} seeds together)"], rows,
             note="s/epoch: median of fit's epoch seconds for the vmapped seed batch, compiling "
                  "epoch excluded.")

    def acc(norm, b=LARGE):
        return res[(norm, b)]["accuracy_per_seed"]

    def show(a, name):
        return f"{name} {a.mean():.3f} ± {sem(a):.3f}"

    ex.verdict("LRN improves accuracy (000 3.6.6): test accuracy with LRN above without by 2 SE, "
               f"batch {LARGE}", exceeds(acc("lrn"), acc("none")),
               f"{show(acc('lrn'), 'LRN')} vs {show(acc('none'), 'none')} ({SEEDS} seeds)")
    tl = {n: res[(n, LARGE)]["train_loss_per_seed"] for n in ("none", "batchnorm")}
    ex.verdict("BN improves accuracy and training (000 3.6.8): test accuracy higher and final "
               "training loss lower than without normalization, each by 2 SE",
               exceeds(acc("batchnorm"), acc("none")) and exceeds(tl["none"], tl["batchnorm"]),
               f"accuracy {show(acc('batchnorm'), 'BN')} vs {show(acc('none'), 'none')}; "
               f"training loss BN {tl['batchnorm'].mean():.4f} ± {sem(tl['batchnorm']):.4f} vs "
               f"none {tl['none'].mean():.4f} ± {sem(tl['none']):.4f}")
    s_wn, s_bn = res[("weightnorm", LARGE)]["seconds_per_epoch"], \
        res[("batchnorm", LARGE)]["seconds_per_epoch"]
    ex.verdict("Weight norm is faster than BN (000 3.6.12): seconds per epoch below BN's by 2 SE "
               f"(over {len(s_wn)} timed epochs)", exceeds(s_bn, s_wn),
               f"s/epoch WN {s_wn.mean():.4f} ± {sem(s_wn):.4f} vs BN {s_bn.mean():.4f} ± "
               f"{sem(s_bn):.4f} (batch {LARGE}, {SEEDS} seeds vmapped)")
    small = SMALL[0]
    bn_drop = exceeds(acc("batchnorm"), acc("batchnorm", small))
    gn_steady = not exceeds(acc("groupnorm"), acc("groupnorm", small))
    ex.verdict(f"GN is stable across batch sizes where BN degrades at small batches (3.6.11): BN "
               f"loses accuracy from batch {LARGE} to {small} by 2 SE, GN does not",
               bn_drop and gn_steady,
               f"batch {LARGE} -> {small}: BN {acc('batchnorm').mean():.3f} -> "
               f"{acc('batchnorm', small).mean():.3f} (SE {sem(acc('batchnorm', small)):.3f}), GN "
               f"{acc('groupnorm').mean():.3f} -> {acc('groupnorm', small).mean():.3f} (SE "
               f"{sem(acc('groupnorm', small)):.3f})" + ("" if bn_drop else
                                                         "; BN does not degrade here, so the "
                                                         "premise never occurs in this CNN"))
    gain = acc("batchnorm+lrn") - acc("batchnorm")
    ex.verdict("LRN adds little once BN is there (3.6.9): BN+LRN is not above BN by 2 SE",
               not exceeds(acc("batchnorm+lrn"), acc("batchnorm")),
               f"{show(acc('batchnorm+lrn'), 'BN+LRN')} vs {show(acc('batchnorm'), 'BN')} "
               f"(mean difference {gain.mean():+.3f})")

    sweep = {}
    lr_col = np.repeat(SWEEP_LRS, SEEDS)
    for norm in ("none", "batchnorm"):
        _, h = vmap_fit(cnn(norm, FEATURES), softmax_cross_entropy,
                        lambda lr: optim.sgd(lr, momentum=0.9), digits_train,
                        hparams={"lr": lr_col}, keys=jnp.concatenate([keys] * len(SWEEP_LRS)),
                        val=digits_test, epochs=SWEEP_EPOCHS, batch_size=64)
        a = np.nan_to_num(h.val_accuracy[:, -1]).reshape(len(SWEEP_LRS), SEEDS)
        works = SWEEP_LRS[[r.mean() - 2 * sem(r) >= WORKING for r in a]]
        sweep[norm] = {"accuracy": a, "val_accuracy_curves": h.val_accuracy,
                       "largest_working_lr": round(float(works.max()), 6) if works.size else None}
    ex.metrics["lr_sweep"] = {"lrs": SWEEP_LRS, **sweep}
    ex.table(f"BN and the learning rate: test accuracy after {SWEEP_EPOCHS} epochs (SGD "
             f"momentum 0.9, mean ± SE over {SEEDS} seeds)",
             ["lr"] + list(sweep), [[lr] + [f"{sweep[k]['accuracy'][i].mean():.3f} ± "
                                            f"{sem(sweep[k]['accuracy'][i]):.3f}" for k in sweep]
                                    for i, lr in enumerate(SWEEP_LRS)])
    lw_none, lw_bn = sweep["none"]["largest_working_lr"], sweep["batchnorm"]["largest_working_lr"]
    ex.verdict(f"BN allows a larger learning rate (3.6.9): its largest lr whose mean accuracy "
               f"- 2 SE >= {WORKING} ({SEEDS} seeds) is above the plain CNN's",
               lw_bn is not None and (lw_none is None or lw_bn > lw_none),
               f"largest working lr: no norm {lw_none}, BN {lw_bn}; accuracy at each lr: none "
               + ", ".join(f"{v.mean():.2f}" for v in sweep["none"]["accuracy"]) + "; BN "
               + ", ".join(f"{v.mean():.2f}" for v in sweep["batchnorm"]["accuracy"]))

    fig, axes = plot.figure(3)
    xs = np.arange(len(NORMS))
    axes[0, 0].bar(xs, [acc(n).mean() for n in NORMS],
                   yerr=[2 * sem(acc(n)) for n in NORMS], capsize=3)
    axes[0, 0].set_xticks(xs, NORMS, rotation=45, fontsize=7)
    axes[0, 0].set_ylim(min(acc(n).mean() for n in NORMS) - 0.05, 1.0)
    plot.label(axes[0, 0], f"test accuracy at batch {LARGE} (bars: 2 SE)", "norm", "accuracy")
    for n in ("batchnorm", "groupnorm"):
        bs = [*SMALL, LARGE]
        axes[0, 1].errorbar(bs, [acc(n, b).mean() for b in bs],
                            yerr=[2 * sem(acc(n, b)) for b in bs], marker="o", capsize=3,
                            label=n)
    axes[0, 1].set_xscale("log", base=2)
    plot.label(axes[0, 1], "BN vs GN by batch size (2 SE)", "batch size (log)", "test accuracy",
               legend=True)
    for norm, r in sweep.items():
        axes[0, 2].errorbar(SWEEP_LRS, r["accuracy"].mean(1),
                            yerr=[2 * sem(v) for v in r["accuracy"]], marker="o", capsize=3,
                            label=norm)
    axes[0, 2].set_xscale("log")
    axes[0, 2].axhline(WORKING, color="k", ls=":", lw=0.8)
    plot.label(axes[0, 2], "learning-rate sweep, batch 64 (2 SE)", "SGD learning rate (log)",
               "test accuracy", legend=True)
    ex.figure(fig, "cnn_norms.png", "Normalization layers in a small CNN on digits: accuracy "
              "per layer, BN vs GN by batch size, and the learning-rate range with and without BN")


if __name__ == "__main__":
    run(main)
