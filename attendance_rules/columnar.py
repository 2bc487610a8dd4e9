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

import csv
import datetime as dt
import hashlib
from array import array
from pathlib import Path
from typing import Any

from .codes import CodeBook, default_codebook
from .exceptions import Location, UsageError
from .history import SESSIONS, History, School, day_of_slot
from .readers import _SESSION_HALF, LoadReport, _csv_details, _location, _PupilDraft, _Reader

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


# --- files: Parquet, and marks.csv through pyarrow's CSV reader ---------------------------

_LOW_CARDINALITY = ("pupil_id", "date", "session", "code", "minutes_late", "type", "year_group", "flags")


def read_parquet_into(reader: _Reader, kind: str, path: Path) -> None:
    """Feed ``reader`` the rows of ``pupils``/``marks``/``events.parquet`` (located ``row N``)."""
    require_pyarrow()
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
        table = pq.read_table(path, read_dictionary=[c for c in names if c in _LOW_CARDINALITY])
    except (pa.ArrowException, OSError) as err:
        reader.problem("not a readable Parquet file", Location(str(path)), found=str(err)[:200],
                       expected=f"a Parquet file with the columns of {kind}.csv")
        return
    source = (str(path), "row", "")
    {"pupils": _read_pupils, "marks": _read_marks, "events": _read_events}[kind](reader, table, source)


def read_marks_csv_into(reader: _Reader, path: Path) -> bool:
    """Read marks.csv with pyarrow's multi-threaded CSV reader; False (the reader untouched)
    when the stdlib reader must read it instead: a row to report (so it is located by
    line, exactly as ever), a header pyarrow would read otherwise, or earlier marks."""
    require_pyarrow()
    import pyarrow as pa
    import pyarrow.csv as pcsv

    with open(path, newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle), [])
    if len(set(header)) != len(header) or any(c not in header for c in MARK_COLUMNS) \
            or any(d.slots for d in reader.pupils.values()):
        return False
    text = pa.dictionary(pa.int32(), pa.string())
    try:
        table = pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(column_types={c: text for c in header}))
    except (pa.ArrowException, OSError):  # e.g. a row of the wrong width: the stdlib reader reports it
        return False
    saved = (len(reader.problems), dict(reader.read), dict(reader.used), set(reader.pupils))
    _read_marks(reader, table, (str(path), "row", ""))
    if len(reader.problems) == saved[0]:
        return True
    _restore(reader, saved)
    return False


def _restore(reader: _Reader, saved: tuple) -> None:
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
        reader.problem(f"{source[2].strip() or Path(source[0]).name} lacks column(s) {', '.join(missing)}",
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
    if any(d.slots for d in reader.pupils.values()):  # pupils already have marks (another file)
        _marks_row_by_row(reader, table, source)
    else:
        _Marks(reader, table, source).run()


def _marks_row_by_row(reader: _Reader, table: Any, source: tuple[str, str, str]) -> None:
    """Every mark through the CSV reader's checks (used when merging with earlier files)."""
    columns = {c: _texts(table, c) for c in (*MARK_COLUMNS, "minutes_late") if c in table.column_names}
    for i in range(table.num_rows):
        where = (source[0], source[2], i)
        row = {c: values[i] for c, values in columns.items()}
        draft = reader.pupil_for(row["pupil_id"], where, create=not reader.roster_given)
        reader.add_mark(draft, row, where, i)


# --- marks, vectorised --------------------------------------------------------------------


def _encode(column: Any) -> tuple[Any, list[Any]]:
    """A column as (int32 indices with no nulls, distinct values as Python objects, text
    stripped, dates as ISO text, null as ``""``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_timestamp(column.type):
        column = column.cast(pa.date32())
    column = column.unify_dictionaries() if pa.types.is_dictionary(column.type) else \
        pc.dictionary_encode(column, null_encoding="encode")
    if column.num_chunks == 0:
        return pa.array([], pa.int32()), []
    values = [_plain_value(v) for v in column.chunk(0).dictionary.to_pylist()]
    indices = pa.concat_arrays([c.indices.cast(pa.int32()) for c in column.chunks])
    if indices.null_count:
        indices = pc.fill_null(indices, len(values))
        values.append("")
    return indices, values


def _plain_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    return value.isoformat() if isinstance(value, dt.date) else value


class _Marks:
    """One marks table: each distinct value checked once, plain rows converted in bulk,
    every other row sent through the CSV reader's checks (which report it)."""

    def __init__(self, reader: _Reader, table: Any, source: tuple[str, str, str]) -> None:
        self.reader, self.table, self.source = reader, table, source
        self.n = table.num_rows

    def run(self) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        reader, n = self.reader, self.n
        reader.read["marks"] += n
        if n == 0:
            return
        pupil, self.pupil_values = _encode(self.table.column("pupil_id"))
        drafts, number, of_entry = [], {}, self._pupils(pupil)
        for draft in of_entry:  # each pupil numbered once, however its id was padded
            if draft is not None and draft.id not in number:
                number[draft.id] = len(drafts)
                drafts.append(draft)
        numbers = [-1 if d is None else number[d.id] for d in of_entry]
        pnum = pc.take(pa.array(numbers, pa.int32()), pupil)
        slot, code = self._slots_and_codes()
        late = self._late()
        plain = pc.and_(pc.and_(pc.greater_equal(pnum, 0), pc.greater(slot, 0)),
                        pc.and_(pc.greater(code, 0), pc.not_equal(late, -2)))
        problems_from = len(reader.problems)
        rows = None
        if plain.false_count:
            rows = pc.indices_nonzero(plain)
            self._report_rows(pc.indices_nonzero(pc.invert(plain)).to_pylist(), pupil)
            pnum, slot, code, late = (pc.take(c, rows) for c in (pnum, slot, code, late))
        self._store(drafts, pnum, slot, code, late, rows)
        reader.problems[problems_from:] = sorted(reader.problems[problems_from:], key=self._row_of_problem)

    def where(self, row: int) -> tuple:
        return (self.source[0], self.source[2], row)

    def _row_of_problem(self, problem: Any) -> int:
        return int(problem.location.pointer.rsplit(" ", 1)[1])

    def _pupils(self, pupil: Any) -> list[Any]:
        """The draft of each distinct pupil id (None: the row is reported), pupils new to the
        reader made at their first row, as the CSV reader makes them."""
        import pyarrow.compute as pc

        reader, values = self.reader, self.pupil_values
        if not reader.roster_given:
            order = pc.dictionary_encode(pupil)  # distinct entries numbered by their first row
            seen = pc.cumulative_max(order.indices)
            first = pc.indices_nonzero(pc.not_equal(seen[1:], seen[:-1])).to_pylist()
            for entry, row in zip(order.dictionary.to_pylist(), [0] + [r + 1 for r in first]):
                pid = values[entry]
                if isinstance(pid, str) and pid and pid not in reader.pupils:
                    reader.pupils[pid] = _PupilDraft(pid, _location(self.where(row)), reader.source)
        return [reader.pupils.get(v) if isinstance(v, str) and v else None for v in values]

    def _slots_and_codes(self) -> tuple[Any, Any]:
        """Per row: its session slot (0: not plain) and its code id (0: not plain)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        reader = self.reader
        date, date_values = _encode(self.table.column("date"))
        session, session_values = _encode(self.table.column("session"))
        code, code_values = _encode(self.table.column("code"))
        days = [reader.day(v) for v in date_values]
        tables = {id(t): k + 1 for k, t in enumerate({id(d[1]): d[1] for d in days if d}.values())}
        lut = [0] * len(code_values)  # table 0: no table, every code not plain
        for table in sorted(tables, key=tables.get):
            codes = next(d[1] for d in days if d and id(d[1]) == table)
            lut += [codes.get(v, 0) if isinstance(v, str) else 0 for v in code_values]
        base = pc.take(pa.array([d[0] if d else 0 for d in days], pa.int64()), date)
        half = pc.take(pa.array([_SESSION_HALF.get(v, -1) if isinstance(v, str) else -1 for v in session_values],
                                pa.int64()), session)
        slot = pc.if_else(pc.and_(pc.greater(base, 0), pc.greater_equal(half, 0)), pc.add(base, half), 0)
        table_of = pc.take(pa.array([tables[id(d[1])] if d else 0 for d in days], pa.int32()), date)
        key = pc.add(pc.multiply(table_of, len(code_values)), code)
        return slot.cast(pa.uint32()), pc.take(pa.array(lut, pa.uint8()), key)

    def _late(self) -> Any:
        """Per row: minutes late, -1 when absent, -2 when not a whole number 0 to 600."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if "minutes_late" not in self.table.column_names:
            return pa.repeat(pa.scalar(-1, pa.int16()), self.n)
        late, values = _encode(self.table.column("minutes_late"))
        return pc.take(pa.array([_minutes(v) for v in values], pa.int16()), late)

    def _report_rows(self, rows: list[int], pupil: Any) -> None:
        """Send the rows that are not plain through the CSV reader's checks."""
        reader = self.reader
        columns = {c: self.table.column(c).take(rows) for c in (*MARK_COLUMNS, "minutes_late")
                   if c in self.table.column_names}
        values = {c: [_plain_value(v) for v in col.to_pylist()] for c, col in columns.items()}
        before = reader.used["marks"]
        for k, row in enumerate(rows):
            where = self.where(row)
            mark = {c: values[c][k] for c in values}
            draft = reader.pupil_for(mark["pupil_id"], where, create=not reader.roster_given)
            scratch = None if draft is None else _PupilDraft(draft.id, draft.where, reader.source)
            reader.read["marks"] -= 1  # add_mark counts it again
            reader.add_mark(scratch, mark, where, row)
        if reader.used["marks"] != before:
            raise AssertionError("a marks row judged not plain was accepted by the row checks")

    def _store(self, drafts: list[Any], pnum: Any, slot: Any, code: Any, late: Any, rows: Any) -> None:
        """Sort the plain rows by pupil and session (stably: the first of a session wins),
        report the repeats, and hand each pupil its slice as a compact register."""
        import pyarrow as pa
        import pyarrow.compute as pc

        marks = pa.table({"p": pnum, "s": slot, "c": code, "l": late})
        order = pc.sort_indices(marks, sort_keys=[("p", "ascending"), ("s", "ascending")])
        marks = marks.take(order)
        p, s = marks.column("p").combine_chunks(), marks.column("s").combine_chunks()
        repeat = pc.and_(pc.equal(p[1:], p[:-1]), pc.equal(s[1:], s[:-1]))
        if repeat.true_count:
            at = [i + 1 for i in pc.indices_nonzero(repeat).to_pylist()]
            order_rows = order if rows is None else pc.take(rows, order)
            self._report_repeats(drafts, marks, at, order_rows)
            keep = pc.invert(pa.concat_arrays([pa.array([False]), repeat]))
            marks = marks.filter(keep)
        self.reader.used["marks"] += marks.num_rows
        _hand_out(drafts, marks)

    def _report_repeats(self, drafts: list[Any], marks: Any, at: list[int], order_rows: Any) -> None:
        """Report each repeat of a session (``at``: positions in the sorted marks) against
        the first mark of that session, as the CSV reader does."""
        first: dict[int, int] = {}
        for i in at:  # ascending: a run of repeats shares the mark before the run
            first[i] = first.get(i - 1, i - 1)
        wanted = sorted(set(at) | set(first.values()))
        row_at = dict(zip(wanted, order_rows.take(wanted).to_pylist()))
        code_at = dict(zip(wanted, marks.column("c").take(wanted).to_pylist()))
        p, s = (marks.column(k).take(at).to_pylist() for k in ("p", "s"))
        by_id = self.reader.codebook.by_id
        for k, i in enumerate(at):
            code, previous = by_id[code_at[i] - 1].code, by_id[code_at[first[i]] - 1].code
            kind = "duplicate" if previous == code else "conflicting"
            self.reader.problem(f"{kind} mark for {drafts[p[k]].id} on {day_of_slot(s[k])} {SESSIONS[s[k] & 1]}",
                                self.where(row_at[i]), found=repr(code), expected="one mark per session; first "
                                f"given at {_location(self.where(row_at[first[i]]))}")


def _minutes(value: Any) -> int:
    if value in (None, ""):
        return -1
    try:
        minutes = int(value)
    except (TypeError, ValueError):
        return -2
    return -2 if isinstance(value, bool) or not 0 <= minutes <= 600 else minutes


def _hand_out(drafts: list[Any], marks: Any) -> None:
    """Each pupil's slice of the sorted columns, as its compact arrays."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if marks.num_rows == 0:
        return
    p = marks.column("p").combine_chunks()
    slots = pa.concat_arrays([marks.column("s").combine_chunks()])
    codes = pa.concat_arrays([marks.column("c").combine_chunks()])
    slot_bytes, code_bytes = memoryview(slots.buffers()[1]), memoryview(codes.buffers()[1])
    late = marks.column("l").combine_chunks()
    late_at = pc.indices_nonzero(pc.greater_equal(late, 0)).to_pylist()
    late_minutes = late.take(late_at).to_pylist() if late_at else []
    counts = pc.value_counts(p)
    start, k = 0, 0
    for number, count in zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist()):
        end = start + count
        draft = drafts[number]
        draft.slots = array("I")
        draft.slots.frombytes(slot_bytes[4 * (slots.offset + start):4 * (slots.offset + end)])
        draft.codes = bytes(code_bytes[codes.offset + start:codes.offset + end])
        while k < len(late_at) and late_at[k] < end:
            draft.late[late_at[k] - start] = late_minutes[k]
            k += 1
        draft.last = draft.slots[-1]
        start = end
