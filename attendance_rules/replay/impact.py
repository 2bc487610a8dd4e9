"""Impact of a policy change: who gains or loses which recommendation.

Both policies are evaluated over the same history as of the same date. For each action
we count the pupils who gain it (recommended under the new policy, not the old) and who
lose it, and keep a few examples with each side's reasons: the cited reasons of the side
that recommends it, and on the other side why not (held back, already done, not in that
policy, or each recommending rule's unmet conditions). The policies' own differences
(parameters in force on the date, rules, actions, measures) are listed too, so a reviewer
sees the edit next to its effect. Two versions of one file (same policy id) are fine.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Iterable, Literal, Mapping

import attrs

from ..engine.provenance import Provenance
from ..engine.results import PupilEvaluation, Reason, ValueView
from ..engine.whynot import CheckStatus, Need, unmet_lines
from ..jsonform import JsonRecord, entry, insert_after
from ..policy.model import Text
from ..registers.history import History, Pupil, School

if TYPE_CHECKING:
    from ..engine.compiled import CompiledPolicy

__all__ = [
    "ActionImpact",
    "Impact",
    "ImpactExample",
    "Side",
    "compare_policies",
    "policy_differences",
    "render_impact",
]

DEFAULT_EXAMPLES = 3


@attrs.frozen(kw_only=True)
class RuleStatus(JsonRecord):
    """One recommending rule on the side that does not recommend: its status and unmet tests."""

    rule: str
    status: CheckStatus
    unmet: tuple[ValueView, ...]
    undefined: tuple[str, ...]
    note: str
    # not met: every way to meet it (``unmet`` is the closest)
    needs: Need | None = attrs.field(default=None, metadata=entry(omit="if none"))


@attrs.frozen(kw_only=True)
class Side(JsonRecord):
    """What one policy says about one pupil and one action."""

    status: CheckStatus | Literal["not in this policy"]
    note: str = ""  # the suppression reason, the event that did it …
    reasons: tuple[Reason, ...] = ()  # when recommended
    rules: tuple[RuleStatus, ...] = ()  # when not recommended: each recommending rule's status


@attrs.frozen
class ImpactExample(JsonRecord):
    """A pupil who gains or loses an action, with both sides."""

    pupil_id: str
    old: Side
    new: Side


@attrs.frozen(kw_only=True)
class ActionImpact(JsonRecord):
    """The change for one action: pupils gaining and losing it, and examples of each."""

    action: str
    title: str
    kept: int  # pupils recommended it under both policies
    # pupil ids, in history order (JSON: their number, then the ids)
    gained: tuple[str, ...] = attrs.field(metadata=entry(key="gained_pupils"))
    lost: tuple[str, ...] = attrs.field(metadata=entry(key="lost_pupils"))
    gained_examples: tuple[ImpactExample, ...] = ()
    lost_examples: tuple[ImpactExample, ...] = ()

    def json_entries(self, entries: dict[str, Any]) -> dict[str, Any]:
        """How many pupils gain and lose it come first."""
        return insert_after(entries, "title", {"gained": len(self.gained), "lost": len(self.lost)})


@attrs.frozen(kw_only=True)
class Impact(JsonRecord):
    """The difference two policies make to one history on one date."""

    as_of: dt.date
    provenance: Provenance = attrs.field(metadata=entry(flatten=True))  # with its old_policy
    pupils: int
    policy_changes: tuple[str, ...]
    actions: tuple[ActionImpact, ...]  # only actions with a gain or a loss, sorted by id

    @property
    def pupils_affected(self) -> tuple[str, ...]:
        """Pupils gaining or losing anything, sorted."""
        return tuple(sorted({p for a in self.actions for p in a.gained + a.lost}))

    def counts(self) -> dict[str, dict[str, int]]:
        """``{action: {"gained": n, "lost": m}}``."""
        return {a.action: {"gained": len(a.gained), "lost": len(a.lost)} for a in self.actions}

    def json_entries(self, entries: dict[str, Any]) -> dict[str, Any]:
        """The pupils affected and the counts, each after what it summarises."""
        entries = insert_after(entries, "pupils", {"pupils_affected": len(self.pupils_affected)})
        return insert_after(entries, "policy_changes", {"counts": self.counts()})


# --- comparing ------------------------------------------------------------------------


def _side(
    policy: CompiledPolicy,
    evaluation: PupilEvaluation,
    pupil: Pupil,
    as_of: dt.date,
    action: str,
    school: School,
) -> Side:
    for rec in evaluation.recommendations:
        if rec.action == action:
            return Side(status="recommended", reasons=rec.reasons)
    if action not in policy.ruleset.policy.actions:
        return Side(status="not in this policy", note=f"policy {policy.id} has no action {action}")
    for done in evaluation.done:
        if done.action == action:
            return Side(
                status="already done",
                note=f"{done.event} on {done.date.isoformat()} (rule {done.rule})",
            )
    held = [s for s in evaluation.suppressed if s.action == action]
    if held:
        return Side(status="held back", note="; ".join(f"{s.rule}: {s.reason}" for s in held))
    rules = tuple(
        RuleStatus(
            rule=c.rule,
            status=c.status,
            unmet=c.unmet,
            undefined=c.undefined,
            note=c.note,
            needs=c.needs,
        )
        for c in policy.why_not(pupil, as_of, action, school)
    )
    note = "" if rules else f"no rule of policy {policy.id} recommends it"
    return Side(status="not met", note=note, rules=rules)


def compare_policies(
    old: CompiledPolicy,
    new: CompiledPolicy,
    history: History | Iterable[Pupil],
    as_of: dt.date,
    examples: int = DEFAULT_EXAMPLES,
    evaluations: Iterable[tuple[PupilEvaluation, PupilEvaluation]] | None = None,
) -> Impact:
    """Evaluate both policies as of ``as_of`` and collect the gains and losses per action.

    ``evaluations``: each pupil's (old, new) evaluations in history order, when they are
    made elsewhere (e.g. by worker processes); by default they are made here.
    """
    school = history.school if isinstance(history, History) else School()
    pupils = list(history)
    if evaluations is None:
        evaluations = (
            (old.evaluate_pupil(p, as_of, school), new.evaluate_pupil(p, as_of, school))
            for p in pupils
        )
    gained: dict[str, list[str]] = {}
    lost: dict[str, list[str]] = {}
    kept: dict[str, int] = {}
    titles: dict[str, str] = {}
    samples: dict[tuple[str, str], list[ImpactExample]] = {}
    for pupil, (before, after) in zip(pupils, evaluations):
        a, b = set(before.actions()), set(after.actions())
        titles.update({r.action: r.title for r in before.recommendations + after.recommendations})
        for action in a & b:
            kept[action] = kept.get(action, 0) + 1
        for action, way, target in [(x, "gained", gained) for x in sorted(b - a)] + [
            (x, "lost", lost) for x in sorted(a - b)
        ]:
            target.setdefault(action, []).append(pupil.id)
            bucket = samples.setdefault((action, way), [])
            if len(bucket) < examples:
                bucket.append(
                    ImpactExample(
                        pupil.id,
                        _side(old, before, pupil, as_of, action, school),
                        _side(new, after, pupil, as_of, action, school),
                    )
                )
    actions = tuple(
        ActionImpact(
            action=action,
            title=titles[action],
            gained=tuple(gained.get(action, ())),
            lost=tuple(lost.get(action, ())),
            kept=kept.get(action, 0),
            gained_examples=tuple(samples.get((action, "gained"), ())),
            lost_examples=tuple(samples.get((action, "lost"), ())),
        )
        for action in sorted(gained.keys() | lost.keys())
    )
    return Impact(
        as_of=as_of,
        provenance=Provenance.of(new.ruleset, history, old=old.ruleset),
        pupils=len(pupils),
        actions=actions,
        policy_changes=policy_differences(old, new, as_of),
    )


# --- what changed in the policy -------------------------------------------------------


def _plain(value: Any) -> Any:
    """A comparable form: conditions by their text, attrs objects by their compared fields."""
    if isinstance(value, Text):
        return value.text
    if attrs.has(type(value)):
        return tuple(
            (f.name, _plain(getattr(value, f.name))) for f in attrs.fields(type(value)) if f.eq
        )
    if isinstance(value, Mapping):
        return tuple(sorted((k, _plain(v)) for k, v in value.items()))
    if isinstance(value, (tuple, list)):
        return tuple(_plain(v) for v in value)
    return value


def _changed_fields(old: Any, new: Any, skip: tuple[str, ...] = ()) -> list[str]:
    return [
        f.name
        for f in attrs.fields(type(old))
        if f.eq
        and f.name not in skip
        and _plain(getattr(old, f.name)) != _plain(getattr(new, f.name))
    ]


def _entries(kind: str, old: Mapping[str, Any], new: Mapping[str, Any], describe) -> list[str]:
    out = [f"{kind} {name} added" for name in sorted(new.keys() - old.keys())]
    out += [f"{kind} {name} removed" for name in sorted(old.keys() - new.keys())]
    for name in sorted(old.keys() & new.keys()):
        text = describe(old[name], new[name])
        if text:
            out.append(f"{kind} {name}: {text}")
    return out


def policy_differences(old: CompiledPolicy, new: CompiledPolicy, as_of: dt.date) -> tuple[str, ...]:
    """What differs between the two effective policies (parameters as in force on ``as_of``)."""
    a, b = old.ruleset.policy, new.ruleset.policy

    def parameter(p, q) -> str:
        before, after = p.value_on(as_of), q.value_on(as_of)
        if before != after or p.unit != q.unit:
            return f"{before} {p.unit} → {after} {q.unit} (in force on {as_of.isoformat()})"
        other = _changed_fields(p, q, skip=("values", "unit"))
        return (
            f"changed ({', '.join(other)})" if other or _plain(p.values) != _plain(q.values) else ""
        )

    def rule(p, q) -> str:
        fields = _changed_fields(p, q)
        if "when" in fields:
            return f"condition `{p.when.text.strip()}` → `{q.when.text.strip()}`" + (
                f"; also {', '.join(f for f in fields if f != 'when')}" if len(fields) > 1 else ""
            )
        return f"changed ({', '.join(fields)})" if fields else ""

    def other(p, q) -> str:
        fields = _changed_fields(p, q)
        return f"changed ({', '.join(fields)})" if fields else ""

    out = []
    if a.id != b.id:
        out.append(f"policy id {a.id} → {b.id}")
    if a.version != b.version:
        out.append(f"version {a.version} → {b.version}")
    out += _entries("parameter", a.parameters, b.parameters, parameter)
    out += _entries("measure", a.measures, b.measures, other)
    out += _entries("action", a.actions, b.actions, other)
    out += _entries("rule", {r.id: r for r in a.rules}, {r.id: r for r in b.rules}, rule)
    return tuple(out)


# --- rendering ------------------------------------------------------------------------


def _side_lines(label: str, side: Side) -> list[str]:
    lines = [f"      {label}: {side.status}" + (f" — {side.note}" if side.note else "")]
    lines += [f"          because {r.sentence} [{r.rule}; {r.source}]" for r in side.reasons]
    for rule in side.rules:
        lines.append(
            f"          rule {rule.rule}: {rule.status}" + (f" — {rule.note}" if rule.note else "")
        )
        lines += unmet_lines(rule.needs, rule.unmet, rule.undefined, "              ")
    return lines


def _title(impact: Impact) -> str:
    old, new = impact.provenance.old_policy or {}, impact.provenance.policy
    return (
        f"{old['id']} {old['version']} ({old['files'][-1]['file']}, {old['digest'][:19]}…) → "
        f"{new['id']} {new['version']} ({new['files'][-1]['file']}, {new['digest'][:19]}…)"
    )


def _table(impact: Impact) -> str:
    lines = [
        f"policy change impact as of {impact.as_of.isoformat()}: {_title(impact)}",
        f"{impact.pupils} pupil(s); {len(impact.pupils_affected)} gain or lose a recommendation",
        "",
    ]
    lines += ["what changed in the policy:"] + (
        [f"  {c}" for c in impact.policy_changes]
        or ["  nothing (same rules, actions, measures and parameters)"]
    )
    lines += ["", f"{'action':<40} {'gained':>6} {'lost':>6} {'kept':>6}"]
    lines += [
        f"{a.action:<40} {len(a.gained):>6} {len(a.lost):>6} {a.kept:>6}" for a in impact.actions
    ]
    if not impact.actions:
        lines.append("(no pupil gains or loses any recommendation)")
    for a in impact.actions:
        for way, examples in (("gained", a.gained_examples), ("lost", a.lost_examples)):
            if examples:
                lines += [
                    "",
                    f"{a.action} {way} ({len(a.gained if way == 'gained' else a.lost)}), e.g.:",
                ]
                for ex in examples:
                    lines.append(f"  {ex.pupil_id}")
                    lines += _side_lines("old", ex.old) + _side_lines("new", ex.new)
    return "\n".join(lines) + "\n"


def render_impact(impact: Impact, fmt: str = "table") -> str:
    """``table`` or ``json``."""
    return impact.dumps() if fmt == "json" else _table(impact)
