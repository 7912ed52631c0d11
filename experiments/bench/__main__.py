"""Benchmarks (issue 7): jaxdl against the same model written by hand in plain JAX + optax (the
floor) and the idiomatic loops of Flax NNX, Equinox and Haiku (when installed), on whatever device
JAX finds. Every ratio is jaxdl / baseline measured in one process, interleaved A B, B A, ...,
as the median of the per-pair ratios of >= 7 repetitions after warm-up, `block_until_ready`
before each clock read; [IQR] is those ratios' interquartile range. Time to first result runs
each library in a fresh process; data parallel runs in a process with 4 forced host devices.
Quick mode (QUICK=1) shrinks everything to a smoke test (its numbers mean nothing).

`python -m experiments.bench` from the repository root (`make bench`); results in results/bench/.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments._harness import Experiment, run
from experiments.bench import coldstart, parallel, peers, precision, stream
from experiments.bench.notes import explain
from experiments.bench.util import (
    Paired, Row, analyze, copy_bandwidth, figure, fmt_s, matmul_rate, paired, seconds, table,
)
from jaxdl import optim, schedules
from jaxdl.losses import accuracy, softmax_cross_entropy
from jaxdl.sweep import vmap_fit
from jaxdl.train import fit, init_state, make_train_step

ROOT = Path(__file__).resolve().parents[2]  # the subprocesses run `python -m` from here


class Bench:
    """What the sections share: the Experiment, the table's rows, the facts the notes quote, the
    table's columns and the peers' loops. Section 0 adds the Adam sizes (`n_opt`, `copy`);
    section 3 the MNIST-1D run the later sections reuse (`data`, `model`, `adam`, `epochs`,
    `acc`, `run_fit`, `cold_run`, `fit_vs_scan`)."""

    def __init__(self, ex: Experiment):
        self.ex, self.quick = ex, ex.quick
        self.reps = ex.pick(9, 2)
        self.rows: list[Row] = []
        self.facts: dict[str, Any] = {}  # numbers the notes quote
        available = peers.available()  # quick: the hand-written loop and one peer (same code)
        self.available = ex.pick(available, dict(list(available.items())[:2]))
        self.columns = ["jaxdl", "JAX+optax",
                        *[p for p in ("Flax NNX", "Equinox", "Haiku") if p in self.available]]

    def inspect(self, jitted: Callable, *args: Any) -> tuple[float, dict[str, int]]:
        """(FLOPs, HLO instruction counts) of one call; skipped (NaN, {}) in quick mode: compiles
        cost."""
        return (float("nan"), {}) if self.quick else analyze(jitted, *args)

    def log(self, msg: str) -> None:
        print(f"[bench] {time.perf_counter() - self.ex.t0:5.0f}s {msg}", flush=True)

    def add(self, measure: str, short: str, jaxdl_s: float, base_s: float, base: str, p: Paired,
            target: float, higher: bool = False, values: dict | None = None,
            fmt: Callable[[float], str] = fmt_s) -> None:
        row = Row(measure, short, {"jaxdl": fmt(jaxdl_s), base: fmt(base_s), **(values or {})},
                  base, p.ratio, p.q1, p.q3, target, higher)
        self.rows.append(row)
        self.ex.metrics.setdefault("measures", {})[measure] = {
            "jaxdl": jaxdl_s, "baseline": base_s, "baseline_name": base, "ratio": p.ratio,
            "q1": p.q1, "q3": p.q3, "target": target, "higher_is_better": higher,
            "verdict": row.verdict, "pass": row.verdict == "pass"}
        print(f"  {measure}: {p.ratio:.3f} [{p.q1:.3f}, {p.q3:.3f}] target {target}: "
              f"{row.verdict}", flush=True)


def main(quick: bool) -> Experiment:
    ex = Experiment("bench", "speed against hand-written JAX+optax, Flax NNX, Equinox and Haiku",
                    "issue 7 (benchmarks)", quick=quick)
    b = Bench(ex)
    dev = jax.devices()[0]
    ex.setting(device=dev.device_kind, platform=dev.platform, devices=jax.device_count(),
               jax=jax.__version__, optax=optax.__version__, reps=b.reps, cores=os.cpu_count(),
               load_at_start=" ".join(f"{v:.1f}" for v in os.getloadavg()))
    # optax and the peers promote dtypes and ranks implicitly: every section runs as in a plain
    # process (JAX's defaults), also inside a stricter caller (the tests); both settings are part
    # of jit's cache key and end with the block
    with jax.numpy_dtype_promotion("standard"), jax.numpy_rank_promotion("allow"):
        floors(b)
        train_steps(b)
        precision.section(b)
        optimizer_update(b)
        whole_run(b)
        cold_start(b)
        first_result(b)
        sweep(b)
        schedule_cost(b)
        data_parallel(b)
        streaming(b)
        recurrent(b)
        report(b, f"jaxdl / baseline on {dev.device_kind} ({os.cpu_count()} cores)")
    return ex.finish()


def floors(b: Bench) -> None:
    """0. The machine's floors: matmul rate and copy bandwidth."""
    b.log("0. matmul rate and copy bandwidth")
    b.n_opt = b.ex.pick(10_000_000, 20_000)
    mm = b.ex.pick(1024, 256)
    rate = matmul_rate(mm)
    b.copy = {leaves: copy_bandwidth(b.n_opt, leaves)
              for leaves in b.ex.pick((20, 2000), (2, 20))}
    b.ex.metrics.update(matmul_flops_per_s=rate, copy_bytes_per_s=b.copy)
    b.facts.update(rate=rate, copy=b.copy, mm=mm, reps=b.reps)


def train_step_pair(b: Bench, name: str, short: str, model, shape, hand_params, hand_apply,
                    batch: int, inner: int) -> None:
    """Time jaxdl's jitted Adam step against the same step written by hand, `inner` steps per
    sample; record the FLOPs and HLO instruction counts of both."""
    x = jax.random.normal(jax.random.key(0), (batch, *shape), jnp.float32)
    y = jax.random.randint(jax.random.key(1), (batch,), 0, 10)
    opt, tx = optim.adam(1e-3), optax.adam(1e-3)
    ts = [init_state(model, opt, shape, jax.random.key(0))]
    jstep = jax.jit(make_train_step(model, softmax_cross_entropy, opt))
    hc = [(hand_params, tx.init(hand_params))]
    hstep = peers.hand_step(hand_apply, tx)

    def run_a():
        for _ in range(inner):
            ts[0], _m = jstep(ts[0], x, y)
        return ts[0].params

    def run_b():
        for _ in range(inner):
            hc[0], _l = hstep(hc[0], x, y)
        return hc[0][0]

    p = paired(run_a, run_b, b.ex.pick(15, b.reps), warm=2)  # 15: a 2% target needs them
    f, ops_j = b.inspect(jstep, ts[0], x, y)
    ops = (ops_j, b.inspect(hstep, hc[0], x, y)[1])
    b.facts.setdefault("step", {})[short] = {"flops": f, "seconds": p.a / inner, "ops": ops}
    b.add(f"train step: {name}", short, p.a / inner, p.b / inner, "JAX+optax", p, 1.02)


def train_steps(b: Bench) -> None:
    """1. One jitted train step: jaxdl's against the same step by hand."""
    b.log("1. train step")
    S, W = b.ex.pick((512, 2048), (32, 64))
    train_step_pair(b, f"MLP 40-{S}-{S}-10, batch 128", f"step: MLP 40-{S}-{S}-10",
                    peers.mlp([S, S]), (40,), peers.hand_mlp([40, S, S, 10], jax.random.key(2)),
                    peers.hand_mlp_apply, 128, 20)
    if not b.quick:  # quick: the MLP alone (same code path)
        train_step_pair(b, "CNN 8x8x1 digits (conv16-pool-conv32-pool-dense10), batch 128",
                        "step: CNN 8x8x1", peers.cnn(), (8, 8, 1),
                        peers.hand_cnn_params(jax.random.key(3)), peers.hand_cnn_apply, 128, 20)
        train_step_pair(b, f"MLP 784-{W}x3-10, batch 256", f"step: MLP 784-{W}x3-10",
                        peers.mlp([W, W, W]), (784,),
                        peers.hand_mlp([784, W, W, W, 10], jax.random.key(4)),
                        peers.hand_mlp_apply, 256, 2)


def optimizer_update(b: Bench) -> None:
    """2. The Adam update alone against optax's, and its bandwidth against a plain copy."""
    b.log("2. optimizer update")
    n_opt, copy = b.n_opt, b.copy
    few = min(copy)
    for leaves in copy:
        params = [jnp.full((n_opt // leaves,), 0.5, jnp.float32) for _ in range(leaves)]
        grads = [jnp.full((n_opt // leaves,), 0.01, jnp.float32) for _ in range(leaves)]

        def updater(opt, apply):
            def f(p, s, g):
                u, s = opt.update(g, s, p)
                return apply(p, u), s
            return jax.jit(f)

        jo, oo = optim.adam(1e-3), optax.adam(1e-3)
        ja, oa = [(params, jo.init(params))], [(params, oo.init(params))]
        fj, fo = updater(jo, optim.apply_updates), updater(oo, optax.apply_updates)

        def run_j():
            ja[0] = fj(*ja[0], grads)
            return ja[0]

        def run_o():
            oa[0] = fo(*oa[0], grads)
            return oa[0]

        p = paired(run_j, run_o, b.reps, warm=2)
        m = f"{n_opt / 1e6:g}M params in {leaves} leaves"
        b.facts.setdefault("adam", {})[leaves] = {
            "jaxdl": p.a, "optax": p.b, "fusions": (b.inspect(fj, *ja[0], grads)[1].get("fusion"),
                                                    b.inspect(fo, *oa[0], grads)[1].get("fusion"))}
        b.add(f"Adam update, {m}", f"Adam {leaves} leaves vs optax", p.a, p.b, "JAX+optax", p,
              1.0, values={"JAX+optax": fmt_s(p.b) + " (optax.adam)"})
        bw = 28 * n_opt / p.a
        slow, fast = np.quantile(p.ta, [0.75, 0.25])
        spread = p._replace(ratio=bw / copy[few], q1=28 * n_opt / slow / copy[few],
                            q3=28 * n_opt / fast / copy[few])
        b.add(f"Adam bandwidth (28 B/param), {m}, vs copy bandwidth ({few} arrays)",
              f"Adam {leaves} leaves bandwidth", bw, copy[few], "copy x+1", spread, 0.6,
              higher=True,
              values={"JAX+optax": f"{28 * n_opt / p.b / 1e9:.3g} GB/s (optax)",
                      "copy x+1": f"{copy[few] / 1e9:.3g} GB/s"},
              fmt=lambda v: f"{v / 1e9:.3g} GB/s")


def whole_run(b: Bench) -> None:
    """3. A whole MNIST-1D training run: fit against one lax.scan per epoch by hand, and against
    each library's Python loop."""
    b.log("3. whole training run")
    ex = b.ex
    b.data = peers.mnist1d_numpy(b.quick)
    xtr, ytr, xte, yte = b.data
    b.epochs, BATCH = ex.pick(50, 2), peers.BATCH
    STEPS = len(xtr) // BATCH
    ex.setting(mnist1d_train=len(xtr), mnist1d_val=len(xte), epochs=b.epochs, batch=BATCH)
    b.model = model = peers.mlp([peers.HIDDEN, peers.HIDDEN])
    b.adam = adam = optim.adam(peers.LR)
    b.acc = acc = {}

    def run_fit():
        ts, hist = fit(model, softmax_cross_entropy, adam, (xtr, ytr), val=(xte, yte),
                       epochs=b.epochs, batch_size=BATCH, key=jax.random.key(0), verbose=0)
        acc["jaxdl"] = float(hist.val_accuracy[-1])
        return ts.params

    b.run_fit = run_fit
    tx = optax.adam(peers.LR)
    xd, yd, vxd, vyd = (jnp.asarray(a) for a in b.data)
    rows_of = jax.jit(lambda k: jax.random.permutation(k, len(xtr))[:STEPS * BATCH]
                      .reshape(STEPS, BATCH))

    def scan_epoch(same_outputs):
        """One epoch as one lax.scan, written by hand; `same_outputs`: also the per-step accuracy
        and the validation loss, i.e. everything fit's History records."""
        def body(c, idx):
            params, s = c
            out, g = jax.value_and_grad(
                lambda p: (lambda z: (peers.xent(z, yd[idx]), z))(peers.hand_mlp_apply(p, xd[idx])),
                has_aux=True)(params)
            u, s = tx.update(g, s, params)
            a = jnp.mean(jnp.argmax(out[1], -1) == yd[idx]) if same_outputs else 0.0
            return (optax.apply_updates(params, u), s), (out[0], a)

        def epoch(c, e):
            c, (loss, a) = jax.lax.scan(body, c, rows_of(jax.random.fold_in(jax.random.key(1), e)))
            z = peers.hand_mlp_apply(c[0], vxd)
            logs = {"val_accuracy": jnp.mean(jnp.argmax(z, -1) == vyd)}
            if same_outputs:
                logs.update(train_loss=jnp.mean(loss), train_accuracy=jnp.mean(a),
                            val_loss=peers.xent(z, vyd))
            return c, logs
        return jax.jit(epoch)

    h_epochs = {True: scan_epoch(True), False: scan_epoch(False)}  # compiled on first use

    def run_scan(same_outputs):
        p0 = peers.hand_mlp([40, peers.HIDDEN, peers.HIDDEN, 10], jax.random.key(0))
        c, logs = (p0, tx.init(p0)), []
        for e in range(b.epochs):
            c, out = h_epochs[same_outputs](c, np.int32(e))
            logs.append(out)
        acc["hand scan" if same_outputs else "hand scan, val accuracy only"] = float(
            jax.device_get(logs)[-1]["val_accuracy"])
        return c[0]

    b.cold_run = {"jaxdl": seconds(run_fit)}  # quick's stand-in for the fresh-process first result
    b.fit_vs_scan = fit_vs_scan = paired(run_fit, lambda: run_scan(True), b.reps, warm=1)
    fit_vs_min = (fit_vs_scan if b.quick
                  else paired(run_fit, lambda: run_scan(False), b.reps, warm=1))
    loop_times = {}

    def run_loop(name, loop):
        c, acc[name] = peers.run(loop, b.data, b.epochs)
        return c

    for name, make in b.available.items():
        loop = make()
        b.cold_run[name] = seconds(lambda: run_loop(name, loop))
        loop_times[name] = paired(run_fit, lambda: run_loop(name, loop), min(b.reps, 7), warm=0)
        b.log(f"   {name} loop {loop_times[name].b:.3f} s")
    step_flops = b.inspect(jax.jit(make_train_step(model, softmax_cross_entropy, adam,
                                                   metrics=(accuracy,))),
                           init_state(model, adam, (40,), jax.random.key(0)), xd[:BATCH],
                           yd[:BATCH])[0]
    b.facts.update(fit=fit_vs_scan, fit_min=fit_vs_min, loops=loop_times, step_flops=step_flops,
                   steps=b.epochs * STEPS, epochs=b.epochs,
                   eval_flops=2 * len(xte) * (40 * 100 + 100 * 100 + 100 * 10))
    run_cols = {"JAX+optax": fmt_s(fit_vs_scan.b) + " (scan)"}
    run_cols.update({n: fmt_s(t.b) for n, t in loop_times.items() if n != "JAX+optax"})
    b.add(f"MNIST-1D MLP, {b.epochs} epochs with validation: fit vs one lax.scan per epoch by "
          "hand", "run: fit vs hand scan", fit_vs_scan.a, fit_vs_scan.b, "JAX+optax", fit_vs_scan,
          1.05, values=run_cols)
    best = min([n for n in loop_times if n != "JAX+optax"] or list(loop_times),
               key=lambda n: loop_times[n].b)  # only the hand loop when no peer is installed
    py_cols = {n: fmt_s(t.b) + (" (Python loop)" if n == "JAX+optax" else "")
               for n, t in loop_times.items()}
    b.add(f"MNIST-1D MLP, {b.epochs} epochs: fit vs the best peer's Python loop ({best})",
          "run: fit vs best peer", loop_times[best].a, loop_times[best].b, best, loop_times[best],
          0.5, values=py_cols)


def cold_start(b: Bench) -> None:
    """3b. Cold start (issue 12): a fresh 30-epoch fit (new model and optimizer, compile
    included) vs the same run hand-written, both after `jax.clear_caches()`; a second fit with new
    but equal objects vs the first; predict on 5 examples vs a hand-held jit of model.apply."""
    b.log("3b. cold start")
    epochs, reps = b.ex.pick(30, 2), b.ex.pick(5, 1)
    args = (b.data, epochs, peers.BATCH, peers.LR, peers.HIDDEN)
    first = coldstart.cold(coldstart.fit_run(*args))
    hand = coldstart.cold(coldstart.hand_run(*args))
    p = paired(first, hand, reps, warm=0)
    b.add(f"cold {epochs}-epoch MNIST-1D MLP run, compile included: fit vs hand scan",
          "cold run: fit vs hand scan", p.a, p.b, "JAX+optax", p, 1.2,
          values={"JAX+optax": fmt_s(p.b) + " (scan)"})
    again = coldstart.fit_run(*args)
    q = paired(again, first, reps, warm=1)  # `again` after a warm-up: new objects, no compile
    b.add(f"second {epochs}-epoch fit with new but equal model and optimizer vs the first (cold)",
          "second fit vs first", q.a, q.b, "first fit", q, 0.3,
          values={"first fit": fmt_s(q.b)})
    mine, held = coldstart.predict_pair(peers.HIDDEN, b.data[2])
    r = paired(mine, held, b.ex.pick(15, 3), warm=2)
    b.add("predict on 5 examples (warm) vs a hand-held jax.jit of model.apply",
          "predict vs held jit", r.a, r.b, "held jit", r, 2.0, values={"held jit": fmt_s(r.b)})
    b.columns += ["first fit", "held jit"]


def first_result(b: Bench) -> None:
    """4. Time to first result: each library in a fresh process (quick: section 3's first runs)."""
    b.log("4. time to first result")
    names = ["jaxdl", *b.available]
    if b.quick:  # the first (compiling) runs of section 3, in this process: a smoke test
        first = {n: [{"first_step": b.cold_run[n], "first_epoch": b.cold_run[n]}] for n in names}
    else:  # a fresh process per library and run, the libraries interleaved
        first: dict[str, list[dict]] = {}
        for i in range(3):  # jaxdl and Flax NNX (the target) 3 times, the others once
            for name in (n for n in names if i == 0 or n in ("jaxdl", "Flax NNX")):
                out = subprocess.run([sys.executable, "-m", "experiments.bench.peers", name],
                                     capture_output=True, text=True, timeout=300, cwd=ROOT,
                                     env={**os.environ, "CI": "1"})
                if out.returncode:
                    raise RuntimeError(f"first result of {name} failed:\n{out.stderr[-3000:]}")
                first.setdefault(name, []).append(json.loads(out.stdout.strip().splitlines()[-1]))
    med = {n: {k: float(np.median([r[k] for r in v])) for k in v[0]} for n, v in first.items()}
    b.ex.metrics["first_result_seconds"] = {"runs": first, "median": med}
    b.facts["first"] = med
    if "Flax NNX" in med:
        ratios = sorted(a["first_step"] / c["first_step"]
                        for a, c in zip(first["jaxdl"], first["Flax NNX"]))
        q = np.quantile(ratios, [0.5, 0.25, 0.75])
        b.add("time to first result (fresh process; jaxdl: fit's first epoch + validation, "
              "peers: init + first step)", "first result vs Flax NNX",
              med["jaxdl"]["first_step"], med["Flax NNX"]["first_step"], "Flax NNX",
              b.fit_vs_scan._replace(ratio=float(q[0]), q1=float(q[1]), q3=float(q[2])), 1.0,
              values={n: fmt_s(v["first_step"]) for n, v in med.items()})


def make_adam(learning_rate):  # module-level: vmap_fit's jit cache keys on the function
    return optim.adam(learning_rate)


def sweep(b: Bench) -> None:
    """5. A learning-rate sweep: one vmap_fit against K sequential fits."""
    b.log("5. sweep")
    xtr, ytr, xte, yte = b.data
    K, SW_EPOCHS = b.ex.pick((16, 10), (2, 1))
    lrs = np.logspace(-3.5, -1.5, K).astype(np.float32)
    b.ex.setting(sweep=f"{K} learning rates x {SW_EPOCHS} epochs")
    # each compiles once, in the warm-up (quick: section 3's, already compiled: a smoke test)
    seq_opts = b.ex.pick([optim.adam(float(lr)) for lr in lrs], [b.adam] * K)

    def sweep_vmap():
        ts, _h = vmap_fit(b.model, softmax_cross_entropy, make_adam,
                          (xtr, ytr), hparams={"learning_rate": lrs}, keys=jax.random.key(0),
                          val=(xte, yte), epochs=SW_EPOCHS, batch_size=peers.BATCH)
        return ts.params

    def sweep_seq():
        return [fit(b.model, softmax_cross_entropy, opt, (xtr, ytr), val=(xte, yte),
                    epochs=SW_EPOCHS, batch_size=peers.BATCH, key=jax.random.key(0),
                    verbose=0)[0].params for opt in seq_opts]

    cold = {"vmap_fit": time.perf_counter()}
    jax.block_until_ready(sweep_vmap())
    cold["vmap_fit"] = time.perf_counter() - cold["vmap_fit"]
    cold["fits"] = time.perf_counter()
    jax.block_until_ready(sweep_seq())
    cold["fits"] = time.perf_counter() - cold["fits"]
    sw = paired(sweep_vmap, sweep_seq, max(1, b.reps // 2 + 1), warm=0)
    b.facts.update(sweep=sw, sweep_cold=cold, K=K,
                   sweep_steps=SW_EPOCHS * (len(xtr) // peers.BATCH))
    b.add(f"sweep: {K} learning rates x {SW_EPOCHS} epochs, vmap_fit vs {K} sequential fits "
          "(both compiled)", "sweep vs sequential fits", sw.a, sw.b, f"{K} x fit", sw, 0.25,
          values={f"{K} x fit": fmt_s(sw.b)})
    b.columns.append(f"{K} x fit")


def lr_const(step):  # a schedule that costs nothing to evaluate: the baseline of the cost
    return jnp.asarray(1e-2, jnp.float32)


def schedule_cost(b: Bench) -> None:
    """6. What evaluating a schedule adds to a train step, and what having one at all costs."""
    b.log("6. schedules")
    T = 1000.0
    sched = {
        "piecewise_constant": schedules.piecewise_constant([300, 600], [1e-2, 1e-3, 1e-4]),
        "exponential_decay": schedules.exponential_decay(1e-2, T, 0.5),
        "natural_exp_decay": schedules.natural_exp_decay(1e-2, T, 0.5),
        "inverse_time_decay": schedules.inverse_time_decay(1e-2, T, 0.5),
        "polynomial_decay": schedules.polynomial_decay(1e-2, T),
        "cosine_decay": schedules.cosine_decay(1e-2, T),
        "linear_cosine_decay": schedules.linear_cosine_decay(1e-2, T),
        "noisy_linear_cosine_decay": schedules.noisy_linear_cosine_decay(1e-2, T),
        "cosine_decay_restarts": schedules.cosine_decay_restarts(1e-2, 100.0),
        "warmup(cosine_decay)": schedules.warmup(schedules.cosine_decay(1e-2, T), 100.0),
    }
    sched = b.ex.pick(sched, {k: sched[k] for k in ("warmup(cosine_decay)",)})
    xd, yd = (jnp.asarray(a) for a in b.data[:2])
    xb, yb = xd[:peers.BATCH], yd[:peers.BATCH]

    def stepper(opt, inner=50, donate=False):
        st = jax.jit(make_train_step(b.model, softmax_cross_entropy, opt),
                     donate_argnums=(0,) if donate else ())
        box = [init_state(b.model, opt, (40,), jax.random.key(0))]

        def run_steps():
            for _ in range(inner):
                box[0], _m = st(box[0], xb, yb)
            return box[0].params
        return run_steps, sum(b.inspect(st, box[0], xb, yb)[1].values())

    base, base_ops = stepper(optim.adam(lr_const))
    sched_p, sched_ops = {}, {}
    for name, s in sched.items():
        run_s, sched_ops[name] = stepper(optim.adam(s))
        sched_p[name] = paired(run_s, base, b.reps + 2, warm=1)
    worst = max(sched_p, key=lambda n: sched_p[n].ratio)
    path = {}  # the cost of having a schedule at all (a step count in the state, a run-time lr)
    if not b.quick:
        optax_cos = stepper(optax.adam(optax.cosine_decay_schedule(1e-2, 1000)))[0]
        path = {"jaxdl: schedule returning 1e-2 / float 1e-2": (base,
                                                               stepper(optim.adam(1e-2))[0]),
                "optax: cosine_decay_schedule / float 1e-2": (optax_cos,
                                                              stepper(optax.adam(1e-2))[0]),
                "cosine_decay: jaxdl / optax": (stepper(optim.adam(sched["cosine_decay"]))[0],
                                                optax_cos),
                "jaxdl, state donated (donate_argnums): schedule returning 1e-2 / float 1e-2":
                    (stepper(optim.adam(lr_const), donate=True)[0],
                     stepper(optim.adam(1e-2), donate=True)[0])}
        path = {n: paired(fa, fb, b.reps + 2, warm=1) for n, (fa, fb) in path.items()}
    b.facts.update(sched=sched_p, sched_ops=sched_ops, base_ops=base_ops, sched_path=path)
    b.ex.metrics["schedules"] = {n: {"ratio": p.ratio, "q1": p.q1, "q3": p.q3,
                                     "hlo_ops": sched_ops[n], "baseline_hlo_ops": base_ops}
                                 for n, p in sched_p.items()}
    b.ex.metrics["schedule_path"] = {n: {"ratio": p.ratio, "q1": p.q1, "q3": p.q3}
                                     for n, p in path.items()}
    b.ex.table("Schedules: jitted MLP train step (MNIST-1D MLP, batch 100, 50 steps per sample) "
               "with the schedule / with a schedule that returns the constant 1e-2 (the "
               "evaluation cost); below the line, the cost of a schedule path itself, for jaxdl "
               "and optax",
               ["schedule", "step time ratio", "IQR", f"HLO instructions (baseline {base_ops})"],
               [[n, f"{p.ratio:.3f}", f"[{p.q1:.3f}, {p.q3:.3f}]", sched_ops[n]]
                for n, p in sched_p.items()]
               + [[f"*{n}*", f"{p.ratio:.3f}", f"[{p.q1:.3f}, {p.q3:.3f}]", "-"]
                  for n, p in path.items()])
    b.columns.append("constant schedule")
    b.add(f"schedules: step time with the worst schedule ({worst}) vs a schedule returning the "
          "constant", "schedules (worst)", sched_p[worst].a / 50, sched_p[worst].b / 50,
          "constant schedule", sched_p[worst], 1.05,
          values={"constant schedule": fmt_s(sched_p[worst].b / 50)})


def data_parallel(b: Bench) -> None:
    """7. fit over every device against one device: equal results (quick: in this process, on the
    devices it has; full: a process of its own with 4 forced host devices)."""
    b.log("7. data parallel")
    if b.quick:
        dp = parallel.main(b.epochs, 1, True, b.model, b.adam)
    else:
        env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "CI": "1"}
        out = subprocess.run([sys.executable, "-m", "experiments.bench.parallel", "5", "5"],
                             capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
        if out.returncode:
            raise RuntimeError(f"data parallel failed:\n{out.stderr[-3000:]}")
        dp = json.loads(out.stdout.strip().splitlines()[-1])
    b.ex.metrics["data_parallel"] = b.facts["dp"] = dp
    equal = dp["max_param_diff"] <= 1e-5 and dp["max_train_loss_rel_diff"] <= 1e-5
    scale = dp["samples_per_s_all"] / dp["samples_per_s_one"]
    b.rows.append(Row(f"data parallel: fit over {dp['devices']} {dp['device']} devices vs 1 "
                      "device (same key), samples/s", "data parallel (equal results)",
                      {"jaxdl": f"{dp['samples_per_s_all']:.3g}/s",
                       "1 device": f"{dp['samples_per_s_one']:.3g}/s"}, "1 device", scale, scale,
                      scale, 0.0, ok=equal,
                      target_text=f"equal to 1e-5 (max diff {dp['max_param_diff']:.1e})"))
    b.ex.metrics["measures"]["data parallel"] = {"ratio": scale, "equal": equal, "pass": equal,
                                                 "verdict": "pass" if equal else "miss"}
    b.columns.append("1 device")


def streaming(b: Bench) -> None:
    """8. fit from a memory-mapped .npy file 4x the in-memory cap (2 GiB vs 512 MiB) against the
    in-memory fit of a subset that fits: seconds per example, and the streaming process's peak
    RSS (each run in a process of its own; quick: a small file, in this process)."""
    import tempfile

    b.log("8. streaming from a file larger than memory")
    rows = b.ex.pick(2 * 2**30 // (4 * stream.FEATURES), 40_000)  # 2 GiB of x
    subset = b.ex.pick(1_000_000, 20_000)
    with tempfile.TemporaryDirectory() as directory:
        if b.quick:
            stream.make(directory, rows, quick=True)
            out = {k: stream.run(k, directory, subset) for k in ("stream", "memory")}
        else:
            def python(*args):
                done = subprocess.run([sys.executable, "-m", "experiments.bench.stream", *args],
                                      capture_output=True, text=True, timeout=1800,
                                      env={**os.environ, "CI": "1"}, cwd=ROOT)
                if done.returncode:
                    raise RuntimeError(f"streaming {args[0]} failed:\n{done.stderr[-3000:]}")
                return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""

            python("make", directory, str(rows))
            out = {k: json.loads(python(k, directory, str(subset))) for k in ("stream", "memory")}
    st, mem = out["stream"], out["memory"]
    ratio = st["s_per_example"] / mem["s_per_example"]
    rss_ok = st["peak_rss_bytes"] <= 2**30
    b.ex.metrics["streaming"] = b.facts["stream"] = {**out, "ratio": ratio, "rss_ok": rss_ok}
    gib = st["file_bytes"] / 2**30
    b.rows.append(Row(f"streaming: fit from a {gib:.2f} GiB memory-mapped .npy (4x a 512 MiB "
                      f"in-memory cap), epoch time per example vs in-memory fit of "
                      f"{mem['examples']:,} rows", "streaming epoch time",
                      {"jaxdl": f"{st['s_per_example'] * 1e6:.2f} us/ex",
                       "in memory": f"{mem['s_per_example'] * 1e6:.2f} us/ex"}, "in memory",
                      ratio, ratio, ratio, 1.2))
    rss = st["peak_rss_bytes"] / 2**30
    b.rows.append(Row("streaming: peak resident memory of the training process (ru_maxrss) "
                      f"while reading the {gib:.2f} GiB file, as a fraction of 1 GiB",
                      "streaming peak RSS", {"jaxdl": f"{rss * 1024:.0f} MiB"}, "1 GiB", rss, rss,
                      rss, 1.0))
    for row in b.rows[-2:]:
        b.ex.metrics["measures"][row.measure] = {"ratio": row.ratio, "target": row.target,
                                                 "verdict": row.verdict,
                                                 "pass": row.verdict == "pass"}
    if "in memory" not in b.columns:
        b.columns.append("in memory")


def recurrent(b: Bench) -> None:
    """9. The MNIST-1D paper's GRU (bidirectional, 6 units): fit's train step against the same GRU
    written by hand as a lax.scan with optax (experiments/bench/gru.py); full runs only (quick:
    two more full compiles, about 15 CPU-seconds, for a number that means nothing)."""
    if b.quick:
        return
    b.log("9. GRU train step")
    r = gru.measure(False)
    b.add("GRU train step (MNIST-1D paper's bidirectional GRU, 6 units, batch 100): fit vs the "
          "same GRU as a hand-written lax.scan + optax", "GRU: fit vs hand scan", r["fit_step_s"],
          r["hand_step_s"], "JAX+optax",
          Paired(r["fit_step_s"], r["hand_step_s"], r["ratio"], r["q1"], r["q3"]), 1.05)


def report(b: Bench, title: str) -> None:
    """The tables, one verdict per measure, the notes and the figure."""
    ex = b.ex
    ex.setting(load_at_end=" ".join(f"{v:.1f}" for v in os.getloadavg()))
    ex.table("MNIST-1D MLP 40-100-100-10, Adam 1e-2: final validation accuracy (same batches and "
             "number of steps; init draws differ by library)", ["loop", "final val accuracy"],
             [[k, f"{v:.3f}"] for k, v in b.acc.items()])
    headers, body = table(b.rows, b.columns)
    ex.table("Benchmarks: jaxdl / baseline (median of per-pair ratios of interleaved "
             "repetitions)", headers, body,
             "Notes:\n\n" + "\n".join(f"- {n}" for n in explain(b.rows, b.facts, b.quick)))
    for r in b.rows:
        ex.verdict(f"{r.short}: " + (r.target_text or f"ratio {'>=' if r.higher else '<='} "
                                     f"{r.target:g}"),
                   r.verdict == "pass", f"ratio {r.ratio:.3f} [{r.q1:.3f}, {r.q3:.3f}] "
                   f"({r.verdict})")
    ex.figure(figure(b.rows, title), "bench.png",
              "Ratios with their IQR and targets (green pass, olive tie, red miss)")


if __name__ == "__main__":
    run(main)
