"""A deterministic synthetic attendance cohort for one English school (sample data).

``generate_cohort(n, start, end, seed)`` returns a history in the JSON shape the
library's loader reads: the school, and for each pupil their flags, one AM and one PM
register mark for every school day they are on roll, and the case events an attendance
team would record. ``write_json`` and ``write_csv`` write it out; ``generate_pupils``
yields the pupils one at a time, and both writers accept that iterator in place of a
list, so a large cohort can be streamed to disk.

Determinism: every pupil draws from its own ``random.Random`` seeded from
``(seed, pupil number)`` and the school-wide plan (trip days, work-experience week) from
``(seed, "school")``, so pupil k is identical whatever the cohort size. The global
``random`` module is never used.

The school calendar is ``sample_calendar``'s; each pupil's register is written, one
academic year at a time, by ``sample_register`` and their case file by ``sample_cases``.

Cohort shape, per academic year: each pupil is drawn as *typical* (misses under 10%),
*persistent* (10-40%) or *severe* (52-92%), with odds raised by free school meals,
SEN, a social worker and being in secondary years, and the kind mostly carried over
into the next year. The absence budget is then spent on illness runs (``I``), medical
appointments (``M``), unexplained absence (``N``, sometimes followed by ``O``), and
for some pupils a term-time holiday (``G``), a suspension (``E``), agreed leave
(``H``/``C``) or a reduced timetable (``C``/``C2``). Lateness (``L``, and a little
``U``), trips (``V``), sport (``P``), work experience (``W``), off-site provision
(``B``) and one INSET day (``#``) for everyone complete the register. Pupils whose
absence is 10% or more at two fortnightly checks get a plausible case file: letters,
contact, a school attendance meeting, a review 4-6 weeks later, and for some escalation
(referrals, early help, notices to improve, penalty notices, legal action).
Year 11 pupils come off roll at the end of June; about 3% of pupils join mid-range.
"""

from __future__ import annotations

import csv
import datetime as dt
import gc
import json
import random
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

from ..text import cell_text
from .sample_calendar import (
    SampleCalendar,
    SchoolPlan,
    YearSegment,
    build_calendar,
    school_plans,
)
from .sample_cases import case_work
from .sample_register import Profile, PupilWork, absences, activities, lateness

__all__ = [
    "SCHOOL",
    "STANDARD_FLAGS",
    "event_rows",
    "generate_cohort",
    "generate_pupils",
    "iter_marks",
    "mark_rows",
    "pupil_row",
    "school_row",
    "write_csv",
    "write_json",
]

# Part of every seed string: it fixes the sample forever, so it keeps the module's first name
# (the generator moved to registers/ without changing a pupil).
_TAG = "attendance_rules.sample"
_DAY = dt.timedelta(days=1)

SCHOOL: dict[str, Any] = {
    "id": "WA",
    "name": "Widnes Academy (sample)",
    "settings": {"traded_ews": True},
}

STANDARD_FLAGS = (
    "social_worker",
    "looked_after",
    "child_protection_plan",
    "child_in_need_plan",
    "early_help_plan",
    "ehcp",
    "sen_support",
    "free_school_meals",
)

_JOIN_RATE = 0.03
_SEVERE_BASE, _PERSISTENT_BASE = 0.0145, 0.132  # per unit of risk (mean risk is about 1.45)
_FLAG_RISK = {
    "free_school_meals": 0.9,
    "sen_support": 0.5,
    "ehcp": 0.8,
    "social_worker": 1.2,
    "early_help_plan": 0.4,
}
# kind -> (lowest share missed, highest, beta a, beta b, skew of episode dates: <1 = later)
_KINDS = {
    "typical": (0.0, 0.099, 1.5, 3.0, 1.0),
    "persistent": (0.10, 0.40, 1.2, 3.5, 0.8),
    "severe": (0.52, 0.92, 1.0, 1.5, 0.6),
}


def generate_cohort(n_pupils: int, start: dt.date, end: dt.date, seed: int = 0) -> dict[str, Any]:
    """Return the history as a JSON-ready dict ``{"school": ..., "pupils": [...]}``.

    Deterministic for a seed; pupil k does not depend on ``n_pupils``. ``year_group``
    is each pupil's year in the academic year of the first school day of the range.
    """
    collecting = gc.isenabled()
    gc.disable()  # the output is millions of small acyclic dicts; rescanning them costs ~20%
    try:
        pupils = list(generate_pupils(n_pupils, start, end, seed))
    finally:
        if collecting:
            gc.enable()
    return {"school": json.loads(json.dumps(SCHOOL)), "pupils": pupils}


def generate_pupils(
    n_pupils: int, start: dt.date, end: dt.date, seed: int = 0
) -> Iterator[dict[str, Any]]:
    """Yield the pupils of ``generate_cohort`` one at a time (ids ``P00001`` upwards)."""
    cal = build_calendar(start, end)
    plans = school_plans(random.Random(f"{_TAG}:{seed}:school"), cal)
    for index in range(1, n_pupils + 1):
        yield _pupil(index, seed, cal, plans)


def _pupil(index: int, seed: int, cal: SampleCalendar, plans: list[SchoolPlan]) -> dict[str, Any]:
    rng = random.Random(f"{_TAG}:{seed}:{index}")
    year_group = rng.randint(1, 11)
    dob = _date_of_birth(rng, year_group, cal.first_year)
    flags = _flags(rng)
    join, leave = _roll(rng, cal, year_group)
    work, kind = PupilWork(rng, cal, flags), None
    for seg, plan in zip(cal.segments, plans):
        kind = _pupil_year(
            work, seg, plan, year_group + seg.year - cal.first_year, (join, leave), kind
        )
    return {
        "id": f"P{index:05d}",
        "date_of_birth": dob.isoformat(),
        "year_group": year_group,
        "flags": flags,
        "marks": _marks(work, join, leave),
        "events": _events(work),
    }


def _date_of_birth(rng: random.Random, year_group: int, year: int) -> dt.date:
    """Year N in academic year Y: born September Y-N-5 to August Y-N-4."""
    first = dt.date(year - year_group - 5, 9, 1)
    return first + rng.randrange((first.replace(year=first.year + 1) - first).days) * _DAY


def _flags(rng: random.Random) -> list[str]:
    care = rng.random()
    flags = {"looked_after"} if care < 0.01 else {"child_protection_plan"} if care < 0.03 else set()
    if 0.03 <= care < 0.06:
        flags.add("child_in_need_plan")
    if flags:
        flags.add("social_worker")
    elif rng.random() < 0.04:
        flags.add("early_help_plan")
    need = rng.random()
    flags |= {"ehcp"} if need < 0.03 else {"sen_support"} if need < 0.16 else set()
    if rng.random() < (0.45 if "social_worker" in flags else 0.23):
        flags.add("free_school_meals")
    return [flag for flag in STANDARD_FLAGS if flag in flags]


def _roll(rng: random.Random, cal: SampleCalendar, year_group: int) -> tuple[int, int]:
    """First and one-past-last day index on roll: some join late, year 11 leave in June."""
    leave = _leaving_day(cal, year_group)
    join = rng.randint(10, leave - 10) if rng.random() < _JOIN_RATE and leave > 30 else 0
    return join, leave


def _leaving_day(cal: SampleCalendar, year_group: int) -> int:
    for seg in cal.segments:
        group = year_group + seg.year - cal.first_year
        if group > 11:
            return seg.lo
        if group == 11:
            july = [i for i in range(seg.lo, seg.hi) if cal.days[i].month == 7]
            if july:
                return july[0]
    return len(cal.days)


def _pupil_year(
    w: PupilWork,
    seg: YearSegment,
    plan: SchoolPlan,
    group: int,
    roll: tuple[int, int],
    prev: str | None,
) -> str | None:
    """Write one academic year of the register and case file; return the pupil's kind."""
    w.lo, w.hi = max(seg.lo, roll[0]), min(seg.hi, roll[1])
    if w.hi - w.lo < 5:
        return prev
    w.new_codes = seg.new_codes
    prof = _profile(w.rng, w.flags, group, prev)
    absences(w, prof)
    activities(w, plan, group, prof)
    lateness(w, prof)
    case_work(w, prof)
    return prof.kind


def _profile(rng: random.Random, flags: list[str], group: int, prev: str | None) -> Profile:
    kind = prev if prev and rng.random() < 0.65 else _draw_kind(rng, _risk(flags, group))
    low, high, a, b, skew = _KINDS[kind]
    target = low + (high - low) * rng.betavariate(a, b)
    if kind == "typical" and rng.random() < 0.08:
        target = 0.0  # aiming at a full attendance certificate
    late, u_share = _late_habit(rng, kind)
    return Profile(kind, target, skew, late, u_share, group >= 7)


def _risk(flags: list[str], group: int) -> float:
    risk = 1 + sum(_FLAG_RISK.get(flag, 0.0) for flag in flags)
    return risk * (0.8 if group <= 6 else 1.1 if group <= 8 else 1.4)


def _draw_kind(rng: random.Random, risk: float) -> str:
    u = rng.random()
    if u < _SEVERE_BASE * risk:
        return "severe"
    return "persistent" if u < (_SEVERE_BASE + _PERSISTENT_BASE) * risk else "typical"


def _late_habit(rng: random.Random, kind: str) -> tuple[float, float]:
    u = rng.random()
    low, high = (0, 0.02) if u < 0.7 else (0.02, 0.06) if u < 0.95 else (0.08, 0.2)
    rate = rng.uniform(low, high)
    if kind == "typical":
        return rate, 0.03
    return rate * 1.6, 0.12 if kind == "persistent" else 0.2


# --------------------------------------------------------------------------- output


def _marks(w: PupilWork, join: int, leave: int) -> list[dict[str, Any]]:
    lo, codes = 2 * join, w.codes
    # fresh dicts: faster than literals
    marks = list(map(dict.copy, w.cal.template[lo : 2 * leave]))
    for i in w.painted:
        marks[i - lo]["code"] = codes[i]
    for i, minutes in w.late.items():
        marks[i - lo].update(code=codes[i], minutes_late=minutes)
    return marks


def _events(w: PupilWork) -> list[dict[str, Any]]:
    return [
        {"date": w.cal.iso[day], "type": kind, **fields}
        for day, _, kind, fields in sorted(w.events)
    ]


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def write_json(history: dict[str, Any], path: str | Path) -> None:
    """Write ``history`` as compact JSON with sorted keys, one pupil object per line.

    ``history["pupils"]`` may be any iterable (e.g. ``generate_pupils(...)``); it is
    consumed once. The output is valid JSON and byte-identical for identical input.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        for n, key in enumerate(sorted(history)):
            out.write(("{" if n == 0 else ",") + json.dumps(key) + ":")
            if key == "pupils":
                _write_pupils(out, history[key])
            else:
                out.write(_dumps(history[key]))
        out.write("}\n" if history else "{}\n")


def _write_pupils(out: IO[str], pupils: Iterable[dict[str, Any]]) -> None:
    out.write("[")
    for n, pupil in enumerate(pupils):
        out.write(("\n" if n == 0 else ",\n") + _dumps(pupil))
    out.write("\n]")


_CSV_HEADERS = {
    "school": ("id", "name", "traded_ews"),
    "pupils": ("pupil_id", "date_of_birth", "year_group", "flags"),
    "marks": ("pupil_id", "date", "session", "code", "minutes_late"),
    "events": ("pupil_id", "date", "type", "details"),
}


def school_row(school: dict[str, Any]) -> tuple[Any, ...]:
    """The ``school.csv`` row (``traded_ews`` as ``true``/``false``)."""
    return (
        school["id"],
        school["name"],
        cell_text(school.get("settings", {}).get("traded_ews", False)),
    )


def pupil_row(pupil: dict[str, Any]) -> tuple[Any, ...]:
    """The ``pupils.csv`` row of one pupil (flags joined with ``;``)."""
    return (
        pupil["id"],
        pupil["date_of_birth"],
        pupil["year_group"],
        ";".join(pupil.get("flags", ())),
    )


def mark_rows(pupil: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The ``marks.csv`` rows of one pupil, by date then session (AM before PM)."""
    marks = sorted(pupil.get("marks", ()), key=lambda m: (m["date"], m["session"]))
    return [
        (pupil["id"], m["date"], m["session"], m["code"], m.get("minutes_late", "")) for m in marks
    ]


def event_rows(pupil: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The ``events.csv`` rows of one pupil by date; details as sorted ``key=value;...``."""
    rows = []
    for event in sorted(pupil.get("events", ()), key=lambda e: e["date"]):
        details = ";".join(
            f"{k}={cell_text(v)}" for k, v in sorted(event.items()) if k not in ("date", "type")
        )
        rows.append((pupil["id"], event["date"], event["type"], details))
    return rows


def iter_marks(history: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    """Every ``marks.csv`` row of ``history``, pupil by pupil."""
    for pupil in history["pupils"]:
        yield from mark_rows(pupil)


def write_csv(history: dict[str, Any], directory: str | Path) -> None:
    """Write ``marks.csv``, ``pupils.csv``, ``events.csv`` and ``school.csv`` to ``directory``.

    Pupils are written in the order given (``generate_*`` give them in id order), each
    pupil's rows by date and session; ``history["pupils"]`` is consumed once, so a
    ``generate_pupils(...)`` iterator streams to disk.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        writers = {
            n: _csv_writer(stack, directory / f"{n}.csv", head) for n, head in _CSV_HEADERS.items()
        }
        writers["school"].writerow(school_row(history["school"]))
        for pupil in history["pupils"]:
            writers["pupils"].writerow(pupil_row(pupil))
            writers["marks"].writerows(mark_rows(pupil))
            writers["events"].writerows(event_rows(pupil))


def _csv_writer(stack: ExitStack, path: Path, header: tuple[str, ...]) -> Any:
    handle = stack.enter_context(open(path, "w", encoding="utf-8", newline=""))  # noqa: SIM115
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(header)
    return writer
