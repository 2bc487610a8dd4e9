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
import random
import threading
from pathlib import Path

import pytest

_SKIP = ("durable_rules cannot be imported here (it does not support Python 3.13+); the differential test runs "
         "on Python 3.11/3.12")
try:  # durable-rules installed on 3.13 fails with ImportError (undefined symbol), not ModuleNotFoundError
    pytest.importorskip("durable.lang", reason=_SKIP, exc_type=ImportError)
except TypeError:  # pytest < 8.2 has no exc_type (and skips on any ImportError)
    pytest.importorskip("durable.lang", reason=_SKIP)

import yaml  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from attendance_rules import api, durable_backend  # noqa: E402
from attendance_rules.codes import default_codebook  # noqa: E402
from attendance_rules.compiler import compile_policy  # noqa: E402
from attendance_rules.durable_backend import DurableEngine  # noqa: E402
from attendance_rules.engine import Engine, why_not  # noqa: E402
from attendance_rules.exceptions import UsageError  # noqa: E402
from attendance_rules.layers import resolve  # noqa: E402
from attendance_rules.policy import read_policy_text  # noqa: E402
from attendance_rules.readers import load_history, read_history_data  # noqa: E402

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


# --- random policies ------------------------------------------------------------------

CITE = {"source": "src", "section": "Part 1", "says": "a paraphrase of what the source says"}
ATOMS = [  # fact-free tests, all valid against the policy skeleton below
    "m_unauth >= p_sessions", "m_rate >= p_rate", "m_rate < p_rate", "unauthorised_sessions over academic year >= 2",
    "absence_rate over academic year >= 10%", "attendance_rate over this term < 95%",
    "unauthorised_sessions over last 4 school weeks > 0", "social_worker", "looked_after", "flag_a",
    "early_help_plan", "any contact_made within academic year", "count letter_sent within last 30 days >= 1",
    'latest review_held.outcome == "no_improvement"', "latest review_held.parent_engaged == false",
    "time since latest contact_made > p_weeks", "school.traded_ews", "days_absent over academic year >= 3",
    "m_run >= 1", 'any letter_sent with action == "act0"', "late_before_close over last 2 calendar weeks >= 1",
    "m_codes >= 2", "possible_sessions over this term > 20", "true", "false",
]
ACTIONS = {
    "act0": {"title": "Letter", "kind": "letter", "responsible": "school", "cite": CITE},
    "act1": {"title": "Call", "kind": "contact", "responsible": "school", "repeat": "once_per_term",
             "done_by": "contact_made", "due": {"within_school_days": 5}, "cite": CITE},
    "act2": {"title": "Meeting", "kind": "meeting", "responsible": "school", "repeat": "every_time", "cite": CITE},
    "act3": {"title": "Review", "kind": "review", "responsible": "school", "done_by": "review_held",
             "due": {"after": "school_attendance_meeting", "from": "4 weeks", "to": "6 weeks"}, "cite": CITE},
}
SKELETON = {
    "id": "rnd", "title": "Random policy", "kind": "national", "version": "1", "effective_from": "2020-01-01",
    "sources": {"src": {"title": "A source"}},
    "flags": {"flag_a": "a local flag"},
    "parameters": {"p_sessions": {"value": 3, "unit": "sessions", "cite": CITE},
                   "p_rate": {"value": 10, "unit": "percent", "cite": CITE},
                   "p_weeks": {"value": 2, "unit": "weeks", "cite": CITE}},
    "measures": {"m_unauth": {"measure": "unauthorised_sessions", "window": "last 6 school weeks"},
                 "m_rate": {"measure": "absence_rate", "window": "academic year"},
                 "m_run": {"measure": "unexplained_run"},
                 "m_codes": {"measure": "code_sessions", "codes": ["I", "M"], "window": "this term"}},
    "actions": ACTIONS,
}
FACTS = ["fa", "fb", "fc", "fd", "fe"]


@st.composite
def conditions(draw, positive: list[str], negative: list[str], depth: int = 0) -> str:
    """A condition over atoms, facts read positively (``positive``) and facts read under negation."""
    leaves = [st.sampled_from(ATOMS)]
    if positive:
        leaves.append(st.sampled_from(positive))
    if negative:
        leaves.append(st.sampled_from(negative).flatmap(lambda f: st.sampled_from(
            [f"not {f}", f"{f} == false", f"{f} != true", f"{f} == true", f"not ({f} and social_worker)"])))
    leaf = st.one_of(*leaves)
    if depth >= 2:
        return draw(leaf)
    kind = draw(st.sampled_from(["leaf", "leaf", "and", "or", "not"]))
    if kind == "leaf":
        return draw(leaf)
    if kind == "not":
        # a fact under `not` is read negatively: only lower-level facts may appear below it
        return f"not ({draw(conditions(negative, negative, depth + 1))})"
    parts = draw(st.lists(conditions(positive, negative, depth + 1), min_size=2, max_size=3))
    return "(" + f" {kind} ".join(parts) + ")"


@st.composite
def policies(draw) -> str:
    """YAML text of a small random policy, valid by construction.

    Each rule has a level 0-2 and derives facts of its level; it reads facts of its own or
    lower levels positively and facts of lower levels under negation, so there is never a
    cycle through negation (positive cycles within a level are allowed and drawn).
    """
    n_rules = draw(st.integers(2, 8))
    levels = [draw(st.integers(0, 2)) for _ in range(n_rules)]
    fact_level = {f: draw(st.integers(0, 2)) for f in FACTS}
    derive = []
    for lv in levels:
        mine = [f for f in FACTS if fact_level[f] == lv]
        derive.append(draw(st.lists(st.sampled_from(mine), max_size=2, unique=True)) if mine else [])
    derived = {f for d in derive for f in d}
    rules = []
    for i, lv in enumerate(levels):
        positive = sorted(f for f in derived if fact_level[f] <= lv)
        negative = sorted(f for f in derived if fact_level[f] < lv)
        recommend = draw(st.lists(st.sampled_from(sorted(ACTIONS)), min_size=0 if derive[i] else 1, max_size=2,
                                  unique=True))
        rule = {"id": f"r{i}", "title": f"Rule {i}", "when": draw(conditions(positive, negative)),
                "priority": draw(st.integers(0, 3)), "cite": CITE}
        if derive[i]:
            rule["derive"] = derive[i]
        if recommend:
            rule["recommend"] = recommend
            clauses = []
            for _ in range(draw(st.integers(0, 2))):
                clause = {"when": draw(conditions(negative, negative, 1)),
                          "reason": "Held back in this generated policy for a test.", "cite": CITE}
                if draw(st.booleans()):
                    clause["actions"] = draw(st.lists(st.sampled_from(recommend), min_size=1, unique=True))
                clauses.append(clause)
            if clauses:
                rule["unless"] = clauses
        if draw(st.integers(0, 5)) == 0:
            rule["effective_from"] = "2024-06-10"
        if draw(st.integers(0, 5)) == 0:
            rule["effective_to"] = "2024-06-20"
        rules.append(rule)
    return dump({**SKELETON, "rules": rules})


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data) -> bool:
        return True


def dump(doc: dict) -> str:
    """Policy YAML as a person would write it (no anchors for the repeated citation)."""
    return yaml.dump(doc, Dumper=_NoAliases, sort_keys=False)


def compile_text(text: str):
    return compile_policy(resolve([read_policy_text(text, "rnd.yaml")]))


# --- random histories -----------------------------------------------------------------

BOOK = default_codebook()
DAYS = [dt.date(2024, 5, 13) + dt.timedelta(days=i) for i in range(150)]
SCHOOL_DAYS = [d for d in DAYS if d.weekday() < 5 and not (dt.date(2024, 7, 20) <= d <= dt.date(2024, 9, 3))
               and not (dt.date(2024, 5, 27) <= d <= dt.date(2024, 5, 31))]
PRESENT = ["/", "\\"]


def random_pupil(rng: random.Random, index: int) -> dict:
    """A register over a few school weeks with codes valid for each date, flags and events."""
    first = rng.randrange(0, len(SCHOOL_DAYS) - 15)
    days = SCHOOL_DAYS[first:first + rng.randint(10, 60)]
    absence = rng.choice([0.0, 0.05, 0.15, 0.4, 0.8])
    marks = []
    for day in days:
        codes = list(BOOK.table_for(day).codes)
        for session in ("AM", "PM"):
            code = rng.choice(codes) if rng.random() < absence else rng.choice(PRESENT)
            marks.append({"date": day.isoformat(), "session": session, "code": code})
    flags = sorted(rng.sample(["social_worker", "looked_after", "early_help_plan", "flag_a", "ehcp"],
                              rng.randint(0, 2)))
    events = []
    for _ in range(rng.randint(0, 4)):
        day = rng.choice(days).isoformat()
        kind = rng.choice(["contact_made", "letter_sent", "review_held", "school_attendance_meeting",
                           "referral_made"])
        event = {"type": kind, "date": day}
        if kind == "letter_sent":
            event["action"] = rng.choice(["act0", "act1"])
        elif kind == "review_held":
            event.update(outcome=rng.choice(["improved", "some_improvement", "no_improvement"]),
                         parent_engaged=rng.random() < 0.5)
        elif kind == "school_attendance_meeting":
            event.update(parenting_contract=rng.random() < 0.5, improvement_plan=rng.random() < 0.5)
        elif kind == "referral_made":
            event["to"] = "education_welfare_service"
        events.append(event)
    return {"id": f"R{index:03d}", "flags": flags, "marks": marks, "events": events}


def random_history(seed: int, n: int):
    rng = random.Random(seed)
    doc = {"school": {"id": "S", "name": "Test school", "settings": {"traded_ews": rng.random() < 0.5}},
           "pupils": [random_pupil(rng, i) for i in range(n)]}
    history, report = read_history_data(doc, "random.json")
    assert not report.problems, report.problems[0]
    return history


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


BUNDLED = [p for p in ("england", "halton", "widnes_academy", "stockport")
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
        assert_agree(policy.evaluate(history, as_of), durable.evaluate(history, as_of))
        # the same engine again: 2,400 sessions per ruleset in all
        again = durable.evaluate(history, dt.date(2024, 1, 12))
        assert_agree(policy.evaluate(history, dt.date(2024, 1, 12)), again)
    finally:
        durable.close()


def test_threads_share_one_durable_engine(sample) -> None:
    policy = api.load_policy("england")
    durable = DurableEngine(policy.ruleset, policy.calendar)
    as_of = dt.date(2024, 3, 22)
    expected = policy.evaluate(sample, as_of).dumps()
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
