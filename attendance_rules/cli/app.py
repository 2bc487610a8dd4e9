"""The ``attendance-rules`` command line.

Exit status: 0 success; 1 the input is invalid (a policy, history or case fails) or an
expectation is not met; 2 usage errors (bad arguments, missing files); 3 an internal
error, i.e. a bug (one line saying so; the traceback only with ``--debug``); 130
interrupted (Ctrl-C: one line on standard error, worker processes stopped). Problems are
printed as ``file:line:col: error: …``; the CLI never shows a traceback for bad input.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, Sequence, TextIO, cast

from .. import __version__
from ..exceptions import AttendanceRulesError, Location, Problem, UsageError

__all__ = ["EXIT_INTERNAL", "EXIT_INTERRUPTED", "add_run_options", "calendar_of", "jobs_of", "main", "policy_ref",
           "with_policy_files"]

MAX_PROBLEMS_SHOWN = 50
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a command stopped by Ctrl-C
EXIT_INTERNAL = 3  # a bug: neither the input nor the command line is at fault
COMMAND_LINE = Location("<command line>")


def _date(text: str) -> dt.date:
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


def _horizon(text: str) -> int:
    """``--horizon``: a whole number of school weeks, 0 to MAX_HORIZON_WEEKS."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_HORIZON_WEEKS:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of school weeks from 0 to {MAX_HORIZON_WEEKS}, found {text!r}")
    return value


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
        from ..scale.parallel import default_jobs

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
    if found:
        raise UsageError([Problem("--calendar names no readable file", Location(_shown(name)), found=found,
                                  expected="a CSV file with columns name,start,end",
                                  example="autumn 1,2023-09-04,2023-10-27")])
    return load_calendar(path)


def _shown(name: str) -> str:
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
    chain = getattr(getattr(policy, "ruleset", None), "policy", policy).chain  # compiled or effective
    paths = [display_path(p.file) for p in chain]
    if fmt == "markdown":
        lines = "\n" + f"{label.capitalize()}: " + " → ".join(f"`{p}`" for p in paths) + "\n"
    else:
        lines = f"{label}: " + " → ".join(paths) + "\n"
    return cast(TextIO, _UnderTitle(out, lines))  # a text stream in all but name: write and flush


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
    from ..registers.measures import standard_measures
    from ..registers.readers import load_history

    history = load_history(args.history, strict_codes=args.strict_codes)
    calendar = calendar_of(args)
    pupils = [history.pupil(args.pupil)] if args.pupil else list(history)
    rows = [{"pupil_id": p.id, **standard_measures(p, args.as_of, calendar)} for p in pupils]
    if args.format == "json":
        from ..registers.canonical import history_digest

        _dump_json({"as_of": args.as_of.isoformat(), "history_digest": history_digest(history), "pupils": rows}, out)
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
    from ..assurance.checks import validate_paths

    problems = validate_paths(args.paths, today=args.today)
    _print_problems(problems, out)
    errors = sum(p.is_error for p in problems)
    warnings = len(problems) - errors
    status = "invalid" if errors else "valid"
    print(f"{len(args.paths)} file(s) {status}: {errors} error(s), {warnings} warning(s)", file=out)
    missing = any(p.message.startswith("no policy ") for p in problems)
    return 2 if missing else 1 if errors else 0


def _cmd_policy_show(args: argparse.Namespace, out: TextIO) -> int:
    from ..policy.layers import load_policy_files
    from ..policy.show import show_policy

    # its header already gives the chain with each file's path ("chain: england (policies/england.yaml) …")
    out.write(show_policy(load_policy_files(args.policy), as_json=args.format == "json"))
    return 0


def _cmd_policy_doc(args: argparse.Namespace, out: TextIO) -> int:
    from ..policy.handbook import render_handbook
    from ..policy.layers import load_policy_files

    if args.output:
        _check_output(args.output)
    policy = load_policy_files(args.policy)
    if args.format == "html":
        from ..report.handbook import handbook_html

        text = handbook_html(policy)  # names the policy files in its own header
    else:
        buffer = io.StringIO()
        titled = with_policy_files(policy, "markdown", buffer)
        titled.write(render_handbook(policy))
        titled.flush()
        text = buffer.getvalue()
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        out.write(text)
    return 0


def _check_output(name: str) -> None:
    """An output file goes into a folder that exists, and is not itself a folder (usage errors)."""
    path = Path(name)
    try:
        problem = "is a directory" if path.is_dir() else "" if path.parent.is_dir() else "its folder does not exist"
    except OSError as error:
        problem = error.strerror or str(error)
    if problem:
        raise UsageError([Problem(f"cannot write the output file: {problem}", Location(_shown(name)),
                                  expected="a file name in an existing folder", example="--output handbook.md")])


# --- parser ---------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="attendance-rules",
        description="School-attendance policies as executable, auditable rules.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="on an internal error (exit status 3), also print the Python traceback")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("measures", help="attendance measures of each pupil as of a date")
    p.add_argument("--history", nargs="+", required=True, metavar="FILE", help="history JSON, CSV files or directory")
    from .evaluate import add_strict_codes

    add_strict_codes(p)
    p.add_argument("--as-of", required=True, type=_date, metavar="YYYY-MM-DD")
    p.add_argument("--pupil", metavar="ID", help="only this pupil")
    p.add_argument("--calendar", metavar="CSV", help="term dates (name,start,end); default: inferred from gaps")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(run=_cmd_measures)

    p = sub.add_parser("validate", help="check policy files (schema, names, citations, layering)")
    p.add_argument("paths", nargs="+", type=policy_ref, metavar="POLICY", help="policy files or policy ids")
    p.add_argument("--today", type=_date, default=None, metavar="YYYY-MM-DD",
                   help="date for review_due warnings (default: today)")
    p.set_defaults(run=_cmd_validate)

    p = sub.add_parser("policy", help="show or document an effective policy")
    psub = p.add_subparsers(dest="policy_command", metavar="SUBCOMMAND")
    psub.required = True
    show = psub.add_parser("show", help="the effective policy with the origin of every entry")
    show.add_argument("policy", type=policy_ref, metavar="POLICY", help="policy id or file path")
    show.add_argument("--format", choices=("text", "json"), default="text")
    show.set_defaults(run=_cmd_policy_show)
    doc = psub.add_parser("doc", help="the effective policy as a handbook (Markdown, or HTML with an anchor "
                                      "per rule, parameter, action and measure)")
    doc.add_argument("policy", type=policy_ref, metavar="POLICY", help="policy id or file path")
    doc.add_argument("--format", choices=("markdown", "html"), default="markdown")
    doc.add_argument("--output", metavar="FILE", help="write to FILE instead of standard output")
    doc.set_defaults(run=_cmd_policy_doc)
    _add_later_commands(sub, psub)
    return parser


def _add_later_commands(sub: Any, psub: Any) -> None:
    """Commands that need the engine live in their own modules (cli_eval, cli_replay …)."""
    from . import assurance as cli_assurance, audit as cli_audit, evaluate as cli_eval, replay as cli_replay, report as cli_report

    cli_eval.register(sub, psub)
    for module in (cli_replay, cli_audit, cli_assurance, cli_report):
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


def _main(argv: Sequence[str] | None, out: TextIO, err: TextIO) -> int:
    """Parse the arguments and run the command; anything unexpected is reported as a bug."""
    from ..scale.progress import progress_stream

    parser = _parser()
    try:  # argparse prints usage, --help and --version itself: to the streams given to main
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            args = parser.parse_args(argv)
    except SystemExit as stop:  # argparse printed the usage message already
        return int(stop.code or 0)
    args.progress = progress_stream(err, getattr(args, "quiet", False))
    try:
        return _run(args, out, err)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # noqa: BLE001 - the last line of defence: a bug, said once
        return _internal_error(error, args.debug, err)


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run the command, turning the library's errors into exit statuses (1 input, 2 usage)."""
    run: Callable[[argparse.Namespace, TextIO], int] = args.run
    from ..registers.readers import warnings_to

    args.err = err  # where commands print warnings (the history checked against the policy …)
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
        if not _is_deliberate(error):
            raise
        print(Problem(error.args[0], COMMAND_LINE), file=err)
        return 2
    except BrokenPipeError:  # e.g. piped into `head`
        return 0
    except OSError as error:
        if not error.filename:
            raise
        print(_file_problem(error), file=err)
        return 2


def _is_deliberate(error: KeyError) -> bool:
    """The library's own "no pupil 'X'" / "no action 'Y'" lookups, not a bug's missing key."""
    text = error.args[0] if error.args else None
    return isinstance(text, str) and text.startswith(("no ", "unknown "))


def _file_problem(error: OSError) -> Problem:
    """A file named on the command line that cannot be read or written, located at the file."""
    name = str(error.filename)
    return Problem(f"cannot use this file: {error.strerror or error}", Location(_shown(name)),
                   expected="an existing file (or directory) that can be read, or a folder that exists for output")


def _internal_error(error: BaseException, debug: bool, err: TextIO) -> int:
    """A bug: one line saying so and where (the traceback only with --debug); exit status 3."""
    frames = traceback.extract_tb(error.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name})" if frames else ""
    summary = f"{type(error).__name__}: {error}".splitlines()[0][:300] if str(error) else type(error).__name__
    if debug:
        traceback.print_exception(type(error), error, error.__traceback__, file=err)
    print(f"attendance-rules: internal error, please report: {summary}{where}", file=err)
    if not debug:
        print("attendance-rules: run again with --debug (before the command) to see the traceback", file=err)
    return EXIT_INTERNAL


def _is_missing_file(error: AttendanceRulesError) -> bool:
    """A file or policy named on the command line does not exist: a usage error (status 2)."""
    texts = ("not found", "cannot read", "no policy")
    return all(any(t in p.message for t in texts) for p in error.problems)
