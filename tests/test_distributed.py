"""Dask over a Parquet dataset partitioned by school: per-pupil results identical to a
single-process run, DataFrame input, row accounting, located errors, the missing extra."""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import shutil
import sys
from pathlib import Path

import pytest

from attendance_rules.engine.compiled import load_policy
from attendance_rules.exceptions import InputError, UsageError
from attendance_rules.registers.readers import load_history
from attendance_rules.registers.sample import generate_pupils, write_csv
from attendance_rules.scale import distributed as ds
from attendance_rules.scale.dataset import KINDS, write_dataset
from attendance_rules.scale.partitions import arrow_reader

try:
    import dask.dataframe as dd
    import distributed
    import pyarrow.parquet as pq
except ImportError as missing:  # the optional 'dask' extra
    pytest.skip(f"needs the 'dask' extra (dask[dataframe], distributed, pyarrow): {missing}",
                allow_module_level=True)

AS_OF = dt.date(2024, 2, 9)
SCHOOLS = (("S01", 30, 11, True), ("S02", 25, 12, False), ("S03", 20, 13, True))  # id, pupils, seed, traded EWS


def _school(sid: str, n: int, seed: int, traded: bool) -> dict:
    pupils = []
    for pupil in generate_pupils(n, dt.date(2023, 9, 1), AS_OF, seed=seed):
        pupils.append({**pupil, "id": f"{sid}-{pupil['id']}"})
    return {"school": {"id": sid, "name": f"School {sid}", "settings": {"traded_ews": traded}},
            "pupils": pupils}


@pytest.fixture(scope="module")
def csv_dirs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("schools")
    dirs = []
    for sid, n, seed, traded in SCHOOLS:
        write_csv(_school(sid, n, seed, traded), root / sid)
        dirs.append(root / sid)
    return dirs


@pytest.fixture(scope="module")
def dataset(csv_dirs: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dataset") / "ds"
    write_dataset(csv_dirs, out)
    return out


@pytest.fixture(scope="module")
def expected(csv_dirs: list[Path]) -> list[dict]:
    """Single-process evaluate_pupil over each school's CSV history, school by school."""
    policy = load_policy("halton")
    results = []
    for directory in csv_dirs:
        history = load_history([directory])
        results += [policy.evaluate_pupil(p, AS_OF, history.school).to_json() for p in history.pupils]
    return results


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster, distributed.Client(cluster) as client:
        yield client


def test_cluster_matches_single_process(dataset: Path, expected: list[dict], client) -> None:
    run = ds.evaluate_dataset(dataset, "halton", AS_OF, scheduler=client)
    got = list(run)
    assert [g["pupil_id"] for g in got] == [e["pupil_id"] for e in expected]
    assert got == expected
    assert json.dumps(got) == json.dumps(expected)  # the same bytes, key order included


def test_dask_dataframe_input(dataset: Path, expected: list[dict], client) -> None:
    marks = dd.read_parquet(dataset / "marks")
    pupils, events = dd.read_parquet(dataset / "pupils"), dd.read_parquet(dataset / "events")
    run = ds.evaluate_dataset(marks, "halton", AS_OF, scheduler=client, pupils=pupils, events=events,
                              schools=dataset / "schools.csv")
    assert list(run) == expected
    assert run.report.read == run.report.used and run.report.pupils == len(expected)


def test_typed_pandas_columns(dataset: Path, expected: list[dict]) -> None:
    """Dates as datetimes and minutes late as numbers (NaN when empty) mean what the text does."""
    import pandas as pd

    marks = pd.read_parquet(dataset / "marks")
    marks["date"] = pd.to_datetime(marks["date"])
    marks["minutes_late"] = pd.to_numeric(marks["minutes_late"].replace("", None))
    frames = {k: pd.read_parquet(dataset / k) for k in ("pupils", "events")}
    frames["pupils"]["year_group"] = frames["pupils"]["year_group"].astype(int)
    run = ds.evaluate_dataset(dd.from_pandas(marks, npartitions=3), "halton", AS_OF,
                              pupils=frames["pupils"], events=frames["events"], schools=dataset / "schools.csv")
    assert list(run) == expected


def test_row_accounting(dataset: Path, csv_dirs: list[Path], expected: list[dict]) -> None:
    run = ds.evaluate_dataset(dataset, "halton", AS_OF)  # in this process (no default client here)
    assert len(list(run)) == len(expected)
    report = run.report
    assert [p.school_id for p in report.partitions] == ["S01", "S02", "S03"]
    rows = {kind: sum(_csv_rows(d / f"{kind}.csv") for d in csv_dirs) for kind in KINDS}
    assert report.read == rows == report.used
    assert report.reported == dict.fromkeys(KINDS, 0)
    assert report.pupils == len(expected) == sum(n for _, n, _, _ in SCHOOLS)
    for part in report.partitions:
        assert all(part.read[k] == part.used[k] + part.reported[k] for k in KINDS)
    assert "marks: " in report.summary()


def _csv_rows(path: Path) -> int:
    return sum(1 for _ in path.open(encoding="utf-8")) - 1 if path.is_file() else 0


def test_dataset_from_history_objects(csv_dirs: list[Path], expected: list[dict], tmp_path: Path) -> None:
    out = tmp_path / "ds"
    write_dataset([load_history([d]) for d in csv_dirs], out)
    assert list(ds.evaluate_dataset(out, "halton", AS_OF)) == expected


def test_bad_rows_are_located_and_counted(csv_dirs: list[Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("pupils.csv", "events.csv", "school.csv"):
        (bad / name).write_bytes((csv_dirs[1] / name).read_bytes())
    lines = (csv_dirs[1] / "marks.csv").read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace(",AM,", ",XX,").replace(",PM,", ",XX,")  # data row 3: a bad session
    (bad / "marks.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "ds"
    write_dataset([csv_dirs[0], bad], out)
    with pytest.raises(InputError) as error:
        list(ds.evaluate_dataset(out, "halton", AS_OF))
    problem = error.value.problem
    assert "bad session" in problem.message
    assert problem.location.file.endswith("marks/school_id=S02/part-0.parquet")
    assert problem.location.pointer == "row 3"
    run = ds.evaluate_dataset(out, "halton", AS_OF, strict=False)
    assert len(list(run)) == 30 + 25
    assert run.report.reported == {"marks": 1, "pupils": 0, "events": 0}
    assert run.report.read["marks"] == run.report.used["marks"] + 1


def test_pupil_filter_and_cli(dataset: Path, expected: list[dict]) -> None:
    parser = argparse.ArgumentParser()
    for option in ("--policy", "--as-of", "--pupil", "--calendar", "--format"):
        parser.add_argument(option)
    parser.add_argument("--history", nargs="+")
    ds.add_arguments(parser)
    args = parser.parse_args(["--policy", "halton", "--history", str(dataset), "--format", "jsonl",
                              "--pupil", "S02-P00003"])
    args.as_of = AS_OF
    out, err = io.StringIO(), io.StringIO()
    assert ds.run_evaluate_cli(args, out, err) == 0
    assert [json.loads(line) for line in out.getvalue().splitlines()] == \
        [e for e in expected if e["pupil_id"] == "S02-P00003"]
    assert "1 pupil(s) evaluated" in err.getvalue()
    args.format = "table"
    with pytest.raises(UsageError, match="--format jsonl"):
        ds.run_evaluate_cli(args, out, err)
    args.format, args.history = "jsonl", ["examples/sample/history.json"]
    with pytest.raises(UsageError, match="dataset directory"):
        ds.run_evaluate_cli(args, out, err)


def test_scheduler_errors(dataset: Path) -> None:
    with pytest.raises(UsageError, match="local:N"):
        list(ds.evaluate_dataset(dataset, "halton", AS_OF, scheduler="local:0"))
    with pytest.raises(UsageError, match="scheduler must be"):
        list(ds.evaluate_dataset(dataset, "halton", AS_OF, scheduler=3))
    with pytest.raises(UsageError, match="not a dataset directory"):
        ds.evaluate_dataset(dataset / "marks", "halton", AS_OF)


def test_missing_extra_is_a_usage_error(monkeypatch: pytest.MonkeyPatch, dataset: Path) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(UsageError) as error:
        ds.evaluate_dataset(dataset, "halton", AS_OF)
    text = str(error.value)
    assert "'dask' extra" in text and "attendance-rules[dask]" in text and "distributed" in text


def test_columnar_reader_agrees_with_csv_path(dataset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if arrow_reader() is None:
        pytest.skip("attendance_rules.registers.columnar.read_arrow not available on this branch")
    fast = list(ds.evaluate_dataset(dataset, "halton", AS_OF))
    monkeypatch.setenv("ATTENDANCE_RULES_DISTRIBUTED_CSV", "1")
    assert list(ds.evaluate_dataset(dataset, "halton", AS_OF)) == fast


def test_parquet_columns_are_text(dataset: Path) -> None:
    table = pq.ParquetFile(next((dataset / "marks" / "school_id=S01").glob("*.parquet"))).read()
    assert table.column_names == ["pupil_id", "date", "session", "code", "minutes_late"]
    assert (dataset / "schools.csv").read_text(encoding="utf-8").splitlines()[0] == "id,name,traded_ews"


def test_the_command_line_evaluates_a_dataset(dataset: Path, csv_dirs: list[Path], expected: list[dict]) -> None:
    """``attendance-rules evaluate --history DATASET`` goes through Dask's per-school path (here
    in this process) and prints each pupil as the single-process evaluation does: the same lines as
    the local path's, school by school."""
    status, out, err = _cli("--history", str(dataset))
    assert status == 0, err
    assert [json.loads(line) for line in out.splitlines()] == expected
    assert "pupil(s) evaluated" in err  # the row accounting, on the command's standard error
    local = [_cli("--history", str(directory), "--jobs", "1") for directory in csv_dirs]
    assert [status for status, _, _ in local] == [0, 0, 0]
    assert out == "".join(lines for _, lines, _ in local)


@pytest.fixture(scope="module")
def faulty(csv_dirs: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """S01 with a withdrawn code (F, from 2013) on its first mark; S02 with an event type halton does
    not declare (home_visitt, twice); S03 as it is."""
    root = tmp_path_factory.mktemp("faulty")
    for directory in csv_dirs[:2]:
        shutil.copytree(directory, root / directory.name)
    marks = (root / "S01" / "marks.csv").read_text(encoding="utf-8").splitlines()
    pupil, day, session, *_ = marks[1].split(",")
    marks[1] = f"{pupil},{day},{session},F,"
    (root / "S01" / "marks.csv").write_text("\n".join(marks) + "\n", encoding="utf-8")
    events = (root / "S02" / "events.csv").read_text(encoding="utf-8").rstrip("\n")
    events += "\nS02-P00003,2023-10-02,home_visitt,\nS02-P00004,2023-10-03,home_visitt,\n"
    (root / "S02" / "events.csv").write_text(events, encoding="utf-8")
    write_dataset([root / "S01", root / "S02", csv_dirs[2]], root / "ds")
    return root / "ds"


def _cli(*argv: str) -> tuple[int, str, str]:
    from attendance_rules.cli import main

    out, err = io.StringIO(), io.StringIO()
    status = main(["evaluate", "--policy", "halton", "--as-of", AS_OF.isoformat(), "--format", "jsonl", "--quiet",
                   *argv], out=out, err=err)
    return status, out.getvalue(), err.getvalue()


def test_a_school_the_policy_cannot_read_is_refused(faulty: Path) -> None:
    """As on the local path: an undeclared event type is an error (exit 1) located at the Parquet file and
    row; the withdrawn code of the school before it is a warning, said once, before the error."""
    status, out, err = _cli("--history", str(faulty))
    assert status == 1
    assert "events/school_id=S02/part-0.parquet (row " in err and "unknown event type 'home_visitt'" in err
    assert err.count("warning: withdrawn register code 'F'") == 1
    assert err.index("marks/school_id=S01/part-0.parquet (row 1): warning") < err.index("error: unknown event")
    assert [json.loads(line)["pupil_id"][:3] for line in out.splitlines()] == ["S01"] * 30


def test_strict_codes_on_the_dataset_path(faulty: Path, client) -> None:
    """Refused with --strict-codes; through evaluate_dataset(strict_codes=True) on the cluster's workers,
    lenient: the mark is reported, its school evaluated, and the school the policy cannot read skipped."""
    status, out, err = _cli("--history", str(faulty), "--strict-codes")
    assert status == 1 and out == ""
    assert "marks/school_id=S01/part-0.parquet (row 1): error: withdrawn register code 'F'" in err
    assert "home_visitt" not in err  # the run stops at the first school refused
    run = ds.evaluate_dataset(faulty, "halton", AS_OF, client, strict_codes=True, strict=False)
    assert [p["pupil_id"][:3] for p in run] == ["S01"] * 30 + ["S03"] * 20  # S02 reported, not evaluated
    assert run.report.reported == {"marks": 1, "pupils": 0, "events": 0}
    assert [p.message.split(" ")[0] for p in run.report.problems] == ["withdrawn", "unknown"]
    assert [p.pupils for p in run.report.partitions] == [29 + 1, 0, 20]  # S01's other marks are evaluated


def test_lenient_run_reports_warnings_once(faulty: Path) -> None:
    said: list = []
    run = ds.evaluate_dataset(faulty, "halton", dt.date(2023, 9, 1), strict=False, warn=said.append)
    assert len(list(run)) == 30 + 20
    assert said == list(run.report.warnings)
    assert [w.location.file.split("ds/")[-1] for w in said] == [
        "marks/school_id=S01/part-0.parquet", "marks/school_id=S01", "events/school_id=S02/part-0.parquet",
        "marks/school_id=S03"]
    assert "before the register's first mark" in str(said[1])
    assert run.report.problems[0].location.pointer.startswith("row ")

