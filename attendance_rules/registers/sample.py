"""A deterministic synthetic attendance cohort for one English school (sample data).

``generate_cohort(n, start, end, seed)`` returns a history in the JSON shape the
library's loader reads: the school, and for each pupil their flags, one AM and one PM
register mark for every school day they are on roll, and the case events an attendance
team would record. ``write_json`` and ``write_csv`` write it out; ``generate_pupils``
yields the pupils one at a time, and both writers accept that iterator in place of a
list, so a large cohort can be streamed to disk.

Determinism: every pupil draws from its own ``random.Random`` seeded from
``(seed, pupil number)`` and the school-wide plan (trip days, work-experience week) from
``(seed, "school")``, so pupil k is identical whatever the cohort size. The global
``random`` module is never used.

Calendar: inside ``TERM_TABLE_SPAN`` the school days are the weekdays of ``TERM_DATES``
less ``BANK_HOLIDAYS``; outside it, a fallback pattern (see ``is_school_day``). Marks
dated before ``CODES_2024_FROM`` use the 2006 code table, later ones the 2024 table.

Cohort shape, per academic year: each pupil is drawn as *typical* (misses under 10%),
*persistent* (10-40%) or *severe* (52-92%), with odds raised by free school meals,
SEN, a social worker and being in secondary years, and the kind mostly carried over
into the next year. The absence budget is then spent on illness runs (``I``), medical
appointments (``M``), unexplained absence (``N``, sometimes followed by ``O``), and
for some pupils a term-time holiday (``G``), a suspension (``E``), agreed leave
(``H``/``C``) or a reduced timetable (``C``/``C2``). Lateness (``L``, and a little
``U``), trips (``V``), sport (``P``), work experience (``W``), off-site provision
(``B``) and one INSET day (``#``) for everyone complete the register. Pupils whose
absence is 10% or more at two fortnightly checks get a plausible case file: letters,
contact, a school attendance meeting, a review 4-6 weeks later, and for some escalation
(referrals, early help, notices to improve, penalty notices, legal action).
Year 11 pupils come off roll at the end of June; about 3% of pupils join mid-range.
"""

from __future__ import annotations

import csv
import datetime as dt
import gc
import json
import random
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from itertools import accumulate
from operator import add
from pathlib import Path
from typing import IO, Any, NamedTuple

__all__ = [
    "BANK_HOLIDAYS",
    "CLOSURE_DAYS",
    "CODES_2024_FROM",
    "SCHOOL",
    "STANDARD_FLAGS",
    "TERM_DATES",
    "TERM_TABLE_SPAN",
    "academic_year",
    "event_rows",
    "generate_cohort",
    "generate_pupils",
    "is_school_day",
    "iter_marks",
    "mark_rows",
    "pupil_row",
    "school_days",
    "school_row",
    "write_csv",
    "write_json",
]

_TAG = "attendance_rules.registers.sample"
_DAY = dt.timedelta(days=1)

SCHOOL: dict[str, Any] = {"id": "WA", "name": "Widnes Academy (sample)", "settings": {"traded_ews": True}}

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

STANDARD_FLAGS = (
    "social_worker",
    "looked_after",
    "child_protection_plan",
    "child_in_need_plan",
    "early_help_plan",
    "ehcp",
    "sen_support",
    "free_school_meals",
)

_PRESENT = frozenset({"/", "\\"})  # plain presence: the only marks an episode may overwrite
_ABSENT = frozenset({"C", "C1", "C2", "E", "H", "I", "J1", "M", "R", "S", "T", "G", "N", "O", "U"})
_UNAUTHORISED = frozenset({"G", "N", "O", "U"})

_JOIN_RATE = 0.03
_SEVERE_BASE, _PERSISTENT_BASE = 0.0145, 0.132  # per unit of risk (mean risk is about 1.45)
_FLAG_RISK = {
    "free_school_meals": 0.9,
    "sen_support": 0.5,
    "ehcp": 0.8,
    "social_worker": 1.2,
    "early_help_plan": 0.4,
}
# kind -> (lowest share missed, highest, beta a, beta b, skew of episode dates: <1 = later)
_KINDS = {
    "typical": (0.0, 0.099, 1.5, 3.0, 1.0),
    "persistent": (0.10, 0.40, 1.2, 3.5, 0.8),
    "severe": (0.52, 0.92, 1.0, 1.5, 0.6),
}


# --------------------------------------------------------------------------- calendar


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
    """Every school day from ``start`` to ``end`` inclusive, in order."""
    days, day = [], start
    while day <= end:
        if is_school_day(day):
            days.append(day)
        day += _DAY
    return days


class _Segment(NamedTuple):
    """The school days of one academic year: day indices ``lo`` to ``hi`` (exclusive)."""

    year: int
    lo: int
    hi: int
    new_codes: bool  # the 2024 table is in force


class _Calendar(NamedTuple):
    first_year: int  # academic year of the first school day; pupils' year_group refers to it
    days: list[dt.date]
    iso: list[str]  # per day
    base: list[str]  # a fully present register, with "#" on closure days
    template: list[dict[str, Any]]  # the mark dicts of ``base``, copied for each pupil
    closed: list[int]  # closure sessions before each day index (prefix sums, len(days) + 1)
    segments: list[_Segment]
    breaks: list[int]  # last day index before each break of a week or more


def _calendar(start: dt.date, end: dt.date) -> _Calendar:
    days = school_days(start, end)
    iso = [day.isoformat() for day in days]
    segments = _segments(days)
    breaks = [i for i in range(len(days) - 1) if (days[i + 1] - days[i]).days >= 7]
    base = _base_register(days, segments)
    closed = list(accumulate(((base[2 * i] == "#") * 2 for i in range(len(days))), initial=0))
    sessions = zip([text for text in iso for _ in (0, 1)], ["AM", "PM"] * len(days), base)
    template = [{"date": date, "session": name, "code": code} for date, name, code in sessions]
    first_year = academic_year(days[0] if days else start)
    return _Calendar(first_year, days, iso, base, template, closed, segments, breaks)


def _segments(days: list[dt.date]) -> list[_Segment]:
    segments, lo = [], 0
    for i in range(1, len(days) + 1):
        if i == len(days) or academic_year(days[i]) != academic_year(days[lo]):
            new, last_new = days[lo] >= CODES_2024_FROM, days[i - 1] >= CODES_2024_FROM
            if new != last_new:  # cannot happen: no calendar has school days in August
                raise ValueError(f"academic year {academic_year(days[lo])} straddles {CODES_2024_FROM}")
            segments.append(_Segment(academic_year(days[lo]), lo, i, new))
            lo = i
    return segments


def _base_register(days: list[dt.date], segments: list[_Segment]) -> list[str]:
    base = ["/", "\\"] * len(days)
    for seg in segments:
        closure = CLOSURE_DAYS.get(seg.year) or next(
            (d for d in days[seg.lo : seg.hi] if d.year == seg.year + 1 and d.month == 1), None
        )
        i = bisect_left(days, closure) if closure else len(days)
        if seg.lo <= i < seg.hi and days[i] == closure:
            base[2 * i : 2 * i + 2] = ["#", "#"]
    return base


class _Plan(NamedTuple):
    """School-wide dates of one academic year."""

    trips: dict[int, int]  # year group -> day index of its educational visit
    work_week: int | None  # first day index of year 10 work experience


def _school_plan(seed: int, cal: _Calendar) -> list[_Plan]:
    rng = random.Random(f"{_TAG}:{seed}:school")
    return [_segment_plan(rng, cal, seg) for seg in cal.segments]


def _segment_plan(rng: random.Random, cal: _Calendar, seg: _Segment) -> _Plan:
    open_days = [i for i in range(seg.lo, seg.hi) if cal.base[2 * i] != "#"]
    trips = {group: rng.choice(open_days) for group in range(1, 12)} if open_days else {}
    summer = [i for i in open_days if cal.days[i].month in (6, 7) and cal.days[i].weekday() == 0]
    return _Plan(trips, rng.choice(summer) if summer else None)


# --------------------------------------------------------------------------- pupils


def generate_cohort(n_pupils: int, start: dt.date, end: dt.date, seed: int = 0) -> dict[str, Any]:
    """Return the history as a JSON-ready dict ``{"school": ..., "pupils": [...]}``.

    Deterministic for a seed; pupil k does not depend on ``n_pupils``. ``year_group``
    is each pupil's year in the academic year of the first school day of the range.
    """
    collecting = gc.isenabled()
    gc.disable()  # the output is millions of small acyclic dicts; rescanning them costs ~20%
    try:
        pupils = list(generate_pupils(n_pupils, start, end, seed))
    finally:
        if collecting:
            gc.enable()
    return {"school": json.loads(json.dumps(SCHOOL)), "pupils": pupils}


def generate_pupils(n_pupils: int, start: dt.date, end: dt.date, seed: int = 0) -> Iterator[dict[str, Any]]:
    """Yield the pupils of ``generate_cohort`` one at a time (ids ``P00001`` upwards)."""
    cal = _calendar(start, end)
    plans = _school_plan(seed, cal)
    for index in range(1, n_pupils + 1):
        yield _pupil(index, seed, cal, plans)


class _Profile(NamedTuple):
    """How one pupil behaves in one academic year."""

    kind: str  # typical | persistent | severe
    target: float  # share of possible sessions to miss
    skew: float  # exponent on episode positions; below 1 puts absence later in the year
    late_rate: float  # share of mornings late
    u_share: float  # share of late mornings after the register closed
    secondary: bool


class _Work:
    """Mutable state while one pupil's register and case file are written."""

    def __init__(self, rng: random.Random, cal: _Calendar, flags: list[str]) -> None:
        self.rng, self.cal, self.flags = rng, cal, flags
        self.codes = cal.base[:]  # one code per session over the whole range
        self.painted: list[int] = []  # sessions whose code differs from ``cal.base``
        self.late: dict[int, int] = {}  # session index -> minutes late
        self.events: list[tuple[int, int, str, dict[str, Any]]] = []
        self.lo = self.hi = 0  # on-roll day indices of the academic year being written
        self.new_codes = False

    def event(self, day: int, event_type: str, /, **fields: Any) -> bool:
        """Record an event on school day ``day`` if it falls in the current span."""
        if self.lo <= day < self.hi:
            self.events.append((day, len(self.events), event_type, fields))
            return True
        return False

    def paint(self, first: int, count: int, code: str, budget: int = 1 << 30) -> int:
        """Write ``code`` over plain-present sessions in ``[first, first+count)``; return how many."""
        codes, written = self.codes, 0
        for i in range(max(first, 2 * self.lo), min(first + count, 2 * self.hi)):
            if written < budget and codes[i] in _PRESENT:
                codes[i] = code
                self.painted.append(i)
                written += 1
        return written

    def day(self, skew: float = 1.0) -> int:
        """A random day of the span; ``skew`` below 1 favours later days."""
        return self.lo + int((self.hi - self.lo) * self.rng.random() ** skew)


def _pupil(index: int, seed: int, cal: _Calendar, plans: list[_Plan]) -> dict[str, Any]:
    rng = random.Random(f"{_TAG}:{seed}:{index}")
    year_group = rng.randint(1, 11)
    dob = _date_of_birth(rng, year_group, cal.first_year)
    flags = _flags(rng)
    join, leave = _roll(rng, cal, year_group)
    work, kind = _Work(rng, cal, flags), None
    for seg, plan in zip(cal.segments, plans):
        kind = _pupil_year(work, seg, plan, year_group + seg.year - cal.first_year, (join, leave), kind)
    return {
        "id": f"P{index:05d}",
        "date_of_birth": dob.isoformat(),
        "year_group": year_group,
        "flags": flags,
        "marks": _marks(work, join, leave),
        "events": _events(work),
    }


def _date_of_birth(rng: random.Random, year_group: int, year: int) -> dt.date:
    """Year N in academic year Y: born September Y-N-5 to August Y-N-4."""
    first = dt.date(year - year_group - 5, 9, 1)
    return first + rng.randrange((first.replace(year=first.year + 1) - first).days) * _DAY


def _flags(rng: random.Random) -> list[str]:
    care = rng.random()
    flags = {"looked_after"} if care < 0.01 else {"child_protection_plan"} if care < 0.03 else set()
    if 0.03 <= care < 0.06:
        flags.add("child_in_need_plan")
    if flags:
        flags.add("social_worker")
    elif rng.random() < 0.04:
        flags.add("early_help_plan")
    need = rng.random()
    flags |= {"ehcp"} if need < 0.03 else {"sen_support"} if need < 0.16 else set()
    if rng.random() < (0.45 if "social_worker" in flags else 0.23):
        flags.add("free_school_meals")
    return [flag for flag in STANDARD_FLAGS if flag in flags]


def _roll(rng: random.Random, cal: _Calendar, year_group: int) -> tuple[int, int]:
    """First and one-past-last day index on roll: some join late, year 11 leave in June."""
    leave = _leaving_day(cal, year_group)
    join = rng.randint(10, leave - 10) if rng.random() < _JOIN_RATE and leave > 30 else 0
    return join, leave


def _leaving_day(cal: _Calendar, year_group: int) -> int:
    for seg in cal.segments:
        group = year_group + seg.year - cal.first_year
        if group > 11:
            return seg.lo
        if group == 11:
            july = [i for i in range(seg.lo, seg.hi) if cal.days[i].month == 7]
            if july:
                return july[0]
    return len(cal.days)


def _pupil_year(
    w: _Work, seg: _Segment, plan: _Plan, group: int, roll: tuple[int, int], prev: str | None
) -> str | None:
    """Write one academic year of the register and case file; return the pupil's kind."""
    w.lo, w.hi = max(seg.lo, roll[0]), min(seg.hi, roll[1])
    if w.hi - w.lo < 5:
        return prev
    w.new_codes = seg.new_codes
    prof = _profile(w.rng, w.flags, group, prev)
    _absences(w, prof)
    _activities(w, plan, group, prof)
    _lateness(w, prof)
    _case_work(w, prof)
    return prof.kind


def _profile(rng: random.Random, flags: list[str], group: int, prev: str | None) -> _Profile:
    kind = prev if prev and rng.random() < 0.65 else _draw_kind(rng, _risk(flags, group))
    low, high, a, b, skew = _KINDS[kind]
    target = low + (high - low) * rng.betavariate(a, b)
    if kind == "typical" and rng.random() < 0.08:
        target = 0.0  # aiming at a full attendance certificate
    late, u_share = _late_habit(rng, kind)
    return _Profile(kind, target, skew, late, u_share, group >= 7)


def _risk(flags: list[str], group: int) -> float:
    risk = 1 + sum(_FLAG_RISK.get(flag, 0.0) for flag in flags)
    return risk * (0.8 if group <= 6 else 1.1 if group <= 8 else 1.4)


def _draw_kind(rng: random.Random, risk: float) -> str:
    u = rng.random()
    if u < _SEVERE_BASE * risk:
        return "severe"
    return "persistent" if u < (_SEVERE_BASE + _PERSISTENT_BASE) * risk else "typical"


def _late_habit(rng: random.Random, kind: str) -> tuple[float, float]:
    u = rng.random()
    low, high = (0, 0.02) if u < 0.7 else (0.02, 0.06) if u < 0.95 else (0.08, 0.2)
    rate = rng.uniform(low, high)
    if kind == "typical":
        return rate, 0.03
    return rate * 1.6, 0.12 if kind == "persistent" else 0.2


# --------------------------------------------------------------------------- register


def _absences(w: _Work, prof: _Profile) -> None:
    possible = 2 * (w.hi - w.lo) - w.codes[2 * w.lo : 2 * w.hi].count("#")
    budget = round(prof.target * possible)
    budget -= _fixed_episodes(w, prof)
    _fill(w, prof, budget)


def _fixed_episodes(w: _Work, prof: _Profile) -> int:
    """Suspension, term-time holiday, agreed leave, reduced timetable; sessions used."""
    rng, used = w.rng, 0
    if rng.random() < _EXCLUSION_P[prof.kind] * (1.5 if prof.secondary else 0.3):
        used += _exclusion(w)
    if w.hi - w.lo >= 60 and rng.random() < _HOLIDAY_P[prof.kind]:
        used += _holiday(w)
    if rng.random() < 0.02:
        used += _granted_leave(w)
    if prof.kind == "severe" and rng.random() < 0.3:
        used += _reduced_timetable(w)
    return used


_EXCLUSION_P = {"typical": 0.008, "persistent": 0.06, "severe": 0.12}
_HOLIDAY_P = {"typical": 0.06, "persistent": 0.2, "severe": 0.1}


def _exclusion(w: _Work) -> int:
    rng = w.rng
    first = rng.randrange(w.lo, w.hi)
    last = min(first + rng.choice((1, 1, 2, 2, 3, 3, 5)), w.hi) - 1
    used = w.paint(2 * first, 2 * (last - first + 1), "E")
    w.event(first, "exclusion", until=w.cal.iso[last])
    if rng.random() < 0.08:
        w.event(rng.randint(first, last), "found_in_public_during_exclusion")
    return used


def _holiday(w: _Work) -> int:
    """Five days of unauthorised holiday, usually next to a half term or holiday."""
    rng, first = w.rng, _holiday_start(w)
    if rng.random() < 0.3:
        w.event(first - rng.randint(10, 20), "leave_request", decision="refused")
    used = w.paint(2 * first, 10, "G")
    if used >= 8 and rng.random() < 0.35:
        w.event(first + 5 + rng.randint(10, 25), "penalty_notice_issued")
    return used


def _holiday_start(w: _Work) -> int:
    breaks = [b for b in w.cal.breaks if w.lo + 5 <= b < w.hi - 5]
    if not breaks:
        return w.rng.randint(w.lo, w.hi - 5)
    edge = w.rng.choice(breaks)
    return edge - 4 if w.rng.random() < 0.5 else edge + 1


def _granted_leave(w: _Work) -> int:
    first = w.rng.randrange(w.lo, w.hi)
    w.event(first - w.rng.randint(5, 15), "leave_request", decision="granted")
    return w.paint(2 * first, 2 * w.rng.randint(1, 3), "C" if w.new_codes else "H")


def _reduced_timetable(w: _Work) -> int:
    """A few weeks of mornings only, agreed at an attendance planning meeting."""
    first, code = w.day(0.7), "C2" if w.new_codes else "C"
    w.event(first, "attendance_planning_meeting")
    last = min(first + 1 + w.rng.randint(15, 30), w.hi)
    return sum(w.paint(2 * day + 1, 1, code) for day in range(first + 1, last))


def _fill(w: _Work, prof: _Profile, budget: int) -> None:
    """Spend the rest of the absence budget on everyday episodes."""
    episodes, cum_weights = _MIXES[prof.kind]
    tries = 0
    while budget > 0 and tries < 50 + 4 * budget:
        budget -= w.rng.choices(episodes, cum_weights=cum_weights)[0](w, prof, budget)
        tries += 1


_ILL_RUNS = {"typical": (1, 1, 1, 2, 2, 3), "persistent": (1, 2, 2, 3, 3, 5), "severe": (2, 3, 5, 5, 8, 10)}
_TRUANT_RUNS = {"typical": (0, 0, 0, 1), "persistent": (0, 1, 1, 2, 4), "severe": (2, 4, 5, 9, 14)}


def _illness(w: _Work, prof: _Profile, budget: int) -> int:
    rng, day = w.rng, w.day(prof.skew)
    if w.cal.days[day].month in (4, 5, 6, 7, 9, 10) and rng.random() < 0.4:
        day = w.day(prof.skew)  # illness clusters in the winter months
    if rng.random() < 0.15:  # sent home ill, or in for the afternoon
        return w.paint(2 * day + rng.randint(0, 1), 1, "I", budget)
    return w.paint(2 * day, 2 * rng.choice(_ILL_RUNS[prof.kind]), "I", budget)


def _medical(w: _Work, prof: _Profile, budget: int) -> int:
    return w.paint(2 * w.day(prof.skew) + w.rng.randint(0, 1), 1, "M", budget)


def _unexplained(w: _Work, prof: _Profile, budget: int) -> int:
    """``N`` for a session or a day; for some the following days become ``O``."""
    rng, day = w.rng, w.day(prof.skew)
    if rng.random() < 0.4:
        return w.paint(2 * day + rng.randint(0, 1), 1, "N", budget)
    used = w.paint(2 * day, 2, "N", budget)
    extra = rng.choice(_TRUANT_RUNS[prof.kind])
    return used + w.paint(2 * day + 2, 2 * extra, "O", budget - used)


def _other_authorised(w: _Work, prof: _Profile, budget: int) -> int:
    return w.paint(2 * w.day(prof.skew), 2, "C", budget)


_Episode = Callable[[_Work, _Profile, int], int]
_EPISODES: tuple[_Episode, ...] = (_illness, _medical, _unexplained, _other_authorised)
# kind -> (episodes, cumulative weights); shares 62/22/12/4, 50/10/35/5, 35/3/60/2 per cent
_MIXES: dict[str, tuple[tuple[_Episode, ...], tuple[float, ...]]] = {
    "typical": (_EPISODES, (0.62, 0.84, 0.96, 1.0)),
    "persistent": (_EPISODES, (0.5, 0.6, 0.95, 1.0)),
    "severe": (_EPISODES, (0.35, 0.38, 0.98, 1.0)),
}


def _activities(w: _Work, plan: _Plan, group: int, prof: _Profile) -> None:
    """Approved educational activities, which count as attending."""
    rng = w.rng
    if group in plan.trips:
        w.paint(2 * plan.trips[group], 2, "V")
    if group == 10 and plan.work_week is not None and rng.random() < 0.9:
        w.paint(2 * plan.work_week, 10, "W")
    if rng.random() < (0.15 if prof.secondary else 0.08):
        for _ in range(rng.randint(1, 3)):
            w.paint(2 * w.day() + 1, 1, "P")
    if prof.kind != "typical" and prof.secondary and rng.random() < 0.25:
        first = w.day()  # a day a week at off-site provision, for six weeks
        for week in range(6):
            w.paint(2 * (first + 5 * week), 2, "B")


def _lateness(w: _Work, prof: _Profile) -> None:
    rng, days = w.rng, w.hi - w.lo
    for day in rng.sample(range(w.lo, w.hi), min(days, round(prof.late_rate * days))):
        if w.codes[2 * day] == "/":
            after_close = rng.random() < prof.u_share
            w.codes[2 * day] = "U" if after_close else "L"
            w.late[2 * day] = rng.randint(35, 60) if after_close else 1 + int(29 * rng.random() ** 2)


# --------------------------------------------------------------------------- case work

_Prefix = list[int]  # absent sessions before each day of the span (prefix sums)
_ENGAGED = {"improved": 0.9, "some_improvement": 0.7, "no_improvement": 0.35}


def _case_work(w: _Work, prof: _Profile) -> None:
    """Letters, meetings and escalation once absence is 10%+ at two fortnightly checks."""
    pre = _prefix(w)
    if pre[-1] < 6:
        return
    checks = [d for d in range(w.lo + 30, w.hi, 10) if _rate(w, pre, w.lo, d) >= 0.10]
    concern = next((d for d in checks if d - 10 in checks), None)  # two fortnightly checks running
    if concern is not None:
        _stage_one(w, pre, concern, prof)


def _prefix(w: _Work) -> _Prefix:
    absent = list(map(_ABSENT.__contains__, w.codes[2 * w.lo : 2 * w.hi]))
    return list(accumulate(map(add, absent[0::2], absent[1::2]), initial=0))


def _rate(w: _Work, pre: _Prefix, first: int, stop: int) -> float:
    """Share of possible sessions missed on days ``[first, stop)`` of the span."""
    a, b = max(first, w.lo), min(stop, w.hi)
    if b <= a:
        return 0.0
    possible = 2 * (b - a) - (w.cal.closed[b] - w.cal.closed[a])  # "#" is the only not-possible code made
    return (pre[b - w.lo] - pre[a - w.lo]) / possible if possible else 0.0


def _stage_one(w: _Work, pre: _Prefix, concern: int, prof: _Profile) -> None:
    rng = w.rng
    letter = concern + rng.randint(1, 3)
    if not w.event(letter, "letter_sent", action="stage1_letter"):
        return
    contact = letter + rng.randint(2, 6)
    if rng.random() < 0.8:
        w.event(contact, "contact_made")
    else:
        w.event(contact + rng.randint(2, 5), "home_visit")
    if _rate(w, pre, letter, letter + 15) >= 0.10:  # no better three weeks after the letter
        _stage_two(w, pre, letter + 15, prof)


def _stage_two(w: _Work, pre: _Prefix, day: int, prof: _Profile) -> None:
    rng, counts = w.rng, Counter(w.codes[2 * w.lo : 2 * w.hi])
    w.event(day, "letter_sent", action="stage2_letter")
    meeting = day + rng.randint(4, 8)
    contract = rng.random() < (0.4 if prof.kind == "severe" else 0.15)
    plan = rng.random() < 0.9
    if not w.event(meeting, "school_attendance_meeting", parenting_contract=contract, improvement_plan=plan):
        return
    _referrals(w, meeting, counts)
    review = meeting + rng.randint(20, 30)
    rate = _rate(w, pre, meeting, review)
    outcome = "improved" if rate < 0.05 else "some_improvement" if rate < 0.12 else "no_improvement"
    engaged = rng.random() < _ENGAGED[outcome]
    held = w.event(review, "review_held", outcome=outcome, parent_engaged=engaged)
    if held and outcome == "no_improvement":
        _escalate(w, pre, review, prof, counts, engaged)


def _referrals(w: _Work, meeting: int, counts: Counter[str]) -> None:
    rng = w.rng
    if "looked_after" in w.flags and rng.random() < 0.9:
        w.event(meeting + rng.randint(0, 3), "referral_made", to="virtual_school")
    if counts["I"] >= 0.5 * sum(counts[code] for code in _ABSENT) and rng.random() < 0.4:
        w.event(meeting + rng.randint(1, 5), "referral_made", to="school_nursing")


def _escalate(
    w: _Work, pre: _Prefix, review: int, prof: _Profile, counts: Counter[str], engaged: bool
) -> None:
    """After a review with no improvement: referrals, support, enforcement."""
    rng = w.rng
    if rng.random() < (0.9 if prof.kind == "severe" else 0.5):
        w.event(review + rng.randint(2, 8), "referral_made", to="education_welfare_service")
    _support(w, review)
    unauthorised = sum(counts[code] for code in _UNAUTHORISED)
    if unauthorised >= 0.4 * sum(counts[code] for code in _ABSENT) and not engaged and rng.random() < 0.5:
        _enforcement(w, pre, review)
    if prof.kind == "severe":
        _severe_steps(w, review, engaged)


def _support(w: _Work, review: int) -> None:
    rng = w.rng
    if "social_worker" in w.flags:
        if rng.random() < 0.7:
            w.event(review + rng.randint(5, 15), "joint_plan_agreed")
    elif "early_help_plan" not in w.flags and rng.random() < 0.5:
        w.event(review + rng.randint(3, 10), "early_help_offered", accepted=rng.random() < 0.6)


def _enforcement(w: _Work, pre: _Prefix, review: int) -> None:
    notice = review + w.rng.randint(10, 20)
    worse = w.event(notice, "notice_to_improve_issued") and _rate(w, pre, notice, notice + 20) >= 0.10
    if worse and w.rng.random() < 0.6:
        w.event(notice + w.rng.randint(20, 25), "penalty_notice_issued")


def _severe_steps(w: _Work, review: int, engaged: bool) -> None:
    rng = w.rng
    if rng.random() < 0.7:
        w.event(review + rng.randint(5, 12), "attendance_planning_meeting")
    if "social_worker" not in w.flags and rng.random() < 0.15:
        w.event(review + rng.randint(5, 15), "referral_made", to="social_care")
    if not engaged and rng.random() < 0.25:
        kind = rng.choice(("s444_1", "s444_1A", "education_supervision_order"))
        w.event(review + rng.randint(30, 45), "legal_action", kind=kind)


# --------------------------------------------------------------------------- output


def _marks(w: _Work, join: int, leave: int) -> list[dict[str, Any]]:
    lo, codes = 2 * join, w.codes
    marks = list(map(dict.copy, w.cal.template[lo : 2 * leave]))  # fresh dicts: faster than literals
    for i in w.painted:
        marks[i - lo]["code"] = codes[i]
    for i, minutes in w.late.items():
        marks[i - lo].update(code=codes[i], minutes_late=minutes)
    return marks


def _events(w: _Work) -> list[dict[str, Any]]:
    return [{"date": w.cal.iso[day], "type": kind, **fields} for day, _, kind, fields in sorted(w.events)]


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def write_json(history: dict[str, Any], path: str | Path) -> None:
    """Write ``history`` as compact JSON with sorted keys, one pupil object per line.

    ``history["pupils"]`` may be any iterable (e.g. ``generate_pupils(...)``); it is
    consumed once. The output is valid JSON and byte-identical for identical input.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        for n, key in enumerate(sorted(history)):
            out.write(("{" if n == 0 else ",") + json.dumps(key) + ":")
            if key == "pupils":
                _write_pupils(out, history[key])
            else:
                out.write(_dumps(history[key]))
        out.write("}\n" if history else "{}\n")


def _write_pupils(out: IO[str], pupils: Iterable[dict[str, Any]]) -> None:
    out.write("[")
    for n, pupil in enumerate(pupils):
        out.write(("\n" if n == 0 else ",\n") + _dumps(pupil))
    out.write("\n]")


_CSV_HEADERS = {
    "school": ("id", "name", "traded_ews"),
    "pupils": ("pupil_id", "date_of_birth", "year_group", "flags"),
    "marks": ("pupil_id", "date", "session", "code", "minutes_late"),
    "events": ("pupil_id", "date", "type", "details"),
}


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def school_row(school: dict[str, Any]) -> tuple[Any, ...]:
    """The ``school.csv`` row (``traded_ews`` as ``true``/``false``)."""
    return (school["id"], school["name"], _text(school.get("settings", {}).get("traded_ews", False)))


def pupil_row(pupil: dict[str, Any]) -> tuple[Any, ...]:
    """The ``pupils.csv`` row of one pupil (flags joined with ``;``)."""
    return (pupil["id"], pupil["date_of_birth"], pupil["year_group"], ";".join(pupil.get("flags", ())))


def mark_rows(pupil: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The ``marks.csv`` rows of one pupil, by date then session (AM before PM)."""
    marks = sorted(pupil.get("marks", ()), key=lambda m: (m["date"], m["session"]))
    return [(pupil["id"], m["date"], m["session"], m["code"], m.get("minutes_late", "")) for m in marks]


def event_rows(pupil: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The ``events.csv`` rows of one pupil by date; details as sorted ``key=value;...``."""
    rows = []
    for event in sorted(pupil.get("events", ()), key=lambda e: e["date"]):
        details = ";".join(f"{k}={_text(v)}" for k, v in sorted(event.items()) if k not in ("date", "type"))
        rows.append((pupil["id"], event["date"], event["type"], details))
    return rows


def iter_marks(history: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    """Every ``marks.csv`` row of ``history``, pupil by pupil."""
    for pupil in history["pupils"]:
        yield from mark_rows(pupil)


def write_csv(history: dict[str, Any], directory: str | Path) -> None:
    """Write ``marks.csv``, ``pupils.csv``, ``events.csv`` and ``school.csv`` to ``directory``.

    Pupils are written in the order given (``generate_*`` give them in id order), each
    pupil's rows by date and session; ``history["pupils"]`` is consumed once, so a
    ``generate_pupils(...)`` iterator streams to disk.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        writers = {n: _csv_writer(stack, directory / f"{n}.csv", head) for n, head in _CSV_HEADERS.items()}
        writers["school"].writerow(school_row(history["school"]))
        for pupil in history["pupils"]:
            writers["pupils"].writerow(pupil_row(pupil))
            writers["marks"].writerows(mark_rows(pupil))
            writers["events"].writerows(event_rows(pupil))


def _csv_writer(stack: ExitStack, path: Path, header: tuple[str, ...]) -> Any:
    handle = stack.enter_context(open(path, "w", encoding="utf-8", newline=""))  # noqa: SIM115
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(header)
    return writer
