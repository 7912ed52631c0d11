"""Every experiment runs end to end in quick mode, in this process (under conftest's strict JAX),
and writes its three outputs, marked QUICK, with tables that parse (markdown-it-py, GFM tables);
REPORT.md collects them. A verdict follows its measurement: a false one reads "does not hold"
(the harness, and an experiment whose measured function is made wrong), and no verdict call in
experiments/ passes a constant."""

import ast
import importlib
import importlib.util
import inspect
import json
from pathlib import Path

import jax
import numpy as np
import pytest
from PIL import Image

from _markdown import problems

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = sorted(p.stem for p in (ROOT / "experiments").glob("*.py")
                     if not p.stem.startswith("_") and p.stem not in ("report", "claims"))
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
    table = (out / "table.md").read_text()
    harness = importlib.import_module("_harness")
    assert harness.QUICK_BANNER in table.split("Source:")[0], "a QUICK table says so at its top"
    for v in metrics["verdicts"]:  # each verdict of metrics.json is the one table.md shows
        assert f"| **{v['verdict']}** |" in table, v
    claims = load("claims", monkeypatch, tmp_path)  # the inventory's keys name this run's claims
    produced = {name: [(v["claim"], v["verdict"], v["evidence"]) for v in metrics["verdicts"]]}
    for claim in claims.inventory():
        if claim.experiment == name:
            claims.match(claim, produced)
    figures = list(out.glob("*.png"))
    assert figures, "an experiment must draw at least one figure"
    for f in figures:  # readable: at least 72 dpi (matplotlib writes it into the PNG)
        with Image.open(f) as im:
            assert round(im.info["dpi"][0]) >= 72 and min(im.size) >= 150, (f.name, im.size)
    assert problems(out / "table.md") == []
    report = load("report", monkeypatch, tmp_path)
    assert report.main() == 0
    assert harness.QUICK_BANNER in (tmp_path / "REPORT.md").read_text()
    assert problems(tmp_path / "REPORT.md") == []
    printed = capsys.readouterr().out
    assert f"[{name}]" in printed and "QUICK" in printed


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


def test_a_false_measurement_reads_does_not_hold(monkeypatch, tmp_path):
    """The harness: `verdict` takes no condition, and only the measurement decides."""
    monkeypatch.syspath_prepend(str(ROOT / "experiments"))
    monkeypatch.setenv("JAXDL_RESULTS", str(tmp_path))
    import _harness as h

    ex = h.Experiment("t", "t", "t", quick=False)
    assert list(inspect.signature(ex.verdict).parameters) == ["claim", "holds", "evidence"]
    assert ex.verdict("c", np.float32(0.3) < 0.2, "e") == "does not hold"
    assert ex.verdict("c", np.bool_(True), "e") == "holds"
    assert ex.verdict_cases("c", {"a": False, "b": np.False_}, "e", subject="x") == "does not hold"
    assert ex.verdict_cases("c", {}, "e", subject="x") == "does not hold"  # nothing measured
    ex.finish()
    assert "| c | **does not hold** | e |" in (tmp_path / "t" / "table.md").read_text()
    assert h.QUICK_BANNER not in (tmp_path / "t" / "table.md").read_text()


def test_backprop_verdicts_follow_a_wrong_sigmoid(monkeypatch, tmp_path):
    """An experiment cannot force its verdict: with the sigmoid made wrong by 1e-3, only the
    printed number computed before any sigmoid (net_h1) still agrees, and the hand-written
    BP1-BP4 no longer match autodiff ("does not hold")."""
    module = load("backprop", monkeypatch, tmp_path)
    wrong = lambda z: jax.nn.sigmoid(z) * (1 + 1e-3)  # noqa: E731
    monkeypatch.setattr(module, "sigmoid", wrong)
    monkeypatch.setattr(module, "sigmoid_grad", lambda z: wrong(z) * (1 - wrong(z)))
    with importlib.import_module("_harness").quick_settings():
        ex = module.main(quick=True)
    words = {v["claim"]: v["verdict"] for v in ex.verdicts}
    forward = next(c for c in words if c.startswith("The printed forward pass"))
    backward = next(c for c in words if c.startswith("The four backprop equations"))
    assert words[forward] == "holds only when the printed number is net_h1 = 0.3775", words
    assert words[backward] == "does not hold", words


def test_no_verdict_in_experiments_is_a_constant():
    """Every `verdict(claim, holds, ...)` and `verdict_cases(claim, cases, ...)` call passes an
    expression, not a literal; and a cases dict is not made of literals."""
    calls = 0
    for path in sorted((ROOT / "experiments").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("verdict", "verdict_cases")):
                continue
            calls += 1
            judged = node.args[1] if len(node.args) > 1 else None
            assert judged is not None, f"{path.name}:{node.lineno}: no measurement passed"
            values = judged.values if isinstance(judged, ast.Dict) else [judged]
            assert not all(isinstance(v, ast.Constant) for v in values), (
                f"{path.name}:{node.lineno}: a verdict from a constant")
            assert not any(k.arg == "condition" for k in node.keywords), path.name
    assert calls > 90


def test_harness_escapes_table_cells(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(ROOT / "experiments"))
    monkeypatch.setenv("JAXDL_RESULTS", str(tmp_path))
    import _harness as h

    assert h.cell("max |diff|") == "max \\|diff\\|" and h.cell("a\nb") == "a b"
    ex = h.Experiment("t", "t", "t", quick=True)
    ex.verdict("|lr - 0.01| < 1e-3", True, "max |diff| = 0")
    ex.table("T", ["x", "|x|"], [[-1.5, 1.5], ["a | b", 2]])
    ex.finish()
    assert problems(tmp_path / "t" / "table.md") == []


def test_harness_sem_and_partial_verdict_wording(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(ROOT / "experiments"))
    monkeypatch.setenv("JAXDL_RESULTS", str(tmp_path))
    import _harness as h

    assert h.sem([1.0, 2.0, 3.0]) == pytest.approx(1.0 / 3**0.5)  # std (ddof=1) 1, n 3
    assert h.sem([1.0]) != h.sem([1.0])  # NaN: undefined for one value
    # the 2-SE rule, against hand-computed values: a = [1, 2, 3] (mean 2, SE 1/sqrt 3), b the
    # same shifted by d: 2 SE of the difference = 2 sqrt(2/3) = 1.633
    a = np.array([1.0, 2.0, 3.0])
    assert h.exceeds(a + 1.7, a) and not h.exceeds(a + 1.6, a) and not h.exceeds(a, a + 1.7)
    assert not h.exceeds([5.0], [1.0])  # one value: no standard error, no verdict
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
