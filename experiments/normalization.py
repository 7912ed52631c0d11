"""Normalization: (a) gradient descent on linear regression with raw vs standardised features,
(b) min-max vs z-score vs log scaling of a skewed feature, (c) BatchNorm, GroupNorm, LayerNorm,
WeightNorm and LRN in a small CNN on digits across batch sizes, and BN's learning-rate range."""

import jax
import jax.numpy as jnp
import numpy as np
from _harness import Experiment, run

from jaxdl import data, optim, plot
from jaxdl.data.preprocess import fit_log, fit_minmax, fit_zscore
from jaxdl.losses import mse, softmax_cross_entropy
from jaxdl.nn import (BatchNorm, Conv2D, Dense, Flatten, GroupNorm, LayerNorm, LocalResponseNorm,
                      MaxPool2D, Relu, WeightNorm, serial)
from jaxdl.sweep import vmap_fit
from jaxdl.train import evaluate, fit


def cnn(norm: str):
    """Two conv blocks (8 and 16 channels) with the normalization `norm`, then Dense(10)."""
    def block(features):
        conv = Conv2D(features, 3, padding="SAME")
        layers = [WeightNorm(conv) if norm == "weightnorm" else conv]
        layers += {"batchnorm": [BatchNorm(0.9)], "batchnorm+lrn": [BatchNorm(0.9)],
                   "groupnorm": [GroupNorm(4)], "layernorm": [LayerNorm()]}.get(norm, [])
        layers.append(Relu())
        if norm in ("lrn", "batchnorm+lrn"):
            layers.append(LocalResponseNorm())
        return serial(*layers, MaxPool2D(2))
    return serial(block(8), block(16), Flatten(), Dense(10))


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
    LRS = np.geomspace(1e-5, 10.0, ex.pick(49, 13)).astype(np.float32)
    kx1, kx2, ke = jax.random.split(jax.random.key(0), 3)
    x_raw = jnp.concatenate([jax.random.uniform(kx1, (N_REG, 1), minval=-10.0, maxval=10.0),
                             jax.random.uniform(kx2, (N_REG, 1), minval=-100.0, maxval=100.0)], 1)
    w_true = jnp.array([3.0, 0.3])  # both features move y by about the same amount
    t = x_raw @ w_true[:, None] + jax.random.normal(ke, (N_REG, 1))
    t = t - jnp.mean(t)
    to_std, zstats = fit_zscore(x_raw)
    designs = {"raw [-10,10] x [-100,100]": x_raw, "z-score standardised": to_std(x_raw)}
    ex.setting(regression=f"y = 3 x1 + 0.3 x2 + N(0,1), n={N_REG}, no bias, loss mse (1/2m), "
                          "full-batch GD (jaxdl.optim.gd) via vmap_fit over "
                          f"{len(LRS)} learning rates {LRS[0]:.0e}..{LRS[-1]:g}, {GD_EPOCHS} steps",
               converged=f"(L - L*) / (L0 - L*) < {TOL}", stable="final loss finite and below L0",
               path="drawn at each design's best constant step 2 / (lambda_min + lambda_max), "
                    "from its Hessian X^T X / n")
    w0_raw = np.array([-3.0, -1.5], np.float32)  # the same start function in both parametrisations
    reg, paths, quad = {}, {}, {}
    for (name, xd), w0 in zip(designs.items(), [w0_raw, w0_raw * np.asarray(zstats.std[0])]):
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
            key=jax.random.key(1), metrics=(), progress=False,
            callbacks=[lambda e, ts, logs:
                       curve.append(np.asarray(ts.params["0_dense"]["w"][:, 0]))])
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

    scaled = {"raw (lognormal)": skewed, "min-max [0, 1]": fit_minmax(skewed)[0](skewed),
              "z-score": fit_zscore(skewed)[0](skewed),
              "log: log1p(x)/log1p(max)": fit_log(skewed)[0](skewed)}
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
    range_cv = cv([float(fit_minmax(r)[1].max[0, 0] - fit_minmax(r)[1].min[0, 0])
                   for r in resample])
    std_cv = cv([float(fit_zscore(r)[1].std[0, 0]) for r in resample])
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
    """(c) Normalization layers in a small CNN on digits across batch sizes, and BN's
    learning-rate range."""
    NORMS = ex.pick(("none", "batchnorm", "groupnorm", "layernorm", "weightnorm", "lrn",
                     "batchnorm+lrn"), ("batchnorm", "groupnorm", "batchnorm+lrn"))
    BATCHES = ex.pick((2, 4, 16, 64), (16,))
    CNN_EPOCHS = ex.pick({2: 3, 4: 3, 16: 6, 64: 15}, {16: 2})
    SEEDS, CNN_LR = ex.pick(3, 1), 1e-3
    SWEEP_LRS = np.array(ex.pick([0.01, 0.03, 0.1, 0.3, 1.0, 3.0], [0.03, 3.0]), np.float32)
    SWEEP_EPOCHS, WORKING = ex.pick(10, 1), 0.9
    digits_train, digits_test = data.digits()
    take = ex.pick(None, 128)  # None: all
    digits_train = (digits_train[0][:take], digits_train[1][:take])
    ex.setting(cnn="Conv 8@3x3 SAME -> [norm] -> ReLU [-> LRN] -> MaxPool2D 2 -> Conv 16@3x3 "
                   "SAME -> [norm] -> ReLU [-> LRN] -> MaxPool2D 2 -> Dense 10",
               norms="BatchNorm(momentum 0.9), GroupNorm(4 groups), LayerNorm, WeightNorm (on both "
                     "convs), LocalResponseNorm (AlexNet k=2, r=2, alpha=1e-4, beta=0.75)",
               cnn_training=f"Adam lr {CNN_LR} for every batch size, epochs per batch size "
                            f"{CNN_EPOCHS}, {SEEDS} seeds, one fit each (so the seconds are one "
                            "model's: vmap_fit would time all seeds together); accuracy on the "
                            f"digits test split ({int(digits_test[0].shape[0])})",
               lr_sweep=f"SGD momentum 0.9, batch 64, {SWEEP_EPOCHS} epochs, lr "
                        f"{SWEEP_LRS.tolist()}, vmap_fit over lr; 'works' = test accuracy >= "
                        f"{WORKING}")

    cnn_res, cnn_rows = {}, []
    for norm in NORMS:
        row, model = [norm], cnn(norm)
        for b in BATCHES:
            acc, secs = [], []
            for seed in range(SEEDS):
                ts, h = fit(model, softmax_cross_entropy, optim.adam(CNN_LR), digits_train,
                            epochs=CNN_EPOCHS[b], batch_size=b, key=jax.random.key(2 + seed),
                            progress=False)
                acc.append(evaluate(model, ts, digits_test)["accuracy"])
                secs += list(h.seconds if seed else h.seconds[1:])  # seed 0 compiled
            acc, sec = np.array(acc), float(np.median(secs)) if secs else float("nan")
            cnn_res[f"{norm}@{b}"] = {"norm": norm, "batch_size": b,
                                      "accuracy_mean": float(acc.mean()),
                                      "accuracy_std": float(acc.std()), "accuracy_per_seed": acc,
                                      "seconds_per_epoch": sec}
            row += [f"{acc.mean():.3f} ± {acc.std():.3f}", sec]
        cnn_rows.append(row)
    ex.metrics["cnn"] = cnn_res
    ex.table("(c) Test accuracy (mean ± std over seeds) and seconds per training epoch (one "
             "model)",
             ["norm"] + [c for b in BATCHES for c in (f"acc, batch {b}", f"s/epoch, batch {b}")],
             cnn_rows,
             note="s/epoch: median over seeds of fit's epoch seconds, compiling epochs excluded.")

    def mean_acc(norm, b):
        return cnn_res[f"{norm}@{b}"]["accuracy_mean"]

    small, large = BATCHES[0], BATCHES[-1]
    bn_drop = mean_acc("batchnorm", large) - mean_acc("batchnorm", small)
    gn_drop = mean_acc("groupnorm", large) - mean_acc("groupnorm", small)
    gn_spread = max(mean_acc("groupnorm", b) for b in BATCHES) - min(mean_acc("groupnorm", b)
                                                                     for b in BATCHES)
    ex.verdict("GN is stable across batch sizes where BN degrades at small batches (3.6.11)",
               bn_drop > gn_drop + 0.01 and gn_spread < 0.03 and mean_acc("groupnorm", small)
               > mean_acc("batchnorm", small),
               f"accuracy batch {large} -> {small}: BN {mean_acc('batchnorm', large):.3f} -> "
               f"{mean_acc('batchnorm', small):.3f}, GN {mean_acc('groupnorm', large):.3f} -> "
               f"{mean_acc('groupnorm', small):.3f}; GN range over batch sizes {gn_spread:.3f}")
    lrn_gain = [mean_acc("batchnorm+lrn", b) - mean_acc("batchnorm", b) for b in BATCHES]
    seed_std = max(cnn_res[f"batchnorm@{b}"]["accuracy_std"] for b in BATCHES)
    ex.verdict("LRN adds little once BN is there (3.6.9)", max(lrn_gain) < max(0.01, 2 * seed_std),
               "BN+LRN minus BN: "
               + ", ".join(f"batch {b}: {g:+.3f}" for b, g in zip(BATCHES, lrn_gain))
               + f" (largest BN seed std {seed_std:.3f})")

    sweep = {}
    for norm in ("none", "batchnorm"):
        _, h = vmap_fit(cnn(norm), softmax_cross_entropy, lambda lr: optim.sgd(lr, momentum=0.9),
                        digits_train, hparams={"lr": SWEEP_LRS}, keys=jax.random.key(3),
                        val=digits_test, epochs=SWEEP_EPOCHS, batch_size=64)
        acc = np.nan_to_num(h.val_accuracy[:, -1])
        works = SWEEP_LRS[acc >= WORKING]
        sweep[norm] = {"accuracy_per_lr": acc, "val_accuracy_curves": h.val_accuracy,
                       "largest_working_lr": round(float(works.max()), 6) if works.size else None}
    ex.metrics["lr_sweep"] = {"lrs": SWEEP_LRS, **sweep}
    ex.table(f"BN and the learning rate: test accuracy after {SWEEP_EPOCHS} epochs (SGD "
             "momentum 0.9)",
             ["lr"] + list(sweep), [[lr] + [sweep[k]["accuracy_per_lr"][i] for k in sweep]
                                    for i, lr in enumerate(SWEEP_LRS)])
    lw_none, lw_bn = sweep["none"]["largest_working_lr"], sweep["batchnorm"]["largest_working_lr"]
    ex.verdict("BN allows a larger learning rate (3.6.9)",
               lw_bn is not None and (lw_none is None or lw_bn > lw_none),
               f"largest lr with accuracy >= {WORKING}: no norm {lw_none}, BN {lw_bn}")

    fig, axes = plot.figure(3)
    for norm in NORMS:
        m = np.array([mean_acc(norm, b) for b in BATCHES])
        s = np.array([cnn_res[f"{norm}@{b}"]["accuracy_std"] for b in BATCHES])
        axes[0, 0].errorbar(BATCHES, m, yerr=s, marker="o", ms=3, capsize=2, label=norm)
        axes[0, 1].plot(BATCHES, [cnn_res[f"{norm}@{b}"]["seconds_per_epoch"]
                                  for b in BATCHES], "o-", ms=3, label=norm)
    for ax in axes[0, :2]:
        ax.set_xscale("log", base=2)
        ax.set_xticks(BATCHES, [str(b) for b in BATCHES])
    plot.label(axes[0, 0], "test accuracy vs batch size", "batch size (log)", "test accuracy",
               legend=True)
    axes[0, 1].set_yscale("log")
    plot.label(axes[0, 1], "seconds per training epoch (one model)", "batch size (log)",
               "seconds (log)", legend=True)
    for norm, r in sweep.items():
        axes[0, 2].semilogx(SWEEP_LRS, r["accuracy_per_lr"], "o-", label=norm)
    axes[0, 2].axhline(WORKING, color="k", ls=":", lw=0.8)
    plot.label(axes[0, 2], "learning-rate sweep, batch 64", "SGD learning rate (log)",
               "test accuracy", legend=True)
    ex.figure(fig, "cnn_norms.png", "Normalization layers in a small CNN on digits: accuracy and "
              "speed by batch size, and the learning-rate range with and without BN")


if __name__ == "__main__":
    run(main)
