"""Read attendance histories from JSON, CSV or Parquet, refusing bad rows with located problems.

Nothing is silently dropped: every mark and event row read is either used or reported,
and ``LoadReport`` keeps the tally (rows read = rows used + rows reported). In strict
mode (the default) any reported row makes the whole load fail with an ``InputError``
listing every problem found, so a file is fixed in one pass.

These are the entry points: ``read_history`` sorts the paths given into JSON files and
a CSV-style directory and feeds them to one ``Reader`` (``reading``) through
``json_reader``, ``csv_reader`` or ``columnar`` (pyarrow); ``load_history`` is its strict
form; ``read_history_data`` and ``read_pupil_data`` read data already parsed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence, TextIO

from ..exceptions import InputError, InputNotFoundError, Location, Problem, UsageError
from .codes import CodeBook, default_codebook
from .csv_reader import read_csv_dir
from .history import FieldSpec, History, Pupil
from .json_reader import read_document, read_json, read_json_pupil
from .pupil_draft import finish_pupil
from .reading import LoadReport, Reader

__all__ = [
    "ENGINES",
    "digest_files",
    "load_history",
    "read_history",
    "read_history_data",
    "read_pupil_data",
    "warnings_to",
]

_CSV_FILES = (
    "pupils.csv",
    "marks.csv",
    "events.csv",
    "school.csv",
    "pupils.parquet",
    "marks.parquet",
    "events.parquet",
)
ENGINES = ("auto", "stdlib", "pyarrow")
# load_history logs each warning here (see warnings_to)
_LOGGER = "attendance_rules.registers.readers"


def _classify(paths: Sequence[str | Path]) -> tuple[list[Path], dict[str, Path], list[Problem]]:
    """The JSON files and the CSV-style files (by name) among ``paths``, and the problems
    of the paths that are neither (or are missing, or give a kind of rows twice)."""
    json_files, csv_files, problems = [], {}, []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = {n: path / n for n in _CSV_FILES if (path / n).is_file()}
            for kind in ("pupils", "marks", "events"):
                if f"{kind}.csv" in found and f"{kind}.parquet" in found:
                    problems.append(
                        Problem(
                            f"{kind} given twice",
                            Location(str(path)),
                            found=f"{kind}.csv and {kind}.parquet",
                            expected="one of them",
                        )
                    )
                    del found[f"{kind}.csv"]
            found.update(
                {"history.json": path / "history.json"} if (path / "history.json").is_file() else {}
            )
            if not found:
                problems.append(
                    Problem(
                        "no history files in directory",
                        Location(str(path)),
                        expected="history.json or marks.csv (with pupils.csv, events.csv)",
                    )
                )
            json_files += [found.pop("history.json")] if "history.json" in found else []
            csv_files.update(found)
        elif not path.is_file():
            problems.append(_not_found(path))
        elif path.suffix.lower() == ".json":
            json_files.append(path)
        elif path.name in _CSV_FILES:
            csv_files[path.name] = path
        else:
            problems.append(
                Problem(
                    "unrecognised history file",
                    Location(str(path)),
                    found=path.name,
                    expected="a .json history or marks.csv / pupils.csv / events.csv / school.csv"
                    " (or marks / pupils / events .parquet)",
                )
            )
    return json_files, csv_files, problems


def _not_found(path: Path) -> Problem:
    return Problem("history file not found", Location(str(path)))


def digest_files(paths: Iterable[Path]) -> str:
    """SHA-256 over the files' bytes, in name order: the same input, the same digest."""
    h = hashlib.sha256()
    for path in sorted(paths, key=str):
        h.update(path.name.encode() + b"\0")
        with open(path, "rb") as handle:  # in chunks: a year's marks.csv is hundreds of MiB
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\0")
    return "sha256:" + h.hexdigest()


def read_history(
    paths: Sequence[str | Path],
    codebook: CodeBook | None = None,
    engine: str = "auto",
    event_types: Mapping[str, Mapping[str, FieldSpec]] | None = None,
    strict_codes: bool = False,
) -> tuple[History, LoadReport]:
    """Read every file given (JSON, CSV or Parquet files, or directories), keeping the good rows.

    Returns the history of every row that could be used, and the report of the rest
    (``problems``) and of what the user must hear about although nothing was refused
    (``warnings``: unknown CSV columns, optional files or columns not given, event types
    that are not standard — ``event_types`` adds the types a policy declares, as
    type -> field -> "bool", "date", "str" or a tuple of allowed texts, whose fields are
    then checked like the standard ones).
    ``engine`` chooses how marks.csv is read: ``stdlib`` (csv module), ``pyarrow``
    (pyarrow's multi-threaded CSV reader; needs the ``parquet`` extra) or ``auto``
    (pyarrow for a marks.csv of 64 MiB or more when pyarrow is installed). Every engine
    gives the same history and report; pyarrow re-reads a file that has a row to report
    (or a withdrawn code to warn about) with the csv module, so problems and warnings are
    located by line exactly as always.

    A register code that was withdrawn but is still found in real registers (``H``,
    ``J``, ``F``, ``Y`` after 19 August 2024; ``F`` after August 2013) is accepted and
    counted as DfE's statistics count it, with one warning per file and code at its
    first mark; ``strict_codes`` refuses each such mark instead, as a located problem.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if engine not in ENGINES:
        raise UsageError(f"unknown history engine {engine!r}; expected one of {', '.join(ENGINES)}")
    if engine == "pyarrow":
        from .columnar import require_pyarrow

        require_pyarrow()
    reader = Reader(codebook or default_codebook(), event_types, strict_codes)
    json_files, csv_files, problems = _classify(paths)
    reader.problems.extend(problems)
    for path in json_files:
        read_json(reader, path)
    if csv_files:
        read_csv_dir(reader, csv_files, engine)
    files = json_files + list(csv_files.values())
    return reader.finished([str(p) for p in files], digest_files(files))


def load_history(
    paths: Sequence[str | Path] | str | Path,
    codebook: CodeBook | None = None,
    engine: str = "auto",
    event_types: Mapping[str, Mapping[str, FieldSpec]] | None = None,
    strict_codes: bool = False,
) -> History:
    """Read a history strictly: any bad row raises ``InputError`` listing every problem (a
    path that does not exist: ``InputNotFoundError``, before anything is read).

    Warnings (see ``read_history``) do not refuse the history: they are on
    ``History.warnings`` and logged, each once and before any error is raised, to the
    ``attendance_rules.registers.readers`` logger (the command line prints them on stderr; see
    ``warnings_to``).
    """
    paths = [paths] if isinstance(paths, (str, Path)) else paths
    # A path that does not exist is the request's fault, not the data's: refused first, by type
    missing = [_not_found(Path(p)) for p in paths if not Path(p).exists()]
    if missing:
        raise InputNotFoundError(missing)
    history, report = read_history(
        paths,
        codebook,
        engine,
        event_types,
        strict_codes,
    )
    log = logging.getLogger(_LOGGER)
    for warning in report.warnings:  # said even when the load fails: a warning may explain an error
        log.warning("%s", warning)
    if report.problems:
        raise InputError(report.problems)
    return history


@contextmanager
def warnings_to(stream: TextIO) -> Iterator[None]:
    """While inside, the warnings of loading histories are written to ``stream``, one a line
    (the command line's hook: its stderr), rather than reaching the logging system's
    handlers or its last resort (which also prints them on stderr)."""
    log = logging.getLogger(_LOGGER)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    propagate, log.propagate = log.propagate, False
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.propagate = propagate


def read_history_data(
    doc: Any, name: str = "<data>", codebook: CodeBook | None = None, strict_codes: bool = False
) -> tuple[History, LoadReport]:
    """Like ``read_history`` for a history already parsed into Python data (JSON form)."""
    reader = Reader(codebook or default_codebook(), strict_codes=strict_codes)
    read_document(reader, doc, name)
    try:
        text = json.dumps(doc, sort_keys=True, default=str)
    except (TypeError, ValueError, RecursionError):  # keys of mixed types, or nested beyond reading
        text = repr(reader.read)
    return reader.finished([name], "sha256:" + hashlib.sha256(text.encode()).hexdigest())


def read_pupil_data(
    item: Any, name: str = "<data>", codebook: CodeBook | None = None, strict_codes: bool = False
) -> tuple[Pupil | None, list[Problem]]:
    """One pupil from its JSON form, finished at once (for streaming large cohorts).
    Only problems are returned: a withdrawn code is accepted without its warning unless
    ``strict_codes`` refuses it (``read_history_data`` gives the warnings)."""
    reader = Reader(codebook or default_codebook(), strict_codes=strict_codes)
    read_json_pupil(reader, item, name, "/pupils/?")
    if reader.problems or not reader.pupils:
        return None, reader.problems
    return finish_pupil(next(iter(reader.pupils.values())), reader.codebook), []
