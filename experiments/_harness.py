"""What every experiment shares: full vs quick settings, verdicts computed from measurements, the
standard error, and the three outputs in $JAXDL_RESULTS/NAME/ (default results/NAME/: PNG
figures, table.md, metrics.json) plus a printed summary.

An experiment is `main(quick: bool) -> Experiment` behind `if __name__ == "__main__": run(main)`.
Importing it does nothing; `run` reads QUICK from the environment for the command line. Nothing
here sets process-wide state on import: an experiment can run inside another program (the tests,
which call `main(quick=True)` inside `quick_settings()`).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, TypeVar

import jax
import numpy as np

T = TypeVar("T")


def quick_from_env() -> bool:
    """QUICK=1 (any value but "" or "0") selects quick mode on the command line."""
    return os.environ.get("QUICK", "0") not in ("", "0")


def results_dir() -> Path:
    """Where results go: $JAXDL_RESULTS, else ./results (read when called)."""
    return Path(os.environ.get("JAXDL_RESULTS", "results"))


def sem(values: Any) -> float:
    """Standard error of the mean: sample std (ddof=1) / sqrt(n); NaN for fewer than 2 values.

    For the difference of two independent means, `np.hypot(sem(a), sem(b))`.
    """
    v = np.asarray(values, np.float64).ravel()
    if v.size < 2:
        return float("nan")
    return float(np.std(v, ddof=1) / np.sqrt(v.size))


def exceeds(a: Any, b: Any) -> bool:
    """The 2-standard-error rule of the experiments: the mean of the samples `a` (one value per
    seed) exceeds the mean of `b` by more than 2 standard errors of their difference,
    mean(a) - mean(b) > 2 * hypot(sem(a), sem(b)). False when either has fewer than 2 values."""
    return bool(np.mean(a) - np.mean(b) > 2 * np.hypot(sem(a), sem(b)))


def _runs(labels: list[str], keep: list[bool]) -> list[str]:
    """Consecutive kept labels as items: one label, or "between FIRST and LAST" for 3 or more."""
    items, run = [], []
    for label, k in zip([*labels, None], [*keep, False]):
        if k:
            run.append(label)
            continue
        if len(run) >= 3:
            items.append(f"between {run[0]} and {run[-1]}")
        else:
            items += run
        run = []
    return items


def only_when(cases: Mapping[str, bool], subject: str, ordered: bool = False) -> str | None:
    """The "holds only when ..." wording built from per-case results, or None when every case
    holds or none does. Names the holding cases, or the failing ones when they are fewer:
    "holds only when {subject} is one of A, B" / "... {subject} is not C". `ordered`: the cases
    follow a scale, so a run of 3 or more reads "between FIRST and LAST"."""
    labels, ok = list(cases), [bool(v) for v in cases.values()]
    if all(ok) or not any(ok):
        return None
    positive = sum(ok) <= len(ok) - sum(ok)
    keep = ok if positive else [not v for v in ok]
    items = _runs(labels, keep) if ordered else [lab for lab, k in zip(labels, keep) if k]
    if len(items) == 1:
        listing = items[0] if positive else f"not {items[0]}"
    else:
        listing = ("one of " if positive else "none of ") + ", ".join(items)
    return f"holds only when {subject} is {listing}"


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


def cell(value: Any) -> str:
    """A value as the text of one Markdown table cell: `fmt`, with every `|` escaped (GFM would
    take it for a column break, even inside backticks) and line breaks turned into spaces."""
    return fmt(value).replace("|", "\\|").replace("\n", " ")


def row(cells: Any) -> str:
    """One Markdown table row of escaped cells."""
    return "| " + " | ".join(cell(c) for c in cells) + " |"


QUICK_BANNER = ("> **QUICK run: settings shrunk for a smoke test; these verdicts mean nothing.** "
                "Run without QUICK for the real measurements.")


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


class Experiment:
    """Collects one experiment's claims, verdicts, tables, figures and metrics, then writes them
    to `results_dir() / name` (read at construction).

    `pick(full, quick)` is the one switch between the full run and the quick one (a smoke test
    of every code path, whose numbers mean nothing). A verdict is computed from a measurement:
    `verdict(claim, holds, evidence)`, or `verdict_cases(claim, cases, evidence, subject=...)`
    when the claim is judged case by case (a partial result reads "holds only when ...").
    """

    def __init__(self, name: str, title: str, source: str, *, quick: bool):
        self.name, self.title, self.source, self.quick = name, title, source, bool(quick)
        self.dir = results_dir() / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.settings: dict[str, Any] = {"quick": self.quick}
        self.metrics: dict[str, Any] = {}
        self.verdicts: list[dict[str, str]] = []
        self.blocks: list[str] = []
        self.figures: list[str] = []
        self.t0 = time.perf_counter()

    def pick(self, full: T, quick: T) -> T:
        """`full` in a full run, `quick` in quick mode."""
        return quick if self.quick else full

    def setting(self, **kwargs: Any) -> None:
        self.settings.update(kwargs)

    def _record(self, claim: str, word: str, evidence: str) -> str:
        self.verdicts.append({"claim": claim, "verdict": word, "evidence": evidence})
        return word

    def verdict(self, claim: str, holds: Any, evidence: str) -> str:
        """Record a claim judged as a whole: "holds" or "does not hold"."""
        return self._record(claim, "holds" if bool(holds) else "does not hold", evidence)

    def verdict_cases(self, claim: str, cases: Mapping[str, Any], evidence: str, *,
                      subject: str, ordered: bool = False) -> str:
        """Record a claim judged per case (`cases`: label -> holds): "holds" when every case
        holds, "does not hold" when none does, else "holds only when {subject} is ..." naming
        the cases (see `only_when`)."""
        word = only_when(cases, subject, ordered)
        if word is None:
            word = "holds" if cases and all(bool(v) for v in cases.values()) else "does not hold"
        return self._record(claim, word, evidence)

    def table(self, title: str, headers: list[str], rows: list[list[Any]], note: str = "") -> str:
        """A Markdown table; every cell goes through `cell` (numbers formatted, pipes escaped)."""
        lines = [f"### {title}", "", row(headers), "|" + "---|" * len(headers)]
        lines += [row(r) for r in rows]
        if note:
            lines += ["", note]
        text = "\n".join(lines)
        self.blocks.append(text)
        return text

    def text(self, text: str) -> None:
        self.blocks.append(text)

    def figure(self, fig: Any, filename: str, caption: str = "") -> Path:
        """Save a `matplotlib.figure.Figure` (see jaxdl.plot; no pyplot, no global state)."""
        path = self.dir / filename
        # a quick run draws the same figure at 72 dpi (readable; about 0.1 s more per figure
        # than skipping the layout, which clipped the axis labels)
        fig.savefig(path, dpi=72 if self.quick else 110, bbox_inches="tight")
        self.figures.append(filename)
        self.blocks.append(f"![{caption or filename}]({filename})"
                           + (f"\n\n*{caption}*" if caption else ""))
        return path

    def finish(self) -> "Experiment":
        seconds = time.perf_counter() - self.t0
        self.metrics["seconds"] = seconds
        self.metrics["verdicts"] = self.verdicts
        lines = [f"## {self.name}: {self.title}", ""] + ([QUICK_BANNER, ""] if self.quick else [])
        lines += [f"Source: {self.source}", "",
                  "Settings: " + ", ".join(f"{k}={v}" for k, v in self.settings.items()), "",
                  "| claim | verdict | evidence |", "|---|---|---|"]
        lines += [row([v["claim"], f"**{v['verdict']}**", v["evidence"]]) for v in self.verdicts]
        lines += [""] + [b + "\n" for b in self.blocks]
        lines.append(f"_Ran in {seconds:.1f} s._")
        (self.dir / "table.md").write_text("\n".join(lines) + "\n")
        (self.dir / "metrics.json").write_text(
            json.dumps(_plain({"settings": self.settings, **self.metrics}), indent=2) + "\n")
        mark = " [QUICK: smoke test, verdicts mean nothing]" if self.quick else ""
        print(f"[{self.name}] {self.title} ({seconds:.1f} s){mark} -> {self.dir}/")
        for v in self.verdicts:
            print(f"  - {v['claim']}: {('quick ' if self.quick else '') + v['verdict'].upper()} "
                  f"({v['evidence']})")
        sys.stdout.flush()
        return self


@contextlib.contextmanager
def quick_settings() -> Iterator[None]:
    """What makes a quick run compile faster, scoped to the `with` block: JAX's older
    (non-partitionable) threefry PRNG, whose programs compile about twice as fast on CPU (random
    init dominates the compile of a small model). It draws other random numbers, which a quick
    run (a smoke test) may; the setting is part of jit's cache key, so no program compiled here is
    reused outside, and it is restored on exit."""
    with jax.threefry_partitionable(False):
        yield


# XLA reads these when its backend starts, so only a command-line quick run (its own process)
# sets them: fewer backend passes and the classic CPU emitters compile faster and run slower
# (QUICK=1 python experiments/normalization.py: 11 s of CPU instead of 31).
QUICK_XLA_FLAGS = "--xla_cpu_use_fusion_emitters=false --xla_backend_optimization_level=0"


def run(main: Callable[[bool], Any]) -> None:
    """The command line: `main(quick)` with QUICK from the environment; a quick run also sets
    QUICK_XLA_FLAGS (before the backend starts: importing an experiment computes nothing) and
    runs in `quick_settings()`."""
    quick = quick_from_env()
    if not quick:
        main(False)
        return
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + QUICK_XLA_FLAGS).strip()
    with quick_settings():
        main(True)
