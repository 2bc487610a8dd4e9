"""School calendar arithmetic: academic years, terms, school weeks and school days.

A day with marks is a school day for that pupil; a school week is a Monday-to-Sunday
week with at least one school day. The academic year runs 1 September to 31 August.
Terms come from an optional calendar file, otherwise from gaps: a break of seven or
more calendar days with no school day starts a new term (so half-term holidays split
terms; this is our reading, recorded in ARCHITECTURE.md).

School days after a date (``count_school_days``, ``nth_school_day_after``) are the
pupil's days with marks up to the as-of date; the days after it are not known yet, so
weekdays stand in for them, as they do for due dates.
"""

from __future__ import annotations

import csv
import datetime as dt
from bisect import bisect_left, bisect_right
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import attrs

from ..exceptions import InputError, Location, Problem

__all__ = [
    "EARLIEST_DATE",
    "LATEST_DATE",
    "TERM_GAP_DAYS",
    "Calendar",
    "Term",
    "academic_year_start",
    "add_weekdays",
    "check_date",
    "count_school_days",
    "load_calendar",
    "monday_of",
    "nth_school_day_after",
    "read_terms",
    "school_days_in",
]

# A break this long (calendar days with no school day) separates two terms.
TERM_GAP_DAYS = 7

# The dates a user may ask about (--as-of, --from/--to, a case's dates). A local sanity
# bound, not a policy value: it keeps every look back (windows, the academic year) and
# look ahead (due dates, --horizon) far inside Python's calendar (years 1 to 9999), so
# `--as-of 0001-01-01` or `to: 9999-12-31` is refused where it is written instead of
# overflowing deep inside a computation.
EARLIEST_DATE = dt.date(1900, 1, 1)
LATEST_DATE = dt.date(2199, 12, 31)


def check_date(day: dt.date) -> str:
    """Why ``day`` cannot be used (outside EARLIEST_DATE..LATEST_DATE), or "" when it can."""
    if EARLIEST_DATE <= day <= LATEST_DATE:
        return ""
    return (
        f"{day.isoformat()} is outside the dates this tool works with, "
        f"{EARLIEST_DATE.isoformat()} to {LATEST_DATE.isoformat()}"
    )


def academic_year_start(day: dt.date) -> dt.date:
    """1 September of the academic year containing ``day`` (1 January of year 1 at the
    start of the calendar, which has no earlier September)."""
    # September to August whatever the term dates (module docstring), so a day in the summer
    # holiday still belongs to the year that just ended.
    year = day.year if day.month >= 9 else day.year - 1
    return dt.date(year, 9, 1) if year >= 1 else dt.date.min


def monday_of(ordinal: int) -> int:
    """The ordinal of the Monday of the week containing day ``ordinal``."""
    # Ordinal 1 (1 January of year 1) was a Monday, so (ordinal - 1) % 7 is the days since Monday.
    return ordinal - (ordinal - 1) % 7


@attrs.frozen
class Term:
    """A named term with its first and last day (inclusive)."""

    name: str
    start: dt.date
    end: dt.date


@attrs.frozen
class Calendar:
    """Optional explicit term dates; without them terms are inferred from gaps."""

    terms: tuple[Term, ...] = ()

    def term_start(self, as_of: dt.date, school_days: Sequence[int]) -> dt.date:
        """First day of the term containing ``as_of`` (or of the last term before it)."""
        if self.terms:
            # The last term started by `as_of`, even when `as_of` falls in the holiday after it:
            # "this term" then means the term just ended, not an empty window. Before the first
            # term, the first term's start makes the window empty (it starts after `as_of`).
            started = [t for t in self.terms if t.start <= as_of]
            return started[-1].start if started else self.terms[0].start
        return _inferred_term_start(as_of, school_days)

    def next_term_start(self, as_of: dt.date, school_days: Sequence[int]) -> dt.date:
        """First day of the first term starting after ``as_of`` (9999-12-31: none known)."""
        if self.terms:
            return next((t.start for t in self.terms if t.start > as_of), dt.date.max)
        return _next_inferred_term_start(as_of, school_days)


def _inferred_term_start(as_of: dt.date, school_days: Sequence[int]) -> dt.date:
    """Walk back from ``as_of`` over the school days to the first gap of TERM_GAP_DAYS."""
    i = bisect_right(school_days, as_of.toordinal()) - 1
    # No school day yet: the term starts today, so "this term" holds no marks rather than failing.
    if i < 0:
        return as_of
    # The gap is the days strictly between two school days: 2 over a weekend, up to 4 over a bank
    # holiday weekend, 9 over a one-week half term; TERM_GAP_DAYS = 7 falls between the last two.
    while i > 0 and school_days[i] - school_days[i - 1] - 1 < TERM_GAP_DAYS:
        i -= 1
    return dt.date.fromordinal(school_days[i])


def _next_inferred_term_start(as_of: dt.date, school_days: Sequence[int]) -> dt.date:
    """The first school day after ``as_of`` that follows a break of TERM_GAP_DAYS or more."""
    i = bisect_right(school_days, as_of.toordinal())
    previous = school_days[i - 1] if i else None
    for day in school_days[i:]:
        if previous is not None and day - previous - 1 >= TERM_GAP_DAYS:
            return dt.date.fromordinal(day)
        previous = day
    return dt.date.max


def school_days_in(school_days: Sequence[int], start: dt.date, end: dt.date) -> Sequence[int]:
    """The ordinals of ``school_days`` (sorted) from ``start`` to ``end`` inclusive."""
    return school_days[
        bisect_left(school_days, start.toordinal()) : bisect_right(school_days, end.toordinal())
    ]


def count_school_days(day: dt.date, end: dt.date, school_days: Sequence[int]) -> int:
    """How many of ``school_days`` (day ordinals, sorted) fall after ``day``, up to and including
    ``end``."""
    # Both bisect_right: `day` itself is not counted (the day of an event is day 0 of "time
    # since") and `end` is. max(0, ...) makes an end before the start count nothing rather than
    # negative.
    return max(
        0, bisect_right(school_days, end.toordinal()) - bisect_right(school_days, day.toordinal())
    )


def nth_school_day_after(
    day: dt.date, n: int, school_days: Sequence[int], as_of: dt.date
) -> dt.date:
    """The ``n``-th school day after ``day`` (``day`` itself when ``n`` < 1).

    Up to ``as_of`` the school days are ``school_days`` (the pupil's days with marks);
    after it they are not known yet and weekdays stand in, as for due dates.
    """
    if n < 1:
        return day
    # Index of the n-th known school day strictly after `day`; it only counts if it is on or before
    # `as_of`, since a mark after the as-of date is one the evaluation must not have seen.
    i = bisect_right(school_days, day.toordinal()) + n - 1
    if i < len(school_days) and school_days[i] <= as_of.toordinal():
        return dt.date.fromordinal(school_days[i])
    # Short of known days: the school days up to `as_of` are used up and the rest are weekdays after
    # it (or after `day`, when `day` itself is past `as_of`).
    left = n - (count_school_days(day, as_of, school_days) if day < as_of else 0)
    return _nth_weekday_after(max(day, as_of), left)


def add_weekdays(day: dt.date, n: int) -> dt.date:
    """``day`` plus ``n`` weekdays (``day`` itself when ``n`` < 1), in constant time;
    the last day of the calendar (9999-12-31) when the result would lie beyond it."""
    return _nth_weekday_after(day, n) if n >= 1 else day


def _nth_weekday_after(day: dt.date, n: int) -> dt.date:
    """The ``n``-th weekday (n >= 1) after ``day``: every 7 days hold 5 weekdays (clamped)."""
    # Any 7 consecutive days hold exactly 5 weekdays, so whole weeks are jumped in one step and at
    # most 5 weekdays are walked: constant time even for the ten-year sanity bound.
    weeks, rest = divmod(n - 1, 5)
    if weeks > dt.date.max.toordinal() // 7:  # beyond any date: timedelta itself would overflow
        return dt.date.max
    try:
        day += dt.timedelta(days=7 * weeks)
        while rest >= 0:
            day += dt.timedelta(days=1)
            rest -= day.weekday() < 5
    except OverflowError:
        return dt.date.max
    return day


def read_terms(rows: Iterable[tuple[Mapping[str, object], Location]]) -> Calendar:
    """Terms from ``(row, location)`` pairs with ``name``, ``start`` and ``end`` (ISO dates).

    ``InputError`` lists every row whose dates are not ISO dates or which ends before it starts.
    """
    problems, terms = [], []
    for row, where in rows:
        try:
            term = Term(
                str(row["name"]),
                dt.date.fromisoformat(str(row["start"])),
                dt.date.fromisoformat(str(row["end"])),
            )
        except (TypeError, ValueError):
            problems.append(
                Problem(
                    "a term needs ISO dates",
                    where,
                    found=f"{row['start']!r}, {row['end']!r}",
                    expected="YYYY-MM-DD",
                    example="autumn 1,2023-09-04,2023-10-27",
                )
            )
            continue
        if term.end < term.start:
            problems.append(
                Problem(
                    "a term ends before it starts",
                    where,
                    found=f"{term.start} to {term.end}",
                    expected="a last day on or after the first",
                    example="autumn 1,2023-09-04,2023-10-27",
                )
            )
        terms.append(term)
    if problems:
        raise InputError(problems)
    # Sorted because `term_start` takes the last term started by a date: rows may come in any order.
    return Calendar(tuple(sorted(terms, key=lambda t: t.start)))


def load_calendar(path: str | Path) -> Calendar:
    """Read term dates from a CSV file with columns ``name,start,end`` (ISO dates).

    A byte that is not UTF-8 or a row the csv module cannot read is a located ``InputError``.
    """
    with open(path, newline="", encoding="utf-8-sig") as handle:  # a UTF-8 BOM (Excel) is not data
        reader = csv.DictReader(handle)
        rows: list[tuple[dict, Location]] = []
        try:
            _calendar_rows(reader, str(path), rows)
        except UnicodeDecodeError:
            from .input_limits import (
                utf8_problem,  # only when the file fails: the readers' import
            )

            raise InputError([utf8_problem(Path(path))]) from None
        except csv.Error as err:  # the row after the last one read (csv's own count can lag a line)
            line = max(reader.line_num, rows[-1][1].line + 1 if rows else 2)
            raise InputError(
                [
                    Problem(
                        f"unreadable CSV row: {err}",
                        Location(str(path), line),
                        expected="name,start,end rows, quotes closed",
                    )
                ]
            ) from None
    return read_terms(rows)


def _calendar_rows(reader: csv.DictReader, name: str, rows: list[tuple[dict, Location]]) -> None:
    """Append every row of a calendar file with its location, once its header is checked."""
    missing = {"name", "start", "end"} - set(reader.fieldnames or ())
    if missing:
        raise InputError(
            [
                Problem(
                    "calendar header is incomplete",
                    Location(name, 1),
                    found=",".join(reader.fieldnames or ()),
                    expected="name,start,end",
                )
            ]
        )
    for row in reader:
        rows.append((row, Location(name, reader.line_num)))
