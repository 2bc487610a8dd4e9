"""Render evaluations for people: tables, Markdown, and plain-English explanations."""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterable, Iterator, Sequence, TextIO

import attrs

from ..jsonform import dumps, json_line
from .results import Evaluation, PupilEvaluation, Recommendation
from .whynot import RuleCheck, unmet_lines

__all__ = [
    "explain_pupil",
    "explain_why_not",
    "pupil_jsonl",
    "render_evaluation",
    "write_evaluation",
]


def _when(rec: Recommendation) -> str:
    # A review window's end is the due date too; show the window, which says more.
    if rec.window:
        return f"review window {rec.window[0].isoformat()} to {rec.window[1].isoformat()}"
    return f"due by {rec.due.isoformat()}" if rec.due else ""


def _at_risk_lines(rows: Sequence[tuple[str, Any]], as_of: dt.date) -> list[str]:
    """The at-risk section: (pupil id, distance) rows, or nothing."""
    if not rows:
        return []
    lines = ["", "At risk (thresholds that could be met soon, if every session were missed):"]
    return lines + [f"  {pid}: {d.sentence(as_of)}" for pid, d in rows]


def _table_lines(header: Evaluation, pupils: Iterable[PupilEvaluation]) -> Iterator[str]:
    """The table's lines, pupil by pupil as they come (only at-risk rows and counts are kept)."""
    yield (
        f"as of {header.as_of.isoformat()} — "
        f"policy {header.provenance.policy['id']} {header.provenance.policy['version']}"
    )
    count = quiet = 0
    at_risk: list[tuple[str, Any]] = []
    for pupil in pupils:
        count += 1
        # At-risk rows are printed after every pupil, so they are the only rows kept while
        # streaming.
        at_risk += [(pupil.pupil_id, d) for d in (pupil.at_risk or ())]
        if not (pupil.recommendations or pupil.suppressed):
            quiet += 1
            continue
        yield from _table_pupil(pupil)
    yield from _at_risk_lines(at_risk, header.as_of)
    yield f"\n{count} pupil(s); {quiet} with nothing recommended"


def _table_pupil(pupil: PupilEvaluation) -> Iterator[str]:
    """A pupil's lines of the table: recommendations with reasons, then what was held back."""
    yield f"\n{pupil.pupil_id}"
    for rec in pupil.recommendations:
        yield f"  {rec.action:<34} {rec.kind:<15} {rec.responsible:<26} {_when(rec)}".rstrip()
        for reason in rec.reasons:
            yield f"      because {reason.sentence} [{reason.rule}; {reason.source}]"
    for held in pupil.suppressed:
        yield f"  held back: {held.action} by {held.rule}: {held.reason}"


def _markdown_lines(header: Evaluation, pupils: Iterable[PupilEvaluation]) -> Iterator[str]:
    """The Markdown report's lines, pupil by pupil as they come."""
    yield from [
        f"# Recommendations as of {header.as_of.isoformat()}",
        "",
        f"Policy `{header.provenance.policy['id']}` version {header.provenance.policy['version']}.",
        "",
    ]
    for pupil in pupils:
        if not (pupil.recommendations or pupil.suppressed):
            continue
        yield from [f"## {pupil.pupil_id}", ""]
        for rec in pupil.recommendations:
            yield (
                f"- **{rec.title}** (`{rec.action}`, {rec.kind}, {rec.responsible}) {_when(rec)}"
            ).rstrip()
            yield from [f"  - {r.sentence} — rule `{r.rule}`, {r.source}" for r in rec.reasons]
        yield from [
            f"- *Held back:* {h.title} — {h.reason} (rule `{h.rule}`)" for h in pupil.suppressed
        ]
        yield ""


def _table(evaluation: Evaluation) -> str:
    """The table of a whole evaluation."""
    return "\n".join(_table_lines(evaluation, evaluation.pupils)) + "\n"


def _markdown(evaluation: Evaluation) -> str:
    """The Markdown report of a whole evaluation."""
    return "\n".join(_markdown_lines(evaluation, evaluation.pupils))


def _write_joined(lines: Iterable[str], out: TextIO, end: str = "") -> None:
    """Write ``"\\n".join(lines) + end`` line by line."""
    separator = ""
    for line in lines:
        out.write(separator + line)
        separator = "\n"
    out.write(end)


def render_evaluation(evaluation: Evaluation, fmt: str = "table") -> str:
    """``table``, ``json``, ``jsonl`` (one pupil per line) or ``markdown``."""
    if fmt == "json":
        return evaluation.dumps()
    if fmt == "jsonl":
        return "".join(pupil_jsonl(p) for p in evaluation.pupils)
    if fmt == "markdown":
        return _markdown(evaluation)
    return _table(evaluation)


def pupil_jsonl(pupil: PupilEvaluation) -> str:
    """One pupil's line of the ``jsonl`` format (no header line: every line is a pupil)."""
    return json_line(pupil) + "\n"


def write_evaluation(
    header: Evaluation, pupils: Iterable[PupilEvaluation | str], fmt: str, out: TextIO
) -> None:
    """Write what ``render_evaluation`` would for ``header`` with ``pupils``, byte for byte.

    ``header`` carries the provenance (its own ``pupils`` are ignored). Every format is
    written pupil by pupil as ``pupils`` yields them, holding none of them (the table
    keeps only its at-risk rows and counts for the end).
    """
    if fmt == "jsonl":
        for pupil in pupils:  # a pupil may come as its line already (``scale.tasks.evaluate_task``)
            out.write(pupil if isinstance(pupil, str) else pupil_jsonl(pupil))
    elif fmt == "json":
        _write_json(header, _evaluations(pupils), out)
    elif fmt == "markdown":
        _write_joined(_markdown_lines(header, _evaluations(pupils)), out)
    else:
        _write_joined(_table_lines(header, _evaluations(pupils)), out, "\n")


def _evaluations(pupils: Iterable[PupilEvaluation | str]) -> Iterator[PupilEvaluation]:
    """The pupils of a format other than jsonl, which never come as their lines."""
    for pupil in pupils:
        assert not isinstance(pupil, str), "only jsonl takes a pupil as its line"
        yield pupil


# how Evaluation.dumps() ends when there are no pupils ("pupils" comes last)
_EMPTY_TAIL = "[]\n}\n"


def _write_json(header: Evaluation, pupils: Iterable[PupilEvaluation], out: TextIO) -> None:
    """``Evaluation.dumps()`` written one pupil at a time (json's indent is plain text nesting:
    a pupil dumped alone with ``indent=2`` is the same text, shifted two levels)."""
    # Dump the header once with no pupils and cut off its empty list, so the key order and the
    # provenance stay exactly those of `Evaluation.dumps()`, then write each pupil as it comes: a
    # whole authority's evaluation is never held in memory (with --jobs, pupils arrive in order from
    # the workers).
    head = attrs.evolve(header, pupils=()).dumps()
    assert head.endswith(_EMPTY_TAIL), "the pupils must be the last key of an evaluation"
    out.write(head[: -len(_EMPTY_TAIL)])
    opening = "[\n"
    for pupil in pupils:
        text = dumps(pupil).removesuffix("\n")
        # strings never hold a raw newline
        out.write(opening + "    " + text.replace("\n", "\n    "))
        opening = ",\n"
    out.write(_EMPTY_TAIL if opening == "[\n" else "\n  ]\n}\n")


def explain_pupil(pupil: PupilEvaluation, policy_id: str) -> str:
    """The reasoning for one pupil in plain English, with citations."""
    lines = [
        f"Pupil {pupil.pupil_id}, as of {pupil.as_of.isoformat()}, under policy {policy_id}.",
        "",
    ]
    lines.append("What the register shows:")
    lines += [f"  - {m.description}" for m in pupil.measures] or ["  - (no measures consulted)"]
    lines += ["", "What follows from it:"]
    lines += [
        f"  - {f.name}: {f.reason.sentence} (rule {f.rule}; {f.reason.source})" for f in pupil.facts
    ] or ["  - no derived facts"]
    lines += ["", "Recommended:"]
    for rec in pupil.recommendations:
        lines.append(f"  - {rec.title} [{rec.action}], {rec.responsible} {_when(rec)}".rstrip())
        for reason in rec.reasons:
            # The chain names the earlier rules whose facts this one read, so a reader can follow a
            # recommendation back to the register.
            chain = f" after {' → '.join(reason.chain)}" if reason.chain else ""
            lines.append(f"      because {reason.sentence}")
            lines.append(
                f"      rule {reason.rule}{chain}; source: {reason.source} — {reason.source.says}"
            )
        if rec.recorded_by is not None:
            lines.append(f"      once done, record: {rec.recorded_by_text()}")
    if not pupil.recommendations:
        lines.append("  - nothing")
    lines += _section(
        "Held back:",
        [f"{s.title} [{s.action}] by {s.rule}: {s.reason} ({s.source})" for s in pupil.suppressed],
    )
    lines += _section(
        "Already done:",
        [f"{d.title} [{d.action}]: {d.event} on {d.date.isoformat()}" for d in pupil.done],
    )
    return "\n".join(lines) + "\n"


def _section(title: str, items: Sequence[str]) -> list[str]:
    return ["", title] + [f"  - {i}" for i in items] if items else []


def explain_why_not(
    action: str, checks: Iterable[RuleCheck], near: Sequence[Any] = (), as_of: dt.date | None = None
) -> str:
    """For each rule that can recommend ``action``: its status, the unmet conditions and,
    where a threshold is all that is missing, how far away it is (``near``: Distance items)."""
    checks = list(checks)
    lines = [f"Why not {action}?"]
    if not checks:
        lines.append("  no rule of this policy recommends it")
    for check in checks:
        lines.append(
            f"  rule {check.rule} ({check.title}): {check.status}"
            + (f" — {check.note}" if check.note else "")
        )
        lines += unmet_lines(check.needs, check.unmet, check.undefined, "      ")
        lines.append(f"      source: {check.source}")
        for distance in near:
            if distance.rule == check.rule and as_of is not None:
                lines.append(f"      distance: {distance.sentence(as_of)}")
    return "\n".join(lines) + "\n"
