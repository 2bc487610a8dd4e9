"""Calendar arithmetic: academic years, terms (inferred or from a file) and the windows."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import make_pupil, weekdays
from hypothesis import given, settings
from hypothesis import strategies as st

from attendance_rules.exceptions import InputError
from attendance_rules.registers.calendar import (
    TERM_GAP_DAYS,
    Calendar,
    Term,
    academic_year_start,
    load_calendar,
    monday_of,
)
from attendance_rules.registers.history import Event
from attendance_rules.registers.measures import Window, compute

D = dt.date

# A realistic English school year 2023-24 and the start of 2024-25 (Monday to Friday).
TERMS = [
    (D(2023, 9, 5), D(2023, 10, 20)),  # autumn 1; half-term 23-27 Oct
    (D(2023, 10, 30), D(2023, 12, 20)),  # autumn 2 ends on a Wednesday; Christmas
    (D(2024, 1, 4), D(2024, 2, 9)),  # spring 1 starts on a Thursday; half-term 12-16 Feb
    (D(2024, 2, 19), D(2024, 3, 28)),  # spring 2; Easter
    (D(2024, 4, 15), D(2024, 5, 24)),  # summer 1, with the bank holiday Monday 6 May off
    (D(2024, 6, 3), D(2024, 7, 19)),  # summer 2; summer holiday
    (D(2024, 9, 3), D(2024, 10, 25)),  # autumn 1 of 2024-25
]
SCHOOL_DAYS = [d for start, end in TERMS for d in weekdays(start, end) if d != D(2024, 5, 6)]


def year_pupil(events: tuple[Event, ...] = ()):
    """Present every school day: possible sessions then count school days (two per day)."""
    return make_pupil({d: "/" for d in SCHOOL_DAYS}, events=events)


PUPIL = year_pupil()


def possible(window: str, as_of: dt.date, calendar: Calendar = Calendar(), pupil=PUPIL) -> int:
    return compute(pupil, "possible_sessions", as_of, Window.parse(window), calendar).value


def start_of(window: str, as_of: dt.date, calendar: Calendar = Calendar(), pupil=PUPIL):
    bounds = Window.parse(window).bounds(pupil, as_of, calendar)
    return bounds and bounds[0]


# --- academic years -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "start"),
    [
        (D(2024, 8, 31), D(2023, 9, 1)),
        (D(2024, 9, 1), D(2024, 9, 1)),
        (D(2024, 1, 10), D(2023, 9, 1)),
        (D(2023, 12, 31), D(2023, 9, 1)),
        (D(2024, 9, 30), D(2024, 9, 1)),
    ],
)
def test_academic_year_starts_on_1_september(day: dt.date, start: dt.date) -> None:
    assert academic_year_start(day) == start
    assert Window(kind="academic_year").bounds(PUPIL, day) == (start, day)


def test_academic_year_window_changes_between_31_august_and_1_september() -> None:
    pupil = make_pupil({D(2023, 8, 31): "I", D(2023, 9, 1): "/", D(2022, 9, 1): "/"})
    as_31 = compute(pupil, "attendance_rate", D(2023, 8, 31))
    assert (as_31.counts["possible"], as_31.counts["absent"]) == (4, 2)
    as_1 = compute(pupil, "attendance_rate", D(2023, 9, 1))
    assert (as_1.counts["possible"], as_1.counts["absent"], as_1.start) == (2, 0, D(2023, 9, 1))


# --- terms --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("as_of", "start"),
    [
        (D(2023, 9, 5), D(2023, 9, 5)),
        (D(2023, 10, 20), D(2023, 9, 5)),
        (D(2023, 10, 25), D(2023, 9, 5)),  # in half-term: the term just ended
        (D(2023, 10, 30), D(2023, 10, 30)),  # half-term splits the autumn term
        (D(2023, 12, 28), D(2023, 10, 30)),
        (D(2024, 1, 10), D(2024, 1, 4)),
        (D(2024, 2, 20), D(2024, 2, 19)),
        (D(2024, 5, 8), D(2024, 4, 15)),  # a bank-holiday weekend does not split a term
        (D(2024, 8, 31), D(2024, 6, 3)),
        (D(2024, 9, 4), D(2024, 9, 3)),
        (D(2023, 9, 1), D(2023, 9, 1)),  # before any school day: an empty window at as_of
    ],
)
def test_terms_inferred_from_gaps(as_of: dt.date, start: dt.date) -> None:
    assert Calendar().term_start(as_of, PUPIL.register.days) == start
    assert start_of("this term", as_of) == start


def test_term_gap_of_seven_days_splits() -> None:
    assert TERM_GAP_DAYS == 7
    first = D(2024, 1, 3)  # Wednesday
    six_gap = make_pupil({first: "/", first + dt.timedelta(days=7): "/"})  # 6 days without school
    seven_gap = make_pupil({first: "/", first + dt.timedelta(days=8): "/"})  # 7 days without school
    assert start_of("this term", D(2024, 1, 12), pupil=six_gap) == first
    assert start_of("this term", D(2024, 1, 12), pupil=seven_gap) == D(2024, 1, 11)
    assert possible("term", D(2024, 1, 12), pupil=six_gap) == 4
    assert possible("term", D(2024, 1, 12), pupil=seven_gap) == 2


def test_term_to_date_counts_only_this_term() -> None:
    # 2 Nov 2023: 30 Oct - 2 Nov = 4 school days
    assert possible("this term", D(2023, 11, 2)) == 8


CALENDAR_CSV = """name,start,end
autumn,2023-09-05,2023-12-20
spring,2024-01-04,2024-03-28
summer,2024-04-15,2024-07-19
"""


def test_load_calendar(tmp_path) -> None:
    path = tmp_path / "terms.csv"
    path.write_text(CALENDAR_CSV, encoding="utf-8")
    calendar = load_calendar(path)
    assert calendar.terms == (
        Term("autumn", D(2023, 9, 5), D(2023, 12, 20)),
        Term("spring", D(2024, 1, 4), D(2024, 3, 28)),
        Term("summer", D(2024, 4, 15), D(2024, 7, 19)),
    )
    days = PUPIL.register.days
    # the file's terms are whole terms: half-terms do not split them
    assert calendar.term_start(D(2023, 11, 2), days) == D(2023, 9, 5)
    assert calendar.term_start(D(2024, 2, 20), days) == D(2024, 1, 4)
    assert calendar.term_start(D(2024, 4, 2), days) == D(2024, 1, 4)  # Easter holiday: the term just ended
    assert calendar.term_start(D(2024, 8, 1), days) == D(2024, 4, 15)
    # 5 Sep - 2 Nov 2023: 34 school days in autumn 1 (from Tuesday 5 Sep) and 4 in autumn 2
    assert possible("this term", D(2023, 11, 2), calendar) == 2 * (34 + 4)
    assert possible("this term", D(2023, 11, 2)) == 8  # inferred terms do split


def test_load_calendar_sorts_terms(tmp_path) -> None:
    path = tmp_path / "terms.csv"
    lines = CALENDAR_CSV.splitlines()
    path.write_text("\n".join([lines[0], *reversed(lines[1:])]) + "\n", encoding="utf-8")
    assert [t.name for t in load_calendar(path).terms] == ["autumn", "spring", "summer"]


def test_load_calendar_reports_every_bad_row(tmp_path) -> None:
    path = tmp_path / "terms.csv"
    path.write_text(
        "name,start,end\nautumn,2023-09-05,2023-12-20\nspring,2024-01-04,2024-02-30\n"
        "summer,2024-07-19,2024-04-15\nextra,4 Sep 2024,2024-12-20\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as err:
        load_calendar(path)
    assert [(p.location.file, p.location.line) for p in err.value.problems] == [
        (str(path), 3), (str(path), 4), (str(path), 5)]
    assert "ISO dates" in err.value.problems[0].message and "2024-02-30" in err.value.problems[0].found
    assert "ends before it starts" in err.value.problems[1].message
    assert err.value.problems[0].expected == "YYYY-MM-DD"


def test_load_calendar_needs_its_columns(tmp_path) -> None:
    path = tmp_path / "terms.csv"
    path.write_text("term,from,to\nautumn,2023-09-05,2023-12-20\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_calendar(path)
    problem = err.value.problem
    assert problem.location.line == 1 and problem.found == "term,from,to" and problem.expected == "name,start,end"


# --- school weeks and calendar weeks --------------------------------------------------


def test_monday_of() -> None:
    for day in (D(2024, 1, 8), D(2024, 1, 10), D(2024, 1, 14)):
        assert dt.date.fromordinal(monday_of(day.toordinal())) == D(2024, 1, 8)
    assert dt.date.fromordinal(monday_of(D(2024, 1, 15).toordinal())) == D(2024, 1, 15)


@pytest.mark.parametrize(
    ("window", "as_of", "start", "days"),
    [
        # second week of January: weeks of 8 Jan (Mon-Wed), 1 Jan (Thu-Fri), 18 Dec (Mon-Wed), 11 Dec (5)
        ("last 4 school weeks", D(2024, 1, 10), D(2023, 12, 11), 3 + 2 + 3 + 5),
        ("last 1 school week", D(2024, 1, 10), D(2024, 1, 8), 3),
        ("last 2 school weeks", D(2024, 1, 10), D(2024, 1, 1), 3 + 2),
        # in the Christmas holiday the current week is no school week
        ("last 2 school weeks", D(2023, 12, 27), D(2023, 12, 11), 5 + 3),
        # half-term week skipped
        ("last 2 school weeks", D(2023, 11, 1), D(2023, 10, 16), 3 + 5),
        # across the summer holiday into the previous academic year
        ("last 3 school weeks", D(2024, 9, 4), D(2024, 7, 8), 2 + 5 + 5),
        # the rolling 10 school weeks of the penalty-notice threshold, across two terms
        ("last 10 school weeks", D(2024, 1, 10), D(2023, 10, 30), 3 + 2 + 3 + 5 * 7),
        # more weeks than the pupil has: from the first school week
        ("last 50 school weeks", D(2023, 10, 4), D(2023, 9, 4), 4 + 5 * 3 + 3),
        # calendar weeks count holiday weeks too
        ("last 2 calendar weeks", D(2024, 1, 10), D(2023, 12, 28), 2 + 3),
        ("last 4 calendar weeks", D(2024, 1, 10), D(2023, 12, 14), 2 + 3 + 2 + 3),
        ("last 1 calendar week", D(2023, 10, 29), D(2023, 10, 23), 0),
    ],
)
def test_week_windows(window: str, as_of: dt.date, start: dt.date, days: int) -> None:
    assert start_of(window, as_of) == start
    assert possible(window, as_of) == 2 * days


def test_school_weeks_before_any_mark_is_the_current_week() -> None:
    assert start_of("last 3 school weeks", D(2023, 8, 2)) == D(2023, 7, 31)
    assert possible("last 3 school weeks", D(2023, 8, 2)) == 0


def test_marks_after_the_as_of_date_are_not_counted() -> None:
    # Wednesday 10 Jan: Thursday and Friday of that week are not yet counted
    assert possible("last 1 school week", D(2024, 1, 10)) == 6
    assert possible("last 1 calendar week", D(2024, 1, 10)) == 2 * (3 + 2)
    assert possible("all time", D(2023, 9, 8)) == 2 * 4


# --- since latest EVENT ---------------------------------------------------------------

EVENTS = (
    Event(date=D(2023, 11, 6), type="letter_sent", details={"action": "first"}),
    Event(date=D(2024, 1, 8), type="letter_sent", details={"action": "second"}),
    Event(date=D(2024, 2, 1), type="review_held", details={"outcome": "improved"}),
)


@pytest.mark.parametrize(
    ("window", "as_of", "start", "days"),
    [
        ("since latest letter_sent", D(2024, 1, 10), D(2024, 1, 8), 3),
        ("since latest letter_sent", D(2024, 1, 8), D(2024, 1, 8), 1),
        ("since last letter_sent", D(2024, 1, 5), D(2023, 11, 6), 5 * 6 + 3 + 2),
        ("since review_held", D(2024, 2, 9), D(2024, 2, 1), 7),
    ],
)
def test_since_latest_event(window: str, as_of: dt.date, start: dt.date, days: int) -> None:
    pupil = year_pupil(EVENTS)
    assert start_of(window, as_of, pupil=pupil) == start
    assert possible(window, as_of, pupil=pupil) == 2 * days


def test_since_an_event_that_has_not_happened() -> None:
    pupil = year_pupil(EVENTS)
    assert Window.parse("since latest review_held").bounds(pupil, D(2024, 1, 31)) is None
    rate = compute(pupil, "attendance_rate", D(2024, 1, 31), Window.parse("since latest review_held"))
    assert rate.value is None and rate.start is None
    assert "not defined" in rate.describe()
    count = compute(pupil, "unauthorised_sessions", D(2024, 1, 31), Window.parse("since latest home_visit"))
    assert count.value == 0


# --- parsing windows ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "window"),
    [
        ("academic year", Window(kind="academic_year")),
        ("Year to date", Window(kind="academic_year")),
        ("this term", Window(kind="term")),
        ("all time", Window(kind="all")),
        ("last 10 school weeks", Window(kind="school_weeks", n=10)),
        ("previous 1 school week", Window(kind="school_weeks", n=1)),
        ("last 4  calendar weeks", Window(kind="calendar_weeks", n=4)),
        (
            "since latest penalty_notice_issued",
            Window(kind="since_event", event="penalty_notice_issued"),
        ),
        ("since review_held", Window(kind="since_event", event="review_held")),
    ],
)
def test_window_parse(text: str, window: Window) -> None:
    assert Window.parse(text) == window
    assert Window.parse(str(window)) == window  # the display form reads back


@pytest.mark.parametrize("text", ["last 0 school weeks", "last ten school weeks", "next 2 school weeks", "",
                                  "since", "last 3 school days"])
def test_window_parse_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="unknown window"):
        Window.parse(text)


# --- one term rule each way (issue 15): the term a day is in and the next term's start ---

# school days as gaps between them, around TERM_GAP_DAYS so that breaks of exactly that length occur
_days = st.lists(st.integers(1, TERM_GAP_DAYS + 3), min_size=1, max_size=60).map(
    lambda gaps: [738000 + sum(gaps[: i + 1]) for i in range(len(gaps))]
)


@settings(max_examples=200, deadline=None)
@given(_days, st.integers(737990, 738700))
def test_next_term_start_agrees_with_term_start(days: list[int], as_of_ordinal: int) -> None:
    """The next term found looking forward is a term start looking back, and no term starts
    on a school day in between (the two walks read TERM_GAP_DAYS the same way)."""
    as_of, calendar = D.fromordinal(as_of_ordinal), Calendar()
    upcoming = calendar.next_term_start(as_of, days)
    between = [d for d in days if as_of_ordinal < d < upcoming.toordinal()]
    if upcoming < D.max:
        assert upcoming > as_of and calendar.term_start(upcoming, days) == upcoming
    here = calendar.term_start(as_of, days) if days[0] <= as_of_ordinal else None
    for d in between:
        expected = here if here is not None else D.fromordinal(between[0])
        assert calendar.term_start(D.fromordinal(d), days) == expected


def test_next_term_start_from_a_calendar_file() -> None:
    calendar = Calendar(tuple(Term(f"t{i}", s, e) for i, (s, e) in enumerate(TERMS)))
    assert calendar.next_term_start(D(2023, 10, 25), []) == D(2023, 10, 30)
    assert calendar.next_term_start(D(2023, 10, 30), []) == D(2024, 1, 4)
    assert calendar.next_term_start(D(2099, 1, 1), []) == D.max
