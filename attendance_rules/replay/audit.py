"""Audit of what was done: a history's case events against the policy in force on each date.

Two questions, per pupil:

* **Was each step the policy's?** For every case event in the audited range, the actions
  it carries out are looked up (below). The pupil is evaluated as of the event's date on
  the history *without that event* (a step cannot justify itself) and, failing that, as
  of the day before (a decision made on the previous day's register). The step is
  supported when the policy recommended one of its actions, or its rule fired and an
  earlier event had already carried it out. Otherwise the finding is
  ``held_back_but_done`` when an ``unless`` clause held the action back (with the
  clause's reason, rule and citation), ``missing_evidence`` when that clause waits on a
  fact derived by checklist rules (one finding per checklist rule that fired, e.g.
  Halton's ``stage3_missing_stage1_letter``), or ``unsupported`` when no rule called for
  it (the rule closest to firing is named with the tests that failed, followed through
  the facts it reads). Checklist rules that fire once the event is recorded (Halton reads
  any referral to the EWS after the School Attendance Meeting as the stage 3 referral)
  are reported as ``missing_evidence`` too, unless the step was supported. A deriver that
  counts events of the step's own kind (``count penalty_notice_issued``) is a limit, not
  a checklist item.
* **Was each step the policy called for taken in time?** Recommendations are found by
  evaluating each pupil at the last school day of every school week, the first school day
  after each holiday (where terms restart) and every event date (``scan="week"``), the first
  day of each new recommendation narrowed down by bisection over the school days in between;
  ``scan="day"`` evaluates every school day (several times slower; the weekly scan misses a
  recommendation that comes and goes within a week, such as one day of unexplained
  absence). A recommendation is identified
  by its action and window and due on its own ``due`` date (``within_school_days``, or
  the end of its window after an event). Actions without a due date are checked only when
  events record them and they are a step rather than a decision (kind letter, contact,
  meeting, plan or review, not worded "consider" or "may" in title or citation): they
  get ``default_due`` of the pupil's school days (20). The finding is ``overdue`` when no
  event carried the action out from the day it was first called for to its due date and
  the policy still called for it on that date (an event in the range while the action was
  still called for is reported as carrying it out late). An action no event records but whose
  window is tied to an event (a review 4-6 weeks after a meeting) is overdue when the
  policy still calls for it on the first school day after the window. Recommendations
  due after the pupil's last register date are counted as pending; those with a due date
  that no event can show done (``first_day_contact``) are counted as unchecked.

Which events carry out an action (``completions.py``): its ``done_by`` event, or the events
the policy itself waits for (``not any EVENT`` in a rule recommending it; such inferred
links never make an event ``unsupported`` on their own). ``audit_findings.py`` holds the
findings, the report and its text form; ``auditor.py`` one pupil's audit state,
``audit_support.py`` and ``audit_due.py`` its two parts.
"""

from __future__ import annotations

import datetime as dt
from typing import Iterable, Mapping, Sequence

import attrs

from ..engine.compiled import CompiledPolicy
from ..engine.provenance import Provenance, select_pupils
from ..registers.history import History, Pupil, School
from .audit_due import DueAudit
from .audit_findings import AuditReport, Finding
from .audit_support import SupportAudit
from .auditor import AuditCounts
from .completions import Completion, completions

__all__ = ["AuditScope", "audit", "audit_pupil", "audit_report", "audit_scope"]

DEFAULT_DUE_SCHOOL_DAYS = 20


class _PupilAuditor(SupportAudit, DueAudit):
    """Audits one pupil: support for each event, then recommendations due in the range."""


def _data_range(pupils: Sequence[Pupil]) -> tuple[dt.date | None, dt.date | None]:
    days = [
        d for p in pupils for d in (p.register.days[:1].tolist() + p.register.days[-1:].tolist())
    ]
    dates = [dt.date.fromordinal(o) for o in days] + [e.date for p in pupils for e in p.events]
    return (min(dates), max(dates)) if dates else (None, None)


@attrs.frozen(kw_only=True)
class AuditScope:
    """What an audit covers besides the pupils: the range, scan, default due time and school."""

    start: dt.date | None
    end: dt.date | None
    scan: str
    default_due: int
    school: School = School()


def audit_scope(
    history: History,
    start: dt.date | None = None,
    end: dt.date | None = None,
    pupils: Sequence[str] | None = None,
    scan: str = "week",
    default_due: int = DEFAULT_DUE_SCHOOL_DAYS,
) -> tuple[list[Pupil], AuditScope]:
    """The pupils audited and the scope (dates default to the first and last of their data)."""
    if scan not in ("week", "day"):
        raise ValueError(f"unknown scan {scan!r}; expected 'week' or 'day'")
    chosen = select_pupils(history, pupils)
    first, last = _data_range(chosen)
    return chosen, AuditScope(
        start=start or first,
        end=end or last,
        scan=scan,
        default_due=default_due,
        school=history.school,
    )


def audit_pupil(
    policy: CompiledPolicy,
    links: Mapping[str, tuple[Completion, ...]],
    pupil: Pupil,
    scope: AuditScope,
) -> tuple[list[Finding], AuditCounts]:
    """One pupil's findings and counts (``links``: ``completions(policy.ruleset)``)."""
    counts = AuditCounts()
    if not (scope.start and scope.end):
        return [], counts
    auditor = _PupilAuditor(
        policy,
        links,
        pupil,
        scope.school,
        scope.start,
        scope.end,
        scope.scan,
        scope.default_due,
        counts,
    )
    auditor.audit_events()
    auditor.audit_due()
    return auditor.findings, counts


def audit_report(
    policy: CompiledPolicy,
    history: History,
    scope: AuditScope,
    pupils: int,
    results: Iterable[tuple[list[Finding], AuditCounts]],
) -> AuditReport:
    """The report from each audited pupil's ``audit_pupil`` result (in pupil order)."""
    counts = AuditCounts()
    findings: list[Finding] = []
    for found, more in results:
        findings += found
        counts.merge(more)
    return AuditReport(
        start=scope.start,
        end=scope.end,
        scan=scope.scan,
        default_due=scope.default_due,
        provenance=Provenance.of(policy.ruleset, history),
        pupils=pupils,
        events=tuple(sorted(counts.events.items())),
        not_linked=tuple(sorted(counts.not_linked.items())),
        unchecked=tuple(sorted(counts.unchecked.items())),
        pending=counts.pending,
        findings=tuple(sorted(findings, key=Finding.sort_key)),
    )


def audit(
    policy: CompiledPolicy,
    history: History,
    start: dt.date | None = None,
    end: dt.date | None = None,
    pupils: Sequence[str] | None = None,
    scan: str = "week",
    default_due: int = DEFAULT_DUE_SCHOOL_DAYS,
) -> AuditReport:
    """Audit the case events of ``history`` (or of the pupils named) from ``start`` to ``end``.

    Dates default to the first and last date of the data. ``scan`` is ``"week"`` (each
    school week's last school day and every event date, new recommendations narrowed to
    the day by bisection) or ``"day"`` (every school day).
    """
    chosen, scope = audit_scope(history, start, end, pupils, scan, default_due)
    links = completions(policy.ruleset)
    return audit_report(
        policy, history, scope, len(chosen), (audit_pupil(policy, links, p, scope) for p in chosen)
    )
