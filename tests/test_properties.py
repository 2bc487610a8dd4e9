"""Behaviour properties (attendance_rules/properties.py) and `attendance-rules check`.

The bundled policies are searched with a few generated histories each (a fixed seed, so
runs repeat). Two genuine violations once found in them (Halton's "improving" reading and
Widnes's map columns) are kept as explicit regression examples below, with the old
readings shown to fail. Planted non-monotone policies in tests/assurance_policies/ must be
caught.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("hypothesis")

from attendance_rules.assurance import properties  # noqa: E402
from attendance_rules.assurance.properties import (  # noqa: E402
    ENFORCEMENT_KINDS,
    ESCALATION_KINDS,
    MISSING_HYPOTHESIS,
    SUPPORT_OR_ENFORCEMENT_KINDS,
    check_example,
    check_properties,
)
from attendance_rules.assurance.property_results import PROPERTIES  # noqa: E402
from attendance_rules.cli import main  # noqa: E402
from attendance_rules.engine.compiled import load_policy  # noqa: E402
from attendance_rules.registers.readers import read_history_data  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PLANTED = HERE / "assurance_policies"
EXAMPLES = 8  # per property and policy: modest, to keep the whole file well under a minute


LIMIT = 300  # seconds: a guard only, so that a busy machine never stops a search that must find something

def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out=out, err=err), out.getvalue(), err.getvalue()


def history(start: dt.date, end: dt.date, codes: dict[tuple[str, str], str] | None = None,
            events: list[dict] | None = None, settings: dict | None = None, flags: list[str] | None = None) -> dict:
    """One pupil present every weekday from ``start`` to ``end`` except ``codes[(date, session)]``."""
    codes = codes or {}
    marks, day = [], start
    while day <= end:
        if day.weekday() < 5:
            for session, present in (("AM", "/"), ("PM", "\\")):
                marks.append({"date": day.isoformat(), "session": session,
                              "code": codes.get((day.isoformat(), session), present)})
        day += dt.timedelta(days=1)
    pupil = {"id": "P1", "flags": flags or [], "marks": marks, "events": events or []}
    return {"school": {"id": "S1", "settings": settings or {}}, "pupils": [pupil]}


def index_of(doc: dict, date: str, session: str) -> int:
    marks = doc["pupils"][0]["marks"]
    return next(i for i, m in enumerate(marks) if (m["date"], m["session"]) == (date, session))


# --- definitions --------------------------------------------------------------------------


def test_kind_sets_are_documented_and_consistent() -> None:
    assert ENFORCEMENT_KINDS <= ESCALATION_KINDS <= SUPPORT_OR_ENFORCEMENT_KINDS
    assert not {"monitoring", "reward", "notification", "review"} & SUPPORT_OR_ENFORCEMENT_KINDS
    for kind in SUPPORT_OR_ENFORCEMENT_KINDS:
        assert kind in properties.__doc__
    assert [p.letter for p in PROPERTIES] == ["a", "b", "c", "d"]


# --- the bundled policies -------------------------------------------------------------------

BUNDLED_RUNS = [
    ("england", "abcd"), ("stockport", "abcd"), ("hillingdon", "abcd"), ("halton", "abcd"), ("widnes_academy", "abcd"),
    ("tameside", "abcd"),
]


@pytest.mark.parametrize(("policy_id", "letters"), BUNDLED_RUNS, ids=[p for p, _ in BUNDLED_RUNS])
def test_bundled_policies_keep_the_properties(policy_id: str, letters: str) -> None:
    report = check_properties(policy_id, examples=EXAMPLES, seed=0, max_seconds=30, names=list(letters))
    assert report.holds, report.render()
    assert [r.property.letter for r in report.results] == list(letters)
    assert all(r.examples == EXAMPLES for r in report.results), report.render()


def edited_policy(tmp_path: Path, policy_id: str, old: str, new: str) -> str:
    """A copy of a bundled policy (and the files it extends) with one text replaced."""
    for path in (ROOT / "policies").glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    target = tmp_path / f"{policy_id}.yaml"
    text = target.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} not found once in {policy_id}"
    target.write_text(text.replace(old, new), encoding="utf-8")
    return str(target)


HALTON_AS_OF = dt.date(2024, 3, 15)


def halton_trend_history() -> dict:
    """Stage 2 reached through stage1_to_stage2, with a joint plan and attendance flat over 8 weeks."""
    absent = {(day, s): "O" for day in ("2024-01-23", "2024-01-31", "2024-02-20", "2024-02-28") for s in ("AM", "PM")}
    events = [{"date": "2024-02-01", "type": "contact_made"},
              {"date": "2024-02-05", "type": "letter_sent", "action": "stage1_letter"},
              {"date": "2024-02-19", "type": "home_visit"},
              {"date": "2024-02-01", "type": "joint_plan_agreed"}]
    return history(dt.date(2024, 1, 22), HALTON_AS_OF, absent, events, {"traded_ews": True})


@pytest.mark.parametrize("policy_id", ["halton", "widnes_academy"])
def test_earlier_absence_never_makes_a_pupil_look_improving(policy_id: str) -> None:
    doc = halton_trend_history()
    found = check_example(policy_id, "a", doc, HALTON_AS_OF, mark=index_of(doc, "2024-01-25", "PM"))
    assert found is None, found.render()


def test_the_old_improving_reading_is_caught(tmp_path: Path) -> None:
    """Improving as 'the last 4 weeks better than the 4 before': more absence earlier holds stage 2 back."""
    policy = edited_policy(tmp_path, "halton", "and absence_rate over last 4 school weeks < persistent_absence_rate",
                           "and attendance_trend over last 4 school weeks > 0%")
    doc = halton_trend_history()
    found = check_example(policy, "a", doc, HALTON_AS_OF, mark=index_of(doc, "2024-01-25", "PM"))
    assert found is not None and "stage2" in found.problem, found
    assert "stage1_improving_with_plan" in {rule for rule, _ in found.rules}


WIDNES_AS_OF = dt.date(2024, 3, 15)


def widnes_column_history() -> dict:
    """6.5 days of absence this year: column 4 of the Attendance Support Map, half a day short of column 7.

    One morning is O (no accepted reason), so the map is followed at all: it is for a lack of
    engagement or concern about the reasons for absence (issue 13), not for illness alone.
    """
    ill = {(day, s): "I" for day in ("2024-02-26", "2024-02-27", "2024-02-28", "2024-02-29", "2024-03-01",
                                     "2024-03-04") for s in ("AM", "PM")}
    ill[("2024-02-26", "AM")] = "O"
    ill[("2024-03-05", "AM")] = "I"
    return history(dt.date(2024, 2, 19), WIDNES_AS_OF, ill)


def test_widnes_next_map_column_keeps_the_earlier_escalations() -> None:
    doc = widnes_column_history()
    found = check_example("widnes_academy", "a", doc, WIDNES_AS_OF, mark=index_of(doc, "2024-03-05", "PM"))
    assert found is None, found.render()


def test_the_old_column_reading_is_caught(tmp_path: Path) -> None:
    """Column steps that end at the next column drop the early help referral not yet made."""
    policy = edited_policy(tmp_path, "widnes_academy", "    when: map_col_4\n    recommend: [wa_internal_monitoring",
                           "    when: map_col_4 and not map_col_7\n    recommend: [wa_internal_monitoring")
    doc = widnes_column_history()
    found = check_example(policy, "a", doc, WIDNES_AS_OF, mark=index_of(doc, "2024-03-05", "PM"))
    assert found is not None
    assert found.problem == "escalation no longer recommended: stage1_early_help_referral (referral)"
    assert {"wa_map_col_7", "wa_map_4_support"} <= {rule for rule, _ in found.rules}


# --- planted defects --------------------------------------------------------------------------


def test_penalty_notice_for_good_attendance_is_caught() -> None:
    policy = str(PLANTED / "non_monotone_pn.yaml")
    report = check_properties(policy, examples=30, seed=0, max_seconds=LIMIT, names=["a", "c"], shrink=False)
    assert not report.holds
    for result in report.results:
        example = result.counterexample
        assert example is not None and "penalty_notice (penalty_notice)" in example.problem
        assert example.rules and example.rules[0][0] == "pn_wrong_way"
        # the printed history is a valid history that still shows the failure
        doc = json.loads(example.history_json())
        assert not read_history_data(doc)[1].problems
        assert check_example(policy, result.property.name, doc, example.as_of) is not None


def test_stage_derived_below_its_threshold_is_caught() -> None:
    policy = str(PLANTED / "non_monotone_stage.yaml")
    report = check_properties(policy, examples=150, seed=0, max_seconds=LIMIT, names=["a"], shrink=False)
    example = report.results[0].counterexample
    assert example is not None, report.render()
    assert example.problem == "stage reached fell from stage1 to none"
    assert "stage1_wrong_way" in {rule for rule, _ in example.rules}
    rendered = example.render()
    assert "evaluations side by side" in rendered and "* stage1" in rendered


def test_order_dependence_would_be_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """(d) cannot be broken by a policy; break the evaluation instead to see the property notice."""
    original = properties._Checker.evaluate

    def first_mark_dropped(self, doc, as_of):
        doc = json.loads(json.dumps(doc))
        del doc["pupils"][0]["marks"][:1]
        return original(self, doc, as_of)

    monkeypatch.setattr(properties._Checker, "evaluate", first_mark_dropped)
    report = check_properties("england", examples=30, seed=0, max_seconds=LIMIT, names=["d"], shrink=False)
    assert not report.holds and report.results[0].counterexample.problem == "the evaluation differs"


def test_time_limit_stops_the_search() -> None:
    report = check_properties("england", examples=10_000, seed=0, max_seconds=0.5, names=["c"])
    result = report.results[0]
    assert result.holds and result.timed_out and result.examples < 10_000
    assert "(time limit reached)" in report.render()


def test_check_example_refuses_a_mark_that_cannot_change() -> None:
    doc = history(dt.date(2024, 3, 11), dt.date(2024, 3, 15))
    with pytest.raises(ValueError, match=r"marks\[0\] is not an absence"):
        check_example("england", "b", doc, dt.date(2024, 3, 15), mark=0)
    with pytest.raises(KeyError, match="unknown property"):
        check_example("england", "z", doc, dt.date(2024, 3, 15))
    assert check_example("england", "c", doc, dt.date(2024, 3, 15)) is None


# --- the command -------------------------------------------------------------------------------


def test_check_exits_zero_when_the_properties_hold() -> None:
    status, out, err = run("check", str(HERE / "policies" / "valid" / "t_national.yaml"), "--examples", "5",
                           "--max-seconds", "20")
    assert (status, err) == (0, ""), out
    assert out.splitlines()[0].startswith("checking 4 behaviour properties of ")
    assert out.splitlines()[-1] == "policy t_national: 4 of 4 properties hold (seed 0)"


def test_check_exits_one_with_a_counterexample() -> None:
    status, out, err = run("check", str(PLANTED / "non_monotone_pn.yaml"), "--property", "c", "--examples", "5",
                           "--seed", "3", "--max-seconds", "10")
    assert status == 1 and err == ""
    assert "FAILED  (c) clean_record_no_action" in out
    lines = out.splitlines()
    doc = json.loads(lines[lines.index("  history (compact JSON, as read by attendance-rules evaluate):") + 1])
    assert doc["pupils"][0]["flags"] == [] and doc["pupils"][0]["events"] == []
    assert "pn_wrong_way (" in out
    assert lines[-1] == "policy non_monotone_pn: 0 of 1 properties hold (seed 3)"


def test_check_needs_hypothesis(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "hypothesis", None)  # import hypothesis now raises ImportError
    status, out, _ = run("check", "england")
    assert status == 2 and out == ""
    assert MISSING_HYPOTHESIS == "needs hypothesis, a dependency of attendance-rules: pip install hypothesis"
    assert capsys.readouterr().err.strip() == MISSING_HYPOTHESIS


@pytest.mark.parametrize("argv", [
    ["check"], ["check", "england", "--examples", "0"], ["check", "england", "--max-seconds", "-1"],
    ["check", "england", "--property", "e"],
], ids=["no-policy", "no-examples", "negative-time", "unknown-property"])
def test_check_usage_errors_exit_two(argv: list[str], capsys: pytest.CaptureFixture) -> None:
    status, _, err = run(*argv)
    assert status == 2 and "usage:" in err and capsys.readouterr().err == ""


def test_check_reports_an_invalid_policy() -> None:
    status, _, err = run("check", str(HERE / "policies" / "broken" / "type_error.yaml"))
    assert status == 1 and "cannot compare percent with sessions" in err


def test_compiled_policies_are_accepted() -> None:
    report = check_properties(load_policy("england"), examples=3, seed=1, max_seconds=10,
                              names=["clean_record_no_action"])
    assert report.holds and report.policy == "england" and report.seed == 1
