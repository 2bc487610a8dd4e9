"""Differential tests: the durable_rules backend must agree with our own engine.

Random policies (valid by construction: parameters, named measures, chained facts,
``not``, comparisons of facts, ``unless``, priorities, dated rules) are evaluated over
random registers with both engines; the bundled policies are evaluated over the sample
history; and more than 1,024 pupils go through one engine (durable_rules keeps at most
1,024 live sessions per ruleset, so the backend must delete each pupil's state).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path

import pytest

_SKIP = ("durable_rules cannot be imported here (it does not support Python 3.13+); the differential test runs "
         "on Python 3.11/3.12")
try:  # durable-rules installed on 3.13 fails with ImportError (undefined symbol), not ModuleNotFoundError
    pytest.importorskip("durable.lang", reason=_SKIP, exc_type=ImportError)
except TypeError:  # pytest < 8.2 has no exc_type (and skips on any ImportError)
    pytest.importorskip("durable.lang", reason=_SKIP)

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from random_policies import CITE, SKELETON, compile_text, dump, policies, random_history  # noqa: E402

from attendance_rules.engine import compiled as api  # noqa: E402
from attendance_rules.engine import durable as durable_backend
from attendance_rules.engine.durable import DurableEngine  # noqa: E402
from attendance_rules.engine.forward import Engine  # noqa: E402
from attendance_rules.engine.whynot import why_not  # noqa: E402
from attendance_rules.exceptions import UsageError  # noqa: E402
from attendance_rules.registers.readers import load_history, read_history_data  # noqa: E402

# durable-rules 2.0.28 calls datetime.utcfromtimestamp for every action (deprecated in 3.12)
pytestmark = pytest.mark.filterwarnings("ignore:datetime.datetime.utcfromtimestamp:DeprecationWarning")

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "sample" / "history.json"


def assert_agree(python, durable) -> None:
    """Same fired rules (in order), recommendations with reasons, suppressions, facts — then every byte."""
    assert len(python.pupils) == len(durable.pupils)
    for a, b in zip(python.pupils, durable.pupils):
        assert a.pupil_id == b.pupil_id
        assert a.fired == b.fired, a.pupil_id
        assert [(r.action, [x.rule for x in r.reasons]) for r in a.recommendations] == \
               [(r.action, [x.rule for x in r.reasons]) for r in b.recommendations], a.pupil_id
        assert [(s.action, s.rule) for s in a.suppressed] == [(s.action, s.rule) for s in b.suppressed], a.pupil_id
        assert [(f.name, f.rule, f.reason.chain) for f in a.facts] == \
               [(f.name, f.rule, f.reason.chain) for f in b.facts], a.pupil_id
        assert a.to_json() == b.to_json(), a.pupil_id
    assert python.dumps() == durable.dumps()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=policies(), seed=st.integers(0, 2**32 - 1), n=st.integers(1, 4),
       as_of=st.sampled_from([dt.date(2024, 6, 7), dt.date(2024, 6, 14), dt.date(2024, 7, 5),
                              dt.date(2024, 9, 20), dt.date(2024, 10, 4)]))
def test_random_policies_agree(text: str, seed: int, n: int, as_of: dt.date) -> None:
    ruleset = compile_text(text)
    history = random_history(seed, n)
    durable = DurableEngine(ruleset)
    try:
        assert_agree(Engine(ruleset).evaluate(history, as_of), durable.evaluate(history, as_of))
    finally:
        durable.close()


# --- hand-made cases for the firing order --------------------------------------------

ORDER_POLICY = {
    **SKELETON,
    "rules": [
        # priority 3 reads a fact its own stratum derives later in the pass: fires in pass 2
        {"id": "early_reader", "title": "Reads late", "when": "late_fact", "priority": 3, "derive": ["chained"],
         "recommend": ["act2"], "cite": CITE},
        {"id": "first", "title": "First", "when": "true", "priority": 2, "derive": ["base"], "cite": CITE},
        {"id": "reads_base", "title": "Reads base", "when": "base", "priority": 1, "derive": ["late_fact"],
         "cite": CITE},
        # two derivers of one fact: the one that fires first (pass 1) is its justification
        {"id": "deriver_a", "title": "Deriver a", "when": "chained", "priority": 0, "derive": ["twice"],
         "cite": CITE},
        {"id": "deriver_b", "title": "Deriver b", "when": "base", "priority": 0, "derive": ["twice"],
         "cite": CITE},
        {"id": "uses_twice", "title": "Uses twice", "when": "twice or chained", "priority": 0,
         "recommend": ["act0"], "cite": CITE},
        # stratum 1: negation of finished facts, and an unless clause holding an action back
        {"id": "negates", "title": "Negates", "when": "not nothing_derives_this and twice == true",
         "recommend": ["act0", "act2"], "cite": CITE,
         "unless": [{"when": "chained and not nothing_derives_this", "actions": ["act2"], "cite": CITE,
                     "reason": "Held back while the chained fact holds."}]},
        {"id": "never", "title": "Never", "when": "false", "derive": ["nothing_derives_this"], "cite": CITE},
    ],
}


def test_firing_order_follows_the_python_engine() -> None:
    ruleset = compile_text(dump(ORDER_POLICY))
    history = random_history(7, 3)
    as_of = dt.date(2024, 6, 14)
    durable = DurableEngine(ruleset)
    python, other = Engine(ruleset).evaluate(history, as_of), durable.evaluate(history, as_of)
    assert_agree(python, other)
    pupil = other.pupils[0]
    assert pupil.fired == ("first", "reads_base", "deriver_b", "uses_twice", "early_reader", "deriver_a", "negates")
    assert {f.name: f.rule for f in pupil.facts}["twice"] == "deriver_b"
    assert [(s.action, s.rule) for s in pupil.suppressed] == [("act2", "negates")]
    durable.close()


# --- bundled policies over the sample ---------------------------------------------------


@pytest.fixture(scope="module")
def sample():
    return load_history(SAMPLE)


BUNDLED = [p for p in ("england", "halton", "widnes_academy", "stockport", "tameside")
           if (ROOT / "policies" / f"{p}.yaml").exists()]


@pytest.mark.parametrize("policy", BUNDLED)
def test_bundled_policies_agree_over_the_sample(policy: str, sample) -> None:
    python = api.load_policy(policy)
    durable = api.load_policy(policy, backend="durable")
    assert isinstance(durable.engine, DurableEngine)
    dates = [dt.date(2023, 11, 17), dt.date(2024, 3, 22)] if policy in ("england", "stockport") \
        else [dt.date(2024, 2, 9)]
    pupils = [p.id for p in sample.pupils][::2] if policy in ("halton", "widnes_academy") else None
    for as_of in dates:
        assert_agree(python.evaluate(sample, as_of, pupils), durable.evaluate(sample, as_of, pupils))
    pupil = next(p for p in sample.pupils if p.events)
    for action in list(python.ruleset.policy.actions)[:5]:
        assert why_not(python.engine, pupil, dates[0], action, sample.school) == \
               why_not(durable.engine, pupil, dates[0], action, sample.school)


def test_more_than_1024_pupils(sample) -> None:
    """Well over the 1,024 live sessions durable_rules allows per ruleset: states are deleted."""
    doc = json.loads(SAMPLE.read_text(encoding="utf-8"))
    pupils = [dict(p, id=f"{p['id']}-{copy}") for copy in range(4) for p in doc["pupils"]]
    history, report = read_history_data({"school": doc["school"], "pupils": pupils}, "x4.json")
    assert not report.problems and len(history.pupils) == 1200
    policy = api.load_policy("england")
    durable = DurableEngine(policy.ruleset, policy.calendar)
    try:
        as_of = dt.date(2024, 3, 22)
        # engine against engine: the API's evaluate adds the history's warnings under england
        assert_agree(policy.engine.evaluate(history, as_of), durable.evaluate(history, as_of))
        # the same engine again: 2,400 sessions per ruleset in all
        again = durable.evaluate(history, dt.date(2024, 1, 12))
        assert_agree(policy.engine.evaluate(history, dt.date(2024, 1, 12)), again)
    finally:
        durable.close()


def test_threads_share_one_durable_engine(sample) -> None:
    policy = api.load_policy("england")
    durable = DurableEngine(policy.ruleset, policy.calendar)
    as_of = dt.date(2024, 3, 22)
    expected = policy.engine.evaluate(sample, as_of).dumps()  # engine against engine (no history warnings)
    results: list[str] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(durable.evaluate(sample, as_of).dumps())
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and results == [expected] * 4
    durable.close()


def test_ruleset_names_are_unique_and_closed_engines_refuse_work(sample) -> None:
    ruleset = api.load_policy("england").ruleset
    one, two = DurableEngine(ruleset), DurableEngine(ruleset)
    assert len(one.ruleset_names) == ruleset.strata
    assert not set(one.ruleset_names) & set(two.ruleset_names)
    one.close()
    one.close()  # closing twice is harmless
    with pytest.raises(UsageError, match="closed"):
        one.evaluate(sample, dt.date(2024, 3, 22))
    two.close()


def test_missing_durable_is_a_usage_error(monkeypatch) -> None:
    monkeypatch.setattr(durable_backend, "_durable", None)
    monkeypatch.setattr(durable_backend, "_IMPORT_ERROR", ImportError("undefined symbol: PyEval_CallObject"))
    with pytest.raises(UsageError, match=r"needs the 'durable' extra .*Python 3\.13\+: undefined symbol"):
        DurableEngine(api.load_policy("england").ruleset)
