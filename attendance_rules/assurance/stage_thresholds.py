"""Stage thresholds: facts named ``<prefix><number>`` form a family, reached in order.

``stage1``, ``stage2``; ``map_col_4``, ``map_col_7`` … When two stages' deriving rules
bound the same measure with constants or parameters, a later stage must not be reached
at a lower threshold (or, for an upper bound, a higher one) than an earlier (warning),
and consecutive stage bands must neither leave a gap nor overlap (warning), where an
earlier stage's rule bounds the measure from above (``x >= a and x < b``) and the next
from below.
"""

from __future__ import annotations

import re
from typing import Iterable

from ..exceptions import Location, Problem
from ..rules.compiler import CompiledRule
from ..rules.nodes import And, Compare
from .check_scope import CheckScope, rule_window
from .contradictions import Bound, closed_value, tighter_high, tighter_low
from .normal_form import Analyser, Term, node_start

__all__ = ["check_stage_thresholds", "stage_families"]

_STAGE_RE = re.compile(r"^(?P<prefix>[a-z_]*[a-z_])(?P<n>\d+)$")


def stage_families(facts: Iterable[str], least: int = 2) -> dict[str, list[tuple[int, str]]]:
    """Facts named ``<prefix><number>`` grouped by prefix, in number order.

    Only families of at least ``least`` different numbers are returned.
    """
    families: dict[str, list[tuple[int, str]]] = {}
    for fact in facts:
        match = _STAGE_RE.match(fact)
        if match:
            families.setdefault(match["prefix"], []).append((int(match["n"]), fact))
    return {p: sorted(m) for p, m in sorted(families.items()) if len({n for n, _ in m}) >= least}


def _stage_bounds(scope: CheckScope, rule: CompiledRule) -> dict[tuple, dict[str, Bound]]:
    """Bounds a stage rule's top-level conjunction puts on terms, per term key and side."""
    window = rule_window(scope.ruleset, rule)
    if window is None:
        return {}
    day = max(scope.policy.leaf.effective_from, window[0])
    analyser = Analyser(scope.ruleset, day)
    node = rule.condition.node
    out: dict[tuple, dict[str, Bound]] = {}
    for item in node.items if isinstance(node, And) else (node,):
        if not isinstance(item, Compare):
            continue
        lit = analyser.compare(item, True)
        if lit.kind != "num":
            continue
        assert lit.term is not None, "a num literal bounds a term"
        sides = {
            ">=": ("low",),
            ">": ("low",),
            "<=": ("high",),
            "<": ("high",),
            "==": ("low", "high"),
        }
        for side in sides.get(lit.op, ()):
            bound = Bound(lit.value, lit.op in (">", "<"), lit)
            bounds = out.setdefault(lit.term.key, {})
            current = bounds.get(side)
            if (tighter_low if side == "low" else tighter_high)(current, bound):
                bounds[side] = bound
    return out


def check_stage_thresholds(scope: CheckScope) -> None:
    """Each pair of consecutive stages of a family whose thresholds are out of order, or whose
    bands leave a gap or overlap (warnings)."""
    for prefix, members in stage_families(scope.ruleset.facts).items():
        stages = []  # (number, fact, rule, bounds)
        for number, fact in members:
            for rule in scope.ruleset.derivers(fact):
                bounds = _stage_bounds(scope, rule)
                if bounds:
                    stages.append((number, fact, rule, bounds))
        keys = {key for *_, bounds in stages for key in bounds}
        for key in sorted(keys, key=str):
            with_key = [(n, f, r, b[key]) for n, f, r, b in stages if key in b]
            numbers = sorted({n for n, *_ in with_key})
            for earlier, later in zip(numbers, numbers[1:]):
                for _, f2, r2, b2 in [s for s in with_key if s[0] == later]:
                    for _, f1, r1, b1 in [s for s in with_key if s[0] == earlier]:
                        if _stage_pair(scope, f1, r1, b1, f2, r2, b2):
                            break


# a stage's fact, a rule deriving it, its bounds
_Stage = tuple[str, CompiledRule, dict[str, Bound]]


def _stage_pair(
    scope: CheckScope,
    f1: str,
    r1: CompiledRule,
    b1: dict[str, Bound],
    f2: str,
    r2: CompiledRule,
    b2: dict[str, Bound],
) -> bool:
    """Report an out-of-order threshold, a gap or an overlap between two stages; True if reported.

    A later stage means worse attendance: for most terms a higher value (its rules
    bound the term from below), for attendance itself a lower one (from above).
    """
    bound = b1.get("low") or b1.get("high") or b2.get("low") or b2.get("high")
    # a stage's bounds are never empty and come from its comparisons, which bound a term
    assert bound is not None and bound.lit is not None and bound.lit.term is not None, (
        "a stage bound has a term"
    )
    term = bound.lit.term
    origin = scope.in_context(r1, r2)
    earlier, later = (f1, r1, b1), (f2, r2, b2)
    return _out_of_order(scope, term, origin, earlier, later) or _gap_or_overlap(
        scope, term, origin, earlier, later
    )


def _sides(term: Term) -> tuple[bool, str, str]:
    """Whether worse attendance raises ``term``; the sides of a band it enters and leaves by."""
    rising = _rising(term)
    return (rising, "low", "high") if rising else (rising, "high", "low")


def _out_of_order(
    scope: CheckScope, term: Term, origin: str, earlier: _Stage, later: _Stage
) -> bool:
    """A later stage reached before an earlier one on the way to worse attendance; True if
    reported."""
    (f1, r1, b1), (f2, r2, b2) = earlier, later
    rising, entry, leave = _sides(term)

    def before(a: Bound, b: Bound) -> bool:  # b is reached before a on the way to worse attendance
        if rising:
            return (b.value, b.strict) < (a.value, a.strict)
        return (b.value, not b.strict) > (a.value, not a.strict)

    for side in (entry, leave):
        if side in b1 and side in b2 and before(b1[side], b2[side]):
            word = "below" if rising else "above"
            scope.problems.append(
                Problem(
                    f"stage thresholds out of order: {f2} (rule {r2.id!r}) needs "
                    f"{_text(b2[side])}, {word} the earlier {f1} (rule {r1.id!r} at "
                    f"{_bound_where(r1, b1[side])}: {_text(b1[side])})" + origin,
                    _bound_where(r2, b2[side]),
                    severity="warning",
                    expected=f"a threshold for {f2} no {'lower' if rising else 'higher'} than "
                    f"{f1}'s",
                )
            )
            return True
    if entry not in b2:
        first = b1.get(entry) or b1[leave]
        scope.problems.append(
            Problem(
                f"stage thresholds out of order: {f2} (rule {r2.id!r}) is reached when "
                f"{_text(b2[leave])}, in the direction of better attendance; the earlier {f1} "
                f"(rule {r1.id!r} at "
                f"{_bound_where(r1, first)}) needs {_text(first)}" + origin,
                _bound_where(r2, b2[leave]),
                severity="warning",
                expected=f"{f2} reached when {term.text} is {'at least' if rising else 'at most'} "
                "a threshold",
            )
        )
        return True
    return False


def _gap_or_overlap(
    scope: CheckScope, term: Term, origin: str, earlier: _Stage, later: _Stage
) -> bool:
    """Values between two consecutive bands that reach neither stage, or both; True if reported."""
    (f1, r1, b1), (f2, r2, b2) = earlier, later
    rising, entry, leave = _sides(term)
    if leave not in b1:
        return False
    top, bottom = (b1[leave], b2[entry]) if rising else (b2[entry], b1[leave])
    step = term.step
    if step is not None:
        hi, lo = closed_value(top, step, False), closed_value(bottom, step, True)
        gap, overlap = lo > hi + step, lo <= hi
    else:
        gap = bottom.value > top.value or (
            bottom.value == top.value and top.strict and bottom.strict
        )
        overlap = bottom.value < top.value or (
            bottom.value == top.value and not top.strict and not bottom.strict
        )
    if not (gap or overlap):
        return False
    kind, what = (
        ("gap", "values between them reach neither stage")
        if gap
        else ("overlap", "values in both bands reach both stages")
    )
    scope.problems.append(
        Problem(
            f"{kind} between consecutive stage bands: {f1} (rule {r1.id!r}) ends where "
            f"{_text(b1[leave])}, {f2} (rule {r2.id!r}) starts where {_text(b2[entry])}; {what}"
            + origin,
            _bound_where(r2, b2[entry]),
            severity="warning",
            expected=f"{f2}'s band to start just where {f1}'s ends",
        )
    )
    return True


_BETTER_WHEN_HIGHER = frozenset(
    (
        "attendance_rate",
        "attended_sessions",
        "present_sessions",
        "approved_activity_sessions",
        "attendance_trend",
    )
)


def _rising(term: Term) -> bool:
    """True when a higher value of ``term`` means worse attendance (a later stage)."""
    return not (term.key[0] == "measure" and term.key[1] in _BETTER_WHEN_HIGHER)


def _text(bound: Bound) -> str:
    return bound.lit.text if bound.lit else "?"


def _bound_where(rule: CompiledRule, bound: Bound) -> Location:
    return node_start(bound.lit.node) if bound.lit else rule.rule.when.location
