"""What evaluating a condition reads and gives back: the context, the trace, the outcome.

An engine gives the evaluator (``evaluator.py``) a ``Context`` for one pupil as of one
date; any ``Context`` works, wrapped in a ``ProtocolContext`` (the engines' own contexts
also read measures as integer pairs). A traced evaluation writes into a ``Trace`` and
gives an ``Outcome``: the value and every ``Comparison`` made, for explanations.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, Protocol, Sequence

import attrs

from ..exceptions import Location
from ..registers.history import Event, Pupil
from ..registers.measures import Measure, Pair, Window, as_pair
from .lexer import ComparisonOp

__all__ = ["Comparison", "Context", "Outcome", "ProtocolContext", "Trace", "TraceOp"]

# what a trace step tested: a comparison, a yes/no value ("is") or membership of a list ("in")
TraceOp = ComparisonOp | Literal["is", "in"]


@attrs.frozen(kw_only=True)
class Comparison:
    """One step of an evaluation's trace: a comparison, or a yes/no value (``op`` "is").

    ``left_text``/``right_text`` say where each side came from in plain English, e.g.
    ``pn_warning_threshold = 10 sessions`` or a measure's ``describe()``.
    """

    location: Location
    text: str
    op: TraceOp
    left: object
    right: object
    left_text: str
    right_text: str
    holds: bool


@attrs.frozen(kw_only=True)
class Outcome:
    """The result of evaluating a condition with its trace.

    ``comparisons`` lists every comparison (all operands are evaluated), ``measures``
    every measure consulted and ``undefined`` why a value was missing.
    """

    value: object
    comparisons: tuple[Comparison, ...] = ()
    measures: tuple[Measure, ...] = ()
    undefined: tuple[str, ...] = ()


class Context(Protocol):
    """What evaluation needs from the engine, for one pupil as of one date."""

    as_of: dt.date
    pupil: Pupil  # its register's days with marks are the school days (``Register.days``)

    def parameter(self, name: str) -> object:
        """Fraction for numbers (percent as a fraction of 1), str, bool or Duration."""

    def named_measure(self, name: str) -> Measure:
        """A policy-named measure (its value may be None: undefined)."""

    def library_measure(self, name: str, window: Window | None) -> Measure:
        """A library measure over ``window`` (None for unexplained_run)."""

    def flag(self, name: str) -> bool:
        """Whether the pupil carries ``name``."""

    def fact(self, name: str) -> bool:
        """Whether the derived fact ``name`` holds."""

    def setting(self, name: str) -> object:
        """A setting of the school record (None when not recorded)."""

    def events(self, type_: str) -> Sequence[Event]:
        """The pupil's events of one type up to the as-of date, oldest first."""

    def window_bounds(self, window: Window) -> tuple[dt.date, dt.date] | None:
        """First and last day of ``window`` for this pupil (None when empty)."""


class Trace:
    """What a traced evaluation records: comparisons, measures, reasons for missing values.

    ``text`` passes the description of the value just computed from a child closure to its
    parent (only in traced evaluations).
    """

    __slots__ = ("comparisons", "measures", "undefined", "text")

    def __init__(self) -> None:
        self.comparisons: list[Comparison] = []
        self.measures: list[Measure] = []
        self.undefined: list[str] = []
        self.text = ""

    def outcome(self, value: object) -> Outcome:
        """The ``Outcome`` of a traced evaluation that gave ``value``."""
        return Outcome(
            value=value,
            comparisons=tuple(self.comparisons),
            measures=tuple(self.measures),
            undefined=tuple(dict.fromkeys(self.undefined)),
        )


class ProtocolContext:
    """Gives any ``Context`` the two measure readers the closures use."""

    log = None  # no replay log

    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx

    def measure_pair(self, key: tuple) -> Pair | None:
        """A measure's value as an integer pair, from the context's ``Measure``."""
        return as_pair(self.measure_object(key).value)

    def measure_object(self, key: tuple) -> Measure:
        """The context's ``Measure`` for a key of ``measure_keys``."""
        if key[0] == "named":
            return self._ctx.named_measure(key[1])
        return self._ctx.library_measure(key[1], key[2])

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)
