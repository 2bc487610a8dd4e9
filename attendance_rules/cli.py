"""The ``attendance-rules`` command line.

Exit status: 0 success; 1 the input is invalid (a policy, history or case fails) or an
expectation is not met; 2 usage errors (bad arguments, missing files); 130 interrupted
(Ctrl-C: one line on standard error, worker processes stopped). Problems are printed as
``file:line:col: error: …``; the CLI never shows a traceback for bad input.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any, Callable, Sequence, TextIO

from . import __version__
from .exceptions import AttendanceRulesError, Problem, UsageError

__all__ = ["add_run_options", "jobs_of", "main"]

MAX_PROBLEMS_SHOWN = 50


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, found {text!r}") from None


def _jobs(text: str) -> int:
    """``--jobs``: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of processes, at least 1, found {text!r}")
    return value


def add_run_options(p: argparse.ArgumentParser, jobs: bool = True) -> None:
    """``--quiet`` (no progress bar) and, for per-pupil commands, ``--jobs N``."""
    if jobs:
        from .parallel import default_jobs

        p.add_argument("--jobs", type=_jobs, default=None, metavar="N",
                       help=f"worker processes evaluating pupils; 1 runs in this process "
                            f"(default: the machine's cores, os.cpu_count(), here {default_jobs()})")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar (it is shown on standard error only when that is a terminal)")
    p.add_argument("--reader", choices=("auto", "stdlib", "pyarrow"), default="auto",
                   help="how a CSV history's marks.csv is read: the csv module, pyarrow's multi-threaded reader "
                        "(the 'parquet' extra), or auto: pyarrow for a marks.csv of 64 MiB or more when installed")


def jobs_of(args: argparse.Namespace) -> int:
    """The ``--jobs`` asked for, or the machine's cores."""
    from .parallel import default_jobs

    return getattr(args, "jobs", None) or default_jobs()


def _print_problems(problems: Sequence[Problem], out: TextIO) -> None:
    for problem in problems[:MAX_PROBLEMS_SHOWN]:
        print(problem, file=out)
    if len(problems) > MAX_PROBLEMS_SHOWN:
        print(f"… and {len(problems) - MAX_PROBLEMS_SHOWN} more problem(s)", file=out)


def _dump_json(data: Any, out: TextIO) -> None:
    json.dump(data, out, indent=2, sort_keys=False, ensure_ascii=False)
    out.write("\n")


# --- measures -------------------------------------------------------------------------


def _cmd_measures(args: argparse.Namespace, out: TextIO) -> int:
    from .calendar import Calendar, load_calendar
    from .measures import standard_measures
    from .readers import load_history

    history = load_history(args.history, strict_codes=args.strict_codes)
    calendar = load_calendar(args.calendar) if args.calendar else Calendar()
    pupils = [history.pupil(args.pupil)] if args.pupil else list(history)
    rows = [{"pupil_id": p.id, **standard_measures(p, args.as_of, calendar)} for p in pupils]
    if args.format == "json":
        _dump_json({"as_of": args.as_of.isoformat(), "history_digest": history.digest, "pupils": rows}, out)
    else:
        _measures_table(rows, out)
    return 0


_TABLE_COLUMNS = (
    ("pupil_id", "pupil", 8), ("possible_sessions", "possible", 8), ("attended_sessions", "attended", 8),
    ("authorised_sessions", "auth", 5), ("unauthorised_sessions", "unauth", 6),
    ("unauthorised_sessions_last_10_school_weeks", "unauth 10w", 10), ("attendance_rate", "attendance", 10),
    ("persistent_absence", "PA", 3), ("severe_absence", "SA", 3), ("late_before_close", "L", 3),
    ("late_after_close", "U", 3),
)


def _cell(value: Any, key: str) -> str:
    if isinstance(value, bool):
        return "yes" if value else "-"
    if key == "attendance_rate":
        return "n/a" if value is None else f"{value * 100:.1f}%"
    return str(value)


def _measures_table(rows: list[dict], out: TextIO) -> None:
    print("  ".join(title.ljust(width) for _, title, width in _TABLE_COLUMNS).rstrip(), file=out)
    for row in rows:
        print("  ".join(_cell(row[key], key).ljust(width) for key, _, width in _TABLE_COLUMNS).rstrip(), file=out)


# --- validate and policy --------------------------------------------------------------


def _cmd_validate(args: argparse.Namespace, out: TextIO) -> int:
    from .checks import validate_paths

    problems = validate_paths(args.paths, today=args.today)
    _print_problems(problems, out)
    errors = sum(p.is_error for p in problems)
    warnings = len(problems) - errors
    status = "invalid" if errors else "valid"
    print(f"{len(args.paths)} file(s) {status}: {errors} error(s), {warnings} warning(s)", file=out)
    missing = any(p.message.startswith("no policy ") for p in problems)
    return 2 if missing else 1 if errors else 0


def _cmd_policy_show(args: argparse.Namespace, out: TextIO) -> int:
    from .layers import load_policy_files
    from .show import show_policy

    out.write(show_policy(load_policy_files(args.policy), as_json=args.format == "json"))
    return 0


def _cmd_policy_doc(args: argparse.Namespace, out: TextIO) -> int:
    from .handbook import render_handbook
    from .layers import load_policy_files

    text = render_handbook(load_policy_files(args.policy))
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        out.write(text)
    return 0


# --- parser ---------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="attendance-rules",
        description="School-attendance policies as executable, auditable rules.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("measures", help="attendance measures of each pupil as of a date")
    p.add_argument("--history", nargs="+", required=True, metavar="FILE", help="history JSON, CSV files or directory")
    from .cli_eval import add_strict_codes

    add_strict_codes(p)
    p.add_argument("--as-of", required=True, type=_date, metavar="YYYY-MM-DD")
    p.add_argument("--pupil", metavar="ID", help="only this pupil")
    p.add_argument("--calendar", metavar="CSV", help="term dates (name,start,end); default: inferred from gaps")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(run=_cmd_measures)

    p = sub.add_parser("validate", help="check policy files (schema, names, citations, layering)")
    p.add_argument("paths", nargs="+", metavar="POLICY", help="policy files or bundled policy ids")
    p.add_argument("--today", type=_date, default=None, metavar="YYYY-MM-DD",
                   help="date for review_due warnings (default: today)")
    p.set_defaults(run=_cmd_validate)

    p = sub.add_parser("policy", help="show or document an effective policy")
    psub = p.add_subparsers(dest="policy_command", metavar="SUBCOMMAND")
    psub.required = True
    show = psub.add_parser("show", help="the effective policy with the origin of every entry")
    show.add_argument("policy", metavar="POLICY", help="bundled policy id or file path")
    show.add_argument("--format", choices=("text", "json"), default="text")
    show.set_defaults(run=_cmd_policy_show)
    doc = psub.add_parser("doc", help="the effective policy as a Markdown handbook")
    doc.add_argument("policy", metavar="POLICY", help="bundled policy id or file path")
    doc.add_argument("--output", metavar="FILE", help="write to FILE instead of standard output")
    doc.set_defaults(run=_cmd_policy_doc)
    _add_later_commands(sub, psub)
    return parser


def _add_later_commands(sub: Any, psub: Any) -> None:
    """Commands that need the engine live in their own modules (cli_eval, cli_replay …)."""
    from . import cli_assurance, cli_audit, cli_eval, cli_replay

    cli_eval.register(sub, psub)
    for module in (cli_replay, cli_audit, cli_assurance):
        module.register(sub)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the command line; returns the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        return _main(argv, out, err)
    except KeyboardInterrupt:
        print("attendance-rules: interrupted", file=err)
        return EXIT_INTERRUPTED


EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a command stopped by Ctrl-C


def _main(argv: Sequence[str] | None, out: TextIO, err: TextIO) -> int:
    """Parse the arguments and run the command, turning library errors into exit statuses."""
    from .progress import progress_stream

    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # argparse printed the usage message already
        return int(stop.code or 0)
    args.progress = progress_stream(err, getattr(args, "quiet", False))
    run: Callable[[argparse.Namespace, TextIO], int] = args.run
    from .readers import warnings_to

    try:
        with warnings_to(err):  # a history's warnings (unknown column, file not given …) on stderr
            return run(args, out)
    except UsageError as error:
        _print_problems(error.problems, err)
        return 2
    except AttendanceRulesError as error:
        _print_problems(error.problems, err)
        return 2 if _is_missing_file(error) else 1
    except KeyError as error:
        print(f"error: {error.args[0]}", file=err)
        return 2
    except BrokenPipeError:  # e.g. piped into `head`
        return 0


def _is_missing_file(error: AttendanceRulesError) -> bool:
    """A file or policy named on the command line does not exist: a usage error (status 2)."""
    texts = ("not found", "cannot read", "no policy")
    return all(any(t in p.message for t in texts) for p in error.problems)
