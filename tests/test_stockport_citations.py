"""Stockport's citations point at the paragraph and the lines of the source text that say it.

Each `stockport_report` citation in policies/stockport.yaml is written
`paragraph: "3.2.2 (line 80)"` (several paragraphs: `"3.4.6-3.4.7, 5.4 (lines 138-140, 161)"`).
These tests read the source text file, find where each numbered paragraph starts and ends, and
check that every cited line lies in a cited paragraph and every cited paragraph holds a cited line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
POLICY = ROOT / "policies" / "stockport.yaml"
# A numbered paragraph or heading of the report: "- 1.1** In May", "2.2 Expectations", "3 Progress".
_HEADING = re.compile(r"^(?:- )?(\d+(?:\.\d+)*)(?:\*\*)?\s+\S")
_CITED = re.compile(r"^(?P<paras>[^()]+?)\s*\(lines? (?P<lines>[^)]+)\)$")
_IN_NOTE = re.compile(r"(\d+\.\d+(?:\.\d+)?) \(lines? ([^)]+)\)")


def _policy() -> dict[str, Any]:
    """The Stockport policy as plain data."""
    return yaml.safe_load(POLICY.read_text(encoding="utf-8"))


def _source_lines() -> list[str]:
    """The report's text file, one entry per line (line 1 at index 0); skips when absent."""
    location = _policy()["sources"]["stockport_report"]["location"]
    path = ROOT.parent / location
    if not path.is_file():
        pytest.skip(f"source text not available at {path}")
    return path.read_text(encoding="utf-8").splitlines()


def paragraph_spans(lines: list[str]) -> dict[str, range]:
    """Each numbered paragraph's line numbers: from its heading to the line before the next one."""
    starts = [(number, match.group(1)) for number, line in enumerate(lines, start=1)
              if (match := _HEADING.match(line))]
    ends = [start for start, _ in starts[1:]] + [len(lines) + 1]
    return {para: range(start, end) for (start, para), end in zip(starts, ends)}


def _expand(text: str, order: list[str]) -> list[str]:
    """Paragraph ids of '3.4.6-3.4.7, 5.4' in the report's order (a range takes those between)."""
    out: list[str] = []
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        out.extend(order[order.index(first):order.index(last or first) + 1])
    return out


def _numbers(text: str) -> list[int]:
    """Line numbers of '138-140, 161'."""
    out: list[int] = []
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        out.extend(range(int(first), int(last or first) + 1))
    return out


def _citations(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every citation of the report in the policy, with where it sits."""
    if isinstance(node, dict):
        if node.get("source") == "stockport_report" and "says" in node:
            yield where, node
        for key, value in node.items():
            yield from _citations(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _citations(value, f"{where}/{index}")


def _mismatches(paras: list[str], cited: list[int], spans: dict[str, range]) -> list[str]:
    """Lines outside every cited paragraph, and cited paragraphs holding no cited line."""
    stray = [f"line {line} is in no cited paragraph" for line in cited
             if not any(line in spans[para] for para in paras)]
    empty = [f"paragraph {para} holds no cited line" for para in paras
             if not any(line in spans[para] for line in cited)]
    return stray + empty


def test_every_citation_of_the_report_gives_lines_inside_its_paragraphs():
    spans = paragraph_spans(_source_lines())
    order = list(spans)
    problems = []
    for where, cite in _citations(_policy()):
        match = _CITED.match(str(cite.get("paragraph", "")))
        if match is None:
            problems.append(f"{where}: paragraph {cite.get('paragraph')!r} gives no line numbers")
            continue
        found = _mismatches(_expand(match["paras"], order), _numbers(match["lines"]), spans)
        problems += [f"{where}: {problem}" for problem in found]
        for para, lines in _IN_NOTE.findall(str(cite.get("note", ""))):
            problems += [f"{where}/note: {p}" for p in _mismatches([para], _numbers(lines), spans)]
    assert not problems, "\n".join(problems)


def test_anxiety_based_avoidance_cites_the_paragraph_with_its_trigger():
    """Issue 13 item 16: anxiety as the cause of absence is in 3.2.2 (line 80), not 3.2.3."""
    rule = next(r for r in _policy()["rules"] if r["id"] == "stockport_anxiety_based_avoidance")
    assert rule["cite"]["paragraph"] == "3.2.2 (line 80)"
    line = _source_lines()[80 - 1]
    assert "Anxiety Based School Avoidance" in line and "cause of absence" in line


def test_paragraph_spans_follow_the_numbering():
    spans = paragraph_spans(_source_lines())
    assert 40 in spans["2.2"] and 80 in spans["3.2.2"] and 88 in spans["3.2.3"]
    assert 80 not in spans["3.2.3"] and list(spans).index("3.2.2") < list(spans).index("3.2.3")
