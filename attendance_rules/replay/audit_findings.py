"""What an audit reports: findings, the report with what was audited, and its text form.

``Finding`` is one step done that the policy did not call for, or called for and not done
in time (``KINDS``); ``AuditReport`` holds them with the range, counts and provenance and
has a deterministic JSON form; ``render_text`` is the report for people at a terminal
(``report.audit`` renders the same report as HTML). ``audit.py`` finds them.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import attrs

from ..engine.results import CitationView, ValueView
from ..registers.history import Event

__all__ = ["KINDS", "AuditReport", "EventRef", "Finding", "render_text", "value_text"]

KINDS = ("unsupported", "held_back_but_done", "overdue", "missing_evidence")


@attrs.frozen
class EventRef:
    """A case event as shown in a finding: type, date and details (sorted)."""

    type: str
    date: dt.date
    details: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, event: Event) -> "EventRef":
        """From a history event."""
        return cls(
            event.type, event.date, tuple(sorted((k, _text(v)) for k, v in event.details.items()))
        )

    def __str__(self) -> str:
        details = ", ".join(f"{k}={v}" for k, v in self.details)
        return f"{self.type} on {self.date.isoformat()}" + (f" ({details})" if details else "")

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"type": self.type, "date": self.date.isoformat(), "details": dict(self.details)}


@attrs.frozen(kw_only=True)
class Finding:
    """One thing done that the policy did not call for, or called for and not done in time."""

    pupil_id: str
    date: dt.date
    kind: str  # one of KINDS
    action: str
    event: EventRef | None
    rule: str
    message: str
    source: CitationView
    values: tuple[ValueView, ...]
    called_for: dt.date | None = None  # overdue: the first day the policy called for the action
    due: dt.date | None = None  # overdue: the day it was due by

    def sort_key(self) -> tuple:
        """Pupil, date, kind, action, rule, message: a total order for output."""
        return (
            self.pupil_id,
            self.date,
            KINDS.index(self.kind),
            self.action,
            self.rule,
            self.message,
        )

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "pupil_id": self.pupil_id,
            "date": self.date.isoformat(),
            "kind": self.kind,
            "action": self.action,
            "event": self.event.to_json() if self.event else None,
            "rule": self.rule,
            "message": self.message,
            "source": self.source.to_json(),
            "values": [v.to_json() for v in self.values],
            "called_for": self.called_for.isoformat() if self.called_for else None,
            "due": self.due.isoformat() if self.due else None,
        }


@attrs.frozen(kw_only=True)
class AuditReport:
    """The findings of an audit with what was audited (policy, history, range, counts)."""

    start: dt.date | None
    end: dt.date | None
    scan: str
    default_due: int
    policy: dict[str, Any] = attrs.field(hash=False)
    history: dict[str, Any] = attrs.field(hash=False)
    library_version: str
    pupils: int
    events: tuple[tuple[str, int], ...]  # outcome -> number of events in range
    not_linked: tuple[
        tuple[str, int], ...
    ]  # event type -> events no action of the policy is carried out by
    unchecked: tuple[tuple[str, int], ...]  # action -> due recommendations no event can show done
    pending: int  # recommendations due after the end of the data
    findings: tuple[Finding, ...]

    def counts(self) -> dict[str, int]:
        """Findings per kind, every kind listed."""
        return {kind: sum(f.kind == kind for f in self.findings) for kind in KINDS}

    def to_json(self) -> dict[str, Any]:
        """JSON form: keys in a fixed order, lists sorted; byte-identical across runs."""
        return {
            "audit": {
                "from": _iso(self.start),
                "to": _iso(self.end),
                "scan": self.scan,
                "default_due_school_days": self.default_due,
            },
            "library": {"name": "attendance-rules", "version": self.library_version},
            "policy": self.policy,
            "history": self.history,
            "summary": {
                "pupils": self.pupils,
                "events": dict(self.events),
                "findings": self.counts(),
                "events_not_linked": dict(self.not_linked),
                "unchecked_due_actions": dict(self.unchecked),
                "pending": self.pending,
            },
            "findings": [f.to_json() for f in self.findings],
        }

    def dumps(self) -> str:
        """Deterministic JSON text."""
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def value_text(value: ValueView) -> str:
    """A test's actual value and what it requires, as findings show it: ``12 sessions,
    required at least 10``."""
    return value.actual + (f", required {value.required}" if value.required else "")


def render_text(report: AuditReport) -> str:
    """A readable report: what was audited, then the findings pupil by pupil, then notes."""
    policy = report.policy
    lines = [
        f"Audit of {report.pupils} pupil(s) against {policy['id']} {policy['version']}, "
        f"{_iso(report.start) or '-'} to {_iso(report.end) or '-'} "
        f"(history {', '.join(report.history['files']) or '-'}; scan: {report.scan})"
    ]
    events = dict(report.events)
    total = sum(events.values())
    lines.append(
        f"Events in range: {total}"
        + (" (" + ", ".join(f"{n} {k}" for k, n in report.events) + ")" if total else "")
    )
    counts = report.counts()
    lines.append(
        f"Findings: {len(report.findings)}"
        + (
            " (" + ", ".join(f"{n} {k}" for k, n in counts.items() if n) + ")"
            if report.findings
            else ""
        )
    )
    current = None
    for finding in report.findings:
        if finding.pupil_id != current:
            current = finding.pupil_id
            lines += ["", finding.pupil_id]
        lines.append(f"  {finding.date.isoformat()}  {finding.kind:<18} {finding.action}")
        lines.append(f"      {finding.message}")
        for value in finding.values:
            lines.append(f"      - {value_text(value)}")
        cite = str(finding.source)
        lines.append(f"      [{finding.rule + '; ' if finding.rule else ''}{cite}]")
    notes = []
    if report.not_linked:
        notes.append(
            "Events no action of the policy is carried out by (not judged): "
            + ", ".join(f"{k} {n}" for k, n in report.not_linked)
        )
    if report.unchecked:
        notes.append(
            "Due recommendations no event can show done (policy gives no done_by), not checked: "
            + ", ".join(f"{k} {n}" for k, n in report.unchecked)
        )
    if report.pending:
        notes.append(
            f"Recommendations due after the end of the data, not yet judged: {report.pending}"
        )
    if notes:
        lines += [""] + notes
    return "\n".join(lines) + "\n"
