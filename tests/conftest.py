"""Shared test helpers: the national code categories (written from NATIONAL.md, not from
the bundled YAML) and small builders for registers and history files."""

from __future__ import annotations

import datetime as dt
import json
from array import array
from pathlib import Path

import pytest

from attendance_rules.registers.codes import default_codebook
from attendance_rules.registers.history import Event, Pupil, Register, slot_of

SWITCH = dt.date(2024, 8, 19)  # the 2024 regulations (and their code table) apply from this day

# Register codes per category, as stated in ../shared/sources/NATIONAL.md (each code as it
# stands at the end of its table's period). Readings taken in the data and followed here:
# 2006 `D` is not a possible session from September 2011 (NATIONAL.md: DfE's census
# stopped counting it as an attendance and a possible session then); before that it was
# an approved educational activity; 2006 `F` is authorised absence until it was withdrawn.
NATIONAL = {
    "regs2006": {
        "present": "/ \\ L",
        "approved_activity": "B J P V W",
        "authorised": "C E F H I M R S T",
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
D_POSSIBLE_UNTIL = dt.date(2011, 8, 31)  # 2006 `D` counted as attending until September 2011
F_WITHDRAWN = dt.date(2013, 9, 1)  # 2006 `F`: SI 2013/756 (in force 1 Sept 2013); DfE's spring 2014 census
# Withdrawn codes still found in real registers, counted as DfE's statistics count them
# (NATIONAL.md: DfE's 2024/25 and 2025/26 daily data), per table: code -> (from, category).
WITHDRAWN = {
    "regs2006": {"F": (F_WITHDRAWN, "authorised")},
    "regs2024": {"F": (SWITCH, "authorised"), "H": (SWITCH, "authorised"), "J": (SWITCH, "approved_activity"),
                 "Y": (SWITCH, "not_possible")},
}


def table_of(day: dt.date) -> str:
    """The code table of a mark's date, by the national switch-over date."""
    return "regs2024" if day >= SWITCH else "regs2006"


def codes_in_force(day: dt.date) -> list[str]:
    """The codes in force on ``day`` (no withdrawn one), sorted."""
    table = table_of(day)
    return sorted(c for c in EXPECTED_CATEGORY[table] if not (c in WITHDRAWN[table] and day >= WITHDRAWN[table][c][0]))


def withdrawn_on(day: dt.date, code: str) -> bool:
    """True when ``code`` on ``day`` is a withdrawn code that is still counted (with a warning)."""
    gone = WITHDRAWN[table_of(day)].get(code)
    return gone is not None and day >= gone[0]


def category_of(day: dt.date, code: str) -> str:
    """The national category of ``code`` marked on ``day`` (independent of the library)."""
    table = table_of(day)
    if withdrawn_on(day, code):
        return WITHDRAWN[table][code][1]
    if table == "regs2006" and code == "D" and day <= D_POSSIBLE_UNTIL:
        return "approved_activity"
    return EXPECTED_CATEGORY[table][code]


def make_register(marks: dict[tuple[dt.date, str], str]) -> Register:
    """A register built directly from ``{(date, "AM"|"PM"): code}``."""
    book = default_codebook()
    order = sorted(marks, key=lambda k: slot_of(*k))
    return Register(array("I", [slot_of(*k) for k in order]), bytes(_code_id(book, marks[k], k[0]) for k in order))


def _code_id(book, code: str, day: dt.date) -> int:
    """The id of ``code`` on ``day``: in force, or withdrawn and still counted."""
    gone = book.withdrawn_use(code, day)
    return gone.id if gone is not None else book.lookup(code, day).id


def make_pupil(days: dict[dt.date, str | tuple[str, str]], events: tuple[Event, ...] = (), pid: str = "P1") -> Pupil:
    """A pupil from ``{date: code}`` (both sessions) or ``{date: (am, pm)}``."""
    marks = {}
    for day, codes in days.items():
        am, pm = (codes, codes) if isinstance(codes, str) else codes
        for session, code in (("AM", am), ("PM", pm)):
            if code:
                marks[(day, session)] = code
    return Pupil(id=pid, register=make_register(marks), events=events)


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


@pytest.fixture(scope="module")
def halton():
    """The bundled Halton policy, ``load_policy("halton")``, once per module. A module's own
    ``halton`` fixture (one loads it by path) takes its place there. Imported here, not at the top:
    conftest imports nothing more than it did for the modules that do not ask for it."""
    from attendance_rules.engine.compiled import load_policy

    return load_policy("halton")


@pytest.fixture(scope="module")
def sample():
    """The bundled sample history (examples/sample/history.json, 300 pupils), once per module.
    A module's own ``sample`` fixture (some hold part of it, or its JSON) takes its place there."""
    from attendance_rules.registers.readers import load_history

    return load_history(Path(__file__).resolve().parents[1] / "examples" / "sample" / "history.json")


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
