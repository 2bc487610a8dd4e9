"""The policy handbook as HTML (``policy doc --format html``): one anchor per entry reports link to,
the same content as the Markdown handbook, escaped, deterministic, well-formed (the shared
checks of tests/html_checks.py).
"""

from __future__ import annotations

import functools
import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from html_checks import by_id, check_page, ids, parse

from attendance_rules.cli import main
from attendance_rules.policy.handbook import local_choices, parameter_value
from attendance_rules.policy.layers import load_policy_files
from attendance_rules.report.handbook import handbook_html
from attendance_rules.report.html import anchor

ROOT = Path(__file__).resolve().parents[1]
POLICIES = sorted(p.stem for p in (ROOT / "policies").glob("*.yaml"))


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
    found = ids(check_page(_handbook(policy_id)))
    for kind, names in _entries(policy_id).items():
        for name in names:
            assert found.count(anchor(kind, name)) == 1, (kind, name)
    assert _entries("halton")["setting"] == {"traded_ews"}  # settings are covered by at least one policy


@pytest.mark.parametrize("policy_id", POLICIES)
def test_the_page_says_what_the_markdown_handbook_says(policy_id):
    """Values, conditions, reasons and local choices of the Markdown handbook, each in its entry."""
    policy = load_policy_files(policy_id)
    page = parse(_handbook(policy_id))[0]
    for name, param in policy.parameters.items():
        assert parameter_value(param) in by_id(page, anchor("parameter", name)).text()
    for rule in policy.rules:
        if policy.origin("rule", rule.id).policy != rule.policy:
            continue  # a replaced rule: its own entry (test below)
        entry = by_id(page, anchor("rule", rule.id)).text()
        assert rule.title in entry and " ".join(rule.when.text.split()) in entry
        assert all(" ".join(u.reason.split()) in entry for u in rule.unless)
        assert all(policy.actions[a].title in entry for a in rule.recommend)
    for name, action in policy.actions.items():
        assert action.title in by_id(page, anchor("action", name)).text()
    choices = by_id(page, "local-choices").parent.text()  # the heading's section
    assert all(" ".join(text.split()) in choices for _, _, text, _ in local_choices(policy))


def test_a_rule_links_the_names_its_condition_uses():
    page = parse(_handbook("halton"))[0]
    entry = by_id(page, anchor("rule", "persistent_absence_definition"))
    links = {a.attrs["href"] for a in entry.find("a")}
    assert {"#measure-absence_rate_ytd", "#parameter-persistent_absence_rate",
            "#fact-persistent_absence"} <= links
    used = by_id(page, anchor("parameter", "persistent_absence_rate"))
    assert "#rule-persistent_absence_definition" in {a.attrs["href"] for a in used.find("a")}


def test_a_replaced_rule_in_force_until_its_replacement_has_its_own_entry():
    """Hillingdon replaces england's tsm_targeting from 19 April 2023: reports link to the replacement."""
    page = parse(_handbook("hillingdon"))[0]
    current = by_id(page, "rule-tsm_targeting").text()
    older = by_id(page, "rule-tsm_targeting--england").text()
    assert "hillingdon.yaml:" in current and "england.yaml:" in older and "until 2023-04-18" in older


def test_provenance_names_the_policy_files_as_outputs_show_them(monkeypatch):
    monkeypatch.chdir(ROOT)
    text = handbook_html(load_policy_files("widnes_academy"))
    assert "<code>policies/england.yaml</code> → <code>policies/halton.yaml</code> → " \
           "<code>policies/widnes_academy.yaml</code>" in text
    assert str(ROOT) not in text
    assert "(widnes_academy.yaml:41)" in by_id(parse(text)[0], "parameter-map_10_days").text()


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
    assert "support_meeting_rule" in by_id(page, "switched-off").parent.text()
    clause = by_id(page, "rule-school_panel")
    assert "holds back stage2_panel" in clause.text()


@pytest.mark.parametrize("policy_id", ["widnes_academy", "hillingdon"])
def test_two_renders_give_the_same_bytes(policy_id):
    assert handbook_html(load_policy_files(policy_id)) == _handbook(policy_id)


def test_the_same_bytes_across_processes_and_hash_seeds():
    code = ("import hashlib; from attendance_rules.policy.layers import load_policy_files; "
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
    assert "Tameside" in parse(written)[0].find("h1")[0].text()


def test_a_policy_that_does_not_compile_still_gets_its_handbook_without_name_links(tmp_path):
    folder = tmp_path / "p"
    shutil.copytree(ROOT / "tests" / "policies" / "valid", folder)
    school = folder / "t_school.yaml"
    school.write_text(school.read_text(encoding="utf-8").replace("not looked_after", "not no_such_name"),
                      encoding="utf-8")
    page = check_page(handbook_html(load_policy_files(str(school))))
    entry = by_id(page, "rule-school_panel")
    assert "no_such_name" in entry.text() and not [s for s in page.find("span") if "uses" in s.attrs.get("class", "")]


def test_the_shared_handbook_helpers_give_plain_data():
    """The helpers the Markdown and HTML handbooks share (attendance_rules.policy.handbook)."""
    from attendance_rules.policy.handbook import (
        citation_parts,
        in_force_text,
        origin_parts,
        parameter_citation,
    )

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
