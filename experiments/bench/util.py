"""Timing for the benchmarks: paired, interleaved repetitions and their ratio statistics, the
device's matmul rate and copy bandwidth, FLOP counts, and the results table and figure."""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Paired(NamedTuple):
    """Medians of A's and B's seconds, and the median and quartiles of the per-pair ratios A/B
    (each pair measured back to back, so both halves share the machine's load at that moment)."""

    a: float
    b: float
    ratio: float
    q1: float
    q3: float
    ta: tuple[float, ...] = ()
    tb: tuple[float, ...] = ()


def block(tree: Any) -> Any:
    return jax.block_until_ready(tree)


def seconds(f: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    block(f())
    return time.perf_counter() - t0


def paired(fa: Callable[[], Any], fb: Callable[[], Any], reps: int, warm: int = 1) -> Paired:
    """Time fa() and fb() `reps` times each, interleaved A B, B A, A B, ... (the order alternates
    so that neither side always runs second), after `warm` untimed calls of each."""
    for _ in range(warm):
        block(fa()), block(fb())
    ta, tb = [], []
    for i in range(reps):
        if i % 2 == 0:
            ta.append(seconds(fa)), tb.append(seconds(fb))
        else:
            tb.append(seconds(fb)), ta.append(seconds(fa))
    r = sorted(a / b for a, b in zip(ta, tb))
    q1, q3 = (float(v) for v in np.quantile(r, [0.25, 0.75]))
    return Paired(statistics.median(ta), statistics.median(tb), statistics.median(r), q1, q3,
                  tuple(ta), tuple(tb))


def matmul_rate(n: int = 1024, reps: int = 7) -> float:
    """float32 FLOP/s of an (n, n) @ (n, n) matmul (2 n^3 FLOPs), best of `reps`: the peak this
    device reached, the rate a FLOP floor assumes."""
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    f = jax.jit(lambda a: a @ a)
    block(f(a))
    return 2 * n**3 / min(seconds(lambda: f(a)) for _ in range(reps))


def copy_bandwidth(n: int, leaves: int, reps: int = 7) -> float:
    """Bytes/s of `v + 1` over n float32 in `leaves` equal arrays (4 B read + 4 B written each).
    The output is a fresh buffer per call, as in an optimizer update."""
    vs = [jnp.ones((n // leaves,), jnp.float32) for _ in range(leaves)]
    f = jax.jit(lambda vs: [v + 1.0 for v in vs])
    block(f(vs))
    return 8 * n / statistics.median(seconds(lambda: f(vs)) for _ in range(reps))


def analyze(jitted: Callable, *args: Any) -> tuple[float, dict[str, int]]:
    """XLA's FLOP count of one call (`cost_analysis`; a loop body is counted once) and the
    optimized HLO's instructions by kind (fusion, copy, dot, ...), from one compile."""
    import collections
    import re

    compiled = jitted.lower(*args).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    ops = collections.Counter(re.findall(r"= \S+ ([\w-]+)\(", compiled.as_text()))
    return float(cost.get("flops", float("nan"))), dict(ops)


class Row(NamedTuple):
    """One measure of the table: `values` maps a column ("jaxdl", "JAX+optax", a peer) to its
    text; `ratio` is jaxdl / `base`; the target is `<= target` (or `>=` when `higher`)."""

    measure: str
    short: str
    values: dict[str, str]
    base: str
    ratio: float
    q1: float
    q3: float
    target: float
    higher: bool = False
    ok: bool | None = None  # a verdict not decided by the ratio (data parallel: equality)
    target_text: str = ""

    @property
    def verdict(self) -> str:
        """pass, miss, or "tie" when the target lies inside the ratios' quartile range (the
        difference is within the repetitions' spread)."""
        if self.ok is not None:
            return "pass" if self.ok else "miss"
        if (self.ratio >= self.target) if self.higher else (self.ratio <= self.target):
            return "pass"
        if self.q1 <= self.target <= self.q3:
            return "tie"
        return "miss"


def fmt_s(s: float) -> str:
    """Seconds in the unit that reads best."""
    if s >= 1:
        return f"{s:.3g} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} us"


def table(rows: list[Row], columns: list[str]) -> tuple[list[str], list[list[str]]]:
    headers = ["measure", *columns, "ratio [IQR]", "baseline", "target", "verdict"]
    body = []
    for r in rows:
        spread = f" [{r.q1:.3f}, {r.q3:.3f}]" if r.q3 > r.q1 else ""
        verdict = {"pass": "pass", "tie": "tie (noise)", "miss": "**miss**"}[r.verdict]
        target = r.target_text or ("&ge; " if r.higher else "&le; ") + f"{r.target:g}"
        body.append([r.measure, *(r.values.get(c, "-") for c in columns),
                     f"{r.ratio:.3f}{spread}", r.base, target, verdict])
    return headers, body


def figure(rows: list[Row], title: str):
    """One line per measure: jaxdl / baseline (log scale) as a dot on a stem from parity (1),
    its IQR as an error bar, its target as a black tick; colour by verdict."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    fig = Figure(figsize=(10, 0.42 * len(rows) + 1.6))
    ax = fig.subplots()
    y = np.arange(len(rows))
    colors = {"pass": "tab:green", "tie": "tab:olive", "miss": "tab:red"}
    ratio = np.array([r.ratio for r in rows])
    ax.hlines(y, 1.0, ratio, color=[colors[r.verdict] for r in rows], lw=3, alpha=0.5)
    err = np.array([[r.ratio - r.q1 for r in rows], [r.q3 - r.ratio for r in rows]])
    ax.errorbar(ratio, y, xerr=np.clip(err, 0, None), fmt="none", ecolor="0.3", capsize=3, lw=1)
    ax.scatter(ratio, y, s=60, c=[colors[r.verdict] for r in rows], zorder=3)
    targets = np.array([r.target if r.ok is None else np.nan for r in rows])
    ax.scatter(targets, y, marker="|", s=500, color="k", zorder=4)
    values = np.concatenate([ratio, [r.q1 for r in rows], [r.q3 for r in rows],
                             targets[np.isfinite(targets)], [1.0]])
    values = values[values > 0]
    ax.set_xscale("log")
    ax.set_xlim(values.min() / 1.3, values.max() * 1.3)
    ax.set_yticks(y, [r.short for r in rows], fontsize=9)
    ax.axvline(1.0, color="0.6", lw=0.8, ls=":")
    ax.invert_yaxis()
    ax.set_xlabel("jaxdl / baseline (time ratio: left is faster; bandwidth rows: fraction of copy "
                  "bandwidth; data parallel: throughput ratio, judged on equal results)",
                  fontsize=9)
    ax.set_title(title, fontsize=10)
    marks = [Line2D([], [], color=c, marker="o", ls="") for c in colors.values()]
    marks.append(Line2D([], [], color="k", marker="|", ls="", markersize=14))
    ax.legend(marks, ["pass", "tie (target\nwithin the IQR)", "miss", "target"], fontsize=8,
              loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig
