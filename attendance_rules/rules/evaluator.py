"""Compiled conditions: each checked condition tree becomes nested Python closures, once.

A closure takes ``(ctx, sink)``. With ``sink`` None it only decides: ``and``/``or``
short-circuit, measures are read as integer pairs (``MeasureFrame.pair``) and a rate is
compared with a threshold by cross-multiplication (``absent * 10 >= possible * 1``), so
exactly 90.0% attendance stays persistent absence and no ``Fraction`` is built. With a
``Trace`` sink the *same* closures also record every comparison with the values and
sentences an explanation shows, evaluating every operand so that every test is listed.
The truth of every step comes from the same code in both modes (``values.holds_numeric``,
``values.compare_at``), so a decision and its explanation cannot disagree.

This module holds the logic (and/or/not, comparisons, arithmetic) and the entry points;
the closures reading values (names, measures, event queries) are in ``reads.py``.

Closures are built from the resolved syntax tree (``typecheck.resolve``), never from
policy text: nothing is passed to ``eval`` or ``exec``.
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from typing import Any, Callable

from ..exceptions import EvaluationError, Problem
from ..registers.calendar import nth_school_day_after
from ..registers.measures import as_pair
from .lexer import ComparisonOp
from .nodes import (
    And,
    Arith,
    Compare,
    EventAny,
    InCheck,
    LibraryMeasure,
    Literal,
    NameRef,
    Node,
    Not,
    Or,
    walk,
)
from .reads import READERS, Fn
from .runtime import Comparison, Outcome, ProtocolContext, Trace, TraceOp
from .values import (
    MIRRORED,
    Duration,
    compare,
    compare_at,
    holds_numeric,
    show,
)

__all__ = [
    "bound_spec",
    "compile_node",
    "evaluate",
    "is_constant",
    "measure_keys",
    "replay_safe",
]

_LOGIC = (And, Or, Not, Compare, InCheck)


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

# Keyed by id(): nodes are frozen and compare by value, so hashing a tree walks all of it on every
# lookup, and equal trees at different places must keep their own locations. Module-wide so that the
# engine, why-not and replays share one compilation; cleared when full, to bound a long process that
# compiles many policies (a test run, a long-lived service).
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
    # The closures read measures as integer pairs (`measure_pair`); any other `runtime.Context` (a
    # test's, a caller's own) is adapted once here rather than every closure testing which it got.
    ctx = ctx if hasattr(ctx, "measure_pair") else ProtocolContext(ctx)
    if not trace:
        return Outcome(value=fn(ctx, None))
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
    # Only the largest atom is logged: its parts are decided inside it, and a replay compares what
    # the day's decisions read, which is the atom's truth and nothing finer.
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
    # Constants never change within a replay, so logging them would only cost; a sub-condition
    # reading a fact is no atom because the fact comes from other rules, whose own atoms are logged.
    return not is_constant(node) and not _reads_fact(node)


def replay_safe(node: Node) -> bool:
    """Whether every value the tree reads apart from facts and constants is inside a logged atom
    (so that equal atom values on two days mean equal decisions)."""
    if _is_atom(node) or is_constant(node) or (isinstance(node, NameRef) and node.kind == "fact"):
        return True
    if isinstance(node, (And, Or, Not)):
        return all(replay_safe(child) for child in node.children())
    # A comparison mixing a fact with something else would read a value no atom logs, so the rule is
    # not replay safe and a replay decides its days afresh.
    leaves = (n for n in walk(node) if not n.children())
    return all(is_constant(n) or (isinstance(n, NameRef) and n.kind == "fact") for n in leaves)


def _logged(fn: Fn, node: Node) -> Fn:
    """An atom: ``fn``, noting (itself, its value) in ``ctx.log`` when a replay keeps one."""

    def atom(ctx: Any, sink: Trace | None) -> bool:
        value = fn(ctx, sink)
        # Untraced only: a traced evaluation explains a day already decided and must not add to the
        # log a replay compares.
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
        return right, MIRRORED[node.op], _value(node.left)
    return None


def _yes_no_truth(node: NameRef) -> Fn:
    """A flag or fact as an operand: one lookup when deciding."""
    value, text, name = _value(node), str(node), node.name

    def flag(ctx: Any, sink: Trace | None) -> bool:
        # Deciding: one lookup, no text built. Traced: the value is described for the
        # explanation.
        if sink is None:
            return bool(ctx.flag(name))
        return _record_is(sink, node, text, value(ctx, sink))

    def fact(ctx: Any, sink: Trace | None) -> bool:
        if sink is None:
            return bool(ctx.fact(name))
        return _record_is(sink, node, text, value(ctx, sink))

    return flag if node.kind == "flag" else fact


def _record_is(sink: Trace, node: Node, text: str, value: object) -> bool:
    return _record(sink, node, text, "is", (value, True), (sink.text, "yes"), value is True)


def _record(
    sink: Trace,
    node: Node,
    text: str,
    op: TraceOp,
    sides: tuple[object, object],
    texts: tuple[str, str],
    holds: bool,
) -> bool:
    """Note one step of a traced evaluation (both sides with their texts); returns ``holds``."""
    sink.comparisons.append(
        Comparison(
            location=node.location,
            text=text,
            op=op,
            left=sides[0],
            right=sides[1],
            left_text=texts[0],
            right_text=texts[1],
            holds=holds,
        )
    )
    return holds


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


# --- comparisons ---------------------------------------------------------------------


def _compare_node(node: Compare) -> Fn:
    left_key, right_key = _measure_key(node.left), _measure_key(node.right)
    if left_key is not None and right_key is None:
        return _measure_compare(
            node, node.op, left_key, _value(node.left), _value(node.right), False
        )
    if right_key is not None and left_key is None:
        return _measure_compare(
            node, MIRRORED[node.op], right_key, _value(node.right), _value(node.left), True
        )
    return _general_compare(node)


def _measure_compare(
    node: Compare, op: ComparisonOp, key: tuple, measure: Fn, other: Fn, flipped: bool
) -> Fn:
    """``measure OP other`` (``op`` already flipped when the measure is written on the right)."""
    text, written = str(node), node.op

    def compare(ctx: Any, sink: Trace | None) -> bool:
        if sink is None:
            # Deciding reads only the integer pair; traced, the full values are read for the text,
            # but the truth still comes from `holds_numeric`, so the decision and its explanation
            # cannot differ.
            return holds_numeric(op, ctx.measure_pair(key), other(ctx, None), ctx.as_of)
        left = (other if flipped else measure)(ctx, sink)
        left_text = sink.text
        right = (measure if flipped else other)(ctx, sink)
        value, threshold = (right, left) if flipped else (left, right)
        holds = holds_numeric(op, as_pair(value), threshold, ctx.as_of)
        return _record(sink, node, text, written, (left, right), (left_text, sink.text), holds)

    return compare


def _general_compare(node: Compare) -> Fn:
    left_fn, right_fn, op, text = _value(node.left), _value(node.right), node.op, str(node)

    def compare(ctx: Any, sink: Trace | None) -> bool:
        left = left_fn(ctx, sink)
        left_text = sink.text if sink is not None else ""
        right = right_fn(ctx, sink)
        holds = compare_at(op, left, right, ctx.as_of)
        if sink is not None:
            _record(sink, node, text, op, (left, right), (left_text, sink.text), holds)
        return holds

    return compare


def _in_check(node: InCheck) -> Fn:
    item, text = _value(node.item), str(node)
    options = tuple(option.value for option in node.options)
    listed = "(" + ", ".join(str(option) for option in node.options) + ")"

    def in_check(ctx: Any, sink: Trace | None) -> bool:
        value = item(ctx, sink)
        # A missing value (no such event yet) is in no list, as it meets no comparison.
        holds = value is not None and any(compare("==", value, option) for option in options)
        if sink is not None:
            _record(sink, node, text, "in", (value, options), (sink.text, listed), holds)
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
        # `// 1` only turns the exact Fraction into an int: a fractional number of school days is
        # refused before (a literal by the checker, a parameter by policy.values).
        return nth_school_day_after(left, int(right // 1), ctx.pupil.register.days, ctx.as_of)
    if isinstance(right, Fraction):
        right = Duration(right)
    if not isinstance(left, dt.date) or not isinstance(right, Duration):
        return None
    return right.added_to(left, sign)


_BUILDERS: dict[type, Callable[[Any], Fn]] = {
    **READERS,
    Compare: _compare_node,
    InCheck: _in_check,
    Arith: _arith,
    And: lambda node: _and([_truth(item) for item in node.items]),
    Or: lambda node: _or([_truth(item) for item in node.items]),
    # Through `_truth`, so a `not` over an atom is logged like any other atom.
    Not: lambda node: _truth(node),
}
