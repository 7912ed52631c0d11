"""Batch size on MNIST-1D: seconds per epoch, epochs and seconds to a target validation accuracy,
final accuracy and loss-curve noise for batch sizes 1, 8, 32, 128, 512 and the full batch."""

import jax
import jax.numpy as jnp
import numpy as np
from _harness import Experiment, exceeds, run, sem

from jaxdl import data, optim, plot
from jaxdl.losses import softmax_cross_entropy
from jaxdl.nn import Dense, Relu, serial
from jaxdl.data import batch_indices
from jaxdl.train import evaluate, fit, make_train_step


def per_step_losses(model, opt, ts, train, b, steps=64):
    """Per-step minibatch losses for >= `steps` further steps from `ts` (fit keeps epoch means):
    epochs 10000, 10001, ... drawn as fit draws them (jaxdl.train.run_epoch: permutation and step
    keys from fold_in(ts.key, epoch)), each one jitted lax.scan over make_train_step."""
    step = make_train_step(model, softmax_cross_entropy, opt)

    @jax.jit
    def epoch(ts, e, x, y):
        perm_key, step_key = jax.random.split(jax.random.fold_in(ts.key, e))
        idx, _ = batch_indices(perm_key, x.shape[0], b, drop_last=True)

        def body(ts, s):
            ts, m = step(ts, x[idx[s]], y[idx[s]], key=jax.random.fold_in(step_key, s))
            return ts, m["loss"]

        return jax.lax.scan(body, ts, jnp.arange(idx.shape[0], dtype=jnp.int32))

    per_epoch, out, e = train[0].shape[0] // b, [], 0
    while len(out) * per_epoch < steps:
        ts, losses = epoch(ts, np.int32(10_000 + e), *train)
        out.append(np.asarray(losses))
        e += 1
    return np.concatenate(out)


def gradient_agreement(ex, model, train, labels, n):
    """Cosine between mini-batch gradients and the full-data gradient at one point (He-init
    params after 1 epoch of Adam), over many random batches per size (3.5.2, 3.5.3)."""
    DRAWS = ex.pick(200, 8)
    ts, _ = fit(model, softmax_cross_entropy, optim.adam(1e-3), train, epochs=1, batch_size=32,
                key=jax.random.key(99), verbose=0)
    x, y = jnp.asarray(train[0]), jnp.asarray(train[1])

    def grad(p, xb, yb):
        g = jax.grad(lambda q: softmax_cross_entropy(model.apply(q, ts.state, xb)[0], yb))(p)
        return jnp.concatenate([v.ravel() for v in jax.tree.leaves(g)])

    full = grad(ts.params, x, y)
    sizes = sorted({1, 8, 32, 128, 512, n // 2})
    cos = {}
    for b in sizes:
        idx = jax.vmap(lambda k: jax.random.choice(k, n, (b,), replace=False))(
            jax.random.split(jax.random.key(b), DRAWS))
        g = jax.lax.map(lambda i: grad(ts.params, x[i], y[i]), idx)
        cos[b] = np.asarray(g @ full / (jnp.linalg.norm(g, axis=1) * jnp.linalg.norm(full)))
    names = [("half" if b == n // 2 else str(b)) for b in sizes]
    ex.table("Agreement of mini-batch gradients with the full-data gradient",
             ["batch", "cosine with the full gradient (mean ± SE)", "min over draws"],
             [[nm, f"{cos[b].mean():.4f} ± {sem(cos[b]):.4f}", cos[b].min()]
              for nm, b in zip(names, sizes)],
             note=f"{DRAWS} random batches per size, drawn without replacement, at the params "
                  "after one epoch of Adam (batch 32).")
    ex.metrics["gradient_cosine"] = {nm: cos[b] for nm, b in zip(names, sizes)}
    half = cos[n // 2]
    ex.verdict("Half the data gives nearly the same gradient as all of it (3.5.2): mean cosine "
               ">= 0.95 with the full-data gradient", half.mean() - 2 * sem(half) >= 0.95,
               f"half ({n // 2} examples): cosine {half.mean():.4f} ± {sem(half):.4f} over "
               f"{DRAWS} draws")
    ex.verdict_cases("The larger the batch, the more accurate the descent direction (3.5.3): the "
                     "mean cosine with the full gradient rises by 2 SE at each larger batch",
                     {f"{a} -> {b}": exceeds(cos[sb], cos[sa])
                      for (a, sa), (b, sb) in zip(zip(names, sizes), zip(names[1:], sizes[1:]))},
                     "mean cosine " + ", ".join(f"{nm}: {cos[b].mean():.3f}"
                                                for nm, b in zip(names, sizes)),
                     subject="the batch-size step")


def main(quick: bool) -> Experiment:
    ex = Experiment("batch_size", "batch size: speed per epoch vs epochs to a target, and noise",
                    "000 sections 3.5.2-3.5.5", quick=quick)
    LR, TARGET, SEEDS = 1e-3, ex.pick(0.55, 0.25), ex.pick(3, 1)
    (x_all, y_all), _ = data.mnist1d()
    take = ex.pick(None, 1000)  # None: all
    train, val, _ = data.split(x_all[:take], y_all[:take], val=0.2, test=0.0,
                               key=jax.random.key(0))
    n = int(train[0].shape[0])
    # Epoch budget per batch size: small batches take many steps per epoch and need few epochs.
    BUDGET = ex.pick({1: 6, 8: 20, 32: 40, 128: 80, 512: 200, n: 600}, {1: 2, n: 10})
    SIZES = list(BUDGET)
    model = serial(Dense(100), Relu(), Dense(100), Relu(), Dense(10))
    ex.setting(data=f"mnist1d train split {n} / val {int(val[0].shape[0])}",
               model="MLP 40-100-100-10",
               optimizer=f"Adam, learning rate fixed at {LR} for every batch size (no scaling)",
               target_val_accuracy=TARGET, seeds=SEEDS, epochs=BUDGET,
               timing="fit's per-epoch seconds (one model, validation outside the timed part): the "
                      "fastest epoch over seeds, compiling epoch excluded (robust on a shared "
                      "machine)",
               seeds_note="seeds run one fit each, not vmap_fit, so the seconds are one model's",
               noise="std of successive per-step train-loss differences over >= 64 steps from the "
                     "final state (a lax.scan over jaxdl.train.make_train_step), and std of "
                     "successive per-epoch val-loss differences over the last 25% of epochs")

    def run_seed(b, epochs, key):
        """fit one model; val metrics come from a callback, which runs after fit has timed the
        epoch."""
        curve = []

        def record(epoch, ts, logs):
            curve.append(evaluate(model, ts, val, loss=softmax_cross_entropy))

        ts, hist = fit(model, softmax_cross_entropy, optim.adam(LR), train, epochs=epochs,
                       batch_size=b, key=key, callbacks=[record], verbose=0)
        return (ts, hist.seconds, np.array([c["accuracy"] for c in curve]),
                np.array([c["loss"] for c in curve]))

    rows, res = [], {}
    for b in SIZES:
        epochs = BUDGET[b]
        label = "full" if b == n else str(b)
        runs = [run_seed(b, epochs, jax.random.key(s)) for s in range(SEEDS)]
        acc = np.stack([r[2] for r in runs])  # (seeds, epochs)
        vloss = np.stack([r[3] for r in runs])
        hit = [int(np.argmax(a >= TARGET)) + 1 if (a >= TARGET).any() else None for a in acc]
        reached = [h for h in hit if h is not None]
        e_target = float(np.median(reached)) if len(reached) == SEEDS else None
        sec = float(np.min(np.concatenate([r[1][1:] for r in runs])))  # fastest: a shared machine
        tail = max(4, epochs // 4)
        epoch_noise = float(np.mean(np.std(np.diff(vloss[:, -tail:], axis=1), axis=1)))
        steps = per_step_losses(model, optim.adam(LR), runs[0][0], train, b)
        step_noise = float(np.std(np.diff(steps)))
        res[label] = {"batch_size": b, "epochs": epochs, "steps_per_epoch": n // b,
                      "seconds_per_epoch": sec, "examples_per_second": n / sec,
                      "epochs_to_target_per_seed": hit, "epochs_to_target": e_target,
                      "seconds_to_target": None if e_target is None else e_target * sec,
                      "final_val_accuracy_mean": float(acc[:, -1].mean()),
                      "final_val_accuracy_std": float(acc[:, -1].std()),
                      "best_val_accuracy_mean": float(acc.max(1).mean()),
                      "per_step_loss_diff_std": step_noise,
                      "per_epoch_val_loss_diff_std": epoch_noise,
                      "final_val_accuracy_per_seed": acc[:, -1],
                      "val_accuracy_curve_seed0": acc[0], "val_loss_curve_seed0": vloss[0],
                      "step_losses": steps[:64]}
        r = res[label]
        rows.append([label, n // b, sec, n / sec,
                     "/".join("-" if h is None else str(h) for h in hit),
                     "not reached" if e_target is None else e_target,
                     "not reached" if e_target is None else r["seconds_to_target"],
                     f"{r['final_val_accuracy_mean']:.3f} ± {r['final_val_accuracy_std']:.3f}",
                     step_noise, epoch_noise])
    ex.metrics["runs"] = res
    ex.table(f"Batch size on MNIST-1D (Adam {LR}, target val accuracy {TARGET})",
             ["batch", "steps/epoch", "s/epoch", "examples/s", "epochs to target (per seed)",
              "epochs to target (median)", "s to target", "final val acc",
              "per-step loss-diff std", "per-epoch val-loss-diff std"], rows,
             note="s to target = median epochs to target x s/epoch. Final "
                  "val accuracy after each batch size's own epoch budget (mean ± std over seeds).")

    labels = list(res)
    sec = np.array([res[k]["seconds_per_epoch"] for k in labels])
    steps_up = [f"{a} -> {b}" for a, b in zip(labels, labels[1:])]
    ex.verdict_cases("Larger batches process an epoch of data faster (3.5.3, 3.5.5)",
                     {k: sec[i + 1] <= 1.1 * sec[i] for i, k in enumerate(steps_up)},
                     "s/epoch " + ", ".join(f"{k}: {s:.3g}" for k, s in zip(labels, sec)),
                     subject="the batch-size step")
    ep = [res[k]["epochs_to_target"] for k in labels]
    # Not reached = more epochs than the budget, and budgets grow with the batch size: inf.
    ep_known = [np.inf if e is None else e for e in ep]
    ex.verdict_cases("Larger batches need more epochs to reach the same accuracy (3.5.4, 3.5.5)",
                     {k: ep_known[i + 1] >= ep_known[i] for i, k in enumerate(steps_up)},
                     "median epochs to target "
                     + ", ".join(f"{k}: {'not reached' if e is None else f'{e:g}'}"
                                 for k, e in zip(labels, ep)), subject="the batch-size step")
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
    ex.verdict_cases("Batch size 1 is the noisiest (3.5.2: each sample pulls its own way)",
                     {"per step": step_max, "per epoch": epoch_max},
                     "per-step loss-diff std "
                     + ", ".join(f"{k}: {v:.3g}" for k, v in noise.items())
                     + "; per-epoch val-loss-diff std "
                     + ", ".join(f"{k}: {v:.2g}" for k, v in enoise.items()),
                     subject="the noise measure")
    ex.metrics["fastest_batch_to_target"] = best[0]
    final = {k: np.asarray(res[k]["final_val_accuracy_per_seed"]) for k in labels}
    top = max(labels, key=lambda k: final[k].mean())
    lead = {k: final[top].mean() - final[k].mean() - 2 * np.hypot(sem(final[top]), sem(final[k]))
            for k in (labels[0], labels[-1]) if k != top}
    ex.verdict("There is an accuracy-optimal batch size between the extremes (3.5.5): the best "
               "final val accuracy is at an interior size, above both extremes by 2 SE",
               top not in (labels[0], labels[-1]) and all(v > 0 for v in lead.values()),
               "final val accuracy (mean ± SE, " + f"{SEEDS} seeds): " + ", ".join(
                   f"{k}: {final[k].mean():.3f} ± {sem(final[k]):.3f}" for k in labels)
               + f"; best: batch {top}")
    one = final[labels[0]]
    drop = final[top].mean() - one.mean()
    ex.verdict("Too small a batch performs extremely badly (3.5.5): batch 1's final val accuracy "
               "is >= 10 points below the best batch's (and by 2 SE), or it diverges",
               (drop >= 0.10 and drop > 2 * np.hypot(sem(one), sem(final[top])))
               or not np.all(np.isfinite(one)),
               f"batch 1: {one.mean():.3f} ± {sem(one):.3f}; best (batch {top}): "
               f"{final[top].mean():.3f} ± {sem(final[top]):.3f}; drop {100 * drop:.1f} points")
    gradient_agreement(ex, model, train, [k for k in labels], n)

    fig, axes = plot.figure(3, 2)
    for k in labels:
        r = res[k]
        e = np.arange(1, r["epochs"] + 1)
        axes[0, 0].semilogx(e, r["val_accuracy_curve_seed0"], label=f"batch {k}")
        axes[0, 1].semilogx(e * r["seconds_per_epoch"], r["val_accuracy_curve_seed0"],
                            label=f"batch {k}")
        axes[0, 2].semilogx(e, r["val_loss_curve_seed0"], label=f"batch {k}")
        axes[1, 0].plot(np.arange(1, len(r["step_losses"]) + 1), r["step_losses"],
                        label=f"batch {k}",
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
    return ex.finish()


if __name__ == "__main__":
    run(main)
