"""The school calendar of the synthetic cohort (``sample``): school days, years, plans.

Inside ``TERM_TABLE_SPAN`` the school days are the weekdays of ``TERM_DATES`` less
``BANK_HOLIDAYS``; outside it, a fallback pattern (see ``is_school_day``). Marks dated
before ``CODES_2024_FROM`` use the 2006 code table, later ones the 2024 table.
``build_calendar`` lays out a range once for every pupil (its days, academic years and a
fully present register with one INSET day a year); ``school_plans`` draws the
school-wide dates of each year (trips, work experience) from the school's own random
stream, so no pupil's draws depend on them.
"""

from __future__ import annotations

import datetime as dt
import random
from bisect import bisect_left
from itertools import accumulate
from typing import Any, NamedTuple

__all__ = [
    "BANK_HOLIDAYS",
    "CLOSURE_DAYS",
    "CODES_2024_FROM",
    "TERM_DATES",
    "TERM_TABLE_SPAN",
    "SampleCalendar",
    "SchoolPlan",
    "YearSegment",
    "academic_year",
    "build_calendar",
    "is_school_day",
    "school_days",
    "school_plans",
]

_DAY = dt.timedelta(days=1)

#: Marks dated on or after this day use the 2024 code table, earlier ones the 2006 table.
CODES_2024_FROM = dt.date(2024, 8, 19)

#: Term dates (first and last day, inclusive) used inside ``TERM_TABLE_SPAN``.
TERM_DATES: tuple[tuple[dt.date, dt.date], ...] = (
    (dt.date(2023, 9, 4), dt.date(2023, 10, 27)),
    (dt.date(2023, 11, 6), dt.date(2023, 12, 20)),
    (dt.date(2024, 1, 4), dt.date(2024, 2, 9)),
    (dt.date(2024, 2, 19), dt.date(2024, 3, 28)),
    (dt.date(2024, 4, 15), dt.date(2024, 5, 24)),
    (dt.date(2024, 6, 3), dt.date(2024, 7, 19)),
    (dt.date(2024, 9, 3), dt.date(2024, 10, 25)),
    (dt.date(2024, 11, 4), dt.date(2024, 12, 20)),
)
#: The dates ``TERM_DATES`` speak for: a day in this span but in no term is a holiday.
TERM_TABLE_SPAN = (dt.date(2023, 8, 1), dt.date(2024, 12, 31))
#: Bank holidays falling inside ``TERM_DATES``.
BANK_HOLIDAYS = frozenset({dt.date(2024, 5, 6)})
#: One whole-school closure (INSET) day per academic year, coded ``#`` for every pupil.
#: Academic years not listed close on their first school day in January.
CLOSURE_DAYS = {2023: dt.date(2024, 1, 4), 2024: dt.date(2024, 11, 4)}


def academic_year(day: dt.date) -> int:
    """The calendar year in which ``day``'s academic year (September to August) starts."""
    return day.year if day.month >= 9 else day.year - 1


def is_school_day(day: dt.date) -> bool:
    """True when pupils are expected in school on ``day``.

    Inside ``TERM_TABLE_SPAN``: a weekday within ``TERM_DATES`` and not a bank holiday.
    Outside it, a fallback pattern: weekdays except August, 18-31 December, 1-7 January,
    the last seven days of October, February and May (half terms), 1-14 April (Easter)
    and the first Monday of May (bank holiday).
    """
    if day.weekday() >= 5 or day in BANK_HOLIDAYS:
        return False
    if TERM_TABLE_SPAN[0] <= day <= TERM_TABLE_SPAN[1]:
        return any(first <= day <= last for first, last in TERM_DATES)
    return not _fallback_holiday(day)


def _fallback_holiday(day: dt.date) -> bool:
    month, date = day.month, day.day
    month_end = ((day.replace(day=28) + 4 * _DAY).replace(day=1) - _DAY).day
    return (
        month == 8
        or (month == 12 and date >= 18)
        or (month == 1 and date <= 7)
        or (month in (10, 2, 5) and date > month_end - 7)
        or (month == 4 and date <= 14)
        or (month == 5 and date <= 7 and day.weekday() == 0)
    )


def school_days(start: dt.date, end: dt.date) -> list[dt.date]:
    """Every school day from ``start`` to ``end`` inclusive, in order.

    The synthetic cohort's own calendar, which decides the days that get marks; what
    counts as a pupil's school day afterwards is ``calendar.py``'s (the days with marks).
    """
    days, day = [], start
    while day <= end:
        if is_school_day(day):
            days.append(day)
        day += _DAY
    return days


class YearSegment(NamedTuple):
    """The school days of one academic year: day indices ``lo`` to ``hi`` (exclusive)."""

    year: int
    lo: int
    hi: int
    new_codes: bool  # the 2024 table is in force


class SampleCalendar(NamedTuple):
    """The school days of a range, laid out once for every pupil of the cohort."""

    first_year: int  # academic year of the first school day; pupils' year_group refers to it
    days: list[dt.date]
    iso: list[str]  # per day
    base: list[str]  # a fully present register, with "#" on closure days
    template: list[dict[str, Any]]  # the mark dicts of ``base``, copied for each pupil
    closed: list[int]  # closure sessions before each day index (prefix sums, len(days) + 1)
    segments: list[YearSegment]
    breaks: list[int]  # last day index before each break of a week or more


def build_calendar(start: dt.date, end: dt.date) -> SampleCalendar:
    """The calendar of the school days from ``start`` to ``end`` inclusive."""
    days = school_days(start, end)
    iso = [day.isoformat() for day in days]
    segments = _segments(days)
    breaks = [i for i in range(len(days) - 1) if (days[i + 1] - days[i]).days >= 7]
    base = _base_register(days, segments)
    closed = list(accumulate(((base[2 * i] == "#") * 2 for i in range(len(days))), initial=0))
    sessions = zip([text for text in iso for _ in (0, 1)], ["AM", "PM"] * len(days), base)
    template = [{"date": date, "session": name, "code": code} for date, name, code in sessions]
    first_year = academic_year(days[0] if days else start)
    return SampleCalendar(first_year, days, iso, base, template, closed, segments, breaks)


def _segments(days: list[dt.date]) -> list[YearSegment]:
    segments, lo = [], 0
    for i in range(1, len(days) + 1):
        if i == len(days) or academic_year(days[i]) != academic_year(days[lo]):
            new, last_new = days[lo] >= CODES_2024_FROM, days[i - 1] >= CODES_2024_FROM
            if new != last_new:  # cannot happen: no calendar has school days in August
                raise ValueError(
                    f"academic year {academic_year(days[lo])} straddles {CODES_2024_FROM}"
                )
            segments.append(YearSegment(academic_year(days[lo]), lo, i, new))
            lo = i
    return segments


def _base_register(days: list[dt.date], segments: list[YearSegment]) -> list[str]:
    base = ["/", "\\"] * len(days)
    for seg in segments:
        closure = CLOSURE_DAYS.get(seg.year) or next(
            (d for d in days[seg.lo : seg.hi] if d.year == seg.year + 1 and d.month == 1), None
        )
        i = bisect_left(days, closure) if closure else len(days)
        if seg.lo <= i < seg.hi and days[i] == closure:
            base[2 * i : 2 * i + 2] = ["#", "#"]
    return base


class SchoolPlan(NamedTuple):
    """School-wide dates of one academic year."""

    trips: dict[int, int]  # year group -> day index of its educational visit
    work_week: int | None  # first day index of year 10 work experience


def school_plans(rng: random.Random, cal: SampleCalendar) -> list[SchoolPlan]:
    """The school-wide dates of each academic year of ``cal``, drawn from ``rng`` (the
    school's own random stream)."""
    return [_segment_plan(rng, cal, seg) for seg in cal.segments]


def _segment_plan(rng: random.Random, cal: SampleCalendar, seg: YearSegment) -> SchoolPlan:
    open_days = [i for i in range(seg.lo, seg.hi) if cal.base[2 * i] != "#"]
    trips = {group: rng.choice(open_days) for group in range(1, 12)} if open_days else {}
    summer = [i for i in open_days if cal.days[i].month in (6, 7) and cal.days[i].weekday() == 0]
    return SchoolPlan(trips, rng.choice(summer) if summer else None)
