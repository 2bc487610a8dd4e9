"""What an evaluation says: recommendations with cited reasons, suppressions, facts.

All value classes are frozen ``JsonRecord``s: ``Evaluation.to_json()`` is the documented
JSON form (``schemas/evaluation.schema.json``), written by ``jsonform`` with keys in field
order, lists sorted, no floats that depend on platform formatting — byte-identical across
runs and hash seeds.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import attrs

from ..exceptions import Problem
from ..jsonform import JsonRecord, entry
from ..policy.model import ActionKind, Citation, Responsible
from ..text import citation_text
from .provenance import Provenance

__all__ = [
    "AlreadyDone",
    "CitationView",
    "DerivedFact",
    "Evaluation",
    "MeasureView",
    "PupilEvaluation",
    "Reason",
    "Recommendation",
    "Suppression",
    "ValueView",
    "warning_json",
]


def warning_json(problem: Problem) -> dict[str, str]:
    """A warning as the JSON output records it: where, what, and what was found and expected."""
    return {
        "location": str(problem.location),
        "message": problem.message,
        "found": problem.found,
        "expected": problem.expected,
    }


def _recorded_by_json(event: str, fields: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    return {"event": event, "fields": dict(fields)}


@attrs.frozen(kw_only=True)
class CitationView(JsonRecord):
    """A citation as shown in output: document, where in it, and our paraphrase."""

    document: str
    title: str
    section: str
    page: str
    paragraph: str
    says: str

    @classmethod
    def of(cls, cite: Citation | None, titles: dict[str, str]) -> "CitationView":
        """Build from a policy citation, adding the document title."""
        if cite is None:
            return cls(document="", title="", section="", page="", paragraph="", says="")
        return cls(
            document=cite.source,
            title=titles.get(cite.source, ""),
            section=cite.section,
            page=cite.page,
            paragraph=cite.paragraph,
            says=cite.says,
        )

    def __str__(self) -> str:
        return citation_text(self.title or self.document, self.section, self.page, self.paragraph)


@attrs.frozen(kw_only=True)
class ValueView(JsonRecord):
    """One test of a condition with the actual values: what was compared and whether it held."""

    test: str
    actual: str
    required: str
    holds: bool


@attrs.frozen(kw_only=True)
class MeasureView(JsonRecord):
    """A measure consulted by the rules, with how it was computed."""

    name: str
    window: str
    value: Any
    start: str
    end: str
    description: str


@attrs.frozen(kw_only=True)
class Reason(JsonRecord):
    """Why an action is recommended: the rule, the values, the clause, the chain of rules."""

    rule: str
    title: str
    sentence: str
    source: CitationView
    chain: tuple[str, ...]
    values: tuple[ValueView, ...]


@attrs.frozen(kw_only=True)
class Recommendation(JsonRecord):
    """An action the policy calls for now, with its reasons."""

    action: str
    title: str
    kind: ActionKind
    responsible: Responsible
    priority: int
    due: dt.date | None = None
    window: tuple[dt.date, dt.date] | None = None
    parameters: tuple[tuple[str, str], ...] = attrs.field(default=(), metadata=entry(form=dict))
    # the event (type, field values) that records it done; None when no event can
    recorded_by: tuple[str, tuple[tuple[str, Any], ...]] | None = attrs.field(
        default=None, metadata=entry(form=lambda by: _recorded_by_json(*by) if by else None)
    )
    source: CitationView
    reasons: tuple[Reason, ...]

    def recorded_by_text(self) -> str:
        """``referral_made with to = camhs``: what to record once the action is done ("" if
        nothing)."""
        if self.recorded_by is None:
            return ""
        event, fields = self.recorded_by
        return event + "".join(f" with {k} = {json.dumps(v)}" for k, v in fields)


@attrs.frozen(kw_only=True)
class Suppression(JsonRecord):
    """An action held back by an ``unless`` clause, and why."""

    action: str
    title: str
    rule: str
    reason: str
    condition: str
    source: CitationView
    values: tuple[ValueView, ...]


@attrs.frozen(kw_only=True)
class AlreadyDone(JsonRecord):
    """An action the rules call for that the case events show was already carried out."""

    action: str
    title: str
    rule: str
    event: str
    date: dt.date


@attrs.frozen
class DerivedFact(JsonRecord):
    """A fact made true by a rule, with the reason."""

    name: str
    rule: str
    reason: Reason

    def json_entries(self, entries: dict[str, Any]) -> dict[str, Any]:
        """Of the reason, what the fact adds: its sentence, source and chain."""
        reason = entries.pop("reason")
        return entries | {key: reason[key] for key in ("sentence", "source", "chain")}


@attrs.frozen(kw_only=True)
class PupilEvaluation(JsonRecord):
    """Everything the policy says about one pupil as of one date."""

    pupil_id: str
    as_of: dt.date
    recommendations: tuple[Recommendation, ...]
    suppressed: tuple[Suppression, ...]
    done: tuple[AlreadyDone, ...] = attrs.field(metadata=entry(key="already_done"))
    facts: tuple[DerivedFact, ...]
    fired: tuple[str, ...]
    measures: tuple[MeasureView, ...]
    # distance.Distance items, when requested
    at_risk: tuple[Any, ...] | None = attrs.field(default=None, metadata=entry(omit="if none"))

    def actions(self) -> tuple[str, ...]:
        """Ids of the recommended actions."""
        return tuple(r.action for r in self.recommendations)


@attrs.frozen(kw_only=True)
class Evaluation(JsonRecord):
    """A run over a history: provenance (policy, history, library) and per-pupil results."""

    as_of: dt.date
    provenance: Provenance = attrs.field(metadata=entry(flatten=True))
    # located findings that did not stop the run (as-of outside the data …); written if any
    warnings: tuple[Problem, ...] = attrs.field(
        default=(), metadata=entry(form=lambda ws: [warning_json(w) for w in ws], omit="if empty")
    )
    pupils: tuple[PupilEvaluation, ...]
