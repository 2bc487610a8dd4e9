"""Why not: what would have to change for a condition to hold, read from the condition's logic.

A condition is a tree of ``and``, ``or`` and ``not`` over tests (comparisons, yes/no
values, event queries). What stands in the way is found by walking that tree with the
value each part must take, pushing ``not`` inwards (De Morgan):

- ``A and B`` must hold: every conjunct that fails is needed;
- ``A or B`` must hold: nothing is needed when one alternative holds, else one of the
  alternatives, closest first;
- ``not X`` must hold: X must stop holding, shown with the values that make it hold.

Each test is evaluated by the same compiled closures that decide the rule
(``evaluator.evaluate``), so a test listed as unmet is unmet by the engine's own reading.
``Need.minimal`` picks the closest alternative of every choice: changing exactly those
tests makes the condition hold (when no test is named twice in the condition).

``why_not`` asks it of every rule that can recommend an action: a ``RuleCheck`` per rule
says whether it was in force, met, held back or already done, and what it still needs.
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from typing import Any, Iterable, Iterator, Literal

import attrs

from ..exceptions import UnknownNameError
from ..jsonform import JsonRecord, entry
from ..registers.history import Pupil, School
from ..rules import nodes, runtime, values
from ..rules.compiler import CompiledRule
from ..rules.evaluator import evaluate
from ..rules.values import NEGATED
from .context import PupilContext
from .forward import RULE_FAILURES, Engine
from .results import CitationView, PupilEvaluation, ValueView

__all__ = ["CheckStatus", "Need", "RuleCheck", "needs", "unmet_lines", "why_not"]

# A rule's status for an action: shown by `explain --why-not` and compared by `diff`.
CheckStatus = Literal["not in force", "not met", "held back", "already done", "recommended"]


@attrs.frozen(kw_only=True)
class Need(JsonRecord):
    """What a condition needs: one test (``kind`` "test"), every item ("all") or one item ("any").

    A test says what is required of it (``test`` — written ``not …`` when a test that holds
    must stop holding), the actual value, the value required, why a value is missing
    (``undefined``) and, where both sides are numbers, how far apart they are (``gap``).
    """

    kind: Literal["test", "all", "any"] = attrs.field(metadata=entry(omit="always"))
    test: str = ""
    actual: str = ""
    required: str = ""
    undefined: tuple[str, ...] = attrs.field(default=(), metadata=entry(omit="if empty"))
    gap: Fraction | None = attrs.field(default=None, metadata=entry(form=str, omit="if none"))
    items: tuple["Need", ...] = attrs.field(default=(), metadata=entry(omit="if empty"))
    # a test that holds and must stop holding
    negated: bool = attrs.field(default=False, metadata=entry(omit="always"))
    # the test's syntax tree
    node: nodes.Node | None = attrs.field(
        default=None, eq=False, repr=False, metadata=entry(omit="always")
    )

    def minimal(self) -> tuple["Need", ...]:
        """The tests to change: every item of "all", the first (closest) item of "any"."""
        if self.kind == "test":
            return (self,)
        if self.kind == "any":
            return self.items[0].minimal()
        return tuple(t for item in self.items for t in item.minimal())

    def tests(self) -> Iterator["Need"]:
        """Every test named, in every alternative."""
        if self.kind == "test":
            yield self
        for item in self.items:
            yield from item.tests()

    def view(self) -> ValueView:
        """A test as the ``ValueView`` that ``RuleCheck.unmet`` lists (it does not hold)."""
        return ValueView(test=self.test, actual=self.actual, required=self.required, holds=False)

    def lines(self, indent: str = "") -> list[str]:
        """Plain-English lines: ``needs TEST: actual …; required …``, alternatives indented."""
        if self.kind == "test":
            line = f"{indent}needs {self.test}: actual {self.actual}; required {self.required}"
            return [line] + [f"{indent}  ({u})" for u in self.undefined]
        if self.kind == "all":
            return [line for item in self.items for line in item.lines(indent)]
        head = [f"{indent}needs one of (closest first):"]
        return head + [line for item in self.items for line in item._option_lines(indent + "  ")]

    def _option_lines(self, indent: str) -> list[str]:
        """This need as one alternative of a choice: ``- TEST: …`` or ``- all of:`` and its
        lines."""
        if self.kind == "test":
            first, *rest = self.lines(indent + "  ")
            return [indent + "- " + first.strip().removeprefix("needs ")] + rest
        title = "all of:" if self.kind == "all" else "one of:"
        return [f"{indent}- {title}"] + [
            line for item in self.items for line in item._option_lines(indent + "  ")
        ]

    def json_entries(self, entries: dict[str, Any]) -> dict[str, Any]:
        """A test's fields, or ``{"all"|"any": [...]}``."""
        return entries if self.kind == "test" else {self.kind: entries.get("items", [])}


def needs(node: nodes.Node, ctx: Any, want: bool = True) -> Need | None:
    """What must change for the resolved condition ``node`` to be ``want`` for ``ctx``
    (None when it already is)."""
    if isinstance(node, nodes.Not):
        return needs(node.item, ctx, not want)
    if isinstance(node, (nodes.And, nodes.Or)):
        return _group(node, ctx, want)
    return _test(node, ctx, want)


def _group(node: nodes.And | nodes.Or, ctx: Any, want: bool) -> Need | None:
    """``and`` that must hold / ``or`` that must fail need every item; the other two, one."""
    # Every item is walked (no short cut), since an "any" ranks all of its alternatives.
    parts = [needs(item, ctx, want) for item in node.items]
    missing = [p for p in parts if p is not None]
    # De Morgan: an `and` that must hold and an `or` that must fail both need every item to be as
    # wanted; the other two cases need just one.
    if isinstance(node, nodes.And) == want:
        return _joined("all", missing) if missing else None
    # Listing the failing alternatives here would suggest changes the condition does not need.
    if len(missing) < len(parts):  # one item is already as wanted
        return None
    return _joined("any", sorted(missing, key=_closeness))


def _joined(kind: Literal["all", "any"], items: list[Need]) -> Need:
    """One need, or a group of them (a group of one is its item; "all" inside "all" is
    flattened)."""
    if len(items) == 1:
        return items[0]
    flat = [t for item in items for t in (item.items if item.kind == kind else (item,))]
    return Need(kind=kind, items=tuple(flat))


def _closeness(need: Need) -> tuple:
    """Fewest tests to change first, then the smallest relative gap, then the text (stable)."""
    tests = need.minimal()
    gaps = [t.gap for t in tests if t.gap is not None]
    return (
        len(tests),
        # A test with a missing value (a rate with no possible sessions) cannot be met by a small
        # change, so it sorts after any alternative that only needs numbers to move.
        sum(t.undefined != () for t in tests),
        sum(gaps, Fraction(0)),
        tuple(t.test for t in tests),
    )


def _test(node: nodes.Node, ctx: Any, want: bool) -> Need | None:
    """One test: None when its value is already ``want``, else what it needs."""
    outcome = evaluate(node, ctx, True)
    if (outcome.value is True) == want:
        return None
    steps = [s for s in outcome.comparisons if s.holds != want]
    # One comparison: show it with its own operator and sides. Several (an event query, a test over
    # a yes/no value and a comparison) have no single threshold, so the test is shown whole and
    # required as yes or no.
    if len(outcome.comparisons) == 1 and steps:
        return _step_need(node, steps[0], want, outcome.undefined)
    text = str(node)
    actual = "; ".join(s.left_text for s in steps) or values.show(outcome.value is True)
    return Need(
        kind="test",
        test=text if want else f"not ({text})",
        actual=actual,
        required="yes" if want else "no",
        undefined=outcome.undefined,
        negated=not want,
        node=node,
    )


def _step_need(
    node: nodes.Node, step: runtime.Comparison, want: bool, undefined: tuple[str, ...]
) -> Need:
    """A single comparison or yes/no value that must become ``want``."""
    op = step.op
    if op == "is":
        required = "yes" if want else "no"
    elif op == "in":
        required = ("one of " if want else "not one of ") + step.right_text
    else:
        # A test that holds and must stop holding is shown as the opposite comparison (`not
        # x >= 10` needs `x < 10`), so "required" reads as a target, not a negation to work out.
        op = op if want else NEGATED[op]
        required = f"{values.OPERATOR_WORDS[op]} {step.right_text}"
    test = step.text if want else f"not ({step.text})" if " " in step.text else f"not {step.text}"
    return Need(
        kind="test",
        test=test,
        actual=step.left_text,
        required=required,
        undefined=undefined,
        gap=_gap(node, step),
        negated=not want,
        node=node,
    )


def _gap(node: nodes.Node, step: runtime.Comparison) -> Fraction | None:
    """How far apart the two sides of a numeric comparison are, relative to the required side."""
    left, right = step.left, step.right
    if not isinstance(node, nodes.Compare) or not (
        isinstance(left, Fraction) and isinstance(right, Fraction)
    ):
        return None
    # Relative, so 3 sessions short of 10 and 3 points short of 90% sort sensibly together; the
    # floor of 1 keeps a threshold of 0 (or a tiny one) from dividing by zero or swamping the rest.
    return abs(left - right) / max(abs(right), Fraction(1))


@attrs.frozen(kw_only=True)
class RuleCheck:
    """Why one rule did or did not recommend an action for a pupil on a date."""

    rule: str
    title: str
    status: CheckStatus
    unmet: tuple[ValueView, ...]
    undefined: tuple[str, ...]
    note: str
    source: CitationView
    needs: Need | None = None  # not met: every way to meet it (``unmet`` is the closest one)


def why_not(
    engine: Engine, pupil: Pupil, as_of: dt.date, action: str, school: School = School()
) -> tuple[RuleCheck, ...]:
    """For each rule that can recommend ``action``: whether it did, and what is missing."""
    if action not in engine.ruleset.policy.actions:
        raise UnknownNameError(f"no action {action!r} in policy {engine.ruleset.policy.id!r}")
    evaluation = engine.evaluate_pupil(pupil, as_of, school)
    # A fresh context holding the facts the engine derived: a rule's condition is then read against
    # every fact of every stratum, as the engine read it when the rule's stratum fired.
    ctx = PupilContext(engine.ruleset, pupil, as_of, engine.calendar, school)
    for fact in evaluation.facts:
        ctx.facts[fact.name] = fact
    return tuple(
        _check_rule(engine, rule, ctx, evaluation, action)
        for rule in engine.ruleset.recommenders(action)
    )


def _check_rule(
    engine: Engine, rule: CompiledRule, ctx: PupilContext, evaluation: PupilEvaluation, action: str
) -> RuleCheck:
    cite = engine.citation(rule.rule.cite)
    if not engine.rule_in_force(rule, ctx.as_of):
        span = f"{rule.rule.effective_from or 'the start'} to {rule.rule.effective_to or 'open'}"
        return RuleCheck(
            rule=rule.id,
            title=rule.rule.title,
            status="not in force",
            unmet=(),
            undefined=(),
            note=f"in force {span}",
            source=cite,
        )
    outcome = engine.evaluate_condition(rule, rule.condition.node, ctx)
    if outcome.value is not True:
        need = _needs(engine, rule, ctx)
        tests = need.minimal() if need is not None else ()
        undefined = tuple(dict.fromkeys(u for t in tests for u in t.undefined))
        return RuleCheck(
            rule=rule.id,
            title=rule.rule.title,
            status="not met",
            unmet=tuple(t.view() for t in tests),
            undefined=undefined,
            note="",
            source=cite,
            needs=need,
        )
    # Held back is checked before done, in the engine's order: `Engine._outcomes` drops a held
    # action before looking for the event that would record it done.
    held = [s for s in evaluation.suppressed if s.rule == rule.id and s.action == action]
    if held:
        return RuleCheck(
            rule=rule.id,
            title=rule.rule.title,
            status="held back",
            unmet=(),
            undefined=(),
            note=held[0].reason,
            source=cite,
        )
    done = [d for d in evaluation.done if d.action == action]
    if done:
        return RuleCheck(
            rule=rule.id,
            title=rule.rule.title,
            status="already done",
            unmet=(),
            undefined=(),
            note=f"{done[0].event} on {done[0].date.isoformat()}",
            source=cite,
        )
    return RuleCheck(
        rule=rule.id,
        title=rule.rule.title,
        status="recommended",
        unmet=(),
        undefined=(),
        note="",
        source=cite,
    )


def _needs(engine: Engine, rule: CompiledRule, ctx: PupilContext) -> Need | None:
    """What the rule's condition needs (``needs``), failures located at the rule."""
    try:
        return needs(rule.condition.node, ctx)
    except RULE_FAILURES as error:  # a bug or bad data: say where
        raise engine.rule_failure(rule, ctx, error) from error


def unmet_lines(
    need: Need | None, unmet: Iterable[ValueView], undefined: Iterable[str], indent: str
) -> list[str]:
    """What a rule still needs, as text lines: every way to meet it when known (``need``), else
    its unmet tests and the values it could not read."""
    if need is not None:
        return need.lines(indent)
    lines = [f"{indent}needs {v.test}: actual {v.actual}; required {v.required}" for v in unmet]
    return lines + [f"{indent}{missing}" for missing in undefined]
