"""What an evaluation says: recommendations with cited reasons, suppressions, facts.

All value classes are frozen. ``Evaluation.to_json()`` is the documented JSON form
(``schemas/evaluation.schema.json``): keys in a fixed order, lists sorted, no floats
that depend on platform formatting — byte-identical across runs and hash seeds.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import attrs

from ..exceptions import Problem
from ..policy.model import Citation

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


@attrs.frozen(kw_only=True)
class CitationView:
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
        parts = [self.title or self.document] + [
            p
            for p in (
                self.section,
                self.page and f"p. {self.page}",
                self.paragraph and f"para. {self.paragraph}",
            )
            if p
        ]
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "document": self.document,
            "title": self.title,
            "section": self.section,
            "page": self.page,
            "paragraph": self.paragraph,
            "says": self.says,
        }


@attrs.frozen(kw_only=True)
class ValueView:
    """One test of a condition with the actual values: what was compared and whether it held."""

    test: str
    actual: str
    required: str
    holds: bool

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "test": self.test,
            "actual": self.actual,
            "required": self.required,
            "holds": self.holds,
        }


@attrs.frozen(kw_only=True)
class MeasureView:
    """A measure consulted by the rules, with how it was computed."""

    name: str
    window: str
    value: Any
    start: str
    end: str
    description: str

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "name": self.name,
            "window": self.window,
            "value": self.value,
            "start": self.start,
            "end": self.end,
            "description": self.description,
        }


@attrs.frozen(kw_only=True)
class Reason:
    """Why an action is recommended: the rule, the values, the clause, the chain of rules."""

    rule: str
    title: str
    sentence: str
    source: CitationView
    chain: tuple[str, ...]
    values: tuple[ValueView, ...]

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "rule": self.rule,
            "title": self.title,
            "sentence": self.sentence,
            "source": self.source.to_json(),
            "chain": list(self.chain),
            "values": [v.to_json() for v in self.values],
        }


@attrs.frozen(kw_only=True)
class Recommendation:
    """An action the policy calls for now, with its reasons."""

    action: str
    title: str
    kind: str
    responsible: str
    priority: int
    reasons: tuple[Reason, ...]
    source: CitationView
    due: dt.date | None = None
    window: tuple[dt.date, dt.date] | None = None
    parameters: tuple[tuple[str, str], ...] = ()
    # the event (type, field values) that records it done; None when no event can
    recorded_by: tuple[str, tuple[tuple[str, Any], ...]] | None = None

    def recorded_by_text(self) -> str:
        """``referral_made with to = camhs``: what to record once the action is done ("" if
        nothing)."""
        if self.recorded_by is None:
            return ""
        event, fields = self.recorded_by
        return event + "".join(f" with {k} = {json.dumps(v)}" for k, v in fields)

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        recorded = (
            None
            if self.recorded_by is None
            else {"event": self.recorded_by[0], "fields": dict(self.recorded_by[1])}
        )
        return {
            "action": self.action,
            "title": self.title,
            "kind": self.kind,
            "responsible": self.responsible,
            "priority": self.priority,
            "due": self.due.isoformat() if self.due else None,
            "window": [d.isoformat() for d in self.window] if self.window else None,
            "parameters": dict(self.parameters),
            "recorded_by": recorded,
            "source": self.source.to_json(),
            "reasons": [r.to_json() for r in self.reasons],
        }


@attrs.frozen(kw_only=True)
class Suppression:
    """An action held back by an ``unless`` clause, and why."""

    action: str
    title: str
    rule: str
    reason: str
    condition: str
    source: CitationView
    values: tuple[ValueView, ...]

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "action": self.action,
            "title": self.title,
            "rule": self.rule,
            "reason": self.reason,
            "condition": self.condition,
            "source": self.source.to_json(),
            "values": [v.to_json() for v in self.values],
        }


@attrs.frozen(kw_only=True)
class AlreadyDone:
    """An action the rules call for that the case events show was already carried out."""

    action: str
    title: str
    rule: str
    event: str
    date: dt.date

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "action": self.action,
            "title": self.title,
            "rule": self.rule,
            "event": self.event,
            "date": self.date.isoformat(),
        }


@attrs.frozen
class DerivedFact:
    """A fact made true by a rule, with the reason."""

    name: str
    rule: str
    reason: Reason

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "name": self.name,
            "rule": self.rule,
            "sentence": self.reason.sentence,
            "source": self.reason.source.to_json(),
            "chain": list(self.reason.chain),
        }


@attrs.frozen(kw_only=True)
class PupilEvaluation:
    """Everything the policy says about one pupil as of one date."""

    pupil_id: str
    as_of: dt.date
    measures: tuple[MeasureView, ...]
    facts: tuple[DerivedFact, ...]
    recommendations: tuple[Recommendation, ...]
    suppressed: tuple[Suppression, ...]
    done: tuple[AlreadyDone, ...]
    fired: tuple[str, ...]
    at_risk: tuple[Any, ...] | None = None  # distance.Distance items, when requested

    def actions(self) -> tuple[str, ...]:
        """Ids of the recommended actions."""
        return tuple(r.action for r in self.recommendations)

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "pupil_id": self.pupil_id,
            "as_of": self.as_of.isoformat(),
            "recommendations": [r.to_json() for r in self.recommendations],
            "suppressed": [s.to_json() for s in self.suppressed],
            "already_done": [d.to_json() for d in self.done],
            "facts": [f.to_json() for f in self.facts],
            "fired": list(self.fired),
            "measures": [m.to_json() for m in self.measures],
        } | ({} if self.at_risk is None else {"at_risk": [d.to_json() for d in self.at_risk]})


@attrs.frozen(kw_only=True)
class Evaluation:
    """A run over a history: provenance (policy, history, library) and per-pupil results."""

    as_of: dt.date
    policy: dict[str, Any] = attrs.field(hash=False)
    history: dict[str, Any] = attrs.field(hash=False)
    library_version: str
    pupils: tuple[PupilEvaluation, ...]
    warnings: tuple[
        Problem, ...
    ] = ()  # located findings that did not stop the run (as-of outside the data …)

    def to_json(self) -> dict[str, Any]:
        """JSON form (see schemas/evaluation.schema.json); ``warnings`` only when there are any."""
        head: dict[str, Any] = {
            "as_of": self.as_of.isoformat(),
            "library": {"name": "attendance-rules", "version": self.library_version},
            "policy": self.policy,
            "history": self.history,
        }
        if self.warnings:
            head["warnings"] = [warning_json(w) for w in self.warnings]
        return head | {"pupils": [p.to_json() for p in self.pupils]}

    def dumps(self) -> str:
        """Deterministic JSON text."""
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"
