"""The audit as a page (``report audit``): every finding once, under its kind, with counts that
add up, citations as text and as links that land in the handbook; escaped; deterministic.

Five pupils of the bundled sample over the autumn and early spring of 2023-24 under Halton
give findings of every kind (unsupported, held back but done, overdue, missing evidence).
The HTML checks are the shared ones of tests/html_checks.py.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
from collections import Counter
from pathlib import Path

import attrs
import pytest
from html_checks import by_id, check_page, ids, links, parse

from attendance_rules.cli import main
from attendance_rules.engine.compiled import load_policy
from attendance_rules.engine.results import CitationView, ValueView
from attendance_rules.policy.layers import load_policy_files
from attendance_rules.registers.readers import load_history
from attendance_rules.replay.audit import audit
from attendance_rules.replay.audit_findings import KINDS, AuditReport, EventRef, Finding
from attendance_rules.report.audit import KIND_TITLES, audit_html
from attendance_rules.report.handbook import handbook_html
from attendance_rules.report.html import handbook_link, long_date

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "sample" / "history.json"
PUPILS = ["P00010", "P00020", "P00044", "P00173", "P00202"]
START, END = dt.date(2023, 9, 1), dt.date(2024, 2, 9)
HANDBOOK = "handbook-halton.html"


@functools.cache
def _audited() -> tuple[AuditReport, object]:
    policy = load_policy("halton")
    return audit(policy, load_history([SAMPLE]), START, END, PUPILS), policy


@functools.cache
def _page() -> str:
    report, policy = _audited()
    return audit_html(report, policy, handbook=HANDBOOK)


def _folded(text: str) -> str:
    return " ".join(text.split())


def test_the_sample_gives_findings_of_every_kind():
    report, _ = _audited()
    assert all(report.counts().values()), report.counts()  # else the tests below prove less


def test_every_finding_appears_once_under_its_kind_with_its_details():
    report, _ = _audited()
    page = check_page(_page())
    articles = [a for a in page.find("article") if "finding" in a.attrs.get("class", "")]
    assert len(articles) == len(report.findings)
    for number, finding in enumerate(report.findings, 1):
        article = by_id(page, f"finding-{number}")
        section = article.ancestor("section")
        assert section.find("h2")[0].attrs["id"] == f"kind-{finding.kind}"
        assert article.ancestor("section") is section and f"Pupil {finding.pupil_id}" in _pupil_heading(article)
        text = article.text()
        for part in (finding.pupil_id, long_date(finding.date), finding.action, _folded(finding.message),
                     str(finding.source), *(_folded(v.actual) for v in finding.values)):
            assert part in text, (number, part)
        if finding.event:
            assert finding.event.type in text and long_date(finding.event.date) in text
        if finding.due:
            assert long_date(finding.due) in text and long_date(finding.called_for) in text
        hrefs = {a.attrs["href"] for a in article.find("a")}
        assert handbook_link(HANDBOOK, "action", finding.action) in hrefs
        assert not finding.rule or handbook_link(HANDBOOK, "rule", finding.rule) in hrefs


def _pupil_heading(article) -> str:
    """The text of the h3 that comes last before the article in its section."""
    section = article.ancestor("section")
    heading = ""
    for element in section.elements():
        if element is article:
            return heading
        if element.tag == "h3":
            heading = element.text()
    raise AssertionError("article not in its section")


def test_counts_per_kind_and_per_action_match_the_findings():
    report, _ = _audited()
    page = parse(_page())[0]
    counts = report.counts()
    summary = next(t for t in page.find("table") if t.find("caption")[0].text() == "Findings by kind")
    rows = {r.find("code")[0].text(): r for r in summary.find("tr") if r.find("code")}
    for kind in KINDS:
        assert rows[kind].text().endswith(str(counts[kind]))
        heading = by_id(page, f"kind-{kind}")
        assert heading.text() == f"{KIND_TITLES[kind]} ({counts[kind]})"
        assert sum(1 for a in heading.parent.find("article")) == counts[kind]
    by_action = next(t for t in page.find("table") if t.find("caption")[0].text() == "Findings by action and kind")
    expected = Counter((f.action, f.kind) for f in report.findings)
    body = by_action.find("tbody")[0]
    for row in body.find("tr"):
        action = row.find("code")[-1].text()
        numbers = [int(td.text()) for td in row.find("td")]
        assert numbers == [expected[(action, k)] for k in KINDS] + [sum(expected[(action, k)] for k in KINDS)]
    assert len(body.find("tr")) == len({f.action for f in report.findings})


def test_every_link_into_the_handbook_lands_on_an_anchor_of_that_policy_s_handbook():
    anchors = set(ids(parse(handbook_html(load_policy_files("halton")))[0]))
    hrefs = [href for href in links(parse(_page())[0]) if href.startswith(HANDBOOK)]
    targets = {href.removeprefix(HANDBOOK + "#") for href in hrefs if "#" in href}
    assert any(t.startswith("rule-") for t in targets) and any(t.startswith("action-") for t in targets)
    assert targets <= anchors, sorted(targets - anchors)


def test_provenance_names_the_policy_files_the_history_digest_and_the_range():
    report, _ = _audited()
    audited = by_id(parse(_page())[0], "audited").parent.text()
    assert report.provenance.history["digest"] in audited and report.provenance.policy["digest"] in audited
    assert all(f["path"] in audited for f in report.provenance.policy["files"])
    assert "1 September 2023" in audited and "9 February 2024" in audited


def test_free_text_from_the_history_is_shown_as_text():
    report, policy = _audited()
    evil = "<script>alert(1)</script>"
    finding = Finding(
        pupil_id=evil,
        date=dt.date(2024, 1, 8),
        kind="unsupported",
        action="stage1_letter",
        event=EventRef(
            "letter_sent", dt.date(2024, 1, 8), (("action", "stage1_letter"), ("note", evil))
        ),
        rule="",
        message=f"letter_sent carries out stage1_letter {evil}",
        source=CitationView(document="", title="", section="", page="", paragraph="", says=""),
        values=(ValueView(test="x", actual=evil, required="", holds=False),),
    )
    text = audit_html(attrs.evolve(report, findings=report.findings + (finding,)), policy, handbook=HANDBOOK)
    check_page(text)
    assert "<script" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_two_renders_give_the_same_bytes():
    report, policy = _audited()
    assert audit_html(report, policy, handbook=HANDBOOK) == _page()


def test_report_audit_writes_the_page_and_the_handbook_beside_it(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    out, err = io.StringIO(), io.StringIO()
    argv = ["report", "audit", "--policy", "halton", "--history", str(SAMPLE), "--from", START.isoformat(),
            "--to", END.isoformat(), "--jobs", "1", "--quiet", "-o", str(tmp_path / "audit.html")]
    assert main(argv + [a for p in PUPILS for a in ("--pupil", p)], out, err) == 0, err.getvalue()
    page = (tmp_path / "audit.html").read_text(encoding="utf-8")
    policy = load_policy("halton")  # paths in provenance are shown relative to this working directory
    assert page == audit_html(audit(policy, load_history([SAMPLE]), START, END, PUPILS), policy, handbook=HANDBOOK)
    handbook = (tmp_path / HANDBOOK).read_text(encoding="utf-8")
    assert handbook == handbook_html(load_policy_files("halton"))
    assert out.getvalue() == ""


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_is_explained_in_words(kind):
    section = by_id(parse(_page())[0], f"kind-{kind}").parent
    paragraph = section.find("p")[0].text()
    assert len(paragraph.split()) > 15 and kind in paragraph
