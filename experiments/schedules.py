"""Learning-rate decay schedules: every jaxdl.schedules curve over 1000 steps (optax overlaid where
optax has the same schedule), then each one training the same mnist1d MLP over 5 seeds."""

import math

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import optax
from _harness import Experiment, exceeds, run, sem

from jaxdl import optim, plot
from jaxdl import schedules as S
from jaxdl.data import mnist1d
from jaxdl.losses import softmax_cross_entropy
from jaxdl.nn import Dense, Relu, serial
from jaxdl.sweep import vmap_fit


LR, STEPS = 0.1, 1000
GROUPS = ["piecewise vs exponential vs natural exp (3.9.3-3.9.5)",
          "polynomial, with and without cycle (3.9.6)",
          "cosine vs linear cosine vs noisy linear cosine (3.9.7)", "warm restarts and warm-up"]


def make_schedules() -> dict:
    """name: (jaxdl schedule, optax equivalent or None, figure group)."""
    m_mul, cycles = 0.8, range(4)
    return {
        "constant": (S.constant(LR), optax.constant_schedule(LR), 0),
        "piecewise_constant": (
            S.piecewise_constant([250, 500, 750], [LR, LR / 2, LR / 4, LR / 8]),
            optax.piecewise_constant_schedule(LR, {251: 0.5, 501: 0.5, 751: 0.5}), 0),
        "exponential_decay": (S.exponential_decay(LR, 100, 0.8),
                              optax.exponential_decay(LR, 100, 0.8), 0),
        "exponential_decay (staircase)": (S.exponential_decay(LR, 100, 0.8, staircase=True),
                                          optax.exponential_decay(LR, 100, 0.8, staircase=True), 0),
        "natural_exp_decay": (S.natural_exp_decay(LR, 100, 0.8),
                              optax.exponential_decay(LR, 100, math.exp(-0.8)), 0),
        "inverse_time_decay": (S.inverse_time_decay(LR, 100, 0.5), None, 0),
        "polynomial_decay": (S.polynomial_decay(LR, 300, 0.01, power=0.5),
                             optax.polynomial_schedule(LR, 0.01, 0.5, 300), 1),
        "polynomial_decay (cycle)": (S.polynomial_decay(LR, 300, 0.01, power=0.5, cycle=True),
                                     None, 1),
        "cosine_decay": (S.cosine_decay(LR, 800), optax.cosine_decay_schedule(LR, 800), 2),
        "linear_cosine_decay": (S.linear_cosine_decay(LR, 800), None, 2),
        "noisy_linear_cosine_decay": (S.noisy_linear_cosine_decay(LR, 800), None, 2),
        "cosine_decay_restarts (t_mul 2, m_mul 0.8)": (
            S.cosine_decay_restarts(LR, 100, 2.0, m_mul),
            optax.sgdr_schedule([dict(init_value=LR * m_mul**i, peak_value=LR * m_mul**i,
                                      warmup_steps=0, decay_steps=100 * 2**i, end_value=0.0)
                                 for i in cycles]), 3),
        "cosine_decay_restarts (t_mul 1)": (
            S.cosine_decay_restarts(LR, 250, 1.0),
            optax.sgdr_schedule([dict(init_value=LR, peak_value=LR, warmup_steps=0, decay_steps=250,
                                      end_value=0.0) for _ in cycles]), 3),
        "warmup(cosine_decay)": (S.warmup(S.cosine_decay(LR, 900), 100),
                                 optax.warmup_cosine_decay_schedule(0.0, LR, 100, 1000, 0.0), 3),
    }


def main(quick: bool) -> Experiment:
    ex = Experiment("schedules",
                    "learning-rate decay schedules: their curves and their effect on training",
                    "000 section 3.9 (3.9.1-3.9.7)", quick=quick)
    ex.setting(learning_rate=LR, steps=STEPS)
    sched = make_schedules()
    shapes(ex, sched)
    training(ex, sched)
    return ex.finish()


def shapes(ex: Experiment, sched: dict) -> None:
    """Every schedule over STEPS steps against optax's, and the claims about their shapes."""
    T = np.arange(STEPS)
    ex.setting(schedules={n: "see table" for n in sched})

    steps = jnp.arange(STEPS)
    curves = {n: np.asarray(jax.vmap(s)(steps)) for n, (s, _, _) in sched.items()}
    with jax.numpy_dtype_promotion("standard"):  # optax promotes implicitly
        refs = {n: np.asarray(jax.vmap(o)(steps)) for n, (_, o, _) in sched.items()
                if o is not None}
    dev = {n: float(np.max(np.abs(curves[n] - refs[n]))) for n in refs}
    rows = [[n, curves[n][0], curves[n][STEPS // 2], curves[n][-1], curves[n].min(),
             dev.get(n, "no optax equivalent")] for n in sched]
    ex.table("Schedules over 1000 steps (lr = 0.1)",
             ["schedule", "step 0", "step 500", "step 999", "min",
             "max |jaxdl - optax|"], rows,
             note="optax: piecewise boundaries shifted by one (optax switches at step >= b, "
                  "TF/jaxdl at step > b); natural exp = optax.exponential_decay with rate e^-0.8; "
                  "restarts = optax.sgdr_schedule; warm-up = optax.warmup_cosine_decay_schedule.")
    noisy = curves["noisy_linear_cosine_decay"]
    ex.text(f"Noisy linear cosine with TF's default initial_variance 1.0 is below 0 at "
            f"{int(np.sum(noisy < 0))} "
            f"of {STEPS} steps (min {noisy.min():.3f}): a negative rate is a gradient-ascent step.")
    ex.metrics["noisy_linear_cosine_negative_steps"] = int(np.sum(noisy < 0))
    ex.metrics["max_deviation_from_optax"] = dev
    ex.metrics["curves_at"] = {n: {"0": c[0], "500": c[500], "999": c[-1]}
                               for n, c in curves.items()}
    for n, d in dev.items():
        print(f"  max |jaxdl - optax| {n}: {d:.2e}")
    ex.verdict("jaxdl's schedules equal optax's where optax has them", max(dev.values()) < 1e-6,
               f"max deviation {max(dev.values()):.1e} over {len(dev)} schedules x {STEPS} steps")

    # 3.9.5: natural exp "decays more than exponential": compare lr * exp(-k t/T) with lr * k^(t/T).
    ks = np.linspace(0.05, 0.99, 95)
    faster = np.exp(-ks) < ks  # natural exp ends lower after the same steps iff e^-k < k
    k_star = float(ks[np.argmax(faster)])
    ex.verdict_cases("Natural exponential decay decays more than exponential decay (000 3.9.5)",
                     {f"{k:.2f}": f for k, f in zip(ks, faster)},
                     f"same decay_rate k: e^-k < k only for k > {k_star:.2f} (root of e^-k = k: "
                     f"0.567); at k = 0.8, step 999: {curves['natural_exp_decay'][-1]:.2e} vs "
                     f"{curves['exponential_decay'][-1]:.2e}", subject="decay_rate", ordered=True)
    printed = LR * np.exp(-0.8 / np.maximum(T, 1))  # lr * e^(-decay_rate / global_step), t >= 1
    with np.errstate(divide="ignore"):
        at0 = float(-0.8 / np.float64(0.0))
    ex.verdict("The printed formula lr * e^(-decay_rate / global_step) is a decay (000 3.9.5)",
               bool(np.all(np.diff(printed[1:]) <= 0)),
               f"exponent at step 0 = {at0} (lr 0); it RISES from {printed[1]:.4f} (step 1) to "
               f"{printed[-1]:.4f} (step 999)")
    pc = curves["polynomial_decay"][300:]
    cy = curves["polynomial_decay (cycle)"]
    rises = int(np.sum(np.diff(cy) > 0))
    ex.verdict("Polynomial decay stays at end_learning_rate after decay_steps; with cycle it rises "
               "again (3.9.6)",
               bool(np.all(np.abs(pc - 0.01) < 1e-7)) and rises >= STEPS // 300 - 1,
               f"no cycle: max |lr - 0.01| after step 300 = {np.max(np.abs(pc - 0.01)):.1e}; "
               "cycle: "
               f"{rises} "
               f"rises, at steps {(np.nonzero(np.diff(cy) > 0)[0] + 1).tolist()}")
    cos = curves["cosine_decay"]
    ex.verdict("Cosine decay falls to the minimum (alpha * lr) and stays there (3.9.7)",
               bool(np.all(np.diff(cos[:801]) <= 0) and np.all(cos[800:] == cos[800])),
               f"monotone to step 800, then constant at {cos[800]:.1e}")
    line = LR * np.clip(1 - T / 800, 0, 1)
    lin_dev = float(np.max(np.abs(curves["linear_cosine_decay"] - line)))
    ex.verdict("Linear cosine decay falls linearly from the initial to the minimum rate (3.9.7)",
               lin_dev < 0.05 * LR,
               f"max |linear cosine - straight line| = {lin_dev:.4f} = {lin_dev / LR:.0%} of lr "
               f"(num_periods 0.5: the product of a line and a half cosine)")

    fig, axes = plot.figure(2, 2, width=5.6, height=3.8)
    for n, (_, _, g) in sched.items():
        ax = axes[g // 2, g % 2]
        noisy = n.startswith("noisy")
        (h,) = ax.plot(T, curves[n], lw=0.6 if noisy else 1.3, alpha=0.6 if noisy else 1.0,
                       zorder=1 if noisy else 2, label=n)
        if n in refs:
            ax.plot(T[::25], refs[n][::25], "x", color=h.get_color(), ms=4,
                    label=f"optax (max dev {dev[n]:.0e})")
    for g, title in enumerate(GROUPS):
        plot.label(axes[g // 2, g % 2], title, "step", "learning rate", legend=True)
        axes[g // 2, g % 2].legend(fontsize=6.5)
    ex.figure(fig, "curves.png",
              "Every schedule over 1000 steps; crosses: optax's curve every 25 steps")



def training(ex: Experiment, sched: dict) -> None:
    """Each schedule as SGD-momentum's learning rate on the mnist1d MLP: one vmap_fit over
    (schedule, seed); the schedule index is traced."""
    (x, y), test = mnist1d()
    BATCH, SEEDS = 100, ex.pick(5, 2)
    take, take_test = ex.pick((None, None), (400, 200))  # None: all
    (x, y), test = (x[:take], y[:take]), (test[0][:take_test], test[1][:take_test])
    EPOCHS = ex.pick(max(1, STEPS // (x.shape[0] // BATCH)), 2)
    names = ex.pick(list(sched), ["constant", "exponential_decay", "natural_exp_decay"])
    scheds = [sched[n][0] for n in names]
    hidden = ex.pick([100, 100], [32])  # quick: one small layer compiles faster
    model = serial(*[layer for h in hidden for layer in (Dense(h), Relu())], Dense(10))
    ex.setting(mlp="-".join(map(str, [40, *hidden, 10])) + " ReLU",
               optimizer="SGD + momentum 0.9, lr = the schedule",
               batch=BATCH, epochs=EPOCHS, train=int(x.shape[0]), test=int(test[0].shape[0]),
               seeds=SEEDS)

    def make_optimizer(which):
        """SGD with momentum whose learning rate is schedule number `which` (a traced index)."""
        return optim.sgd(lambda step: jnp.stack([s(step) for s in scheds])[which], momentum=0.9)

    which = np.repeat(np.arange(len(names)), SEEDS)
    keys = jax.random.split(jax.random.key(0), SEEDS)[np.tile(np.arange(SEEDS), len(names))]
    ts, hist = vmap_fit(model, softmax_cross_entropy, make_optimizer, (x, y),
                        hparams={"which": which}, keys=keys, val=test, epochs=EPOCHS,
                        batch_size=BATCH)
    acc = np.asarray(hist.val_accuracy)[:, -1].reshape(len(names), SEEDS)
    loss = np.asarray(hist.train_loss).reshape(len(names), SEEDS, -1)
    rows = [[n, f"{acc[i].mean():.3f} +- {acc[i].std():.3f}", f"{loss[i, :, -1].mean():.3f} +- "
             f"{loss[i, :, -1].std():.3f}"] for i, n in enumerate(names)]
    ex.table(f"mnist1d MLP, {EPOCHS} epochs = {EPOCHS * (x.shape[0] // BATCH)} steps, {SEEDS} "
             "seeds",
             ["schedule", "test accuracy (mean +- std)", "final train loss"], rows)
    ex.metrics["test_accuracy"] = {n: {"mean": acc[i].mean(), "std": acc[i].std()}
                                   for i, n in enumerate(names)}
    ex.metrics["final_train_loss"] = {n: loss[i, :, -1].mean() for i, n in enumerate(names)}
    decaying = names[1:]

    def judge(claim, score, sign, what):
        """Schedules whose mean `score` beats constant's by > 2 standard errors (sign -1: lower
        is better)."""
        beats = {n: sign * (score[i].mean() - score[0].mean())
                 > 2 * np.hypot(sem(score[i]), sem(score[0]))
                 for i, n in enumerate(names[1:], 1)}
        better = [n for n, b in beats.items() if b]
        ex.verdict_cases(claim, beats,
                         f"{len(better)}/{len(decaying)} schedules beat constant "
                         f"({score[0].mean():.3f}) on {what} by > 2 standard errors: "
                         + (", ".join(better) or "none"), subject="the schedule")

    judge("Decaying the learning rate helps the optimizer converge (000 3.9.1: large steps early, "
          "small late)",
          loss[:, :, -1], -1, "final training loss")
    judge("Decaying the learning rate gives a better model than a constant rate (000 3.9.1)", acc,
          1, "test accuracy")

    # settling: the first epoch from which the training loss stays within 5 % of its final value
    ie, inat = names.index("exponential_decay"), names.index("natural_exp_decay")

    def settle(curve):
        off = np.abs(curve - curve[-1]) > 0.05 * abs(curve[-1])
        return int(np.nonzero(off)[0][-1]) + 2 if off.any() else 1

    se, sn = (np.array([settle(c) for c in loss[i]]) for i in (ie, inat))
    ex.metrics["settling_epoch"] = {"exponential_decay": se, "natural_exp_decay": sn}
    ex.verdict("Natural exponential decay converges faster than exponential decay (000 3.9.5): its "
               "training loss settles (stays within 5 % of its final value) earlier by 2 SE",
               exceeds(se, sn),
               f"settling epoch natural {sn.mean():.1f} ± {sem(sn):.1f} vs exponential "
               f"{se.mean():.1f} ± {sem(se):.1f}; final training loss natural "
               f"{loss[inat, :, -1].mean():.3f} vs exponential {loss[ie, :, -1].mean():.3f} "
               f"({SEEDS} seeds, same decay_steps 100 and rate 0.8)")

    fig, axes = plot.figure(2, width=5.6, height=4.2)
    order = np.argsort(acc.mean(1))
    axes[0, 0].barh(np.arange(len(names)), acc.mean(1)[order], xerr=acc.std(1)[order],
                    color="tab:blue")
    axes[0, 0].set_yticks(np.arange(len(names)), [names[i] for i in order], fontsize=7)
    axes[0, 0].set_xlim(max(0.0, acc.min() - 0.05), min(1.0, acc.max() + 0.03))
    plot.label(axes[0, 0], f"test accuracy, mean +- std over {SEEDS} seeds", "accuracy", "")
    for i, n in enumerate(names):
        axes[0, 1].plot(np.arange(1, EPOCHS + 1), loss[i].mean(0), lw=1, label=n,
                        color=matplotlib.colormaps["tab20"](i))
    plot.label(axes[0, 1], "training loss (mean over seeds)", "epoch", "train loss")
    axes[0, 1].legend(fontsize=6)
    ex.figure(fig, "training.png",
              "Each schedule as SGD-momentum's learning rate on the mnist1d MLP")
    return ex.finish()


if __name__ == "__main__":
    run(main)
