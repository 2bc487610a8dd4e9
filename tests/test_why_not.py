"""Why-not by the logic of the condition (``whynot.needs``) and one reason per firing.

Properties on random conditions over distinct flags: every test named does not yet meet
what it requires; changing exactly the closest way (``Need.minimal``) makes the rule fire;
leaving out any one of those changes does not. A walk over every action of every bundled
policy on sample pupils: nothing listed already holds, nothing required is empty.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from random_policies import CITE, compile_text, dump, policies, random_history

from attendance_rules import load_history, load_policy
from attendance_rules.engine.explain import explain_why_not
from attendance_rules.engine.forward import Engine
from attendance_rules.engine.whynot import why_not
from attendance_rules.registers.readers import read_history_data
from attendance_rules.rules import evaluator

AS_OF = dt.date(2024, 2, 9)
FLAGS = [f"f{i}" for i in range(27)]  # at most 3 ** 3 leaves (``trees``)


@st.composite
def trees(draw, depth: int = 0):
    """A condition's shape: ("leaf",), ("not", tree) or ("and"|"or", trees)."""
    kind = draw(st.sampled_from(["leaf", "leaf", "and", "or", "not"] if depth < 3 else ["leaf"]))
    if kind == "leaf":
        return ("leaf",)
    if kind == "not":
        return ("not", draw(trees(depth + 1)))
    return (kind, tuple(draw(st.lists(trees(depth + 1), min_size=2, max_size=3))))


def render(tree, names) -> str:
    """Condition text with a fresh flag at each leaf (``names`` is an iterator)."""
    if tree[0] == "leaf":
        return next(names)
    if tree[0] == "not":
        return f"not ({render(tree[1], names)})"
    return "(" + f" {tree[0]} ".join(render(t, names) for t in tree[1]) + ")"


def holds(tree, names, flags: set[str]) -> bool:
    """The oracle: the condition's truth for a set of true flags, in plain Python."""
    if tree[0] == "leaf":
        return next(names) in flags
    if tree[0] == "not":
        return not holds(tree[1], names, flags)
    values = [holds(t, names, flags) for t in tree[1]]
    return all(values) if tree[0] == "and" else any(values)


def flag_policy(condition: str):
    doc = {"id": "wn", "title": "Why-not test", "kind": "national", "version": "1", "effective_from": "2020-01-01",
           "sources": {"src": {"title": "A source"}}, "flags": {f: "a test flag" for f in FLAGS},
           "actions": {"act": {"title": "Act", "kind": "letter", "responsible": "school", "cite": CITE}},
           "rules": [{"id": "r", "title": "Rule", "when": condition, "recommend": ["act"], "cite": CITE}]}
    return Engine(compile_text(dump(doc)))


def pupil_with(flags: set[str]):
    doc = {"pupils": [{"id": "P", "flags": sorted(flags),
                       "marks": [{"date": "2024-02-05", "session": "AM", "code": "/"}]}]}
    history, _ = read_history_data(doc, "p.json")
    return history.pupils[0]


def fires(engine: Engine, flags: set[str]) -> bool:
    return "act" in engine.evaluate_pupil(pupil_with(flags), AS_OF).actions()


@settings(max_examples=150, deadline=None)
@given(trees(), st.sets(st.sampled_from(FLAGS)))
def test_changing_what_why_not_names_makes_the_rule_fire(tree, flags):
    count = len(list(_leaves(tree)))
    engine = flag_policy(render(tree, iter(FLAGS[:count])))
    truth = holds(tree, iter(FLAGS[:count]), flags)
    assert fires(engine, flags) == truth
    (check,) = why_not(engine, pupil_with(flags), AS_OF, "act")
    if truth:
        assert check.status == "recommended" and check.needs is None
        return
    assert check.status == "not met" and check.needs is not None
    for test in check.needs.tests():  # nothing listed already meets what it requires
        assert (test.node.name in flags) == test.negated, test
    changed = _apply(flags, check.needs.minimal())
    assert holds(tree, iter(FLAGS[:count]), changed) and fires(engine, changed)
    for left_out in check.needs.minimal():  # and every change named is needed
        partial = _apply(flags, [t for t in check.needs.minimal() if t is not left_out])
        assert not holds(tree, iter(FLAGS[:count]), partial)
    assert [v.test for v in check.unmet] == [t.test for t in check.needs.minimal()]


def _leaves(tree):
    if tree[0] == "leaf":
        yield tree
    for child in tree[1] if tree[0] in ("and", "or") else tree[1:]:
        yield from _leaves(child)


def _apply(flags: set[str], tests) -> set[str]:
    out = set(flags)
    for test in tests:
        (out.discard if test.negated else out.add)(test.node.name)
    return out


def test_a_true_or_alternative_needs_nothing_and_a_false_one_lists_the_alternatives():
    engine = flag_policy("f0 and (f1 or f2 or f3)")
    (check,) = why_not(engine, pupil_with({"f1", "f2"}), AS_OF, "act")
    assert [t.test for t in check.needs.tests()] == ["f0"]  # f3 is false, but f1 already holds
    (check,) = why_not(engine, pupil_with({"f0"}), AS_OF, "act")
    assert check.needs.kind == "any" and sorted(t.test for t in check.needs.tests()) == ["f1", "f2", "f3"]
    assert len(check.unmet) == 1
    text = explain_why_not("act", [check])
    assert "needs one of (closest first):" in text and "- or" not in text


def test_a_not_that_fails_says_what_holds_and_requires_no():
    engine = flag_policy("f0 and not f1")
    (check,) = why_not(engine, pupil_with({"f0", "f1"}), AS_OF, "act")
    (test,) = check.unmet
    assert (test.test, test.actual, test.required) == ("not f1", "f1: yes", "no")
    assert "needs not f1: actual f1: yes; required no" in explain_why_not("act", [check])


def test_not_of_a_comparison_requires_the_opposite_comparison(tmp_path):
    doc = {"id": "wn", "title": "t", "kind": "national", "version": "1", "effective_from": "2020-01-01",
           "sources": {"src": {"title": "A source"}},
           "actions": {"act": {"title": "Act", "kind": "letter", "responsible": "school", "cite": CITE}},
           "rules": [{"id": "r", "title": "Rule", "recommend": ["act"], "cite": CITE,
                      "when": "not (unauthorised_sessions over academic year >= 1)"}]}
    engine = Engine(compile_text(dump(doc)))
    history, _ = read_history_data({"pupils": [{"id": "P", "marks": [
        {"date": "2024-02-05", "session": "AM", "code": "O"}]}]}, "p.json")
    (check,) = why_not(engine, history.pupils[0], AS_OF, "act")
    (test,) = check.unmet
    assert test.test.startswith("not (") and test.required == "less than 1" and "1" in test.actual


def test_the_issue_example_or_of_plans_with_social_worker(tmp_path):
    engine = flag_policy("f0 and (f1 or f2 or f3)")
    (check,) = why_not(engine, pupil_with({"f0", "f1", "f2"}), AS_OF, "act")
    assert check.status == "recommended" and check.unmet == ()


@settings(max_examples=25, deadline=None)
@given(policies(), st.integers(0, 10_000))
def test_a_reason_chain_names_only_rules_that_fired_before(text, seed):
    engine = Engine(compile_text(text))
    for pupil in random_history(seed, 4).pupils:
        evaluation = engine.evaluate_pupil(pupil, dt.date(2024, 7, 1))
        order = {rule: i for i, rule in enumerate(evaluation.fired)}
        reasons = [f.reason for f in evaluation.facts] + [r for rec in evaluation.recommendations
                                                           for r in rec.reasons]
        for reason in reasons:
            assert all(order[earlier] < order[reason.rule] for earlier in reason.chain), reason


def test_a_fact_and_a_recommendation_of_one_firing_cite_the_same_chain():
    engine = Engine(compile_text(dump(_chain_doc())))
    evaluation = engine.evaluate_pupil(pupil_with({"f0"}), AS_OF)
    fact = {f.name: f for f in evaluation.facts}["b"]
    (rec,) = evaluation.recommendations
    assert fact.reason == rec.reasons[0] and fact.reason.chain == ("r_a",)


def _chain_doc() -> dict:
    """r_b derives b and recommends act from a; r_d derives a again later: it must not be credited."""
    def rule(rid: str, when: str, **more) -> dict:
        return {"id": rid, "title": rid, "when": when, "cite": CITE, **more}
    return {"id": "wn", "title": "t", "kind": "national", "version": "1", "effective_from": "2020-01-01",
            "sources": {"src": {"title": "A source"}}, "flags": {f: "a test flag" for f in FLAGS},
            "actions": {"act": {"title": "Act", "kind": "letter", "responsible": "school", "cite": CITE}},
            "rules": [rule("r_a", "f0", derive=["a"]), rule("r_b", "a", derive=["b"], recommend=["act"]),
                      rule("r_c", "b", derive=["c"]), rule("r_d", "c", derive=["a"])]}


BUNDLED = ["england", "halton", "hillingdon", "stockport", "tameside", "widnes_academy"]


@pytest.fixture(scope="module")
def sample():
    return load_history(Path(__file__).parents[1] / "examples" / "sample" / "history.json")


@pytest.mark.parametrize("policy_id", BUNDLED)
def test_why_not_names_only_unmet_conditions_for_every_action(policy_id, sample):
    policy = load_policy(policy_id)
    pupils = sample.pupils[::15]
    for pupil in pupils:
        engine = policy.engine
        for action in engine.ruleset.policy.actions:
            for check in why_not(engine, pupil, AS_OF, action, sample.school):
                if check.status != "not met":
                    assert check.needs is None
                    continue
                ctx = engine.context(pupil, AS_OF, sample.school)
                engine.evaluate_context(ctx)  # the derived facts, as why_not sees them
                for test in check.needs.tests():
                    value = evaluator.evaluate(test.node, ctx, False).value is True
                    assert value == test.negated, (policy_id, pupil.id, action, check.rule, test)
                    assert test.required, (policy_id, check.rule, test)
