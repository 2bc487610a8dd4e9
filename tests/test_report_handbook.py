"""The policy handbook as HTML (``policy doc --format html``): one anchor per entry reports link to,
the same content as the Markdown handbook, escaped, deterministic, well-formed.

The HTML checks at the top are a private copy (``Page``); the lead merges them into
tests/html_checks.py.
"""

from __future__ import annotations

import functools
import io
import itertools
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from attendance_rules.cli import main
from attendance_rules.handbook import local_choices, parameter_value
from attendance_rules.layers import load_policy_files
from attendance_rules.report.handbook import handbook_html
from attendance_rules.report.html import anchor

ROOT = Path(__file__).resolve().parents[1]
POLICIES = sorted(p.stem for p in (ROOT / "policies").glob("*.yaml"))


# --- minimal HTML checks (private copy) -------------------------------------------------------

_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"})


class Element:
    """A parsed element: tag, attributes, children (elements and text) and its parent."""

    def __init__(self, tag: str, attrs: dict[str, str], parent: Element | None) -> None:
        self.tag, self.attrs, self.parent, self.children = tag, attrs, parent, []

    def text(self) -> str:
        """The text inside, markup removed, white space folded."""
        parts = [c if isinstance(c, str) else c.text() for c in self.children]
        return " ".join(" ".join(parts).split())

    def iter(self, tag: str | None = None):
        """Every element below this one (document order), of ``tag`` when given."""
        for child in self.children:
            if isinstance(child, Element):
                if tag is None or child.tag == tag:
                    yield child
                yield from child.iter(tag)

    def ancestor(self, tag: str) -> Element | None:
        """The nearest enclosing element of ``tag``."""
        node = self.parent
        while node is not None and node.tag != tag:
            node = node.parent
        return node


class Page(HTMLParser):
    """A page parsed into elements; records tags that do not balance."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {}, None)
        self.current, self.problems = self.root, []
        self.feed(text)
        self.close()
        if self.current is not self.root:
            self.problems.append(f"unclosed <{self.current.tag}>")

    def handle_starttag(self, tag, attrs):
        element = Element(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(element)
        if tag not in _VOID:
            self.current = element

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Element(tag, {k: v or "" for k, v in attrs}, self.current))

    def handle_endtag(self, tag):
        if tag in _VOID:
            return
        if self.current.tag != tag:
            self.problems.append(f"</{tag}> closes <{self.current.tag}>")
            return
        self.current = self.current.parent

    def handle_data(self, data):
        self.current.children.append(data)

    def ids(self) -> list[str]:
        """Every id on the page, in document order (repeats kept)."""
        return [e.attrs["id"] for e in self.root.iter() if "id" in e.attrs]

    def by_id(self, element_id: str) -> Element:
        """The one element with this id."""
        if not hasattr(self, "_by_id"):
            self._by_id: dict[str, list[Element]] = {}
            for e in self.root.iter():
                if "id" in e.attrs:
                    self._by_id.setdefault(e.attrs["id"], []).append(e)
        found = self._by_id.get(element_id, [])
        assert len(found) == 1, f"{len(found)} elements with id {element_id!r}"
        return found[0]


def check_page(text: str) -> Page:
    """Well-formed, unique ids, one h1 and headings that never skip a level, every table with a
    caption and header cells, every in-page link landing on an id, no script, no external resource."""
    page = Page(text)
    assert page.problems == []
    ids = page.ids()
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    levels = [int(e.tag[1]) for e in page.root.iter() if re.fullmatch(r"h[1-6]", e.tag)]
    assert levels[:1] == [1] and levels.count(1) == 1
    assert all(b <= a + 1 for a, b in itertools.pairwise(levels)), levels
    for table in page.root.iter("table"):
        assert list(table.iter("caption")) and list(table.iter("th")), table.text()[:80]
        assert all(th.attrs.get("scope") in ("col", "row") for th in table.iter("th"))
    targets = {a.attrs["href"][1:] for a in page.root.iter("a") if a.attrs.get("href", "").startswith("#")}
    assert targets <= set(ids), sorted(targets - set(ids))
    assert not list(page.root.iter("script"))
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)
    return page


# --- the handbook ---------------------------------------------------------------------------


@functools.cache
def _handbook(policy_id: str) -> str:
    return handbook_html(load_policy_files(policy_id))


def _entries(policy_id: str) -> dict[str, set[str]]:
    policy = load_policy_files(policy_id)
    return {"rule": {r.id for r in policy.rules}, "parameter": set(policy.parameters), "action": set(policy.actions),
            "measure": set(policy.measures), "fact": {f for r in policy.rules for f in r.derive},
            "setting": set(policy.settings)}


@pytest.mark.parametrize("policy_id", POLICIES)
def test_every_entry_reports_link_to_has_exactly_one_anchor(policy_id):
    page = check_page(_handbook(policy_id))
    ids = page.ids()
    for kind, names in _entries(policy_id).items():
        for name in names:
            assert ids.count(anchor(kind, name)) == 1, (kind, name)
    assert _entries("halton")["setting"] == {"traded_ews"}  # settings are covered by at least one policy


@pytest.mark.parametrize("policy_id", POLICIES)
def test_the_page_says_what_the_markdown_handbook_says(policy_id):
    """Values, conditions, reasons and local choices of the Markdown handbook, each in its entry."""
    policy = load_policy_files(policy_id)
    page = Page(_handbook(policy_id))
    for name, param in policy.parameters.items():
        assert parameter_value(param) in page.by_id(anchor("parameter", name)).text()
    for rule in policy.rules:
        if policy.origin("rule", rule.id).policy != rule.policy:
            continue  # a replaced rule: its own entry (test below)
        entry = page.by_id(anchor("rule", rule.id)).text()
        assert rule.title in entry and " ".join(rule.when.text.split()) in entry
        assert all(" ".join(u.reason.split()) in entry for u in rule.unless)
        assert all(policy.actions[a].title in entry for a in rule.recommend)
    for name, action in policy.actions.items():
        assert action.title in page.by_id(anchor("action", name)).text()
    choices = page.by_id("local-choices").parent.text()  # the heading's section
    assert all(" ".join(text.split()) in choices for _, _, text, _ in local_choices(policy))


def test_a_rule_links_the_names_its_condition_uses():
    page = Page(_handbook("halton"))
    entry = page.by_id(anchor("rule", "persistent_absence_definition"))
    links = {a.attrs["href"] for a in entry.iter("a")}
    assert {"#measure-absence_rate_ytd", "#parameter-persistent_absence_rate",
            "#fact-persistent_absence"} <= links
    used = page.by_id(anchor("parameter", "persistent_absence_rate"))
    assert "#rule-persistent_absence_definition" in {a.attrs["href"] for a in used.iter("a")}


def test_a_replaced_rule_in_force_until_its_replacement_has_its_own_entry():
    """Hillingdon replaces england's tsm_targeting from 19 April 2023: reports link to the replacement."""
    page = Page(_handbook("hillingdon"))
    current = page.by_id("rule-tsm_targeting").text()
    older = page.by_id("rule-tsm_targeting--england").text()
    assert "hillingdon.yaml:" in current and "england.yaml:" in older and "until 2023-04-18" in older


def test_provenance_names_the_policy_files_as_outputs_show_them(monkeypatch):
    monkeypatch.chdir(ROOT)
    text = handbook_html(load_policy_files("widnes_academy"))
    assert "<code>policies/england.yaml</code> → <code>policies/halton.yaml</code> → " \
           "<code>policies/widnes_academy.yaml</code>" in text
    assert str(ROOT) not in text
    assert "(widnes_academy.yaml:41)" in Page(text).by_id("parameter-map_10_days").text()


def test_switched_off_rules_and_held_back_actions_of_a_small_policy(tmp_path):
    folder = tmp_path / "p"
    shutil.copytree(ROOT / "tests" / "policies" / "valid", folder)
    school = folder / "t_school.yaml"
    school.write_text(school.read_text(encoding="utf-8").replace(
        "title: Refer stage 2 pupils to the panel", 'title: "Refer <script>alert(1)</script> & panel"'),
        encoding="utf-8")
    text = handbook_html(load_policy_files(str(school)))
    page = check_page(text)
    assert "<script" not in text and "Refer &lt;script&gt;alert(1)&lt;/script&gt; &amp; panel" in text
    assert "support_meeting_rule" in page.by_id("switched-off").parent.text()
    clause = page.by_id("rule-school_panel")
    assert "holds back stage2_panel" in clause.text()


@pytest.mark.parametrize("policy_id", ["widnes_academy", "hillingdon"])
def test_two_renders_give_the_same_bytes(policy_id):
    assert handbook_html(load_policy_files(policy_id)) == _handbook(policy_id)


def test_the_same_bytes_across_processes_and_hash_seeds():
    code = ("import hashlib; from attendance_rules.layers import load_policy_files; "
            "from attendance_rules.report.handbook import handbook_html; "
            "print(hashlib.sha256(handbook_html(load_policy_files('england')).encode()).hexdigest())")
    digests = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
                              env={"PYTHONHASHSEED": seed, "PATH": "", "PYTHONPATH": str(ROOT)}).stdout
               for seed in ("1", "2")}
    assert len(digests) == 1 and len(digests.pop()) == 65


def test_policy_doc_writes_the_html_handbook(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    target = tmp_path / "handbook.html"
    out = io.StringIO()
    assert main(["policy", "doc", "tameside", "--format", "html", "--output", str(target)], out=out) == 0
    assert out.getvalue() == ""
    written = target.read_text(encoding="utf-8")
    assert written == handbook_html(load_policy_files("tameside"))
    assert "Tameside" in next(Page(written).root.iter("h1")).text()


def test_a_policy_that_does_not_compile_still_gets_its_handbook_without_name_links(tmp_path):
    folder = tmp_path / "p"
    shutil.copytree(ROOT / "tests" / "policies" / "valid", folder)
    school = folder / "t_school.yaml"
    school.write_text(school.read_text(encoding="utf-8").replace("not looked_after", "not no_such_name"),
                      encoding="utf-8")
    page = check_page(handbook_html(load_policy_files(str(school))))
    entry = page.by_id("rule-school_panel")
    assert "no_such_name" in entry.text() and not [s for s in page.root.iter("span") if "uses" in s.attrs.get("class", "")]


def test_the_shared_handbook_helpers_give_plain_data():
    """The helpers the Markdown and HTML handbooks share (attendance_rules.handbook)."""
    from attendance_rules.handbook import citation_parts, in_force_text, origin_parts, parameter_citation

    policy = load_policy_files("hillingdon")
    titles = {k: s.title for k, s in policy.sources.items()}
    param = policy.parameters["persistent_absence_rate"]
    title, where, says = citation_parts(parameter_citation(param), titles)
    assert title == policy.sources["working_together_2022"].title and where and says
    assert citation_parts(None, titles) is None
    older = next(r for r in policy.rules if r.id == "tsm_targeting" and r.policy == "england")
    assert in_force_text(older) == "until 2023-04-18"
    assert origin_parts(policy.rule_origin(older))[:2] == ("england", "england.yaml")
    kinds = {kind for kind, _, _, _ in local_choices(policy)}
    assert kinds <= {"parameter", "rule", "action"}
    assert ("rule", "tsm_targeting", older.local_choice.strip(), "england") in local_choices(policy)
