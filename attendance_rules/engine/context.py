"""The engine's working memory for one pupil on one date, and how conditions on it are shown.

``PupilContext`` is what conditions read (measures, flags, facts, events, settings,
parameters); the engine adds derived facts to it as rules fire. ``outcome_values`` and
``outcome_sentence`` turn an evaluated condition into the values and the sentence a
reason shows, so every reason (the engine's, the audit's) reads its tests the same way.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterable, Sequence

import attrs

from ..registers.calendar import Calendar
from ..registers.history import Event, Pupil, School
from ..registers.measure_frame import MeasureFrame
from ..registers.measures import Measure, Window
from ..rules import runtime, values
from ..rules.compiler import RuleSet
from .results import DerivedFact, MeasureView, Reason, ValueView

__all__ = ["PupilContext", "outcome_sentence", "outcome_values"]


class PupilContext:
    """What conditions can see of one pupil as of one date (the engine's working memory).

    Measures are read through one ``MeasureFrame`` (window spans found once, values as
    integer pairs for decisions); ``Measure`` objects are built only for explanations and
    for the measures an evaluation reports (``measures_used``: every measure a condition
    that was evaluated reads, in the order first read).
    """

    def __init__(
        self,
        ruleset: RuleSet,
        pupil: Pupil,
        as_of: dt.date,
        calendar: Calendar,
        school: School,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        self.ruleset, self.pupil, self.as_of = ruleset, pupil, as_of
        self.calendar, self.school = calendar, school
        self.facts: dict[str, DerivedFact] = {}
        self.frame = MeasureFrame(pupil, as_of, calendar)
        self._parameters = {} if parameters is None else parameters
        self._events: dict[str, tuple[Event, ...]] = {}
        self._measures: dict[tuple, Measure] = {}
        self._consulted: dict[tuple, None] = {}
        # the reason of each rule fired, as built when it fired
        self.reasons: dict[str, Reason] = {}
        # (atom, value) read by decisions, kept for replays (evaluator._logged)
        self.log: list | None = None
        # The lookups conditions make most often, bound straight to the containers (no Python
        # frame).
        # (they shadow the methods of the same names below, which give a context's interface)
        self.fact = self.facts.__contains__  # type: ignore[method-assign,assignment]
        self.flag = pupil.flags.__contains__  # type: ignore[method-assign,assignment]

    def parameter(self, name: str) -> Any:
        """The parameter's value in force on the as-of date, in condition units."""
        try:
            return self._parameters[name]
        except KeyError:
            param = self.ruleset.policy.parameters[name]
            value = self._parameters[name] = values.parameter_value(
                param.value_on(self.as_of), param.unit
            )
            return value

    def _spec(self, key: tuple) -> tuple[str, Window | None, tuple[str, ...]]:
        if key[0] == "named":
            use = self.ruleset.policy.measures[key[1]]
            if use.not_before:  # the cut-off date is a parameter, so it can differ by as-of date
                window = attrs.evolve(
                    use.window or Window(kind="academic_year"),
                    not_before=self.parameter(use.not_before),
                )
                return use.measure, window, use.codes
            return use.measure, use.window, use.codes
        return key[1], key[2], ()

    def measure_pair(self, key: tuple) -> tuple[int, int] | None:
        """A measure's value as an integer pair (see ``evaluator.measure_keys`` for keys)."""
        return self.frame.pair(*self._spec(key))

    def measure_object(self, key: tuple) -> Measure:
        """A measure with its window dates and counts, built once."""
        try:
            return self._measures[key]
        except KeyError:
            found = self._measures[key] = self.frame.measure(*self._spec(key))
            return found

    def named_measure(self, name: str) -> Measure:
        """A policy-named measure (window and codes built in)."""
        return self.measure_object(("named", name))

    def library_measure(self, name: str, window: Window | None) -> Measure:
        """A library measure over a window given in the condition."""
        return self.measure_object(("library", name, window))

    def flag(self, name: str) -> bool:
        """Whether the pupil carries ``name``."""
        return name in self.pupil.flags

    def fact(self, name: str) -> bool:
        """Whether a rule has derived ``name`` so far."""
        return name in self.facts

    def setting(self, name: str) -> Any:
        """A school setting (missing settings read as false)."""
        return self.school.settings.get(name, False)

    def events(self, type_: str) -> Sequence[Event]:
        """The pupil's events of a type up to the as-of date, oldest first."""
        try:
            return self._events[type_]
        except KeyError:
            found = self._events[type_] = self.pupil.events_of(type_, until=self.as_of)
            return found

    def window_bounds(self, window: Window) -> tuple[dt.date, dt.date] | None:
        """First and last day of ``window`` for this pupil."""
        return self.frame.bounds(window)

    def consult(self, keys: Iterable[tuple]) -> None:
        """Note that a condition reading the measures ``keys`` was evaluated."""
        self._consulted.update(dict.fromkeys(keys))

    def measures_used(self) -> tuple[MeasureView, ...]:
        """Every measure consulted or computed so far, sorted by name and window."""
        keys = list(self._consulted) + [k for k in self._measures if k not in self._consulted]
        views = {}
        for key in keys:
            m = self.measure_object(key)
            views[(m.name, str(m.window or ""))] = _measure_view(m)
        return tuple(views[k] for k in sorted(views))

    def scratch(self) -> PupilContext:
        """A fresh context of the same pupil and day that starts from the measures built so
        far: for reads that must leave no trace here (``measures_used``)."""
        found = PupilContext(self.ruleset, self.pupil, self.as_of, self.calendar, self.school)
        found._measures = dict(self._measures)
        return found


def _measure_view(m: Measure) -> MeasureView:
    return MeasureView(
        name=m.name,
        window=str(m.window or ""),
        value=m.as_json(),
        start=m.start.isoformat() if m.start and m.start != dt.date.min else "",
        end=m.end.isoformat(),
        description=m.describe(),
    )


def _required(c: runtime.Comparison) -> str:
    if c.op == "is":
        return ""
    words = "one of" if c.op == "in" else values.OPERATOR_WORDS[c.op]
    return f"{words} {c.right_text}".strip()


def outcome_values(outcome: runtime.Outcome) -> tuple[ValueView, ...]:
    """Each test that decided ``outcome``: its text, its actual value, what it requires, and
    whether it held."""
    return tuple(
        ValueView(test=c.text, actual=c.left_text, required=_required(c), holds=c.holds)
        for c in outcome.comparisons
    )


def outcome_sentence(outcome: runtime.Outcome, holds: bool = True) -> str:
    """The tests that decided the outcome, with actual and required values, in one sentence."""
    parts = [
        c.left_text + (f", required {_required(c)}" if c.op != "is" else "")
        for c in outcome.comparisons
        if c.holds == holds
    ]
    parts += list(outcome.undefined)
    return "; ".join(parts) if parts else "condition holds"
