"""Compiled conditions: each checked condition tree becomes nested Python closures, once.

A closure takes ``(ctx, sink)``. With ``sink`` None it only decides: ``and``/``or``
short-circuit, measures are read as integer pairs (``MeasureFrame.pair``) and a rate is
compared with a threshold by cross-multiplication (``absent * 10 >= possible * 1``), so
exactly 90.0% attendance stays persistent absence and no ``Fraction`` is built. With a
``Trace`` sink the *same* closures also record every comparison with the values and
sentences an explanation shows, evaluating every operand so that every test is listed.
The truth of every step comes from the same code in both modes (``values.holds_numeric``,
``values.compare_at``), so a decision and its explanation cannot disagree.

Closures are built from the resolved syntax tree (``typecheck.resolve``), never from
policy text: nothing is passed to ``eval`` or ``exec``.
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from typing import Any, Callable

from ..exceptions import EvaluationError, Problem
from ..registers.calendar import count_school_days, nth_school_day_after
from ..registers.measures import as_pair
from .nodes import (
    And,
    Arith,
    Compare,
    EventAny,
    EventCount,
    EventLatest,
    EventSet,
    EventWindow,
    InCheck,
    LibraryMeasure,
    Literal,
    NameRef,
    Node,
    Not,
    Or,
    SchoolDaysSince,
    TimeSince,
    Today,
    walk,
)
from .runtime import Comparison, Outcome, ProtocolContext, Trace
from .values import (
    DURATION_UNITS,
    Duration,
    compare,
    compare_at,
    exact_number,
    holds_numeric,
    show,
    show_date,
)

__all__ = [
    "bound_spec",
    "compile_node",
    "evaluate",
    "is_constant",
    "measure_keys",
    "replay_safe",
]

Fn = Callable[[Any, "Trace | None"], Any]
_LOGIC = (And, Or, Not, Compare, InCheck)
_FLIP = {">=": "<=", "<=": ">=", ">": "<", "<": ">", "==": "==", "!=": "!="}


# --- the measure keys a tree reads ---------------------------------------------------


def _measure_key(node: Node) -> tuple | None:
    if isinstance(node, NameRef) and node.kind == "measure":
        return ("named", node.name)
    if isinstance(node, LibraryMeasure):
        return ("library", node.name, node.window)
    return None


def measure_keys(node: Node) -> tuple[tuple, ...]:
    """The measures a tree reads, in the order a full (traced) evaluation first reads them."""
    keys = (_measure_key(n) for n in walk(node))
    return tuple(dict.fromkeys(k for k in keys if k is not None))


# --- evaluation entry point ----------------------------------------------------------

_CACHE: dict[int, tuple[Node, Fn]] = {}
_CACHE_LIMIT = 50_000


def compile_node(node: Node) -> Fn:
    """The closure deciding a resolved condition tree (built once per tree object)."""
    hit = _CACHE.get(id(node))
    if hit is not None and hit[0] is node:
        return hit[1]
    if len(_CACHE) >= _CACHE_LIMIT:
        _CACHE.clear()
    fn = _top(node)
    _CACHE[id(node)] = (node, fn)  # the node is kept so that its id is not reused
    return fn


def evaluate(node: Node, ctx: Any, trace: bool = True) -> Outcome:
    """Evaluate a resolved tree (see ``typecheck.resolve`` / ``conditions.compile_condition``)
    against a ``runtime.Context``, with a full trace unless ``trace`` is False (then only
    ``value`` is filled in).

    The tree is compiled once into closures (``compile_node``). Traced, every operand is
    evaluated so the trace (``Outcome``) lists every comparison; a yes/no name or event
    query used directly as a condition or an operand of and/or/not is recorded as an "is"
    step, so explanations can say "child_protection_plan: yes". Untraced, ``and``/``or``
    stop at the first operand that decides; the logic is the same.
    """
    fn = compile_node(node)
    ctx = ctx if hasattr(ctx, "measure_pair") else ProtocolContext(ctx)
    if not trace:
        return Outcome(fn(ctx, None))
    sink = Trace()
    return sink.outcome(fn(ctx, sink))


# --- building closures ---------------------------------------------------------------


def _top(node: Node) -> Fn:
    """A condition used as a whole: yes/no values are recorded as an "is" step."""
    if isinstance(node, _LOGIC) or _is_yes_no(node):
        return _truth(node)
    value = _value(node)
    text = str(node)

    def top(ctx: Any, sink: Trace | None) -> object:
        result = value(ctx, sink)
        if isinstance(result, bool):
            return _record_is(sink, node, text, result) if sink is not None else result is True
        return result

    return top


def _truth(node: Node, in_atom: bool = False) -> Fn:
    """A closure giving True/False for an operand of and/or/not.

    A largest sub-condition that reads no derived fact (an *atom*: a comparison, an event
    query, ``any … and …`` of those) notes its value in ``ctx.log`` when one is kept, so a
    replay can tell that nothing a day's decisions read has changed since the day before.
    """
    if not in_atom and _is_atom(node):
        return _logged(_truth(node, True), node)
    if isinstance(node, And):
        return _and([_truth(item, in_atom) for item in node.items])
    if isinstance(node, Or):
        return _or([_truth(item, in_atom) for item in node.items])
    if isinstance(node, Not):
        inner = _truth(node.item, in_atom)
        return lambda ctx, sink: not inner(ctx, sink)
    if isinstance(node, (Compare, InCheck)):
        return _value(node)
    if isinstance(node, NameRef) and node.kind in ("flag", "fact"):
        return _yes_no_truth(node)
    value, text = _value(node), str(node)

    def truth(ctx: Any, sink: Trace | None) -> bool:
        result = value(ctx, sink)
        return _record_is(sink, node, text, result) if sink is not None else result is True

    return truth


def _reads_fact(node: Node) -> bool:
    return any(isinstance(n, NameRef) and n.kind == "fact" for n in walk(node))


def _is_yes_no(node: Node) -> bool:
    """True for resolved names and queries that are yes/no by their kind."""
    if isinstance(node, NameRef):
        return node.kind in ("flag", "fact", "setting") or node.unit == "bool"
    return isinstance(node, EventAny) or (
        isinstance(node, Literal) and isinstance(node.value, bool)
    )


def is_constant(node: Node) -> bool:
    """Literals, flags and school settings: the same on every day of one pupil's replay."""
    return isinstance(node, Literal) or (
        isinstance(node, NameRef) and node.kind in ("flag", "setting")
    )


def _is_atom(node: Node) -> bool:
    return not is_constant(node) and not _reads_fact(node)


def replay_safe(node: Node) -> bool:
    """Whether every value the tree reads apart from facts and constants is inside a logged atom
    (so that equal atom values on two days mean equal decisions)."""
    if _is_atom(node) or is_constant(node) or (isinstance(node, NameRef) and node.kind == "fact"):
        return True
    if isinstance(node, (And, Or, Not)):
        return all(replay_safe(child) for child in node.children())
    leaves = (n for n in walk(node) if not n.children())
    return all(is_constant(n) or (isinstance(n, NameRef) and n.kind == "fact") for n in leaves)


def _logged(fn: Fn, node: Node) -> Fn:
    """An atom: ``fn``, noting (itself, its value) in ``ctx.log`` when a replay keeps one."""

    def atom(ctx: Any, sink: Trace | None) -> bool:
        value = fn(ctx, sink)
        if sink is None and ctx.log is not None:
            ctx.log.append((atom, value))
        return value

    atom.node = node  # type: ignore[attr-defined]  # the atom carries its node (read by stability.py)
    return atom


def bound_spec(node: Node) -> tuple[tuple, str, Fn] | None:
    """For ``measure OP value`` (either way round): the measure's key, OP with the measure on
    the left, and the other side's closure — what a replay needs to bound how many school
    days the comparison must keep its truth (``stability.py``)."""
    if not isinstance(node, Compare):
        return None
    left, right = _measure_key(node.left), _measure_key(node.right)
    if left is not None and right is None:
        return left, node.op, _value(node.right)
    if right is not None and left is None:
        return right, _FLIP[node.op], _value(node.left)
    return None


def _yes_no_truth(node: NameRef) -> Fn:
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


def _record_is(sink: Trace, node: Node, text: str, value: object) -> bool:
    sink.comparisons.append(
        Comparison(node.location, text, "is", value, True, sink.text, "yes", value is True)
    )
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


def _value(node: Node) -> Fn:
    """A closure giving the node's value (and, traced, its description in ``sink.text``)."""
    builder = _BUILDERS.get(type(node))
    if builder is None:
        raise EvaluationError(
            [Problem(f"cannot evaluate {type(node).__name__} {node}", node.location)]
        )
    return builder(node)


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
            sink.text = f"today ({show_date(ctx.as_of)})"
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


def _missing(sink: Trace | None, value: object, what: str, reason: str, unit: str = "") -> object:
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
    duration = unit in DURATION_UNITS

    def parameter(ctx: Any, sink: Trace | None) -> object:
        value = exact_number(ctx.parameter(name))
        if duration and isinstance(value, Fraction):
            value = Duration(value, unit)
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
            return None if pair is None else (pair[0] if pair[1] == 1 else Fraction(*pair))
        found = ctx.measure_object(key)
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


# --- comparisons ---------------------------------------------------------------------


def _compare_node(node: Compare) -> Fn:
    left_key, right_key = _measure_key(node.left), _measure_key(node.right)
    if left_key is not None and right_key is None:
        return _measure_compare(
            node, node.op, left_key, _value(node.left), _value(node.right), False
        )
    if right_key is not None and left_key is None:
        return _measure_compare(
            node, _FLIP[node.op], right_key, _value(node.right), _value(node.left), True
        )
    return _general_compare(node)


def _measure_compare(
    node: Compare, op: str, key: tuple, measure: Fn, other: Fn, flipped: bool
) -> Fn:
    """``measure OP other`` (``op`` already flipped when the measure is written on the right)."""
    text, written = str(node), node.op

    def compare(ctx: Any, sink: Trace | None) -> bool:
        if sink is None:
            return holds_numeric(op, ctx.measure_pair(key), other(ctx, None), ctx.as_of)
        left = (other if flipped else measure)(ctx, sink)
        left_text = sink.text
        right = (measure if flipped else other)(ctx, sink)
        value, threshold = (right, left) if flipped else (left, right)
        holds = holds_numeric(op, as_pair(value), threshold, ctx.as_of)
        sink.comparisons.append(
            Comparison(node.location, text, written, left, right, left_text, sink.text, holds)
        )
        return holds

    return compare


def _general_compare(node: Compare) -> Fn:
    left_fn, right_fn, op, text = _value(node.left), _value(node.right), node.op, str(node)

    def compare(ctx: Any, sink: Trace | None) -> bool:
        left = left_fn(ctx, sink)
        left_text = sink.text if sink is not None else ""
        right = right_fn(ctx, sink)
        holds = compare_at(op, left, right, ctx.as_of)
        if sink is not None:
            sink.comparisons.append(
                Comparison(node.location, text, op, left, right, left_text, sink.text, holds)
            )
        return holds

    return compare


def _in_check(node: InCheck) -> Fn:
    item, text = _value(node.item), str(node)
    options = tuple(option.value for option in node.options)
    listed = "(" + ", ".join(str(option) for option in node.options) + ")"

    def in_check(ctx: Any, sink: Trace | None) -> bool:
        value = item(ctx, sink)
        holds = value is not None and any(compare("==", value, option) for option in options)
        if sink is not None:
            sink.comparisons.append(
                Comparison(node.location, text, "in", value, options, sink.text, listed, holds)
            )
        return holds

    return in_check


def _arith(node: Arith) -> Fn:
    left_fn, right_fn, text, sign = (
        _value(node.left),
        _value(node.right),
        str(node),
        1 if node.op == "+" else -1,
    )

    def arith(ctx: Any, sink: Trace | None) -> object:
        left, right = left_fn(ctx, sink), right_fn(ctx, sink)
        result = _arith_result(node.school_days, sign, left, right, ctx)
        if sink is not None:
            sink.text = f"{text}: not recorded" if result is None else f"{text} = {show(result)}"
        return result

    return arith


def _arith_result(
    school_days: bool, sign: int, left: object, right: object, ctx: Any
) -> dt.date | None:
    if school_days:
        if not isinstance(left, dt.date) or not isinstance(right, Fraction):
            return None
        return nth_school_day_after(left, int(right // 1), ctx.pupil.register.days, ctx.as_of)
    if isinstance(right, Fraction):
        right = Duration(right)
    if not isinstance(left, dt.date) or not isinstance(right, Duration):
        return None
    return right.added_to(left, sign)


# --- event queries -------------------------------------------------------------------


def _matching(node: EventSet, ctx: Any, sink: Trace | None) -> tuple[list, str]:
    """The events a query matches and, traced, a note on its window's dates."""
    as_of = ctx.as_of
    found = [e for e in ctx.events(node.event) if e.date <= as_of]
    if node.where is not None:
        found = [e for e in found if node.where.matches(e)]
    if node.window is None:
        return found, ""
    bounds = (
        node.window.bounds(as_of)
        if isinstance(node.window, EventWindow)
        else ctx.window_bounds(node.window)
    )
    if bounds is None:
        return [], f" (the window {node.window} is empty)" if sink is not None else ""
    start, end = bounds
    if sink is None:
        return [e for e in found if start <= e.date <= end], ""
    span = (
        f"{show_date(start)} to {show_date(end)}"
        if start > dt.date.min
        else f"up to {show_date(end)}"
    )
    return [e for e in found if start <= e.date <= end], f" ({span})"


def _event_any(node: EventAny) -> Fn:
    text = str(node)

    def any_event(ctx: Any, sink: Trace | None) -> bool:
        if sink is None and not ctx.events(node.event):  # most pupils have few events of a type
            return False
        found, span = _matching(node, ctx, sink)
        if sink is not None:
            latest = f" (latest on {show_date(found[-1].date)})" if found else ""
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
    return n, f" ({field} {'not recorded' if key is None else show(key)})"


def _latest_event(event: str, ctx: Any, sink: Trace | None) -> Any:
    """The most recent event of a type up to the as-of date (traced: a reason when there is none)."""
    found = [e for e in ctx.events(event) if e.date <= ctx.as_of]
    if not found and sink is not None:
        sink.undefined.append(f"no {event} recorded")
    return found[-1] if found else None


def _from_latest(
    node: EventLatest | TimeSince | SchoolDaysSince,
    value_of: Callable[[Any, Any, Trace | None], object],
) -> Fn:
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


def _event_latest(node: EventLatest) -> Fn:
    text, kind, field = str(node), node.event, node.field

    def latest(event: Any, ctx: Any, sink: Trace | None) -> object:
        value = event.date if field == "date" else exact_number(event.get(field))
        if value is None:
            return _missing(
                sink, None, text, f"the latest {kind} ({show_date(event.date)}) has no {field}"
            )
        if sink is not None:
            sink.text = f"{text} = {show(value)} ({kind} on {show_date(event.date)})"
        return value

    return _from_latest(node, latest)


def _time_since(node: TimeSince) -> Fn:
    text = str(node)

    def since(event: Any, ctx: Any, sink: Trace | None) -> object:
        elapsed = Duration(Fraction((ctx.as_of - event.date).days), "days", since=event.date)
        if sink is not None:
            sink.text = f"{text} = {elapsed} (since {show_date(event.date)})"
        return elapsed

    return _from_latest(node, since)


def _school_days_since(node: SchoolDaysSince) -> Fn:
    text = str(node)

    def since(event: Any, ctx: Any, sink: Trace | None) -> object:
        count = Fraction(count_school_days(event.date, ctx.as_of, ctx.pupil.register.days))
        if sink is not None:
            sink.text = (
                f"{text} = {show(count, 'school_days')} (school days after {show_date(event.date)})"
            )
        return count

    return _from_latest(node, since)


_BUILDERS: dict[type, Callable[[Any], Fn]] = {
    Literal: _literal,
    Today: _today,
    NameRef: _name,
    LibraryMeasure: _library,
    Compare: _compare_node,
    InCheck: _in_check,
    Arith: _arith,
    And: lambda node: _and([_truth(item) for item in node.items]),
    Or: lambda node: _or([_truth(item) for item in node.items]),
    Not: lambda node: _truth(node),
    EventAny: _event_any,
    EventCount: _event_count,
    EventLatest: _event_latest,
    TimeSince: _time_since,
    SchoolDaysSince: _school_days_since,
}
