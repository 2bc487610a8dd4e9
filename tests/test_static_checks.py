"""Static checks on effective policies (attendance_rules/static_checks.py), run by `validate`.

Each policy in tests/assurance_policies/ plants one defect and names it on its first line
(``# expect: SEVERITY at LINE:COL: …``); the table pins the same place and a pattern for
the message. Each file extends nothing and cites its sources, so the planted defect is
the only problem `validate` reports. The bundled policies must come out clean.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import textwrap
from pathlib import Path

import pytest

from attendance_rules.assurance.checks import check_policy, validate_paths
from attendance_rules.assurance.normal_form import MAX_DISJUNCTS
from attendance_rules.assurance.stage_thresholds import stage_families
from attendance_rules.assurance.static_checks import static_problems
from attendance_rules.cli import main
from attendance_rules.policy.build import read_policy_text
from attendance_rules.policy.layers import load_policy_files, resolve
from attendance_rules.rules.compiler import compile_policy

HERE = Path(__file__).resolve().parent
PLANTED = HERE / "assurance_policies"
ROOT = HERE.parent
BUNDLED = ["england", "halton", "widnes_academy", "stockport", "hillingdon", "tameside"]
TODAY = dt.date(2025, 1, 1)

# file, line, column, severity, message pattern
EXPECTED = [
    ("contradiction.yaml", 20, 62, "error",
     r"rule 'impossible_band' can never fire: its condition contradicts itself: unauthorised_sessions over "
     r"academic year >= 10 and unauthorised_sessions over academic year < 5 cannot both hold"),
    ("contradiction_not.yaml", 19, 57, "error",
     r"rule 'confused' can never fire: its condition contradicts itself: persistently_absent and not "
     r"persistently_absent cannot both hold"),
    ("review_window.yaml", 16, 51, "error",
     r"review window of action 'review' opens 42 days after the latest school_attendance_meeting but closes "
     r"28 days after it: its earliest day is after its latest"),
    ("stage_order.yaml", 28, 22, "warning",
     r"stage thresholds out of order: stage2 \(rule 'stage2_start'\) needs unauthorised_sessions over academic "
     r"year >= stage2_sessions \(stage2_sessions = 6 sessions\), below the earlier stage1 \(rule 'stage1_start' "
     r"at .*stage_order\.yaml:23:11"),
    ("stage_reversed.yaml", 19, 22, "warning",
     r"stage thresholds out of order: stage2 \(rule 'stage2_start'\) is reached when unauthorised_sessions over "
     r"academic year <= 10, in the direction of better attendance"),
    ("stage_band_gap.yaml", 23, 11, "warning",
     r"gap between consecutive stage bands: map_col_4 \(rule 'col_4'\) ends where absence_days_ytd < 10 days, "
     r"map_col_12 \(rule 'col_12'\) starts where absence_days_ytd >= 12 days; values between them reach neither"),
    ("stage_band_overlap.yaml", 19, 11, "warning",
     r"overlap between consecutive stage bands: stage1 \(rule 'stage1_band'\) ends where unauthorised_sessions "
     r"over academic year <= 10, stage2 \(rule 'stage2_band'\) starts where .* >= 10; values in both"),
    ("unless_always.yaml", 28, 15, "warning",
     r"unless of rule 'write_on_unauthorised' always holds \(no history makes it false: .*letters_paused = 1"),
    ("unless_never.yaml", 23, 15, "warning",
     r"unless of rule 'write_on_unauthorised' never holds when the rule's condition does; it holds back letter"),
    ("unless_contradictory.yaml", 23, 15, "warning",
     r"unless of rule 'write_on_unauthorised' never holds: latest review_held\.outcome == \"improved\" and "
     r"latest review_held\.outcome == \"no_improvement\" cannot all hold"),
    ("unreachable_action.yaml", 12, 3, "warning",
     r"action 'home_visit' can never be recommended: rule 'visit_after_a_week' is never in force within the "
     r"policy's dates \(from 2023-09-01\)"),
    ("unreachable_action_out_of_force.yaml", 12, 3, "warning",
     r"action 'warning_letter' can never be recommended: rule 'warn' is in force from 2024-08-19, the action "
     r"only until 2024-08-18"),
    ("unreachable_action_dead_fact.yaml", 12, 3, "warning",
     r"action 'meeting' can never be recommended: rule 'meet' can never fire \(no rule can derive "
     r"attendance_concern\)"),
]
NO_STATIC_DEFECT = {"non_monotone_pn.yaml", "non_monotone_stage.yaml"}  # planted for `check`, not `validate`
IDS = [row[0].removesuffix(".yaml") for row in EXPECTED]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out=out, err=err), out.getvalue(), err.getvalue()


def problems_of(text: str):
    """Static problems of a one-file national policy given as YAML text."""
    policy = read_policy_text(textwrap.dedent(text), "inline.yaml")
    return static_problems(compile_policy(resolve([policy])))


HEADER = """\
id: inline
title: Inline test policy
kind: national
version: "1"
effective_from: 2023-09-01
sources:
  a_guide:
    title: Assurance test guidance
"""


def rules(*pairs: tuple[str, str]) -> str:
    """A policy deriving fact ``f`` when ``when`` for each pair (fact, when)."""
    body = "rules:\n"
    for i, (fact, when) in enumerate(pairs):
        body += (f"  - id: r{i}\n    title: Rule {i}\n    when: {when}\n    derive: [{fact}]\n"
                 f"    cite: {{source: a_guide, section: \"{i}\", says: a rule of the inline test policy}}\n")
    return HEADER + body


# --- the planted defects ---------------------------------------------------------------


def test_every_planted_file_is_in_the_table() -> None:
    files = {p.name for p in PLANTED.glob("*.yaml")}
    assert files - NO_STATIC_DEFECT == {row[0] for row in EXPECTED}


@pytest.mark.parametrize(("name", "line", "col", "severity", "pattern"), EXPECTED, ids=IDS)
def test_header_names_the_expected_problem(name, line, col, severity, pattern) -> None:
    first = (PLANTED / name).read_text(encoding="utf-8").splitlines()[0]
    prefix = f"# expect: {severity} at {line}:{col}: "
    assert first.startswith(prefix), first
    reported = validate_paths([PLANTED / name], today=TODAY)[0].message
    assert reported.startswith(first.removeprefix(prefix)), (first, reported)


@pytest.mark.parametrize(("name", "line", "col", "severity", "pattern"), EXPECTED, ids=IDS)
def test_validate_reports_only_the_planted_defect(name, line, col, severity, pattern) -> None:
    path = PLANTED / name
    problems = validate_paths([path], today=TODAY)
    assert len(problems) == 1, "\n".join(map(str, problems))
    problem = problems[0]
    assert (problem.location.file, problem.location.line, problem.location.column, problem.severity) == \
        (str(path), line, col, severity), str(problem)
    assert re.search(pattern, problem.message), problem.message


@pytest.mark.parametrize(("name", "line", "col", "severity", "pattern"), EXPECTED, ids=IDS)
def test_validate_command_prints_it_and_exits_by_severity(name, line, col, severity, pattern) -> None:
    path = str(PLANTED / name)
    status, out, err = run("validate", "--today", TODAY.isoformat(), path)
    assert err == ""
    assert out.startswith(f"{path}:{line}:{col}: {severity}: "), out
    assert status == (1 if severity == "error" else 0)


@pytest.mark.parametrize("name", sorted(NO_STATIC_DEFECT))
def test_behaviour_defects_are_invisible_to_static_checks(name: str) -> None:
    assert validate_paths([PLANTED / name], today=TODAY) == []


# --- the bundled policies -------------------------------------------------------------------


@pytest.mark.parametrize("policy_id", BUNDLED)
def test_bundled_policies_have_no_static_problems(policy_id: str) -> None:
    ruleset, _ = check_policy(policy_id, today=TODAY)
    assert ruleset is not None
    assert [str(p) for p in static_problems(ruleset)] == []


def test_bundled_stage_families_are_in_order() -> None:
    """Widnes' Attendance Support Map columns form a family the checks compare (and find in order)."""
    ruleset = compile_policy(load_policy_files("widnes_academy"))
    families = stage_families(ruleset.facts)
    assert [n for n, _ in families["map_col_"]] == [4, 7, 10, 13, 16, 19]
    assert [n for n, _ in families["stage"]] == [1, 2, 3]
    assert not [p for p in static_problems(ruleset) if "stage" in p.message]


def test_test_suite_policies_have_no_static_problems() -> None:
    valid = HERE / "policies" / "valid"
    paths = [valid / f for f in ("t_national.yaml", "t_authority.yaml", "t_school.yaml")]
    assert validate_paths(paths, today=TODAY) == []


# --- what the analysis knows and does not claim ---------------------------------------------------


def test_attendance_stages_run_downwards() -> None:
    """For attendance itself (higher is better) later stages have lower thresholds: in order."""
    assert problems_of(rules(("stage1", "attendance_rate over academic year < 95%"),
                             ("stage2", "attendance_rate over academic year < 90%"))) == []
    found = problems_of(rules(("stage1", "attendance_rate over academic year < 90%"),
                              ("stage2", "attendance_rate over academic year < 95%")))
    assert len(found) == 1 and "stage thresholds out of order" in found[0].message and "above" in found[0].message


def test_whole_sessions_leave_no_gap_between_bands() -> None:
    ytd = "unauthorised_sessions over academic year"
    text = rules(("stage1", f"{ytd} >= 2 and {ytd} <= 9"), ("stage2", f"{ytd} >= 10"))
    assert problems_of(text) == []  # sessions are whole: 9 then 10 leaves nothing out


def test_half_days_can_leave_a_gap() -> None:
    text = rules(("stage1", "days_absent over academic year >= 1 days and days_absent over academic year <= 9 days"),
                 ("stage2", "days_absent over academic year >= 10 days"))
    found = problems_of(text)  # 9.5 days reaches neither stage
    assert len(found) == 1 and found[0].message.startswith("gap between consecutive stage bands"), found


def test_decreasing_bands_are_checked_too() -> None:
    text = rules(("stage1", "attendance_rate over academic year < 95% and attendance_rate over academic year >= 90%"),
                 ("stage2", "attendance_rate over academic year < 85%"))
    found = problems_of(text)
    assert len(found) == 1 and found[0].message.startswith("gap between consecutive stage bands"), found


def test_a_missing_rate_keeps_negations_satisfiable() -> None:
    """Neither `x >= 50%` nor `x < 50%` holds when no session is possible, so both negations can hold."""
    when = "not (attendance_rate over academic year >= 50%) and not (attendance_rate over academic year < 50%)"
    assert problems_of(rules(("odd", when))) == []
    when = "not (unauthorised_sessions over academic year >= 5) and not (unauthorised_sessions over academic year < 5)"
    found = problems_of(rules(("odd", when)))  # a count is never missing
    assert len(found) == 1 and found[0].is_error


@pytest.mark.parametrize("when", [
    "attendance_rate over academic year > 100%",
    "count review_held within academic year < 0",
    "days_absent over academic year == 2.25 days",
    "time since latest review_held > 6 weeks and time since latest review_held < 43 days",
    'latest review_held.outcome in ("improved", "some_improvement") and latest review_held.outcome == "no_improvement"',
    "any review_held within academic year and not any review_held",
    "(unauthorised_sessions over academic year >= 10 or social_worker) "
    "and unauthorised_sessions over academic year < 3 and not social_worker",
    "unauthorised_sessions over last 10 school weeks >= 10 and unauthorised_sessions over last 10 school weeks < 10",
], ids=["rate-above-100", "negative-count", "quarter-day", "whole-days", "text-values", "event-window",
        "every-alternative", "same-measure"])
def test_contradictions_found(when: str) -> None:
    found = problems_of(rules(("x", when)))
    assert [p.severity for p in found] == ["error"], found
    assert "can never fire" in found[0].message


@pytest.mark.parametrize("when", [
    "attendance_rate over academic year < 95% and absence_rate over academic year < 2%",  # related, but not known to be
    "unauthorised_sessions over academic year >= 10 and unauthorised_sessions over this term < 5",
    "time since latest review_held > 6 weeks and time since latest review_held < 44 days",
    "not latest review_held.outcome in (\"improved\", \"some_improvement\", \"no_improvement\")",
    "today >= 2024-01-01",
], ids=["different-measures", "different-windows", "one-day-left", "no-outcome-recorded", "today"])
def test_satisfiable_conditions_pass(when: str) -> None:
    assert problems_of(rules(("x", when))) == []


def test_a_later_parameter_value_is_named_with_its_date() -> None:
    text = HEADER + textwrap.dedent("""\
        parameters:
          threshold:
            unit: sessions
            values:
              - {from: 2023-09-01, value: 1, cite: {source: a_guide, section: "1", says: one session at first}}
              - {from: 2024-08-19, value: 12, cite: {source: a_guide, section: "1", says: twelve sessions later}}
        rules:
          - id: r
            title: Rule
            when: >-
              unauthorised_sessions over academic year >= threshold
              and unauthorised_sessions over academic year < 10
            derive: [x]
            cite: {source: a_guide, section: "1", says: a rule of the inline test policy}
        """)
    found = problems_of(text)
    assert len(found) == 1 and "can never fire from 2024-08-19" in found[0].message, found


def test_large_conditions_are_analysed_in_part() -> None:
    """Above MAX_DISJUNCTS alternatives only the simple top-level conjuncts are compared (no long wait)."""
    clauses = " and ".join(f"(unauthorised_sessions over last {i} school weeks >= {i} or social_worker)"
                           for i in range(1, 11))
    assert 2 ** 10 > MAX_DISJUNCTS
    found = problems_of(rules(("x", clauses + " and unauthorised_sessions over academic year < 0")))
    assert len(found) == 1 and "is never below 0" in found[0].message
    tangled = " and ".join(f"(unauthorised_sessions over academic year >= {i} or social_worker)" for i in range(1, 11))
    assert problems_of(rules(("x", tangled + " and unauthorised_sessions over academic year < 1"
                                   " and not social_worker"))) == []  # needs the whole normal form: not found


def test_a_child_override_can_break_a_parent_rule(tmp_path: Path) -> None:
    """The parent is sound; the child's override makes the parent's band empty: reported in the child's name."""
    (tmp_path / "p_national.yaml").write_text(HEADER.replace("id: inline", "id: p_national") + textwrap.dedent("""\
        parameters:
          band_start:
            value: 5
            unit: sessions
            cite: {source: a_guide, section: "1", says: the band starts at five unauthorised sessions}
        rules:
          - id: band
            title: In the band
            when: >-
              unauthorised_sessions over academic year >= band_start and
              unauthorised_sessions over academic year < 10
            derive: [in_band]
            cite: {source: a_guide, section: "1", says: the band runs from five to nine unauthorised sessions}
        """), encoding="utf-8")
    (tmp_path / "c_authority.yaml").write_text(textwrap.dedent("""\
        id: c_authority
        title: Child
        kind: authority
        version: "1"
        effective_from: 2023-09-01
        extends: p_national
        override_parameters:
          band_start:
            value: 12
            cite: {source: a_guide, section: "2", says: the authority starts the band at twelve sessions}
        """), encoding="utf-8")
    assert validate_paths([tmp_path / "p_national.yaml"], today=TODAY) == []
    found = validate_paths([tmp_path / "c_authority.yaml"], today=TODAY)
    assert len(found) == 1 and found[0].is_error, found
    assert found[0].location.file.endswith("p_national.yaml") and found[0].location.line == 19
    assert found[0].message.endswith("(in the effective policy 'c_authority')")
    assert "band_start = 12 sessions" in found[0].message
