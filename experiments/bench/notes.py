"""The notes under the benchmarks' table: how to read it, and for every measure that is not
a clear pass, the evidence (HLO instruction counts, FLOP floors, per-kernel costs) behind it."""

from __future__ import annotations

from experiments.bench.util import Row, fmt_s


def _row(rows: list[Row], short: str) -> Row | None:
    return next((r for r in rows if r.short.startswith(short)), None)


def _ops(counts: dict[str, int]) -> str:
    keys = ("fusion", "copy", "dot", "custom-call")
    return ", ".join(f"{counts.get(k, 0)} {k}" for k in keys if counts.get(k))


def explain(rows: list[Row], f: dict, quick: bool) -> list[str]:
    """Notes for the table: method, machine floors, then one note per measure."""
    rate, copy = f["rate"], f["copy"]
    many = max(copy)
    notes = [
        "Method: each ratio is the median over repetitions of jaxdl's time / the baseline's time "
        "measured back to back (order alternating), so both halves share the machine's load at "
        "that moment; [IQR] is the interquartile range of those ratios. *tie (noise)*: the "
        "median misses the target but the target lies inside the IQR, i.e. the difference is "
        "within the run-to-run spread on this shared machine (not counted as a pass).",
        f"Machine floors: float32 matmul ({f['mm']}^3, best of 7) {rate / 1e9:.1f} GFLOP/s; "
        "copy `x + 1` (median) "
        f"over the update's arrays: {copy[min(copy)] / 1e9:.2f} GB/s in {min(copy)} arrays, "
        f"{copy[many] / 1e9:.2f} GB/s in {many} (bytes read + written). Machine load: see "
        "Settings (load_at_start / load_at_end, 1-minute load average).",
    ]
    if quick:
        notes.append(f"Quick mode: tiny sizes, random data, {f['reps']} repetitions (and, from "
                     "the command line, XLA without backend optimisation): a smoke test, not a "
                     "measurement.")
    for short, s in f["step"].items():
        floor = s["flops"] / rate
        notes.append(
            f"FLOP floor, {short}: {s['flops'] / 1e6:.1f} MFLOP per step (XLA cost analysis) "
            f"takes {fmt_s(floor)} at the matmul rate; measured {fmt_s(s['seconds'])}, i.e. "
            f"{floor / s['seconds']:.0%} of the rate (small matmuls and the element-wise Adam "
            "update run below it).")
    for r in rows:
        if r.short.startswith("step:") and r.verdict != "pass":
            j, h = f["step"][r.short]["ops"]
            notes.append(
                f"{r.short}: {r.verdict} at {r.ratio:.3f}. Optimized HLO: jaxdl {_ops(j)}; "
                f"hand-written {_ops(h)}. The extra kernels are scalar or per-example: the "
                "step counter, the loss-is-finite flag, the copy of the PRNG key the TrainState "
                "passes through, and the cross-entropy's label-range select; a few microseconds "
                f"against a {fmt_s(f['step'][r.short]['seconds'])} step, so the rest is the "
                "run-to-run spread (the IQR).")
    adam = f["adam"]
    few, lots = min(adam), max(adam)
    for leaves, a in adam.items():
        r = _row(rows, f"Adam {leaves} leaves vs optax")
        if r and r.verdict != "pass":
            notes.append(
                f"Adam, {leaves} leaves, time: {r.verdict} at {r.ratio:.3f}: jaxdl and optax "
                f"compile to the same program shape ({a['fusions'][0]} vs {a['fusions'][1]} "
                "fusions: per leaf one for mu, one for nu, one for the parameter), so the ratio is "
                "1 up to timing noise.")
    r = _row(rows, f"Adam {lots} leaves bandwidth")
    if r and r.verdict != "pass":
        t_few, t_lots = adam[few]["jaxdl"], adam[lots]["jaxdl"]
        per_kernel = (t_lots - t_few) / (3 * (lots - few))
        notes.append(
            f"Adam bandwidth, {lots} leaves: {r.verdict} at {r.ratio:.2f}. Per-kernel cost, not "
            f"memory: the update launches 3 kernels per leaf ({3 * lots} for {lots} leaves); going "
            f"from {few} to {lots} leaves adds {fmt_s(t_lots - t_few)}, "
            f"{fmt_s(per_kernel)} per extra kernel. The plain copy pays it too: in {lots} arrays "
            f"it reaches {copy[lots] / copy[few]:.0%} of its {few}-array bandwidth, and Adam "
            f"reaches {r.ratio * copy[few] / copy[lots]:.0%} of that "
            f"{lots}-array copy's bandwidth. optax pays "
            f"the same ({fmt_s(adam[lots]['optax'])} vs jaxdl {fmt_s(t_lots)}). A flat (one "
            "buffer) optimizer state would avoid it but would no longer be optax's per-leaf "
            "state; on XLA:CPU this is a floor of per-leaf trees.")
    fit, fit_min, loops = f["fit"], f["fit_min"], f["loops"]
    flop_s = f["steps"] * f["step_flops"] + f["epochs"] * f["eval_flops"]
    notes.append(
        f"Whole run: the hand-written floor is one `lax.scan` per epoch computing what fit's "
        f"History records (train loss and accuracy per step, val loss and accuracy per epoch), "
        f"fetched once at the end; fit / that scan = {fit.ratio:.3f} [{fit.q1:.3f}, {fit.q3:.3f}]"
        f"; fit / a scan that computes only the val accuracy = {fit_min.ratio:.3f} "
        f"[{fit_min.q1:.3f}, {fit_min.q3:.3f}]. FLOP floor: {f['step_flops'] / 1e6:.1f} MFLOP "
        f"per step x {f['steps']} steps (+ validation) take {fmt_s(flop_s / rate)} at the "
        f"matmul rate; fit took {fmt_s(fit.a)} ({flop_s / rate / fit.a:.0%} of the rate: "
        "100x40 to 100x100 matmuls are far from the large-matmul rate).")
    r = _row(rows, "run: fit vs hand scan")
    if r and r.verdict != "pass":
        notes.append(
            f"Whole run vs scan: {r.verdict} at {r.ratio:.3f}. The compiled epochs match (fit's "
            "epoch program has the hand scan's loop body: 4 copies per step, the same fusions); "
            "what remains is per-run host work (input checks, one dispatch and one small "
            "read-back per epoch).")
    py = ", ".join(f"{n} {fmt_s(t.b)}" for n, t in loops.items())
    notes.append(f"Python loops (one jitted step per batch, NumPy batches): {py}.")
    r = _row(rows, "run: fit vs best peer")
    if r and r.verdict != "pass":
        best = min(t.b for n, t in loops.items() if n == r.base)
        notes.append(
            f"Whole run vs the best Python loop ({r.base}): {r.verdict} at {r.ratio:.3f}. The "
            f"hand-written scan, which has no dispatch per step at all, takes {fmt_s(fit.b)}, "
            f"{fit.b / best:.2f}x {r.base}'s loop: on this CPU a step's dispatch (~"
            f"{(best - fit.b) / f['steps'] * 1e6:.0f} us) is small next to its compute (~"
            f"{fit.b / f['steps'] * 1e6:.0f} us), and the Python loop overlaps the two (JAX "
            "dispatches asynchronously). Removing dispatch cannot halve the time here; the "
            "0.5x target assumes dispatch-bound steps (an accelerator, where this step takes "
            "microseconds).")
    first = f.get("first")
    if first:
        shown = ", ".join(f"{n} {fmt_s(v['first_step'])} (epoch {fmt_s(v['first_epoch'])})"
                          for n, v in first.items())
        notes.append(
            "Time to first result, fresh process each, after imports, data and a JAX warm-up; "
            "median of the runs: " + shown + ". jaxdl's first result is its whole first epoch "
            "with validation (one compiled program, the init compiled without LLVM "
            "optimisation); the peers' is init + the first step (their first validated epoch "
            "in brackets).")
    sw, cold, k = f["sweep"], f["sweep_cold"], f["K"]
    total = k * f["sweep_steps"] * f["step_flops"]
    floor = total / rate
    notes.append(
        f"Sweep: {k} models x {f['sweep_steps']} steps x {f['step_flops'] / 1e6:.1f} MFLOP = "
        f"{total / 1e9:.1f} GFLOP; at the matmul rate that is {fmt_s(floor)}, so even a "
        f"vmap_fit at the full rate would take {floor / sw.b:.2f}x the {k} sequential fits "
        f"({fmt_s(sw.b)}); vmap_fit took {fmt_s(sw.a)} ({floor / sw.a:.0%} of the rate). "
        f"Cold (first call, compiles included): vmap_fit {fmt_s(cold['vmap_fit'])} vs {k} fits "
        f"{fmt_s(cold['fits'])} ({cold['vmap_fit'] / cold['fits']:.2f}x), since each fit "
        "compiles its own program.")
    r = _row(rows, "sweep")
    if r and r.verdict != "pass":
        need = floor / (r.target * sw.b)  # fraction of the matmul rate the target needs
        why = ("the target is out of reach here even at the full rate" if need > 1 else
               f"the target needs vmap_fit to run at {need:.0%} of the matmul rate; it runs at "
               f"{floor / sw.a:.0%}")
        notes.append(
            f"Sweep: {r.verdict} at {r.ratio:.3f}: {why}. Each fit is already one compiled "
            "epoch per call (no per-step dispatch to save); what vmap adds is batching, and "
            "XLA:CPU runs the batched small matmuls (16 x 100x40 by 40x100, 16 x 100x100 by "
            "100x100 per step) and the 16x larger element-wise Adam update far below its "
            f"1024^3 matmul rate, as the sequential fits do ({floor / sw.b:.0%}). On a GPU or "
            "TPU, where one small model leaves most units idle, 16 of them fill it.")
    sched, ops, base, path = f["sched"], f["sched_ops"], f["base_ops"], f["sched_path"]
    r = _row(rows, "schedules")
    extra = ", ".join(f"{n} {ops[n] - base:+d}" for n in sched)
    notes.append(
        "Schedules: the baseline is a schedule returning the constant 1e-2, so the ratio is the "
        "cost of evaluating the schedule. HLO instructions each adds to the step (all computations,"
        f" of {base}): {extra}; all are scalar ops, but XLA:CPU fuses the scalar lr into every "
        "per-leaf update loop.")
    if path:
        shown = "; ".join(f"{n}: {p.ratio:.3f} [{p.q1:.3f}, {p.q3:.3f}]" for n, p in path.items())
        notes.append(
            "Cost of having a schedule at all (a step count in the optimizer state, the lr a "
            f"run-time scalar instead of a constant folded into the update): {shown}. optax pays "
            "the same as jaxdl: the compiled steps differ from the float-lr step by one s32 "
            "parameter and one scalar fusion (the count)." + next(
                (f" With the state donated (`donate_argnums`) the ratio is {p.ratio:.3f}: "
                 + ("the cost belongs to calling a jitted step that allocates fresh outputs, "
                    "and fit's scanned epochs update their state in place."
                    if p.ratio < 1.05 else "donation does not remove it.")
                 for n, p in path.items() if "donated" in n), ""))
    if r and r.verdict != "pass":
        slow = [n for n, p in sched.items() if p.q1 > r.target]
        step = r.values.get("constant schedule", "")
        shown = ", ".join(f"{n} (+{ops[n] - base} instructions, {sched[n].ratio:.3f} "
                          f"[{sched[n].q1:.3f}, {sched[n].q3:.3f}])" for n in slow)
        notes.append(
            f"Schedules: {r.verdict} at {r.ratio:.3f}. " + (
                f"Consistently above the target (whole IQR): {shown}. " + (
                    "noisy_linear_cosine_decay draws a normal sample every step (a threefry "
                    "hash of the step: most of its added instructions), a real cost of that "
                    f"schedule on a {step} step on XLA:CPU. "
                    if "noisy_linear_cosine_decay" in slow else "")
                + "The others are within their spread."
                if slow else "The largest of ten noisy medians, whose IQR reaches below the "
                "target (see the schedules table); every schedule adds only scalar operations "
                "to a step of three matmuls (noisy_linear_cosine_decay the most: a threefry hash "
                "of the step for its noise)."))
    dp = f["dp"]
    notes.append(
        f"Data parallel: {dp['devices']} {dp['device']} devices, max |param difference| "
        f"{dp['max_param_diff']:.1e}, max train-loss relative difference "
        f"{dp['max_train_loss_rel_diff']:.1e}, state replicated on every device: "
        f"{dp['replicated']}. Throughput {dp['samples_per_s_all']:.3g} vs "
        f"{dp['samples_per_s_one']:.3g} samples/s: forced host devices share the same CPU "
        "cores and add an all-reduce per step, so this checks correctness, not scaling (on a "
        "multi-GPU machine the same run reports the scaling).")
    st = f.get("stream")
    if st:
        s, m = st["stream"], st["memory"]
        notes.append(
            f"Streaming: `fit(model, loss, opt, ArrayStream(x.npy, y.npy, 512))`"
            f" read {s['examples']:,} examples of a {s['file_bytes'] / 2**30:.2f} GiB file in "
            f"{s['seconds']:.1f} s ({s['s_per_example'] * 1e6:.2f} us each) with a peak RSS of "
            f"{s['peak_rss_bytes'] / 2**20:.0f} MiB; the in-memory fit of {m['examples']:,} rows "
            f"took {m['s_per_example'] * 1e6:.2f} us per example (its process peaked at "
            f"{m['peak_rss_bytes'] / 2**20:.0f} MiB). The file is memory-mapped and re-mapped "
            "every 64 batches, so only the pages of a few batches stay resident; chunks of 64 "
            "batches run as one compiled scan while a thread prepares the next.")
    return notes
