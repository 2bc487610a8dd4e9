"""School days after an event: ``time since latest EVENT`` compared with school days and
``date + N school days`` (the calendar functions, the language, evaluation, validation and
the durable backend).

A school day is a day on which the pupil has a mark (``Register.days``); days after the
as-of date are not known yet and weekdays stand in for them. The register below runs
Monday 15 Jan to Friday 1 Mar 2024 with the half-term 12-16 Feb closed (no marks), so the
expected days are counted here by hand from that calendar, not from the library.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from fractions import Fraction
from pathlib import Path

import attrs
import pytest
from conftest import CITE, POLICY_HEADER, make_pupil, weekdays

from attendance_rules.assurance.checks import validate_paths
from attendance_rules.engine.compiled import load_policy
from attendance_rules.exceptions import ConditionError, Location
from attendance_rules.policy.values import format_parameter_value, parse_duration
from attendance_rules.registers.calendar import count_school_days, nth_school_day_after
from attendance_rules.registers.history import Event, History, Pupil, School
from attendance_rules.registers.measures import format_value
from attendance_rules.rules.conditions import compile_condition
from attendance_rules.rules.nodes import Arith, SchoolDaysSince, TimeSince, names_used
from attendance_rules.rules.parser import parse
from attendance_rules.rules.typecheck import Scope

D = dt.date
HALF_TERM = (D(2024, 2, 12), D(2024, 2, 16))
DAYS = [d for d in weekdays(D(2024, 1, 15), D(2024, 3, 1)) if not HALF_TERM[0] <= d <= HALF_TERM[1]]
ORDINALS = [d.toordinal() for d in DAYS]
ORIGIN = Location("policy.yaml", 5, column=11)
SCOPE = Scope(parameters={"decision_days": "school_days", "max_days": "days"}, facts=frozenset({"stage1"}))


def pupil(*events: Event):
    """Present on every school day of DAYS."""
    return make_pupil({d: "/" for d in DAYS}, events=events)


# --- the calendar functions -------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "n", "as_of", "expected"),
    [
        (D(2024, 1, 22), 5, D(2024, 3, 1), D(2024, 1, 29)),  # Mon + 5: the weekend is not counted
        (D(2024, 1, 26), 1, D(2024, 3, 1), D(2024, 1, 29)),  # Fri + 1 school day: Monday
        (D(2024, 1, 27), 1, D(2024, 3, 1), D(2024, 1, 29)),  # from a Saturday
        (D(2024, 2, 5), 4, D(2024, 3, 1), D(2024, 2, 9)),  # the last day before the half-term
        (D(2024, 2, 5), 5, D(2024, 3, 1), D(2024, 2, 19)),  # the half-term is not counted
        (D(2024, 2, 5), 10, D(2024, 3, 1), D(2024, 2, 26)),  # the Widnes leave example
        (D(2024, 2, 5), 10, D(2024, 2, 26), D(2024, 2, 26)),  # exactly on the as-of date
        (D(2024, 2, 5), 10, D(2024, 2, 9), D(2024, 2, 19)),  # after the as-of date: weekdays
        (D(2024, 2, 5), 10, D(2024, 2, 14), D(2024, 2, 22)),  # as of mid-holiday: 6-9 Feb, then weekdays
        (D(2024, 2, 5), 0, D(2024, 3, 1), D(2024, 2, 5)),
        (D(2024, 2, 5), -3, D(2024, 3, 1), D(2024, 2, 5)),
        (D(2024, 3, 1), 1, D(2024, 3, 1), D(2024, 3, 4)),  # beyond the register: weekdays
    ],
)
def test_nth_school_day_after(day, n, as_of, expected) -> None:
    assert nth_school_day_after(day, n, ORDINALS, as_of) == expected


def test_weekdays_stand_in_after_the_as_of_date_even_with_no_marks() -> None:
    assert nth_school_day_after(D(2024, 2, 10), 5, [], D(2024, 2, 1)) == D(2024, 2, 16)  # Sat + 5: Mon-Fri
    assert nth_school_day_after(D(2024, 2, 9), 6, [], D(2024, 2, 1)) == D(2024, 2, 19)  # Fri + 6: next Monday
    # up to the as-of date only marked days count: none here, so weekdays from the as-of date
    assert nth_school_day_after(D(2024, 2, 5), 3, [], D(2024, 2, 7)) == D(2024, 2, 12)
    assert nth_school_day_after(D(9999, 12, 20), 50, [], D(2024, 2, 1)) == dt.date.max


@pytest.mark.parametrize(
    ("day", "end", "expected"),
    [
        (D(2024, 2, 5), D(2024, 2, 26), 10),
        (D(2024, 2, 5), D(2024, 2, 27), 11),
        (D(2024, 2, 5), D(2024, 2, 16), 4),  # the half-term adds nothing
        (D(2024, 1, 26), D(2024, 1, 28), 0),  # Friday to Sunday
        (D(2024, 1, 26), D(2024, 1, 29), 1),
        (D(2024, 2, 5), D(2024, 2, 5), 0),  # the day itself is not counted
        (D(2024, 2, 5), D(2024, 2, 1), 0),  # an end before the day
    ],
)
def test_count_school_days(day, end, expected) -> None:
    assert count_school_days(day, end, ORDINALS) == expected


def test_count_and_nth_agree_on_every_known_day() -> None:
    as_of = DAYS[-1]
    for start in DAYS[:-1]:
        for n in range(1, count_school_days(start, as_of, ORDINALS) + 1):
            day = nth_school_day_after(start, n, ORDINALS, as_of)
            assert count_school_days(start, day, ORDINALS) == n and day in DAYS


# --- the language: parsing and type checking --------------------------------------------


def compiled(text: str):
    return compile_condition(text, ORIGIN, SCOPE)


def test_time_since_compared_with_school_days_counts_school_days() -> None:
    for text in ("time since latest leave_request > 10 school days", "time since latest leave_request > decision_days",
                 "10 school days < time since latest leave_request"):
        condition = compiled(text)
        sides = (condition.node.left, condition.node.right)
        assert any(isinstance(s, SchoolDaysSince) and s.event == "leave_request" for s in sides), text
        assert names_used(condition.node)["event"] == {"leave_request"}
        assert str(condition.node) == text  # written as before
    calendar = compiled("time since latest leave_request > 14 days")
    assert isinstance(calendar.node.left, TimeSince)


def test_date_plus_school_days_is_a_date() -> None:
    node = compiled("latest found_in_public_during_exclusion.date < latest exclusion.date + 5 school days").node
    assert isinstance(node.right, Arith) and node.right.school_days
    assert not compiled("today < latest exclusion.date + 5 days").node.right.school_days
    assert compiled("today <= latest exclusion.date + decision_days").node.right.school_days


def column_of(text: str, needle: str) -> int:
    return ORIGIN.column + text.index(needle)


@pytest.mark.parametrize(
    ("text", "needle", "message", "expected"),
    [
        ("today > latest exclusion.date - 5 school days", "-", "can only be added", "plus a number of school days"),
        ("today < latest exclusion.date + 2.5 school days", "2.5", "must be whole", "whole number"),
        ("time since latest leave_request > 3 school weeks", ">", "cannot compare a duration with school weeks",
         "or school days after an event"),
        ("time since latest leave_request > 10", ">", "cannot compare a duration with a plain number", "duration"),
        ("days_absent over academic year > 10 school days", ">", "cannot compare days with school days", ""),
        ("time since latest leave_request > max_days + 1 school days", "+", "cannot calculate", ""),
        ("time since latest leave_requets > 10 school days", "leave_requets", "did you mean leave_request", ""),
        ("today + time since latest leave_request > 10 school days", ">", "cannot compare a date", ""),
    ],
)
def test_errors_point_at_the_offending_token(text, needle, message, expected) -> None:
    with pytest.raises(ConditionError) as info:
        compiled(text)
    problem = info.value.problem
    assert problem.location == Location("policy.yaml", 5, column=column_of(text, needle)), problem
    assert message in problem.message
    assert expected in problem.expected
    assert problem.found


def test_school_days_are_a_number_not_calendar_time_until_compared_with_time_since() -> None:
    node = parse("time since latest leave_request > 10 school days", ORIGIN)
    assert isinstance(node.left, TimeSince)  # the parser does not know yet; the type checker decides


# --- evaluation ----------------------------------------------------------------------------


@attrs.define
class Context:
    """The part of the evaluation context these conditions read (see ``runtime.Context``)."""

    pupil: Pupil
    as_of: dt.date

    def parameter(self, name: str) -> object:
        return {"decision_days": Fraction(10), "max_days": Fraction(14)}[name]

    def events(self, type_: str):
        return self.pupil.events_of(type_, until=self.as_of)


def outcome(text: str, as_of: dt.date, *events: Event):
    return compiled(text).evaluate(Context(pupil(*events), as_of))


REQUEST = Event(date=D(2024, 2, 5), type="leave_request")


@pytest.mark.parametrize(
    ("as_of", "overdue"),
    [(D(2024, 2, 9), False), (D(2024, 2, 16), False), (D(2024, 2, 20), False), (D(2024, 2, 26), False),
     (D(2024, 2, 27), True), (D(2024, 3, 1), True)],
)
def test_time_since_in_school_days_boundaries(as_of, overdue) -> None:
    assert outcome("time since latest leave_request > 10 school days", as_of, REQUEST).value is overdue
    assert outcome("time since latest leave_request > decision_days", as_of, REQUEST).value is overdue
    assert outcome("today > latest leave_request.date + 10 school days", as_of, REQUEST).value is overdue


def test_exactly_ten_school_days_across_the_half_term() -> None:
    out = outcome("time since latest leave_request == 10 school days", D(2024, 2, 26), REQUEST)
    assert out.value is True
    step = out.comparisons[0]
    assert step.left == 10
    assert step.left_text == "time since latest leave_request = 10 school days (school days after 5 Feb 2024)"
    assert step.right_text == "10 school days"
    # calendar time since the same event is 21 days
    assert outcome("time since latest leave_request == 21 days", D(2024, 2, 26), REQUEST).value is True


def test_across_a_weekend() -> None:
    friday = Event(date=D(2024, 1, 26), type="leave_request")
    assert outcome("time since latest leave_request == 1 school day", D(2024, 1, 29), friday).value is True
    assert outcome("time since latest leave_request == 0 school days", D(2024, 1, 28), friday).value is True
    assert outcome("today == latest leave_request.date + 1 school day", D(2024, 1, 29), friday).value is True


def test_first_five_school_days_of_an_exclusion_starting_mid_week() -> None:
    excluded = Event(date=D(2024, 1, 17), type="exclusion")  # a Wednesday
    text = "latest found_in_public_during_exclusion.date < latest exclusion.date + 5 school days"
    for found, within in ((D(2024, 1, 22), True), (D(2024, 1, 23), True), (D(2024, 1, 24), False)):
        out = outcome(
            text,
            D(2024, 1, 26),
            excluded,
            Event(date=found, type="found_in_public_during_exclusion"),
        )
        assert out.value is within, found
    out = outcome(
        text,
        D(2024, 1, 26),
        excluded,
        Event(date=D(2024, 1, 22), type="found_in_public_during_exclusion"),
    )
    assert out.comparisons[0].right_text == "latest exclusion.date + 5 school days = 24 Jan 2024"


def test_no_event_makes_the_comparison_false_and_says_why() -> None:
    out = outcome("time since latest leave_request <= 10 school days", D(2024, 2, 26))
    assert out.value is False
    assert "no leave_request recorded" in out.undefined
    out = outcome("not (time since latest leave_request > 10 school days)", D(2024, 2, 26))
    assert out.value is True  # a missing value makes the comparison false, so its negation holds


def test_marks_after_the_as_of_date_are_not_seen() -> None:
    # as of 9 Feb the half-term is still in the future: weekdays stand in for it
    out = outcome("latest leave_request.date + 10 school days == 2024-02-19", D(2024, 2, 9), REQUEST)
    assert out.value is True


# --- units, durations and the loader ----------------------------------------------------


def test_school_days_read_as_words() -> None:
    assert format_value(10, "school_days") == "10 school days"
    assert format_value(1, "school_days") == "1 school day"
    assert format_parameter_value(10, "school_days") == "10 school days"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("10 school days", (10, True)), ("1 school day", (1, True)), ("2 school weeks", (10, True)),
     ("14 days", (14, False)), ("2 weeks", (14, False))],
)
def test_every_duration_the_schema_accepts_the_loader_reads(text, expected) -> None:
    assert parse_duration(text) == expected


# --- a policy using both forms: validation, evaluation and the durable backend ------------

BODY = f"""\
parameters:
  decision_days:
    value: 10
    unit: school_days
    cite: {CITE}
  first_days:
    value: 5
    unit: school_days
    cite: {CITE}
actions:
  decide:
    title: Decide the request
    kind: notification
    responsible: school
    due: {{after: leave_request, from: 0 school days, to: 10 school days}}
    repeat: every_time
    cite: {CITE}
  chase:
    title: Decision overdue
    kind: notification
    responsible: school
    cite: {CITE}
  holiday_note:
    title: Within ten school days but more than two calendar weeks
    kind: monitoring
    responsible: school
    cite: {CITE}
  notice:
    title: Consider a notice
    kind: penalty_notice
    responsible: local_authority
    cite: {CITE}
rules:
  - id: pending
    title: A request is waiting
    when: any leave_request
    recommend: [decide]
    cite: {CITE}
  - id: overdue
    title: Undecided after ten school days
    when: any leave_request and time since latest leave_request > decision_days
    recommend: [chase]
    cite: {CITE}
  - id: holiday
    title: Not overdue although more than 14 calendar days have passed
    when: time since latest leave_request <= decision_days and time since latest leave_request > 14 days
    recommend: [holiday_note]
    cite: {CITE}
  - id: early
    title: Found in public in the first days of an exclusion
    when: >-
      any found_in_public_during_exclusion and any exclusion
      and latest found_in_public_during_exclusion.date < latest exclusion.date + first_days
    recommend: [notice]
    cite: {CITE}
"""


@pytest.fixture(scope="module")
def policy_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("policy") / "t.yaml"
    path.write_text(POLICY_HEADER.format(id="t") + textwrap.dedent(BODY), encoding="utf-8")
    return path


def history() -> History:
    return History(
        pupils=(
            pupil(
                REQUEST,
                Event(date=D(2024, 1, 17), type="exclusion"),
                Event(date=D(2024, 1, 23), type="found_in_public_during_exclusion"),
            ),
        ),
        school=School(),
    )


def test_the_policy_validates_and_mixing_school_and_calendar_days_is_no_contradiction(policy_path) -> None:
    # 10 school days or fewer but more than 14 calendar days is possible across a holiday
    problems = validate_paths([policy_path], today=D(2024, 2, 20))
    assert [str(p) for p in problems if p.is_error or "holiday" in p.message] == []


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [(D(2024, 2, 20), {"decide", "holiday_note", "notice"}), (D(2024, 2, 26), {"decide", "holiday_note", "notice"}),
     (D(2024, 2, 27), {"decide", "chase", "notice"})],
)
def test_the_policy_evaluates(policy_path, as_of, expected) -> None:
    result = load_policy(policy_path).evaluate(history(), as_of).pupils[0]
    assert set(result.actions()) == expected


def test_the_durable_backend_agrees(policy_path) -> None:
    from attendance_rules.engine import durable as durable_backend

    if not durable_backend.available():
        pytest.skip("durable_rules cannot be imported here (Python 3.11/3.12 only)")
    python, durable = load_policy(policy_path), load_policy(policy_path, backend="durable")
    widnes, widnes_durable = load_policy("widnes_academy"), load_policy("widnes_academy", backend="durable")
    try:
        for as_of in (D(2024, 1, 22), D(2024, 1, 26), D(2024, 2, 9), D(2024, 2, 20), D(2024, 2, 26),
                      D(2024, 2, 27), D(2024, 3, 1)):
            assert python.evaluate(history(), as_of).dumps() == durable.evaluate(history(), as_of).dumps()
            assert widnes.evaluate(history(), as_of).dumps() == widnes_durable.evaluate(history(), as_of).dumps()
    finally:
        durable.engine.close()
        widnes_durable.engine.close()


def test_due_windows_in_school_days_skip_the_half_term() -> None:
    """The Widnes leave decision: due on the tenth school day after the request, as the overdue rule counts."""
    policy = load_policy("widnes_academy")
    request = Event(date=D(2024, 2, 5), type="leave_request")
    history = History(pupils=(pupil(request),))
    for as_of, due in [(D(2024, 2, 6), D(2024, 2, 19)),  # half-term not known yet: weekdays stand in
                       (D(2024, 2, 20), D(2024, 2, 26)),  # the register shows the closed week
                       (D(2024, 2, 26), D(2024, 2, 26))]:
        recs = {r.action: r for r in policy.evaluate(history, as_of).pupils[0].recommendations}
        assert recs["wa_leave_decision"].window == (D(2024, 2, 5), due), as_of
