"""`done_by`: which events record an action done (event type, field values, `action_taken`)."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest
from conftest import CITE, POLICY_HEADER  # noqa: E402

from attendance_rules import PolicyError
from attendance_rules.engine.compiled import load_policy
from attendance_rules.policy.model import DoneBy
from attendance_rules.registers.history import Event
from attendance_rules.registers.readers import read_history_data
from attendance_rules.replay.completions import completions

AS_OF = dt.date(2024, 2, 9)

ACTIONS = f"""\
actions:
  legal_referral:
    title: Refer for legal intervention
    kind: referral
    responsible: school
    done_by: {{event: referral_made, with: {{to: legal_intervention}}}}
    cite: {CITE}
  lead_meeting:
    title: Meeting with the attendance lead
    kind: meeting
    responsible: school
    done_by: action_taken
    cite: {CITE}
  contract_meeting:
    title: Meeting that agrees a parenting contract
    kind: meeting
    responsible: school
    done_by: {{event: school_attendance_meeting, with: {{parenting_contract: true}}}}
    cite: {CITE}
  any_visit:
    title: Home visit
    kind: contact
    responsible: school
    done_by: home_visit
    cite: {CITE}
rules:
  - id: concern
    title: Any unauthorised absence this year
    when: unauthorised_sessions over academic year > 0
    recommend: [legal_referral, lead_meeting, contract_meeting, any_visit]
    cite: {CITE}
"""


def write_policy(tmp_path: Path, body: str = ACTIONS) -> Path:
    path = tmp_path / "t.yaml"
    path.write_text(POLICY_HEADER.format(id="t") + textwrap.dedent(body), encoding="utf-8")
    return path


@pytest.fixture()
def policy(tmp_path):
    return load_policy(write_policy(tmp_path))


def recommended(policy, events: list[dict]) -> set[str]:
    marks = [{"date": "2024-02-05", "session": s, "code": "O"} for s in ("AM", "PM")]
    doc = {"pupils": [{"id": "P1", "marks": marks, "events": events}]}
    history, report = read_history_data(doc, "test.json")
    assert not report.problems
    return set(policy.evaluate(history, AS_OF).pupils[0].actions())


def event(kind: str, **fields) -> dict:
    return {"date": "2024-02-06", "type": kind, **fields}


ALL = {"legal_referral", "lead_meeting", "contract_meeting", "any_visit"}


def test_nothing_recorded_everything_due(policy) -> None:
    assert recommended(policy, []) == ALL


@pytest.mark.parametrize(("events", "done"), [
    ([event("referral_made", to="camhs")], set()),
    ([event("referral_made")], set()),
    ([event("referral_made", to="legal_intervention")], {"legal_referral"}),
    ([event("action_taken", action="lead_meeting")], {"lead_meeting"}),
    ([event("action_taken", action="legal_referral")], set()),  # not its done_by event type
    ([event("action_taken")], set()),
    ([event("school_attendance_meeting")], set()),
    ([event("school_attendance_meeting", parenting_contract=False)], set()),
    ([event("school_attendance_meeting", parenting_contract=True)], {"contract_meeting"}),
    ([event("home_visit")], {"any_visit"}),
], ids=["other-referral", "referral-no-to", "legal-referral", "action-taken", "action-taken-other-type",
        "action-taken-no-action", "meeting-no-contract", "meeting-contract-false", "meeting-contract", "any-visit"])
def test_only_matching_events_record_the_action_done(policy, events, done) -> None:
    assert recommended(policy, events) == ALL - done


def test_done_lists_the_event_that_did_it(policy) -> None:
    marks = [{"date": "2024-02-05", "session": "AM", "code": "O"}]
    doc = {"pupils": [{"id": "P1", "marks": marks, "events": [event("referral_made", to="legal_intervention"),
                                                               event("referral_made", to="camhs")]}]}
    history, _ = read_history_data(doc, "test.json")
    done = policy.evaluate(history, AS_OF).pupils[0].done
    assert [(d.action, d.event, d.date) for d in done] == [("legal_referral", "referral_made", dt.date(2024, 2, 6))]


def test_done_by_model_and_description() -> None:
    legal = DoneBy(event="referral_made", fields=(("to", "legal_intervention"),))
    assert legal.describe("x") == 'referral_made with to == "legal_intervention"'
    assert (
        DoneBy(event="action_taken").describe("lead_meeting")
        == 'action_taken with action == "lead_meeting"'
    )
    two = DoneBy(
        event="school_attendance_meeting",
        fields=(("improvement_plan", True), ("parenting_contract", False)),
    )
    assert two.describe("m") == "school_attendance_meeting with improvement_plan == true and parenting_contract == false"
    # an explicit `action` wins over the action's own id
    assert DoneBy(event="letter_sent", fields=(("action", "shared_letter"),)).matches(
        Event(date=AS_OF, type="letter_sent", details={"action": "shared_letter"}), "my_letter")


def test_a_letter_without_done_by_is_done_by_letter_sent(policy, tmp_path) -> None:
    body = ACTIONS.replace("actions:\n", f"actions:\n  note: {{title: Note, kind: letter, responsible: school, "
                                         f"cite: {CITE}}}\n", 1).replace("any_visit]", "any_visit, note]")
    compiled = load_policy(write_policy(tmp_path, body))
    action = compiled.ruleset.policy.actions["note"]
    assert action.done_by is None and action.completion == DoneBy(event="letter_sent")
    assert "note" not in recommended(compiled, [event("letter_sent", action="note")])
    assert "note" in recommended(compiled, [event("letter_sent", action="other")])


def test_audit_links_use_the_same_filter(policy) -> None:
    link = completions(policy.ruleset)["legal_referral"][0]
    assert link.declared and link.event == "referral_made"
    assert link.matches(
        Event(date=AS_OF, type="referral_made", details={"to": "legal_intervention"})
    )
    assert not link.matches(Event(date=AS_OF, type="referral_made", details={"to": "camhs"}))
    meeting = completions(policy.ruleset)["lead_meeting"][0]
    assert meeting.matches(
        Event(date=AS_OF, type="action_taken", details={"action": "lead_meeting"})
    )
    assert not meeting.matches(
        Event(date=AS_OF, type="action_taken", details={"action": "any_visit"})
    )


# --- refused with a location -------------------------------------------------------------------

BAD = {
    "unknown event": ("done_by: referal_made", "unknown event type 'referal_made'", "referral_made"),
    "unknown event in mapping": ("done_by: {event: meeting, with: {to: x}}", "unknown event type 'meeting'", ""),
    "unknown field": ("done_by: {event: referral_made, with: {service: camhs}}",
                      "referral_made events have no field 'service'", "one of: to"),
    "field of an event without fields": ("done_by: {event: home_visit, with: {by: ewo}}",
                                         "home_visit events have no field 'by'", "no fields"),
    "wrong type": ("done_by: {event: school_attendance_meeting, with: {parenting_contract: 'yes'}}",
                   "school_attendance_meeting.parenting_contract cannot be 'yes'", "a bool value"),
    "not an allowed value": ("done_by: {event: review_held, with: {outcome: better}}",
                             "review_held.outcome cannot be 'better'", "improved, some_improvement"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_done_by_is_refused_where_it_is_written(tmp_path, case) -> None:
    line, message, expected = BAD[case]
    body = ACTIONS.replace("    done_by: home_visit", "    " + line)
    path = write_policy(tmp_path, body)
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    problems = [str(p) for p in caught.value.problems]
    text = "\n".join(problems)
    assert message in text and expected in text
    # located at the line of the edited done_by (inside the any_visit action)
    lineno = path.read_text(encoding="utf-8").splitlines().index("    " + line) + 1
    assert any(f"t.yaml:{lineno}:" in p and message in p for p in problems), text


@pytest.mark.parametrize("line", ["done_by: {with: {to: x}}", "done_by: {event: referral_made, with: {}}",
                                  "done_by: {event: referral_made, to: x}", "done_by: [home_visit]"])
def test_malformed_done_by_fails_the_schema(tmp_path, line) -> None:
    body = ACTIONS.replace("    done_by: home_visit", "    " + line)
    with pytest.raises(PolicyError) as caught:
        load_policy(write_policy(tmp_path, body))
    assert any("done_by" in str(p) for p in caught.value.problems), caught.value.problems


# --- what an evaluation tells the school to record ---------------------------------------------


def test_recommendations_say_what_records_them_done(policy) -> None:
    marks = [{"date": "2024-02-05", "session": "AM", "code": "O"}]
    history, _ = read_history_data({"pupils": [{"id": "P1", "marks": marks}]}, "test.json")
    pupil = policy.evaluate(history, AS_OF).pupils[0]
    recorded = {r.action: r.to_json()["recorded_by"] for r in pupil.recommendations}
    assert recorded == {
        "legal_referral": {"event": "referral_made", "fields": {"to": "legal_intervention"}},
        "lead_meeting": {"event": "action_taken", "fields": {"action": "lead_meeting"}},
        "contract_meeting": {"event": "school_attendance_meeting", "fields": {"parenting_contract": True}},
        "any_visit": {"event": "home_visit", "fields": {}},
    }
    from attendance_rules.engine.explain import explain_pupil

    text = explain_pupil(pupil, "t")
    assert 'once done, record: referral_made with to = "legal_intervention"' in text
    assert "once done, record: school_attendance_meeting with parenting_contract = true" in text


def test_an_action_no_event_records_says_so(tmp_path) -> None:
    body = ACTIONS.replace("    done_by: home_visit\n", "")
    compiled = load_policy(write_policy(tmp_path, body))
    assert recommended(compiled, [event("home_visit")]) == ALL  # nothing records it done
    marks = [{"date": "2024-02-05", "session": "AM", "code": "O"}]
    history, _ = read_history_data({"pupils": [{"id": "P1", "marks": marks}]}, "test.json")
    visit = next(r for r in compiled.evaluate(history, AS_OF).pupils[0].recommendations if r.action == "any_visit")
    assert visit.recorded_by is None and visit.to_json()["recorded_by"] is None
    assert "once done" not in visit.recorded_by_text()
