"""Reading histories from JSON and CSV: good rows kept, every bad row located and reported."""

from __future__ import annotations

import copy
import datetime as dt
import json
import tempfile
from pathlib import Path

import pytest
from conftest import EXPECTED_CATEGORY, codes_in_force, table_of
from hypothesis import given, settings
from hypothesis import strategies as st

from attendance_rules.exceptions import InputError, Problem
from attendance_rules.registers.history import EVENT_FIELDS, Mark
from attendance_rules.registers.readers import load_history, read_history

D = dt.date

DOC = {
    "school": {"id": "S1", "name": "Test Academy", "settings": {"traded_ews": True}},
    "pupils": [
        {
            "id": "P1",
            "date_of_birth": "2012-05-01",
            "year_group": 7,
            "flags": ["social_worker", "ehcp"],
            "marks": [
                {"date": "2024-01-08", "session": "AM", "code": "/"},
                {"date": "2024-01-08", "session": "PM", "code": "L", "minutes_late": 12},
                {"date": "2024-01-09", "session": "AM", "code": "N"},
                {"date": "2024-01-09", "session": "PM", "code": "H"},
                {"date": "2024-09-02", "session": "AM", "code": "K"},
            ],
            "events": [
                {"date": "2024-01-10", "type": "review_held", "outcome": "improved", "parent_engaged": True},
                {"date": "2024-01-09", "type": "letter_sent", "action": "first letter"},
                {"date": "2024-01-11", "type": "exclusion", "until": "2024-01-15"},
            ],
        },
        {"id": "P2", "flags": [], "marks": [{"date": "2024-01-08", "session": "AM", "code": "I"}], "events": []},
    ],
}

CSV = {
    "school.csv": "id,name,traded_ews\nS1,Test Academy,true\n",
    "pupils.csv": "pupil_id,date_of_birth,year_group,flags\nP1,2012-05-01,7,social_worker;ehcp\nP2,,,\n",
    "marks.csv": (
        "pupil_id,date,session,code,minutes_late\n"
        "P1,2024-01-08,AM,/,\n"
        "P1,2024-01-08,PM,L,12\n"
        "P1,2024-01-09,AM,N,\n"
        "P1,2024-01-09,PM,H,\n"
        "P1,2024-09-02,AM,K,\n"
        "P2,2024-01-08,AM,I,\n"
    ),
    "events.csv": (
        "pupil_id,date,type,details\n"
        "P1,2024-01-10,review_held,outcome=improved;parent_engaged=true\n"
        "P1,2024-01-09,letter_sent,action=first letter\n"
        "P1,2024-01-11,exclusion,until=2024-01-15\n"
    ),
}


def _summary(history) -> list[tuple]:
    return [
        (p.id, list(p.register.marks()), p.flags, p.events, p.date_of_birth, p.year_group)
        for p in history
    ]


def _doc(marks=(), events=()) -> dict:
    return {"pupils": [{"id": "P1", "marks": list(marks), "events": list(events)}]}


MARK = {"date": "2024-01-08", "session": "AM", "code": "/"}


# --- good input -------------------------------------------------------------------------


def test_json_loads(write_json) -> None:
    history = load_history(write_json(DOC))
    assert [p.id for p in history] == ["P1", "P2"]
    p1 = history.pupil("P1")
    assert p1.flags == {"social_worker", "ehcp"}
    assert p1.date_of_birth == D(2012, 5, 1) and p1.year_group == 7
    assert list(p1.register.marks()) == [
        Mark(date=D(2024, 1, 8), session="AM", code="/"),
        Mark(date=D(2024, 1, 8), session="PM", code="L", minutes_late=12),
        Mark(date=D(2024, 1, 9), session="AM", code="N"),
        Mark(date=D(2024, 1, 9), session="PM", code="H"),
        Mark(date=D(2024, 9, 2), session="AM", code="K"),
    ]
    # events come back oldest first, with typed details
    assert [(e.date, e.type) for e in p1.events] == [
        (D(2024, 1, 9), "letter_sent"), (D(2024, 1, 10), "review_held"), (D(2024, 1, 11), "exclusion")]
    assert p1.events_of("review_held")[0].get("parent_engaged") is True
    assert p1.events_of("exclusion")[0].get("until") == D(2024, 1, 15)
    assert history.school.id == "S1" and history.school.settings["traded_ews"] is True
    assert history.pupil("P2").register.codes and len(history.pupil("P2").register) == 1
    with pytest.raises(KeyError, match="P9"):
        history.pupil("P9")


def test_csv_loads(write_csv) -> None:
    history = load_history(write_csv(CSV))
    assert [p.id for p in history] == ["P1", "P2"]
    assert history.pupil("P1").flags == {"social_worker", "ehcp"}
    assert history.pupil("P2").flags == frozenset() and history.pupil("P2").year_group is None
    assert history.school.settings == {"traded_ews": True}


def test_json_and_csv_forms_load_to_equal_histories(write_json, write_csv) -> None:
    from_json = load_history(write_json(DOC))
    from_csv = load_history(write_csv(CSV))
    assert _summary(from_json) == _summary(from_csv)
    assert from_json.pupils == from_csv.pupils  # registers, flags and events compare equal too
    assert (from_json.school.id, from_json.school.name) == (from_csv.school.id, from_csv.school.name)
    assert from_json.digest != from_csv.digest


def test_csv_marks_alone_create_pupils(write_csv) -> None:
    history = load_history(write_csv({"marks.csv": CSV["marks.csv"]}))
    assert [p.id for p in history] == ["P1", "P2"]
    assert len(history.pupil("P1").register) == 5


def test_digest_is_stable_and_changes_with_any_byte(write_json, tmp_path: Path) -> None:
    path = write_json(DOC)
    first, again = load_history(path).digest, load_history(path).digest
    assert first == again and first.startswith("sha256:")
    copy_path = tmp_path / "elsewhere"
    copy_path.mkdir()
    (copy_path / path.name).write_bytes(path.read_bytes())
    assert load_history(copy_path / path.name).digest == first  # the bytes decide, not where they are
    data = path.read_bytes()
    changed = data.replace(b'"2024-01-08"', b'"2024-01-08" ', 1)  # one extra space: same history
    assert changed != data
    path.write_bytes(changed)
    assert load_history(path).digest != first
    assert _summary(load_history(path)) == _summary(load_history(copy_path / path.name))


# --- located problems: JSON -------------------------------------------------------------


def _only_problem(path) -> Problem:
    _, report = read_history(path)
    assert len(report.problems) == 1, [str(p) for p in report.problems]
    return report.problems[0]


JSON_ERRORS = [
    # (marks, events, pointer, message fragment, found fragment, expected fragment)
    ([{**MARK, "date": "2024-02-30"}], [], "/pupils/0/marks/0", "impossible date", "2024-02-30", "real calendar date"),
    ([{**MARK, "date": "08/01/2024"}], [], "/pupils/0/marks/0", "bad date", "08/01/2024", "YYYY-MM-DD"),
    ([MARK, {**MARK, "date": "2024-01-09", "session": "EVE"}], [], "/pupils/0/marks/1", "bad session", "EVE",
     "AM or PM"),
    ([{**MARK, "code": "A"}], [], "/pupils/0/marks/0", "unknown register code", "'A'", "valid on that date"),
    ([{**MARK, "code": 7}], [], "/pupils/0/marks/0", "unknown register code", "7", "valid on that date"),
    ([{"date": "2024-09-02", "session": "AM", "code": "J1"}, {"date": "2024-08-16", "session": "AM", "code": "K"}],
     [], "/pupils/0/marks/1", "regs2024", "'K'", "valid on that date"),
    ([{"date": "2024-06-03", "session": "PM", "code": "Y3"}], [], "/pupils/0/marks/0", "regs2024", "'Y3'",
     "valid on that date"),
    ([MARK, dict(MARK)], [], "/pupils/0/marks/1", "duplicate mark", "'/'", "/pupils/0/marks/0"),
    ([MARK, {**MARK, "code": "I"}], [], "/pupils/0/marks/1", "conflicting mark", "'I'", "/pupils/0/marks/0"),
    ([{**MARK, "minutes_late": -5}], [], "/pupils/0/marks/0", "bad minutes_late", "-5", "0 to 600"),
    ([{**MARK, "minutes_late": True}], [], "/pupils/0/marks/0", "bad minutes_late", "True", "0 to 600"),
    ([], [{"date": "2024-01-08", "type": "review_held", "outcome": "great"}], "/pupils/0/events/0",
     "bad review_held.outcome", "great", "improved | some_improvement | no_improvement"),
    ([], [{"date": "2024-01-08", "type": "review_held", "parent_engaged": "maybe"}], "/pupils/0/events/0",
     "bad review_held.parent_engaged", "maybe", "bool"),
    ([], [{"date": "2024-01-08", "type": "school_attendance_meeting", "parenting_contract": 1}],
     "/pupils/0/events/0", "bad school_attendance_meeting.parenting_contract", "1", "bool"),
    ([], [{"date": "2024-01-08", "type": "early_help_offered", "accepted": None}], "/pupils/0/events/0",
     "bad early_help_offered.accepted", "None", "bool"),
    ([], [{"date": "2024-01-08", "type": "leave_request", "decision": "maybe"}], "/pupils/0/events/0",
     "bad leave_request.decision", "maybe", "granted | refused"),
    ([], [{"date": "2024-01-08", "type": "exclusion", "until": "2024-02-30"}], "/pupils/0/events/0",
     "impossible exclusion.until", "2024-02-30", "real calendar date"),
    ([], [{"date": "2024-01-08", "type": "referral_made", "to": 5}], "/pupils/0/events/0",
     "bad referral_made.to", "5", "str"),
    ([], [{"date": "2024-13-01", "type": "letter_sent"}], "/pupils/0/events/0", "impossible date", "2024-13-01",
     "real calendar date"),
    ([], [{"date": "2024-01-08", "type": "Home Visit"}], "/pupils/0/events/0", "bad event type", "Home Visit",
     "lower_case_name"),
]


@pytest.mark.parametrize(("marks", "events", "pointer", "message", "found", "expected"), JSON_ERRORS,
                         ids=[f"{e[3]}-{i}" for i, e in enumerate(JSON_ERRORS)])
def test_json_problem_is_located(write_json, marks, events, pointer, message, found, expected) -> None:
    path = write_json(_doc(marks, events))
    problem = _only_problem(path)
    assert problem.is_error
    assert problem.location.file == str(path)
    assert problem.location.pointer == pointer
    assert message in problem.message
    assert found in problem.found
    assert expected in problem.expected
    assert pointer in str(problem) and str(path) in str(problem)
    with pytest.raises(InputError) as err:
        load_history(path)
    assert err.value.problems == (problem,)


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ('{"pupils": [\n  {"id": "P1",}\n]}\n', 2, (14, 15)),  # trailing comma (3.13 points at the comma)
        ('{"pupils": [\n  {"id": "P1"}\n]', 3, 2),  # the closing brace is missing
        ('{"pupils": [{"id": "P1", "marks": [{"date": 2024-01-08}]}]}', 1, 49),  # unquoted date: the "-" after 2024
    ],
)
def test_bad_json_names_line_and_column(write_json, text, line, column) -> None:
    path = write_json(text)
    problem = _only_problem(path)
    assert "not valid JSON" in problem.message
    columns = column if isinstance(column, tuple) else (column,)
    assert problem.location.line == line and problem.location.column in columns
    assert str(problem.location) == f"{path}:{line}:{problem.location.column}"
    assert problem.expected


@pytest.mark.parametrize("doc", [[], {"pupil": []}, {"pupils": {}}, "just text"])
def test_json_that_is_not_a_history(write_json, doc) -> None:
    problem = _only_problem(write_json(json.dumps(doc)))
    assert "list of pupils" in problem.message and problem.found and problem.expected


def test_json_pupil_level_problems(write_json) -> None:
    doc = {"pupils": [
        {"id": "P1", "marks": [MARK]},
        {"id": "P1", "marks": []},
        {"id": "", "marks": []},
        {"id": "P3", "flags": ["Social Worker"], "year_group": 20, "date_of_birth": "2012-02-30"},
        "P4",
        {"id": "P5", "marks": {"date": "2024-01-08"}, "flags": "ehcp"},
    ]}
    _, report = read_history(write_json(doc))
    got = {(p.location.pointer, p.message) for p in report.problems}
    assert got == {
        ("/pupils/1", "duplicate pupil"),
        ("/pupils/2", "missing pupil id"),
        ("/pupils/3", "bad flag name"),
        ("/pupils/3", "bad year group"),
        ("/pupils/3", "impossible date of birth"),
        ("/pupils/4", "a pupil is an object"),
        ("/pupils/5/flags", "flags must be a list"),
        ("/pupils/5/marks", "marks must be a list"),
    }


# --- located problems: CSV --------------------------------------------------------------

HEADER = "pupil_id,date,session,code,minutes_late\n"
GOOD = "P1,2024-01-08,AM,/,\n"
PUPILS = "pupil_id,flags\nP1,\n"

CSV_ERRORS = [
    # (files, file name, line, message fragment, found fragment, expected fragment)
    ({"marks.csv": HEADER + GOOD + "P1,2024-02-30,AM,/,\n"}, "marks.csv", 3, "impossible date", "2024-02-30",
     "real calendar date"),
    ({"marks.csv": HEADER + GOOD + "P1,2024-01-09,XX,/,\n"}, "marks.csv", 3, "bad session", "XX", "AM or PM"),
    ({"marks.csv": HEADER + "P1,2024-01-09,AM,A,\n" + GOOD}, "marks.csv", 2, "unknown register code", "'A'",
     "valid on that date"),
    ({"marks.csv": HEADER + GOOD + "P1,2024-08-16,AM,K,\n"}, "marks.csv", 3, "regs2024", "'K'",
     "valid on that date"),
    ({"marks.csv": HEADER + GOOD + "P1,2024-08-16,PM,C1,\n"}, "marks.csv", 3, "regs2024", "'C1'",
     "valid on that date"),
    ({"marks.csv": HEADER + GOOD + "P1,2024-01-09,AM,/,\n" + GOOD}, "marks.csv", 4, "duplicate mark", "'/'",
     "marks.csv:2"),
    ({"marks.csv": HEADER + GOOD + "P1,2024-01-08,AM,O,\n"}, "marks.csv", 3, "conflicting mark", "'O'",
     "marks.csv:2"),
    ({"marks.csv": HEADER + GOOD + "P1,2024-01-09,AM,L,late\n"}, "marks.csv", 3, "bad minutes_late", "late",
     "0 to 600"),
    ({"marks.csv": HEADER + GOOD + "P1,2024-01-09,AM,/,,extra\n"}, "marks.csv", 3, "wrong number of fields",
     "6", "5 (pupil_id,date,session,code,minutes_late)"),
    ({"marks.csv": HEADER + GOOD + "P1,2024-01-09,AM\n"}, "marks.csv", 3, "wrong number of fields", "3",
     "5 (pupil_id,date,session,code,minutes_late)"),
    ({"marks.csv": "pupil_id,date,session\n" + "P1,2024-01-08,AM\n"}, "marks.csv", 1, "lacks column(s) code",
     "pupil_id,date,session", "pupil_id,date,session,code"),
    ({"pupils.csv": PUPILS, "marks.csv": HEADER + GOOD + "P7,2024-01-08,AM,/,\n"}, "marks.csv", 3,
     "unknown pupil", "P7", "pupils file"),
    ({"marks.csv": HEADER + GOOD, "events.csv": "pupil_id,date,type,details\nP9,2024-01-08,letter_sent,\n"},
     "events.csv", 2, "unknown pupil", "P9", "pupils file"),
    ({"marks.csv": HEADER + GOOD, "events.csv": "pupil_id,date,details\nP1,2024-01-08,\n"},
     "events.csv", 1, "lacks column(s) type", "pupil_id,date,details", "pupil_id,date,type"),
    ({"marks.csv": HEADER + GOOD,
      "events.csv": "pupil_id,date,type,details\nP1,2024-01-08,letter_sent,\nP1,2024-01-09,review_held,"
                    "outcome=great\n"},
     "events.csv", 3, "bad review_held.outcome", "great", "improved | some_improvement | no_improvement"),
    ({"marks.csv": HEADER + GOOD,
      "events.csv": "pupil_id,date,type,details\nP1,2024-01-09,review_held,outcome=improved;parent_engaged=yes\n"},
     "events.csv", 2, "bad review_held.parent_engaged", "yes", "bool"),
    ({"marks.csv": HEADER + GOOD,
      "events.csv": "pupil_id,date,type,details\nP1,2024-01-09,early_help_offered,accepted=1\n"},
     "events.csv", 2, "bad early_help_offered.accepted", "1", "bool"),
    ({"marks.csv": HEADER + GOOD,
      "events.csv": "pupil_id,date,type,details\nP1,2024-01-09,review_held,improved\n"},
     "events.csv", 2, "bad event detail", "improved", "key=value"),
    ({"marks.csv": HEADER + GOOD,
      "events.csv": "pupil_id,date,type,details\nP1,2024-01-09,letter_sent,,surplus\n"},
     "events.csv", 2, "wrong number of fields", "5", "4 (pupil_id,date,type,details)"),
    ({"pupils.csv": "pupil_id,year_group\nP1,7\nP1,8\n", "marks.csv": HEADER + GOOD}, "pupils.csv", 3,
     "duplicate pupil", "P1", "each pupil id once"),
    ({"pupils.csv": "pupil_id,year_group\nP1,year 7\n", "marks.csv": HEADER + GOOD}, "pupils.csv", 2,
     "bad year group", "year 7", "-2 to 14"),
]


@pytest.mark.parametrize(("files", "name", "line", "message", "found", "expected"), CSV_ERRORS,
                         ids=[f"{e[3]}-{i}" for i, e in enumerate(CSV_ERRORS)])
def test_csv_problem_is_located(write_csv, files, name, line, message, found, expected) -> None:
    folder = write_csv(files)
    problem = _only_problem(folder)
    assert problem.is_error
    assert problem.location.file == str(folder / name)
    assert problem.location.line == line
    assert str(problem.location) == f"{folder / name}:{line}"
    assert message in problem.message
    assert found in problem.found
    assert expected in problem.expected


def test_files_that_are_not_histories(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    (tmp_path / "empty").mkdir()
    _, report = read_history([tmp_path / "notes.txt", tmp_path / "missing.json", tmp_path / "empty"])
    assert [p.message for p in report.problems] == [
        "unrecognised history file", "history file not found", "no history files in directory"]


# --- strict and lenient loading ---------------------------------------------------------


def test_strict_load_lists_every_problem(write_json) -> None:
    doc = _doc(
        marks=[MARK, {**MARK, "date": "2024-02-30"}, {**MARK, "date": "2024-01-09", "session": "Am"},
               {**MARK, "date": "2024-01-10", "code": "?"}, {**MARK, "code": "I"},
               {"date": "2024-01-11", "session": "PM", "code": "\\"}],
        events=[{"date": "2024-01-08", "type": "review_held", "outcome": "fine"},
                {"date": "2024-01-08", "type": "contact_made"}],
    )
    path = write_json(doc)
    with pytest.raises(InputError) as err:
        load_history(path)
    pointers = [p.location.pointer for p in err.value.problems]
    assert sorted(pointers) == ["/pupils/0/events/0", "/pupils/0/marks/1", "/pupils/0/marks/2",
                                "/pupils/0/marks/3", "/pupils/0/marks/4"]
    assert all(str(path) in line for line in str(err.value).splitlines())
    assert len(str(err.value).splitlines()) == 5
    assert err.value.problem == err.value.problems[0]
    assert isinstance(err.value, ValueError)

    history, report = read_history(path)  # lenient: the good rows are kept
    assert list(history.pupil("P1").register.marks()) == [
        Mark(date=D(2024, 1, 8), session="AM", code="/"),
        Mark(date=D(2024, 1, 11), session="PM", code="\\"),
    ]
    assert [e.type for e in history.pupil("P1").events] == ["contact_made"]
    assert report.read == {"pupils": 1, "marks": 6, "events": 2}
    assert report.used == {"pupils": 1, "marks": 2, "events": 1}
    assert report.reported == {"pupils": 0, "marks": 4, "events": 1}


def test_strict_csv_load_lists_problems_of_every_file(write_csv) -> None:
    folder = write_csv({
        "pupils.csv": "pupil_id,year_group\nP1,7\nP2,99\n",
        "marks.csv": HEADER + GOOD + "P2,2024-01-08,AM,A,\nP3,2024-01-08,AM,/,\nP1,2024-01-08,PM,\\,\n",
        "events.csv": ("pupil_id,date,type,details\nP1,2024-01-08,review_held,outcome=great\n"
                       "P1,2024-01-08,home_visit,\n"),
    })
    with pytest.raises(InputError) as err:
        load_history(folder)
    where = sorted((Path(p.location.file).name, p.location.line) for p in err.value.problems)
    assert where == [("events.csv", 2), ("marks.csv", 3), ("marks.csv", 4), ("pupils.csv", 3)]
    history, report = read_history(folder)
    assert report.read == {"pupils": 2, "marks": 4, "events": 2}
    assert report.used == {"pupils": 2, "marks": 2, "events": 1}
    assert len(history.pupil("P1").register) == 2 and len(history.pupil("P2").register) == 0


def _rows_reported(report, kind: str) -> set:
    """The distinct rows of ``kind`` that problems point at (JSON pointer or CSV line)."""
    out = set()
    for p in report.problems:
        if p.location.pointer and f"/{kind}/" in p.location.pointer:
            out.add(p.location.pointer)
        elif Path(p.location.file).name == f"{kind}.csv" and p.location.line > 1:
            out.add(p.location.line)
    return out


def test_tally_read_equals_used_plus_reported(write_json, write_csv) -> None:
    doc = copy.deepcopy(DOC)
    doc["pupils"][0]["marks"] += [{**MARK, "code": "I"}, {**MARK, "date": "2024-9-02"}, ["not", "a", "mark"]]
    doc["pupils"][1]["events"] += [{"date": "2024-01-08", "type": "leave_request", "decision": "pending"}]
    _, report = read_history(write_json(doc))
    for kind in ("marks", "events"):
        assert report.read[kind] == report.used[kind] + report.reported[kind]
        assert len(_rows_reported(report, kind)) == report.reported[kind]
    assert report.reported == {"pupils": 0, "marks": 3, "events": 1}
    assert report.used["marks"] == 6

    files = dict(CSV)
    files["marks.csv"] += "P1,2024-01-08,AM,I,\nP2,2024-01-08,PM,/,,x\nP2,2024-01-09\n"
    files["events.csv"] += "P2,2024-01-08,leave_request,decision=pending\n"
    _, report = read_history(write_csv(files))
    for kind in ("marks", "events"):
        assert report.read[kind] == report.used[kind] + report.reported[kind]
        assert len(_rows_reported(report, kind)) == report.reported[kind]
    assert report.reported == {"pupils": 0, "marks": 3, "events": 1}


# --- property: corrupted CSV marks are each reported, the rest used ----------------------

START = D(2024, 7, 8)  # spans the 19 August 2024 change of code tables
CORRUPTIONS = ("impossible_date", "bad_date", "session", "unknown_code", "other_table", "late", "extra_field",
               "missing_field", "no_pupil", "repeat_first")


def _valid_codes(day: dt.date) -> list[str]:
    return codes_in_force(day)


@st.composite
def marks_and_corruptions(draw):
    keys = st.tuples(st.sampled_from(["P1", "P2", "P3"]), st.integers(0, 89), st.sampled_from(["AM", "PM"]))
    slots = draw(st.lists(keys, min_size=1, max_size=40, unique=True))
    rows = []
    for pupil, offset, session in slots:
        day = START + dt.timedelta(days=offset)
        rows.append([pupil, day.isoformat(), session, draw(st.sampled_from(_valid_codes(day))), ""])
    bad = draw(st.dictionaries(st.integers(1, max(1, len(rows) - 1)), st.sampled_from(CORRUPTIONS),
                               max_size=len(rows) - 1)) if len(rows) > 1 else {}
    return rows, bad


def _corrupt(row: list[str], kind: str, first: list[str]) -> list[str]:
    pupil, day, session, code, late = row
    other = {"regs2006": "K", "regs2024": "H"}[table_of(dt.date.fromisoformat(day))]
    return {
        "impossible_date": [pupil, day[:4] + "-02-30", session, code, late],
        "bad_date": [pupil, day.replace("-", "/"), session, code, late],
        "session": [pupil, day, "MID", code, late],
        "unknown_code": [pupil, day, session, "A", late],
        "other_table": [pupil, day, session, other, late],
        "late": [pupil, day, session, code, "-1"],
        "extra_field": [pupil, day, session, code, late, "surplus"],
        "missing_field": [pupil, day, session],
        "no_pupil": ["", day, session, code, late],
        "repeat_first": first[:3] + [code, late],
    }[kind]


@settings(max_examples=150, deadline=None)
@given(marks_and_corruptions())
def test_every_corrupted_csv_row_is_reported_with_its_line(case) -> None:
    rows, bad = case
    lines = [",".join(_corrupt(row, bad[i], rows[0]) if i in bad else row) for i, row in enumerate(rows)]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "marks.csv"
        path.write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
        # strict codes: a 2006 code after the switch ("other_table") is refused, as before
        # withdrawn codes were accepted (tests/test_withdrawn_codes.py has the lenient reading)
        history, report = read_history(path, strict_codes=True)
    assert report.read["marks"] == len(rows)
    assert report.used["marks"] == len(rows) - len(bad)
    assert report.read["marks"] == report.used["marks"] + report.reported["marks"]
    # each corrupted row is reported at its own CSV line (the header is line 1), and no other row
    assert {p.location.line for p in report.problems} == {i + 2 for i in bad}
    assert all(p.location.file == str(path) and (p.found or p.expected) for p in report.problems)
    kept = sorted((pupil, dt.date.fromisoformat(day), session, code)
                  for i, (pupil, day, session, code, _) in enumerate(rows) if i not in bad)
    loaded = sorted((p.id, m.date, m.session, m.code) for p in history for m in p.register.marks())
    assert loaded == kept


@settings(max_examples=100, deadline=None)
@given(marks_and_corruptions(), st.randoms(use_true_random=False))
def test_json_and_csv_of_random_marks_agree(case, rnd) -> None:
    rows, _ = case
    doc = {"pupils": []}
    for pupil in sorted({r[0] for r in rows}):
        marks = [{"date": d, "session": s, "code": c} for p, d, s, c, _ in rows if p == pupil]
        rnd.shuffle(marks)
        doc["pupils"].append({"id": pupil, "marks": marks})
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "history.json").write_text(json.dumps(doc), encoding="utf-8")
        (Path(folder) / "csv").mkdir()
        (Path(folder) / "csv" / "marks.csv").write_text(HEADER + "".join(",".join(r) + "\n" for r in rows),
                                                        encoding="utf-8")
        from_json = load_history(Path(folder) / "history.json")
        from_csv = load_history(Path(folder) / "csv")
    assert _summary(from_json) == _summary(from_csv)


# --- the JSON Schema of the history format ----------------------------------------------

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "history.schema.json"
SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sample" / "history.json"


@pytest.fixture(scope="module")
def validator():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def _with_pupil(**changes) -> dict:
    doc = copy.deepcopy(DOC)
    doc["pupils"][0].update(changes)
    return doc


def _with_mark(**changes) -> dict:
    return _with_pupil(marks=[{**MARK, **changes}])


def _with_event(event: dict) -> dict:
    return _with_pupil(events=[{"date": "2024-01-08", **event}])


def test_schema_identity(validator) -> None:
    assert validator.schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert validator.schema["$id"].endswith("/history.schema.json")


def test_valid_histories_validate(validator) -> None:
    assert list(validator.iter_errors(DOC)) == []
    assert list(validator.iter_errors({"pupils": []})) == []
    # another type's fields are the policy's to declare; their values are scalars (issue 12: lists refused)
    assert list(validator.iter_errors(_with_event({"type": "custom_step", "anything": "x", "n": 2}))) == []
    assert list(validator.iter_errors(_with_pupil(date_of_birth=None, year_group=None))) == []
    assert list(validator.iter_errors(_with_mark(code="L", minutes_late=0))) == []


def test_the_sample_validates(validator) -> None:
    if not SAMPLE.is_file():
        pytest.skip("examples/sample/history.json is not there yet")
    doc = json.loads(SAMPLE.read_text(encoding="utf-8"))
    # every pupil and event, but (for speed) only each pupil's first 10 marks and then one mark
    # of every distinct shape (keys, session, code, minutes late) in the whole file
    shapes = {}
    for pupil in doc["pupils"]:
        for mark in pupil.get("marks", [])[10:]:
            shapes.setdefault((tuple(sorted(mark)), mark.get("session"), mark.get("code"),
                               mark.get("minutes_late")), mark)
        pupil["marks"] = pupil.get("marks", [])[:10]
    doc["pupils"].append({"id": "shapes", "marks": list(shapes.values())})
    errors = list(validator.iter_errors(doc))
    assert errors == [], [e.message for e in errors[:5]]


# documents both the schema and the reader refuse
INVALID = {
    "no pupils": {"school": {"id": "S1"}},
    "pupils not a list": {"pupils": {"P1": {}}},
    "pupil without id": {"pupils": [{"marks": []}]},
    "blank pupil id": {"pupils": [{"id": "  "}]},
    "bad session": _with_mark(session="EVE"),
    "lower-case session": _with_mark(session="am"),
    "unknown code": _with_mark(code="A"),
    "code not a string": _with_mark(code=1),
    "mark without code": {"pupils": [{"id": "P1", "marks": [{"date": "2024-01-08", "session": "AM"}]}]},
    "date not ISO": _with_mark(date="08/01/2024"),
    "impossible date": _with_mark(date="2024-02-30"),
    "negative minutes late": _with_mark(minutes_late=-1),
    "year group 20": _with_pupil(year_group=20),
    "flag not a name": _with_pupil(flags=["Social Worker"]),
    "flags not a list": _with_pupil(flags="ehcp"),
    "marks not a list": _with_pupil(marks={"date": "2024-01-08"}),
    "event without date": _with_pupil(events=[{"type": "letter_sent"}]),
    "event type not a name": _with_event({"type": "Home Visit"}),
    "review outcome": _with_event({"type": "review_held", "outcome": "great"}),
    "parent_engaged not boolean": _with_event({"type": "review_held", "parent_engaged": "perhaps"}),
    "accepted not boolean": _with_event({"type": "early_help_offered", "accepted": 1}),
    "parenting_contract not boolean": _with_event({"type": "school_attendance_meeting", "parenting_contract": None}),
    "leave decision": _with_event({"type": "leave_request", "decision": "pending"}),
    "exclusion until": _with_event({"type": "exclusion", "until": "2024-02-30"}),
    "referral to a number": _with_event({"type": "referral_made", "to": 3}),
}


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_histories_fail_the_schema_and_the_reader(validator, write_json, name: str) -> None:
    doc = INVALID[name]
    assert list(validator.iter_errors(doc)), f"the schema accepts: {name}"
    _, report = read_history(write_json(doc))
    assert report.problems, f"the reader accepts: {name}"


@pytest.mark.parametrize("doc", [
    {"pupils": [], "extra": 1},
    _with_mark(minutes=5),  # a misspelt key of a mark
    _with_pupil(year=7),  # a misspelt key of a pupil
])
def test_the_schema_refuses_unknown_keys(validator, doc) -> None:
    assert list(validator.iter_errors(doc))


def test_schema_event_rules_follow_event_fields(validator) -> None:
    good = {"bool": [True, False], "date": ["2024-03-01"], "str": ["anything"]}
    bad = {"bool": ["true", 1, None], "date": ["01/03/2024", 20240301], "str": [1, True, None]}
    rules = {r["if"]["properties"]["type"]["const"] for r in validator.schema["$defs"]["event"]["allOf"]}
    assert rules == set(EVENT_FIELDS)
    for kind, fields in EVENT_FIELDS.items():
        assert not list(validator.iter_errors(_with_event({"type": kind}))), kind
        for field, spec in fields.items():
            ok = list(spec) if isinstance(spec, tuple) else good[spec]
            wrong = ["other", 1] if isinstance(spec, tuple) else bad[spec]
            for value in ok:
                assert not list(validator.iter_errors(_with_event({"type": kind, field: value}))), (kind, field, value)
            for value in wrong:
                assert list(validator.iter_errors(_with_event({"type": kind, field: value}))), (kind, field, value)


def test_schema_codes_are_the_codes_of_both_tables(validator) -> None:
    codes = validator.schema["$defs"]["mark"]["properties"]["code"]["enum"]
    assert len(codes) == len(set(codes))
    assert set(codes) == {c for table in EXPECTED_CATEGORY.values() for c in table}


def test_every_schema_property_is_described(validator) -> None:
    missing = []

    def walk(node, path):
        if isinstance(node, dict):
            for name, sub in node.get("properties", {}).items():
                if "description" not in sub:
                    missing.append(f"{path}/properties/{name}")
            for key, sub in node.items():
                if key != "if":  # the conditions of the event rules declare no properties
                    walk(sub, f"{path}/{key}")
        elif isinstance(node, list):
            for i, sub in enumerate(node):
                walk(sub, f"{path}/{i}")

    walk(validator.schema, "#")
    assert missing == []


# --- spreadsheet exports and numbers that are not what they seem -------------------------


@pytest.mark.parametrize("engine", ["stdlib", "pyarrow"])
def test_a_utf8_byte_order_mark_is_not_part_of_the_header(write_csv, engine: str) -> None:
    """Excel saves CSV as UTF-8 with a byte order mark: the first column is still ``pupil_id``."""
    if engine == "pyarrow":
        pytest.importorskip("pyarrow", reason="needs the 'parquet' extra")
    plain = read_history([write_csv(CSV)], engine=engine)
    marked = read_history([write_csv({name: "\ufeff" + text for name, text in CSV.items()})], engine=engine)
    assert not marked[1].problems
    assert _summary(marked[0]) == _summary(plain[0]) and marked[0].school == plain[0].school


def test_a_second_school_row_is_an_error(write_csv) -> None:
    folder = write_csv({**CSV, "school.csv": "id,name,traded_ews\nS1,Test Academy,true\nS2,Other,false\n"})
    with pytest.raises(InputError) as error:
        load_history([folder])
    problem = error.value.problems[0]
    assert problem.message == "school.csv has more than one school" and problem.location.line == 3
    assert problem.found == "school 'S2'"


@pytest.mark.parametrize("late, ok", [(1.5, False), (1e999, False), (2.0, True), (12, True)])
def test_minutes_late_must_be_a_whole_number(write_json, late: float, ok: bool) -> None:
    """1.5 is never truncated to 1; 1e999 (infinity in JSON) is a located problem, not an overflow."""
    doc = copy.deepcopy(DOC)
    doc["pupils"][0]["marks"][1]["minutes_late"] = late
    history, report = read_history([write_json(json.dumps(doc))])
    if ok:
        assert not report.problems and history.pupil("P1").register.minutes_late == {1: int(late)}
    else:
        # json.dumps writes infinity as Infinity, which the decoder refuses at the number itself
        assert [p.message for p in report.problems] in (["bad minutes_late"], ["bad number: Infinity is not a JSON number"])
        assert report.problems[0].location.pointer.startswith("/pupils/0/marks/1")
