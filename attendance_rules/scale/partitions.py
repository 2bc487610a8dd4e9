"""From one school's rows to its pupils' results: the task each Dask worker runs.

A school's rows (text tables of marks, pupils and events, with the Parquet file each
row came from) become a ``History`` through the columnar reader, or through the CSV
reader when that is not available, so every check is the readers' own; each pupil is
then evaluated with the job's policy, compiled once per worker process.
Before its pupils are evaluated, a school's history is checked against the policy
(``policy.conformance.conform``, as ``evaluate`` checks a local history): its settings,
event types and event fields. Refused rows, errors of that check and warnings come back
as located problems in a ``PartitionReport`` (row accounting), never as an exception
raised on the worker.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import attrs

from ..exceptions import AttendanceRulesError, InputError, Location, Problem
from ..jsonform import json_line
from ..registers.calendar import Calendar
from ..registers.history import History, School
from ..text import cell_text
from .dataset import (
    COLUMNS,
    KINDS,
    PARTITION_KEY,
    SCHOOLS_FILE,
    read_school_files,
    text_table,
    zero_counts,
)

__all__ = [
    "DatasetReport",
    "PartitionJob",
    "PartitionOutcome",
    "PartitionReport",
    "arrow_reader",
    "evaluate_frame",
    "evaluate_school_dir",
    "job_policy",
    "text_frame",
]


# --- reports ----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class PartitionReport:
    """Rows of one school partition: read, used, reported (refused), and pupils evaluated.

    ``problems`` holds the refused rows and the errors of the check against the policy
    (which refuse the school, not a row); ``warnings`` what its reader and that check noted.
    """

    school_id: str
    read: Mapping[str, int] = attrs.field(factory=zero_counts)
    used: Mapping[str, int] = attrs.field(factory=zero_counts)
    pupils: int = 0
    problems: tuple[Problem, ...] = ()
    warnings: tuple[Problem, ...] = ()
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

    @property
    def warnings(self) -> tuple[Problem, ...]:
        """Every warning once, school by school: one that is the same for every school (an
        as-of date before the policy comes into force) is said once."""
        return tuple(dict.fromkeys(w for p in self.partitions for w in p.warnings))

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
    settings_file: str = ""  # where the school's settings were written (schools.csv)


@attrs.frozen
class _Read:
    """A partition read: its history, rows used per kind, refused rows and warnings located at
    the Parquet file and row; ``locate`` points any other problem about its rows there too."""

    history: History
    used: Mapping[str, int]
    problems: tuple[Problem, ...]
    warnings: tuple[Problem, ...]
    locate: Callable[[Problem], Problem]


def _partition_history(part: _Part, name: str, strict_codes: bool) -> _Read:
    """One school partition as a ``History``, with rows used, problems and warnings.

    Uses ``attendance_rules.registers.columnar.read_arrow`` when it is importable; otherwise writes
    the partition in the CSV form and reads it back with ``readers.read_history``, so the
    checks and the meaning of every column are the CSV reader's own.
    """
    read_arrow = arrow_reader()
    if read_arrow is None:
        return _through_csv(part, name, strict_codes)
    # The used-row counts are the reader's own, so a dataset's row accounting (read, used,
    # refused) means the same as `evaluate` on one school's files.
    history, report = read_arrow(
        part.tables.get("marks"),
        pupils=part.tables.get("pupils"),
        events=part.tables.get("events"),
        name=name,
        strict_codes=strict_codes,
    )
    return _located(history, report, lambda p: _arrow_relocated(p, part.sources))


def _located(history: History, report: Any, locate: Callable[[Problem], Problem]) -> _Read:
    """A reader's history and ``LoadReport`` with its problems and warnings relocated."""
    return _Read(
        history,
        {k: report.used.get(k, 0) for k in KINDS},
        tuple(map(locate, report.problems)),
        tuple(map(locate, report.warnings)),
        locate,
    )


def arrow_reader() -> Callable[..., Any] | None:
    """``columnar.read_arrow`` if that module exists (and is not switched off), else None."""
    if os.environ.get("ATTENDANCE_RULES_DISTRIBUTED_CSV"):  # force the CSV path (tests, debugging)
        return None
    try:
        from ..registers.columnar import read_arrow
    except ImportError:
        return None
    return read_arrow


def _through_csv(part: _Part, name: str, strict_codes: bool) -> _Read:
    """The partition written as marks.csv / pupils.csv / events.csv, read by the CSV reader."""
    import pyarrow.csv as pacsv

    from ..registers.readers import read_history

    with tempfile.TemporaryDirectory(prefix="attendance-part-") as tmp:
        files = {}
        for kind, table in part.tables.items():
            if table.num_rows == 0:  # nothing to read (a header alone would add nothing)
                continue
            path = files[kind] = Path(tmp) / f"{kind}.csv"
            # Round-tripping through CSV is slower but keeps one meaning per column: every check is
            # the CSV reader's, so a school reads the same whether it comes from Parquet or from its
            # own files.
            pacsv.write_csv(table, path)
        history, report = read_history(list(files.values()), strict_codes=strict_codes)
        # What the CSV reader says of the folder written here (no school.csv: the school comes from
        # schools.csv) is not about the dataset, and read_arrow says none of it.
        report = attrs.evolve(
            report, warnings=tuple(w for w in report.warnings if w.location.file != tmp)
        )
        where = {str(path): kind for kind, path in files.items()}
    return _located(history, report, lambda p: _relocated(p, where, part.sources, name))


def _arrow_relocated(problem: Problem, sources: Mapping[str, tuple]) -> Problem:
    """A problem ``read_arrow`` located at ``KIND row N`` (from 0), pointed at the Parquet file and
    row."""
    match = re.fullmatch(r"(\w+) row (\d+)", problem.location.pointer or "")
    if match is None or match.group(1) not in sources:
        return problem
    row = int(match.group(2))
    # A partition concatenates the rows of several Parquet files in order; walk the per-file row
    # counts to turn the partition's row number into a file and a row within it.
    for file, count in sources[match.group(1)]:
        if row < count:
            return attrs.evolve(problem, location=Location(file, pointer=f"row {row + 1}"))
        row -= count
    return problem


def _relocated(
    problem: Problem, where: Mapping[str, str], sources: Mapping[str, tuple], name: str
) -> Problem:
    """A problem found in a temporary CSV file, pointed back at the Parquet file and row (one
    about a file as a whole, such as an as-of date after its last mark, at ``name``, as
    ``read_arrow`` locates it)."""
    kind = where.get(problem.location.file)
    if kind is None:
        return problem
    if not problem.location.line:
        return attrs.evolve(problem, location=Location(name))
    files = sources.get(kind, ())
    # A problem on line 1 (row -1) is about the header, i.e. the columns of the first file.
    row = problem.location.line - 2  # line 1 is the header
    if row < 0:
        return attrs.evolve(
            problem, location=Location(files[0][0] if files else kind, pointer="columns")
        )
    for file, count in files:
        if row < count:
            return attrs.evolve(problem, location=Location(file, pointer=f"row {row + 1}"))
        row -= count
    return attrs.evolve(problem, location=Location(kind, pointer=f"line {problem.location.line}"))


# --- evaluating one partition (runs on a worker) -----------------------------------------


@attrs.frozen(kw_only=True)
class PartitionJob:
    """What every partition task needs besides its rows (small, picklable)."""

    policy: str
    calendar: Calendar
    backend: str
    as_of: dt.date
    strict: bool = True
    only: frozenset[str] | None = None
    strict_codes: bool = False


@attrs.frozen(kw_only=True)
class PartitionOutcome:
    """A partition's JSON lines and report; ``error`` is the exception class to raise, if any."""

    school_id: str
    lines: tuple[str, ...]
    report: PartitionReport
    error: type | None = None


# per worker process: compiled policies by (ref, calendar, backend)
_POLICIES: dict[tuple, Any] = {}


def job_policy(job: PartitionJob) -> Any:
    """The compiled policy of ``job``, compiled once per process."""
    key = (job.policy, job.calendar, job.backend)
    if key not in _POLICIES:
        from ..engine.compiled import load_policy

        _POLICIES[key] = load_policy(job.policy, calendar=job.calendar, backend=job.backend)
    return _POLICIES[key]


def _evaluate_part(part: _Part, job: PartitionJob, name: str) -> PartitionOutcome:
    """Convert one school's rows to pupils, check them against the policy and evaluate each;
    problems come back as data."""
    report = PartitionReport(school_id=part.school.id, read=_rows_read(part))
    start = time.perf_counter()
    try:
        read = _partition_history(part, name, job.strict_codes)
        report = attrs.evolve(
            report, used=read.used, problems=read.problems, warnings=read.warnings
        )
        # Strict (the default): a school with refused rows is not evaluated at all, and the run
        # stops at the first one (distributed.py); lenient, what was read is evaluated and the
        # problems are reported beside it.
        if read.problems and job.strict:
            return _refused(report, time.perf_counter() - start)
        school, report = _conformed(read, part, job, report)
        loaded = time.perf_counter()
        if school is None:  # a school the policy cannot read is never evaluated, strict or not
            return _refused(report, loaded - start, InputError if job.strict else None)
        lines = _evaluate_pupils(read.history, school, job)
    except AttendanceRulesError as error:
        report = attrs.evolve(report, pupils=0, problems=error.problems)
        return PartitionOutcome(
            school_id=report.school_id, lines=(), report=report, error=type(error)
        )
    report = attrs.evolve(
        report,
        pupils=len(lines),
        load_seconds=loaded - start,
        evaluate_seconds=time.perf_counter() - loaded,
    )
    return PartitionOutcome(school_id=report.school_id, lines=lines, report=report)


def _rows_read(part: _Part) -> dict[str, int]:
    """Rows in the partition, per kind."""
    return {k: (t.num_rows if (t := part.tables.get(k)) is not None else 0) for k in KINDS}


def _refused(
    report: PartitionReport, seconds: float, error: type | None = InputError
) -> PartitionOutcome:
    """A school not evaluated: no pupils, its problems reported (and raised, with ``error``)."""
    report = attrs.evolve(report, pupils=0, load_seconds=seconds)
    return PartitionOutcome(school_id=report.school_id, lines=(), report=report, error=error)


def _conformed(
    read: _Read, part: _Part, job: PartitionJob, report: PartitionReport
) -> tuple[School | None, PartitionReport]:
    """The school with the policy's defaults (None when the history does not conform), and the
    report with the check's errors or warnings: ``conform``, as ``evaluate`` runs it locally."""
    from ..policy.conformance import conform

    # The reader knows nothing of schools.csv: the school and where its settings are come from it.
    history = attrs.evolve(read.history, school=part.school)
    where = part.settings_file or f"<school {part.school.id}>"

    def settings_at(setting: str) -> Location:
        return Location(where, pointer=f"id {part.school.id}, column {setting}")

    try:
        checked = conform(history, job_policy(job).ruleset.policy, job.as_of, settings_at)
    except InputError as error:
        errors = tuple(map(read.locate, error.problems))
        return None, attrs.evolve(report, problems=report.problems + errors)
    warnings = tuple(map(read.locate, checked.warnings))
    return checked.school, attrs.evolve(report, warnings=report.warnings + warnings)


def _evaluate_pupils(history: History, school: School, job: PartitionJob) -> tuple[str, ...]:
    """Each pupil's ``evaluate --format jsonl`` line, in pupil id order."""
    policy = job_policy(job)
    # Pupil id order, not input order: partitions are read by many workers, and the merged output
    # must be the same whatever order the files or rows came in.
    pupils = sorted(history.pupils, key=lambda p: p.id)
    if job.only is not None:
        pupils = [p for p in pupils if p.id in job.only]
    return tuple(json_line(policy.evaluate_pupil(p, job.as_of, school)) for p in pupils)


def evaluate_school_dir(
    root: str, dirs: Mapping[str, str], school: School, job: PartitionJob
) -> PartitionOutcome:
    """Task for a dataset directory: read one school's Parquet files, then evaluate them."""
    tables, sources = {}, {}
    for kind, dirname in dirs.items():
        tables[kind], sources[kind] = read_school_files(Path(root) / kind / dirname)
    part = _Part(school, tables, sources, str(Path(root) / SCHOOLS_FILE))
    return _evaluate_part(part, job, str(Path(root) / "marks" / dirs.get("marks", "")))


def evaluate_frame(
    frame: Any, schools: Mapping[str, School], job: PartitionJob, settings_file: str = ""
) -> list[PartitionOutcome]:
    """Task for a DataFrame input: one shuffled pandas partition, any number of schools
    (their settings read from ``settings_file``, if they came from one)."""
    outcomes = []
    for sid in sorted(frame[PARTITION_KEY].unique()):
        rows = frame[frame[PARTITION_KEY] == sid]
        tables = {kind: _frame_table(rows[rows["_kind"] == kind], kind) for kind in KINDS}
        tables = {k: t for k, t in tables.items() if t is not None}
        sources = {
            k: ((f"<{k} DataFrame, school_id={sid}>", t.num_rows),) for k, t in tables.items()
        }
        school = schools.get(sid) or School(sid)
        outcomes.append(
            _evaluate_part(
                _Part(school, tables, sources, settings_file),
                job,
                f"<marks DataFrame, school_id={sid}>",
            )
        )
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
            texts = [None if v is None or v != v else cell_text(v) for v in series]
            table[str(column)] = pa.chunked_array([pa.array(texts, pa.string())])
    return text_table(pa.table(table), keep_key=True)


def text_frame(frame: Any) -> Any:
    """A pandas partition with every column as text (``string`` dtype), so frames of
    different kinds and column types concatenate and shuffle with one schema."""
    import pandas as pd

    table = _pandas_table(frame)
    return pd.DataFrame(
        {
            c: pd.Series(table.column(c).to_pylist(), dtype="string", index=frame.index)
            for c in table.column_names
        }
    )
