"""Register codes against DfE's own statistics (issue 13, item 17).

Real registers still carry withdrawn codes (DfE's daily data: H and J in 2024/25; F, H
and Y in 2025/26) and DfE counts them (H, F authorised; J approved educational activity;
Y not a possible session). A history with one is read, each such code counted as DfE
counts it, with one located warning per file and code; ``strict_codes``
(``--strict-codes``) refuses each such mark as a located error. The 2006 table changed
within its period: F (agreed extended family holiday) is authorised until its withdrawal
(1 September 2013), D counted as attending (a possible session) until September 2011.
Every reader (JSON, CSV by the csv module and by pyarrow, Parquet) behaves the same.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pytest
from conftest import category_of, codes_in_force, withdrawn_on
from hypothesis import given, settings
from hypothesis import strategies as st

from attendance_rules.cli import main
from attendance_rules.exceptions import InputError
from attendance_rules.registers.codes import CATEGORIES, default_codebook
from attendance_rules.registers.readers import load_history, read_history

D = dt.date
BOOK = default_codebook()

# (code, date, the category DfE counts it as, whether it is a withdrawn code then)
BOUNDARIES = [
    ("H", D(2024, 8, 16), "authorised", False),  # last school day of the 2006 table
    ("H", D(2024, 9, 2), "authorised", True),  # 2024/25: DfE's data holds 5,418 H sessions
    ("J", D(2024, 8, 16), "approved_activity", False),
    ("J", D(2024, 9, 2), "approved_activity", True),  # 2024/25: 454 J sessions
    ("F", D(2025, 9, 10), "authorised", True),  # 2025/26: 336 F sessions
    ("H", D(2025, 9, 10), "authorised", True),  # 2025/26: 150 H sessions
    ("Y", D(2025, 9, 10), "not_possible", True),  # 2025/26: 582 Y sessions
    ("F", D(2013, 7, 15), "authorised", False),  # F in force: authorised absence
    ("F", D(2013, 9, 2), "authorised", True),  # withdrawn from 1 September 2013 (SI 2013/756)
    ("F", D(2014, 1, 15), "authorised", True),  # spring 2014: DfE combines F with H
    ("D", D(2011, 7, 15), "approved_activity", False),  # counted as attending until September 2011
    ("D", D(2011, 9, 5), "not_possible", False),  # from September 2011 not a possible session
]
IDS = [f"{c}-{d.isoformat()}" for c, d, _, _ in BOUNDARIES]
ENGINES = ("json", "stdlib", "pyarrow", "parquet")


def _pyarrow():
    return pytest.importorskip("pyarrow")


def _rows(code: str, day: dt.date) -> list[tuple[str, str, str, str]]:
    """P1: ``code`` both sessions of ``day``, present the next weekday; P2 present on both."""
    after = day + dt.timedelta(days=3 if day.weekday() == 4 else 1)
    return [("P1", day.isoformat(), "AM", code), ("P1", day.isoformat(), "PM", code),
            ("P1", after.isoformat(), "AM", "/"), ("P2", day.isoformat(), "AM", "/")]


def _write(folder: Path, rows: list[tuple[str, str, str, str]], engine: str) -> Path:
    """The rows as a history for ``engine``: history.json, marks.csv or marks.parquet."""
    folder.mkdir(parents=True, exist_ok=True)
    if engine == "json":
        pupils = sorted({r[0] for r in rows})
        doc = {"pupils": [{"id": p, "marks": [{"date": d, "session": s, "code": c} for q, d, s, c in rows if q == p]}
                          for p in pupils]}
        path = folder / "history.json"
        path.write_text(json.dumps(doc), encoding="utf-8")
        return path
    if engine == "parquet":
        pa = _pyarrow()
        import pyarrow.parquet as pq

        columns = ("pupil_id", "date", "session", "code")
        pq.write_table(pa.table({c: [r[k] for r in rows] for k, c in enumerate(columns)}), folder / "marks.parquet")
        return folder
    lines = ["pupil_id,date,session,code,minutes_late"] + [",".join(r) + "," for r in rows]
    (folder / "marks.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def _read(tmp_path: Path, rows: list, engine: str, strict: bool = False):
    if engine == "pyarrow":
        _pyarrow()
    path = _write(tmp_path / engine, rows, engine)
    return read_history([path], engine="pyarrow" if engine == "pyarrow" else "stdlib", strict_codes=strict)


def _withdrawn_warnings(report) -> list:
    return [w for w in report.warnings if "withdrawn register code" in w.message]


def _categories(history) -> dict[str, list[str]]:
    """Each pupil's marks as the categories their code ids stand for (the compact form)."""
    table = BOOK.category_table()
    return {p.id: [CATEGORIES[table[i]].value for i in p.register.codes] for p in history}


@pytest.mark.parametrize(("code", "day", "category", "withdrawn"), BOUNDARIES, ids=IDS)
@pytest.mark.parametrize("engine", ENGINES)
def test_a_code_is_counted_as_dfe_counts_it(tmp_path, engine, code, day, category, withdrawn) -> None:
    history, report = _read(tmp_path, _rows(code, day), engine)
    assert report.problems == ()
    assert report.read["marks"] == report.used["marks"] == 4  # a warned row is used
    assert _categories(history)["P1"] == [category, category, "present"]
    assert category_of(day, code) == category and withdrawn_on(day, code) == withdrawn  # the test's own table
    assert [m.code for m in history.pupil("P1").register.marks()] == [code, code, "/"]
    warnings = _withdrawn_warnings(report)
    assert len(warnings) == (1 if withdrawn else 0)
    if withdrawn:
        _check_warning(warnings[0], code, day, category, engine)


def _check_warning(warning, code: str, day: dt.date, category: str, engine: str) -> None:
    """One warning, at the first mark: the code, its date, its pupil, how it is counted and why."""
    words = {"authorised": "authorised absence", "approved_activity": "approved educational activity",
             "not_possible": "not a possible session"}[category]
    assert warning.severity == "warning"
    text = warning.message
    assert f"{code!r} on {day.isoformat()} (pupil P1) counted as" in text and words in text
    assert "DfE" in text and "1 more mark(s)" in text
    assert warning.found == f"{code!r} on {day.isoformat()}" and "--strict-codes" in warning.expected
    where = warning.location
    expected = {"json": ("history.json", 0, "/pupils/0/marks/0"), "stdlib": ("marks.csv", 2, ""),
                "pyarrow": ("marks.csv", 2, ""), "parquet": ("marks.parquet", 0, "row 0")}[engine]
    assert (Path(where.file).name, where.line, where.pointer) == expected


@pytest.mark.parametrize(("code", "day", "category", "withdrawn"), [b for b in BOUNDARIES if b[3]],
                         ids=[i for i, b in zip(IDS, BOUNDARIES) if b[3]])
@pytest.mark.parametrize("engine", ENGINES)
def test_strict_codes_refuse_each_withdrawn_mark_where_it_is(tmp_path, engine, code, day, category,
                                                             withdrawn) -> None:
    _, report = _read(tmp_path, _rows(code, day), engine, strict=True)
    assert report.read["marks"] == 4 and report.used["marks"] == 2 and report.reported["marks"] == 2
    assert [p.severity for p in report.problems] == ["error", "error"]
    assert _withdrawn_warnings(report) == []
    where = [(p.location.line, p.location.pointer) for p in report.problems]
    assert where == {"json": [(0, "/pupils/0/marks/0"), (0, "/pupils/0/marks/1")], "stdlib": [(2, ""), (3, "")],
                     "pyarrow": [(2, ""), (3, "")], "parquet": [(0, "row 0"), (0, "row 1")]}[engine]
    message = report.problems[0].message
    assert f"withdrawn register code {code!r} on {day.isoformat()} refused" in message and "DfE" in message
    assert report.problems[0].found == f"{code!r} on {day.isoformat()}"


@pytest.mark.parametrize(("code", "day"), [(c, d) for c, d, _, w in BOUNDARIES if w],
                         ids=[i for i, b in zip(IDS, BOUNDARIES) if b[3]])
def test_the_command_line_warns_and_strict_codes_exit_1(tmp_path, code, day) -> None:
    path = _write(tmp_path, _rows(code, day), "json")
    base = ["measures", "--history", str(path), "--as-of", (day + dt.timedelta(days=7)).isoformat()]
    out, err = io.StringIO(), io.StringIO()
    assert main(base, out=out, err=err) == 0
    assert f"{path} (/pupils/0/marks/0): warning: withdrawn register code {code!r} on {day.isoformat()}" \
        in err.getvalue()
    out, err = io.StringIO(), io.StringIO()
    assert main(base + ["--strict-codes"], out=out, err=err) == 1
    errors = [line for line in err.getvalue().splitlines() if ": error: withdrawn register code" in line]
    assert [line.split(": error:")[0] for line in errors] == [f"{path} (/pupils/0/marks/{i})" for i in (0, 1)]
    assert "Traceback" not in err.getvalue()


@pytest.mark.parametrize("command", [["evaluate", "--policy", "england", "--jobs", "1"],
                                     ["timeline", "--policy", "england", "--jobs", "1"],
                                     ["audit", "--policy", "england", "--jobs", "1"]])
def test_history_commands_take_strict_codes(tmp_path, command) -> None:
    path = _write(tmp_path, _rows("H", D(2024, 9, 2)), "json")
    dates = ["--as-of", "2024-09-10"] if command[0] == "evaluate" else \
        ["--from", "2024-09-02", "--to", "2024-09-10"]
    args = command + ["--history", str(path)] + dates
    err = io.StringIO()
    assert main(args + ["--strict-codes"], out=io.StringIO(), err=err) == 1
    assert f"{path} (/pupils/0/marks/0): error: withdrawn register code 'H' on 2024-09-02" in err.getvalue()


def test_load_history_strict_codes_raises_located_errors(tmp_path) -> None:
    path = _write(tmp_path, _rows("Y", D(2025, 9, 10)), "json")
    assert len(load_history(path).pupil("P1").register) == 3
    with pytest.raises(InputError) as caught:
        load_history(path, strict_codes=True)
    assert [p.location.pointer for p in caught.value.problems] == ["/pupils/0/marks/0", "/pupils/0/marks/1"]


def test_one_warning_per_file_and_code_with_the_count_and_latest_date(tmp_path) -> None:
    rows = _rows("H", D(2024, 9, 2)) + [("P2", "2024-09-16", "AM", "H"), ("P2", "2024-09-16", "PM", "J")]
    for engine in ENGINES:
        _, report = _read(tmp_path, rows, engine)
        warnings = _withdrawn_warnings(report)
        assert [w.found for w in warnings] == ["'H' on 2024-09-02", "'J' on 2024-09-16"], engine
        assert "2 more mark(s) of H after its withdrawal in this file, the latest on 2024-09-16" \
            in warnings[0].message
        assert "more mark" not in warnings[1].message


def test_a_withdrawn_code_has_its_own_id_whose_category_is_dfes() -> None:
    table = BOOK.category_table()
    for code, day, category, withdrawn in BOUNDARIES:
        entry = BOOK.withdrawn_use(code, day) if withdrawn else BOOK.lookup(code, day)
        assert entry is not None and entry.is_withdrawn == withdrawn
        assert CATEGORIES[table[entry.id]].value == category
        assert entry.id in BOOK.ids_for(code)  # counted by code with the code's other ids
    assert BOOK.lookup("D", D(2011, 8, 31)).id != BOOK.lookup("D", D(2011, 9, 1)).id


@st.composite
def mixed_marks(draw):
    """Marks around the 2024 switch, some of them withdrawn codes, some sessions repeated."""
    start = D(2024, 8, 5)
    rows = []
    for _ in range(draw(st.integers(1, 30))):
        day = start + dt.timedelta(days=draw(st.integers(0, 41)))
        codes = codes_in_force(day) + ["H", "J", "F", "Y"]
        rows.append((draw(st.sampled_from(["P1", "P2"])), day.isoformat(), draw(st.sampled_from(["AM", "PM"])),
                     draw(st.sampled_from(codes))))
    return rows


@settings(max_examples=40, deadline=None)
@given(mixed_marks())
def test_every_reader_counts_and_warns_alike(rows) -> None:
    import tempfile

    rows = sorted(rows, key=lambda r: r[0])  # a JSON history lists marks pupil by pupil: the same order
    with tempfile.TemporaryDirectory() as temp:
        results = {engine: _read(Path(temp), rows, engine) for engine in ENGINES
                   if engine not in ("pyarrow", "parquet") or _has_pyarrow()}
    expected = _categories(results["stdlib"][0])
    for engine, (history, report) in results.items():
        assert report.read["marks"] == len(rows) == report.used["marks"] + report.reported["marks"], engine
        assert _categories(history) == expected, engine
        warned = [(w.found, w.message) for w in _withdrawn_warnings(report)]
        assert warned == [(w.found, w.message) for w in _withdrawn_warnings(results["stdlib"][1])], engine
    for history, _ in results.values():
        for pupil in history:
            for mark in pupil.register.marks():
                assert mark.code in codes_in_force(mark.date) or withdrawn_on(mark.date, mark.code)


def _has_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True
