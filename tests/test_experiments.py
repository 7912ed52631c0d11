"""Every experiment runs end to end in quick mode, in this process (under conftest's strict JAX),
and writes its three outputs; REPORT.md collects them."""

import importlib
import importlib.util
import json
from pathlib import Path

import jax
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = sorted(p.stem for p in (ROOT / "experiments").glob("*.py")
                     if not p.stem.startswith("_") and p.stem != "report")
CONFIG = ("jax_enable_x64", "jax_numpy_dtype_promotion", "jax_numpy_rank_promotion",
          "jax_threefry_partitionable", "jax_disable_most_optimizations")


def load(name: str, monkeypatch, results: Path):
    """Import experiments/NAME.py by path (its `_harness` import needs experiments/ on the path);
    results go under `results`."""
    monkeypatch.syspath_prepend(str(ROOT / "experiments"))
    monkeypatch.setenv("JAXDL_RESULTS", str(results))
    spec = importlib.util.spec_from_file_location(f"experiment_{name}",
                                                  ROOT / "experiments" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_runs_in_quick_mode_and_writes_figures_table_metrics(name, tmp_path,
                                                                        monkeypatch, capsys):
    module = load(name, monkeypatch, tmp_path)
    config = {k: jax.config.values[k] for k in CONFIG}
    with importlib.import_module("_harness").quick_settings():
        module.main(quick=True)
    assert {k: jax.config.values[k] for k in CONFIG} == config, "a run must leave JAX as it was"
    out = tmp_path / name
    assert (out / "table.md").read_text().startswith(f"## {name}")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["settings"]["quick"] is True
    assert metrics["verdicts"], "an experiment must judge at least one claim"
    for v in metrics["verdicts"]:
        assert (v["verdict"] in ("holds", "does not hold")
                or v["verdict"].startswith("holds only when"))
    assert list(out.glob("*.png")), "an experiment must draw at least one figure"
    assert f"[{name}]" in capsys.readouterr().out


def test_importing_an_experiment_runs_nothing(tmp_path, monkeypatch):
    load("perceptron", monkeypatch, tmp_path)
    assert not any(tmp_path.iterdir())


def test_report_collects_every_table(tmp_path, monkeypatch, capsys):
    for name in ("perceptron", "backprop"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "table.md").write_text(
            f"## {name}: t\n\n| claim | verdict | evidence |\n|---|---|---|\n"
            f"| c | **holds** | e |\n\n![fig](fig.png)\n")
    assert load("report", monkeypatch, tmp_path).main() == 0
    report = (tmp_path / "REPORT.md").read_text()
    assert "](perceptron/fig.png)" in report and "](backprop/fig.png)" in report
    assert "| [backprop](#backprop) | 1 | 1 | 0 | 0 |" in report
    assert "wrote" in capsys.readouterr().out


def test_harness_sem_and_partial_verdict_wording(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(ROOT / "experiments"))
    monkeypatch.setenv("JAXDL_RESULTS", str(tmp_path))
    import _harness as h

    assert h.sem([1.0, 2.0, 3.0]) == pytest.approx(1.0 / 3**0.5)  # std (ddof=1) 1, n 3
    assert h.sem([1.0]) != h.sem([1.0])  # NaN: undefined for one value
    assert h.only_when({"a": True, "b": True}, "x") is None
    assert h.only_when({"a": True, "b": False, "c": False}, "x") == "holds only when x is a"
    assert h.only_when({"a": True, "b": True, "c": False}, "x") == "holds only when x is not c"
    assert (h.only_when({"a": True, "b": False, "c": True, "d": False, "e": False}, "x")
            == "holds only when x is one of a, c")
    ordered = {f"{k}": k >= 4 for k in range(10)}
    assert (h.only_when(ordered, "k", ordered=True)
            == "holds only when k is not between 0 and 3")
    ex = h.Experiment("t", "t", "t", quick=True)
    assert ex.pick(10, 1) == 1 and ex.dir == tmp_path / "t"
    assert ex.verdict_cases("c", {"a": True, "b": False}, "e", subject="x") == (
        "holds only when x is a")
    assert ex.verdict_cases("c", {"a": False}, "e", subject="x") == "does not hold"
