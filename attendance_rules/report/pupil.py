"""``report pupil``: one pupil's year as a page, for the attendance officer or head of year.

The page holds the year-to-date figures with the persistent/severe absence status (in
words and colour), a chart of weekly attendance with the national persistent (90%) and
severe (50%) absence levels and markers for case events and stage changes (with its
numbers as tables), the register as a calendar (one row per school week, a cell per
session coloured by how its code counts and showing the code), and what the policy says
today: recommendations with reasons and citations linked to the handbook, what is held
back, what is already done and the thresholds within the horizon.

Stage changes and the life of each recommendation come from one pass over the pupil's
school days (``timeline.evaluations_by_day``, the replay ``replay_pupil`` does for other
backends; ``build_timeline`` over it gives the same episodes): each day's evaluation also
says which ``stage`` facts held, which ``replay_pupil`` does not keep.
"""

from __future__ import annotations

import datetime as dt
import re
from fractions import Fraction
from typing import Any, Iterable, Sequence

import attrs
from markupsafe import Markup

from .. import __version__
from ..engine.distance import distances
from ..engine.provenance import policy_provenance
from ..exceptions import Location, Problem, UsageError
from ..registers.calendar import academic_year_start, monday_of, school_days_in
from ..registers.codes import Category, counted_as
from ..registers.history import Event, Pupil, School
from ..registers.measures import (
    PERSISTENT_ABSENCE_RATE,
    SEVERE_ABSENCE_RATE,
    Window,
    compute,
)
from ..replay.timeline import (
    build_timeline,
    evaluations_by_day,
    rolling_due_actions,
)
from ..text import short_date
from . import charts
from .html import render

__all__ = [
    "Cell",
    "Marker",
    "RegisterWeek",
    "Threshold",
    "WeekCount",
    "absence_thresholds",
    "event_text",
    "pupil_report",
    "register_weeks",
    "stage_changes",
    "weekly_attendance",
    "year_chart",
]

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# CSS class of each category (report.css): colour is never the only signal, the cell shows its code
CATEGORY_CLASS = {
    Category.PRESENT: "cat-present",
    Category.APPROVED_ACTIVITY: "cat-approved-activity",
    Category.AUTHORISED: "cat-authorised",
    Category.UNAUTHORISED: "cat-unauthorised",
    Category.NOT_POSSIBLE: "cat-not-possible",
}
_NUMBERED_STAGE = re.compile(r"stage\d+")


@attrs.frozen
class Threshold:
    """A national absence level as an attendance rate: ``attendance`` at or below it meets it."""

    name: str  # persistent_absence / severe_absence
    absence: Fraction  # share of possible sessions missed at or above which it is met
    parameter: str  # the policy parameter it was read from; "" for the national definition

    @property
    def attendance(self) -> Fraction:
        """The attendance rate at or below which the level is met (1 - absence)."""
        return 1 - self.absence


@attrs.frozen
class WeekCount:
    """One school week of the pupil: sessions attended and possible."""

    monday: dt.date
    attended: int
    possible: int

    @property
    def rate(self) -> Fraction | None:
        """Attended / possible; None when the week has no possible session."""
        return Fraction(self.attended, self.possible) if self.possible else None


@attrs.frozen
class Cell:
    """One session of the register calendar (``code`` "" for a session without a mark)."""

    code: str = ""
    css: str = ""
    title: str = ""


@attrs.frozen
class RegisterWeek:
    """One row of the register calendar: the week's Monday and its sessions, AM then PM per day."""

    monday: dt.date
    cells: tuple[Cell, ...]
    after_break: bool  # the previous row is not the week before (a holiday or a gap lies between)


@attrs.frozen(kw_only=True)
class Marker:
    """Something shown on the chart: a case event or a stage change, numbered in date order."""

    number: int
    date: dt.date
    kind: str  # "event" or "stage"
    text: str


def absence_thresholds(policy: Any, as_of: dt.date) -> tuple[Threshold, Threshold]:
    """The persistent and severe absence levels: the policy's ``persistent_absence_rate`` /
    ``severe_absence_rate`` parameters (percent) in force on ``as_of`` when it has them, else
    the national definitions (10% and 50% of possible sessions missed)."""
    parameters = policy.ruleset.policy.parameters
    out = []
    for name, parameter, national in (
        ("persistent_absence", "persistent_absence_rate", PERSISTENT_ABSENCE_RATE),
        ("severe_absence", "severe_absence_rate", SEVERE_ABSENCE_RATE),
    ):
        found = parameters.get(parameter)
        value = found.value_on(as_of) if found is not None and found.unit == "percent" else None
        if value is None or isinstance(value, bool):
            out.append(Threshold(name, national, ""))
        else:
            out.append(Threshold(name, Fraction(str(value)) / 100, parameter))
    return out[0], out[1]


def weekly_attendance(pupil: Pupil, start: dt.date, end: dt.date) -> tuple[WeekCount, ...]:
    """Sessions attended and possible in each of the pupil's school weeks (weeks with a school
    day, ``Register.days``) from ``start`` to ``end``; only the marks inside the range count."""
    reg = pupil.register
    out = []
    for monday in sorted({monday_of(day) for day in school_days_in(reg.days, start, end)}):
        first = max(dt.date.fromordinal(monday), start)
        lo, hi = reg.span(first, min(dt.date.fromordinal(monday + 6), end))
        attended = reg.count(Category.PRESENT, lo, hi) + reg.count(
            Category.APPROVED_ACTIVITY, lo, hi
        )
        possible = hi - lo - reg.count(Category.NOT_POSSIBLE, lo, hi)
        out.append(WeekCount(dt.date.fromordinal(monday), attended, possible))
    return tuple(out)


def _day_columns(pupil: Pupil, start: dt.date, end: dt.date) -> int:
    """5 (Monday to Friday), or 7 when a mark in the range falls on a weekend."""
    lo, hi = pupil.register.span(start, end)
    weekend = any(dt.date.fromordinal(s >> 1).weekday() >= 5 for s in pupil.register.slots[lo:hi])
    return 7 if weekend else 5


def register_weeks(pupil: Pupil, start: dt.date, end: dt.date) -> tuple[RegisterWeek, ...]:
    """The register calendar: every week with a mark from ``start`` to ``end``, a cell per
    session of each weekday (and weekend day, when a mark falls on one)."""
    reg = pupil.register
    lo, hi = reg.span(start, end)
    days = _day_columns(pupil, start, end)
    rows: dict[int, list[Cell]] = {}
    for i in range(lo, hi):
        slot, entry = reg.slots[i], reg.codebook.by_id[reg.codes[i] - 1]
        day = slot >> 1
        monday = monday_of(day)
        cells = rows.setdefault(monday, [Cell()] * (2 * days))
        late = reg.minutes_late.get(i)
        note = f", {late} minutes late" if late is not None else ""
        title = f"{entry.code}: {entry.meaning} ({counted_as(entry.category)}{note})"
        cells[2 * ((day - monday) % 7) + (slot & 1)] = Cell(
            entry.code, CATEGORY_CLASS[entry.category], title
        )
    out, previous = [], None
    for monday in sorted(rows):
        out.append(
            RegisterWeek(
                dt.date.fromordinal(monday),
                tuple(rows[monday]),
                previous is not None and monday - previous > 7,
            )
        )
        previous = monday
    return tuple(out)


def _stage_names(evaluation: Any, numbered: bool) -> tuple[str, ...]:
    """The stage facts of a day's evaluation: the numbered ones (``stage2``) when the policy has
    any."""
    names = (f.name for f in evaluation.facts if f.name.startswith("stage"))
    return tuple(sorted(n for n in names if not numbered or _NUMBERED_STAGE.fullmatch(n)))


def stage_changes(
    evaluations: Iterable[Any], stage_facts: Iterable[str]
) -> list[tuple[dt.date, str]]:
    """(day, text) for each evaluated day on which the pupil's stage facts changed: the
    numbered stage facts (``stage1``, ``stage2``) when ``stage_facts`` has any, else every
    fact whose name starts with ``stage``; the first day lists the stages already held."""
    numbered = any(_NUMBERED_STAGE.fullmatch(f) for f in stage_facts)
    out: list[tuple[dt.date, str]] = []
    before: tuple[str, ...] | None = None
    for evaluation in evaluations:
        now = _stage_names(evaluation, numbered)
        if before is None:
            if now:
                out.append((evaluation.as_of, "in " + ", ".join(now) + " on the first day shown"))
        elif now != before:
            began = [n for n in now if n not in before]
            ended = [n for n in before if n not in now]
            words = (["began " + ", ".join(began)] if began else []) + (
                ["ended " + ", ".join(ended)] if ended else []
            )
            out.append((evaluation.as_of, "; ".join(words)))
        before = now
    return out


def event_text(event: Event) -> str:
    """``letter_sent (action = stage1_letter)``: an event's type and its details, sorted by name."""
    details = ", ".join(f"{k} = {_detail(v)}" for k, v in sorted(event.details.items()))
    return f"{event.type} ({details})" if details else event.type


def _detail(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _markers(events: Sequence[Event], stages: Sequence[tuple[dt.date, str]]) -> tuple[Marker, ...]:
    """Events and stage changes in date order (an event before a stage change on the same day),
    numbered from 1."""
    items = sorted(
        [(e.date, 0, "event", event_text(e)) for e in events]
        + [(day, 1, "stage", text) for day, text in stages]
    )
    return tuple(
        Marker(number=i, date=day, kind=kind, text=text)
        for i, (day, _, kind, text) in enumerate(items, 1)
    )


# --- the chart ---------------------------------------------------------------------------------


def _month_ticks(start: dt.date, end: dt.date) -> tuple[list[int], list[str]]:
    """Ticks at the first of each month of the range (ordinals) and their labels (``Sep 2023``)."""
    ticks: list[int] = []
    labels: list[str] = []
    day = dt.date(start.year, start.month, 1)
    while day <= end:
        if day >= start - dt.timedelta(days=7):
            ticks.append(day.toordinal())
            labels.append(f"{day:%b %Y}" if day.month in (1, 9) or not labels else f"{day:%b}")
        day = dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return ticks, labels


def _marker_levels(markers: Sequence[Marker], near_days: int = 9, levels: int = 3) -> list[int]:
    """A height (0, 1, 2 …) for each marker's label: the lowest no marker within ``near_days``
    before it uses, so labels of close or same-day markers do not cover each other."""
    out: list[int] = []
    for i, marker in enumerate(markers):
        taken = {out[j] for j in range(i) if (marker.date - markers[j].date).days < near_days}
        out.append(next((k for k in range(levels) if k not in taken), i % levels))
    return out


def year_chart(
    weeks: Sequence[WeekCount],
    markers: Sequence[Marker],
    levels: Sequence[Threshold],
    start: dt.date,
    end: dt.date,
    description_id: str,
) -> Markup:
    """Weekly attendance as bars, the absence levels as lines, markers numbered as in the table."""
    fig = charts.figure(9.5, 3.4)
    ax = fig.add_subplot()
    shown = [w for w in weeks if w.rate is not None]
    ax.bar(
        [w.monday.toordinal() + 2 for w in shown],
        [float(w.rate) * 100 for w in shown],  # type: ignore[arg-type]
        width=4.2,
        color="#1d70b8",
        label="attendance in the week",
    )
    styles = {
        "persistent_absence": ("#b35900", "--", "persistent absence"),
        "severe_absence": ("#d4351c", ":", "severe absence"),
    }
    for level in levels:
        colour, dash, words = styles[level.name]
        ax.axhline(
            float(level.attendance) * 100,
            color=colour,
            linestyle=dash,
            linewidth=1.6,
            label=f"{words}: {float(level.attendance) * 100:g}% or less",
        )
    for marker, row in zip(markers, _marker_levels(markers)):
        x, height = marker.date.toordinal(), 104 + 11 * row
        if marker.kind == "stage":
            ax.axvline(x, color="#505a5f", linestyle="-.", linewidth=0.9)
        ax.plot(
            [x],
            [height],
            marker="v" if marker.kind == "event" else "s",
            color="#1b1b1b",
            markersize=4,
        )
        ax.text(x, height + 2, str(marker.number), ha="center", va="bottom", fontsize=7)
    ticks, labels = _month_ticks(start, end)
    ax.set_xticks(ticks, labels)
    ax.set_xlim(start.toordinal() - 3, end.toordinal() + 4)
    ax.set_ylim(0, 136)
    ax.set_yticks([0, 25, 50, 75, 90, 100], ["0%", "25%", "50%", "75%", "90%", "100%"])
    ax.set_ylabel("attendance in the week")
    fig.legend(loc="outside lower center", ncols=3, fontsize=8, frameon=False)  # off the bars
    ax.spines[["top", "right"]].set_visible(False)
    title = f"Weekly attendance, {short_date(start)} to {short_date(end)}"
    return charts.svg(fig, "year-at-a-glance", title, description_id)


# --- the page ----------------------------------------------------------------------------------


def _summary(
    pupil: Pupil, as_of: dt.date, policy: Any, levels: tuple[Threshold, Threshold]
) -> dict[str, Any]:
    """Year-to-date counts, the rate and the absence status (words and RAG colour)."""
    rate = compute(pupil, "attendance_rate", as_of, Window(kind="academic_year"), policy.calendar)
    counts = rate.counts
    persistent, severe = levels
    absence = None if rate.value is None else 1 - rate.value
    if absence is None:
        # no colour: nothing to rate
        status, rag = (
            "No possible sessions this academic year",
            "none",
        )
    elif absence >= severe.absence:
        status, rag = "Severely absent", "red"
    elif absence >= persistent.absence:
        status, rag = "Persistently absent", "amber"
    else:
        status, rag = "Not persistently absent", "green"
    return {
        "start": rate.start,
        "possible": counts.get("possible", 0),
        "attended": counts.get("attended", 0),
        "authorised": counts.get("authorised", 0),
        "unauthorised": counts.get("unauthorised", 0),
        "rate": rate.value,
        "absence": absence,
        "status": status,
        "rag": rag,
    }


def _provenance(policy: Any) -> dict[str, Any]:
    """The policy as the page records it: id, version, digest and file names (no absolute paths)."""
    meta = policy_provenance(policy.ruleset)
    return {
        "id": meta["id"],
        "version": meta["version"],
        "digest": meta["digest"],
        "files": [file["file"] for file in meta["files"]],
    }


def _weekday_pattern(rows: Sequence[RegisterWeek]) -> list[dict[str, Any]]:
    """Per weekday: possible sessions and absences (authorised, unauthorised) in the calendar."""
    out = []
    for day in range(len(rows[0].cells) // 2 if rows else 0):
        cells = [c for row in rows for c in row.cells[2 * day : 2 * day + 2] if c.code]
        possible = [c for c in cells if c.css != CATEGORY_CLASS[Category.NOT_POSSIBLE]]
        unauthorised = sum(c.css == CATEGORY_CLASS[Category.UNAUTHORISED] for c in possible)
        authorised = sum(c.css == CATEGORY_CLASS[Category.AUTHORISED] for c in possible)
        absent = authorised + unauthorised
        out.append(
            {
                "day": WEEKDAYS[day],
                "possible": len(possible),
                "authorised": authorised,
                "unauthorised": unauthorised,
                "rate": Fraction(absent, len(possible)) if possible else None,
            }
        )
    return out


def _key() -> list[dict[str, str]]:
    """The calendar's key: each category with its class and words."""
    return [{"css": CATEGORY_CLASS[c], "words": counted_as(c)} for c in CATEGORY_CLASS]


def _timeline(
    policy: Any, pupil: Pupil, start: dt.date, as_of: dt.date, school: School
) -> tuple[Any, list]:
    """The pupil's recommendation episodes and stage changes from one pass over its school days."""
    days = list(evaluations_by_day(policy, pupil, start, as_of, school))
    timeline = build_timeline(pupil.id, days, rolling_due_actions(policy))
    return timeline, stage_changes(days, policy.ruleset.facts)


def _check_range(start: dt.date, as_of: dt.date) -> None:
    if start > as_of:
        raise UsageError(
            [
                Problem(
                    "--from is after --as-of: the report would show no day",
                    Location("<command line>"),
                    found=f"--from {start.isoformat()} --as-of {as_of.isoformat()}",
                    expected="--from on or before --as-of",
                    example="--from 2023-09-01",
                )
            ]
        )


def pupil_report(
    policy: Any,
    pupil: Pupil,
    as_of: dt.date,
    *,
    school: School,
    handbook: str,
    horizon: int,
    start: dt.date | None,
    warnings: tuple[Problem, ...],
) -> str:
    """One pupil's year as a self-contained HTML page (see the module's docstring).

    ``policy`` is an ``api.CompiledPolicy``; ``handbook`` the address citations link to;
    ``horizon`` the school weeks ahead for thresholds (0: none); ``start`` the first day
    shown (default: 1 September of the academic year containing ``as_of``); ``warnings``
    what checking the history against the policy found, shown at the top.
    """
    start = start or academic_year_start(as_of)
    _check_range(start, as_of)
    school = policy.school(school)
    evaluation = policy.evaluate_pupil(pupil, as_of, school)
    at_risk = distances(policy.engine, pupil, as_of, school, horizon) if horizon > 0 else ()
    timeline, stages = _timeline(policy, pupil, start, as_of, school)
    levels = absence_thresholds(policy, as_of)
    weeks = weekly_attendance(pupil, start, as_of)
    markers = _markers(pupil.events_of(since=start, until=as_of), stages)
    calendar_rows = register_weeks(pupil, start, as_of)
    columns = len(calendar_rows[0].cells) // 2 if calendar_rows else 5
    return render(
        "pupil.html.j2",
        library_version=__version__,
        pupil=pupil,
        as_of=as_of,
        start=start,
        school=school,
        handbook=handbook,
        horizon=horizon,
        warnings=warnings,
        policy=_provenance(policy),
        summary=_summary(pupil, as_of, policy, levels),
        levels=levels,
        flags=sorted(pupil.flags),
        evaluation=evaluation,
        at_risk=at_risk,
        timeline=timeline,
        weeks=weeks,
        markers=markers,
        chart=year_chart(weeks, markers, levels, start, as_of, "year-data"),
        calendar=calendar_rows,
        day_names=WEEKDAYS[:columns],
        weekdays=_weekday_pattern(calendar_rows),
        key=_key(),
        events=pupil.events_of(until=as_of),
        event_text=event_text,
    )
