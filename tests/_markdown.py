"""Markdown checks shared by the report and docs tests: every GFM table parses (markdown-it-py,
CommonMark + the GFM table rule) with as many cells in each row as in its header, and every
image points at a file."""

from __future__ import annotations

from pathlib import Path

from markdown_it import MarkdownIt

PARSER = MarkdownIt("commonmark").enable("table")


def cells(line: str) -> list[str]:
    """A table row's cells, split as GFM does: on every `|` not escaped by a backslash."""
    line = line.strip()
    line = line[1:] if line.startswith("|") else line
    line = line[:-1] if line.endswith("|") and not line.endswith("\\|") else line
    out, cur, escaped = [], "", False
    for ch in line:
        if ch == "|" and not escaped:
            out.append(cur)
            cur = ""
        else:
            cur += ch
        escaped = ch == "\\"
    return [*out, cur]


def problems(path: Path) -> list[str]:
    """What is wrong with the Markdown file at `path` (empty when nothing is)."""
    text = path.read_text()
    lines = text.splitlines()
    tokens = PARSER.parse(text)
    found, errors = [], []
    for tok in tokens:
        if tok.type == "table_open":
            first, last = tok.map
            found.append(first)
            width = len(cells(lines[first]))
            for n in range(first, last):
                if len(cells(lines[n])) != width:
                    errors.append(f"{path.name}:{n + 1}: {len(cells(lines[n]))} cells, the "
                                  f"header has {width}: {lines[n][:80]}")
        for child in tok.children or ():
            if child.type == "image":
                src = child.attrGet("src")
                if not src.startswith("http") and not (path.parent / src).is_file():
                    errors.append(f"{path.name}: image {src} is not a file")
    # a header + delimiter pair that the parser did not take for a table
    in_code = False
    for n, line in enumerate(lines[:-1]):
        in_code ^= line.startswith("```")
        if (not in_code and line.startswith("|") and lines[n + 1].startswith("|-")
                and n not in found):
            errors.append(f"{path.name}:{n + 1}: not parsed as a table: {line[:80]}")
    return errors
