"""Actions no history can reach (warning).

Every rule recommending such an action can never fire, is never in force within the
policy's dates, is always held back by its ``unless``, or recommends the action only
when the action is not in force. A fact no rule can derive is false, which can in turn
stop the rules that read it (found to a fixpoint).
"""

from __future__ import annotations

import datetime as dt
from typing import Sequence

from ..exceptions import Problem
from ..policy.model import Action
from ..rules.compiler import CompiledRule
from ..rules.nodes import Node
from .check_scope import (
    CheckScope,
    action_span,
    intersect_spans,
    leaf_window,
    reference_days,
    rule_window,
    span_text,
)
from .contradictions import unsatisfiable
from .normal_form import Analyser, TooBig, conjoin

__all__ = ["check_unreachable_actions"]


def _rule_can_fire(
    scope: CheckScope,
    rule: CompiledRule,
    window: tuple[dt.date, dt.date],
    dead: frozenset[str],
    extra: Sequence[Node] = (),
) -> bool | None:
    """Whether the rule's condition (with the negations of ``extra``) can hold on some day of
    ``window``."""
    for day in reference_days(scope.ruleset, window, [rule.condition.node, *extra]):
        analyser = Analyser(scope.ruleset, day, concrete=True, dead=dead)
        try:
            dnf = analyser.dnf(rule.condition.node)
            for node in extra:
                dnf = conjoin(dnf, analyser.dnf(node, positive=False))
        except TooBig:
            dnf = analyser.core(rule.condition.node)
        if unsatisfiable(dnf) is None:
            return True
    return False


def _dead_facts(scope: CheckScope) -> frozenset[str]:
    """Facts no rule can derive (found to a fixpoint: a dead fact can kill its readers)."""
    dead: frozenset[str] = frozenset()
    while True:
        live: set[str] = set()
        for rule in scope.ruleset.rules:
            window = rule_window(scope.ruleset, rule)
            if window is not None and rule.derives and _rule_can_fire(scope, rule, window, dead):
                live.update(rule.derives)
        now = frozenset(scope.ruleset.facts - live)
        if now == dead:
            return dead
        dead = now


def check_unreachable_actions(scope: CheckScope) -> None:
    """Each action some rule recommends but none ever can (warning), with every rule's reason."""
    dead = _dead_facts(scope)
    for action_id, action in scope.policy.actions.items():
        rules = scope.ruleset.recommenders(action_id)
        if not rules:
            continue  # the compiler warns about actions no rule recommends
        reasons = []
        for rule in rules:
            reason = _why_not(scope, rule, action, dead)
            if reason is None:
                break
            reasons.append(reason)
        else:
            origin = scope.policy.origins.get(f"action:{action_id}")
            scope.problems.append(
                Problem(
                    f"action {action_id!r} can never be recommended: "
                    + "; ".join(reasons)
                    + scope.in_policy(origin.policy if origin else scope.leaf),
                    action.origin,
                    severity="warning",
                    expected="some rule that can recommend it while it is in force",
                )
            )


def _why_not(
    scope: CheckScope, rule: CompiledRule, action: Action, dead: frozenset[str]
) -> str | None:
    """Why ``rule`` never recommends ``action`` (None: it can)."""
    window = rule_window(scope.ruleset, rule)
    if window is None:
        return (
            f"rule {rule.id!r} is never in force within the policy's dates "
            f"({span_text(leaf_window(scope.ruleset))})"
        )
    both = intersect_spans(window, action_span(action))
    if both is None:
        span = span_text((action.effective_from, action.effective_to))
        return f"rule {rule.id!r} is in force {span_text(window)}, the action only {span}"
    if not _rule_can_fire(scope, rule, both, dead):
        killed = sorted(rule.reads & dead)
        because = f" (no rule can derive {', '.join(killed)})" if killed else ""
        return f"rule {rule.id!r} can never fire{because}"
    holding = [u.condition.node for u in rule.unless if action.id in u.actions]
    if holding and not _rule_can_fire(scope, rule, both, dead, holding):
        return f"rule {rule.id!r} always holds it back (its unless holds whenever the rule fires)"
    return None
