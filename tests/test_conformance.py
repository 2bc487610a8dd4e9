"""Issue 12: a history checked against the policy evaluating it — declared school settings
(typed, defaulted), event types and the actions events name — and the warnings channel
(as-of outside the register or the policy's dates) on stderr and in the JSON output."""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import textwrap
from pathlib import Path

import jsonschema
import pytest
from conftest import CITE  # noqa: E402

from attendance_rules import InputError
from attendance_rules.cli import main
from attendance_rules.engine.compiled import load_policy
from attendance_rules.policy.conformance import as_of_warnings, conform
from attendance_rules.policy.schema import load_schema
from attendance_rules.registers.readers import read_history_data

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "sample" / "history.json"
AS_OF = dt.date(2024, 2, 9)


@pytest.fixture(scope="module")
def halton():
    return load_policy("halton")


@pytest.fixture(scope="module")
def sample() -> dict:
    """The first 20 pupils of the sample history, as JSON data."""
    doc = json.loads(SAMPLE.read_text(encoding="utf-8"))
    return dict(doc, pupils=doc["pupils"][:20])


def history(doc: dict, name: str = "h.json"):
    return read_history_data(doc, name)[0]


def with_settings(doc: dict, settings: dict) -> dict:
    return dict(doc, school=dict(doc["school"], settings=settings))


def with_event(doc: dict, event: dict, pupil: int = 0) -> dict:
    doc = copy.deepcopy(doc)
    doc["pupils"][pupil].setdefault("events", []).append(event)
    return doc


def errors_of(policy, doc: dict) -> list[str]:
    with pytest.raises(InputError) as caught:
        policy.evaluate(history(doc), AS_OF)
    return [str(p) for p in caught.value.problems]


# --- school settings --------------------------------------------------------------------------


def test_a_misspelt_setting_is_an_error_naming_the_declared_one(halton, sample) -> None:
    problems = errors_of(halton, with_settings(sample, {"tradedews": True}))
    assert problems == [("h.json (/school/settings/tradedews): error: unknown school setting 'tradedews'; "
                         "did you mean 'traded_ews'?; found tradedews; expected a setting policy 'halton' declares: "
                         "traded_ews")]


@pytest.mark.parametrize("value", ["yes", 1, 0.0, None, float("nan"), [True]])
def test_a_setting_of_the_wrong_type_is_an_error_in_the_history(halton, sample, value) -> None:
    problems = errors_of(halton, with_settings(sample, {"traded_ews": value}))
    assert len(problems) == 1 and problems[0].startswith("h.json (/school/settings/traded_ews): error: "
                                                         "school setting 'traded_ews' must be bool"), problems
    assert "halton.yaml:" in problems[0]  # where the declaration is, to settle who is right


def test_a_missing_setting_takes_the_declared_default_false(halton, sample) -> None:
    missing = halton.evaluate(history(with_settings(sample, {})), AS_OF).to_json()
    false = halton.evaluate(history(with_settings(sample, {"traded_ews": False})), AS_OF).to_json()
    true = halton.evaluate(history(with_settings(sample, {"traded_ews": True})), AS_OF).to_json()
    assert missing["pupils"] == false["pupils"] != true["pupils"]


def test_an_empty_school_csv_cell_is_not_recorded(halton, sample) -> None:
    checked = conform(history(with_settings(sample, {"traded_ews": ""})), halton.ruleset.policy)
    assert checked.school.settings["traded_ews"] is False and checked.warnings == ()


def test_the_api_checks_the_school_of_one_pupil_too(halton, sample) -> None:
    hist = history(with_settings(sample, {"traded_ews": "yes"}))
    with pytest.raises(InputError):
        halton.evaluate_pupil(hist.pupils[0], AS_OF, hist.school)
    with pytest.raises(InputError):
        halton.why_not(hist.pupils[0], AS_OF, "stage2_letter", hist.school)


def test_a_policy_declaring_no_settings_warns_that_it_does_not_read_them(sample) -> None:
    result = load_policy("england").evaluate(history(sample), AS_OF)
    assert [w.message for w in result.warnings if "setting" in w.message] == [
        "school setting 'traded_ews' is not read: policy 'england' declares no school settings"]


def test_a_setting_in_school_csv_is_located_at_its_column(halton, tmp_path) -> None:
    folder = tmp_path / "csv"
    folder.mkdir()
    for name in ("pupils.csv", "marks.csv", "events.csv"):
        (folder / name).write_bytes((ROOT / "examples" / "sample" / "csv" / name).read_bytes())
    (folder / "school.csv").write_text("id,name,traded_ews\nWA,Widnes,yes\n", encoding="utf-8")
    status, _, err = run("evaluate", "--policy", "halton", "--history", str(folder), "--as-of", "2024-02-09")
    assert status == 1 and "school.csv (column traded_ews): error: school setting 'traded_ews' must be bool" in err


# --- events -----------------------------------------------------------------------------------


def test_an_unknown_event_type_is_an_error_naming_the_nearest(halton, sample) -> None:
    doc = with_event(sample, {"date": "2023-10-02", "type": "letter_sentt", "action": "stage1_letter"})
    problems = errors_of(halton, doc)
    assert len(problems) == 1 and "unknown event type 'letter_sentt'; did you mean 'letter_sent'?" in problems[0]
    assert problems[0].startswith("h.json (/pupils/0/events/"), problems


def test_an_unknown_type_repeated_is_one_error_with_a_count(halton, sample) -> None:
    doc = sample
    for pupil in range(3):
        doc = with_event(doc, {"date": "2023-10-02", "type": "truancy_sweep"}, pupil)
    problems = errors_of(halton, doc)
    assert len(problems) == 1 and "(3 events)" in problems[0], problems


SWEEP_POLICY = f"""\
id: sweeps
title: Sweeps
kind: school
version: "1"
effective_from: 2023-09-01
extends: halton
sources:
  doc: {{title: A test document}}
event_types:
  truancy_sweep:
    description: A truancy sweep found the pupil out of school.
    fields: {{area: text, with_parent: bool, outcome: [returned, referred], on: date}}
    cite: {CITE}
"""


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    path = tmp_path_factory.mktemp("policy") / "sweeps.yaml"
    path.write_text(textwrap.dedent(SWEEP_POLICY), encoding="utf-8")
    return load_policy(path)


def test_a_declared_event_type_is_accepted(sweeps, sample) -> None:
    event = {"date": "2023-10-02", "type": "truancy_sweep", "area": "town centre", "with_parent": False,
             "outcome": "returned", "on": "2023-10-02"}
    assert sweeps.evaluate(history(with_event(sample, event)), AS_OF).warnings == ()


@pytest.mark.parametrize(("extra", "message"), [
    ({"street": "x"}, "truancy_sweep events have no field 'street'"),
    ({"with_parent": "no"}, "bad truancy_sweep.with_parent"),
    ({"outcome": "fled"}, "bad truancy_sweep.outcome"),
    ({"on": "2023-13-01"}, "bad truancy_sweep.on"),
])
def test_a_declared_types_fields_are_checked(sweeps, sample, extra, message) -> None:
    event = {"date": "2023-10-02", "type": "truancy_sweep", **extra}
    problems = errors_of(sweeps, with_event(sample, event))
    assert len(problems) == 1 and message in problems[0] and "(/pupils/0/events/" in problems[0], problems


def test_an_event_naming_no_action_of_the_policy_is_a_warning_naming_the_nearest(halton, sample) -> None:
    doc = with_event(sample, {"date": "2023-10-02", "type": "letter_sent", "action": "stage1_leter"})
    result = halton.evaluate(history(doc), AS_OF)
    assert [str(w) for w in result.warnings] == [(
        "h.json (/pupils/0/events/0): warning: letter_sent names action 'stage1_leter', which policy 'halton' "
        "does not have (did you mean 'stage1_letter'?): it records no action of this policy; found stage1_leter; "
        "expected an action id of the policy, e.g. stage1_letter")]


# --- the as-of date ---------------------------------------------------------------------------


@pytest.mark.parametrize(("as_of", "expected"), [
    (dt.date(2024, 2, 9), []),
    (dt.date(2023, 9, 1), ["before the register's first mark (2023-09-04)"]),
    (dt.date(2023, 8, 1), ["before the register's first mark", "before policy 'halton' comes into force (2023-09-01)"]),
    (dt.date(2024, 12, 21), []),  # the Saturday after the last Friday of marks
    (dt.date(2024, 12, 23), ["after the register's last mark (2024-12-20)"]),
    (dt.date(2026, 9, 1), ["after the register's last mark", "after policy 'halton' ends (2026-08-31)"]),
])
def test_an_as_of_outside_the_data_or_the_policy_warns(halton, as_of, expected) -> None:
    hist = history(json.loads(SAMPLE.read_text(encoding="utf-8")))
    found = [w.message for w in as_of_warnings(hist, halton.ruleset.policy, as_of)]
    assert len(found) == len(expected) and all(e in f for e, f in zip(expected, found)), found


# --- the warnings channel ---------------------------------------------------------------------


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    import contextlib

    with contextlib.redirect_stderr(err):
        status = main(list(argv), out=out, err=err)
    return status, out.getvalue(), err.getvalue()


def test_the_bundled_output_has_no_warnings_key() -> None:
    status, out, err = run("evaluate", "--policy", "halton", "--history", str(SAMPLE), "--as-of", "2024-02-09",
                           "--format", "json", "--pupil", "P00005")
    assert status == 0 and err == "" and '"warnings"' not in out


def test_warnings_go_to_stderr_and_into_the_json_header(tmp_path) -> None:
    status, out, err = run("evaluate", "--policy", "halton", "--history", str(SAMPLE), "--as-of", "2026-09-01",
                           "--format", "json", "--pupil", "P00005")
    assert status == 0
    data = json.loads(out)
    jsonschema.validate(data, load_schema("evaluation.schema.json"))
    assert list(data)[-2:] == ["warnings", "pupils"]
    messages = [w["message"] for w in data["warnings"]]
    assert len(messages) == 2 and all(m in err for m in messages)
    assert err.count("warning: as-of date 2026-09-01") == 2


def test_explain_prints_the_warnings_and_refuses_bad_settings(tmp_path, sample) -> None:
    path = tmp_path / "h.json"
    path.write_text(json.dumps(with_settings(sample, {"traded_ews": "yes"})), encoding="utf-8")
    status, out, err = run("explain", "--policy", "halton", "--history", str(path), "--as-of", "2024-02-09",
                           "--pupil", sample["pupils"][0]["id"])
    assert status == 1 and out == "" and "must be bool" in err and "Traceback" not in err


@pytest.mark.parametrize("command", [
    ("evaluate", "--policy", "halton", "--as-of", "2024-02-09"),
    ("explain", "--policy", "halton", "--as-of", "2024-02-09", "--pupil", "P00001"),
    ("timeline", "--policy", "halton", "--from", "2024-02-05", "--to", "2024-02-09"),
    ("cohort", "--policy", "halton", "--as-of", "2024-02-09"),
    ("diff", "--old", "halton", "--new", "widnes_academy", "--as-of", "2024-02-09"),
    ("audit", "--policy", "halton", "--from", "2024-02-05", "--to", "2024-02-09"),
], ids=lambda c: c[0])
def test_every_command_checks_the_history_against_the_policy(command, sample, tmp_path) -> None:
    path = tmp_path / "h.json"
    path.write_text(json.dumps(with_settings(sample, {"tradedews": True})), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    jobs = () if command[0] == "explain" else ("--jobs", "1")
    status = main([*command, "--history", str(path), *jobs], out, err)
    assert status == 1 and "(/school/settings/tradedews)" in err.getvalue() and "traded_ews" in err.getvalue()
    assert out.getvalue() == ""


def test_diff_warns_for_the_new_policy_only(sample, tmp_path) -> None:
    path = tmp_path / "h.json"
    path.write_text(json.dumps(sample), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    assert main(["diff", "--old", "england", "--new", "halton", "--as-of", "2024-02-09", "--history", str(path),
                 "--jobs", "1"], out, err) == 0
    assert err.getvalue() == ""  # england lacks halton's actions and settings: not the history's fault
    assert main(["diff", "--old", "halton", "--new", "england", "--as-of", "2024-02-09", "--history", str(path),
                 "--jobs", "1"], out, err) == 0
    assert "policy 'england' declares no school settings" in err.getvalue()
