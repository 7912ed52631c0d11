"""The claims inventory: every testable claim of the four fundamentals texts, and the experiment row
that judges it (or why none can).

experiments/claims.tsv is the inventory, written by reading the texts (../shared/fundamentals/):
one row per claim with its source, section, the claim in English, a few words of the original to
find it, and `judged_by`: "EXPERIMENT: KEY" (KEY is the start of exactly one claim of that
experiment's verdict table) or "not testable here: WHY".

`python experiments/claims.py [RESULTS]` renders experiments/claims.md from the inventory and the
verdicts of RESULTS (default: the committed full-run report, docs/report/), so the inventory
cannot drift from what the experiments judge: a key that matches no verdict row, or more than
one, is an error. report.py puts the coverage numbers at the top of REPORT.md.
"""


import csv
import re
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
INVENTORY = HERE / "claims.tsv"
SNAPSHOT = HERE.parent / "docs" / "report"
OUTPUT = HERE / "claims.md"
NOT_TESTABLE = "not testable here: "
ROW = re.compile(r"^\| (.+?) \| \*\*(.+?)\*\* \| (.*) \|$", re.M)
SOURCES = {"000": "Deep Learning 500 Questions, chapter 3", "001": "notes on a simple network",
           "002": "blog: neural networks (ANN)", "003": "tutorial outline"}
MIN_KEY = 20


@dataclass(frozen=True)
class Claim:
    source: str
    section: str
    claim: str
    original: str
    experiment: str | None  # None: not testable here
    key: str  # the verdict row's start, or why it is not testable


def inventory(path: Path = INVENTORY) -> list[Claim]:
    """The rows of claims.tsv, checked for shape (ValueError names the line)."""
    claims = []
    with open(path, newline="", encoding="utf-8") as f:
        for line, row in enumerate(csv.DictReader(f, delimiter="\t"), start=2):
            if None in row or any(v is None or not v.strip() for v in row.values()):
                raise ValueError(f"{path.name}:{line}: 5 non-empty tab-separated fields expected")
            judged = row["judged_by"]
            if judged.startswith(NOT_TESTABLE):
                experiment, key = None, judged[len(NOT_TESTABLE):]
            else:
                experiment, sep, key = judged.partition(": ")
                if not sep or len(key) < MIN_KEY:
                    raise ValueError(f"{path.name}:{line}: judged_by must be 'EXPERIMENT: KEY' "
                                     f"(KEY >= {MIN_KEY} characters) or '{NOT_TESTABLE}WHY', "
                                     f"got {judged!r}")
            if row["source"] not in SOURCES:
                raise ValueError(f"{path.name}:{line}: source must be one of {list(SOURCES)}")
            claims.append(Claim(row["source"], row["section"], row["claim"], row["original"],
                                experiment, key))
    return claims


def unescape(cell: str) -> str:
    return cell.replace("\\|", "|")


def verdict_rows(table: str) -> list[tuple[str, str, str]]:
    """(claim, verdict, evidence) of each row of a table.md / report page's claims table."""
    return [(unescape(c), v, unescape(e)) for c, v, e in ROW.findall(table)]


def verdicts(results: Path) -> dict[str, list[tuple[str, str, str]]]:
    """experiment -> its verdict rows, from RESULTS/NAME/table.md (a results directory) or
    RESULTS/NAME.md (the docs snapshot)."""
    found = {p.parent.name: p for p in results.glob("*/table.md")}
    if not found:  # the docs snapshot: one page per experiment
        found = {p.stem: p for p in results.glob("*.md") if p.stem not in ("index", "claims")}
    return {name: verdict_rows(p.read_text()) for name, p in sorted(found.items())}


def match(claim: Claim, rows: dict[str, list[tuple[str, str, str]]]) -> tuple[str, str, str]:
    """The one verdict row that judges `claim` (LookupError says why there is not exactly one)."""
    if claim.experiment not in rows:
        raise LookupError(f"{claim.experiment!r} has no verdicts (claim: {claim.claim!r})")
    hits = [r for r in rows[claim.experiment] if r[0].startswith(claim.key)]
    if len(hits) != 1:
        raise LookupError(f"{claim.experiment}: {claim.key!r} matches {len(hits)} verdict rows, "
                          f"not 1 (claim: {claim.claim!r})")
    return hits[0]


def coverage(claims: list[Claim]) -> dict[str, int]:
    judged = sum(c.experiment is not None for c in claims)
    return {"claims": len(claims), "judged": judged, "not_testable": len(claims) - judged}


def coverage_line(claims: list[Claim], link: str = "claims.md") -> str:
    n = coverage(claims)
    return (f"**Claims inventory** ([{link}]({link})): the four texts make {n['claims']} testable "
            f"claims; {n['judged']} ({100 * n['judged'] / n['claims']:.0f} %) are judged by a "
            f"measured row below, {n['not_testable']} are not testable here (each says why).")


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(claims: list[Claim], rows: dict[str, list[tuple[str, str, str]]],
           link: str = "{name}.md") -> str:
    """claims.md: coverage, one table per source text, then the verdict rows that judge no claim
    of the texts (other sources, or checks of jaxdl itself). `link` points at an experiment's
    page."""
    used: set[tuple[str, str]] = set()
    words = {"holds": 0, "does not hold": 0, "holds only when": 0}
    sentence = coverage_line(claims, "claims.md").split(": ", 1)[1]
    lines = ["# Claims inventory: what the fundamentals claim, and what the measurements say", "",
             "Generated by `python experiments/claims.py` from experiments/claims.tsv (read from "
             "the texts in ../shared/fundamentals/) and the verdicts of the full report. Each "
             "claim names the experiment row that judges it; a claim no experiment here can "
             "test says why.", "", sentence[0].upper() + sentence[1:], ""]
    body = []
    for source, title in SOURCES.items():
        body += [f"## {source}: {title}", "",
                 "| section | claim | original | verdict | judged by |", "|---|---|---|---|---|"]
        for c in (c for c in claims if c.source == source):
            if c.experiment is None:
                verdict, by = "not testable here", c.key
            else:
                claim_text, verdict, _ = match(c, rows)
                used.add((c.experiment, claim_text))
                words["holds" if verdict == "holds" else "does not hold"
                      if verdict == "does not hold" else "holds only when"] += 1
                by = f"[{c.experiment}]({link.format(name=c.experiment)}): {claim_text}"
            body.append("| " + " | ".join(cell(x) for x in (
                c.section, c.claim, c.original, f"**{verdict}**", by)) + " |")
        body.append("")
    lines += [f"Of the judged claims, {words['holds']} hold, {words['does not hold']} do not "
              f"hold and {words['holds only when']} hold only under a condition the measurement "
              "names.", ""] + body
    extra = [(name, claim, verdict) for name, rs in rows.items() for claim, verdict, _ in rs
             if (name, claim) not in used]
    lines += ["## Rows that judge no claim of the four texts", "",
              "Checks of jaxdl itself, and claims of other sources (the MNIST-1D paper, the "
              "original backprop walk-through the chapter abridges):", "",
              "| experiment | claim | verdict |", "|---|---|---|"]
    lines += ["| " + " | ".join((f"[{name}]({link.format(name=name)})", cell(claim),
                                 f"**{verdict}**")) + " |" for name, claim, verdict in extra]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    results = Path(argv[0]) if argv else SNAPSHOT
    rows = verdicts(results)
    if not rows:
        print(f"no verdicts under {results}/", file=sys.stderr)
        return 1
    claims = inventory()
    OUTPUT.write_text(render(claims, rows, "../docs/report/{name}.md"))
    n = coverage(claims)
    print(f"wrote {OUTPUT}: {n['claims']} claims, {n['judged']} judged, "
          f"{n['not_testable']} not testable here (verdicts from {results}/)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
