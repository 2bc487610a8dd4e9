"""The audit: steps taken against the policy in force on their dates, steps called for and not taken.

Each ``tests/audit_fixtures/*.audit.yaml`` is a case with one seeded mistake (or none): a
policy, a history in the case-file shorthand (written out as a JSON history file and read
back), the audited range and the findings expected, each with its kind, action, rule and
citation. ``exactly: true`` means no other finding may appear.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
from pathlib import Path

import pytest
import yaml

from attendance_rules.cli import main
from attendance_rules.engine.compiled import CompiledPolicy, load_policy
from attendance_rules.registers.readers import load_history
from attendance_rules.replay.audit import audit
from attendance_rules.replay.audit_findings import KINDS, Finding, render_text
from attendance_rules.replay.completions import completions

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "audit_fixtures"
SAMPLE = ROOT / "examples" / "sample" / "history.json"
PRESENT = {"AM": "/", "PM": "\\"}


# --- fixtures as JSON histories -------------------------------------------------------------


def _weekdays(start: dt.date, end: dt.date):
    day = start
    while day <= end:
        if day.weekday() < 5:
            yield day
        day += dt.timedelta(days=1)


def _marks(entries: list[dict]) -> list[dict]:
    """The case-file register shorthand: later entries overwrite earlier ones."""
    marks: dict[tuple[dt.date, str], dict] = {}
    for entry in entries:
        start, end = entry.get("on", entry.get("from")), entry.get("on", entry.get("to"))
        for day in _weekdays(start, end):
            for session in ("AM", "PM"):
                code = entry.get(session.lower(), entry.get("code", "present"))
                if code is not None:
                    marks[(day, session)] = {"date": day.isoformat(), "session": session,
                                             "code": PRESENT[session] if code == "present" else code}
    return [marks[k] for k in sorted(marks)]


def _json_value(value):
    return value.isoformat() if isinstance(value, dt.date) else value


def write_history(doc: dict, folder: Path) -> Path:
    """The fixture's pupils as a history JSON file."""
    raw = [doc["pupil"]] if "pupil" in doc else doc["pupils"]
    pupils = [{"id": p["id"], "flags": p.get("flags", []), "marks": _marks(p["register"]),
               "events": [{k: _json_value(v) for k, v in e.items()} for e in p.get("events", ())]} for p in raw]
    history = {"school": {"id": "T", "name": "Test school", "settings": doc.get("school", {})}, "pupils": pupils}
    path = folder / "history.json"
    path.write_text(json.dumps(history, indent=1), encoding="utf-8")
    return path


def read_fixture(path: Path) -> dict:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    ref = str(doc["policy"])
    doc["policy_ref"] = str(path.parent / ref) if ref.endswith((".yaml", ".yml")) else ref
    return doc


@functools.lru_cache(maxsize=None)
def policy(ref: str) -> CompiledPolicy:
    return load_policy(ref)


def run_fixture(doc: dict, folder: Path, history_path: Path | None = None):
    history = load_history([history_path or write_history(doc, folder)])
    return audit(policy(doc["policy_ref"]), history, doc.get("from"), doc.get("to"), scan=doc.get("scan", "week"))


def _matches(finding: Finding, want: dict) -> bool:
    checks = {
        "pupil": finding.pupil_id, "kind": finding.kind, "action": finding.action, "rule": finding.rule,
        "date": finding.date, "called_for": finding.called_for, "event": finding.event.type if finding.event else None,
        "section": finding.source.section, "page": finding.source.page,
    }
    for key, expected in want.items():
        if key == "message":
            if expected not in finding.message:
                return False
        elif key == "value":
            if not any(expected in v.actual for v in finding.values):
                return False
        elif checks[key] != expected:
            return False
    return True


def _show(findings) -> str:
    return "\n".join(f"  {f.pupil_id} {f.date} {f.kind} {f.action} [{f.rule}] {f.message}" for f in findings)


FIXTURE_FILES = sorted(FIXTURES.glob("*.audit.yaml"))


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=[p.name.removesuffix(".audit.yaml") for p in FIXTURE_FILES])
def test_fixture(path: Path, tmp_path: Path) -> None:
    doc = read_fixture(path)
    report = run_fixture(doc, tmp_path)
    findings = list(report.findings)
    for want in doc.get("expect") or ():
        assert any(_matches(f, want) for f in findings), f"{path.name}: expected {want}\nfound:\n{_show(findings)}"
    if doc.get("exactly"):
        assert len(findings) == len(doc.get("expect") or ()), f"{path.name}: unexpected findings:\n{_show(findings)}"
    for finding in findings:  # every finding is cited and explained
        assert finding.kind in KINDS
        assert finding.source.document and finding.message


def test_fixtures_cover_the_seeded_mistakes() -> None:
    kinds = {want["kind"] for p in FIXTURE_FILES for want in (read_fixture(p).get("expect") or ())}
    assert kinds == set(KINDS)
    assert any(read_fixture(p).get("expect") == [] and read_fixture(p).get("exactly") for p in FIXTURE_FILES)


# --- the clean case: every step matters -------------------------------------------------------


def test_dropping_any_step_of_the_clean_case_is_found(tmp_path: Path) -> None:
    """Remove one event at a time from the clean Halton case: each removal leaves a finding
    (the step overdue, or a later step unsupported or short of evidence)."""
    doc = read_fixture(FIXTURES / "halton_clean.audit.yaml")
    full = json.loads(write_history(doc, tmp_path).read_text(encoding="utf-8"))
    events = full["pupils"][0]["events"]
    assert len(events) == 10
    for i, event in enumerate(events):
        trimmed = json.loads(json.dumps(full))
        del trimmed["pupils"][0]["events"][i]
        path = tmp_path / f"without_{i}.json"
        path.write_text(json.dumps(trimmed), encoding="utf-8")
        report = run_fixture(doc, tmp_path, path)
        assert report.findings, f"dropping {event} left no finding"


def test_stage3_referral_missing_several_items_names_each(tmp_path: Path) -> None:
    doc = read_fixture(FIXTURES / "halton_clean.audit.yaml")
    pupil = doc["pupil"]
    pupil["events"] = [e for e in pupil["events"] if e["type"] not in
                       ("school_attendance_meeting", "letter_sent")
                       or e.get("action") == "stage1_letter"]
    report = run_fixture(doc, tmp_path)
    missing = sorted(f.rule for f in report.findings if f.kind == "missing_evidence")
    assert missing == ["stage3_missing_review", "stage3_missing_sam", "stage3_missing_stage2_early_help",
                       "stage3_missing_stage2_letter"]
    assert all(f.source.page == "33-37" and f.action == "stage3_referral" for f in report.findings
               if f.kind == "missing_evidence")


def test_late_step_is_reported_with_the_event_that_carried_it_out(tmp_path: Path) -> None:
    doc = read_fixture(FIXTURES / "halton_clean.audit.yaml")
    for event in doc["pupil"]["events"]:
        if event["type"] == "review_held":
            event["date"] = dt.date(2023, 11, 29)  # the window closed on 27 Nov
    report = run_fixture(doc, tmp_path)
    late = [f for f in report.findings if f.kind == "overdue"]
    assert [(f.action, f.due, f.event.type, f.event.date) for f in late] == [
        ("stage2_review", dt.date(2023, 11, 27), "review_held", dt.date(2023, 11, 29))]
    assert "carried out late" in late[0].message


# --- how events are linked to actions ---------------------------------------------------------


def test_links_come_from_done_by_and_the_policys_completion_tests() -> None:
    links = completions(policy("halton").ruleset)
    declared = {(c.action, c.event) for cs in links.values() for c in cs if c.declared}
    assert ("consider_penalty_notice", "penalty_notice_issued") in declared
    assert ("stage1_letter", "letter_sent") in declared  # a letter: done_by defaults to letter_sent
    assert ("severe_absence_joint_approach", "joint_plan_agreed") in declared
    inferred = {(c.action, c.event, c.rule) for cs in links.values() for c in cs if not c.declared}
    assert ("stage2_review", "review_held", "stage2_review_due") in inferred
    assert ("stage3_referral", "referral_made", "stage3_refer") in inferred
    # prompts to staff are not steps recorded by events, even where a rule waits on one
    assert "provide_attendance_data_cin_cp" not in links and "stage2_review_overdue" not in links
    referral = next(c for c in links["stage3_referral"] if c.event == "referral_made")
    assert str(referral.where) == 'with to == "education_welfare_service"'


def test_letters_match_on_their_action() -> None:
    from attendance_rules.registers.history import Event

    link = completions(policy("halton").ruleset)["stage1_letter"][0]
    assert link.matches(
        Event(date=dt.date(2024, 1, 8), type="letter_sent", details={"action": "stage1_letter"})
    )
    assert not link.matches(
        Event(date=dt.date(2024, 1, 8), type="letter_sent", details={"action": "stage2_letter"})
    )


# --- output and the command line --------------------------------------------------------------


def _cli(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(args, out=out, err=err)
    return status, out.getvalue(), err.getvalue()


def test_cli_text_cites_document_section_and_values(tmp_path: Path) -> None:
    doc = read_fixture(FIXTURES / "england_pn_below_threshold.audit.yaml")
    history = write_history(doc, tmp_path)
    status, out, _ = _cli(["audit", "--policy", "england", "--history", str(history)])
    assert status == 0  # the audit ran; findings are the output
    assert "unsupported" in out and "consider_penalty_notice" in out
    assert "National framework for penalty notices (2024), The national threshold" in out
    assert "6 sessions coded G, N, O, U in the last 10 school weeks" in out
    assert "required at least pn_national_threshold = 10 sessions" in out
    status, _, _ = _cli(["audit", "--policy", "england", "--history", str(history), "--fail-on-findings"])
    assert status == 1


def test_cli_json_and_exit_status_of_a_clean_audit(tmp_path: Path) -> None:
    doc = read_fixture(FIXTURES / "halton_clean.audit.yaml")
    history = write_history(doc, tmp_path)
    status, out, _ = _cli(["audit", "--policy", "halton", "--history", str(history), "--from", "2023-09-04",
                           "--to", "2024-01-26", "--format", "json", "--fail-on-findings"])
    assert status == 0
    data = json.loads(out)
    assert data["findings"] == []
    assert data["summary"]["findings"] == {kind: 0 for kind in KINDS}
    assert data["summary"]["events"] == {"supported": 10}
    assert data["audit"] == {"from": "2023-09-04", "to": "2024-01-26", "scan": "week", "default_due_school_days": 20}
    assert data["policy"]["id"] == "halton" and data["history"]["files"] == ["history.json"]


def test_cli_usage_errors(tmp_path: Path) -> None:
    doc = read_fixture(FIXTURES / "halton_clean.audit.yaml")
    history = str(write_history(doc, tmp_path))
    status, _, err = _cli(["audit", "--policy", "halton", "--history", history, "--from", "2024-01-02",
                           "--to", "2023-09-01"])
    assert status == 2 and "is after --to" in err
    status, _, err = _cli(["audit", "--policy", "halton", "--history", history, "--pupil", "NOBODY"])
    assert status == 2 and "NOBODY" in err


def test_finding_json_fields(tmp_path: Path) -> None:
    report = run_fixture(read_fixture(FIXTURES / "england_third_notice.audit.yaml"), tmp_path)
    (finding,) = report.findings
    data = finding.to_json()
    assert list(data) == ["pupil_id", "date", "kind", "action", "event", "rule", "message", "source", "values",
                          "called_for", "due"]
    assert data["event"] == {"type": "penalty_notice_issued", "date": "2025-01-20", "details": {}}
    assert data["source"]["document"] == "pn_framework"
    assert data["source"]["section"] == "Limit on penalty notices"
    assert "pn_limit_reached: yes" in [v["actual"] for v in data["values"]]
    assert render_text(report).count("held_back_but_done") == 2  # summary line and the finding


def test_sample_audit_runs_and_is_deterministic() -> None:
    """Three pupils of the bundled sample (traded school; CIN and CP pupils, notices, referrals)
    over the spring term 2024: the command line and a second run through the API give the same bytes."""
    pupils = ["P00044", "P00173", "P00202"]
    status, out, _ = _cli(["audit", "--policy", "halton", "--history", str(SAMPLE), "--format", "json",
                           "--from", "2024-01-01", "--to", "2024-03-28"] + [a for p in pupils for a in ("--pupil", p)])
    assert status == 0
    again = audit(policy("halton"), load_history([SAMPLE]), dt.date(2024, 1, 1), dt.date(2024, 3, 28), pupils)
    assert out == again.dumps()
    data = json.loads(out)
    assert set(data["summary"]["findings"]) == set(KINDS) and data["summary"]["pupils"] == 3
    order = [f["pupil_id"] for f in data["findings"]]
    assert order and order == sorted(order)
