"""The engine: chaining, stratified negation, suppression, case state, reasons, output."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import jsonschema
import pytest
from conftest import CITE, POLICY_HEADER  # noqa: E402

from attendance_rules import CompileError
from attendance_rules.cli import main
from attendance_rules.engine.compiled import load_policy
from attendance_rules.registers.readers import read_history_data

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "sample" / "history.json"



def write_policy(tmp_path: Path, body: str, policy_id: str = "t") -> Path:
    path = tmp_path / f"{policy_id}.yaml"
    path.write_text(POLICY_HEADER.format(id=policy_id) + textwrap.dedent(body), encoding="utf-8")
    return path


def weekdays(start: dt.date, end: dt.date):
    day = start
    while day <= end:
        if day.weekday() < 5:
            yield day
        day += dt.timedelta(days=1)


def history(codes_by_day: dict[dt.date, str], flags=(), events=(), start=dt.date(2024, 1, 8),
            end=dt.date(2024, 2, 9), pupil_id="P1"):
    """A one-pupil history: present every weekday, except the days given."""
    marks = []
    for day in weekdays(start, end):
        code = codes_by_day.get(day)
        marks += [{"date": day.isoformat(), "session": s, "code": code or ("/" if s == "AM" else "\\")}
                  for s in ("AM", "PM")]
    doc = {"pupils": [{"id": pupil_id, "flags": list(flags), "marks": marks, "events": list(events)}]}
    hist, report = read_history_data(doc, "test.json")
    assert not report.problems, report.problems
    return hist


CHAIN = f"""\
parameters:
  threshold: {{value: 4, unit: sessions, cite: {CITE}}}
actions:
  letter_a: {{title: Letter A, kind: letter, responsible: school, cite: {CITE}}}
  meeting_b: {{title: Meeting B, kind: meeting, responsible: school, cite: {CITE},
              due: {{after: school_attendance_meeting, from: 4 weeks, to: 6 weeks}}}}
  quiet_c: {{title: Quiet C, kind: monitoring, responsible: school, cite: {CITE}}}
rules:
  # Declared before the rule deriving `concern`: chaining must not depend on order.
  - id: escalate
    title: Escalate a concern
    when: concern and not child_protection_plan
    derive: escalated
    recommend: meeting_b
    cite: {CITE}
  - id: no_concern
    title: Nothing to do
    when: not concern
    recommend: quiet_c
    cite: {CITE}
  - id: notice
    title: Notice unauthorised absence
    when: unauthorised_sessions over last 4 school weeks >= threshold
    derive: concern
    recommend: letter_a
    unless:
      - when: social_worker
        reason: Speak to the social worker before writing.
        cite: {CITE}
    cite: {CITE}
"""


@pytest.fixture()
def chain_policy(tmp_path):
    return load_policy(write_policy(tmp_path, CHAIN))


def absent(*days: dt.date, code: str = "O") -> dict[dt.date, str]:
    return {d: code for d in days}


def test_chaining_is_independent_of_declaration_order(chain_policy):
    hist = history(absent(dt.date(2024, 2, 5), dt.date(2024, 2, 6)))  # 4 sessions of O
    result = chain_policy.evaluate(hist, dt.date(2024, 2, 9)).pupils[0]
    assert set(result.actions()) == {"letter_a", "meeting_b"}
    assert [f.name for f in result.facts] == ["concern", "escalated"]
    assert result.fired.index("notice") < result.fired.index("escalate")
    escalate = next(r for r in result.recommendations if r.action == "meeting_b").reasons[0]
    assert escalate.chain == ("notice",)


def test_negation_sees_the_finished_fact(chain_policy):
    one_day = history(absent(dt.date(2024, 2, 5)))  # 2 sessions: below the threshold of 4
    result = chain_policy.evaluate(one_day, dt.date(2024, 2, 9)).pupils[0]
    assert result.actions() == ("quiet_c",)
    more = history(absent(dt.date(2024, 2, 5), dt.date(2024, 2, 6)))
    assert "quiet_c" not in chain_policy.evaluate(more, dt.date(2024, 2, 9)).pupils[0].actions()


def test_strata_order_negated_readers_after_derivers(chain_policy):
    strata = {r.id: r.stratum for r in chain_policy.ruleset.rules}
    assert strata["no_concern"] > strata["notice"]
    assert strata["escalate"] >= strata["notice"]


def test_threshold_boundary_just_below_at_and_above(chain_policy):
    as_of = dt.date(2024, 2, 9)
    below = history({dt.date(2024, 2, 5): "O", dt.date(2024, 2, 6): None} | {})
    at = history(absent(dt.date(2024, 2, 5), dt.date(2024, 2, 6)))
    above = history(absent(dt.date(2024, 2, 5), dt.date(2024, 2, 6), dt.date(2024, 2, 7)))
    assert "letter_a" not in chain_policy.evaluate(below, as_of).pupils[0].actions()
    assert "letter_a" in chain_policy.evaluate(at, as_of).pupils[0].actions()
    assert "letter_a" in chain_policy.evaluate(above, as_of).pupils[0].actions()


def test_reason_sentence_carries_actual_values_and_source(chain_policy):
    hist = history(absent(dt.date(2024, 2, 5), dt.date(2024, 2, 6), dt.date(2024, 2, 7)))
    rec = next(r for r in chain_policy.evaluate(hist, dt.date(2024, 2, 9)).pupils[0].recommendations
               if r.action == "letter_a")
    reason = rec.reasons[0]
    assert reason.rule == "notice"
    assert "6 unauthorised sessions in the last 4 school weeks" in reason.sentence
    assert "threshold = 4 sessions" in reason.sentence
    assert reason.source.document == "doc" and reason.source.section == "s1"


def test_unless_holds_action_back_with_reason(chain_policy):
    hist = history(absent(dt.date(2024, 2, 5), dt.date(2024, 2, 6)), flags=["social_worker"])
    result = chain_policy.evaluate(hist, dt.date(2024, 2, 9)).pupils[0]
    assert "letter_a" not in result.actions()
    (held,) = result.suppressed
    assert (held.action, held.rule) == ("letter_a", "notice")
    assert held.reason == "Speak to the social worker before writing."
    assert "concern" in [f.name for f in result.facts]  # the fact is still derived


def test_child_protection_flag_blocks_escalation(chain_policy):
    hist = history(absent(dt.date(2024, 2, 5), dt.date(2024, 2, 6)), flags=["child_protection_plan"])
    assert "meeting_b" not in chain_policy.evaluate(hist, dt.date(2024, 2, 9)).pupils[0].actions()


def test_letter_already_sent_this_year_is_not_recommended_again(chain_policy):
    days = absent(dt.date(2024, 2, 5), dt.date(2024, 2, 6))
    sent = [{"date": "2024-02-07", "type": "letter_sent", "action": "letter_a"}]
    result = chain_policy.evaluate(history(days, events=sent), dt.date(2024, 2, 9)).pupils[0]
    assert "letter_a" not in result.actions()
    assert [(d.action, d.event, d.date) for d in result.done] == [("letter_a", "letter_sent", dt.date(2024, 2, 7))]
    other = [{"date": "2024-02-07", "type": "letter_sent", "action": "some_other_letter"}]
    assert "letter_a" in chain_policy.evaluate(history(days, events=other), dt.date(2024, 2, 9)).pupils[0].actions()
    last_year = [{"date": "2023-07-10", "type": "letter_sent", "action": "letter_a"}]
    hist = history(days, events=last_year, start=dt.date(2023, 7, 3))
    assert "letter_a" in chain_policy.evaluate(hist, dt.date(2024, 2, 9)).pupils[0].actions()


def test_review_window_after_meeting(chain_policy):
    days = absent(dt.date(2024, 2, 5), dt.date(2024, 2, 6))
    meeting = [{"date": "2024-01-10", "type": "school_attendance_meeting", "parenting_contract": True}]
    rec = next(r for r in chain_policy.evaluate(history(days, events=meeting), dt.date(2024, 2, 9)).pupils[0]
               .recommendations if r.action == "meeting_b")
    assert rec.window == (dt.date(2024, 2, 7), dt.date(2024, 2, 21))
    assert rec.due == dt.date(2024, 2, 21)


def test_why_not_lists_actual_against_required(chain_policy):
    hist = history(absent(dt.date(2024, 2, 5)))
    (check,) = chain_policy.why_not(hist.pupils[0], dt.date(2024, 2, 9), "letter_a")
    assert check.status == "not met"
    (unmet,) = check.unmet
    assert unmet.actual.startswith("2 unauthorised sessions") and "threshold = 4 sessions" in unmet.required


def test_cycle_through_negation_is_a_compile_error(tmp_path):
    body = f"""\
    actions:
      x: {{title: X, kind: letter, responsible: school, cite: {CITE}}}
    rules:
      - {{id: first, title: First, when: not b, derive: a, recommend: x, cite: {CITE}}}
      - {{id: second, title: Second, when: not a, derive: b, cite: {CITE}}}
    """
    with pytest.raises(CompileError) as caught:
        load_policy(write_policy(tmp_path, body))
    message = str(caught.value)
    assert "first" in message and "second" in message and "negation" in message
    assert caught.value.problem.location.line > 0


def test_rule_dates_decide_what_is_in_force(tmp_path):
    body = f"""\
    actions:
      x: {{title: X, kind: letter, responsible: school, cite: {CITE}}}
    rules:
      - id: new_rule
        title: From 19 August 2024
        when: unauthorised_sessions over academic year >= 1
        recommend: x
        effective_from: 2024-08-19
        cite: {CITE}
    """
    policy = load_policy(write_policy(tmp_path, body))
    before = history(absent(dt.date(2024, 7, 1)), start=dt.date(2024, 7, 1), end=dt.date(2024, 7, 12))
    after = history(absent(dt.date(2024, 9, 4)), start=dt.date(2024, 9, 2), end=dt.date(2024, 9, 13))
    assert policy.evaluate(before, dt.date(2024, 7, 12)).pupils[0].actions() == ()
    assert policy.evaluate(after, dt.date(2024, 9, 13)).pupils[0].actions() == ("x",)
    (check,) = policy.why_not(before.pupils[0], dt.date(2024, 7, 12), "x")
    assert check.status == "not in force"


def test_evaluating_from_threads_gives_the_same_results(chain_policy):
    hists = [history(absent(dt.date(2024, 2, 5), dt.date(2024, 2, 6)), flags=f) for f in ((), ("social_worker",))]
    expected = [chain_policy.evaluate(h, dt.date(2024, 2, 9)).dumps() for h in hists]
    results: list[str] = [""] * 40

    def work(i: int) -> None:
        results[i] = chain_policy.evaluate(hists[i % 2], dt.date(2024, 2, 9)).dumps()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected[i % 2] for i in range(40)]


def _evaluate_json(args: list[str], seed: str) -> str:
    env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "attendance_rules", "evaluate", *args, "--format", "json"],
                          capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    return done.stdout


@pytest.mark.skipif(not SAMPLE.exists(), reason="sample not generated")
def test_json_output_is_byte_identical_across_hash_seeds_and_valid():
    args = ["--policy", "halton", "--history", str(SAMPLE), "--as-of", "2024-02-09"]
    first, second = _evaluate_json(args, "1"), _evaluate_json(args, "4242")
    assert first == second
    data = json.loads(first)
    schema = json.loads((ROOT / "schemas" / "evaluation.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(data)
    assert data["policy"]["digest"].startswith("sha256:") and data["history"]["digest"].startswith("sha256:")
    recommended = [r for p in data["pupils"] for r in p["recommendations"]]
    assert recommended and all(r["reasons"] and all("rule" in x and "source" in x for x in r["reasons"])
                               for r in recommended)


@pytest.mark.skipif(not SAMPLE.exists(), reason="sample not generated")
def test_verify_confirms_a_saved_decision_and_catches_tampering(tmp_path):
    out = io.StringIO()
    assert main(["evaluate", "--policy", "halton", "--history", str(SAMPLE), "--as-of", "2024-02-09",
                 "--pupil", "P00005", "--format", "json"], out=out) == 0
    saved = tmp_path / "decision.json"
    saved.write_text(out.getvalue())
    report = io.StringIO()
    assert main(["verify", str(saved), "--history", str(SAMPLE)], out=report) == 0
    assert "reproduced exactly" in report.getvalue()
    data = json.loads(out.getvalue())
    data["pupils"][0]["recommendations"] = data["pupils"][0]["recommendations"][1:]
    saved.write_text(json.dumps(data))
    report = io.StringIO()
    assert main(["verify", str(saved), "--history", str(SAMPLE)], out=report) == 1
    assert "NOT REPRODUCED" in report.getvalue() and "P00005" in report.getvalue()


def test_case_runner_passes_and_fails_with_a_readable_diff(tmp_path):
    policy = write_policy(tmp_path, CHAIN)
    case = textwrap.dedent(f"""\
    name: Letter at four sessions
    policy: {policy.name}
    pupil:
      id: P1
      register:
        - {{from: 2024-01-08, to: 2024-02-09, code: present}}
        - {{from: 2024-02-05, to: 2024-02-06, code: O}}
    checks:
      - as_of: 2024-02-09
        recommended: [letter_a, meeting_b]
        not_recommended: [quiet_c]
        facts: [concern]
    """)
    (tmp_path / "good.case.yaml").write_text(case)
    out = io.StringIO()
    assert main(["test", str(tmp_path / "good.case.yaml")], out=out) == 0, out.getvalue()
    (tmp_path / "bad.case.yaml").write_text(case.replace("not_recommended: [quiet_c]", "not_recommended: [letter_a]"))
    out = io.StringIO()
    assert main(["test", str(tmp_path)], out=out) == 1
    text = out.getvalue()
    assert "bad.case.yaml" in text and "+ letter_a was recommended; expected not" in text
    assert "1 passed, 1 failed" in text
