"""Issue 13 (national items): counting events per recipient, filtering events by date, date
parameters, a named measure cut at a date parameter (``not_before``) and the ``today`` window.

Expected values are recounted here from the events and marks written, not copied from the
library's output.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from collections import Counter
from fractions import Fraction
from pathlib import Path

import pytest
from conftest import CITE, POLICY_HEADER, make_pupil
from hypothesis import given, settings
from hypothesis import strategies as st

from attendance_rules import PolicyError
from attendance_rules.engine.compiled import load_policy
from attendance_rules.exceptions import ConditionError, Location
from attendance_rules.registers.history import Event, Pupil, slot_of
from attendance_rules.registers.measures import Window, compute
from attendance_rules.rules.conditions import compile_condition
from attendance_rules.rules.evaluator import evaluate
from attendance_rules.rules.typecheck import Scope

ORIGIN = Location("policy.yaml", 3, column=11)
SCOPE = Scope(parameters={"limit": "count"}, measures={}, flags=frozenset(), facts=frozenset())
AS_OF = dt.date(2025, 5, 16)


class _Ctx:
    """The little of a pupil context that event queries read."""

    def __init__(self, events: list[Event]) -> None:
        self.as_of, self.pupil = AS_OF, make_pupil({}, tuple(events))

    def events(self, kind: str) -> tuple[Event, ...]:
        return tuple(e for e in self.pupil.events if e.type == kind)

    def parameter(self, name: str) -> Fraction:
        return Fraction(2)


def _count(text: str, events: list[Event]) -> object:
    condition = compile_condition(f"{text} >= 0", ORIGIN, SCOPE)
    return evaluate(condition.node.left, _Ctx(events)).value


def _notice(day: dt.date, parent: str | None) -> Event:
    return Event(
        date=day, type="penalty_notice_issued", details={} if parent is None else {"parent": parent}
    )


def test_a_notice_to_each_of_two_parents_is_one_each() -> None:
    events = [_notice(dt.date(2025, 1, 24), "mum"), _notice(dt.date(2025, 1, 24), "dad")]
    assert _count("count penalty_notice_issued per parent", events) == 1
    assert _count("count penalty_notice_issued", events) == 2


def test_notices_before_a_date_are_left_out_by_a_date_filter() -> None:
    events = [_notice(dt.date(2024, 6, 10), "mum"), _notice(dt.date(2024, 10, 4), "mum")]
    assert _count("count penalty_notice_issued with date >= 2024-08-19 per parent within last 3 years",
                  events) == 1
    assert _count("count penalty_notice_issued with date < 2024-08-19", events) == 1


DAYS = st.dates(dt.date(2021, 1, 1), AS_OF + dt.timedelta(days=30))
NOTICES = st.lists(st.tuples(DAYS, st.sampled_from([None, "mum", "dad", "carer"])), max_size=12)


@settings(max_examples=150, deadline=None)
@given(NOTICES)
def test_per_parent_count_is_the_largest_group_in_the_window(notices) -> None:
    events = sorted((_notice(day, parent) for day, parent in notices), key=lambda e: e.date)
    three_years_back = dt.date(AS_OF.year - 3, AS_OF.month, AS_OF.day)
    kept = [p for day, p in notices if max(three_years_back, dt.date(2024, 8, 19)) <= day <= AS_OF]
    expected = max(Counter(kept).values(), default=0)
    found = _count("count penalty_notice_issued with date >= 2024-08-19 per parent within last 3 years", events)
    assert found == expected


@pytest.mark.parametrize(("text", "at", "message"), [
    ('count letter_sent with action >= "x"', "action", "only a date field"),
    ("any penalty_notice_issued per parent", "per", "expected"),
    ("count penalty_notice_issued per recipient", "recipient", "no field 'recipient'"),
    ("count penalty_notice_issued with date >= 10", "10", "is a date"),
])
def test_misuse_is_refused_where_it_is_written(text, at, message) -> None:
    with pytest.raises(ConditionError) as caught:
        compile_condition(f"{text} >= 1" if text.startswith("count") else text, ORIGIN, SCOPE)
    shown = str(caught.value)
    assert message in shown and f"policy.yaml:3:{11 + text.index(at)}:" in shown, shown


# --- date parameters and not_before ----------------------------------------------------------


def _policy(tmp_path: Path, parameters: str, measure: str, when: str = "m >= 1") -> Path:
    body = textwrap.dedent(f"""\
        parameters:
        {textwrap.indent(parameters, '  ')}
        measures:
          m:
            measure: code_sessions
            codes: [O]
            window: last 10 school weeks
        {textwrap.indent(measure, '    ')}
        rules:
          - id: r
            title: Rule
            when: {when}
            derive: [f]
            cite: {CITE}
        """)
    path = tmp_path / "t.yaml"
    path.write_text(POLICY_HEADER.format(id="t") + body, encoding="utf-8")
    return path


def _refused(path: Path) -> str:
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    return "\n".join(str(p) for p in caught.value.problems)


@pytest.mark.parametrize("value", ['"2024-13-01"', "10", '"1989-12-31"', '"19 Aug 2024"'])
def test_a_date_parameter_needs_a_date_within_the_bounds(tmp_path, value) -> None:
    path = _policy(tmp_path, f"cut: {{value: {value}, unit: date, cite: {CITE}}}", "not_before: cut")
    assert "the value must be a date" in _refused(path)


def test_not_before_must_name_a_date_parameter(tmp_path) -> None:
    path = _policy(tmp_path, f"cut: {{value: 3, unit: count, cite: {CITE}}}", "not_before: cut")
    shown = _refused(path)
    assert "not_before must name a parameter with unit date" in shown and "cut (unit count)" in shown
    path = _policy(tmp_path, f"cut: {{value: \"2024-08-19\", unit: date, cite: {CITE}}}", "not_before: cutt")
    assert "found 'cutt'" in _refused(path) or "cutt" in _refused(path)


def _pupil(marks: dict[dt.date, str]) -> Pupil:
    """A pupil present every weekday from 3 Jun to 27 Sep 2024 (not in the summer), with ``marks``."""
    days = [dt.date(2024, 6, 3) + dt.timedelta(days=i) for i in range(120)]
    days = [d for d in days if d.weekday() < 5 and not dt.date(2024, 7, 20) <= d <= dt.date(2024, 9, 2)]
    return make_pupil({d: marks.get(d, ("/", "\\")) for d in days})


@settings(max_examples=60, deadline=None)
@given(st.sets(st.sampled_from([dt.date(2024, 7, d) for d in (8, 9, 10, 15, 16, 17, 18)]
                               + [dt.date(2024, 9, d) for d in (3, 4, 10, 11, 17, 24, 25)]), max_size=10),
       st.sampled_from([dt.date(2024, 8, 19), dt.date(2024, 7, 16), dt.date(2024, 9, 11)]))
def test_a_cut_window_counts_only_sessions_from_the_cut(absent, cut) -> None:
    pupil = _pupil({d: "O" for d in absent})
    as_of = dt.date(2024, 9, 27)
    whole = compute(pupil, "code_sessions", as_of, Window(kind="school_weeks", n=10), codes=("O",))
    cut_window = compute(
        pupil,
        "code_sessions",
        as_of,
        Window(kind="school_weeks", n=10, not_before=cut),
        codes=("O",),
    )
    assert cut_window.value == 2 * sum(1 for d in absent if d >= max(cut, whole.start))
    assert compute(
        pupil,
        "code_sessions",
        dt.date(2024, 7, 19),
        Window(kind="academic_year", not_before=cut),
        codes=("O",),
    ).value == (
        0
        if cut > dt.date(2024, 7, 19)
        else 2 * sum(1 for d in absent if cut <= d <= dt.date(2024, 7, 19))
    )


def test_the_today_window_reads_one_session_before_the_afternoon_is_marked() -> None:
    pupil = make_pupil({dt.date(2024, 10, 7): "N", dt.date(2024, 10, 8): ("N", None)})
    assert compute(pupil, "code_sessions", dt.date(2024, 10, 8), Window.parse("today"), codes=("N",)).value == 1
    assert compute(pupil, "unexplained_run", dt.date(2024, 10, 8)).value == 2
    assert (
        str(Window(kind="school_weeks", n=10, not_before=dt.date(2024, 8, 19)))
        == "last 10 school weeks from 2024-08-19"
    )


def test_slot_numbers_are_unchanged() -> None:  # the cut compares dates, not session numbers
    assert slot_of(dt.date(2024, 8, 19), "PM") == dt.date(2024, 8, 19).toordinal() * 2 + 1
