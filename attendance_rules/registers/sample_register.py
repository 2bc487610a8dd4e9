"""One pupil's register in the synthetic cohort (``sample``): absences, activities, lateness.

``PupilWork`` holds a pupil's register and case file while they are written, one
academic year at a time, from the pupil's own random stream and a ``Profile`` (how the
pupil behaves that year). ``absences`` spends the year's absence budget: a suspension,
a term-time holiday, agreed leave or a reduced timetable for some, then everyday
episodes (illness, medical appointments, unexplained absence) until it is spent;
``activities`` adds trips, sport, work experience and off-site provision, and
``lateness`` the late marks. Only plain presence is ever overwritten.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, NamedTuple

from .sample_calendar import SampleCalendar, SchoolPlan

__all__ = [
    "ABSENT",
    "UNAUTHORISED",
    "Profile",
    "PupilWork",
    "absences",
    "activities",
    "lateness",
]

_PRESENT = frozenset({"/", "\\"})  # plain presence: the only marks an episode may overwrite
#: The codes the case work counts as absence, and those of them unauthorised.
ABSENT = frozenset({"C", "C1", "C2", "E", "H", "I", "J1", "M", "R", "S", "T", "G", "N", "O", "U"})
UNAUTHORISED = frozenset({"G", "N", "O", "U"})


class Profile(NamedTuple):
    """How one pupil behaves in one academic year."""

    kind: str  # typical | persistent | severe
    target: float  # share of possible sessions to miss
    skew: float  # exponent on episode positions; below 1 puts absence later in the year
    late_rate: float  # share of mornings late
    u_share: float  # share of late mornings after the register closed
    secondary: bool


class PupilWork:
    """Mutable state while one pupil's register and case file are written."""

    def __init__(self, rng: random.Random, cal: SampleCalendar, flags: list[str]) -> None:
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
        """Write ``code`` over plain-present sessions in ``[first, first+count)``; return how
        many."""
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


def absences(w: PupilWork, prof: Profile) -> None:
    """Spend the year's absence budget (``prof.target`` of its possible sessions)."""
    possible = 2 * (w.hi - w.lo) - w.codes[2 * w.lo : 2 * w.hi].count("#")
    budget = round(prof.target * possible)
    budget -= _fixed_episodes(w, prof)
    _fill(w, prof, budget)


def _fixed_episodes(w: PupilWork, prof: Profile) -> int:
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


def _exclusion(w: PupilWork) -> int:
    rng = w.rng
    first = rng.randrange(w.lo, w.hi)
    last = min(first + rng.choice((1, 1, 2, 2, 3, 3, 5)), w.hi) - 1
    used = w.paint(2 * first, 2 * (last - first + 1), "E")
    w.event(first, "exclusion", until=w.cal.iso[last])
    if rng.random() < 0.08:
        w.event(rng.randint(first, last), "found_in_public_during_exclusion")
    return used


def _holiday(w: PupilWork) -> int:
    """Five days of unauthorised holiday, usually next to a half term or holiday."""
    rng, first = w.rng, _holiday_start(w)
    if rng.random() < 0.3:
        w.event(first - rng.randint(10, 20), "leave_request", decision="refused")
    used = w.paint(2 * first, 10, "G")
    if used >= 8 and rng.random() < 0.35:
        w.event(first + 5 + rng.randint(10, 25), "penalty_notice_issued")
    return used


def _holiday_start(w: PupilWork) -> int:
    breaks = [b for b in w.cal.breaks if w.lo + 5 <= b < w.hi - 5]
    if not breaks:
        return w.rng.randint(w.lo, w.hi - 5)
    edge = w.rng.choice(breaks)
    return edge - 4 if w.rng.random() < 0.5 else edge + 1


def _granted_leave(w: PupilWork) -> int:
    first = w.rng.randrange(w.lo, w.hi)
    w.event(first - w.rng.randint(5, 15), "leave_request", decision="granted")
    return w.paint(2 * first, 2 * w.rng.randint(1, 3), "C" if w.new_codes else "H")


def _reduced_timetable(w: PupilWork) -> int:
    """A few weeks of mornings only, agreed at an attendance planning meeting."""
    first, code = w.day(0.7), "C2" if w.new_codes else "C"
    w.event(first, "attendance_planning_meeting")
    last = min(first + 1 + w.rng.randint(15, 30), w.hi)
    return sum(w.paint(2 * day + 1, 1, code) for day in range(first + 1, last))


def _fill(w: PupilWork, prof: Profile, budget: int) -> None:
    """Spend the rest of the absence budget on everyday episodes."""
    episodes, cum_weights = _MIXES[prof.kind]
    tries = 0
    while budget > 0 and tries < 50 + 4 * budget:
        budget -= w.rng.choices(episodes, cum_weights=cum_weights)[0](w, prof, budget)
        tries += 1


_ILL_RUNS = {
    "typical": (1, 1, 1, 2, 2, 3),
    "persistent": (1, 2, 2, 3, 3, 5),
    "severe": (2, 3, 5, 5, 8, 10),
}
_TRUANT_RUNS = {"typical": (0, 0, 0, 1), "persistent": (0, 1, 1, 2, 4), "severe": (2, 4, 5, 9, 14)}


def _illness(w: PupilWork, prof: Profile, budget: int) -> int:
    rng, day = w.rng, w.day(prof.skew)
    if w.cal.days[day].month in (4, 5, 6, 7, 9, 10) and rng.random() < 0.4:
        day = w.day(prof.skew)  # illness clusters in the winter months
    if rng.random() < 0.15:  # sent home ill, or in for the afternoon
        return w.paint(2 * day + rng.randint(0, 1), 1, "I", budget)
    return w.paint(2 * day, 2 * rng.choice(_ILL_RUNS[prof.kind]), "I", budget)


def _medical(w: PupilWork, prof: Profile, budget: int) -> int:
    return w.paint(2 * w.day(prof.skew) + w.rng.randint(0, 1), 1, "M", budget)


def _unexplained(w: PupilWork, prof: Profile, budget: int) -> int:
    """``N`` for a session or a day; for some the following days become ``O``."""
    rng, day = w.rng, w.day(prof.skew)
    if rng.random() < 0.4:
        return w.paint(2 * day + rng.randint(0, 1), 1, "N", budget)
    used = w.paint(2 * day, 2, "N", budget)
    extra = rng.choice(_TRUANT_RUNS[prof.kind])
    return used + w.paint(2 * day + 2, 2 * extra, "O", budget - used)


def _other_authorised(w: PupilWork, prof: Profile, budget: int) -> int:
    return w.paint(2 * w.day(prof.skew), 2, "C", budget)


_Episode = Callable[[PupilWork, Profile, int], int]
_EPISODES: tuple[_Episode, ...] = (_illness, _medical, _unexplained, _other_authorised)
# kind -> (episodes, cumulative weights); shares 62/22/12/4, 50/10/35/5, 35/3/60/2 per cent
_MIXES: dict[str, tuple[tuple[_Episode, ...], tuple[float, ...]]] = {
    "typical": (_EPISODES, (0.62, 0.84, 0.96, 1.0)),
    "persistent": (_EPISODES, (0.5, 0.6, 0.95, 1.0)),
    "severe": (_EPISODES, (0.35, 0.38, 0.98, 1.0)),
}


def activities(w: PupilWork, plan: SchoolPlan, group: int, prof: Profile) -> None:
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


def lateness(w: PupilWork, prof: Profile) -> None:
    """Late marks (``L``, or ``U`` after the register closed) on some present mornings."""
    rng, days = w.rng, w.hi - w.lo
    for day in rng.sample(range(w.lo, w.hi), min(days, round(prof.late_rate * days))):
        if w.codes[2 * day] == "/":
            after_close = rng.random() < prof.u_share
            w.codes[2 * day] = "U" if after_close else "L"
            w.late[2 * day] = (
                rng.randint(35, 60) if after_close else 1 + int(29 * rng.random() ** 2)
            )
