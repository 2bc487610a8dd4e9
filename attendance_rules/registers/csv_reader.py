"""Read a CSV-style history directory (school, pupils, marks, events) into a ``Reader``.

The hot path (``marks.csv``: a local authority's year is ~19 million rows) builds no
object per row: ``csv.reader`` rows are read by column index, the date, session and code
are checked through the reader's caches (date text -> session slot and code table, code
text -> id), and a plain mark is appended straight to its pupil's compact arrays. Only a
row to report gets a ``Location``; a row off the plain path (minutes late, padded text,
out of session order) is checked one field at a time by the same code that reports.
A marks.csv read with pyarrow (``engine="pyarrow"``, or a big file under ``auto``) and
the Parquet files of a directory go through ``columnar`` (the ``parquet`` extra).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ..exceptions import Location
from .history import School
from .input_limits import utf8_problem
from .pupil_draft import SESSION_HALF, Where
from .reading import CSV_COLUMNS, LOWER_NAME, Reader

__all__ = ["ARROW_CSV_BYTES", "csv_details", "read_csv_dir"]

ARROW_CSV_BYTES = 64 << 20  # engine "auto" reads a marks.csv this big with pyarrow, when installed

# What is lost when an optional file of a CSV history is not given (said once, as a warning).
_MISSING_FILE = {
    "school": "the school has no id, name or settings (a policy's settings take their defaults)",
    "pupils": "the pupils are those with marks, with no flags, date of birth or year group",
    "marks": "no pupil has a register mark",
    "events": "no pupil has a case event: no letter, meeting or notice is recorded as done",
}


def _csv_rows(
    reader: Reader, path: Path, required: Sequence[str], kind: str | None = None
) -> Iterable[tuple[dict[str, str], Where]]:
    """The rows of a small CSV file as dicts of stripped text, each with its lazy location.
    A row the csv module cannot read is reported and skipped; a byte that is not UTF-8
    is reported and ends the file."""
    name = str(path)
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = csv.reader(handle)
        header = _csv_header(reader, rows, path, required, kind)
        while header is not None:
            try:
                for row in rows:
                    if row and len(row) == len(header):
                        yield {k: v.strip() for k, v in zip(header, row)}, (name, rows.line_num)
                    elif row:  # blank lines are skipped, as csv.DictReader does
                        _wrong_width(reader, row, header, (name, rows.line_num), kind)
                return
            except csv.Error as err:
                _unreadable_row(reader, err, (name, rows.line_num), kind)
            except UnicodeDecodeError:
                reader.problems.append(utf8_problem(path))
                return


def _csv_header(
    reader: Reader, rows: Any, path: Path, required: Sequence[str], kind: str | None = None
) -> list[str] | None:
    """The header row, or None after reporting the required columns it lacks (or a
    header that cannot be read); the columns of ``kind`` it lacks or does not know are
    warned about."""
    try:
        header: list[str] = next(rows, [])
    except csv.Error as err:
        _unreadable_row(reader, err, (str(path), 1), None)
        return None
    except UnicodeDecodeError:
        reader.problems.append(utf8_problem(path))
        return None
    missing = [c for c in required if c not in header]
    if missing:
        reader.problem(
            f"{path.name} lacks column(s) {', '.join(missing)}",
            Location(str(path), 1),
            found=",".join(header),
            expected=",".join(required),
        )
        return None
    if kind in CSV_COLUMNS:
        reader.check_columns(
            kind, header, path.name, lambda i: Location(str(path), 1, pointer=f"column {i + 1}")
        )
    return header


def _unreadable_row(reader: Reader, err: csv.Error, where: Where, kind: str | None) -> None:
    """A row the csv module refused (e.g. a field over its 131,072-character limit): reported."""
    reader.problem(
        f"unreadable CSV row: {err}",
        where,
        expected=f"fields of at most {csv.field_size_limit():,} characters, quotes closed",
    )
    if kind:  # the row is read and reported, never used
        reader.read[kind] += 1


def _wrong_width(
    reader: Reader, row: list[str], header: list[str], where: Where, kind: str | None
) -> None:
    """A row with more or fewer fields than the header: reported (and counted as read)."""
    reader.problem(
        "wrong number of fields",
        where,
        found=str(len(row)),
        expected=f"{len(header)} ({','.join(header)})",
    )
    if kind:  # the row is read and reported, never used
        reader.read[kind] += 1


def _read_marks_csv(reader: Reader, path: Path) -> None:
    """marks.csv: the hot path. A plain row (known pupil, cached date and code, no
    minutes late, later than the pupil's last mark) is appended to its pupil's arrays with
    no object made for it; any other row takes the checking path, which reports it. A row
    the csv module cannot read is reported and the reading goes on after it; a byte that
    is not UTF-8 is reported and ends the file."""
    name = str(path)
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = csv.reader(handle)
        header = _csv_header(reader, rows, path, ("pupil_id", "date", "session", "code"), "marks")
        if header is None:
            return
        reader.begin_marks((name, "line", ""))
        while True:
            try:
                _marks_csv_rows(reader, rows, header, name)
                return
            except csv.Error as err:
                _unreadable_row(reader, err, (name, rows.line_num), "marks")
            except UnicodeDecodeError:
                reader.problems.append(utf8_problem(path))
                return


def _marks_csv_rows(reader: Reader, rows: Any, header: list[str], name: str) -> None:
    """Read the rows of marks.csv left in ``rows`` (see ``_read_marks_csv``)."""
    column = {c: i for i, c in enumerate(header)}  # a repeated name: its last column, as DictReader
    ip, idate, isession, icode = (column[c] for c in ("pupil_id", "date", "session", "code"))
    ilate = column.get("minutes_late")
    width, pupils, days, halves = len(header), reader.pupils, reader.days, SESSION_HALF
    used = 0
    try:
        for row in rows:
            if len(row) == width and (ilate is None or not row[ilate]):
                draft, day, half = (
                    pupils.get(row[ip]),
                    days.get(row[idate]),
                    halves.get(row[isession]),
                )
                if draft is not None and day is not None and half is not None:
                    code_id = day[1].get(row[icode])
                    if code_id is not None and day[0] + half > draft.last:
                        draft.last = day[0] + half
                        draft.slots.append(draft.last)
                        draft.codes.append(code_id)
                        draft.rows.append(rows.line_num)
                        used += 1
                        continue
            if row:
                _csv_mark(reader, row, header, (name, rows.line_num))
    finally:  # the rows used so far count, even when a row stops the loop
        reader.read["marks"] += used
        reader.used["marks"] += used


def _csv_mark(reader: Reader, row: list[str], header: list[str], where: tuple[str, int]) -> None:
    """One marks.csv row off the hot path: checked, stored or reported."""
    if len(row) != len(header):
        _wrong_width(reader, row, header, where, "marks")
        return
    values = {k: v.strip() for k, v in zip(header, row)}
    draft = reader.pupil_for(values["pupil_id"], where, create=not reader.roster_given)
    reader.add_mark(draft, values, where, where[1])
    reader.day(values["date"])  # learn the date for the rows after


def read_csv_dir(reader: Reader, files: Mapping[str, Path], engine: str = "stdlib") -> None:
    """A CSV-style directory: school, then pupils, marks and events (CSV or Parquet); an
    optional file not given is said once, as a warning."""
    if "school.csv" in files:
        _read_school_csv(reader, files["school.csv"])
    for kind in ("pupils", "marks", "events"):
        if f"{kind}.parquet" in files:
            if kind == "pupils":
                reader.roster_given = True
            from .columnar import read_parquet_into

            read_parquet_into(reader, kind, files[f"{kind}.parquet"])
        elif f"{kind}.csv" in files:
            _READ_CSV[kind](reader, files[f"{kind}.csv"], engine)
    _missing_files(reader, files)


def _read_school_csv(reader: Reader, path: Path) -> None:
    """school.csv: one row; columns besides id and name are settings (text, true/false)."""
    seen = 0
    for row, where in _csv_rows(reader, path, ("id",)):
        seen += 1
        if seen > 1:  # one history is one school: a second row would silently win
            reader.problem(
                "school.csv has more than one school",
                where,
                found=f"school {row['id']!r}",
                expected="one row after the header (one history per school)",
            )
            continue
        settings = {k: _csv_value(v) for k, v in row.items() if k not in ("id", "name")}
        reader.school = School(row["id"], row.get("name", ""), settings)


def _missing_files(reader: Reader, files: Mapping[str, Path]) -> None:
    """Warn once for each optional file of a CSV history that was not given."""
    folder = sorted({str(p.parent) for p in files.values()})
    where = Location(folder[0] if len(folder) == 1 else "")
    for kind, lost in _MISSING_FILE.items():
        if f"{kind}.csv" not in files and f"{kind}.parquet" not in files:
            reader.warn(
                f"no {kind}.csv: {lost}",
                where,
                expected=f"{kind}.csv (or {kind}.parquet) beside the others",
            )


def _read_pupils_csv(reader: Reader, path: Path, engine: str) -> None:
    reader.roster_given = True
    for row, where in _csv_rows(reader, path, ("pupil_id",), "pupils"):
        flags = [f for f in re.split(r"[;|]", row.get("flags", "")) if f]
        reader.add_pupil(
            row["pupil_id"], flags, row.get("date_of_birth"), row.get("year_group"), where
        )


def _read_marks_any(reader: Reader, path: Path, engine: str) -> None:
    """marks.csv with pyarrow when asked (or, for ``auto``, when big and pyarrow is there)."""
    if engine == "pyarrow" or (
        engine == "auto" and path.stat().st_size >= ARROW_CSV_BYTES and _has_pyarrow()
    ):
        from .columnar import read_marks_csv_into

        if read_marks_csv_into(reader, path):
            return
    _read_marks_csv(reader, path)


def _has_pyarrow() -> bool:
    try:
        import pyarrow.csv  # noqa: F401
    except ImportError:
        return False
    return True


def _read_events_csv(reader: Reader, path: Path, engine: str) -> None:
    for row, where in _csv_rows(reader, path, ("pupil_id", "date", "type"), "events"):
        draft = reader.pupil_for(row.pop("pupil_id"), where, create=False)
        fields = csv_details(reader, row.pop("details", ""), where)
        # further columns are fields, checked as such
        reader.add_event(draft, {**row, **fields}, where)


_READ_CSV = {"pupils": _read_pupils_csv, "marks": _read_marks_any, "events": _read_events_csv}


def csv_details(reader: Reader, text: str, where: Where) -> dict[str, Any]:
    """The fields of an event given as ``key=value;…`` text (values "true"/"false" are
    booleans), each malformed part reported."""
    out: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, sep, value = part.partition("=")
        if not sep or not LOWER_NAME.fullmatch(key.strip()):
            reader.problem(
                "bad event detail",
                where,
                found=repr(part),
                expected="key=value pairs separated by ;",
                example="outcome=improved;parent_engaged=true",
            )
            continue
        out[key.strip()] = _csv_value(value.strip())
    return out


def _csv_value(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return text
