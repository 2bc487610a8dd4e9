"""The cohort view: what a policy says about a whole school on one date.

Counts of recommendations per action and per kind, pupils per derived stage fact (facts
whose names start with ``stage``), and the persistent and severe absence lists — pupils
with the facts ``persistent_absence`` / ``severe_absence``, lowest year-to-date attendance
first — the list a school brings to its termly targeting support meeting.
"""

from __future__ import annotations

import datetime as dt
import re
from fractions import Fraction
from typing import TYPE_CHECKING, Iterable, Literal, Mapping

import attrs

from ..engine.provenance import Provenance
from ..engine.results import Evaluation
from ..jsonform import JsonRecord, entry
from ..policy.model import ActionKind
from ..registers.calendar import Calendar
from ..registers.history import History, Pupil
from ..registers.measures import Window, compute

if TYPE_CHECKING:
    from ..engine.compiled import CompiledPolicy

__all__ = [
    "AbsenceRow",
    "ActionCount",
    "CohortView",
    "KindCount",
    "cohort_view",
    "render_cohort",
    "summarise",
]

PERSISTENT = "persistent_absence"
SEVERE = "severe_absence"
STAGE_PREFIX = "stage"
_NUMBERED = re.compile(r"stage\d+")


@attrs.frozen(kw_only=True)
class ActionCount(JsonRecord):
    """Pupils recommended an action (and pupils for whom it was held back)."""

    action: str
    title: str
    kind: ActionKind | Literal[""]  # "": an action the policy does not define
    recommended: int
    held_back: int


@attrs.frozen
class KindCount(JsonRecord):
    """Recommendations of one kind (letter, meeting …) and the pupils receiving any."""

    kind: ActionKind | Literal[""]
    recommendations: int
    pupils: int


@attrs.frozen(kw_only=True)
class AbsenceRow(JsonRecord):
    """A pupil on the persistent or severe absence list, with the year-to-date figures."""

    pupil_id: str
    year_group: int | None
    # attended / possible, academic year to date (JSON: a fraction of 1, 6 places)
    attendance: Fraction | None
    possible: int = attrs.field(metadata=entry(key="possible_sessions"))
    absent: int = attrs.field(metadata=entry(key="absent_sessions"))
    unauthorised: int = attrs.field(metadata=entry(key="unauthorised_sessions"))
    stages: tuple[str, ...]
    actions: tuple[str, ...]


@attrs.frozen(kw_only=True)
class CohortView(JsonRecord):
    """The summary of one evaluation of a cohort."""

    as_of: dt.date
    provenance: Provenance = attrs.field(metadata=entry(flatten=True))
    pupils: int
    pupils_with_recommendations: int
    by_action: tuple[ActionCount, ...]  # most recommended first, then by id
    by_kind: tuple[KindCount, ...]
    # every stage fact the policy can derive, by name
    by_stage: tuple[tuple[str, int], ...] = attrs.field(metadata=entry(form=dict))
    # lowest attendance first
    persistent: tuple[AbsenceRow, ...] = attrs.field(metadata=entry(key="persistent_absence"))
    severe: tuple[AbsenceRow, ...] = attrs.field(metadata=entry(key="severe_absence"))


def summarise(
    evaluation: Evaluation,
    pupils: Mapping[str, Pupil],
    calendar: Calendar = Calendar(),
    stage_facts: Iterable[str] = (),
    action_kinds: Mapping[str, str] | None = None,
) -> CohortView:
    """Count an evaluation; ``pupils`` (by id) gives the registers for year-to-date attendance.

    ``stage_facts`` are listed even when no pupil has them (the policy's stage facts);
    ``action_kinds`` names the kind of an action that is only ever held back.
    """
    action_kinds = action_kinds or {}
    actions: dict[str, list] = {}  # action -> [title, kind, recommended, held back]
    kinds: dict[ActionKind, list[int]] = {}  # kind -> [recommendations, pupils]
    stages = {name: 0 for name in stage_facts if name.startswith(STAGE_PREFIX)}
    persistent, severe = [], []
    busy = 0
    for result in evaluation.pupils:
        busy += bool(result.recommendations)
        for rec in result.recommendations:
            actions.setdefault(rec.action, [rec.title, rec.kind, 0, 0])[2] += 1
            kinds.setdefault(rec.kind, [0, 0])[0] += 1
        for kind in {rec.kind for rec in result.recommendations}:
            kinds[kind][1] += 1
        for action in {(s.action, s.title) for s in result.suppressed}:
            actions.setdefault(action[0], [action[1], action_kinds.get(action[0], ""), 0, 0])[
                3
            ] += 1
        facts = {f.name for f in result.facts}
        for name in facts:
            if name.startswith(STAGE_PREFIX):
                stages[name] = stages.get(name, 0) + 1
        if PERSISTENT in facts or SEVERE in facts:
            row = _row(pupils[result.pupil_id], result.as_of, calendar, facts, result.actions())
            if PERSISTENT in facts:
                persistent.append(row)
            if SEVERE in facts:
                severe.append(row)
    by_action = tuple(
        ActionCount(action=a, title=t, kind=k, recommended=n, held_back=h)
        for a, (t, k, n, h) in sorted(
            actions.items(), key=lambda item: (-item[1][2], -item[1][3], item[0])
        )
    )
    by_kind = tuple(
        KindCount(k, n, p)
        for k, (n, p) in sorted(kinds.items(), key=lambda item: (-item[1][0], item[0]))
    )
    return CohortView(
        as_of=evaluation.as_of,
        provenance=evaluation.provenance,
        pupils=len(evaluation.pupils),
        pupils_with_recommendations=busy,
        by_action=by_action,
        by_kind=by_kind,
        by_stage=tuple(sorted(stages.items())),
        persistent=tuple(sorted(persistent, key=_order)),
        severe=tuple(sorted(severe, key=_order)),
    )


def _order(row: AbsenceRow) -> tuple:
    return (
        row.attendance is None,
        row.attendance if row.attendance is not None else 0,
        row.pupil_id,
    )


def _row(
    pupil: Pupil, as_of: dt.date, calendar: Calendar, facts: set[str], actions: tuple[str, ...]
) -> AbsenceRow:
    rate = compute(pupil, "attendance_rate", as_of, Window(kind="academic_year"), calendar)
    counts, attendance = rate.counts, rate.value
    assert attendance is None or isinstance(attendance, Fraction), (
        "a rate is a fraction (None: no possible session)"
    )
    return AbsenceRow(
        pupil_id=pupil.id,
        year_group=pupil.year_group,
        attendance=attendance,
        possible=counts.get("possible", 0),
        absent=counts.get("absent", 0),
        unauthorised=counts.get("unauthorised", 0),
        stages=tuple(sorted(f for f in facts if f.startswith(STAGE_PREFIX))),
        actions=actions,
    )


def cohort_view(
    policy: CompiledPolicy,
    history: History | Iterable[Pupil],
    as_of: dt.date,
    evaluation: Evaluation | None = None,
) -> CohortView:
    """Evaluate every pupil as of ``as_of`` and summarise (``evaluation``: that evaluation,
    already made, e.g. by worker processes)."""
    pupils = list(history)
    if evaluation is None:
        evaluation = policy.evaluate(
            history if isinstance(history, History) else History(pupils=tuple(pupils)), as_of
        )
    kinds = {a.id: a.kind for a in policy.ruleset.policy.actions.values()}
    return summarise(
        evaluation, {p.id: p for p in pupils}, policy.calendar, policy.ruleset.facts, kinds
    )


# --- rendering ------------------------------------------------------------------------


def _pct(value: Fraction | None) -> str:
    return "n/a" if value is None else f"{float(value) * 100:.1f}%"


def _main_stages(stages: tuple[str, ...]) -> str:
    """The numbered stages (``stage2``) if the policy has them, else every stage fact."""
    numbered = [s for s in stages if _NUMBERED.fullmatch(s)]
    return ", ".join(numbered or stages) or "-"


def _absence_table(title: str, rows: tuple[AbsenceRow, ...]) -> list[str]:
    lines = ["", f"{title} ({len(rows)}), lowest attendance first:"]
    if not rows:
        return lines + ["  none"]
    lines.append(
        f"  {'pupil':<10} {'year':>4} {'attend.':>8} {'possible':>8} "
        f"{'absent':>6} {'unauth':>6}  stages"
    )
    for r in rows:
        year = "" if r.year_group is None else str(r.year_group)
        lines.append(
            f"  {r.pupil_id:<10} {year:>4} {_pct(r.attendance):>8} {r.possible:>8} {r.absent:>6} "
            f"{r.unauthorised:>6}  {_main_stages(r.stages)}".rstrip()
        )
    return lines


def _table(view: CohortView) -> str:
    lines = [
        f"cohort as of {view.as_of.isoformat()} — "
        f"policy {view.provenance.policy['id']} {view.provenance.policy['version']}",
        f"{view.pupils} pupil(s); "
        f"{view.pupils_with_recommendations} with at least one recommendation",
        "",
        f"{'action':<40} {'kind':<14} {'pupils':>6} {'held back':>9}",
    ]
    lines += [
        f"{a.action:<40} {a.kind:<14} {a.recommended:>6} {a.held_back:>9}" for a in view.by_action
    ]
    lines += ["", f"{'kind':<16} {'recommendations':>15} {'pupils':>6}"]
    lines += [f"{k.kind:<16} {k.recommendations:>15} {k.pupils:>6}" for k in view.by_kind]
    lines += ["", f"{'stage fact':<40} {'pupils':>6}"] + [
        f"{name:<40} {n:>6}" for name, n in view.by_stage
    ]
    lines += _absence_table("persistent absence", view.persistent)
    lines += _absence_table("severe absence", view.severe)
    return "\n".join(lines) + "\n"


def _md_absence(title: str, rows: tuple[AbsenceRow, ...]) -> list[str]:
    lines = ["", f"## {title} ({len(rows)})", ""]
    if not rows:
        return lines + ["None."]
    lines += [
        "| pupil | year | attendance | possible | absent | unauthorised | stages | recommended |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r.pupil_id} | {'' if r.year_group is None else r.year_group} | "
            f"{_pct(r.attendance)} | "
            f"{r.possible} | {r.absent} | {r.unauthorised} | {', '.join(r.stages)} | "
            f"{', '.join(f'`{a}`' for a in r.actions)} |"
        )
    return lines


def _markdown(view: CohortView) -> str:
    policy = view.provenance.policy
    lines = [
        f"# Cohort as of {view.as_of.isoformat()}",
        "",
        f"Policy `{policy['id']}` version {policy['version']}; {view.pupils} pupils, "
        f"{view.pupils_with_recommendations} with at least one recommendation.",
        "",
        "## Recommendations by action",
        "",
        "| action | title | kind | pupils | held back |",
        "| --- | --- | --- | ---: | ---: |",
    ]
    lines += [
        f"| `{a.action}` | {a.title} | {a.kind} | {a.recommended} | {a.held_back} |"
        for a in view.by_action
    ]
    lines += ["", "## By kind", "", "| kind | recommendations | pupils |", "| --- | ---: | ---: |"]
    lines += [f"| {k.kind} | {k.recommendations} | {k.pupils} |" for k in view.by_kind]
    lines += ["", "## Stages", "", "| stage fact | pupils |", "| --- | ---: |"]
    lines += [f"| `{name}` | {n} |" for name, n in view.by_stage]
    lines += _md_absence("Persistent absence", view.persistent) + _md_absence(
        "Severe absence", view.severe
    )
    return "\n".join(lines) + "\n"


def render_cohort(view: CohortView, fmt: str = "table") -> str:
    """``table``, ``json`` or ``markdown``."""
    if fmt == "json":
        return view.dumps()
    return _markdown(view) if fmt == "markdown" else _table(view)
