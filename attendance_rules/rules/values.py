"""The values conditions compute with, and how they compare and read.

Numbers are exact ``Fraction``s (``exact_number``), percentages fractions of one,
calendar time a ``Duration`` whose years are calendar years (``add_years``: 29 February
becomes 28 February). ``compare`` is the one definition of ``left OP right`` that
deciding, explaining and the static checks share: a missing side never satisfies it;
``compare_at`` also compares durations, and ``holds_numeric`` a measure read as an
integer pair (cross-multiplied: exact, and no ``Fraction`` is built).
``show`` and ``decimal_text`` (dates: ``text.short_date``) write values the way explanations and
rendered conditions print them.
"""

from __future__ import annotations

import datetime as dt
import operator
from fractions import Fraction
from typing import Any, Callable, Literal, Mapping, Sequence, get_args

import attrs

from ..policy.model import ParameterUnit
from ..registers.measures import MeasureUnit, Pair, format_value
from ..text import UNIT_TEXT, short_date
from .lexer import NUMBER_RE, ComparisonOp

__all__ = [
    "DURATION_UNITS",
    "MIRRORED",
    "NEGATED",
    "OPERATORS",
    "OPERATOR_WORDS",
    "VALUE_UNITS",
    "Duration",
    "DurationUnit",
    "ValueUnit",
    "add_days",
    "add_years",
    "compare",
    "compare_at",
    "decimal_text",
    "exact_number",
    "holds_numeric",
    "join_options",
    "parameter_value",
    "quote",
    "show",
]


# The comparison operators of the language, as written (lexer.COMPARE_OPS; a test holds the keys
# equal), the operator testing the same with the sides swapped (``a < b`` is ``b > a``) and the
# one testing the opposite (``not a < b`` is ``a >= b``).
OPERATORS: Mapping[ComparisonOp, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}
# How a required value reads after its operator: "required: at least 10 sessions".
OPERATOR_WORDS: Mapping[ComparisonOp, str] = {
    ">=": "at least",
    ">": "more than",
    "<=": "at most",
    "<": "less than",
    "==": "is",
    "!=": "is not",
}
# `10 <= absent` is decided as `absent >= 10`: with the measure always on the left, one
# cross-multiplying path (`holds_numeric`) serves both ways of writing a comparison.
MIRRORED: Mapping[ComparisonOp, ComparisonOp] = {
    ">=": "<=",
    "<=": ">=",
    ">": "<",
    "<": ">",
    "==": "==",
    "!=": "!=",
}
# `not absent >= 10` is `absent < 10` only where both sides have values: callers that push `not`
# inward (static checks, why-not) must still allow for a missing value themselves.
NEGATED: Mapping[ComparisonOp, ComparisonOp] = {
    ">=": "<",
    ">": "<=",
    "<=": ">",
    "<": ">=",
    "==": "!=",
    "!=": "==",
}
# The unit of a value in a condition (a literal's, a name's, a type's): a parameter's unit (a named
# measure's MeasureUnit is one of them), "" for a bare number (and for a parameter override until
# layering gives it its parent's unit), "years" (only literals are written in years) and "setting"
# (a school setting: yes/no or text, which the scope cannot tell apart).
ValueUnit = ParameterUnit | MeasureUnit | Literal["", "years", "setting"]
# The units of calendar time: a Duration's (a number of days stands in for one when compared).
DurationUnit = Literal["days", "weeks", "years"]
VALUE_UNITS: tuple[ValueUnit, ...] = tuple(
    dict.fromkeys(unit for words in get_args(ValueUnit) for unit in get_args(words))
)
# The units whose literals and parameters are calendar time (a Duration), not a number: "days"
# stays a number (it also counts days absent) and serves as a duration where one is compared.
DURATION_UNITS: tuple[DurationUnit, ...] = ("weeks", "years")


def join_options(options: Sequence[str]) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    return options[0] if len(options) == 1 else ", ".join(options[:-1]) + " or " + options[-1]


def decimal_text(number: Fraction) -> str:
    """Exact decimal text of a fraction with a terminating expansion (else 6 significant digits)."""
    if number.denominator == 1:
        return str(number.numerator)
    twos = fives = 0
    rest = number.denominator
    while rest % 2 == 0:
        rest, twos = rest // 2, twos + 1
    while rest % 5 == 0:
        rest, fives = rest // 5, fives + 1
    # Only denominators made of 2s and 5s end; anything else (a third) would print forever, so it
    # falls back to six significant digits. Exact text matters because reasons quote thresholds.
    if rest != 1:
        return f"{float(number):.6g}"
    places = max(twos, fives)
    digits = str(abs(number.numerator * 10**places // number.denominator)).rjust(places + 1, "0")
    return ("-" if number < 0 else "") + digits[:-places] + "." + digits[-places:]


def quote(text: str) -> str:
    """Text as a quoted literal (single quotes when it holds a double quote)."""
    return f"'{text}'" if '"' in text else f'"{text}"'


def add_days(day: dt.date, days: int) -> dt.date:
    """``day`` plus ``days`` days, clamped to the representable dates."""
    try:
        return day + dt.timedelta(days=days)
    except OverflowError:
        return dt.date.max if days > 0 else dt.date.min


def add_years(day: dt.date, years: int) -> dt.date:
    """The same day ``years`` calendar years later (29 Feb -> 28 Feb), clamped."""
    year = day.year + years
    if not dt.MINYEAR <= year <= dt.MAXYEAR:
        return dt.date.max if years > 0 else dt.date.min
    # `replace` would raise for a year without 29 February; 28 February (not 1 March) keeps the
    # anniversary of a leap-day event inside its month.
    return (
        day.replace(year=year, day=28)
        if (day.month, day.day) == (2, 29)
        else day.replace(year=year)
    )


@attrs.frozen
class Duration:
    """Calendar time: ``amount`` days, weeks or years; ``since`` is the start of a ``time since``
    span.

    Years are calendar years, so a duration's length in days depends on the date it is
    added to (``days_from``).
    """

    amount: Fraction
    unit: DurationUnit = "days"
    # Not compared: two durations of equal length are equal wherever they start; `since` only
    # anchors the comparison of years with days (`compare_at`).
    since: dt.date | None = attrs.field(default=None, eq=False)

    def __str__(self) -> str:
        return f"{decimal_text(Fraction(self.amount))} {UNIT_TEXT[self.unit][self.amount != 1]}"

    def added_to(self, day: dt.date, sign: int = 1) -> dt.date:
        """``day`` plus (``sign`` 1) or minus (-1) this duration; fractional days round down."""
        whole = int(self.amount // 1)
        if self.unit == "years":
            return add_days(
                add_years(day, sign * whole), sign * int((self.amount - whole) * 365 // 1)
            )
        days = self.amount * (7 if self.unit == "weeks" else 1)
        return add_days(day, int(sign * days // 1))

    def days_from(self, anchor: dt.date) -> Fraction:
        """The length in days of this duration when it starts on ``anchor``."""
        if self.unit == "years":
            return Fraction((self.added_to(anchor) - anchor).days)
        return Fraction(self.amount) * (7 if self.unit == "weeks" else 1)


def exact_number(value: object) -> object:
    """Ints and floats as exact Fractions; other values unchanged."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    # repr, not the float itself: 0.1 from YAML means one tenth, not the binary fraction closest to
    # it, so a threshold written 0.1 compares exactly.
    return Fraction(value) if isinstance(value, int) else Fraction(repr(value))


def parameter_value(value: object, unit: ValueUnit) -> object:
    """A policy parameter's value as conditions use it, given its unit.

    Percentages are written as numbers of percent (``10`` or ``"10%"``) and become the
    fraction of one (``Fraction(1, 10)``); ``weeks``/``years`` become a ``Duration``;
    other numbers become exact Fractions; text, yes/no and None pass through.
    """
    if unit == "date":  # written YYYY-MM-DD (checked when the policy is read)
        return dt.date.fromisoformat(value) if isinstance(value, str) else value
    if isinstance(value, str) and unit != "text":
        text = value.strip().removesuffix("%").strip()
        value = Fraction(text) if NUMBER_RE.fullmatch(text) else value
    value = exact_number(value)
    if not isinstance(value, Fraction):
        return value
    if unit == "percent":
        return value / 100
    return Duration(value, unit) if unit in DURATION_UNITS else value


def show(value: object, unit: ValueUnit = "") -> str:
    """A value as people read it: ``10 sessions``, ``90.0%``, ``yes``, ``26 Jan 2024``."""
    if value is None:
        return "not recorded"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.date):
        return short_date(value)
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, Fraction):
        if unit in ("percent", "pounds"):
            return (
                format_value(value, "percent") if unit == "percent" else "£" + decimal_text(value)
            )
        words = UNIT_TEXT.get(unit)
        return decimal_text(value) + (f" {words[value != 1]}" if words and unit != "count" else "")
    return str(value)


def compare(op: ComparisonOp, left: object, right: object) -> bool:
    """``left OP right``; a missing side, or values of different kinds, never satisfy an
    ordering."""
    if left is None or right is None:
        return False
    if isinstance(left, bool) != isinstance(right, bool):
        return op == "!="
    try:
        return bool(OPERATORS[op](left, right))
    except TypeError:
        return op == "!="


def compare_at(op: ComparisonOp, left: object, right: object, anchor: dt.date) -> bool:
    """``left OP right`` as conditions decide it: a number of days next to a duration is a
    duration, and two durations are compared in days from one date (the start of a ``time
    since`` span, else ``anchor``)."""
    return compare(op, *_coerce(left, right, anchor))


def _coerce(left: object, right: object, anchor: dt.date) -> tuple[object, object]:
    """Numbers of days next to durations become durations; two durations become days from one
    anchor."""
    if isinstance(left, Duration) and isinstance(right, Fraction):
        right = Duration(right)
    if isinstance(right, Duration) and isinstance(left, Fraction):
        left = Duration(left)
    if isinstance(left, Duration) and isinstance(right, Duration):
        start = left.since or right.since or anchor
        return left.days_from(start), right.days_from(start)
    return left, right


def holds_numeric(op: ComparisonOp, pair: Pair | None, other: object, anchor: dt.date) -> bool:
    """A measure (as a pair) OP a value: cross-multiplied when the value is a number."""
    if pair is None or other is None:
        return False
    kind = type(other)
    if kind is int:
        # other is an int here, then a Fraction: mypy does not narrow through ``kind``
        return OPERATORS[op](pair[0], other * pair[1])  # type: ignore[operator]
    if kind is Fraction:
        return OPERATORS[op](pair[0] * other.denominator, other.numerator * pair[1])  # type: ignore[attr-defined]
    return compare_at(op, Fraction(*pair), other, anchor)
