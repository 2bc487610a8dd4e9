"""The termly targeting-support-meeting pack: a folder an attendance officer brings to the meeting.

Halton and Hillingdon hold a termly meeting with each school about its persistently and
severely absent pupils and those at risk of becoming so; Halton's officers also give
priority to pupils on part-time timetables whose registers show many C and I codes
(../shared/sources/README.md). ``write_cohort_pack`` evaluates every pupil (over
``--jobs`` worker processes, as ``attendance-rules cohort`` does) and writes:

- ``index.html``: provenance, counts per stage and per action, a histogram of this
  year's attendance with the persistent and severe absence levels, and four lists —
  persistent absence, severe absence, at risk within the horizon, part-time timetable
  candidates — each pupil linking to a page of their own;
- ``pupils/<file>.html``: ``report.pupil.pupil_report`` for every pupil in a list
  (skipped while that module is not installed; the links are written anyway);
- the four lists as CSV files for spreadsheets (see ``csv_files`` on formula injection).

The lists are the cohort view's (``attendance_rules.replay.cohort``: pupils with the facts
``persistent_absence`` and ``severe_absence``), the at-risk list is the ``at_risk``
distances to the persistent-absence threshold, and terms are the policy's calendar
(``--calendar``, or inferred from gaps). Nothing here sets a threshold of its own.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
from contextlib import closing
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence, TextIO
from urllib.parse import urlsplit

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
from .html import percent, pupil_file_name, render

if TYPE_CHECKING:
    from ..engine.compiled import CompiledPolicy

__all__ = [
    "CSV_FILES",
    "CohortPack",
    "PackRow",
    "PartTimeRow",
    "RiskRow",
    "absence_levels",
    "build_pack",
    "cohort_pack",
    "csv_files",
    "index_html",
    "part_time_priority_actions",
    "pupil_handbook",
    "write_cohort_pack",
]

PART_TIME_FLAG = "part_time_timetable"  # the flag halton.yaml declares for a reduced timetable
PART_TIME_CODES = (
    "C",
    "C2",
    "I",
)  # the codes the Halton framework names (C2: the 2024 reduced-timetable code)
BIN_POINTS = 5  # width of a histogram bar in percentage points (a display choice, not a threshold)
CSV_FILES = (
    "at_risk.csv",
    "part_time_candidates.csv",
    "persistent_absence.csv",
    "severe_absence.csv",
)
_NUMBERED_STAGE = re.compile(r"stage\d+")
_RAG = re.compile(r"(?:^|_)rag_(red|amber|green)$")
_RAG_ORDER = ("red", "amber", "green")  # worst first: a pupil with two ratings shows the worse
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
BACK_LINK = (
    '<p class="back"><a href="../index.html">Back to the targeting support meeting pack</a></p>\n'
)


@attrs.frozen
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
    actions: tuple[
        tuple[str, str], ...
    ]  # (action id, title) recommended now, in the evaluation's order
    rag: str = ""  # red, amber or green where the policy derives a RAG rating, else ""

    @property
    def trend(self) -> Fraction | None:
        """This term's attendance minus last term's, in percentage points (None if either is missing)."""
        if self.this_term is None or self.last_term is None:
            return None
        return (self.this_term - self.last_term) * 100

    def trend_words(self) -> str:
        """``up 3.2 points``, ``down 0.4 points``, ``no change`` or ``n/a`` (rounded to one decimal)."""
        shown = _points(self.trend)
        if shown is None:
            return "n/a"
        if shown == 0:
            return "no change"
        return f"{'up' if shown > 0 else 'down'} {abs(shown)} points"

    def trend_arrow(self) -> str:
        """``↑``, ``↓``, ``→`` or "" (a glyph beside the words, never alone)."""
        shown = _points(self.trend)
        return "" if shown is None else "↑" if shown > 0 else "↓" if shown < 0 else "→"


@attrs.frozen
class RiskRow:
    """A pupil not yet persistently absent who could become so within the horizon."""

    row: PackRow
    sessions: int  # sessions of absence from tomorrow that would meet the threshold
    reached_on: dt.date  # the earliest day it could be met (weekdays stand in for school days)
    rule: str


@attrs.frozen
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


@attrs.frozen
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
    priority_actions: tuple[
        tuple[str, str], ...
    ]  # (id, title) of the policy's part-time priority actions
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
    Halton's ``tsm_part_time_priority``. Empty when the policy has none (no threshold is assumed)."""
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
        view,
        horizon,
        persistent_level,
        severe_level,
        bins,
        none,
        persistent,
        severe,
        tuple(risk),
        tuple(part_time),
        tuple((a, titles.get(a, a)) for a in priority),
        bool(policy.calendar.terms),
        tuple(warnings),
    )


def _level_lists(
    policy: CompiledPolicy,
    by_id: dict[str, Pupil],
    results: dict[str, PupilEvaluation],
    view: CohortView,
) -> tuple[tuple[PackRow, ...], tuple[PackRow, ...]]:
    """The persistent and severe absence rows, in the cohort view's order (lowest attendance first)."""
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
    """A pupil's figures: the year to date, this term and the term before it (the policy's calendar)."""
    calendar = policy.calendar
    year = compute(pupil, "attendance_rate", as_of, Window("academic_year"), calendar)
    this_term = compute(pupil, "attendance_rate", as_of, Window("term"), calendar)
    facts = {f.name for f in result.facts}
    return PackRow(
        pupil.id,
        pupil.year_group,
        year.rate(),
        year.counts.get("possible", 0),
        year.counts.get("absent", 0),
        year.counts.get("unauthorised", 0),
        this_term.rate(),
        _last_term(pupil, this_term.start, calendar),
        _main_stages(facts),
        tuple((r.action, r.title) for r in result.recommendations),
        _rag(facts),
    )


def _last_term(pupil: Pupil, term_start: dt.date | None, calendar: Any) -> Fraction | None:
    """Attendance in the term before the one starting ``term_start`` (None when there is none)."""
    if term_start is None or term_start == dt.date.min:
        return None
    day_before = term_start - dt.timedelta(days=1)
    bounds = Window("term").bounds(pupil, day_before, calendar)
    if bounds is None or bounds[0] > day_before:
        return None
    return compute(pupil, "attendance_rate", day_before, Window("term"), calendar).rate()


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
    return RiskRow(row, distance.sessions, distance.reached_on, distance.rule)


def _term_code_counts(
    policy: CompiledPolicy, pupil: Pupil, as_of: dt.date
) -> tuple[tuple[str, int], ...]:
    """Sessions this term marked C, C2 and I."""
    return tuple(
        (
            code,
            compute(
                pupil, "code_sessions", as_of, Window("term"), policy.calendar, (code,)
            ).count(),
        )
        for code in PART_TIME_CODES
    )


def _part_time_candidate(policy: CompiledPolicy, pupil: Pupil, as_of: dt.date) -> bool:
    """Flagged ``part_time_timetable``, or with a C2 (reduced timetable) mark this term."""
    if pupil.has(PART_TIME_FLAG):
        return True
    return (
        compute(pupil, "code_sessions", as_of, Window("term"), policy.calendar, ("C2",)).count() > 0
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
        row, pupil.has(PART_TIME_FLAG), _term_code_counts(policy, pupil, as_of), chosen
    )


def _bins(policy: CompiledPolicy, pupils: Iterable[Pupil], as_of: dt.date) -> tuple[tuple, int]:
    """Pupils per attendance band of BIN_POINTS points (``0-5`` then over 5 up to 10 …), exactly:
    a pupil at 90.0% is in the band ending at 90. Also the pupils with no possible session."""
    counts = [0] * (100 // BIN_POINTS)
    none = 0
    for pupil in pupils:
        rate = compute(
            pupil, "attendance_rate", as_of, Window("academic_year"), policy.calendar
        ).value
        if rate is None:
            none += 1
            continue
        counts[max(0, math.ceil(rate * 100 / BIN_POINTS) - 1)] += 1
    return tuple((i * BIN_POINTS, (i + 1) * BIN_POINTS, n) for i, n in enumerate(counts)), none


# --- numbers as shown -------------------------------------------------------------------


def _points(value: Fraction | None) -> Decimal | None:
    """Percentage points rounded to one decimal as shown (``-0.0`` is ``0.0``)."""
    if value is None:
        return None
    shown = Decimal(f"{float(value):.1f}")
    return shown if shown != 0 else Decimal("0.0")


def _pct_number(value: Fraction | None) -> Decimal | str:
    """A rate (of 1) as the number of percent shown on the page (``87.5``), "" when undefined."""
    return "" if value is None else Decimal(percent(value)[:-1])


# --- HTML -------------------------------------------------------------------------------


def pupil_handbook(handbook: str) -> str:
    """The handbook address as seen from ``pupils/``: ``../`` before a relative path, an
    address with a scheme (``https://…``) or an absolute path unchanged."""
    if urlsplit(handbook).scheme or handbook.startswith(("/", "\\")):
        return handbook
    return "../" + handbook


def _chart(pack: CohortPack) -> Any:
    """The histogram of this year's attendance, with the persistent and severe absence lines."""
    from matplotlib.ticker import MaxNLocator

    from .charts import figure, svg

    fig = figure(7.5, 3.2)
    ax = fig.add_subplot()
    bars = ax.bar(
        [low for low, _, _ in pack.bins],
        [n for _, _, n in pack.bins],
        width=BIN_POINTS,
        align="edge",
        color="#1d70b8",
        edgecolor="#ffffff",
        linewidth=0.6,
    )
    # counts over the bars: a band of one or two pupils is otherwise invisible beside a band of 180
    ax.bar_label(bars, labels=[str(n) if n else "" for _, _, n in pack.bins], padding=2, fontsize=8)
    pa_line, sa_line = _level_percent(pack.persistent_level), _level_percent(pack.severe_level)
    ax.axvline(
        pa_line,
        color="#b35900",
        linestyle="--",
        linewidth=1.5,
        label=f"persistent absence: {_num(pa_line)}% attendance or less",
    )
    ax.axvline(
        sa_line,
        color="#d4351c",
        linestyle=":",
        linewidth=1.8,
        label=f"severe absence: {_num(sa_line)}% attendance or less",
    )
    ax.set_xlim(0, 100)
    ax.set_xticks(range(0, 101, 10))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("Attendance this academic year to date (%)")
    ax.set_ylabel("Pupils")
    ax.margins(y=0.12)
    ax.legend(loc="upper left", frameon=True, framealpha=1, edgecolor="none")
    title = (
        f"Pupils by attendance this academic year to {pack.view.as_of.day} {pack.view.as_of:%B %Y}, "
        f"in bands of {BIN_POINTS} points, with the persistent and severe absence levels"
    )
    return svg(fig, "attendance-histogram", title, "attendance-bins")


def _level_percent(absence: Fraction) -> Fraction:
    """The attendance (percent) at or below which an absence rate is reached."""
    return 100 - absence * 100


def _num(value: Fraction) -> str:
    """A level as written in labels: ``90`` or ``87.5``."""
    return str(value.numerator) if value.denominator == 1 else f"{float(value):g}"


def index_html(pack: CohortPack, *, handbook: str) -> str:
    """The pack's ``index.html`` (the chart needs matplotlib)."""
    from .. import __version__

    view = pack.view
    rag_used = {
        name: any(r.rag for r in rows)
        for name, rows in (
            ("persistent", pack.persistent),
            ("severe", pack.severe),
            ("at_risk", [r.row for r in pack.at_risk]),
            ("part_time", [r.row for r in pack.part_time]),
        )
    }
    return render(
        "cohort.html.j2",
        pack=pack,
        view=view,
        handbook=handbook,
        library_version=__version__,
        chart=_chart(pack),
        rag_used=rag_used,
        pupil_dir="pupils/",
        pa_line=_num(_level_percent(pack.persistent_level)),
        sa_line=_num(_level_percent(pack.severe_level)),
        policy_files=[f["path"] for f in view.policy.get("files", [])],
    )


# --- CSV --------------------------------------------------------------------------------


def _defused(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula (``=…``, ``+…``, ``-…``, ``@…``, or
    a tab or carriage return first) gets a leading apostrophe; numbers are left alone."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _year(value: int | None) -> Any:
    return "" if value is None else value


def _level_columns(row: PackRow) -> list[Any]:
    return [
        row.pupil_id,
        _year(row.year_group),
        _pct_number(row.attendance),
        row.possible,
        row.absent,
        row.unauthorised,
        _pct_number(row.this_term),
        _pct_number(row.last_term),
        "" if row.trend is None else _points(row.trend),
    ]


_LEVEL_HEAD = [
    "pupil_id",
    "year_group",
    "attendance_year_pct",
    "possible_sessions",
    "absent_sessions",
    "unauthorised_sessions",
    "attendance_this_term_pct",
    "attendance_last_term_pct",
    "trend_points",
]


def _csv_text(header: list[str], rows: Iterable[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([_defused(cell) for cell in row] for row in rows)
    return buffer.getvalue()


def csv_files(pack: CohortPack) -> dict[str, str]:
    """The four lists as CSV text by file name: a header row, then one row per pupil in the
    page's order. Percentages are numbers with one decimal (``87.5``), lists of stages and
    actions are ids separated by ``; ``.

    Guard against CSV formula injection: pupil ids and other text come from registers and a
    spreadsheet would run a cell starting with ``=``, ``+``, ``-`` or ``@`` (or a tab or
    carriage return) as a formula, so such a text cell is written with a leading apostrophe
    (``'=cmd``), which spreadsheets show as text. Numbers (a negative trend) are not changed.
    """

    def level(rows: Sequence[PackRow]) -> str:
        return _csv_text(
            _LEVEL_HEAD + ["stages", "rag", "recommended_actions"],
            (
                _level_columns(r) + ["; ".join(r.stages), r.rag, "; ".join(a for a, _ in r.actions)]
                for r in rows
            ),
        )

    return {
        "persistent_absence.csv": level(pack.persistent),
        "severe_absence.csv": level(pack.severe),
        "at_risk.csv": _csv_text(
            _LEVEL_HEAD + ["sessions_to_persistent_absence", "earliest_date", "rule"],
            (
                _level_columns(r.row) + [r.sessions, r.reached_on.isoformat(), r.rule]
                for r in pack.at_risk
            ),
        ),
        "part_time_candidates.csv": _csv_text(
            _LEVEL_HEAD
            + ["part_time_timetable_flag"]
            + [f"{c}_sessions_this_term" for c in PART_TIME_CODES]
            + ["c_c2_i_sessions_this_term", "priority_actions"],
            (
                _level_columns(r.row)
                + ["yes" if r.flagged else "no"]
                + [n for _, n in r.counts]
                + [r.total, "; ".join(a for a, _ in r.priority)]
                for r in pack.part_time
            ),
        ),
    }


# --- pupil pages ------------------------------------------------------------------------


def _pupil_report_function() -> Callable[..., str] | None:
    """``report.pupil.pupil_report``, or None while that module is not installed."""
    try:
        from .pupil import pupil_report
    except ModuleNotFoundError as error:
        if error.name != f"{__package__}.pupil":
            raise  # the module exists but something it needs is missing: a real error
        return None
    return pupil_report


def _setup_pages(ref: str, calendar: Any, backend: str, extra: tuple) -> tuple[Any, tuple]:
    """A worker's state for pupil pages: the policy compiled once per process, and the options."""
    from ..scale.tasks import setup_policy

    return setup_policy(ref, calendar, backend, extra)


def _pupil_page(state: tuple[Any, tuple], pupil: Pupil) -> str:
    """One pupil's page with a link back to the pack."""
    policy, (as_of, school, handbook, horizon, warnings) = state
    report = _pupil_report_function()
    assert report is not None, "pupil pages are only asked for when report.pupil exists"
    page = report(
        policy,
        pupil,
        as_of,
        school=school,
        handbook=handbook,
        horizon=horizon,
        start=None,
        warnings=warnings,
    )
    return _with_back_link(page)


def _with_back_link(page: str) -> str:
    """The page with a link back to ``../index.html`` at the top of its main content."""
    marker = '<main id="main">\n'
    return page.replace(marker, marker + BACK_LINK, 1) if marker in page else page


def _pupil_pages(
    policy: CompiledPolicy,
    ref: str,
    pupils: Sequence[Pupil],
    as_of: dt.date,
    *,
    school: School,
    handbook: str,
    horizon: int,
    jobs: int,
    progress: TextIO | None,
    warnings: tuple[Problem, ...],
) -> Iterable[tuple[str, str]]:
    """(pupil id, page) for each of ``pupils``, rendered over ``jobs`` processes."""
    from ..scale.parallel import PupilTask, map_pupils
    from ..scale.progress import progress as bar

    extra = (as_of, school, pupil_handbook(handbook), horizon, tuple(warnings))
    task = PupilTask(_setup_pages, _pupil_page, (ref, policy.calendar, policy.backend, extra))
    with closing(map_pupils(task, pupils, jobs, state=(policy, extra))) as pages:
        yield from zip(
            (p.id for p in pupils), bar(pages, len(pupils), "pupil pages", progress, unit="page")
        )


# --- the folder -------------------------------------------------------------------------


def _write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))  # bytes: the same line ends on every platform
    return path


def write_cohort_pack(
    policy: CompiledPolicy,
    ref: str,
    history: History,
    as_of: dt.date,
    folder: Path,
    *,
    school: School,
    handbook: str,
    horizon: int,
    jobs: int,
    progress: TextIO | None,
    warnings: tuple[Problem, ...],
) -> list[Path]:
    """Write the targeting-support-meeting pack into ``folder`` (which exists): ``index.html``,
    the four CSV lists and, when ``report.pupil`` is installed, ``pupils/<id>.html`` for every
    listed pupil. ``ref`` is the policy file worker processes load; ``horizon`` the school
    weeks of the at-risk list (0: none). Returns the paths written, sorted."""
    pack = cohort_pack(
        policy,
        ref,
        history,
        as_of,
        school=school,
        horizon=horizon,
        jobs=jobs,
        progress=progress,
        warnings=warnings,
    )
    written = [_write(folder / "index.html", index_html(pack, handbook=handbook))]
    written += [_write(folder / name, text) for name, text in csv_files(pack).items()]
    if _pupil_report_function() is not None:
        listed = set(pack.listed())
        chosen = [p for p in history if p.id in listed]
        (folder / "pupils").mkdir(exist_ok=True)
        written += [
            _write(folder / "pupils" / pupil_file_name(pupil_id), page)
            for pupil_id, page in _pupil_pages(
                policy,
                ref,
                chosen,
                as_of,
                school=school,
                handbook=handbook,
                horizon=horizon,
                jobs=jobs,
                progress=progress,
                warnings=warnings,
            )
        ]
    return sorted(written)
