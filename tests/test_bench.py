"""`make bench` runs end to end in QUICK mode (peers that are not installed are skipped inside it)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bench_runs_in_quick_mode_and_writes_table_metrics_figure(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env.update(QUICK="1", JAXDL_RESULTS=str(tmp_path), MPLBACKEND="Agg", CI="1",
               XLA_FLAGS="--xla_force_host_platform_device_count=1")
    proc = subprocess.run([sys.executable, str(ROOT / "experiments" / "bench.py")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    out = tmp_path / "bench"
    table = (out / "table.md").read_text()
    assert table.startswith("## bench") and "| measure | jaxdl |" in table
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["settings"]["jax"] and metrics["settings"]["device"]
    measures = metrics["measures"]
    assert any(m.startswith("train step") for m in measures)
    assert all(m["pass"] == (m["ratio"] <= m["target"]) or "bandwidth" in name
               for name, m in measures.items())
    assert list(out.glob("*.png"))
