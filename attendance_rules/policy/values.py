"""Values in a policy: how they are written, and the checks that refuse values no one can mean.

``format_parameter_value`` and ``parameter_values_text`` write parameter values as an
officer does (10%, £80, 6 weeks); ``parse_duration`` reads a due window's ``4 weeks``.
The checks go beyond the schema: a value must fit its unit, dates and lengths of time
stay within local sanity bounds (``SANITY_BOUNDS``), and a ``done_by`` must name an event
type and fields the chain knows. The file reader (``build.py``), layering and the rule
compiler all use them, so a value is refused the same way wherever it is written.
"""

from __future__ import annotations

import datetime as dt
import difflib
from fractions import Fraction
from typing import Any, Literal, Mapping

import attrs

from ..exceptions import Location, Problem
from ..registers.history import FieldSpec
from ..registers.measures import Window, format_value
from ..text import UNIT_TEXT
from .model import DoneBy, Parameter, ParameterUnit, SettingType

__all__ = [
    "SANITY_BOUNDS",
    "TYPE_EXAMPLES",
    "TYPE_WORDS",
    "SanityBounds",
    "done_by_problems",
    "format_parameter_value",
    "parameter_value_problems",
    "parameter_values_text",
    "parse_duration",
    "window_out_of_range",
    "window_problems",
]


@attrs.frozen(kw_only=True)
class SanityBounds:
    """Local sanity bounds on dates and lengths of time (not policy values).

    No source sets these: they only refuse values that cannot be meant (a window of
    99,999,999 weeks, a policy from the year 1) before evaluation meets them. Ten years
    is longer than any window, due interval or review a policy describes; an English
    school year has 190 pupil days plus 5 training days, hence 195 school days a year.
    """

    first_date: dt.date = dt.date(1990, 1, 1)
    last_date: dt.date = dt.date(2100, 12, 31)
    calendar_days: int = 3653  # ten years of calendar days
    school_days: int = 1950  # ten school years of 195 days

    def max_days(self, school: bool) -> int:
        """The longest span allowed, in school days or in calendar days."""
        return self.school_days if school else self.calendar_days

    def describe(self, school: bool) -> str:
        """The bound as an officer reads it."""
        return (
            f"at most {self.school_days} school days (ten school years)"
            if school
            else f"at most {self.calendar_days} days (ten years)"
        )


SANITY_BOUNDS = SanityBounds()

# Parameter units whose values count whole things, and the days in one of each duration unit.
_WHOLE_UNITS: frozenset[ParameterUnit] = frozenset(
    {"sessions", "days", "school_days", "school_weeks", "weeks", "count"}
)
_UNIT_DAYS: Mapping[ParameterUnit | Literal[""], tuple[int, bool]] = {
    "days": (1, False),
    "weeks": (7, False),
    "school_days": (1, True),
    "school_weeks": (5, True),
}
# Durations in due windows ("4 weeks", "10 school days"): the days in one, and whether they are
# school days, by the words of their units.
_DURATION_DAYS = {word: per for unit, per in _UNIT_DAYS.items() for word in UNIT_TEXT[unit]}
# A setting's type (or a text or yes/no parameter's unit) in words, and a value of it (for
# problems).
TYPE_WORDS: Mapping[SettingType, str] = {
    "bool": "yes/no (true or false)",
    "number": "a number",
    "text": "text",
}
TYPE_EXAMPLES: Mapping[SettingType, str] = {"bool": "false", "number": "0", "text": '"north"'}


def format_parameter_value(value: Any, unit: ParameterUnit | Literal[""]) -> str:
    """A parameter value as an officer writes it: 10%, £80, 10 sessions, 6 weeks, 2."""
    if isinstance(value, (str, bool)) or value is None or unit in ("text", "bool"):
        return str(value)
    number = format_value(value, "count").removesuffix(" count")
    return {"percent": f"{number}%", "pounds": f"£{number}", "count": number}.get(
        unit, format_value(value, unit)
    )


def parameter_values_text(param: Parameter) -> str:
    """A parameter's dated values as an officer writes them (``£60; £80 from 2024-08-19``)."""
    parts = []
    for dated in param.values:
        value = format_parameter_value(dated.value, param.unit)
        parts.append(value if dated.start is None else f"{value} from {dated.start}")
    return "; ".join(parts)


def parse_duration(text: str) -> tuple[int, bool]:
    """Days in ``"4 weeks"`` / ``"28 days"`` / ``"10 school days"``, and whether they are school
    days."""
    number, _, unit = str(text).strip().partition(" ")
    if unit.strip() not in _DURATION_DAYS:
        raise ValueError(
            f"unknown duration {text!r}; expected e.g. '4 weeks', '28 days' or '10 school days'"
        )
    days, school = _DURATION_DAYS[unit.strip()]
    try:
        total = Fraction(number) * days
    except (ValueError, ZeroDivisionError):
        raise ValueError(
            f"bad duration {text!r}: {number!r} is not a number; expected e.g. '4 weeks'"
        ) from None
    if total.denominator != 1:  # a whole number of days: 1.5 days is not truncated to 1
        raise ValueError(
            f"duration {text!r} is not a whole number of days; expected e.g. '2 days' or '3 weeks'"
        )
    return int(total), school


def parameter_value_problems(parameter: Parameter) -> list[Problem]:
    """Problems where a value of ``parameter`` cannot be a value of its unit.

    Counts of things (sessions, days, weeks, count) are whole numbers from 0, a percent
    lies from 0 to 100, pounds are not negative, text is text and bool is true/false;
    lengths of time stay within the sanity bound (``SANITY_BOUNDS``).
    """
    out = []
    for dated in parameter.values:
        wrong = _unit_problem(parameter.unit, dated.value)
        if wrong:
            out.append(
                Problem(
                    f"parameter {parameter.name!r} ({parameter.unit}): {wrong[0]}",
                    dated.location,
                    found=_shown(dated.value),
                    expected=wrong[1],
                    example=wrong[2],
                )
            )
    return out


def _unit_problem(unit: ParameterUnit | Literal[""], value: Any) -> tuple[str, str, str] | None:
    """(what is wrong, what was expected, an example) when ``value`` cannot be in ``unit``."""
    if unit in ("text", "bool"):
        ok = isinstance(value, str) if unit == "text" else isinstance(value, bool)
        return (
            None
            if ok
            else (f"the value must be {TYPE_WORDS[unit]}", TYPE_WORDS[unit], TYPE_EXAMPLES[unit])
        )
    if unit == "date":
        return _date_problem(value)
    if isinstance(value, bool) or not isinstance(value, (int, Fraction)):
        return "the value must be a number", f"a number of {unit.replace('_', ' ')}", "10"
    if unit in _WHOLE_UNITS and (value < 0 or Fraction(value).denominator != 1):
        return (
            "the value must be a whole number from 0",
            f"a whole number of {unit.replace('_', ' ')}",
            "10",
        )
    if unit == "percent" and not 0 <= value <= 100:
        return "a percentage must lie from 0 to 100", "a percentage from 0 to 100", "90"
    if unit == "pounds" and value < 0:
        return "an amount of money cannot be negative", "pounds from 0", "80"
    return _span_problem(unit, value)


def _date_problem(value: Any) -> tuple[str, str, str] | None:
    """A date parameter's value must be a date written YYYY-MM-DD within the sanity bounds."""
    first, last = SANITY_BOUNDS.first_date, SANITY_BOUNDS.last_date
    wanted = f"a date written YYYY-MM-DD from {first} to {last} (a local sanity bound)"
    try:
        day = dt.date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        day = None
    if day is None or not first <= day <= last:
        return "the value must be a date", wanted, "2024-08-19"
    return None


def _span_problem(unit: ParameterUnit | Literal[""], value: Any) -> tuple[str, str, str] | None:
    """A length of time past the sanity bound, for parameters measured in days or weeks."""
    if unit not in _UNIT_DAYS:
        return None
    per, school = _UNIT_DAYS[unit]
    if value * per <= SANITY_BOUNDS.max_days(school):
        return None
    return (
        "the length of time is out of range",
        SANITY_BOUNDS.describe(school) + ", a local sanity bound",
        "6",
    )


def window_problems(window: Window | None, where: Location) -> list[Problem]:
    """A problem when a ``last N … weeks`` window passes the sanity bound."""
    if window is None or window.kind not in ("school_weeks", "calendar_weeks"):
        return []
    school = window.kind == "school_weeks"
    if window.n * (5 if school else 7) <= SANITY_BOUNDS.max_days(school):
        return []
    return [window_out_of_range(window, where, school, "last 12 school weeks")]


def window_out_of_range(window: object, where: Location, school: bool, example: str) -> Problem:
    """The problem of a window (a measure's or an event query's) beyond the sanity bound."""
    return Problem(
        "window out of range",
        where,
        found=str(window),
        expected=SANITY_BOUNDS.describe(school) + ", a local sanity bound",
        example=example,
    )


def done_by_problems(
    done_by: DoneBy, event_fields: Mapping[str, Mapping[str, FieldSpec]]
) -> list[Problem]:
    """Problems where ``done_by`` names an event type or field the chain does not know.

    ``event_fields`` maps each known event type (standard and declared) to its fields.
    """
    known = event_fields.get(done_by.event)
    if known is None:
        close = difflib.get_close_matches(str(done_by.event), sorted(event_fields), n=1)
        return [
            Problem(
                f"done_by names an unknown event type {done_by.event!r}"
                + (f"; did you mean {close[0]!r}?" if close else ""),
                done_by.location,
                found=repr(done_by.event),
                expected="an event type: " + ", ".join(sorted(event_fields)),
                example="done_by: {event: referral_made, with: {to: camhs}}",
            )
        ]
    where = dict(done_by.field_locations)
    out = []
    for field, value in done_by.fields:
        problem = _field_problem(done_by.event, field, value, known)
        if problem:
            out.append(
                Problem(
                    problem[0],
                    where.get(field, done_by.location),
                    found=repr(value) if problem[1] else repr(field),
                    expected=problem[2],
                )
            )
    return out


def _shown(value: Any) -> str:
    """A parameter value as written: numbers plainly, text quoted."""
    if isinstance(value, Fraction):
        return str(float(value)) if value.denominator != 1 else str(value.numerator)
    return repr(value) if isinstance(value, str) else str(value)


def _field_problem(
    event: str, field: str, value: Any, known: Mapping[str, FieldSpec]
) -> tuple[str, bool, str] | None:
    """Why ``with: {field: value}`` cannot match an event of this type: (message, about value,
    expected)."""
    if field not in known:
        return (
            f"{event} events have no field {field!r}",
            False,
            "one of: " + ", ".join(sorted(known))
            if known
            else "no fields: this event type carries none",
        )
    kind = known[field]
    if isinstance(kind, tuple):
        ok, expected = value in kind, "one of: " + ", ".join(kind)
    else:
        python = {"bool": bool, "str": str}.get(kind)
        ok, expected = (
            python is not None and type(value) is python,
            f"a {kind} value" if python else "a str or bool field",
        )
    return None if ok else (f"{event}.{field} cannot be {value!r}", True, expected)
