"""Register codes: both tables, their categories and which table a mark's date selects."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from conftest import EXPECTED_CATEGORY, NATIONAL, WITHDRAWN

from attendance_rules.registers.codes import CATEGORIES, Category, default_codebook

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
    # looked up by the date of a mark, the same code and category come back (F: on its last day)
    assert BOOK.lookup(code, found.valid_to or TABLE_DAY[table]) == found


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


def test_h_after_the_switch_is_withdrawn_and_still_authorised() -> None:
    assert BOOK.lookup("H", LAST_2006).category is Category.AUTHORISED
    assert BOOK.withdrawn_use("H", LAST_2006) is None  # in force: not a withdrawn use
    with pytest.raises(KeyError) as err:  # lookup gives only codes in force
        BOOK.lookup("H", FIRST_2024)
    message = err.value.args[0]
    assert "withdrawn register code 'H' on 2024-08-19" in message and "19 August 2024" in message
    assert "authorised absence" in message and "DfE" in message
    gone = BOOK.withdrawn_use("H", FIRST_2024)
    assert gone.category is Category.AUTHORISED and gone.table == "regs2024" and gone.withdrawn == FIRST_2024


@pytest.mark.parametrize("code", ["K", "C1", "C2", "J1", "Q", "Y1", "Y3", "Y7"])
def test_2024_codes_before_the_switch_name_the_2024_table(code: str) -> None:
    assert BOOK.lookup(code, FIRST_2024).table == "regs2024"
    with pytest.raises(KeyError) as err:
        BOOK.lookup(code, LAST_2006)
    message = err.value.args[0]
    assert repr(code) in message and "2024-08-18" in message and "regs2024" in message
    assert "regs2006" in message  # the table that is in force on that date


@pytest.mark.parametrize(("code", "category"), [("J", "approved_activity"), ("Y", "not_possible"), ("F", "authorised")])
def test_2006_only_codes_after_the_switch_are_withdrawn_counted_as_dfe_counts_them(code: str, category: str) -> None:
    with pytest.raises(KeyError, match="withdrawn register code"):
        BOOK.lookup(code, FIRST_2024)
    assert BOOK.withdrawn_use(code, FIRST_2024).category is Category(category)
    assert WITHDRAWN["regs2024"][code] == (FIRST_2024, category)


@pytest.mark.parametrize(("code", "day", "category"), [
    ("D", dt.date(2011, 8, 31), "approved_activity"), ("D", dt.date(2011, 9, 1), "not_possible"),
    ("F", dt.date(2013, 8, 30), "authorised")])
def test_the_2006_table_changed_within_its_period(code: str, day: dt.date, category: str) -> None:
    assert BOOK.lookup(code, day).category is Category(category)
    assert BOOK.lookup(code, day).table == "regs2006" and BOOK.withdrawn_use(code, day) is None


def test_f_is_withdrawn_from_september_2013() -> None:
    day = dt.date(2013, 9, 1)
    with pytest.raises(KeyError, match="withdrawn register code 'F' on 2013-09-01"):
        BOOK.lookup("F", day)
    assert BOOK.withdrawn_use("F", day).category is Category.AUTHORISED
    assert BOOK.withdrawn_use("F", day).table == "regs2006"


@pytest.mark.parametrize("code", ["A", "", "/ ", "l", "Y8", "C3"])
@pytest.mark.parametrize("day", [LAST_2006, FIRST_2024])
def test_unknown_code(code: str, day: dt.date) -> None:
    with pytest.raises(KeyError) as err:
        BOOK.lookup(code, day)
    message = err.value.args[0]
    assert "unknown register code" in message and repr(code) in message
    assert "I" in message.split("valid on")[1]  # lists the codes that are valid


def test_code_ids_are_unique_small_and_dense() -> None:
    ids = [c.id for c in BOOK]
    earlier = 1  # 2006 D as it counted until September 2011
    withdrawn = sum(len(codes) for codes in WITHDRAWN.values())
    assert len(ids) == len(set(ids)) == sum(len(codes) for codes in EXPECTED_CATEGORY.values()) + earlier + withdrawn
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
    assert len(BOOK.ids_for("K")) == 1
    assert len(BOOK.ids_for("H")) == 2  # in force to 18 August 2024, withdrawn after
    assert len(BOOK.ids_for("F")) == 3  # in force to August 2013, withdrawn in both tables after
    assert len(BOOK.ids_for("D")) == 3  # 2006 until and from September 2011, 2024
    assert BOOK.ids_for("A") == ()


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


def _dates(entry) -> str:
    """`` (to 31 August 2013)`` and the like: the entry's own dates within its table."""
    parts = ([f"from {_day(entry.valid_from)}"] if entry.valid_from else []) + \
        ([f"to {_day(entry.valid_to)}"] if entry.valid_to else [])
    return f" ({', '.join(parts)})" if parts else ""


def render_code_tables() -> str:
    """The code tables of docs/register-codes.md, rendered from the bundled data."""
    out = []
    for table in reversed(BOOK.tables):  # the table in force now first
        until = f"to {_day(table.valid_to)}" if table.valid_to else "onwards"
        out += [f"### `{table.id}`: {table.title}", "",
                f"In force for marks dated {_day(table.valid_from)} {until}.", "",
                "| code | category | meaning |", "| --- | --- | --- |"]
        out += [f"| `{c.code}` | {c.category.value} | {c.meaning}{_dates(c)} |" for c in table.codes.values()]
        out.append("")
        if table.earlier:
            out += ["Counted otherwise earlier in the table's period:", "",
                    "| code | category | in force | why |", "| --- | --- | --- | --- |"]
            out += [f"| `{c.code}` | {c.category.value} | {_dates(c).strip(' ()')} | {c.note} |" for c in table.earlier]
            out.append("")
        if table.withdrawn:
            out += [("Withdrawn codes still found in registers: accepted with a warning (refused with "
                     "`--strict-codes`), counted as DfE's statistics count them:"), "",
                    "| code | counted as | withdrawn | evidence |", "| --- | --- | --- | --- |"]
            out += [f"| `{c.code}` | {c.category.value} | {_day(c.withdrawn)} | {c.note} |"
                    for c in table.withdrawn.values()]
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
        withdrawn = {}
        for line in section.split("Withdrawn codes still found", 1)[-1].splitlines() if table.withdrawn else ():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) == 4 and cells[0].startswith("`"):
                withdrawn[cells[0].strip("`")] = cells[1]
        assert withdrawn == {code: category for code, (_, category) in WITHDRAWN[table.id].items()}, table.id


def test_doc_records_the_readings_taken() -> None:
    text = DOC.read_text(encoding="utf-8")
    section = " ".join(text.split("## Readings taken", 1)[1].replace("*", "").split())
    for needle in ("`D`", "`F`", "`X`", "not a possible session", "1 September 2011", "1 September 2013",
                   "SI 2013/756", "--strict-codes", "DfE's daily attendance data"):
        assert needle in section, needle
