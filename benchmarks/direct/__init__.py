"""Hand-written, direct-Python versions of two policies' decisions, for benchmarking the engine.

``england.py`` and ``halton.py`` each encode the same decisions as the compiled policy
(``policies/england.yaml``, and ``policies/halton.yaml`` with its parent ``england``) as
plain Python: ``prepare`` gathers every measure, flag, event date, school setting and
parameter value a pupil's decisions need (the "measures precomputed" phase), and
``decide`` turns those inputs into a :class:`Decision` with integer comparisons and
``if`` statements, one commented block per rule. Nothing here parses or evaluates a
policy condition: the library is used only for the register's counts, calendar
helpers (academic year, inferred term start) and the parameter values and effective
dates written in the policy files.

``check.py`` compares the two implementations pupil by pupil; :func:`time_direct` times
the two phases for the main benchmark.
"""

from __future__ import annotations

import datetime as dt
import importlib
import time
from bisect import bisect_right
from fractions import Fraction
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

from attendance_rules.engine import compiled as api
from attendance_rules.registers.calendar import (
    Calendar,
    monday_of,
    nth_school_day_after,
)
from attendance_rules.registers.codes import Category
from attendance_rules.registers.history import Event, Pupil, Register, School

__all__ = ["Decision", "PolicySnapshot", "module_for", "snapshot", "time_direct"]

_PRESENT, _APPROVED = Category.PRESENT, Category.APPROVED_ACTIVITY
_AUTHORISED, _UNAUTHORISED = Category.AUTHORISED, Category.UNAUTHORISED


class Decision(NamedTuple):
    """One pupil's decisions: what the engine's evaluation says, as four sets of names."""

    facts: frozenset[str]  # derived fact names
    actions: frozenset[str]  # recommended action ids (after holds-back and already-done)
    suppressed: frozenset[tuple[str, str]]  # (action, rule id) held back by an ``unless``
    done: frozenset[str]  # actions not recommended because a recording event exists


class PolicySnapshot(NamedTuple):
    """What a policy file says for one as-of date: parameter values and what is in force."""

    params: Mapping[str, Any]  # name -> value in force (None before a dated parameter's first value)
    rules: frozenset[str]  # ids of the rules in force
    actions: frozenset[str]  # ids of the actions in force


_POLICIES: dict[str, api.CompiledPolicy] = {}
_SNAPSHOTS: dict[tuple[str, dt.date], PolicySnapshot] = {}


def loaded_policy(policy_id: str) -> api.CompiledPolicy:
    """The bundled policy ``policy_id``, loaded once (for its values, dates and the engine)."""
    if policy_id not in _POLICIES:
        _POLICIES[policy_id] = api.load_policy(policy_id)
    return _POLICIES[policy_id]


def snapshot(policy_id: str, as_of: dt.date) -> PolicySnapshot:
    """Parameter values and in-force rules and actions of ``policy_id`` on ``as_of`` (cached).

    Only values and effective dates are read from the loaded policy; no condition is
    evaluated. A rule is in force when its own dates and its file's dates cover the day.
    """
    key = (policy_id, as_of)
    if key not in _SNAPSHOTS:
        policy = loaded_policy(policy_id).ruleset.policy
        files = {p.id: (p.effective_from, p.effective_to) for p in policy.chain}

        def covers(start: dt.date | None, end: dt.date | None) -> bool:
            return (start is None or start <= as_of) and (end is None or as_of <= end)

        rules = frozenset(r.id for r in policy.rules
                          if covers(r.effective_from, r.effective_to) and covers(*files[r.policy]))
        actions = frozenset(a.id for a in policy.actions.values() if covers(a.effective_from, a.effective_to))
        params = {name: p.value_on(as_of) for name, p in policy.parameters.items()}
        _SNAPSHOTS[key] = PolicySnapshot(params, rules, actions)
    return _SNAPSHOTS[key]


def rate_pair(percent: Any) -> tuple[int, int]:
    """A percentage parameter (e.g. ``10``) as an integer fraction of one: ``(1, 10)``.

    A rate ``a / p`` is at least ``n / d`` exactly when ``a * d >= n * p`` (for ``p > 0``).
    """
    if percent is None:
        raise ValueError("a rate parameter has no value on this date")
    value = Fraction(percent) / 100
    return value.numerator, value.denominator


def weeks_in_days(weeks: Any) -> Fraction | None:
    """A ``weeks`` parameter as calendar days (``time since`` compares days), or None."""
    return None if weeks is None else Fraction(weeks) * 7


def events_by_type(pupil: Pupil, as_of: dt.date) -> dict[str, list[Event]]:
    """The pupil's events up to ``as_of``, by type, oldest first (the order the engine sees)."""
    out: dict[str, list[Event]] = {}
    for event in pupil.events:  # sorted by date
        if event.date > as_of:
            break
        bucket = out.get(event.type)
        if bucket is None:
            out[event.type] = [event]
        else:
            bucket.append(event)
    return out


def latest(events: Sequence[Event] | None) -> int:
    """Ordinal of the latest event, 0 when there is none (every real date is later)."""
    return events[-1].date.toordinal() if events else 0


def latest_where(events: Sequence[Event] | None, field: str, value: Any) -> int:
    """Ordinal of the latest event whose ``field`` equals ``value`` (0 when none).

    ``with accepted == true`` style filters: a bool value needs a bool field (``1`` is not true).
    """
    if events:
        for event in reversed(events):
            found = event.details.get(field)
            if found is not None and isinstance(found, bool) == isinstance(value, bool) and found == value:
                return event.date.toordinal()
    return 0


def add_years(day: dt.date, years: int) -> dt.date:
    """The same day ``years`` calendar years on (29 Feb -> 28 Feb), for ``last N years`` windows."""
    year = day.year + years
    return day.replace(year=year, day=28) if (day.month, day.day) == (2, 29) else day.replace(year=year)


def school_weeks_start(register: Register, as_of: dt.date, n: int) -> dt.date:
    """Monday of the n-th most recent school week of the pupil up to ``as_of`` (earliest if fewer)."""
    weeks = register.weeks
    monday = monday_of(as_of.toordinal())
    i = bisect_right(weeks, monday)
    return dt.date.fromordinal(monday if i == 0 else weeks[max(0, i - n)])


def absence_counts(register: Register, start: dt.date, end: dt.date) -> tuple[int, int, int]:
    """(absent, possible, unauthorised) sessions from ``start`` to ``end`` inclusive."""
    lo, hi = register.span(start, end)
    count = register.count
    authorised, unauthorised = count(_AUTHORISED, lo, hi), count(_UNAUTHORISED, lo, hi)
    absent = authorised + unauthorised
    return absent, absent + count(_PRESENT, lo, hi) + count(_APPROVED, lo, hi), unauthorised


def unauthorised_since(register: Register, start: int, as_of: dt.date) -> int:
    """Unauthorised sessions from day ordinal ``start`` (an event's day) to ``as_of``; 0 when no event."""
    if not start:
        return 0
    lo, hi = register.span(dt.date.fromordinal(start), as_of)
    return register.count(_UNAUTHORISED, lo, hi)


_IDS: dict[tuple[int, tuple[str, ...]], tuple[int, ...]] = {}


def code_ids(register: Register, codes: tuple[str, ...]) -> tuple[int, ...]:
    """The register's code ids for ``codes`` (every code table that has them)."""
    book = register.codebook
    key = (id(book), codes)
    ids = _IDS.get(key)
    if ids is None:
        ids = _IDS[key] = tuple(i for c in codes for i in book.ids_for(c))
    return ids


def code_count(register: Register, ids: Iterable[int], start: dt.date, end: dt.date) -> int:
    """Sessions coded with one of ``ids`` from ``start`` to ``end`` inclusive."""
    lo, hi = register.span(start, end)
    return register.count_codes(ids, lo, hi)


def unexplained_run(register: Register, as_of: dt.date) -> int:
    """School days in a row, back from ``as_of``, on which every mark is N.

    Days whose only marks are ``#`` (planned closure) are not school days, so they are
    skipped rather than ending the run.
    """
    n_ids = frozenset(code_ids(register, ("N",)))
    closed = frozenset(code_ids(register, ("#",)))
    slots, codes = register.slots, register.codes
    i = bisect_right(slots, as_of.toordinal() * 2 + 1) - 1
    run = 0
    while i >= 0:
        day = slots[i] >> 1
        all_n = all_closed = True
        while i >= 0 and slots[i] >> 1 == day:
            code = codes[i]
            all_n = all_n and code in n_ids
            all_closed = all_closed and code in closed
            i -= 1
        if all_closed:
            continue
        if not all_n:
            break
        run += 1
    return run


def unexplained_today(register: Register, as_of: dt.date) -> int:
    """``unexplained_sessions_today >= 1 or unexplained_run_days >= 1`` as a number that is at
    least 1 exactly when it holds: the as-of date's N sessions, else the run of N days."""
    today = code_count(register, code_ids(register, ("N",)), as_of, as_of)
    return today or unexplained_run(register, as_of)


def counted_ten_weeks_start(register: Register, as_of: dt.date, counted_from: Any) -> dt.date | None:
    """The start of the last 10 school weeks, not before ``counted_from`` (a date parameter,
    ``YYYY-MM-DD``; measure ``not_before``); None when the as-of date is before it (nothing counts)."""
    start = school_weeks_start(register, as_of, 10)
    if counted_from is None:
        return start
    cut = dt.date.fromisoformat(counted_from)
    return None if as_of < cut else max(start, cut)


def notices_per_parent(notices: Sequence[Event], as_of: dt.date, since: dt.date = dt.date(2024, 8, 19)) -> int:
    """``count penalty_notice_issued with date >= 2024-08-19 per parent within last 3 years``:
    the most notices any one parent (notices without a parent together) received in the window."""
    start = max(add_years(as_of, -3), since)
    counts: dict[Any, int] = {}
    for event in notices:
        if start <= event.date <= as_of:
            counts[event.get("parent")] = counts.get(event.get("parent"), 0) + 1
    return max(counts.values(), default=0)


def school_days_hold(register: Register, since: int, period: Any, as_of: dt.date) -> Any:
    """``time since latest EVENT < period`` with a period in school days, as the calendar days
    from the event to the day it stops holding (``today - event < result``), or None.

    The condition holds while fewer than ``period`` of the pupil's school days follow the
    event up to the as-of date: until the period-th school day after it (register days up to
    the as-of date, weekdays after)."""
    if period is None or not since:
        return None
    day = dt.date.fromordinal(since)
    return (nth_school_day_after(day, int(period), register.days, as_of) - day).days


def setting_is_true(school: School, name: str) -> bool:
    """``school.NAME`` used as a yes/no: only a recorded ``true`` counts."""
    return school.settings.get(name, False) is True


def module_for(policy_id: str) -> Any:
    """The direct module (``england`` or ``halton``) for a policy id."""
    if policy_id not in ("england", "halton"):
        raise ValueError(f"no direct implementation of policy {policy_id!r}; expected england or halton")
    return importlib.import_module(f"{__name__}.{policy_id}")


def time_direct(policy_id: str, pupils: Sequence[Pupil], as_of: dt.date, school: School) -> tuple[float, float]:
    """Process time of ``prepare`` for every pupil, then of ``decide`` for every pupil (seconds).

    The calendar is the loaded policy's (no term dates: terms inferred from gaps), as the
    engine's. The policy snapshot for ``as_of`` is built before timing starts.
    """
    module = module_for(policy_id)
    calendar: Calendar = loaded_policy(policy_id).calendar
    snapshot(policy_id, as_of)
    prepare, decide = module.prepare, module.decide
    start = time.process_time()
    inputs = [prepare(pupil, as_of, calendar, school) for pupil in pupils]
    prepared = time.process_time()
    for item in inputs:
        decide(item)
    return prepared - start, time.process_time() - prepared
