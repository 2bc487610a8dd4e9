"""Our forward-chaining engine: fire a compiled rule set over one pupil's facts.

Working memory per pupil (``context.PupilContext``): measures (computed on demand, once
per window), pupil flags, case events, school settings and derived facts. Rules fire
stratum by stratum, in (priority, declaration) order, each stratum to a fixpoint; each
rule fires at most once per pupil (facts are propositions about that pupil). Every
derived fact and every recommendation keeps its justification. A ``RuleSet`` is immutable
and an evaluation keeps its state in local objects, so one engine may serve many threads.
What is kept across evaluations (compiled plans, the rules in force per date, a replay's
memo) is in ``days.py``.
"""

from __future__ import annotations

import datetime as dt
import functools
import heapq
from typing import Any, Callable, Iterable, Iterator, Sequence

from ..exceptions import EvaluationError, Problem
from ..policy.model import Action
from ..policy.values import format_parameter_value
from ..registers.calendar import (
    Calendar,
    academic_year_start,
    add_weekdays,
    nth_school_day_after,
)
from ..registers.history import Event, History, Pupil, School
from ..rules import evaluator, runtime, values
from ..rules.compiler import CompiledRule, RuleSet
from .context import PupilContext, outcome_sentence, outcome_values
from .days import (
    DayActions,
    DayPlan,
    LightRecommendation,
    ReplayMemo,
    RulePlan,
    Stratum,
)
from .provenance import Provenance, select_pupils
from .results import (
    AlreadyDone,
    CitationView,
    DerivedFact,
    Evaluation,
    PupilEvaluation,
    Reason,
    Recommendation,
    Suppression,
)

__all__ = ["RULE_FAILURES", "Engine", "add_school_days"]

# What a rule's condition may raise on bad data or a bug: caught and reported at the rule
# (file and line of its condition) rather than as a bare traceback.
RULE_FAILURES = (ArithmeticError, KeyError, TypeError, ValueError)


def add_school_days(day: dt.date, n: int) -> dt.date:
    """``day`` plus ``n`` weekdays (future school days are not known; weekdays stand in);
    constant time, and 9999-12-31 rather than an overflow at the end of the calendar."""
    return add_weekdays(day, n)


class Engine:
    """Evaluates pupils against a compiled rule set."""

    _DAYS_KEPT = 1024  # as-of dates whose rules in force and parameters are kept

    def __init__(self, ruleset: RuleSet, calendar: Calendar = Calendar()) -> None:
        self.ruleset = ruleset
        self.calendar = calendar
        self.titles = {k: s.title for k, s in ruleset.policy.sources.items()}
        self.plans = {rule.id: RulePlan.of(rule) for rule in ruleset.rules}
        self._days: dict[dt.date, DayPlan] = {}
        self._epochs: dict[tuple, tuple] = {}
        self._cites: dict[int, tuple[Any, CitationView]] = {}

    def rule_in_force(self, rule: CompiledRule, day: dt.date) -> bool:
        """Whether ``rule`` and the policy file it comes from are both in force on ``day``."""
        return rule.rule.in_force(day) and self.ruleset.policy.policy_in_force(
            rule.rule.policy, day
        )

    def _day(self, as_of: dt.date) -> DayPlan:
        day = self._days.get(as_of)
        if day is None:
            # 1024 dates hold years of school days, so a replay of a whole cohort stays inside the
            # bound; past it, clearing costs one recomputation per date and needs no LRU.
            if len(self._days) >= self._DAYS_KEPT:
                self._days.clear()
            live = [r for r in self.ruleset.rules if self.rule_in_force(r, as_of)]
            strata = [
                [r for r in live if r.stratum == s] for s in sorted({r.stratum for r in live})
            ]
            params = {
                name: values.parameter_value(p.value_on(as_of), p.unit)
                for name, p in sorted(self.ruleset.policy.parameters.items())
            }
            actions = tuple(
                a
                for a, action in self.ruleset.policy.actions.items()
                if _action_in_force(action, as_of)
            )
            day = self._days[as_of] = DayPlan(strata, self.plans, params, actions)
            day.epoch = self._epochs.setdefault(
                day.epoch, day.epoch
            )  # one object per epoch: compared by identity
        return day

    def context(self, pupil: Pupil, as_of: dt.date, school: School = School()) -> PupilContext:
        """A fresh working memory for ``pupil`` as of ``as_of``."""
        day = self._day(as_of)
        ctx = PupilContext(self.ruleset, pupil, as_of, self.calendar, school, day.parameters)
        ctx.consult(day.keys)
        return ctx

    def citation(self, cite) -> CitationView:
        """A policy citation as outputs show it (with its document's title), built once per
        citation."""
        # Keyed by id(): hashing a frozen Citation hashes six strings on every firing, and each
        # citation is one object of the policy; keeping the object guards against a reused id.
        hit = self._cites.get(id(cite))
        if hit is None or hit[0] is not cite:
            hit = self._cites[id(cite)] = (cite, CitationView.of(cite, self.titles))
        return hit[1]

    def _chain(self, rule: CompiledRule, ctx: PupilContext) -> tuple[str, ...]:
        """Rules whose derived facts this rule used, earliest first (transitively)."""
        out: list[str] = []
        # A fact read only under `not` or in an `unless` did not help the rule fire, so its deriver
        # is no part of this reason's chain.
        for fact in sorted(rule.reads - rule.reads_negated):
            derived = ctx.facts.get(fact)
            if derived is not None:
                for name in derived.reason.chain + (derived.rule,):
                    if name not in out:
                        out.append(name)
        return tuple(out)

    def _fire_all(
        self, ctx: PupilContext, trace: bool = True
    ) -> list[tuple[CompiledRule, runtime.Outcome]]:
        """The rules that fire, in order, each with its traced outcome (None when ``trace`` is
        False)."""
        fired: list[tuple[CompiledRule, runtime.Outcome]] = []
        for layer in self._day(ctx.as_of).strata:
            self._fire_stratum(layer, ctx, fired, trace)
        return fired

    def _fire_stratum(
        self,
        layer: Stratum,
        ctx: PupilContext,
        fired: list[tuple[CompiledRule, runtime.Outcome]],
        trace: bool = True,
    ) -> None:
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
                self._mark(
                    {j for f in new for j in readers.get(f, ())}, i, done, dirty, None, later
                )
        while later:  # later passes: rules that read a fact derived after they were evaluated
            queue, later = later, []
            # A heap keeps each later pass in firing order (by position) while rules woken during
            # the pass join it, so a priority still decides which of two rules fires first.
            heapq.heapify(queue)
            while queue:
                i = heapq.heappop(queue)
                dirty[i] = False
                new = self._try(rules[i], ctx, fired, trace)
                if new is not None:
                    done[i] = True
                    self._mark(
                        {j for f in new for j in readers.get(f, ())}, i, done, dirty, queue, later
                    )

    def _try(self, entry: tuple, ctx: PupilContext, fired: list, trace: bool) -> list[str] | None:
        """Decide one rule; when it holds, fire it and return the facts it newly derived."""
        rule, decide = entry
        if self._decide(rule, decide, ctx) is not True:
            return None
        # Worked out before `_fired` adds the facts: only facts that are new wake their readers, and
        # two rules deriving the same fact must not wake them twice.
        new = [f for f in rule.derives if f not in ctx.facts]
        self._fired(rule, ctx, fired, trace)
        return new

    @staticmethod
    def _mark(
        readers: Iterable[int],
        i: int,
        done: list[bool],
        dirty: list[bool],
        queue: list[int] | None,
        later: list[int],
    ) -> None:
        """Rules reading facts rule ``i`` just derived: again in this pass if after it, else in
        the next. In the first pass (``queue`` None) a rule after ``i`` is still to be evaluated
        anyway."""
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
        outcome = self.evaluate_condition(rule, rule.condition.node, ctx)
        if outcome.value is not True:  # cannot happen: one evaluator; say so loudly if it does
            raise EvaluationError(
                [
                    Problem(
                        f"rule {rule.id!r} was decided true but explained false for "
                        f"pupil {ctx.pupil.id!r}",
                        rule.rule.when.location,
                    )
                ]
            )
        fired.append((rule, outcome))
        self._derive(rule, outcome, ctx)

    def _decide(
        self, rule: CompiledRule, decide: Callable[[Any, Any], object], ctx: PupilContext
    ) -> object:
        try:
            return decide(ctx, None)
        except RULE_FAILURES as error:  # a bug or bad data: say where
            raise self.rule_failure(rule, ctx, error) from error

    def rule_failure(self, rule: CompiledRule, ctx: Any, error: Exception) -> EvaluationError:
        """The error to raise when evaluating ``rule`` for ``ctx``'s pupil failed: located at the
        rule."""
        return EvaluationError(
            [
                Problem(
                    f"rule {rule.id!r} failed for pupil {ctx.pupil.id!r}: {error}",
                    rule.rule.when.location,
                )
            ]
        )

    def evaluate_condition(
        self, rule: CompiledRule, node: Any, ctx: runtime.Context, trace: bool = True
    ) -> runtime.Outcome:
        """``evaluator.evaluate`` of one of ``rule``'s conditions, failures located at the rule."""
        try:
            return evaluator.evaluate(node, ctx, trace)
        except RULE_FAILURES as error:  # a bug or bad data: say where
            raise self.rule_failure(rule, ctx, error) from error

    def _derive(self, rule: CompiledRule, outcome: runtime.Outcome, ctx: PupilContext) -> bool:
        new = False
        reason = ctx.reasons[rule.id] = self._reason(rule, outcome, ctx)
        for fact in rule.derives:
            if fact not in ctx.facts:
                ctx.facts[fact] = DerivedFact(fact, rule.id, reason)
                new = True
        return new

    def _reason(self, rule: CompiledRule, outcome: runtime.Outcome, ctx: PupilContext) -> Reason:
        return Reason(
            rule=rule.id,
            title=rule.rule.title,
            sentence=outcome_sentence(outcome),
            source=self.citation(rule.rule.cite),
            chain=self._chain(rule, ctx),
            values=outcome_values(outcome),
        )

    def evaluate_pupil(
        self, pupil: Pupil, as_of: dt.date, school: School = School()
    ) -> PupilEvaluation:
        """Fire the rules for one pupil as of a date."""
        return self.evaluate_context(self.context(pupil, as_of, school))

    def evaluate_context(self, ctx: PupilContext) -> PupilEvaluation:
        """Fire the rules over a working memory (from ``context``) and report the result."""
        facts, recommendations, suppressed, done, fired = self.decide(ctx)
        return PupilEvaluation(
            pupil_id=ctx.pupil.id,
            as_of=ctx.as_of,
            measures=ctx.measures_used(),
            facts=facts,
            recommendations=recommendations,
            suppressed=suppressed,
            done=done,
            fired=fired,
        )

    def decide(self, ctx: PupilContext) -> tuple[tuple, tuple, tuple, tuple, tuple]:
        """The rule work for one pupil: facts, recommendations, suppressions, actions already
        done and rules fired, each with its reasons (``PupilEvaluation``'s fields after
        ``measures``)."""
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
                    done.setdefault(
                        action_id,
                        AlreadyDone(
                            action=action_id,
                            title=action.title,
                            rule=rule.id,
                            event=event.type,
                            date=event.date,
                        ),
                    )
                else:
                    recs.setdefault(action_id, []).append((rule, reason))
        return (
            # Sorted by name and by (priority desc, action): the JSON must not depend on which
            # stratum or pass derived a fact, and `verify` compares saved evaluations byte for byte.
            tuple(ctx.facts[k] for k in sorted(ctx.facts)),
            tuple(
                sorted(
                    (self._recommendation(a, rs, pupil, as_of) for a, rs in recs.items()),
                    key=lambda r: (-r.priority, r.action),
                )
            ),
            tuple(sorted(suppressed, key=lambda s: (s.action, s.rule))),
            tuple(done[k] for k in sorted(done)),
            tuple(r.id for r, _ in fired),
        )

    def _outcomes(
        self, rule: CompiledRule, held: set[str], pupil: Pupil, as_of: dt.date
    ) -> Iterator[tuple[str, Action, Event | None]]:
        """Each action a fired rule recommends that is in force and not held back, with the
        event that records it done already (None when it is still to do)."""
        for action_id in rule.rule.recommend:
            action = self.ruleset.policy.actions[action_id]
            if action_id not in held and _action_in_force(action, as_of):
                yield action_id, action, self._done_event(action, pupil, as_of)

    def _held(
        self, rule: CompiledRule, ctx: PupilContext, out: list, trace: bool = True
    ) -> set[str]:
        """Actions of a fired rule held back by its ``unless`` clauses; each goes to ``out`` as a
        ``Suppression`` (untraced: as ``(action, rule, reason)``)."""
        held: set[str] = set()
        for clause, decide, keys in self.plans[rule.id].unless:
            ctx.consult(keys)
            if self._decide(rule, decide, ctx) is not True:
                continue
            outcome = self.evaluate_condition(rule, clause.condition.node, ctx) if trace else None
            for action_id in clause.actions:
                if action_id in held:
                    continue
                held.add(action_id)
                if not trace:
                    out.append((action_id, rule.id, clause.clause.reason))
                    continue
                title = self.ruleset.policy.actions[action_id].title
                out.append(
                    Suppression(
                        action=action_id,
                        title=title,
                        rule=rule.id,
                        reason=clause.clause.reason,
                        condition=clause.condition.text,
                        source=self.citation(clause.clause.cite or rule.rule.cite),
                        values=outcome_values(outcome),  # type: ignore[arg-type]  # traced: an outcome
                    )
                )
        return held

    def actions_on(
        self,
        pupil: Pupil,
        as_of: dt.date,
        school: School = School(),
        memo: ReplayMemo | None = None,
    ) -> DayActions:
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
            # Log the atoms' values only when every rule in force reads nothing but atoms
            # (`replay_safe`): a value read outside the log could change unseen, so such a day is
            # never reused.
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

    def _due_again(self, pupil: Pupil, as_of: dt.date, actions: tuple) -> DayActions:
        recs, held_back, done = actions
        return DayActions(
            as_of=as_of,
            recommended={a: self._light(a, rules, pupil, as_of) for a, rules in recs.items()},
            held_back=held_back,
            done=done,
        )

    def _light(
        self, action_id: str, rules: list[str], pupil: Pupil, as_of: dt.date
    ) -> LightRecommendation:
        """An action's due date, review window and parameters as of a date, with the rules giving
        it."""
        action = self.ruleset.policy.actions[action_id]
        due, window = self._due(action, pupil, as_of)
        params = tuple((name, self._parameter_text(name, as_of)) for name in action.parameters)
        return LightRecommendation(
            action=action_id, rules=tuple(rules), due=due, window=window, parameters=params
        )

    def _done_event(self, action: Action, pupil: Pupil, as_of: dt.date) -> Event | None:
        completion = action.completion
        # `every_time` actions are never done for good (each firing wants a new one), so no event
        # can stand for them; the other repeat scopes look back to the start of their period only.
        if completion is None or action.repeat == "every_time":
            return None
        since = {
            "once": dt.date.min,
            "once_per_academic_year": academic_year_start(as_of),
            "once_per_term": self.calendar.term_start(as_of, pupil.register.days),
        }[action.repeat]
        for event in reversed(pupil.events_of(completion.event, until=as_of)):
            # Events are oldest first, so walking back from the latest we can stop at the first one
            # before the period; the latest matching event is the one outputs name.
            if event.date < since:
                break
            if completion.matches(event, action.id):
                return event
        return None

    def _recommendation(
        self,
        action_id: str,
        reasons: list[tuple[CompiledRule, Reason]],
        pupil: Pupil,
        as_of: dt.date,
    ) -> Recommendation:
        action = self.ruleset.policy.actions[action_id]
        light = self._light(action_id, [], pupil, as_of)
        priority = max(rule.rule.priority for rule, _ in reasons)
        done_by = action.completion
        recorded = (
            None
            if done_by is None
            else (done_by.event, tuple(sorted(done_by.wanted(action_id).items())))
        )
        return Recommendation(
            action=action_id,
            title=action.title,
            kind=action.kind,
            responsible=action.responsible,
            priority=priority,
            reasons=tuple(r for _, r in reasons),
            source=self.citation(action.cite),
            due=light.due,
            window=light.window,
            parameters=light.parameters,
            recorded_by=recorded,
        )

    def _due(
        self, action: Action, pupil: Pupil, as_of: dt.date
    ) -> tuple[dt.date | None, tuple | None]:
        """An action's due date and review window (from the event it follows), as of a date."""
        due, window = None, None
        if action.due and action.due.within_school_days is not None:
            # Counted from the as-of date, and every later school day is still unknown then, so
            # weekdays stand in (ARCHITECTURE.md, "Readings we took"); holidays therefore never push
            # a due date back.
            due = add_school_days(as_of, action.due.within_school_days)
        elif action.due and action.due.after:
            events = pupil.events_of(action.due.after, until=as_of)
            if events:
                # Only the latest such event counts: a newer one (a second notice, say) restarts
                # the window.
                start, days = events[-1].date, pupil.register.days
                window = (
                    _after(start, action.due.from_days, action.due.school_days, days, as_of),
                    _after(start, action.due.to_days, action.due.school_days, days, as_of),
                )
                due = window[1]
        return due, window

    def _parameter_text(self, name: str, as_of: dt.date) -> str:
        texts = self._day(as_of).parameter_texts
        text = texts.get(name)
        if text is None:
            param = self.ruleset.policy.parameters[name]
            value = param.value_on(as_of)
            text = texts[name] = (
                "not in force" if value is None else format_parameter_value(value, param.unit)
            )
        return text

    def recommendations(
        self, pupil: Pupil, as_of: dt.date, school: School = School()
    ) -> tuple[Recommendation, ...]:
        """The recommendations of ``evaluate_pupil``, with their reasons, without the measures
        report."""
        return self.decide(self.context(pupil, as_of, school))[1]

    def evaluate(
        self,
        history: History | Iterable[Pupil],
        as_of: dt.date,
        pupil_ids: Sequence[str] | None = None,
    ) -> Evaluation:
        """Evaluate every pupil (or the ones named) of a history as of a date."""
        school = history.school if isinstance(history, History) else School()
        pupils = select_pupils(history, pupil_ids)
        return Evaluation(
            as_of=as_of,
            provenance=Provenance.of(self.ruleset, history),
            pupils=tuple(self.evaluate_pupil(p, as_of, school) for p in pupils),
        )


def _after(
    day: dt.date, days: int, school_days: bool, register_days: Sequence[int], as_of: dt.date
) -> dt.date:
    """``days`` calendar days after ``day``, or that many of the pupil's school days (weekdays
    after ``as_of``)."""
    if not school_days:
        return day + dt.timedelta(days=days)
    return nth_school_day_after(day, days, register_days, as_of)


def _action_in_force(action: Action, day: dt.date) -> bool:
    return (action.effective_from is None or action.effective_from <= day) and (
        action.effective_to is None or day <= action.effective_to
    )
