"""What the engine keeps from one evaluation to the next, and what a replay's day decides.

``RulePlan``: a rule's compiled conditions, once per engine. ``DayPlan``: the rules in
force on one as-of date by ``Stratum``, and the parameter values then, once per date.
``ReplayMemo``: one pupil's last decided day in a replay, reused while nothing it read
changes; ``DayActions`` (with ``LightRecommendation``s) is what ``Engine.actions_on``
answers for a day, without reasons.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable

import attrs

from ..registers.history import Event
from ..rules.compiler import CompiledRule, CompiledUnless
from ..rules.evaluator import compile_node, measure_keys, replay_safe
from ..rules.stability import Lookahead, steady_until
from .context import PupilContext

__all__ = ["DayActions", "DayPlan", "LightRecommendation", "ReplayMemo", "RulePlan", "Stratum"]


@attrs.frozen(kw_only=True)
class RulePlan:
    """A rule's compiled conditions and the measures each reads."""

    decide: Callable[[Any, Any], object]
    keys: tuple[tuple, ...]
    unless: tuple[tuple[CompiledUnless, Callable[[Any, Any], object], tuple[tuple, ...]], ...]
    replay_safe: bool  # every value it reads, facts and constants aside, is a logged atom

    @classmethod
    def of(cls, rule: CompiledRule) -> RulePlan:
        """Compile ``rule``'s conditions (once per engine)."""
        node = rule.condition.node
        nodes = [node] + [u.condition.node for u in rule.unless]
        return cls(
            decide=compile_node(node),
            keys=measure_keys(node),
            unless=tuple(
                (u, compile_node(u.condition.node), measure_keys(u.condition.node))
                for u in rule.unless
            ),
            replay_safe=all(replay_safe(n) for n in nodes),
        )


class Stratum:
    """One stratum of the rules in force: (rule, compiled decision) in firing order, and for
    each fact the positions of the rules that read it."""

    def __init__(self, rules: list[CompiledRule], plans: dict[str, RulePlan]) -> None:
        self.rules = [(r, plans[r.id].decide) for r in rules]
        readers: dict[str, list[int]] = {}
        for i, rule in enumerate(rules):
            for fact in rule.reads:
                readers.setdefault(fact, []).append(i)
        self.readers = {fact: tuple(at) for fact, at in readers.items()}


class DayPlan:
    """What depends only on the as-of date: rules in force by stratum, parameter values.

    Every rule in force is evaluated at least once, in order, so ``keys`` (the measures
    they read, in order) are the measures any evaluation on this day consults before
    ``unless`` clauses.
    """

    def __init__(
        self,
        strata: list[list[CompiledRule]],
        plans: dict[str, RulePlan],
        parameters: dict[str, Any],
        actions: tuple[str, ...],
    ) -> None:
        self.strata = [Stratum(layer, plans) for layer in strata]
        self.parameters = parameters
        # what a replay must see unchanged to reuse a day's firings: the rules, actions and
        # parameter values in force
        self.epoch = (
            tuple(r.id for layer in strata for r in layer),
            tuple(parameters.values()),
            actions,
        )
        self.replay_safe = all(plans[r.id].replay_safe for layer in strata for r in layer)
        self.keys = dict.fromkeys(k for layer in strata for r in layer for k in plans[r.id].keys)
        self.parameter_texts: dict[str, str] = {}  # parameters as recommendations show them


@attrs.frozen(kw_only=True)
class LightRecommendation:
    """A recommendation without reasons: the rules giving it, its due date, window and
    parameters."""

    action: str
    rules: tuple[str, ...]
    due: dt.date | None
    window: tuple[dt.date, dt.date] | None
    parameters: tuple[tuple[str, str], ...]


@attrs.frozen(kw_only=True)
class DayActions:
    """What ``Engine.actions_on`` decides for one pupil on one day."""

    as_of: dt.date
    recommended: dict[str, LightRecommendation]
    # action -> (rule, reason), of the holding rule first by id
    held_back: dict[str, tuple[str, str]]
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

    def stands(self, day: DayPlan, as_of: dt.date) -> bool:
        """Whether the kept firings are sure to stand on ``as_of`` without reading anything."""
        return self.log is not None and day.epoch is self.epoch and as_of <= self.until

    def still_holds(
        self, day: DayPlan, ctx: PupilContext, context: Callable[[dt.date], Any]
    ) -> bool:
        """Whether ``ctx``'s day fires exactly as the day kept: the atoms not sure to read the
        same any more are read again."""
        if self.log is None or day.epoch is not self.epoch:
            return False
        as_of, bounds = ctx.as_of, self.bounds
        if not all(
            bounds.get(atom, dt.date.min) >= as_of or atom(ctx, None) == value
            for atom, value in self.log
        ):
            return False
        self._look_ahead(ctx, context)
        return True

    def keep(
        self, day: DayPlan, ctx: PupilContext, firings: list, context: Callable[[dt.date], Any]
    ) -> None:
        """Remember a day just decided (``ctx.log`` None: it cannot be reused)."""
        # other parameter values: what was looked ahead no longer holds
        if day.epoch is not self.epoch:
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
        # done actions and held-back ones stand no longer than the events do
        until = steady_until(ctx)
        for atom, _ in self.log:  # type: ignore[union-attr]  # called only when the context keeps a log
            bound = bounds.get(atom, dt.date.min)
            if bound < as_of:
                ahead = ahead or Lookahead(ctx, context)
                bound = bounds[atom] = ahead.bound(atom)
            until = min(until, bound)
        self.until = until
