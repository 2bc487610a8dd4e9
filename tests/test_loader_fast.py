"""The fast loaders agree: the stdlib CSV hot path, JSON, and the pyarrow paths (Arrow
tables, Parquet files, marks.csv through pyarrow's CSV reader) give equal histories and
the same row accounting and problems, whatever the order of the marks."""

from __future__ import annotations

import datetime as dt
import json
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_readers import HEADER, START, _corrupt, _valid_codes, marks_and_corruptions

from attendance_rules.exceptions import UsageError
from attendance_rules.registers.readers import read_history

EVENTS_HEADER = "pupil_id,date,type,details\n"
PUPILS_HEADER = "pupil_id,date_of_birth,year_group,flags\n"


def _pyarrow():
    return pytest.importorskip("pyarrow")


@st.composite
def cohorts(draw):
    """Marks (some late, some padded with spaces), pupils with flags, and events."""
    ids = draw(st.lists(st.sampled_from(["P1", "P2", "P3", "P10", "A7"]), min_size=1, max_size=5, unique=True))
    keys = st.tuples(st.sampled_from(ids), st.integers(0, 89), st.sampled_from(["AM", "PM"]))
    rows = []
    for pupil, offset, session in draw(st.lists(keys, max_size=60, unique=True)):
        day = START + dt.timedelta(days=offset)
        code = draw(st.sampled_from(_valid_codes(day)))
        late = str(draw(st.integers(0, 600))) if code in ("L", "U") and draw(st.booleans()) else ""
        pad = " " if draw(st.integers(0, 9)) == 0 else ""
        rows.append([pupil + pad, day.isoformat(), pad + session, code, late])
    flags = {p: draw(st.lists(st.sampled_from(["ehcp", "social_worker", "looked_after"]), unique=True)) for p in ids}
    pupils = [[p, draw(st.sampled_from(["", "2012-05-01"])), draw(st.sampled_from(["", "7"])), ";".join(flags[p])]
              for p in ids]
    events = [[p, (START + dt.timedelta(days=draw(st.integers(0, 89)))).isoformat(), kind, details]
              for p in ids for kind, details in draw(st.lists(st.sampled_from(
                  [("letter_sent", "action=first letter"), ("review_held", "outcome=improved;parent_engaged=true"),
                   ("home_visit", "")]), max_size=2))]
    return rows, pupils, events


def _write(folder: Path, rows, pupils=None, events=None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "marks.csv").write_text(HEADER + "".join(",".join(r) + "\n" for r in rows), encoding="utf-8")
    if pupils is not None:
        (folder / "pupils.csv").write_text(PUPILS_HEADER + "".join(",".join(r) + "\n" for r in pupils), "utf-8")
    if events is not None:
        (folder / "events.csv").write_text(EVENTS_HEADER + "".join(",".join(r) + "\n" for r in events), "utf-8")
    return folder


def _json_doc(rows, pupils, events) -> dict:
    doc = {"pupils": []}
    for pid, dob, year, flags in pupils:
        marks = [{"date": d, "session": s.strip(), "code": c, **({"minutes_late": int(m)} if m else {})}
                 for p, d, s, c, m in rows if p.strip() == pid]
        evs = []
        for p, d, kind, details in events:
            if p == pid:
                fields = dict(part.split("=") for part in details.split(";") if part)
                evs.append({"date": d, "type": kind, **{k: v == "true" if v in ("true", "false") else v
                                                        for k, v in fields.items()}})
        doc["pupils"].append({"id": pid, "flags": [f for f in flags.split(";") if f], "marks": marks, "events": evs,
                              **({"date_of_birth": dob} if dob else {}), **({"year_group": int(year)} if year else {})})
    return doc


def _same(a, b) -> None:
    assert [p.id for p in a] == [p.id for p in b]
    assert a.pupils == b.pupils  # registers (slots, codes, minutes late), flags, events, date of birth, year
    for x, y in zip(a, b):
        assert list(x.register.marks()) == list(y.register.marks())


def _arrow_tables(folder: Path):
    import pyarrow as pa
    import pyarrow.csv as pcsv

    def read(name):
        path = folder / name
        if not path.is_file():
            return None
        with open(path, encoding="utf-8") as handle:
            header = handle.readline().strip().split(",")
        return pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(column_types={c: pa.string() for c in header}))

    return read("marks.csv"), read("pupils.csv"), read("events.csv")


def _parquet_dir(folder: Path) -> Path:
    import pyarrow.parquet as pq

    out = folder.parent / (folder.name + "-parquet")
    out.mkdir()
    for name, table in zip(("marks", "pupils", "events"), _arrow_tables(folder)):
        if table is not None:
            pq.write_table(table, out / f"{name}.parquet")
    return out


# --- every path, the same history ---------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(cohorts(), st.randoms(use_true_random=False))
def test_stdlib_json_and_shuffled_csv_agree(cohort, rnd) -> None:
    rows, pupils, events = cohort
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    with tempfile.TemporaryDirectory() as temp:
        ordered = read_history(_write(Path(temp) / "a", sorted(rows, key=lambda r: (r[0], r[1], r[2].strip())),
                                      pupils, events), engine="stdlib")
        mixed = read_history(_write(Path(temp) / "b", shuffled, pupils, events), engine="stdlib")
        (Path(temp) / "h.json").write_text(json.dumps(_json_doc(shuffled, pupils, events)), encoding="utf-8")
        from_json = read_history(Path(temp) / "h.json")
    for history, report in (ordered, mixed, from_json):
        assert report.problems == ()
        assert report.used["marks"] == len(rows)
    _same(ordered[0], mixed[0])
    _same(ordered[0], from_json[0])


@settings(max_examples=60, deadline=None)
@given(cohorts(), st.randoms(use_true_random=False), st.booleans())
def test_pyarrow_paths_agree_with_stdlib(cohort, rnd, roster) -> None:
    _pyarrow()
    from attendance_rules.registers.columnar import read_arrow

    rows, pupils, events = cohort
    rnd.shuffle(rows)
    with tempfile.TemporaryDirectory() as temp:
        folder = _write(Path(temp) / "csv", rows, pupils if roster else None, events if roster else None)
        stdlib, report = read_history(folder, engine="stdlib")
        via_pyarrow, arrow_report = read_history(folder, engine="pyarrow")
        parquet, parquet_report = read_history(_parquet_dir(folder))
        marks, roster_table, events_table = _arrow_tables(folder)
        arrow, table_report = read_arrow(marks, roster_table, events_table)
    assert report.problems == ()
    for history, other in ((via_pyarrow, arrow_report), (parquet, parquet_report), (arrow, table_report)):
        _same(stdlib, history)
        assert (other.read, other.used, other.problems) == (report.read, report.used, ())


def test_read_arrow_takes_date32_and_integer_columns() -> None:
    pa = _pyarrow()
    from attendance_rules.registers.columnar import read_arrow
    from attendance_rules.registers.history import School

    marks = pa.table({"pupil_id": ["P2", "P1", "P1"], "date": pa.array([dt.date(2024, 1, 8)] * 3),
                      "session": ["AM", "PM", "AM"], "code": ["/", "L", "N"],
                      "minutes_late": pa.array([None, 12, None], pa.int32())})
    pupils = pa.table({"pupil_id": ["P1", "P2"], "date_of_birth": pa.array([dt.date(2012, 5, 1), None]),
                       "year_group": pa.array([7, None], pa.int8()), "flags": ["ehcp;social_worker", None]})
    history, report = read_arrow(marks, pupils, school=School("S1", "Test"))
    assert report.problems == () and report.used == {"pupils": 2, "marks": 3, "events": 0}
    p1 = history.pupil("P1")
    assert [(m.session, m.code, m.minutes_late) for m in p1.register.marks()] == [("AM", "N", None), ("PM", "L", 12)]
    assert p1.flags == {"ehcp", "social_worker"} and p1.year_group == 7 and p1.date_of_birth == dt.date(2012, 5, 1)
    assert history.school.id == "S1" and [p.id for p in history] == ["P1", "P2"]


# --- corrupted rows: each reported with its place ------------------------------------------


def _key(problem, row: int) -> tuple:
    expected = problem.expected.split("first given at")[0]
    return (row, problem.message, problem.found, expected)


@settings(max_examples=100, deadline=None)
@given(marks_and_corruptions(), st.randoms(use_true_random=False))
def test_corrupted_rows_reported_alike_by_every_path(case, rnd) -> None:
    pa = _pyarrow()
    from attendance_rules.registers.columnar import read_arrow

    rows, bad = case
    lines = [_corrupt(row, bad[i], rows[0]) if i in bad else row for i, row in enumerate(rows)]
    with tempfile.TemporaryDirectory() as temp:
        folder = _write(Path(temp) / "csv", lines)
        # strict codes: a 2006 code after the switch ("other_table") is refused by every path
        stdlib, report = read_history(folder, engine="stdlib", strict_codes=True)
        via_pyarrow, arrow_report = read_history(folder, engine="pyarrow", strict_codes=True)
    assert report.read["marks"] == len(rows) == report.used["marks"] + report.reported["marks"]
    assert {p.location.line for p in report.problems} == {i + 2 for i in bad}
    _same(stdlib, via_pyarrow)
    assert arrow_report == report  # pyarrow re-reads a file with bad rows through the csv module

    # Arrow tables have no ragged rows: the rows of the right width, located by table row
    kept = [line for line in lines if len(line) == 5]
    table = pa.table({c: [line[k] for line in kept] for k, c in enumerate(HEADER.strip().split(","))})
    arrow, table_report = read_arrow(table, name="t", strict_codes=True)
    with tempfile.TemporaryDirectory() as temp:
        expected, expected_report = read_history(_write(Path(temp) / "csv", kept), engine="stdlib",
                                                 strict_codes=True)
    _same(expected, arrow)
    assert (table_report.read, table_report.used) == (expected_report.read, expected_report.used)
    assert [_key(p, int(p.location.pointer.split()[-1])) for p in table_report.problems] == \
        [_key(p, p.location.line - 2) for p in expected_report.problems]
    assert all(p.location.file == "t" and p.location.pointer.startswith("marks row ") for p in table_report.problems)


def test_parquet_problems_name_the_file_and_row(tmp_path: Path) -> None:
    pa = _pyarrow()
    import pyarrow.parquet as pq

    table = pa.table({"pupil_id": ["P1", "P1", "P1"], "date": ["2024-01-08", "2024-02-30", "2024-01-08"],
                      "session": ["AM", "AM", "AM"], "code": ["/", "/", "I"]})
    pq.write_table(table, tmp_path / "marks.parquet")
    history, report = read_history(tmp_path)
    got = [(str(p.location), p.message, p.found) for p in report.problems]
    path = tmp_path / "marks.parquet"
    assert got == [(f"{path} (row 1)", "impossible date", "'2024-02-30'"),
                   (f"{path} (row 2)", "conflicting mark for P1 on 2024-01-08 AM", "'I'")]
    assert f"first given at {path} (row 0)" in report.problems[1].expected
    assert report.read["marks"] == 3 and report.used["marks"] == 1
    assert len(history.pupil("P1").register) == 1


# --- batch by batch: the same whatever the batch boundaries -------------------------------


def _many_marks(rnd) -> tuple[list, list]:
    """Up to 5 pupils' marks over up to 40 days, many of them late, some ids padded."""
    ids = rnd.sample(["P1", "P2", "P3", "P10", "A7"], rnd.randint(1, 5))
    rows = []
    for offset in range(rnd.randint(1, 40)):
        day = START + dt.timedelta(days=offset)
        for pupil in ids:
            for session in ("AM", "PM"):
                code = rnd.choice(_valid_codes(day) + ["L", "U"] * 3) if rnd.random() < 0.8 else None
                if code is not None and (code in _valid_codes(day)):
                    late = str(rnd.randint(0, 600)) if code in ("L", "U") and rnd.random() < 0.7 else ""
                    rows.append([pupil + (" " if rnd.random() < 0.1 else ""), day.isoformat(), session, code, late])
    return rows, [[p, "", "", ""] for p in ids]


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False), st.booleans(), st.booleans(), st.integers(1, 7))
def test_small_batches_give_the_same_history(rnd, roster, in_order, rows_per_batch) -> None:
    """A pupil's marks split across batches, ids first seen in a later batch, marks in
    (pupil, session) order or not: every pyarrow path gives the stdlib reader's history."""
    _pyarrow()
    import attendance_rules.registers.columnar as columnar

    rows, pupils = _many_marks(rnd)
    events = []
    rows = sorted(rows, key=lambda r: (r[0].strip(), r[1], r[2])) if in_order else rnd.sample(rows, len(rows))
    with pytest.MonkeyPatch.context() as patch, tempfile.TemporaryDirectory() as temp:
        patch.setattr(columnar, "_BATCH_ROWS", rows_per_batch)
        patch.setattr(columnar, "_CSV_BLOCK", 128)  # a few rows a block
        folder = _write(Path(temp) / "csv", rows, pupils if roster else None, events if roster else None)
        stdlib, report = read_history(folder, engine="stdlib")
        via_pyarrow, arrow_report = read_history(folder, engine="pyarrow")
        parquet, parquet_report = read_history(_parquet_dir(folder))
        arrow, table_report = columnar.read_arrow(*_arrow_tables(folder))
    for history, other in ((via_pyarrow, arrow_report), (parquet, parquet_report), (arrow, table_report)):
        _same(stdlib, history)
        assert (other.read, other.used, other.problems) == (report.read, report.used, ())


@settings(max_examples=60, deadline=None)
@given(marks_and_corruptions(), st.randoms(use_true_random=False), st.integers(1, 5))
def test_small_batches_report_the_same_rows(case, rnd, rows_per_batch) -> None:
    pa = _pyarrow()
    import attendance_rules.registers.columnar as columnar

    rows, bad = case
    lines = [_corrupt(row, bad[i], rows[0]) if i in bad else row for i, row in enumerate(rows)]
    kept = [line for line in lines if len(line) == 5]
    rnd.shuffle(kept)
    table = pa.table({c: [line[k] for line in kept] for k, c in enumerate(HEADER.strip().split(","))})
    with pytest.MonkeyPatch.context() as patch, tempfile.TemporaryDirectory() as temp:
        patch.setattr(columnar, "_BATCH_ROWS", rows_per_batch)
        arrow, table_report = columnar.read_arrow(table, name="t")
        expected, expected_report = read_history(_write(Path(temp) / "csv", kept), engine="stdlib")
    _same(expected, arrow)
    assert (table_report.read, table_report.used) == (expected_report.read, expected_report.used)
    assert [_key(p, int(p.location.pointer.split()[-1])) for p in table_report.problems] == \
        [_key(p, p.location.line - 2) for p in expected_report.problems]


# --- order of the marks -------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(marks_and_corruptions(), st.randoms(use_true_random=False))
def test_marks_in_random_order_load_as_sorted(case, rnd) -> None:
    rows, _ = case
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    with tempfile.TemporaryDirectory() as temp:
        ordered, _ = read_history(_write(Path(temp) / "a", sorted(rows)), engine="stdlib")
        mixed, report = read_history(_write(Path(temp) / "b", shuffled), engine="stdlib")
    assert report.problems == ()
    _same(ordered, mixed)
    for pupil in mixed:
        slots = list(pupil.register.slots)
        assert slots == sorted(set(slots))


def test_a_repeat_out_of_order_is_reported_against_the_first(write_csv) -> None:
    folder = write_csv({"marks.csv": HEADER + "P1,2024-01-09,AM,/,\nP1,2024-01-08,PM,L,5\nP1,2024-01-08,AM,/,\n"
                                              "P1,2024-01-08,PM,/,\nP1,2024-01-10,AM,N,\n"})
    history, report = read_history(folder, engine="stdlib")
    assert [(p.location.line, p.message) for p in report.problems] == [
        (5, "conflicting mark for P1 on 2024-01-08 PM")]
    assert f"first given at {folder / 'marks.csv'}:3" in report.problems[0].expected
    marks = list(history.pupil("P1").register.marks())
    assert [(m.date.day, m.session, m.code, m.minutes_late) for m in marks] == [
        (8, "AM", "/", None), (8, "PM", "L", 5), (9, "AM", "/", None), (10, "AM", "N", None)]


# --- without pyarrow ----------------------------------------------------------------------


def test_without_pyarrow_a_usage_error_names_the_extra(monkeypatch, tmp_path: Path) -> None:
    for name in [m for m in sys.modules if m == "pyarrow" or m.startswith("pyarrow.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now raises ImportError
    from attendance_rules.registers.columnar import read_arrow

    with pytest.raises(UsageError, match=r"pip install 'attendance-rules\[parquet\]'"):
        read_arrow(None)
    (tmp_path / "marks.parquet").write_bytes(b"PAR1")
    with pytest.raises(UsageError, match=r"attendance-rules\[parquet\]"):
        read_history(tmp_path)
    (tmp_path / "marks.parquet").unlink()
    _write(tmp_path, [["P1", "2024-01-08", "AM", "/", ""]])
    with pytest.raises(UsageError, match=r"attendance-rules\[parquet\]"):
        read_history(tmp_path, engine="pyarrow")
    history, report = read_history(tmp_path)  # auto: the csv module, silently
    assert report.problems == () and len(history) == 1


def test_unknown_engine_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="engine"):
        read_history(tmp_path, engine="fast")


def test_cli_reader_choice_gives_the_same_output() -> None:
    """``--reader stdlib`` and ``--reader pyarrow`` print the same evaluation of a CSV history."""
    pytest.importorskip("pyarrow", reason="needs the 'parquet' extra")
    import io

    from attendance_rules.cli import main

    outputs = []
    for reader in ("stdlib", "pyarrow", "auto"):
        out, err = io.StringIO(), io.StringIO()
        status = main(["evaluate", "--policy", "halton", "--history", "examples/sample/csv", "--as-of",
                       "2024-02-09", "--format", "jsonl", "--jobs", "1", "--reader", reader], out=out, err=err)
        assert (status, err.getvalue()) == (0, "")
        outputs.append(out.getvalue())
    assert outputs[0] == outputs[1] == outputs[2] and outputs[0].count("\n") == 300
