"""Static checks on a compiled, effective policy: defects no history is needed to find.

``static_problems(ruleset)`` returns located problems (``validate`` reports them after
the compiler's own warnings):

- a rule whose condition contradicts itself (error): conjunctions that bound the same
  measure, count, duration or date from both sides with no value in between
  (``unauthorised_sessions over academic year >= 10 and … < 5``), ``x and not x``, two
  different values of one text field, comparisons that fold to false;
- an ``unless`` that always or never holds while its rule's condition holds (warning);
- a review window ``due: {after, from, to}`` that opens after it closes (error);
- stage thresholds out of order (warning): facts named ``<prefix><number>`` (``stage1``,
  ``stage2``; ``map_col_4``, ``map_col_7`` …) form a family; when two stages' deriving
  rules bound the same measure with constants or parameters, a later stage must not be
  reached at a lower threshold (or, for an upper bound, a higher one) than an earlier;
- gaps or overlaps between consecutive stage bands (warning), where an earlier stage's
  rule bounds the measure from above (``x >= a and x < b``) and the next from below;
- actions no history can reach (warning): every rule recommending them can never fire,
  is never in force within the policy's dates, is always held back by its ``unless``,
  or recommends the action only when the action is not in force.

The analysis of conditions is described in ``normal_form.py``; the checks live by family:
``contradictions.py`` (rules that cannot fire, ``unless`` clauses), ``stage_thresholds.py``,
``reachability.py``; review windows are checked here.
"""

from __future__ import annotations

from ..exceptions import Problem
from ..rules.compiler import RuleSet
from .check_scope import CheckScope, reference_days, rule_window
from .contradictions import check_contradiction, check_unless
from .reachability import check_unreachable_actions
from .stage_thresholds import check_stage_thresholds

__all__ = ["static_problems"]


def static_problems(ruleset: RuleSet) -> list[Problem]:
    """Located problems of a compiled effective policy (see the module docstring)."""
    scope = CheckScope(ruleset)
    for rule in ruleset.rules:
        window = rule_window(ruleset, rule)
        if window is None:
            continue
        days = reference_days(ruleset, window, scope.nodes(rule))
        check_contradiction(scope, rule, days)
        check_unless(scope, rule, days)
    _check_review_windows(scope)
    check_stage_thresholds(scope)
    check_unreachable_actions(scope)
    return scope.problems


def _check_review_windows(scope: CheckScope) -> None:
    """A review window ``due: {after, from, to}`` that opens after it closes (error)."""
    for action_id, action in scope.policy.actions.items():
        due = action.due
        if due is None or not due.after or due.from_days <= due.to_days:
            continue
        origin = scope.policy.origins.get(f"action:{action_id}")
        where = action.origin
        layer = next((p for p in scope.policy.chain if origin and p.id == origin.policy), None)
        if layer is not None:
            where = layer.document.where(("actions", action_id, "due", "from"))
        unit = "school days" if getattr(due, "school_days", False) else "days"
        scope.problems.append(
            Problem(
                f"review window of action {action_id!r} opens {due.from_days} {unit} after the "
                f"latest {due.after} but closes {due.to_days} {unit} after it: its earliest day "
                "is after its latest",
                where,
                found=f"from {due.from_days} {unit}, to {due.to_days} {unit}",
                expected="from no later than to",
                example="due: {after: school_attendance_meeting, from: 4 weeks, to: 6 weeks}",
            )
        )
