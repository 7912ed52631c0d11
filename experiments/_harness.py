"""What every experiment shares: settings, QUICK mode, verdicts computed from measurements, and the
three outputs in results/NAME/ (PNG figures, table.md, metrics.json) plus a printed summary."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("MPLBACKEND", "Agg")

# `python experiments/NAME.py` puts experiments/ first on sys.path, where experiments/mnist1d.py
# would shadow the `mnist1d` package. Every experiment imports this module first, so drop the folder
# (this module and the script itself are already loaded).
_HERE = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != _HERE]

QUICK = os.environ.get("QUICK", "0") not in ("", "0")
RESULTS = Path(os.environ.get("JAXDL_RESULTS", "results"))
if QUICK:
    # Seconds-long runs are compile-bound: compile fast, run slower. XLA's CPU fusion emitters
    # compile about twice as slowly as the classic ones, and its backend optimisations cost more
    # than they save here: without both, QUICK takes about 45% less CPU time. XLA reads XLA_FLAGS
    # when the backend starts, before any computation: every experiment imports this module
    # first. Full runs compile as usual.
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + " --xla_cpu_use_fusion_emitters=false").strip()
    import jax

    jax.config.update("jax_disable_most_optimizations", True)


def _plain(value: Any) -> Any:
    """JSON-safe copy: NumPy/JAX scalars and arrays to Python numbers and lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    return value


def fmt(value: Any, digits: int = 4) -> str:
    """A number for a table: fixed or scientific, whichever reads better."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e6):
            return f"{v:.{digits - 1}e}"
        return f"{v:.{digits + 2}g}"
    return str(value)


class Experiment:
    """Collects one experiment's claims, verdicts, tables, figures and metrics, then writes them.

    A verdict is computed from a measurement: `verdict(claim, holds, evidence)` with `holds` a bool
    the caller computed, or `condition=` for "holds only when ...".
    """

    def __init__(self, name: str, title: str, source: str):
        self.name, self.title, self.source = name, title, source
        self.dir = RESULTS / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.settings: dict[str, Any] = {"quick": QUICK}
        self.metrics: dict[str, Any] = {}
        self.verdicts: list[dict[str, str]] = []
        self.blocks: list[str] = []
        self.figures: list[str] = []
        self.t0 = time.perf_counter()

    def setting(self, **kwargs: Any) -> None:
        self.settings.update(kwargs)

    def verdict(self, claim: str, holds: bool, evidence: str, condition: str | None = None) -> str:
        """Record a judged claim. `condition` turns a partial result into 'holds only when ...'."""
        if condition is not None:
            word = f"holds only when {condition}"
        else:
            word = "holds" if bool(holds) else "does not hold"
        self.verdicts.append({"claim": claim, "verdict": word, "evidence": evidence})
        return word

    def table(self, title: str, headers: list[str], rows: list[list[Any]], note: str = "") -> str:
        lines = [f"### {title}", "", "| " + " | ".join(headers) + " |",
                 "|" + "---|" * len(headers)]
        lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
        if note:
            lines += ["", note]
        text = "\n".join(lines)
        self.blocks.append(text)
        return text

    def text(self, text: str) -> None:
        self.blocks.append(text)

    def figure(self, fig: Any, filename: str, caption: str = "") -> Path:
        import matplotlib.pyplot as plt

        path = self.dir / filename
        if QUICK:  # a test only needs the file: skip the layout passes, draw at a low resolution
            fig.set_layout_engine("none")
            fig.savefig(path, dpi=30)
        else:
            fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        self.figures.append(filename)
        self.blocks.append(f"![{caption or filename}]({filename})"
                           + (f"\n\n*{caption}*" if caption else ""))
        return path

    def finish(self) -> None:
        seconds = time.perf_counter() - self.t0
        self.metrics["seconds"] = seconds
        self.metrics["verdicts"] = self.verdicts
        lines = [f"## {self.name}: {self.title}", "", f"Source: {self.source}", "",
                 "Settings: " + ", ".join(f"{k}={v}" for k, v in self.settings.items()), "",
                 "| claim | verdict | evidence |", "|---|---|---|"]
        lines += [f"| {v['claim']} | **{v['verdict']}** | {v['evidence']} |" for v in self.verdicts]
        lines += [""] + [b + "\n" for b in self.blocks]
        lines.append(f"_Ran in {seconds:.1f} s._")
        (self.dir / "table.md").write_text("\n".join(lines) + "\n")
        (self.dir / "metrics.json").write_text(
            json.dumps(_plain({"settings": self.settings, **self.metrics}), indent=2) + "\n")
        print(f"[{self.name}] {self.title} ({seconds:.1f} s) -> {self.dir}/")
        for v in self.verdicts:
            print(f"  - {v['claim']}: {v['verdict'].upper()} ({v['evidence']})")
        sys.stdout.flush()
