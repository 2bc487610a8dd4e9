"""The termly targeting-support-meeting pack: a folder an attendance officer brings to the meeting.

Halton and Hillingdon hold a termly meeting with each school about its persistently and
severely absent pupils and those at risk of becoming so; Halton's officers also give
priority to pupils on part-time timetables whose registers show many C and I codes
(../shared/sources/README.md). ``write_cohort_pack`` evaluates every pupil (over
``--jobs`` worker processes, as ``attendance-rules cohort`` does) and writes:

- ``index.html``: provenance, counts per stage and per action, a histogram of this
  year's attendance with the persistent and severe absence levels, and four lists —
  persistent absence, severe absence, at risk within the horizon, part-time timetable
  candidates — each pupil linking to a page of their own;
- ``pupils/<file>.html``: ``report.pupil.pupil_report`` for every pupil in a list
  (skipped while that module is not installed; the links are written anyway);
- the four lists as CSV files for spreadsheets (see ``csv_files`` on formula injection).

The lists and their rows are built in ``cohort_lists.py``, the CSV files in ``cohort_csv.py``.

The lists are the cohort view's (``attendance_rules.replay.cohort``: pupils with the facts
``persistent_absence`` and ``severe_absence``), the at-risk list is the ``at_risk``
distances to the persistent-absence threshold, and terms are the policy's calendar
(``--calendar``, or inferred from gaps). Nothing here sets a threshold of its own.
"""

from __future__ import annotations

import datetime as dt
from contextlib import closing
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence, TextIO
from urllib.parse import urlsplit

from ..exceptions import Problem
from ..registers.history import History, Pupil, School
from ..text import long_date
from .cohort_csv import csv_files
from .cohort_lists import BIN_POINTS, CohortPack, cohort_pack
from .html import pupil_file_name, render

if TYPE_CHECKING:
    from ..engine.compiled import CompiledPolicy

__all__ = ["index_html", "pupil_handbook", "write_cohort_pack"]

BACK_LINK = (
    '<p class="back"><a href="../index.html">Back to the targeting support meeting pack</a></p>\n'
)


# --- HTML -------------------------------------------------------------------------------


def pupil_handbook(handbook: str) -> str:
    """The handbook address as seen from ``pupils/``: ``../`` before a relative path, an
    address with a scheme (``https://…``) or an absolute path unchanged."""
    if urlsplit(handbook).scheme or handbook.startswith(("/", "\\")):
        return handbook
    return "../" + handbook


def _chart(pack: CohortPack) -> Any:
    """The histogram of this year's attendance, with the persistent and severe absence lines."""
    from matplotlib.ticker import MaxNLocator

    from .charts import figure, svg

    fig = figure(7.5, 3.2)
    ax = fig.add_subplot()
    bars = ax.bar(
        [low for low, _, _ in pack.bins],
        [n for _, _, n in pack.bins],
        width=BIN_POINTS,
        align="edge",
        color="#1d70b8",
        edgecolor="#ffffff",
        linewidth=0.6,
    )
    # counts over the bars: a band of one or two pupils is otherwise invisible beside a band of 180
    ax.bar_label(bars, labels=[str(n) if n else "" for _, _, n in pack.bins], padding=2, fontsize=8)
    pa_line, sa_line = _level_percent(pack.persistent_level), _level_percent(pack.severe_level)
    ax.axvline(
        pa_line,
        color="#b35900",
        linestyle="--",
        linewidth=1.5,
        label=f"persistent absence: {_num(pa_line)}% attendance or less",
    )
    ax.axvline(
        sa_line,
        color="#d4351c",
        linestyle=":",
        linewidth=1.8,
        label=f"severe absence: {_num(sa_line)}% attendance or less",
    )
    ax.set_xlim(0, 100)
    ax.set_xticks(range(0, 101, 10))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("Attendance this academic year to date (%)")
    ax.set_ylabel("Pupils")
    ax.margins(y=0.12)
    ax.legend(loc="upper left", frameon=True, framealpha=1, edgecolor="none")
    title = (
        f"Pupils by attendance this academic year to "
        f"{long_date(pack.view.as_of)}, "
        f"in bands of {BIN_POINTS} points, with the persistent and severe absence levels"
    )
    return svg(fig, "attendance-histogram", title, "attendance-bins")


def _level_percent(absence: Fraction) -> Fraction:
    """The attendance (percent) at or below which an absence rate is reached."""
    return 100 - absence * 100


def _num(value: Fraction) -> str:
    """A level as written in labels: ``90`` or ``87.5``."""
    return str(value.numerator) if value.denominator == 1 else f"{float(value):g}"


def index_html(pack: CohortPack, *, handbook: str) -> str:
    """The pack's ``index.html`` (the chart needs matplotlib)."""
    from .. import __version__

    view = pack.view
    rag_used = {
        name: any(r.rag for r in rows)
        for name, rows in (
            ("persistent", pack.persistent),
            ("severe", pack.severe),
            ("at_risk", [r.row for r in pack.at_risk]),
            ("part_time", [r.row for r in pack.part_time]),
        )
    }
    return render(
        "cohort.html.j2",
        pack=pack,
        view=view,
        handbook=handbook,
        library_version=__version__,
        chart=_chart(pack),
        rag_used=rag_used,
        pupil_dir="pupils/",
        pa_line=_num(_level_percent(pack.persistent_level)),
        sa_line=_num(_level_percent(pack.severe_level)),
        policy_files=[f["path"] for f in view.provenance.policy.get("files", [])],
    )


# --- pupil pages ------------------------------------------------------------------------


def _pupil_report_function() -> Callable[..., str] | None:
    """``report.pupil.pupil_report``, or None while that module is not installed."""
    try:
        from .pupil import pupil_report
    except ModuleNotFoundError as error:
        if error.name != f"{__package__}.pupil":
            raise  # the module exists but something it needs is missing: a real error
        return None
    return pupil_report


def _setup_pages(ref: str, calendar: Any, backend: str, extra: tuple) -> tuple[Any, tuple]:
    """A worker's state for pupil pages: the policy compiled once per process, and the options."""
    from ..scale.tasks import setup_policy

    return setup_policy(ref, calendar, backend, extra)


def _pupil_page(state: tuple[Any, tuple], pupil: Pupil) -> str:
    """One pupil's page with a link back to the pack."""
    policy, (as_of, school, handbook, horizon, warnings) = state
    report = _pupil_report_function()
    assert report is not None, "pupil pages are only asked for when report.pupil exists"
    page = report(
        policy,
        pupil,
        as_of,
        school=school,
        handbook=handbook,
        horizon=horizon,
        start=None,
        warnings=warnings,
    )
    return _with_back_link(page)


def _with_back_link(page: str) -> str:
    """The page with a link back to ``../index.html`` at the top of its main content."""
    marker = '<main id="main">\n'
    return page.replace(marker, marker + BACK_LINK, 1) if marker in page else page


def _pupil_pages(
    policy: CompiledPolicy,
    ref: str,
    pupils: Sequence[Pupil],
    as_of: dt.date,
    *,
    school: School,
    handbook: str,
    horizon: int,
    jobs: int,
    progress: TextIO | None,
    warnings: tuple[Problem, ...],
) -> Iterable[tuple[str, str]]:
    """(pupil id, page) for each of ``pupils``, rendered over ``jobs`` processes."""
    from ..scale.parallel import PupilTask, map_pupils
    from ..scale.progress import progress as bar

    extra = (as_of, school, pupil_handbook(handbook), horizon, tuple(warnings))
    task = PupilTask(_setup_pages, _pupil_page, (ref, policy.calendar, policy.backend, extra))
    with closing(map_pupils(task, pupils, jobs, state=(policy, extra))) as pages:
        yield from zip(
            (p.id for p in pupils), bar(pages, len(pupils), "pupil pages", progress, unit="page")
        )


# --- the folder -------------------------------------------------------------------------


def _write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))  # bytes: the same line ends on every platform
    return path


def write_cohort_pack(
    policy: CompiledPolicy,
    ref: str,
    history: History,
    as_of: dt.date,
    folder: Path,
    *,
    school: School,
    handbook: str,
    horizon: int,
    jobs: int,
    progress: TextIO | None,
    warnings: tuple[Problem, ...],
) -> list[Path]:
    """Write the targeting-support-meeting pack into ``folder`` (which exists): ``index.html``,
    the four CSV lists and, when ``report.pupil`` is installed, ``pupils/<id>.html`` for every
    listed pupil. ``ref`` is the policy file worker processes load; ``horizon`` the school
    weeks of the at-risk list (0: none). Returns the paths written, sorted."""
    pack = cohort_pack(
        policy,
        ref,
        history,
        as_of,
        school=school,
        horizon=horizon,
        jobs=jobs,
        progress=progress,
        warnings=warnings,
    )
    written = [_write(folder / "index.html", index_html(pack, handbook=handbook))]
    written += [_write(folder / name, text) for name, text in csv_files(pack).items()]
    if _pupil_report_function() is not None:
        listed = set(pack.listed())
        chosen = [p for p in history if p.id in listed]
        (folder / "pupils").mkdir(exist_ok=True)
        written += [
            _write(folder / "pupils" / pupil_file_name(pupil_id), page)
            for pupil_id, page in _pupil_pages(
                policy,
                ref,
                chosen,
                as_of,
                school=school,
                handbook=handbook,
                horizon=horizon,
                jobs=jobs,
                progress=progress,
                warnings=warnings,
            )
        ]
    return sorted(written)
