"""The pack's lists and the figures on them: a row per pupil (this year, this term against last
term, stages, actions, RAG rating), the persistent and severe absence lists in the cohort view's
order, the at-risk and part-time timetable lists, the histogram's bands, and the numbers as the
page and the CSV files show them. ``cohort.py`` writes the pack, ``cohort_csv.py`` its CSV files.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from contextlib import closing
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Iterable, Sequence, TextIO

import attrs

from ..engine.results import PupilEvaluation
from ..exceptions import Problem
from ..registers.history import History, Pupil, School
from ..registers.measures import (
    PERSISTENT_ABSENCE_RATE,
    SEVERE_ABSENCE_RATE,
    Window,
    compute,
)
from ..replay.cohort import PERSISTENT, CohortView, cohort_view
from .html import percent

if TYPE_CHECKING:
    from ..engine.compiled import CompiledPolicy

__all__ = [
    "BIN_POINTS",
    "PART_TIME_CODES",
    "PART_TIME_FLAG",
    "CohortPack",
    "PackRow",
    "PartTimeRow",
    "RiskRow",
    "absence_levels",
    "build_pack",
    "cohort_pack",
    "part_time_priority_actions",
    "percent_number",
    "points_shown",
]

PART_TIME_FLAG = "part_time_timetable"  # the flag halton.yaml declares for a reduced timetable
# the codes the Halton framework names (C2: the 2024 reduced-timetable code)
PART_TIME_CODES = ("C", "C2", "I")
BIN_POINTS = 5  # width of a histogram bar in percentage points (a display choice, not a threshold)
_NUMBERED_STAGE = re.compile(r"stage\d+")
_RAG = re.compile(r"(?:^|_)rag_(red|amber|green)$")
_RAG_ORDER = ("red", "amber", "green")  # worst first: a pupil with two ratings shows the worse


@attrs.frozen(kw_only=True)
class PackRow:
    """One pupil in a list: this year's figures, this term against last term, stage and actions."""

    pupil_id: str
    year_group: int | None
    attendance: Fraction | None  # attended / possible, academic year to date
    possible: int
    absent: int
    unauthorised: int
    this_term: Fraction | None
    last_term: Fraction | None
    stages: tuple[str, ...]  # numbered stage facts (stage2), else every stage fact
    # (action id, title) recommended now, in the evaluation's order
    actions: tuple[tuple[str, str], ...]
    rag: str = ""  # red, amber or green where the policy derives a RAG rating, else ""

    @property
    def trend(self) -> Fraction | None:
        """This term's attendance minus last term's, in percentage points (None if either is
        missing)."""
        if self.this_term is None or self.last_term is None:
            return None
        return (self.this_term - self.last_term) * 100

    def trend_words(self) -> str:
        """``up 3.2 points``, ``down 0.4 points``, ``no change`` or ``n/a`` (rounded to one
        decimal)."""
        shown = points_shown(self.trend)
        if shown is None:
            return "n/a"
        if shown == 0:
            return "no change"
        return f"{'up' if shown > 0 else 'down'} {abs(shown)} points"

    def trend_arrow(self) -> str:
        """``↑``, ``↓``, ``→`` or "" (a glyph beside the words, never alone)."""
        shown = points_shown(self.trend)
        return "" if shown is None else "↑" if shown > 0 else "↓" if shown < 0 else "→"


@attrs.frozen(kw_only=True)
class RiskRow:
    """A pupil not yet persistently absent who could become so within the horizon."""

    row: PackRow
    sessions: int  # sessions of absence from tomorrow that would meet the threshold
    reached_on: dt.date  # the earliest day it could be met (weekdays stand in for school days)
    rule: str


@attrs.frozen(kw_only=True)
class PartTimeRow:
    """A pupil flagged ``part_time_timetable`` or with C2 marks this term."""

    row: PackRow
    flagged: bool
    counts: tuple[tuple[str, int], ...]  # (code, sessions this term) for C, C2, I
    priority: tuple[tuple[str, str], ...]  # the policy's part-time priority actions recommended now

    @property
    def total(self) -> int:
        """C, C2 and I sessions this term."""
        return sum(n for _, n in self.counts)


@attrs.frozen(kw_only=True)
class CohortPack:
    """Everything the pack shows, computed once and rendered as HTML and CSV."""

    view: CohortView
    horizon: int  # school weeks looked ahead for the at-risk list (0: none)
    persistent_level: (
        Fraction  # absence rate (of 1) at or above which a pupil is persistently absent
    )
    severe_level: Fraction
    bins: tuple[tuple[int, int, int], ...]  # (low, high, pupils): attendance over low% up to high%
    no_possible: int  # pupils with no possible session this year (not in the histogram)
    persistent: tuple[PackRow, ...]  # lowest attendance first (the cohort view's order)
    severe: tuple[PackRow, ...]
    at_risk: tuple[RiskRow, ...]  # fewest sessions first
    part_time: tuple[PartTimeRow, ...]  # most C, C2 and I sessions first
    # (id, title) of the policy's part-time priority actions
    priority_actions: tuple[tuple[str, str], ...]
    terms_from_calendar: bool  # term dates given (--calendar), else inferred from gaps
    warnings: tuple[Problem, ...] = ()

    def listed(self) -> tuple[str, ...]:
        """Every pupil id in any list, sorted (the pupils who get a page)."""
        rows = [
            *self.persistent,
            *self.severe,
            *(r.row for r in self.at_risk),
            *(r.row for r in self.part_time),
        ]
        return tuple(sorted({r.pupil_id for r in rows}))


# --- building the pack ------------------------------------------------------------------


def absence_levels(policy: CompiledPolicy, as_of: dt.date) -> tuple[Fraction, Fraction]:
    """The persistent and severe absence rates (fractions of 1) drawn on the chart: the
    policy's ``persistent_absence_rate`` and ``severe_absence_rate`` parameters on ``as_of``
    where it has them (in percent), else the national definitions (NATIONAL.md: 10%, 50%)."""
    found = []
    for name, national in (
        ("persistent_absence_rate", PERSISTENT_ABSENCE_RATE),
        ("severe_absence_rate", SEVERE_ABSENCE_RATE),
    ):
        parameter = policy.ruleset.policy.parameters.get(name)
        value = (
            parameter.value_on(as_of)
            if parameter is not None and parameter.unit == "percent"
            else None
        )
        found.append(national if value is None else Fraction(str(value)) / 100)
    return found[0], found[1]


def part_time_priority_actions(policy: CompiledPolicy) -> tuple[str, ...]:
    """The actions of rules whose condition requires the ``part_time_timetable`` flag (not
    under ``not``): the policy's targeting-support priority for part-time timetables, such as
    Halton's ``tsm_part_time_priority``. Empty when the policy has none (no threshold is
    assumed)."""
    return tuple(
        sorted(
            {
                action
                for rule in policy.ruleset.rules
                if _requires_flag(rule.condition.node, PART_TIME_FLAG)
                for action in rule.rule.recommend
            }
        )
    )


def _requires_flag(node: Any, flag: str) -> bool:
    """True when ``flag`` is read somewhere in ``node`` outside a ``not``."""
    from ..rules.nodes import NameRef, Not

    if isinstance(node, NameRef):
        return node.kind == "flag" and node.name == flag
    return not isinstance(node, Not) and any(
        _requires_flag(child, flag) for child in node.children()
    )


def cohort_pack(
    policy: CompiledPolicy,
    ref: str,
    history: History,
    as_of: dt.date,
    *,
    school: School,
    horizon: int,
    jobs: int = 1,
    progress: TextIO | None = None,
    warnings: tuple[Problem, ...] = (),
) -> CohortPack:
    """Evaluate every pupil of ``history`` (``jobs`` processes; ``ref`` is the policy file the
    workers load) with the at-risk distances within ``horizon`` school weeks, and build the pack."""
    from ..scale.parallel import map_pupils
    from ..scale.progress import progress as bar
    from ..scale.tasks import evaluate_task, evaluation_header

    pupils = list(history)
    task, state = evaluate_task(policy, ref, as_of, school, horizon or None)
    with closing(map_pupils(task, pupils, jobs, state=state)) as results:
        evaluations = tuple(bar(results, len(pupils), "cohort", progress))
    evaluation = attrs.evolve(
        evaluation_header(policy, history, as_of, warnings), pupils=evaluations
    )
    return build_pack(
        policy,
        pupils,
        cohort_view(policy, history, as_of, evaluation),
        evaluations,
        horizon,
        warnings,
    )


def build_pack(
    policy: CompiledPolicy,
    pupils: Sequence[Pupil],
    view: CohortView,
    evaluations: Sequence[PupilEvaluation],
    horizon: int,
    warnings: tuple[Problem, ...] = (),
) -> CohortPack:
    """The pack of an evaluation already made (``evaluations`` in the order of ``pupils``)."""
    by_id = {p.id: p for p in pupils}
    results = {e.pupil_id: e for e in evaluations}
    priority = part_time_priority_actions(policy)

    def row(pupil_id: str) -> PackRow:
        return _pack_row(policy, by_id[pupil_id], view.as_of, results[pupil_id])

    persistent, severe = _level_lists(policy, by_id, results, view)
    risk = sorted(
        (_risk_row(row(e.pupil_id), e) for e in evaluations if _pa_distance(e) is not None),
        key=lambda r: (r.sessions, r.reached_on, r.row.pupil_id),
    )
    part_time = sorted(
        (
            _part_time_row(policy, p, view.as_of, row(p.id), results[p.id], priority)
            for p in pupils
            if _part_time_candidate(policy, p, view.as_of)
        ),
        key=lambda r: (-r.total, r.row.pupil_id),
    )
    bins, none = _bins(policy, pupils, view.as_of)
    titles = {a.id: a.title for a in policy.ruleset.policy.actions.values()}
    persistent_level, severe_level = absence_levels(policy, view.as_of)
    return CohortPack(
        view=view,
        horizon=horizon,
        persistent_level=persistent_level,
        severe_level=severe_level,
        bins=bins,
        no_possible=none,
        persistent=persistent,
        severe=severe,
        at_risk=tuple(risk),
        part_time=tuple(part_time),
        priority_actions=tuple((a, titles.get(a, a)) for a in priority),
        terms_from_calendar=bool(policy.calendar.terms),
        warnings=tuple(warnings),
    )


def _level_lists(
    policy: CompiledPolicy,
    by_id: dict[str, Pupil],
    results: dict[str, PupilEvaluation],
    view: CohortView,
) -> tuple[tuple[PackRow, ...], tuple[PackRow, ...]]:
    """The persistent and severe absence rows, in the cohort view's order (lowest attendance
    first)."""
    rows = {
        r.pupil_id: _pack_row(policy, by_id[r.pupil_id], view.as_of, results[r.pupil_id])
        for r in (*view.persistent, *view.severe)
    }
    return tuple(rows[r.pupil_id] for r in view.persistent), tuple(
        rows[r.pupil_id] for r in view.severe
    )


def _pack_row(
    policy: CompiledPolicy, pupil: Pupil, as_of: dt.date, result: PupilEvaluation
) -> PackRow:
    """A pupil's figures: the year to date, this term and the term before it (the policy's
    calendar)."""
    calendar = policy.calendar
    year = compute(pupil, "attendance_rate", as_of, Window(kind="academic_year"), calendar)
    this_term = compute(pupil, "attendance_rate", as_of, Window(kind="term"), calendar)
    facts = {f.name for f in result.facts}
    return PackRow(
        pupil_id=pupil.id,
        year_group=pupil.year_group,
        attendance=year.rate(),
        possible=year.counts.get("possible", 0),
        absent=year.counts.get("absent", 0),
        unauthorised=year.counts.get("unauthorised", 0),
        this_term=this_term.rate(),
        last_term=_last_term(pupil, this_term.start, calendar),
        stages=_main_stages(facts),
        actions=tuple((r.action, r.title) for r in result.recommendations),
        rag=_rag(facts),
    )


def _last_term(pupil: Pupil, term_start: dt.date | None, calendar: Any) -> Fraction | None:
    """Attendance in the term before the one starting ``term_start`` (None when there is none)."""
    if term_start is None or term_start == dt.date.min:
        return None
    day_before = term_start - dt.timedelta(days=1)
    bounds = Window(kind="term").bounds(pupil, day_before, calendar)
    if bounds is None or bounds[0] > day_before:
        return None
    return compute(pupil, "attendance_rate", day_before, Window(kind="term"), calendar).rate()


def _main_stages(facts: Iterable[str]) -> tuple[str, ...]:
    """The numbered stages (``stage2``) if the pupil has any, else every stage fact, sorted."""
    stages = sorted(f for f in facts if f.startswith("stage"))
    return tuple(s for s in stages if _NUMBERED_STAGE.fullmatch(s)) or tuple(stages)


def _rag(facts: Iterable[str]) -> str:
    """The worst RAG rating among the pupil's facts (``tameside_vs_rag_red`` …), or ""."""
    found = {m.group(1) for m in map(_RAG.search, facts) if m}
    return next((colour for colour in _RAG_ORDER if colour in found), "")


def _pa_distance(result: PupilEvaluation) -> Any:
    """The nearest at-risk distance to the persistent-absence fact, for a pupil without it."""
    if result.at_risk is None or any(f.name == PERSISTENT for f in result.facts):
        return None
    return next((d for d in result.at_risk if PERSISTENT in d.derives), None)


def _risk_row(row: PackRow, result: PupilEvaluation) -> RiskRow:
    distance = _pa_distance(result)
    return RiskRow(
        row=row, sessions=distance.sessions, reached_on=distance.reached_on, rule=distance.rule
    )


def _term_code_counts(
    policy: CompiledPolicy, pupil: Pupil, as_of: dt.date
) -> tuple[tuple[str, int], ...]:
    """Sessions this term marked C, C2 and I."""
    return tuple(
        (
            code,
            compute(
                pupil, "code_sessions", as_of, Window(kind="term"), policy.calendar, (code,)
            ).count(),
        )
        for code in PART_TIME_CODES
    )


def _part_time_candidate(policy: CompiledPolicy, pupil: Pupil, as_of: dt.date) -> bool:
    """Flagged ``part_time_timetable``, or with a C2 (reduced timetable) mark this term."""
    if pupil.has(PART_TIME_FLAG):
        return True
    return (
        compute(
            pupil, "code_sessions", as_of, Window(kind="term"), policy.calendar, ("C2",)
        ).count()
        > 0
    )


def _part_time_row(
    policy: CompiledPolicy,
    pupil: Pupil,
    as_of: dt.date,
    row: PackRow,
    result: PupilEvaluation,
    priority: tuple[str, ...],
) -> PartTimeRow:
    chosen = tuple((r.action, r.title) for r in result.recommendations if r.action in priority)
    return PartTimeRow(
        row=row,
        flagged=pupil.has(PART_TIME_FLAG),
        counts=_term_code_counts(policy, pupil, as_of),
        priority=chosen,
    )


def _bins(policy: CompiledPolicy, pupils: Iterable[Pupil], as_of: dt.date) -> tuple[tuple, int]:
    """Pupils per attendance band of BIN_POINTS points (``0-5`` then over 5 up to 10 …), exactly:
    a pupil at 90.0% is in the band ending at 90. Also the pupils with no possible session."""
    counts = [0] * (100 // BIN_POINTS)
    none = 0
    for pupil in pupils:
        rate = compute(
            pupil, "attendance_rate", as_of, Window(kind="academic_year"), policy.calendar
        ).value
        if rate is None:
            none += 1
            continue
        counts[max(0, math.ceil(rate * 100 / BIN_POINTS) - 1)] += 1
    return tuple((i * BIN_POINTS, (i + 1) * BIN_POINTS, n) for i, n in enumerate(counts)), none


def points_shown(value: Fraction | None) -> Decimal | None:
    """Percentage points rounded to one decimal as shown (``-0.0`` is ``0.0``)."""
    if value is None:
        return None
    shown = Decimal(f"{float(value):.1f}")
    return shown if shown != 0 else Decimal("0.0")


def percent_number(value: Fraction | None) -> Decimal | str:
    """A rate (of 1) as the number of percent shown on the page (``87.5``), "" when undefined."""
    return "" if value is None else Decimal(percent(value)[:-1])
