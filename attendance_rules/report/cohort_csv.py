"""The pack's four lists as CSV files for spreadsheets, equal to the page and guarded against
formula injection (``csv_files``).
"""

from __future__ import annotations

import csv
import io
from typing import Any, Iterable, Sequence

from .cohort_lists import PART_TIME_CODES, CohortPack, PackRow, percent_number, points_shown

__all__ = ["CSV_FILES", "csv_files"]

CSV_FILES = (
    "at_risk.csv",
    "part_time_candidates.csv",
    "persistent_absence.csv",
    "severe_absence.csv",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _defused(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula (``=…``, ``+…``, ``-…``, ``@…``, or
    a tab or carriage return first) gets a leading apostrophe; numbers are left alone."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _year(value: int | None) -> Any:
    return "" if value is None else value


def _level_columns(row: PackRow) -> list[Any]:
    return [
        row.pupil_id,
        _year(row.year_group),
        percent_number(row.attendance),
        row.possible,
        row.absent,
        row.unauthorised,
        percent_number(row.this_term),
        percent_number(row.last_term),
        "" if row.trend is None else points_shown(row.trend),
    ]


_LEVEL_HEAD = [
    "pupil_id",
    "year_group",
    "attendance_year_pct",
    "possible_sessions",
    "absent_sessions",
    "unauthorised_sessions",
    "attendance_this_term_pct",
    "attendance_last_term_pct",
    "trend_points",
]


def _csv_text(header: list[str], rows: Iterable[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([_defused(cell) for cell in row] for row in rows)
    return buffer.getvalue()


def csv_files(pack: CohortPack) -> dict[str, str]:
    """The four lists as CSV text by file name: a header row, then one row per pupil in the
    page's order. Percentages are numbers with one decimal (``87.5``), lists of stages and
    actions are ids separated by ``; ``.

    Guard against CSV formula injection: pupil ids and other text come from registers and a
    spreadsheet would run a cell starting with ``=``, ``+``, ``-`` or ``@`` (or a tab or
    carriage return) as a formula, so such a text cell is written with a leading apostrophe
    (``'=cmd``), which spreadsheets show as text. Numbers (a negative trend) are not changed.
    """

    def level(rows: Sequence[PackRow]) -> str:
        return _csv_text(
            _LEVEL_HEAD + ["stages", "rag", "recommended_actions"],
            (
                _level_columns(r) + ["; ".join(r.stages), r.rag, "; ".join(a for a, _ in r.actions)]
                for r in rows
            ),
        )

    return {
        "persistent_absence.csv": level(pack.persistent),
        "severe_absence.csv": level(pack.severe),
        "at_risk.csv": _csv_text(
            _LEVEL_HEAD + ["sessions_to_persistent_absence", "earliest_date", "rule"],
            (
                _level_columns(r.row) + [r.sessions, r.reached_on.isoformat(), r.rule]
                for r in pack.at_risk
            ),
        ),
        "part_time_candidates.csv": _csv_text(
            _LEVEL_HEAD
            + ["part_time_timetable_flag"]
            + [f"{c}_sessions_this_term" for c in PART_TIME_CODES]
            + ["c_c2_i_sessions_this_term", "priority_actions"],
            (
                _level_columns(r.row)
                + ["yes" if r.flagged else "no"]
                + [n for _, n in r.counts]
                + [r.total, "; ".join(a for a, _ in r.priority)]
                for r in pack.part_time
            ),
        ),
    }
