"""CLI commands of the reports stage: ``report pupil``, ``report cohort``, ``report audit``.

Each writes self-contained HTML (CSS and charts inline) and, beside it, the policy's HTML
handbook that its citations link to (``handbook-POLICY.html``), unless ``--handbook``
gives the address of a handbook published elsewhere.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

from .common import add_history_options, add_policy_option

__all__ = ["DEFAULT_HORIZON_WEEKS", "register"]

# The look-ahead of the at-risk lists, a local choice of this tool (no source sets one):
# pupils who would become persistently absent by missing every session of the next
# school week. The distance assumes every session missed, so a longer look-ahead lists
# nearly everyone (on the 300-pupil sample as of 9 Feb 2024: 53 pupils at 1 week, 192
# at 2, 241 at 3). --horizon changes it; 0 turns the lists off.
DEFAULT_HORIZON_WEEKS = 1


def _policy_and_history(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """The compiled policy, the history, and the history checked against the policy."""
    from ..engine.compiled import load_policy
    from .common import calendar_of, conform_history, load_history_of

    policy = load_policy(args.policy, calendar=calendar_of(args))
    history = load_history_of(args)
    return policy, history, conform_history(policy, history, args)


def _handbook(args: argparse.Namespace, policy: Any, folder: Path | None, out: TextIO) -> str:
    """The address reports link to; writes the handbook into ``folder`` unless --handbook is
    given."""
    if args.handbook:  # published elsewhere: nothing to write, so the handbook module is not needed
        return args.handbook
    from ..policy.layers import load_policy_files
    from ..report.handbook import handbook_html
    from ..report.html import handbook_file_name

    name = handbook_file_name(policy.id)
    if folder is not None:
        path = folder / name
        path.write_text(handbook_html(load_policy_files(args.policy)), encoding="utf-8")
        print(f"wrote {path.as_posix()}", file=args.err)
    return name


def _write(text: str, output: str | None, out: TextIO, err: TextIO) -> None:
    """An HTML page to ``--output`` (saying so on stderr) or to standard output."""
    if output:
        Path(output).write_text(text, encoding="utf-8")
        print(f"wrote {Path(output).as_posix()}", file=err)
    else:
        out.write(text)


def _cmd_pupil(args: argparse.Namespace, out: TextIO) -> int:
    """`report pupil`: one pupil's year as a page."""
    from ..report.charts import require_matplotlib
    from ..report.pupil import pupil_report
    from .common import check_output

    require_matplotlib()
    if args.output:
        check_output(args.output)
    policy, history, checked = _policy_and_history(args)
    pupil = history.pupil(args.pupil)
    folder = Path(args.output).parent if args.output else None
    handbook = _handbook(args, policy, folder, out)
    page = pupil_report(
        policy,
        pupil,
        args.as_of,
        school=checked.school,
        handbook=handbook,
        horizon=args.horizon,
        start=args.start,
        warnings=checked.warnings,
    )
    _write(page, args.output, out, args.err)
    return 0


def _cmd_cohort(args: argparse.Namespace, out: TextIO) -> int:
    """`report cohort`: the termly targeting-support-meeting pack, as a folder."""
    from ..report.charts import require_matplotlib
    from ..report.cohort import write_cohort_pack
    from .common import jobs_of

    require_matplotlib()
    folder = Path(args.output or f"cohort-{args.as_of.isoformat()}")
    _check_folder(folder)
    policy, history, checked = _policy_and_history(args)
    folder.mkdir(exist_ok=True)
    handbook = _handbook(args, policy, folder, out)
    written = write_cohort_pack(
        policy,
        args.policy,
        history,
        args.as_of,
        folder,
        school=checked.school,
        handbook=handbook,
        horizon=args.horizon,
        jobs=jobs_of(args),
        progress=args.progress,
        warnings=checked.warnings,
    )
    for path in written:
        print(f"wrote {path.as_posix()}", file=args.err)
    return 0


def _check_folder(folder: Path) -> None:
    """The pack's folder may exist (files are replaced) but not be a file; its parent must exist."""
    from ..exceptions import Location, Problem, UsageError

    try:
        problem = (
            "is a file"
            if folder.is_file()
            else ""
            if folder.is_dir() or folder.absolute().parent.is_dir()
            else "its parent folder does not exist"
        )
    except OSError as error:
        problem = error.strerror or str(error)
    if problem:
        raise UsageError(
            [
                Problem(
                    f"cannot write the report folder: {problem}",
                    Location(str(folder)),
                    expected="a folder, or a new folder's name in an existing folder",
                    example="--output tsm-autumn-2024",
                )
            ]
        )


def _cmd_audit(args: argparse.Namespace, out: TextIO) -> int:
    """`report audit`: the audit's findings grouped and cited, as a page."""
    from ..engine.compiled import load_policy
    from ..report.audit import audit_html
    from .common import calendar_of, check_output, load_history_of, run_audit

    if args.output:
        check_output(args.output)
    policy = load_policy(args.policy, calendar=calendar_of(args))
    report = run_audit(policy, load_history_of(args), args)  # checks the history against the policy
    folder = Path(args.output).parent if args.output else None
    handbook = _handbook(args, policy, folder, out)
    _write(audit_html(report, policy, handbook=handbook), args.output, out, args.err)
    return 0


def _common(p: argparse.ArgumentParser, horizon: bool = True) -> None:
    from .common import date_type, horizon_type

    add_policy_option(p)
    add_history_options(p)
    p.add_argument(
        "--handbook",
        metavar="URL",
        help="where the policy's HTML handbook is published; citations link to it (default: "
        "handbook-POLICY.html, written beside the report)",
    )
    if horizon:
        p.add_argument("--as-of", required=True, type=date_type, metavar="YYYY-MM-DD")
        p.add_argument(
            "--horizon",
            type=horizon_type,
            default=DEFAULT_HORIZON_WEEKS,
            metavar="WEEKS",
            help=f"school weeks ahead for the at-risk lists (default {DEFAULT_HORIZON_WEEKS}; 0: "
            "none)",
        )


def register(sub: Any) -> None:
    """Add ``report pupil|cohort|audit`` to the CLI parser."""
    from .common import add_run_options, date_type

    p = sub.add_parser(
        "report", help="HTML reports: a pupil's year, the targeting-support pack, the audit"
    )
    rsub = p.add_subparsers(dest="report_command", metavar="REPORT")
    rsub.required = True

    r = rsub.add_parser(
        "pupil", help="one pupil's year: weekly attendance, register calendar, recommendations"
    )
    _common(r)
    r.add_argument("--pupil", required=True, metavar="ID", help="the pupil")
    r.add_argument(
        "--from",
        dest="start",
        type=date_type,
        default=None,
        metavar="YYYY-MM-DD",
        help="first day shown (default: 1 September before --as-of)",
    )
    r.add_argument(
        "-o", "--output", metavar="FILE.html", help="write the page here (default: standard output)"
    )
    add_run_options(r, jobs=False)
    r.set_defaults(run=_cmd_pupil)

    r = rsub.add_parser(
        "cohort", help="the termly targeting-support-meeting pack: lists, counts, pupil pages"
    )
    _common(r)
    r.add_argument(
        "-o", "--output", metavar="DIR", help="folder for the pack (default: cohort-AS_OF)"
    )
    add_run_options(r)
    r.set_defaults(run=_cmd_cohort)

    r = rsub.add_parser("audit", help="the audit's findings, grouped and cited, as a page")
    _common(r, horizon=False)
    from .common import add_audit_options

    add_audit_options(r)
    r.add_argument(
        "-o", "--output", metavar="FILE.html", help="write the page here (default: standard output)"
    )
    add_run_options(r)
    r.set_defaults(run=_cmd_audit)
