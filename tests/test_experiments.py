"""Every experiment runs end to end in QUICK mode and writes its three outputs; REPORT.md collects
them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = sorted(p.stem for p in (ROOT / "experiments").glob("*.py")
                     if not p.stem.startswith("_") and p.stem not in ("report", "bench"))


def _run(script: str, results: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env.update(QUICK="1", JAXDL_RESULTS=str(results), MPLBACKEND="Agg", CI="1",
               XLA_FLAGS="--xla_force_host_platform_device_count=1")
    return subprocess.run([sys.executable, str(ROOT / "experiments" / f"{script}.py")], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_runs_in_quick_mode_and_writes_figures_table_metrics(name, tmp_path):
    proc = _run(name, tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    out = tmp_path / name
    assert (out / "table.md").read_text().startswith(f"## {name}")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["verdicts"], "an experiment must judge at least one claim"
    for v in metrics["verdicts"]:
        assert (v["verdict"] in ("holds", "does not hold")
                or v["verdict"].startswith("holds only when"))
    assert list(out.glob("*.png")), "an experiment must draw at least one figure"
    assert f"[{name}]" in proc.stdout


def test_report_collects_every_table(tmp_path):
    for name in ("perceptron", "backprop"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "table.md").write_text(
            f"## {name}: t\n\n| claim | verdict | evidence |\n|---|---|---|\n"
            f"| c | **holds** | e |\n\n![fig](fig.png)\n")
    proc = _run("report", tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = (tmp_path / "REPORT.md").read_text()
    assert "](perceptron/fig.png)" in report and "](backprop/fig.png)" in report
    assert "| [backprop](#backprop) | 1 | 1 | 0 | 0 |" in report
