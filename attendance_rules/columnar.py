"""Columnar histories: Parquet files and Arrow tables, read with pyarrow (optional extra).

    pip install 'attendance-rules[parquet]'

``read_arrow`` turns Arrow tables with the columns of the CSV files (``marks``:
``pupil_id,date,session,code[,minutes_late]``; ``pupils``: ``pupil_id,date_of_birth,
year_group,flags``; ``events``: ``pupil_id,date,type,details``) into the same ``History``
and ``LoadReport`` the CSV reader gives for the same rows: the same pupils (in id order),
registers, flags and events, the same row accounting and the same problems, each located
at its table row (``marks row 17``: 0-based, as pyarrow and pandas number rows) or, for a
Parquet file, at ``row 17`` of that file.

Marks are converted with vectorised pyarrow operations: pupil ids, dates, sessions and
codes are dictionary-encoded, so each distinct value (a year has ~200 dates and ~25
codes) is checked once in Python; rows whose values all check are grouped by pupil and
ordered by session with one stable sort, and each pupil's slice of the sorted columns
becomes its compact register. Rows that are not plain (a bad or padded value, minutes
late) go through the same per-row checks as the CSV reader, so they are stored or
reported exactly as there.

Without pyarrow, every entry point raises ``UsageError`` naming the extra.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .codes import CodeBook, default_codebook
from .exceptions import UsageError
from .history import History, School
from .readers import LoadReport, _csv_details, _Reader

__all__ = ["read_arrow", "require_pyarrow"]

MARK_COLUMNS = ("pupil_id", "date", "session", "code")
_EXTRA = "pip install 'attendance-rules[parquet]'"


def require_pyarrow() -> Any:
    """The pyarrow module, or ``UsageError`` saying how to install the extra."""
    try:
        import pyarrow
        import pyarrow.compute  # noqa: F401
    except ImportError as err:
        raise UsageError(f"reading Parquet or Arrow histories needs pyarrow: {_EXTRA} ({err})") from None
    return pyarrow


def read_arrow(marks: Any, pupils: Any = None, events: Any = None, school: School | None = None,
               name: str = "<arrow>") -> tuple[History, LoadReport]:
    """A history from Arrow tables with the CSV files' columns (dates as text or date32).

    Problems are located as ``name`` with pointer ``marks row N`` (``pupils row N``,
    ``events row N``), N the 0-based row of the table. Pupils come in id order, as from
    every other reader.
    """
    require_pyarrow()
    reader = _Reader(default_codebook())
    if school is not None:
        reader.school = school
    sources = {kind: (name, "row", f"{kind} ") for kind in ("pupils", "marks", "events")}
    read_tables(reader, marks, pupils, events, sources)
    history = reader.history([name], table_digest([t for t in (marks, pupils, events) if t is not None]))
    return history, LoadReport(dict(reader.read), dict(reader.used), tuple(reader.problems))


def read_arrow_with(codebook: CodeBook, marks: Any, pupils: Any, events: Any,
                    sources: dict[str, tuple[str, str, str]]) -> _Reader:
    """A reader fed from tables, with a given code book and per-table locations."""
    reader = _Reader(codebook)
    read_tables(reader, marks, pupils, events, sources)
    return reader


def read_tables(reader: _Reader, marks: Any, pupils: Any, events: Any,
                sources: dict[str, tuple[str, str, str]]) -> None:
    """Feed ``reader`` the pupils, then the marks, then the events (as the CSV reader does)."""
    if pupils is not None:
        reader.roster_given = True
        _read_pupils(reader, pupils, sources["pupils"])
    if marks is not None:
        _read_marks(reader, marks, sources["marks"])
    if events is not None:
        _read_events(reader, events, sources["events"])


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


# --- row by row (pupils, events, and marks off the vectorised path) -----------------------


def _texts(table: Any, column: str) -> list[Any] | None:
    """A column as Python values: text stripped, dates as ISO text, null as ``""``."""
    import pyarrow as pa

    if column not in table.column_names:
        return None
    values = table.column(column)
    if pa.types.is_date(values.type) or pa.types.is_timestamp(values.type):
        values = values.cast(pa.date32()).cast(pa.string())
    return [("" if v is None else v.strip() if isinstance(v, str) else v) for v in values.to_pylist()]


def _lacks(reader: _Reader, table: Any, required: tuple[str, ...], source: tuple[str, str, str]) -> bool:
    missing = [c for c in required if c not in table.column_names]
    if missing:
        from .exceptions import Location

        reader.problem(f"{source[2].strip() or 'table'} lacks column(s) {', '.join(missing)}",
                       Location(source[0], pointer=source[2].strip()), found=",".join(table.column_names),
                       expected=",".join(required))
    return bool(missing)


def _read_pupils(reader: _Reader, table: Any, source: tuple[str, str, str]) -> None:
    import re

    if _lacks(reader, table, ("pupil_id",), source):
        return
    n = table.num_rows
    ids = _texts(table, "pupil_id")
    dobs, years, flags = (_texts(table, c) or [""] * n for c in ("date_of_birth", "year_group", "flags"))
    for i in range(n):
        names = [f for f in re.split(r"[;|]", str(flags[i])) if f]
        reader.add_pupil(ids[i], names, dobs[i], years[i], (source[0], source[2], i))


def _read_events(reader: _Reader, table: Any, source: tuple[str, str, str]) -> None:
    if _lacks(reader, table, ("pupil_id", "date", "type"), source):
        return
    columns = {c: _texts(table, c) for c in table.column_names}
    details = columns.pop("details", None) or [""] * table.num_rows
    for i in range(table.num_rows):
        where = (source[0], source[2], i)
        row = {c: ("" if values[i] is None else str(values[i])) for c, values in columns.items()}
        draft = reader.pupil_for(row["pupil_id"], where, create=False)
        fields = _csv_details(reader, str(details[i]), where)
        reader.add_event(draft, {**row, **fields}, where)


def _read_marks(reader: _Reader, table: Any, source: tuple[str, str, str]) -> None:
    if _lacks(reader, table, MARK_COLUMNS, source):
        return
    reader.begin_marks(source)
    columns = {c: _texts(table, c) for c in (*MARK_COLUMNS, "minutes_late") if c in table.column_names}
    for i in range(table.num_rows):
        where = (source[0], source[2], i)
        row = {c: values[i] for c, values in columns.items()}
        draft = reader.pupil_for(row["pupil_id"], where, create=not reader.roster_given)
        reader.add_mark(draft, row, where, i)
