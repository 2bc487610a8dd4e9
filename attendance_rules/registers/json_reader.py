"""Read a JSON history (schemas/history.schema.json) into a ``Reader``.

``read_json`` decodes a file within the input limits (UTF-8, nesting depth, number
length: see ``input_limits``), then ``read_document`` checks the keys of every object and
reads the school and each pupil (``read_json_pupil``). A pupil's plain marks (exactly
``date``, ``session`` and ``code``, a date and code known to the reader's caches, later
than its last mark) are appended straight to its draft; any other mark is checked one
field at a time by the ``Reader`` code that reports it, located by its JSON pointer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from ..exceptions import Location
from .history import School
from .input_limits import (
    TOO_DEEP,
    JsonNumbers,
    deepest_bracket,
    not_utf8,
    report_refused,
)
from .pupil_draft import SESSION_HALF, PupilDraft
from .reading import Reader, brief, is_scalar, pointer_token

__all__ = [
    "DOCUMENT_KEYS",
    "MARK_KEYS",
    "PUPIL_KEYS",
    "SCHOOL_KEYS",
    "read_document",
    "read_json",
    "read_json_pupil",
]

# The keys of each JSON object of a history (schemas/history.schema.json); "x-" keys are
# extensions, allowed where the schema allows them.
DOCUMENT_KEYS = ("pupils", "school")
SCHOOL_KEYS = ("id", "name", "settings")
PUPIL_KEYS = ("date_of_birth", "events", "flags", "id", "marks", "year_group")
MARK_KEYS = ("code", "date", "minutes_late", "session")


def read_json(reader: Reader, path: Path) -> None:
    """Decode one JSON history (bounded: depth, number size, UTF-8) and read it."""
    name = str(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")  # a UTF-8 byte order mark is not data
    except UnicodeDecodeError as err:
        reader.problems.append(not_utf8(name, data, err.start))
        return
    numbers = JsonNumbers()
    try:
        if TOO_DEEP.search(text):  # checked first: Python 3.12+ decode far deeper before failing
            raise RecursionError
        doc = json.loads(
            text,
            parse_int=numbers.integer,
            parse_float=numbers.real,
            parse_constant=numbers.constant,
        )
    except json.JSONDecodeError as err:
        reader.problem(
            f"not valid JSON: {err.msg}",
            Location(name, err.lineno, column=err.colno),
            expected='{"pupils": [...]}',
        )
        return
    except RecursionError:  # the decoder's own limit (about 1,000 levels); a history needs 5
        reader.problem(
            "JSON nested too deeply",
            deepest_bracket(name, text),
            found="200 or more levels of [ or {",
            expected="a history: an object of pupils, each with lists of marks and events (5 "
            "levels)",
        )
        return
    if numbers.refused:
        report_refused(reader, doc, numbers.refused, name)
    read_document(reader, doc, name)


def read_document(reader: Reader, doc: Any, name: str) -> None:
    """A parsed history: its keys checked, then the school and every pupil read."""
    if not isinstance(doc, dict) or not isinstance(doc.get("pupils"), list):
        reader.problem(
            "a history is an object with a list of pupils",
            Location(name, pointer=""),
            found=type(doc).__name__,
            expected='{"pupils": [...]}',
        )
        return
    reader.unknown_keys(doc, DOCUMENT_KEYS, "a history", "", name)
    if "school" in doc:
        _json_school(reader, doc["school"], name)
    for i, item in enumerate(doc["pupils"]):
        read_json_pupil(reader, item, name, f"/pupils/{i}")


def _json_school(reader: Reader, raw: Any, name: str) -> None:
    """The school record: known keys, text id and name, settings of scalar values (types kept)."""
    where = Location(name, pointer="/school")
    if not isinstance(raw, dict) or not isinstance(raw.get("settings", {}), dict):
        reader.problem(
            "bad school record",
            where,
            found=brief(raw),
            expected='{"id": ..., "name": ..., "settings": {...}}',
        )
        return
    reader.unknown_keys(raw, SCHOOL_KEYS, "the school", "/school", name)
    for key in ("id", "name"):
        if not isinstance(raw.get(key, ""), str):
            reader.problem(
                f"bad school {key}",
                Location(name, pointer=f"/school/{key}"),
                found=brief(raw[key]),
                expected="a string",
            )
    settings = raw.get("settings", {})
    for key, value in settings.items():
        if not is_scalar(value):
            reader.problem(
                "bad school setting",
                Location(name, pointer=f"/school/settings/{pointer_token(str(key))}"),
                found=brief(value),
                expected="a string, boolean, finite number or null",
                example='"traded_ews": true',
            )
    reader.school = School(str(raw.get("id", "")), str(raw.get("name", "")), settings)


def read_json_pupil(reader: Reader, item: Any, name: str, pointer: str) -> None:
    """One JSON pupil: keys checked, then identity, flags, marks and events read."""
    where = Location(name, pointer=pointer)
    if not isinstance(item, dict):
        reader.read["pupils"] += 1
        reader.problem(
            "a pupil is an object",
            where,
            found=type(item).__name__,
            expected='{"id": ..., "marks": [...]}',
        )
        return
    reader.unknown_keys(item, PUPIL_KEYS, "a pupil", pointer, name)
    flags = item.get("flags", [])
    if not isinstance(flags, list):
        reader.problem(
            "flags must be a list", Location(name, pointer=pointer + "/flags"), found=brief(flags)
        )
        flags = []
    year = item.get("year_group")
    # JSON has numbers: "7" is a spreadsheet habit the schema refuses
    if isinstance(year, str) and year:
        reader.problem(
            "bad year group",
            Location(name, pointer=pointer + "/year_group"),
            found=repr(year)[:40],
            expected="a whole number from -2 to 14 (not text)",
            example='"year_group": 7',
        )
        year = None
    pupil_id = item.get("id")
    reader.add_pupil(pupil_id, flags, item.get("date_of_birth"), year, where)
    draft = reader.pupils.get(pupil_id) if isinstance(pupil_id, str) else None
    for key in ("marks", "events"):
        rows = item.get(key, [])
        if not isinstance(rows, list):
            reader.problem(
                f"{key} must be a list",
                Location(name, pointer=f"{pointer}/{key}"),
                found=brief(rows),
            )
        elif key == "marks":
            _json_marks(reader, draft, rows, name, pointer)
        else:
            _json_events(reader, draft, rows, name, pointer)


def _json_marks(
    reader: Reader, draft: PupilDraft | None, rows: list, name: str, pointer: str
) -> None:
    """A pupil's JSON marks: plain ones appended at once, the rest checked one by one."""
    reader.source = (name, "json", pointer)
    if draft is not None:
        draft.begin(reader.source)
    # keyed by Any: a JSON value of any type is looked up (an unhashable one raises TypeError)
    days: Mapping[Any, tuple[int, Mapping[Any, int], dict[str, int]]] = reader.days
    halves: Mapping[Any, int] = SESSION_HALF
    used = 0
    for j, row in enumerate(rows):
        if draft is not None and type(row) is dict and len(row) == 3:  # noqa: E721 - exactly a dict
            try:
                day, half = days.get(row.get("date")), halves.get(row.get("session"))
                code_id = (
                    day[1].get(row.get("code")) if day is not None and half is not None else None
                )
            except TypeError:  # an unhashable value: the checking path reports it
                code_id = None
            # a code id implies a day and a half; said again for the type checker
            if (
                code_id is not None
                and day is not None
                and half is not None
                and day[0] + half > draft.last
            ):
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
                reader.problem("each of marks is an object", at, found=brief(row))
    reader.read["marks"] += used
    reader.used["marks"] += used


def _json_mark_ok(reader: Reader, row: dict, at: tuple) -> bool:
    """False after reporting a JSON mark's unknown keys or its minutes late given as text
    (the checking path: a plain mark never gets here)."""
    name, pointer, key, index = at
    ok = not reader.unknown_keys(
        row, MARK_KEYS, "a mark", f"{pointer}/{key}/{index}", name, extensions=False
    )
    late = row.get("minutes_late")
    if isinstance(late, str) and late:  # the schema's minutes are a number, never text
        reader.problem(
            "bad minutes_late",
            at,
            found=repr(late)[:40],
            expected="a whole number of minutes, 0 to 600",
            example='"minutes_late": 12',
        )
        ok = False
    return ok


def _json_events(
    reader: Reader, draft: PupilDraft | None, rows: list, name: str, pointer: str
) -> None:
    """A pupil's JSON events, each checked (type, date, fields) and kept or reported."""
    for j, row in enumerate(rows):
        at = (name, pointer, "events", j)
        if isinstance(row, dict):
            reader.add_event(draft, row, at)
        else:
            reader.read["events"] += 1
            reader.problem("each of events is an object", at, found=brief(row))
