"""The dataset on disk: its layout, reading a school's Parquet files as text, writing one.

Needs the optional extra ``dask`` (``pip install 'attendance-rules[dask]'``: dask,
distributed, pyarrow) to read or write Parquet; ``require_extra`` raises a ``UsageError``
naming the extra. Importing this module never needs it.

Dataset layout (a directory; the columns mean exactly what they mean in the CSV form of a
history, README "Histories" and ``readers.py``)::

    DATASET/
      marks/school_id=<id>/*.parquet    pupil_id, date, session, code[, minutes_late]
      pupils/school_id=<id>/*.parquet   pupil_id, date_of_birth, year_group, flags   (optional)
      events/school_id=<id>/*.parquet   pupil_id, date, type, details                (optional)
      schools.csv                       id, name, <settings> (one row per school; optional)

``marks/``, ``pupils/`` and ``events/`` are Parquet datasets hive-partitioned by
``school_id`` (what ``pyarrow.dataset.write_dataset(..., partitioning=["school_id"],
partitioning_flavor="hive")`` or dask's ``to_parquet(partition_on="school_id")`` write;
directory names may be URI-encoded). Within a school, files are read in natural name
order (``part.2`` before ``part.10``). Columns are text as in the CSV files — ``flags``
joined with ``;``, ``details`` as ``key=value;…`` — but typed Parquet columns are
accepted too: dates (date32, timestamps) read as ``YYYY-MM-DD``, integers as their
digits, booleans as ``true``/``false``, a list of flags joined with ``;``, nulls as empty
cells. Each school's rows form one school's CSV history: when ``pupils/`` has rows for a
school, a mark of a pupil not listed there is refused (``unknown pupil``), exactly as
with ``pupils.csv``. ``schools.csv`` settings are read as ``school.csv`` settings are
(``true``/``false`` are yes/no, anything else is text); a school missing from it has no
settings (each takes the policy's declared default).

``write_dataset`` builds this layout from histories. Evaluating a dataset is
``distributed.py``; turning one school's rows into results is ``partitions.py``.
"""

from __future__ import annotations

import csv
import importlib
import os
import re
from pathlib import Path
from typing import Any, Iterable, Sequence
from urllib.parse import quote, unquote

from ..exceptions import InputError, Location, Problem, UsageError
from ..registers.history import History, School
from ..text import cell_text

__all__ = [
    "COLUMNS",
    "EXTRA",
    "INSTALL_HINT",
    "KINDS",
    "PARTITION_KEY",
    "SCHOOLS_FILE",
    "is_dataset",
    "read_school_files",
    "read_schools",
    "require_extra",
    "school_dirs",
    "text_table",
    "write_dataset",
    "zero_counts",
]

EXTRA = "dask"
INSTALL_HINT = "pip install 'attendance-rules[dask]'"
KINDS = ("marks", "pupils", "events")
COLUMNS = {
    "marks": ("pupil_id", "date", "session", "code", "minutes_late"),
    "pupils": ("pupil_id", "date_of_birth", "year_group", "flags"),
    "events": ("pupil_id", "date", "type", "details"),
}
SCHOOLS_FILE = "schools.csv"
PARTITION_KEY = "school_id"


# --- the optional extra -----------------------------------------------------------------


def require_extra() -> None:
    """Import dask, distributed and pyarrow, or raise a ``UsageError`` naming the extra."""
    missing = []
    for module in ("pyarrow", "dask", "dask.dataframe", "distributed"):
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise UsageError(
            [
                Problem(
                    f"evaluating a dataset needs the optional '{EXTRA}' extra, which is not "
                    "installed",
                    found="missing module(s): " + ", ".join(missing),
                    expected=INSTALL_HINT,
                )
            ]
        )


def zero_counts() -> dict[str, int]:
    """No rows of any kind: a count per kind, all zero."""
    return dict.fromkeys(KINDS, 0)


# --- columns as CSV text ----------------------------------------------------------------


def _text_column(column: Any) -> Any:
    """A pyarrow column as CSV text: strings as they are, dates ISO, nulls empty."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_dictionary(kind):
        return _text_column(column.cast(kind.value_type))
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = column
    elif pa.types.is_date(kind) or pa.types.is_timestamp(kind):
        text = pc.strftime(column, format="%Y-%m-%d")
    elif pa.types.is_boolean(kind):
        text = pc.if_else(column, "true", "false")
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
        text = pc.binary_join(_text_list(column), ";")
    elif pa.types.is_floating(kind) and _integral(column):
        text = column.cast(pa.int64()).cast(pa.string())
    elif pa.types.is_integer(kind) or pa.types.is_floating(kind):
        text = column.cast(pa.string())
    else:
        text = pa.chunked_array(
            [pa.array([None if v is None else str(v) for v in column.to_pylist()], pa.string())]
        )
    return pc.fill_null(text.cast(pa.string()), "")


def _text_list(column: Any) -> Any:
    import pyarrow as pa

    values = [None if v is None else [str(x) for x in v] for v in column.to_pylist()]
    return pa.chunked_array([pa.array(values, pa.list_(pa.string()))])


def _integral(column: Any) -> bool:
    import pyarrow.compute as pc

    valid = pc.drop_null(column)
    return len(valid) == 0 or bool(pc.all(pc.equal(valid, pc.floor(valid))).as_py())


def text_table(table: Any, keep_key: bool = False) -> Any:
    """Every column of ``table`` as text; a ``school_id`` column (the partition key) dropped
    unless ``keep_key``."""
    import pyarrow as pa

    names = [n for n in table.column_names if keep_key or n != PARTITION_KEY]
    return pa.table({n: _text_column(table.column(n)) for n in names})


def _natural(path: Path) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def read_school_files(directory: Path) -> tuple[Any, tuple[tuple[str, int], ...]]:
    """One school's files of one kind, concatenated as text columns, with rows per file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted(
        (f for f in directory.iterdir() if f.is_file() and not f.name.startswith((".", "_"))),
        key=_natural,
    )
    tables = [text_table(pq.ParquetFile(f).read()) for f in files]
    sources = tuple((str(f), t.num_rows) for f, t in zip(files, tables))
    if not tables:
        return pa.table({}), sources
    return pa.concat_tables(tables, promote_options="default"), sources


# --- the dataset on disk -----------------------------------------------------------------


def is_dataset(paths: Sequence[str | Path] | str | Path) -> bool:
    """True when ``paths`` is one directory laid out as a dataset (it has ``marks/``)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    return len(paths) == 1 and (Path(paths[0]) / "marks").is_dir()


def school_dirs(root: Path) -> dict[str, dict[str, str]]:
    """School id -> kind -> partition directory name, for every kind present."""
    if not (root / "marks").is_dir():
        raise UsageError(
            [
                Problem(
                    "not a dataset directory",
                    Location(str(root)),
                    expected=f"a directory with marks/{PARTITION_KEY}=<id>/*.parquet",
                )
            ]
        )
    found: dict[str, dict[str, str]] = {}
    for kind in KINDS:
        base = root / kind
        if not base.is_dir():
            continue
        for entry in sorted(base.iterdir()):
            sid = _partition_value(entry, kind)
            if sid is not None:
                found.setdefault(sid, {})[kind] = entry.name
    if not found:
        raise InputError(
            [
                Problem(
                    "no school partitions",
                    Location(str(root / "marks")),
                    expected=f"directories named {PARTITION_KEY}=<id>",
                )
            ]
        )
    return found


def _partition_value(entry: Path, kind: str) -> str | None:
    """The school id of a ``school_id=<id>`` directory; None for metadata files."""
    if entry.name.startswith((".", "_")):
        return None
    key, sep, value = entry.name.partition("=")
    if entry.is_dir() and sep and key == PARTITION_KEY and value:
        return unquote(value)
    raise InputError(
        [
            Problem(
                f"{kind}/ must be partitioned by {PARTITION_KEY}",
                Location(str(entry)),
                found=entry.name,
                expected=f"{PARTITION_KEY}=<id>/ directories",
            )
        ]
    )


def _csv_value(text: str) -> Any:
    """A setting as ``school.csv`` reads it: true/false are yes/no, anything else text."""
    lowered = text.lower()
    return lowered == "true" if lowered in ("true", "false") else text


def read_schools(path: str | os.PathLike[str]) -> dict[str, School]:
    """``schools.csv`` (``id,name,<settings>``) as schools by id; located errors for bad rows."""
    path, schools, problems = Path(path), {}, []
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as handle:
        rows = csv.DictReader(handle)
        if "id" not in (rows.fieldnames or []):
            raise InputError(
                [
                    Problem(
                        "schools.csv lacks column id",
                        Location(str(path), 1),
                        found=",".join(rows.fieldnames or []),
                        expected="id,name,<settings>",
                    )
                ]
            )
        for row in rows:
            where = Location(str(path), rows.line_num)
            if None in row or None in row.values():
                problems.append(
                    Problem(
                        "wrong number of fields", where, expected=",".join(rows.fieldnames or [])
                    )
                )
                continue
            row = {k: (v or "").strip() for k, v in row.items()}
            if not row["id"] or row["id"] in schools:
                problems.append(
                    Problem(
                        "missing or duplicate school id",
                        where,
                        found=repr(row["id"]),
                        expected="each school id once",
                    )
                )
                continue
            settings = {k: _csv_value(v) for k, v in row.items() if k not in ("id", "name")}
            schools[row["id"]] = School(row["id"], row.get("name", ""), settings)
    if problems:
        raise InputError(problems)
    return schools


# --- building a dataset -------------------------------------------------------------------


def write_dataset(sources: Iterable[History | str | Path], out_dir: str | Path) -> dict[str, int]:
    """Write schools as a dataset: ``sources`` are ``History`` objects or history paths (a CSV
    directory, copied cell for cell, or a JSON file, loaded strictly); one school each, with
    distinct non-empty school ids. Returns the rows written per kind (and ``schools``)."""
    require_extra()
    out = Path(out_dir)
    if (out / "marks").exists():
        raise UsageError(
            [
                Problem(
                    "dataset directory already has marks/",
                    Location(str(out)),
                    expected="a new or empty directory",
                )
            ]
        )
    counts = {**zero_counts(), "schools": 0}
    # (id, name, settings as text) of each source
    schools: list[tuple[str, str, dict[str, str]]] = []
    for source in sources:
        school, tables = _source_tables(source)
        _check_school_id(school, [s[0] for s in schools], source)
        schools.append(school)
        for kind, table in tables.items():
            counts[kind] += _write_part(out, kind, school[0], table)
        counts["schools"] += 1
    _write_schools(out / SCHOOLS_FILE, schools)
    return counts


def _check_school_id(school: tuple, seen: list[str], source: Any) -> None:
    where = Location(str(source)) if isinstance(source, (str, Path)) else Location("<History>")
    if not school[0]:
        raise UsageError(
            [
                Problem(
                    "a school needs an id to be partitioned by",
                    where,
                    expected="school.csv (or the JSON school) with an id",
                )
            ]
        )
    if school[0] in seen:
        raise UsageError(
            [
                Problem(
                    "the same school twice",
                    where,
                    found=repr(school[0]),
                    expected="each school id once",
                )
            ]
        )


def _write_part(out: Path, kind: str, sid: str, table: Any) -> int:
    """Write one school's rows of one kind; returns the rows written."""
    import pyarrow.parquet as pq

    if table is None or (table.num_rows == 0 and kind != "marks"):
        return 0
    directory = out / kind / f"{PARTITION_KEY}={quote(sid, safe='')}"
    directory.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, directory / "part-0.parquet")
    return int(table.num_rows)


def _write_schools(path: Path, schools: list[tuple[str, str, dict[str, str]]]) -> None:
    """``schools.csv``: id, name, then every setting any school has (sorted)."""
    keys = sorted({k for _, _, settings in schools for k in settings})
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["id", "name", *keys])
        for sid, name, settings in sorted(schools):
            writer.writerow([sid, name, *(settings.get(k, "") for k in keys)])


def _source_tables(
    source: History | str | Path,
) -> tuple[tuple[str, str, dict[str, str]], dict[str, Any]]:
    """(school id, name, settings as text) and the rows of each kind as text tables."""
    if isinstance(source, History):
        return _history_tables(source)
    path = Path(source)
    if path.is_dir() and (path / "marks.csv").is_file():
        return _csv_dir_tables(path)
    from ..registers.readers import load_history

    return _history_tables(load_history([path]))


def _csv_dir_tables(path: Path) -> tuple[tuple[str, str, dict[str, str]], dict[str, Any]]:
    """A CSV history directory, every cell copied as text (the reader checks it later)."""
    import pyarrow as pa

    tables = {}
    for kind in KINDS:
        file = path / f"{kind}.csv"
        if file.is_file():
            with open(file, newline="", encoding="utf-8") as handle:
                rows = list(csv.reader(handle))
            header, body = (rows[0], rows[1:]) if rows else ([], [])
            tables[kind] = pa.table(
                {
                    h: pa.array([r[i] if i < len(r) else "" for r in body], pa.string())
                    for i, h in enumerate(header)
                }
            )
    school: tuple[str, str, dict[str, str]] = ("", "", {})
    if (path / "school.csv").is_file():
        with open(path / "school.csv", newline="", encoding="utf-8") as handle:
            row = next(csv.DictReader(handle), None) or {}
        school = (
            row.get("id", "").strip(),
            row.get("name", ""),
            {k: v for k, v in row.items() if k not in ("id", "name")},
        )
    return school, tables


def _history_tables(history: History) -> tuple[tuple[str, str, dict[str, str]], dict[str, Any]]:
    """A loaded history in the CSV form: marks, pupils and events as text tables."""
    import pyarrow as pa

    rows: dict[str, list[tuple]] = {kind: [] for kind in KINDS}
    for pupil in history.pupils:
        rows["pupils"].append(
            (
                pupil.id,
                cell_text(pupil.date_of_birth),
                cell_text(pupil.year_group),
                ";".join(sorted(pupil.flags)),
            )
        )
        rows["marks"] += [
            (pupil.id, m.date.isoformat(), m.session, m.code, cell_text(m.minutes_late))
            for m in pupil.register.marks()
        ]
        rows["events"] += [
            (
                pupil.id,
                e.date.isoformat(),
                e.type,
                ";".join(f"{k}={cell_text(v)}" for k, v in sorted(e.details.items())),
            )
            for e in pupil.events
        ]
    tables = {
        kind: pa.table(
            {
                c: pa.array([r[i] for r in rows[kind]], pa.string())
                for i, c in enumerate(COLUMNS[kind])
            }
        )
        for kind in KINDS
    }
    school = history.school
    return (school.id, school.name, {k: cell_text(v) for k, v in school.settings.items()}), tables
