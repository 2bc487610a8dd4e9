"""Attendance measures of one pupil as of a date, over named windows.

Every measure is computed from the compact register's prefix counts, so each costs a
couple of binary searches, and every result can say how it was computed (window
bounds and the counts behind it) for explanations.

Rates are exact fractions: persistent absence is 10% or more of possible sessions
missed, so exactly 90.0% attendance *is* persistent absence, and floating point must
not decide that boundary.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from bisect import bisect_right
from fractions import Fraction
from typing import Any, Literal, Mapping, get_args

import attrs

from ..exceptions import UnknownNameError
from ..jsonform import json_number
from ..text import UNIT_TEXT, short_date
from .calendar import Calendar, academic_year_start, monday_of
from .codes import Category
from .history import Pupil

__all__ = [
    "MEASURES",
    "MEASURE_KINDS",
    "MEASURE_UNITS",
    "PERSISTENT_ABSENCE_RATE",
    "SEVERE_ABSENCE_RATE",
    "Measure",
    "MeasureKind",
    "MeasureSpec",
    "MeasureUnit",
    "Pair",
    "Window",
    "WindowKind",
    "as_pair",
    "compute",
    "standard_measures",
    "window_counts",
    "window_measure",
]

# National definitions (DfE, Working together to improve school attendance): missing 10% or
# more of possible sessions is persistent absence, 50% or more severe absence. Policies
# carry these as cited parameters; these defaults serve the `measures` command only.
PERSISTENT_ABSENCE_RATE = Fraction(1, 10)
SEVERE_ABSENCE_RATE = Fraction(1, 2)

# What a measure counts (how it is computed and compared), and the unit its value is in.
MeasureKind = Literal["count", "rate", "days", "run", "trend"]
MEASURE_KINDS: tuple[MeasureKind, ...] = get_args(MeasureKind)
MeasureUnit = Literal["sessions", "days", "percent"]
MEASURE_UNITS: tuple[MeasureUnit, ...] = get_args(MeasureUnit)
# The spans a window can cover (``Window.parse`` reads them from a policy's words).
WindowKind = Literal[
    "academic_year", "term", "all", "today", "school_weeks", "calendar_weeks", "since_event"
]

_WINDOW_FORMS = (
    "academic year",
    "this term",
    "today",
    "last N school weeks",
    "last N calendar weeks",
    "since latest EVENT_TYPE",
    "all time",
)


@attrs.frozen(cache_hash=True, kw_only=True)  # windows key every measure lookup
class Window:
    """A span of days ending on the as-of date: ``kind`` plus its size or event type.

    ``not_before`` (from a named measure's ``not_before`` parameter) cuts off the days
    before that date: a window reaching back before it starts on it instead.
    """

    kind: WindowKind
    n: int = 0
    event: str = ""
    not_before: dt.date | None = None

    @classmethod
    def parse(cls, text: str) -> "Window":
        """Read a window such as ``last 10 school weeks``; ValueError lists the forms."""
        words = text.strip().lower().split()
        phrase = " ".join(words)
        if phrase in ("academic year", "this academic year", "year to date"):
            return cls(kind="academic_year")
        if phrase in ("this term", "term", "term to date"):
            return cls(kind="term")
        if phrase in ("all time", "all"):
            return cls(kind="all")
        if phrase == "today":
            return cls(kind="today")
        match = re.fullmatch(r"(?:last|previous) (\d+) (school|calendar) weeks?", phrase)
        if match and int(match.group(1)) > 0:
            weeks: WindowKind = "school_weeks" if match.group(2) == "school" else "calendar_weeks"
            return cls(kind=weeks, n=int(match.group(1)))
        match = re.fullmatch(r"since (?:latest |last )?([a-z_][a-z0-9_]*)", phrase)
        if match:
            return cls(kind="since_event", event=match.group(1))
        raise ValueError(f"unknown window {text!r}; expected one of: {', '.join(_WINDOW_FORMS)}")

    def __str__(self) -> str:
        cut = f" from {self.not_before.isoformat()}" if self.not_before else ""
        if self.kind in ("school_weeks", "calendar_weeks"):
            unit = self.kind.replace("_", " ")
            return f"last {self.n} {unit[:-1] if self.n == 1 else unit}{cut}"
        return {
            "academic_year": "academic year",
            "term": "this term",
            "all": "all time",
            "today": "today",
        }.get(self.kind, f"since latest {self.event}") + cut

    def bounds(
        self, pupil: Pupil, as_of: dt.date, calendar: Calendar = Calendar()
    ) -> tuple[dt.date, dt.date] | None:
        """First and last day of the window for ``pupil``; None when it is empty."""
        found = self._bounds(pupil, as_of, calendar)
        if found is None or self.not_before is None or found[0] >= self.not_before:
            return found
        return (self.not_before, as_of) if as_of >= self.not_before else None

    def _bounds(
        self, pupil: Pupil, as_of: dt.date, calendar: Calendar
    ) -> tuple[dt.date, dt.date] | None:
        """The window's bounds before any ``not_before`` cut."""
        if self.kind == "today":
            return as_of, as_of
        if self.kind == "academic_year":
            return academic_year_start(as_of), as_of
        if self.kind == "term":
            # The term's start depends on the pupil's own school days when no calendar file is given
            # (a break of a week or more starts a term: ARCHITECTURE.md, "Readings we took").
            return calendar.term_start(as_of, pupil.register.days), as_of
        if self.kind == "calendar_weeks":
            # Inclusive at both ends: N calendar weeks are 7N days ending on (and including) the
            # as-of date.
            return as_of - dt.timedelta(days=7 * self.n - 1), as_of
        if self.kind == "school_weeks":
            return _school_weeks_start(pupil, as_of, self.n), as_of
        if self.kind == "all":
            return dt.date.min, as_of
        events = pupil.events_of(self.event, until=as_of)
        # No such event yet: the window is empty (None), not the whole year, so `since latest
        # review_held` counts nothing before the first review.
        return (events[-1].date, as_of) if events else None


def _school_weeks_start(pupil: Pupil, as_of: dt.date, n: int) -> dt.date:
    """Monday of the n-th most recent school week up to ``as_of`` (the earliest if fewer)."""
    weeks = pupil.register.weeks
    i = bisect_right(weeks, monday_of(as_of.toordinal()))
    if i == 0:
        return dt.date.fromordinal(monday_of(as_of.toordinal()))
    # School weeks are the pupil's weeks with a mark, so the window skips holidays: ten school weeks
    # may span fourteen calendar weeks (england's `pn_unauthorised_10w` counts this way).
    return dt.date.fromordinal(weeks[max(0, i - n)])


@attrs.frozen(kw_only=True)
class MeasureSpec:
    """What a measure counts: a description, its unit and optional code list."""

    name: str
    unit: MeasureUnit
    description: str
    kind: MeasureKind


MEASURES: Mapping[str, MeasureSpec] = {
    spec.name: spec
    for spec in (
        # `description` is a template: {n} is the value (a number, or a percentage for rates).
        MeasureSpec(
            name="possible_sessions",
            unit="sessions",
            description="{n} possible sessions",
            kind="count",
        ),
        MeasureSpec(
            name="attended_sessions",
            unit="sessions",
            description="{n} sessions attended (present or approved activity)",
            kind="count",
        ),
        MeasureSpec(
            name="present_sessions",
            unit="sessions",
            description="{n} sessions present",
            kind="count",
        ),
        MeasureSpec(
            name="approved_activity_sessions",
            unit="sessions",
            description="{n} sessions at an approved educational activity",
            kind="count",
        ),
        MeasureSpec(
            name="absent_sessions", unit="sessions", description="{n} sessions absent", kind="count"
        ),
        MeasureSpec(
            name="authorised_sessions",
            unit="sessions",
            description="{n} sessions of authorised absence",
            kind="count",
        ),
        MeasureSpec(
            name="unauthorised_sessions",
            unit="sessions",
            description="{n} unauthorised sessions",
            kind="count",
        ),
        MeasureSpec(
            name="code_sessions",
            unit="sessions",
            description="{n} sessions coded {codes}",
            kind="count",
        ),
        MeasureSpec(
            name="late_before_close",
            unit="sessions",
            description="{n} late marks before the register closed (L)",
            kind="count",
        ),
        MeasureSpec(
            name="late_after_close",
            unit="sessions",
            description="{n} late marks after the register closed (U)",
            kind="count",
        ),
        MeasureSpec(
            name="attendance_rate", unit="percent", description="attendance {n}", kind="rate"
        ),
        MeasureSpec(name="absence_rate", unit="percent", description="absence {n}", kind="rate"),
        MeasureSpec(name="days_absent", unit="days", description="{n} days absent", kind="days"),
        MeasureSpec(
            name="unauthorised_days",
            unit="days",
            description="{n} days of unauthorised absence",
            kind="days",
        ),
        MeasureSpec(
            name="unexplained_run",
            unit="days",
            description="{n} school days in a row with no reason given (N)",
            kind="run",
        ),
        MeasureSpec(
            name="attendance_trend",
            unit="percent",
            description="attendance changed by {n} against the window before",
            kind="trend",
        ),
    )
}


@attrs.frozen(kw_only=True)
class Measure:
    """A computed measure: its value and how it was obtained."""

    name: str
    window: Window | None
    value: int | Fraction | None
    unit: MeasureUnit
    start: dt.date | None
    end: dt.date
    counts: Mapping[str, int] = attrs.field(factory=dict, hash=False)
    codes: tuple[str, ...] = ()

    def describe(self) -> str:
        """Plain English: value, what it counts and the window's dates."""
        spec = MEASURES[self.name]
        span = (
            f"{_fmt(self.start)} to {_fmt(self.end)}" if self.start else f"up to {_fmt(self.end)}"
        )
        if self.value is None:
            what = (
                spec.description.format(n="", codes=", ".join(self.codes))
                .replace("  ", " ")
                .strip()
            )
            return f"{what}: not defined, no possible sessions {self.window_phrase()} ({span})"
        number = (
            format_value(self.value, self.unit)
            .removesuffix(f" {self.unit}")
            .removesuffix(" session")
            .removesuffix(" day")
        )
        text = spec.description.format(n=number, codes=", ".join(self.codes))
        if self.value == 1 and self.unit != "percent":
            text = (
                text.replace(" sessions", " session", 1)
                .replace(" days", " day", 1)
                .replace(" marks", " mark", 1)
            )
        where = f" {self.window_phrase()} ({span})" if self.window else f" ({span})"
        return text + where + _count_note(self)

    def window_phrase(self) -> str:
        """``in the last 12 school weeks``, ``this term``, ``since the latest review_held`` …"""
        window = self.window
        if window is None:
            return "as of"
        if window.kind == "academic_year":
            return "in the academic year to date"
        if window.kind == "term":
            return "this term"
        if window.kind == "since_event":
            return f"since the latest {window.event}"
        if window.kind == "all":
            return "in all marks"
        if window.kind == "today":
            return "today"
        return f"in the {window}"

    def as_json(self) -> Any:
        """The value as a JSON number (rates as fractions of 1, rounded to 6 places)."""
        return json_number(self.value)

    def rate(self) -> Fraction | None:
        """The value of a percent measure: a fraction of 1, or None with no possible sessions."""
        if self.value is not None and not isinstance(self.value, Fraction):
            raise TypeError(f"{self.name} is a count, not a rate")
        return self.value

    def count(self) -> int:
        """The value of a count measure (sessions, days, marks), never None."""
        if not isinstance(self.value, int):
            raise TypeError(f"{self.name} is not a count: {self.value!r}")
        return self.value


def _count_note(m: Measure) -> str:
    if m.unit == "percent" and "possible" in m.counts:
        return f": {m.counts['attended']} of {m.counts['possible']} possible sessions attended"
    return ""


@functools.lru_cache(maxsize=4096)
def _fmt(day: dt.date | None) -> str:
    if day is None or day == dt.date.min:
        return "the first mark"
    return short_date(day)


def format_value(value: int | Fraction | None, unit: str) -> str:
    """A value with its unit: ``90.0%``, ``12 sessions``, ``4.5 days``, ``10 school days``."""
    if value is None:
        return "undefined"
    if unit == "percent":
        return f"{float(value) * 100:.1f}%"
    number = f"{float(value):g}" if isinstance(value, Fraction) else str(value)
    words = UNIT_TEXT.get(unit)
    if words is None:  # a unit with no words of its own: its name, without the plural for one
        name = unit.replace("_", " ")
        words = (name[:-1] if name.endswith("s") else name, name)
    return f"{number} {words[value != 1]}"


def compute(
    pupil: Pupil,
    name: str,
    as_of: dt.date,
    window: Window | None = None,
    calendar: Calendar = Calendar(),
    codes: tuple[str, ...] = (),
) -> Measure:
    """Compute measure ``name`` for ``pupil`` as of ``as_of`` over ``window``."""
    spec = MEASURES.get(name)
    if spec is None:
        raise UnknownNameError(f"unknown measure {name!r}; known: {', '.join(sorted(MEASURES))}")
    if spec.kind == "run":
        return _unexplained_run(pupil, as_of)
    window = window or Window(kind="academic_year")
    if spec.kind == "trend":
        return _trend(pupil, as_of, window, calendar)
    bounds = window.bounds(pupil, as_of, calendar)
    return window_measure(
        name,
        window,
        bounds,
        as_of,
        codes,  # (window_measure counts only a window with bounds)
        lambda: window_counts(pupil, bounds[0], bounds[1], codes),  # type: ignore[index]
    )


def window_measure(
    name: str,
    window: Window,
    bounds: tuple[dt.date, dt.date] | None,
    as_of: dt.date,
    codes: tuple[str, ...],
    counts: Any,
) -> Measure:
    """A count or rate measure over ``bounds``; ``counts()`` gives the window's counts."""
    spec = MEASURES[name]
    if bounds is None:  # e.g. "since latest review_held" with no review: nothing to count
        return Measure(
            name=name,
            window=window,
            value=None if spec.kind == "rate" else 0,
            unit=spec.unit,
            start=None,
            end=as_of,
            counts={},
            codes=codes,
        )
    found = counts()
    return Measure(
        name=name,
        window=window,
        value=_value(name, found),
        unit=spec.unit,
        start=bounds[0],
        end=bounds[1],
        counts=found,
        codes=codes,
    )


def window_counts(
    pupil: Pupil, start: dt.date, end: dt.date, codes: tuple[str, ...]
) -> dict[str, int]:
    """The counts behind a measure over ``start``..``end``: sessions by category, late marks
    and (with ``codes``) sessions of those codes."""
    reg = pupil.register
    lo, hi = reg.span(start, end)
    present = reg.count(Category.PRESENT, lo, hi)
    approved = reg.count(Category.APPROVED_ACTIVITY, lo, hi)
    authorised = reg.count(Category.AUTHORISED, lo, hi)
    unauthorised = reg.count(Category.UNAUTHORISED, lo, hi)
    counts = {
        "present": present,
        "approved_activity": approved,
        "attended": present + approved,
        "authorised": authorised,
        "unauthorised": unauthorised,
        "absent": authorised + unauthorised,
        "possible": present + approved + authorised + unauthorised,
        "late_before_close": reg.count_late("L", lo, hi),
        "late_after_close": reg.count_late("U", lo, hi),
    }
    if codes:
        counts["codes"] = reg.count_codes(
            [i for c in codes for i in reg.codebook.ids_for(c)], lo, hi
        )
    return counts


_COUNT_KEYS = {
    "possible_sessions": "possible",
    "attended_sessions": "attended",
    "present_sessions": "present",
    "approved_activity_sessions": "approved_activity",
    "absent_sessions": "absent",
    "authorised_sessions": "authorised",
    "unauthorised_sessions": "unauthorised",
    "code_sessions": "codes",
    "late_before_close": "late_before_close",
    "late_after_close": "late_after_close",
}


def _value(name: str, counts: Mapping[str, int]) -> int | Fraction | None:
    if name in _COUNT_KEYS:
        return counts.get(_COUNT_KEYS[name], 0)
    if name == "days_absent":
        return Fraction(counts["absent"], 2)
    if name == "unauthorised_days":
        return Fraction(counts["unauthorised"], 2)
    # A rate over no possible sessions is undefined (None), not 0% or 100%: no comparison with an
    # undefined value holds (`rules.values.compare`), so a pupil with no marks meets no threshold.
    if counts["possible"] == 0:
        return None
    key = "attended" if name == "attendance_rate" else "absent"
    return Fraction(counts[key], counts["possible"])


def _unexplained_run(pupil: Pupil, as_of: dt.date) -> Measure:
    """School days, counting back from ``as_of``, on which every mark is N."""
    reg = pupil.register
    n_ids = set(reg.codebook.ids_for("N"))
    days = reg.days
    i = bisect_right(days, as_of.toordinal()) - 1
    run = 0
    while i >= 0:
        lo, hi = reg.span(dt.date.fromordinal(days[i]), dt.date.fromordinal(days[i]))
        # A day counts towards the run only when every session of it is N (no reason yet given): one
        # attended or explained session makes it a day the school knows about, which ends the run.
        if not all(c in n_ids for c in reg.codes[lo:hi]):
            break
        run, i = run + 1, i - 1
    start = dt.date.fromordinal(days[i + 1]) if run else None
    return Measure(
        name="unexplained_run",
        window=None,
        value=run,
        unit="days",
        start=start,
        end=as_of,
        counts={"days": run},
    )


def _trend(pupil: Pupil, as_of: dt.date, window: Window, calendar: Calendar) -> Measure:
    """Attendance in ``window`` minus attendance in the equally long window before it."""
    recent = compute(pupil, "attendance_rate", as_of, window, calendar)
    if recent.start is None or recent.start == dt.date.min:
        return Measure(
            name="attendance_trend",
            window=window,
            value=None,
            unit="percent",
            start=None,
            end=as_of,
            counts={},
        )
    # The window before is the same window taken as of the day before this one starts, so "last
    # 6 school weeks" compares with the six school weeks before them, holidays skipped alike.
    before = compute(
        pupil, "attendance_rate", recent.start - dt.timedelta(days=1), window, calendar
    )
    value = None if recent.value is None or before.value is None else recent.value - before.value
    counts = {
        "recent_attended": recent.counts.get("attended", 0),
        "recent_possible": recent.counts.get("possible", 0),
        "before_attended": before.counts.get("attended", 0),
        "before_possible": before.counts.get("possible", 0),
    }
    return Measure(
        name="attendance_trend",
        window=window,
        value=value,
        unit="percent",
        start=before.start,
        end=as_of,
        counts=counts,
    )


def standard_measures(
    pupil: Pupil, as_of: dt.date, calendar: Calendar = Calendar()
) -> dict[str, Any]:
    """The measures the ``measures`` command prints, as JSON-ready numbers.

    The year-to-date counts are taken once and every year figure derived from them.
    """
    counts = window_counts(pupil, academic_year_start(as_of), as_of, ())
    out: dict[str, Any] = {}
    for name in (
        "possible_sessions",
        "attended_sessions",
        "authorised_sessions",
        "unauthorised_sessions",
        "late_before_close",
        "late_after_close",
        "days_absent",
        "attendance_rate",
    ):
        out[name] = json_number(_value(name, counts))
    absence = _value("absence_rate", counts)
    out["persistent_absence"] = absence is not None and absence >= PERSISTENT_ABSENCE_RATE
    out["severe_absence"] = absence is not None and absence >= SEVERE_ABSENCE_RATE
    out["unauthorised_sessions_last_10_school_weeks"] = compute(
        pupil, "unauthorised_sessions", as_of, Window(kind="school_weeks", n=10), calendar
    ).value
    out["attendance_rate_this_term"] = compute(
        pupil, "attendance_rate", as_of, Window(kind="term"), calendar
    ).as_json()
    out["unexplained_run"] = compute(pupil, "unexplained_run", as_of).value
    return out


Pair = tuple[int, int]  # an exact value as (numerator, denominator > 0)


def as_pair(value: int | Fraction | None) -> Pair | None:
    """An exact number as ``(numerator, denominator)``; None stays None."""
    if value is None:
        return None
    if isinstance(value, int):
        return value, 1
    return value.numerator, value.denominator
