"""Distance to a threshold, confirmed by brute force: add the marks, re-evaluate."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attendance_rules.cli import main
from attendance_rules.engine.compiled import load_policy
from attendance_rules.engine.context import PupilContext
from attendance_rules.engine.distance import distances, with_future_absences
from attendance_rules.registers.readers import load_history
from attendance_rules.rules import evaluator

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "sample" / "history.json"
AS_OF = dt.date(2024, 2, 9)

pytestmark = pytest.mark.skipif(not SAMPLE.exists(), reason="sample not generated")


@pytest.fixture(scope="module")
def halton():
    return load_policy("halton")


@pytest.fixture(scope="module")
def sample():
    return load_history([SAMPLE])


def _test_holds(policy, rule_id: str, pupil, day: dt.date, school) -> bool:
    """Re-evaluate the rule's whole condition from scratch on the extended register."""
    evaluation = policy.engine.evaluate_pupil(pupil, day, school)
    if rule_id in evaluation.fired:
        return True
    rule = next(r for r in policy.ruleset.rules if r.id == rule_id)
    ctx = PupilContext(policy.ruleset, pupil, day, policy.engine.calendar, school)
    ctx.facts.update({f.name: f for f in evaluation.facts})
    return evaluator.evaluate(rule.condition.node, ctx).value is True


@settings(max_examples=25, deadline=None)
@given(index=st.integers(min_value=0, max_value=299))
def test_distance_is_exact_by_brute_force(halton, sample, index):
    pupil = sample.pupils[index]
    for found in distances(halton.engine, pupil, AS_OF, sample.school, horizon_weeks=4):
        enough = with_future_absences(pupil, AS_OF, found.sessions)
        assert _test_holds(halton, found.rule, enough, found.reached_on, sample.school), found
        fewer = with_future_absences(pupil, AS_OF, found.sessions - 1)
        assert not _test_holds(halton, found.rule, fewer, found.reached_on, sample.school), found


def test_persistent_absence_distance_matches_the_arithmetic(halton, sample):
    """k more absences make absent/possible reach 10%: (a + k) * 10 >= p + k, smallest k."""
    checked = 0
    for pupil in sample.pupils[:60]:
        year = [d for d in distances(halton.engine, pupil, AS_OF, sample.school, horizon_weeks=6)
                if d.rule == "persistent_absence_definition"]
        if not year:
            continue
        m = json.loads(json.dumps(halton.evaluate_pupil(pupil, AS_OF, sample.school).to_json()))
        rate = next(x for x in m["measures"] if x["name"] == "absence_rate" and x["window"] == "academic year")
        absent, possible = _counts(rate["description"])
        k = next(k for k in range(200) if (absent + k) * 10 >= possible + k)
        assert year[0].sessions == k
        checked += 1
    assert checked >= 10


def _counts(description: str) -> tuple[int, int]:
    attended, _, rest = description.rpartition(": ")[2].partition(" of ")
    possible = int(rest.split()[0])
    return possible - int(attended), possible


def test_evaluate_horizon_lists_at_risk_and_why_not_shows_distance(sample):
    out = io.StringIO()
    assert main(["evaluate", "--policy", "halton", "--history", str(SAMPLE), "--as-of", "2024-02-09",
                 "--pupil", "P00015", "--horizon", "3", "--format", "json"], out=out) == 0
    (pupil,) = json.loads(out.getvalue())["pupils"]
    warning = [d for d in pupil["at_risk"] if d["rule"] == "halton_pn_warning"]
    assert warning and warning[0]["sessions"] == 3 and warning[0]["reached_on"] == "2024-02-13"
    out = io.StringIO()
    assert main(["explain", "--policy", "halton", "--history", str(SAMPLE), "--as-of", "2024-02-09",
                 "--pupil", "P00015", "--why-not", "halton_pn_warning_letter"], out=out) == 0
    assert "distance: 3 more sessions of absence (1.5 days)" in out.getvalue()
