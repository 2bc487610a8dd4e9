"""Issue 12 (history side): nothing in a history is silently ignored, and no history or
calendar file gives a traceback. Each example of the issue is a test here."""

from __future__ import annotations

import copy
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attendance_rules.cli import main
from attendance_rules.exceptions import InputError, Problem
from attendance_rules.registers.calendar import load_calendar
from attendance_rules.registers.history import EVENT_FIELDS
from attendance_rules.registers.readers import (
    load_history,
    read_history,
    read_history_data,
)

SAMPLE_CSV = Path(__file__).resolve().parent.parent / "examples" / "sample" / "csv"

MARK = {"date": "2024-01-08", "session": "AM", "code": "/"}
DOC: dict[str, Any] = {
    "school": {"id": "S1", "name": "Test Academy", "settings": {"traded_ews": True}},
    "pupils": [
        {"id": "P1", "flags": ["social_worker"], "year_group": 7,
         "marks": [MARK, {"date": "2024-01-08", "session": "PM", "code": "L", "minutes_late": 5}],
         "events": [{"date": "2024-01-09", "type": "letter_sent", "action": "stage1_letter"}]},
    ],
}
CSV = {
    "school.csv": "id,name,traded_ews\nS1,Test Academy,true\n",
    "pupils.csv": "pupil_id,date_of_birth,year_group,flags\nP1,2012-05-01,7,social_worker\n",
    "marks.csv": "pupil_id,date,session,code,minutes_late\nP1,2024-01-08,AM,/,\nP1,2024-01-08,PM,L,5\n",
    "events.csv": "pupil_id,date,type,details\nP1,2024-01-09,letter_sent,action=stage1_letter\n",
}


def write_json(tmp_path: Path, doc: Any, name: str = "h.json") -> Path:
    """``doc`` written as a history file (text is written as it is)."""
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return path


def write_csv(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    """A CSV history folder of ``files``."""
    folder = tmp_path / "csv"
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    return folder


def with_pupil(**changes: Any) -> dict[str, Any]:
    """DOC with its pupil's keys changed (a value of None removes the key)."""
    doc = copy.deepcopy(DOC)
    for key, value in changes.items():
        doc["pupils"][0].pop(key, None)
        if value is not None:
            doc["pupils"][0][key] = value
    return doc


def errors(path: Path, **kwargs: Any) -> list[Problem]:
    """The errors of loading ``path`` strictly (it must fail)."""
    with pytest.raises(InputError) as caught:
        load_history(path, **kwargs)
    assert all(p.is_error for p in caught.value.problems)
    return list(caught.value.problems)


def accounted(report: Any) -> bool:
    """Rows read = rows used + rows reported, for every kind of row."""
    return all(report.read[k] == report.used.get(k, 0) + report.reported[k] for k in report.read)


# --- 1. unknown keys in a JSON history ---------------------------------------------------


@pytest.mark.parametrize(("doc", "pointer", "key", "nearest"), [
    (with_pupil(Marks=DOC["pupils"][0]["marks"], marks=None), "/pupils/0/Marks", "Marks", "marks"),
    (with_pupil(flag=["social_worker"], flags=None), "/pupils/0/flag", "flag", "flags"),
    ({**DOC, "pupil": []}, "/pupil", "pupil", "pupils"),
    ({**DOC, "school": {**DOC["school"], "setings": {}}}, "/school/setings", "setings", "settings"),
    (with_pupil(marks=[{**MARK, "sesion": "AM"}]), "/pupils/0/marks/0/sesion", "sesion", "session"),
    (with_pupil(marks=[{**MARK, "x-note": 1}]), "/pupils/0/marks/0/x-note", "x-note", ""),
])
def test_an_unknown_key_is_a_located_error_naming_the_nearest(tmp_path, doc, pointer, key, nearest) -> None:
    """Before: a pupil key "Marks" gave that pupil no marks, "flag" no flags, exit 0."""
    found = [p for p in errors(write_json(tmp_path, doc)) if p.location.pointer == pointer]
    assert len(found) == 1, found
    assert repr(key) in found[0].message and found[0].found == repr(key)
    if nearest:
        assert f"did you mean {nearest!r}" in found[0].message and found[0].example == nearest


def test_extension_keys_are_allowed_where_the_schema_allows_them(tmp_path) -> None:
    doc = {**with_pupil(**{"x-upn": "A123"}), "x-export": "mis", "school": {**DOC["school"], "x-urn": 1}}
    history = load_history(write_json(tmp_path, doc))
    assert len(history.pupil("P1").register) == 2 and not history.warnings


@pytest.mark.parametrize(("event", "field", "nearest"), [
    ({"date": "2024-01-09", "type": "letter_sent", "actoin": "stage1_letter"}, "actoin", "action"),
    ({"date": "2024-01-09", "type": "review_held", "outcome": "improved", "parent_engagd": True},
     "parent_engagd", "parent_engaged"),
    ({"date": "2024-01-09", "type": "home_visit", "pupil_id": "P1"}, "pupil_id", ""),
])
def test_an_unknown_field_of_a_standard_event_is_a_located_error(tmp_path, event, field, nearest) -> None:
    path = write_json(tmp_path, with_pupil(events=[event]))
    _, report = read_history([path])
    assert [p.location.pointer for p in report.problems] == ["/pupils/0/events/0"]
    assert repr(field) in report.problems[0].message and (not nearest or nearest in report.problems[0].message)
    assert report.used["events"] == 0 and accounted(report)


def test_unknown_keys_fail_before_and_not_after(tmp_path) -> None:
    """The regression: without the check, "Marks" silently loads a pupil with no marks."""
    good = load_history(write_json(tmp_path, DOC, "good.json"))
    assert len(good.pupil("P1").register) == 2 and good.pupil("P1").flags == {"social_worker"}
    errors(write_json(tmp_path, with_pupil(Marks=DOC["pupils"][0]["marks"], marks=None), "bad.json"))


# --- 2. CSV folders: unknown columns, optional files and columns --------------------------


def test_a_missing_pupils_file_is_said_once(tmp_path) -> None:
    files = {k: v for k, v in CSV.items() if k != "pupils.csv"}
    history, report = read_history([write_csv(tmp_path, files)])
    assert not report.problems
    assert [w.message.split(":")[0] for w in report.warnings] == ["no pupils.csv"]
    assert report.warnings[0].severity == "warning" and history.warnings == report.warnings


@pytest.mark.parametrize("engine", ["stdlib", "pyarrow"])
def test_an_unknown_or_missing_column_is_a_located_warning(tmp_path, engine) -> None:
    if engine == "pyarrow":
        pytest.importorskip("pyarrow", reason="needs the 'parquet' extra")
    files = {**CSV, "pupils.csv": "pupil_id,date_of_birth,year_group,flag\nP1,2012-05-01,7,social_worker\n",
             "marks.csv": "pupil_id,date,session,code,minutes_lat\nP1,2024-01-08,AM,/,\n"}
    history, report = read_history([write_csv(tmp_path, files)], engine=engine)
    assert not report.problems and history.pupil("P1").flags == frozenset()
    got = {(Path(w.location.file).name, w.location.pointer, w.message.split(":")[0]) for w in report.warnings}
    assert ("pupils.csv", "column 4", "pupils.csv") in got  # the unknown column 'flag'
    assert any("'flag'" in w.message and "did you mean 'flags'" in w.message for w in report.warnings)
    assert any("has no flags column" in w.message for w in report.warnings)
    assert any("'minutes_lat'" in w.message and "did you mean 'minutes_late'" in w.message for w in report.warnings)
    assert all(w.location.line == 1 and w.severity == "warning" for w in report.warnings)


def test_the_sample_has_no_warnings() -> None:
    _, report = read_history([SAMPLE_CSV], engine="stdlib")
    assert report.warnings == () and report.problems == ()


def test_warnings_reach_stderr_of_the_command_line(tmp_path) -> None:
    files = {k: v for k, v in CSV.items() if k != "events.csv"}
    folder = write_csv(tmp_path, files)
    out, err = io.StringIO(), io.StringIO()
    assert main(["measures", "--history", str(folder), "--as-of", "2024-01-10"], out=out, err=err) == 0
    said = (f"{folder}: warning: no events.csv: no pupil has a case event: no letter, meeting or notice is "
            "recorded as done; expected events.csv (or events.parquet) beside the others")
    assert err.getvalue().splitlines() == [said]
    done = subprocess.run([sys.executable, "-m", "attendance_rules", "measures", "--history", str(folder),
                           "--as-of", "2024-01-10"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "warning: no events.csv" in done.stderr and "Traceback" not in done.stderr


# --- 3. event types ----------------------------------------------------------------------


def test_an_unknown_event_type_is_a_warning_naming_the_nearest_standard_type(tmp_path) -> None:
    events = [{"date": "2024-01-09", "type": "letter_sentt", "action": "stage1_letter"},
              {"date": "2024-01-10", "type": "letter_sentt", "action": "stage2_letter"}]
    history, report = read_history([write_json(tmp_path, with_pupil(events=events))])
    assert not report.problems and len(history.pupil("P1").events) == 2
    (warning,) = report.warnings
    assert "'letter_sentt'" in warning.message and "did you mean 'letter_sent'" in warning.message
    assert warning.location.pointer == "/pupils/0/events/0" and "2 such events" in warning.message


def test_declared_event_types_are_checked_at_load(tmp_path) -> None:
    events = [{"date": "2024-01-09", "type": "ews_visit", "officer": "A"},
              {"date": "2024-01-09", "type": "ews_visit", "oficer": "A"}]
    _, report = read_history([write_json(tmp_path, with_pupil(events=events))],
                             event_types={"ews_visit": {"officer": "str"}})
    assert [p.location.pointer for p in report.problems] == ["/pupils/0/events/1"] and not report.warnings


# --- 4. numbers are what the schema says ---------------------------------------------------


@pytest.mark.parametrize(("key", "text", "pointer"), [
    ("year_group", "1.5", "/pupils/0"),
    ("year_group", "true", "/pupils/0"),
    ("year_group", '"7"', "/pupils/0/year_group"),
    ("year_group", "1e999", "/pupils/0/year_group"),
    ("year_group", "NaN", "/pupils/0/year_group"),
    ("year_group", "-Infinity", "/pupils/0/year_group"),
    ("year_group", "1" * 4301, "/pupils/0/year_group"),
])
def test_a_pupil_number_that_is_not_a_whole_number_is_located(tmp_path, key, text, pointer) -> None:
    body = json.dumps(with_pupil(**{key: 0})).replace(f'"{key}": 0', f'"{key}": {text}')
    found = errors(write_json(tmp_path, body))
    assert [p.location.pointer for p in found] == [pointer], found


@pytest.mark.parametrize(("text", "ok"), [("2.0", True), ("12", True), ("1.5", False), ("1e999", False),
                                          ('"12"', False), ("9" * 5000, False), ("Infinity", False)])
def test_minutes_late_is_a_whole_number_of_minutes(tmp_path, text, ok) -> None:
    body = json.dumps(DOC).replace('"minutes_late": 5', f'"minutes_late": {text}')
    history, report = read_history([write_json(tmp_path, body)])
    assert accounted(report)
    if ok:
        assert not report.problems and history.pupil("P1").register.minutes_late == {1: int(float(text.strip('"')))}
    else:
        assert len(report.problems) == 1 and report.problems[0].location.pointer.startswith("/pupils/0/marks/1")


def test_settings_keep_their_json_types_and_refuse_what_is_not_a_value(tmp_path) -> None:
    settings = {"traded_ews": "yes", "ews_days": 2, "rate": 0.5, "none": None, "flag": False}
    history = load_history(write_json(tmp_path, {**DOC, "school": {"id": "S1", "settings": settings}}))
    assert dict(history.school.settings) == settings and history.school.settings["traded_ews"] == "yes"
    for bad, pointer in (('{"a": [1]}', "/school/settings/a"), ('{"a": NaN}', "/school/settings/a")):
        body = json.dumps(DOC).replace('{"traded_ews": true}', bad)
        assert [p.location.pointer for p in errors(write_json(tmp_path, body))] == [pointer]


def test_csv_school_values_are_parsed_as_before(tmp_path) -> None:
    history = load_history(write_csv(tmp_path, {**CSV, "school.csv": "id,name,traded_ews,days\nS1,T,TRUE,3\n"}))
    assert dict(history.school.settings) == {"traded_ews": True, "days": "3"}


# --- 5. parse limits ---------------------------------------------------------------------


@pytest.mark.parametrize("body", ["[" * 1000 + "]" * 1000, '{"pupils": [{"id": "P1", "x-a": ' + "{\"a\": " * 3000
                                  + "1" + "}" * 3000 + "}]}"])
def test_deep_json_is_a_located_error(tmp_path, body) -> None:
    (problem,) = errors(write_json(tmp_path, body))
    assert "nested too deeply" in problem.message and problem.location.line == 1 and problem.location.column > 0


def test_nesting_the_format_does_not_have_is_refused_without_recursion(tmp_path) -> None:
    deep = "[" * 150 + "]" * 150  # under the nesting limit (200): the reader refuses it as a value
    body = json.dumps(with_pupil(events=[{"date": "2024-01-09", "type": "home_visit", "x-a": 0}]))
    found = errors(write_json(tmp_path, body.replace('"x-a": 0', f'"x-a": {deep}')))
    assert [p.location.pointer for p in found] == ["/pupils/0/events/0"] and "a list of 1" in found[0].found


# --- 6. bytes and fields CSV cannot hold ---------------------------------------------------


@pytest.mark.parametrize("engine", ["stdlib", "pyarrow"])
@pytest.mark.parametrize("name", ["marks.csv", "pupils.csv", "events.csv", "school.csv"])
def test_a_byte_that_is_not_utf8_is_located(tmp_path, engine, name) -> None:
    if engine == "pyarrow":
        pytest.importorskip("pyarrow", reason="needs the 'parquet' extra")
    text = CSV[name].encode()
    line_start = text.index(b"\n") + 1
    files = {**CSV, name: text[:line_start + 1] + b"\xff" + text[line_start + 1:]}
    found = errors(write_csv(tmp_path, files), engine=engine)
    (problem,) = [p for p in found if Path(p.location.file).name == name]  # a lost pupil is also an error
    assert "not UTF-8" in problem.message and Path(problem.location.file).name == name and problem.location.line == 2
    assert problem.location.column == 2 and f"byte offset {line_start + 1}" in problem.found


@pytest.mark.parametrize("name", ["marks.csv", "events.csv"])
def test_a_csv_field_over_the_csv_module_limit_is_located(tmp_path, name) -> None:
    files = {**CSV, name: CSV[name] + "P1," + "x" * 140_000 + "\n"}
    _, report = read_history([write_csv(tmp_path, files)], engine="stdlib")
    (problem,) = report.problems
    assert Path(problem.location.file).name == name and problem.location.line == CSV[name].count("\n") + 1
    assert "field larger than field limit" in problem.message and accounted(report)


def test_a_calendar_file_with_a_bad_byte_or_field_is_located(tmp_path) -> None:
    path = tmp_path / "terms.csv"
    path.write_bytes(b"name,start,end\nautumn \xe9,2023-09-04,2023-10-27\n")
    with pytest.raises(InputError) as caught:
        load_calendar(path)
    assert (caught.value.problem.location.line, caught.value.problem.location.column) == (2, 8)
    path.write_text("name,start,end\n" + "x" * 140_000 + ",2023-09-04,2023-10-27\n")
    with pytest.raises(InputError) as caught:
        load_calendar(path)
    assert caught.value.problem.location.line == 2 and "field" in caught.value.problem.message


# --- 8. row accounting, on generated mutations of a good history ---------------------------

KEYS = st.sampled_from(["Marks", "flag", "x-a", "marks", "date", "sesion", "code", "type", "action", "outcome"])
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                   st.text(max_size=5), st.lists(st.integers(), max_size=2))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(key=KEYS, value=VALUES, where=st.sampled_from(["pupil", "mark", "event", "school", "settings"]))
def test_mutated_histories_are_accounted_and_never_crash(key, value, where) -> None:
    """Rows read = used + reported, every problem is located, whatever key or value is added."""
    doc = copy.deepcopy(DOC)
    target = {"pupil": doc["pupils"][0], "mark": doc["pupils"][0]["marks"][0],
              "event": doc["pupils"][0]["events"][0], "school": doc["school"],
              "settings": doc["school"]["settings"]}[where]
    target[key] = value
    history, report = read_history_data(json.loads(json.dumps(doc)), "h.json")
    assert accounted(report)
    assert all(p.location.file == "h.json" for p in report.problems + report.warnings)
    assert set(EVENT_FIELDS) >= {e.type for p in history for e in p.events} or report.warnings


# --- the schema says what the reader does --------------------------------------------------

SCHEMA = Path(__file__).resolve().parent.parent / "schemas" / "history.schema.json"


@pytest.mark.parametrize(("change", "ok"), [
    (with_pupil(events=[{"date": "2024-01-09", "type": "letter_sent", "actoin": "x"}]), False),
    (with_pupil(events=[{"date": "2024-01-09", "type": "letter_sent", "action": "x", "x-by": "A"}]), True),
    (with_pupil(events=[{"date": "2024-01-09", "type": "home_visit", "note": "x"}]), False),
    (with_pupil(events=[{"date": "2024-01-09", "type": "ews_visit", "note": "x"}]), True),  # the policy declares it
    (with_pupil(events=[{"date": "2024-01-09", "type": "ews_visit", "note": ["x"]}]), False),
    ({**DOC, "school": {"settings": {"traded_ews": {"a": 1}}}}, False),
    ({**DOC, "school": {"settings": {"traded_ews": "yes"}}}, True),  # typed by the policy, not the schema
])
def test_the_schema_and_the_reader_agree_on_fields_and_values(tmp_path, change, ok) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    _, report = read_history([write_json(tmp_path, change)])
    assert (not list(validator.iter_errors(change))) is ok
    assert (not report.problems) is ok


def test_bad_numbers_are_reported_in_document_order(tmp_path) -> None:
    pupils = [{"id": f"P{i}", "year_group": "YG" if i in (2, 10) else 5, "marks": []} for i in range(12)]
    text = json.dumps({"pupils": pupils}).replace('"YG"', "1e999")
    _, report = read_history([write_json(tmp_path, text)])
    assert [p.location.pointer for p in report.problems] == ["/pupils/2/year_group", "/pupils/10/year_group"]
