"""Register codes: the 2006 and 2024 tables, what each code means and how it counts.

The tables are data (``data/register_codes.yaml``). Each entry of a table gets a small
integer id so a pupil's register can be stored as one byte per session; the id alone
then tells the code, its table and its category. A code has more than one entry in a
table when the way it counts changed while the table was in force (``D`` counted as
attending until September 2011), and a table lists as ``withdrawn`` the codes no longer
in force that real registers still carry (``H``, ``J``, ``F``, ``Y`` after 19 August
2024): each such entry has its own id, whose category is the one DfE's statistics count
it as, and a reader accepts it with a warning (or refuses it, with strict codes).
"""

from __future__ import annotations

import datetime as dt
import enum
from bisect import bisect_right
from functools import lru_cache
from importlib import resources
from typing import Iterator, Mapping

import attrs
import yaml

from ..text import long_date

__all__ = [
    "CATEGORIES",
    "Category",
    "CodeBook",
    "CodeTable",
    "RegisterCode",
    "counted_as",
    "default_codebook",
    "withdrawn_text",
]


# A str enum so a category reads and compares as its text in the YAML table and in JSON outputs.
# Approved educational activity is its own category, not "present": DfE counts it as attendance but
# not as presence, and some measures count the two apart.
class Category(str, enum.Enum):
    """How a register code counts towards attendance."""

    PRESENT = "present"
    APPROVED_ACTIVITY = "approved_activity"
    AUTHORISED = "authorised"
    UNAUTHORISED = "unauthorised"
    NOT_POSSIBLE = "not_possible"

    @property
    def is_possible(self) -> bool:
        """True when a session with this category counts as a possible session."""
        return self is not Category.NOT_POSSIBLE

    @property
    def is_attending(self) -> bool:
        """Present, or at an approved educational activity (which counts as attending)."""
        return self in (Category.PRESENT, Category.APPROVED_ACTIVITY)

    @property
    def is_absent(self) -> bool:
        """Authorised or unauthorised absence."""
        return self in (Category.AUTHORISED, Category.UNAUTHORISED)


CATEGORIES: tuple[Category, ...] = tuple(Category)


@attrs.frozen(kw_only=True)
class RegisterCode:
    """One entry of one table: ``id`` is its compact (one byte) form.

    ``valid_from``/``valid_to`` (inclusive) narrow the entry to part of its table's
    period (``None``: from the table's start, to its end). ``withdrawn`` is set on an
    entry that stands for a code used after it was withdrawn: the first day it was no
    longer in force. ``note`` says why the entry counts as it does (with its source).
    """

    id: int
    code: str
    meaning: str
    category: Category
    table: str
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    withdrawn: dt.date | None = None
    note: str = ""

    def covers(self, day: dt.date) -> bool:
        """True when ``day`` is within this entry's own dates."""
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_to is None or day <= self.valid_to
        )

    @property
    def is_withdrawn(self) -> bool:
        """True for a code accepted after its withdrawal (with a warning)."""
        return self.withdrawn is not None


@attrs.frozen(kw_only=True)
class CodeTable:
    """The codes in force between two dates (``valid_to`` inclusive; ``None`` = open).

    ``codes`` holds each code's latest entry; ``earlier`` the entries it superseded
    while the table was in force; ``withdrawn`` the codes of earlier times that real
    registers still carry, each counted as DfE's statistics count it.
    """

    id: str
    title: str
    valid_from: dt.date
    valid_to: dt.date | None
    codes: Mapping[str, RegisterCode]
    earlier: tuple[RegisterCode, ...] = ()
    withdrawn: Mapping[str, RegisterCode] = attrs.field(factory=dict)

    def in_force(self, day: dt.date) -> bool:
        """True when marks dated ``day`` are taken under this table."""
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)

    def entry(self, code: str, day: dt.date) -> RegisterCode | None:
        """The entry of ``code`` in force on ``day`` (a day of this table), or None."""
        latest = self.codes.get(code)
        if latest is not None and latest.covers(day):
            return latest
        return next((e for e in self.earlier if e.code == code and e.covers(day)), None)

    def withdrawn_entry(self, code: str, day: dt.date) -> RegisterCode | None:
        """The entry of ``code`` used on ``day`` after its withdrawal, or None."""
        entry = self.withdrawn.get(code)
        return entry if entry is not None and entry.covers(day) else None

    def entries(self) -> Iterator[RegisterCode]:
        """Every entry: the latest, the earlier and the withdrawn ones."""
        yield from self.codes.values()
        yield from self.earlier
        yield from self.withdrawn.values()


class CodeBook:
    """All code tables, looked up by the date of a mark."""

    def __init__(self, tables: list[CodeTable]) -> None:
        self.tables = tuple(sorted(tables, key=lambda t: t.valid_from))
        self.by_id: tuple[RegisterCode, ...] = tuple(
            sorted((c for t in self.tables for c in t.entries()), key=lambda c: c.id)
        )
        # Ids are stored one byte per session and 0 is kept free, so 255 entries across every table,
        # period and withdrawn code is the most the compact register can hold.
        if len(self.by_id) > 255:
            raise ValueError("more than 255 register codes cannot be stored one byte each")
        self._ids: dict[str, tuple[int, ...]] = {}
        for entry in self.by_id:
            self._ids[entry.code] = self._ids.get(entry.code, ()) + (entry.id,)
        self._categories = self._category_table()
        self._indicators: dict[str, bytes] = {}
        # The days on which some entry starts or stops: between two of them, the codes
        # accepted on a day do not change (so readers can share one map per period).
        self._breaks = sorted(
            {d for e in self.by_id for d in (e.valid_from, _after(e.valid_to)) if d}
        )
        self._maps: dict[tuple[str, int, bool], dict[str, int]] = {}

    def table_for(self, day: dt.date) -> CodeTable | None:
        """The table in force on ``day``, or None before the first table."""
        for table in reversed(self.tables):
            if table.in_force(day):
                return table
        return None

    def lookup(self, code: str, day: dt.date) -> RegisterCode:
        """The code as it stands on ``day``; KeyError with a readable message if it is
        not in force then (a withdrawn code too: see ``withdrawn_use``)."""
        table = self.table_for(day)
        if table is None:
            raise KeyError(f"no register code table is in force on {day.isoformat()}")
        found = table.entry(code, day)
        if found is not None:
            return found
        gone = table.withdrawn_entry(code, day)
        if gone is not None:
            raise KeyError(
                f"withdrawn register code {code!r} on {day.isoformat()}: {withdrawn_text(gone)}"
            )
        elsewhere = [t.id for t in self.tables if code in t.codes]
        if elsewhere:
            raise KeyError(
                f"code {code!r} is not valid on {day.isoformat()} (table {table.id}); "
                f"it belongs to {', '.join(elsewhere)}"
            )
        raise KeyError(
            f"unknown register code {code!r}; valid on {day.isoformat()}: "
            f"{' '.join(self.ids_on(day) or ())}"
        )

    def withdrawn_use(self, code: str, day: dt.date) -> RegisterCode | None:
        """The entry of a withdrawn ``code`` that registers still carry on ``day`` (counted
        as DfE's statistics count it), or None when ``code`` is in force or unknown then."""
        table = self.table_for(day)
        return (
            None
            if table is None or table.entry(code, day) is not None
            else table.withdrawn_entry(code, day)
        )

    def ids_on(self, day: dt.date, withdrawn: bool = False) -> dict[str, int] | None:
        """Code text -> id of every code in force on ``day`` (and, with ``withdrawn``, of
        the withdrawn codes accepted then); None before the first table. The same dict
        object is returned for every day of a period: callers must not change it."""
        table = self.table_for(day)
        if table is None:
            return None
        # Keyed by period rather than by day: a reader asks once per distinct date, and the ~200
        # school days of a year fall into a handful of periods, so the maps are built a few times.
        key = (table.id, bisect_right(self._breaks, day), withdrawn)
        found = self._maps.get(key)
        if found is None:
            found = {
                e.code: e.id
                for e in table.entries()
                if e.covers(day) and table.entry(e.code, day) is e
            }
            if withdrawn:
                found.update(
                    (e.code, e.id)
                    for e in table.withdrawn.values()
                    if e.covers(day) and e.code not in found
                )
            self._maps[key] = found
        return found

    def _category_table(self) -> bytes:
        out = bytearray(256)
        for code in self.by_id:
            out[code.id] = CATEGORIES.index(code.category)
        return bytes(out)

    def category_table(self) -> bytes:
        """A 256-byte translation table: code id -> index of its category in CATEGORIES."""
        return self._categories

    def indicator_table(self, code: str) -> bytes:
        """A 256-byte translation table: ids of ``code`` -> 1, every other byte -> 0."""
        if code not in self._indicators:
            ids = set(self.ids_for(code))
            self._indicators[code] = bytes(1 if b in ids else 0 for b in range(256))
        return self._indicators[code]

    def ids_for(self, code: str) -> tuple[int, ...]:
        """The ids of ``code`` in every table that has it (for counting by code), its
        earlier and withdrawn entries included."""
        return self._ids.get(code, ())

    def withdrawn_ids(self) -> tuple[int, ...]:
        """The ids of every withdrawn entry (marks that were accepted with a warning)."""
        return tuple(e.id for e in self.by_id if e.is_withdrawn)

    def __iter__(self) -> Iterator[RegisterCode]:
        return iter(self.by_id)


_CATEGORY_WORDS = {
    Category.PRESENT: "present",
    Category.APPROVED_ACTIVITY: "attending an approved educational activity",
    Category.AUTHORISED: "authorised absence",
    Category.UNAUTHORISED: "unauthorised absence",
    Category.NOT_POSSIBLE: "not a possible session",
}


def counted_as(category: Category) -> str:
    """How a category counts, in words ("authorised absence", "not a possible session")."""
    return _CATEGORY_WORDS[category]


def withdrawn_text(entry: RegisterCode) -> str:
    """Why a withdrawn code is still counted, and how (for warnings and errors)."""
    assert entry.withdrawn is not None
    since = long_date(entry.withdrawn)
    return (
        f"{entry.code} ({entry.meaning}) is not a register code from {since}, but DfE's statistics "
        f"still count it as {counted_as(entry.category)} ({entry.note})"
    )


def _after(day: dt.date | None) -> dt.date | None:
    """The day after ``day`` (None stays None)."""
    return None if day is None else day + dt.timedelta(days=1)


def _entry(
    next_id: int, code: str, info: Mapping, table: str, withdrawn: dt.date | None = None
) -> RegisterCode:
    """One entry of a table's YAML (``from``/``to`` narrow it; ``note`` says why)."""
    return RegisterCode(
        id=next_id,
        code=code,
        meaning=info["meaning"],
        category=Category(info["category"]),
        table=table,
        valid_from=info.get("from"),
        valid_to=info.get("to"),
        withdrawn=withdrawn,
        note=info.get("note", ""),
    )


def _load_table(entry: Mapping, next_id: int) -> tuple[CodeTable, int]:
    """One table of the YAML, its entries numbered from ``next_id``; the next free id."""
    codes: dict[str, RegisterCode] = {}
    earlier: list[RegisterCode] = []
    for code, info in entry["codes"].items():
        # a list: its periods, oldest first
        for period in info if isinstance(info, list) else [info]:
            # A code whose meaning changed within one table (the same letter, new category from a
            # date) gets a new id per period: the id alone must give the category, so counting needs
            # no dates.
            if code in codes:
                earlier.append(codes[code])
            codes[code] = _entry(next_id, code, period, entry["id"])
            next_id += 1
    withdrawn = {}
    for code, info in entry.get("withdrawn", {}).items():
        withdrawn[code] = _entry(next_id, code, info, entry["id"], info["withdrawn"])
        next_id += 1
    return CodeTable(
        id=entry["id"],
        title=entry["title"],
        valid_from=entry["valid_from"],
        valid_to=entry["valid_to"],
        codes=codes,
        earlier=tuple(earlier),
        withdrawn=withdrawn,
    ), next_id


def _load_tables(raw: dict) -> list[CodeTable]:
    tables, next_id = [], 1  # id 0 is never a code, so a zero byte is never mistaken for one
    for entry in raw["tables"]:
        table, next_id = _load_table(entry, next_id)
        tables.append(table)
    return tables


# Cached: one bundled book per process, shared by every register read, which is what lets
# scale/parallel.py send it by reference (`is default_codebook()`) instead of with each pupil.
@lru_cache(maxsize=1)
def default_codebook() -> CodeBook:
    """The bundled 2006 and 2024 tables (loaded once; its maps are filled on first use)."""
    text = (
        resources.files("attendance_rules.data").joinpath("register_codes.yaml").read_text("utf-8")
    )
    return CodeBook(_load_tables(yaml.safe_load(text)))
