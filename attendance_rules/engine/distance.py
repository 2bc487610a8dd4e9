"""Distance to a threshold: how far a pupil is from a rule's threshold, and by when at the earliest.

For each rule in force that has not fired, and whose only unmet test compares an
attendance measure with a threshold (``unauthorised_12w >= pn_warning_sessions``,
``attendance_rate over academic year <= 90%``), we ask: if the pupil missed every
session from tomorrow (code O, unauthorised — it counts towards every absence measure),
on which school day would the test first hold, and after how many missed sessions?
The answer is found by simulation — hypothetical marks are appended to the register
and the test re-evaluated day by day — so rolling windows that drop old absences are
handled exactly, and the figure can be confirmed by adding the marks and re-evaluating.
Future school days are not known: weekdays stand in for them.
"""

from __future__ import annotations

import datetime as dt
from array import array
from typing import Any, Iterator

import attrs

from ..jsonform import JsonRecord, insert_after
from ..registers.calendar import add_weekdays
from ..registers.history import Pupil, Register, School, slot_of
from ..rules import evaluator, nodes, runtime
from ..rules.compiler import CompiledRule
from ..rules.lexer import ComparisonOp
from ..text import short_date
from .context import PupilContext
from .forward import Engine

__all__ = ["Distance", "distances", "with_future_absences"]

_ABSENCE_CODE = "O"  # unauthorised in both code tables, so it moves every absence measure
_GROWS: frozenset[ComparisonOp] = frozenset({">=", ">"})
_SHRINKS: frozenset[ComparisonOp] = frozenset({"<=", "<"})
_FALLS_WITH_ABSENCE = {
    "attendance_rate",
    "attended_sessions",
    "present_sessions",
    "attendance_trend",
}


@attrs.frozen(kw_only=True)
class Distance(JsonRecord):
    """One threshold not yet met: what is missing, and the earliest date it could be met."""

    rule: str
    title: str
    test: str
    actual: str
    required: str
    sessions: int
    reached_on: dt.date
    recommends: tuple[str, ...]
    derives: tuple[str, ...]

    @property
    def days(self) -> float:
        """The missing sessions in days (two sessions a day)."""
        return self.sessions / 2

    def sentence(self, as_of: dt.date) -> str:
        """Plain English: ``2 more sessions of absence (1 day) by 12 Feb 2024 meet …``."""
        session_word = "session" if self.sessions == 1 else "sessions"
        day_word = "day" if self.days == 1 else "days"
        days = f"{self.days:g} {day_word}"
        what = ", ".join(self.recommends or self.derives)
        return (
            f"{self.sessions} more {session_word} of absence ({days}) would meet {self.test} "
            f"at the earliest on {short_date(self.reached_on)} (now: {self.actual}); "
            f"rule {self.rule} → {what}"
        )

    def json_entries(self, entries: dict[str, Any]) -> dict[str, Any]:
        """The missing sessions in days follow the sessions."""
        return insert_after(entries, "sessions", {"days": self.days})


def _future_days(as_of: dt.date, school_days: int) -> Iterator[dt.date]:
    """The next ``school_days`` school days after ``as_of``: not known yet, so weekdays."""
    return (add_weekdays(as_of, n) for n in range(1, school_days + 1))


def with_future_absences(pupil: Pupil, as_of: dt.date, sessions: int) -> Pupil:
    """``pupil`` with ``sessions`` hypothetical absences (code O) on the weekdays after ``as_of``.

    Marks already on those days are replaced, so the result is a consistent register.
    """
    reg = pupil.register
    book = reg.codebook
    slots: list[int] = []
    for day in _future_days(as_of, (sessions + 1) // 2):
        slots += [slot_of(day, "AM"), slot_of(day, "PM")]
    slots = slots[:sessions]
    first_new = slots[0] if slots else None
    # A register exported after the as-of date already has marks on those days; they are dropped so
    # that each session has one mark, as the readers guarantee for real registers.
    kept = [i for i, s in enumerate(reg.slots) if first_new is None or s < first_new]
    codes = bytes(reg.codes[i] for i in kept) + bytes(
        book.lookup(_ABSENCE_CODE, dt.date.fromordinal(s >> 1)).id for s in slots
    )
    # Late minutes are keyed by position: the kept marks are a prefix, so their positions stand.
    late = {i: m for i, m in reg.minutes_late.items() if i < len(kept)}
    register = Register(array("I", [reg.slots[i] for i in kept] + slots), codes, late, book)
    return attrs.evolve(pupil, register=register)


def _threshold_test(rule: CompiledRule, outcome: runtime.Outcome) -> nodes.Compare | None:
    """The rule's only unmet test, when it compares a measure that absence moves toward the
    threshold."""
    unmet = [c for c in outcome.comparisons if not c.holds]
    # One unmet test only: when more is missing than a threshold (a flag, an event, a second
    # measure), "N more sessions" would promise what absence alone cannot bring about.
    if len(unmet) != 1 or outcome.undefined:
        return None
    for node in _walk(rule.condition.node):
        if isinstance(node, nodes.Compare) and node.location == unmet[0].location:
            name = _measure_name(node.left)
            if name is None:
                return None
            falls = name in _FALLS_WITH_ABSENCE
            # Only a threshold that more absence moves towards: `absence >= t` and `attendance <=
            # t`; the other directions (and `==`) can be met by attending, which is no risk to
            # report.
            return node if (node.op in _SHRINKS) == falls and node.op in _GROWS | _SHRINKS else None
    return None


def _measure_name(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.LibraryMeasure):
        return node.name
    if isinstance(node, nodes.NameRef) and node.kind == "measure":
        return node.name
    return None


def _walk(node: nodes.Node) -> Iterator[nodes.Node]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(current.children())


def _holds(
    engine: Engine,
    rule: CompiledRule,
    test: nodes.Compare,
    pupil: Pupil,
    day: dt.date,
    school: School,
    facts: dict,
) -> bool:
    ctx = PupilContext(engine.ruleset, pupil, day, engine.calendar, school)
    ctx.facts.update(facts)
    trace = evaluator.evaluate(test, ctx)
    return trace.value is True


def _earliest(
    engine: Engine,
    rule: CompiledRule,
    test: nodes.Compare,
    pupil: Pupil,
    as_of: dt.date,
    school: School,
    facts: dict,
    horizon_days: int,
) -> tuple[int, dt.date] | None:
    """Fewest hypothetical sessions (and the day of the last) that make ``test`` hold."""
    # Every session of the horizon missed, evaluated day by day: a measure as of a day reads no mark
    # after it, so one extended register serves every day, and the first day the test holds is the
    # earliest possible. Then only that day's AM is tried, for the fewest sessions.
    extended = with_future_absences(pupil, as_of, 2 * horizon_days)
    for day in _future_days(as_of, horizon_days):
        if _holds(engine, rule, test, extended, day, school, facts):
            days_before = sum(1 for _ in _future_days(as_of, horizon_days) if _ < day)
            am_only = with_future_absences(pupil, as_of, 2 * days_before + 1)
            enough = _holds(engine, rule, test, am_only, day, school, facts)
            return 2 * days_before + (1 if enough else 2), day
    return None


def distances(
    engine: Engine,
    pupil: Pupil,
    as_of: dt.date,
    school: School = School(),
    horizon_weeks: int = 6,
    rules: tuple[str, ...] | None = None,
) -> tuple[Distance, ...]:
    """Thresholds within ``horizon_weeks`` school weeks of being met, nearest first."""
    evaluation = engine.evaluate_pupil(pupil, as_of, school)
    fired = set(evaluation.fired)
    facts = {f.name: f for f in evaluation.facts}
    ctx = PupilContext(engine.ruleset, pupil, as_of, engine.calendar, school)
    ctx.facts.update(facts)
    out = []
    for rule in engine.ruleset.rules:
        if (
            rule.id in fired
            or not engine.rule_in_force(rule, as_of)
            or (rules is not None and rule.id not in rules)
        ):
            continue
        outcome = evaluator.evaluate(rule.condition.node, ctx)
        test = _threshold_test(rule, outcome)
        if test is None:
            continue
        # Five school days a week: future days are unknown, so weekdays stand in (module docstring).
        found = _earliest(engine, rule, test, pupil, as_of, school, facts, 5 * horizon_weeks)
        if found is None:
            continue
        step = next(c for c in outcome.comparisons if c.location == test.location)
        out.append(
            Distance(
                rule=rule.id,
                title=rule.rule.title,
                test=str(test),
                actual=step.left_text,
                required=step.right_text,
                sessions=found[0],
                reached_on=found[1],
                recommends=rule.rule.recommend,
                derives=rule.derives,
            )
        )
    return tuple(sorted(out, key=lambda d: (d.sessions, d.reached_on, d.rule)))
