"""Compile an effective policy into an engine-neutral, stratified rule set.

Each rule's ``when`` and ``unless`` conditions are parsed and type-checked against the
names the policy chain knows (parameters, named measures, flags, derived facts). Rules
are then ordered by dependency: a rule that reads a fact comes after every rule that
derives it, and strictly later when it reads the fact under negation (``not`` or an
``unless``), so negation only ever looks at finished facts. A cycle through negation
has no such order and is a compile error naming the rules.
"""

from __future__ import annotations

import datetime as dt
import difflib
from typing import Iterable, Mapping

import attrs

from ..exceptions import CompileError, ConditionError, Location, Problem
from ..policy.layers import EffectivePolicy
from ..policy.model import Citation, Rule, Unless
from ..policy.values import SANITY_BOUNDS, done_by_problems, window_out_of_range, window_problems
from ..registers.history import EVENT_FIELDS, STANDARD_FLAGS, FieldSpec
from ..registers.measures import MEASURES, Window
from .conditions import Condition, compile_condition
from .nodes import EventWindow, NameRef, Node, names_used, negated_facts, walk
from .typecheck import Scope

__all__ = [
    "CompiledRule",
    "CompiledUnless",
    "RuleSet",
    "compile_policy",
    "event_fields",
    "policy_scope",
]


@attrs.frozen
class CompiledUnless:
    """An ``unless`` clause with its compiled condition."""

    clause: Unless
    condition: Condition
    actions: tuple[str, ...]


@attrs.frozen(kw_only=True)
class CompiledRule:
    """A rule ready to fire: its conditions, what it reads and derives, and its stratum."""

    rule: Rule
    condition: Condition
    unless: tuple[CompiledUnless, ...]
    reads: frozenset[str]
    # Facts read under `not` or in an `unless`: their derivers must sit in an earlier stratum, so
    # the rule never sees a fact that could still become true later in its own stratum.
    reads_negated: frozenset[str]
    stratum: int
    # Position in the policy chain's declaration order: the last tie-breaker of the firing order, so
    # two rules of equal priority fire (and list their reasons) as the policy file reads.
    order: int
    # the rule's id (kept as a field: read on every firing)
    id: str = attrs.field(init=False, eq=False)
    derives: tuple[str, ...] = attrs.field(init=False, eq=False)  # facts the rule makes true

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "id", self.rule.id)
        object.__setattr__(self, "derives", self.rule.derive)


@attrs.frozen(kw_only=True)
class RuleSet:
    """The compiled policy: rules in firing order (stratum, priority, declaration)."""

    policy: EffectivePolicy
    rules: tuple[CompiledRule, ...]
    scope: Scope
    facts: frozenset[str]
    warnings: tuple[Problem, ...] = ()

    @property
    def strata(self) -> int:
        """Number of strata."""
        return 1 + max((r.stratum for r in self.rules), default=-1)

    def derivers(self, fact: str) -> tuple[CompiledRule, ...]:
        """The rules that derive ``fact``."""
        return tuple(r for r in self.rules if fact in r.derives)

    def recommenders(self, action: str) -> tuple[CompiledRule, ...]:
        """The rules that recommend ``action``."""
        return tuple(r for r in self.rules if action in r.rule.recommend)


def event_fields(policy: EffectivePolicy) -> dict[str, Mapping[str, FieldSpec]]:
    """Every event type the policy knows (standard and declared by the chain) with its fields."""
    return {**EVENT_FIELDS, **{name: event.fields for name, event in policy.event_types.items()}}


def policy_scope(policy: EffectivePolicy) -> Scope:
    """The names a condition of ``policy`` may use, with their units."""
    facts = frozenset(f for rule in policy.rules for f in rule.derive)
    measures = {
        name: MEASURES[use.measure].unit
        for name, use in policy.measures.items()
        if use.measure in MEASURES
    }
    return Scope(
        parameters={name: p.unit for name, p in policy.parameters.items()},
        measures=measures,
        flags=frozenset(STANDARD_FLAGS) | frozenset(policy.flags),
        facts=facts,
        settings=frozenset(policy.settings),
        event_fields=event_fields(policy),
    )


class _Compile:
    """Collects problems while compiling each rule of a policy."""

    def __init__(self, policy: EffectivePolicy, scope: Scope) -> None:
        self.policy, self.scope = policy, scope
        self.problems: list[Problem] = []

    def condition(self, text, what: str) -> Condition | None:
        try:
            return compile_condition(text.text, text.location, self.scope, text.column_map)
        except ConditionError as error:
            self.problems.extend(error.problems)
            return None

    def rule(self, rule: Rule, order: int) -> CompiledRule | None:
        cond = self.condition(rule.when, "when")
        unless = []
        for clause in rule.unless:
            # An `unless` naming no actions holds back everything the rule recommends (most do, in
            # policies/); naming an action the rule does not recommend is a typo: reported.
            held = clause.actions or rule.recommend
            for action in clause.actions:
                if action not in rule.recommend:
                    self.problems.append(
                        Problem(
                            f"unless of rule {rule.id!r} holds back {action!r}, "
                            "which the rule does not recommend",
                            clause.origin,
                            expected=", ".join(rule.recommend) or "(none)",
                        )
                    )
            compiled = self.condition(clause.when, "unless")
            if compiled is not None:
                unless.append(CompiledUnless(clause, compiled, tuple(held)))
        for action in rule.recommend:
            if action not in self.policy.actions:
                self.problems.append(
                    _unknown("action", action, self.policy.actions, rule.origin, rule.id)
                )
        # Keep collecting problems in the other clauses and rules (one run reports every error), but
        # a rule missing a clause cannot be stratified or fired.
        if cond is None or len(unless) != len(rule.unless):
            return None
        for node in (cond.node, *(u.condition.node for u in unless)):
            self.problems.extend(
                _setting_problems(node, self.policy) + _condition_window_problems(node)
            )
        reads = names_used(cond.node).get("fact", set())
        negated = set(negated_facts(cond.node))
        # Facts in an `unless` count as negated wholesale: a true `unless` retracts what the rule
        # would recommend, which is non-monotonic whatever the polarity inside the clause, so those
        # facts must be final before the rule is decided.
        for u in unless:
            names = names_used(u.condition.node).get("fact", set())
            reads |= names
            negated |= names
        return CompiledRule(
            rule=rule,
            condition=cond,
            unless=tuple(unless),
            reads=frozenset(reads),
            reads_negated=frozenset(negated),
            stratum=0,
            order=order,
        )


def _setting_problems(node: Node, policy: EffectivePolicy) -> list[Problem]:
    """``school.X`` must be a setting the chain declares, and one a condition can read.

    The checker refuses undeclared names itself once the chain declares any setting;
    this also covers a chain declaring none, and number settings, which the condition
    language can only read as yes/no or text.
    """
    out = []
    for ref in walk(node):
        if not isinstance(ref, NameRef) or ref.kind != "setting":
            continue
        declared = policy.settings.get(ref.name)
        if declared is None:
            out.append(
                Problem(
                    f"unknown school setting '{ref.name}': "
                    "the policy chain declares no school settings",
                    ref.location,
                    found=f"school.{ref.name}",
                    expected="a setting declared under settings: in this policy or a parent",
                    example=f"settings: {{{ref.name}: "
                    "{type: bool, default: false, description: ..., cite: ...}}",
                )
            )
        elif declared.type == "number":
            out.append(
                Problem(
                    f"school setting '{ref.name}' is a number, which conditions cannot read yet",
                    ref.location,
                    found=f"school.{ref.name}",
                    expected="a bool or text setting, or a parameter for the number",
                )
            )
    return out


def _condition_window_problems(node: Node) -> list[Problem]:
    """Windows written in a condition (``over last N school weeks``, ``within last N years``)
    within the sanity bound."""
    out = []
    for current in walk(node):
        window = getattr(current, "window", None)
        where = getattr(current, "window_location", current.location)
        if isinstance(window, Window):
            out += window_problems(window, where)
        elif isinstance(window, EventWindow):
            # `window_problems` knows only measure windows; an event window gets the same ten-year
            # sanity bound, counted in its own unit (years, or calendar days).
            limit = 10 if window.kind == "years" else SANITY_BOUNDS.calendar_days
            if window.n > limit:
                out.append(window_out_of_range(window, where, False, "within last 2 years"))
    return out


def _event_type_problems(policy: EffectivePolicy) -> list[Problem]:
    """``done_by``, due windows and named measures' ``since latest EVENT`` must name a known
    event type."""
    known = event_fields(policy)
    out = [
        p
        for action in policy.actions.values()
        if action.done_by is not None
        for p in done_by_problems(action.done_by, known)
    ]
    for action in policy.actions.values():
        if action.due is not None and action.due.after and action.due.after not in known:
            out.append(
                _unknown_event(
                    action.due.after,
                    action.due.after_location or action.origin,
                    known,
                    f"the due window of action {action.id!r}",
                )
            )
    for use in policy.measures.values():
        if (
            use.window is not None
            and use.window.kind == "since_event"
            and use.window.event not in known
        ):
            out.append(
                _unknown_event(
                    use.window.event, use.origin, known, f"the window of measure {use.name!r}"
                )
            )
    return out


def _not_before_problems(policy: EffectivePolicy) -> list[Problem]:
    """A named measure's ``not_before`` must name a parameter of the chain whose unit is date."""
    out = []
    for use in policy.measures.values():
        param = policy.parameters.get(use.not_before) if use.not_before else None
        if use.not_before and (param is None or param.unit != "date"):
            dates = sorted(n for n, p in policy.parameters.items() if p.unit == "date")
            found = use.not_before if param is None else f"{use.not_before} (unit {param.unit})"
            out.append(
                Problem(
                    f"measure {use.name!r}: not_before must name a parameter with unit date",
                    use.origin,
                    found=found,
                    expected="a date parameter: " + (", ".join(dates) or "none defined"),
                    example="not_before: pn_sessions_counted_from",
                )
            )
    return out


def _unknown_event(name: str, where: Location, known: Mapping[str, object], what: str) -> Problem:
    """An unknown event type named by ``what``, with the nearest known type."""
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return Problem(
        f"{what} names an unknown event type {name!r}"
        + (f"; did you mean {close[0]!r}?" if close else ""),
        where,
        found=name,
        expected="an event type: " + ", ".join(sorted(known)),
    )


def _unknown(kind: str, name: str, known: Iterable[str], where, rule_id: str) -> Problem:
    close = difflib.get_close_matches(name, list(known), n=1)
    return Problem(
        f"rule {rule_id!r} recommends unknown {kind} {name!r}"
        + (f"; did you mean {close[0]!r}?" if close else ""),
        where,
    )


def _stratify(rules: list[CompiledRule]) -> tuple[list[CompiledRule], list[Problem]]:
    """Assign strata by longest path over fact dependencies; reject cycles through negation."""
    derivers: dict[str, list[int]] = {}
    for i, rule in enumerate(rules):
        for fact in rule.derives:
            derivers.setdefault(fact, []).append(i)
    # An edge goes from a reader to each rule deriving a fact it reads, flagged when the read is
    # negated. Several rules may derive the same fact; the reader depends on all of them.
    edges = {
        i: [(j, fact in r.reads_negated) for fact in r.reads for j in derivers.get(fact, [])]
        for i, r in enumerate(rules)
    }
    # Rules in one strongly connected component depend on each other, so they must share a stratum
    # (the fixpoint in forward.py sorts positive cycles out); only a negated edge inside a component
    # is impossible to honour.
    components = _sccs(len(rules), {i: [j for j, _ in e] for i, e in edges.items()})
    problems = []
    comp_of = {v: c for c, comp in enumerate(components) for v in comp}
    for comp in components:
        members = set(comp)
        if any(neg and j in members for i in comp for j, neg in edges[i]):
            names = ", ".join(rules[i].id for i in sorted(comp))
            problems.append(
                Problem(
                    f"rules {names} depend on each other through negation (not/unless); "
                    "there is no order in which to fire them",
                    rules[min(comp)].rule.origin,
                    expected="remove the negated dependency or split the fact",
                )
            )
    stratum = [0] * len(rules)
    for comp in components:  # Tarjan yields components dependencies-first
        # Longest path over the condensation: a component sits at the stratum of its deepest
        # dependency, one higher across a negated edge. Positive dependencies stay in the same
        # stratum on purpose: fewer strata means fewer passes, and the fixpoint handles them.
        level = max(
            (
                stratum[j] + (1 if neg else 0)
                for i in comp
                for j, neg in edges[i]
                if comp_of[j] != comp_of[i]
            ),
            default=0,
        )
        for i in comp:
            stratum[i] = level
    return [attrs.evolve(r, stratum=stratum[i]) for i, r in enumerate(rules)], problems


# Iterative rather than recursive: a long chain of facts (or a generated policy in the property
# tests) would otherwise hit Python's recursion limit. Each component is sorted and components come
# out in completion order, so the result is the same for the same policy.
def _sccs(n: int, graph: Mapping[int, list[int]]) -> list[list[int]]:
    """Tarjan's strongly connected components, iterative, dependencies first."""
    index, low, on_stack, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in range(n):
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    comp.append(member)
                    if member == node:
                        break
                out.append(sorted(comp))
    return out


def _citation_problems(policy: EffectivePolicy) -> list[Problem]:
    """Every citation must name a source some policy of the chain lists."""
    cites: list[Citation | None] = []  # None: an entry without a citation
    for param in policy.parameters.values():
        cites += [param.cite] + [v.cite for v in param.values]
    cites += [m.cite for m in policy.measures.values()] + [a.cite for a in policy.actions.values()]
    cites += [s.cite for s in policy.settings.values()] + [
        e.cite for e in policy.event_types.values()
    ]
    for rule in policy.rules:
        cites += [rule.cite] + [u.cite for u in rule.unless]
    return [
        Problem(
            f"citation names unknown source {c.source!r}",
            c.location,
            expected=f"one of {', '.join(sorted(policy.sources))}",
        )
        for c in cites
        if c is not None and c.source not in policy.sources
    ]


def _name_clashes(policy: EffectivePolicy, scope: Scope) -> list[Problem]:
    problems = [
        Problem(
            f"action {action.id!r} carries unknown parameter {name!r}",
            action.origin,
            expected=", ".join(sorted(policy.parameters)),
        )
        for action in policy.actions.values()
        for name in action.parameters
        if name not in policy.parameters
    ]
    for rule in policy.rules:
        for fact in rule.derive:
            clash = [
                k
                for k, names in (
                    ("flag", scope.flags),
                    ("parameter", scope.parameters),
                    ("measure", scope.measures),
                )
                if fact in names
            ]
            if clash or fact in MEASURES:
                problems.append(
                    Problem(
                        f"rule {rule.id!r} derives {fact!r}, which is already a "
                        f"{(clash or ['library measure'])[0]}",
                        rule.origin,
                        expected="a fact name of its own",
                    )
                )
    return problems


def _warnings(
    policy: EffectivePolicy, rules: list[CompiledRule], today: dt.date | None
) -> list[Problem]:
    out = []
    recommended = {a for r in policy.rules for a in r.recommend}
    for name, action in policy.actions.items():
        if name not in recommended:
            out.append(
                Problem(
                    f"action {name!r} is recommended by no rule", action.origin, severity="warning"
                )
            )
    used = {n for action in policy.actions.values() for n in action.parameters}
    used |= {use.not_before for use in policy.measures.values() if use.not_before}
    used |= {n for r in rules for n in names_used(r.condition.node).get("parameter", set())}
    used |= {
        n
        for r in rules
        for u in r.unless
        for n in names_used(u.condition.node).get("parameter", set())
    }
    for name, param in policy.parameters.items():
        if name not in used:
            out.append(
                Problem(f"parameter {name!r} is used by no rule", param.origin, severity="warning")
            )
    leaf = policy.leaf
    if today and leaf.review_due and leaf.review_due < today:
        out.append(
            Problem(
                f"policy {leaf.id!r} was due for review on {leaf.review_due}",
                leaf.document.where(("review_due",)),
                severity="warning",
            )
        )
    return out


def compile_policy(policy: EffectivePolicy, today: dt.date | None = None) -> RuleSet:
    """Compile ``policy``; ``CompileError`` lists every problem, warnings stay on the RuleSet."""
    scope = policy_scope(policy)
    work = _Compile(policy, scope)
    work.problems += (
        _citation_problems(policy) + _name_clashes(policy, scope) + _event_type_problems(policy)
    )
    work.problems += _not_before_problems(policy)
    compiled = [
        c for c in (work.rule(rule, i) for i, rule in enumerate(policy.rules)) if c is not None
    ]
    # Type and name errors first, and only then stratification: a cycle report about rules that do
    # not even compile would be noise.
    if work.problems:
        raise CompileError(work.problems)
    stratified, problems = _stratify(compiled)
    if problems:
        raise CompileError(problems)
    # Higher priority fires first within a stratum, which decides the order of `fired` and of the
    # reasons a recommendation lists; the stratum always comes first, so priority can never let a
    # rule see an unfinished negated fact.
    ordered = sorted(stratified, key=lambda r: (r.stratum, -r.rule.priority, r.order))
    warnings = tuple(_warnings(policy, ordered, today))
    return RuleSet(
        policy=policy, rules=tuple(ordered), scope=scope, facts=scope.facts, warnings=warnings
    )
