"""Which events carry out which actions, as the audit reads them.

An action is carried out by its ``done_by`` event (``letter_sent`` for
letters; event types with an ``action`` field match on it; ``with`` field values must
match too), as the engine reads it. Actions
without ``done_by`` are also carried out by the events the policy itself waits for: a
rule recommending the action that tests ``not any EVENT [with FIELD == VALUE]`` (a
completion test such as ``not any review_held within since latest
school_attendance_meeting``). Such inferred links mark a step done and let a held-back
step be found, but never make an event ``unsupported`` on their own, because the policy
does not say the event is that step (a referral may be for stage 2 or stage 3).
Notifications, monitoring and rewards are prompts to staff, not steps recorded as events,
and are never linked by inference.
"""

from __future__ import annotations

import attrs

from ..policy.model import ActionKind, DoneBy
from ..registers.history import Event
from ..rules import nodes
from ..rules.compiler import RuleSet

__all__ = ["Completion", "completions"]

_PROMPT_KINDS: frozenset[ActionKind] = frozenset({"notification", "monitoring", "reward"})


@attrs.frozen(kw_only=True)
class Completion:
    """An event that carries out an action: declared (``done_by``) or the policy's completion
    test."""

    action: str
    event: str
    declared: bool
    where: nodes.EventFilter | None = None
    rule: str = ""  # the rule whose ``not any EVENT`` test this is ("" when declared)
    done_by: DoneBy | None = None  # the declared completion, when declared

    def matches(self, event: Event) -> bool:
        """True when ``event`` carries out the action."""
        # Two tests on purpose: a declared ``done_by`` wants field values (``action`` implied),
        # an inferred completion is the rule's own ``with`` filter (which may compare dates).
        if self.done_by is not None:
            return self.done_by.matches(event, self.action)
        return event.type == self.event and (self.where is None or self.where.matches(event))


def _negated_event_tests(node: nodes.Node) -> list[nodes.EventAny]:
    """``any EVENT …`` queries under an odd number of ``not``s: what the rule waits for."""
    found, stack = [], [(node, False)]
    while stack:
        current, negated = stack.pop()
        if isinstance(current, nodes.EventAny) and negated:
            found.append(current)
        stack.extend(
            (child, negated ^ isinstance(current, nodes.Not)) for child in current.children()
        )
    return found


def completions(ruleset: RuleSet) -> dict[str, tuple[Completion, ...]]:
    """For each action of the compiled policy, the events that carry it out (see the module doc)."""
    out: dict[str, list[Completion]] = {}
    actions = ruleset.policy.actions
    for action in actions.values():
        done_by = action.completion
        if done_by is not None:
            out.setdefault(action.id, []).append(
                Completion(action=action.id, event=done_by.event, declared=True, done_by=done_by)
            )
    for rule in ruleset.rules:
        tests = _negated_event_tests(rule.condition.node)
        for action_id in rule.rule.recommend:
            action = actions[action_id]
            if action.completion is not None or action.kind in _PROMPT_KINDS:
                continue
            for test in tests:
                item = Completion(
                    action=action_id,
                    event=test.event,
                    declared=False,
                    where=test.where,
                    rule=rule.id,
                )
                if not any(
                    c.event == item.event and c.where == item.where for c in out.get(action_id, ())
                ):
                    out.setdefault(action_id, []).append(item)
    return {k: tuple(v) for k, v in sorted(out.items())}
