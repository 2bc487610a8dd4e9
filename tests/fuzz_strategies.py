"""Generators and mutators for the fuzz suite (tests/test_fuzz.py).

Everything here builds *inputs*: small valid histories, CSV folders, policies and case
files, and mutations of them at the data, text and byte level. The mutators take a
``random.Random`` drawn by hypothesis (``st.randoms(use_true_random=False)``), so a
failing example replays and shrinks like any other hypothesis example.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import json
import random
import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_JSON = ROOT / "examples" / "sample" / "history.json"
SAMPLE_CSV = ROOT / "examples" / "sample" / "csv"
SAMPLE_PUPILS = ("P00001", "P00004", "P00005")  # P00004 has events (a stage 1 letter)
SAMPLE_UNTIL = "2023-10-20"  # marks up to the October half-term keep each example small

CITE = "{source: doc, section: s1, says: a paraphrase of the clause for tests}"

# A small national policy exercising parameters, units, windows, due dates, conditions
# over measures, events, flags and school settings. Mutated line by line by the fuzzer.
POLICY_TEXT = f"""\
id: fz
title: Fuzz policy
kind: national
version: "1"
effective_from: 2020-09-01
sources:
  doc: {{title: A test document}}
parameters:
  limit:
    value: 10
    unit: sessions
    cite: {CITE}
  gap:
    value: 4
    unit: weeks
    cite: {CITE}
measures:
  unauth:
    measure: unauthorised_sessions
    window: last 10 school weeks
  rate:
    measure: absence_rate
    window: academic year
actions:
  letter:
    title: Write to the parents
    kind: letter
    responsible: school
    done_by: letter_sent
    due: {{within_school_days: 10}}
    cite: {CITE}
  meeting:
    title: Hold a meeting
    kind: meeting
    responsible: school
    cite: {CITE}
rules:
  - id: r_flag
    title: Concern
    when: unauth >= limit or rate >= 10%
    derive: [concern]
    priority: 10
    cite: {CITE}
  - id: r_letter
    title: Letter
    when: concern and not social_worker
    recommend: [letter]
    cite: {CITE}
  - id: r_meeting
    title: Meeting
    when: concern and time since latest letter_sent > gap
    recommend: [meeting]
    cite: {CITE}
"""

CASE_TEXT = """\
name: Fuzz case
description: A small case for the fuzzer.
policy: fz.yaml
school: {traded_ews: true}
pupil:
  id: P1
  flags: [free_school_meals]
  register:
    - {from: 2023-09-04, to: 2023-10-20, code: present}
    - {from: 2023-10-02, to: 2023-10-06, code: O}
    - {"on": 2023-10-09, am: L, pm: present, minutes_late: 12}
  events:
    - {date: 2023-10-10, type: letter_sent, action: letter}
checks:
  - as_of: 2023-10-20
    recommended: [meeting]
    facts: [concern]
"""

# Values that have broken parsers before: wrong types, extremes, odd dates and text.
WEIRD_VALUES: tuple[Any, ...] = (
    None, True, False, 0, -1, 1.5, 1e308, -1e308, float("inf"), float("nan"), "", " ", "x",
    "P00004", "/", "O", "AM", "PM", "0001-01-01", "9999-12-31", "2024-02-30", "2024-9-2",
    "letter_sent", "1e999", "NaN", "\u00e9", "\ud800", "\x00", "a" * 5000, [], {}, [1, 2], {"a": 1},
)
# Key names a mistyping officer (or a spreadsheet export) produces.
ODD_KEYS = ("Marks", "flag", "ID", "marks ", "dob", "minutes", "Code", "tradedews", "x", "", "events2")
WEIRD_TEXT = ("", "x", "1.5", "-1", "1e999", "NaN", "inf", "0001-01-01", "9999-12-31", "2024-02-30",
              "\x00", '"', "a,b", "\u00e9", "true", "P9", "9" * 5000, "Y" * 140_000)
YAML_VALUES = ("ten", "-5", "0", "1.5", "1000000000", "99999999 weeks", "0001-01-01", "9999-12-31", ".nan",
               ".inf", "1e999", "~", "[]", "{}", "''", "!!python/object/apply:os.system ['true']", "*nope",
               "&a x", "9" * 4400, '"unterminated', "{a: [1, 2", "school_days", "percent", "money", "days",
               "yes", "no", "null", "- x", "!!binary aGVsbG8=", "2023-13-40")
CONDITION_TOKENS = ("unauth", "rate", "limit", "gap", "concern", "and", "or", "not", "(", ")", ">=", ">", "<",
                    "==", "10", "10%", "1e999", "-5", "school.traded_ews", "school.traded_ewss", "social_worker",
                    "any letter_sent with action == \"letter\"", "time since latest letter_sent > 5 school days",
                    "unauthorised_sessions over academic year", "within academic year", "\"", "letter", "99999999")


@lru_cache(maxsize=1)
def _sample_doc_text() -> str:
    """The sample history cut to a few pupils and half a term, as JSON text (cached)."""
    doc = json.loads(SAMPLE_JSON.read_text(encoding="utf-8"))
    pupils = [p for p in doc["pupils"] if p["id"] in SAMPLE_PUPILS]
    for pupil in pupils:
        pupil["marks"] = [m for m in pupil["marks"] if m["date"] <= SAMPLE_UNTIL]
    return json.dumps({"school": doc["school"], "pupils": pupils})


def sample_doc() -> dict:
    """A fresh copy of the small sample history (callers may mutate it)."""
    return json.loads(_sample_doc_text())


@lru_cache(maxsize=1)
def _sample_csv_texts() -> tuple[tuple[str, str], ...]:
    """The sample CSV folder cut to the same pupils and dates as ``sample_doc``."""
    files = []
    for path in sorted(SAMPLE_CSV.glob("*.csv")):
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        keep = [lines[0]] + [line for line in lines[1:] if _keep_csv_line(path.name, line)]
        files.append((path.name, "".join(keep)))
    return tuple(files)


def _keep_csv_line(name: str, line: str) -> bool:
    """True when a sample CSV row belongs to the cut-down sample."""
    if name == "school.csv":
        return True
    fields = line.split(",")
    return fields[0] in SAMPLE_PUPILS and (name != "marks.csv" or fields[1] <= SAMPLE_UNTIL)


def sample_csv_files() -> dict[str, bytes]:
    """A fresh ``{file name: bytes}`` of the small sample CSV folder."""
    return {name: text.encode("utf-8") for name, text in _sample_csv_texts()}


# --- generated valid histories -------------------------------------------------------

CODES_2006 = ("/", "\\", "L", "B", "I", "M", "C", "E", "O", "U", "G", "N", "#", "X", "Y")
FLAGS = ("social_worker", "child_in_need_plan", "free_school_meals", "looked_after", "send_support")
EVENT_TYPES = ("contact_made", "home_visit", "letter_sent")


def _school_days(first: dt.date, count: int) -> list[dt.date]:
    """``count`` weekdays from ``first``."""
    days, day = [], first
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


@st.composite
def valid_pupils(draw: st.DrawFn, index: int) -> dict:
    """One valid pupil in JSON form: marks on consecutive weekdays, a few events."""
    days = _school_days(dt.date(2023, 9, 4) + dt.timedelta(days=draw(st.integers(0, 20))), draw(st.integers(0, 25)))
    marks = []
    for day in days:
        for session in draw(st.sampled_from((("AM", "PM"), ("AM",), ("PM",)))):
            mark = {"date": day.isoformat(), "session": session, "code": draw(st.sampled_from(CODES_2006))}
            if mark["code"] == "L" and draw(st.booleans()):
                mark["minutes_late"] = draw(st.integers(0, 600))
            marks.append(mark)
    events = [{"date": d.isoformat(), "type": draw(st.sampled_from(EVENT_TYPES))}
              for d in draw(st.lists(st.sampled_from(days), max_size=3))] if days else []
    for event in events:
        if event["type"] == "letter_sent":
            event["action"] = "letter"
    pupil = {"id": f"P{index}", "flags": sorted(draw(st.sets(st.sampled_from(FLAGS), max_size=2))), "marks": marks,
             "events": events}
    if draw(st.booleans()):
        pupil["year_group"] = draw(st.integers(-2, 14))
    return pupil


@st.composite
def valid_history_docs(draw: st.DrawFn) -> dict:
    """A valid history document of one to three generated pupils."""
    count = draw(st.integers(1, 3))
    return {"school": {"id": "S1", "name": "Fuzz school", "settings": {"traded_ews": draw(st.booleans())}},
            "pupils": [draw(valid_pupils(i)) for i in range(count)]}


def doc_as_csv(doc: dict) -> dict[str, bytes]:
    """The CSV folder (``{file: bytes}``) holding the same register as a JSON history."""
    tables = {
        "school.csv": [["id", "name", "traded_ews"],
                       [doc["school"]["id"], doc["school"]["name"], str(doc["school"]["settings"]["traded_ews"]).lower()]],
        "pupils.csv": [["pupil_id", "date_of_birth", "year_group", "flags"]],
        "marks.csv": [["pupil_id", "date", "session", "code", "minutes_late"]],
        "events.csv": [["pupil_id", "date", "type", "details"]],
    }
    for p in doc["pupils"]:
        tables["pupils.csv"].append([p["id"], "", str(p.get("year_group", "")), ";".join(p["flags"])])
        tables["marks.csv"] += [[p["id"], m["date"], m["session"], m["code"], str(m.get("minutes_late", ""))]
                                for m in p["marks"]]
        tables["events.csv"] += [[p["id"], e["date"], e["type"], f"action={e['action']}" if "action" in e else ""]
                                 for e in p["events"]]
    return {name: _csv_bytes(rows) for name, rows in tables.items()}


def _csv_bytes(rows: list[list[str]]) -> bytes:
    """CSV text of ``rows`` as UTF-8 bytes."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode("utf-8")


def row_counts(doc: dict) -> dict[str, int]:
    """The pupils, marks and events a JSON history holds."""
    return {"pupils": len(doc["pupils"]), "marks": sum(len(p["marks"]) for p in doc["pupils"]),
            "events": sum(len(p["events"]) for p in doc["pupils"])}


# --- JSON mutations ------------------------------------------------------------------


def _containers(doc: Any, path: tuple = ()) -> list[tuple]:
    """Paths of the dicts and lists in a history, looking at a few marks per pupil only."""
    found = [path]
    items = doc.items() if isinstance(doc, dict) else enumerate(doc[:3] if isinstance(doc, list) else ())
    for key, value in items:
        if isinstance(value, (dict, list)):
            found += _containers(value, path + (key,))
    return found


def _at(doc: Any, path: tuple) -> Any:
    """The value at ``path`` in ``doc``."""
    for key in path:
        doc = doc[key]
    return doc


def _pick_slot(doc: Any, rnd: random.Random) -> tuple[Any, Any] | None:
    """A (container, key or index) of some value in the document, or None for an empty one."""
    for _ in range(8):
        target = _at(doc, rnd.choice(_containers(doc)))
        keys = list(target) if isinstance(target, dict) else list(range(len(target)))
        if keys:
            return target, rnd.choice(keys)
    return None


def _rename_key(doc: Any, rnd: random.Random) -> None:
    """Rename a key of some object to a plausible typo."""
    dicts = [t for t in (_at(doc, p) for p in _containers(doc)) if isinstance(t, dict) and t]
    if dicts:
        target = rnd.choice(dicts)
        key = rnd.choice(list(target))
        target[rnd.choice(ODD_KEYS + (key.capitalize(), key + "s", key[:-1]))] = target.pop(key)


def _drop_value(doc: Any, rnd: random.Random) -> None:
    """Delete a key or a list item."""
    slot = _pick_slot(doc, rnd)
    if slot:
        del slot[0][slot[1]]


def _swap_value(doc: Any, rnd: random.Random) -> None:
    """Replace a value with one of another type or an extreme one."""
    slot = _pick_slot(doc, rnd)
    if slot:
        slot[0][slot[1]] = copy.deepcopy(rnd.choice(WEIRD_VALUES))


def _duplicate_item(doc: Any, rnd: random.Random) -> None:
    """Repeat a list item (a pupil, mark or event twice)."""
    lists = [t for t in (_at(doc, p) for p in _containers(doc)) if isinstance(t, list) and t]
    if lists:
        target = rnd.choice(lists)
        target.insert(rnd.randrange(len(target) + 1), copy.deepcopy(rnd.choice(target)))


DATA_MUTATIONS: dict[str, Callable[[Any, random.Random], None]] = {
    "rename_key": _rename_key, "drop": _drop_value, "swap": _swap_value, "duplicate": _duplicate_item,
}


def _replace_some(text: str, old: str, new: str, rnd: random.Random) -> str:
    """``text`` with one occurrence of ``old`` (chosen at random) replaced by ``new``."""
    count = text.count(old)
    if not count:
        return text
    start = -1
    for _ in range(rnd.randrange(count) + 1):
        start = text.index(old, start + 1)
    return text[:start] + new + text[start + len(old):]


TEXT_MUTATIONS: dict[str, Callable[[str, random.Random], str]] = {
    "duplicate_key": lambda t, r: _replace_some(t, '"code": ', '"code": "O", "code": ', r),
    "huge_int": lambda t, r: re.sub(r'"year_group": -?\d+', '"year_group": ' + "9" * r.choice((4301, 5000)), t,
                                    count=1),
    "overflow": lambda t, r: _replace_some(t, '"session": "AM"', '"session": "AM", "minutes_late": 1e999', r),
    "nan_setting": lambda t, r: t.replace('"traded_ews": true', '"traded_ews": NaN'),
    "deep": lambda t, r: _replace_some(t, '"events": []', '"events": ' + "[" * 1200 + "]" * 1200, r),
    "odd_date": lambda t, r: _replace_some(t, '"date": "2023-', f'"date": "{r.choice(("0001", "9999"))}-', r),
    "long_text": lambda t, r: _replace_some(t, '"code": "/"', '"code": "' + "/" * 200_000 + '"', r),
    "truncate": lambda t, r: t[: r.randrange(len(t))],
}


def _insert_byte(data: bytes, rnd: random.Random) -> bytes:
    """A byte that is not UTF-8 (or a NUL) somewhere in the data."""
    at = rnd.randrange(len(data) + 1)
    return data[:at] + rnd.choice((b"\xff", b"\xc3", b"\x00", b"\x80\x80")) + data[at:]


BYTE_MUTATIONS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "bad_byte": _insert_byte,
    "bom": lambda d, r: b"\xef\xbb\xbf" + d,
    "utf16": lambda d, r: d.decode("utf-8", "replace").encode("utf-16"),
    "crlf": lambda d, r: d.replace(b"\n", b"\r\n"),
}


def mutate_json(doc: dict, rnd: random.Random, rounds: int) -> bytes:
    """The bytes of ``doc`` after ``rounds`` data, text or byte mutations."""
    for _ in range(rounds):
        DATA_MUTATIONS[rnd.choice(sorted(DATA_MUTATIONS))](doc, rnd)
    text = json.dumps(doc, indent=None)  # NaN and Infinity come out as JSON extensions, as Python reads them
    if rnd.random() < 0.5:
        text = TEXT_MUTATIONS[rnd.choice(sorted(TEXT_MUTATIONS))](text, rnd)
    data = text.encode("utf-8", "surrogatepass")  # a lone surrogate becomes bytes that are not UTF-8
    if rnd.random() < 0.3:
        data = BYTE_MUTATIONS[rnd.choice(sorted(BYTE_MUTATIONS))](data, rnd)
    return data


# --- CSV mutations -------------------------------------------------------------------


def _split(data: bytes) -> list[str]:
    """Lines of a CSV file (as text, with their endings)."""
    return data.decode("utf-8").splitlines(keepends=True)


def _csv_header_mutation(files: dict[str, bytes], rnd: random.Random) -> None:
    """Rename, drop or add a header column of one file (rows keep their width)."""
    name = rnd.choice(sorted(files))
    lines = _split(files[name])
    if not lines:
        return
    header = lines[0].rstrip("\r\n").split(",")
    column = rnd.randrange(len(header))
    choice = rnd.choice(("rename", "drop", "extra"))
    if choice == "rename":
        header[column] = rnd.choice(("Pupil_ID", "pupilid", "flag", "Date", "code ", "x", "", header[column] * 2))
    elif choice == "drop":
        del header[column]
    else:
        header.append(rnd.choice(("notes", "pupil_id", "flags", "minutes_late")))
        lines = lines[:1] + [line.rstrip("\r\n") + ",extra\n" for line in lines[1:]]
    files[name] = ("".join([",".join(header) + "\n"] + lines[1:])).encode("utf-8")


def _csv_field_mutation(files: dict[str, bytes], rnd: random.Random) -> None:
    """Replace one field of one data row with odd text."""
    name = rnd.choice(sorted(files))
    rows = list(csv.reader(io.StringIO(files[name].decode("utf-8"))))
    if len(rows) > 1:
        row = rows[rnd.randrange(1, len(rows))]
        if row:
            row[rnd.randrange(len(row))] = rnd.choice(WEIRD_TEXT)
    files[name] = _csv_bytes(rows)


def _csv_row_mutation(files: dict[str, bytes], rnd: random.Random) -> None:
    """Duplicate, drop or cut short a data row."""
    name = rnd.choice(sorted(files))
    lines = _split(files[name])
    if len(lines) > 1:
        at = rnd.randrange(1, len(lines))
        choice = rnd.choice(("duplicate", "drop", "cut"))
        if choice == "duplicate":
            lines.insert(at, lines[at] if lines[at].endswith("\n") else lines[at] + "\n")
        elif choice == "drop":
            del lines[at]
        else:
            lines[at] = lines[at][: rnd.randrange(len(lines[at]) + 1)] + "\n"
    files[name] = "".join(lines).encode("utf-8")


def _csv_file_mutation(files: dict[str, bytes], rnd: random.Random) -> None:
    """Remove a file, or empty it."""
    name = rnd.choice(sorted(files))
    if rnd.random() < 0.5 and len(files) > 1:
        del files[name]
    else:
        files[name] = b""


CSV_MUTATIONS: dict[str, Callable[[dict[str, bytes], random.Random], None]] = {
    "header": _csv_header_mutation, "field": _csv_field_mutation, "row": _csv_row_mutation,
    "file": _csv_file_mutation,
}


def mutate_csv(files: dict[str, bytes], rnd: random.Random, rounds: int) -> dict[str, bytes]:
    """The folder's files after ``rounds`` structural mutations and maybe a byte-level one."""
    for _ in range(rounds):
        CSV_MUTATIONS[rnd.choice(sorted(CSV_MUTATIONS))](files, rnd)
    if rnd.random() < 0.3 and files:
        name = rnd.choice(sorted(files))
        files[name] = BYTE_MUTATIONS[rnd.choice(sorted(BYTE_MUTATIONS))](files[name], rnd)
    return files


# --- YAML (policy and case) mutations ------------------------------------------------


def _yaml_value_mutation(lines: list[str], rnd: random.Random) -> None:
    """Replace the value of one ``key: value`` line (block or flow) with an odd one."""
    candidates = [i for i, line in enumerate(lines) if ": " in line]
    i = rnd.choice(candidates)
    key, _, _ = lines[i].partition(": ")
    lines[i] = f"{key}: {rnd.choice(YAML_VALUES)}\n"


def _yaml_key_mutation(lines: list[str], rnd: random.Random) -> None:
    """Misspell, drop or repeat a key line."""
    i = rnd.randrange(len(lines))
    choice = rnd.choice(("typo", "drop", "repeat"))
    if choice == "typo" and ":" in lines[i]:
        key, sep, rest = lines[i].partition(":")
        lines[i] = key + rnd.choice(("s", "_", "X", "")) + sep + rest
    elif choice == "drop":
        del lines[i]
    else:
        lines.insert(i, lines[i])


def _yaml_condition_mutation(lines: list[str], rnd: random.Random) -> None:
    """Replace a ``when:`` condition with random tokens of the condition language."""
    candidates = [i for i, line in enumerate(lines) if line.lstrip().startswith("when:")]
    if candidates:
        i = rnd.choice(candidates)
        indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
        tokens = " ".join(rnd.choice(CONDITION_TOKENS) for _ in range(rnd.randint(1, 9)))
        lines[i] = f"{indent}when: {json.dumps(tokens)}\n"


def _yaml_text_mutation(lines: list[str], rnd: random.Random) -> None:
    """Swap a date, unit, number or indentation somewhere in the text."""
    i = rnd.randrange(len(lines))
    swaps = (("2020-09-01", "0001-01-01"), ("2023-10-20", "9999-12-31"), ("sessions", "percent"),
             ("weeks", "school_days"), ("10", "-10"), ("10", "1000000000"), ("  ", "\t"), ("school", "schol"),
             ("letter", "leter"), ("last 10 school weeks", "last 99999999 school weeks"))
    old, new = rnd.choice(swaps)
    lines[i] = lines[i].replace(old, new, 1)


YAML_MUTATIONS: dict[str, Callable[[list[str], random.Random], None]] = {
    "value": _yaml_value_mutation, "key": _yaml_key_mutation, "condition": _yaml_condition_mutation,
    "text": _yaml_text_mutation,
}


def mutate_yaml(text: str, rnd: random.Random, rounds: int) -> bytes:
    """A policy or case text after ``rounds`` line-level mutations and maybe a byte-level one."""
    lines = text.splitlines(keepends=True)
    for _ in range(rounds):
        if lines:
            YAML_MUTATIONS[rnd.choice(sorted(YAML_MUTATIONS))](lines, rnd)
    data = "".join(lines).encode("utf-8")
    if rnd.random() < 0.2:
        data = BYTE_MUTATIONS[rnd.choice(sorted(BYTE_MUTATIONS))](data, rnd)
    return data


# --- command lines -------------------------------------------------------------------

SUBCOMMANDS = (
    ("measures",), ("validate",), ("policy", "show"), ("policy", "doc"), ("evaluate",), ("explain",), ("verify",),
    ("test",), ("timeline",), ("diff",), ("cohort",), ("audit",), ("nonsense",), (),
)
FLAGS_WITH_VALUES = ("--policy", "--history", "--as-of", "--pupil", "--calendar", "--format", "--horizon",
                     "--why-not", "--from", "--to", "--output", "--examples", "--old", "--new", "--today",
                     "--backend", "--reader", "--scan", "--default-due", "--jobs", "--seed")
PLAIN_FLAGS = ("--quiet", "--fail-on-findings", "--version", "--help", "--debug", "-")


def argv_values(paths: dict[str, str]) -> st.SearchStrategy[str]:
    """Values for flags and positionals: real files, bundled ids, dates and odd text."""
    return st.sampled_from(sorted(paths.values()) + [
        "halton", "england", "fz", "nope", "", "-", "2023-10-20", "2023-10-02", "0001-01-01", "9999-12-31",
        "2024-02-30", "10/20/2023", "P00004", "P1", "P404", "json", "table", "text", "markdown", "jsonl",
        "1", "0", "-3", "6", "999999999", "x" * 300, "letter", "meeting", "stage1_letter", "durable", "python",
        "stdlib", "week", "day", "\u00e9", "a b",
    ])


@st.composite
def argv_vectors(draw: st.DrawFn, paths: dict[str, str]) -> list[str]:
    """A random command line: a subcommand, then flags with values and stray positionals."""
    values = argv_values(paths)
    argv = list(draw(st.sampled_from(SUBCOMMANDS)))
    for _ in range(draw(st.integers(0, 7))):
        kind = draw(st.integers(0, 4))
        if kind <= 2:
            argv += [draw(st.sampled_from(FLAGS_WITH_VALUES)), draw(values)]
        elif kind == 3:
            argv.append(draw(st.sampled_from(PLAIN_FLAGS)))
        else:
            argv.append(draw(values))
    return argv


@st.composite
def plausible_argv(draw: st.DrawFn, paths: dict[str, str]) -> list[str]:
    """A command line with the required options present, some values odd: reaches the commands."""
    values = argv_values(paths)
    history = draw(st.sampled_from((paths["history"], paths["csv"], paths["broken_history"])))
    policy = draw(st.sampled_from((paths["policy"], "england", paths["broken_policy"])))
    as_of = draw(st.sampled_from(("2023-10-20", "2023-10-02", "2023-09-01", "2024-02-09", draw(values))))
    pupil = draw(st.sampled_from(("P00004", "P00001", "P404", draw(values))))
    command = draw(st.sampled_from((
        ["evaluate", "--policy", policy, "--history", history, "--as-of", as_of, "--jobs", "1"],
        ["explain", "--policy", policy, "--history", history, "--as-of", as_of, "--pupil", pupil,
         "--why-not", draw(st.sampled_from(("letter", "meeting", "stage1_letter", "nope")))],
        ["measures", "--history", history, "--as-of", as_of],
        ["cohort", "--policy", policy, "--history", history, "--as-of", as_of, "--jobs", "1"],
        ["timeline", "--policy", policy, "--history", history, "--from", "2023-10-02", "--to", as_of, "--jobs", "1"],
        ["audit", "--policy", policy, "--history", history, "--jobs", "1"],
        ["diff", "--old", policy, "--new", paths["policy"], "--history", history, "--as-of", as_of, "--jobs", "1"],
        ["validate", policy], ["policy", "show", policy], ["policy", "doc", policy],
        ["test", paths["case"]],
    )))
    extra = draw(st.lists(st.tuples(st.sampled_from(FLAGS_WITH_VALUES), values), max_size=2))
    return command + [item for pair in extra for item in pair]
