"""`attendance-rules validate` on deliberately broken policies (tests/policies/broken/).

Each broken file names its expected problem in a comment on its first line
(``# expect: error at LINE:COL: …``); the table below pins the same place and a pattern
for the message, and every file of the directory must be in the table. The CLI contract:
exit 0 valid (warnings allowed), 1 invalid, 2 usage errors; every problem is printed as
``path:line:col: severity: message``; no traceback, ever.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

from attendance_rules.cli import main

ROOT = Path(__file__).resolve().parent.parent
BROKEN = Path(__file__).resolve().parent / "policies" / "broken"
VALID = Path(__file__).resolve().parent / "policies" / "valid"
BUNDLED = sorted((ROOT / "policies").glob("*.yaml"))
TODAY = "2025-01-01"  # fixed, so review_due warnings do not depend on the day the tests run

PROBLEM_LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<severity>error|warning): (?P<message>.+)$")
SUMMARY_LINE = re.compile(r"^\d+ file\(s\) (valid|invalid): \d+ error\(s\), \d+ warning\(s\)$")

# file, where the problem is reported (None: in the file itself), line, column, severity, message pattern
EXPECTED = [
    ("yaml_syntax.yaml", None, 10, 11, "error", r"not valid YAML: expected ',' or '}', but got ':'"),
    ("yaml_bad_indent.yaml", None, 4, 7, "error", r"not valid YAML: mapping values are not allowed here"),
    ("tab_indent.yaml", None, 9, 1, "error", r"not valid YAML: found character '\\t'"),
    ("duplicate_key.yaml", None, 7, 1, "error", r"duplicate key 'title'"),
    ("unknown_key_typo.yaml", None, 7, 1, "error",
     r"the top level: unknown key 'paramters'; did you mean 'parameters'\?"),
    ("missing_required.yaml", None, 2, 1, "error", r"the top level: missing required key 'version'"),
    ("bad_enum_kind.yaml", None, 4, 7, "error",
     r"kind: value not allowed; found 'nationwide'; expected one of national, authority, school"),
    ("bad_enum_action_kind.yaml", None, 15, 11, "error",
     r"actions\.pa_letter\.kind: value not allowed; found 'email'; expected one of letter, "),
    ("bad_enum_responsible.yaml", None, 14, 18, "error",
     r"actions\.pa_letter\.responsible: value not allowed; found 'headteacher'; expected one of school, "),
    ("uncited_rule.yaml", None, 9, 5, "error", r"rules\[0\]: missing required key 'cite'"),
    ("unknown_source.yaml", None, 11, 11, "error",
     r"citation names unknown source 'dfe_guidance'; expected one of b_guide"),
    ("unknown_name.yaml", None, 13, 35, "error", r"unknown name 'pa_rat'; did you mean pa_rate\?"),
    ("unknown_name_folded.yaml", None, 15, 17, "error",
     r"unknown name 'persistantly_absent'; did you mean persistently_absent"),
    ("type_error.yaml", None, 13, 28, "error",
     r"cannot compare percent with sessions; found absence_rate_ytd \(percent\) >= pn_sessions \(sessions\)"),
    ("condition_syntax.yaml", None, 13, 43, "error", r"unexpected '\)'; found '\)'; expected .*a value"),
    ("duplicate_rule_id.yaml", None, 17, 5, "error",
     r"duplicate rule id 'early_warning'; expected ids unique in a file; first defined at .*duplicate_rule_id\.yaml:12:5"),
    ("duplicate_across_layers.yaml", None, 12, 5, "error",
     r"rule 'pa_definition' is already defined by base_national \(.*base_national\.yaml:\d+:5\); "
     r"expected add `replaces: <reason>`"),
    ("replaces_unknown.yaml", None, 12, 5, "error",
     r"rule 'pa_letter_rul' says it replaces a parent's, but no parent defines it"),
    ("override_unknown_parameter.yaml", None, 9, 3, "error",
     r"override_parameters names 'pa_threshold', which no parent defines"),
    ("override_unit_change.yaml", None, 9, 3, "error",
     r"override of 'pa_rate' changes its unit; found sessions; expected percent, as at .*base_national\.yaml:\d+:3"),
    ("extends_missing.yaml", None, 7, 10, "error", r"parent policy 'base_nationl' not found"),
    ("loop_a.yaml", "loop_b.yaml", 7, 10, "error", r"extends chain loops: loop_a → loop_b → loop_a"),
    ("loop_b.yaml", "loop_a.yaml", 7, 10, "error", r"extends chain loops: loop_b → loop_a → loop_b"),
    ("school_extends_school.yaml", None, 7, 10, "error",
     r"a school policy cannot extend a school policy; expected authority or national"),
    ("negation_cycle.yaml", None, 12, 5, "error",
     r"rules fact_a_rule, fact_b_rule depend on each other through negation"),
    ("unless_foreign_action.yaml", None, 17, 9, "error",
     r"unless of rule 'early_letter' holds back 'pa_meeting', which the rule does not recommend; expected pa_letter"),
    ("recommend_unknown.yaml", None, 12, 5, "error",
     r"rule 'early_letter' recommends unknown action 'pa_leter'; did you mean 'pa_letter'\?"),
    ("fact_named_like_flag.yaml", None, 12, 5, "error",
     r"rule 'mark_in_care' derives 'looked_after', which is already a flag"),
    ("alias_bomb.yaml", None, 7, 38, "error", r"more than 100000 values"),
    ("deep_nesting.yaml", None, 7, 59, "error", r"nesting deeper than 50 levels"),
    ("python_tag.yaml", None, 7, 8, "error", r"tag tag:yaml\.org,2002:python/object/apply:os\.system is not allowed"),
    ("impossible_date.yaml", None, 6, 17, "error", r"effective_from: '2024-02-30' is not a 'date'"),
    ("warn_review_due.yaml", None, 8, 13, "warning",
     r"policy 'warn_review_due' was due for review on 2024-01-31"),
    ("warn_unused_action.yaml", None, 12, 3, "warning", r"action 'home_visit' is recommended by no rule"),
    ("warn_unused_parameter.yaml", None, 12, 3, "warning", r"parameter 'visit_days' is used by no rule"),
]
HELPERS = {"base_national.yaml", "base_authority.yaml", "base_school.yaml"}  # valid parents of the broken files


def run(*argv: str) -> tuple[int, str, str]:
    """Run the CLI in-process; exit status, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), out=out, err=err)
    return status, out.getvalue(), err.getvalue()


def problems_in(output: str) -> list[re.Match]:
    """The problem lines of validate's output (all lines but the summary must be problems)."""
    lines = output.splitlines()
    assert lines and SUMMARY_LINE.match(lines[-1]), output
    matches = [PROBLEM_LINE.match(line) for line in lines[:-1]]
    assert all(matches), f"lines not in the form path:line:col: severity: message:\n{output}"
    return matches  # type: ignore[return-value]


# --- the table --------------------------------------------------------------------------


def test_every_broken_file_is_in_the_table() -> None:
    files = {p.name for p in BROKEN.glob("*.yaml")}
    assert files - HELPERS == {row[0] for row in EXPECTED}
    assert len({row[0] for row in EXPECTED}) == len(EXPECTED)


@pytest.mark.parametrize(("name", "where", "line", "col", "severity", "pattern"), EXPECTED,
                         ids=[row[0].removesuffix(".yaml") for row in EXPECTED])
def test_header_comment_names_the_expected_problem(name, where, line, col, severity, pattern) -> None:
    first = (BROKEN / name).read_text(encoding="utf-8").splitlines()[0]
    place = f"{where}:{line}:{col}" if where else f"{line}:{col}"
    assert first.startswith(f"# expect: {severity} at {place}: "), first


@pytest.mark.parametrize(("name", "where", "line", "col", "severity", "pattern"), EXPECTED,
                         ids=[row[0].removesuffix(".yaml") for row in EXPECTED])
def test_validate_reports_the_problem_at_its_place(name, where, line, col, severity, pattern) -> None:
    path = BROKEN / name
    status, out, err = run("validate", "--today", TODAY, str(path))
    assert status == (1 if severity == "error" else 0), out + err
    assert err == ""
    reported = problems_in(out)
    expected_file = str(BROKEN / where) if where else str(path)
    at_place = [m for m in reported if (m["file"], int(m["line"]), int(m["col"]), m["severity"])
                == (expected_file, line, col, severity)]
    assert at_place, f"nothing reported at {expected_file}:{line}:{col}:\n{out}"
    assert any(re.search(pattern, m["message"]) for m in at_place), out
    if severity == "warning":  # warning files are otherwise valid
        assert all(m["severity"] == "warning" for m in reported), out


def test_every_python_tag_is_refused() -> None:
    status, out, _ = run("validate", str(BROKEN / "python_tag.yaml"))
    assert status == 1
    places = {(int(m["line"]), int(m["col"])) for m in problems_in(out) if "is not allowed" in m["message"]}
    assert places == {(7, 8), (8, 8), (9, 9)}, out  # on a sequence, a mapping and a scalar


def test_negation_cycle_names_both_rules() -> None:
    _, out, _ = run("validate", str(BROKEN / "negation_cycle.yaml"))
    cycle = [m["message"] for m in problems_in(out) if "negation" in m["message"]]
    assert len(cycle) == 1 and "fact_a_rule" in cycle[0] and "fact_b_rule" in cycle[0]


def test_review_due_warning_depends_on_today() -> None:
    path = str(BROKEN / "warn_review_due.yaml")
    assert "due for review" in run("validate", "--today", "2024-02-01", path)[1]
    status, out, _ = run("validate", "--today", "2024-01-31", path)
    assert status == 0 and "due for review" not in out and out.endswith("0 error(s), 0 warning(s)\n")


# --- the CLI contract -------------------------------------------------------------------


def test_valid_chain_exits_zero_without_problems() -> None:
    paths = [str(VALID / f) for f in ("t_national.yaml", "t_authority.yaml", "t_school.yaml")]
    status, out, err = run("validate", "--today", TODAY, *paths)
    assert (status, err) == (0, "")
    assert out == "3 file(s) valid: 0 error(s), 0 warning(s)\n"


def test_one_invalid_file_among_valid_ones_exits_one() -> None:
    status, out, _ = run("validate", "--today", TODAY, str(VALID / "t_school.yaml"), str(BROKEN / "type_error.yaml"))
    assert status == 1
    assert out.splitlines()[-1] == "2 file(s) invalid: 1 error(s), 0 warning(s)"


def test_same_problem_is_reported_once() -> None:
    status, out, _ = run("validate", str(BROKEN / "loop_a.yaml"), str(BROKEN / "loop_a.yaml"))
    assert status == 1 and len(problems_in(out)) == 1


@pytest.mark.parametrize("argv", [
    [],  # no command
    ["validate"],  # no policy
    ["validate", "--bogus", "x.yaml"],  # unknown option
    ["--bogus"],
    ["validate", "--today", "2024-13-01", "x.yaml"],  # not a date
    ["validate", "--today", "tomorrow", "x.yaml"],
    ["frobnicate"],  # unknown command
    ["policy", "show"],
], ids=["no-args", "validate-no-paths", "unknown-option", "unknown-global-option", "bad-today-month",
        "bad-today-word", "unknown-command", "show-no-policy"])
def test_usage_errors_exit_two(argv, capsys) -> None:
    status, out, err = run(*argv)
    captured = capsys.readouterr()  # argparse writes its usage message to main's err stream
    assert status == 2
    assert "usage:" in err and not captured.err
    assert "Traceback" not in captured.err + captured.out + out + err


def test_bad_today_says_what_is_wrong(capsys) -> None:
    _, _, err = run("validate", "--today", "2024-02-30", "x.yaml")
    assert "expected a date as YYYY-MM-DD, found '2024-02-30'" in err


def test_missing_policy_file_is_a_clean_error() -> None:
    status, out, err = run("validate", str(BROKEN / "no_such_policy.yaml"))
    assert status != 0
    assert "no policy" in out + err and "Traceback" not in out + err


@pytest.mark.parametrize("path", sorted(BROKEN.glob("*.yaml")), ids=lambda p: p.stem)
def test_no_traceback_and_every_line_located(path: Path, capsys) -> None:
    status, out, err = run("validate", "--today", TODAY, str(path))
    captured = capsys.readouterr()
    assert status in (0, 1)
    assert "Traceback" not in out + err + captured.out + captured.err
    for match in problems_in(out):
        assert int(match["line"]) >= 1 and int(match["col"]) >= 1, match.group(0)
        assert Path(match["file"]).parent == BROKEN, match.group(0)


def test_no_traceback_from_the_real_process() -> None:
    """The installed entry point, all broken files at once: exit 1, clean output."""
    files = sorted(str(p) for p in BROKEN.glob("*.yaml"))
    proc = subprocess.run([sys.executable, "-m", "attendance_rules", "validate", "--today", TODAY, *files],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr and proc.stderr == ""
    problems_in(proc.stdout)


def test_bundled_policies_have_no_errors() -> None:
    status, out, err = run("validate", *map(str, BUNDLED))
    assert err == ""
    errors = [m.group(0) for m in problems_in(out) if m["severity"] == "error"]
    assert errors == [] and status == 0, out
    assert out.splitlines()[-1].startswith(f"{len(BUNDLED)} file(s) valid: 0 error(s)")


@pytest.mark.parametrize("policy_id", [p.stem for p in BUNDLED])
def test_bundled_policy_ids_validate(policy_id: str) -> None:
    status, out, _ = run("validate", policy_id)
    assert status == 0, out
