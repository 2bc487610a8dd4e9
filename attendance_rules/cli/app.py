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
import io
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, Sequence, TextIO

import attrs

from .. import __version__
from ..exceptions import AttendanceRulesError, Location, NotFoundError, Problem, UsageError
from ..jsonform import dumps
from .common import (
    COMMAND_LINE,
    add_history_options,
    calendar_of,
    check_output,
    date_type,
    policy_ref,
    shown_name,
    with_policy_files,
)

__all__ = ["EXIT_INTERNAL", "EXIT_INTERRUPTED", "main"]

MAX_PROBLEMS_SHOWN = 50
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a command stopped by Ctrl-C
EXIT_INTERNAL = 3  # a bug: neither the input nor the command line is at fault


def _print_problems(problems: Sequence[Problem], out: TextIO) -> None:
    for problem in problems[:MAX_PROBLEMS_SHOWN]:
        print(problem, file=out)
    if len(problems) > MAX_PROBLEMS_SHOWN:
        print(f"… and {len(problems) - MAX_PROBLEMS_SHOWN} more problem(s)", file=out)


def _dump_json(data: Any, out: TextIO) -> None:
    out.write(dumps(data))


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

        _dump_json(
            {
                "as_of": args.as_of.isoformat(),
                "history_digest": history_digest(history),
                "pupils": rows,
            },
            out,
        )
    else:
        _measures_table(rows, out)
    return 0


_TABLE_COLUMNS = (
    ("pupil_id", "pupil", 8),
    ("possible_sessions", "possible", 8),
    ("attended_sessions", "attended", 8),
    ("authorised_sessions", "auth", 5),
    ("unauthorised_sessions", "unauth", 6),
    ("unauthorised_sessions_last_10_school_weeks", "unauth 10w", 10),
    ("attendance_rate", "attendance", 10),
    ("persistent_absence", "PA", 3),
    ("severe_absence", "SA", 3),
    ("late_before_close", "L", 3),
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
        print(
            "  ".join(
                _cell(row[key], key).ljust(width) for key, _, width in _TABLE_COLUMNS
            ).rstrip(),
            file=out,
        )


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

    # its header already gives the chain with each file's path ("chain: england
    # (policies/england.yaml) …")
    out.write(show_policy(load_policy_files(args.policy), as_json=args.format == "json"))
    return 0


def _cmd_policy_doc(args: argparse.Namespace, out: TextIO) -> int:
    from ..policy.handbook import render_handbook
    from ..policy.layers import load_policy_files

    if args.output:
        check_output(args.output)
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


# --- parser ---------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="attendance-rules",
        description="School-attendance policies as executable, auditable rules.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="on an internal error (exit status 3), also print the Python traceback",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("measures", help="attendance measures of each pupil as of a date")
    add_history_options(p)
    p.add_argument("--as-of", required=True, type=date_type, metavar="YYYY-MM-DD")
    p.add_argument("--pupil", metavar="ID", help="only this pupil")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(run=_cmd_measures)

    p = sub.add_parser("validate", help="check policy files (schema, names, citations, layering)")
    p.add_argument(
        "paths", nargs="+", type=policy_ref, metavar="POLICY", help="policy files or policy ids"
    )
    p.add_argument(
        "--today",
        type=date_type,
        default=None,
        metavar="YYYY-MM-DD",
        help="date for review_due warnings (default: today)",
    )
    p.set_defaults(run=_cmd_validate)

    p = sub.add_parser("policy", help="show or document an effective policy")
    psub = p.add_subparsers(dest="policy_command", metavar="SUBCOMMAND")
    psub.required = True
    show = psub.add_parser("show", help="the effective policy with the origin of every entry")
    show.add_argument("policy", type=policy_ref, metavar="POLICY", help="policy id or file path")
    show.add_argument("--format", choices=("text", "json"), default="text")
    show.set_defaults(run=_cmd_policy_show)
    doc = psub.add_parser(
        "doc",
        help="the effective policy as a handbook (Markdown, or HTML with an anchor "
        "per rule, parameter, action and measure)",
    )
    doc.add_argument("policy", type=policy_ref, metavar="POLICY", help="policy id or file path")
    doc.add_argument("--format", choices=("markdown", "html"), default="markdown")
    doc.add_argument("--output", metavar="FILE", help="write to FILE instead of standard output")
    doc.set_defaults(run=_cmd_policy_doc)
    _add_later_commands(sub, psub)
    return parser


def _add_later_commands(sub: Any, psub: Any) -> None:
    """Commands that need the engine live in their own modules (one per later stage)."""
    from . import assurance, audit, evaluate, replay, report

    evaluate.register(sub, psub)
    for module in (replay, audit, assurance, report):
        module.register(sub)


def main(
    argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
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
    except NotFoundError as error:  # a file, policy or pupil named on the command line
        _print_problems([_on_command_line(p) for p in error.problems], err)
        return 2
    except AttendanceRulesError as error:
        _print_problems(error.problems, err)
        return 1
    except BrokenPipeError:  # e.g. piped into `head`
        return 0
    except OSError as error:
        if not error.filename:
            raise
        print(_file_problem(error), file=err)
        return 2


def _on_command_line(problem: Problem) -> Problem:
    """A problem with no place of its own (no pupil 'X' …) is the command line's."""
    if problem.location != Location():
        return problem
    return attrs.evolve(problem, location=COMMAND_LINE)


def _file_problem(error: OSError) -> Problem:
    """A file named on the command line that cannot be read or written, located at the file."""
    name = str(error.filename)
    return Problem(
        f"cannot use this file: {error.strerror or error}",
        Location(shown_name(name)),
        expected="an existing file (or directory) that can be read, or a folder that exists for "
        "output",
    )


def _internal_error(error: BaseException, debug: bool, err: TextIO) -> int:
    """A bug: one line saying so and where (the traceback only with --debug); exit status 3."""
    frames = traceback.extract_tb(error.__traceback__)
    where = (
        f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name})"
        if frames
        else ""
    )
    summary = (
        f"{type(error).__name__}: {error}".splitlines()[0][:300]
        if str(error)
        else type(error).__name__
    )
    if debug:
        traceback.print_exception(type(error), error, error.__traceback__, file=err)
    print(f"attendance-rules: internal error, please report: {summary}{where}", file=err)
    if not debug:
        print(
            "attendance-rules: run again with --debug (before the command) to see the traceback",
            file=err,
        )
    return EXIT_INTERNAL
