"""Whether a conjunction of literals can hold, and the checks of rules that cannot fire.

A conjunction is contradictory when an atom appears with both polarities, when the
bounds on one term leave no value (counts are whole numbers of sessions, days come in
halves, rates lie between 0% and 100%), or a constant is false; ``unsatisfiable`` gives
one ``Conflict`` per alternative of a normal form when none can hold. The rule checks:
a rule whose condition contradicts itself (error) and an ``unless`` that always or never
holds while its rule's condition holds (warning).
"""

from __future__ import annotations

import datetime as dt
import math
from fractions import Fraction
from typing import Any, Sequence

import attrs

from ..exceptions import Location, Problem
from ..rules import values
from ..rules.compiler import CompiledRule
from .check_scope import CheckScope
from .normal_form import Analyser, Lit, Term, TooBig, conjoin, node_start, show_number

__all__ = [
    "Bound",
    "Conflict",
    "check_contradiction",
    "check_unless",
    "closed_value",
    "tighter_high",
    "tighter_low",
    "unsatisfiable",
]


@attrs.frozen
class Conflict:
    """Why a conjunction cannot hold: the literals involved and a sentence."""

    lits: tuple[Lit, ...]
    why: str


# --- contradictions ----------------------------------------------------------------


def _conflict(conj: Sequence[Lit]) -> Conflict | None:
    """Why the conjunction cannot hold, or None when some history may satisfy it."""
    for lit in conj:
        if lit.kind == "const" and not lit.truth:
            return Conflict((lit,), f"{lit.text} is always false")
    atoms: dict[tuple, Lit] = {}
    for lit in conj:
        if lit.kind != "atom":
            continue
        other = atoms.get(lit.key)
        if other is not None and other.truth != lit.truth:
            return Conflict((other, lit), f"{other.text} and {lit.text} cannot both hold")
        # Atoms (event queries, facts, flags) are opaque here: only the same atom asked both ways is
        # a contradiction. Numeric literals are grouped by term below and checked as intervals.
        atoms.setdefault(lit.key, lit)
    found = _event_conflict([lit for lit in conj if lit.kind == "atom" and lit.key[0] == "any"])
    if found:
        return found
    by_term: dict[tuple, list[Lit]] = {}
    for lit in conj:
        if lit.kind in ("num", "set"):
            assert lit.term is not None, "a num or set literal bounds a term"
            by_term.setdefault(lit.term.key, []).append(lit)
    for lits in by_term.values():
        found = _bounds_conflict(lits) if lits[0].kind == "num" else _set_conflict(lits)
        if found:
            return found
    return None


def _event_conflict(lits: list[Lit]) -> Conflict | None:
    """``any E … within W`` (or with a filter) cannot hold with ``not any E``."""
    for pos in lits:
        if not pos.truth:
            continue
        for neg in lits:
            if (
                not neg.truth
                and neg.key[1] == pos.key[1]
                and neg.key[3] == ""
                # `any E` (in any window, with a filter or none) implies `any E` with no window and
                # the same or no filter, so only such a `not any E` conflicts with it; a windowed
                # `not any` may still hold, by the event falling outside that window.
                and neg.key[2] in ("", pos.key[2])
            ):
                return Conflict((pos, neg), f"{pos.text} and {neg.text} cannot both hold")
    return None


@attrs.frozen
class Bound:
    """A bound on a term: its value, whether it is strict, and the literal it comes from."""

    value: Fraction
    strict: bool
    lit: Lit | None  # None: the term's own range


def tighter_low(a: Bound | None, b: Bound) -> bool:
    """True when ``b`` is a tighter lower bound than ``a`` (None: no bound yet)."""
    # At one value a strict bound is the tighter: `> 10` leaves less than `>= 10`.
    return a is None or (b.value, b.strict) > (a.value, a.strict)


def tighter_high(a: Bound | None, b: Bound) -> bool:
    """True when ``b`` is a tighter upper bound than ``a`` (None: no bound yet)."""
    return a is None or (b.value, not b.strict) < (a.value, not a.strict)


def closed_value(bound: Bound, step: Fraction | None, low: bool) -> Fraction:
    """A bound as the nearest allowed value inside it (for terms counted in steps)."""
    if step is None:
        return bound.value
    # Counts move in whole steps (a session, half a day), so `> 9.5 sessions` really means `>= 10`:
    # rounding each bound to the nearest value allowed inside it finds gaps the plain numbers hide.
    units = bound.value / step
    if low:
        n = math.floor(units) + 1 if bound.strict or units != math.floor(units) else int(units)
        return n * step
    n = math.ceil(units) - 1 if bound.strict or units != math.ceil(units) else int(units)
    return n * step


def _pair_text(term: Term, bound: Bound, lit: Lit, low: bool) -> str:
    """``lit`` against a bound, which is another literal or the term's own range."""
    if bound.lit is not None:
        return f"{bound.lit.text} and {lit.text} cannot both hold"
    return (
        f"{lit.text} can never hold: {term.text} is never {'below' if low else 'above'} "
        f"{show_number(bound.value, term)}"
    )


def _bounds_conflict(lits: list[Lit]) -> Conflict | None:
    term = lits[0].term
    assert term is not None
    if not term.always_defined and all(lit.maybe_undefined for lit in lits):
        return None  # every literal holds when the term has no value
    low = Bound(term.low, False, None) if term.low is not None else None
    high = Bound(term.high, False, None) if term.high is not None else None
    equal: Lit | None = None
    unequal: list[Lit] = []
    for lit in lits:
        value, op = lit.value, lit.op
        if op in (">=", ">") and tighter_low(low, bound := Bound(value, op == ">", lit)):
            low = bound
        elif op in ("<=", "<") and tighter_high(high, bound := Bound(value, op == "<", lit)):
            high = bound
        elif op == "==":
            if equal is not None and equal.value != value:
                return Conflict((equal, lit), f"{equal.text} and {lit.text} cannot both hold")
            equal = lit
        elif op == "!=":
            unequal.append(lit)
    if equal is not None:
        return _equal_conflict(term, equal, low, high, unequal)
    if low is None or high is None:
        return None
    return _range_conflict(term, low, high, unequal)


def _equal_conflict(
    term: Term, equal: Lit, low: Bound | None, high: Bound | None, unequal: list[Lit]
) -> Conflict | None:
    """``term == value`` against the tightest bounds, the term's steps and every ``!=``."""
    value = equal.value
    for edge, is_low in ((low, True), (high, False)):
        if edge is None:
            continue
        outside = (
            (value < edge.value or (value == edge.value and edge.strict))
            if is_low
            else (value > edge.value or (value == edge.value and edge.strict))
        )
        if outside:
            return Conflict(
                tuple(x for x in (edge.lit, equal) if x), _pair_text(term, edge, equal, is_low)
            )
    if term.step is not None and value % term.step:
        return Conflict(
            (equal,),
            f"{equal.text} can never hold: {term.text} is counted in steps of "
            f"{values.decimal_text(term.step)}",
        )
    for lit in unequal:
        if lit.value == value:
            return Conflict((equal, lit), f"{equal.text} and {lit.text} cannot both hold")
    return None


def _range_conflict(term: Term, low: Bound, high: Bound, unequal: list[Lit]) -> Conflict | None:
    """No value between the tightest lower and upper bounds (or only one that ``!=`` excludes)."""
    lo, hi = closed_value(low, term.step, True), closed_value(high, term.step, False)
    empty = (
        lo > hi
        if term.step is not None
        else (low.value > high.value or (low.value == high.value and (low.strict or high.strict)))
    )
    if empty:
        parts = [b.lit for b in (low, high) if b.lit is not None]
        if low.lit is None or high.lit is None:
            given, limit, is_low = (
                (high.lit, low, True) if low.lit is None else (low.lit, high, False)
            )
            assert given is not None, "a term's own range is never empty"
            return Conflict(tuple(parts), _pair_text(term, limit, given, is_low))
        return Conflict(tuple(parts), f"{low.lit.text} and {high.lit.text} cannot both hold")
    # One value left: an `!=` naming exactly it empties the range; any other `!=` cannot.
    if lo == hi:
        for lit in unequal:
            if lit.value == lo:
                return Conflict(
                    tuple(x for x in (low.lit, high.lit, lit) if x),
                    f"{term.text} can only be {show_number(lo, term)}, which {lit.text} excludes",
                )
    return None


def _set_conflict(lits: list[Lit]) -> Conflict | None:
    term = lits[0].term
    assert term is not None
    if all(lit.maybe_undefined for lit in lits):
        return None
    allowed = term.values
    used: list[Lit] = []
    for lit in lits:
        if lit.op == "in":
            allowed = lit.value if allowed is None else allowed & lit.value
            used.append(lit)
    excluded = frozenset().union(*(lit.value for lit in lits if lit.op == "out"))
    if allowed is not None and not (allowed - excluded):
        involved = used + [lit for lit in lits if lit.op == "out"]
        texts = " and ".join(lit.text for lit in involved)
        return Conflict(tuple(involved), f"{texts} cannot all hold")
    return None


def unsatisfiable(dnf: list[tuple[Lit, ...]]) -> list[Conflict] | None:
    """One conflict per alternative when none can hold; None when some can."""
    out = []
    for conj in dnf:
        found = _conflict(conj)
        # One alternative that can hold makes the whole condition satisfiable, so stop at the first.
        if found is None:
            return None
        out.append(found)
    return out


def _where(conflicts: list[Conflict], fallback: Location) -> Location:
    """The place to report a contradiction: the last literal of a single conflict."""
    if len(conflicts) == 1 and conflicts[0].lits:
        last = max(
            conflicts[0].lits, key=lambda lit: (lit.node.location.line, lit.node.location.column)
        )
        return node_start(last.node)
    return fallback


def _explain(conflicts: list[Conflict]) -> str:
    if len(conflicts) == 1:
        return conflicts[0].why
    return f"none of its {len(conflicts)} alternatives can hold (the first: {conflicts[0].why})"


# --- the checks --------------------------------------------------------------------


def check_contradiction(scope: CheckScope, rule: CompiledRule, days: list[dt.date]) -> None:
    """A rule whose condition can never hold, from the first of ``days`` it cannot (error)."""
    for i, day in enumerate(days):
        analyser = Analyser(scope.ruleset, day)
        try:
            conflicts = unsatisfiable(analyser.dnf(rule.condition.node))
        # Too many alternatives to expand: check the core (the top-level conjuncts with a single
        # alternative), which every alternative shares. If it cannot hold neither can the condition;
        # a contradiction elsewhere goes unreported, but none is ever reported falsely.
        except TooBig:
            conflicts = unsatisfiable(analyser.core(rule.condition.node))
        if conflicts is None:
            continue
        when = f" from {day} (the parameter values then in force)" if i else ""
        how = "contradicts itself" if any(len(c.lits) > 1 for c in conflicts) else "is always false"
        scope.problems.append(
            Problem(
                f"rule {rule.id!r} can never fire{when}: its condition {how}: {_explain(conflicts)}"
                + scope.in_context(rule),
                _where(conflicts, rule.rule.when.location),
                expected="a condition some attendance history can meet",
            )
        )
        return


def check_unless(scope: CheckScope, rule: CompiledRule, days: list[dt.date]) -> None:
    """Each ``unless`` of the rule that never or always holds while the rule's condition does
    (warning)."""
    for clause in rule.unless:
        for i, day in enumerate(days):
            message = _unless_problem(scope, rule, clause, day)
            if message:
                when = f" from {day} (the parameter values then in force)" if i else ""
                held = ", ".join(clause.actions)
                scope.problems.append(
                    Problem(
                        f"unless of rule {rule.id!r} {message}{when}; it holds back {held}"
                        + scope.in_context(rule),
                        clause.clause.when.location,
                        severity="warning",
                        expected="an unless that holds for some pupils meeting the rule and not "
                        "for others",
                    )
                )
                break


def _unless_problem(scope: CheckScope, rule: CompiledRule, clause: Any, day: dt.date) -> str:
    analyser = Analyser(scope.ruleset, day)
    try:
        when = analyser.dnf(rule.condition.node)
        holds = analyser.dnf(clause.condition.node)
        fails = analyser.dnf(clause.condition.node, positive=False)
        if (found := unsatisfiable(holds)) is not None:
            return f"never holds: {_explain(found)}"
        if (found := unsatisfiable(fails)) is not None:
            return f"always holds (no history makes it false: {_explain(found)})"
        if unsatisfiable(when) is not None:
            return ""  # the rule itself can never fire: reported as such
        if unsatisfiable(conjoin(when, holds)) is not None:
            return "never holds when the rule's condition does"
        if unsatisfiable(conjoin(when, fails)) is not None:
            return (
                "holds whenever the rule's condition does, so the rule never recommends what "
                "it holds back"
            )
    except TooBig:
        return ""
    return ""
