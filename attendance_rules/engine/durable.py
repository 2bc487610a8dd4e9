"""The optional durable_rules backend: the same compiled rule set, fired by durable_rules.

``DurableEngine`` is a drop-in ``Engine`` (``load_policy(..., backend="durable")``) kept in
agreement with our own engine by ``tests/test_durable_differential.py``. It needs the
``durable`` extra (durable-rules 2.0.28, which imports on Python 3.11 and 3.12 only).
The boolean skeletons of the conditions (atoms, disjunctive normal form) are built by
``durable_dnf.py``.

Who decides what
----------------
The *atomic tests* of a condition — every maximal part that mentions no derived fact
(comparisons over measures, flags, events, parameters, settings) — are properties of the
register, not of chaining: Python evaluates them with ``evaluator.evaluate`` on the
pupil's context. The *chaining* — which rules fire given the derived facts, stratum by
stratum, with negation through ``not`` and the ``unless`` clauses that hold a fired rule
back — is decided by durable_rules:

- each rule's ``when`` becomes a boolean skeleton over *atoms* (the atomic tests) and
  *facts*, put in disjunctive normal form; every conjunct is one durable_rules rule;
- a test that compares a fact (``stage2 == false``) becomes one alternative per true/false
  assignment of its facts (with an atom for the rest of the test, if it reads anything
  else), so no atom ever depends on the facts of the run;
- there is one durable ruleset per stratum. Facts of lower strata are finished when a
  stratum runs, so they arrive as true/false attributes and negation is a plain test;
  facts derived in the stratum itself are durable facts ``{"t": "d", "f": id, ...}``
  asserted by the actions and joined by the readers' patterns;
- an ``unless`` clause is a durable rule joining the clause's atoms with a marker that
  the rule fired; which clauses hold is recorded from those firings.

Every atom of every rule in force is evaluated, as our engine evaluates the whole of each
condition: the measures consulted are part of the output. Atoms of ``unless`` clauses are
evaluated on a scratch copy of the pupil's context, because our engine only looks at the
clauses of rules that fired.

Same firing order as the Python engine
--------------------------------------
Our engine scans a stratum's rules in (priority, declaration) order, pass after pass,
until a pass derives nothing new; ``fired`` lists rules in that order and each reason
records the facts as they stood when its rule fired. Within a stratum conditions are
monotone in the stratum's own facts (negation only reads lower strata), so each rule's
place in that scan can be computed *inside* durable_rules: every derived fact carries
the stamp ``(pass p, position q)`` of its first derivation, and a rule at position ``i``
whose matched facts have stamps ``(p_j, q_j)`` fires in pass ``max(1, p_j + [q_j >= i])``
(a fact derived at or after ``i`` is only seen in the next pass). A rule may match
several times as better-stamped facts arrive; each action keeps the earliest stamp and
re-asserts a derived fact only when its stamp improves (so no fact is ever asserted
twice). Python then sorts the firings by ``(stratum, pass, position)`` and rebuilds the
reasons with ``evaluator.evaluate`` against the facts that stood at each firing (and
checks that the condition does hold there: a disagreement raises ``EvaluationError``).
Everything after that — reasons, suppressions, already-done actions — is the base
``Engine``'s own code; the suppressions it builds must name exactly the clauses
durable_rules found holding, or ``EvaluationError`` says the backends disagree.

durable_rules 2.0.28, handled deliberately (see ../shared/DESIGN.md)
--------------------------------------------------------------------
- *Process-global state.* We never use ``durable.lang``'s global registry or its host
  (whose timer threads dispatch actions in the background): each engine builds its own
  ``durable.engine.Ruleset`` objects from JSON definitions and runs their actions on the
  calling thread. Ruleset names are ``ar<serial>_<id(engine)>_s<stratum>`` (kept in
  ``DurableEngine.ruleset_names``); ``<serial>`` comes from a module-level
  ``itertools.count`` because ``id()`` values are reused once an engine is collected.
  The C core is not known to be thread-safe, so one module-level lock serialises every
  durable session; the rulesets are deleted from the C core when the engine is closed or
  collected.
- *1,024 live sessions per ruleset.* One session per pupil and stratum, deleted
  (``delete_state``) as soon as the stratum is done, in a ``finally``.
- *Sessions in which no action ever ran* cannot be deleted (``delete_state`` crashes the
  process), and a first fact that matches nothing leaks a session slot for good. So every
  session starts with an opener fact whose rule always fires.
- *MessageNotHandledException* at top level means "no rule's pattern accepts this fact";
  the fact is dropped, which is exactly right for an input chunk none of whose tests
  hold, so it is caught there and nowhere else. Inside actions we only assert facts some
  pattern reads; an exception there (durable_rules would swallow it) is recorded and
  raised after the session.
- *MessageObservedException* (an identical fact asserted twice) cannot happen by
  construction: input chunks differ in their chunk number and a derived fact is only
  re-asserted with a better stamp. If it happens anyway it is raised as a bug.
- *No batch asserts* (``assert_facts`` with an unmatched fact left work on a background
  thread): facts are asserted one at a time.
- *Size limits of the C core.* A fact holds at most 255 properties, one fact may pass at
  most 64 branches of the alpha network at once, and a rule joins at most 16 facts. The
  atoms' values are therefore sent in input chunks of a few rules each, and a rule too
  large for these limits is refused with ``UsageError`` when the engine is built.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from typing import Any, Callable, Iterable, Mapping, Sequence

import attrs

from ..exceptions import EvaluationError, Problem, UsageError
from ..registers.calendar import Calendar
from ..rules import runtime
from ..rules.compiler import CompiledRule, RuleSet
from .context import PupilContext
from .durable_dnf import Assume, Atom, Atoms, Conjunct, conjuncts, refuse
from .forward import Engine

try:  # durable-rules fails to import on Python 3.13+ (undefined symbol PyEval_CallObject)
    from durable import engine as _durable
except (ImportError, OSError) as _error:  # pragma: no cover - depends on the interpreter
    _durable = None
    _IMPORT_ERROR: BaseException | None = _error
else:
    _IMPORT_ERROR = None

__all__ = ["DurableEngine", "available"]

_SERIAL = itertools.count(1)  # makes ruleset names unique in the process (id() values are reused)
_LOCK = threading.Lock()  # one durable session at a time, process-wide (the C core is shared)

# Limits of durable-rules 2.0.28's C core, with a margin (see the module docstring).
_MAX_ATTRS = 120  # properties of one input chunk (the core allows 255)
# alternative patterns on one input chunk (a fact may pass at most 64 branches at once)
_MAX_CHAINS = 32
_MAX_RULE_CHAINS = 48  # the same for one rule alone (its own chunk)
_MAX_JOIN = 15  # derived facts joined by one conjunct (16 frames, one is the chunk)


def available() -> bool:
    """True when durable_rules can be imported here."""
    return _durable is not None


# --- one stratum as a durable ruleset -------------------------------------------------


@attrs.frozen
class _Chain:
    """One conjunct as a durable rule: tests on the rule's input chunk plus derived facts to
    join."""

    tests: tuple[tuple[str, bool], ...]  # (attribute, required value) on the chunk fact
    joins: tuple[str, ...]  # facts derived in this stratum, joined as durable facts


class _Session:
    """What one pupil's run of one stratum recorded (written by the actions)."""

    __slots__ = ("opened", "best", "stamps", "held", "errors")

    def __init__(self, seeds: Iterable[str]) -> None:
        self.opened = False
        self.best: dict[int, int] = {}  # rule position -> earliest pass it fires in
        # fact -> (pass, position)
        self.stamps: dict[str, tuple[int, int]] = {f: (0, -1) for f in seeds}
        self.held: dict[int, set[int]] = {}  # rule position -> unless clauses that hold
        self.errors: list[str] = []


class _Stratum:
    """The rules of one stratum compiled to one durable ruleset."""

    def __init__(
        self,
        name: str,
        number: int,
        rules: Sequence[CompiledRule],
        fact_ids: Mapping[str, int],
        when_atoms: Atoms,
        unless_atoms: Atoms,
    ) -> None:
        self.name, self.number, self.rules = name, number, tuple(rules)
        self.fact_ids = fact_ids
        self.local = frozenset(f for r in rules for f in r.derives)  # facts derived in this stratum
        self.when: list[list[_Chain]] = []
        self.unless: list[list[list[_Chain]]] = []
        self.when_atoms: list[list[int]] = []  # every atom of the rule's condition, in order
        self.unless_atoms: list[list[int]] = []
        for rule in self.rules:
            used: list[int] = []
            self.when.append(
                [
                    self._chain(rule, c, "when")
                    for c in conjuncts(rule.condition.node, when_atoms, rule, "when", used)
                ]
            )
            self.when_atoms.append(list(dict.fromkeys(used)))
            used = []
            self.unless.append(
                [
                    [
                        self._chain(rule, c, "unless", unless=True)
                        for c in conjuncts(u.condition.node, unless_atoms, rule, "unless", used)
                    ]
                    for u in rule.unless
                ]
            )
            self.unless_atoms.append(list(dict.fromkeys(used)))
        # rules whose unless clauses have patterns, joined with a marker asserted when the rule
        # fires
        # (a clause that can never hold has none, and a marker nothing reads would be dropped)
        self.gated = [any(clause for clause in clauses) for clauses in self.unless]
        self.joined = frozenset(f for chains in self.when for ch in chains for f in ch.joins)
        # facts each rule asserts as durable facts (only those some pattern reads: nothing dangles)
        self.asserts = [tuple(f for f in r.derives if f in self.joined) for r in self.rules]
        # the atoms each rule's patterns test (an atom of a dropped conjunct is evaluated, not sent)
        self.when_tested = [
            sorted({int(a[1:]) for ch in chains for a, _ in ch.tests if a[0] == "a"})
            for chains in self.when
        ]
        self.unless_tested = [
            sorted(
                {
                    int(a[1:])
                    for clause in clauses
                    for ch in clause
                    for a, _ in ch.tests
                    if a[0] == "u"
                }
            )
            for clauses in self.unless
        ]
        names = {f"f{number}": name for name, number in fact_ids.items()}
        self.lower_facts = [
            sorted(
                {
                    (a, names[a])
                    for chains in [self.when[i]] + self.unless[i]
                    for ch in chains
                    for a, _ in ch.tests
                    if a[0] == "f"
                }
            )
            for i in range(len(self.rules))
        ]
        self.chunk_of, self.chunks = self._pack()
        self.sessions: dict[str, _Session] = {}
        self.ruleset = _durable.Ruleset(name, None, self._definition())

    def _chain(
        self, rule: CompiledRule, conjunct: Conjunct, what: str, unless: bool = False
    ) -> _Chain:
        tests, joins = [], []
        for kind, key, positive in sorted(conjunct, key=repr):
            if kind == "atom":
                tests.append((("u" if unless else "a") + str(key), positive))
            elif key in self.local and not unless:
                if not positive:  # the compiler's stratification rules this out
                    raise refuse(rule, f"reads {key!r} under negation in its own stratum")
                joins.append(key)
            else:
                if key in self.local:
                    raise refuse(
                        rule, f"its unless clause reads {key!r}, derived in the rule's own stratum"
                    )
                tests.append((f"f{self.fact_ids[key]}", positive))
        if len(joins) > _MAX_JOIN:
            raise refuse(
                rule,
                f"its {what} condition joins {len(joins)} derived facts in one conjunction; "
                f"the durable backend takes at most {_MAX_JOIN}",
            )
        return _Chain(tuple(tests), tuple(joins))

    def _cost(self, i: int) -> tuple[set[str], int]:
        """Input attributes and alpha chains (branches under the chunk's node) of rule ``i``."""
        chains = self.when[i] + [ch for clause in self.unless[i] for ch in clause]
        return {f"r{i}"} | {a for ch in chains for a, _ in ch.tests}, 1 + len(chains)

    def _pack(self) -> tuple[list[int], list[list[int]]]:
        """Group consecutive rules into input chunks within the core's limits."""
        chunk_of: list[int] = []
        chunks: list[list[int]] = []
        names: set[str] = set()
        nodes = 0
        for i, rule in enumerate(self.rules):
            own, cost = self._cost(i)
            if len(own) > _MAX_ATTRS or cost > _MAX_RULE_CHAINS:
                raise refuse(
                    rule,
                    f"its conditions need {len(own)} input attributes and {cost} alternative "
                    f"patterns; the durable backend takes at most {_MAX_ATTRS} and "
                    f"{_MAX_RULE_CHAINS} per rule",
                )
            if not chunks or len(names | own) > _MAX_ATTRS or nodes + cost > _MAX_CHAINS:
                chunks.append([])
                names, nodes = set(), 0
            chunks[-1].append(i)
            chunk_of.append(len(chunks) - 1)
            names |= own
            nodes += cost
        return chunk_of, chunks

    def _definition(self) -> dict[str, Any]:
        rules: dict[str, Any] = {"open": {"all": [{"m": {"t": "s"}}], "run": self._open}}
        for i in range(len(self.rules)):
            head = [{"t": "c"}, {"k": self.chunk_of[i]}, {f"r{i}": True}]
            for j, chain in enumerate(self.when[i]):
                pattern = [{"i": {"$and": head + [{a: v} for a, v in chain.tests]}}]
                pattern += [
                    {f"x{n}": {"$and": [{"t": "d"}, {"f": self.fact_ids[f]}]}}
                    for n, f in enumerate(chain.joins)
                ]
                rules[f"w{i}_{j}"] = {"all": pattern, "run": self._fire(i, len(chain.joins))}
            for k, clause in enumerate(self.unless[i]):
                for j, chain in enumerate(clause):
                    pattern = [
                        {"i": {"$and": head + [{a: v} for a, v in chain.tests]}},
                        {"g": {"$and": [{"t": "g"}, {"r": i}]}},
                    ]
                    rules[f"u{i}_{k}_{j}"] = {"all": pattern, "run": self._hold(i, k)}
        return rules

    # actions: run by durable_rules on the calling thread; they never raise (durable_rules
    # would swallow it), they record what happened in the pupil's _Session.

    def _open(self, c: Any) -> None:
        session = self.sessions.get(c.s.sid)
        if session is not None:
            session.opened = True

    def _fire(self, i: int, joins: int) -> Callable[[Any], None]:
        aliases = [f"x{n}" for n in range(joins)]

        def fire(c: Any) -> None:
            session = self.sessions.get(c.s.sid)
            if session is None:
                return
            try:
                p = 1
                for alias in aliases:
                    fact = getattr(c, alias)
                    p = max(p, fact.p + (1 if fact.q >= i else 0))
                best = session.best.get(i)
                if best is not None and best <= p:
                    return
                session.best[i] = p
                for name in self.asserts[i]:
                    stamp = session.stamps.get(name)
                    if stamp is None or (p, i) < stamp:
                        session.stamps[name] = (p, i)
                        c.assert_fact({"t": "d", "f": self.fact_ids[name], "p": p, "q": i})
                if best is None and self.gated[i]:
                    c.assert_fact({"t": "g", "r": i})
            except BaseException as error:  # noqa: BLE001 - recorded and raised after the session
                session.errors.append(
                    f"rule {self.rules[i].id!r}: {type(error).__name__}: "
                    f"{getattr(error, 'message', error)}"
                )

        return fire

    def _hold(self, i: int, k: int) -> Callable[[Any], None]:
        def hold(c: Any) -> None:
            session = self.sessions.get(c.s.sid)
            if session is not None:
                session.held.setdefault(i, set()).add(k)

        return hold

    # one pupil

    def run(
        self,
        sid: str,
        in_force: Sequence[bool],
        when_values: Mapping[int, bool],
        unless_values: Mapping[int, bool],
        facts: Mapping[str, bool],
    ) -> _Session:
        """Fire this stratum for one pupil: the rules in force, atom values and lower-strata
        facts."""
        seeds = [f for f in sorted(self.joined) if facts.get(f)]
        chunks = []
        for k, members in enumerate(self.chunks):
            live = [i for i in members if in_force[i]]
            if not live:
                continue  # no pattern of this chunk could match
            fact: dict[str, Any] = {"sid": sid, "t": "c", "k": k}
            for i in members:
                fact[f"r{i}"] = in_force[i]
            for i in live:  # atoms of rules not in force are not evaluated (and not needed)
                fact.update((f"a{a}", when_values[a]) for a in self.when_tested[i])
                fact.update((f"u{a}", unless_values[a]) for a in self.unless_tested[i])
                fact.update((a, facts.get(name, False)) for a, name in self.lower_facts[i])
            chunks.append(fact)
        session = _Session(seeds)
        if not chunks:
            return session
        with _LOCK:
            self.sessions[sid] = session
            try:
                self._assert({"sid": sid, "t": "s"}, session, top=True)
                if not session.opened:
                    raise EvaluationError(
                        f"durable_rules did not open session {sid} of ruleset {self.name}"
                    )
                for name in seeds:
                    self._assert(
                        {"sid": sid, "t": "d", "f": self.fact_ids[name], "p": 0, "q": -1}, session
                    )
                for fact in chunks:
                    self._assert(fact, session)
            finally:
                del self.sessions[sid]
                # deleting a session in which no action ran crashes durable_rules
                if session.opened:
                    self.ruleset.delete_state(sid)
        if session.errors:
            raise EvaluationError(
                f"durable_rules action failed in ruleset {self.name}: {session.errors[0]}"
            )
        return session

    def _assert(self, fact: dict[str, Any], session: _Session, top: bool = False) -> None:
        outcome: list[Any] = []
        try:
            handle = self.ruleset.assert_fact(fact)
        except _durable.MessageNotHandledException:
            if top:
                raise EvaluationError(
                    f"durable_rules did not accept the session opener of {self.name}"
                ) from None
            return  # no pattern accepts this fact: none of its tests can hold, nothing to keep
        except _durable.MessageObservedException:
            raise EvaluationError(
                f"durable_rules saw the same fact twice in {self.name} (a bug): {fact}"
            ) from None
        self.ruleset.do_actions(handle, lambda error, state: outcome.append(error))
        if outcome and outcome[0]:
            raise EvaluationError(f"durable_rules failed in ruleset {self.name}: {outcome[0]}")


def _delete_rulesets(rulesets: list[Any]) -> None:
    import durable_rules_engine  # the C core that durable.engine wraps

    with _LOCK:
        for ruleset in rulesets:
            try:
                durable_rules_engine.delete_ruleset(ruleset._handle)
            except Exception:  # noqa: BLE001 - best effort at interpreter exit
                pass
        rulesets.clear()


# --- the engine -----------------------------------------------------------------------


class DurableEngine(Engine):
    """An ``Engine`` whose chaining runs in durable_rules.

    Which rules fire, in which order, and which ``unless`` clauses hold a fired rule back
    are decided by durable_rules; atomic tests, reasons and the rest of the evaluation are
    the base engine's. Same interface as ``Engine``; ``close()`` frees the rulesets.
    """

    def __init__(self, ruleset: RuleSet, calendar: Calendar = Calendar()) -> None:
        if _durable is None:
            raise UsageError(
                "the durable backend needs the 'durable' extra (pip install "
                "'attendance-rules[durable]'); durable-rules cannot be imported on Python 3.13+: "
                f"{_IMPORT_ERROR}"
            )
        super().__init__(ruleset, calendar)
        prefix = f"ar{next(_SERIAL)}_{id(self):x}"
        self.ruleset_names: tuple[str, ...] = tuple(f"{prefix}_s{s}" for s in range(ruleset.strata))
        names = sorted({f for r in ruleset.rules for f in (*r.derives, *r.reads)})
        self._fact_ids = {name: i for i, name in enumerate(names)}
        self._when_atoms, self._unless_atoms = Atoms(), Atoms()
        self._sids = itertools.count(1)
        self._strata: list[_Stratum] = []
        handles: list[Any] = []
        self._finalizer = weakref.finalize(self, _delete_rulesets, handles)
        for s, name in enumerate(self.ruleset_names):
            rules = [r for r in ruleset.rules if r.stratum == s]
            stratum = _Stratum(name, s, rules, self._fact_ids, self._when_atoms, self._unless_atoms)
            handles.append(stratum.ruleset)
            self._strata.append(stratum)

    def close(self) -> None:
        """Free the durable rulesets now (they are also freed when the engine is collected)."""
        self._finalizer()

    def _fire_all(
        self, ctx: PupilContext, trace: bool = True
    ) -> list[tuple[CompiledRule, runtime.Outcome]]:
        # always traced (the outcome checks durable_rules against the conditions); ``trace`` is for
        # the signature
        if not self._finalizer.alive:
            raise UsageError("this DurableEngine was closed")
        facts: dict[str, bool] = {}
        firings: list[tuple[tuple[int, int, int], CompiledRule]] = []
        held: dict[str, frozenset[int]] = {}
        when_values: dict[int, bool] = {}
        unless_values: dict[int, bool] = {}
        for stratum in self._strata:
            in_force = [self.rule_in_force(r, ctx.as_of) for r in stratum.rules]
            if not any(in_force):
                continue
            for i, rule in enumerate(stratum.rules):
                # as our engine does: every rule in force, in order, all of its condition
                if in_force[i]:
                    for a in stratum.when_atoms[i]:
                        if a not in when_values:
                            when_values[a] = self._atom(rule, self._when_atoms.atoms[a], ctx)
            if any(r.unless for r, live in zip(stratum.rules, in_force) if live):
                # unless clauses of rules that do not fire must leave no trace (measures_used):
                # evaluate them on a scratch context that starts from the measures computed so far
                scratch = ctx.scratch()
                for i, rule in enumerate(stratum.rules):
                    if in_force[i]:
                        for a in stratum.unless_atoms[i]:
                            if a not in unless_values:
                                unless_values[a] = self._unless_atom(
                                    rule, self._unless_atoms.atoms[a], scratch
                                )
            session = stratum.run(
                f"{next(self._sids)}", in_force, when_values, unless_values, facts
            )
            for i, p in session.best.items():
                rule = stratum.rules[i]
                firings.append(((stratum.number, p, i), rule))
                for fact in rule.derives:
                    facts[fact] = True
                if rule.unless:
                    held[rule.id] = frozenset(session.held.get(i, ()))
        ctx._durable_held = held  # type: ignore[attr-defined]  # this pupil's held-back rules, read by _held
        fired: list[tuple[CompiledRule, runtime.Outcome]] = []
        for _, rule in sorted(firings, key=lambda f: f[0]):
            outcome = self.evaluate_condition(rule, rule.condition.node, ctx)
            if outcome.value is not True:
                raise EvaluationError(
                    [
                        Problem(
                            f"backends disagree: durable_rules fired rule {rule.id!r} "
                            f"for pupil {ctx.pupil.id!r}, "
                            "but its condition does not hold on the facts derived before it",
                            rule.rule.when.location,
                        )
                    ]
                )
            fired.append((rule, outcome))
            self._derive(rule, outcome, ctx)
        return fired

    def _atom(self, rule: CompiledRule, atom: Atom, ctx: Any) -> bool:
        """The truth of one atomic test for ``rule`` (errors name the rule, as our engine's do)."""
        where = ctx if atom.assume is None else Assume(ctx, atom.assume)
        return self.evaluate_condition(rule, atom.node, where).value is True

    def _unless_atom(self, rule: CompiledRule, atom: Atom, ctx: PupilContext) -> bool:
        try:
            return self._atom(rule, atom, ctx)
        except EvaluationError:
            # An unless clause is only evaluated for a rule that fired; if this one does, the
            # base engine evaluates the clause again in _held and raises there, as ours does.
            return False

    def _held(
        self, rule: CompiledRule, ctx: PupilContext, out: list, trace: bool = True
    ) -> set[str]:
        decided = getattr(ctx, "_durable_held", {}).get(rule.id, frozenset())
        expected = {a for k in decided for a in rule.unless[k].actions}
        # builds the Suppressions, with the values, on the real context
        held = super()._held(rule, ctx, out)
        if held != expected:
            raise EvaluationError(
                [
                    Problem(
                        f"backends disagree on the unless clauses of rule {rule.id!r} "
                        f"for pupil {ctx.pupil.id!r}: "
                        f"durable_rules holds back {sorted(expected)}, "
                        f"the conditions give {sorted(held)}",
                        rule.rule.when.location,
                    )
                ]
            )
        return held
