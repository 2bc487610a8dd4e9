"""Static checks on a compiled, effective policy: defects no history is needed to find.

``static_problems(ruleset)`` returns located problems (``validate`` reports them after
the compiler's own warnings):

- a rule whose condition contradicts itself (error): conjunctions that bound the same
  measure, count, duration or date from both sides with no value in between
  (``unauthorised_sessions over academic year >= 10 and … < 5``), ``x and not x``, two
  different values of one text field, comparisons that fold to false;
- an ``unless`` that always or never holds while its rule's condition holds (warning);
- a review window ``due: {after, from, to}`` that opens after it closes (error);
- stage thresholds out of order (warning): facts named ``<prefix><number>`` (``stage1``,
  ``stage2``; ``map_col_4``, ``map_col_7`` …) form a family; when two stages' deriving
  rules bound the same measure with constants or parameters, a later stage must not be
  reached at a lower threshold (or, for an upper bound, a higher one) than an earlier;
- gaps or overlaps between consecutive stage bands (warning), where an earlier stage's
  rule bounds the measure from above (``x >= a and x < b``) and the next from below;
- actions no history can reach (warning): every rule recommending them can never fire,
  is never in force within the policy's dates, is always held back by its ``unless``,
  or recommends the action only when the action is not in force.

How conditions are analysed. A condition is put into disjunctive normal form over
literals: constants (comparisons of literals and parameters fold), yes/no atoms (flags,
facts, school settings, event queries) and bounds on *terms* (a measure over a window —
two names for the same measure and window are one term —, an event count, time since an
event, an event's date or field). A conjunction is contradictory when an atom appears
with both polarities, when the bounds on one term leave no value (counts are whole
numbers of sessions, days come in halves, rates lie between 0% and 100%), or a constant
is false. The analysis is sound but incomplete: whatever it reports truly cannot happen
(for the parameter values in force on the date named), but it knows nothing of how
different terms relate (``attendance_rate`` and ``absence_rate``, a fact and the rules
deriving it …), so it misses contradictions that need such knowledge. A comparison with
a value that may be missing (a rate with no possible sessions, ``latest`` with no event)
is false, so ``not (x >= 10)`` also holds when ``x`` is missing; the analysis keeps that
reading. Parameters are read on the first day each rule is in force within the policy's
dates and on every later day a parameter it uses changes value. When a condition's
normal form would exceed ``MAX_DISJUNCTS`` alternatives only the conjunction of its
top-level parts with one alternative each is analysed (an ``unless`` is then not
analysed at all).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from fractions import Fraction
from typing import Any, Iterable, Sequence
from typing import Literal as _Literal

import attrs

from ..exceptions import Location, Problem
from ..policy.model import Action, Parameter
from ..registers.history import EVENT_FIELDS
from ..registers.measures import MEASURES
from ..rules.compiler import CompiledRule, RuleSet
from ..rules.nodes import (
    And,
    Arith,
    Compare,
    EventAny,
    EventCount,
    EventLatest,
    InCheck,
    LibraryMeasure,
    Literal,
    NameRef,
    Node,
    Not,
    Or,
    TimeSince,
    Today,
    names_used,
)
from ..rules.values import Duration, compare, decimal_text, parameter_value

__all__ = ["MAX_DISJUNCTS", "static_problems", "stage_families"]

MAX_DISJUNCTS = 256  # alternatives of a condition's normal form analysed at most

_FLIP = {">=": "<=", ">": "<", "<=": ">=", "<": ">", "==": "==", "!=": "!="}
_NEGATE = {">=": "<", ">": "<=", "<=": ">", "<": ">=", "==": "!=", "!=": "=="}
_STAGE_RE = re.compile(r"^(?P<prefix>[a-z_]*[a-z_])(?P<n>\d+)$")
_FAR = dt.date.max


# --- terms and literals ------------------------------------------------------------


@attrs.frozen
class _Term:
    """Something a comparison bounds: a measure over a window, a count, a date …"""

    key: tuple
    text: str
    numeric: bool = True
    step: Fraction | None = None  # values are multiples of step (None: any rational)
    low: Fraction | None = None
    high: Fraction | None = None
    always_defined: bool = False
    values: frozenset | None = None  # the possible values of a text/yes-no term, when known
    unit: str = ""


_LitKind = _Literal["const", "atom", "num", "set"]  # (typing's: ``Literal`` here is the condition node)


@attrs.frozen(eq=False)
class _Lit:
    """One literal of a normal form.

    kind ``const`` (``truth``), ``atom`` (``key`` with polarity ``truth``), ``num``
    (``term op value``) or ``set`` (``term`` in / out of the set ``value``).
    ``maybe_undefined``: the literal also holds when the term has no value (it came
    from a negated comparison).
    """

    kind: _LitKind
    node: Node
    truth: bool = True
    key: tuple = ()
    term: _Term | None = None
    op: str = ""
    value: Any = None
    maybe_undefined: bool = False
    text: str = ""


@attrs.frozen
class _Conflict:
    """Why a conjunction cannot hold: the literals involved and a sentence."""

    lits: tuple[_Lit, ...]
    why: str


class _TooBig(Exception):
    """The normal form would exceed MAX_DISJUNCTS alternatives."""


def _start(node: Node) -> Location:
    """Location of the leftmost token of ``node``."""
    if isinstance(node, (Compare, Arith)):
        return _start(node.left)
    if isinstance(node, (And, Or)):
        return _start(node.items[0])
    if isinstance(node, InCheck):
        return _start(node.item)
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


def _show_number(value: Fraction, term: _Term | None) -> str:
    unit = term.unit if term is not None else ""
    if unit == "percent":
        return decimal_text(value * 100) + "%"
    if unit == "date":
        return dt.date.fromordinal(int(value)).isoformat()
    if unit == "duration":
        return f"{decimal_text(value)} days"
    text = decimal_text(value)
    return f"{text} {unit}" if unit and unit not in ("count",) else text


class _Analyser:
    """Turns resolved conditions into normal forms for one policy on one day.

    ``concrete``: a parameter with no value that day makes its comparisons false (as
    the engine does) and the facts in ``dead`` are false; otherwise both are unknowns.
    """

    def __init__(self, ruleset: RuleSet, day: dt.date, concrete: bool = False,
                 dead: frozenset[str] = frozenset()) -> None:
        self.policy = ruleset.policy
        self.day = day
        self.concrete = concrete
        self.dead = dead

    # parameters and constants ------------------------------------------------------

    def parameter(self, name: str) -> Any:
        param: Parameter = self.policy.parameters[name]
        return parameter_value(param.value_on(self.day), param.unit)

    def constant(self, node: Node) -> tuple[bool, Any]:
        """(True, value) when ``node`` has a fixed value on the day (None: no value)."""
        if isinstance(node, Literal):
            if node.unit in ("weeks", "years"):
                assert isinstance(node.value, Fraction), "a literal with a unit is a number"
                return True, Duration(node.value, node.unit)
            return True, node.value
        if isinstance(node, NameRef) and node.kind == "parameter":
            value = self.parameter(node.name)
            if value is None and not self.concrete:
                return False, None
            return True, value
        return False, None

    def describe(self, node: Node, positive: bool = True) -> str:
        """A comparison as written, with the values of the parameters it uses."""
        text = str(node)
        params = sorted(names_used(node).get("parameter", set()))
        shown = []
        for name in params:
            value = self.policy.parameters[name].value_on(self.day)
            unit = self.policy.parameters[name].unit
            shown.append(f"{name} = {_show_parameter(value, unit)}")
        if shown:
            text += f" ({', '.join(shown)})"
        return text if positive else f"not ({text})" if not isinstance(node, (NameRef, EventAny)) else f"not {text}"

    # terms ----------------------------------------------------------------------------

    def term(self, node: Node) -> _Term | None:
        """The term ``node`` stands for, or None when it is not one."""
        if isinstance(node, NameRef) and node.kind == "measure":
            use = self.policy.measures.get(node.name)
            if use is None or use.measure not in MEASURES:
                return None
            window = str(use.window or "") + (f" not before {use.not_before}" if use.not_before else "")
            return self.measure_term(use.measure, window, tuple(sorted(use.codes)), node.name)
        if isinstance(node, LibraryMeasure):
            return self.measure_term(node.name, str(node.window or ""), (), str(node))
        if isinstance(node, EventCount):
            return _Term(("count", str(node)), str(node), step=Fraction(1), low=Fraction(0), always_defined=True)
        if isinstance(node, TimeSince):
            return _Term(("since", node.event), str(node), step=Fraction(1), low=Fraction(0), unit="duration")
        if isinstance(node, Today):
            return _Term(("today",), "today", step=Fraction(1), always_defined=True, unit="date")
        if isinstance(node, EventLatest):
            if node.field == "date":
                return _Term(("latest", node.event, "date"), str(node), step=Fraction(1), unit="date")
            spec = EVENT_FIELDS.get(node.event, {}).get(node.field)
            values = (frozenset(spec) if isinstance(spec, tuple) else frozenset((True, False)) if spec == "bool"
                      else None)
            return _Term(("latest", node.event, node.field), str(node), numeric=False, values=values)
        if isinstance(node, NameRef) and node.kind == "setting":
            return _Term(("setting", node.name), str(node), numeric=False)
        return None

    @staticmethod
    def measure_term(name: str, window: str, codes: tuple[str, ...], text: str) -> _Term:
        spec = MEASURES[name]
        key = ("measure", name, window, codes)
        if spec.kind == "rate":
            return _Term(key, text, low=Fraction(0), high=Fraction(1), unit="percent")
        if spec.kind == "trend":
            return _Term(key, text, low=Fraction(-1), high=Fraction(1), unit="percent")
        step = Fraction(1, 2) if spec.kind == "days" else Fraction(1)
        return _Term(key, text, step=step, low=Fraction(0), always_defined=True, unit=spec.unit)

    # literals -------------------------------------------------------------------------

    def atom(self, node: Node, positive: bool) -> _Lit:
        if isinstance(node, EventAny):
            key: tuple = ("any", node.event, str(node.where or ""), str(node.window or ""))
        elif isinstance(node, NameRef):
            key = (node.kind, node.name)
        else:
            key = ("expr", str(node))
        return _Lit("atom", node, positive, key, text=self.describe(node, positive))

    def const(self, node: Node, value: bool, positive: bool = True) -> _Lit:
        return _Lit("const", node, value, text=self.describe(node, positive))

    def leaf(self, node: Node, positive: bool) -> _Lit:
        """The literal of a yes/no leaf (comparison, membership, name, event query)."""
        if isinstance(node, Compare):
            return self.compare(node, positive)
        if isinstance(node, InCheck):
            return self.membership(node, positive)
        if isinstance(node, Literal) and isinstance(node.value, bool):
            return self.const(node, node.value == positive)
        if isinstance(node, NameRef):
            if node.kind == "parameter":
                fixed, value = self.constant(node)
                if fixed:
                    return self.const(node, (value is True) == positive, positive)
            if node.kind == "fact" and self.concrete and node.name in self.dead:
                return self.const(node, not positive, positive)
        return self.atom(node, positive)

    def compare(self, node: Compare, positive: bool) -> _Lit:
        left_fixed, left = self.constant(node.left)
        right_fixed, right = self.constant(node.right)
        if left_fixed and right_fixed:
            holds = _fold(node.op, left, right)
            if holds is None:
                return self.atom(node, positive)
            return _Lit("const", node, holds == positive, text=self.describe(node, positive))
        op, term_node, value = node.op, node.right, left
        if right_fixed:
            term_node, value = node.left, right
        elif left_fixed:
            op = _FLIP[op]
        else:
            return self.atom(node, positive)
        term = self.term(term_node)
        if term is None:
            return self.atom(node, positive)
        text = self.describe(node, positive)
        if value is None:  # concrete mode: a parameter with no value makes the comparison false
            return _Lit("const", node, not positive, text=self.describe(node, positive))
        if not term.numeric:
            if op not in ("==", "!="):
                return self.atom(node, positive)
            inside = (op == "==") == positive
            return _Lit("set", node, term=term, op="in" if inside else "out", value=frozenset((value,)),
                        maybe_undefined=not positive, text=text)
        number = _number(value, term)
        if number is None:
            return self.atom(node, positive)
        return _Lit("num", node, term=term, op=op if positive else _NEGATE[op], value=number,
                    maybe_undefined=not positive and not term.always_defined, text=text)

    def membership(self, node: InCheck, positive: bool) -> _Lit:
        term = self.term(node.item)
        if term is None or term.numeric:
            return self.atom(node, positive)
        options = frozenset(o.value for o in node.options)
        return _Lit("set", node, term=term, op="in" if positive else "out", value=options,
                    maybe_undefined=not positive, text=self.describe(node, positive))

    # normal form ---------------------------------------------------------------------

    def dnf(self, node: Node, positive: bool = True) -> list[tuple[_Lit, ...]]:
        """Alternatives (each a conjunction of literals) equivalent to ``node`` (or its negation)."""
        if isinstance(node, Not):
            return self.dnf(node.item, not positive)
        if isinstance(node, (And, Or)):
            parts = [self.dnf(item, positive) for item in node.items]
            if isinstance(node, And) == positive:
                out: list[tuple[_Lit, ...]] = [()]
                for part in parts:
                    out = [a + b for a in out for b in part]
                    if len(out) > MAX_DISJUNCTS:
                        raise _TooBig
                return out
            merged = [c for part in parts for c in part]
            if len(merged) > MAX_DISJUNCTS:
                raise _TooBig
            return merged
        return [(self.leaf(node, positive),)]

    def core(self, node: Node) -> list[tuple[_Lit, ...]]:
        """One conjunction of the top-level conjuncts that have a single alternative.

        Used when the whole normal form is too big: if this part cannot hold, neither
        can the condition.
        """
        lits: tuple[_Lit, ...] = ()
        for item in node.items if isinstance(node, And) else (node,):
            try:
                alternatives = self.dnf(item)
            except _TooBig:
                continue
            if len(alternatives) == 1:
                lits += alternatives[0]
        return [lits]


def _show_parameter(value: Any, unit: str) -> str:
    if value is None:
        return "no value"
    if unit == "percent":
        return f"{value}%"
    if unit in ("count", "text", "bool", "str", ""):
        return str(value)
    return f"{value} {unit.replace('_', ' ')}"


def _number(value: Any, term: _Term) -> Fraction | None:
    """A constant in the units of ``term`` (days for durations, ordinals for dates)."""
    if term.unit == "duration":
        return _days(value)
    if term.unit == "date":
        return Fraction(value.toordinal()) if isinstance(value, dt.date) else None
    if isinstance(value, bool) or not isinstance(value, (int, Fraction)):
        return None
    return Fraction(value)


def _fold(op: str, left: Any, right: Any) -> bool | None:
    """``left OP right`` for two constants, as the engine would decide it (None: unknown)."""
    if left is None or right is None:
        return False
    if isinstance(left, Duration) or isinstance(right, Duration):
        left, right = _days(left), _days(right)
        if left is None or right is None:
            return None
    return compare(op, left, right)


# --- contradictions ----------------------------------------------------------------


def _conflict(conj: Sequence[_Lit]) -> _Conflict | None:
    """Why the conjunction cannot hold, or None when some history may satisfy it."""
    for lit in conj:
        if lit.kind == "const" and not lit.truth:
            return _Conflict((lit,), f"{lit.text} is always false")
    atoms: dict[tuple, _Lit] = {}
    for lit in conj:
        if lit.kind != "atom":
            continue
        other = atoms.get(lit.key)
        if other is not None and other.truth != lit.truth:
            return _Conflict((other, lit), f"{other.text} and {lit.text} cannot both hold")
        atoms.setdefault(lit.key, lit)
    found = _event_conflict([lit for lit in conj if lit.kind == "atom" and lit.key[0] == "any"])
    if found:
        return found
    by_term: dict[tuple, list[_Lit]] = {}
    for lit in conj:
        if lit.kind in ("num", "set"):
            assert lit.term is not None, "a num or set literal bounds a term"
            by_term.setdefault(lit.term.key, []).append(lit)
    for lits in by_term.values():
        found = _bounds_conflict(lits) if lits[0].kind == "num" else _set_conflict(lits)
        if found:
            return found
    return None


def _event_conflict(lits: list[_Lit]) -> _Conflict | None:
    """``any E … within W`` (or with a filter) cannot hold with ``not any E``."""
    for pos in lits:
        if not pos.truth:
            continue
        for neg in lits:
            if not neg.truth and neg.key[1] == pos.key[1] and neg.key[3] == "" and neg.key[2] in ("", pos.key[2]):
                return _Conflict((pos, neg), f"{pos.text} and {neg.text} cannot both hold")
    return None


@attrs.frozen
class _Bound:
    value: Fraction
    strict: bool
    lit: _Lit | None  # None: the term's own range


def _tighter_low(a: _Bound | None, b: _Bound) -> bool:
    return a is None or (b.value, b.strict) > (a.value, a.strict)


def _tighter_high(a: _Bound | None, b: _Bound) -> bool:
    return a is None or (b.value, not b.strict) < (a.value, not a.strict)


def _closed(bound: _Bound, step: Fraction | None, low: bool) -> Fraction:
    """A bound as the nearest allowed value inside it (for terms counted in steps)."""
    if step is None:
        return bound.value
    units = bound.value / step
    if low:
        n = math.floor(units) + 1 if bound.strict or units != math.floor(units) else int(units)
        return n * step
    n = math.ceil(units) - 1 if bound.strict or units != math.ceil(units) else int(units)
    return n * step


def _pair_text(term: _Term, bound: _Bound, lit: _Lit, low: bool) -> str:
    """``lit`` against a bound, which is another literal or the term's own range."""
    if bound.lit is not None:
        return f"{bound.lit.text} and {lit.text} cannot both hold"
    return f"{lit.text} can never hold: {term.text} is never {'below' if low else 'above'} " \
           f"{_show_number(bound.value, term)}"


def _bounds_conflict(lits: list[_Lit]) -> _Conflict | None:
    term = lits[0].term
    assert term is not None
    if not term.always_defined and all(lit.maybe_undefined for lit in lits):
        return None  # every literal holds when the term has no value
    low = _Bound(term.low, False, None) if term.low is not None else None
    high = _Bound(term.high, False, None) if term.high is not None else None
    equal: _Lit | None = None
    unequal: list[_Lit] = []
    for lit in lits:
        value, op = lit.value, lit.op
        if op in (">=", ">") and _tighter_low(low, bound := _Bound(value, op == ">", lit)):
            low = bound
        elif op in ("<=", "<") and _tighter_high(high, bound := _Bound(value, op == "<", lit)):
            high = bound
        elif op == "==":
            if equal is not None and equal.value != value:
                return _Conflict((equal, lit), f"{equal.text} and {lit.text} cannot both hold")
            equal = lit
        elif op == "!=":
            unequal.append(lit)
    if equal is not None:
        value = equal.value
        for edge, is_low in ((low, True), (high, False)):
            if edge is None:
                continue
            outside = (value < edge.value or (value == edge.value and edge.strict)) if is_low else \
                (value > edge.value or (value == edge.value and edge.strict))
            if outside:
                return _Conflict(tuple(x for x in (edge.lit, equal) if x), _pair_text(term, edge, equal, is_low))
        if term.step is not None and value % term.step:
            return _Conflict((equal,), f"{equal.text} can never hold: {term.text} is counted in steps of "
                                       f"{decimal_text(term.step)}")
        for lit in unequal:
            if lit.value == value:
                return _Conflict((equal, lit), f"{equal.text} and {lit.text} cannot both hold")
        return None
    if low is None or high is None:
        return None
    lo, hi = _closed(low, term.step, True), _closed(high, term.step, False)
    empty = lo > hi if term.step is not None else (low.value > high.value or (
        low.value == high.value and (low.strict or high.strict)))
    if empty:
        parts = [b.lit for b in (low, high) if b.lit is not None]
        if low.lit is None or high.lit is None:
            given, limit, is_low = (high.lit, low, True) if low.lit is None else (low.lit, high, False)
            assert given is not None, "a term's own range is never empty"
            return _Conflict(tuple(parts), _pair_text(term, limit, given, is_low))
        return _Conflict(tuple(parts), f"{low.lit.text} and {high.lit.text} cannot both hold")
    if lo == hi:
        for lit in unequal:
            if lit.value == lo:
                return _Conflict(tuple(x for x in (low.lit, high.lit, lit) if x),
                                 f"{term.text} can only be {_show_number(lo, term)}, which {lit.text} excludes")
    return None


def _set_conflict(lits: list[_Lit]) -> _Conflict | None:
    term = lits[0].term
    assert term is not None
    if all(lit.maybe_undefined for lit in lits):
        return None
    allowed = term.values
    used: list[_Lit] = []
    for lit in lits:
        if lit.op == "in":
            allowed = lit.value if allowed is None else allowed & lit.value
            used.append(lit)
    excluded = frozenset().union(*(lit.value for lit in lits if lit.op == "out"))
    if allowed is not None and not (allowed - excluded):
        involved = used + [lit for lit in lits if lit.op == "out"]
        texts = " and ".join(lit.text for lit in involved)
        return _Conflict(tuple(involved), f"{texts} cannot all hold")
    return None


def _unsatisfiable(dnf: list[tuple[_Lit, ...]]) -> list[_Conflict] | None:
    """One conflict per alternative when none can hold; None when some can."""
    out = []
    for conj in dnf:
        found = _conflict(conj)
        if found is None:
            return None
        out.append(found)
    return out


def _where(conflicts: list[_Conflict], fallback: Location) -> Location:
    """The place to report a contradiction: the last literal of a single conflict."""
    if len(conflicts) == 1 and conflicts[0].lits:
        return _start(max(conflicts[0].lits, key=lambda lit: (lit.node.location.line, lit.node.location.column)).node)
    return fallback


def _explain(conflicts: list[_Conflict]) -> str:
    if len(conflicts) == 1:
        return conflicts[0].why
    return f"none of its {len(conflicts)} alternatives can hold (the first: {conflicts[0].why})"


# --- dates -------------------------------------------------------------------------


def _leaf_window(ruleset: RuleSet) -> tuple[dt.date, dt.date]:
    leaf = ruleset.policy.leaf
    return leaf.effective_from, leaf.effective_to or _FAR


def _intersect(*spans: tuple[dt.date | None, dt.date | None]) -> tuple[dt.date, dt.date] | None:
    start = max((s for s, _ in spans if s is not None), default=dt.date.min)
    end = min((e for _, e in spans if e is not None), default=_FAR)
    return (start, end) if start <= end else None


def _rule_window(ruleset: RuleSet, rule: CompiledRule) -> tuple[dt.date, dt.date] | None:
    """The days within the policy's dates on which the rule (and its layer) is in force."""
    layer = next((p for p in ruleset.policy.chain if p.id == rule.rule.policy), None)
    spans = [_leaf_window(ruleset), (rule.rule.effective_from, rule.rule.effective_to)]
    if layer is not None:
        spans.append((layer.effective_from, layer.effective_to))
    return _intersect(*spans)


def _action_span(action: Action) -> tuple[dt.date | None, dt.date | None]:
    return action.effective_from, action.effective_to


def _reference_days(ruleset: RuleSet, window: tuple[dt.date, dt.date], nodes: Iterable[Node]) -> list[dt.date]:
    """The first day of ``window`` and each later day in it on which a parameter used changes."""
    days = {window[0]}
    for node in nodes:
        for name in names_used(node).get("parameter", set()):
            for dated in ruleset.policy.parameters[name].values:
                if dated.start is not None and window[0] < dated.start <= window[1]:
                    days.add(dated.start)
    return sorted(days)


def _span_text(window: tuple[dt.date | None, dt.date | None]) -> str:
    start, end = (None if d in (None, dt.date.min, _FAR) else d for d in window)
    if start and end:
        return f"from {start} to {end}"
    return f"from {start}" if start else f"until {end}" if end else "always"


# --- the checks --------------------------------------------------------------------


class _Checks:
    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        self.policy = ruleset.policy
        self.problems: list[Problem] = []
        self.leaf = self.policy.leaf.id

    def in_policy(self, origin_policy: str) -> str:
        """`` (in the effective policy 'x')`` when an entry comes from a parent."""
        return "" if origin_policy == self.leaf else f" (in the effective policy {self.leaf!r})"

    def in_context(self, *rules: CompiledRule) -> str:
        """The effective policy's name when the finding depends on more than the rules' own file.

        That is when the rules come from different files, or use a parameter another file
        overrides; otherwise validating the parent alone reports the same problem, and
        validating parent and child together reports it once.
        """
        layers = {rule.rule.policy for rule in rules}
        for rule in rules:
            for node in self.nodes(rule):
                for name in names_used(node).get("parameter", set()):
                    origin = self.policy.origins.get(f"parameter:{name}")
                    if origin is not None and origin.replaced:
                        layers.add(origin.policy)
        return "" if len(layers) == 1 else self.in_policy("")

    def nodes(self, rule: CompiledRule) -> list[Node]:
        return [rule.condition.node] + [u.condition.node for u in rule.unless]

    def run(self) -> list[Problem]:
        for rule in self.ruleset.rules:
            window = _rule_window(self.ruleset, rule)
            if window is None:
                continue
            days = _reference_days(self.ruleset, window, self.nodes(rule))
            self.contradiction(rule, days)
            self.unless(rule, days)
        self.review_windows()
        self.stages()
        self.unreachable()
        return self.problems

    # a rule contradicting itself -----------------------------------------------------

    def contradiction(self, rule: CompiledRule, days: list[dt.date]) -> None:
        for i, day in enumerate(days):
            analyser = _Analyser(self.ruleset, day)
            try:
                conflicts = _unsatisfiable(analyser.dnf(rule.condition.node))
            except _TooBig:
                conflicts = _unsatisfiable(analyser.core(rule.condition.node))
            if conflicts is None:
                continue
            when = f" from {day} (the parameter values then in force)" if i else ""
            how = "contradicts itself" if any(len(c.lits) > 1 for c in conflicts) else "is always false"
            self.problems.append(Problem(
                f"rule {rule.id!r} can never fire{when}: its condition {how}: {_explain(conflicts)}"
                + self.in_context(rule),
                _where(conflicts, rule.rule.when.location),
                expected="a condition some attendance history can meet"))
            return

    # unless clauses -------------------------------------------------------------------

    def unless(self, rule: CompiledRule, days: list[dt.date]) -> None:
        for clause in rule.unless:
            for i, day in enumerate(days):
                message = self.unless_problem(rule, clause, day)
                if message:
                    when = f" from {day} (the parameter values then in force)" if i else ""
                    held = ", ".join(clause.actions)
                    self.problems.append(Problem(
                        f"unless of rule {rule.id!r} {message}{when}; it holds back {held}"
                        + self.in_context(rule),
                        clause.clause.when.location, severity="warning",
                        expected="an unless that holds for some pupils meeting the rule and not for others"))
                    break

    def unless_problem(self, rule: CompiledRule, clause: Any, day: dt.date) -> str:
        analyser = _Analyser(self.ruleset, day)
        try:
            when = analyser.dnf(rule.condition.node)
            holds = analyser.dnf(clause.condition.node)
            fails = analyser.dnf(clause.condition.node, positive=False)
            if (found := _unsatisfiable(holds)) is not None:
                return f"never holds: {_explain(found)}"
            if (found := _unsatisfiable(fails)) is not None:
                return f"always holds (no history makes it false: {_explain(found)})"
            if _unsatisfiable(when) is not None:
                return ""  # the rule itself can never fire: reported as such
            if _unsatisfiable(_product(when, holds)) is not None:
                return "never holds when the rule's condition does"
            if _unsatisfiable(_product(when, fails)) is not None:
                return "holds whenever the rule's condition does, so the rule never recommends what it holds back"
        except _TooBig:
            return ""
        return ""

    # review windows ----------------------------------------------------------------------

    def review_windows(self) -> None:
        for action_id, action in self.policy.actions.items():
            due = action.due
            if due is None or not due.after or due.from_days <= due.to_days:
                continue
            origin = self.policy.origins.get(f"action:{action_id}")
            where = action.origin
            layer = next((p for p in self.policy.chain if origin and p.id == origin.policy), None)
            if layer is not None:
                where = layer.document.where(("actions", action_id, "due", "from"))
            unit = "school days" if getattr(due, "school_days", False) else "days"
            self.problems.append(Problem(
                f"review window of action {action_id!r} opens {due.from_days} {unit} after the latest {due.after} "
                f"but closes {due.to_days} {unit} after it: its earliest day is after its latest",
                where, found=f"from {due.from_days} {unit}, to {due.to_days} {unit}",
                expected="from no later than to",
                example="due: {after: school_attendance_meeting, from: 4 weeks, to: 6 weeks}"))

    # stage families ---------------------------------------------------------------------

    def stage_bounds(self, rule: CompiledRule) -> dict[tuple, dict[str, _Bound]]:
        """Bounds a stage rule's top-level conjunction puts on terms, per term key and side."""
        window = _rule_window(self.ruleset, rule)
        if window is None:
            return {}
        day = max(self.policy.leaf.effective_from, window[0])
        analyser = _Analyser(self.ruleset, day)
        node = rule.condition.node
        out: dict[tuple, dict[str, _Bound]] = {}
        for item in node.items if isinstance(node, And) else (node,):
            if not isinstance(item, Compare):
                continue
            lit = analyser.compare(item, True)
            if lit.kind != "num":
                continue
            assert lit.term is not None, "a num literal bounds a term"
            sides = {">=": ("low",), ">": ("low",), "<=": ("high",), "<": ("high",), "==": ("low", "high")}
            for side in sides.get(lit.op, ()):
                bound = _Bound(lit.value, lit.op in (">", "<"), lit)
                bounds = out.setdefault(lit.term.key, {})
                current = bounds.get(side)
                if (_tighter_low if side == "low" else _tighter_high)(current, bound):
                    bounds[side] = bound
        return out

    def stages(self) -> None:
        for prefix, members in stage_families(self.ruleset.facts).items():
            stages = []  # (number, fact, rule, bounds)
            for number, fact in members:
                for rule in self.ruleset.derivers(fact):
                    bounds = self.stage_bounds(rule)
                    if bounds:
                        stages.append((number, fact, rule, bounds))
            keys = {key for *_, bounds in stages for key in bounds}
            for key in sorted(keys, key=str):
                with_key = [(n, f, r, b[key]) for n, f, r, b in stages if key in b]
                numbers = sorted({n for n, *_ in with_key})
                for earlier, later in zip(numbers, numbers[1:]):
                    for _, f2, r2, b2 in [s for s in with_key if s[0] == later]:
                        for _, f1, r1, b1 in [s for s in with_key if s[0] == earlier]:
                            if self.stage_pair(f1, r1, b1, f2, r2, b2):
                                break

    def stage_pair(self, f1: str, r1: CompiledRule, b1: dict[str, _Bound], f2: str, r2: CompiledRule,
                   b2: dict[str, _Bound]) -> bool:
        """Report an out-of-order threshold, a gap or an overlap between two stages; True if reported.

        A later stage means worse attendance: for most terms a higher value (its rules
        bound the term from below), for attendance itself a lower one (from above).
        """
        bound = (b1.get("low") or b1.get("high") or b2.get("low") or b2.get("high"))
        # a stage's bounds are never empty and come from its comparisons, which bound a term
        assert bound is not None and bound.lit is not None and bound.lit.term is not None, "a stage bound has a term"
        term = bound.lit.term
        rising = _rising(term)
        entry, leave = ("low", "high") if rising else ("high", "low")

        def before(a: _Bound, b: _Bound) -> bool:  # b is reached before a on the way to worse attendance
            if rising:
                return (b.value, b.strict) < (a.value, a.strict)
            return (b.value, not b.strict) > (a.value, not a.strict)

        origin = self.in_context(r1, r2)
        for side in (entry, leave):
            if side in b1 and side in b2 and before(b1[side], b2[side]):
                word = "below" if rising else "above"
                self.problems.append(Problem(
                    f"stage thresholds out of order: {f2} (rule {r2.id!r}) needs {_text(b2[side])}, {word} the "
                    f"earlier {f1} (rule {r1.id!r} at {_bound_where(r1, b1[side])}: {_text(b1[side])})" + origin,
                    _bound_where(r2, b2[side]), severity="warning",
                    expected=f"a threshold for {f2} no {'lower' if rising else 'higher'} than {f1}'s"))
                return True
        if entry not in b2:
            earlier = b1.get(entry) or b1[leave]
            self.problems.append(Problem(
                f"stage thresholds out of order: {f2} (rule {r2.id!r}) is reached when {_text(b2[leave])}, "
                f"in the direction of better attendance; the earlier {f1} (rule {r1.id!r} at "
                f"{_bound_where(r1, earlier)}) needs {_text(earlier)}" + origin,
                _bound_where(r2, b2[leave]), severity="warning",
                expected=f"{f2} reached when {term.text} is {'at least' if rising else 'at most'} a threshold"))
            return True
        if leave not in b1:
            return False
        top, bottom = (b1[leave], b2[entry]) if rising else (b2[entry], b1[leave])
        step = term.step
        if step is not None:
            hi, lo = _closed(top, step, False), _closed(bottom, step, True)
            gap, overlap = lo > hi + step, lo <= hi
        else:
            gap = bottom.value > top.value or (bottom.value == top.value and top.strict and bottom.strict)
            overlap = bottom.value < top.value or (bottom.value == top.value and not top.strict and not bottom.strict)
        if not (gap or overlap):
            return False
        kind, what = ("gap", "values between them reach neither stage") if gap else \
            ("overlap", "values in both bands reach both stages")
        self.problems.append(Problem(
            f"{kind} between consecutive stage bands: {f1} (rule {r1.id!r}) ends where {_text(b1[leave])}, "
            f"{f2} (rule {r2.id!r}) starts where {_text(b2[entry])}; {what}" + origin,
            _bound_where(r2, b2[entry]), severity="warning",
            expected=f"{f2}'s band to start just where {f1}'s ends"))
        return True

    # unreachable actions ---------------------------------------------------------------

    def rule_can_fire(self, rule: CompiledRule, window: tuple[dt.date, dt.date], dead: frozenset[str],
                      extra: Sequence[Node] = ()) -> bool | None:
        """Whether the rule's condition (with the negations of ``extra``) can hold on some day of ``window``."""
        for day in _reference_days(self.ruleset, window, [rule.condition.node, *extra]):
            analyser = _Analyser(self.ruleset, day, concrete=True, dead=dead)
            try:
                dnf = analyser.dnf(rule.condition.node)
                for node in extra:
                    dnf = _product(dnf, analyser.dnf(node, positive=False))
            except _TooBig:
                dnf = analyser.core(rule.condition.node)
            if _unsatisfiable(dnf) is None:
                return True
        return False

    def dead_facts(self) -> frozenset[str]:
        """Facts no rule can derive (found to a fixpoint: a dead fact can kill its readers)."""
        dead: frozenset[str] = frozenset()
        while True:
            live: set[str] = set()
            for rule in self.ruleset.rules:
                window = _rule_window(self.ruleset, rule)
                if window is not None and rule.derives and self.rule_can_fire(rule, window, dead):
                    live.update(rule.derives)
            now = frozenset(self.ruleset.facts - live)
            if now == dead:
                return dead
            dead = now

    def unreachable(self) -> None:
        dead = self.dead_facts()
        for action_id, action in self.policy.actions.items():
            rules = self.ruleset.recommenders(action_id)
            if not rules:
                continue  # the compiler warns about actions no rule recommends
            reasons = []
            for rule in rules:
                reason = self.why_not(rule, action, dead)
                if reason is None:
                    break
                reasons.append(reason)
            else:
                origin = self.policy.origins.get(f"action:{action_id}")
                self.problems.append(Problem(
                    f"action {action_id!r} can never be recommended: " + "; ".join(reasons)
                    + self.in_policy(origin.policy if origin else self.leaf),
                    action.origin, severity="warning",
                    expected="some rule that can recommend it while it is in force"))

    def why_not(self, rule: CompiledRule, action: Action, dead: frozenset[str]) -> str | None:
        """Why ``rule`` never recommends ``action`` (None: it can)."""
        window = _rule_window(self.ruleset, rule)
        if window is None:
            return (f"rule {rule.id!r} is never in force within the policy's dates "
                    f"({_span_text(_leaf_window(self.ruleset))})")
        both = _intersect(window, _action_span(action))
        if both is None:
            span = _span_text((action.effective_from, action.effective_to))
            return f"rule {rule.id!r} is in force {_span_text(window)}, the action only {span}"
        if not self.rule_can_fire(rule, both, dead):
            killed = sorted(rule.reads & dead)
            because = f" (no rule can derive {', '.join(killed)})" if killed else ""
            return f"rule {rule.id!r} can never fire{because}"
        holding = [u.condition.node for u in rule.unless if action.id in u.actions]
        if holding and not self.rule_can_fire(rule, both, dead, holding):
            return f"rule {rule.id!r} always holds it back (its unless holds whenever the rule fires)"
        return None


_BETTER_WHEN_HIGHER = frozenset(("attendance_rate", "attended_sessions", "present_sessions",
                                 "approved_activity_sessions", "attendance_trend"))


def _rising(term: _Term) -> bool:
    """True when a higher value of ``term`` means worse attendance (a later stage)."""
    return not (term.key[0] == "measure" and term.key[1] in _BETTER_WHEN_HIGHER)


def _text(bound: _Bound) -> str:
    return bound.lit.text if bound.lit else "?"


def _bound_where(rule: CompiledRule, bound: _Bound) -> Location:
    return _start(bound.lit.node) if bound.lit else rule.rule.when.location


def _product(a: list[tuple[_Lit, ...]], b: list[tuple[_Lit, ...]]) -> list[tuple[_Lit, ...]]:
    out = [x + y for x in a for y in b]
    if len(out) > MAX_DISJUNCTS:
        raise _TooBig
    return out


def stage_families(facts: Iterable[str], least: int = 2) -> dict[str, list[tuple[int, str]]]:
    """Facts named ``<prefix><number>`` grouped by prefix, in number order.

    Only families of at least ``least`` different numbers are returned.
    """
    families: dict[str, list[tuple[int, str]]] = {}
    for fact in facts:
        match = _STAGE_RE.match(fact)
        if match:
            families.setdefault(match["prefix"], []).append((int(match["n"]), fact))
    return {p: sorted(m) for p, m in sorted(families.items()) if len({n for n, _ in m}) >= least}


def static_problems(ruleset: RuleSet) -> list[Problem]:
    """Located problems of a compiled effective policy (see the module docstring)."""
    return _Checks(ruleset).run()
