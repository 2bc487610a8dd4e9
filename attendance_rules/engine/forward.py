"""Our forward-chaining engine: fire a compiled rule set over one pupil's facts.

Working memory per pupil: measures (computed on demand, once per window), pupil flags,
case events, school settings and derived facts. Rules fire stratum by stratum, in
(priority, declaration) order, each stratum to a fixpoint; each rule fires at most once
per pupil (facts are propositions about that pupil). Every derived fact and every
recommendation keeps its justification. A ``RuleSet`` is immutable and an evaluation
keeps its state in local objects, so one engine may serve many threads.
"""

from __future__ import annotations

import datetime as dt
import functools
import heapq
from typing import Any, Callable, Iterable, Iterator, Sequence

import attrs

from .. import __version__
from ..rules import runtime
from ..registers.calendar import Calendar, academic_year_start, add_weekdays, nth_school_day_after
from ..rules.compiler import CompiledRule, CompiledUnless, RuleSet
from .results import (
    AlreadyDone,
    CitationView,
    DerivedFact,
    Evaluation,
    MeasureView,
    PupilEvaluation,
    Reason,
    Recommendation,
    Suppression,
    ValueView,
)
from ..exceptions import EvaluationError, Problem
from ..registers.history import Event, History, Pupil, School
from ..rules.evaluator import compile_node, evaluate, measure_keys, replay_safe
from ..rules.values import parameter_value
from ..registers.measures import Measure, MeasureFrame, Window
from ..rules.stability import Lookahead, steady_until
from ..policy.model import Action, format_parameter_value
from .whynot import Need, needs

__all__ = ["DayActions", "Engine", "LightRecommendation", "PupilContext", "ReplayMemo", "RuleCheck", "add_school_days",
           "why_not"]

_OPS = {">=": "at least", ">": "more than", "<=": "at most", "<": "less than", "==": "is", "!=": "is not",
        "in": "one of", "is": "is"}


def add_school_days(day: dt.date, n: int) -> dt.date:
    """``day`` plus ``n`` weekdays (future school days are not known; weekdays stand in);
    constant time, and 9999-12-31 rather than an overflow at the end of the calendar."""
    return add_weekdays(day, n)


class PupilContext:
    """What conditions can see of one pupil as of one date (the engine's working memory).

    Measures are read through one ``MeasureFrame`` (window spans found once, values as
    integer pairs for decisions); ``Measure`` objects are built only for explanations and
    for the measures an evaluation reports (``measures_used``: every measure a condition
    that was evaluated reads, in the order first read).
    """

    def __init__(self, ruleset: RuleSet, pupil: Pupil, as_of: dt.date, calendar: Calendar, school: School,
                 parameters: dict[str, Any] | None = None) -> None:
        self.ruleset, self.pupil, self.as_of = ruleset, pupil, as_of
        self.calendar, self.school = calendar, school
        self.facts: dict[str, DerivedFact] = {}
        self.frame = MeasureFrame(pupil, as_of, calendar)
        self._parameters = {} if parameters is None else parameters
        self._events: dict[str, tuple[Event, ...]] | None = None
        self._measures: dict[tuple, Measure] = {}
        self._consulted: dict[tuple, None] = {}
        self.reasons: dict[str, Reason] = {}  # the reason of each rule fired, as built when it fired
        self.log: list | None = None  # (atom, value) read by decisions, kept for replays (evaluator._logged)
        # The lookups conditions make most often, bound straight to the containers (no Python frame).
        # (they shadow the methods of the same names below, which give a context's interface)
        self.fact = self.facts.__contains__  # type: ignore[method-assign,assignment]
        self.flag = pupil.flags.__contains__  # type: ignore[method-assign,assignment]

    def parameter(self, name: str) -> Any:
        """The parameter's value in force on the as-of date, in condition units."""
        try:
            return self._parameters[name]
        except KeyError:
            param = self.ruleset.policy.parameters[name]
            value = self._parameters[name] = parameter_value(param.value_on(self.as_of), param.unit)
            return value

    def _spec(self, key: tuple) -> tuple[str, Window | None, tuple[str, ...]]:
        if key[0] == "named":
            use = self.ruleset.policy.measures[key[1]]
            if use.not_before:  # the cut-off date is a parameter, so it can differ by as-of date
                window = attrs.evolve(use.window or Window("academic_year"), not_before=self.parameter(use.not_before))
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
        if self._events is None:
            by_type: dict[str, list[Event]] = {}
            for event in self.pupil.events:
                if event.date <= self.as_of:
                    by_type.setdefault(event.type, []).append(event)
            self._events = {k: tuple(v) for k, v in by_type.items()}
        return self._events.get(type_, ())

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


def _measure_view(m: Measure) -> MeasureView:
    return MeasureView(m.name, str(m.window or ""), m.as_json(), m.start.isoformat() if m.start and
                       m.start != dt.date.min else "", m.end.isoformat(), m.describe())


def _required(c: runtime.Comparison) -> str:
    return "" if c.op == "is" else f"{_OPS.get(c.op, c.op)} {c.right_text}".strip()


def _values(outcome: runtime.Outcome) -> tuple[ValueView, ...]:
    return tuple(ValueView(c.text, c.left_text, _required(c), c.holds) for c in outcome.comparisons)


def _sentence(outcome: runtime.Outcome, holds: bool = True) -> str:
    """The tests that decided the outcome, with actual and required values, in one sentence."""
    parts = [c.left_text + (f", required {_required(c)}" if c.op != "is" else "")
             for c in outcome.comparisons if c.holds == holds]
    parts += list(outcome.undefined)
    return "; ".join(parts) if parts else "condition holds"


@attrs.frozen
class LightRecommendation:
    """A recommendation without reasons: the rules giving it, its due date, window and parameters."""

    action: str
    rules: tuple[str, ...]
    due: dt.date | None
    window: tuple[dt.date, dt.date] | None
    parameters: tuple[tuple[str, str], ...]


@attrs.frozen
class DayActions:
    """What ``Engine.actions_on`` decides for one pupil on one day."""

    as_of: dt.date
    recommended: dict[str, LightRecommendation]
    held_back: dict[str, tuple[str, str]]  # action -> (rule, reason), of the holding rule first by id
    done: dict[str, Event]  # action -> the event that records it done


class ReplayMemo:
    """One pupil's replay state: the last day decided, with the rules and parameters then in
    force (``epoch``), every atom its decisions read with the value read, the firings (rule,
    actions held, suppressions), and the last later day on which they are sure to stand.

    The decisions are a function of the atom values, the facts they derive and values that
    do not change within a replay (flags, school settings, literals), so while every atom
    reads the same the firings are the same (``stability.Lookahead`` finds how long).
    """

    def __init__(self) -> None:
        self.epoch: tuple | None = None
        self.log: list | None = None
        self.firings: list = []
        self.until = dt.date.min  # the last day on which the kept firings are sure to stand
        self.actions: tuple | None = None  # (recommended rules, held back, done) of the firings
        # atom -> the last day its truth is sure to stay as it was when looked at; an atom's
        # truth over the coming days depends on the pupil, not on the firings, so this outlives them
        self.bounds: dict[Any, dt.date] = {}

    def stands(self, day: "_Day", as_of: dt.date) -> bool:
        """Whether the kept firings are sure to stand on ``as_of`` without reading anything."""
        return self.log is not None and day.epoch is self.epoch and as_of <= self.until

    def still_holds(self, day: "_Day", ctx: PupilContext, context: Callable[[dt.date], Any]) -> bool:
        """Whether ``ctx``'s day fires exactly as the day kept: the atoms not sure to read the
        same any more are read again."""
        if self.log is None or day.epoch is not self.epoch:
            return False
        as_of, bounds = ctx.as_of, self.bounds
        if not all(bounds.get(atom, dt.date.min) >= as_of or atom(ctx, None) == value for atom, value in self.log):
            return False
        self._look_ahead(ctx, context)
        return True

    def keep(self, day: "_Day", ctx: PupilContext, firings: list, context: Callable[[dt.date], Any]) -> None:
        """Remember a day just decided (``ctx.log`` None: it cannot be reused)."""
        if day.epoch is not self.epoch:  # other parameter values: what was looked ahead no longer holds
            self.bounds = {}
        self.epoch, self.log, self.firings, self.actions = day.epoch, ctx.log, firings, None
        self.until = dt.date.min
        if ctx.log is not None:
            log, ctx.log = ctx.log, None  # looking ahead must not add to the log
            self._look_ahead(ctx, context)
            ctx.log = log

    def _look_ahead(self, ctx: PupilContext, context: Callable[[dt.date], Any]) -> None:
        """Bound the atoms whose bounds ran out, and the kept firings by the nearest bound."""
        as_of, bounds, ahead = ctx.as_of, self.bounds, None
        until = steady_until(ctx)  # done actions and held-back ones stand no longer than the events do
        for atom, _ in self.log:  # type: ignore[union-attr]  # called only when the context keeps a log
            bound = bounds.get(atom, dt.date.min)
            if bound < as_of:
                ahead = ahead or Lookahead(ctx, context)
                bound = bounds[atom] = ahead.bound(atom)
            until = min(until, bound)
        self.until = until


@attrs.frozen
class _Plan:
    """A rule's compiled conditions and the measures each reads."""

    decide: Callable[[Any, Any], object]
    keys: tuple[tuple, ...]
    unless: tuple[tuple[CompiledUnless, Callable[[Any, Any], object], tuple[tuple, ...]], ...]
    replay_safe: bool  # every value it reads, facts and constants aside, is a logged atom

    @classmethod
    def of(cls, rule: CompiledRule) -> "_Plan":
        """Compile ``rule``'s conditions (once per engine)."""
        node = rule.condition.node
        nodes = [node] + [u.condition.node for u in rule.unless]
        return cls(compile_node(node), measure_keys(node),
                   tuple((u, compile_node(u.condition.node), measure_keys(u.condition.node)) for u in rule.unless),
                   all(replay_safe(n) for n in nodes))


class _Layer:
    """One stratum of the rules in force: (rule, compiled decision) in firing order, and for
    each fact the positions of the rules that read it."""

    def __init__(self, rules: list[CompiledRule], plans: dict[str, _Plan]) -> None:
        self.rules = [(r, plans[r.id].decide) for r in rules]
        readers: dict[str, list[int]] = {}
        for i, rule in enumerate(rules):
            for fact in rule.reads:
                readers.setdefault(fact, []).append(i)
        self.readers = {fact: tuple(at) for fact, at in readers.items()}


class _Day:
    """What depends only on the as-of date: rules in force by stratum, parameter values.

    Every rule in force is evaluated at least once, in order, so ``keys`` (the measures
    they read, in order) are the measures any evaluation on this day consults before
    ``unless`` clauses.
    """

    def __init__(self, strata: list[list[CompiledRule]], plans: dict[str, _Plan], parameters: dict[str, Any],
                 actions: tuple[str, ...]) -> None:
        self.strata = [_Layer(layer, plans) for layer in strata]
        self.parameters = parameters
        # what a replay must see unchanged to reuse a day's firings: the rules, actions and parameter values in force
        self.epoch = (tuple(r.id for layer in strata for r in layer), tuple(parameters.values()), actions)
        self.replay_safe = all(plans[r.id].replay_safe for layer in strata for r in layer)
        self.keys = dict.fromkeys(k for layer in strata for r in layer for k in plans[r.id].keys)
        self.parameter_texts: dict[str, str] = {}  # parameters as recommendations show them


class Engine:
    """Evaluates pupils against a compiled rule set."""

    _DAYS_KEPT = 1024  # as-of dates whose rules in force and parameters are kept

    def __init__(self, ruleset: RuleSet, calendar: Calendar = Calendar()) -> None:
        self.ruleset = ruleset
        self.calendar = calendar
        self.titles = {k: s.title for k, s in ruleset.policy.sources.items()}
        self.plans = {rule.id: _Plan.of(rule) for rule in ruleset.rules}
        self._days: dict[dt.date, _Day] = {}
        self._epochs: dict[tuple, tuple] = {}
        self._cites: dict[int, tuple[Any, CitationView]] = {}

    def _in_force(self, rule: CompiledRule, day: dt.date) -> bool:
        return rule.rule.in_force(day) and self.ruleset.policy.policy_in_force(rule.rule.policy, day)

    def _day(self, as_of: dt.date) -> _Day:
        day = self._days.get(as_of)
        if day is None:
            if len(self._days) >= self._DAYS_KEPT:
                self._days.clear()
            live = [r for r in self.ruleset.rules if self._in_force(r, as_of)]
            strata = [[r for r in live if r.stratum == s] for s in sorted({r.stratum for r in live})]
            params = {name: parameter_value(p.value_on(as_of), p.unit)
                      for name, p in sorted(self.ruleset.policy.parameters.items())}
            actions = tuple(a for a, action in self.ruleset.policy.actions.items() if _action_in_force(action, as_of))
            day = self._days[as_of] = _Day(strata, self.plans, params, actions)
            day.epoch = self._epochs.setdefault(day.epoch, day.epoch)  # one object per epoch: compared by identity
        return day

    def context(self, pupil: Pupil, as_of: dt.date, school: School = School()) -> PupilContext:
        """A fresh working memory for ``pupil`` as of ``as_of``."""
        day = self._day(as_of)
        ctx = PupilContext(self.ruleset, pupil, as_of, self.calendar, school, day.parameters)
        ctx.consult(day.keys)
        return ctx

    def _cite(self, cite) -> CitationView:
        hit = self._cites.get(id(cite))
        if hit is None or hit[0] is not cite:
            hit = self._cites[id(cite)] = (cite, CitationView.of(cite, self.titles))
        return hit[1]

    def _chain(self, rule: CompiledRule, ctx: PupilContext) -> tuple[str, ...]:
        """Rules whose derived facts this rule used, earliest first (transitively)."""
        out: list[str] = []
        for fact in sorted(rule.reads - rule.reads_negated):
            derived = ctx.facts.get(fact)
            if derived is not None:
                for name in derived.reason.chain + (derived.rule,):
                    if name not in out:
                        out.append(name)
        return tuple(out)

    def _fire_all(self, ctx: PupilContext, trace: bool = True) -> list[tuple[CompiledRule, runtime.Outcome]]:
        """The rules that fire, in order, each with its traced outcome (None when ``trace`` is False)."""
        fired: list[tuple[CompiledRule, runtime.Outcome]] = []
        for layer in self._day(ctx.as_of).strata:
            self._fire_stratum(layer, ctx, fired, trace)
        return fired

    def _fire_stratum(self, layer: "_Layer", ctx: PupilContext, fired: list[tuple[CompiledRule, runtime.Outcome]],
                      trace: bool = True) -> None:
        """Fire one stratum to a fixpoint, in (priority, declaration) order, each rule at most once.

        A first pass evaluates every rule in order. Facts only ever become true, so a rule
        that did not hold can only change its mind when a fact it reads is derived after it
        was evaluated: such a rule is evaluated again later in the same pass when it comes
        after the rule that derived the fact, else in the next pass. Untraced (``trace``
        False, for replays that need only which rules fired), facts carry no reason.
        """
        rules, readers = layer.rules, layer.readers
        done, dirty = [False] * len(rules), [False] * len(rules)
        later: list[int] = []
        for i in range(len(rules)):  # the first pass: every rule, in order
            new = self._try(rules[i], ctx, fired, trace)
            if new is not None:
                done[i] = True
                self._mark({j for f in new for j in readers.get(f, ())}, i, done, dirty, None, later)
        while later:  # later passes: rules that read a fact derived after they were evaluated
            queue, later = later, []
            heapq.heapify(queue)
            while queue:
                i = heapq.heappop(queue)
                dirty[i] = False
                new = self._try(rules[i], ctx, fired, trace)
                if new is not None:
                    done[i] = True
                    self._mark({j for f in new for j in readers.get(f, ())}, i, done, dirty, queue, later)

    def _try(self, entry: tuple, ctx: PupilContext, fired: list, trace: bool) -> list[str] | None:
        """Decide one rule; when it holds, fire it and return the facts it newly derived."""
        rule, decide = entry
        if self._decide(rule, decide, ctx) is not True:
            return None
        new = [f for f in rule.derives if f not in ctx.facts]
        self._fired(rule, ctx, fired, trace)
        return new

    @staticmethod
    def _mark(readers: Iterable[int], i: int, done: list[bool], dirty: list[bool], queue: list[int] | None,
              later: list[int]) -> None:
        """Rules reading facts rule ``i`` just derived: again in this pass if after it, else in the next.
        In the first pass (``queue`` None) a rule after ``i`` is still to be evaluated anyway."""
        for j in readers:
            if done[j] or dirty[j] or (queue is None and j > i):
                continue
            dirty[j] = True
            if j > i:
                heapq.heappush(queue, j)  # type: ignore[arg-type]  # a queue: j > i was skipped without one
            else:
                later.append(j)

    def _fired(self, rule: CompiledRule, ctx: PupilContext, fired: list, trace: bool) -> None:
        """Record a firing: its facts, and (traced) its explanation by the same closures."""
        if not trace:
            fired.append((rule, None))
            # untraced, a fact has no explanation (None), and only its presence is read
            ctx.facts.update(dict.fromkeys(f for f in rule.derives if f not in ctx.facts))  # type: ignore[arg-type]
            return
        outcome = self._evaluate(rule, rule.condition.node, ctx)
        if outcome.value is not True:  # cannot happen: one evaluator; say so loudly if it does
            raise EvaluationError([Problem(f"rule {rule.id!r} was decided true but explained false for "
                                           f"pupil {ctx.pupil.id!r}", rule.rule.when.location)])
        fired.append((rule, outcome))
        self._derive(rule, outcome, ctx)

    def _decide(self, rule: CompiledRule, decide: Callable[[Any, Any], object], ctx: PupilContext) -> object:
        try:
            return decide(ctx, None)
        except (ArithmeticError, KeyError, TypeError, ValueError) as error:  # a bug or bad data: say where
            raise self._failure(rule, ctx, error) from error

    def _failure(self, rule: CompiledRule, ctx: Any, error: Exception) -> EvaluationError:
        return EvaluationError([Problem(f"rule {rule.id!r} failed for pupil {ctx.pupil.id!r}: {error}",
                                        rule.rule.when.location)])

    def _evaluate(self, rule: CompiledRule, node: Any, ctx: runtime.Context,
                  trace: bool = True) -> runtime.Outcome:
        try:
            return evaluate(node, ctx, trace)
        except (ArithmeticError, KeyError, TypeError, ValueError) as error:  # a bug or bad data: say where
            raise self._failure(rule, ctx, error) from error

    def _derive(self, rule: CompiledRule, outcome: runtime.Outcome, ctx: PupilContext) -> bool:
        new = False
        reason = ctx.reasons[rule.id] = self._reason(rule, outcome, ctx)
        for fact in rule.derives:
            if fact not in ctx.facts:
                ctx.facts[fact] = DerivedFact(fact, rule.id, reason)
                new = True
        return new

    def _reason(self, rule: CompiledRule, outcome: runtime.Outcome, ctx: PupilContext) -> Reason:
        return Reason(rule.id, rule.rule.title, _sentence(outcome), self._cite(rule.rule.cite),
                      self._chain(rule, ctx), _values(outcome))

    def evaluate_pupil(self, pupil: Pupil, as_of: dt.date, school: School = School()) -> PupilEvaluation:
        """Fire the rules for one pupil as of a date."""
        return self.evaluate_context(self.context(pupil, as_of, school))

    def evaluate_context(self, ctx: PupilContext) -> PupilEvaluation:
        """Fire the rules over a working memory (from ``context``) and report the result."""
        decision = self.decide(ctx)
        return PupilEvaluation(ctx.pupil.id, ctx.as_of, ctx.measures_used(), *decision)

    def decide(self, ctx: PupilContext) -> tuple[tuple, tuple, tuple, tuple, tuple]:
        """The rule work for one pupil: facts, recommendations, suppressions, actions already
        done and rules fired, each with its reasons (``PupilEvaluation``'s fields after ``measures``)."""
        pupil, as_of = ctx.pupil, ctx.as_of
        fired = self._fire_all(ctx)
        recs: dict[str, list[tuple[CompiledRule, Reason]]] = {}
        suppressed: list[Suppression] = []
        done: dict[str, AlreadyDone] = {}
        for rule, outcome in fired:
            reason = ctx.reasons[rule.id]  # built once, when the rule fired
            held = self._held(rule, ctx, suppressed) if rule.unless else set()
            for action_id, action, event in self._outcomes(rule, held, pupil, as_of):
                if event is not None:
                    done.setdefault(action_id, AlreadyDone(action_id, action.title, rule.id, event.type, event.date))
                else:
                    recs.setdefault(action_id, []).append((rule, reason))
        return (tuple(ctx.facts[k] for k in sorted(ctx.facts)),
                tuple(sorted((self._recommendation(a, rs, pupil, as_of) for a, rs in recs.items()),
                             key=lambda r: (-r.priority, r.action))),
                tuple(sorted(suppressed, key=lambda s: (s.action, s.rule))),
                tuple(done[k] for k in sorted(done)), tuple(r.id for r, _ in fired))

    def _outcomes(self, rule: CompiledRule, held: set[str], pupil: Pupil,
                  as_of: dt.date) -> Iterator[tuple[str, Action, Event | None]]:
        """Each action a fired rule recommends that is in force and not held back, with the
        event that records it done already (None when it is still to do)."""
        for action_id in rule.rule.recommend:
            action = self.ruleset.policy.actions[action_id]
            if action_id not in held and _action_in_force(action, as_of):
                yield action_id, action, self._done_event(action, pupil, as_of)

    def _held(self, rule: CompiledRule, ctx: PupilContext, out: list, trace: bool = True) -> set[str]:
        """Actions of a fired rule held back by its ``unless`` clauses; each goes to ``out`` as a
        ``Suppression`` (untraced: as ``(action, rule, reason)``)."""
        held: set[str] = set()
        for clause, decide, keys in self.plans[rule.id].unless:
            ctx.consult(keys)
            if self._decide(rule, decide, ctx) is not True:
                continue
            outcome = self._evaluate(rule, clause.condition.node, ctx) if trace else None
            for action_id in clause.actions:
                if action_id in held:
                    continue
                held.add(action_id)
                if not trace:
                    out.append((action_id, rule.id, clause.clause.reason))
                    continue
                title = self.ruleset.policy.actions[action_id].title
                out.append(Suppression(action_id, title, rule.id, clause.clause.reason, clause.condition.text,
                                       self._cite(clause.clause.cite or rule.rule.cite),
                                       _values(outcome)))  # type: ignore[arg-type]  # traced: an outcome
        return held

    def actions_on(self, pupil: Pupil, as_of: dt.date, school: School = School(),
                   memo: ReplayMemo | None = None) -> "DayActions":
        """Which actions the rules recommend, hold back or find done, without reasons: the
        same decisions as ``evaluate_pupil``, for replays that evaluate every day.

        With a ``memo`` (one per pupil, its school days in order) the rules fire again only
        when the rules or parameters in force, or a value the last decided day's decisions
        read, have changed; the memo looks ahead to the last day on which that is sure, and
        until then only due dates are worked out again.
        """
        day = self._day(as_of)
        if memo is not None and memo.stands(day, as_of) and memo.actions is not None:
            return self._due_again(pupil, as_of, memo.actions)
        ctx = self.context(pupil, as_of, school)
        later = functools.partial(self.context, pupil, school=school)
        if memo is None or not memo.still_holds(day, ctx, later):
            ctx.log = [] if memo is not None and day.replay_safe else None
            firings = []
            for rule, _ in self._fire_all(ctx, trace=False):
                suppressed: list[tuple[str, str, str]] = []
                held = self._held(rule, ctx, suppressed, trace=False) if rule.unless else set()
                firings.append((rule, held, suppressed))
            if memo is None:
                return self._due_again(pupil, as_of, self._day_actions(pupil, as_of, firings))
            memo.keep(day, ctx, firings, later)
        memo.actions = self._day_actions(pupil, as_of, memo.firings)
        return self._due_again(pupil, as_of, memo.actions)

    def _day_actions(self, pupil: Pupil, as_of: dt.date, firings: list) -> tuple:
        """The rules giving each action, the actions held back and those already done: the same
        while the firings, the events and the year and term stay as they are."""
        recs: dict[str, list[str]] = {}
        held_back: dict[str, list[tuple[str, str]]] = {}
        done: dict[str, Event] = {}
        for rule, held, suppressed in firings:
            for action_id, rule_id, reason in suppressed:
                held_back.setdefault(action_id, []).append((rule_id, reason))
            for action_id, _, event in self._outcomes(rule, held, pupil, as_of):
                if event is not None:
                    done.setdefault(action_id, event)
                else:
                    recs.setdefault(action_id, []).append(rule.id)
        return recs, {a: min(by) for a, by in held_back.items()}, done

    def _due_again(self, pupil: Pupil, as_of: dt.date, actions: tuple) -> "DayActions":
        recs, held_back, done = actions
        return DayActions(as_of, {a: self._light(a, rules, pupil, as_of) for a, rules in recs.items()},
                          held_back, done)

    def _light(self, action_id: str, rules: list[str], pupil: Pupil, as_of: dt.date) -> LightRecommendation:
        """An action's due date, review window and parameters as of a date, with the rules giving it."""
        action = self.ruleset.policy.actions[action_id]
        due, window = self._due(action, pupil, as_of)
        params = tuple((name, self._parameter_text(name, as_of)) for name in action.parameters)
        return LightRecommendation(action_id, tuple(rules), due, window, params)

    def _done_event(self, action: Action, pupil: Pupil, as_of: dt.date) -> Event | None:
        completion = action.completion
        if completion is None or action.repeat == "every_time":
            return None
        since = {"once": dt.date.min, "once_per_academic_year": academic_year_start(as_of),
                 "once_per_term": self.calendar.term_start(as_of, pupil.register.days)}[action.repeat]
        for event in reversed(pupil.events_of(completion.event, until=as_of)):
            if event.date < since:
                break
            if completion.matches(event, action.id):
                return event
        return None

    def _recommendation(self, action_id: str, reasons: list[tuple[CompiledRule, Reason]], pupil: Pupil,
                        as_of: dt.date) -> Recommendation:
        action = self.ruleset.policy.actions[action_id]
        light = self._light(action_id, [], pupil, as_of)
        priority = max(rule.rule.priority for rule, _ in reasons)
        done_by = action.completion
        recorded = None if done_by is None else (done_by.event, tuple(sorted(done_by.wanted(action_id).items())))
        return Recommendation(action_id, action.title, action.kind, action.responsible, priority,
                              tuple(r for _, r in reasons), self._cite(action.cite), light.due, light.window,
                              light.parameters, recorded)

    def _due(self, action: Action, pupil: Pupil, as_of: dt.date) -> tuple[dt.date | None, tuple | None]:
        """An action's due date and review window (from the event it follows), as of a date."""
        due, window = None, None
        if action.due and action.due.within_school_days is not None:
            due = add_school_days(as_of, action.due.within_school_days)
        elif action.due and action.due.after:
            events = pupil.events_of(action.due.after, until=as_of)
            if events:
                start, days = events[-1].date, pupil.register.days
                window = (_after(start, action.due.from_days, action.due.school_days, days, as_of),
                          _after(start, action.due.to_days, action.due.school_days, days, as_of))
                due = window[1]
        return due, window

    def _parameter_text(self, name: str, as_of: dt.date) -> str:
        texts = self._day(as_of).parameter_texts
        text = texts.get(name)
        if text is None:
            param = self.ruleset.policy.parameters[name]
            value = param.value_on(as_of)
            text = texts[name] = "not in force" if value is None else format_parameter_value(value, param.unit)
        return text

    def recommendations(self, pupil: Pupil, as_of: dt.date, school: School = School()) -> tuple[Recommendation, ...]:
        """The recommendations of ``evaluate_pupil``, with their reasons, without the measures report."""
        return self.decide(self.context(pupil, as_of, school))[1]

    def evaluate(self, history: History | Iterable[Pupil], as_of: dt.date,
                 pupil_ids: Sequence[str] | None = None) -> Evaluation:
        """Evaluate every pupil (or the ones named) of a history as of a date."""
        school = history.school if isinstance(history, History) else School()
        pupils = select_pupils(history, pupil_ids)
        return Evaluation(as_of, policy_provenance(self.ruleset), history_provenance(history), __version__,
                          tuple(self.evaluate_pupil(p, as_of, school) for p in pupils))


def select_pupils(history: History | Iterable[Pupil], pupil_ids: Sequence[str] | None) -> list[Pupil]:
    """The pupils of ``history`` (in its order), or those named; KeyError names a missing one."""
    pupils = list(history)
    if pupil_ids:
        wanted = set(pupil_ids)
        pupils = [p for p in pupils if p.id in wanted]
        missing = wanted - {p.id for p in pupils}
        if missing:
            raise KeyError(f"no pupil {sorted(missing)[0]!r} in the history")
    return pupils


def policy_provenance(ruleset: RuleSet) -> dict[str, Any]:
    """The policy as outputs record it: id, version, digest over the chain, and each file
    of the chain with its ``path`` (``resources.display_path``: relative to the working
    directory when inside it), so a reader sees which copy of a policy was used."""
    from ..policy.resources import display_path

    policy = ruleset.policy
    return {"id": policy.id, "version": policy.version, "digest": policy.digest,
            "files": [{"id": p.id, "file": _display_path(p.file), "path": display_path(p.file), "digest": p.digest}
                      for p in policy.chain]}


def history_provenance(history: History | Iterable[Pupil]) -> dict[str, Any]:
    """The history as outputs record it: the digest of its content (``canonical.history_digest``:
    the same register as JSON or CSV, the same digest) and its file names."""
    from ..registers.canonical import history_digest

    if not isinstance(history, History):
        return {"digest": "", "files": []}
    return {"digest": history_digest(history), "files": [_display_path(s) for s in history.sources]}


def _after(day: dt.date, days: int, school_days: bool, register_days: Sequence[int], as_of: dt.date) -> dt.date:
    """``days`` calendar days after ``day``, or that many of the pupil's school days (weekdays after ``as_of``)."""
    if not school_days:
        return day + dt.timedelta(days=days)
    return nth_school_day_after(day, days, register_days, as_of)


def _action_in_force(action: Action, day: dt.date) -> bool:
    return (action.effective_from is None or action.effective_from <= day) and (
        action.effective_to is None or day <= action.effective_to)


def _display_path(path: str) -> str:
    """File name only: the same files give the same bytes wherever they are checked out."""
    from pathlib import Path

    return Path(path).name


@attrs.frozen
class RuleCheck:
    """Why one rule did or did not recommend an action for a pupil on a date."""

    rule: str
    title: str
    status: str  # "not in force", "not met", "held back", "already done", "recommended"
    unmet: tuple[ValueView, ...]
    undefined: tuple[str, ...]
    note: str
    source: CitationView
    needs: Need | None = None  # not met: every way to meet it (``unmet`` is the closest one)


def why_not(engine: Engine, pupil: Pupil, as_of: dt.date, action: str, school: School = School()) -> tuple[RuleCheck, ...]:
    """For each rule that can recommend ``action``: whether it did, and what is missing."""
    if action not in engine.ruleset.policy.actions:
        raise KeyError(f"no action {action!r} in policy {engine.ruleset.policy.id!r}")
    evaluation = engine.evaluate_pupil(pupil, as_of, school)
    ctx = PupilContext(engine.ruleset, pupil, as_of, engine.calendar, school)
    for fact in evaluation.facts:
        ctx.facts[fact.name] = fact
    return tuple(_check_rule(engine, rule, ctx, evaluation, action) for rule in engine.ruleset.recommenders(action))


def _check_rule(engine: Engine, rule: CompiledRule, ctx: PupilContext, evaluation: PupilEvaluation,
                action: str) -> RuleCheck:
    cite = engine._cite(rule.rule.cite)
    if not engine._in_force(rule, ctx.as_of):
        span = f"{rule.rule.effective_from or 'the start'} to {rule.rule.effective_to or 'open'}"
        return RuleCheck(rule.id, rule.rule.title, "not in force", (), (), f"in force {span}", cite)
    outcome = engine._evaluate(rule, rule.condition.node, ctx)
    if outcome.value is not True:
        need = _needs(engine, rule, ctx)
        tests = need.minimal() if need is not None else ()
        undefined = tuple(dict.fromkeys(u for t in tests for u in t.undefined))
        return RuleCheck(rule.id, rule.rule.title, "not met", tuple(t.view() for t in tests), undefined, "", cite,
                         need)
    held = [s for s in evaluation.suppressed if s.rule == rule.id and s.action == action]
    if held:
        return RuleCheck(rule.id, rule.rule.title, "held back", (), (), held[0].reason, cite)
    done = [d for d in evaluation.done if d.action == action]
    if done:
        return RuleCheck(rule.id, rule.rule.title, "already done", (), (),
                         f"{done[0].event} on {done[0].date.isoformat()}", cite)
    return RuleCheck(rule.id, rule.rule.title, "recommended", (), (), "", cite)


def _needs(engine: Engine, rule: CompiledRule, ctx: PupilContext) -> Need | None:
    """What the rule's condition needs (``whynot.needs``), failures located at the rule."""
    try:
        return needs(rule.condition.node, ctx)
    except (ArithmeticError, KeyError, TypeError, ValueError) as error:  # a bug or bad data: say where
        raise engine._failure(rule, ctx, error) from error
