"""The state of one pupil's audit, shared by its two parts (``audit_support.py``,
``audit_due.py``): the pupil, range and options, the evaluations already made, the findings so
far (without duplicates), and the counts merged across pupils into the report.
"""

from __future__ import annotations

import datetime as dt
from typing import Mapping

from ..engine.compiled import CompiledPolicy
from ..engine.results import PupilEvaluation
from ..registers.history import Pupil, School
from .audit_findings import Finding
from .completions import Completion

__all__ = ["AuditCounts", "Auditor"]


class AuditCounts:
    """Events by outcome, events not linked, unchecked due actions and pending ones."""

    def __init__(self) -> None:
        self.events: dict[str, int] = {}
        self.not_linked: dict[str, int] = {}
        self.unchecked: dict[str, int] = {}
        self.pending = 0

    def add(self, table: dict[str, int], key: str, n: int = 1) -> None:
        """Count ``n`` more under ``key``."""
        table[key] = table.get(key, 0) + n

    def merge(self, other: "AuditCounts") -> None:
        """Add another pupil's counts to these."""
        for mine, theirs in (
            (self.events, other.events),
            (self.not_linked, other.not_linked),
            (self.unchecked, other.unchecked),
        ):
            for key, n in theirs.items():
                self.add(mine, key, n)
        self.pending += other.pending


class Auditor:
    """Audits one pupil: the state both parts share (``SupportAudit`` and ``DueAudit`` add the
    checks)."""

    def __init__(
        self,
        policy: CompiledPolicy,
        links: Mapping[str, tuple[Completion, ...]],
        pupil: Pupil,
        school: School,
        start: dt.date,
        end: dt.date,
        scan: str,
        default_due: int,
        counts: AuditCounts,
    ) -> None:
        self.policy, self.engine, self.ruleset = policy, policy.engine, policy.ruleset
        self.actions = self.ruleset.policy.actions
        self.links, self.pupil, self.school = links, pupil, school
        self.start, self.end, self.scan, self.default_due, self.counts = (
            start,
            end,
            scan,
            default_due,
            counts,
        )
        self.days = [dt.date.fromordinal(o) for o in pupil.register.days]
        self.horizon = self.days[-1] if self.days else None
        self.cache: dict[dt.date, PupilEvaluation] = {}
        self.rules = {r.id: r for r in self.ruleset.rules}
        self.findings: list[Finding] = []

    def evaluate(self, day: dt.date, pupil: Pupil | None = None) -> PupilEvaluation:
        """The pupil's evaluation as of ``day`` (kept), or that of another version of the pupil
        (``pupil``, not kept)."""
        if pupil is not None:
            return self.engine.evaluate_pupil(pupil, day, self.school)
        if day not in self.cache:
            self.cache[day] = self.engine.evaluate_pupil(self.pupil, day, self.school)
        return self.cache[day]

    def add(self, finding: Finding) -> None:
        """Keep ``finding`` unless one with the same pupil, date, kind, action, rule and event
        is kept."""
        if not any(
            f.sort_key()[:5] == finding.sort_key()[:5] and f.event == finding.event
            for f in self.findings
        ):
            self.findings.append(finding)
