"""Generated histories for the behaviour properties: the hypothesis strategy of one pupil.

What the generator needs to know of a policy (``history_spec``): its dates, the flags,
settings and case events its conditions name, the counts it compares with and the events
that record its actions done. From that, ``history_strategy`` draws one pupil's history
(JSON form, as read by ``evaluate``) around an as-of date inside the policy's effective
dates: a few school weeks, sometimes with a holiday week (which starts a new inferred
term) and a few days of marks after the as-of date; runs of register codes valid in both
the 2006 and the 2024 tables, often at or next to a count the policy compares with;
random pupil flags and yes/no school settings; case events of every standard type (the
types and field values the policy names drawn most often); and, now and then, the school
acting on what the policy recommended earlier. ``properties.py`` checks the properties
on these histories. Needs hypothesis only when a strategy is built.
"""

from __future__ import annotations

import datetime as dt
import math
from fractions import Fraction
from typing import Any, Callable, Iterable, Mapping, Sequence

import attrs

from ..engine.results import PupilEvaluation
from ..policy.model import DoneBy
from ..registers.calendar import monday_of
from ..registers.history import STANDARD_FLAGS
from ..rules import nodes
from ..rules.compiler import RuleSet, event_fields

__all__ = ["PRESENT", "HistorySpec", "history_spec", "history_strategy"]

PRESENT = "/"  # written "/" in the morning and "\\" in the afternoon
# Codes valid in both the 2006 and the 2024 tables; the first is what hypothesis shrinks to.
_ANY_CODES = (
    "/",
    "O",
    "N",
    "G",
    "U",
    "I",
    "M",
    "L",
    "C",
    "E",
    "B",
    "#",
    "R",
    "S",
    "T",
    "P",
    "V",
    "W",
    "X",
    "Z",
    "D",
)
# present on time, approved activity, not possible
_CLEAN_CODES = (
    "/",
    "B",
    "P",
    "V",
    "W",
    "#",
    "X",
    "Z",
    "D",
)
_WEEKS_BEFORE = 14  # most school weeks of marks before the as-of date
_OPEN_END_YEARS = 4  # as-of dates run this far past effective_from when a policy has no end
_FOLLOW_UP_ROUNDS = 3  # earlier evaluations whose recommendations the school may act on


# --- what the generator needs to know of a policy -------------------------------------


@attrs.frozen(kw_only=True)
class HistorySpec:
    """What the generator needs to know of a policy (see ``history_spec``)."""

    start: dt.date
    end: dt.date
    flags: tuple[str, ...]
    settings: tuple[str, ...]
    events: tuple[str, ...]  # every standard or declared type, the ones the policy names first
    used: tuple[str, ...]  # the types the policy names (drawn half the time)
    follow_up: Mapping[str, DoneBy]  # action id -> the event recording it done
    lengths: tuple[int, ...]  # run lengths (sessions) at and next to the policy's thresholds
    values: Mapping[tuple[str, str], tuple[Any, ...]]  # candidate values of free-text event fields
    # each event type's fields (standard and declared by the chain)
    fields: Mapping[str, Mapping[str, Any]]


def history_spec(ruleset: RuleSet) -> HistorySpec:
    """The dates, names, thresholds and follow-up events of the policy of ``ruleset``."""
    policy = ruleset.policy
    leaf = policy.leaf
    end = leaf.effective_to or _add_years(leaf.effective_from, _OPEN_END_YEARS)
    used_events: list[str] = []
    settings: set[str] = set()
    values: dict[tuple[str, str], set[Any]] = {}
    for rule in ruleset.rules:
        for node in [rule.condition.node] + [u.condition.node for u in rule.unless]:
            names = nodes.names_used(node)
            used_events += sorted(names.get("event", set()))
            settings |= names.get("setting", set())
            for current in nodes.walk(node):
                _collect_values(current, values)
    for action in policy.actions.values():
        done_by = action.completion
        used_events += [
            e
            for e in (done_by.event if done_by else "", action.due.after if action.due else "")
            if e
        ]
        if done_by is not None:
            for field, value in done_by.wanted(action.id).items():
                values.setdefault((done_by.event, field), set()).add(value)
    # declared types too: a done_by may name one (e.g. consultation_held)
    known = event_fields(policy)
    events = tuple(dict.fromkeys([e for e in used_events if e in known] + sorted(known)))
    flags = tuple(sorted(set(STANDARD_FLAGS) | set(policy.flags)))
    for (event, field), found in values.items():
        found.add("other")
    used = tuple(e for e in events if e in used_events)
    follow_up = {a.id: a.completion for a in policy.actions.values() if a.completion is not None}
    return HistorySpec(
        start=leaf.effective_from,
        end=end,
        flags=flags,
        settings=tuple(sorted(settings)),
        events=events,
        used=used or events,
        follow_up=follow_up,
        lengths=_threshold_lengths(ruleset),
        values={k: tuple(sorted(v, key=str)) for k, v in values.items()},
        fields=known,
    )


def _threshold_lengths(ruleset: RuleSet) -> tuple[int, ...]:
    """Numbers of sessions at, just below and just above every count the policy compares with.

    Runs of these lengths put a generated pupil on either side of a threshold, where
    properties (a) and (b) can fail. Days count two sessions; percentages are skipped.
    """
    found: set[int] = set()
    policy = ruleset.policy
    for rule in ruleset.rules:
        for node in [rule.condition.node] + [u.condition.node for u in rule.unless]:
            for current in nodes.walk(node):
                if isinstance(current, nodes.Literal) and isinstance(current.value, Fraction):
                    numbers = [(current.value, current.unit)]
                elif isinstance(current, nodes.NameRef) and current.kind == "parameter":
                    param = policy.parameters[current.name]
                    numbers = [(v.value, param.unit) for v in param.values]
                else:
                    continue
                for value, unit in numbers:
                    if (
                        isinstance(value, bool)
                        or not isinstance(value, (int, Fraction))
                        or unit == "percent"
                    ):
                        continue
                    sessions = value * 2 if unit == "days" else value
                    base = math.ceil(sessions)
                    found.update(n for n in (base - 1, base, base + 1) if 1 <= n <= 60)
    return tuple(sorted(found)) or (1,)


def _collect_values(node: nodes.Node, values: dict[tuple[str, str], set[Any]]) -> None:
    """Text values the policy compares event fields with (``with to == "virtual_school"`` …)."""
    if (
        isinstance(node, (nodes.EventAny, nodes.EventCount))
        and node.where is not None
        and node.where.field != "date"
        and node.where.op in ("==", "!=")
    ):
        values.setdefault((node.event, node.where.field), set()).add(node.where.value.value)
    if isinstance(node, nodes.Compare):
        for side, other in ((node.left, node.right), (node.right, node.left)):
            if isinstance(side, nodes.EventLatest) and isinstance(other, nodes.Literal):
                values.setdefault((side.event, side.field), set()).add(other.value)
    if isinstance(node, nodes.InCheck) and isinstance(node.item, nodes.EventLatest):
        values.setdefault((node.item.event, node.item.field), set()).update(
            o.value for o in node.options
        )


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


# --- generation ---------------------------------------------------------------------------


def history_strategy(
    spec: HistorySpec, evaluate: Callable[[Mapping[str, Any], dt.date], PupilEvaluation]
) -> Any:
    """The hypothesis strategy of a history: ``scenario(clean)``.

    Besides random case events, up to ``_FOLLOW_UP_ROUNDS`` times the pupil is evaluated
    on an earlier day and some of the actions recommended then are recorded as done (the
    event of their ``done_by``, or ``letter_sent`` for a letter) a few days later: the
    school follows the policy, which takes histories deep into staged procedures.
    """
    from hypothesis import strategies as st

    fields_of = {event: _event_details(st, spec, event) for event in spec.fields}
    event_type = st.one_of(st.sampled_from(spec.used), st.sampled_from(spec.events))
    days_back = st.one_of(st.integers(0, 120), st.integers(0, 1100))
    any_code, clean_code = st.sampled_from(_ANY_CODES), st.sampled_from(_CLEAN_CODES)
    mostly_present = {
        False: st.one_of(st.just(PRESENT), any_code),
        True: st.one_of(st.just(PRESENT), clean_code),
    }
    length = st.one_of(st.integers(1, 24), st.sampled_from(spec.lengths))
    flag_sets = st.sets(st.sampled_from(spec.flags), max_size=3)

    @st.composite
    def scenario(draw: Callable, clean: bool = False) -> tuple[dt.date, dict[str, Any]]:
        as_of = draw(st.dates(spec.start, spec.end))
        weeks = draw(st.integers(1, _WEEKS_BEFORE))
        after = draw(st.integers(0, 10))
        holidays = draw(st.sets(st.integers(0, weeks), max_size=2))
        code = clean_code if clean else any_code
        week = draw(
            st.one_of(st.just(()), st.lists(mostly_present[clean], min_size=10, max_size=10))
        )
        runs = draw(st.lists(st.tuples(st.integers(0, 10 * weeks), length, code), max_size=8))
        flags = [] if clean else sorted(draw(flag_sets))
        settings = {name: draw(st.booleans()) for name in spec.settings}
        events = []
        for _ in range(0 if clean else draw(st.integers(0, 8))):
            kind = draw(event_type)
            events.append((kind, draw(days_back), draw(fields_of[kind])))
        pieces = (as_of, weeks, after, holidays, week, runs, flags, settings)
        if not clean:
            _follow_up(draw, st, spec, evaluate, fields_of, pieces, events)
        return as_of, _history(*pieces, events)

    return scenario


# the drawn pieces of a history, as ``_history`` takes them before its events
_Pieces = tuple[
    dt.date,
    int,
    int,
    Iterable[int],
    Sequence[str],
    Sequence[tuple[int, int, str]],
    list[str],
    dict[str, bool],
]


def _event_details(st: Any, spec: HistorySpec, event: str) -> Any:
    """The strategy of one event type's fields (each may be left out)."""
    fields = {}
    for field, kind in spec.fields[event].items():
        if isinstance(kind, tuple):
            options: Any = st.sampled_from(kind)
        elif kind == "bool":
            options = st.booleans()
        elif kind == "date":
            options = st.integers(0, 20)  # days after the event; made a date below
        else:
            options = st.sampled_from(spec.values.get((event, field), ("other",)))
        fields[field] = st.one_of(st.none(), options)
    return st.fixed_dictionaries(fields)


def _follow_up(
    draw: Callable,
    st: Any,
    spec: HistorySpec,
    evaluate: Callable[[Mapping[str, Any], dt.date], PupilEvaluation],
    fields_of: Mapping[str, Any],
    pieces: _Pieces,
    events: list,
) -> None:
    """The school acting on earlier recommendations: events of actions done, added to ``events``."""
    as_of, weeks = pieces[0], pieces[1]
    rounds = draw(st.lists(st.integers(1, 7 * weeks), max_size=_FOLLOW_UP_ROUNDS))
    for back in sorted(rounds, reverse=True):  # earliest first: later rounds see what was done
        then = evaluate(_history(*pieces, events), as_of - dt.timedelta(days=back))
        for rec in then.recommendations:
            done_by = spec.follow_up.get(rec.action)
            if done_by and draw(st.booleans()):
                fields = {**draw(fields_of[done_by.event]), **done_by.wanted(rec.action)}
                events.append((done_by.event, max(back - draw(st.integers(0, 3)), 0), fields))


def _history(
    as_of: dt.date,
    weeks: int,
    after: int,
    holidays: Iterable[int],
    week: Sequence[str],
    runs: Sequence[tuple[int, int, str]],
    flags: list[str],
    settings: dict[str, bool],
    events: Sequence[tuple[str, int, dict]],
) -> dict[str, Any]:
    """A history document (JSON form) of one pupil from the drawn pieces.

    Every session is present, or follows the weekly pattern ``week`` (ten codes, Monday
    morning to Friday afternoon) when one is given; each run ``(start, length, code)``
    then overwrites ``length`` sessions from session number ``start``.
    """
    first = dt.date.fromordinal(monday_of(as_of.toordinal())) - dt.timedelta(weeks=weeks - 1)
    skip = {weeks - 1 - h for h in holidays}  # holiday weeks counted back from the as-of week
    sessions = []
    day = first
    # This makes school days rather than counting them (registers/calendar.py counts): every
    # weekday outside the drawn holiday weeks gets its two sessions.
    while day <= as_of + dt.timedelta(days=after):
        if day.weekday() < 5 and (day - first).days // 7 not in skip:
            sessions += [(day, "AM"), (day, "PM")]
        day += dt.timedelta(days=1)
    codes = [
        week[(day.weekday() * 2 + (session == "PM")) % len(week)] if week else PRESENT
        for day, session in sessions
    ]
    for start, length, code in runs:
        codes[start : start + length] = [code] * len(codes[start : start + length])
    marks = []
    for (day, session), code in zip(sessions, codes):
        if code == PRESENT and session == "PM":
            code = "\\"
        marks.append({"date": day.isoformat(), "session": session, "code": code})
    rows = []
    for kind, back, fields in events:
        date = as_of - dt.timedelta(days=back)
        row: dict[str, Any] = {"date": date.isoformat(), "type": kind}
        for field, value in fields.items():
            if value is None:
                continue
            # a date field, drawn as days after
            if isinstance(value, int) and not isinstance(value, bool):
                value = (date + dt.timedelta(days=value)).isoformat()
            row[field] = value
        rows.append(row)
    pupil: dict[str, Any] = {"id": "P1", "flags": flags, "marks": marks, "events": rows}
    return {"school": {"id": "S1", "settings": settings}, "pupils": [pupil]}
