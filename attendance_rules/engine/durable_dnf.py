"""The durable backend's view of a condition: a boolean skeleton in disjunctive normal form.

``durable.py`` turns each rule into durable_rules patterns; this module gives it the
pieces: a condition's *atoms* (maximal parts that mention no derived fact, and tests over
facts with their facts fixed, numbered by ``Atoms``) and its *conjuncts* (frozensets of
literals over atoms and facts, ``conjuncts``), with the limits past which a rule is
refused (``refuse``). The conversion is ``rules/normal_form.py``'s, shared with the static
checks; the literals and the dropping of ``x and not x`` are this module's. ``Assume`` is
a pupil context whose facts are fixed, for evaluating a test over facts.
"""

from __future__ import annotations

import itertools
from typing import Any, Iterable

import attrs

from ..exceptions import Problem, UsageError
from ..rules import evaluator, nodes
from ..rules.compiler import CompiledRule
from ..rules.normal_form import NormalForm, TooBig

__all__ = ["Assume", "Atom", "Atoms", "Conjunct", "conjuncts", "refuse"]

# Our own limits on the size of a condition (see durable.py's module docstring).
_MAX_CONJUNCTS = 32  # conjuncts of one condition in disjunctive normal form
_MAX_TABLE_FACTS = 4  # facts inside one comparison (2**n atoms)


# --- boolean skeletons and disjunctive normal form ------------------------------------

# A conjunct is a frozenset of literals (kind, key, polarity): kind "atom" (key: the atom's
# number) or "fact" (key: the fact's name).
Conjunct = frozenset


def _facts_in(node: nodes.Node) -> set[str]:
    found: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, nodes.NameRef) and current.kind == "fact":
            found.add(current.name)
        stack.extend(current.children())
    return found


def _both(a: Conjunct, b: Conjunct) -> Conjunct | None:
    """Two conjuncts as one, or None when it holds a literal with both polarities."""
    c = a | b
    return None if any((k, key, not pol) in c for k, key, pol in c) else c


def _minimal(conjuncts: Iterable[Conjunct]) -> list[Conjunct]:
    """Distinct conjuncts, dropping any that contains another (it can never fire earlier)."""
    unique = sorted(set(conjuncts), key=lambda c: (len(c), sorted(map(repr, c))))
    kept: list[Conjunct] = []
    for c in unique:
        if not any(k <= c for k in kept):
            kept.append(c)
    return kept


class _TooComplex(Exception):
    pass


@attrs.frozen
class Atom:
    """An atomic test: a fact-free sub-condition, or a comparison with its facts fixed."""

    node: nodes.Node
    assume: frozenset[str] | None = None  # the facts taken as true; None: the node reads no fact


class Atoms:
    """Numbers atoms; equal sub-conditions (nodes compare by structure) share one number."""

    def __init__(self) -> None:
        self.index: dict[Atom, int] = {}
        self.atoms: list[Atom] = []

    def number(self, atom: Atom) -> int:
        """The number of ``atom``, given it the first time it is seen."""
        if atom not in self.index:
            self.index[atom] = len(self.atoms)
            self.atoms.append(atom)
        return self.index[atom]


def _dnf(node: nodes.Node, atoms: Atoms, used: list[int]) -> list[Conjunct]:
    """The condition as a list of conjunctions of literals.

    Every atom made is appended to ``used``, even one whose conjunct is later dropped, so
    that all of the condition is evaluated (measures consulted are part of the output).
    """

    def literals(node: nodes.Node, positive: bool) -> list[Conjunct] | None:
        facts = sorted(_facts_in(node))
        if not facts:  # a maximal fact-free part: one atom
            used.append(atoms.number(Atom(node)))
            return [frozenset({("atom", used[-1], positive)})]
        if isinstance(node, (nodes.Not, nodes.And, nodes.Or)):
            return None
        if isinstance(node, nodes.NameRef) and node.kind == "fact":
            return [frozenset({("fact", node.name, positive)})]
        return _fact_table(node, facts, atoms, used, positive)

    try:
        return NormalForm(literals, _both, frozenset(), 4 * _MAX_CONJUNCTS).of(node)
    except TooBig:
        raise _TooComplex(f"more than {_MAX_CONJUNCTS} alternative conjunctions") from None


def _fact_table(
    node: nodes.Node, facts: list[str], atoms: Atoms, used: list[int], positive: bool
) -> list[Conjunct]:
    """A test over facts (`stage2 == false`, `stage2 == school.traded_ews`): one alternative
    per true/false assignment of its facts, guarded by that assignment. A test of facts and
    yes/no literals only is decided here; any other gets an atom per assignment, whose value
    never depends on the run's facts."""
    if len(facts) > _MAX_TABLE_FACTS:
        raise _TooComplex(f"a comparison reads more than {_MAX_TABLE_FACTS} facts")
    out: list[Conjunct] = []
    static = _static(node)
    for values in itertools.product((False, True), repeat=len(facts)):
        true = frozenset(f for f, v in zip(facts, values) if v)
        guard = frozenset(("fact", f, v) for f, v in zip(facts, values))
        if static:  # facts and yes/no literals only (`fa == false`): decided here, once
            if (evaluator.evaluate(node, Assume(_NoRegister(), true)).value is True) == positive:
                out.append(guard)
        else:
            used.append(atoms.number(Atom(node, true)))
            out.append(guard | {("atom", used[-1], positive)})
    return out


def _static(node: nodes.Node) -> bool:
    """True when ``node`` reads nothing but facts and yes/no literals."""
    if isinstance(node, nodes.NameRef):
        return node.kind == "fact"
    if isinstance(node, nodes.Literal):
        return isinstance(node.value, bool)
    return isinstance(node, (nodes.Compare, nodes.InCheck, nodes.And, nodes.Or, nodes.Not)) and all(
        _static(child) for child in node.children()
    )


class _NoRegister:
    """The context of a static test: it never reads the pupil."""

    as_of = None


def conjuncts(
    node: nodes.Node, atoms: Atoms, rule: CompiledRule, what: str, used: list[int]
) -> list[Conjunct]:
    """The condition as minimal conjuncts, or ``UsageError`` when it is too complex for the
    backend (``what``: "when" or "unless")."""
    try:
        out = _minimal(_dnf(node, atoms, used))
    except _TooComplex as error:
        raise refuse(
            rule, f"its {what} condition is too complex for the durable backend: {error}"
        ) from None
    if len(out) > _MAX_CONJUNCTS:
        raise refuse(
            rule,
            f"its {what} condition has {len(out)} alternative conjunctions in disjunctive "
            f"normal form; the durable backend takes at most {_MAX_CONJUNCTS}",
        )
    return out


def refuse(rule: CompiledRule, message: str) -> UsageError:
    """The ``UsageError`` refusing ``rule`` for the durable backend, located at its ``when``."""
    return UsageError(
        [
            Problem(
                f"rule {rule.id!r}: {message}",
                rule.rule.when.location,
                expected="a simpler condition, or the python backend",
            )
        ]
    )


class Assume:
    """A pupil context that answers ``fact()`` from a fixed set (for tests over facts)."""

    def __init__(self, ctx: Any, true: frozenset[str]) -> None:
        self._ctx, self._true = ctx, true
        self.as_of = ctx.as_of

    def fact(self, name: str) -> bool:
        """True when ``name`` is one of the facts assumed true."""
        return name in self._true

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)
