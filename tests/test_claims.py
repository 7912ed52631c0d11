"""The claims inventory (experiments/claims.tsv -> experiments/claims.md): it is large enough and
judged enough, every key names exactly one verdict row of the committed full report, the rendered
page is current, and a rendered verdict is the measured one (a failed row reads "does not hold").
Each experiment's quick test also matches the inventory's keys against the claims that run
produces (tests/test_experiments.py), so the inventory follows the code, not only the snapshot."""

import importlib.util
from pathlib import Path

import pytest

from _markdown import problems

ROOT = Path(__file__).resolve().parents[1]


def load():
    spec = importlib.util.spec_from_file_location("claims_inventory",
                                                  ROOT / "experiments" / "claims.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_inventory_is_large_and_judged():
    c = load()
    claims = c.inventory()
    n = c.coverage(claims)
    assert n["claims"] >= 140, n
    assert n["judged"] >= 0.9 * n["claims"], n
    for claim in claims:
        if claim.experiment is None:  # says why, in words
            assert len(claim.key.split()) >= 6, claim
    assert len({(x.source, x.claim) for x in claims}) == len(claims), "a claim listed twice"


def test_every_key_names_one_row_of_the_committed_report_and_claims_md_is_current():
    c = load()
    claims, rows = c.inventory(), c.verdicts(c.SNAPSHOT)
    for claim in claims:
        if claim.experiment is not None:
            c.match(claim, rows)  # LookupError: no row, or several
    assert c.OUTPUT.read_text() == c.render(claims, rows, "../docs/report/{name}.md"), (
        "experiments/claims.md is stale: run `python experiments/claims.py`")
    assert problems(c.OUTPUT) == []
    assert (c.SNAPSHOT / "claims.md").read_text() == c.render(claims, rows, "{name}.md")


def test_rendered_verdicts_are_the_measured_ones(tmp_path):
    c = load()
    claims = [c.Claim("000", "3.1", "A claims B", "甲", "e1", "A is better than B, measured"),
              c.Claim("001", "2", "C claims D", "乙", "e1", "C equals D by the formula"),
              c.Claim("003", "x", "cannot", "丙", None, "needs a data set that is not shipped")]
    rows = {"e1": [("A is better than B, measured (000 3.1)", "does not hold", "0.1 < 0.2"),
                   ("C equals D by the formula", "holds only when x is y", "e"),
                   ("an extra check of jaxdl", "holds", "e")]}
    text = c.render(claims, rows)
    assert "| 3.1 | A claims B | 甲 | **does not hold** | [e1](e1.md): A is better" in text
    assert "**holds only when x is y**" in text
    assert "| cannot | 丙 | **not testable here** | needs a data set" in text
    assert "| [e1](e1.md) | an extra check of jaxdl | **holds** |" in text  # judges no claim
    assert "Of the judged claims, 0 hold, 1 do not hold and 1 hold only" in text
    (tmp_path / "claims.md").write_text(text)
    assert problems(tmp_path / "claims.md") == []
    twice = {"e1": rows["e1"] + [("A is better than B, measured again", "holds", "e")]}
    with pytest.raises(LookupError, match="matches 2"):
        c.render(claims, twice)
    with pytest.raises(LookupError, match="matches 0"):
        c.render(claims, {"e1": rows["e1"][1:]})
    with pytest.raises(LookupError, match="no verdicts"):
        c.render(claims, {})


def test_inventory_rejects_malformed_rows(tmp_path):
    c = load()
    head = "source\tsection\tclaim\toriginal\tjudged_by\n"
    for bad, message in (("000\t3.1\tc\to\te1: short\n", "KEY >= 20"),
                         ("000\t3.1\tc\to\n", "5 non-empty"),
                         ("004\t3.1\tc\to\tnot testable here: why not\n", "source must be"),
                         ("000\t3.1\t \to\tnot testable here: why not\n", "5 non-empty")):
        (tmp_path / "claims.tsv").write_text(head + bad)
        with pytest.raises(ValueError, match=message) as info:
            c.inventory(tmp_path / "claims.tsv")
        assert "claims.tsv:2" in str(info.value)
