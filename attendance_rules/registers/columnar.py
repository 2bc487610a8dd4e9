"""Columnar histories: Parquet files and Arrow tables, read with pyarrow (optional extra).

    pip install 'attendance-rules[parquet]'

``read_arrow`` turns Arrow tables with the columns of the CSV files (``marks``:
``pupil_id,date,session,code[,minutes_late]``; ``pupils``: ``pupil_id,date_of_birth,
year_group,flags``; ``events``: ``pupil_id,date,type,details``) into the same ``History``
and ``LoadReport`` the CSV reader gives for the same rows: the same pupils (in id order),
registers, flags and events, the same row accounting and the same problems, each located
at its table row (``marks row 17``: 0-based, as pyarrow and pandas number rows) or, for a
Parquet file, at ``row 17`` of that file.

Marks are converted with vectorised pyarrow operations, one record batch at a time
(marks.csv through pyarrow's streaming CSV reader, marks.parquet batch by batch, its
marks columns only), so no whole-file table is ever held: see ``arrow_marks``. Pupils,
events, and marks merged with earlier files go row by row through the ``Reader``'s checks.

Without pyarrow, every entry point raises ``UsageError`` naming the extra.
"""

from __future__ import annotations

import csv
import hashlib
from array import array
from pathlib import Path
from typing import Any

from ..exceptions import Location, UsageError
from .arrow_marks import MARK_COLUMNS, ArrowMarks, GiveUp
from .codes import CodeBook, default_codebook
from .csv_reader import csv_details
from .history import History, School
from .reading import CSV_COLUMNS, LoadReport, Reader

__all__ = [
    "read_arrow",
    "read_arrow_with",
    "read_marks_csv_into",
    "read_parquet_into",
    "read_tables",
    "require_pyarrow",
    "table_digest",
]

_EXTRA = "pip install 'attendance-rules[parquet]'"


def require_pyarrow() -> Any:
    """The pyarrow module, or ``UsageError`` saying how to install the extra."""
    try:
        import pyarrow
        import pyarrow.compute  # noqa: F401
    except ImportError as err:
        raise UsageError(
            f"reading Parquet or Arrow histories needs pyarrow: {_EXTRA} ({err})"
        ) from None
    return pyarrow


def read_arrow(
    marks: Any,
    pupils: Any = None,
    events: Any = None,
    school: School | None = None,
    name: str = "<arrow>",
    strict_codes: bool = False,
) -> tuple[History, LoadReport]:
    """A history from Arrow tables with the CSV files' columns (dates as text or date32).

    Problems are located as ``name`` with pointer ``marks row N`` (``pupils row N``,
    ``events row N``), N the 0-based row of the table. Pupils come in id order, as from
    every other reader. A withdrawn register code is accepted with a warning, or refused
    with ``strict_codes`` (see ``readers.read_history``).
    """
    require_pyarrow()
    reader = Reader(default_codebook(), strict_codes=strict_codes)
    if school is not None:
        reader.school = school
    sources = {kind: (name, "row", f"{kind} ") for kind in ("pupils", "marks", "events")}
    read_tables(reader, marks, pupils, events, sources)
    return reader.finished(
        [name], table_digest([t for t in (marks, pupils, events) if t is not None])
    )


def read_arrow_with(
    codebook: CodeBook,
    marks: Any,
    pupils: Any,
    events: Any,
    sources: dict[str, tuple[str, str, str]],
    strict_codes: bool = False,
) -> Reader:
    """A reader fed from tables, with a given code book and per-table locations."""
    reader = Reader(codebook, strict_codes=strict_codes)
    read_tables(reader, marks, pupils, events, sources)
    return reader


def read_tables(
    reader: Reader, marks: Any, pupils: Any, events: Any, sources: dict[str, tuple[str, str, str]]
) -> None:
    """Feed ``reader`` the pupils, then the marks, then the events (as the CSV reader does)."""
    if pupils is not None:
        reader.roster_given = True
        _read_pupils(reader, pupils, sources["pupils"])
    if marks is not None:
        _read_marks(reader, marks, sources["marks"])
    if events is not None:
        _read_events(reader, events, sources["events"])
    _release_memory()


def table_digest(tables: list[Any]) -> str:
    """SHA-256 of the tables' Arrow IPC stream (streamed, never held whole in memory)."""
    import pyarrow as pa

    h = hashlib.sha256()

    class _Sink:
        closed = False

        def write(self, data: Any) -> int:
            h.update(data)
            return len(data)

        def flush(self) -> None:
            pass

    for table in tables:
        with pa.ipc.new_stream(pa.PythonFile(_Sink(), mode="w"), table.schema) as writer:
            writer.write_table(table)
    return "sha256:" + h.hexdigest()


# --- files: Parquet, and marks.csv through pyarrow's CSV reader ---------------------------

_LOW_CARDINALITY = (
    "pupil_id",
    "date",
    "session",
    "code",
    "minutes_late",
    "type",
    "year_group",
    "flags",
)
_BATCH_ROWS = 1 << 18  # rows per record batch of a table or Parquet file (memory stays per batch)
_CSV_BLOCK = 1 << 22  # bytes per block of marks.csv read by pyarrow's streaming CSV reader


def read_parquet_into(reader: Reader, kind: str, path: Path) -> None:
    """Feed ``reader`` the rows of ``pupils``/``marks``/``events.parquet`` (located ``row N``)."""
    require_pyarrow()
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = (str(path), "row", "")
    _check_parquet_columns(reader, kind, path)
    if kind == "marks" and _read_marks_parquet(reader, path, source):
        return
    try:
        names = pq.read_schema(path).names
        table = pq.read_table(path, read_dictionary=[c for c in names if c in _LOW_CARDINALITY])
    except (pa.ArrowException, OSError) as err:
        reader.problem(
            "not a readable Parquet file",
            Location(str(path)),
            found=str(err)[:200],
            expected=f"a Parquet file with the columns of {kind}.csv",
        )
        return
    {"pupils": _read_pupils, "marks": _read_marks, "events": _read_events}[kind](
        reader, table, source
    )
    _release_memory()


def _check_parquet_columns(reader: Reader, kind: str, path: Path) -> None:
    """Warn about the unknown, repeated or missing optional columns of a Parquet file (as
    of its CSV twin); an unreadable file is reported when it is read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if kind not in CSV_COLUMNS:
        return
    try:
        names = pq.read_schema(path).names
    except (pa.ArrowException, OSError):
        return
    reader.check_columns(
        kind, names, path.name, lambda i: Location(str(path), pointer=f"column {i + 1}")
    )


def _read_marks_parquet(reader: Reader, path: Path, source: tuple[str, str, str]) -> bool:
    """marks.parquet read batch by batch (only the marks columns, text as dictionaries);
    False (the reader untouched) when the whole table must be read instead: an unreadable
    file (reported as ever by reading it whole) or pupils with earlier marks."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if any(d.slots for d in reader.pupils.values()):
        return False
    saved = _saved(reader)
    try:
        names = pq.read_schema(path).names
        if any(c not in names for c in MARK_COLUMNS):
            return False
        columns = [c for c in (*MARK_COLUMNS, "minutes_late") if c in names]
        handle = pq.ParquetFile(path, read_dictionary=columns)
    except (pa.ArrowException, OSError):
        return False
    with handle:
        reader.begin_marks(source)
        done = _feed(
            ArrowMarks(reader, source), handle.iter_batches(batch_size=_BATCH_ROWS, columns=columns)
        )
    if not done:
        _restore(reader, saved)
    _release_memory()
    return done


def read_marks_csv_into(reader: Reader, path: Path) -> bool:
    """Read marks.csv with pyarrow's streaming CSV reader; False (the reader untouched)
    when the stdlib reader must read it instead: a row to report (so it is located by
    line, exactly as ever), a header pyarrow would read otherwise, or earlier marks."""
    require_pyarrow()
    import pyarrow as pa
    import pyarrow.csv as pcsv

    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), [])
    except (csv.Error, UnicodeDecodeError):  # the stdlib reader locates and reports it
        return False
    if (
        len(set(header)) != len(header)
        or any(c not in header for c in MARK_COLUMNS)
        or any(d.slots for d in reader.pupils.values())
    ):
        return False
    text = pa.dictionary(pa.int32(), pa.string())
    saved, source = _saved(reader), (str(path), "row", "")
    try:
        batches = pcsv.open_csv(
            path,
            read_options=pcsv.ReadOptions(block_size=_CSV_BLOCK),
            convert_options=pcsv.ConvertOptions(column_types={c: text for c in header}),
        )
    except (pa.ArrowException, OSError):
        return False
    reader.begin_marks(source)
    done = _feed(ArrowMarks(reader, source, give_up_on_problem=True), batches)
    if not done:  # a row of the wrong width, or a row to report: the stdlib reader reports it
        _restore(reader, saved)
    else:  # warned here only when read here: the stdlib reader warns when it reads the file
        reader.check_columns(
            "marks", header, path.name, lambda i: Location(str(path), 1, pointer=f"column {i + 1}")
        )
    _release_memory()
    return done


def _feed(marks: ArrowMarks, batches: Any) -> bool:
    """Convert every batch; False when one could not be read (or ``marks`` gave up)."""
    import pyarrow as pa

    batches = iter(batches)
    try:
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                break
            except (pa.ArrowException, OSError):  # reading, not converting, failed
                return False
            marks.add(batch)
        marks.finish(_BATCH_ROWS)
    except GiveUp:
        return False
    return True


def _saved(reader: Reader) -> tuple:
    return (len(reader.problems), dict(reader.read), dict(reader.used), set(reader.pupils))


def _restore(reader: Reader, saved: tuple) -> None:
    """Undo a marks file read into ``reader`` (whose pupils had no marks before it)."""
    problems, read, used, pupils = saved
    del reader.problems[problems:]
    reader.read.update(read)
    reader.used.update(used)
    for pid in set(reader.pupils) - pupils:
        del reader.pupils[pid]
    for draft in reader.pupils.values():
        draft.slots, draft.codes, draft.rows, draft.late = array("I"), bytearray(), array("I"), {}
        draft.last, draft.seen = -1, None


def _release_memory() -> None:
    """Give the conversion's freed buffers back to the system (pyarrow's pool keeps them)."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


# --- row by row (pupils, events, and marks off the vectorised path) -----------------------


def _texts(table: Any, column: str) -> list[Any] | None:
    """A column as Python values: text stripped, dates as ISO text, null as ``""``."""
    import pyarrow as pa

    if column not in table.column_names:
        return None
    values = table.column(column)
    if pa.types.is_date(values.type) or pa.types.is_timestamp(values.type):
        values = values.cast(pa.date32()).cast(pa.string())
    return [
        ("" if v is None else v.strip() if isinstance(v, str) else v) for v in values.to_pylist()
    ]


def _present_texts(table: Any, column: str) -> list[Any]:
    """``_texts`` of a column the caller has checked the table has."""
    values = _texts(table, column)
    assert values is not None, f"the column {column} is present"
    return values


def _lacks(
    reader: Reader, table: Any, required: tuple[str, ...], source: tuple[str, str, str]
) -> bool:
    missing = [c for c in required if c not in table.column_names]
    if missing:
        reader.problem(
            f"{source[2].strip() or Path(source[0]).name} lacks column(s) {', '.join(missing)}",
            Location(source[0], pointer=source[2].strip()),
            found=",".join(table.column_names),
            expected=",".join(required),
        )
    return bool(missing)


def _read_pupils(reader: Reader, table: Any, source: tuple[str, str, str]) -> None:
    import re

    if _lacks(reader, table, ("pupil_id",), source):
        return
    n = table.num_rows
    ids = _present_texts(table, "pupil_id")
    dobs, years, flags = (
        _texts(table, c) or [""] * n for c in ("date_of_birth", "year_group", "flags")
    )
    for i in range(n):
        names = [f for f in re.split(r"[;|]", str(flags[i])) if f]
        reader.add_pupil(ids[i], names, dobs[i], years[i], (source[0], source[2], i))


def _read_events(reader: Reader, table: Any, source: tuple[str, str, str]) -> None:
    if _lacks(reader, table, ("pupil_id", "date", "type"), source):
        return
    columns = {c: _present_texts(table, c) for c in table.column_names}
    details = columns.pop("details", None) or [""] * table.num_rows
    for i in range(table.num_rows):
        where = (source[0], source[2], i)
        row = {c: ("" if values[i] is None else str(values[i])) for c, values in columns.items()}
        draft = reader.pupil_for(row.pop("pupil_id"), where, create=False)
        fields = csv_details(reader, str(details[i]), where)
        reader.add_event(draft, {**row, **fields}, where)


def _read_marks(reader: Reader, table: Any, source: tuple[str, str, str]) -> None:
    if _lacks(reader, table, MARK_COLUMNS, source):
        return
    reader.begin_marks(source)
    if any(d.slots for d in reader.pupils.values()):  # pupils already have marks (another file)
        _marks_row_by_row(reader, table, source)
    else:
        marks = ArrowMarks(reader, source)
        for batch in table.to_batches(max_chunksize=_BATCH_ROWS):
            marks.add(batch)
        marks.finish(_BATCH_ROWS)


def _marks_row_by_row(reader: Reader, table: Any, source: tuple[str, str, str]) -> None:
    """Every mark through the CSV reader's checks (used when merging with earlier files)."""
    columns = {
        c: _present_texts(table, c)
        for c in (*MARK_COLUMNS, "minutes_late")
        if c in table.column_names
    }
    for i in range(table.num_rows):
        where = (source[0], source[2], i)
        row = {c: values[i] for c, values in columns.items()}
        draft = reader.pupil_for(row["pupil_id"], where, create=not reader.roster_given)
        reader.add_mark(draft, row, where, i)
