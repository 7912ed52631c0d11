"""Collect every experiment's results/NAME/table.md into results/REPORT.md: one page, the whole
course."""

import re
import sys

from _harness import results_dir

ORDER = ["perceptron", "backprop", "conv", "activations", "init", "vanishing", "losses", "depth",
         "batch_size", "normalization", "regularization", "optimizers", "schedules", "hyperparams",
         "finetune", "mnist1d_paper"]


def main() -> int:
    """Write REPORT.md in $JAXDL_RESULTS (else ./results); return 1 when there is nothing."""
    results = results_dir()
    found = sorted(p.parent.name for p in results.glob("*/table.md") if p.parent.name != "bench")
    names = [n for n in ORDER if n in found] + [n for n in found if n not in ORDER]
    if not names:
        print(f"no results under {results}/: run `make experiments` first", file=sys.stderr)
        return 1
    lines = ["# jaxdl: the fundamentals, measured", "",
             "Each section states the claims an experiment tests, the verdict computed from its "
             "measurement, its tables and figures. Regenerate with `make experiments`.", "",
             "| experiment | claims | hold | do not hold | hold only when |",
             "|---|---|---|---|---|"]
    sections = []
    for name in names:
        text = (results / name / "table.md").read_text()
        verdicts = re.findall(r"\| \*\*(.+?)\*\* \|", text)
        held = sum(v == "holds" for v in verdicts)
        failed = sum(v == "does not hold" for v in verdicts)
        lines.append(f"| [{name}](#{name}) | {len(verdicts)} | {held} | {failed} | "
                     f"{len(verdicts) - held - failed} |")
        text = re.sub(r"\]\((?!http)([^)]+\.png)\)", rf"]({name}/\1)", text)  # figure paths
        sections.append(f'<a id="{name}"></a>\n\n' + text.replace("## ", "## ", 1))
    (results / "REPORT.md").write_text("\n".join(lines) + "\n\n" + "\n\n---\n\n".join(sections))
    print(f"wrote {results / 'REPORT.md'} ({len(names)} experiments)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
