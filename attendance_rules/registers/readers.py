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
import logging
import math
import re
from array import array
from bisect import bisect_right
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, TextIO

import attrs

from .codes import CodeBook, RegisterCode, counted_as, default_codebook, withdrawn_text
from ..exceptions import InputError, Location, Problem, UsageError
from .history import (
    EVENT_FIELDS,
    SESSIONS,
    Event,
    History,
    Pupil,
    Register,
    School,
    day_of_slot,
    slot_of,
    unknown_event_type,
    unknown_name,
)

__all__ = [
    "LoadReport",
    "digest_files",
    "load_history",
    "read_history",
    "read_history_data",
    "read_pupil_data",
    "warnings_to",
]

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_CSV_FILES = ("pupils.csv", "marks.csv", "events.csv", "school.csv",
              "pupils.parquet", "marks.parquet", "events.parquet")
ENGINES = ("auto", "stdlib", "pyarrow")
ARROW_CSV_BYTES = 64 << 20  # engine "auto" reads a marks.csv this big with pyarrow, when installed
MAX_NUMBER_CHARS = 40  # a JSON number literal longer than this is refused before it is converted
_LOGGER = "attendance_rules.registers.readers"  # load_history logs each warning here (see warnings_to)

# What is lost when an optional column is not given (said once, as a warning).
_MISSING_COLUMN = {
    "date_of_birth": "no pupil has a date of birth",
    "year_group": "no pupil has a year group",
    "flags": "no pupil has a flag (social_worker, ehcp …)",
    "minutes_late": "no late mark records its minutes late",
}
# What is lost when an optional file of a CSV history is not given (said once, as a warning).
_MISSING_FILE = {
    "school": "the school has no id, name or settings (a policy's settings take their defaults)",
    "pupils": "the pupils are those with marks, with no flags, date of birth or year group",
    "marks": "no pupil has a register mark",
    "events": "no pupil has a case event: no letter, meeting or notice is recorded as done",
}
# The keys of each JSON object of a history (schemas/history.schema.json); "x-" keys are
# extensions, allowed where the schema allows them.
DOCUMENT_KEYS = ("pupils", "school")
SCHOOL_KEYS = ("id", "name", "settings")
PUPIL_KEYS = ("date_of_birth", "events", "flags", "id", "marks", "year_group")
MARK_KEYS = ("code", "date", "minutes_late", "session")
# The columns of each CSV (or Parquet) file; school.csv's further columns are settings and
# events.csv's are event fields, so only these two files have unknown columns.
CSV_COLUMNS = {
    "pupils": ("pupil_id", "date_of_birth", "year_group", "flags"),
    "marks": ("pupil_id", "date", "session", "code", "minutes_late"),
}


@attrs.frozen
class LoadReport:
    """What a load read, used and reported, per kind of row."""

    read: Mapping[str, int]
    used: Mapping[str, int]
    problems: tuple[Problem, ...]
    warnings: tuple[Problem, ...] = ()

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
        self.last, self.base = -1, 0
        self.seen: bytearray | None = None
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

    def __init__(self, codebook: CodeBook, event_types: Mapping[str, Mapping[str, Any]] | None = None,
                 strict_codes: bool = False) -> None:
        self.codebook = codebook
        self.strict_codes = strict_codes  # a withdrawn code is refused rather than warned about
        self.pupils: dict[str, _PupilDraft] = {}
        self.school = School()
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        # Event types whose fields are known: the standard ones and any a policy declares.
        self.event_fields: Mapping[str, Mapping[str, Any]] = {**EVENT_FIELDS, **(event_types or {})}
        self.odd_events: dict[str, list] = {}  # event type known to no one -> [first location, count]
        self.read = {"pupils": 0, "marks": 0, "events": 0}
        self.used = {"pupils": 0, "marks": 0, "events": 0}
        self.roster_given = False
        self.source: tuple | None = None  # where marks come from now: (file, kind, text)
        # Withdrawn codes accepted, per (file, code id): [first location, first day, its
        # pupil, marks, last day] — one warning each, said when the load is finished.
        self.withdrawn: dict[tuple[str, int], list] = {}
        # Caches for the hot path: a year has ~200 distinct dates and ~25 codes.
        self._dates: dict[str, dt.date] = {}
        # date text -> (AM slot, code -> id of the codes in force, code -> id of the codes
        # accepted: those in force and, unless codes are strict, the withdrawn ones)
        self._days: dict[str, tuple[int, dict[str, int], dict[str, int]]] = {}

    def problem(self, message: str, where: Where, found: str = "", expected: str = "", example: str = "") -> None:
        self.problems.append(Problem(message, _location(where), found=found, expected=expected, example=example))

    def check_columns(self, kind: str, header: Sequence[str], file: str, where: Callable[[int], Location]) -> None:
        """Warn once per column of a ``kind`` file that is unknown, repeated or (optional
        but) missing: such a column is not read, or the data it would hold is absent."""
        known = CSV_COLUMNS[kind]
        for i, column in enumerate(header):
            if column not in known:
                problem = unknown_name(column, known, f"{file}: unknown column {{}}, not read", where(i))
                self.warnings.append(attrs.evolve(problem, severity="warning"))
            elif header.index(column) != i:
                self.warn(f"{file}: column {column!r} given twice; only the last is read", where(i),
                          found=",".join(header), expected="each column once")
        for column in known:
            if column not in header:
                self.warn(f"{file} has no {column} column: {_MISSING_COLUMN[column]}", where(len(header)),
                          found=",".join(header), expected=",".join(known))

    def warn(self, message: str, where: Where, found: str = "", expected: str = "", example: str = "") -> None:
        """Note something the load keeps going past but the user must hear about."""
        self.warnings.append(Problem(message, _location(where), "warning", found, expected, example))

    def unknown_keys(self, item: Mapping[str, Any], known: Sequence[str], what: str, pointer: str, name: str,
                     extensions: bool = True) -> bool:
        """Report each key of ``item`` not in ``known`` (nor an ``x-`` key, where
        ``extensions``), naming the nearest known key; True when there was one."""
        odd = [k for k in item if k not in known and not (extensions and str(k).startswith("x-"))]
        for key in odd:
            self.problems.append(unknown_name(key, known, f"unknown key {{}} in {what}",
                                              Location(name, pointer=f"{pointer}/{_escape(str(key))}"),
                                              "an x- extension key" if extensions else ""))
        return bool(odd)

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
                self.problem(f"impossible {what}", where, found=_brief(value), expected="a real calendar date")
                return None
        self.problem(f"bad {what}", where, found=_brief(value), expected="YYYY-MM-DD", example="2024-01-26")
        return None

    def day(self, text: Any) -> tuple[int, dict[str, int], dict[str, int]] | None:
        """(AM slot, code text -> id of the codes in force, code text -> id of the codes
        accepted) of a valid date text, else None (without reporting: the caller takes
        the reporting path). A withdrawn code is never on the hot path (it is warned
        about at its row), so readers of text use the first map; the vectorised reader
        uses the second and warns about the rows itself."""
        found = self._days.get(text) if isinstance(text, str) else None
        if found is not None or not (isinstance(text, str) and _DATE.fullmatch(text)):
            return found
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            return None
        in_force = self.codebook.ids_on(day)
        if in_force is None:
            return None
        accepted = in_force if self.strict_codes else self.codebook.ids_on(day, withdrawn=True)
        assert accepted is not None, "a day with codes in force has a table, so its withdrawn codes too"
        found = self._days[text] = (day.toordinal() * 2, in_force, accepted)
        return found

    def pupil_for(self, pupil_id: Any, where: Where, create: bool) -> _PupilDraft | None:
        if not isinstance(pupil_id, str) or not pupil_id.strip():
            self.problem("missing pupil id", where, found=_brief(pupil_id), expected="a non-empty string")
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
            self.problem("bad flag name", where, found=_brief(bad[0]), expected="lower_case_name", example="social_worker")
        draft.flags = frozenset(f for f in flags if f not in bad)
        draft.date_of_birth = self.date(dob, where, "date of birth") if dob not in (None, "") else None
        draft.year_group = self.year_group(year, where)
        self.used["pupils"] += 1

    def year_group(self, value: Any, where: Where) -> int | None:
        """The year group as an int, None when absent or after reporting a bad value."""
        if value in (None, ""):
            return None
        year = _whole_number(value)
        if year is None or not -2 <= year <= 14:  # nursery (-2) to year 14
            self.problem("bad year group", where, found=_brief(value), expected="a whole number from -2 to 14")
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
            self.problem("bad session", where, found=_brief(session), expected="AM or PM")
        late = self.minutes_late(row.get("minutes_late"), where)
        if day is None or session not in SESSIONS or late is False:
            return
        self.store_mark(draft, day, session, code, late, where, at)

    def minutes_late(self, value: Any, where: Where) -> int | None | bool:
        """Minutes late as an int, None when absent, False after reporting a bad value."""
        if value in (None, ""):
            return None
        minutes = _whole_number(value)
        if minutes is None or not 0 <= minutes <= 600:
            self.problem("bad minutes_late", where, found=_brief(value), expected="a whole number of minutes, 0 to 600")
            return False
        return minutes

    def store_mark(self, draft: _PupilDraft, day: dt.date, session: str, code: Any, late: int | None,
                   where: Where, at: int = 0) -> None:
        code = code if isinstance(code, str) else _brief(code)
        entry: RegisterCode | None
        try:
            entry = self.codebook.lookup(code, day)
        except KeyError as err:
            entry = self.codebook.withdrawn_use(code, day)
            if entry is None or self.strict_codes:
                self.refuse_code(err.args[0], entry, code, day, where)
                return
        if self.place(draft, slot_of(day, session), entry.id, late, where, at) and entry.is_withdrawn:
            self.note_withdrawn(entry, day, where, draft.id)

    def refuse_code(self, message: str, entry: RegisterCode | None, code: str, day: dt.date, where: Where) -> None:
        """Report a mark's code: not valid on its date, or withdrawn (``entry``) and refused
        because codes are strict."""
        if entry is None:
            self.problem(message, where, found=repr(code), expected="a register code valid on that date")
            return
        self.problem(f"withdrawn register code {code!r} on {day.isoformat()} refused (strict register codes): "
                     f"{withdrawn_text(entry)}", where, found=f"{code!r} on {day.isoformat()}",
                     expected="a code in force on that date (without --strict-codes it is accepted, with a warning)")

    def note_withdrawn(self, entry: RegisterCode, day: dt.date, where: Where, pupil: str) -> None:
        """Note a mark of a withdrawn code that was used (one warning per file and code)."""
        key = (_location(where).file, entry.id)
        seen = self.withdrawn.get(key)
        if seen is None:
            self.withdrawn[key] = [where, day, pupil, 1, day]
        else:
            seen[3] += 1
            seen[4] = max(seen[4], day)

    def withdrawn_warnings(self) -> None:
        """One warning per file and withdrawn code used, at its first mark: the code, its
        date, how it is counted and why, and how many more marks of it the file has."""
        for (_, code_id), (where, day, pupil, count, last) in self.withdrawn.items():
            entry = self.codebook.by_id[code_id - 1]
            more = f"; {count - 1} more mark(s) of {entry.code} after its withdrawal in this file, the latest " \
                   f"on {last.isoformat()}" if count > 1 else ""
            self.warn(f"withdrawn register code {entry.code!r} on {day.isoformat()} (pupil {pupil}) counted as "
                      f"{counted_as(entry.category)}: "
                      f"{withdrawn_text(entry)}{more}", where, found=f"{entry.code!r} on {day.isoformat()}",
                      expected="a code in force on that date (--strict-codes makes this an error)")

    def place(self, draft: _PupilDraft, slot: int, code_id: int, late: int | None, where: Where, at: int) -> bool:
        """Append a checked mark to its pupil (True), or report it if its session already
        has one (False)."""
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
            return False
        if late is not None:
            draft.late[len(draft.slots)] = late
        draft.slots.append(slot)
        draft.codes.append(code_id)
        draft.rows.append(at)
        self.used["marks"] += 1
        return True

    def add_event(self, draft: _PupilDraft | None, row: Mapping[str, Any], where: Where) -> None:
        self.read["events"] += 1
        if draft is None:
            return
        day = self.date(row.get("date"), where)
        kind = row.get("type")
        if not (isinstance(kind, str) and _NAME.fullmatch(kind)):
            self.problem("bad event type", where, found=_brief(kind), expected="lower_case_name",
                         example="school_attendance_meeting")
            return
        details = {k: v for k, v in row.items() if k not in ("date", "type")}
        if not self.known_fields(kind, details, where) or not self.check_details(kind, details, where) \
                or day is None:
            return
        location = _location(where)
        draft.events.append(Event(day, kind, details, location))
        self.used["events"] += 1
        if kind not in self.event_fields:
            self.odd_events.setdefault(kind, [location, 0])[1] += 1

    def known_fields(self, kind: str, details: Mapping[str, Any], where: Where) -> bool:
        """Report the fields of an event of a known type that the type does not have, and
        any field whose value is not a string, boolean, number or null; True when none."""
        ok = True
        fields = self.event_fields.get(kind)
        for key, value in details.items():
            if fields is not None and key not in fields and not str(key).startswith("x-"):
                known = tuple(fields) or ("(none: this type has no fields)",)
                self.problems.append(unknown_name(key, known, f"unknown field {{}} of a {kind} event", _location(where),
                                                  "an x- extension field"))
                ok = False
            elif not _is_scalar(value):
                self.problem(f"bad {kind}.{key}", where, found=_brief(value),
                             expected="a string, boolean, finite number or null")
                ok = False
        return ok

    def odd_event_warnings(self) -> None:
        """One warning per event type that is neither standard nor declared, at its first event."""
        for kind, (location, count) in sorted(self.odd_events.items()):
            self.warnings.append(unknown_event_type(kind, location, count))

    def check_details(self, kind: str, details: dict[str, Any], where: Where) -> bool:
        """Check and convert the known fields of a standard event in place."""
        ok = True
        for field, expected in self.event_fields.get(kind, {}).items():
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
            if not _field_ok(value, expected):
                wanted = " | ".join(expected) if isinstance(expected, (tuple, list)) else str(expected)
                self.problem(f"bad {kind}.{field}", where, found=_brief(value), expected=wanted)
                ok = False
        return ok

    def history(self, sources: Sequence[str], digest: str) -> History:
        """The history of the rows used, with the warnings said so far."""
        pupils = tuple(_finish(d, self.codebook) for d in sorted(self.pupils.values(), key=lambda d: d.id))
        return History(pupils, self.school, tuple(sources), digest, tuple(self.warnings))

    def finished(self, sources: Sequence[str], digest: str) -> tuple[History, LoadReport]:
        """The history and the report of a load that has read every file."""
        self.withdrawn_warnings()
        self.odd_event_warnings()
        report = LoadReport(dict(self.read), dict(self.used), tuple(self.problems), tuple(self.warnings))
        return self.history(sources, digest), report


def _field_ok(value: Any, expected: Any) -> bool:
    """Whether an event field's value has its type: "bool", "number", text ("str",
    "text" or any other name) or one of a tuple/list of allowed strings."""
    if isinstance(expected, (tuple, list)):
        return isinstance(value, str) and value in expected
    if expected == "bool":
        return isinstance(value, bool)
    if expected == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, str)


def _whole_number(value: Any) -> int | None:
    """``value`` as an int when it is a whole number (7, 7.0 or the text "7"), else None:
    1.5 is never truncated, a bool is not a number, infinity and NaN are not whole."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d{1,9}", value.strip()):  # text from CSV or Parquet
        return int(value)
    return None


def _escape(key: str) -> str:
    """A key as one JSON pointer token (RFC 6901: ``~`` is ``~0``, ``/`` is ``~1``)."""
    return key.replace("~", "~0").replace("/", "~1")


def _brief(value: Any) -> str:
    """A short description of a JSON value for a message (never a deep repr)."""
    if isinstance(value, (dict, list)):
        return f"{'an object' if isinstance(value, dict) else 'a list'} of {len(value)} item(s)"
    return repr(value)[:60]


def _is_scalar(value: Any) -> bool:
    """True for a JSON string, boolean, finite number or null: what settings and event fields hold."""
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, (str, bool, int))


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


class _Refused:
    """A JSON number the decoder refused (too long, not finite, NaN): kept in place so
    that it can be located by its pointer once the document is parsed."""

    __slots__ = ("text", "why")

    def __init__(self, text: str, why: str) -> None:
        self.text, self.why = text, why


class _Numbers:
    """``json.loads`` hooks that bound numbers while decoding: a literal of more than
    MAX_NUMBER_CHARS characters is never converted (a 4,301-digit integer would raise),
    a float must be finite (``1e999`` decodes to infinity) and NaN/Infinity are refused."""

    def __init__(self) -> None:
        self.refused: list[_Refused] = []

    def _refuse(self, text: str, why: str) -> _Refused:
        refused = _Refused(text, why)
        self.refused.append(refused)
        return refused

    def integer(self, text: str) -> int | _Refused:
        """An integer literal, converted only when short enough."""
        if len(text) > MAX_NUMBER_CHARS:
            return self._refuse(text, f"a number of more than {MAX_NUMBER_CHARS} characters")
        return int(text)

    def real(self, text: str) -> float | _Refused:
        """A literal with a fraction or exponent, kept only when finite."""
        if len(text) > MAX_NUMBER_CHARS:
            return self._refuse(text, f"a number of more than {MAX_NUMBER_CHARS} characters")
        value = float(text)
        return value if math.isfinite(value) else self._refuse(text, "a number too large to represent")

    def constant(self, text: str) -> _Refused:
        """NaN, Infinity and -Infinity: JavaScript, not JSON."""
        return self._refuse(text, f"{text} is not a JSON number")


def _read_json(reader: _Reader, path: Path) -> None:
    """Decode one JSON history (bounded: depth, number size, UTF-8) and read it."""
    name = str(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")  # a UTF-8 byte order mark is not data
    except UnicodeDecodeError as err:
        reader.problems.append(not_utf8(name, data, err.start))
        return
    numbers = _Numbers()
    try:
        if _TOO_DEEP.search(text):  # checked first: Python 3.12+ decode far deeper before failing
            raise RecursionError
        doc = json.loads(text, parse_int=numbers.integer, parse_float=numbers.real, parse_constant=numbers.constant)
    except json.JSONDecodeError as err:
        reader.problem(f"not valid JSON: {err.msg}", Location(name, err.lineno, err.colno),
                       expected='{"pupils": [...]}')
        return
    except RecursionError:  # the decoder's own limit (about 1,000 levels); a history needs 5
        reader.problem("JSON nested too deeply", _deepest(name, text), found="200 or more levels of [ or {",
                       expected="a history: an object of pupils, each with lists of marks and events (5 levels)")
        return
    if numbers.refused:
        _report_refused(reader, doc, numbers.refused, name)
    _read_document(reader, doc, name)


# 200 brackets opened in a row (keys between them allowed): no history nests past 5 levels
_TOO_DEEP = re.compile(r'(?:[\[{]\s*(?:"(?:[^"\\]|\\.)*"\s*:\s*)?){200}')


def _deepest(name: str, text: str, limit: int = 200) -> Location:
    """Where ``text`` first opens its ``limit``-th nested bracket (only run on a failure)."""
    depth, line, column, quoted, escaped = 0, 1, 0, False, False
    for char in text:
        column += 1
        if quoted:
            escaped, quoted = (not escaped and char == "\\"), quoted and (escaped or char != '"')
        elif char == '"':
            quoted = True
        elif char in "[{":
            depth += 1
            if depth >= limit:
                return Location(name, line, column)
        elif char in "]}":
            depth -= 1
        if char == "\n":
            line, column = line + 1, 0
    return Location(name)


def _report_refused(reader: _Reader, doc: Any, refused: list[_Refused], name: str) -> None:
    """Report each refused number at its JSON pointer, and make it null so that the rest
    of the document is still read (a walk made only when there are some)."""
    wanted = {id(r) for r in refused}
    stack: list[tuple[Any, str]] = [(doc, "")]
    while stack:  # iterative: the document may be ~1,000 levels deep
        value, pointer = stack.pop()
        keys = value.keys() if isinstance(value, dict) else range(len(value)) if isinstance(value, list) else ()
        for key in reversed(list(keys)):
            item, at = value[key], f"{pointer}/{_escape(str(key))}"
            if id(item) in wanted:
                reader.problem(f"bad number: {item.why}", Location(name, pointer=at), found=item.text[:40],
                               expected=f"a finite number of at most {MAX_NUMBER_CHARS} characters", example="12")
                value[key] = None
            else:
                stack.append((item, at))
    reader.problems[-len(refused):] = sorted(reader.problems[-len(refused):], key=lambda p: _pointer_key(p.location))


def _pointer_key(location: Location) -> tuple:
    """A JSON pointer in document order: ``/pupils/2`` before ``/pupils/10``."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in location.pointer.split("/"))


def not_utf8(name: str, data: bytes, offset: int, lines: int = 0, before: int = 0) -> Problem:
    """The located error for the byte at ``offset`` of ``data`` that is not UTF-8;
    ``lines`` and ``before`` count the lines and bytes of the file before ``data``."""
    line = lines + data.count(b"\n", 0, offset) + 1
    start = data.rfind(b"\n", 0, offset)
    column = offset - start if start >= 0 or not before else 0  # a line begun in an earlier chunk: no column
    return Problem("file is not UTF-8 text", Location(name, line, column),
                   found=f"byte 0x{data[offset]:02x} at byte offset {before + offset}",
                   expected="UTF-8 text (in Excel: Save As \"CSV UTF-8\")")


def _read_document(reader: _Reader, doc: Any, name: str) -> None:
    """A parsed history: its keys checked, then the school and every pupil read."""
    if not isinstance(doc, dict) or not isinstance(doc.get("pupils"), list):
        reader.problem("a history is an object with a list of pupils", Location(name, pointer=""),
                       found=type(doc).__name__, expected='{"pupils": [...]}')
        return
    reader.unknown_keys(doc, DOCUMENT_KEYS, "a history", "", name)
    if "school" in doc:
        _json_school(reader, doc["school"], name)
    for i, item in enumerate(doc["pupils"]):
        _json_pupil(reader, item, name, f"/pupils/{i}")


def _json_school(reader: _Reader, raw: Any, name: str) -> None:
    """The school record: known keys, text id and name, settings of scalar values (types kept)."""
    where = Location(name, pointer="/school")
    if not isinstance(raw, dict) or not isinstance(raw.get("settings", {}), dict):
        reader.problem("bad school record", where, found=_brief(raw),
                       expected='{"id": ..., "name": ..., "settings": {...}}')
        return
    reader.unknown_keys(raw, SCHOOL_KEYS, "the school", "/school", name)
    for key in ("id", "name"):
        if not isinstance(raw.get(key, ""), str):
            reader.problem(f"bad school {key}", Location(name, pointer=f"/school/{key}"), found=_brief(raw[key]),
                           expected="a string")
    settings = raw.get("settings", {})
    for key, value in settings.items():
        if not _is_scalar(value):
            reader.problem("bad school setting", Location(name, pointer=f"/school/settings/{_escape(str(key))}"),
                           found=_brief(value), expected="a string, boolean, finite number or null",
                           example='"traded_ews": true')
    reader.school = School(str(raw.get("id", "")), str(raw.get("name", "")), settings)


def _json_pupil(reader: _Reader, item: Any, name: str, pointer: str) -> None:
    """One JSON pupil: keys checked, then identity, flags, marks and events read."""
    where = Location(name, pointer=pointer)
    if not isinstance(item, dict):
        reader.read["pupils"] += 1
        reader.problem("a pupil is an object", where, found=type(item).__name__, expected='{"id": ..., "marks": [...]}')
        return
    reader.unknown_keys(item, PUPIL_KEYS, "a pupil", pointer, name)
    flags = item.get("flags", [])
    if not isinstance(flags, list):
        reader.problem("flags must be a list", Location(name, pointer=pointer + "/flags"), found=_brief(flags))
        flags = []
    year = item.get("year_group")
    if isinstance(year, str) and year:  # JSON has numbers: "7" is a spreadsheet habit the schema refuses
        reader.problem("bad year group", Location(name, pointer=pointer + "/year_group"), found=repr(year)[:40],
                       expected="a whole number from -2 to 14 (not text)", example='"year_group": 7')
        year = None
    pupil_id = item.get("id")
    reader.add_pupil(pupil_id, flags, item.get("date_of_birth"), year, where)
    draft = reader.pupils.get(pupil_id) if isinstance(pupil_id, str) else None
    for key in ("marks", "events"):
        rows = item.get(key, [])
        if not isinstance(rows, list):
            reader.problem(f"{key} must be a list", Location(name, pointer=f"{pointer}/{key}"), found=_brief(rows))
        elif key == "marks":
            _json_marks(reader, draft, rows, name, pointer)
        else:
            _json_events(reader, draft, rows, name, pointer)


def _json_marks(reader: _Reader, draft: _PupilDraft | None, rows: list, name: str, pointer: str) -> None:
    """A pupil's JSON marks: plain ones appended at once, the rest checked one by one."""
    reader.source = (name, "json", pointer)
    if draft is not None:
        draft.begin(reader.source)
    # keyed by Any: a JSON value of any type is looked up (an unhashable one raises TypeError)
    days: Mapping[Any, tuple[int, Mapping[Any, int], dict[str, int]]] = reader._days
    halves: Mapping[Any, int] = _SESSION_HALF
    used = 0
    for j, row in enumerate(rows):
        if draft is not None and type(row) is dict and len(row) == 3:  # noqa: E721 - exactly a dict
            try:
                day, half = days.get(row.get("date")), halves.get(row.get("session"))
                code_id = day[1].get(row.get("code")) if day is not None and half is not None else None
            except TypeError:  # an unhashable value: the checking path reports it
                code_id = None
            # a code id implies a day and a half; said again for the type checker
            if code_id is not None and day is not None and half is not None and day[0] + half > draft.last:
                draft.last = day[0] + half
                draft.slots.append(draft.last)
                draft.codes.append(code_id)
                draft.rows.append(j)
                used += 1
                continue
        at = (name, pointer, "marks", j)  # made into a Location only if a problem is reported
        if isinstance(row, dict) and _json_mark_ok(reader, row, at):
            reader.add_mark(draft, row, at, j)
            reader.day(row.get("date"))  # learn the date for the rows after
        else:
            reader.read["marks"] += 1
            if not isinstance(row, dict):
                reader.problem("each of marks is an object", at, found=_brief(row))
    reader.read["marks"] += used
    reader.used["marks"] += used


def _json_mark_ok(reader: _Reader, row: dict, at: tuple) -> bool:
    """False after reporting a JSON mark's unknown keys or its minutes late given as text
    (the checking path: a plain mark never gets here)."""
    name, pointer, key, index = at
    ok = not reader.unknown_keys(row, MARK_KEYS, "a mark", f"{pointer}/{key}/{index}", name, extensions=False)
    late = row.get("minutes_late")
    if isinstance(late, str) and late:  # the schema's minutes are a number, never text
        reader.problem("bad minutes_late", at, found=repr(late)[:40], expected="a whole number of minutes, 0 to 600",
                       example='"minutes_late": 12')
        ok = False
    return ok


def _json_events(reader: _Reader, draft: _PupilDraft | None, rows: list, name: str, pointer: str) -> None:
    """A pupil's JSON events, each checked (type, date, fields) and kept or reported."""
    for j, row in enumerate(rows):
        at = (name, pointer, "events", j)
        if isinstance(row, dict):
            reader.add_event(draft, row, at)
        else:
            reader.read["events"] += 1
            reader.problem("each of events is an object", at, found=_brief(row))


# --- CSV ----------------------------------------------------------------------------


def _csv_rows(reader: _Reader, path: Path, required: Sequence[str],
              kind: str | None = None) -> Iterable[tuple[dict[str, str], Where]]:
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


def _csv_header(reader: _Reader, rows: Any, path: Path, required: Sequence[str],
                kind: str | None = None) -> list[str] | None:
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
        reader.problem(f"{path.name} lacks column(s) {', '.join(missing)}", Location(str(path), 1),
                       found=",".join(header), expected=",".join(required))
        return None
    if kind in CSV_COLUMNS:
        reader.check_columns(kind, header, path.name, lambda i: Location(str(path), 1, pointer=f"column {i + 1}"))
    return header


def _unreadable_row(reader: _Reader, err: csv.Error, where: Where, kind: str | None) -> None:
    """A row the csv module refused (e.g. a field over its 131,072-character limit): reported."""
    reader.problem(f"unreadable CSV row: {err}", where, expected=f"fields of at most {csv.field_size_limit():,} "
                   "characters, quotes closed")
    if kind:  # the row is read and reported, never used
        reader.read[kind] += 1


def utf8_problem(path: Path) -> Problem:
    """The located error for the first byte of ``path`` that is not UTF-8 (read in
    chunks: only run once decoding the file failed)."""
    lines = done = 0
    tail = b""
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            data = tail + chunk
            try:
                data.decode("utf-8")
                good = len(data)
            except UnicodeDecodeError as err:
                if err.reason != "unexpected end of data":  # not a sequence cut by the chunk's end
                    return not_utf8(str(path), data, err.start, lines, done)
                good = err.start
            lines += data.count(b"\n", 0, good)
            done += good
            tail = data[good:]
    return not_utf8(str(path), tail, 0, lines, done)  # a sequence cut short by the end of the file


def _wrong_width(reader: _Reader, row: list[str], header: list[str], where: Where, kind: str | None) -> None:
    """A row with more or fewer fields than the header: reported (and counted as read)."""
    reader.problem("wrong number of fields", where, found=str(len(row)),
                   expected=f"{len(header)} ({','.join(header)})")
    if kind:  # the row is read and reported, never used
        reader.read[kind] += 1


def _read_marks_csv(reader: _Reader, path: Path) -> None:
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


def _marks_csv_rows(reader: _Reader, rows: Any, header: list[str], name: str) -> None:
    """Read the rows of marks.csv left in ``rows`` (see ``_read_marks_csv``)."""
    column = {c: i for i, c in enumerate(header)}  # a repeated name: its last column, as DictReader
    ip, idate, isession, icode = (column[c] for c in ("pupil_id", "date", "session", "code"))
    ilate = column.get("minutes_late")
    width, pupils, days, halves = len(header), reader.pupils, reader._days, _SESSION_HALF
    used = 0
    try:
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
    finally:  # the rows used so far count, even when a row stops the loop
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


def _read_school_csv(reader: _Reader, path: Path) -> None:
    """school.csv: one row; columns besides id and name are settings (text, true/false)."""
    seen = 0
    for row, where in _csv_rows(reader, path, ("id",)):
        seen += 1
        if seen > 1:  # one history is one school: a second row would silently win
            reader.problem("school.csv has more than one school", where, found=f"school {row['id']!r}",
                           expected="one row after the header (one history per school)")
            continue
        settings = {k: _csv_value(v) for k, v in row.items() if k not in ("id", "name")}
        reader.school = School(row["id"], row.get("name", ""), settings)


def _missing_files(reader: _Reader, files: Mapping[str, Path]) -> None:
    """Warn once for each optional file of a CSV history that was not given."""
    folder = sorted({str(p.parent) for p in files.values()})
    where = Location(folder[0] if len(folder) == 1 else "")
    for kind, lost in _MISSING_FILE.items():
        if f"{kind}.csv" not in files and f"{kind}.parquet" not in files:
            reader.warn(f"no {kind}.csv: {lost}", where, expected=f"{kind}.csv (or {kind}.parquet) beside the others")


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
        draft = reader.pupil_for(row.pop("pupil_id"), where, create=False)
        fields = _csv_details(reader, row.pop("details", ""), where)
        reader.add_event(draft, {**row, **fields}, where)  # further columns are fields, checked as such


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


def read_history(paths: Sequence[str | Path], codebook: CodeBook | None = None, engine: str = "auto",
                 event_types: Mapping[str, Mapping[str, Any]] | None = None,
                 strict_codes: bool = False) -> tuple[History, LoadReport]:
    """Read every file given (JSON, CSV or Parquet files, or directories), keeping the good rows.

    Returns the history of every row that could be used, and the report of the rest
    (``problems``) and of what the user must hear about although nothing was refused
    (``warnings``: unknown CSV columns, optional files or columns not given, event types
    that are not standard — ``event_types`` adds the types a policy declares, as
    type -> field -> type, whose fields are then checked like the standard ones).
    ``engine`` chooses how marks.csv is read: ``stdlib`` (csv module), ``pyarrow``
    (pyarrow's multi-threaded CSV reader; needs the ``parquet`` extra) or ``auto``
    (pyarrow for a marks.csv of 64 MiB or more when pyarrow is installed). Every engine
    gives the same history and report; pyarrow re-reads a file that has a row to report
    (or a withdrawn code to warn about) with the csv module, so problems and warnings are
    located by line exactly as always.

    A register code that was withdrawn but is still found in real registers (``H``,
    ``J``, ``F``, ``Y`` after 19 August 2024; ``F`` after August 2013) is accepted and
    counted as DfE's statistics count it, with one warning per file and code at its
    first mark; ``strict_codes`` refuses each such mark instead, as a located problem.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if engine not in ENGINES:
        raise UsageError(f"unknown history engine {engine!r}; expected one of {', '.join(ENGINES)}")
    if engine == "pyarrow":
        from .columnar import require_pyarrow

        require_pyarrow()
    reader = _Reader(codebook or default_codebook(), event_types, strict_codes)
    json_files, csv_files, problems = _classify(paths)
    reader.problems.extend(problems)
    for path in json_files:
        _read_json(reader, path)
    if csv_files:
        _read_csv_dir(reader, csv_files, engine)
    files = json_files + list(csv_files.values())
    return reader.finished([str(p) for p in files], digest_files(files))


def load_history(paths: Sequence[str | Path] | str | Path, codebook: CodeBook | None = None,
                 engine: str = "auto", event_types: Mapping[str, Mapping[str, Any]] | None = None,
                 strict_codes: bool = False) -> History:
    """Read a history strictly: any bad row raises ``InputError`` listing every problem.

    Warnings (see ``read_history``) do not refuse the history: they are on
    ``History.warnings`` and logged, each once and before any error is raised, to the
    ``attendance_rules.registers.readers`` logger (the command line prints them on stderr; see
    ``warnings_to``).
    """
    history, report = read_history(paths if not isinstance(paths, (str, Path)) else [paths], codebook, engine,
                                   event_types, strict_codes)
    log = logging.getLogger(_LOGGER)
    for warning in report.warnings:  # said even when the load fails: a warning may explain an error
        log.warning("%s", warning)
    if report.problems:
        raise InputError(report.problems)
    return history


@contextmanager
def warnings_to(stream: TextIO) -> Iterator[None]:
    """While inside, the warnings of loading histories are written to ``stream``, one a line
    (the command line's hook: its stderr), rather than reaching the logging system's
    handlers or its last resort (which also prints them on stderr)."""
    log = logging.getLogger(_LOGGER)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    propagate, log.propagate = log.propagate, False
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.propagate = propagate


def read_history_data(doc: Any, name: str = "<data>", codebook: CodeBook | None = None,
                      strict_codes: bool = False) -> tuple[History, LoadReport]:
    """Like ``read_history`` for a history already parsed into Python data (JSON form)."""
    reader = _Reader(codebook or default_codebook(), strict_codes=strict_codes)
    _read_document(reader, doc, name)
    try:
        text = json.dumps(doc, sort_keys=True, default=str)
    except (TypeError, ValueError, RecursionError):  # keys of mixed types, or nested beyond reading
        text = repr(reader.read)
    return reader.finished([name], "sha256:" + hashlib.sha256(text.encode()).hexdigest())


def read_pupil_data(item: Any, name: str = "<data>", codebook: CodeBook | None = None,
                    strict_codes: bool = False) -> tuple[Pupil | None, list[Problem]]:
    """One pupil from its JSON form, finished at once (for streaming large cohorts).
    Only problems are returned: a withdrawn code is accepted without its warning unless
    ``strict_codes`` refuses it (``read_history_data`` gives the warnings)."""
    reader = _Reader(codebook or default_codebook(), strict_codes=strict_codes)
    _json_pupil(reader, item, name, "/pupils/?")
    if reader.problems or not reader.pupils:
        return None, reader.problems
    return _finish(next(iter(reader.pupils.values())), reader.codebook), []
