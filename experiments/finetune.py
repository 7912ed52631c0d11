"""Pre-training and fine-tuning: a small CNN pre-trained on digits 0-4 is saved and restored as a
checkpoint, then learns digits 5-9 from a few examples per class in the three fine-tuning states of
the fundamentals (predict only, last layer only, everything) against training from scratch."""

import shutil
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
from _harness import Experiment, exceeds, run, sem

from jaxdl import checkpoint, optim, plot
from jaxdl.data import digits
from jaxdl.losses import softmax_cross_entropy
from jaxdl.nn import Conv2D, Dense, Flatten, MaxPool2D, Relu, Sigmoid, serial
from jaxdl.train import evaluate, fit, init_state, predict


def task(x, y, classes):
    """The examples of `classes`, relabelled from 0."""
    keep = np.isin(y, classes)
    return x[keep], (y[keep] - classes[0]).astype(np.int32)


def greedy_pretraining(ex: Experiment, x_train, y_train, x_test, y_test) -> None:
    """Greedy layer-wise pre-training (000 3.7.1, Bengio et al. 2007, supervised variant): a deep
    sigmoid MLP grown one hidden layer at a time (earlier layers frozen, a fresh output layer each
    time), then fine-tuned as a whole, against the same network trained from a random init for
    the same number of epochs."""
    DEPTH, WIDTH, PHASE, TUNE = ex.pick(5, 2), ex.pick(64, 16), ex.pick(5, 1), ex.pick(15, 1)
    SEEDS, LR = ex.pick(5, 2), 1e-3
    x, xt = x_train.reshape(len(y_train), -1), x_test.reshape(len(y_test), -1)
    ex.setting(greedy=f"64-{WIDTH}x{DEPTH}-10 sigmoid MLP on digits, Adam {LR}, batch 32: "
                      f"{PHASE} epochs per added layer ({DEPTH} phases) then {TUNE} epochs of "
                      f"everything, vs {DEPTH * PHASE + TUNE} epochs from a random init; "
                      f"{SEEDS} seeds")
    def net(k):  # k hidden layers; the output layer's key is f"{2k}_dense"
        return serial(*[lay for _ in range(k) for lay in (Dense(WIDTH), Sigmoid())], Dense(10))

    out = {"greedy": [], "random init": []}
    for s in range(SEEDS):
        key, params, state = jax.random.key(300 + s), None, None
        for k in range(1, DEPTH + 1):
            fresh, fstate, _ = net(k).init(jax.random.fold_in(key, k), (64,))
            if params is not None:  # keep the trained hidden layers, a fresh output layer
                fresh.update({n: v for n, v in params.items() if n != f"{2 * k - 2}_dense"})
            ts, _ = fit(net(k), softmax_cross_entropy, optim.adam(LR), (x, y_train),
                        epochs=PHASE, batch_size=32, key=key, init=(fresh, fstate),
                        frozen=[f"{i}_dense" for i in range(0, 2 * k - 2, 2)], verbose=0)
            params, state = ts.params, ts.state
        runs = {"greedy": dict(init=(params, state), epochs=TUNE),
                "random init": dict(init=None, epochs=DEPTH * PHASE + TUNE)}
        for name, kw in runs.items():
            ts, h = fit(net(DEPTH), softmax_cross_entropy, optim.adam(LR), (x, y_train),
                        batch_size=32, key=jax.random.fold_in(key, 99), verbose=0, **kw)
            ev = evaluate(net(DEPTH), ts, (x, y_train), loss=softmax_cross_entropy)
            out[name].append((ev["loss"], evaluate(net(DEPTH), ts, (xt, y_test))["accuracy"]))
    g, r = (np.array(out[n]) for n in ("greedy", "random init"))
    ex.metrics["greedy_pretraining"] = {"greedy": g, "random_init": r}
    ex.table("Greedy layer-wise pre-training vs a random init (same total epochs)",
             ["start", "final training loss (mean ± SE)", "test accuracy (mean ± SE)"],
             [[n, f"{a[:, 0].mean():.4f} ± {sem(a[:, 0]):.4f}",
               f"{a[:, 1].mean():.3f} ± {sem(a[:, 1]):.3f}"] for n, a in (("greedy", g),
                                                                          ("random init", r))])
    ex.verdict("Greedy layer-wise pre-training gives a better local optimum (000 3.7.1): a lower "
               "final training loss than a random init by 2 SE, at the same total epochs",
               exceeds(r[:, 0], g[:, 0]),
               f"training loss greedy {g[:, 0].mean():.4f} ± {sem(g[:, 0]):.4f} vs random "
               f"{r[:, 0].mean():.4f} ± {sem(r[:, 0]):.4f}; test accuracy "
               f"{g[:, 1].mean():.3f} vs {r[:, 1].mean():.3f} ({SEEDS} seeds)")


def main(quick: bool) -> Experiment:
    ex = Experiment("finetune",
                    "pre-train on digits 0-4, fine-tune to digits 5-9 from few examples",
                    "000 section 3.7 (3.7.2 fine-tuning, 3.7.3 what is updated, 3.7.4 the three "
                    "states)", quick=quick)
    # quick: few steps on few examples (a CNN trained inside fit's scan is slow to run under the
    # tests' unoptimised XLA: about 4 ms of CPU per example and step)
    PRE_EPOCHS, LR, STEPS = ex.pick((30, 3e-3, 200), (2, 3e-3, 4))
    SHOTS, SEEDS = ex.pick(((1, 3, 10, 30), 5), ((5,), 1))
    ex.setting(pretrain="digits 0-4, Adam 1e-3, batch 32, %d epochs" % PRE_EPOCHS,
               new_task="digits 5-9 (relabelled 0-4), k examples per class from the train split",
               shots=list(SHOTS), seeds=SEEDS, finetune_optimizer=f"Adam {LR}",
               finetune_steps=f"{STEPS} gradient steps, batch min(10, 5k)",
               test="all test images of the classes of each task")

    # body = the pre-trained feature extractor (params key "0_serial"), head = the classifier
    # ("1_dense")
    body = serial(Conv2D(16, 3, padding="SAME"), Relu(), MaxPool2D(2),
                  Conv2D(32, 3, padding="SAME"), Relu(), MaxPool2D(2), Flatten(), Dense(64), Relu())
    model = serial(body, Dense(5))
    (x_train, y_train), (x_test, y_test) = digits()
    old, new = np.arange(5), np.arange(5, 10)
    old_train, old_test = task(x_train, y_train, old), task(x_test, y_test, old)
    new_pool, new_test = task(x_train, y_train, new), task(x_test, y_test, new)
    take = ex.pick(None, 32)  # None: all
    old_train = (old_train[0][:take], old_train[1][:take])

    # --- pre-train, save, restore -----------------------------------------------------------------
    t0 = time.perf_counter()
    pre, _ = fit(model, softmax_cross_entropy, optim.adam(1e-3), old_train, epochs=PRE_EPOCHS,
                 batch_size=32, key=jax.random.key(0), verbose=0)
    pre_seconds = time.perf_counter() - t0
    ckpt_dir = tempfile.mkdtemp(prefix="jaxdl_finetune_")
    try:
        checkpoint.save(ckpt_dir, pre)
        like = init_state(model, optim.adam(1e-3), (8, 8, 1), jax.random.key(99))
        restored = checkpoint.restore(ckpt_dir, like)
    finally:
        shutil.rmtree(ckpt_dir, ignore_errors=True)
    diff = float(jnp.max(jnp.abs(predict(model, pre, old_test[0]) - predict(model, restored,
                                                                             old_test[0]))))
    acc_old = evaluate(model, restored, old_test)["accuracy"]
    ex.metrics["pretrain"] = {"test_accuracy_digits_0_4": acc_old, "seconds": pre_seconds,
                              "restore_max_abs_output_diff": diff}
    ex.verdict("A saved and restored checkpoint predicts exactly as the pre-trained model (state 1 "
               "on its own task: predict only, no training)", diff == 0.0,
               f"max |output difference| = {diff:g} over {len(old_test[0])} test images; restored "
               f"accuracy on digits 0-4 = {acc_old:.3f}")

    # --- the new task from k examples per class ---------------------------------------------------
    def few(k, seed):
        rng = np.random.RandomState(seed)
        idx = np.concatenate([rng.choice(np.flatnonzero(new_pool[1] == c), k, replace=False)
                              for c in range(5)])
        return new_pool[0][idx], new_pool[1][idx]

    @jax.jit
    def nearest_mean(params, state, x_few, y_few, x):
        """Classify x by the nearest class mean of the features f = body(x_few) of the k
        examples."""
        f = body.apply(params, state, x_few)[0]
        onehot = jax.nn.one_hot(y_few, 5, dtype=f.dtype)
        centres = (onehot.T @ f) / jnp.sum(onehot, 0)[:, None]
        ft = body.apply(params, state, x)[0]
        dist = jnp.sum((ft[:, None, :] - centres[None, :, :]) ** 2, axis=-1)
        return jnp.argmin(dist, -1)

    def predict_only(data):
        """State 1: the restored network only predicts; its features place a test image at the
        nearest class mean of the k examples' features. No gradient step. Returns (accuracy,
        seconds)."""
        args = (restored.params["0_serial"], restored.state["0_serial"], jnp.asarray(data[0]),
                jnp.asarray(data[1]), jnp.asarray(new_test[0]))
        nearest_mean(*args).block_until_ready()  # compile (excluded from the time, as for fit)
        times = []
        for _ in range(5):  # the median of 5 calls: one call takes milliseconds
            t0 = time.perf_counter()
            pred = np.asarray(nearest_mean(*args))
            times.append(time.perf_counter() - t0)
        return float(np.mean(pred == new_test[1])), float(np.median(times))

    def train(data, seed, how):
        """States 2 and 3 start from the restored body with a fresh head; scratch from a fresh
        init."""
        key = jax.random.key(1000 + seed)
        fresh, fresh_state, _ = model.init(jax.random.fold_in(key, 0), (8, 8, 1))
        params = {"0_serial": restored.params["0_serial"], "1_dense": fresh["1_dense"]}
        start = None if how == "scratch" else (params, restored.state)
        bs = min(10, len(data[0]))
        epochs = max(1, STEPS // (len(data[0]) // bs))
        ts, hist = fit(model, softmax_cross_entropy, optim.adam(LR), data, epochs=epochs,
                       batch_size=bs,
                       key=key, init=start, frozen=["0_serial"] if how == "last" else (),
                       verbose=0)
        # compute time: the median epoch (the first one also compiles) times the number of epochs
        return evaluate(model, ts, new_test)["accuracy"], float(np.median(hist.seconds)) * epochs

    METHODS = {"predict only (state 1)": "predict", "last layer only (state 2)": "last",
               "everything (state 3)": "all", "from scratch": "scratch"}
    acc = {m: np.zeros((len(SHOTS), SEEDS)) for m in METHODS}
    secs = {m: np.zeros((len(SHOTS), SEEDS)) for m in METHODS}
    for i, k in enumerate(SHOTS):
        for s in range(SEEDS):
            data = few(k, s)
            for m, how in METHODS.items():
                if how == "predict":
                    acc[m][i, s], secs[m][i, s] = predict_only(data)
                else:
                    acc[m][i, s], secs[m][i, s] = train(data, s, how)

    rows = [[k, m, acc[m][i].mean(), acc[m][i].std(), secs[m][i].mean()]
            for i, k in enumerate(SHOTS) for m in METHODS]
    ex.table(f"Digits 5-9 from k examples per class ({SEEDS} seeds, {len(new_test[0])} test "
             "images)",
             ["k per class", "method", "test accuracy (mean)", "std", "seconds (mean)"], rows,
             note="Seconds, compilation excluded: state 1 is one call of feature extraction + "
                  "class means + prediction (median of 5); the trained states are the median "
                  "epoch time x epochs. `fit(frozen=...)` stops the gradient at the frozen body "
                  "(XLA drops its backward pass) and zeroes its updates.")
    ex.text("Fine-tuning is continued training (3.7.3): states 2 and 3 and the scratch run are the "
            "same `fit` call and differ only in `init=` (restored body + fresh head, or none) and "
            "`frozen=` (state 2 freezes the body, params key `0_serial`).")
    ex.metrics["shots"] = list(SHOTS)
    ex.metrics["test_accuracy"] = {m: {"mean": acc[m].mean(1), "std": acc[m].std(1)}
                                   for m in METHODS}
    ex.metrics["seconds"] = {m: secs[m].mean(1) for m in METHODS}

    mean = {m: acc[m].mean(1) for m in METHODS}
    p1, p2, p3, sc = (mean[m] for m in METHODS)
    n1, n2, n3, ns = METHODS
    d = p3 - sc
    se = [np.hypot(sem(a), sem(b)) for a, b in zip(acc[n3], acc[ns])]  # of the gain, per k
    ex.verdict_cases("With only a few labelled examples per class, fine-tuning a pre-trained "
                     "network (state 3) beats training the same network from scratch (3.7.2; "
                     "'beats': mean gain > 2 standard errors)",
                     {str(k): di > 2 * e for k, di, e in zip(SHOTS, d, se)},
                     "state 3 - scratch: " + ", ".join(f"k={k}: {di:+.3f} (se {e:.3f})"
                                                       for k, di, e in zip(SHOTS, d, se)),
                     subject="k", ordered=True)
    t = {m: secs[m].mean() for m in METHODS}
    ex.verdict("State 1 (predict only) is the fastest (3.7.4)", t[n1] < min(t[n2], t[n3]),
               f"mean seconds: state 1 {t[n1]:.3f}, state 2 {t[n2]:.3f}, state 3 {t[n3]:.3f}")
    # the time per epoch of states 2 and 3 on all of digits 5-9 (the few-shot runs above are a
    # few milliseconds each, too short to time apart): fit's epoch seconds, compiling epoch
    # excluded, one value per epoch
    TIMED, timed_data = ex.pick(12, 1), ex.pick(new_pool, (new_pool[0][:32], new_pool[1][:32]))
    per_epoch = {}
    for how in ("last", "all"):
        params = {"0_serial": restored.params["0_serial"],
                  "1_dense": model.init(jax.random.key(5), (8, 8, 1))[0]["1_dense"]}
        _, h = fit(model, softmax_cross_entropy, optim.adam(LR), timed_data, epochs=TIMED + 1,
                   batch_size=32, key=jax.random.key(5), init=(params, restored.state),
                   frozen=["0_serial"] if how == "last" else (), verbose=0)
        per_epoch[how] = np.asarray(h.seconds[1:])
    s2, s3 = per_epoch["last"], per_epoch["all"]
    ex.metrics["epoch_seconds"] = {"state 2": s2, "state 3": s3}
    ex.verdict("State 3 (train everything) costs more time than state 2 (last layer only) (3.7.4): "
               f"seconds per epoch on all {len(timed_data[0])} digits 5-9 higher by 2 SE",
               exceeds(s3, s2),
               f"s/epoch (batch 32, {len(s2)} timed epochs): state 3 {s3.mean():.4f} ± "
               f"{sem(s3):.4f} vs state 2 {s2.mean():.4f} ± {sem(s2):.4f} "
               f"(ratio {s3.mean() / s2.mean():.2f})")
    greedy_pretraining(ex, x_train, y_train, x_test, y_test)
    gain = p3 - p2
    ex.verdict_cases("State 3 is considerably more accurate than state 2 (>= 2 points) (3.7.4)",
                     {str(k): g >= 0.02 for k, g in zip(SHOTS, gain)},
                     "state 3 - state 2: " + ", ".join(f"k={k}: {g:+.3f}"
                                                       for k, g in zip(SHOTS, gain)),
                     subject="k", ordered=True)

    fig, axes = plot.figure(2)
    for m in METHODS:
        axes[0, 0].errorbar(SHOTS, acc[m].mean(1), yerr=acc[m].std(1), marker="o", capsize=3,
                            label=m)
    axes[0, 0].set_xscale("log")
    axes[0, 0].set_xticks(SHOTS, [str(k) for k in SHOTS])
    plot.label(axes[0, 0], "digits 5-9 after pre-training on 0-4", "examples per class (log)",
               "test accuracy", legend=True)
    names = list(METHODS)
    axes[0, 1].bar(range(4), [t[m] for m in names], color=[f"C{i}" for i in range(4)])
    axes[0, 1].set_xticks(range(4), ["state 1\npredict", "state 2\nlast layer", "state 3\nall",
                                     "scratch"])
    plot.label(axes[0, 1], "time per run (mean over k and seeds)", "", "seconds")
    ex.figure(fig, "finetune.png",
              "Accuracy vs examples per class (mean +- std over seeds) and time")
    return ex.finish()


if __name__ == "__main__":
    run(main)
