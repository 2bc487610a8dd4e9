"""``MeasureFrame``: every measure of one pupil as of one date, read as integer pairs.

The rules' decision path reads measures through a frame: window bounds and register spans
are found once per window, and a count or rate comes straight from the register's prefix
counts as ``(numerator, denominator)``. Full ``Measure`` objects (``measures.py``) are
built only for what an explanation shows.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from .calendar import Calendar
from .codes import Category
from .history import Pupil
from .measures import (
    MEASURES,
    Measure,
    Pair,
    Window,
    as_pair,
    compute,
    window_counts,
    window_measure,
)

__all__ = ["MeasureFrame"]


class MeasureFrame:
    """Every measure of one pupil as of one date, from shared window spans and counts.

    The decision path asks for ``pair``: a value as an integer pair (rates as
    ``(absent, possible)``), so no ``Fraction`` or ``Measure`` is built; comparisons then
    cross-multiply. Window bounds and register spans are found once per window, whatever
    number of measures read it. ``measure`` builds the full ``Measure`` (with its counts and
    description) only for what an explanation shows.
    """

    __slots__ = ("pupil", "as_of", "calendar", "_bounds", "_spans", "_pairs", "_objects")

    def __init__(self, pupil: Pupil, as_of: dt.date, calendar: Calendar = Calendar()) -> None:
        self.pupil, self.as_of, self.calendar = pupil, as_of, calendar
        self._bounds: dict[Window, tuple[dt.date, dt.date] | None] = {}
        self._spans: dict[Window, tuple[int, int] | None] = {}
        self._pairs: dict[tuple, Pair | None] = {}
        self._objects: dict[tuple, Any] = {}  # Measures, and each window's counts

    def bounds(self, window: Window) -> tuple[dt.date, dt.date] | None:
        """First and last day of ``window`` (None when empty), found once per window."""
        try:
            return self._bounds[window]
        except KeyError:
            found = self._bounds[window] = window.bounds(self.pupil, self.as_of, self.calendar)
            return found

    def _span(self, window: Window) -> tuple[int, int] | None:
        try:
            return self._spans[window]
        except KeyError:
            bounds = self.bounds(window)
            span = self._spans[window] = (
                None if bounds is None else self.pupil.register.span(*bounds)
            )
            return span

    def pair(self, name: str, window: Window | None, codes: tuple[str, ...] = ()) -> Pair | None:
        """The value of measure ``name`` as ``(numerator, denominator)``; None when undefined."""
        key = (name, window, codes)
        try:
            return self._pairs[key]
        except KeyError:
            pair = self._pairs[key] = self._compute_pair(name, window, codes)
            return pair

    def _compute_pair(
        self, name: str, window: Window | None, codes: tuple[str, ...]
    ) -> Pair | None:
        kind = MEASURES[name].kind
        # A run walks days one by one and a trend needs a second window, so neither has a
        # prefix-count shortcut; policies read them rarely enough that building the `Measure` is
        # fine.
        if kind in ("run", "trend"):  # rare: computed the long way
            return as_pair(self.measure(name, window, codes).value)
        span = self._span(window or _ACADEMIC_YEAR)
        if span is None:
            # An empty window (no event to count since) gives no rate but a zero count, as
            # `window_measure` does: a rate of nothing is undefined, while "no sessions" is a true
            # 0.
            return None if kind == "rate" else (0, 1)
        return _pair_from_register(self.pupil.register, name, span[0], span[1], codes)

    def measure(self, name: str, window: Window | None, codes: tuple[str, ...] = ()) -> Measure:
        """The full ``Measure`` (value, window dates, counts), built once."""
        key = (name, window, codes)
        try:
            return self._objects[key]
        except KeyError:
            pass
        if MEASURES[name].kind in ("run", "trend"):
            found = compute(self.pupil, name, self.as_of, window, self.calendar, codes)
        else:
            window = window or _ACADEMIC_YEAR
            found = window_measure(
                name,
                window,
                self.bounds(window),
                self.as_of,
                codes,
                lambda: self._counts(window, codes),
            )
        self._objects[key] = found
        return found

    def _counts(self, window: Window, codes: tuple[str, ...]) -> dict[str, int]:
        key = ("counts", window, codes)
        counts = self._objects.get(key)
        if counts is None:
            start, end = self.bounds(window)  # type: ignore[misc]  # only asked for a window that is not empty
            counts = self._objects[key] = window_counts(self.pupil, start, end, codes)
        return counts


_ACADEMIC_YEAR = Window(kind="academic_year")
# measure -> categories added up (P present, A approved activity, Au authorised, U unauthorised)
_SUMS = {
    "possible_sessions": (
        Category.PRESENT,
        Category.APPROVED_ACTIVITY,
        Category.AUTHORISED,
        Category.UNAUTHORISED,
    ),
    "attended_sessions": (Category.PRESENT, Category.APPROVED_ACTIVITY),
    "present_sessions": (Category.PRESENT,),
    "approved_activity_sessions": (Category.APPROVED_ACTIVITY,),
    "absent_sessions": (Category.AUTHORISED, Category.UNAUTHORISED),
    "authorised_sessions": (Category.AUTHORISED,),
    "unauthorised_sessions": (Category.UNAUTHORISED,),
    "days_absent": (Category.AUTHORISED, Category.UNAUTHORISED),
    "unauthorised_days": (Category.UNAUTHORISED,),
}
_RATE_PARTS = {
    "attendance_rate": (Category.PRESENT, Category.APPROVED_ACTIVITY),
    "absence_rate": (Category.AUTHORISED, Category.UNAUTHORISED),
}
_ALL = _SUMS["possible_sessions"]


def _pair_from_register(
    reg: Any, name: str, lo: int, hi: int, codes: tuple[str, ...]
) -> Pair | None:
    """``name`` over marks [lo, hi) as an integer pair, from the prefix counts (as ``compute`` gives
    it)."""
    if name in _SUMS:
        total = sum(reg.count(c, lo, hi) for c in _SUMS[name])
        # Two sessions make a day: a half-day absence is 1/2 day, kept exact as the pair (n, 2).
        return (total, 2) if name in ("days_absent", "unauthorised_days") else (total, 1)
    if name in _RATE_PARTS:
        part = sum(reg.count(c, lo, hi) for c in _RATE_PARTS[name])
        possible = sum(reg.count(c, lo, hi) for c in _ALL)
        # No possible sessions: undefined, not zero (the same rule as `measures._value`).
        return (part, possible) if possible else None
    if name == "code_sessions":
        return (
            reg.count_codes([i for c in codes for i in reg.codebook.ids_for(c)], lo, hi)
            if codes
            else 0
        ), 1
    return reg.count_late("L" if name == "late_before_close" else "U", lo, hi), 1
