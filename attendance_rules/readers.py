"""Read attendance histories from JSON or CSV, refusing bad rows with located problems.

Nothing is silently dropped: every mark and event row read is either used or reported,
and ``LoadReport`` keeps the tally (rows read = rows used + rows reported). In strict
mode (the default) any reported row makes the whole load fail with an ``InputError``
listing every problem found, so a file is fixed in one pass.

The hot path (``marks.csv``: a local authority's year is ~19 million rows) builds no
object per row: ``csv.reader`` rows are read by column index, the date, session and code
are checked through caches (date text -> session slot and code table, code text -> id),
and a plain mark is appended straight to its pupil's compact arrays. Only a row to report
gets a ``Location``; a row off the plain path (minutes late, padded text, out of session
order) is checked one field at a time by the same code that reports. Marks may come in
any order: a pupil's are sorted when the pupil is finished, and a repeated session is
reported at once against the first mark given for it. ``engine="pyarrow"`` (or a big
file under ``auto``) and Parquet files go through ``columnar`` (the ``parquet`` extra).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import re
from array import array
from bisect import bisect_right
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import attrs

from .codes import CodeBook, default_codebook
from .exceptions import InputError, Location, Problem, UsageError
from .history import EVENT_FIELDS, SESSIONS, Event, History, Pupil, Register, School, day_of_slot, slot_of

__all__ = ["LoadReport", "digest_files", "load_history", "read_history", "read_history_data", "read_pupil_data"]

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_CSV_FILES = ("pupils.csv", "marks.csv", "events.csv", "school.csv",
              "pupils.parquet", "marks.parquet", "events.parquet")
ENGINES = ("auto", "stdlib", "pyarrow")
ARROW_CSV_BYTES = 64 << 20  # engine "auto" reads a marks.csv this big with pyarrow, when installed


@attrs.frozen
class LoadReport:
    """What a load read, used and reported, per kind of row."""

    read: Mapping[str, int]
    used: Mapping[str, int]
    problems: tuple[Problem, ...]

    @property
    def reported(self) -> dict[str, int]:
        """Rows refused, per kind (read minus used)."""
        return {k: self.read[k] - self.used.get(k, 0) for k in self.read}


# Where a row is: a Location, or a lazily made one — (file, line) of a CSV row,
# (file, prefix, index) of a table row, or (file, pointer, key, index) of a JSON row.
Where = Location | tuple

_SESSION_HALF = {"AM": 0, "PM": 1}
_OUT_OF_ORDER = 1 << 40  # a draft's ``last`` once its marks came out of session order


def _location(where: Where) -> Location:
    """The Location of a row, made only when the row is reported (or an event is kept)."""
    if isinstance(where, Location):
        return where
    if len(where) == 2:
        return Location(where[0], where[1])
    if len(where) == 3:
        return Location(where[0], pointer=f"{where[1]}row {where[2]}")
    name, pointer, key, index = where
    return Location(name, pointer=f"{pointer}/{key}/{index}")


class _PupilDraft:
    """A pupil while its rows are being read: marks appended to compact arrays.

    ``slots``/``codes``/``rows`` are parallel: session slot, code id and the row the mark
    came from — a CSV line, a JSON mark index or a table row index, as ``sources`` says:
    runs of (first mark index, file, kind, text), kind ``line`` (CSV), ``json`` (text is
    the pupil's pointer) or ``row`` (text prefixes the pointer ``row N``).
    ``late`` maps a mark index to its minutes late. While marks arrive in session
    order ``last`` is the latest slot; after the first one out of order ``seen`` is a
    byte-per-slot map from ``base`` (so a duplicate is still found at once) and the
    marks are sorted when the pupil is finished.
    """

    __slots__ = ("id", "where", "slots", "codes", "rows", "late", "sources", "last", "seen", "base",
                 "events", "flags", "date_of_birth", "year_group")

    def __init__(self, pupil_id: str, where: Location, source: tuple | None = None) -> None:
        self.id, self.where = pupil_id, where
        self.slots, self.codes, self.rows = array("I"), bytearray(), array("I")
        self.late: dict[int, int] = {}
        self.sources: list[tuple[int, str, str, str]] = [(0, *source)] if source else []
        self.last, self.seen, self.base = -1, None, 0
        self.events: list[Event] = []
        self.flags: frozenset[str] = frozenset()
        self.date_of_birth: dt.date | None = None
        self.year_group: int | None = None

    def begin(self, source: tuple) -> None:
        """Marks appended from now on come from ``source``: (file, kind, text)."""
        if not self.sources or self.sources[-1][1:] != source:
            self.sources.append((len(self.slots), *source))

    def is_new(self, slot: int) -> bool:
        """True (and remembered) when no mark is stored yet for ``slot``."""
        if slot > self.last:
            self.last = slot
            return True
        if self.seen is None:  # first mark out of order: map every slot so far
            self.base = min(self.slots) if self.slots else slot
            self.seen = bytearray(max(self.slots, default=slot) - self.base + 1)
            for s in self.slots:
                self.seen[s - self.base] = 1
            self.last = _OUT_OF_ORDER
        if slot < self.base:
            self.seen[:0] = bytes(self.base - slot)
            self.base = slot
        offset = slot - self.base
        if offset >= len(self.seen):
            self.seen.extend(bytes(offset - len(self.seen) + 1))
        if self.seen[offset]:
            return False
        self.seen[offset] = 1
        return True

    def mark_location(self, index: int) -> Location:
        """Where the mark at ``index`` (in arrival order) was read."""
        run = bisect_right([start for start, *_ in self.sources], index) - 1
        _, name, kind, text = self.sources[run]
        return _location(_row_where(name, kind, text, self.rows[index]))


def _row_where(name: str, kind: str, text: str, row: int) -> tuple:
    """The lazy location of row ``row`` of a source of ``kind`` (see ``_PupilDraft``)."""
    if kind == "line":
        return (name, row)
    if kind == "json":
        return (name, text, "marks", row)
    return (name, text, row)


class _Reader:
    """Accumulates pupils, marks and events from any number of files, with problems."""

    def __init__(self, codebook: CodeBook) -> None:
        self.codebook = codebook
        self.pupils: dict[str, _PupilDraft] = {}
        self.school = School()
        self.problems: list[Problem] = []
        self.read = {"pupils": 0, "marks": 0, "events": 0}
        self.used = {"pupils": 0, "marks": 0, "events": 0}
        self.roster_given = False
        self.source: tuple | None = None  # where marks come from now: (file, kind, text)
        # Caches for the hot path: a year has ~200 distinct dates and ~25 codes.
        self._dates: dict[str, dt.date] = {}
        self._days: dict[str, tuple[int, dict[str, int]]] = {}  # date text -> (AM slot, code -> id)
        self._tables: dict[str, dict[str, int]] = {}

    def problem(self, message: str, where: Where, found: str = "", expected: str = "", example: str = "") -> None:
        self.problems.append(Problem(message, _location(where), found=found, expected=expected, example=example))

    def date(self, value: Any, where: Where, what: str = "date") -> dt.date | None:
        """An ISO date, or None after reporting what was wrong with it."""
        cached = self._dates.get(value) if isinstance(value, str) else None
        if cached is not None:
            return cached
        if isinstance(value, str) and _DATE.fullmatch(value):
            try:
                day = self._dates[value] = dt.date.fromisoformat(value)
                return day
            except ValueError:
                self.problem(f"impossible {what}", where, found=repr(value), expected="a real calendar date")
                return None
        self.problem(f"bad {what}", where, found=repr(value), expected="YYYY-MM-DD", example="2024-01-26")
        return None

    def day(self, text: Any) -> tuple[int, dict[str, int]] | None:
        """(AM slot, code text -> code id of the table in force) of a valid date text, else
        None (without reporting: the caller takes the reporting path)."""
        found = self._days.get(text) if isinstance(text, str) else None
        if found is not None or not (isinstance(text, str) and _DATE.fullmatch(text)):
            return found
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            return None
        table = self.codebook.table_for(day)
        if table is None:
            return None
        if table.id not in self._tables:
            self._tables[table.id] = {code: entry.id for code, entry in table.codes.items()}
        found = self._days[text] = (day.toordinal() * 2, self._tables[table.id])
        return found

    def pupil_for(self, pupil_id: Any, where: Where, create: bool) -> _PupilDraft | None:
        if not isinstance(pupil_id, str) or not pupil_id.strip():
            self.problem("missing pupil id", where, found=repr(pupil_id), expected="a non-empty string")
            return None
        draft = self.pupils.get(pupil_id)
        if draft is None and create:
            draft = self.pupils[pupil_id] = _PupilDraft(pupil_id, _location(where), self.source)
        if draft is None:
            self.problem("unknown pupil", where, found=repr(pupil_id), expected="a pupil listed in the pupils file")
        return draft

    def begin_marks(self, source: tuple) -> None:
        """Marks read from now on come from ``source``; every pupil so far is told."""
        self.source = source
        for draft in self.pupils.values():
            draft.begin(source)

    def add_pupil(self, pupil_id: Any, flags: Iterable[Any], dob: Any, year: Any, where: Where) -> None:
        self.read["pupils"] += 1
        if isinstance(pupil_id, str) and pupil_id in self.pupils:
            self.problem("duplicate pupil", where, found=repr(pupil_id), expected="each pupil id once")
            return
        draft = self.pupil_for(pupil_id, where, create=True)
        if draft is None:
            return
        bad = [f for f in flags if not (isinstance(f, str) and _NAME.fullmatch(f))]
        if bad:
            self.problem("bad flag name", where, found=repr(bad[0]), expected="lower_case_name", example="social_worker")
        draft.flags = frozenset(f for f in flags if f not in bad)
        draft.date_of_birth = self.date(dob, where, "date of birth") if dob not in (None, "") else None
        draft.year_group = self.year_group(year, where)
        self.used["pupils"] += 1

    def year_group(self, value: Any, where: Where) -> int | None:
        if value in (None, ""):
            return None
        try:
            year = int(value)
        except (TypeError, ValueError):
            year = -99
        if not -2 <= year <= 14:  # nursery (-2) to year 14
            self.problem("bad year group", where, found=repr(value), expected="a whole number from -2 to 14")
            return None
        return year

    def add_mark(self, draft: _PupilDraft | None, row: Mapping[str, Any], where: Where, at: int = 0) -> None:
        """Check one mark row and store it; ``at`` is its row number within its source."""
        self.read["marks"] += 1
        if draft is None:
            return
        day = self.date(row.get("date"), where)
        session, code = row.get("session"), row.get("code")
        if session not in SESSIONS:
            self.problem("bad session", where, found=repr(session), expected="AM or PM")
        late = self.minutes_late(row.get("minutes_late"), where)
        if day is None or session not in SESSIONS or late is False:
            return
        self.store_mark(draft, day, session, code, late, where, at)

    def minutes_late(self, value: Any, where: Where) -> int | None | bool:
        """Minutes late as an int, None when absent, False after reporting a bad value."""
        if value in (None, ""):
            return None
        try:
            minutes = int(value)
            if isinstance(value, float) and value != minutes:  # 1.5 is not a whole number: never truncated
                minutes = -1
        except (TypeError, ValueError, OverflowError):  # OverflowError: 1e999 read from JSON is infinity
            minutes = -1
        if isinstance(value, bool) or minutes < 0 or minutes > 600:
            self.problem("bad minutes_late", where, found=repr(value), expected="a whole number of minutes, 0 to 600")
            return False
        return minutes

    def store_mark(self, draft: _PupilDraft, day: dt.date, session: str, code: Any, late: int | None,
                   where: Where, at: int = 0) -> None:
        code = code if isinstance(code, str) else repr(code)
        try:
            entry = self.codebook.lookup(code, day)
        except KeyError as err:
            self.problem(err.args[0], where, found=repr(code), expected="a register code valid on that date")
            return
        self.place(draft, slot_of(day, session), entry.id, late, where, at)

    def place(self, draft: _PupilDraft, slot: int, code_id: int, late: int | None, where: Where, at: int) -> None:
        """Append a checked mark to its pupil, or report it if its session already has one."""
        if self.source is not None:
            draft.begin(self.source)
        if not draft.is_new(slot):
            first = draft.slots.index(slot)
            by_id = self.codebook.by_id
            code, previous = by_id[code_id - 1].code, by_id[draft.codes[first] - 1].code
            kind = "duplicate" if previous == code else "conflicting"
            self.problem(f"{kind} mark for {draft.id} on {day_of_slot(slot)} {SESSIONS[slot & 1]}", where,
                         found=repr(code), expected=f"one mark per session; first given at "
                                                    f"{draft.mark_location(first)}")
            return
        if late is not None:
            draft.late[len(draft.slots)] = late
        draft.slots.append(slot)
        draft.codes.append(code_id)
        draft.rows.append(at)
        self.used["marks"] += 1
    def add_event(self, draft: _PupilDraft | None, row: Mapping[str, Any], where: Where) -> None:
        self.read["events"] += 1
        if draft is None:
            return
        day = self.date(row.get("date"), where)
        kind = row.get("type")
        if not (isinstance(kind, str) and _NAME.fullmatch(kind)):
            self.problem("bad event type", where, found=repr(kind), expected="lower_case_name",
                         example="school_attendance_meeting")
            return
        details = {k: v for k, v in row.items() if k not in ("date", "type", "pupil_id")}
        if day is None or not self.check_details(kind, details, where):
            return
        draft.events.append(Event(day, kind, details, _location(where)))
        self.used["events"] += 1

    def check_details(self, kind: str, details: dict[str, Any], where: Where) -> bool:
        """Check and convert the known fields of a standard event in place."""
        ok = True
        for field, expected in EVENT_FIELDS.get(kind, {}).items():
            if field not in details:
                continue
            value = details[field]
            if expected == "bool" and not isinstance(value, bool):
                value = {"true": True, "false": False}.get(str(value).lower(), value)
                details[field] = value
            if expected == "date" and isinstance(value, str):
                details[field] = self.date(value, where, f"{kind}.{field}")
                ok = ok and details[field] is not None
                continue
            valid = (isinstance(value, bool) if expected == "bool"
                     else value in expected if isinstance(expected, tuple) else isinstance(value, str))
            if not valid:
                wanted = " | ".join(expected) if isinstance(expected, tuple) else expected
                self.problem(f"bad {kind}.{field}", where, found=repr(value), expected=wanted)
                ok = False
        return ok

    def history(self, sources: Sequence[str], digest: str) -> History:
        pupils = tuple(_finish(d, self.codebook) for d in sorted(self.pupils.values(), key=lambda d: d.id))
        return History(pupils, self.school, tuple(sources), digest)


def _finish(draft: _PupilDraft, codebook: CodeBook) -> Pupil:
    """The pupil of a draft: marks sorted by session (only if they came out of order)."""
    slots, codes, late = draft.slots, bytes(draft.codes), draft.late
    if draft.seen is not None:
        order = sorted(range(len(slots)), key=slots.__getitem__)
        slots = array("I", map(slots.__getitem__, order))
        codes = bytes(map(codes.__getitem__, order))
        if late:
            rank = {old: new for new, old in enumerate(order) if old in late}
            late = {rank[old]: minutes for old, minutes in late.items()}
    draft.rows = array("I")  # the rows were only for locating problems
    register = Register(slots, codes, late, codebook)
    return Pupil(draft.id, register, draft.flags, draft.events, draft.date_of_birth, draft.year_group, draft.where)


# --- JSON ---------------------------------------------------------------------------


def _read_json(reader: _Reader, path: Path) -> None:
    name = str(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        reader.problem(f"not valid JSON: {err.msg}", Location(name, err.lineno, err.colno),
                       expected='{"pupils": [...]}')
        return
    except UnicodeDecodeError as err:
        reader.problem("file is not UTF-8 text", Location(name), found=str(err))
        return
    _read_document(reader, doc, name)


def _read_document(reader: _Reader, doc: Any, name: str) -> None:
    if not isinstance(doc, dict) or not isinstance(doc.get("pupils"), list):
        reader.problem("a history is an object with a list of pupils", Location(name, pointer=""),
                       found=type(doc).__name__, expected='{"pupils": [...]}')
        return
    if "school" in doc:
        _json_school(reader, doc["school"], Location(name, pointer="/school"))
    for i, item in enumerate(doc["pupils"]):
        _json_pupil(reader, item, name, f"/pupils/{i}")


def _json_school(reader: _Reader, raw: Any, where: Where) -> None:
    if not isinstance(raw, dict) or not isinstance(raw.get("settings", {}), dict):
        reader.problem("bad school record", where, found=repr(raw)[:60],
                       expected='{"id": ..., "name": ..., "settings": {...}}')
        return
    reader.school = School(str(raw.get("id", "")), str(raw.get("name", "")), raw.get("settings", {}))


def _json_pupil(reader: _Reader, item: Any, name: str, pointer: str) -> None:
    where = Location(name, pointer=pointer)
    if not isinstance(item, dict):
        reader.read["pupils"] += 1
        reader.problem("a pupil is an object", where, found=type(item).__name__, expected='{"id": ..., "marks": [...]}')
        return
    flags = item.get("flags", [])
    if not isinstance(flags, list):
        reader.problem("flags must be a list", Location(name, pointer=pointer + "/flags"), found=repr(flags))
        flags = []
    reader.add_pupil(item.get("id"), flags, item.get("date_of_birth"), item.get("year_group"), where)
    draft = reader.pupils.get(item.get("id")) if isinstance(item.get("id"), str) else None
    for key in ("marks", "events"):
        rows = item.get(key, [])
        if not isinstance(rows, list):
            reader.problem(f"{key} must be a list", Location(name, pointer=f"{pointer}/{key}"), found=repr(rows)[:40])
        elif key == "marks":
            _json_marks(reader, draft, rows, name, pointer)
        else:
            _json_events(reader, draft, rows, name, pointer)


def _json_marks(reader: _Reader, draft: _PupilDraft | None, rows: list, name: str, pointer: str) -> None:
    """A pupil's JSON marks: plain ones appended at once, the rest checked one by one."""
    reader.source = (name, "json", pointer)
    if draft is not None:
        draft.begin(reader.source)
    days, halves, used = reader._days, _SESSION_HALF, 0
    for j, row in enumerate(rows):
        if draft is not None and type(row) is dict and len(row) == 3:  # noqa: E721 - exactly a dict
            try:
                day, half = days.get(row.get("date")), halves.get(row.get("session"))
                code_id = day[1].get(row.get("code")) if day is not None and half is not None else None
            except TypeError:  # an unhashable value: the checking path reports it
                code_id = None
            if code_id is not None and day[0] + half > draft.last:
                draft.last = day[0] + half
                draft.slots.append(draft.last)
                draft.codes.append(code_id)
                draft.rows.append(j)
                used += 1
                continue
        at = (name, pointer, "marks", j)  # made into a Location only if a problem is reported
        if isinstance(row, dict):
            reader.add_mark(draft, row, at, j)
            reader.day(row.get("date"))  # learn the date for the rows after
        else:
            reader.read["marks"] += 1
            reader.problem("each of marks is an object", at, found=repr(row)[:40])
    reader.read["marks"] += used
    reader.used["marks"] += used


def _json_events(reader: _Reader, draft: _PupilDraft | None, rows: list, name: str, pointer: str) -> None:
    for j, row in enumerate(rows):
        at = (name, pointer, "events", j)
        if isinstance(row, dict):
            reader.add_event(draft, row, at)
        else:
            reader.read["events"] += 1
            reader.problem("each of events is an object", at, found=repr(row)[:40])


# --- CSV ----------------------------------------------------------------------------


def _csv_rows(reader: _Reader, path: Path, required: Sequence[str],
              kind: str | None = None) -> Iterable[tuple[dict[str, str], Where]]:
    """The rows of a small CSV file as dicts of stripped text, each with its lazy location."""
    name = str(path)
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = csv.reader(handle)
        header = _csv_header(reader, rows, path, required)
        if header is None:
            return
        for row in rows:
            if row and len(row) == len(header):
                yield {k: v.strip() for k, v in zip(header, row)}, (name, rows.line_num)
            elif row:  # blank lines are skipped, as csv.DictReader does
                _wrong_width(reader, row, header, (name, rows.line_num), kind)


def _csv_header(reader: _Reader, rows: Any, path: Path, required: Sequence[str]) -> list[str] | None:
    """The header row, or None after reporting the required columns it lacks."""
    header = next(rows, [])
    missing = [c for c in required if c not in header]
    if missing:
        reader.problem(f"{path.name} lacks column(s) {', '.join(missing)}", Location(str(path), 1),
                       found=",".join(header), expected=",".join(required))
        return None
    return header


def _wrong_width(reader: _Reader, row: list[str], header: list[str], where: Where, kind: str | None) -> None:
    reader.problem("wrong number of fields", where, found=str(len(row)),
                   expected=f"{len(header)} ({','.join(header)})")
    if kind:  # the row is read and reported, never used
        reader.read[kind] += 1


def _read_marks_csv(reader: _Reader, path: Path) -> None:
    """marks.csv: the hot path. A plain row (known pupil, cached date and code, no
    minutes late, later than the pupil's last mark) is appended to its pupil's arrays with
    no object made for it; any other row takes the checking path, which reports it."""
    name = str(path)
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = csv.reader(handle)
        header = _csv_header(reader, rows, path, ("pupil_id", "date", "session", "code"))
        if header is None:
            return
        reader.begin_marks((name, "line", ""))
        column = {c: i for i, c in enumerate(header)}  # a repeated name: its last column, as DictReader
        ip, idate, isession, icode = (column[c] for c in ("pupil_id", "date", "session", "code"))
        ilate = column.get("minutes_late")
        width, pupils, days, halves = len(header), reader.pupils, reader._days, _SESSION_HALF
        used = 0
        for row in rows:
            if len(row) == width and (ilate is None or not row[ilate]):
                draft, day, half = pupils.get(row[ip]), days.get(row[idate]), halves.get(row[isession])
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
        reader.read["marks"] += used
        reader.used["marks"] += used


def _csv_mark(reader: _Reader, row: list[str], header: list[str], where: tuple[str, int]) -> None:
    """One marks.csv row off the hot path: checked, stored or reported."""
    if len(row) != len(header):
        _wrong_width(reader, row, header, where, "marks")
        return
    values = {k: v.strip() for k, v in zip(header, row)}
    draft = reader.pupil_for(values["pupil_id"], where, create=not reader.roster_given)
    reader.add_mark(draft, values, where, where[1])
    reader.day(values["date"])  # learn the date for the rows after


def _read_csv_dir(reader: _Reader, files: Mapping[str, Path], engine: str = "stdlib") -> None:
    """A CSV-style directory: school, then pupils, marks and events (CSV or Parquet)."""
    if "school.csv" in files:
        seen = 0
        for row, where in _csv_rows(reader, files["school.csv"], ("id",)):
            seen += 1
            if seen > 1:  # one history is one school: a second row would silently win
                reader.problem("school.csv has more than one school", where, found=f"school {row['id']!r}",
                               expected="one row after the header (one history per school)")
                continue
            settings = {k: _csv_value(v) for k, v in row.items() if k not in ("id", "name")}
            reader.school = School(row["id"], row.get("name", ""), settings)
    for kind in ("pupils", "marks", "events"):
        if f"{kind}.parquet" in files:
            if kind == "pupils":
                reader.roster_given = True
            from .columnar import read_parquet_into

            read_parquet_into(reader, kind, files[f"{kind}.parquet"])
        elif f"{kind}.csv" in files:
            _READ_CSV[kind](reader, files[f"{kind}.csv"], engine)


def _read_pupils_csv(reader: _Reader, path: Path, engine: str) -> None:
    reader.roster_given = True
    for row, where in _csv_rows(reader, path, ("pupil_id",), "pupils"):
        flags = [f for f in re.split(r"[;|]", row.get("flags", "")) if f]
        reader.add_pupil(row["pupil_id"], flags, row.get("date_of_birth"), row.get("year_group"), where)


def _read_marks_any(reader: _Reader, path: Path, engine: str) -> None:
    """marks.csv with pyarrow when asked (or, for ``auto``, when big and pyarrow is there)."""
    if engine == "pyarrow" or (engine == "auto" and path.stat().st_size >= ARROW_CSV_BYTES and _has_pyarrow()):
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


def _read_events_csv(reader: _Reader, path: Path, engine: str) -> None:
    for row, where in _csv_rows(reader, path, ("pupil_id", "date", "type"), "events"):
        draft = reader.pupil_for(row["pupil_id"], where, create=False)
        fields = _csv_details(reader, row.pop("details", ""), where)
        reader.add_event(draft, {**row, **fields}, where)


_READ_CSV = {"pupils": _read_pupils_csv, "marks": _read_marks_any, "events": _read_events_csv}


def _csv_details(reader: _Reader, text: str, where: Where) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, sep, value = part.partition("=")
        if not sep or not _NAME.fullmatch(key.strip()):
            reader.problem("bad event detail", where, found=repr(part), expected="key=value pairs separated by ;",
                           example="outcome=improved;parent_engaged=true")
            continue
        out[key.strip()] = _csv_value(value.strip())
    return out


def _csv_value(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return text


# --- entry points ---------------------------------------------------------------------


def _classify(paths: Sequence[str | Path]) -> tuple[list[Path], dict[str, Path], list[Problem]]:
    json_files, csv_files, problems = [], {}, []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = {n: path / n for n in _CSV_FILES if (path / n).is_file()}
            for kind in ("pupils", "marks", "events"):
                if f"{kind}.csv" in found and f"{kind}.parquet" in found:
                    problems.append(Problem(f"{kind} given twice", Location(str(path)),
                                            found=f"{kind}.csv and {kind}.parquet", expected="one of them"))
                    del found[f"{kind}.csv"]
            found.update({"history.json": path / "history.json"} if (path / "history.json").is_file() else {})
            if not found:
                problems.append(Problem("no history files in directory", Location(str(path)),
                                        expected="history.json or marks.csv (with pupils.csv, events.csv)"))
            json_files += [found.pop("history.json")] if "history.json" in found else []
            csv_files.update(found)
        elif not path.is_file():
            problems.append(Problem("history file not found", Location(str(path))))
        elif path.suffix.lower() == ".json":
            json_files.append(path)
        elif path.name in _CSV_FILES:
            csv_files[path.name] = path
        else:
            problems.append(Problem("unrecognised history file", Location(str(path)), found=path.name,
                                    expected="a .json history or marks.csv / pupils.csv / events.csv / school.csv"
                                             " (or marks / pupils / events .parquet)"))
    return json_files, csv_files, problems


def digest_files(paths: Iterable[Path]) -> str:
    """SHA-256 over the files' bytes, in name order: the same input, the same digest."""
    h = hashlib.sha256()
    for path in sorted(paths, key=str):
        h.update(path.name.encode() + b"\0")
        with open(path, "rb") as handle:  # in chunks: a year's marks.csv is hundreds of MiB
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\0")
    return "sha256:" + h.hexdigest()


def read_history(paths: Sequence[str | Path], codebook: CodeBook | None = None,
                 engine: str = "auto") -> tuple[History, LoadReport]:
    """Read every file given (JSON, CSV or Parquet files, or directories), keeping the good rows.

    Returns the history of every row that could be used, and the report of the rest.
    ``engine`` chooses how marks.csv is read: ``stdlib`` (csv module), ``pyarrow``
    (pyarrow's multi-threaded CSV reader; needs the ``parquet`` extra) or ``auto``
    (pyarrow for a marks.csv of 64 MiB or more when pyarrow is installed). Every engine
    gives the same history and report; pyarrow re-reads a file that has a row to report
    with the csv module, so problems are located by line exactly as always.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if engine not in ENGINES:
        raise UsageError(f"unknown history engine {engine!r}; expected one of {', '.join(ENGINES)}")
    if engine == "pyarrow":
        from .columnar import require_pyarrow

        require_pyarrow()
    reader = _Reader(codebook or default_codebook())
    json_files, csv_files, problems = _classify(paths)
    reader.problems.extend(problems)
    for path in json_files:
        _read_json(reader, path)
    if csv_files:
        _read_csv_dir(reader, csv_files, engine)
    files = json_files + list(csv_files.values())
    history = reader.history([str(p) for p in files], digest_files(files))
    return history, LoadReport(dict(reader.read), dict(reader.used), tuple(reader.problems))


def load_history(paths: Sequence[str | Path] | str | Path, codebook: CodeBook | None = None,
                 engine: str = "auto") -> History:
    """Read a history strictly: any bad row raises ``InputError`` listing every problem."""
    history, report = read_history(paths if not isinstance(paths, (str, Path)) else [paths], codebook, engine)
    if report.problems:
        raise InputError(report.problems)
    return history


def read_history_data(doc: Any, name: str = "<data>", codebook: CodeBook | None = None) -> tuple[History, LoadReport]:
    """Like ``read_history`` for a history already parsed into Python data (JSON form)."""
    reader = _Reader(codebook or default_codebook())
    _read_document(reader, doc, name)
    digest = "sha256:" + hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()
    history = reader.history([name], digest)
    return history, LoadReport(dict(reader.read), dict(reader.used), tuple(reader.problems))


def read_pupil_data(item: Any, name: str = "<data>", codebook: CodeBook | None = None) -> tuple[Pupil | None, list[Problem]]:
    """One pupil from its JSON form, finished at once (for streaming large cohorts)."""
    reader = _Reader(codebook or default_codebook())
    _json_pupil(reader, item, name, "/pupils/?")
    if reader.problems or not reader.pupils:
        return None, reader.problems
    return _finish(next(iter(reader.pupils.values())), reader.codebook), []
