"""Conditions in disjunctive normal form over literals, for the static checks.

A condition is put into disjunctive normal form over literals: constants (comparisons of
literals and parameters fold), yes/no atoms (flags, facts, school settings, event
queries) and bounds on *terms* (a measure over a window — two names for the same measure
and window are one term —, an event count, time since an event, an event's date or
field). A conjunction is contradictory when an atom appears with both polarities, when
the bounds on one term leave no value (counts are whole numbers of sessions, days come
in halves, rates lie between 0% and 100%), or a constant is false. The analysis is sound
but incomplete: whatever it reports truly cannot happen (for the parameter values in
force on the date named), but it knows nothing of how different terms relate
(``attendance_rate`` and ``absence_rate``, a fact and the rules deriving it …), so it
misses contradictions that need such knowledge. A comparison with a value that may be
missing (a rate with no possible sessions, ``latest`` with no event) is false, so ``not
(x >= 10)`` also holds when ``x`` is missing; the analysis keeps that reading.
Parameters are read on the first day each rule is in force within the policy's dates and
on every later day a parameter it uses changes value. When a condition's normal form
would exceed ``MAX_DISJUNCTS`` alternatives only the conjunction of its top-level parts
with one alternative each is analysed (an ``unless`` is then not analysed at all).

``Analyser`` gives the literals of a resolved condition on one day (the conversion itself
is ``rules/normal_form.py``, shared with the durable backend); ``Term`` is what a
comparison bounds, ``Lit`` one literal. ``contradictions.py`` decides whether a
conjunction of literals can hold.
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from typing import Any, Literal

import attrs

from ..exceptions import Location
from ..policy.model import Parameter
from ..registers.history import EVENT_FIELDS
from ..registers.measures import MEASURES, MeasureUnit
from ..rules import nodes, values
from ..rules.compiler import RuleSet
from ..rules.lexer import ComparisonOp
from ..rules.normal_form import NormalForm, TooBig, distribute
from ..rules.values import MIRRORED, NEGATED, Duration

__all__ = [
    "MAX_DISJUNCTS",
    "Analyser",
    "Lit",
    "Term",
    "TooBig",
    "conjoin",
    "node_start",
    "show_number",
]

MAX_DISJUNCTS = 256  # alternatives of a condition's normal form analysed at most


# --- terms and literals ------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Term:
    """Something a comparison bounds: a measure over a window, a count, a date …"""

    key: tuple
    text: str
    numeric: bool = True
    step: Fraction | None = None  # values are multiples of step (None: any rational)
    low: Fraction | None = None
    high: Fraction | None = None
    always_defined: bool = False
    values: frozenset | None = None  # the possible values of a text/yes-no term, when known
    # a measure's unit, "duration" (days) or "date" (ordinals): what its constants are read in
    unit: MeasureUnit | Literal["", "duration", "date"] = ""


_LitKind = Literal["const", "atom", "num", "set"]


@attrs.frozen(eq=False, kw_only=True)
class Lit:
    """One literal of a normal form.

    kind ``const`` (``truth``), ``atom`` (``key`` with polarity ``truth``), ``num``
    (``term op value``) or ``set`` (``term`` in / out of the set ``value``).
    ``maybe_undefined``: the literal also holds when the term has no value (it came
    from a negated comparison).
    """

    kind: _LitKind
    node: nodes.Node
    truth: bool = True
    key: tuple = ()
    term: Term | None = None
    # a bound's comparison; a set's "in"/"out"; "" for constants and atoms
    op: ComparisonOp | Literal["in", "out", ""] = ""
    value: Any = None
    maybe_undefined: bool = False
    text: str = ""


def node_start(node: nodes.Node) -> Location:
    """Location of the leftmost token of ``node``."""
    if isinstance(node, (nodes.Compare, nodes.Arith)):
        return node_start(node.left)
    if isinstance(node, (nodes.And, nodes.Or)):
        return node_start(node.items[0])
    if isinstance(node, nodes.InCheck):
        return node_start(node.item)
    return node.location


def _days(value: Any) -> Fraction | None:
    """A duration or a number of days as days (None for years, whose length varies)."""
    if isinstance(value, Duration):
        if value.unit == "years":
            return None
        return Fraction(value.amount) * (7 if value.unit == "weeks" else 1)
    if isinstance(value, (int, Fraction)) and not isinstance(value, bool):
        return Fraction(value)
    return None


def show_number(value: Fraction, term: Term | None) -> str:
    """A value of ``term`` for people: a percentage, a date, days or a number with its unit."""
    unit = term.unit if term is not None else ""
    if unit == "percent":
        return values.decimal_text(value * 100) + "%"
    if unit == "date":
        return dt.date.fromordinal(int(value)).isoformat()
    if unit == "duration":
        return f"{values.decimal_text(value)} days"
    text = values.decimal_text(value)
    return f"{text} {unit}" if unit and unit not in ("count",) else text


class Analyser:
    """Turns resolved conditions into normal forms for one policy on one day.

    ``concrete``: a parameter with no value that day makes its comparisons false (as
    the engine does) and the facts in ``dead`` are false; otherwise both are unknowns.
    """

    def __init__(
        self,
        ruleset: RuleSet,
        day: dt.date,
        concrete: bool = False,
        dead: frozenset[str] = frozenset(),
    ) -> None:
        self.policy = ruleset.policy
        self.day = day
        self.concrete = concrete
        self.dead = dead
        self.form: NormalForm[tuple[Lit, ...]] = NormalForm(self.literals, _both, (), MAX_DISJUNCTS)

    # parameters and constants ------------------------------------------------------

    def parameter(self, name: str) -> Any:
        """The value of parameter ``name`` on the day (None: no value)."""
        param: Parameter = self.policy.parameters[name]
        return values.parameter_value(param.value_on(self.day), param.unit)

    def constant(self, node: nodes.Node) -> tuple[bool, Any]:
        """(True, value) when ``node`` has a fixed value on the day (None: no value)."""
        if isinstance(node, nodes.Literal):
            if node.unit in values.DURATION_UNITS:
                assert isinstance(node.value, Fraction), "a literal with a unit is a number"
                return True, Duration(node.value, node.unit)
            return True, node.value
        if isinstance(node, nodes.NameRef) and node.kind == "parameter":
            value = self.parameter(node.name)
            if value is None and not self.concrete:
                return False, None
            return True, value
        return False, None

    def describe(self, node: nodes.Node, positive: bool = True) -> str:
        """A comparison as written, with the values of the parameters it uses."""
        text = str(node)
        params = sorted(nodes.names_used(node).get("parameter", set()))
        shown = []
        for name in params:
            value = self.policy.parameters[name].value_on(self.day)
            unit = self.policy.parameters[name].unit
            shown.append(f"{name} = {_show_parameter(value, unit)}")
        if shown:
            text += f" ({', '.join(shown)})"
        return (
            text
            if positive
            else f"not ({text})"
            if not isinstance(node, (nodes.NameRef, nodes.EventAny))
            else f"not {text}"
        )

    # terms ----------------------------------------------------------------------------

    def term(self, node: nodes.Node) -> Term | None:
        """The term ``node`` stands for, or None when it is not one."""
        if isinstance(node, nodes.NameRef) and node.kind == "measure":
            use = self.policy.measures.get(node.name)
            if use is None or use.measure not in MEASURES:
                return None
            window = str(use.window or "") + (
                f" not before {use.not_before}" if use.not_before else ""
            )
            return self.measure_term(use.measure, window, tuple(sorted(use.codes)), node.name)
        if isinstance(node, nodes.LibraryMeasure):
            return self.measure_term(node.name, str(node.window or ""), (), str(node))
        if isinstance(node, nodes.EventCount):
            return Term(
                key=("count", str(node)),
                text=str(node),
                step=Fraction(1),
                low=Fraction(0),
                always_defined=True,
            )
        if isinstance(node, nodes.TimeSince):
            return Term(
                key=("since", node.event),
                text=str(node),
                step=Fraction(1),
                low=Fraction(0),
                unit="duration",
            )
        if isinstance(node, nodes.Today):
            return Term(
                key=("today",), text="today", step=Fraction(1), always_defined=True, unit="date"
            )
        if isinstance(node, nodes.EventLatest):
            if node.field == "date":
                return Term(
                    key=("latest", node.event, "date"),
                    text=str(node),
                    step=Fraction(1),
                    unit="date",
                )
            spec = EVENT_FIELDS.get(node.event, {}).get(node.field)
            values = (
                frozenset(spec)
                if isinstance(spec, tuple)
                else frozenset((True, False))
                if spec == "bool"
                else None
            )
            return Term(
                key=("latest", node.event, node.field), text=str(node), numeric=False, values=values
            )
        if isinstance(node, nodes.NameRef) and node.kind == "setting":
            return Term(key=("setting", node.name), text=str(node), numeric=False)
        return None

    @staticmethod
    def measure_term(name: str, window: str, codes: tuple[str, ...], text: str) -> Term:
        """The term of library measure ``name`` over ``window``: its range, steps and unit."""
        spec = MEASURES[name]
        key = ("measure", name, window, codes)
        if spec.kind == "rate":
            return Term(key=key, text=text, low=Fraction(0), high=Fraction(1), unit="percent")
        if spec.kind == "trend":
            return Term(key=key, text=text, low=Fraction(-1), high=Fraction(1), unit="percent")
        step = Fraction(1, 2) if spec.kind == "days" else Fraction(1)
        return Term(
            key=key, text=text, step=step, low=Fraction(0), always_defined=True, unit=spec.unit
        )

    # literals -------------------------------------------------------------------------

    def atom(self, node: nodes.Node, positive: bool) -> Lit:
        """``node`` as a yes/no atom (or its negation), keyed so equal atoms meet."""
        if isinstance(node, nodes.EventAny):
            key: tuple = ("any", node.event, str(node.where or ""), str(node.window or ""))
        elif isinstance(node, nodes.NameRef):
            key = (node.kind, node.name)
        else:
            key = ("expr", str(node))
        return Lit(
            kind="atom", node=node, truth=positive, key=key, text=self.describe(node, positive)
        )

    def const(self, node: nodes.Node, value: bool, positive: bool = True) -> Lit:
        """A literal whose truth is fixed on the day."""
        return Lit(kind="const", node=node, truth=value, text=self.describe(node, positive))

    def leaf(self, node: nodes.Node, positive: bool) -> Lit:
        """The literal of a yes/no leaf (comparison, membership, name, event query)."""
        if isinstance(node, nodes.Compare):
            return self.compare(node, positive)
        if isinstance(node, nodes.InCheck):
            return self.membership(node, positive)
        if isinstance(node, nodes.Literal) and isinstance(node.value, bool):
            return self.const(node, node.value == positive)
        if isinstance(node, nodes.NameRef):
            if node.kind == "parameter":
                fixed, value = self.constant(node)
                if fixed:
                    return self.const(node, (value is True) == positive, positive)
            if node.kind == "fact" and self.concrete and node.name in self.dead:
                return self.const(node, not positive, positive)
        return self.atom(node, positive)

    def compare(self, node: nodes.Compare, positive: bool) -> Lit:
        """A comparison (or its negation): a constant, a bound or set on a term, or else an atom."""
        left_fixed, left = self.constant(node.left)
        right_fixed, right = self.constant(node.right)
        if left_fixed and right_fixed:
            holds = _fold(node.op, left, right)
            if holds is None:
                return self.atom(node, positive)
            return Lit(
                kind="const", node=node, truth=holds == positive, text=self.describe(node, positive)
            )
        op, term_node, value = node.op, node.right, left
        if right_fixed:
            term_node, value = node.left, right
        elif left_fixed:
            op = MIRRORED[op]
        else:
            return self.atom(node, positive)
        term = self.term(term_node)
        if term is None:
            return self.atom(node, positive)
        text = self.describe(node, positive)
        if value is None:  # concrete mode: a parameter with no value makes the comparison false
            return Lit(
                kind="const", node=node, truth=not positive, text=self.describe(node, positive)
            )
        if not term.numeric:
            if op not in ("==", "!="):
                return self.atom(node, positive)
            inside = (op == "==") == positive
            return Lit(
                kind="set",
                node=node,
                term=term,
                op="in" if inside else "out",
                value=frozenset((value,)),
                maybe_undefined=not positive,
                text=text,
            )
        number = _number(value, term)
        if number is None:
            return self.atom(node, positive)
        return Lit(
            kind="num",
            node=node,
            term=term,
            op=op if positive else NEGATED[op],
            value=number,
            maybe_undefined=not positive and not term.always_defined,
            text=text,
        )

    def membership(self, node: nodes.InCheck, positive: bool) -> Lit:
        """``x in [...]`` (or its negation) on a text term as a set literal, or else an atom."""
        term = self.term(node.item)
        if term is None or term.numeric:
            return self.atom(node, positive)
        options = frozenset(o.value for o in node.options)
        return Lit(
            kind="set",
            node=node,
            term=term,
            op="in" if positive else "out",
            value=options,
            maybe_undefined=not positive,
            text=self.describe(node, positive),
        )

    # normal form ---------------------------------------------------------------------

    def dnf(self, node: nodes.Node, positive: bool = True) -> list[tuple[Lit, ...]]:
        """Alternatives (each a conjunction of literals) equivalent to ``node`` (or its
        negation); ``TooBig`` past ``MAX_DISJUNCTS`` of them."""
        alternatives = self.form.of(node, positive)
        if len(alternatives) > MAX_DISJUNCTS:  # a long disjunction, not a distribution
            raise TooBig
        return alternatives

    def literals(self, node: nodes.Node, positive: bool) -> list[tuple[Lit, ...]] | None:
        """A leaf as one alternative of one literal (None for ``not``, ``and``, ``or``)."""
        if isinstance(node, (nodes.Not, nodes.And, nodes.Or)):
            return None
        return [(self.leaf(node, positive),)]

    def core(self, node: nodes.Node) -> list[tuple[Lit, ...]]:
        """One conjunction of the top-level conjuncts that have a single alternative.

        Used when the whole normal form is too big: if this part cannot hold, neither
        can the condition.
        """
        lits: tuple[Lit, ...] = ()
        for item in node.items if isinstance(node, nodes.And) else (node,):
            try:
                alternatives = self.dnf(item)
            except TooBig:
                continue
            if len(alternatives) == 1:
                lits += alternatives[0]
        return [lits]


def _show_parameter(value: Any, unit: values.ValueUnit) -> str:
    if value is None:
        return "no value"
    if unit == "percent":
        return f"{value}%"
    if unit in ("count", "text", "bool", ""):
        return str(value)
    return f"{value} {unit.replace('_', ' ')}"


def _number(value: Any, term: Term) -> Fraction | None:
    """A constant in the units of ``term`` (days for durations, ordinals for dates)."""
    if term.unit == "duration":
        return _days(value)
    if term.unit == "date":
        return Fraction(value.toordinal()) if isinstance(value, dt.date) else None
    if isinstance(value, bool) or not isinstance(value, (int, Fraction)):
        return None
    return Fraction(value)


def _fold(op: ComparisonOp, left: Any, right: Any) -> bool | None:
    """``left OP right`` for two constants, as the engine would decide it (None: unknown)."""
    if left is None or right is None:
        return False
    if isinstance(left, Duration) or isinstance(right, Duration):
        left, right = _days(left), _days(right)
        if left is None or right is None:
            return None
    return values.compare(op, left, right)


def conjoin(a: list[tuple[Lit, ...]], b: list[tuple[Lit, ...]]) -> list[tuple[Lit, ...]]:
    """The conjunction of two normal forms (``TooBig`` past ``MAX_DISJUNCTS`` alternatives)."""
    true: tuple[Lit, ...] = ()
    return distribute((a, b), _both, true, MAX_DISJUNCTS)


def _both(a: tuple[Lit, ...], b: tuple[Lit, ...]) -> tuple[Lit, ...]:
    """Two conjunctions of literals as one (contradictions are for ``contradictions.py``)."""
    return a + b
