"""Compiled conditions: decisions, explanations and a plain tree-walking oracle agree.

The engine decides with the compiled closures untraced (short-circuit, integer pairs,
rates cross-multiplied) and explains a fired rule by running the same closures with a
trace sink. These properties check, on random policies and registers, that both modes
give the same truth for every rule and ``unless`` clause, that both equal an independent
oracle written here (a recursive walk over exact ``Fraction``s from ``measures.compute``,
no short-circuit), and that every rule the engine fires has an explanation that holds.
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from random_policies import compile_text, policies, random_history

from attendance_rules.engine.forward import Engine
from attendance_rules.exceptions import Location
from attendance_rules.registers.measure_frame import MeasureFrame
from attendance_rules.registers.measures import Window, compute
from attendance_rules.rules import (
    conditions,
    evaluator,
    lexer,
    nodes,
    typecheck,
    values,
)
from attendance_rules.rules.evaluator import compile_node, measure_keys

AS_OF = st.sampled_from([dt.date(2024, 6, 7), dt.date(2024, 6, 14), dt.date(2024, 7, 5), dt.date(2024, 9, 20),
                         dt.date(2024, 10, 4)])


def _value(node: nodes.Node, ctx) -> object:
    """The oracle: the condition language's meaning, walked directly over the tree."""
    if isinstance(node, nodes.And):
        return all([_truth(item, ctx) for item in node.items])
    if isinstance(node, nodes.Or):
        return any([_truth(item, ctx) for item in node.items])
    if isinstance(node, nodes.Not):
        return not _truth(node.item, ctx)
    if isinstance(node, nodes.Compare):
        left, right = _value(node.left, ctx), _value(node.right, ctx)
        if isinstance(left, values.Duration) or isinstance(right, values.Duration):
            anchor = getattr(left, "since", None) or getattr(right, "since", None) or ctx.as_of
            left, right = (x.days_from(anchor) if isinstance(x, values.Duration) else x for x in (left, right))
        return values.compare(node.op, left, right)
    if isinstance(node, nodes.Literal):
        return values.Duration(node.value, node.unit) if node.unit in ("weeks", "years") else node.value
    if isinstance(node, (nodes.NameRef, nodes.LibraryMeasure)) and _is_measure(node):
        return _measure(node, ctx)
    return _other(node, ctx)


def _truth(node: nodes.Node, ctx) -> bool:
    return _value(node, ctx) is True


def _is_measure(node: nodes.Node) -> bool:
    return isinstance(node, nodes.LibraryMeasure) or node.kind == "measure"


def _measure(node: nodes.Node, ctx) -> Fraction | None:
    if isinstance(node, nodes.LibraryMeasure):
        value = compute(ctx.pupil, node.name, ctx.as_of, node.window, ctx.calendar).value
    else:
        use = ctx.ruleset.policy.measures[node.name]
        window = use.window
        if use.not_before:  # sessions before the parameter's date are not counted
            window = attrs.evolve(
                window or Window(kind="academic_year"), not_before=ctx.parameter(use.not_before)
            )
        value = compute(ctx.pupil, use.measure, ctx.as_of, window, ctx.calendar, use.codes).value
    return None if value is None else Fraction(value)


def _other(node: nodes.Node, ctx) -> object:
    """Names and event queries, read straight from the pupil."""
    if isinstance(node, nodes.NameRef):
        if node.kind == "flag":
            return node.name in ctx.pupil.flags
        if node.kind == "fact":
            return node.name in ctx.facts
        if node.kind == "setting":
            return ctx.school.settings.get(node.name, False)
        value = values.parameter_value(ctx.ruleset.policy.parameters[node.name].value_on(ctx.as_of), node.unit)
        return value
    events = [e for e in ctx.pupil.events if e.type == getattr(node, "event", None) and e.date <= ctx.as_of]
    if isinstance(node, (nodes.EventAny, nodes.EventCount)):
        if node.where is not None:
            events = [e for e in events if node.where.matches(e)]
        if node.window is not None:
            bounds = (node.window.bounds(ctx.as_of) if isinstance(node.window, nodes.EventWindow)
                      else node.window.bounds(ctx.pupil, ctx.as_of, ctx.calendar))
            events = [e for e in events if bounds and bounds[0] <= e.date <= bounds[1]]
        if isinstance(node, nodes.EventCount) and node.per:
            groups = [e.get(node.per) for e in events]
            return Fraction(max((groups.count(g) for g in groups), default=0))
        return bool(events) if isinstance(node, nodes.EventAny) else Fraction(len(events))
    if not events:
        return None
    if isinstance(node, nodes.EventLatest):
        value = events[-1].date if node.field == "date" else events[-1].get(node.field)
        return Fraction(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if isinstance(node, nodes.TimeSince):
        return values.Duration(Fraction((ctx.as_of - events[-1].date).days), "days", since=events[-1].date)
    raise AssertionError(f"the oracle does not know {type(node).__name__}")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=policies(), seed=st.integers(0, 2**32 - 1), n=st.integers(1, 3), as_of=AS_OF)
def test_decision_explanation_and_oracle_agree(text: str, seed: int, n: int, as_of: dt.date) -> None:
    ruleset = compile_text(text)
    engine = Engine(ruleset)
    for pupil in random_history(seed, n):
        evaluation = engine.evaluate_pupil(pupil, as_of)
        ctx = engine.context(pupil, as_of)
        ctx.facts.update({f.name: f for f in evaluation.facts})  # facts as they stood at the end
        for rule in ruleset.rules:
            for node in [rule.condition.node] + [u.condition.node for u in rule.unless]:
                decided = compile_node(node)(ctx, None)
                explained = evaluator.evaluate(node, ctx)
                assert decided == explained.value == _value(node, ctx), (rule.id, str(node))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=policies(), seed=st.integers(0, 2**32 - 1), as_of=AS_OF)
def test_every_fired_rule_holds_on_the_facts_before_it(text: str, seed: int, as_of: dt.date) -> None:
    """Replaying the firings in order, each rule's traced condition holds on the facts derived
    by the rules fired before it, and its recorded sentence lists what held."""
    ruleset = compile_text(text)
    engine = Engine(ruleset)
    rules = {r.id: r for r in ruleset.rules}
    for pupil in random_history(seed, 3):
        evaluation = engine.evaluate_pupil(pupil, as_of)
        derived_by = {f.name: f.rule for f in evaluation.facts}
        ctx = engine.context(pupil, as_of)
        for rule_id in evaluation.fired:
            outcome = evaluator.evaluate(rules[rule_id].condition.node, ctx)
            assert outcome.value is True, rule_id
            ctx.facts.update({name: True for name, by in derived_by.items() if by == rule_id})
        for fact in evaluation.facts:
            assert all(v.actual in fact.reason.sentence for v in fact.reason.values if v.holds)


@settings(max_examples=300, deadline=None)
@given(absent=st.integers(0, 400), extra=st.integers(0, 400), percent=st.fractions(0, 100, max_denominator=400),
       op=st.sampled_from(lexer.COMPARE_OPS))
def test_rates_cross_multiplied_decide_as_fractions(absent: int, extra: int, percent: Fraction, op: str) -> None:
    """``absent/possible OP p`` decided on integers equals the Fraction comparison (0 possible: undefined)."""
    from attendance_rules.rules.values import holds_numeric

    possible = absent + extra
    pair = (absent, possible) if possible else None
    expected = possible > 0 and values.OPERATORS[op](Fraction(absent, possible), percent / 100)
    assert holds_numeric(op, pair, percent / 100, dt.date(2024, 1, 1)) is expected


def test_measure_keys_follow_evaluation_order() -> None:
    scope = typecheck.Scope(parameters={"p": "sessions"}, measures={"m": "sessions"}, flags=frozenset(), facts=frozenset(),
                    settings=frozenset(), event_fields={})
    cond = conditions.compile_condition("m >= p and (absent_sessions over this term > 1 or m > 2)",
                                        Location("t.yaml", 1, column=1), scope)
    assert measure_keys(cond.node) == (
        ("named", "m"),
        ("library", "absent_sessions", Window(kind="term")),
    )


def test_frame_pairs_equal_computed_measures() -> None:
    history = random_history(7, 6)
    for pupil in history:
        frame = MeasureFrame(pupil, dt.date(2024, 7, 5))
        for name in ("possible_sessions", "absence_rate", "attendance_rate", "days_absent", "unauthorised_days",
                     "late_before_close", "code_sessions", "unexplained_run"):
            for window in (Window(kind="academic_year"), Window(kind="term"),
                           Window(kind="school_weeks", n=3),
                           Window(kind="since_event", event="contact_made")):
                codes = ("I", "M") if name == "code_sessions" else ()
                value = compute(pupil, name, dt.date(2024, 7, 5), window, codes=codes).value
                pair = frame.pair(name, window, codes)
                assert (None if pair is None else Fraction(*pair)) == value, (name, window)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=policies(), seed=st.integers(0, 2**32 - 1), as_of=AS_OF)
def test_untraced_day_decisions_equal_the_full_evaluation(text: str, seed: int, as_of: dt.date) -> None:
    """``Engine.actions_on`` (what replays use each day) decides exactly as ``evaluate_pupil``."""
    engine = Engine(compile_text(text))
    for pupil in random_history(seed, 3):
        full = engine.evaluate_pupil(pupil, as_of)
        light = engine.actions_on(pupil, as_of)
        assert sorted(light.recommended) == sorted(r.action for r in full.recommendations)
        for rec in full.recommendations:
            got = light.recommended[rec.action]
            assert (sorted(set(got.rules)), got.due, got.window, got.parameters) == (
                sorted({r.rule for r in rec.reasons}), rec.due, rec.window, rec.parameters)
        assert {a: (e.type, e.date) for a, e in light.done.items()} == {d.action: (d.event, d.date) for d in full.done}
        first_held = {}
        for s in full.suppressed:  # sorted by (action, rule): the first is the one a replay reports
            first_held.setdefault(s.action, (s.rule, s.reason))
        assert light.held_back == first_held


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=policies(), seed=st.integers(0, 2**32 - 1), terms=st.booleans())
def test_a_replay_that_skips_days_equals_a_full_evaluation_every_day(text: str, seed: int, terms: bool) -> None:
    """``replay_pupil`` reuses a day's firings while the look-ahead says nothing read can have
    changed (counts, rates, runs, sliding windows, events, terms — inferred or from a
    calendar): its timeline must equal the one built from a full evaluation on every school day."""
    from attendance_rules.engine.compiled import CompiledPolicy
    from attendance_rules.registers.calendar import Calendar, Term
    from attendance_rules.replay.timeline import (
        build_timeline,
        evaluations_by_day,
        replay_pupil,
        rolling_due_actions,
    )

    calendar = Calendar((Term("summer", dt.date(2024, 4, 15), dt.date(2024, 7, 19)),
                         Term("autumn", dt.date(2024, 9, 3), dt.date(2024, 12, 20)))) if terms else Calendar()
    policy = CompiledPolicy(compile_text(text), calendar)
    rolling = rolling_due_actions(policy)
    start, end = dt.date(2024, 5, 13), dt.date(2024, 10, 9)
    for pupil in random_history(seed, 2):
        fast = replay_pupil(policy, pupil, start, end, rolling=rolling)
        slow = build_timeline(pupil.id, evaluations_by_day(policy, pupil, start, end), rolling)
        assert fast == slow
