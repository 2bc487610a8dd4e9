"""Compiled conditions: each checked condition tree becomes nested Python closures, once.

A closure takes ``(ctx, sink)``. With ``sink`` None it only decides: ``and``/``or``
short-circuit, measures are read as integer pairs (``MeasureFrame.pair``) and a rate is
compared with a threshold by cross-multiplication (``absent * 10 >= possible * 1``), so
exactly 90.0% attendance stays persistent absence and no ``Fraction`` is built. With a
``Trace`` sink the *same* closures also record every comparison with the values and
sentences an explanation shows, evaluating every operand so that every test is listed.
The truth of every step comes from the same code in both modes (``_holds_numeric``,
``_compare``), so a decision and its explanation cannot disagree.

Closures are built from the resolved syntax tree (``conditions.resolve``), never from
policy text: nothing is passed to ``eval`` or ``exec``.
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from typing import Any, Callable

from . import conditions as c
from ..registers.calendar import count_school_days, nth_school_day_after
from ..exceptions import EvaluationError, Problem
from ..registers.measures import Measure, Pair, as_pair

__all__ = ["Trace", "compile_node", "evaluate", "measure_keys", "replay_safe"]

Fn = Callable[[Any, "Trace | None"], Any]
_LOGIC = (c.And, c.Or, c.Not, c.Compare, c.InCheck)
_FLIP = {">=": "<=", "<=": ">=", ">": "<", "<": ">", "==": "==", "!=": "!="}


class Trace:
    """What a traced evaluation records: comparisons, measures, reasons for missing values.

    ``text`` passes the description of the value just computed from a child closure to its
    parent (only in traced evaluations).
    """

    __slots__ = ("comparisons", "measures", "undefined", "text")

    def __init__(self) -> None:
        self.comparisons: list[c.Comparison] = []
        self.measures: list[Measure] = []
        self.undefined: list[str] = []
        self.text = ""

    def outcome(self, value: object) -> c.Outcome:
        """The ``Outcome`` of a traced evaluation that gave ``value``."""
        return c.Outcome(value, tuple(self.comparisons), tuple(self.measures), tuple(dict.fromkeys(self.undefined)))


# --- the measure keys a tree reads ---------------------------------------------------


def _measure_key(node: c.Node) -> tuple | None:
    if isinstance(node, c.NameRef) and node.kind == "measure":
        return ("named", node.name)
    if isinstance(node, c.LibraryMeasure):
        return ("library", node.name, node.window)
    return None


def measure_keys(node: c.Node) -> tuple[tuple, ...]:
    """The measures a tree reads, in the order a full (traced) evaluation first reads them."""
    keys = (_measure_key(n) for n in c._walk(node))
    return tuple(dict.fromkeys(k for k in keys if k is not None))


# --- evaluation entry point ----------------------------------------------------------

_CACHE: dict[int, tuple[c.Node, Fn]] = {}
_CACHE_LIMIT = 50_000


def compile_node(node: c.Node) -> Fn:
    """The closure deciding a resolved condition tree (built once per tree object)."""
    hit = _CACHE.get(id(node))
    if hit is not None and hit[0] is node:
        return hit[1]
    if len(_CACHE) >= _CACHE_LIMIT:
        _CACHE.clear()
    fn = _top(node)
    _CACHE[id(node)] = (node, fn)  # the node is kept so that its id is not reused
    return fn


def evaluate(node: c.Node, ctx: Any, trace: bool = True) -> c.Outcome:
    """Evaluate a resolved tree against a context (see ``conditions.evaluate``)."""
    fn = compile_node(node)
    ctx = ctx if hasattr(ctx, "measure_pair") else ProtocolContext(ctx)
    if not trace:
        return c.Outcome(fn(ctx, None))
    sink = Trace()
    return sink.outcome(fn(ctx, sink))


class ProtocolContext:
    """Gives any ``conditions.Context`` the two measure readers the closures use."""

    log = None  # no replay log

    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx

    def measure_pair(self, key: tuple) -> Pair | None:
        """A measure's value as an integer pair, from the context's ``Measure``."""
        return as_pair(self.measure_object(key).value)

    def measure_object(self, key: tuple) -> Measure:
        """The context's ``Measure`` for a key of ``measure_keys``."""
        if key[0] == "named":
            return self._ctx.named_measure(key[1])
        return self._ctx.library_measure(key[1], key[2])

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)


# --- building closures ---------------------------------------------------------------


def _top(node: c.Node) -> Fn:
    """A condition used as a whole: yes/no values are recorded as an "is" step."""
    if isinstance(node, _LOGIC) or c._is_yes_no(node):
        return _truth(node)
    value = _value(node)
    text = str(node)

    def top(ctx: Any, sink: Trace | None) -> object:
        result = value(ctx, sink)
        if isinstance(result, bool):
            return _record_is(sink, node, text, result) if sink is not None else result is True
        return result
    return top


def _truth(node: c.Node, in_atom: bool = False) -> Fn:
    """A closure giving True/False for an operand of and/or/not.

    A largest sub-condition that reads no derived fact (an *atom*: a comparison, an event
    query, ``any … and …`` of those) notes its value in ``ctx.log`` when one is kept, so a
    replay can tell that nothing a day's decisions read has changed since the day before.
    """
    if not in_atom and _is_atom(node):
        return _logged(_truth(node, True), node)
    if isinstance(node, c.And):
        return _and([_truth(item, in_atom) for item in node.items])
    if isinstance(node, c.Or):
        return _or([_truth(item, in_atom) for item in node.items])
    if isinstance(node, c.Not):
        inner = _truth(node.item, in_atom)
        return lambda ctx, sink: not inner(ctx, sink)
    if isinstance(node, (c.Compare, c.InCheck)):
        return _value(node)
    if isinstance(node, c.NameRef) and node.kind in ("flag", "fact"):
        return _yes_no_truth(node)
    value, text = _value(node), str(node)

    def truth(ctx: Any, sink: Trace | None) -> bool:
        result = value(ctx, sink)
        return _record_is(sink, node, text, result) if sink is not None else result is True
    return truth


def _reads_fact(node: c.Node) -> bool:
    return any(isinstance(n, c.NameRef) and n.kind == "fact" for n in c._walk(node))


def _constant(node: c.Node) -> bool:
    """Literals, flags and school settings: the same on every day of one pupil's replay."""
    return isinstance(node, c.Literal) or (isinstance(node, c.NameRef) and node.kind in ("flag", "setting"))


def _is_atom(node: c.Node) -> bool:
    return not _constant(node) and not _reads_fact(node)


def replay_safe(node: c.Node) -> bool:
    """Whether every value the tree reads apart from facts and constants is inside a logged atom
    (so that equal atom values on two days mean equal decisions)."""
    if _is_atom(node) or _constant(node) or (isinstance(node, c.NameRef) and node.kind == "fact"):
        return True
    if isinstance(node, (c.And, c.Or, c.Not)):
        return all(replay_safe(child) for child in node.children())
    leaves = (n for n in c._walk(node) if not n.children())
    return all(_constant(n) or (isinstance(n, c.NameRef) and n.kind == "fact") for n in leaves)


STEADY_WINDOWS = ("academic_year", "term", "all", "since_event")  # windows whose start moves only at events, years, terms


def _events_only(node: c.Node) -> bool:
    """Whether an atom reads only case events (no register, no running clock), over windows that
    move only at the start of a year or term or at an event: its value can change only then."""
    for n in c._walk(node):
        if isinstance(n, (c.EventAny, c.EventCount)):
            if n.window is not None and getattr(n.window, "kind", "") not in STEADY_WINDOWS:
                return False
        elif not isinstance(n, (c.EventLatest, c.Compare, c.InCheck, c.And, c.Or, c.Not, c.Literal, c.NameRef)):
            return False
        elif isinstance(n, c.NameRef) and n.kind == "measure":
            return False
    return True


def _logged(fn: Fn, node: c.Node) -> Fn:
    """An atom: ``fn``, noting (itself, its value) in ``ctx.log`` when a replay keeps one."""
    def atom(ctx: Any, sink: Trace | None) -> bool:
        value = fn(ctx, sink)
        if sink is None and ctx.log is not None:
            ctx.log.append((atom, value))
        return value
    atom.node = node  # type: ignore[attr-defined]  # the atom carries its node (read by stability.py)
    return atom


def bound_spec(node: c.Node) -> tuple[tuple, str, Fn] | None:
    """For ``measure OP value`` (either way round): the measure's key, OP with the measure on
    the left, and the other side's closure — what a replay needs to bound how many school
    days the comparison must keep its truth (``stability.py``)."""
    if not isinstance(node, c.Compare):
        return None
    left, right = _measure_key(node.left), _measure_key(node.right)
    if left is not None and right is None:
        return left, node.op, _value(node.right)
    if right is not None and left is None:
        return right, _FLIP[node.op], _value(node.left)
    return None


def _yes_no_truth(node: c.NameRef) -> Fn:
    """A flag or fact as an operand: one lookup when deciding."""
    value, text, name = _value(node), str(node), node.name

    def flag(ctx: Any, sink: Trace | None) -> bool:
        if sink is None:
            return bool(ctx.flag(name))
        return _record_is(sink, node, text, value(ctx, sink))

    def fact(ctx: Any, sink: Trace | None) -> bool:
        if sink is None:
            return bool(ctx.fact(name))
        return _record_is(sink, node, text, value(ctx, sink))
    return flag if node.kind == "flag" else fact


def _record_is(sink: Trace, node: c.Node, text: str, value: object) -> bool:
    sink.comparisons.append(c.Comparison(node.location, text, "is", value, True, sink.text, "yes", value is True))
    return value is True


def _and(items: list[Fn]) -> Fn:
    def all_of(ctx: Any, sink: Trace | None) -> bool:
        if sink is not None:  # traced: every operand, so every test is listed
            return all([item(ctx, sink) for item in items])
        for item in items:
            if not item(ctx, None):
                return False
        return True
    return all_of


def _or(items: list[Fn]) -> Fn:
    def any_of(ctx: Any, sink: Trace | None) -> bool:
        if sink is not None:
            return any([item(ctx, sink) for item in items])
        for item in items:
            if item(ctx, None):
                return True
        return False
    return any_of


def _value(node: c.Node) -> Fn:
    """A closure giving the node's value (and, traced, its description in ``sink.text``)."""
    builder = _BUILDERS.get(type(node))
    if builder is None:
        raise EvaluationError([Problem(f"cannot evaluate {type(node).__name__} {node}", node.location)])
    return builder(node)


def _const(value: object, text: str) -> Fn:
    def constant(ctx: Any, sink: Trace | None) -> object:
        if sink is not None:
            sink.text = text
        return value
    return constant


def _literal(node: c.Literal) -> Fn:
    if node.unit in c._DURATION_UNITS:
        return _const(c.Duration(node.value, node.unit), str(node))  # type: ignore[arg-type]  # a number with a unit
    return _const(node.value, str(node))


def _today(node: c.Today) -> Fn:
    def today(ctx: Any, sink: Trace | None) -> dt.date:
        if sink is not None:
            sink.text = f"today ({c._show_date(ctx.as_of)})"
        return ctx.as_of
    return today


def _name(node: c.NameRef) -> Fn:
    kind, name = node.kind, node.name
    if kind == "measure":
        return _measure(("named", name), name)
    if kind in ("flag", "fact"):
        return _yes_no(kind, name)
    if kind == "setting":
        return _setting(name)
    if kind == "parameter":
        return _parameter(node)

    def unresolved(ctx: Any, sink: Trace | None) -> object:
        raise EvaluationError([Problem(f"name '{name}' was not resolved: compile the condition before evaluating it",
                                       node.location)])
    return unresolved


def _yes_no(kind: str, name: str) -> Fn:
    def flag(ctx: Any, sink: Trace | None) -> bool:
        value = bool(ctx.flag(name))
        if sink is not None:
            sink.text = f"{name}: {c._show(value)}"
        return value

    def fact(ctx: Any, sink: Trace | None) -> bool:
        value = bool(ctx.fact(name))
        if sink is not None:
            sink.text = f"{name}: {c._show(value)}"
        return value
    return flag if kind == "flag" else fact


def _missing(sink: Trace | None, value: object, what: str, reason: str, unit: str = "") -> object:
    """A value (None stays None); traced, its description, and ``reason`` when it is missing."""
    if value is None:
        if sink is not None:
            sink.undefined.append(reason)
            sink.text = f"{what}: {reason}"
        return None
    value = c._number(value)
    if sink is not None:
        separator = ": " if isinstance(value, bool) else " = "
        sink.text = f"{what}{separator}{c._show(value, unit)}"
    return value


def _setting(name: str) -> Fn:
    what, reason = f"school.{name}", f"school setting {name} not recorded"

    def setting(ctx: Any, sink: Trace | None) -> object:
        return _missing(sink, ctx.setting(name), what, reason)
    return setting


def _parameter(node: c.NameRef) -> Fn:
    name, unit = node.name, node.unit
    reason = f"parameter {name} has no value"
    duration = unit in c._DURATION_UNITS

    def parameter(ctx: Any, sink: Trace | None) -> object:
        value = c._number(ctx.parameter(name))
        if duration and isinstance(value, Fraction):
            value = c.Duration(value, unit)
        if isinstance(value, bool):
            if sink is not None:
                sink.text = f"{name}: {c._show(value)}"
            return value
        return _missing(sink, value, name, reason, unit)
    return parameter


def _measure(key: tuple, name: str) -> Fn:
    def measure(ctx: Any, sink: Trace | None) -> object:
        if sink is None:
            pair = ctx.measure_pair(key)
            return None if pair is None else (pair[0] if pair[1] == 1 else Fraction(*pair))
        found = ctx.measure_object(key)
        if found not in sink.measures:
            sink.measures.append(found)
        text = found.describe()
        if found.value is None:
            sink.undefined.append(f"{name}: {text}")
        sink.text = text if name == found.name else f"{name}: {text}"
        return c._number(found.value)
    return measure


def _library(node: c.LibraryMeasure) -> Fn:
    return _measure(("library", node.name, node.window), node.name)


# --- comparisons ---------------------------------------------------------------------


def _compare(op: str, left: object, right: object, anchor: dt.date) -> bool:
    """``left OP right`` as the condition language defines it (durations made comparable)."""
    return c._compare(op, *_coerce(left, right, anchor))


def _coerce(left: object, right: object, anchor: dt.date) -> tuple[object, object]:
    """Numbers of days next to durations become durations; two durations become days from one anchor."""
    if isinstance(left, c.Duration) and isinstance(right, Fraction):
        right = c.Duration(right)
    if isinstance(right, c.Duration) and isinstance(left, Fraction):
        left = c.Duration(left)
    if isinstance(left, c.Duration) and isinstance(right, c.Duration):
        start = left.since or right.since or anchor
        return left.days_from(start), right.days_from(start)
    return left, right


def _holds_numeric(op: str, pair: Pair | None, other: object, anchor: dt.date) -> bool:
    """A measure (as a pair) OP a value: cross-multiplied when the value is a number."""
    if pair is None or other is None:
        return False
    kind = type(other)
    if kind is int:
        # other is an int here, then a Fraction: mypy does not narrow through ``kind``
        return c._OPERATORS[op](pair[0], other * pair[1])  # type: ignore[operator]
    if kind is Fraction:
        return c._OPERATORS[op](pair[0] * other.denominator, other.numerator * pair[1])  # type: ignore[attr-defined]
    return _compare(op, Fraction(*pair), other, anchor)


def _compare_node(node: c.Compare) -> Fn:
    left_key, right_key = _measure_key(node.left), _measure_key(node.right)
    if left_key is not None and right_key is None:
        return _measure_compare(node, node.op, left_key, _value(node.left), _value(node.right), False)
    if right_key is not None and left_key is None:
        return _measure_compare(node, _FLIP[node.op], right_key, _value(node.right), _value(node.left), True)
    return _general_compare(node)


def _measure_compare(node: c.Compare, op: str, key: tuple, measure: Fn, other: Fn, flipped: bool) -> Fn:
    """``measure OP other`` (``op`` already flipped when the measure is written on the right)."""
    text, written = str(node), node.op

    def compare(ctx: Any, sink: Trace | None) -> bool:
        if sink is None:
            return _holds_numeric(op, ctx.measure_pair(key), other(ctx, None), ctx.as_of)
        left = (other if flipped else measure)(ctx, sink)
        left_text = sink.text
        right = (measure if flipped else other)(ctx, sink)
        value, threshold = (right, left) if flipped else (left, right)
        holds = _holds_numeric(op, as_pair(value), threshold, ctx.as_of)
        sink.comparisons.append(c.Comparison(node.location, text, written, left, right, left_text, sink.text, holds))
        return holds
    return compare


def _general_compare(node: c.Compare) -> Fn:
    left_fn, right_fn, op, text = _value(node.left), _value(node.right), node.op, str(node)

    def compare(ctx: Any, sink: Trace | None) -> bool:
        left = left_fn(ctx, sink)
        left_text = sink.text if sink is not None else ""
        right = right_fn(ctx, sink)
        holds = _compare(op, left, right, ctx.as_of)
        if sink is not None:
            sink.comparisons.append(c.Comparison(node.location, text, op, left, right, left_text, sink.text, holds))
        return holds
    return compare


def _in_check(node: c.InCheck) -> Fn:
    item, text = _value(node.item), str(node)
    options = tuple(option.value for option in node.options)
    listed = "(" + ", ".join(str(option) for option in node.options) + ")"

    def in_check(ctx: Any, sink: Trace | None) -> bool:
        value = item(ctx, sink)
        holds = value is not None and any(c._compare("==", value, option) for option in options)
        if sink is not None:
            sink.comparisons.append(c.Comparison(node.location, text, "in", value, options, sink.text, listed, holds))
        return holds
    return in_check


def _arith(node: c.Arith) -> Fn:
    left_fn, right_fn, text, sign = _value(node.left), _value(node.right), str(node), 1 if node.op == "+" else -1

    def arith(ctx: Any, sink: Trace | None) -> object:
        left, right = left_fn(ctx, sink), right_fn(ctx, sink)
        result = _arith_result(node.school_days, sign, left, right, ctx)
        if sink is not None:
            sink.text = f"{text}: not recorded" if result is None else f"{text} = {c._show(result)}"
        return result
    return arith


def _arith_result(school_days: bool, sign: int, left: object, right: object, ctx: Any) -> dt.date | None:
    if school_days:
        if not isinstance(left, dt.date) or not isinstance(right, Fraction):
            return None
        return nth_school_day_after(left, int(right // 1), ctx.pupil.register.days, ctx.as_of)
    if isinstance(right, Fraction):
        right = c.Duration(right)
    if not isinstance(left, dt.date) or not isinstance(right, c.Duration):
        return None
    return right.added_to(left, sign)


# --- event queries -------------------------------------------------------------------


def _matching(node: c._EventSet, ctx: Any, sink: Trace | None) -> tuple[list, str]:
    """The events a query matches and, traced, a note on its window's dates."""
    as_of = ctx.as_of
    found = [e for e in ctx.events(node.event) if e.date <= as_of]
    if node.where is not None:
        found = [e for e in found if node.where.matches(e)]
    if node.window is None:
        return found, ""
    bounds = (node.window.bounds(as_of) if isinstance(node.window, c.EventWindow)
              else ctx.window_bounds(node.window))
    if bounds is None:
        return [], f" (the window {node.window} is empty)" if sink is not None else ""
    start, end = bounds
    if sink is None:
        return [e for e in found if start <= e.date <= end], ""
    span = (f"{c._show_date(start)} to {c._show_date(end)}" if start > dt.date.min
            else f"up to {c._show_date(end)}")
    return [e for e in found if start <= e.date <= end], f" ({span})"


def _event_any(node: c.EventAny) -> Fn:
    text = str(node)

    def any_event(ctx: Any, sink: Trace | None) -> bool:
        if sink is None and not ctx.events(node.event):  # most pupils have few events of a type
            return False
        found, span = _matching(node, ctx, sink)
        if sink is not None:
            latest = f" (latest on {c._show_date(found[-1].date)})" if found else ""
            sink.text = f"{text}: {c._show(bool(found))}{span}{latest}"
        return bool(found)
    return any_event


def _event_count(node: c.EventCount) -> Fn:
    text, per = str(node), node.per

    def count(ctx: Any, sink: Trace | None) -> Fraction:
        found, span = _matching(node, ctx, sink)
        n, whose = _largest_group(found, per) if per else (len(found), "")
        if sink is not None:
            sink.text = f"{text} = {n}{whose}{span}"
        return Fraction(n)
    return count


def _largest_group(events: list, field: str) -> tuple[int, str]:
    """The size of the largest group of ``events`` by their value of ``field`` (events without
    it form one group), and a note naming that value for explanations."""
    sizes: dict[object, int] = {}
    for event in events:
        key = event.get(field)
        sizes[key] = sizes.get(key, 0) + 1
    if not sizes:
        return 0, ""
    # deterministic: the largest group, ties broken by the value's text (not recorded first)
    key, n = min(sizes.items(), key=lambda item: (-item[1], item[0] is not None, str(item[0])))
    return n, f" ({field} {'not recorded' if key is None else c._show(key)})"


def _latest_event(event: str, ctx: Any, sink: Trace | None) -> Any:
    """The most recent event of a type up to the as-of date (traced: a reason when there is none)."""
    found = [e for e in ctx.events(event) if e.date <= ctx.as_of]
    if not found and sink is not None:
        sink.undefined.append(f"no {event} recorded")
    return found[-1] if found else None


def _from_latest(node: c.EventLatest | c.TimeSince | c.SchoolDaysSince,
                 value_of: Callable[[Any, Any, Trace | None], object]) -> Fn:
    """A value read from the latest event of the node's type (None, traced with a reason, when none)."""
    text, kind = str(node), node.event

    def from_latest(ctx: Any, sink: Trace | None) -> object:
        event = _latest_event(kind, ctx, sink)
        if event is None:
            if sink is not None:
                sink.text = f"{text}: no {kind} recorded"
            return None
        return value_of(event, ctx, sink)
    return from_latest


def _event_latest(node: c.EventLatest) -> Fn:
    text, kind, field = str(node), node.event, node.field

    def latest(event: Any, ctx: Any, sink: Trace | None) -> object:
        value = event.date if field == "date" else c._number(event.get(field))
        if value is None:
            return _missing(sink, None, text, f"the latest {kind} ({c._show_date(event.date)}) has no {field}")
        if sink is not None:
            sink.text = f"{text} = {c._show(value)} ({kind} on {c._show_date(event.date)})"
        return value
    return _from_latest(node, latest)


def _time_since(node: c.TimeSince) -> Fn:
    text = str(node)

    def since(event: Any, ctx: Any, sink: Trace | None) -> object:
        elapsed = c.Duration(Fraction((ctx.as_of - event.date).days), "days", since=event.date)
        if sink is not None:
            sink.text = f"{text} = {elapsed} (since {c._show_date(event.date)})"
        return elapsed
    return _from_latest(node, since)


def _school_days_since(node: c.SchoolDaysSince) -> Fn:
    text = str(node)

    def since(event: Any, ctx: Any, sink: Trace | None) -> object:
        count = Fraction(count_school_days(event.date, ctx.as_of, ctx.pupil.register.days))
        if sink is not None:
            sink.text = f"{text} = {c._show(count, 'school_days')} (school days after {c._show_date(event.date)})"
        return count
    return _from_latest(node, since)


_BUILDERS: dict[type, Callable[[Any], Fn]] = {
    c.Literal: _literal, c.Today: _today, c.NameRef: _name, c.LibraryMeasure: _library,
    c.Compare: _compare_node, c.InCheck: _in_check, c.Arith: _arith,
    c.And: lambda node: _and([_truth(item) for item in node.items]),
    c.Or: lambda node: _or([_truth(item) for item in node.items]),
    c.Not: lambda node: _truth(node),
    c.EventAny: _event_any, c.EventCount: _event_count, c.EventLatest: _event_latest,
    c.TimeSince: _time_since, c.SchoolDaysSince: _school_days_since,
}
