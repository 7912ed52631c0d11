"""Benchmarks (issue 7): jaxdl against the same model written by hand in plain JAX + optax (the
floor) and the idiomatic loops of Flax NNX, Equinox and Haiku (when installed), on whatever device
JAX finds. Every ratio is jaxdl / baseline measured in one process, interleaved A B, B A, ...,
as the median of the per-pair ratios of >= 7 repetitions after warm-up, `block_until_ready`
before each clock read; [IQR] is those ratios' interquartile range. Time to first result runs
each library in a fresh process; data parallel runs in a process with 4 forced host devices.
QUICK=1 shrinks everything to a smoke test (its numbers mean nothing)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

if os.environ.get("QUICK", "0") not in ("", "0"):  # a smoke test: compile fast, run slow
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + " --xla_backend_optimization_level=0").strip()
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from _harness import QUICK, Experiment  # noqa: E402

sys.path.append(str(Path(__file__).resolve().parent))  # the _bench_* helpers (after packages)
import _bench_peers as peers  # noqa: E402
from _bench_notes import explain  # noqa: E402
from _bench_util import (  # noqa: E402
    Row, analyze, copy_bandwidth, figure, fmt_s, matmul_rate, paired, seconds, table,
)

from jaxdl import optim, schedules  # noqa: E402
from jaxdl.losses import accuracy, softmax_cross_entropy  # noqa: E402
from jaxdl.sweep import vmap_fit  # noqa: E402
from jaxdl.train import fit, init_state, make_train_step  # noqa: E402

ex = Experiment("bench", "speed against hand-written JAX+optax, Flax NNX, Equinox and Haiku",
                "issue 7 (benchmarks)")
REPS = 2 if QUICK else 9
dev = jax.devices()[0]
ex.setting(device=dev.device_kind, platform=dev.platform, devices=jax.device_count(),
           jax=jax.__version__, optax=optax.__version__, reps=REPS, cores=os.cpu_count(),
           load_at_start=" ".join(f"{v:.1f}" for v in os.getloadavg()))
rows: list[Row] = []
facts: dict = {}  # numbers the notes quote
available = peers.available()
if QUICK:  # the hand-written loop and one peer exercise the same code
    available = dict(list(available.items())[:2])
PEERS = [p for p in ("Flax NNX", "Equinox", "Haiku") if p in available]
COLUMNS = ["jaxdl", "JAX+optax", *PEERS]


def inspect(jitted, *args):
    """(FLOPs, HLO instruction counts) of one call; skipped (NaN, {}) in QUICK: compiles cost."""
    return (float("nan"), {}) if QUICK else analyze(jitted, *args)


def log(msg):
    print(f"[bench] {time.perf_counter() - ex.t0:5.0f}s {msg}", flush=True)


def add(measure, short, jaxdl_s, base_s, base, p, target, higher=False, values=None, fmt=fmt_s):
    row = Row(measure, short, {"jaxdl": fmt(jaxdl_s), base: fmt(base_s), **(values or {})},
              base, p.ratio, p.q1, p.q3, target, higher)
    rows.append(row)
    ex.metrics.setdefault("measures", {})[measure] = {
        "jaxdl": jaxdl_s, "baseline": base_s, "baseline_name": base, "ratio": p.ratio,
        "q1": p.q1, "q3": p.q3, "target": target, "higher_is_better": higher,
        "verdict": row.verdict, "pass": row.verdict == "pass"}
    print(f"  {measure}: {p.ratio:.3f} [{p.q1:.3f}, {p.q3:.3f}] target {target}: {row.verdict}",
          flush=True)


# ------------------------------------------------------------------ 0. the machine's floors
log("0. matmul rate and copy bandwidth")
N_OPT = 20_000 if QUICK else 10_000_000
MM = 256 if QUICK else 1024
RATE = matmul_rate(MM)
COPY = {leaves: copy_bandwidth(N_OPT, leaves) for leaves in ((2, 20) if QUICK else (20, 2000))}
ex.metrics.update(matmul_flops_per_s=RATE, copy_bytes_per_s=COPY)
facts.update(rate=RATE, copy=COPY, mm=MM, reps=REPS)


# ------------------------------------------------------------------ 1. train step
def train_step_pair(name, short, model, shape, hand_params, hand_apply, batch, inner):
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

    p = paired(run_a, run_b, REPS if QUICK else 15, warm=2)  # 15: a 2% target needs them
    f, ops_j = inspect(jstep, ts[0], x, y)
    ops = (ops_j, inspect(hstep, hc[0], x, y)[1])
    facts.setdefault("step", {})[short] = {"flops": f, "seconds": p.a / inner, "ops": ops}
    add(f"train step: {name}", short, p.a / inner, p.b / inner, "JAX+optax", p, 1.02)


log("1. train step")
S, W = (32, 64) if QUICK else (512, 2048)
train_step_pair(f"MLP 40-{S}-{S}-10, batch 128", f"step: MLP 40-{S}-{S}-10",
                peers.mlp([S, S]), (40,), peers.hand_mlp([40, S, S, 10], jax.random.key(2)),
                peers.hand_mlp_apply, 128, 20)
if not QUICK:  # QUICK: the MLP alone (same code path)
    train_step_pair("CNN 8x8x1 digits (conv16-pool-conv32-pool-dense10), batch 128",
                    "step: CNN 8x8x1", peers.cnn(), (8, 8, 1),
                    peers.hand_cnn_params(jax.random.key(3)), peers.hand_cnn_apply, 128, 20)
    train_step_pair(f"MLP 784-{W}x3-10, batch 256", f"step: MLP 784-{W}x3-10",
                    peers.mlp([W, W, W]), (784,),
                    peers.hand_mlp([784, W, W, W, 10], jax.random.key(4)),
                    peers.hand_mlp_apply, 256, 2)

# ------------------------------------------------------------------ 2. optimizer update
log("2. optimizer update")
few = min(COPY)
for leaves in COPY:
    params = [jnp.full((N_OPT // leaves,), 0.5, jnp.float32) for _ in range(leaves)]
    grads = [jnp.full((N_OPT // leaves,), 0.01, jnp.float32) for _ in range(leaves)]

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

    p = paired(run_j, run_o, REPS, warm=2)
    m = f"{N_OPT / 1e6:g}M params in {leaves} leaves"
    facts.setdefault("adam", {})[leaves] = {
        "jaxdl": p.a, "optax": p.b, "fusions": (inspect(fj, *ja[0], grads)[1].get("fusion"),
                                                inspect(fo, *oa[0], grads)[1].get("fusion"))}
    add(f"Adam update, {m}", f"Adam {leaves} leaves vs optax", p.a, p.b, "JAX+optax", p, 1.0,
        values={"JAX+optax": fmt_s(p.b) + " (optax.adam)"})
    bw = 28 * N_OPT / p.a
    slow, fast = np.quantile(p.ta, [0.75, 0.25])
    spread = p._replace(ratio=bw / COPY[few], q1=28 * N_OPT / slow / COPY[few],
                        q3=28 * N_OPT / fast / COPY[few])
    add(f"Adam bandwidth (28 B/param), {m}, vs copy bandwidth ({few} arrays)",
        f"Adam {leaves} leaves bandwidth", bw, COPY[few], "copy x+1", spread, 0.6, higher=True,
        values={"JAX+optax": f"{28 * N_OPT / p.b / 1e9:.3g} GB/s (optax)",
                "copy x+1": f"{COPY[few] / 1e9:.3g} GB/s"}, fmt=lambda v: f"{v / 1e9:.3g} GB/s")

# ------------------------------------------------------------------ 3. whole training run
log("3. whole training run")
DATA = peers.mnist1d_numpy(QUICK)
xtr, ytr, xte, yte = DATA
EPOCHS, BATCH = (2 if QUICK else 50), peers.BATCH
STEPS = len(xtr) // BATCH
ex.setting(mnist1d_train=len(xtr), mnist1d_val=len(xte), epochs=EPOCHS, batch=BATCH)
model = peers.mlp([peers.HIDDEN, peers.HIDDEN])
adam = optim.adam(peers.LR)  # one optimizer object: fit caches its compiled epoch by it
acc: dict[str, float] = {}


def run_fit():
    ts, hist = fit(model, softmax_cross_entropy, adam, (xtr, ytr), val=(xte, yte),
                   epochs=EPOCHS, batch_size=BATCH, key=jax.random.key(0), progress=False)
    acc["jaxdl"] = float(hist.val_accuracy[-1])
    return ts.params


tx = optax.adam(peers.LR)
xd, yd, vxd, vyd = (jnp.asarray(a) for a in DATA)
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
    for e in range(EPOCHS):
        c, out = h_epochs[same_outputs](c, np.int32(e))
        logs.append(out)
    acc["hand scan" if same_outputs else "hand scan, val accuracy only"] = float(
        jax.device_get(logs)[-1]["val_accuracy"])
    return c[0]


cold_run = {"jaxdl": seconds(run_fit)}  # QUICK's stand-in for the fresh-process first result
fit_vs_scan = paired(run_fit, lambda: run_scan(True), REPS, warm=1)
fit_vs_min = fit_vs_scan if QUICK else paired(run_fit, lambda: run_scan(False), REPS, warm=1)
loop_times = {}


def run_loop(name, loop):
    c, acc[name] = peers.run(loop, DATA, EPOCHS)
    return c


for name, make in available.items():
    loop = make()
    cold_run[name] = seconds(lambda: run_loop(name, loop))
    loop_times[name] = paired(run_fit, lambda: run_loop(name, loop), min(REPS, 7), warm=0)
    log(f"   {name} loop {loop_times[name].b:.3f} s")
step_flops = inspect(jax.jit(make_train_step(model, softmax_cross_entropy, adam,
                                             metrics=(accuracy,))),
                     init_state(model, adam, (40,), jax.random.key(0)), xd[:BATCH],
                     yd[:BATCH])[0]
facts.update(fit=fit_vs_scan, fit_min=fit_vs_min, loops=loop_times, step_flops=step_flops,
             steps=EPOCHS * STEPS, epochs=EPOCHS,
             eval_flops=2 * len(xte) * (40 * 100 + 100 * 100 + 100 * 10))
run_cols = {"JAX+optax": fmt_s(fit_vs_scan.b) + " (scan)"}
run_cols.update({n: fmt_s(t.b) for n, t in loop_times.items() if n != "JAX+optax"})
add(f"MNIST-1D MLP, {EPOCHS} epochs with validation: fit vs one lax.scan per epoch by hand",
    "run: fit vs hand scan", fit_vs_scan.a, fit_vs_scan.b, "JAX+optax", fit_vs_scan, 1.05,
    values=run_cols)
best = min([n for n in loop_times if n != "JAX+optax"] or list(loop_times),
           key=lambda n: loop_times[n].b)  # only the hand loop when no peer is installed
py_cols = {n: fmt_s(t.b) + (" (Python loop)" if n == "JAX+optax" else "")
           for n, t in loop_times.items()}
add(f"MNIST-1D MLP, {EPOCHS} epochs: fit vs the best peer's Python loop ({best})",
    "run: fit vs best peer", loop_times[best].a, loop_times[best].b, best, loop_times[best],
    0.5, values=py_cols)

# ------------------------------------------------------------------ 4. time to first result
log("4. time to first result")
names = ["jaxdl", *available]
if QUICK:  # the first (compiling) runs of section 3, in this process: a smoke test
    first = {n: [{"first_step": cold_run[n], "first_epoch": cold_run[n]}] for n in names}
else:  # a fresh process per library and run, the libraries interleaved
    first: dict[str, list[dict]] = {}
    for i in range(3):  # jaxdl and Flax NNX (the target) 3 times, the others once
        for name in (n for n in names if i == 0 or n in ("jaxdl", "Flax NNX")):
            out = subprocess.run([sys.executable, str(Path(__file__).parent / "_bench_peers.py"),
                                  name], capture_output=True, text=True, timeout=300,
                                 env={**os.environ, "CI": "1"})
            if out.returncode:
                raise RuntimeError(f"first result of {name} failed:\n{out.stderr[-3000:]}")
            first.setdefault(name, []).append(json.loads(out.stdout.strip().splitlines()[-1]))
med = {n: {k: float(np.median([r[k] for r in v])) for k in v[0]} for n, v in first.items()}
ex.metrics["first_result_seconds"] = {"runs": first, "median": med}
facts["first"] = med
if "Flax NNX" in med:
    ratios = sorted(a["first_step"] / b["first_step"]
                    for a, b in zip(first["jaxdl"], first["Flax NNX"]))
    q = np.quantile(ratios, [0.5, 0.25, 0.75])
    add("time to first result (fresh process; jaxdl: fit's first epoch + validation, peers: "
        "init + first step)", "first result vs Flax NNX", med["jaxdl"]["first_step"],
        med["Flax NNX"]["first_step"], "Flax NNX",
        fit_vs_scan._replace(ratio=float(q[0]), q1=float(q[1]), q3=float(q[2])), 1.0,
        values={n: fmt_s(v["first_step"]) for n, v in med.items()})

# ------------------------------------------------------------------ 5. sweep
log("5. sweep")
K, SW_EPOCHS = (2, 1) if QUICK else (16, 10)
lrs = np.logspace(-3.5, -1.5, K).astype(np.float32)
ex.setting(sweep=f"{K} learning rates x {SW_EPOCHS} epochs")
# each compiles once, in the warm-up (QUICK: section 3's, already compiled: a smoke test)
seq_opts = [adam] * K if QUICK else [optim.adam(float(lr)) for lr in lrs]


def make_adam(learning_rate):  # one function: vmap_fit caches its compiled programs by it
    return optim.adam(learning_rate)


def sweep_vmap():
    ts, _h = vmap_fit(model, softmax_cross_entropy, make_adam,
                      (xtr, ytr), hparams={"learning_rate": lrs}, keys=jax.random.key(0),
                      val=(xte, yte), epochs=SW_EPOCHS, batch_size=BATCH)
    return ts.params


def sweep_seq():
    return [fit(model, softmax_cross_entropy, opt, (xtr, ytr), val=(xte, yte),
                epochs=SW_EPOCHS, batch_size=BATCH, key=jax.random.key(0), progress=False)[0]
            .params for opt in seq_opts]


cold = {"vmap_fit": time.perf_counter()}
jax.block_until_ready(sweep_vmap())
cold["vmap_fit"] = time.perf_counter() - cold["vmap_fit"]
cold["fits"] = time.perf_counter()
jax.block_until_ready(sweep_seq())
cold["fits"] = time.perf_counter() - cold["fits"]
sw = paired(sweep_vmap, sweep_seq, max(1, REPS // 2 + 1), warm=0)
facts.update(sweep=sw, sweep_cold=cold, K=K, sweep_steps=SW_EPOCHS * STEPS)
add(f"sweep: {K} learning rates x {SW_EPOCHS} epochs, vmap_fit vs {K} sequential fits (both "
    "compiled)", "sweep vs sequential fits", sw.a, sw.b, f"{K} x fit", sw, 0.25,
    values={f"{K} x fit": fmt_s(sw.b)})
COLUMNS.append(f"{K} x fit")

# ------------------------------------------------------------------ 6. schedules
log("6. schedules")
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
if QUICK:
    sched = {k: sched[k] for k in ("warmup(cosine_decay)",)}
xb, yb = xd[:BATCH], yd[:BATCH]


def stepper(opt, inner=50, donate=False):
    st = jax.jit(make_train_step(model, softmax_cross_entropy, opt),
                 donate_argnums=(0,) if donate else ())
    box = [init_state(model, opt, (40,), jax.random.key(0))]

    def run():
        for _ in range(inner):
            box[0], _m = st(box[0], xb, yb)
        return box[0].params
    return run, sum(inspect(st, box[0], xb, yb)[1].values())


def lr_const(step):  # a schedule that costs nothing to evaluate: the baseline of the cost
    return jnp.asarray(1e-2, jnp.float32)


base, base_ops = stepper(optim.adam(lr_const))
sched_p, sched_ops = {}, {}
for name, s in sched.items():
    run_s, sched_ops[name] = stepper(optim.adam(s))
    sched_p[name] = paired(run_s, base, REPS + 2, warm=1)
worst = max(sched_p, key=lambda n: sched_p[n].ratio)
path = {}  # the cost of having a schedule at all (a step count in the state, a run-time lr)
if not QUICK:
    optax_cos = stepper(optax.adam(optax.cosine_decay_schedule(1e-2, 1000)))[0]
    path = {"jaxdl: schedule returning 1e-2 / float 1e-2": (base, stepper(optim.adam(1e-2))[0]),
            "optax: cosine_decay_schedule / float 1e-2": (optax_cos,
                                                          stepper(optax.adam(1e-2))[0]),
            "cosine_decay: jaxdl / optax": (stepper(optim.adam(sched["cosine_decay"]))[0],
                                            optax_cos),
            "jaxdl, state donated (donate_argnums): schedule returning 1e-2 / float 1e-2":
                (stepper(optim.adam(lr_const), donate=True)[0],
                 stepper(optim.adam(1e-2), donate=True)[0])}
    path = {n: paired(fa, fb, REPS + 2, warm=1) for n, (fa, fb) in path.items()}
facts.update(sched=sched_p, sched_ops=sched_ops, base_ops=base_ops, sched_path=path)
ex.metrics["schedules"] = {n: {"ratio": p.ratio, "q1": p.q1, "q3": p.q3, "hlo_ops": sched_ops[n],
                               "baseline_hlo_ops": base_ops} for n, p in sched_p.items()}
ex.metrics["schedule_path"] = {n: {"ratio": p.ratio, "q1": p.q1, "q3": p.q3}
                               for n, p in path.items()}
ex.table("Schedules: jitted MLP train step (MNIST-1D MLP, batch 100, 50 steps per sample) with the "
         "schedule / with a schedule that returns the constant 1e-2 (the evaluation cost); "
         "below the line, the cost of a schedule path itself, for jaxdl and optax",
         ["schedule", "step time ratio", "IQR", f"HLO instructions (baseline {base_ops})"],
         [[n, f"{p.ratio:.3f}", f"[{p.q1:.3f}, {p.q3:.3f}]", sched_ops[n]]
          for n, p in sched_p.items()]
         + [[f"*{n}*", f"{p.ratio:.3f}", f"[{p.q1:.3f}, {p.q3:.3f}]", "-"]
            for n, p in path.items()])
COLUMNS.append("constant schedule")
add(f"schedules: step time with the worst schedule ({worst}) vs a schedule returning the "
    "constant", "schedules (worst)", sched_p[worst].a / 50, sched_p[worst].b / 50,
    "constant schedule", sched_p[worst], 1.05,
    values={"constant schedule": fmt_s(sched_p[worst].b / 50)})

# ------------------------------------------------------------------ 7. data parallel
log("7. data parallel")
if QUICK:  # in this process, on the devices it has (a smoke test)
    import _bench_parallel

    dp = _bench_parallel.main(EPOCHS, 1, True, model, adam)
else:  # a process of its own, with 4 host devices forced before JAX starts
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "CI": "1"}
    out = subprocess.run([sys.executable, str(Path(__file__).parent / "_bench_parallel.py"),
                          "5", "5"], capture_output=True, text=True, timeout=300, env=env)
    if out.returncode:
        raise RuntimeError(f"data parallel failed:\n{out.stderr[-3000:]}")
    dp = json.loads(out.stdout.strip().splitlines()[-1])
ex.metrics["data_parallel"] = facts["dp"] = dp
equal = dp["max_param_diff"] <= 1e-5 and dp["max_train_loss_rel_diff"] <= 1e-5
scale = dp["samples_per_s_all"] / dp["samples_per_s_one"]
rows.append(Row(f"data parallel: fit over {dp['devices']} {dp['device']} devices vs 1 device "
                "(same key), samples/s", "data parallel (equal results)",
                {"jaxdl": f"{dp['samples_per_s_all']:.3g}/s", "1 device":
                 f"{dp['samples_per_s_one']:.3g}/s"}, "1 device", scale, scale, scale, 0.0,
                ok=equal, target_text=f"equal to 1e-5 (max diff {dp['max_param_diff']:.1e})"))
ex.metrics["measures"]["data parallel"] = {"ratio": scale, "equal": equal, "pass": equal,
                                           "verdict": "pass" if equal else "miss"}
COLUMNS.append("1 device")

# ------------------------------------------------------------------ report
ex.setting(load_at_end=" ".join(f"{v:.1f}" for v in os.getloadavg()))
ex.table("MNIST-1D MLP 40-100-100-10, Adam 1e-2: final validation accuracy (same batches and "
         "number of steps; init draws differ by library)", ["loop", "final val accuracy"],
         [[k, f"{v:.3f}"] for k, v in acc.items()])
headers, body = table(rows, COLUMNS)
ex.table("Benchmarks: jaxdl / baseline (median of per-pair ratios of interleaved repetitions)",
         headers, body, "Notes:\n\n" + "\n".join(f"- {n}" for n in explain(rows, facts, QUICK)))
for r in rows:
    ex.verdict(f"{r.short}: " + (r.target_text or f"ratio {'>=' if r.higher else '<='} "
                                 f"{r.target:g}"),
               r.verdict == "pass", f"ratio {r.ratio:.3f} [{r.q1:.3f}, {r.q3:.3f}] ({r.verdict})")
ex.figure(figure(rows, f"jaxdl / baseline on {dev.device_kind} ({os.cpu_count()} cores)"),
          "bench.png", "Ratios with their IQR and targets (green pass, olive tie, red miss)")
ex.finish()
