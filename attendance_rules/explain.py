"""Render evaluations for people: tables, Markdown, and plain-English explanations."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Iterable, Sequence

from .engine import RuleCheck
from .evaluation import Evaluation, PupilEvaluation, Recommendation

__all__ = ["explain_pupil", "explain_why_not", "render_evaluation", "write_evaluation"]


def _when(rec: Recommendation) -> str:
    if rec.window:
        return f"review window {rec.window[0].isoformat()} to {rec.window[1].isoformat()}"
    return f"due by {rec.due.isoformat()}" if rec.due else ""


def _at_risk_lines(evaluation: Evaluation) -> list[str]:
    rows = [(p.pupil_id, d) for p in evaluation.pupils for d in (p.at_risk or ())]
    if not rows:
        return []
    lines = ["", "At risk (thresholds that could be met soon, if every session were missed):"]
    return lines + [f"  {pid}: {d.sentence(evaluation.as_of)}" for pid, d in rows]


def _table(evaluation: Evaluation) -> str:
    lines = [f"as of {evaluation.as_of.isoformat()} — policy {evaluation.policy['id']} {evaluation.policy['version']}"]
    for pupil in evaluation.pupils:
        if not (pupil.recommendations or pupil.suppressed):
            continue
        lines.append(f"\n{pupil.pupil_id}")
        for rec in pupil.recommendations:
            lines.append(f"  {rec.action:<34} {rec.kind:<15} {rec.responsible:<26} {_when(rec)}".rstrip())
            for reason in rec.reasons:
                lines.append(f"      because {reason.sentence} [{reason.rule}; {reason.source}]")
        for held in pupil.suppressed:
            lines.append(f"  held back: {held.action} by {held.rule}: {held.reason}")
    lines += _at_risk_lines(evaluation)
    quiet = sum(1 for p in evaluation.pupils if not (p.recommendations or p.suppressed))
    lines.append(f"\n{len(evaluation.pupils)} pupil(s); {quiet} with nothing recommended")
    return "\n".join(lines) + "\n"


def _markdown(evaluation: Evaluation) -> str:
    lines = [f"# Recommendations as of {evaluation.as_of.isoformat()}", "",
             f"Policy `{evaluation.policy['id']}` version {evaluation.policy['version']}.", ""]
    for pupil in evaluation.pupils:
        if not (pupil.recommendations or pupil.suppressed):
            continue
        lines += [f"## {pupil.pupil_id}", ""]
        for rec in pupil.recommendations:
            lines.append(f"- **{rec.title}** (`{rec.action}`, {rec.kind}, {rec.responsible}) {_when(rec)}".rstrip())
            lines += [f"  - {r.sentence} — rule `{r.rule}`, {r.source}" for r in rec.reasons]
        lines += [f"- *Held back:* {h.title} — {h.reason} (rule `{h.rule}`)" for h in pupil.suppressed]
        lines.append("")
    return "\n".join(lines)


def render_evaluation(evaluation: Evaluation, fmt: str = "table") -> str:
    """``table``, ``json``, ``jsonl`` (one pupil per line) or ``markdown``."""
    if fmt == "json":
        return evaluation.dumps()
    if fmt == "jsonl":
        return "".join(map(_jsonl_line, evaluation.pupils))
    if fmt == "markdown":
        return _markdown(evaluation)
    return _table(evaluation)


def write_evaluation(evaluation: Evaluation, fmt: str, out: Any) -> None:
    """``render_evaluation`` written to ``out``; ``jsonl`` a line at a time (a local
    authority's cohort is hundreds of MiB of text, never held whole)."""
    if fmt == "jsonl":
        for pupil in evaluation.pupils:
            out.write(_jsonl_line(pupil))
    else:
        out.write(render_evaluation(evaluation, fmt))


def _jsonl_line(pupil: PupilEvaluation) -> str:
    return json.dumps(pupil.to_json(), ensure_ascii=False) + "\n"


def explain_pupil(pupil: PupilEvaluation, policy_id: str) -> str:
    """The reasoning for one pupil in plain English, with citations."""
    lines = [f"Pupil {pupil.pupil_id}, as of {pupil.as_of.isoformat()}, under policy {policy_id}.", ""]
    lines.append("What the register shows:")
    lines += [f"  - {m.description}" for m in pupil.measures] or ["  - (no measures consulted)"]
    lines += ["", "What follows from it:"]
    lines += [f"  - {f.name}: {f.reason.sentence} (rule {f.rule}; {f.reason.source})" for f in pupil.facts] \
        or ["  - no derived facts"]
    lines += ["", "Recommended:"]
    for rec in pupil.recommendations:
        lines.append(f"  - {rec.title} [{rec.action}], {rec.responsible} {_when(rec)}".rstrip())
        for reason in rec.reasons:
            chain = f" after {' → '.join(reason.chain)}" if reason.chain else ""
            lines.append(f"      because {reason.sentence}")
            lines.append(f"      rule {reason.rule}{chain}; source: {reason.source} — {reason.source.says}")
        if rec.recorded_by is not None:
            lines.append(f"      once done, record: {rec.recorded_by_text()}")
    if not pupil.recommendations:
        lines.append("  - nothing")
    lines += _section("Held back:", [f"{s.title} [{s.action}] by {s.rule}: {s.reason} ({s.source})"
                                     for s in pupil.suppressed])
    lines += _section("Already done:", [f"{d.title} [{d.action}]: {d.event} on {d.date.isoformat()}"
                                        for d in pupil.done])
    return "\n".join(lines) + "\n"


def _section(title: str, items: Sequence[str]) -> list[str]:
    return ["", title] + [f"  - {i}" for i in items] if items else []


def explain_why_not(action: str, checks: Iterable[RuleCheck], near: Sequence[Any] = (),
                    as_of: dt.date | None = None) -> str:
    """For each rule that can recommend ``action``: its status, the unmet conditions and,
    where a threshold is all that is missing, how far away it is (``near``: Distance items)."""
    checks = list(checks)
    lines = [f"Why not {action}?"]
    if not checks:
        lines.append("  no rule of this policy recommends it")
    for check in checks:
        lines.append(f"  rule {check.rule} ({check.title}): {check.status}" + (f" — {check.note}" if check.note else ""))
        for value in check.unmet:
            lines.append(f"      needs {value.test}: actual {value.actual}; required {value.required}")
        for missing in check.undefined:
            lines.append(f"      {missing}")
        lines.append(f"      source: {check.source}")
        for distance in near:
            if distance.rule == check.rule and as_of is not None:
                lines.append(f"      distance: {distance.sentence(as_of)}")
    return "\n".join(lines) + "\n"
