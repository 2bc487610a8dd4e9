"""What a static check looks at: the effective policy, and the days each rule is in force.

``CheckScope`` holds the rule set, the problems found so far and how a finding names the
effective policy it depends on. A rule is analysed on the days of its window (within the
policy's dates) on which the parameters it reads take new values (``reference_days``).
"""

from __future__ import annotations

import datetime as dt
from typing import Iterable

from ..exceptions import Problem
from ..policy.model import Action
from ..rules.compiler import CompiledRule, RuleSet
from ..rules.nodes import Node, names_used

__all__ = [
    "CheckScope",
    "action_span",
    "intersect_spans",
    "leaf_window",
    "reference_days",
    "rule_window",
    "span_text",
]

_FAR = dt.date.max


# --- dates -------------------------------------------------------------------------


def leaf_window(ruleset: RuleSet) -> tuple[dt.date, dt.date]:
    """The effective policy's own dates (an open end as ``date.max``)."""
    leaf = ruleset.policy.leaf
    return leaf.effective_from, leaf.effective_to or _FAR


def intersect_spans(
    *spans: tuple[dt.date | None, dt.date | None],
) -> tuple[dt.date, dt.date] | None:
    """The days common to every span (None: an open end), or None when there are none."""
    start = max((s for s, _ in spans if s is not None), default=dt.date.min)
    end = min((e for _, e in spans if e is not None), default=_FAR)
    return (start, end) if start <= end else None


def rule_window(ruleset: RuleSet, rule: CompiledRule) -> tuple[dt.date, dt.date] | None:
    """The days within the policy's dates on which the rule (and its layer) is in force."""
    layer = next((p for p in ruleset.policy.chain if p.id == rule.rule.policy), None)
    spans = [leaf_window(ruleset), (rule.rule.effective_from, rule.rule.effective_to)]
    if layer is not None:
        spans.append((layer.effective_from, layer.effective_to))
    return intersect_spans(*spans)


def action_span(action: Action) -> tuple[dt.date | None, dt.date | None]:
    """The dates an action is in force (None: an open end)."""
    return action.effective_from, action.effective_to


def reference_days(
    ruleset: RuleSet, window: tuple[dt.date, dt.date], nodes: Iterable[Node]
) -> list[dt.date]:
    """The first day of ``window`` and each later day in it on which a parameter used changes."""
    days = {window[0]}
    for node in nodes:
        for name in names_used(node).get("parameter", set()):
            for dated in ruleset.policy.parameters[name].values:
                if dated.start is not None and window[0] < dated.start <= window[1]:
                    days.add(dated.start)
    return sorted(days)


def span_text(window: tuple[dt.date | None, dt.date | None]) -> str:
    """A span for people: ``from A to B``, ``from A``, ``until B`` or ``always``."""
    start, end = (None if d in (None, dt.date.min, _FAR) else d for d in window)
    if start and end:
        return f"from {start} to {end}"
    return f"from {start}" if start else f"until {end}" if end else "always"


# --- the policy under check ------------------------------------------------------


class CheckScope:
    """The effective policy under check and the problems found in it so far."""

    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        self.policy = ruleset.policy
        self.problems: list[Problem] = []
        self.leaf = self.policy.leaf.id

    def in_policy(self, origin_policy: str) -> str:
        """`` (in the effective policy 'x')`` when an entry comes from a parent."""
        return "" if origin_policy == self.leaf else f" (in the effective policy {self.leaf!r})"

    def in_context(self, *rules: CompiledRule) -> str:
        """The effective policy's name when the finding depends on more than the rules' own file.

        That is when the rules come from different files, or use a parameter another file
        overrides; otherwise validating the parent alone reports the same problem, and
        validating parent and child together reports it once.
        """
        layers = {rule.rule.policy for rule in rules}
        for rule in rules:
            for node in self.nodes(rule):
                for name in names_used(node).get("parameter", set()):
                    origin = self.policy.origins.get(f"parameter:{name}")
                    if origin is not None and origin.replaced:
                        layers.add(origin.policy)
        return "" if len(layers) == 1 else self.in_policy("")

    def nodes(self, rule: CompiledRule) -> list[Node]:
        """The rule's condition and those of its ``unless`` clauses."""
        return [rule.condition.node] + [u.condition.node for u in rule.unless]
