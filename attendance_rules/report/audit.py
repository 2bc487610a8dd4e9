"""The audit as a page (``report audit``): what was done against the policy in force, for an
auditor.

The findings of an ``audit.AuditReport``, grouped by kind (each kind explained in plain
words), pupil by pupil within a kind in the report's own order (pupil, date, action);
counts per kind and per action; each finding with its dates, the event, the values the
policy's tests read and its citation, as text and as links into the policy handbook (the
rule and the action). What was audited (policy files, history digest, range, scan) heads
the page. Deterministic and printable: no chart, one finding never split across pages.
"""

from __future__ import annotations

from typing import Any

from .. import __version__
from ..engine.compiled import CompiledPolicy
from ..replay.audit_findings import KINDS, AuditReport, Finding
from .html import handbook_link, render

__all__ = ["KIND_TITLES", "audit_html", "kind_explanation"]

# Headings of each kind of finding, in the order the page shows them (``audit.KINDS``).
KIND_TITLES = {
    "unsupported": "Steps the policy did not call for",
    "held_back_but_done": "Steps taken although the policy held them back",
    "overdue": "Steps called for and not recorded in time",
    "missing_evidence": "Steps taken without the earlier steps the policy expects",
}


def kind_explanation(kind: str, default_due: int) -> str:
    """What a kind of finding means, in plain words (``default_due``: the school days the audit
    allows a step for which the policy sets no due date)."""
    return {
        "unsupported": (
            "A step was recorded (a letter, a meeting, a referral …) that no rule of the policy "
            "in force called for on that day or the day before. The rule that came closest is "
            "named, with the tests it failed."
        ),
        "held_back_but_done": (
            "A rule called for the step, but one of its \u201cunless\u201d clauses held it back "
            "on that day; the clause's reason is quoted. The step was taken anyway."
        ),
        "overdue": (
            "The policy called for a step and no event records it done by its due date, while the "
            "policy still called for it on that date. Where the policy sets no due date, the audit "
            f"allows {default_due} of the pupil's school days."
        ),
        "missing_evidence": (
            "A step was taken, but a checklist rule of the policy found an earlier step it depends "
            "on missing from the record (for example a stage 1 letter before a stage 3 referral)."
        ),
    }[kind]


def _finding(
    finding: Finding,
    number: int,
    handbook: str,
    rule_titles: dict[str, str],
    action_titles: dict[str, str],
) -> dict[str, Any]:
    """One finding as the template shows it."""
    return {
        "number": number,
        "f": finding,
        "action_title": action_titles.get(finding.action, ""),
        "action_link": handbook_link(handbook, "action", finding.action)
        if finding.action in action_titles
        else "",
        "rule_title": rule_titles.get(finding.rule, ""),
        "rule_link": handbook_link(handbook, "rule", finding.rule)
        if finding.rule in rule_titles
        else "",
        "source": str(finding.source) if finding.source.document or finding.source.title else "",
    }


def _groups(report: AuditReport, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Findings by kind (every kind, in ``KINDS`` order), then by pupil in report order."""
    groups = []
    for kind in KINDS:
        pupils: dict[str, list[dict[str, Any]]] = {}
        for item in items:
            if item["f"].kind == kind:
                pupils.setdefault(item["f"].pupil_id, []).append(item)
        groups.append(
            {
                "kind": kind,
                "title": KIND_TITLES[kind],
                "explanation": kind_explanation(kind, report.default_due),
                "count": sum(len(v) for v in pupils.values()),
                "pupils": sorted(pupils.items()),
            }
        )
    return groups


def _per_action(
    report: AuditReport, handbook: str, action_titles: dict[str, str]
) -> list[dict[str, Any]]:
    """Findings per action and kind, actions by id."""
    counts: dict[str, dict[str, int]] = {}
    for finding in report.findings:
        row = counts.setdefault(finding.action, dict.fromkeys(KINDS, 0))
        row[finding.kind] += 1
    return [
        {
            "action": action,
            "title": action_titles.get(action, ""),
            "counts": [row[k] for k in KINDS],
            "total": sum(row.values()),
            "link": handbook_link(handbook, "action", action) if action in action_titles else "",
        }
        for action, row in sorted(counts.items())
    ]


def audit_html(report: AuditReport, policy: CompiledPolicy, *, handbook: str) -> str:
    """The audit ``report`` of ``policy`` as one self-contained HTML page; rules and actions
    link to the policy handbook at the address ``handbook`` (``handbook-halton.html``)."""
    effective = policy.ruleset.policy
    rule_titles = {rule.id: rule.title for rule in effective.rules}
    action_titles = {action_id: action.title for action_id, action in effective.actions.items()}
    items = [
        _finding(f, i, handbook, rule_titles, action_titles)
        for i, f in enumerate(report.findings, 1)
    ]
    return render(
        "audit.html.j2",
        library_version=__version__,
        report=report,
        title=effective.leaf.title,
        kinds=KINDS,
        counts=report.counts(),
        groups=_groups(report, items),
        per_action=_per_action(report, handbook, action_titles),
        handbook=handbook,
        unchecked=[
            (a, n, handbook_link(handbook, "action", a) if a in action_titles else "")
            for a, n in report.unchecked
        ],
    )
