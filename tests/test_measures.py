"""Attendance measures: the national boundaries, how each code counts, and properties
checked against a brute-force recount over ``Register.marks()``."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from fractions import Fraction
from pathlib import Path

import pytest
from conftest import (
    EXPECTED_CATEGORY,
    category_of,
    make_pupil,
    make_register,
    table_of,
    weekdays,
)
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from attendance_rules.registers.calendar import Calendar
from attendance_rules.registers.history import Event, Pupil
from attendance_rules.registers.measures import (
    MEASURES,
    PERSISTENT_ABSENCE_RATE,
    SEVERE_ABSENCE_RATE,
    Window,
    compute,
    format_value,
    standard_measures,
)
from attendance_rules.registers.readers import load_history

D = dt.date
AUTUMN = weekdays(D(2023, 9, 4), D(2023, 12, 20))  # 78 school days, all in one academic year
AS_OF = D(2023, 12, 20)


def sessions_pupil(codes: list[str], days: list[dt.date] = AUTUMN) -> Pupil:
    """A pupil whose sessions, in order (AM, PM, AM …), carry ``codes``."""
    marks = {(days[i // 2], ("AM", "PM")[i % 2]): code for i, code in enumerate(codes)}
    return Pupil(id="P1", register=make_register(marks))


def value(pupil: Pupil, name: str, as_of: dt.date = AS_OF, window: str = "academic year", codes=()):
    return compute(pupil, name, as_of, Window.parse(window), codes=tuple(codes)).value


# --- the national boundaries ----------------------------------------------------------


def test_exactly_90_percent_is_persistent_absence() -> None:
    pupil = sessions_pupil(["/"] * 18 + ["I", "O"])
    assert value(pupil, "attendance_rate") == Fraction(9, 10)
    assert value(pupil, "absence_rate") == Fraction(1, 10) == PERSISTENT_ABSENCE_RATE
    out = standard_measures(pupil, AS_OF)
    assert out["attendance_rate"] == 0.9
    assert out["persistent_absence"] is True and out["severe_absence"] is False


def test_90_1_percent_is_not_persistent_absence() -> None:
    pupil = sessions_pupil(["/"] * 91 + ["N"] * 10)  # 91 of 101 sessions: 90.1% shown
    rate = value(pupil, "attendance_rate")
    assert format_value(rate, "percent") == "90.1%"
    assert value(pupil, "absence_rate") < Fraction(1, 10)
    out = standard_measures(pupil, AS_OF)
    assert out["persistent_absence"] is False and out["severe_absence"] is False


def test_89_9_percent_is_persistent_absence() -> None:
    pupil = sessions_pupil(["/"] * 80 + ["I"] * 9)  # 80 of 89: 89.9%
    assert format_value(value(pupil, "attendance_rate"), "percent") == "89.9%"
    assert standard_measures(pupil, AS_OF)["persistent_absence"] is True


def test_exactly_50_percent_is_severe_absence() -> None:
    pupil = sessions_pupil(["/", "G"] * 10)
    assert value(pupil, "absence_rate") == Fraction(1, 2) == SEVERE_ABSENCE_RATE
    out = standard_measures(pupil, AS_OF)
    assert out["severe_absence"] is True and out["persistent_absence"] is True  # PA includes SA


def test_just_under_50_percent_absence_is_not_severe() -> None:
    pupil = sessions_pupil(["/"] * 51 + ["I"] * 49)
    out = standard_measures(pupil, AS_OF)
    assert out["severe_absence"] is False and out["persistent_absence"] is True


def test_no_possible_sessions() -> None:
    pupil = sessions_pupil(["#"] * 6 + ["Z"] * 4)
    assert value(pupil, "possible_sessions") == 0
    assert value(pupil, "attendance_rate") is None
    out = standard_measures(pupil, AS_OF)
    assert out["attendance_rate"] is None
    assert out["persistent_absence"] is False and out["severe_absence"] is False
    assert "not defined" in compute(pupil, "attendance_rate", AS_OF).describe()


# --- how each code counts -------------------------------------------------------------

OLD_DAY, NEW_DAY = D(2023, 10, 2), D(2024, 10, 1)
NOT_POSSIBLE = [(OLD_DAY, c) for c in ("#", "Z", "X", "Y", "D")] + [
    (NEW_DAY, c) for c in ("#", "Z", "X", "D", "Q", "Y1", "Y2", "Y3", "Y4", "Y5", "Y6", "Y7")]
APPROVED = [(OLD_DAY, c) for c in ("V", "P", "B", "W", "J")] + [(NEW_DAY, c) for c in ("K", "V", "P", "W", "B")]


def _around(day: dt.date, code: str) -> Pupil:
    """Present on four days before ``day``; ``code`` in both sessions of ``day``."""
    days = {day - dt.timedelta(days=k): "/" for k in (1, 2, 3, 6)}
    return make_pupil({**days, day: code})


@pytest.mark.parametrize(("day", "code"), NOT_POSSIBLE, ids=[f"{d.year}:{c}" for d, c in NOT_POSSIBLE])
def test_not_possible_codes_are_left_out(day: dt.date, code: str) -> None:
    pupil = _around(day, code)
    assert len(pupil.register) == 10
    assert value(pupil, "possible_sessions", day) == 8
    assert value(pupil, "attended_sessions", day) == 8
    assert value(pupil, "absent_sessions", day) == 0
    assert value(pupil, "attendance_rate", day) == 1


@pytest.mark.parametrize(("day", "code"), APPROVED, ids=[f"{d.year}:{c}" for d, c in APPROVED])
def test_approved_activity_counts_as_attending(day: dt.date, code: str) -> None:
    pupil = _around(day, code)
    assert value(pupil, "possible_sessions", day) == 10
    assert value(pupil, "attended_sessions", day) == 10
    assert value(pupil, "present_sessions", day) == 8
    assert value(pupil, "approved_activity_sessions", day) == 2
    assert value(pupil, "attendance_rate", day) == 1


@pytest.mark.parametrize("day", [OLD_DAY, NEW_DAY])
def test_late_marks(day: dt.date) -> None:
    pupil = make_pupil({day - dt.timedelta(days=1): ("L", "U"), day - dt.timedelta(days=2): ("L", "/"), day: "U"})
    assert value(pupil, "present_sessions", day) == 3  # L is present
    assert value(pupil, "late_before_close", day) == 2
    assert value(pupil, "unauthorised_sessions", day) == 3  # U is unauthorised absence
    assert value(pupil, "late_after_close", day) == 3
    assert value(pupil, "attendance_rate", day) == Fraction(3, 6)


def test_late_marks_are_counted_in_both_tables() -> None:
    pupil = make_pupil({D(2024, 7, 19): ("L", "U"), D(2024, 9, 3): ("L", "U")})
    assert value(pupil, "late_before_close", D(2024, 9, 3), "all time") == 2
    assert value(pupil, "late_after_close", D(2024, 9, 3), "all time") == 2


def test_authorised_and_unauthorised_and_days_absent() -> None:
    pupil = sessions_pupil(["/", "I", "M", "/", "G", "N", "O", "/", "C", "/"])
    assert value(pupil, "authorised_sessions") == 3
    assert value(pupil, "unauthorised_sessions") == 3
    assert value(pupil, "absent_sessions") == 6
    assert value(pupil, "days_absent") == Fraction(6, 2) == 3
    assert value(pupil, "unauthorised_days") == Fraction(3, 2)
    assert compute(pupil, "unauthorised_days", AS_OF).as_json() == 1.5
    assert compute(pupil, "unauthorised_days", AS_OF).describe().startswith("1.5 days")
    assert value(pupil, "code_sessions", codes=["G", "N", "O", "U"]) == 3
    assert value(pupil, "code_sessions", codes=["I"]) == 1
    assert value(pupil, "attendance_rate") == Fraction(4, 10)


def test_code_sessions_cross_the_change_of_tables() -> None:
    pupil = make_pupil({D(2024, 7, 18): ("H", "G"), D(2024, 7, 19): "N", D(2024, 9, 3): ("N", "C1")})
    got = value(pupil, "code_sessions", D(2024, 9, 3), "last 2 school weeks", codes=["G", "N", "O", "U"])
    assert got == 4


def test_unknown_measure() -> None:
    with pytest.raises(KeyError, match="unknown measure"):
        compute(sessions_pupil(["/"]), "attendance", AS_OF)


# --- unexplained_run ------------------------------------------------------------------

RUN = make_pupil({
    D(2024, 1, 8): "I",  # Monday
    D(2024, 1, 9): "N",
    D(2024, 1, 10): "N",
    D(2024, 1, 11): ("N", "/"),  # a day with any other mark ends a run
    D(2024, 1, 12): "N",
    D(2024, 1, 15): ("N", None),  # only a morning mark so far
    D(2024, 1, 16): "N",
})


@pytest.mark.parametrize(
    ("as_of", "run", "start"),
    [
        (D(2024, 1, 16), 3, D(2024, 1, 12)),  # Tue, Mon and the Friday before (weekends are no school days)
        (D(2024, 1, 15), 2, D(2024, 1, 12)),
        (D(2024, 1, 13), 1, D(2024, 1, 12)),  # as of a Saturday
        (D(2024, 1, 11), 0, None),
        (D(2024, 1, 10), 2, D(2024, 1, 9)),
        (D(2024, 1, 8), 0, None),
        (D(2024, 1, 1), 0, None),  # before any mark
    ],
)
def test_unexplained_run(as_of: dt.date, run: int, start) -> None:
    measure = compute(RUN, "unexplained_run", as_of)
    assert measure.value == run and measure.start == start
    assert standard_measures(RUN, as_of)["unexplained_run"] == run


def test_unexplained_run_crosses_the_summer_and_the_change_of_tables() -> None:
    pupil = make_pupil({D(2024, 7, 18): "O", D(2024, 7, 19): "N", D(2024, 9, 3): "N"})
    assert value(pupil, "unexplained_run", D(2024, 9, 3)) == 2


# --- attendance_trend -----------------------------------------------------------------


def test_attendance_trend_against_the_window_before() -> None:
    days = weekdays(D(2024, 1, 8), D(2024, 2, 2))  # four school weeks
    marks = {d: "/" for d in days[:10]}
    marks.update({d: ("/", "I") for d in days[10:15]})  # week 3: 50%
    marks.update({d: ("/", "/") if i < 3 else ("I", "O") for i, d in enumerate(days[15:])})  # week 4: 60%
    pupil = make_pupil(marks)
    trend = compute(pupil, "attendance_trend", D(2024, 2, 2), Window.parse("last 2 school weeks"))
    # recent: weeks 3-4, 11 of 20; before: weeks 1-2, 20 of 20
    assert trend.value == Fraction(11, 20) - 1
    assert trend.counts == {"recent_attended": 11, "recent_possible": 20, "before_attended": 20,
                            "before_possible": 20}
    assert trend.start == D(2024, 1, 8)
    assert compute(pupil, "attendance_trend", D(2024, 1, 19), Window.parse("last 2 school weeks")).value is None
    assert compute(pupil, "attendance_trend", D(2024, 2, 2), Window.parse("all time")).value is None


def test_standard_measures_shape() -> None:
    pupil = sessions_pupil(["/", "I", "L", "U", "N", "N"])
    out = standard_measures(pupil, AS_OF)
    assert out == {
        "possible_sessions": 6, "attended_sessions": 2, "authorised_sessions": 1, "unauthorised_sessions": 3,
        "late_before_close": 1, "late_after_close": 1, "days_absent": 2, "attendance_rate": round(2 / 6, 6),
        "persistent_absence": True, "severe_absence": True, "unauthorised_sessions_last_10_school_weeks": 3,
        "attendance_rate_this_term": round(2 / 6, 6), "unexplained_run": 1,
    }
    json.dumps(out)  # JSON-ready


# --- properties against a brute-force recount -----------------------------------------

FIRST = D(2023, 10, 30)  # a Monday; registers span two academic years and the change of code tables
WEEKS = 62
SPAN = 7 * WEEKS
EVENT_TYPES = ("letter_sent", "review_held")
COMMON = ["/", "\\", "/", "\\", "/", "\\", "I", "N", "N", "L", "U", "O"]
# which weekdays (bit 0 = Monday) a week has: whole weeks, holidays, short weeks
WEEK_SHAPES = [31, 31, 31, 31, 0, 0, 0, 30, 15, 28, 7, 1, 16]
COUNTS = {
    "possible_sessions": lambda cats, codes: sum(c != "not_possible" for c in cats),
    "attended_sessions": lambda cats, codes: sum(c in ("present", "approved_activity") for c in cats),
    "present_sessions": lambda cats, codes: cats.count("present"),
    "approved_activity_sessions": lambda cats, codes: cats.count("approved_activity"),
    "absent_sessions": lambda cats, codes: sum(c in ("authorised", "unauthorised") for c in cats),
    "authorised_sessions": lambda cats, codes: cats.count("authorised"),
    "unauthorised_sessions": lambda cats, codes: cats.count("unauthorised"),
    "late_before_close": lambda cats, codes: codes.count("L"),
    "late_after_close": lambda cats, codes: codes.count("U"),
}


@st.composite
def registers(draw, min_days: int = 0, min_weeks: int = 0):
    """A pupil with a school-like random register: weeks of school and holidays, codes valid
    on their dates (mostly the common ones), sometimes only one session of a day marked."""
    shapes = draw(st.lists(st.sampled_from(WEEK_SHAPES), min_size=min_weeks, max_size=WEEKS))
    marks = {}
    for week, shape in enumerate(shapes):
        for weekday in range(5):
            if not shape >> weekday & 1:
                continue
            day = FIRST + dt.timedelta(days=7 * week + weekday)
            pool = COMMON + sorted(EXPECTED_CATEGORY[table_of(day)])
            am, pm = draw(st.sampled_from(pool + [None])), draw(st.sampled_from(pool + [None]))
            marks.update({(day, s): c for s, c in (("AM", am), ("PM", pm)) if c is not None})
    assume(len({d for d, _ in marks}) >= min_days)
    events = draw(st.lists(st.tuples(st.integers(0, SPAN), st.sampled_from(EVENT_TYPES)), max_size=4))
    return Pupil(
        id="P1",
        register=make_register(marks),
        events=[Event(date=FIRST + dt.timedelta(days=o), type=t) for o, t in events],
    ), marks


windows = st.one_of(
    st.just("academic year"), st.just("this term"), st.just("all time"),
    st.integers(1, 15).map(lambda n: f"last {n} school weeks"),
    st.integers(1, 6).map(lambda n: f"last {n} school weeks"),
    st.integers(1, 15).map(lambda n: f"last {n} calendar weeks"),
    st.sampled_from(EVENT_TYPES).map(lambda t: f"since latest {t}"),
)
as_of_dates = st.integers(-10, SPAN + 10).map(lambda o: FIRST + dt.timedelta(days=o))


def brute_start(pupil: Pupil, window: str, as_of: dt.date) -> dt.date | None:
    """The first day of ``window``, worked out from the marks and events without the library."""
    # School days: days with a mark other than a planned whole-school closure (#).
    days = sorted({m.date for m in pupil.register.marks() if m.code != "#"})
    if window == "academic year":
        return D(as_of.year if as_of.month >= 9 else as_of.year - 1, 9, 1)
    if window == "all time":
        return dt.date.min
    if window == "this term":
        past = [d for d in days if d <= as_of]
        if not past:
            return as_of
        i = len(past) - 1
        while i > 0 and (past[i] - past[i - 1]).days - 1 < 7:
            i -= 1
        return past[i]
    words = window.split()
    if words[-2] == "calendar":
        return as_of - dt.timedelta(days=7 * int(words[1]) - 1)
    if words[-2] == "school":
        this_monday = as_of - dt.timedelta(days=as_of.weekday())
        mondays = sorted({d - dt.timedelta(days=d.weekday()) for d in days if d - dt.timedelta(days=d.weekday())
                          <= this_monday})
        if not mondays:
            return this_monday
        return mondays[max(0, len(mondays) - int(words[1]))]
    dates = [e.date for e in pupil.events if e.type == words[-1] and e.date <= as_of]
    return max(dates) if dates else None


def brute_counts(pupil: Pupil, start: dt.date, as_of: dt.date) -> dict[str, int]:
    inside = [m for m in pupil.register.marks() if start <= m.date <= as_of]
    cats = [category_of(m.date, m.code) for m in inside]
    codes = [m.code for m in inside]
    return {name: count(cats, codes) for name, count in COUNTS.items()}


@settings(max_examples=150, deadline=None)
@given(st.one_of(registers(), registers(min_weeks=20)), windows, as_of_dates)
def test_every_window_count_matches_a_recount(case, window, as_of) -> None:
    pupil, _ = case
    start = brute_start(pupil, window, as_of)
    if start is None:
        assert Window.parse(window).bounds(pupil, as_of) is None
        assert compute(pupil, "attendance_rate", as_of, Window.parse(window)).value is None
        return
    assert Window.parse(window).bounds(pupil, as_of)[0] == start
    expected = brute_counts(pupil, start, as_of)
    got = {name: compute(pupil, name, as_of, Window.parse(window)).value for name in COUNTS}
    assert got == expected
    possible = expected["possible_sessions"]
    rate = compute(pupil, "attendance_rate", as_of, Window.parse(window)).value
    absence = compute(pupil, "absence_rate", as_of, Window.parse(window)).value
    if possible == 0:
        assert rate is None and absence is None
    else:
        assert rate == Fraction(expected["attended_sessions"], possible)
        assert absence == Fraction(expected["absent_sessions"], possible)
        assert 0 <= rate <= 1 and 0 <= absence <= 1 and rate + absence == 1
    assert compute(pupil, "days_absent", as_of, Window.parse(window)).value == Fraction(expected["absent_sessions"], 2)


def brute_run(pupil: Pupil, as_of: dt.date) -> int:
    by_day: dict[dt.date, list[str]] = {}
    for m in pupil.register.marks():
        if m.date <= as_of:
            by_day.setdefault(m.date, []).append(m.code)
    run = 0
    for day in sorted(by_day, reverse=True):
        if any(code != "N" for code in by_day[day]):
            break
        run += 1
    return run


@settings(max_examples=100, deadline=None)
@given(registers(), as_of_dates)
def test_unexplained_run_matches_a_recount(case, as_of) -> None:
    pupil, _ = case
    assert compute(pupil, "unexplained_run", as_of).value == brute_run(pupil, as_of)


@settings(max_examples=150, deadline=None)
@given(registers(min_days=1), windows, as_of_dates, st.data())
def test_marking_an_absence_present_never_lowers_attendance(case, window, as_of, data) -> None:
    pupil, marks = case
    absences = sorted(k for k, code in marks.items() if category_of(k[0], code) in ("authorised", "unauthorised"))
    assume(absences)
    changed_key = data.draw(st.sampled_from(absences))
    better = Pupil(
        id="P1", register=make_register({**marks, changed_key: "/"}), events=pupil.events
    )
    win = Window.parse(window)
    before = {n: compute(pupil, n, as_of, win).value for n in ("attendance_rate", "days_absent", "possible_sessions")}
    after = {n: compute(better, n, as_of, win).value for n in ("attendance_rate", "days_absent", "possible_sessions")}
    assert after["possible_sessions"] == before["possible_sessions"]
    assert after["days_absent"] <= before["days_absent"]
    if before["attendance_rate"] is not None:
        assert after["attendance_rate"] >= before["attendance_rate"]
    start = brute_start(pupil, window, as_of)
    if start is not None and start <= changed_key[0] <= as_of:  # the change is inside the window
        assert after["days_absent"] == before["days_absent"] - Fraction(1, 2)
        assert after["attendance_rate"] > before["attendance_rate"]


@settings(max_examples=100, deadline=None)
@given(registers(min_days=1), as_of_dates, st.randoms(use_true_random=False))
def test_measures_do_not_depend_on_the_order_of_the_input(case, as_of, rnd) -> None:
    _, marks = case
    rows = [{"date": day.isoformat(), "session": session, "code": code} for (day, session), code in marks.items()]
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for name, given_rows in (("a.json", sorted(rows, key=lambda r: (r["date"], r["session"]))),
                                 ("b.json", shuffled)):
            path = Path(folder) / name
            path.write_text(json.dumps({"pupils": [{"id": "P1", "marks": given_rows}]}), encoding="utf-8")
            results.append(load_history(path).pupil("P1"))
    ordered, mixed = results
    assert ordered.register == mixed.register
    assert standard_measures(ordered, as_of) == standard_measures(mixed, as_of)
    for name in MEASURES:
        if name != "code_sessions":
            window = Window.parse("last 3 school weeks")
            assert compute(ordered, name, as_of, window).value == compute(mixed, name, as_of, window).value


# --- the committed sample, counted by hand --------------------------------------------

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sample" / "history.json"
SAMPLE_AS_OF = D(2024, 2, 9)


def _hand_count(pupil: dict) -> dict:
    """Year-to-date figures of a pupil in the sample, from the JSON by a plain loop."""
    possible = attended = authorised = unauthorised = late_l = late_u = 0
    for mark in pupil.get("marks", []):
        day = D.fromisoformat(mark["date"])
        if not D(2023, 9, 1) <= day <= SAMPLE_AS_OF:
            continue
        category = category_of(day, mark["code"])
        if category == "not_possible":
            continue
        possible += 1
        if category in ("present", "approved_activity"):
            attended += 1
        elif category == "authorised":
            authorised += 1
        else:
            unauthorised += 1
        late_l += mark["code"] == "L"
        late_u += mark["code"] == "U"
    missed = authorised + unauthorised
    # the last 10 school weeks: weeks (Monday to Sunday) with any mark, up to this week
    mondays = sorted({D.fromisoformat(m["date"]) - dt.timedelta(days=D.fromisoformat(m["date"]).weekday())
                      for m in pupil.get("marks", []) if D.fromisoformat(m["date"]) <= SAMPLE_AS_OF})
    since = mondays[-10] if len(mondays) >= 10 else (mondays[0] if mondays else SAMPLE_AS_OF)
    recent_unauthorised = sum(1 for m in pupil.get("marks", [])
                              if since <= D.fromisoformat(m["date"]) <= SAMPLE_AS_OF
                              and category_of(D.fromisoformat(m["date"]), m["code"]) == "unauthorised")
    return {
        "unauthorised_sessions_last_10_school_weeks": recent_unauthorised,
        "possible_sessions": possible,
        "attended_sessions": attended,
        "authorised_sessions": authorised,
        "unauthorised_sessions": unauthorised,
        "late_before_close": late_l,
        "late_after_close": late_u,
        "days_absent": missed / 2,
        "attendance_rate": round(attended / possible, 6) if possible else None,
        "persistent_absence": bool(possible) and missed * 10 >= possible,
        "severe_absence": bool(possible) and missed * 2 >= possible,
    }


def test_sample_year_to_date_counted_by_hand() -> None:
    if not SAMPLE.is_file():
        pytest.skip("examples/sample/history.json is not there yet")
    doc = json.loads(SAMPLE.read_text(encoding="utf-8"))
    history = load_history(SAMPLE)

    def ytd_absent(p: dict) -> int:
        return sum(1 for m in p.get("marks", []) if D(2023, 9, 1) <= D.fromisoformat(m["date"]) <= SAMPLE_AS_OF
                   and category_of(D.fromisoformat(m["date"]), m["code"]) in ("authorised", "unauthorised"))

    with_marks = [p for p in doc["pupils"] if any(m["date"] < "2024-02-10" and m["date"] >= "2023-09-01"
                                                  for m in p.get("marks", []))]
    if not with_marks:
        pytest.skip("the sample has no marks in 2023-24")
    # the first pupil, the most absent one and the one with most late marks
    chosen = {with_marks[0]["id"]: with_marks[0]}
    most_absent = max(with_marks, key=ytd_absent)
    most_late = max(with_marks, key=lambda p: sum(m["code"] in ("L", "U") for m in p.get("marks", [])))
    assert ytd_absent(most_absent) > 0, "the sample should have some absence to count"
    chosen.update({most_absent["id"]: most_absent, most_late["id"]: most_late})
    for pid, raw in chosen.items():
        got = standard_measures(history.pupil(pid), SAMPLE_AS_OF, Calendar())
        expected = _hand_count(raw)
        assert {k: got[k] for k in expected} == expected, pid


def test_a_measure_gives_its_value_as_a_rate_or_a_count_and_refuses_the_other() -> None:
    pupil = sessions_pupil(["/"] * 18 + ["I", "O"])
    rate = compute(pupil, "attendance_rate", AS_OF, Window.parse("academic year"))
    count = compute(pupil, "unauthorised_sessions", AS_OF, Window.parse("academic year"))
    assert rate.rate() == Fraction(9, 10) and count.count() == 1
    with pytest.raises(TypeError, match="not a rate"):
        count.rate()
    with pytest.raises(TypeError, match="not a count"):
        rate.count()
    assert (
        compute(
            Pupil(id="P2", register=make_register({})),
            "attendance_rate",
            AS_OF,
            Window.parse("academic year"),
        ).rate()
        is None
    )
