"""Batch size on MNIST-1D: seconds per epoch, epochs and seconds to a target validation accuracy,
final accuracy and loss-curve noise for batch sizes 1, 8, 32, 128, 512 and the full batch."""

import jax
import numpy as np
from _harness import QUICK, Experiment

from jaxdl import data, optim, plot
from jaxdl.losses import softmax_cross_entropy
from jaxdl.nn import Dense, Relu, serial
from jaxdl.train import epoch_fn, evaluate, fit

ex = Experiment("batch_size", "batch size: speed per epoch vs epochs to a target, and noise",
                "000 sections 3.5.2-3.5.5")
LR, TARGET, SEEDS = 1e-3, (0.25 if QUICK else 0.55), (1 if QUICK else 3)
(x_all, y_all), _ = data.mnist1d()
if QUICK:
    x_all, y_all = x_all[:1000], y_all[:1000]
train, val, _ = data.split(x_all, y_all, val=0.2, test=0.0, key=jax.random.key(0))
n = int(train[0].shape[0])
# Epoch budget per batch size: small batches take many steps per epoch and need few epochs.
BUDGET = ({1: 2, n: 10} if QUICK else
          {1: 6, 8: 20, 32: 40, 128: 80, 512: 200, n: 600})
SIZES = list(BUDGET)
model = serial(Dense(100), Relu(), Dense(100), Relu(), Dense(10))
ex.setting(data=f"mnist1d train split {n} / val {int(val[0].shape[0])}", model="MLP 40-100-100-10",
           optimizer=f"Adam, learning rate fixed at {LR} for every batch size (no scaling)",
           target_val_accuracy=TARGET, seeds=SEEDS, epochs=BUDGET,
           timing="fit's per-epoch seconds (one model, validation outside the timed part): the "
                  "fastest epoch over seeds, compiling epoch excluded (robust on a shared machine)",
           seeds_note="seeds run one fit each, not vmap_fit, so the seconds are one model's",
           noise="std of successive per-step train-loss differences over >= 64 steps from the "
                 "final state (jaxdl.train.epoch_fn), and std of successive per-epoch val-loss "
                 "differences over the last 25% of epochs")


def make_opt(lr):
    return optim.adam(lr)


def per_step_losses(ts, b, steps=64):
    """Per-step minibatch losses for >= `steps` further steps from `ts` (fit keeps epoch means)."""
    run = jax.jit(epoch_fn(model, softmax_cross_entropy, make_opt(LR), batch_size=b))
    per_epoch, out, e = n // b, [], 0
    while len(out) * per_epoch < steps:
        ts, ms, _ = run(ts, np.int32(10_000 + e), train[0], train[1])
        out.append(np.asarray(ms["loss"]))
        e += 1
    return np.concatenate(out)


def run_seed(b, epochs, key, opt):
    """fit one model; val metrics come from a callback, which runs after fit has timed the epoch."""
    curve = []

    def record(epoch, ts, logs):
        curve.append(evaluate(model, ts, val, loss=softmax_cross_entropy))

    ts, hist = fit(model, softmax_cross_entropy, opt, train, epochs=epochs, batch_size=b, key=key,
                   callbacks=[record], progress=False)
    return (ts, hist.seconds, np.array([c["accuracy"] for c in curve]),
            np.array([c["loss"] for c in curve]))


rows, res = [], {}
for b in SIZES:
    epochs, opt = BUDGET[b], make_opt(LR)  # one optimizer object: fit's compiled epoch is reused
    label = "full" if b == n else str(b)
    runs = [run_seed(b, epochs, jax.random.key(s), opt) for s in range(SEEDS)]
    acc, vloss = np.stack([r[2] for r in runs]), np.stack([r[3] for r in runs])  # (seeds, epochs)
    hit = [int(np.argmax(a >= TARGET)) + 1 if (a >= TARGET).any() else None for a in acc]
    reached = [h for h in hit if h is not None]
    e_target = float(np.median(reached)) if len(reached) == SEEDS else None
    sec = float(np.min(np.concatenate([r[1][1:] for r in runs])))  # fastest: the machine is shared
    tail = max(4, epochs // 4)
    epoch_noise = float(np.mean(np.std(np.diff(vloss[:, -tail:], axis=1), axis=1)))
    steps = per_step_losses(runs[0][0], b)
    step_noise = float(np.std(np.diff(steps)))
    res[label] = {"batch_size": b, "epochs": epochs, "steps_per_epoch": n // b,
                  "seconds_per_epoch": sec, "examples_per_second": n / sec,
                  "epochs_to_target_per_seed": hit, "epochs_to_target": e_target,
                  "seconds_to_target": None if e_target is None else e_target * sec,
                  "final_val_accuracy_mean": float(acc[:, -1].mean()),
                  "final_val_accuracy_std": float(acc[:, -1].std()),
                  "best_val_accuracy_mean": float(acc.max(1).mean()),
                  "per_step_loss_diff_std": step_noise, "per_epoch_val_loss_diff_std": epoch_noise,
                  "val_accuracy_curve_seed0": acc[0], "val_loss_curve_seed0": vloss[0],
                  "step_losses": steps[:64]}
    r = res[label]
    rows.append([label, n // b, sec, n / sec, "/".join("-" if h is None else str(h) for h in hit),
                 "not reached" if e_target is None else e_target,
                 "not reached" if e_target is None else r["seconds_to_target"],
                 f"{r['final_val_accuracy_mean']:.3f} ± {r['final_val_accuracy_std']:.3f}",
                 step_noise, epoch_noise])
ex.metrics["runs"] = res
ex.table(f"Batch size on MNIST-1D (Adam {LR}, target val accuracy {TARGET})",
         ["batch", "steps/epoch", "s/epoch", "examples/s", "epochs to target (per seed)",
          "epochs to target (median)", "s to target", "final val acc", "per-step loss-diff std",
          "per-epoch val-loss-diff std"], rows,
         note="s to target = median epochs to target x s/epoch. Final "
              "val accuracy after each batch size's own epoch budget (mean ± std over seeds).")

labels = list(res)
sec = np.array([res[k]["seconds_per_epoch"] for k in labels])
faster = [bool(sec[i + 1] <= 1.1 * sec[i]) for i in range(len(sec) - 1)]
ex.verdict("Larger batches process an epoch of data faster (3.5.3, 3.5.5)", all(faster),
           "s/epoch " + ", ".join(f"{k}: {s:.3g}" for k, s in zip(labels, sec)),
           condition=None if all(faster) or not any(faster) else
           "going up to batch " + labels[faster.index(False)])
ep = [res[k]["epochs_to_target"] for k in labels]
# Not reached = more epochs than the budget, and budgets grow with the batch size: count it as inf.
ep_known = [(k, np.inf if e is None else e) for k, e in zip(labels, ep)]
more = [bool(ep_known[i + 1][1] >= ep_known[i][1]) for i in range(len(ep_known) - 1)]
first_ok = next((i for i in range(len(more)) if all(more[i:])), len(more))
ex.verdict("Larger batches need more epochs to reach the same accuracy (3.5.4, 3.5.5)",
           len(more) > 0 and all(more),
           "median epochs to target " + ", ".join(f"{k}: {'not reached' if e is None else f'{e:g}'}"
                                                   for k, e in zip(labels, ep)),
           condition=("batch >= " + ep_known[first_ok][0]) if 0 < first_ok < len(more) else None)
t_target = [(k, res[k]["seconds_to_target"]) for k in labels if res[k]["seconds_to_target"]]
best = min(t_target, key=lambda kv: kv[1]) if t_target else ("none", float("nan"))
interior = bool(t_target) and best[0] not in (labels[0], labels[-1])
ex.verdict("There is a time-optimal batch size between the extremes (3.5.5)", interior,
           "s to target " + ", ".join(f"{k}: {v:.3g}" for k, v in t_target)
           + f"; fastest: batch {best[0]}")
noise = {k: res[k]["per_step_loss_diff_std"] for k in labels}
enoise = {k: res[k]["per_epoch_val_loss_diff_std"] for k in labels}
step_max = max(noise, key=noise.get) == labels[0]
epoch_max = max(enoise, key=enoise.get) == labels[0]
ex.verdict("Batch size 1 is the noisiest (3.5.2: each sample pulls its own way)",
           step_max and epoch_max,
           "per-step loss-diff std " + ", ".join(f"{k}: {v:.3g}" for k, v in noise.items())
           + "; per-epoch val-loss-diff std "
           + ", ".join(f"{k}: {v:.2g}" for k, v in enoise.items()),
           condition=None if step_max == epoch_max else
           ("measured per step" if step_max else "measured per epoch"))
ex.metrics["fastest_batch_to_target"] = best[0]

fig, axes = plot.figure(3, 2)
for k in labels:
    r = res[k]
    e = np.arange(1, r["epochs"] + 1)
    axes[0, 0].semilogx(e, r["val_accuracy_curve_seed0"], label=f"batch {k}")
    axes[0, 1].semilogx(e * r["seconds_per_epoch"], r["val_accuracy_curve_seed0"],
                        label=f"batch {k}")
    axes[0, 2].semilogx(e, r["val_loss_curve_seed0"], label=f"batch {k}")
    axes[1, 0].plot(np.arange(1, len(r["step_losses"]) + 1), r["step_losses"], label=f"batch {k}",
                    lw=0.8)
for ax in axes[0, :2]:
    ax.axhline(TARGET, color="k", ls=":", lw=0.8)
plot.label(axes[0, 0], "val accuracy per epoch (seed 0)", "epoch (log)", "val accuracy",
           legend=True)
plot.label(axes[0, 1], "val accuracy against training time", "seconds (log, fit timing)",
           "val accuracy")
plot.label(axes[0, 2], "val loss per epoch (seed 0)", "epoch (log)", "val loss")
plot.label(axes[1, 0], "per-step minibatch loss, 64 steps at the end", "step", "train loss")
xs = np.arange(len(labels))
axes[1, 1].bar(xs, sec)
axes[1, 1].set_xticks(xs, labels)
axes[1, 1].set_yscale("log")
plot.label(axes[1, 1], "seconds per epoch", "batch size", "seconds (log)")
stt = [res[k]["seconds_to_target"] or 0.0 for k in labels]
axes[1, 2].bar(xs, stt, color="tab:orange")
axes[1, 2].set_xticks(xs, labels)
plot.label(axes[1, 2], f"seconds to val accuracy {TARGET} (0: not reached)", "batch size",
           "seconds")
ex.figure(fig, "batch_size.png", "Accuracy by epoch and by time, val loss by epoch, per-step "
          "losses, seconds per epoch and seconds to the target")
ex.finish()
