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
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Iterator

import attrs

from ..rules import nodes, runtime, values
from .results import ValueView
from ..rules.evaluator import evaluate

__all__ = ["Need", "needs"]

_WORDS = {">=": "at least", ">": "more than", "<=": "at most", "<": "less than", "==": "is", "!=": "is not"}
_NEGATED = {">=": "<", ">": "<=", "<=": ">", "<": ">=", "==": "!=", "!=": "=="}


@attrs.frozen
class Need:
    """What a condition needs: one test (``kind`` "test"), every item ("all") or one item ("any").

    A test says what is required of it (``test`` — written ``not …`` when a test that holds
    must stop holding), the actual value, the value required, why a value is missing
    (``undefined``) and, where both sides are numbers, how far apart they are (``gap``).
    """

    kind: str
    test: str = ""
    actual: str = ""
    required: str = ""
    undefined: tuple[str, ...] = ()
    gap: Fraction | None = None
    items: tuple["Need", ...] = ()
    negated: bool = False  # a test that holds and must stop holding
    node: nodes.Node | None = attrs.field(default=None, eq=False, repr=False)  # the test's syntax tree

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
        return ValueView(self.test, self.actual, self.required, False)

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
        """This need as one alternative of a choice: ``- TEST: …`` or ``- all of:`` and its lines."""
        if self.kind == "test":
            first, *rest = self.lines(indent + "  ")
            return [indent + "- " + first.strip().removeprefix("needs ")] + rest
        title = "all of:" if self.kind == "all" else "one of:"
        return [f"{indent}- {title}"] + [line for item in self.items for line in item._option_lines(indent + "  ")]

    def to_json(self) -> dict[str, Any]:
        """JSON form: a test's fields, or ``{"all"|"any": [...]}``."""
        if self.kind != "test":
            return {self.kind: [item.to_json() for item in self.items]}
        out: dict[str, Any] = {"test": self.test, "actual": self.actual, "required": self.required}
        if self.undefined:
            out["undefined"] = list(self.undefined)
        if self.gap is not None:
            out["gap"] = str(self.gap)
        return out


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
    parts = [needs(item, ctx, want) for item in node.items]
    missing = [p for p in parts if p is not None]
    if isinstance(node, nodes.And) == want:
        return _joined("all", missing) if missing else None
    if len(missing) < len(parts):  # one item is already as wanted
        return None
    return _joined("any", sorted(missing, key=_closeness))


def _joined(kind: str, items: list[Need]) -> Need:
    """One need, or a group of them (a group of one is its item; "all" inside "all" is flattened)."""
    if len(items) == 1:
        return items[0]
    flat = [t for item in items for t in (item.items if item.kind == kind else (item,))]
    return Need(kind, items=tuple(flat))


def _closeness(need: Need) -> tuple:
    """Fewest tests to change first, then the smallest relative gap, then the text (stable)."""
    tests = need.minimal()
    gaps = [t.gap for t in tests if t.gap is not None]
    return (len(tests), sum(t.undefined != () for t in tests), sum(gaps, Fraction(0)), tuple(t.test for t in tests))


def _test(node: nodes.Node, ctx: Any, want: bool) -> Need | None:
    """One test: None when its value is already ``want``, else what it needs."""
    outcome = evaluate(node, ctx, True)
    if (outcome.value is True) == want:
        return None
    steps = [s for s in outcome.comparisons if s.holds != want]
    if len(outcome.comparisons) == 1 and steps:
        return _step_need(node, steps[0], want, outcome.undefined)
    text = str(node)
    actual = "; ".join(s.left_text for s in steps) or values.show(outcome.value is True)
    return Need("test", text if want else f"not ({text})", actual, "yes" if want else "no", outcome.undefined,
                negated=not want, node=node)


def _step_need(node: nodes.Node, step: runtime.Comparison, want: bool, undefined: tuple[str, ...]) -> Need:
    """A single comparison or yes/no value that must become ``want``."""
    op = step.op if want else _NEGATED.get(step.op, step.op)
    if step.op == "is":
        required = "yes" if want else "no"
    elif step.op == "in":
        required = ("one of " if want else "not one of ") + step.right_text
    else:
        required = f"{_WORDS[op]} {step.right_text}"
    test = step.text if want else f"not ({step.text})" if " " in step.text else f"not {step.text}"
    return Need("test", test, step.left_text, required, undefined, _gap(node, step), negated=not want, node=node)


def _gap(node: nodes.Node, step: runtime.Comparison) -> Fraction | None:
    """How far apart the two sides of a numeric comparison are, relative to the required side."""
    left, right = step.left, step.right
    if not isinstance(node, nodes.Compare) or not (isinstance(left, Fraction) and isinstance(right, Fraction)):
        return None
    return abs(left - right) / max(abs(right), Fraction(1))
