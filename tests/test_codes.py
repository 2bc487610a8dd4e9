"""Register codes: both tables, their categories and which table a mark's date selects."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from attendance_rules.codes import CATEGORIES, Category, default_codebook
from conftest import EXPECTED_CATEGORY, NATIONAL

BOOK = default_codebook()
LAST_2006 = dt.date(2024, 8, 18)
FIRST_2024 = dt.date(2024, 8, 19)
TABLE_DAY = {"regs2006": LAST_2006, "regs2024": FIRST_2024}

CASES = [(table, code, category) for table, codes in EXPECTED_CATEGORY.items() for code, category in codes.items()]


def _table(table_id: str):
    return next(t for t in BOOK.tables if t.id == table_id)


@pytest.mark.parametrize(("table", "code", "category"), CASES, ids=[f"{t}:{c}" for t, c, _ in CASES])
def test_every_code_has_its_national_category(table: str, code: str, category: str) -> None:
    found = _table(table).codes[code]
    assert found.category is Category(category)
    assert found.table == table
    # looked up by the date of a mark, the same code and category come back
    assert BOOK.lookup(code, TABLE_DAY[table]) == found


@pytest.mark.parametrize("table", sorted(NATIONAL))
def test_tables_hold_exactly_the_national_codes(table: str) -> None:
    assert set(_table(table).codes) == set(EXPECTED_CATEGORY[table])


def test_table_dates() -> None:
    assert [t.id for t in BOOK.tables] == ["regs2006", "regs2024"]
    old, new = BOOK.tables
    assert old.valid_to == LAST_2006 and new.valid_from == FIRST_2024 and new.valid_to is None
    assert old.in_force(LAST_2006) and not old.in_force(FIRST_2024)
    assert new.in_force(FIRST_2024) and not new.in_force(LAST_2006)


@pytest.mark.parametrize(
    ("day", "table"),
    [
        (dt.date(2006, 9, 1), "regs2006"),
        (dt.date(2023, 9, 4), "regs2006"),
        (LAST_2006, "regs2006"),
        (FIRST_2024, "regs2024"),
        (dt.date(2030, 1, 1), "regs2024"),
    ],
)
def test_the_date_of_a_mark_decides_the_table(day: dt.date, table: str) -> None:
    assert BOOK.table_for(day).id == table
    assert BOOK.lookup("/", day).table == table
    assert BOOK.lookup("I", day).table == table


def test_no_table_before_2006() -> None:
    assert BOOK.table_for(dt.date(2006, 8, 31)) is None
    with pytest.raises(KeyError, match="no register code table"):
        BOOK.lookup("/", dt.date(2006, 8, 31))


def test_h_after_the_switch_names_the_2006_table() -> None:
    assert BOOK.lookup("H", LAST_2006).category is Category.AUTHORISED
    with pytest.raises(KeyError) as err:
        BOOK.lookup("H", FIRST_2024)
    message = err.value.args[0]
    assert "'H'" in message and "2024-08-19" in message and "regs2006" in message


@pytest.mark.parametrize("code", ["K", "C1", "C2", "J1", "Q", "Y1", "Y3", "Y7"])
def test_2024_codes_before_the_switch_name_the_2024_table(code: str) -> None:
    assert BOOK.lookup(code, FIRST_2024).table == "regs2024"
    with pytest.raises(KeyError) as err:
        BOOK.lookup(code, LAST_2006)
    message = err.value.args[0]
    assert repr(code) in message and "2024-08-18" in message and "regs2024" in message
    assert "regs2006" in message  # the table that is in force on that date


@pytest.mark.parametrize("code", ["J", "Y"])
def test_2006_only_codes_are_refused_after_the_switch(code: str) -> None:
    with pytest.raises(KeyError, match="regs2006"):
        BOOK.lookup(code, FIRST_2024)


@pytest.mark.parametrize("code", ["F", "A", "", "/ ", "l", "Y8", "C3"])
@pytest.mark.parametrize("day", [LAST_2006, FIRST_2024])
def test_unknown_code(code: str, day: dt.date) -> None:
    with pytest.raises(KeyError) as err:
        BOOK.lookup(code, day)
    message = err.value.args[0]
    assert "unknown register code" in message and repr(code) in message
    assert "I" in message.split("valid on")[1]  # lists the codes that are valid


def test_code_ids_are_unique_small_and_dense() -> None:
    ids = [c.id for c in BOOK]
    assert len(ids) == len(set(ids)) == sum(len(codes) for codes in EXPECTED_CATEGORY.values())
    assert all(0 < i < 256 for i in ids)  # 0 is never a code, every id fits one byte
    # Register.marks() finds a code as by_id[id - 1]
    assert all(BOOK.by_id[c.id - 1] is c for c in BOOK)


def test_category_table_translates_every_id() -> None:
    table = BOOK.category_table()
    assert len(table) == 256
    for code in BOOK:
        assert CATEGORIES[table[code.id]] is code.category


def test_ids_for_finds_a_code_in_every_table() -> None:
    ids = BOOK.ids_for("L")
    assert len(ids) == 2
    assert {BOOK.by_id[i - 1].table for i in ids} == {"regs2006", "regs2024"}
    assert len(BOOK.ids_for("H")) == 1 and len(BOOK.ids_for("K")) == 1
    assert BOOK.ids_for("F") == ()


@pytest.mark.parametrize(
    ("category", "possible", "attending", "absent"),
    [
        (Category.PRESENT, True, True, False),
        (Category.APPROVED_ACTIVITY, True, True, False),
        (Category.AUTHORISED, True, False, True),
        (Category.UNAUTHORISED, True, False, True),
        (Category.NOT_POSSIBLE, False, False, False),
    ],
)
def test_category_properties(category: Category, possible: bool, attending: bool, absent: bool) -> None:
    assert (category.is_possible, category.is_attending, category.is_absent) == (possible, attending, absent)


# --- docs/register-codes.md lists the data ----------------------------------------------

DOC = Path(__file__).resolve().parent.parent / "docs" / "register-codes.md"
BEGIN, END = "<!-- begin generated: tests/test_codes.py render_code_tables() -->", "<!-- end generated -->"


def _day(day: dt.date) -> str:
    return f"{day.day} {day:%B %Y}"


def render_code_tables() -> str:
    """The code tables of docs/register-codes.md, rendered from the bundled data."""
    out = []
    for table in reversed(BOOK.tables):  # the table in force now first
        until = f"to {_day(table.valid_to)}" if table.valid_to else "onwards"
        out += [f"### `{table.id}`: {table.title}", "",
                f"In force for marks dated {_day(table.valid_from)} {until}.", "",
                "| code | category | meaning |", "| --- | --- | --- |"]
        out += [f"| `{c.code}` | {c.category.value} | {c.meaning} |" for c in table.codes.values()]
        out.append("")
    return "\n".join(out).rstrip("\n")


def test_doc_tables_are_generated_from_the_data() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert BEGIN in text and END in text
    block = text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n")
    assert block == render_code_tables(), (
        "docs/register-codes.md is out of date: replace the generated block with render_code_tables()")


def test_doc_lists_every_code_with_its_category() -> None:
    text = DOC.read_text(encoding="utf-8")
    for table in BOOK.tables:
        section = text.split(f"### `{table.id}`", 1)[1].split("###", 1)[0]
        rows = {}
        for line in section.splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) == 3 and cells[0].startswith("`"):
                rows[cells[0].strip("`")] = cells[1]
        assert rows == {code: info.category.value for code, info in table.codes.items()}, table.id
        assert rows == EXPECTED_CATEGORY[table.id], table.id


def test_doc_records_the_readings_taken() -> None:
    text = DOC.read_text(encoding="utf-8")
    section = " ".join(text.split("## Readings taken", 1)[1].replace("*", "").split())
    for needle in ("`D`", "`F`", "`X`", "not a possible session"):
        assert needle in section
