"""The condition language of policy files, and its entry point: ``compile_condition``.

A condition (``when:`` / ``unless:``) goes through the pipeline of this package:
``lexer.py`` (text to located tokens) → ``parser.py`` (tokens to a tree of ``nodes.py``)
→ ``typecheck.py`` (names and types against the policy's ``Scope``) → ``evaluator.py``
(the checked tree compiled once into closures, reading a ``runtime.Context``), with the
values of ``values.py``. Never Python's ``eval``. Every token and node carries the
``Location`` of its first character in the policy file, so every ``ConditionError``
points at the offending word. The grammar is in ``docs/policy-language.md``:

    expr  := or            or  := and ('or' and)*       and := not ('and' not)*
    not   := 'not' not | cmp
    cmp   := sum [ OP sum | 'in' '(' literal (',' literal)* ')' ]
    sum   := atom (('+' | '-') atom)*
    atom  := literal | 'today' | '(' expr ')' | event_query | name_ref

Types (``Type``) are ``bool``, ``number`` (with a unit), ``duration``, ``date`` and
``text``. Units and durations, the choices taken:

- a bare number and a ``count`` match any count-like unit (sessions, days, pounds,
  school weeks, school days) but never percent; sessions and days never match;
- ``N weeks`` and ``N years`` are durations; ``N days`` is a number of days (as
  ``days_absent`` is) that also serves as a duration next to a date or a duration;
  ``N school weeks`` / ``N school days`` are numbers, not calendar time;
- a duration in years is calendar years, never 365 days: ``date + 1 year`` is the same
  day a year later (29 February becomes 28 February), and two durations are compared
  by adding both to one anchor date (the start of a ``time since`` span, else the as-of
  date);
- a fractional number of days added to a date is rounded down to whole days;
- school days after an event: ``time since latest EVENT`` compared with school days
  counts the pupil's school days after the event up to the as-of date, and
  ``date + N school days`` is the N-th school day after the date. A school day is a day
  on which the pupil has a mark (``Register.days``); days after the as-of date are not
  known yet, so weekdays stand in for them, as for due dates (``calendar.py``).

Checked trees are compiled once into closures (``evaluator.py``): a decision stops at the
first ``and``/``or`` operand that decides; an explanation runs the same closures with a
trace sink and evaluates every operand, so the trace (``Outcome``) lists every comparison.
A missing value (an undefined measure, no such event, a missing field) makes any
comparison with it false, ``!=`` included, and its reason is recorded.
"""

from __future__ import annotations

from typing import Callable

import attrs

from ..exceptions import Location
from .evaluator import evaluate
from .lexer import locator
from .nodes import Node
from .parser import parse
from .runtime import Context, Outcome
from .typecheck import Scope, Type, require_yes_no, resolve

__all__ = ["Condition", "compile_condition"]


@attrs.frozen(kw_only=True)
class Condition:
    """A parsed, type-checked condition: its text, resolved tree, type and location."""

    text: str
    node: Node
    type: Type
    location: Location

    def evaluate(self, ctx: Context) -> Outcome:
        """Evaluate against ``ctx`` (see ``evaluator.evaluate``)."""
        return evaluate(self.node, ctx)


def compile_condition(
    text: str, origin: Location, scope: Scope, column_map: Callable[[int], Location] | None = None
) -> Condition:
    """Parse and check a ``when``/``unless`` condition, which must be yes/no."""
    node, kind = resolve(parse(text, origin, column_map), scope)
    require_yes_no(node, kind, "a condition must be yes/no")
    return Condition(text=text, node=node, type=kind, location=locator(text, origin, column_map)(0))
