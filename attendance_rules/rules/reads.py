"""Compiled conditions, the leaves: closures that read a value for ``evaluator.py``.

Literals, ``today``, names (flags, facts, school settings, parameters, measures), library
measures, and event queries (``any``, ``count``, ``latest``, time and school days since
the latest event). Each closure takes ``(ctx, sink)`` like those of ``evaluator.py``:
with ``sink`` None it only reads the value; with a ``Trace`` it also writes the value's
description in ``sink.text`` and notes why a value is missing. ``READERS`` maps each
leaf's node type to the function that builds its closure.
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from typing import Any, Callable, Sequence

from ..exceptions import EvaluationError, Problem
from ..registers.calendar import count_school_days
from ..registers.history import Event, select_events
from ..text import short_date
from .nodes import (
    EventAny,
    EventCount,
    EventLatest,
    EventSet,
    EventWindow,
    LibraryMeasure,
    Literal,
    NameRef,
    SchoolDaysSince,
    TimeSince,
    Today,
)
from .runtime import Trace
from .values import DURATION_UNITS, Duration, ValueUnit, exact_number, show

__all__ = ["READERS", "Fn"]

Fn = Callable[[Any, "Trace | None"], Any]


# --- literals, today and names -------------------------------------------------------


def _const(value: object, text: str) -> Fn:
    def constant(ctx: Any, sink: Trace | None) -> object:
        if sink is not None:
            sink.text = text
        return value

    return constant


def _literal(node: Literal) -> Fn:
    if node.unit in DURATION_UNITS:
        return _const(Duration(node.value, node.unit), str(node))  # type: ignore[arg-type]  # a number with a unit
    return _const(node.value, str(node))


def _today(node: Today) -> Fn:
    def today(ctx: Any, sink: Trace | None) -> dt.date:
        if sink is not None:
            sink.text = f"today ({short_date(ctx.as_of)})"
        return ctx.as_of

    return today


def _name(node: NameRef) -> Fn:
    kind, name = node.kind, node.name
    if kind == "measure":
        return _measure(("named", name), name)
    if kind in ("flag", "fact"):
        return _yes_no(kind, name)
    if kind == "setting":
        return _setting(name)
    if kind == "parameter":
        return _parameter(node)

    # Raised when run, not when built: closures for a tree that skipped the type checker are a
    # programming error, and the name's own location says which tree it was.
    def unresolved(ctx: Any, sink: Trace | None) -> object:
        raise EvaluationError(
            [
                Problem(
                    f"name '{name}' was not resolved: compile the condition before evaluating it",
                    node.location,
                )
            ]
        )

    return unresolved


def _yes_no(kind: str, name: str) -> Fn:
    def flag(ctx: Any, sink: Trace | None) -> bool:
        value = bool(ctx.flag(name))
        if sink is not None:
            sink.text = f"{name}: {show(value)}"
        return value

    def fact(ctx: Any, sink: Trace | None) -> bool:
        value = bool(ctx.fact(name))
        if sink is not None:
            sink.text = f"{name}: {show(value)}"
        return value

    return flag if kind == "flag" else fact


def _missing(
    sink: Trace | None, value: object, what: str, reason: str, unit: ValueUnit = ""
) -> object:
    """A value (None stays None); traced, its description, and ``reason`` when it is missing."""
    if value is None:
        if sink is not None:
            sink.undefined.append(reason)
            sink.text = f"{what}: {reason}"
        return None
    value = exact_number(value)
    if sink is not None:
        separator = ": " if isinstance(value, bool) else " = "
        sink.text = f"{what}{separator}{show(value, unit)}"
    return value


def _setting(name: str) -> Fn:
    what, reason = f"school.{name}", f"school setting {name} not recorded"

    def setting(ctx: Any, sink: Trace | None) -> object:
        return _missing(sink, ctx.setting(name), what, reason)

    return setting


def _parameter(node: NameRef) -> Fn:
    name, unit = node.name, node.unit
    reason = f"parameter {name} has no value"
    duration = unit if unit in DURATION_UNITS else None

    def parameter(ctx: Any, sink: Trace | None) -> object:
        value = exact_number(ctx.parameter(name))
        if duration is not None and isinstance(value, Fraction):
            value = Duration(value, duration)
        if isinstance(value, bool):
            if sink is not None:
                sink.text = f"{name}: {show(value)}"
            return value
        return _missing(sink, value, name, reason, unit)

    return parameter


def _measure(key: tuple, name: str) -> Fn:
    def measure(ctx: Any, sink: Trace | None) -> object:
        if sink is None:
            pair = ctx.measure_pair(key)
            # A count stays an int so comparisons with ints cross-multiply without building a
            # Fraction.
            return None if pair is None else (pair[0] if pair[1] == 1 else Fraction(*pair))
        found = ctx.measure_object(key)
        # Listed once however often the condition reads it: a reason shows each measure one time.
        if found not in sink.measures:
            sink.measures.append(found)
        text = found.describe()
        if found.value is None:
            sink.undefined.append(f"{name}: {text}")
        sink.text = text if name == found.name else f"{name}: {text}"
        return exact_number(found.value)

    return measure


def _library(node: LibraryMeasure) -> Fn:
    return _measure(("library", node.name, node.window), node.name)


# --- event queries -------------------------------------------------------------------


def _matching(node: EventSet, ctx: Any, sink: Trace | None) -> tuple[tuple[Event, ...], str]:
    """The events a query matches and, traced, a note on its window's dates."""
    as_of = ctx.as_of
    # `PupilContext.events` already stops at the as-of date; a plain `runtime.Context` need not, and
    # an event after the as-of date must never count (a replay knows the future).
    found = select_events(ctx.events(node.event), until=as_of)
    if node.where is not None:
        found = tuple(e for e in found if node.where.matches(e))
    if node.window is None:
        return found, ""
    # `last N days/years` depend on the date only; register windows (school weeks, this term) on
    # the pupil's marks, so the context works them out (once per window, in its MeasureFrame).
    bounds = (
        node.window.bounds(as_of)
        if isinstance(node.window, EventWindow)
        else ctx.window_bounds(node.window)
    )
    if bounds is None:
        return (), f" (the window {node.window} is empty)" if sink is not None else ""
    start, end = bounds
    if sink is None:
        # Both ends inclusive, like measure windows: an event on the as-of date counts.
        return select_events(found, since=start, until=end), ""
    span = (
        f"{short_date(start)} to {short_date(end)}"
        if start > dt.date.min
        else f"up to {short_date(end)}"
    )
    return select_events(found, since=start, until=end), f" ({span})"


def _event_any(node: EventAny) -> Fn:
    text = str(node)

    def any_event(ctx: Any, sink: Trace | None) -> bool:
        if sink is None and not ctx.events(node.event):  # most pupils have few events of a type
            return False
        found, span = _matching(node, ctx, sink)
        if sink is not None:
            latest = f" (latest on {short_date(found[-1].date)})" if found else ""
            sink.text = f"{text}: {show(bool(found))}{span}{latest}"
        return bool(found)

    return any_event


def _event_count(node: EventCount) -> Fn:
    text, per = str(node), node.per

    def count(ctx: Any, sink: Trace | None) -> Fraction:
        found, span = _matching(node, ctx, sink)
        n, whose = _largest_group(found, per) if per else (len(found), "")
        if sink is not None:
            sink.text = f"{text} = {n}{whose}{span}"
        return Fraction(n)

    return count


def _largest_group(events: Sequence[Event], field: str) -> tuple[int, str]:
    """The size of the largest group of ``events`` by their value of ``field`` (events without
    it form one group), and a note naming that value for explanations."""
    sizes: dict[object, int] = {}
    for event in events:
        key = event.get(field)
        sizes[key] = sizes.get(key, 0) + 1
    if not sizes:
        return 0, ""
    # deterministic: the largest group, ties broken by the value's text (not recorded first)
    # `count … per FIELD` asks whether any one value has reached a limit (penalty notices are
    # limited per parent), so the largest group is the count that matters.
    key, n = min(sizes.items(), key=lambda item: (-item[1], item[0] is not None, str(item[0])))
    return n, f" ({field} {'not recorded' if key is None else show(key)})"


def _latest_event(event: str, ctx: Any, sink: Trace | None) -> Any:
    """The most recent event of a type up to the as-of date (traced: a reason when there is
    none)."""
    found = select_events(ctx.events(event), until=ctx.as_of)
    if not found and sink is not None:
        sink.undefined.append(f"no {event} recorded")
    return found[-1] if found else None


def _from_latest(
    node: EventLatest | TimeSince | SchoolDaysSince,
    value_of: Callable[[Any, Any, Trace | None], object],
) -> Fn:
    """A value read from the latest event of the node's type (None, traced with a reason,
    when none)."""
    text, kind = str(node), node.event

    def from_latest(ctx: Any, sink: Trace | None) -> object:
        event = _latest_event(kind, ctx, sink)
        if event is None:
            if sink is not None:
                sink.text = f"{text}: no {kind} recorded"
            return None
        return value_of(event, ctx, sink)

    return from_latest


def _event_latest(node: EventLatest) -> Fn:
    text, kind, field = str(node), node.event, node.field

    def latest(event: Any, ctx: Any, sink: Trace | None) -> object:
        value = event.date if field == "date" else exact_number(event.get(field))
        if value is None:
            return _missing(
                sink, None, text, f"the latest {kind} ({short_date(event.date)}) has no {field}"
            )
        if sink is not None:
            sink.text = f"{text} = {show(value)} ({kind} on {short_date(event.date)})"
        return value

    return _from_latest(node, latest)


def _time_since(node: TimeSince) -> Fn:
    text = str(node)

    def since(event: Any, ctx: Any, sink: Trace | None) -> object:
        # The duration keeps its start: compared with `2 years` it is measured from the event's date
        # (`values.compare_at`), since a year has no fixed number of days (29 February).
        elapsed = Duration(Fraction((ctx.as_of - event.date).days), "days", since=event.date)
        if sink is not None:
            sink.text = f"{text} = {elapsed} (since {short_date(event.date)})"
        return elapsed

    return _from_latest(node, since)


def _school_days_since(node: SchoolDaysSince) -> Fn:
    text = str(node)

    def since(event: Any, ctx: Any, sink: Trace | None) -> object:
        # The event's own day is not counted and the as-of date is: a leave request made today is 0
        # school days ago (`calendar.count_school_days`).
        count = Fraction(count_school_days(event.date, ctx.as_of, ctx.pupil.register.days))
        if sink is not None:
            after = short_date(event.date)
            sink.text = f"{text} = {show(count, 'school_days')} (school days after {after})"
        return count

    return _from_latest(node, since)


READERS: dict[type, Callable[[Any], Fn]] = {
    Literal: _literal,
    Today: _today,
    NameRef: _name,
    LibraryMeasure: _library,
    EventAny: _event_any,
    EventCount: _event_count,
    EventLatest: _event_latest,
    TimeSince: _time_since,
    SchoolDaysSince: _school_days_since,
}
