"""Shared test helpers: the national code categories (written from NATIONAL.md, not from
the bundled YAML) and small builders for registers and history files."""

from __future__ import annotations

import datetime as dt
import json
from array import array
from pathlib import Path

import pytest

from attendance_rules.codes import default_codebook
from attendance_rules.history import Event, Pupil, Register, slot_of

SWITCH = dt.date(2024, 8, 19)  # the 2024 regulations (and their code table) apply from this day

# Register codes per category, as stated in ../shared/sources/NATIONAL.md. Two readings are
# taken in the data and followed here: 2006 `D` is not a possible session (NATIONAL.md lists
# it with approved activity, marked *check*), and 2006 `F` (withdrawn) is not a code.
NATIONAL = {
    "regs2006": {
        "present": "/ \\ L",
        "approved_activity": "B J P V W",
        "authorised": "C E H I M R S T",
        "unauthorised": "G N O U",
        "not_possible": "D X Y Z #",
    },
    "regs2024": {
        "present": "/ \\ L",
        "approved_activity": "K V P W B",
        "authorised": "C C1 C2 E I J1 M R S T",
        "unauthorised": "G N O U",
        "not_possible": "D Q Y1 Y2 Y3 Y4 Y5 Y6 Y7 Z # X",
    },
}
EXPECTED_CATEGORY = {
    table: {code: category for category, codes in spec.items() for code in codes.split()}
    for table, spec in NATIONAL.items()
}


def table_of(day: dt.date) -> str:
    """The code table of a mark's date, by the national switch-over date."""
    return "regs2024" if day >= SWITCH else "regs2006"


def category_of(day: dt.date, code: str) -> str:
    """The national category of ``code`` marked on ``day`` (independent of the library)."""
    return EXPECTED_CATEGORY[table_of(day)][code]


def make_register(marks: dict[tuple[dt.date, str], str]) -> Register:
    """A register built directly from ``{(date, "AM"|"PM"): code}``."""
    book = default_codebook()
    order = sorted(marks, key=lambda k: slot_of(*k))
    return Register(array("I", [slot_of(*k) for k in order]), bytes(book.lookup(marks[k], k[0]).id for k in order))


def make_pupil(days: dict[dt.date, str | tuple[str, str]], events: tuple[Event, ...] = (), pid: str = "P1") -> Pupil:
    """A pupil from ``{date: code}`` (both sessions) or ``{date: (am, pm)}``."""
    marks = {}
    for day, codes in days.items():
        am, pm = (codes, codes) if isinstance(codes, str) else codes
        for session, code in (("AM", am), ("PM", pm)):
            if code:
                marks[(day, session)] = code
    return Pupil(pid, make_register(marks), events=events)


def weekdays(start: dt.date, end: dt.date) -> list[dt.date]:
    """Mondays to Fridays from ``start`` to ``end`` inclusive."""
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)
            if (start + dt.timedelta(days=i)).weekday() < 5]


@pytest.fixture
def write_json(tmp_path: Path):
    """Write a history document to ``tmp_path/name`` and return its path."""

    def write(doc, name: str = "history.json") -> Path:
        path = tmp_path / name
        path.write_text(doc if isinstance(doc, str) else json.dumps(doc, indent=1), encoding="utf-8")
        return path

    return write


@pytest.fixture
def write_csv(tmp_path: Path):
    """Write CSV files ``{"marks.csv": text, ...}`` into a fresh directory and return it."""
    counter = iter(range(1_000_000))

    def write(files: dict[str, str]) -> Path:
        folder = tmp_path / f"csv{next(counter)}"
        folder.mkdir()
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8", newline="")
        return folder

    return write


pytest_plugins = ["pytester"]  # the pytest plugin is tested by running pytest in-process


# A minimal national policy header for tests that write small policies ({id} is the policy id),
# and a citation every test rule, action and parameter can carry.
POLICY_HEADER = """\
id: {id}
title: Test policy
kind: national
version: "1"
effective_from: 2020-09-01
sources:
  doc: {{title: A test document}}
"""
CITE = "{source: doc, section: s1, says: a paraphrase of the clause for tests}"
