"""The condition language: parsing, located errors, type checking and evaluation with a trace.

Evaluation runs against real pupils read from a small JSON history; expected values are
recounted here from the marks and events written, not copied from the library's output.
"""

from __future__ import annotations

import datetime as dt
import json
from fractions import Fraction

import attrs
import pytest
from conftest import weekdays
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attendance_rules.exceptions import ConditionError, EvaluationError, Location
from attendance_rules.registers.history import STANDARD_FLAGS, Pupil
from attendance_rules.registers.measures import Measure, Window, compute
from attendance_rules.registers.readers import read_history
from attendance_rules.rules.conditions import compile_condition
from attendance_rules.rules.evaluator import evaluate
from attendance_rules.rules.nodes import (
    And,
    Compare,
    LibraryMeasure,
    Literal,
    NameRef,
    Not,
    Or,
    names_used,
    negated_facts,
)
from attendance_rules.rules.parser import MAX_DEPTH, MAX_LENGTH, parse
from attendance_rules.rules.typecheck import Scope, check, resolve
from attendance_rules.rules.values import Duration

D = dt.date
AS_OF = D(2024, 1, 26)
ORIGIN = Location("policy.yaml", 5, column=11)

SCOPE = Scope(
    parameters={"pn_warning_threshold": "sessions", "pa_threshold": "percent", "review_max": "weeks",
                "review_weeks": "school_weeks", "pn_amount": "pounds", "letter_kind": "text", "strict": "bool",
                "max_days": "days"},
    measures={"pn_sessions": "sessions", "unauthorised_12w": "sessions"},
    flags=frozenset(STANDARD_FLAGS),
    facts=frozenset({"stage1", "stage2"}),
    settings=frozenset({"traded_ews", "region"}),
)
PARAMETERS = {"pn_warning_threshold": Fraction(10), "pa_threshold": Fraction(9, 10), "review_max": Duration(Fraction(6), "weeks"),
              "review_weeks": Fraction(6), "pn_amount": Fraction(80), "letter_kind": "stage1_letter", "strict": True,
              "max_days": Fraction(5)}
NAMED = {"pn_sessions": ("code_sessions", "last 10 school weeks", ("G", "N", "O", "U")),
         "unauthorised_12w": ("unauthorised_sessions", "last 12 school weeks", ())}


@attrs.define
class PupilContext:
    """A Context over a real Pupil, as the engine would provide it."""

    pupil: Pupil
    as_of: dt.date = AS_OF
    facts: dict = attrs.Factory(dict)
    settings: dict = attrs.Factory(lambda: {"traded_ews": True, "region": "north"})

    def parameter(self, name: str) -> object:
        return PARAMETERS[name]

    def named_measure(self, name: str) -> Measure:
        measure, window, codes = NAMED[name]
        return compute(self.pupil, measure, self.as_of, Window.parse(window), codes=codes)

    def library_measure(self, name: str, window: Window | None) -> Measure:
        return compute(self.pupil, name, self.as_of, window)

    def flag(self, name: str) -> bool:
        return self.pupil.has(name)

    def fact(self, name: str) -> bool:
        return self.facts.get(name, False)

    def setting(self, name: str) -> object:
        return self.settings.get(name)

    def events(self, type_: str):
        return self.pupil.events_of(type_, until=self.as_of)

    def window_bounds(self, window: Window):
        return window.bounds(self.pupil, self.as_of)


# --- the history: written as JSON, read by the real reader --------------------------------

SCHOOL_DAYS = [d for d in weekdays(D(2023, 9, 4), AS_OF)
               if not D(2023, 10, 23) <= d <= D(2023, 10, 27) and not D(2023, 12, 21) <= d <= D(2024, 1, 5)]
SCHOOL_DAYS = SCHOOL_DAYS[len(SCHOOL_DAYS) % 5:]  # a multiple of 5 days, so 10% of sessions is whole
SESSIONS = [(d, s) for d in SCHOOL_DAYS for s in ("AM", "PM")]
ABSENT = len(SESSIONS) // 10  # exactly 10% absence for pupil "exact90"
EVENTS = [
    {"date": "2020-12-01", "type": "penalty_notice_issued"},
    {"date": "2021-02-01", "type": "penalty_notice_issued"},
    {"date": "2023-05-01", "type": "penalty_notice_issued"},
    {"date": "2023-10-02", "type": "letter_sent", "action": "stage1_letter"},
    {"date": "2023-12-12", "type": "school_attendance_meeting", "improvement_plan": True},
    {"date": "2024-01-10", "type": "review_held", "outcome": "no_improvement", "parent_engaged": False},
    {"date": "2024-02-01", "type": "review_held", "outcome": "improved"},  # after the as-of date
]


def marks(codes_by_index: dict[int, str]) -> list[dict]:
    """Every session of SCHOOL_DAYS, present unless ``codes_by_index`` says otherwise."""
    return [{"date": d.isoformat(), "session": s, "code": codes_by_index.get(i, "/" if s == "AM" else "\\")}
            for i, (d, s) in enumerate(SESSIONS)]


def absent_sessions(pupil_marks: list[dict], first: dt.date, category_codes: str = "GNOU") -> int:
    """Recount unauthorised sessions from ``first`` on, from the marks written."""
    return sum(1 for m in pupil_marks if m["code"] in category_codes and D.fromisoformat(m["date"]) >= first)


EXACT90_MARKS = marks({i: "O" for i in range(len(SESSIONS) - ABSENT, len(SESSIONS))})
RUN_MARKS = marks({i: "N" for i in range(len(SESSIONS) - 6, len(SESSIONS))})  # last 3 school days all N


@pytest.fixture(scope="module")
def pupils(tmp_path_factory) -> dict[str, Pupil]:
    doc = {"school": {"id": "S1", "settings": {"traded_ews": True}}, "pupils": [
        {"id": "exact90", "flags": ["child_protection_plan"], "marks": EXACT90_MARKS, "events": EVENTS},
        {"id": "better", "marks": marks({0: "O"})},
        {"id": "run", "marks": RUN_MARKS},
        {"id": "empty", "marks": []},
    ]}
    path = tmp_path_factory.mktemp("history") / "history.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    history, report = read_history([path])
    assert not report.problems
    return {p.id: p for p in history}


def run(text: str, pupil: Pupil, **context):
    """Compile ``text`` in SCOPE and evaluate it for ``pupil``."""
    return compile_condition(text, ORIGIN, SCOPE).evaluate(PupilContext(pupil, **context))


def error(text: str, scope: Scope | None = SCOPE, **kwargs) -> ConditionError:
    """The ConditionError that parsing (or, given a scope, compiling) ``text`` raises."""
    with pytest.raises(ConditionError) as info:
        if scope is None:
            parse(text, ORIGIN, **kwargs)
        else:
            compile_condition(text, ORIGIN, scope, **kwargs)
    return info.value


def column_of(text: str, needle: str, nth: int = 0) -> int:
    """The column ORIGIN-relative of the ``nth`` occurrence of ``needle`` in ``text``."""
    offset = -1
    for _ in range(nth + 1):
        offset = text.index(needle, offset + 1)
    return ORIGIN.column + offset


# --- parsing: every form of the grammar --------------------------------------------------

FORMS = [
    "unauthorised_sessions over last 12 school weeks >= pn_warning_threshold and not child_protection_plan",
    "attendance_rate over academic year <= 90%",
    "pn_sessions >= 10 sessions",
    "count penalty_notice_issued within last 3 years >= 2",
    "any school_attendance_meeting within last 6 calendar weeks",
    'latest review_held.outcome == "no_improvement" or latest review_held.parent_engaged == false',
    'latest review_held.outcome in ("some_improvement", "no_improvement")',
    'any letter_sent with action == "stage1_letter" within academic year',
    "time since latest school_attendance_meeting > review_max",
    "latest school_attendance_meeting.date + 6 weeks < today",
    "stage2 and school.traded_ews",
    "unexplained_run >= 3 days",
    "(stage1 or stage2) and not (strict and school.traded_ews)",
    "pn_amount >= £60 and pn_amount < £100.5",
    "today >= 2024-01-01 and 2024-01-01 - 10 days < today",
    "absence_rate over this term >= 10% or attendance_rate over since latest review_held < 12.5%",
    'count letter_sent with action != "x" within last 30 days == 0',
    "unauthorised_sessions over last 1 school week >= 1 and review_weeks >= 3 school weeks",
]


@pytest.mark.parametrize("text", FORMS)
def test_every_form_parses_checks_and_renders_back(text: str) -> None:
    node = parse(text, ORIGIN)
    assert str(node) == text
    assert parse(str(node), ORIGIN) == node
    assert compile_condition(text, ORIGIN, SCOPE).type.kind == "bool"


def test_precedence_not_binds_tightest_then_and_then_or() -> None:
    node = parse("not stage1 and stage2 or strict", ORIGIN)
    assert isinstance(node, Or) and isinstance(node.items[0], And)
    assert isinstance(node.items[0].items[0], Not)
    assert str(node) == "not stage1 and stage2 or strict"
    assert str(parse("not (stage1 and stage2)", ORIGIN)) == "not (stage1 and stage2)"
    assert str(parse("((stage1))", ORIGIN)) == "stage1"


def test_literals_are_exact_fractions_with_units() -> None:
    compare = parse("attendance_rate over academic year <= 90.5%", ORIGIN)
    assert isinstance(compare, Compare)
    assert compare.right == Literal(ORIGIN, Fraction(905, 1000), "percent")
    assert parse("x >= 1.5 days", ORIGIN).right == Literal(ORIGIN, Fraction(3, 2), "days")
    assert parse("x >= £120", ORIGIN).right.unit == "pounds"
    assert str(parse("x >= 120 pounds", ORIGIN)) == "x >= £120"  # canonical form
    assert str(parse("any x within last 6 weeks", ORIGIN)) == "any x within last 6 calendar weeks"
    assert parse("x >= 3 school weeks", ORIGIN).right.unit == "school_weeks"
    assert parse("x >= 1 school day", ORIGIN).right.unit == "school_days"
    assert str(parse("x >= 1 session", ORIGIN)) == "x >= 1 session"


def test_every_node_carries_the_location_of_its_token() -> None:
    text = "attendance_rate over academic year <= 90% and not stage2"
    node = parse(text, ORIGIN)
    assert isinstance(node, And)
    assert node.location.column == column_of(text, "and")
    compare, negation = node.items
    assert compare.location.column == column_of(text, "<=")
    assert compare.left.location.column == ORIGIN.column
    assert compare.left.window == Window(kind="academic_year")
    assert compare.right.location.column == column_of(text, "90%")
    assert negation.location.column == column_of(text, "not")
    assert negation.item.location.column == column_of(text, "stage2")
    assert node.location.file == "policy.yaml" and node.location.line == 5


def test_resolve_fills_in_the_kind_of_every_name() -> None:
    node, kind = resolve(parse("pn_sessions >= pn_warning_threshold and stage2 and not ehcp and unexplained_run >= 1",
                               ORIGIN), SCOPE)
    assert kind.kind == "bool"
    refs = {n.name: n.kind for n in _nodes(node) if isinstance(n, NameRef)}
    assert refs == {"pn_sessions": "measure", "pn_warning_threshold": "parameter", "stage2": "fact", "ehcp": "flag"}
    assert any(isinstance(n, LibraryMeasure) and n.name == "unexplained_run" for n in _nodes(node))


def _nodes(node):
    yield node
    for child in node.children():
        yield from _nodes(child)


def test_check_returns_types_of_sub_expressions() -> None:
    assert str(check(parse("attendance_rate over academic year", ORIGIN), SCOPE)) == "percent"
    assert str(check(parse("count letter_sent", ORIGIN), SCOPE)) == "a count"
    assert check(parse("time since latest review_held", ORIGIN), SCOPE).kind == "duration"
    assert check(parse("latest exclusion.until", ORIGIN), SCOPE).kind == "date"
    assert check(parse("latest review_held.outcome", ORIGIN), SCOPE).values == (
        "improved", "some_improvement", "no_improvement")


def test_names_used_and_negated_facts() -> None:
    text = ("stage1 and not (stage2 or ehcp) and pn_sessions >= pn_warning_threshold and school.traded_ews "
            "and any letter_sent within since latest review_held and attendance_rate over this term < 90%")
    condition = compile_condition(text, ORIGIN, SCOPE)
    used = names_used(condition.node)
    assert used["fact"] == {"stage1", "stage2"}
    assert used["flag"] == {"ehcp"}
    assert used["measure"] == {"pn_sessions"}
    assert used["parameter"] == {"pn_warning_threshold"}
    assert used["setting"] == {"traded_ews"}
    assert used["event"] == {"letter_sent", "review_held"}
    assert used["library"] == {"attendance_rate"}
    assert negated_facts(condition.node) == {"stage2"}
    assert negated_facts(compile_condition("stage1 == false", ORIGIN, SCOPE).node) == {"stage1"}
    assert names_used(parse("mystery", ORIGIN))["unresolved"] == {"mystery"}


# --- evaluation ---------------------------------------------------------------------------


def test_exactly_90_percent_attendance_is_at_most_90_percent(pupils) -> None:
    out = run("attendance_rate over academic year <= 90%", pupils["exact90"])
    assert out.value is True
    (step,) = out.comparisons
    assert step.left == Fraction(len(SESSIONS) - ABSENT, len(SESSIONS)) == Fraction(9, 10)
    assert step.right == Fraction(9, 10) and step.holds
    assert "90.0%" in step.left_text and "academic year" in step.left_text
    assert out.measures[0].name == "attendance_rate"
    assert run("attendance_rate over academic year <= 90%", pupils["better"]).value is False
    assert run("attendance_rate over academic year <= pa_threshold", pupils["exact90"]).value is True


def test_measure_against_parameter_and_flag_trace(pupils) -> None:
    text = "unauthorised_sessions over last 12 school weeks >= pn_warning_threshold and not child_protection_plan"
    out = run(text, pupils["exact90"])
    twelve_weeks_start = Window(kind="school_weeks", n=12).bounds(pupils["exact90"], AS_OF)[0]
    expected = absent_sessions(EXACT90_MARKS, twelve_weeks_start)
    assert expected == ABSENT >= 10  # all absences are recent
    measure_step, flag_step = out.comparisons
    assert measure_step.left == expected and measure_step.holds
    assert measure_step.right_text == "pn_warning_threshold = 10 sessions"
    assert measure_step.left_text.startswith(f"{expected} unauthorised sessions in the last 12 school weeks")
    assert measure_step.location.column == column_of(text, ">=")
    assert (flag_step.op, flag_step.text, flag_step.left, flag_step.holds) == ("is", "child_protection_plan", True, True)
    assert flag_step.left_text == "child_protection_plan: yes"
    assert out.value is False  # the plan blocks it
    assert run(text, pupils["better"]).value is False  # one absence only


def test_named_measure(pupils) -> None:
    out = run("pn_sessions >= 10 sessions", pupils["exact90"])
    ten_weeks_start = Window(kind="school_weeks", n=10).bounds(pupils["exact90"], AS_OF)[0]
    assert out.comparisons[0].left == absent_sessions(EXACT90_MARKS, ten_weeks_start)
    assert out.value is (absent_sessions(EXACT90_MARKS, ten_weeks_start) >= 10)
    assert out.comparisons[0].left_text.startswith("pn_sessions: ")
    assert out.measures[0].codes == ("G", "N", "O", "U")


def test_event_counts_and_windows(pupils) -> None:
    p = pupils["exact90"]
    three_years_ago = D(AS_OF.year - 3, AS_OF.month, AS_OF.day)
    expected = sum(1 for e in EVENTS if e["type"] == "penalty_notice_issued"
                   and three_years_ago <= D.fromisoformat(e["date"]) <= AS_OF)
    out = run("count penalty_notice_issued within last 3 years >= 2", p)
    assert out.comparisons[0].left == expected == 2 and out.value is True
    assert "26 Jan 2021 to 26 Jan 2024" in out.comparisons[0].left_text
    assert run("count penalty_notice_issued >= 3", p).value is True  # no window: all up to as-of
    assert run("any school_attendance_meeting within last 6 weeks", p).value is (
        AS_OF - D(2023, 12, 12) < dt.timedelta(weeks=6))
    assert run("any school_attendance_meeting within last 4 weeks", p).value is False
    assert run('any letter_sent with action == "stage1_letter" within academic year', p).value is True
    assert run('any letter_sent with action == "stage2_letter" within academic year', p).value is False
    assert run('any letter_sent with action != "stage1_letter"', p).value is False
    assert run("any letter_sent within since latest review_held", p).value is False
    assert run("any letter_sent within last 120 days", p).value is ((AS_OF - D(2023, 10, 2)).days < 120)
    assert run("any review_held within this term", p).value is True
    out = run("any school_attendance_meeting within last 8 weeks", p)
    assert out.comparisons[0].op == "is" and "latest on 12 Dec 2023" in out.comparisons[0].left_text


def test_years_window_from_29_february() -> None:
    from conftest import make_pupil

    from attendance_rules.registers.history import Event

    pupil = make_pupil(
        {D(2024, 2, 29): "/"},
        events=(
            Event(date=D(2021, 2, 28), type="penalty_notice_issued"),
            Event(date=D(2021, 2, 27), type="penalty_notice_issued"),
        ),
    )
    out = run("count penalty_notice_issued within last 3 years == 1", pupil, as_of=D(2024, 2, 29))
    assert out.value is True


def test_latest_fields_and_missing_values(pupils) -> None:
    p = pupils["exact90"]
    text = 'latest review_held.outcome == "no_improvement" or latest review_held.parent_engaged == false'
    out = run(text, p)
    assert out.value is True and [c.holds for c in out.comparisons] == [True, True]  # no short-circuit
    assert 'latest review_held.outcome = "no_improvement" (review_held on 10 Jan 2024)' == out.comparisons[0].left_text
    assert run('latest review_held.outcome in ("some_improvement", "no_improvement")', p).value is True
    assert run('latest review_held.outcome in ("improved")', p).value is False  # the later review is after as-of
    empty = run('latest review_held.outcome != "improved"', pupils["empty"])
    assert empty.value is False and "no review_held recorded" in empty.undefined
    assert run('not (latest review_held.outcome == "improved")', pupils["empty"]).value is True
    out = run("latest school_attendance_meeting.parenting_contract == true", p)
    assert out.value is False and any("has no parenting_contract" in u for u in out.undefined)


def test_undefined_measure_makes_comparisons_false(pupils) -> None:
    for text in ("attendance_rate over academic year <= 90%", "attendance_rate over academic year > 90%",
                 "attendance_rate over academic year != 90%"):
        out = run(text, pupils["empty"])
        assert out.value is False
        assert out.undefined and "not defined" in out.undefined[0]


def test_time_since_and_date_arithmetic(pupils) -> None:
    p = pupils["exact90"]
    elapsed = (AS_OF - D(2023, 12, 12)).days
    out = run("time since latest school_attendance_meeting > review_max", p)
    assert out.value is (elapsed > 42)
    assert out.comparisons[0].left == Duration(Fraction(elapsed))
    assert run("time since latest school_attendance_meeting > 6 days", p).value is (elapsed > 6)
    assert run("time since latest school_attendance_meeting <= max_days", p).value is (elapsed <= 5)
    assert run("latest school_attendance_meeting.date + 6 weeks < today", p).value is (
        D(2023, 12, 12) + dt.timedelta(weeks=6) < AS_OF)
    assert run("latest school_attendance_meeting.date + 6 weeks - 1 day == 2024-01-22", p).value is True
    assert run("time since latest school_attendance_meeting > 1 year", p).value is False
    assert run("time since latest review_held > 1 day", pupils["empty"]).value is False


def test_time_since_in_years_counts_calendar_years() -> None:
    from conftest import make_pupil

    from attendance_rules.registers.history import Event

    pupil = make_pupil(
        {D(2021, 3, 1): "/"}, events=(Event(date=D(2020, 2, 29), type="penalty_notice_issued"),)
    )
    on = run("time since latest penalty_notice_issued >= 1 year", pupil, as_of=D(2021, 2, 28))
    before = run("time since latest penalty_notice_issued >= 1 year", pupil, as_of=D(2021, 2, 27))
    assert (on.value, before.value) == (True, False)
    assert run("latest penalty_notice_issued.date + 1 year == 2021-02-28", pupil, as_of=D(2021, 3, 1)).value


def test_settings_facts_and_unexplained_run(pupils) -> None:
    out = run("stage2 and school.traded_ews", pupils["exact90"], facts={"stage2": True})
    assert out.value is True and [c.text for c in out.comparisons] == ["stage2", "school.traded_ews"]
    assert run("stage2 and school.traded_ews", pupils["exact90"]).value is False
    assert run('school.region == "north"', pupils["exact90"]).value is True
    missing = run("school.traded_ews", pupils["exact90"], settings={})
    assert missing.value is False and missing.undefined == ("school setting traded_ews not recorded",)
    assert run("unexplained_run >= 3 days", pupils["run"]).value is True
    assert run("unexplained_run >= 4 days", pupils["run"]).value is False
    assert run("unexplained_run >= 1", pupils["exact90"]).value is False


def test_evaluate_refuses_unresolved_trees(pupils) -> None:
    with pytest.raises(EvaluationError):
        evaluate(parse("stage2", ORIGIN), PupilContext(pupils["exact90"]))


# --- errors, located at the offending token ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "needle", "message", "found", "expected"),
    [
        ("stage1 stage2", "stage2", "unexpected name 'stage2'", "name 'stage2'",
         "a comparison operator, 'and', 'or' or end of condition"),
        ("pn_sessions >= 10 )", ")", "unexpected ')'", "')'", "'and', 'or' or end of condition"),
        ("stage1 and", "", "unexpected end of condition", "end of condition", "'not' or a value"),
        ("(stage1 or stage2", "", "unexpected end of condition", "", "')' to close the '('"),
        ('latest review_held.outcome == "no_impr', '"', "unterminated text", '"no_impr', "a closing \""),
        ("pn_sessions >= 12abc", "12abc", "bad number", "'12abc'", "a whole or decimal number"),
        ("pn_sessions >= 1.5.2", "1.5.2", "bad number", "", ""),
        ("today > 2024-02-30", "2024", "bad date", "2024-02-30", "YYYY-MM-DD"),
        ("stage1 AND stage2", "AND", "lower case", "'AND'", "'and'"),
        ("pn_sessions = 10", "=", "not an operator", "'='", "'=='"),
        ("pn_sessions >= 10 # note", "#", "unexpected character", "'#'", ""),
        ("pn_sessions >= 10 and", "", "unexpected end", "", ""),
        ("pn_sessions >= >= 10", ">= 10", "unexpected '>='", "", "a value"),
        ("any letter_sent within next week", "next", "unexpected name 'next'", "", "a window"),
        ("any letter_sent within last 0 weeks", "0", "bad window size", "number 0", "from 1 to"),
        ("any letter_sent within last 2.5 days", "2.5", "bad window size", "", "whole number"),
        ("latest review_held >= today", ">=", "unexpected '>='", "", "'.' and a field"),
        ("time latest review_held", "latest", "unexpected keyword 'latest'", "", "'since'"),
        ("x in 'a'", "'a'", "unexpected text 'a'", "", "'('"),
    ],
)
def test_syntax_errors_point_at_the_offending_token(text, needle, message, found, expected) -> None:
    problem = error(text, scope=None).problem
    column = ORIGIN.column + len(text) if needle == "" else column_of(text, needle)
    assert problem.location == Location("policy.yaml", 5, column=column)
    assert message in problem.message
    assert found in problem.found and expected in problem.expected


@pytest.mark.parametrize(
    ("text", "needle", "message", "expected"),
    [
        ("pn_warning_treshold >= 1", "pn_", "unknown name 'pn_warning_treshold'; did you mean pn_warning_threshold",
         "parameter"),
        ("attendance_rate over academic year >= pn_warning_threshold", ">=", "cannot compare percent with sessions", ""),
        ("days_absent over academic year >= pn_warning_threshold", ">=", "cannot compare days with sessions",
         "days_absent and unauthorised_days count days"),
        ("attendance_rate over academic year <= 0.9", "<=", "cannot compare percent with a plain number", "with %"),
        ("time since latest review_held > 6", ">", "cannot compare a duration with a plain number", "6 weeks"),
        ("latest reviewheld.date < today", "reviewheld", "did you mean review_held", ""),
        ("time since latest review_held > review_weeks", ">", "cannot compare a duration with school weeks", ""),
        ("latest review_held.outcome > \"x\"", ">", "cannot order text", ""),
        ("attendance_rate >= 90%", "attendance_rate", "needs a window", "over WINDOW"),
        ("code_sessions over academic year >= 1", "code_sessions", "named measure", ""),
        ("unexplained_run over academic year >= 1", "academic", "takes no window", ""),
        ("pn_sessions over academic year >= 1", "pn_sessions", "'over' applies only to library measures", ""),
        ("attendence_rate over academic year >= 90%", "attendence", "did you mean attendance_rate", ""),
        ("attendance_rate over last 3 days >= 90%", "last", "cannot use this window", "academic year"),
        ("any school_meeting", "school_meeting", "did you mean school_attendance_meeting", "review_held"),
        ("any letter_sent within since latest reveiw_held", "reveiw", "did you mean review_held", ""),
        ("latest review_held.result == \"x\"", "result", "no field 'result'", "date, outcome, parent_engaged"),
        ("any review_held with result == \"x\"", "result", "no field 'result'", "outcome"),
        ("any review_held with outcome == \"great\"", '"great"', "not a possible value", '"improved"'),
        ("any review_held with parent_engaged == \"yes\"", '"yes"', "is yes/no, not text", ""),
        ('latest review_held.outcome == "great"', '"great"', "not a possible value of latest review_held.outcome", ""),
        ('latest review_held.outcome in ("improved", "great")', '"great"', "not a possible value", ""),
        ("pn_sessions in (\"a\")", "in", "'in' needs text", ""),
        ("unauthorised_12w and stage2", "unauthorised_12w", "'and' needs yes/no values", ""),
        ("not pn_sessions", "pn_sessions", "'not' needs yes/no", ""),
        ("stage2 or 3", "3", "'or' needs yes/no", ""),
        ("school.traded_eww", "school", "unknown school setting 'traded_eww'; did you mean school.traded_ews", ""),
        ("today + 3 > today", "+", "cannot calculate a date + a plain number", "a date plus or minus a duration"),
        ("2024-01-01 - 2023-01-01 > 3 days", "- 2023", "cannot calculate", ""),
        ("today + 1.5 years > today", "1.5", "whole number", ""),
        ("letter_sent", "letter_sent", "is an event type", ""),
        ("unauthorised_12w", "unauthorised_12w", "a condition must be yes/no", ""),
        ("today", "today", "a condition must be yes/no", ""),
    ],
)
def test_type_errors_point_at_the_offending_token(text, needle, message, expected) -> None:
    problem = error(text).problem
    assert problem.location == Location("policy.yaml", 5, column=column_of(text, needle))
    assert message in problem.message
    assert expected in problem.expected
    assert problem.found


def test_empty_and_too_long_conditions() -> None:
    for text in ("", "   "):
        problem = error(text, scope=None).problem
        assert problem.message == "empty condition"
        assert problem.location.column == ORIGIN.column + len(text)
    long_text = " or ".join(["stage1"] * 400)
    assert len(long_text) > MAX_LENGTH
    problem = error(long_text, scope=None).problem
    assert "too long" in problem.message and problem.location.column == ORIGIN.column + MAX_LENGTH
    problem = error(None, scope=None).problem  # type: ignore[arg-type]
    assert "must be text" in problem.message


def test_nesting_is_bounded() -> None:
    ok = "(" * MAX_DEPTH + "stage1" + ")" * MAX_DEPTH
    assert str(parse(ok, ORIGIN)) == "stage1"
    deep = "(" * (MAX_DEPTH + 1) + "stage1" + ")" * (MAX_DEPTH + 1)
    problem = error(deep, scope=None).problem
    assert "nested too deeply" in problem.message and problem.location.column == ORIGIN.column + MAX_DEPTH
    nots = "not " * (MAX_DEPTH + 1) + "stage1"
    assert error(nots, scope=None).problem.location.column == ORIGIN.column + 4 * MAX_DEPTH
    assert isinstance(parse("not " * MAX_DEPTH + "stage1", ORIGIN), Not)
    sums = "today" + " + 1 day" * (MAX_DEPTH + 1) + " > today"
    assert "nested too deeply" in error(sums, scope=None).problem.message
    many = " and ".join(["stage1"] * 180)  # long but flat: fine
    assert len(compile_condition(many, ORIGIN, SCOPE).node.items) == 180


def test_column_map_is_honoured() -> None:
    def column_map(offset: int) -> Location:  # a folded YAML string: 20 characters per line
        return Location("folded.yaml", 10 + offset // 20, column=5 + offset % 20)

    text = "stage1 and attendance_rate over academic year >= pn_warning_threshold"
    with pytest.raises(ConditionError) as info:
        compile_condition(text, ORIGIN, SCOPE, column_map=column_map)
    assert info.value.problem.location == column_map(text.index(">="))
    node = parse(text, ORIGIN, column_map=column_map)
    assert node.location == column_map(text.index("and"))
    problem = error("stage1 and", scope=None, column_map=column_map).problem
    assert problem.location == column_map(9).shifted(column=1)  # one past the last character
    assert compile_condition("  stage1", ORIGIN, SCOPE, column_map=column_map).location == column_map(0)


def test_unrestricted_settings_when_none_are_known() -> None:
    scope = attrs.evolve(SCOPE, settings=frozenset())
    assert check(parse("school.anything", ORIGIN), scope).kind == "bool"


# --- properties ---------------------------------------------------------------------------

TOKENS = ["and", "or", "not", "in", "(", ")", ",", ".", "+", "-", "%", "£", ">=", ">", "<=", "<", "==", "!=", "=",
          "!", "today", "any", "count", "latest", "time", "since", "over", "within", "with", "last", "academic",
          "year", "this", "term", "school", "weeks", "days", "years", "sessions", "calendar", "true", "false",
          "10", "1.5", "0", "90", "2024-01-26", "2024-13-01", "'a'", '"no_improvement"', '"', "'", "x", "stage1",
          "stage2", "pn_sessions", "attendance_rate", "unexplained_run", "review_held", "letter_sent", "outcome",
          "date", "action", "traded_ews", "review_max", "AND", "#", "é", "12abc", "\n", "\t", "1e5", "...",
          "99999999999999999999", "10000", "day", "session", "school_attendance_meeting", "parent_engaged"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(TOKENS), max_size=25), st.booleans())
def test_random_token_soup_raises_only_condition_errors(pupils, words, spaced) -> None:
    text = (" " if spaced else "").join(words)
    try:
        condition = compile_condition(text, ORIGIN, SCOPE)
    except ConditionError as err:
        assert err.problems and err.problem.location.file == "policy.yaml"
        return
    out = condition.evaluate(PupilContext(pupils["exact90"]))
    assert isinstance(out.value, bool)
    rendered = str(condition.node)
    assert str(parse(rendered, ORIGIN)) == rendered == str(parse(text, ORIGIN))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_random_text_raises_only_condition_errors(text) -> None:
    try:
        compile_condition(text, ORIGIN, SCOPE)
    except ConditionError:
        pass


WINDOWS = st.sampled_from(["academic year", "this term", "last 12 school weeks", "last 1 school week",
                           "last 4 calendar weeks", "since latest review_held"])
EVENT_WINDOWS = st.one_of(WINDOWS, st.sampled_from(["last 30 days", "last 1 day", "last 3 years", "last 1 year"]))
NUMBERS = st.fractions(min_value=0, max_value=1000, max_denominator=8).map(
    lambda f: str(f.numerator) if f.denominator == 1 else f"{float(f):g}")


def _sessions_value():
    return st.one_of(
        st.builds(lambda w: f"unauthorised_sessions over {w}", WINDOWS),
        st.just("pn_sessions"), st.just("pn_warning_threshold"),
        st.builds(lambda n: f"{n} sessions", NUMBERS), NUMBERS)


def _percent_value():
    return st.one_of(st.builds(lambda w: f"attendance_rate over {w}", WINDOWS), st.just("pa_threshold"),
                     st.builds(lambda n: f"{n}%", NUMBERS))


def _date_value():
    base = st.sampled_from(["today", "latest review_held.date", "2024-01-01"])
    return st.one_of(base, st.builds(lambda d, n, u, op: f"{d} {op} {n} {u}", base, st.integers(1, 30),
                                     st.sampled_from(["days", "weeks", "years"]), st.sampled_from(["+", "-"])))


OPS = st.sampled_from([">=", ">", "<=", "<", "==", "!="])
ATOMS = st.one_of(
    st.builds(lambda a, op, b: f"{a} {op} {b}", _sessions_value(), OPS, _sessions_value()),
    st.builds(lambda a, op, b: f"{a} {op} {b}", _percent_value(), OPS, _percent_value()),
    st.builds(lambda a, op, b: f"{a} {op} {b}", _date_value(), OPS, _date_value()),
    st.builds(lambda op, n: f"time since latest school_attendance_meeting {op} {n} weeks", OPS, st.integers(0, 50)),
    st.builds(lambda w: f"any letter_sent within {w}", EVENT_WINDOWS),
    st.builds(lambda w, n: f'count letter_sent with action == "stage1_letter" within {w} >= {n}', EVENT_WINDOWS,
              st.integers(0, 3)),
    st.just('latest review_held.outcome in ("improved", "no_improvement")'),
    st.sampled_from(["stage1", "stage2", "child_protection_plan", "school.traded_ews", "strict", "true"]),
)
CONDITIONS = st.recursive(
    ATOMS,
    lambda inner: st.one_of(
        st.builds(lambda a, b: f"{a} and {b}", inner, inner),
        st.builds(lambda a, b: f"{a} or {b}", inner, inner),
        st.builds(lambda a: f"not {a}", inner),
        st.builds(lambda a: f"({a})", inner),
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(CONDITIONS)
def test_valid_conditions_round_trip_and_evaluate(pupils, text) -> None:
    node = parse(text, ORIGIN)
    rendered = str(node)
    assert str(parse(rendered, ORIGIN)) == rendered
    assert parse(rendered, ORIGIN) == node
    condition = compile_condition(rendered, ORIGIN, SCOPE)
    for pupil in pupils.values():
        out = condition.evaluate(PupilContext(pupil))
        assert isinstance(out.value, bool)
        assert all(isinstance(c.holds, bool) for c in out.comparisons)


@settings(max_examples=200, deadline=None)
@given(st.fractions(min_value=0, max_value=100, max_denominator=200), st.fractions(min_value=0, max_value=100,
                                                                                   max_denominator=200))
def test_percent_comparisons_are_exact(rate, threshold) -> None:
    """A rate compared with a written percentage decides exactly as Fractions do."""
    written = f"{float(threshold):.2f}"
    limit = Fraction(written) / 100
    ctx = _RateContext(rate / 100)
    condition = compile_condition(f"attendance_rate over academic year <= {written}%", ORIGIN, SCOPE)
    assert condition.evaluate(ctx).value is (rate / 100 <= limit)


@attrs.define
class _RateContext:
    """A context whose only measure is a given attendance rate."""

    rate: Fraction
    as_of: dt.date = AS_OF

    def library_measure(self, name: str, window):
        return Measure(
            name=name,
            window=window,
            value=self.rate,
            unit="percent",
            start=D(2023, 9, 1),
            end=self.as_of,
            counts={},
        )


def test_a_yes_no_value_alone_is_recorded(pupils) -> None:
    out = run("latest review_held.parent_engaged", pupils["exact90"])
    assert out.value is False and out.comparisons[0].op == "is" and out.comparisons[0].left is False
    out = run("stage2", pupils["empty"])
    assert (out.value, out.comparisons[0].left_text) == (False, "stage2: no")
    out = evaluate(parse("count letter_sent", ORIGIN), PupilContext(pupils["exact90"]))
    assert out.value == 1 and out.comparisons == ()


def test_parameter_values_in_condition_units() -> None:
    from attendance_rules.rules.values import parameter_value

    assert parameter_value(10, "percent") == Fraction(1, 10)
    assert parameter_value("12.5%", "percent") == Fraction(1, 8)
    assert parameter_value(0.5, "days") == Fraction(1, 2)
    assert parameter_value(6, "weeks") == Duration(Fraction(6), "weeks")
    assert parameter_value("10", "text") == "10"
    assert parameter_value(True, "bool") is True and parameter_value(None, "sessions") is None
