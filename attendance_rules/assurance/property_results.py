"""The behaviour properties ``properties.py`` checks, and what checking them finds.

``PROPERTIES`` names each property with its letter in the docs and what it says; a
``Counterexample`` is a history breaking one (the change made, both evaluations, the rules
involved, rendered side by side for people); a ``PropertyResult`` is the outcome for one
property and a ``PropertyReport`` the outcome for a policy.
"""

from __future__ import annotations

import builtins
import datetime as dt
import json
from typing import Any, Mapping

import attrs

from ..engine.results import PupilEvaluation

__all__ = [
    "PROPERTIES",
    "Counterexample",
    "Property",
    "PropertyReport",
    "PropertyResult",
]


@attrs.frozen
class Property:
    """A behaviour property: its name, the letter it has in the docs and what it says."""

    name: str
    letter: str
    says: str


PROPERTIES: tuple[Property, ...] = (
    Property(
        "absence_escalates",
        "a",
        "turning a present mark into an unauthorised absence (O) never lowers the "
        "stage reached or removes an escalation already recommended",
    ),
    Property(
        "presence_never_enforces",
        "b",
        "turning an absence into a present mark never adds an enforcement "
        "action (penalty notice, legal)",
    ),
    Property(
        "clean_record_no_action",
        "c",
        "a pupil with no absences, flags, case events or late marks gets no "
        "support or enforcement action",
    ),
    Property(
        "input_order_irrelevant",
        "d",
        "evaluation does not depend on the order of marks, events and flags in the input",
    ),
)


@attrs.frozen(kw_only=True)
class Counterexample:
    """A history breaking a property: the change made and both evaluations."""

    property: Property
    history: Mapping[str, Any]
    as_of: dt.date
    change: str
    problem: str
    before: PupilEvaluation
    after: PupilEvaluation | None
    rules: tuple[tuple[str, str], ...]  # (rule id, where it is defined)

    def history_json(self) -> str:
        """The history as compact JSON (one line)."""
        return json.dumps(self.history, separators=(",", ":"), ensure_ascii=False)

    def render(self) -> str:
        """The counterexample for people: problem, change, history, evaluations side by side,
        rules."""
        lines = [
            f"  problem: {self.problem}",
            f"  as of {self.as_of.isoformat()}; change: {self.change}",
            "  history (compact JSON, as read by attendance-rules evaluate):",
            "    " + self.history_json(),
        ]
        if self.after is not None:
            lines += ["  evaluations side by side:"] + [
                "    " + row for row in _side_by_side(self.before, self.after)
            ]
        else:
            lines += ["  evaluation:"] + ["    " + row for row in _listing(self.before)]
        if self.rules:
            lines.append("  rules involved:")
            lines += [f"    {rule} ({where})" for rule, where in self.rules]
        return "\n".join(lines)


@attrs.frozen(kw_only=True)
class PropertyResult:
    """The outcome for one property: examples run, a counterexample or none, and whether time ran
    out."""

    property: Property
    examples: int
    counterexample: Counterexample | None = None
    timed_out: bool = False
    shrunk: bool = True

    @builtins.property  # (``property`` in this class body is the field above, for the type checker)
    def holds(self) -> bool:
        """True when no counterexample was found."""
        return self.counterexample is None


@attrs.frozen
class PropertyReport:
    """Every property checked for one policy."""

    policy: str
    seed: int
    results: tuple[PropertyResult, ...]

    @property
    def holds(self) -> bool:
        """True when every property held on every example tried."""
        return all(r.holds for r in self.results)

    def render(self) -> str:
        """A plain-text report: one line per property and the counterexamples."""
        lines = []
        for result in self.results:
            prop, counterexample = result.property, result.counterexample
            head = f"({prop.letter}) {prop.name}: {prop.says}"
            if counterexample is None:  # the result holds
                note = " (time limit reached)" if result.timed_out else ""
                lines.append(f"ok      {head} — {result.examples} examples{note}")
            else:
                note = "" if result.shrunk else " (time ran out while shrinking: not the smallest)"
                lines.append(f"FAILED  {head}{note}")
                lines.append(counterexample.render())
        failed = sum(not r.holds for r in self.results)
        lines.append(
            f"policy {self.policy}: {len(self.results) - failed} of {len(self.results)} "
            f"properties hold (seed {self.seed})"
        )
        return "\n".join(lines) + "\n"


def _listing(evaluation: PupilEvaluation) -> list[str]:
    recs = [f"{r.action} [{r.kind}]" for r in evaluation.recommendations] or ["(none)"]
    facts = [f.name for f in evaluation.facts] or ["(none)"]
    return ["recommendations: " + ", ".join(recs), "facts: " + ", ".join(facts)]


def _side_by_side(before: PupilEvaluation, after: PupilEvaluation) -> list[str]:
    """Recommendations and facts of two evaluations in two columns; changes marked."""

    def column(items_before: list[str], items_after: list[str]) -> list[tuple[str, str]]:
        rows = []
        for item in sorted(set(items_before) | set(items_after)):
            left = item if item in items_before else ""
            right = item if item in items_after else ""
            rows.append((left, right))
        return rows or [("(none)", "(none)")]

    recs_b = [f"{r.action} [{r.kind}]" for r in before.recommendations]
    recs_a = [f"{r.action} [{r.kind}]" for r in after.recommendations]
    held_b = [f"{s.action} (held by {s.rule})" for s in before.suppressed]
    held_a = [f"{s.action} (held by {s.rule})" for s in after.suppressed]
    facts_b, facts_a = [f.name for f in before.facts], [f.name for f in after.facts]
    sections = (
        ("recommendations", column(recs_b, recs_a)),
        ("held back", column(held_b, held_a)),
        ("facts", column(facts_b, facts_a)),
    )
    width = max([len("before")] + [len(left) for _, rows in sections for left, _ in rows])
    out = [f"{'':4}{'before'.ljust(width)} | after"]
    for title, rows in sections:
        if title == "held back" and rows == [("(none)", "(none)")]:
            continue
        out.append(f"{title}:")
        for left, right in rows:
            mark = " " if left == right else "*"
            out.append(f"  {mark} {left.ljust(width)} | {right}")
    return out
