"""Register codes: the 2006 and 2024 tables, what each code means and how it counts.

The tables are data (``data/register_codes.yaml``). Each (table, code) pair gets a small
integer id so a pupil's register can be stored as one byte per session; the id alone
then tells the code, its table and its category.
"""

from __future__ import annotations

import datetime as dt
import enum
from functools import lru_cache
from importlib import resources
from typing import Iterator, Mapping

import attrs
import yaml

__all__ = ["CATEGORIES", "Category", "CodeBook", "CodeTable", "RegisterCode", "default_codebook"]


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


@attrs.frozen
class RegisterCode:
    """One code of one table: ``id`` is its compact (one byte) form."""

    id: int
    code: str
    meaning: str
    category: Category
    table: str


@attrs.frozen
class CodeTable:
    """The codes in force between two dates (``valid_to`` inclusive; ``None`` = open)."""

    id: str
    title: str
    valid_from: dt.date
    valid_to: dt.date | None
    codes: Mapping[str, RegisterCode]

    def in_force(self, day: dt.date) -> bool:
        """True when marks dated ``day`` are taken under this table."""
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


class CodeBook:
    """All code tables, looked up by the date of a mark."""

    def __init__(self, tables: list[CodeTable]) -> None:
        self.tables = tuple(sorted(tables, key=lambda t: t.valid_from))
        self.by_id: tuple[RegisterCode, ...] = tuple(
            sorted((c for t in self.tables for c in t.codes.values()), key=lambda c: c.id)
        )
        if len(self.by_id) > 255:
            raise ValueError("more than 255 register codes cannot be stored one byte each")
        self._ids: dict[str, tuple[int, ...]] = {}
        for entry in self.by_id:
            self._ids[entry.code] = self._ids.get(entry.code, ()) + (entry.id,)
        self._categories = self._category_table()
        self._indicators: dict[str, bytes] = {}

    def table_for(self, day: dt.date) -> CodeTable | None:
        """The table in force on ``day``, or None before the first table."""
        for table in reversed(self.tables):
            if table.in_force(day):
                return table
        return None

    def lookup(self, code: str, day: dt.date) -> RegisterCode:
        """The code as it stands on ``day``; KeyError with a readable message if invalid."""
        table = self.table_for(day)
        if table is None:
            raise KeyError(f"no register code table is in force on {day.isoformat()}")
        found = table.codes.get(code)
        if found is not None:
            return found
        elsewhere = [t.id for t in self.tables if code in t.codes]
        if elsewhere:
            raise KeyError(
                f"code {code!r} is not valid on {day.isoformat()} (table {table.id}); "
                f"it belongs to {', '.join(elsewhere)}"
            )
        raise KeyError(f"unknown register code {code!r}; valid on {day.isoformat()}: {' '.join(table.codes)}")

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
        """The ids of ``code`` in every table that has it (for counting by code)."""
        return self._ids.get(code, ())

    def __iter__(self) -> Iterator[RegisterCode]:
        return iter(self.by_id)


def _load_tables(raw: dict) -> list[CodeTable]:
    tables, next_id = [], 1  # id 0 is never a code, so a zero byte is never mistaken for one
    for entry in raw["tables"]:
        codes = {}
        for code, info in entry["codes"].items():
            codes[code] = RegisterCode(next_id, code, info["meaning"], Category(info["category"]), entry["id"])
            next_id += 1
        tables.append(CodeTable(entry["id"], entry["title"], entry["valid_from"], entry["valid_to"], codes))
    return tables


@lru_cache(maxsize=1)
def default_codebook() -> CodeBook:
    """The bundled 2006 and 2024 tables (loaded once; the CodeBook is never mutated)."""
    text = resources.files("attendance_rules.data").joinpath("register_codes.yaml").read_text("utf-8")
    return CodeBook(_load_tables(yaml.safe_load(text)))
