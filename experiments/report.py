"""Collect every experiment's results/NAME/table.md into results/REPORT.md: one page, the whole
course. `python experiments/report.py --snapshot DIR` also writes the docs site's report pages
(DIR/index.md, one DIR/NAME.md per experiment, its figures in DIR/NAME/), stamped with the
commit, date, machine and jax version (`make report-snapshot` runs the full experiments first).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import claims as inventory
from _harness import QUICK_BANNER, results_dir, row

ORDER = ["perceptron", "backprop", "conv", "activations", "init", "vanishing", "losses", "depth",
         "batch_size", "normalization", "bn_mechanisms", "regularization", "optimizers",
         "schedules", "hyperparams", "finetune", "mnist1d_paper"]
VERDICT = re.compile(r"^\| .*? \| \*\*(.+?)\*\* \| .* \|$", re.M)
FIGURE = re.compile(r"\]\((?!http)([^)]+\.png)\)")


def verdicts(table: str) -> list[str]:
    """The verdict words of a table.md's claims table (the bold middle cell of each row)."""
    return VERDICT.findall(table)


def counts(results: Path, name: str) -> list[int]:
    """[claims, hold, do not hold, hold only when] of one experiment: from its metrics.json,
    else from the claims table of its table.md."""
    try:
        words = [v["verdict"] for v in
                 json.loads((results / name / "metrics.json").read_text())["verdicts"]]
    except (OSError, ValueError, KeyError):
        words = verdicts((results / name / "table.md").read_text())
    held = sum(w == "holds" for w in words)
    failed = sum(w == "does not hold" for w in words)
    return [len(words), held, failed, len(words) - held - failed]


def experiments(results: Path) -> list[str]:
    found = sorted(p.parent.name for p in results.glob("*/table.md") if p.parent.name != "bench")
    return [n for n in ORDER if n in found] + [n for n in found if n not in ORDER]


def is_quick(results: Path, name: str) -> bool:
    try:
        return bool(json.loads((results / name / "metrics.json").read_text())["settings"]["quick"])
    except (OSError, ValueError, KeyError):
        return QUICK_BANNER in (results / name / "table.md").read_text()


def stamp() -> str:
    """Which code, when, where and with which jax the results were produced."""
    import jax

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], capture_output=True, text=True,
                                  check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "unknown"

    commit = git("rev-parse", "--short=12", "HEAD")
    dirty = " (with uncommitted changes)" if git("status", "--porcelain", "--untracked-files=no",
                                                 "jaxdl", "experiments") else ""
    device = jax.devices()[0]
    return (f"Produced by commit `{commit}`{dirty} on {datetime.date.today().isoformat()}, "
            f"{platform.machine()} with {os.cpu_count()} CPU cores ({platform.system()}), "
            f"Python {platform.python_version()}, jax {jax.__version__} on "
            f"{device.platform.upper()} ({device.device_kind}).")


def summary(results: Path, names: list[str], link: str) -> list[str]:
    lines = ["| experiment | claims | hold | do not hold | hold only when |", "|---|---|---|---|---|"]
    for name in names:
        lines.append(row([f"[{name}]({link.format(name=name)})",
                          *counts(results, name)]))
    return lines


def main(snapshot: Path | None = None) -> int:
    """Write REPORT.md in $JAXDL_RESULTS (else ./results), and the docs pages when `snapshot` is
    given; return 1 when there is nothing to collect."""
    results = results_dir()
    names = experiments(results)
    if not names:
        print(f"no results under {results}/: run `make experiments` first", file=sys.stderr)
        return 1
    quick = [n for n in names if is_quick(results, n)]
    head = ["# jaxdl: the fundamentals, measured", ""]
    if quick:
        head += [QUICK_BANNER + f" (QUICK: {', '.join(quick)})", ""]
    head += ["Each section states the claims an experiment tests, the verdict computed from its "
             "measurement, its tables and figures. Regenerate with `make experiments`.", ""]
    head += [claims_page(results, results / "claims.md", "REPORT.md#{name}"), ""]
    sections = []
    for name in names:
        text = FIGURE.sub(rf"]({name}/\1)", (results / name / "table.md").read_text())
        sections.append(f'<a id="{name}"></a>\n\n' + text)
    (results / "REPORT.md").write_text("\n".join(head + summary(results, names, "#{name}"))
                                       + "\n\n" + "\n\n---\n\n".join(sections))
    print(f"wrote {results / 'REPORT.md'} ({len(names)} experiments"
          + (f", {len(quick)} QUICK" if quick else "") + ")")
    if snapshot is not None:
        write_snapshot(results, names, quick, Path(snapshot))
    return 0


def claims_page(results: Path, dest: Path, link: str) -> str:
    """Write the claims inventory with these results' verdicts to `dest` (when every experiment
    it names has run) and return the coverage line that opens the report."""
    claims = inventory.inventory()
    try:
        dest.write_text(inventory.render(claims, inventory.verdicts(results), link))
    except LookupError as e:  # a partial run (one experiment): the inventory names the others
        print(f"not writing {dest.name}: {e}", file=sys.stderr)
        return inventory.coverage_line(claims, "../experiments/claims.md")
    return inventory.coverage_line(claims, dest.name)


PNG_LIMIT = 200_000  # bytes per figure in the committed snapshot


def shrink(src: Path, dst: Path, limit: int = PNG_LIMIT) -> None:
    """Copy a PNG, re-encoded with a 256-colour palette when it is over `limit` bytes (plots have
    few colours: it looks the same), then scaled down until it fits."""
    from PIL import Image

    if src.stat().st_size <= limit:
        shutil.copy2(src, dst)
        return
    with Image.open(src) as im:
        image = im.convert("RGB")
    scale = 1.0
    while True:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        small = image if scale == 1.0 else image.resize(size, Image.LANCZOS)
        small.quantize(256, method=Image.Quantize.MEDIANCUT).save(dst, optimize=True)
        if dst.stat().st_size <= limit:
            return
        scale *= 0.85 * (limit / dst.stat().st_size) ** 0.5


def write_snapshot(results: Path, names: list[str], quick: list[str], dest: Path) -> None:
    """The report as docs pages: index.md (stamp and summary), NAME.md, NAME/*.png."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    index = ["# The report: the fundamentals, measured", ""]
    if quick:
        index += [QUICK_BANNER + f" (QUICK: {', '.join(quick)})", ""]
    index += [stamp(), "", claims_page(results, dest / "claims.md", "{name}.md"), "",
              "Each page states the claims an experiment tests, the verdict computed from its "
              "measurement (a claim judged case by case reads *holds only when ...*), its tables "
              "and figures. `make report-snapshot` regenerates these pages with the full "
              "settings; `make experiments` writes the same into results/.", ""]
    (dest / "index.md").write_text("\n".join(index + summary(results, names, "{name}.md")) + "\n")
    for name in names:
        text = (results / name / "table.md").read_text()
        text = re.sub(r"^## ", "# ", text, count=1)  # the page title
        text = re.sub(r"^### ", "## ", text, flags=re.M)
        text = FIGURE.sub(rf"]({name}/\1)", text)
        (dest / f"{name}.md").write_text(text)
        figures = sorted((results / name).glob("*.png"))
        if figures:
            (dest / name).mkdir()
        for fig in figures:
            shrink(fig, dest / name / fig.name)
    size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    print(f"wrote the report pages to {dest}/ ({size / 1e6:.2f} MB)")


if __name__ == "__main__":
    args = sys.argv[1:]
    if args and (args[0] != "--snapshot" or len(args) != 2):
        sys.exit("usage: python experiments/report.py [--snapshot DIR]")
    sys.exit(main(Path(args[1]) if args else None))
