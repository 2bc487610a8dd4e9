"""The machinery every history reader shares: ``Reader`` and the ``LoadReport`` it ends with.

A ``Reader`` accumulates pupils, marks and events from any number of files (JSON, CSV,
Parquet, Arrow tables), checking each row by the same code whatever its format, so that
a bad row is reported alike from every reader: its problems (rows refused) and warnings
(what the user must hear about although nothing was refused) are kept with their
locations. ``Reader.days`` caches, per date text, the session slot and code tables
in force: the hot paths of the CSV and JSON readers look a plain mark up there and
append it to its pupil's draft with no object made for it.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any, Callable, Iterable, Mapping, Sequence

import attrs

from ..exceptions import Location, Problem
from .codes import CodeBook, RegisterCode, counted_as, withdrawn_text
from .history import (
    EVENT_FIELDS,
    SESSIONS,
    Event,
    FieldSpec,
    History,
    School,
    day_of_slot,
    slot_of,
    unknown_event_type,
    unknown_name,
)
from .pupil_draft import PupilDraft, Where, finish_pupil, locate

__all__ = [
    "CSV_COLUMNS",
    "LOWER_NAME",
    "LoadReport",
    "Reader",
    "brief",
    "is_scalar",
    "pointer_token",
]

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
#: A flag name, event type or event detail key: lower case, digits and underscores.
LOWER_NAME = re.compile(r"[a-z][a-z0-9_]*")

# What is lost when an optional column is not given (said once, as a warning).
_MISSING_COLUMN = {
    "date_of_birth": "no pupil has a date of birth",
    "year_group": "no pupil has a year group",
    "flags": "no pupil has a flag (social_worker, ehcp …)",
    "minutes_late": "no late mark records its minutes late",
}
#: The columns of each CSV (or Parquet) file; school.csv's further columns are settings and
#: events.csv's are event fields, so only these two files have unknown columns.
CSV_COLUMNS = {
    "pupils": ("pupil_id", "date_of_birth", "year_group", "flags"),
    "marks": ("pupil_id", "date", "session", "code", "minutes_late"),
}


@attrs.frozen(kw_only=True)
class LoadReport:
    """What a load read, used and reported, per kind of row."""

    read: Mapping[str, int]
    used: Mapping[str, int]
    problems: tuple[Problem, ...]
    warnings: tuple[Problem, ...] = ()

    @property
    def reported(self) -> dict[str, int]:
        """Rows refused, per kind (read minus used)."""
        # Every row read is either used or refused with a located problem (a row whose pupil is
        # unknown was reported by `pupil_for`), so read minus used is exactly the rows reported.
        return {k: self.read[k] - self.used.get(k, 0) for k in self.read}


class Reader:
    """Accumulates pupils, marks and events from any number of files, with problems."""

    def __init__(
        self,
        codebook: CodeBook,
        event_types: Mapping[str, Mapping[str, FieldSpec]] | None = None,
        strict_codes: bool = False,
    ) -> None:
        self.codebook = codebook
        self.strict_codes = strict_codes  # a withdrawn code is refused rather than warned about
        self.pupils: dict[str, PupilDraft] = {}
        self.school = School()
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        # Event types whose fields are known: the standard ones and any a policy declares.
        self.event_fields: Mapping[str, Mapping[str, FieldSpec]] = {
            **EVENT_FIELDS,
            **(event_types or {}),
        }
        # event type known to no one -> [first location, count]
        self.odd_events: dict[str, list] = {}
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
        self.days: dict[str, tuple[int, dict[str, int], dict[str, int]]] = {}

    def problem(
        self, message: str, where: Where, found: str = "", expected: str = "", example: str = ""
    ) -> None:
        """Report a row refused, at ``where`` (a Location is made only now)."""
        self.problems.append(
            Problem(message, locate(where), found=found, expected=expected, example=example)
        )

    def check_columns(
        self, kind: str, header: Sequence[str], file: str, where: Callable[[int], Location]
    ) -> None:
        """Warn once per column of a ``kind`` file that is unknown, repeated or (optional
        but) missing: such a column is not read, or the data it would hold is absent."""
        known = CSV_COLUMNS[kind]
        for i, column in enumerate(header):
            if column not in known:
                problem = unknown_name(
                    column, known, f"{file}: unknown column {{}}, not read", where(i)
                )
                self.warnings.append(attrs.evolve(problem, severity="warning"))
            elif header.index(column) != i:
                self.warn(
                    f"{file}: column {column!r} given twice; only the last is read",
                    where(i),
                    found=",".join(header),
                    expected="each column once",
                )
        for column in known:
            if column not in header:
                self.warn(
                    f"{file} has no {column} column: {_MISSING_COLUMN[column]}",
                    where(len(header)),
                    found=",".join(header),
                    expected=",".join(known),
                )

    def warn(
        self, message: str, where: Where, found: str = "", expected: str = "", example: str = ""
    ) -> None:
        """Note something the load keeps going past but the user must hear about."""
        self.warnings.append(
            Problem(
                message,
                locate(where),
                severity="warning",
                found=found,
                expected=expected,
                example=example,
            )
        )

    def unknown_keys(
        self,
        item: Mapping[str, Any],
        known: Sequence[str],
        what: str,
        pointer: str,
        name: str,
        extensions: bool = True,
    ) -> bool:
        """Report each key of ``item`` not in ``known`` (nor an ``x-`` key, where
        ``extensions``), naming the nearest known key; True when there was one."""
        odd = [k for k in item if k not in known and not (extensions and str(k).startswith("x-"))]
        for key in odd:
            self.problems.append(
                unknown_name(
                    key,
                    known,
                    f"unknown key {{}} in {what}",
                    Location(name, pointer=f"{pointer}/{pointer_token(str(key))}"),
                    "an x- extension key" if extensions else "",
                )
            )
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
                self.problem(
                    f"impossible {what}", where, found=brief(value), expected="a real calendar date"
                )
                return None
        self.problem(
            f"bad {what}", where, found=brief(value), expected="YYYY-MM-DD", example="2024-01-26"
        )
        return None

    def day(self, text: Any) -> tuple[int, dict[str, int], dict[str, int]] | None:
        """(AM slot, code text -> id of the codes in force, code text -> id of the codes
        accepted) of a valid date text, else None (without reporting: the caller takes
        the reporting path). A withdrawn code is never on the hot path (it is warned
        about at its row), so readers of text use the first map; the vectorised reader
        uses the second and warns about the rows itself."""
        found = self.days.get(text) if isinstance(text, str) else None
        # The pattern first: `date.fromisoformat` also takes `20240126` and week dates since Python
        # 3.11, and a register date must read the same on every Python we support.
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
        assert accepted is not None, (
            "a day with codes in force has a table, so its withdrawn codes too"
        )
        found = self.days[text] = (day.toordinal() * 2, in_force, accepted)
        return found

    def pupil_for(self, pupil_id: Any, where: Where, create: bool) -> PupilDraft | None:
        """The draft of ``pupil_id`` (made when ``create``), or None after reporting the id."""
        if not isinstance(pupil_id, str) or not pupil_id.strip():
            self.problem(
                "missing pupil id", where, found=brief(pupil_id), expected="a non-empty string"
            )
            return None
        draft = self.pupils.get(pupil_id)
        if draft is None and create:
            draft = self.pupils[pupil_id] = PupilDraft(pupil_id, locate(where), self.source)
        if draft is None:
            self.problem(
                "unknown pupil",
                where,
                found=repr(pupil_id),
                expected="a pupil listed in the pupils file",
            )
        return draft

    def begin_marks(self, source: tuple) -> None:
        """Marks read from now on come from ``source``; every pupil so far is told."""
        self.source = source
        for draft in self.pupils.values():
            draft.begin(source)

    def add_pupil(
        self, pupil_id: Any, flags: Iterable[Any], dob: Any, year: Any, where: Where
    ) -> None:
        """Check one pupil row (id, flags, date of birth, year group) and make its draft."""
        self.read["pupils"] += 1
        if isinstance(pupil_id, str) and pupil_id in self.pupils:
            self.problem(
                "duplicate pupil", where, found=repr(pupil_id), expected="each pupil id once"
            )
            return
        draft = self.pupil_for(pupil_id, where, create=True)
        if draft is None:
            return
        bad = [f for f in flags if not (isinstance(f, str) and LOWER_NAME.fullmatch(f))]
        if bad:
            self.problem(
                "bad flag name",
                where,
                found=brief(bad[0]),
                expected="lower_case_name",
                example="social_worker",
            )
        draft.flags = frozenset(f for f in flags if f not in bad)
        draft.date_of_birth = (
            self.date(dob, where, "date of birth") if dob not in (None, "") else None
        )
        draft.year_group = self.year_group(year, where)
        self.used["pupils"] += 1

    def year_group(self, value: Any, where: Where) -> int | None:
        """The year group as an int, None when absent or after reporting a bad value."""
        if value in (None, ""):
            return None
        year = _whole_number(value)
        if year is None or not -2 <= year <= 14:  # nursery (-2) to year 14
            self.problem(
                "bad year group", where, found=brief(value), expected="a whole number from -2 to 14"
            )
            return None
        return year

    def add_mark(
        self, draft: PupilDraft | None, row: Mapping[str, Any], where: Where, at: int = 0
    ) -> None:
        """Check one mark row and store it; ``at`` is its row number within its source."""
        self.read["marks"] += 1
        if draft is None:
            return
        day = self.date(row.get("date"), where)
        session, code = row.get("session"), row.get("code")
        if session not in SESSIONS:
            self.problem("bad session", where, found=brief(session), expected="AM or PM")
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
            self.problem(
                "bad minutes_late",
                where,
                found=brief(value),
                expected="a whole number of minutes, 0 to 600",
            )
            return False
        return minutes

    def store_mark(
        self,
        draft: PupilDraft,
        day: dt.date,
        session: str,
        code: Any,
        late: int | None,
        where: Where,
        at: int = 0,
    ) -> None:
        """Store a mark whose date and session are checked, once its code is checked."""
        code = code if isinstance(code, str) else brief(code)
        entry: RegisterCode | None
        try:
            entry = self.codebook.lookup(code, day)
        except KeyError as err:
            entry = self.codebook.withdrawn_use(code, day)
            if entry is None or self.strict_codes:
                self.refuse_code(err.args[0], entry, code, day, where)
                return
        if (
            self.place(draft, slot_of(day, session), entry.id, late, where, at)
            and entry.is_withdrawn
        ):
            self.note_withdrawn(entry, day, where, draft.id)

    def refuse_code(
        self, message: str, entry: RegisterCode | None, code: str, day: dt.date, where: Where
    ) -> None:
        """Report a mark's code: not valid on its date, or withdrawn (``entry``) and refused
        because codes are strict."""
        if entry is None:
            self.problem(
                message, where, found=repr(code), expected="a register code valid on that date"
            )
            return
        self.problem(
            f"withdrawn register code {code!r} on {day.isoformat()} refused (strict register "
            "codes): "
            f"{withdrawn_text(entry)}",
            where,
            found=f"{code!r} on {day.isoformat()}",
            expected="a code in force on that date (without --strict-codes it is accepted, with a "
            "warning)",
        )

    def note_withdrawn(self, entry: RegisterCode, day: dt.date, where: Where, pupil: str) -> None:
        """Note a mark of a withdrawn code that was used (one warning per file and code)."""
        # One warning per file and code, not per mark: a register kept on old codes has hundreds.
        key = (locate(where).file, entry.id)
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
            more = (
                f"; {count - 1} more mark(s) of {entry.code} after its withdrawal in this file, "
                "the latest "
                f"on {last.isoformat()}"
                if count > 1
                else ""
            )
            self.warn(
                f"withdrawn register code {entry.code!r} on {day.isoformat()} (pupil {pupil}) "
                "counted as "
                f"{counted_as(entry.category)}: "
                f"{withdrawn_text(entry)}{more}",
                where,
                found=f"{entry.code!r} on {day.isoformat()}",
                expected="a code in force on that date (--strict-codes makes this an error)",
            )

    def place(
        self, draft: PupilDraft, slot: int, code_id: int, late: int | None, where: Where, at: int
    ) -> bool:
        """Append a checked mark to its pupil (True), or report it if its session already
        has one (False)."""
        if self.source is not None:
            draft.begin(self.source)
        if not draft.is_new(slot):
            first = draft.slots.index(slot)
            by_id = self.codebook.by_id
            code, previous = by_id[code_id - 1].code, by_id[draft.codes[first] - 1].code
            # The first mark stands and the later one is refused, naming both rows: which of two
            # conflicting marks is right is for the school to say, not for us to guess.
            kind = "duplicate" if previous == code else "conflicting"
            self.problem(
                f"{kind} mark for {draft.id} on {day_of_slot(slot)} {SESSIONS[slot & 1]}",
                where,
                found=repr(code),
                expected=f"one mark per session; first given at {draft.mark_location(first)}",
            )
            return False
        if late is not None:
            draft.late[len(draft.slots)] = late
        draft.slots.append(slot)
        draft.codes.append(code_id)
        draft.rows.append(at)
        self.used["marks"] += 1
        return True

    def add_event(self, draft: PupilDraft | None, row: Mapping[str, Any], where: Where) -> None:
        """Check one event row (type, date, fields) and keep it on its pupil, or report it."""
        self.read["events"] += 1
        if draft is None:
            return
        day = self.date(row.get("date"), where)
        kind = row.get("type")
        if not (isinstance(kind, str) and LOWER_NAME.fullmatch(kind)):
            self.problem(
                "bad event type",
                where,
                found=brief(kind),
                expected="lower_case_name",
                example="school_attendance_meeting",
            )
            return
        details = {k: v for k, v in row.items() if k not in ("date", "type")}
        if (
            not self.known_fields(kind, details, where)
            or not self.check_details(kind, details, where)
            or day is None
        ):
            return
        location = locate(where)
        draft.events.append(Event(date=day, type=kind, details=details, location=location))
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
                self.problems.append(
                    unknown_name(
                        key,
                        known,
                        f"unknown field {{}} of a {kind} event",
                        locate(where),
                        "an x- extension field",
                    )
                )
                ok = False
            elif not is_scalar(value):
                self.problem(
                    f"bad {kind}.{key}",
                    where,
                    found=brief(value),
                    expected="a string, boolean, finite number or null",
                )
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
                wanted = (
                    " | ".join(expected) if isinstance(expected, (tuple, list)) else str(expected)
                )
                self.problem(f"bad {kind}.{field}", where, found=brief(value), expected=wanted)
                ok = False
        return ok

    def history(self, sources: Sequence[str], digest: str) -> History:
        """The history of the rows used, with the warnings said so far."""
        # Pupils in id order whatever order the files listed them: outputs then depend on the rows,
        # not on the order a management information system exported them in.
        pupils = tuple(
            finish_pupil(d, self.codebook) for d in sorted(self.pupils.values(), key=lambda d: d.id)
        )
        return History(
            pupils=pupils,
            school=self.school,
            sources=tuple(sources),
            digest=digest,
            warnings=tuple(self.warnings),
        )

    def finished(self, sources: Sequence[str], digest: str) -> tuple[History, LoadReport]:
        """The history and the report of a load that has read every file."""
        self.withdrawn_warnings()
        self.odd_event_warnings()
        report = LoadReport(
            read=dict(self.read),
            used=dict(self.used),
            problems=tuple(self.problems),
            warnings=tuple(self.warnings),
        )
        return self.history(sources, digest), report


def _field_ok(value: Any, expected: FieldSpec) -> bool:
    """Whether an event field's value has its type: "bool", text ("str"; a "date" that was not
    text) or one of a tuple of allowed strings (a list, from a caller's JSON, reads the same)."""
    if isinstance(expected, (tuple, list)):
        return isinstance(value, str) and value in expected
    if expected == "bool":
        return isinstance(value, bool)
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
    # text from CSV or Parquet
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d{1,9}", value.strip()):
        return int(value)
    return None


def pointer_token(key: str) -> str:
    """A key as one JSON pointer token (RFC 6901: ``~`` is ``~0``, ``/`` is ``~1``)."""
    return key.replace("~", "~0").replace("/", "~1")


def brief(value: Any) -> str:
    """A short description of a JSON value for a message (never a deep repr)."""
    if isinstance(value, (dict, list)):
        return f"{'an object' if isinstance(value, dict) else 'a list'} of {len(value)} item(s)"
    return repr(value)[:60]


def is_scalar(value: Any) -> bool:
    """True for a JSON string, boolean, finite number or null: what settings and event fields
    hold."""
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, (str, bool, int))
