"""What an audit reports: findings, the report with what was audited, and its text form.

``Finding`` is one step done that the policy did not call for, or called for and not done
in time (``KINDS``); ``AuditReport`` holds them with the range, counts and provenance and
has a deterministic JSON form; ``render_text`` is the report for people at a terminal
(``report.audit`` renders the same report as HTML). ``audit.py`` finds them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, get_args

import attrs

from ..engine.provenance import Provenance
from ..engine.results import CitationView, ValueView
from ..jsonform import JsonRecord, entry, insert_after
from ..registers.history import Event

__all__ = [
    "KINDS",
    "AuditReport",
    "EventRef",
    "Finding",
    "FindingKind",
    "render_text",
    "value_text",
]

# what a finding says: done without a rule calling for it, done although held back, not done in
# time, or done but the event lacks what the policy asks it to record
FindingKind = Literal["unsupported", "held_back_but_done", "overdue", "missing_evidence"]
KINDS: tuple[FindingKind, ...] = get_args(FindingKind)
_SUMMARY_TAIL = ("events_not_linked", "unchecked_due_actions", "pending")


@attrs.frozen
class EventRef(JsonRecord):
    """A case event as shown in a finding: type, date and details (sorted)."""

    type: str
    date: dt.date
    details: tuple[tuple[str, str], ...] = attrs.field(default=(), metadata=entry(form=dict))

    @classmethod
    def of(cls, event: Event) -> "EventRef":
        """From a history event."""
        return cls(
            event.type, event.date, tuple(sorted((k, _text(v)) for k, v in event.details.items()))
        )

    def __str__(self) -> str:
        details = ", ".join(f"{k}={v}" for k, v in self.details)
        return f"{self.type} on {self.date.isoformat()}" + (f" ({details})" if details else "")


@attrs.frozen(kw_only=True)
class Finding(JsonRecord):
    """One thing done that the policy did not call for, or called for and not done in time."""

    pupil_id: str
    date: dt.date
    kind: FindingKind
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


@attrs.frozen(kw_only=True)
class AuditReport(JsonRecord):
    """The findings of an audit with what was audited (policy, history, range, counts)."""

    start: dt.date | None = attrs.field(metadata=entry(key="from"))
    end: dt.date | None = attrs.field(metadata=entry(key="to"))
    scan: str
    default_due: int = attrs.field(metadata=entry(key="default_due_school_days"))
    provenance: Provenance = attrs.field(metadata=entry(flatten=True))
    pupils: int
    # outcome -> number of events in range
    events: tuple[tuple[str, int], ...] = attrs.field(metadata=entry(form=dict))
    # event type -> events no action of the policy is carried out by
    not_linked: tuple[tuple[str, int], ...] = attrs.field(
        metadata=entry(key="events_not_linked", form=dict)
    )
    # action -> due recommendations no event can show done
    unchecked: tuple[tuple[str, int], ...] = attrs.field(
        metadata=entry(key="unchecked_due_actions", form=dict)
    )
    pending: int  # recommendations due after the end of the data
    findings: tuple[Finding, ...]

    def counts(self) -> dict[str, int]:
        """Findings per kind, every kind listed."""
        return {kind: sum(f.kind == kind for f in self.findings) for kind in KINDS}

    def json_entries(self, entries: dict[str, Any]) -> dict[str, Any]:
        """The range and settings under ``audit``; the counts (with the findings per kind)
        under ``summary``, after the provenance."""
        audit = {k: entries.pop(k) for k in ("from", "to", "scan", "default_due_school_days")}
        summary = {k: entries.pop(k) for k in ("pupils", "events")} | {"findings": self.counts()}
        summary |= {k: entries.pop(k) for k in _SUMMARY_TAIL}
        return {"audit": audit} | insert_after(entries, "history", {"summary": summary})


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
    policy = report.provenance.policy
    lines = [
        f"Audit of {report.pupils} pupil(s) against {policy['id']} {policy['version']}, "
        f"{_iso(report.start) or '-'} to {_iso(report.end) or '-'} "
        f"(history {', '.join(report.provenance.history['files']) or '-'}; scan: {report.scan})"
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
