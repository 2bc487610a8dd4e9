"""The hand-written reference (benchmarks/direct) decides as the engine does.

``benchmarks/direct`` encodes england's and halton's decisions in plain Python for the
engine benchmark. These tests fail when the engine or a policy changes behaviour without
the reference following: that is intended, the reference documents the policies'
decisions rule by rule.
"""

from __future__ import annotations

import ast
import datetime as dt
import inspect
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.direct import check, england, halton, loaded_policy  # noqa: E402

DATES = (dt.date(2024, 2, 9), dt.date(2024, 11, 29))  # before and after the 2024 national framework
PUPILS = 300


@pytest.fixture(scope="module", params=DATES, ids=str)
def cohort(request):
    as_of = request.param
    return as_of, check.generated_pupils(PUPILS, as_of)


@pytest.mark.parametrize("policy", ["england", "halton"])
def test_reference_agrees_with_engine(policy, cohort):
    as_of, pupils = cohort
    assert check.compare(policy, pupils, as_of, check.sample_school()) == []


@pytest.mark.parametrize("policy", ["england", "halton"])
def test_reference_agrees_on_fuzzed_pupils(policy, cohort):
    """Random flags, events and recoded marks reach rules the sample generator never does."""
    as_of, pupils = cohort
    fuzzed = check.fuzz_pupils(pupils[:150], as_of, loaded_policy(policy).ruleset.policy.flags)
    assert check.compare(policy, fuzzed, as_of, check.sample_school(traded=as_of.month % 2 == 0)) == []


@pytest.mark.parametrize("module", [england, halton], ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_decide_unpacks_inputs_in_field_order(module):
    """``decide`` unpacks its inputs positionally: the names must be Inputs' fields, in order."""
    tree = ast.parse(inspect.getsource(module.decide))
    unpack = next(node for node in ast.walk(tree) if isinstance(node, ast.Assign)
                  and isinstance(node.value, ast.Name) and node.value.id == "inputs")
    names = tuple(elt.id for elt in unpack.targets[0].elts)
    assert names == module.Inputs._fields
