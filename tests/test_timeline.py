"""The timeline: replaying every school day, compared with independent day-by-day evaluations."""

from __future__ import annotations

import datetime as dt
import io
import json
import textwrap
from array import array
from pathlib import Path

import attrs
import pytest
from conftest import CITE, POLICY_HEADER  # noqa: E402
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attendance_rules.cli import main
from attendance_rules.engine.compiled import load_policy
from attendance_rules.registers.history import Pupil, Register
from attendance_rules.registers.readers import load_history, read_history_data
from attendance_rules.replay.cases import load_case
from attendance_rules.replay.timeline import (
    build_timeline,
    replay,
    replay_case_timeline,
    replay_pupil,
    rolling_due_actions,
    school_days_between,
)

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "sample" / "history.json"


POLICY = f"""\
parameters:
  threshold: {{value: 4, unit: sessions, cite: {CITE}}}
actions:
  letter_a: {{title: Letter A, kind: letter, responsible: school, cite: {CITE}}}
  meeting_b: {{title: Meeting B, kind: meeting, responsible: school, cite: {CITE},
              due: {{after: school_attendance_meeting, from: 4 weeks, to: 6 weeks}}}}
  call_c: {{title: Call C, kind: contact, responsible: school, cite: {CITE}, repeat: every_time,
           due: {{within_school_days: 2}}}}
rules:
  - id: notice
    title: Notice unauthorised absence
    when: unauthorised_sessions over last 4 school weeks >= threshold
    derive: concern
    recommend: letter_a
    cite: {CITE}
  - id: escalate
    title: Escalate a concern
    when: concern
    recommend: [meeting_b, call_c]
    cite: {CITE}
"""

START, END = dt.date(2024, 1, 8), dt.date(2024, 3, 1)


def write_policy(path: Path, body: str = POLICY, policy_id: str = "tl") -> Path:
    path.write_text(POLICY_HEADER.format(id=policy_id) + textwrap.dedent(body), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    return load_policy(write_policy(tmp_path_factory.mktemp("policy") / "tl.yaml"))


@pytest.fixture(scope="module")
def halton():
    return load_policy("halton")


@pytest.fixture(scope="module")
def sample():
    return load_history(SAMPLE)


def weekdays(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)
            if (start + dt.timedelta(days=i)).weekday() < 5]


def make_history(codes: dict[dt.date, str], events=(), start=START, end=END, pupil_id="P1"):
    """One pupil present every weekday from start to end, except the days given."""
    marks = []
    for day in weekdays(start, end):
        code = codes.get(day)
        marks += [{"date": day.isoformat(), "session": s, "code": code or ("/" if s == "AM" else "\\")}
                  for s in ("AM", "PM")]
    doc = {"pupils": [{"id": pupil_id, "marks": marks, "events": list(events)}]}
    history, report = read_history_data(doc, "test.json")
    assert not report.problems, report.problems
    return history


def fresh(pupil: Pupil) -> Pupil:
    """The same pupil on a new register object: no cached prefix counts, days or weeks."""
    reg = pupil.register
    return attrs.evolve(pupil, register=Register(array("I", reg.slots), bytes(reg.codes), reg.minutes_late,
                                                 reg.codebook))


def brute_force(policy, pupil, start, end, school):
    """Independent evaluations: a fresh register every day."""
    return [(day, policy.evaluate_pupil(fresh(pupil), day, school)) for day in school_days_between(pupil, start, end)]


def expected_episodes(days):
    """(action, first_seen, last_seen, ended) from day-by-day evaluations, by grouping runs of days."""
    out, running = [], {}
    for day, result in days:
        now = set(result.actions())
        for action in sorted(set(running) - now):
            first, last = running.pop(action)
            out.append((action, first, last, day))
        for action in now:
            running[action] = (running.get(action, (day, day))[0], day)
    out += [(action, first, last, None) for action, (first, last) in running.items()]
    return sorted(out, key=lambda e: (e[1], e[0]))


def episodes(timeline):
    return [(e.action, e.first_seen, e.last_seen, e.ended) for e in timeline.entries]


# --- small inline histories -------------------------------------------------------------


def test_recommendation_appears_on_the_day_the_threshold_is_crossed(policy):
    # Two sessions of O on Monday 5 Feb, two more on Wednesday 7 Feb: four (the threshold) on the 7th.
    history = make_history({dt.date(2024, 2, 5): "O", dt.date(2024, 2, 7): "O"})
    pupil = history.pupils[0]
    timeline = replay_pupil(policy, pupil, START, END, history.school)
    (letter,) = [e for e in timeline.entries if e.action == "letter_a"]
    assert letter.first_seen == dt.date(2024, 2, 7)
    brute = [day for day, result in brute_force(policy, pupil, START, END, history.school)
             if "letter_a" in result.actions()]
    assert brute[0] == letter.first_seen
    assert letter.reasons_at_start[0].rule == "notice"
    assert "4 unauthorised sessions in the last 4 school weeks" in letter.reasons_at_start[0].sentence
    assert not letter.open_at_start


def test_recommendation_ends_when_an_event_records_it_done(policy):
    sent = [{"date": "2024-02-12", "type": "letter_sent", "action": "letter_a"}]
    history = make_history({dt.date(2024, 2, 5): "O", dt.date(2024, 2, 6): "O"}, events=sent)
    timeline = replay_pupil(policy, history.pupils[0], START, END, history.school)
    (letter,) = [e for e in timeline.entries if e.action == "letter_a"]
    assert (letter.first_seen, letter.last_seen, letter.ended) == (
        dt.date(2024, 2, 6), dt.date(2024, 2, 9), dt.date(2024, 2, 12))
    assert letter.end_reason == "done: letter_sent on 2024-02-12"
    assert letter.days_recommended == 4  # Tue 6 to Fri 9 February
    # without the letter it runs until the absences leave the four-week window
    later = dt.date(2024, 3, 8)
    plain = replay_pupil(policy, make_history({dt.date(2024, 2, 5): "O", dt.date(2024, 2, 6): "O"}, end=later)
                         .pupils[0], START, later)
    (letter,) = [e for e in plain.entries if e.action == "letter_a"]
    assert (letter.last_seen, letter.ended, letter.end_reason) == (dt.date(2024, 3, 1), dt.date(2024, 3, 4),
                                                                  "no longer met")


def test_window_change_is_recorded_and_a_rolling_due_date_is_not(policy):
    meetings = [{"date": "2024-01-10", "type": "school_attendance_meeting"},
                {"date": "2024-02-14", "type": "school_attendance_meeting"}]
    history = make_history({dt.date(2024, 2, 5): "O", dt.date(2024, 2, 6): "O"}, events=meetings)
    timeline = replay_pupil(policy, history.pupils[0], START, END, history.school)
    by_action = {e.action: e for e in timeline.entries}
    meeting = by_action["meeting_b"]
    assert meeting.window_at_start == (dt.date(2024, 2, 7), dt.date(2024, 2, 21))
    ((day, what),) = meeting.changes
    assert day == dt.date(2024, 2, 14)
    assert "window: 2024-02-07 to 2024-02-21 → 2024-03-13 to 2024-03-27" in what
    call = by_action["call_c"]  # due within 2 school days of each day: moves daily, never a change
    assert call.changes == () and call.due_at_start == dt.date(2024, 2, 8)
    assert "call_c" in rolling_due_actions(policy)


def test_range_start_marks_episodes_that_may_have_begun_earlier(policy):
    history = make_history({dt.date(2024, 2, 5): "O", dt.date(2024, 2, 6): "O"})
    late_start = replay_pupil(policy, history.pupils[0], dt.date(2024, 2, 8), END)
    assert all(e.open_at_start and e.first_seen == dt.date(2024, 2, 8) for e in late_start.entries)
    assert late_start.first_day == dt.date(2024, 2, 8) and late_start.last_day == END


def test_a_recommendation_that_returns_is_a_new_episode(policy):
    codes = {dt.date(2024, 1, 8): "O", dt.date(2024, 1, 9): "O", dt.date(2024, 2, 26): "O", dt.date(2024, 2, 27): "O"}
    timeline = replay_pupil(policy, make_history(codes).pupils[0], START, END)
    letters = [e for e in timeline.entries if e.action == "letter_a"]
    assert [(e.first_seen, e.ended) for e in letters] == [(dt.date(2024, 1, 9), dt.date(2024, 2, 5)),
                                                         (dt.date(2024, 2, 27), None)]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(absences=st.dictionaries(st.sampled_from(weekdays(START, END)), st.sampled_from(["O", "G", "I", "N"]),
                                max_size=12),
       letter_day=st.one_of(st.none(), st.sampled_from(weekdays(START, END))),
       meeting_day=st.one_of(st.none(), st.sampled_from(weekdays(START, END))))
def test_timeline_equals_day_by_day_evaluation_on_random_registers(policy, absences, letter_day, meeting_day):
    events = [{"date": d.isoformat(), "type": t, **extra} for d, t, extra in
              ((letter_day, "letter_sent", {"action": "letter_a"}), (meeting_day, "school_attendance_meeting", {}))
              if d is not None]
    history = make_history(absences, events=events)
    pupil = history.pupils[0]
    timeline = replay_pupil(policy, pupil, START, END, history.school)
    days = brute_force(policy, pupil, START, END, history.school)
    assert episodes(timeline) == expected_episodes(days)
    assert timeline.days_evaluated == len(days)


# --- the bundled policy on the sample -----------------------------------------------------


def _signature(rec, rolling):
    return (tuple(sorted({r.rule for r in rec.reasons})), rec.window, None if rolling else rec.due, rec.parameters)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(index=st.integers(0, 299), start=st.dates(dt.date(2023, 9, 1), dt.date(2024, 10, 31)))
def test_timeline_equals_independent_evaluations_for_sample_pupils(halton, sample, index, start):
    pupil = sample.pupils[index]
    end = start + dt.timedelta(days=27)
    timeline = replay_pupil(halton, pupil, start, end, sample.school)
    days = brute_force(halton, pupil, start, end, sample.school)
    assert episodes(timeline) == expected_episodes(days)
    by_day = dict(days)
    rolling = rolling_due_actions(halton)
    for entry in timeline.entries:
        start_rec = next(r for r in by_day[entry.first_seen].recommendations if r.action == entry.action)
        assert entry.reasons_at_start == start_rec.reasons
        # a change is reported exactly on the days the recommendation's signature differs from the day before
        span = [d for d, _ in days if entry.first_seen <= d <= entry.last_seen]
        sigs = [_signature(next(r for r in by_day[d].recommendations if r.action == entry.action),
                           entry.action in rolling) for d in span]
        assert [d for d, _ in entry.changes] == [span[i] for i in range(1, len(span)) if sigs[i] != sigs[i - 1]]
        if entry.ended:
            ended_on = by_day[entry.ended]
            assert entry.end_reason.startswith("done") == (entry.action in [d.action for d in ended_on.done])


def test_build_timeline_is_pure_over_given_evaluations(halton, sample):
    pupil = sample.pupil("P00005")
    days = [result for _, result in brute_force(halton, pupil, dt.date(2024, 3, 11), dt.date(2024, 3, 22),
                                                sample.school)]
    built = build_timeline(pupil.id, days, rolling_due_actions(halton))
    assert built == replay_pupil(halton, pupil, dt.date(2024, 3, 11), dt.date(2024, 3, 22), sample.school)
    assert {"sam_ews_chaired", "halton_pn_warning_letter"} <= {e.action for e in built.entries}
    sam = next(e for e in built.entries if e.action == "sam_ews_chaired")
    assert sam.end_reason.startswith("done: school_attendance_meeting on")


def test_json_is_deterministic_and_complete(halton, sample):
    one = replay(halton, sample, dt.date(2024, 3, 11), dt.date(2024, 3, 15), ["P00005", "P00001"])
    two = replay(halton, sample, dt.date(2024, 3, 11), dt.date(2024, 3, 15), ["P00001", "P00005"])
    assert one.dumps() == two.dumps()
    data = json.loads(one.dumps())
    assert [p["pupil_id"] for p in data["pupils"]] == ["P00001", "P00005"]  # history order
    assert data["pupil_days"] == sum(p["days_evaluated"] for p in data["pupils"])
    assert data["policy"]["id"] == "halton" and data["history"]["files"] == ["history.json"]
    entry = data["pupils"][1]["entries"][0]
    assert set(entry) >= {"action", "first_seen", "last_seen", "ended", "reasons_at_start", "changes"}


def test_case_timeline_agrees_with_the_case_checks():
    case = load_case(ROOT / "tests" / "cases" / "england" / "persistent_absence_boundary.case.yaml")
    timeline = replay_case_timeline(case)
    by_pupil = {p.pupil_id: p for p in timeline.pupils}
    for check in case.checks:
        for pupil_id in [check.pupil] if check.pupil else list(by_pupil):
            live = {e.action for e in by_pupil[pupil_id].entries if e.first_seen <= check.as_of <= e.last_seen}
            assert set(check.recommended) <= live
            assert not set(check.not_recommended) & live


# --- command line -----------------------------------------------------------------------


def test_cli_timeline_table_and_json(tmp_path, write_json):
    policy_path = write_policy(tmp_path / "tl.yaml")
    history = {"pupils": [{"id": "P1", "marks": [
        {"date": d.isoformat(), "session": s, "code": "O" if d in (dt.date(2024, 2, 5), dt.date(2024, 2, 7))
         else ("/" if s == "AM" else "\\")} for d in weekdays(START, END) for s in ("AM", "PM")]}]}
    path = write_json(history)
    out = io.StringIO()
    args = ["timeline", "--policy", str(policy_path), "--history", str(path), "--from", "2024-01-08", "--to",
            "2024-03-01"]
    assert main(args, out=out) == 0
    text = out.getvalue()
    assert "2024-02-07 → open" in text and "letter_a" in text and "3 still open on the last day" in text
    out = io.StringIO()
    assert main(args + ["--format", "json", "--pupil", "P1"], out=out) == 0
    (pupil,) = json.loads(out.getvalue())["pupils"]
    assert {e["action"]: e["first_seen"] for e in pupil["entries"]} == {
        "letter_a": "2024-02-07", "meeting_b": "2024-02-07", "call_c": "2024-02-07"}


def test_cli_timeline_refuses_bad_ranges_and_unknown_pupils(tmp_path, write_json):
    path = write_json({"pupils": [{"id": "P1", "marks": []}]})
    base = ["timeline", "--policy", str(write_policy(tmp_path / "tl.yaml")), "--history", str(path)]
    err = io.StringIO()
    assert main(base + ["--from", "2024-03-01", "--to", "2024-01-01"], out=io.StringIO(), err=err) == 2
    assert "--to is before --from" in err.getvalue()
    err = io.StringIO()
    assert main(base + ["--from", "2024-01-01", "--to", "2024-03-01", "--pupil", "NOPE"], out=io.StringIO(),
                err=err) == 2
    assert "NOPE" in err.getvalue()
