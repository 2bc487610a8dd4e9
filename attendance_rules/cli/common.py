"""What the commands share: argument types, the options several commands take, loading a
policy and a history the way every command does, the header naming the policy files, and
the audit run behind both ``audit`` and ``report audit``.

Command modules (``evaluate``, ``replay``, ``audit``, ``assurance``, ``report``) import
this module and never each other; ``app`` imports them all to build the parser.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
from pathlib import Path
from typing import Any, TextIO, cast

from ..exceptions import Location, Problem, UsageError

__all__ = [
    "COMMAND_LINE",
    "MAX_HORIZON_WEEKS",
    "add_audit_options",
    "add_history_options",
    "add_policy_option",
    "add_run_options",
    "add_strict_codes",
    "calendar_of",
    "check_audit_args",
    "check_output",
    "conform_history",
    "date_type",
    "horizon_type",
    "jobs_of",
    "jobs_type",
    "load_history_of",
    "policy_ref",
    "positive_int",
    "run_audit",
    "shown_name",
    "with_policy_files",
]

COMMAND_LINE = Location("<command line>")


def date_type(text: str) -> dt.date:
    """A date argument: ISO, and within the dates the tool works with (calendar.check_date)."""
    from ..registers.calendar import check_date

    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, found {text!r}") from None
    if check_date(day):
        raise argparse.ArgumentTypeError(check_date(day))
    return day


# --horizon: a local bound on the look-ahead, not a policy value. The simulation behind
# it costs time in proportion (about 0.2 s per week on the 300-pupil sample), and more
# than a school year ahead (39 weeks) says nothing the officer can act on.
MAX_HORIZON_WEEKS = 52


def horizon_type(text: str) -> int:
    """``--horizon``: a whole number of school weeks, 0 to MAX_HORIZON_WEEKS."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_HORIZON_WEEKS:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of school weeks from 0 to {MAX_HORIZON_WEEKS}, found {text!r}"
        )
    return value


def positive_int(text: str, what: str = "a whole number") -> int:
    """An argument that is a whole number of at least 1 (``what`` names it in the error)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected {what}, at least 1, found {text!r}")
    return value


def jobs_type(text: str) -> int:
    """``--jobs``: a whole number of processes, at least 1."""
    return positive_int(text, "a whole number of processes")


def add_run_options(p: argparse.ArgumentParser, jobs: bool = True) -> None:
    """``--quiet`` (no progress bar) and, for per-pupil commands, ``--jobs N``."""
    if jobs:
        from ..scale.parallel import default_jobs

        p.add_argument(
            "--jobs",
            type=jobs_type,
            default=None,
            metavar="N",
            help=f"worker processes evaluating pupils; 1 runs in this process "
            f"(default: the machine's cores, os.cpu_count(), here {default_jobs()})",
        )
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar (it is shown on standard error only when that is a terminal)",
    )
    p.add_argument(
        "--reader",
        choices=("auto", "stdlib", "pyarrow"),
        default="auto",
        help="how a CSV history's marks.csv is read: the csv module, pyarrow's multi-threaded "
        "reader (the 'parquet' extra), or auto: pyarrow for a marks.csv of 64 MiB or more when "
        "installed",
    )


def jobs_of(args: argparse.Namespace) -> int:
    """The ``--jobs`` asked for, or the machine's cores."""
    # Imported here, not at the top: the CLI imports later stages only in the command that needs
    # them, so `--help` and quick commands start fast (ARCHITECTURE.md).
    from ..scale.parallel import default_jobs

    return getattr(args, "jobs", None) or default_jobs()


def calendar_of(args: argparse.Namespace) -> Any:
    """The term dates of ``--calendar``, or none (terms inferred from gaps). A path that is
    missing or not a file is a usage error naming it, before anything is read."""
    from ..registers.calendar import Calendar, load_calendar

    name = getattr(args, "calendar", None)
    if not name:
        return Calendar()
    path = Path(name)
    try:
        found = "a directory" if path.is_dir() else "" if path.is_file() else "nothing"
    except OSError as error:  # e.g. a name longer than the system allows
        found = error.strerror or str(error)
    # Checked before anything is read: a mistyped path is a usage error (exit 2) at once, not a
    # failure after a large history has been loaded.
    if found:
        raise UsageError(
            [
                Problem(
                    "--calendar names no readable file",
                    Location(shown_name(name)),
                    found=found,
                    expected="a CSV file with columns name,start,end",
                    example="autumn 1,2023-09-04,2023-10-27",
                )
            ]
        )
    return load_calendar(path)


def shown_name(name: str) -> str:
    """A file name as errors show it: a name of hundreds of characters is cut in the middle."""
    return name if len(name) <= 80 else name[:60] + "…" + name[-15:]


def policy_ref(text: str) -> str:
    """A policy argument: an id becomes the path of the file it resolves to
    (``resources.find_policy``: ATTENDANCE_RULES_POLICY_PATH, ./policies, then bundled), so
    this process and its workers load the same file; unknown ids are left for the loader
    to report."""
    from ..policy.resources import find_policy

    found = find_policy(text)
    return text if found is None else str(found)


def with_policy_files(policy: Any, fmt: str, out: TextIO, label: str = "policy files") -> TextIO:
    """Where to write a table, text or Markdown output so that its header names the files of
    the policy chain (root first, as ``resources.display_path`` shows them): a line under
    the first line (the title). JSON carries them as ``policy.files[].path``; ``jsonl``
    has no header. Flush the stream returned when done."""
    from ..policy.resources import display_path

    if fmt in ("json", "jsonl"):
        return out
    # compiled or effective
    chain = getattr(getattr(policy, "ruleset", None), "policy", policy).chain
    paths = [display_path(p.file) for p in chain]
    if fmt == "markdown":
        lines = "\n" + f"{label.capitalize()}: " + " → ".join(f"`{p}`" for p in paths) + "\n"
    else:
        lines = f"{label}: " + " → ".join(paths) + "\n"
    return cast(TextIO, _UnderTitle(out, lines))  # a text stream in all but name: write and flush


# The renderers know nothing of the command line and write their title first; inserting the
# policy-files line into the stream keeps their output the same for library callers and keeps it
# streaming (only the title is ever held back).
class _UnderTitle(io.TextIOBase):
    """A stream that writes ``lines`` once the first line (the title) has been written."""

    def __init__(self, out: TextIO, lines: str) -> None:
        super().__init__()
        self.out, self.held = out, ""
        self.lines: str | None = lines  # None once written

    def write(self, text: str) -> int:
        """Pass ``text`` on, with ``lines`` inserted after the first newline."""
        if self.lines is None:
            return self.out.write(text)
        title, newline, rest = (self.held + text).partition("\n")
        self.held = title
        if newline:
            self.out.write(title + newline + self.lines + rest)
            self.lines = None
        return len(text)

    def flush(self) -> None:
        """Write a title still held back (an output of one line without a newline)."""
        if self.lines is not None and self.held:
            self.out.write(self.held + "\n" + self.lines)
            self.lines = None
        self.out.flush()


def check_output(name: str) -> None:
    """An output file goes into a folder that exists, and is not itself a folder (usage errors)."""
    path = Path(name)
    try:
        problem = (
            "is a directory"
            if path.is_dir()
            else ""
            if path.parent.is_dir()
            else "its folder does not exist"
        )
    except OSError as error:
        problem = error.strerror or str(error)
    if problem:
        raise UsageError(
            [
                Problem(
                    f"cannot write the output file: {problem}",
                    Location(shown_name(name)),
                    expected="a file name in an existing folder",
                    example="--output handbook.md",
                )
            ]
        )


def add_policy_option(p: argparse.ArgumentParser) -> None:
    """``--policy ID_OR_PATH``: the policy a command evaluates with."""
    p.add_argument(
        "--policy",
        type=policy_ref,
        required=True,
        metavar="ID_OR_PATH",
        help="policy id or policy file",
    )


def add_history_options(p: argparse.ArgumentParser) -> None:
    """How a command reads registers: ``--history FILE…``, ``--strict-codes``, ``--calendar``."""
    p.add_argument(
        "--history",
        nargs="+",
        required=True,
        metavar="FILE",
        help="history JSON, CSV files or directory",
    )
    add_strict_codes(p)
    p.add_argument(
        "--calendar", metavar="CSV", help="term dates (name,start,end); default: inferred from gaps"
    )


def add_strict_codes(p: argparse.ArgumentParser) -> None:
    """``--strict-codes``, beside a command's ``--history``."""
    p.add_argument(
        "--strict-codes",
        action="store_true",
        help="refuse a register code used after its withdrawal (F, H, J or Y from 19 August 2024, "
        "F from September 2013) rather than count it as DfE's statistics do, with a warning",
    )


def load_history_of(args: argparse.Namespace) -> Any:
    """The history of ``--history``, read with the command's ``--reader`` and ``--strict-codes``."""
    from ..registers.readers import load_history

    return load_history(
        args.history,
        engine=getattr(args, "reader", "auto"),
        strict_codes=getattr(args, "strict_codes", False),
    )


def conform_history(policy: Any, history: Any, args: argparse.Namespace, warn: bool = True) -> Any:
    """The history checked against the policy (``InputError`` on errors), as of ``--as-of``
    when the command has one; warnings go to stderr (unless ``warn`` is False)."""
    import sys

    from ..policy.conformance import conform

    checked = conform(history, policy.ruleset.policy, getattr(args, "as_of", None))
    err = getattr(args, "err", None) or sys.stderr
    for warning in checked.warnings if warn else ():
        print(warning, file=err)
    return checked


def add_audit_options(p: argparse.ArgumentParser) -> None:
    """The options that choose what is audited: ``--from``/``--to``, ``--pupil``, ``--scan``,
    ``--default-due``."""

    p.add_argument(
        "--from",
        dest="start",
        type=date_type,
        metavar="YYYY-MM-DD",
        help="first date audited (default: the first date of the data)",
    )
    p.add_argument(
        "--to",
        dest="end",
        type=date_type,
        metavar="YYYY-MM-DD",
        help="last date audited (default: the last date of the data)",
    )
    p.add_argument(
        "--pupil", action="append", metavar="ID", help="only this pupil (repeat for more)"
    )
    p.add_argument(
        "--scan",
        choices=("week", "day"),
        default="week",
        help="when to look for new recommendations: each school week's last day and every event "
        "date, narrowed to the day (default), or every school day (slower)",
    )
    p.add_argument(
        "--default-due",
        type=int,
        default=20,
        metavar="SCHOOL_DAYS",
        help="school days allowed for a step the policy gives no due date (default 20)",
    )


def check_audit_args(args: argparse.Namespace) -> None:
    """Refuse (``UsageError``) a ``--from`` after ``--to`` or a negative ``--default-due``."""
    from ..exceptions import Problem, UsageError

    if args.start and args.end and args.start > args.end:
        raise UsageError(
            [Problem(f"--from {args.start.isoformat()} is after --to {args.end.isoformat()}")]
        )
    if args.default_due < 0:
        raise UsageError(
            [Problem("--default-due must be 0 or more school days", found=str(args.default_due))]
        )


def run_audit(policy: Any, history: Any, args: argparse.Namespace) -> Any:
    """The ``AuditReport`` of ``history`` under ``policy`` with the options of ``add_audit_options``
    (pupils over ``--jobs`` processes, findings merged in pupil order)."""
    from contextlib import closing

    import attrs

    from ..replay.audit import audit_report, audit_scope
    from ..replay.completions import completions
    from ..scale.parallel import PupilTask, map_pupils
    from ..scale.progress import progress

    check_audit_args(args)
    school = conform_history(policy, history, args).school
    pupils, scope = audit_scope(
        history, args.start, args.end, args.pupil, args.scan, args.default_due
    )
    scope = attrs.evolve(scope, school=school)
    task = PupilTask(_setup_audit, _audit_one, (args.policy, policy.calendar, scope))
    with closing(
        map_pupils(task, pupils, jobs_of(args), state=(policy, completions(policy.ruleset), scope))
    ) as results:
        return audit_report(
            policy,
            history,
            scope,
            len(pupils),
            progress(results, len(pupils), "audit", args.progress),
        )


def _setup_audit(ref: str, calendar: Any, scope: Any) -> tuple[Any, Any, Any]:
    """A worker's state for ``audit``: the policy, which events complete which actions, the
    scope."""
    from ..engine.compiled import load_policy
    from ..replay.completions import completions

    policy = load_policy(ref, calendar=calendar)
    return policy, completions(policy.ruleset), scope


def _audit_one(state: tuple[Any, Any, Any], pupil: Any) -> Any:
    """One pupil's findings and counts."""
    from ..replay.audit import audit_pupil

    policy, links, scope = state
    return audit_pupil(policy, links, pupil, scope)
