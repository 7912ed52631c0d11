"""`make bench` (experiments/bench.py) runs end to end in QUICK mode and its verdicts follow from
its numbers; the table's verdict rule (pass / tie within the spread / miss) is checked directly."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def util():
    sys.path.append(str(ROOT / "experiments"))
    try:
        import _bench_util
        yield _bench_util
    finally:
        sys.path.remove(str(ROOT / "experiments"))


def test_verdict_is_pass_tie_or_miss_from_the_ratio_its_quartiles_and_the_target(util):
    row = lambda r, q1, q3, **kw: util.Row("m", "m", {}, "b", r, q1, q3, 1.02, **kw)  # noqa: E731
    assert row(1.01, 0.99, 1.05).verdict == "pass"
    assert row(1.03, 1.00, 1.06).verdict == "tie"  # 1.02 inside [q1, q3]
    assert row(1.10, 1.05, 1.20).verdict == "miss"
    assert row(0.50, 0.40, 0.70, higher=True).verdict == "miss"  # needs >= 1.02
    assert row(1.50, 1.40, 1.70, ok=False).verdict == "miss"  # an explicit check overrides
    headers, body = util.table([row(1.10, 1.05, 1.20)], ["jaxdl"])
    assert headers[:2] == ["measure", "jaxdl"] and body[0][-1] == "**miss**"
    assert body[0][2] == "1.100 [1.050, 1.200]"


def test_paired_alternates_the_order_and_reports_per_pair_ratios(util):
    calls = []
    p = util.paired(lambda: calls.append("a"), lambda: calls.append("b"), reps=4, warm=1)
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b", "b", "a"]
    assert len(p.ta) == len(p.tb) == 4 and p.q1 <= p.ratio <= p.q3


@pytest.mark.slow
def test_bench_runs_in_quick_mode_and_writes_table_metrics_figure(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env.update(QUICK="1", JAXDL_RESULTS=str(tmp_path), MPLBACKEND="Agg", CI="1",
               XLA_FLAGS="--xla_force_host_platform_device_count=1")
    proc = subprocess.run([sys.executable, str(ROOT / "experiments" / "bench.py")], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    out = tmp_path / "bench"
    table = (out / "table.md").read_text()
    assert table.startswith("## bench") and "| measure | jaxdl |" in table
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["settings"]["jax"] and metrics["settings"]["device"]
    measures = metrics["measures"]
    for prefix in ("train step", "Adam update", "Adam bandwidth", "MNIST-1D MLP", "sweep",
                   "schedules", "data parallel"):
        assert any(m.startswith(prefix) for m in measures), prefix
    for name, m in measures.items():
        if "equal" in m:  # data parallel: judged by result equality
            assert m["pass"] == m["equal"]
            continue
        met = m["ratio"] >= m["target"] if m["higher_is_better"] else m["ratio"] <= m["target"]
        assert m["pass"] == met and m["verdict"] in ("pass", "tie", "miss"), name
        assert m["q1"] <= m["ratio"] <= m["q3"], name
    assert (out / "bench.png").stat().st_size > 1000  # QUICK draws it at a low resolution
