"""The type checker of the condition language: names and types against the policy's scope.

``resolve`` fills in what each name of a parsed tree is (parameter, named or library
measure, flag, derived fact, school setting) from the ``Scope`` the rule-set compiler
builds from the policy chain, and computes the tree's ``Type``; every mismatch is a
``ConditionError`` located at the offending word, with close matches for unknown names.
Units and durations follow the choices listed in ``conditions.py``.
"""

from __future__ import annotations

import datetime as dt
import difflib
from fractions import Fraction
from typing import Literal as _Literal
from typing import Mapping, NoReturn

import attrs

from ..exceptions import Location
from ..registers.history import EVENT_FIELDS, FieldSpec, frozen_names
from ..registers.measures import MEASURES, Window
from .lexer import ComparisonOp, error_at
from .nodes import (
    And,
    Arith,
    Compare,
    EventAny,
    EventFilter,
    EventLatest,
    EventSet,
    EventWindow,
    InCheck,
    LibraryMeasure,
    Literal,
    NameRef,
    Node,
    Not,
    Or,
    SchoolDaysSince,
    TimeSince,
    Today,
)
from .values import DURATION_UNITS, ValueUnit, join_options, quote

__all__ = ["Scope", "Type", "TypeKind", "check", "require_yes_no", "resolve"]


# Percent is never generic: `attendance_rate < 90` could mean 90% or 0.9, so a rate must be compared
# with a value written with % (or a percent parameter).
_GENERIC_UNITS: tuple[ValueUnit, ...] = (
    "",
    "count",
)  # a bare number or a count matches any count-like unit
_MEASURE_WINDOW_HELP = (
    "academic year, this term, last N school weeks, last N calendar weeks or since latest EVENT"
)


# The kinds of value a condition computes with (``typing.Literal``: ``Literal`` here is the node).
TypeKind = _Literal["bool", "number", "duration", "date", "text"]


@attrs.frozen
class Type:
    """The type of a value: ``kind`` bool, number, duration, date or text.

    Numbers carry a ``unit``: "" (a bare number), count, sessions, days, percent, pounds,
    school_weeks or school_days. Yes/no school settings have unit "setting" (they may
    also be compared with text). Enumerated text (``review_held.outcome``) lists its
    ``values``.
    """

    kind: TypeKind
    unit: ValueUnit = ""
    values: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.kind == "number":
            return {"": "a plain number", "count": "a count"}.get(
                self.unit, self.unit.replace("_", " ")
            )
        return {"bool": "yes/no", "duration": "a duration", "date": "a date"}.get(
            self.kind, self.kind
        )


_BOOL = Type("bool")
_DATE = Type("date")
_DURATION = Type("duration")
_SCHOOL_DAYS = Type("number", "school_days")
_TEXT = Type("text")


@attrs.frozen(kw_only=True)
class Scope:
    """The names a condition may use, given by the policy compiler.

    ``parameters`` and ``measures`` (policy-named measures) map names to units (percent,
    sessions, days, school_weeks, weeks, pounds, count, text, bool); ``settings`` empty
    means any ``school.X`` is allowed (as yes/no).
    """

    parameters: Mapping[str, ValueUnit] = attrs.field(factory=dict, hash=False)
    measures: Mapping[str, ValueUnit] = attrs.field(factory=dict, hash=False)
    flags: frozenset[str] = attrs.field(default=frozenset(), converter=frozen_names)
    facts: frozenset[str] = attrs.field(default=frozenset(), converter=frozen_names)
    settings: frozenset[str] = attrs.field(default=frozenset(), converter=frozen_names)
    event_fields: Mapping[str, Mapping[str, FieldSpec]] = attrs.field(
        default=EVENT_FIELDS, hash=False
    )

    def known_names(self) -> list[str]:
        """Every name a bare identifier may refer to (library measures included)."""
        library = [name for name in MEASURES if name != "code_sessions"]
        return sorted({*self.parameters, *self.measures, *self.flags, *self.facts, *library})


def _unit_type(unit: ValueUnit) -> Type:
    """The type of a parameter or named measure with this unit."""
    if unit == "text":
        return _TEXT
    if unit in ("bool", "date"):
        return _BOOL if unit == "bool" else _DATE
    if unit in DURATION_UNITS:
        return _DURATION
    return Type("number", unit)


def _field_type(spec: FieldSpec) -> Type:
    """The type of an event field from its EVENT_FIELDS entry."""
    if isinstance(spec, tuple):
        return Type("text", values=tuple(str(v) for v in spec))
    return {"bool": _BOOL, "date": _DATE}.get(str(spec), _TEXT)


def _literal_type(node: Literal) -> Type:
    """The type of a literal."""
    value = node.value
    if isinstance(value, bool):
        return _BOOL
    if isinstance(value, dt.date):
        return _DATE
    if isinstance(value, str):
        return _TEXT
    return _DURATION if node.unit in DURATION_UNITS else Type("number", node.unit)


def _as_duration(kind: Type) -> bool:
    """True for durations and for numbers of days (which serve as durations)."""
    return kind.kind == "duration" or (kind.kind == "number" and kind.unit == "days")


def _comparable(left: Type, right: Type, op: ComparisonOp) -> bool:
    """Whether ``left OP right`` is well typed."""
    ordering = op not in ("==", "!=")
    # Sessions against days is refused, not converted: a day is two sessions, and a silent
    # conversion would halve or double a threshold taken from the guidance.
    if left.kind == right.kind == "number":
        generic = left.unit in _GENERIC_UNITS or right.unit in _GENERIC_UNITS
        return left.unit == right.unit or (generic and "percent" not in (left.unit, right.unit))
    if _DURATION in (left, right):
        return _as_duration(left) and _as_duration(right)
    if ordering:
        return left.kind == right.kind == "date"
    # The scope knows setting names, not their types (yes/no or text), so a setting may be
    # compared with either; compiler._setting_problems refuses number settings.
    if "setting" in (left.unit, right.unit):
        return {left.kind, right.kind} <= {"bool", "text"}
    return left.kind == right.kind


def _mismatch_hint(left: Type, right: Type) -> tuple[str, str]:
    """What a mismatched comparison should have had (``expected``, ``example``)."""
    units = {left.unit, right.unit}
    if units == {"sessions", "days"}:
        return (
            "the same unit on both sides: sessions with sessions, or days with days "
            "(a day is two sessions; "
            "days_absent and unauthorised_days count days)",
            "days_absent over academic year >= 5 days",
        )
    if "percent" in units:
        return "percent on both sides, written with %", "attendance_rate over academic year <= 90%"
    if "duration" in (left.kind, right.kind):
        return (
            "a duration on both sides, such as 6 weeks or 10 days "
            "(school weeks are a count, not calendar time), "
            "or school days after an event",
            "time since latest leave_request > 10 school days",
        )
    if "text" in (left.kind, right.kind):
        return (
            "text on both sides, compared with ==, != or in",
            'latest review_held.outcome == "improved"',
        )
    return "values of the same kind and unit on both sides", ""


class _Checker:
    """Resolves names against a Scope and computes types; raises located ConditionErrors."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    def visit(self, node: Node) -> tuple[Node, Type]:
        """The node with its names resolved, and its type."""
        return getattr(self, "visit_" + type(node).__name__)(node)

    def visit_Literal(self, node: Literal) -> tuple[Node, Type]:
        # Years are added as calendar years (the same day N years on), which has no meaning for a
        # fraction of a year: weeks or days say it exactly.
        if (
            node.unit == "years"
            and isinstance(node.value, Fraction)
            and node.value.denominator != 1
        ):
            raise error_at(
                "a duration in years must be a whole number",
                node.location,
                found=str(node),
                expected="whole years, or weeks or days",
                example="2 years",
            )
        return node, _literal_type(node)

    def visit_Today(self, node: Today) -> tuple[Node, Type]:
        return node, _DATE

    def visit_NameRef(self, node: NameRef) -> tuple[Node, Type]:
        if node.kind == "setting":
            return self.setting(node)
        scope, name = self.scope, node.name
        if name in scope.parameters:
            return attrs.evolve(node, kind="parameter", unit=scope.parameters[name]), _unit_type(
                scope.parameters[name]
            )
        if name in scope.measures:
            return attrs.evolve(node, kind="measure", unit=scope.measures[name]), _unit_type(
                scope.measures[name]
            )
        if name in scope.flags or name in scope.facts:
            return attrs.evolve(
                node, kind="flag" if name in scope.flags else "fact", unit="bool"
            ), _BOOL
        if name in MEASURES:
            return self.visit(LibraryMeasure(location=node.location, name=name))
        return self.unknown_name(node)

    def setting(self, node: NameRef) -> tuple[Node, Type]:
        known = self.scope.settings
        if known and node.name not in known:
            close = difflib.get_close_matches(node.name, sorted(known), n=3)
            hint = (
                f"; did you mean {join_options(['school.' + c for c in close])}?" if close else ""
            )
            raise error_at(
                f"unknown school setting '{node.name}'{hint}",
                node.location,
                found=f"school.{node.name}",
                expected=join_options(sorted("school." + k for k in known)),
            )
        return node, Type("bool", "setting")

    def unknown_name(self, node: NameRef) -> NoReturn:
        name = node.name
        if name in self.scope.event_fields:
            raise error_at(
                f"'{name}' is an event type, not a value",
                node.location,
                found=name,
                expected="an event query",
                example=f"any {name} within academic year",
            )
        close = difflib.get_close_matches(name, self.scope.known_names(), n=3)
        hint = f"; did you mean {join_options(close)}?" if close else ""
        raise error_at(
            f"unknown name '{name}'{hint}",
            node.location,
            found=name,
            expected="a parameter, named measure, library measure, flag or derived fact "
            "of this policy",
        )

    def visit_LibraryMeasure(self, node: LibraryMeasure) -> tuple[Node, Type]:
        name, spec = node.name, MEASURES.get(node.name)
        if spec is None:
            return self.not_a_library_measure(node)
        # code_sessions counts the codes a named measure lists; written bare it would count nothing.
        if name == "code_sessions":
            raise error_at(
                "code_sessions needs a list of codes, so it can only be used as a named measure",
                node.location,
                found=name,
                expected="a measure defined under measures: with codes",
                example="pn_sessions: {measure: code_sessions, codes: [G, N, O, U], "
                "window: last 10 school weeks}",
            )
        # A run always counts back from the as-of date until it breaks, so a window would be
        # ignored.
        if spec.kind == "run" and node.window is not None:
            raise error_at(
                f"{name} takes no window",
                node.window_location,
                found=f"over {node.window}",
                expected=f"{name} on its own",
                example=f"{name} >= 3 days",
            )
        if spec.kind != "run" and node.window is None:
            raise error_at(
                f"{name} is a library measure and needs a window",
                node.location,
                found=name,
                expected=f"{name} over WINDOW, where WINDOW is {_MEASURE_WINDOW_HELP}",
                example=f"{name} over academic year",
            )
        # `last N days` and `last N years` are event-query windows; measures count school weeks or
        # named periods, and a window of days would mix calendar time with a register's sessions.
        if isinstance(node.window, EventWindow):
            raise error_at(
                "measures cannot use this window",
                node.window_location,
                found=str(node.window),
                expected=_MEASURE_WINDOW_HELP,
                example=f"{name} over last 12 school weeks",
            )
        self.window(node.window, node.window_location)
        return node, Type("number", spec.unit)

    def not_a_library_measure(self, node: LibraryMeasure) -> NoReturn:
        scope, name = self.scope, node.name
        if (
            name in scope.parameters
            or name in scope.measures
            or name in scope.flags
            or name in scope.facts
        ):
            raise error_at(
                f"'over' applies only to library measures; {name} is not one",
                node.location,
                found=f"{name} over {node.window}",
                expected=f"{name} on its own (a named measure has its own window)",
            )
        close = difflib.get_close_matches(name, [n for n in MEASURES if n != "code_sessions"], n=3)
        hint = f"; did you mean {join_options(close)}?" if close else ""
        raise error_at(
            f"unknown library measure '{name}'{hint}",
            node.location,
            found=name,
            expected=join_options(sorted(n for n in MEASURES if n != "code_sessions")),
        )

    def window(self, window: Window | EventWindow | None, where: Location) -> None:
        """Check the event type of a ``since latest EVENT`` window."""
        if isinstance(window, Window) and window.kind == "since_event":
            self.event_type(window.event, where)

    def event_type(self, name: str, where: Location) -> Mapping[str, FieldSpec]:
        """The fields of a known event type; unknown types raise with close matches."""
        fields = self.scope.event_fields.get(name)
        if fields is None:
            close = difflib.get_close_matches(name, sorted(self.scope.event_fields), n=3)
            hint = f"; did you mean {join_options(close)}?" if close else ""
            raise error_at(
                f"unknown event type '{name}'{hint}",
                where,
                found=name,
                expected="an event type: " + ", ".join(sorted(self.scope.event_fields)),
            )
        return fields

    def field(self, event: str, name: str, where: Location) -> Type:
        """The type of field ``name`` (located at ``where``) of a known event type; ``date``
        always exists."""
        fields = self.scope.event_fields[event]
        if name == "date":
            return _DATE
        if name not in fields:
            known = ", ".join(["date", *sorted(fields)])
            raise error_at(
                f"{event} events have no field '{name}'", where, found=name, expected=known
            )
        return _field_type(fields[name])

    def visit_EventAny(self, node: EventSet) -> tuple[Node, Type]:
        fields = self.event_type(node.event, node.event_location)
        if node.where is not None:
            self.event_filter(node.event, fields, node.where)
        if node.per:
            self.field(node.event, node.per, node.per_location)
        self.window(node.window, node.window_location)
        return node, _BOOL if isinstance(node, EventAny) else Type("number", "count")

    visit_EventCount = visit_EventAny

    def event_filter(self, event: str, fields: Mapping[str, FieldSpec], where: EventFilter) -> None:
        if where.field not in fields and where.field != "date":
            raise error_at(
                f"{event} events have no field '{where.field}'",
                where.location,
                found=where.field,
                expected=join_options(["date", *sorted(fields)]),
            )
        wanted = _DATE if where.field == "date" else _field_type(fields[where.field])
        if where.op not in ("==", "!=") and wanted.kind != "date":
            raise error_at(
                f"{event}.{where.field} is {wanted}: only a date field is compared with {where.op}",
                where.location,
                found=where.op,
                expected="'==' or '!='",
            )
        self.same_type(wanted, where.value, f"{event}.{where.field}")

    def same_type(self, wanted: Type, literal: Literal, what: str) -> None:
        """Check that ``literal`` is a possible value of ``what`` (of type ``wanted``)."""
        found = _literal_type(literal)
        if found.kind != wanted.kind:
            raise error_at(
                f"{what} is {wanted}, not {found}",
                literal.location,
                found=str(literal),
                expected=str(wanted),
            )
        if wanted.values and literal.value not in wanted.values:
            raise error_at(
                f"{literal} is not a possible value of {what}",
                literal.location,
                found=str(literal),
                expected=join_options([quote(v) for v in wanted.values]),
            )

    def visit_EventLatest(self, node: EventLatest) -> tuple[Node, Type]:
        self.event_type(node.event, node.event_location)
        return node, self.field(node.event, node.field, node.field_location)

    def visit_TimeSince(self, node: TimeSince) -> tuple[Node, Type]:
        self.event_type(node.event, node.event_location)
        return node, _DURATION

    def visit_SchoolDaysSince(self, node: SchoolDaysSince) -> tuple[Node, Type]:
        self.event_type(node.event, node.event_location)
        return node, _SCHOOL_DAYS

    @staticmethod
    def in_school_days(node: Node, kind: Type, other: Type) -> tuple[Node, Type]:
        """``time since latest EVENT`` compared with school days counts school days, not calendar
        time."""
        # Compared with school days, `time since` counts the pupil's school days after the event
        # (ARCHITECTURE.md, "Readings we took"), not calendar days as it does against a duration.
        if isinstance(node, TimeSince) and other == _SCHOOL_DAYS:
            return SchoolDaysSince(node.location, node.event, node.event_location), _SCHOOL_DAYS
        return node, kind

    def visit_Compare(self, node: Compare) -> tuple[Node, Type]:
        (left, ltype), (right, rtype) = self.visit(node.left), self.visit(node.right)
        (left, ltype), (right, rtype) = (
            self.in_school_days(left, ltype, rtype),
            self.in_school_days(right, rtype, ltype),
        )
        if not _comparable(ltype, rtype, node.op):
            ordering_only = ltype.kind == rtype.kind and ltype.kind in ("text", "bool")
            message = (
                f"cannot order {ltype} with {node.op}; use == or !="
                if ordering_only
                else f"cannot compare {ltype} with {rtype}"
            )
            expected, example = _mismatch_hint(ltype, rtype)
            raise error_at(
                message,
                node.location,
                found=f"{left} ({ltype}) {node.op} {right} ({rtype})",
                expected=expected,
                example=example,
            )
        # A literal against enumerated text must be one of its values: a misspelt `"improvd"` would
        # otherwise never match, and the rule would silently never fire.
        for kind, other in ((ltype, right), (rtype, left)):
            if kind.values and isinstance(other, Literal):
                self.same_type(kind, other, str(left if other is right else right))
        return attrs.evolve(node, left=left, right=right), _BOOL

    def visit_InCheck(self, node: InCheck) -> tuple[Node, Type]:
        item, kind = self.visit(node.item)
        if kind.kind != "text" and kind.unit != "setting":
            raise error_at(
                f"'in' needs text on its left, not {kind}",
                node.location,
                found=str(item),
                expected="text, such as latest review_held.outcome",
            )
        for option in node.options:
            self.same_type(kind if kind.kind == "text" else _TEXT, option, str(item))
        return attrs.evolve(node, item=item), _BOOL

    def logic(self, word: str, items: tuple[Node, ...]) -> tuple[Node, ...]:
        """Resolve the operands of and/or/not; each must be yes/no."""
        resolved = []
        for item in items:
            node, kind = self.visit(item)
            require_yes_no(node, kind, f"'{word}' needs yes/no values")
            resolved.append(node)
        return tuple(resolved)

    def visit_And(self, node: And) -> tuple[Node, Type]:
        return attrs.evolve(node, items=self.logic("and", node.items)), _BOOL

    def visit_Or(self, node: Or) -> tuple[Node, Type]:
        return attrs.evolve(node, items=self.logic("or", node.items)), _BOOL

    def visit_Not(self, node: Not) -> tuple[Node, Type]:
        return attrs.evolve(node, item=self.logic("not", (node.item,))[0]), _BOOL

    def visit_Arith(self, node: Arith) -> tuple[Node, Type]:
        (left, ltype), (right, rtype) = self.visit(node.left), self.visit(node.right)
        if ltype == _DATE and rtype == _SCHOOL_DAYS:
            return self.school_days_after(node, left, right), _DATE
        if ltype != _DATE or not _as_duration(rtype):
            raise error_at(
                f"cannot calculate {ltype} {node.op} {rtype}",
                node.location,
                found=f"{left} {node.op} {right}",
                expected="a date plus or minus a duration",
                example="latest school_attendance_meeting.date + 6 weeks "
                "(dates are written YYYY-MM-DD)",
            )
        return attrs.evolve(node, left=left, right=right), _DATE

    def school_days_after(self, node: Arith, left: Node, right: Node) -> Arith:
        """``date + N school days``: only added, and a literal N must be whole."""
        # Only forwards: school days before a date would need a reading of their own (days before
        # the first mark, a pupil joining mid-year), and counting forwards is what due dates need.
        if node.op == "-":
            raise error_at(
                "school days can only be added to a date",
                node.location,
                found=f"{left} - {right}",
                expected="a date plus a number of school days, or time since latest EVENT compared "
                "with school days",
                example="time since latest leave_request > 10 school days",
            )
        if (
            isinstance(right, Literal)
            and isinstance(right.value, Fraction)
            and right.value.denominator != 1
        ):
            raise error_at(
                "a number of school days must be whole",
                right.location,
                found=str(right),
                expected="a whole number of school days",
                example="latest exclusion.date + 5 school days",
            )
        return attrs.evolve(node, left=left, right=right, school_days=True)


def resolve(node: Node, scope: Scope) -> tuple[Node, Type]:
    """Type-check ``node`` against ``scope``; return it with every name's kind filled in, and its
    type.

    Bare library measure names (``unexplained_run``) become ``LibraryMeasure`` nodes.
    Raises ConditionError located at the offending token.
    """
    return _Checker(scope).visit(node)


def check(node: Node, scope: Scope) -> Type:
    """The type of ``node`` in ``scope``; raises a located ConditionError when it is ill typed."""
    return resolve(node, scope)[1]


def require_yes_no(node: Node, kind: Type, what: str) -> None:
    """Refuse ``node`` unless it is yes/no: ``what`` says who needs it (a condition, ``and`` …)."""
    if kind.kind != "bool":
        raise error_at(
            f"{what}, but {node} is {kind}",
            node.location,
            found=f"{node} ({kind})",
            expected="a comparison, a flag, a fact or another yes/no value",
            example=f"{node} >= 10" if kind.kind == "number" else "",
        )
