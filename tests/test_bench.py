"""`make bench` (`python -m experiments.bench`) runs end to end in quick mode, in this process, and
its verdicts follow from its numbers; the table's verdict rule (pass / tie within the spread /
miss) is checked directly."""

import importlib
import json
import math
from pathlib import Path

import pytest
from _markdown import problems

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def bench(monkeypatch):
    """The package experiments.bench (the repository root on the path, as `python -m` has it)."""
    monkeypatch.syspath_prepend(str(ROOT))
    return importlib.import_module("experiments.bench")


def test_verdict_is_pass_tie_or_miss_from_the_ratio_its_quartiles_and_the_target(bench):
    util = importlib.import_module("experiments.bench.util")
    row = lambda r, q1, q3, **kw: util.Row("m", "m", {}, "b", r, q1, q3, 1.02, **kw)  # noqa: E731
    assert row(1.01, 0.99, 1.05).verdict == "pass"
    assert row(1.03, 1.00, 1.06).verdict == "tie"  # 1.02 inside [q1, q3]
    assert row(1.10, 1.05, 1.20).verdict == "miss"
    assert row(0.50, 0.40, 0.70, higher=True).verdict == "miss"  # needs >= 1.02
    assert row(1.50, 1.40, 1.70, ok=False).verdict == "miss"  # an explicit check overrides
    headers, body = util.table([row(1.10, 1.05, 1.20)], ["jaxdl"])
    assert headers[:2] == ["measure", "jaxdl"] and body[0][-1] == "**miss**"
    assert body[0][2] == "1.100 [1.050, 1.200]"


def test_paired_alternates_the_order_and_reports_per_pair_ratios(bench, monkeypatch):
    """With a clock that says how long each call took (a: 2, 4, 6, 8 s; b: 1 s), the ratio is the
    median of the per-pair ratios 2, 4, 6, 8 and the quartiles are NumPy's linear ones."""
    util = importlib.import_module("experiments.bench.util")
    calls, took = [], iter([2.0, 1.0, 1.0, 4.0, 6.0, 1.0, 1.0, 8.0])  # in the A B, B A order
    monkeypatch.setattr(util, "seconds", lambda f: (f(), next(took))[1])
    p = util.paired(lambda: calls.append("a"), lambda: calls.append("b"), reps=4, warm=1)
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b", "b", "a"]
    assert p.ta == (2.0, 4.0, 6.0, 8.0) and p.tb == (1.0,) * 4
    assert (p.ratio, p.q1, p.q3) == (5.0, 3.5, 6.5)


@pytest.mark.slow
def test_bench_runs_in_quick_mode_and_writes_table_metrics_figure(bench, tmp_path, monkeypatch,
                                                                 capsys):
    monkeypatch.setenv("JAXDL_RESULTS", str(tmp_path))
    run = importlib.import_module("experiments.bench.__main__")
    harness = importlib.import_module("experiments._harness")
    with harness.quick_settings():
        run.main(quick=True)
    assert "[bench]" in capsys.readouterr().out
    out = tmp_path / "bench"
    table = (out / "table.md").read_text()
    assert table.startswith("## bench") and "| measure | jaxdl |" in table
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["settings"]["quick"] is True
    assert metrics["settings"]["jax"] and metrics["settings"]["device"]
    measures = metrics["measures"]
    for prefix in ("train step", "Adam update", "Adam bandwidth", "MNIST-1D MLP", "sweep",
                   "schedules", "data parallel", "streaming"):
        assert any(m.startswith(prefix) for m in measures), prefix
    shown = {"pass": "pass", "tie": "tie (noise)", "miss": "**miss**"}
    bench_table = table[table.index("| measure | jaxdl |"):].splitlines()
    for name, m in measures.items():  # metrics.json and the benchmarks table say the same
        assert m["ratio"] > 0 and math.isfinite(m["ratio"]), name
        line = next(ln for ln in bench_table if ln.startswith("| " + name.replace("|", "\\|")))
        assert line.endswith(f"| {shown[m['verdict']]} |"), (name, line)
    assert metrics["verdicts"] and all(v["verdict"] in ("holds", "does not hold")
                                       for v in metrics["verdicts"])
    assert (out / "bench.png").stat().st_size > 1000
    assert problems(out / "table.md") == []
