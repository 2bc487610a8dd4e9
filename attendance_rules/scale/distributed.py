"""Evaluate a region or the whole country: Dask over a Parquet dataset partitioned by school.

Needs the optional extra ``dask`` (``pip install 'attendance-rules[dask]'``: dask,
distributed, pyarrow); without it every entry point raises a ``UsageError`` naming the
extra. Importing this module never needs it.

Dataset layout (a directory; the columns mean exactly what they mean in the CSV form of a
history, README "Histories" and ``readers.py``)::

    DATASET/
      marks/school_id=<id>/*.parquet    pupil_id, date, session, code[, minutes_late]
      pupils/school_id=<id>/*.parquet   pupil_id, date_of_birth, year_group, flags   (optional)
      events/school_id=<id>/*.parquet   pupil_id, date, type, details                (optional)
      schools.csv                       id, name, <settings> (one row per school; optional)

``marks/``, ``pupils/`` and ``events/`` are Parquet datasets hive-partitioned by
``school_id`` (what ``pyarrow.dataset.write_dataset(..., partitioning=["school_id"],
partitioning_flavor="hive")`` or dask's ``to_parquet(partition_on="school_id")`` write;
directory names may be URI-encoded). Within a school, files are read in natural name
order (``part.2`` before ``part.10``). Columns are text as in the CSV files — ``flags``
joined with ``;``, ``details`` as ``key=value;…`` — but typed Parquet columns are
accepted too: dates (date32, timestamps) read as ``YYYY-MM-DD``, integers as their
digits, booleans as ``true``/``false``, a list of flags joined with ``;``, nulls as empty
cells. Each school's rows form one school's CSV history: when ``pupils/`` has rows for a
school, a mark of a pupil not listed there is refused (``unknown pupil``), exactly as
with ``pupils.csv``. ``schools.csv`` settings are read as ``school.csv`` settings are
(``true``/``false`` are yes/no, anything else is text); a school missing from it has no
settings (they read as false).

Per-pupil results are the JSON objects of ``evaluate_pupil(...).to_json()`` — the lines
of ``evaluate --format jsonl`` — byte-identical to a single-process run over the same
pupils, in a deterministic order: school id, then pupil id (the order ``load_history``
gives). Row accounting: for every school, rows read (rows in the partition), used and
reported (refused, with the problem located by Parquet file and row), and pupils
evaluated; ``DatasetRun.report`` sums them.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import importlib
import json
import os
import re
import sys
import tempfile
import time
from collections import deque
from contextlib import contextmanager
from pathlib import Path
from typing import (
    Any,
    Callable,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
    TextIO,
)
from urllib.parse import quote, unquote

import attrs

from ..exceptions import AttendanceRulesError, InputError, Location, Problem, UsageError
from ..registers.calendar import Calendar
from ..registers.history import History, School

__all__ = [
    "DatasetReport",
    "DatasetRun",
    "PartitionReport",
    "add_arguments",
    "evaluate_dataset",
    "is_dataset",
    "read_schools",
    "run_evaluate_cli",
    "write_dataset",
]

EXTRA = "dask"
INSTALL_HINT = "pip install 'attendance-rules[dask]'"
KINDS = ("marks", "pupils", "events")
COLUMNS = {
    "marks": ("pupil_id", "date", "session", "code", "minutes_late"),
    "pupils": ("pupil_id", "date_of_birth", "year_group", "flags"),
    "events": ("pupil_id", "date", "type", "details"),
}
SCHOOLS_FILE = "schools.csv"
PARTITION_KEY = "school_id"
IN_FLIGHT_PER_WORKER = 4  # schools submitted ahead per worker thread (bounds memory while streaming)


# --- the optional extra -----------------------------------------------------------------


def _require_extra() -> None:
    """Import dask, distributed and pyarrow, or raise a ``UsageError`` naming the extra."""
    missing = []
    for module in ("pyarrow", "dask", "dask.dataframe", "distributed"):
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise UsageError([Problem(
            f"evaluating a dataset needs the optional '{EXTRA}' extra, which is not installed",
            found="missing module(s): " + ", ".join(missing), expected=INSTALL_HINT)])


# --- reports ----------------------------------------------------------------------------


def _zero() -> dict[str, int]:
    return dict.fromkeys(KINDS, 0)


@attrs.frozen
class PartitionReport:
    """Rows of one school partition: read, used, reported (refused), and pupils evaluated."""

    school_id: str
    read: Mapping[str, int] = attrs.field(factory=_zero)
    used: Mapping[str, int] = attrs.field(factory=_zero)
    pupils: int = 0
    problems: tuple[Problem, ...] = ()
    load_seconds: float = attrs.field(default=0.0, eq=False)
    evaluate_seconds: float = attrs.field(default=0.0, eq=False)

    @property
    def reported(self) -> dict[str, int]:
        """Rows refused, per kind (read minus used); each has a problem in ``problems``."""
        return {k: self.read.get(k, 0) - self.used.get(k, 0) for k in KINDS}


@attrs.frozen
class DatasetReport:
    """The row accounting of a dataset run: one ``PartitionReport`` per school, and totals."""

    partitions: tuple[PartitionReport, ...] = ()

    def _sum(self, field: str) -> dict[str, int]:
        return {k: sum(getattr(p, field)[k] for p in self.partitions) for k in KINDS}

    @property
    def read(self) -> dict[str, int]:
        """Rows read per kind, all schools."""
        return self._sum("read")

    @property
    def used(self) -> dict[str, int]:
        """Rows used per kind, all schools."""
        return self._sum("used")

    @property
    def reported(self) -> dict[str, int]:
        """Rows refused per kind, all schools."""
        return self._sum("reported")

    @property
    def pupils(self) -> int:
        """Pupils evaluated (results produced), all schools."""
        return sum(p.pupils for p in self.partitions)

    @property
    def problems(self) -> tuple[Problem, ...]:
        """Every problem, school by school."""
        return tuple(q for p in self.partitions for q in p.problems)

    def summary(self) -> str:
        """One line per kind of row and one for pupils: the totals people check."""
        read, used, reported = self.read, self.used, self.reported
        lines = [f"{len(self.partitions)} school(s), {self.pupils} pupil(s) evaluated"]
        lines += [f"{k}: {read[k]} read, {used[k]} used, {reported[k]} reported" for k in KINDS]
        return "\n".join(lines)


# --- from a partition to pupils ---------------------------------------------------------


@attrs.frozen
class _Part:
    """One school's rows as text tables (the CSV columns), with where each row came from."""

    school: School
    tables: Mapping[str, Any]  # kind -> pyarrow.Table of string columns (absent kinds omitted)
    sources: Mapping[str, tuple[tuple[str, int], ...]]  # kind -> (file, rows) in row order


def _text_column(column: Any) -> Any:
    """A pyarrow column as CSV text: strings as they are, dates ISO, nulls empty."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_dictionary(kind):
        return _text_column(column.cast(kind.value_type))
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = column
    elif pa.types.is_date(kind) or pa.types.is_timestamp(kind):
        text = pc.strftime(column, format="%Y-%m-%d")
    elif pa.types.is_boolean(kind):
        text = pc.if_else(column, "true", "false")
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
        text = pc.binary_join(_text_list(column), ";")
    elif pa.types.is_floating(kind) and _integral(column):
        text = column.cast(pa.int64()).cast(pa.string())
    elif pa.types.is_integer(kind) or pa.types.is_floating(kind):
        text = column.cast(pa.string())
    else:
        text = pa.chunked_array([pa.array([None if v is None else str(v) for v in column.to_pylist()],
                                          pa.string())])
    return pc.fill_null(text.cast(pa.string()), "")


def _text_list(column: Any) -> Any:
    import pyarrow as pa

    values = [None if v is None else [str(x) for x in v] for v in column.to_pylist()]
    return pa.chunked_array([pa.array(values, pa.list_(pa.string()))])


def _integral(column: Any) -> bool:
    import pyarrow.compute as pc

    valid = pc.drop_null(column)
    return len(valid) == 0 or bool(pc.all(pc.equal(valid, pc.floor(valid))).as_py())


def _text_table(table: Any, keep_key: bool = False) -> Any:
    """Every column of ``table`` as text; a ``school_id`` column (the partition key) dropped
    unless ``keep_key``."""
    import pyarrow as pa

    names = [n for n in table.column_names if keep_key or n != PARTITION_KEY]
    return pa.table({n: _text_column(table.column(n)) for n in names})


def _partition_history(part: _Part, name: str) -> tuple[History, dict[str, int], list[Problem]]:
    """One school partition as a ``History``, the rows used per kind and located problems.

    Uses ``attendance_rules.registers.columnar.read_arrow`` when it is importable; otherwise writes
    the partition in the CSV form and reads it back with ``readers.read_history``, so the
    checks and the meaning of every column are the CSV reader's own.
    """
    read_arrow = _read_arrow()
    if read_arrow is not None:
        history, report = read_arrow(part.tables.get("marks"), pupils=part.tables.get("pupils"),
                                     events=part.tables.get("events"), name=name)
        return history, dict(report.used), [_arrow_relocated(p, part.sources) for p in report.problems]
    return _through_csv(part)


def _read_arrow() -> Callable[..., Any] | None:
    """``columnar.read_arrow`` if that module exists (and is not switched off), else None."""
    if os.environ.get("ATTENDANCE_RULES_DISTRIBUTED_CSV"):  # force the CSV path (tests, debugging)
        return None
    try:
        from ..registers.columnar import read_arrow
    except ImportError:
        return None
    return read_arrow


def _through_csv(part: _Part) -> tuple[History, dict[str, int], list[Problem]]:
    """The partition written as marks.csv / pupils.csv / events.csv, read by the CSV reader."""
    import pyarrow.csv as pacsv

    from ..registers.readers import read_history

    with tempfile.TemporaryDirectory(prefix="attendance-part-") as tmp:
        files = {}
        for kind, table in part.tables.items():
            if table.num_rows == 0:  # nothing to read (a header alone would add nothing)
                continue
            path = files[kind] = Path(tmp) / f"{kind}.csv"
            pacsv.write_csv(table, path)
        history, report = read_history(list(files.values()))
        where = {str(path): kind for kind, path in files.items()}
        problems = [_relocated(p, where, part.sources) for p in report.problems]
    return history, dict(report.used), problems


def _arrow_relocated(problem: Problem, sources: Mapping[str, tuple]) -> Problem:
    """A problem ``read_arrow`` located at ``KIND row N`` (from 0), pointed at the Parquet file and row."""
    match = re.fullmatch(r"(\w+) row (\d+)", problem.location.pointer or "")
    if match is None or match.group(1) not in sources:
        return problem
    row = int(match.group(2))
    for file, count in sources[match.group(1)]:
        if row < count:
            return attrs.evolve(problem, location=Location(file, pointer=f"row {row + 1}"))
        row -= count
    return problem


def _relocated(problem: Problem, where: Mapping[str, str], sources: Mapping[str, tuple]) -> Problem:
    """A problem found in a temporary CSV file, pointed back at the Parquet file and row."""
    kind = where.get(problem.location.file)
    if kind is None:
        return problem
    files = sources.get(kind, ())
    row = problem.location.line - 2  # line 1 is the header
    if row < 0:
        return attrs.evolve(problem, location=Location(files[0][0] if files else kind, pointer="columns"))
    for file, count in files:
        if row < count:
            return attrs.evolve(problem, location=Location(file, pointer=f"row {row + 1}"))
        row -= count
    return attrs.evolve(problem, location=Location(kind, pointer=f"line {problem.location.line}"))


# --- evaluating one partition (runs on a worker) -----------------------------------------


@attrs.frozen
class _Job:
    """What every partition task needs besides its rows (small, picklable)."""

    policy: str
    calendar: Calendar
    backend: str
    as_of: dt.date
    strict: bool = True
    only: frozenset[str] | None = None


@attrs.frozen
class _Outcome:
    """A partition's JSON lines and report; ``error`` is the exception class to raise, if any."""

    school_id: str
    lines: tuple[str, ...]
    report: PartitionReport
    error: type | None = None


_POLICIES: dict[tuple, Any] = {}  # per worker process: compiled policies by (ref, calendar, backend)


def _policy(job: _Job) -> Any:
    """The compiled policy of ``job``, compiled once per process."""
    key = (job.policy, job.calendar, job.backend)
    if key not in _POLICIES:
        from ..engine.compiled import load_policy

        _POLICIES[key] = load_policy(job.policy, calendar=job.calendar, backend=job.backend)
    return _POLICIES[key]


def _evaluate_part(part: _Part, job: _Job, name: str) -> _Outcome:
    """Convert one school's rows to pupils and evaluate each; problems come back as data."""
    sid, read = part.school.id, {k: (t.num_rows if (t := part.tables.get(k)) is not None else 0) for k in KINDS}
    start = time.perf_counter()
    try:
        history, used, problems = _partition_history(part, name)
    except AttendanceRulesError as error:
        return _Outcome(sid, (), PartitionReport(sid, read, _zero(), 0, error.problems), type(error))
    loaded = time.perf_counter()
    used = {k: used.get(k, 0) for k in KINDS}
    if problems and job.strict:
        return _Outcome(sid, (), PartitionReport(sid, read, used, 0, tuple(problems), loaded - start), InputError)
    try:
        lines = _evaluate_pupils(history, part.school, job)
    except AttendanceRulesError as error:
        return _Outcome(sid, (), PartitionReport(sid, read, used, 0, error.problems), type(error))
    report = PartitionReport(sid, read, used, len(lines), tuple(problems), loaded - start,
                             time.perf_counter() - loaded)
    return _Outcome(sid, lines, report)


def _evaluate_pupils(history: History, school: School, job: _Job) -> tuple[str, ...]:
    """Each pupil's ``evaluate --format jsonl`` line, in pupil id order."""
    policy = _policy(job)
    pupils = sorted(history.pupils, key=lambda p: p.id)
    if job.only is not None:
        pupils = [p for p in pupils if p.id in job.only]
    return tuple(json.dumps(policy.evaluate_pupil(p, job.as_of, school).to_json(), ensure_ascii=False)
                 for p in pupils)


def _evaluate_school_dir(root: str, dirs: Mapping[str, str], school: School, job: _Job) -> _Outcome:
    """Task for a dataset directory: read one school's Parquet files, then evaluate them."""
    tables, sources = {}, {}
    for kind, dirname in dirs.items():
        tables[kind], sources[kind] = _read_school_files(Path(root) / kind / dirname)
    return _evaluate_part(_Part(school, tables, sources), job, str(Path(root) / "marks" / dirs.get("marks", "")))


def _natural(path: Path) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def _read_school_files(directory: Path) -> tuple[Any, tuple[tuple[str, int], ...]]:
    """One school's files of one kind, concatenated as text columns, with rows per file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted((f for f in directory.iterdir() if f.is_file() and not f.name.startswith((".", "_"))),
                   key=_natural)
    tables = [_text_table(pq.ParquetFile(f).read()) for f in files]
    sources = tuple((str(f), t.num_rows) for f, t in zip(files, tables))
    if not tables:
        return pa.table({}), sources
    return pa.concat_tables(tables, promote_options="default"), sources


def _evaluate_frame(frame: Any, schools: Mapping[str, School], job: _Job) -> list[_Outcome]:
    """Task for a DataFrame input: one shuffled pandas partition, any number of schools."""
    outcomes = []
    for sid in sorted(frame[PARTITION_KEY].unique()):
        rows = frame[frame[PARTITION_KEY] == sid]
        tables = {kind: _frame_table(rows[rows["_kind"] == kind], kind) for kind in KINDS}
        tables = {k: t for k, t in tables.items() if t is not None}
        sources = {k: ((f"<{k} DataFrame, school_id={sid}>", t.num_rows),) for k, t in tables.items()}
        school = schools.get(sid) or School(sid)
        outcomes.append(_evaluate_part(_Part(school, tables, sources), job, f"<marks DataFrame, school_id={sid}>"))
    return outcomes


def _frame_table(rows: Any, kind: str) -> Any:
    """The rows of one kind (text columns already) as a pyarrow table; None when a kind
    other than marks has none."""
    if kind != "marks" and rows.empty:
        return None
    return _pandas_table(rows[[c for c in COLUMNS[kind] if c in rows.columns]])


def _pandas_table(frame: Any) -> Any:
    """A pandas frame as a pyarrow table of text columns (any column types in)."""
    import pyarrow as pa

    table = {}
    for column in frame.columns:
        series = frame[column]
        try:
            table[str(column)] = pa.chunked_array([pa.array(series, from_pandas=True)])
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types in an object column
            texts = [None if v is None or v != v else _text(v) for v in series]
            table[str(column)] = pa.chunked_array([pa.array(texts, pa.string())])
    return _text_table(pa.table(table), keep_key=True)


def _text_frame(frame: Any) -> Any:
    """A pandas partition with every column as text (``string`` dtype), so frames of
    different kinds and column types concatenate and shuffle with one schema."""
    import pandas as pd

    table = _pandas_table(frame)
    return pd.DataFrame({c: pd.Series(table.column(c).to_pylist(), dtype="string", index=frame.index)
                         for c in table.column_names})


# --- the dataset on disk -----------------------------------------------------------------


def is_dataset(paths: Sequence[str | Path] | str | Path) -> bool:
    """True when ``paths`` is one directory laid out as a dataset (it has ``marks/``)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    return len(paths) == 1 and (Path(paths[0]) / "marks").is_dir()


def _school_dirs(root: Path) -> dict[str, dict[str, str]]:
    """School id -> kind -> partition directory name, for every kind present."""
    if not (root / "marks").is_dir():
        raise UsageError([Problem("not a dataset directory", Location(str(root)),
                                  expected=f"a directory with marks/{PARTITION_KEY}=<id>/*.parquet")])
    found: dict[str, dict[str, str]] = {}
    for kind in KINDS:
        base = root / kind
        if not base.is_dir():
            continue
        for entry in sorted(base.iterdir()):
            sid = _partition_value(entry, kind)
            if sid is not None:
                found.setdefault(sid, {})[kind] = entry.name
    if not found:
        raise InputError([Problem("no school partitions", Location(str(root / "marks")),
                                  expected=f"directories named {PARTITION_KEY}=<id>")])
    return found


def _partition_value(entry: Path, kind: str) -> str | None:
    """The school id of a ``school_id=<id>`` directory; None for metadata files."""
    if entry.name.startswith((".", "_")):
        return None
    key, sep, value = entry.name.partition("=")
    if entry.is_dir() and sep and key == PARTITION_KEY and value:
        return unquote(value)
    raise InputError([Problem(f"{kind}/ must be partitioned by {PARTITION_KEY}", Location(str(entry)),
                              found=entry.name, expected=f"{PARTITION_KEY}=<id>/ directories")])


def _csv_value(text: str) -> Any:
    """A setting as ``school.csv`` reads it: true/false are yes/no, anything else text."""
    lowered = text.lower()
    return lowered == "true" if lowered in ("true", "false") else text


def read_schools(path: str | os.PathLike[str]) -> dict[str, School]:
    """``schools.csv`` (``id,name,<settings>``) as schools by id; located errors for bad rows."""
    path, schools, problems = Path(path), {}, []
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as handle:
        rows = csv.DictReader(handle)
        if "id" not in (rows.fieldnames or []):
            raise InputError([Problem("schools.csv lacks column id", Location(str(path), 1),
                                      found=",".join(rows.fieldnames or []), expected="id,name,<settings>")])
        for row in rows:
            where = Location(str(path), rows.line_num)
            if None in row or None in row.values():
                problems.append(Problem("wrong number of fields", where, expected=",".join(rows.fieldnames or [])))
                continue
            row = {k: (v or "").strip() for k, v in row.items()}
            if not row["id"] or row["id"] in schools:
                problems.append(Problem("missing or duplicate school id", where, found=repr(row["id"]),
                                        expected="each school id once"))
                continue
            settings = {k: _csv_value(v) for k, v in row.items() if k not in ("id", "name")}
            schools[row["id"]] = School(row["id"], row.get("name", ""), settings)
    if problems:
        raise InputError(problems)
    return schools


# --- running on a scheduler ---------------------------------------------------------------


@contextmanager
def _client(scheduler: Any) -> Iterator[Any]:
    """A distributed ``Client`` for ``scheduler`` (None: the current one, or none at all)."""
    import distributed

    if scheduler is None:
        try:
            yield distributed.default_client()
        except ValueError:
            yield None
    elif isinstance(scheduler, distributed.Client):
        yield scheduler
    elif isinstance(scheduler, str) and scheduler.startswith("local"):
        with _local_cluster(scheduler) as client:
            yield client
    elif isinstance(scheduler, str):
        with _connect(scheduler) as client:
            yield client
    else:
        raise UsageError(f"scheduler must be an address (tcp://host:8786), local:N or a distributed.Client; "
                         f"found {type(scheduler).__name__}")


def _local_workers(spec: str) -> int:
    """N of ``local:N`` (``local`` alone: one worker per CPU)."""
    _, _, count = spec.partition(":")
    if not count:
        return os.cpu_count() or 1
    if not count.isdigit() or int(count) < 1:
        raise UsageError([Problem("bad local scheduler", found=repr(spec), expected="local:N with N ≥ 1",
                                  example="local:4")])
    return int(count)


@contextmanager
def _local_cluster(spec: str) -> Iterator[Any]:
    """A ``LocalCluster`` of N single-threaded worker processes, closed afterwards."""
    import logging

    import distributed

    workers = _local_workers(spec)
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=logging.ERROR) as cluster:
        with distributed.Client(cluster) as client:
            yield client


@contextmanager
def _connect(address: str) -> Iterator[Any]:
    """A client of a running scheduler; an unreachable address is a usage error."""
    import distributed

    try:
        client = distributed.Client(address, timeout="20s")
    except (OSError, TimeoutError, ValueError) as error:
        raise UsageError([Problem("cannot reach the Dask scheduler", found=f"{address}: {error}",
                                  expected="the address a running `dask scheduler` prints",
                                  example="tcp://10.0.0.5:8786")]) from None
    with client:
        yield client


def _ordered(client: Any, tasks: Sequence[tuple]) -> Generator[_Outcome, None, None]:
    """Run ``(function, *args)`` tasks and yield their results in task order, a bounded
    number in flight so a slow consumer does not pile results up on the workers."""
    if client is None:
        for function, *args in tasks:
            yield function(*args)
        return
    window = max(8, IN_FLIGHT_PER_WORKER * max(1, sum(client.nthreads().values())))
    pending: deque = deque()
    todo = iter(tasks)
    for function, *args in todo:
        pending.append(client.submit(function, *args, pure=False))
        if len(pending) >= window:
            break
    while pending:
        future = pending.popleft()
        result = future.result()
        future.release()
        for function, *args in todo:
            pending.append(client.submit(function, *args, pure=False))
            break
        yield result


# --- the public entry points -------------------------------------------------------------


class DatasetRun:
    """Per-pupil results of a dataset, produced while iterating; ``report`` fills as it goes.

    Iterate once: ``for item in run`` yields a dict per pupil (or, with ``lines=True``, the
    JSONL text of each, without the newline). In strict mode the first school with refused
    rows raises ``InputError`` listing them, after the schools before it were yielded.
    """

    def __init__(self, produce: Callable[[], Generator[_Outcome, None, None]], lines: bool, strict: bool,
                 pupil_ids: frozenset[str] | None) -> None:
        self._produce, self._lines, self._strict, self._pupil_ids = produce, lines, strict, pupil_ids
        self._partitions: list[PartitionReport] = []

    @property
    def report(self) -> DatasetReport:
        """The row accounting of the schools done so far (all of them after iteration)."""
        return DatasetReport(tuple(self._partitions))

    def __iter__(self) -> Iterator[Any]:
        self._partitions = []  # iterating again runs the evaluation again, with a fresh report
        outcomes = self._produce()
        try:
            for outcome in outcomes:
                self._partitions.append(outcome.report)
                if outcome.error is not None:
                    raise outcome.error(outcome.report.problems)
                for line in outcome.lines:
                    yield line if self._lines else json.loads(line)
        finally:
            outcomes.close()  # releases the client (and a local:N cluster) at once, even on error
        self._check_pupils()

    def _check_pupils(self) -> None:
        if self._pupil_ids and not self.report.pupils:
            raise KeyError(f"no pupil {sorted(self._pupil_ids)[0]!r} in the dataset")


def evaluate_dataset(dataset: str | Path | Any, policy: Any, as_of: dt.date, scheduler: Any = None, *,
                     calendar: Calendar | None = None, backend: str = "python", pupils: Iterable[Any] | None = None,
                     events: Any = None, schools: Any = None, pupil_ids: Iterable[str] | None = None,
                     strict: bool = True, lines: bool = False) -> DatasetRun:
    """Evaluate every pupil of a dataset, school by school, on Dask.

    ``dataset``: a dataset directory (module docstring) or a dask DataFrame of marks with a
    ``school_id`` column (then ``pupils`` and ``events`` may be DataFrames of those rows
    and ``schools`` a ``schools.csv`` path or a mapping of id to ``School``; the frames are
    shuffled by school, so prefer a directory at national scale: it streams).
    ``policy``: a bundled id, a policy path or a ``CompiledPolicy`` (workers compile it
    from its file). ``scheduler``: None (the current ``distributed`` client if there is
    one, else in this process), ``tcp://host:port``, ``local:N`` or a ``Client``.
    Returns a ``DatasetRun``: iterate it for per-pupil JSON, then read ``.report``.
    """
    _require_extra()
    job = _job(policy, as_of, calendar, backend, strict, pupil_ids)
    if isinstance(dataset, (str, os.PathLike)):
        produce = _directory_producer(Path(dataset), job, scheduler)
    elif hasattr(dataset, "to_delayed") and hasattr(dataset, "npartitions"):
        produce = _frame_producer(dataset, pupils, events, _schools_arg(schools), job, scheduler)
    else:
        raise UsageError(f"dataset must be a directory or a dask DataFrame of marks; found {type(dataset).__name__}")
    return DatasetRun(produce, lines, strict, job.only)


def _job(policy: Any, as_of: dt.date, calendar: Calendar | None, backend: str, strict: bool,
         pupil_ids: Iterable[str] | None) -> _Job:
    """The task description; the policy is compiled here first so its errors surface at once."""
    from ..engine.compiled import CompiledPolicy, load_policy

    if isinstance(policy, CompiledPolicy):
        ref, calendar, backend = policy.ruleset.policy.chain[-1].file, calendar or policy.calendar, policy.backend
    else:
        ref = str(Path(policy).resolve()) if Path(policy).is_file() else str(policy)
        load_policy(ref, calendar=calendar or Calendar(), backend=backend)
    only = frozenset(pupil_ids) if pupil_ids else None
    return _Job(str(ref), calendar or Calendar(), backend, as_of, strict, only)


def _directory_producer(root: Path, job: _Job, scheduler: Any) -> Callable[[], Generator[_Outcome, None, None]]:
    root = root.resolve()
    dirs = _school_dirs(root)
    known = read_schools(root / SCHOOLS_FILE)
    tasks = [(_evaluate_school_dir, str(root), dirs[sid], known.get(sid) or School(sid), job) for sid in sorted(dirs)]

    def produce() -> Generator[_Outcome, None, None]:
        with _client(scheduler) as client:
            yield from _ordered(client, tasks)

    return produce


def _schools_arg(schools: Any) -> dict[str, School]:
    if schools is None:
        return {}
    if isinstance(schools, (str, os.PathLike)):
        return read_schools(schools)
    return {str(k): v if isinstance(v, School) else School(str(k)) for k, v in dict(schools).items()}


def _frame_producer(marks: Any, pupils: Any, events: Any, schools: dict[str, School], job: _Job,
                    scheduler: Any) -> Callable[[], Generator[_Outcome, None, None]]:
    frame = _tagged_frame(marks, pupils, events)

    def produce() -> Generator[_Outcome, None, None]:
        import dask

        shuffled = frame.shuffle(on=PARTITION_KEY)
        tasks = [dask.delayed(_evaluate_frame)(part, schools, job) for part in shuffled.to_delayed()]
        with _client(scheduler) as client:
            if client is None:
                parts = dask.compute(*tasks, scheduler="sync")
            else:
                parts = client.gather(client.compute(tasks))
        yield from sorted((o for part in parts for o in part), key=lambda o: o.school_id)

    return produce


def _tagged_frame(marks: Any, pupils: Any, events: Any) -> Any:
    """Marks, pupils and events in one frame (a ``_kind`` column), so one shuffle keeps a
    school's rows of every kind together."""
    import dask.dataframe as dd

    frames = []
    for kind, frame in (("marks", marks), ("pupils", pupils), ("events", events)):
        if frame is None:
            continue
        if not hasattr(frame, "npartitions"):
            frame = dd.from_pandas(frame, npartitions=1)
        if PARTITION_KEY not in frame.columns:
            raise UsageError([Problem(f"the {kind} DataFrame has no {PARTITION_KEY} column",
                                      found=", ".join(map(str, frame.columns)), expected=PARTITION_KEY)])
        keep = [c for c in (*COLUMNS[kind], PARTITION_KEY) if c in frame.columns]
        meta = {c: "string" for c in keep}
        frames.append(frame[keep].map_partitions(_text_frame, meta=meta).assign(_kind=kind))
    return dd.concat(frames) if len(frames) > 1 else frames[0]


# --- building a dataset -------------------------------------------------------------------


def write_dataset(sources: Iterable[History | str | Path], out_dir: str | Path) -> dict[str, int]:
    """Write schools as a dataset: ``sources`` are ``History`` objects or history paths (a CSV
    directory, copied cell for cell, or a JSON file, loaded strictly); one school each, with
    distinct non-empty school ids. Returns the rows written per kind (and ``schools``)."""
    _require_extra()
    out = Path(out_dir)
    if (out / "marks").exists():
        raise UsageError([Problem("dataset directory already has marks/", Location(str(out)),
                                  expected="a new or empty directory")])
    counts = {**_zero(), "schools": 0}
    schools: list[tuple[str, str, dict[str, str]]] = []  # (id, name, settings as text) of each source
    for source in sources:
        school, tables = _source_tables(source)
        _check_school_id(school, [s[0] for s in schools], source)
        schools.append(school)
        for kind, table in tables.items():
            counts[kind] += _write_part(out, kind, school[0], table)
        counts["schools"] += 1
    _write_schools(out / SCHOOLS_FILE, schools)
    return counts


def _check_school_id(school: tuple, seen: list[str], source: Any) -> None:
    where = Location(str(source)) if isinstance(source, (str, Path)) else Location("<History>")
    if not school[0]:
        raise UsageError([Problem("a school needs an id to be partitioned by", where,
                                  expected="school.csv (or the JSON school) with an id")])
    if school[0] in seen:
        raise UsageError([Problem("the same school twice", where, found=repr(school[0]),
                                  expected="each school id once")])


def _write_part(out: Path, kind: str, sid: str, table: Any) -> int:
    """Write one school's rows of one kind; returns the rows written."""
    import pyarrow.parquet as pq

    if table is None or (table.num_rows == 0 and kind != "marks"):
        return 0
    directory = out / kind / f"{PARTITION_KEY}={quote(sid, safe='')}"
    directory.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, directory / "part-0.parquet")
    return int(table.num_rows)


def _write_schools(path: Path, schools: list[tuple[str, str, dict[str, str]]]) -> None:
    """``schools.csv``: id, name, then every setting any school has (sorted)."""
    keys = sorted({k for _, _, settings in schools for k in settings})
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["id", "name", *keys])
        for sid, name, settings in sorted(schools):
            writer.writerow([sid, name, *(settings.get(k, "") for k in keys)])


def _source_tables(source: History | str | Path) -> tuple[tuple[str, str, dict[str, str]], dict[str, Any]]:
    """(school id, name, settings as text) and the rows of each kind as text tables."""
    if isinstance(source, History):
        return _history_tables(source)
    path = Path(source)
    if path.is_dir() and (path / "marks.csv").is_file():
        return _csv_dir_tables(path)
    from ..registers.readers import load_history

    return _history_tables(load_history([path]))


def _csv_dir_tables(path: Path) -> tuple[tuple[str, str, dict[str, str]], dict[str, Any]]:
    """A CSV history directory, every cell copied as text (the reader checks it later)."""
    import pyarrow as pa

    tables = {}
    for kind in KINDS:
        file = path / f"{kind}.csv"
        if file.is_file():
            with open(file, newline="", encoding="utf-8") as handle:
                rows = list(csv.reader(handle))
            header, body = (rows[0], rows[1:]) if rows else ([], [])
            tables[kind] = pa.table({h: pa.array([r[i] if i < len(r) else "" for r in body], pa.string())
                                     for i, h in enumerate(header)})
    school: tuple[str, str, dict[str, str]] = ("", "", {})
    if (path / "school.csv").is_file():
        with open(path / "school.csv", newline="", encoding="utf-8") as handle:
            row = next(csv.DictReader(handle), None) or {}
        school = (row.get("id", "").strip(), row.get("name", ""), {k: v for k, v in row.items()
                                                                   if k not in ("id", "name")})
    return school, tables


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return "" if value is None else str(value)


def _history_tables(history: History) -> tuple[tuple[str, str, dict[str, str]], dict[str, Any]]:
    """A loaded history in the CSV form: marks, pupils and events as text tables."""
    import pyarrow as pa

    rows: dict[str, list[tuple]] = {kind: [] for kind in KINDS}
    for pupil in history.pupils:
        rows["pupils"].append((pupil.id, _text(pupil.date_of_birth), _text(pupil.year_group),
                               ";".join(sorted(pupil.flags))))
        rows["marks"] += [(pupil.id, m.date.isoformat(), m.session, m.code, _text(m.minutes_late))
                          for m in pupil.register.marks()]
        rows["events"] += [(pupil.id, e.date.isoformat(), e.type,
                            ";".join(f"{k}={_text(v)}" for k, v in sorted(e.details.items()))) for e in pupil.events]
    tables = {kind: pa.table({c: pa.array([r[i] for r in rows[kind]], pa.string())
                              for i, c in enumerate(COLUMNS[kind])}) for kind in KINDS}
    school = history.school
    return (school.id, school.name, {k: _text(v) for k, v in school.settings.items()}), tables


# --- command line -------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--scheduler`` to the ``evaluate`` command."""
    parser.add_argument(
        "--scheduler", metavar="ADDRESS", default=None,
        help="evaluate a dataset directory (marks/ partitioned by school_id; see docs/distributed.md) on Dask: "
             "tcp://HOST:8786 for a running scheduler, local:N for N local worker processes; "
             f"needs the '{EXTRA}' extra; writes --format jsonl")


def run_evaluate_cli(args: argparse.Namespace, out: TextIO, err: TextIO | None = None) -> int:
    """``evaluate`` over a dataset directory: JSON lines to ``out``, row accounting to ``err``."""
    from ..registers.calendar import load_calendar

    _check_cli_args(args)
    calendar = load_calendar(args.calendar) if getattr(args, "calendar", None) else Calendar()
    run = evaluate_dataset(args.history[0], args.policy, args.as_of, getattr(args, "scheduler", None),
                           calendar=calendar, backend=getattr(args, "backend", "python"),
                           pupil_ids=[args.pupil] if getattr(args, "pupil", None) else None, lines=True)
    for line in run:
        out.write(line + "\n")
    print(run.report.summary(), file=err or sys.stderr)
    return 0


def _check_cli_args(args: argparse.Namespace) -> None:
    """Options that cannot combine with a dataset run are usage errors, said plainly."""
    if len(args.history) != 1 or not is_dataset(args.history):
        raise UsageError([Problem("--scheduler needs one dataset directory as --history",
                                  found=" ".join(map(str, args.history)),
                                  expected="a directory with marks/school_id=<id>/*.parquet (docs/distributed.md)")])
    if getattr(args, "format", "jsonl") != "jsonl":
        raise UsageError([Problem("a dataset evaluation writes one JSON object per pupil",
                                  found=f"--format {args.format}", expected="--format jsonl")])
    if getattr(args, "horizon", None) is not None:
        raise UsageError("--horizon is not available with a dataset evaluation")
