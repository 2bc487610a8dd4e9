"""CLI commands of the audit stage: ``audit`` (what was done, against the policy in force)."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

__all__ = ["add_audit_options", "register", "run_audit"]


def _policy_ref(text: str) -> str:
    """A policy argument resolved to its file (``cli.policy_ref``)."""
    from .app import policy_ref

    return policy_ref(text)


def _cmd_audit(args: argparse.Namespace, out: TextIO) -> int:
    """`audit`: each pupil audited (over --jobs processes), findings merged in pupil order."""
    from ..engine.compiled import load_policy
    from ..replay.audit_findings import render_text
    from .app import calendar_of, with_policy_files
    from .evaluate import load_history_of

    _check_audit_args(args)
    policy = load_policy(args.policy, calendar=calendar_of(args))
    report = run_audit(policy, load_history_of(args), args)
    text = report.dumps() if args.format == "json" else render_text(report)
    titled = with_policy_files(policy, args.format, out)
    titled.write(text)
    titled.flush()
    return 1 if args.fail_on_findings and report.findings else 0


def _check_audit_args(args: argparse.Namespace) -> None:
    from ..exceptions import Problem, UsageError

    if args.start and args.end and args.start > args.end:
        raise UsageError([Problem(f"--from {args.start.isoformat()} is after --to {args.end.isoformat()}")])
    if args.default_due < 0:
        raise UsageError([Problem("--default-due must be 0 or more school days", found=str(args.default_due))])


def run_audit(policy: Any, history: Any, args: argparse.Namespace) -> Any:
    """The ``AuditReport`` of ``history`` under ``policy`` with the options of ``add_audit_options``
    (pupils over ``--jobs`` processes, findings merged in pupil order)."""
    from contextlib import closing

    import attrs

    from ..replay.audit import audit_report, audit_scope
    from ..replay.completions import completions
    from .app import jobs_of
    from .evaluate import conform_history
    from ..scale.parallel import PupilTask, map_pupils
    from ..scale.progress import progress

    _check_audit_args(args)
    school = conform_history(policy, history, args).school
    pupils, scope = audit_scope(history, args.start, args.end, args.pupil, args.scan, args.default_due)
    scope = attrs.evolve(scope, school=school)
    task = PupilTask(_setup_audit, _audit_one, (args.policy, policy.calendar, scope))
    with closing(map_pupils(task, pupils, jobs_of(args), state=(policy, completions(policy.ruleset), scope))) \
            as results:
        return audit_report(policy, history, scope, len(pupils), progress(results, len(pupils), "audit",
                                                                          args.progress))


def _setup_audit(ref: str, calendar: Any, scope: Any) -> tuple[Any, Any, Any]:
    """A worker's state for ``audit``: the policy, which events complete which actions, the scope."""
    from ..engine.compiled import load_policy
    from ..replay.completions import completions

    policy = load_policy(ref, calendar=calendar)
    return policy, completions(policy.ruleset), scope


def _audit_one(state: tuple[Any, Any, Any], pupil: Any) -> Any:
    """One pupil's findings and counts."""
    from ..replay.audit import audit_pupil

    policy, links, scope = state
    return audit_pupil(policy, links, pupil, scope)


def register(sub: Any) -> None:
    """Add this module's commands to the CLI parser."""
    from .app import add_run_options
    from .evaluate import add_strict_codes

    p = sub.add_parser(
        "audit", help="compare the case events that happened with the policy in force on each date",
        description="Findings: steps taken that the policy did not call for (unsupported), held back "
                    "(held_back_but_done) or whose evidence was missing (missing_evidence), and steps "
                    "the policy called for that were not taken by their due date (overdue). Exit status "
                    "0 when the audit ran (findings are the output), 1 with --fail-on-findings and findings.")
    p.add_argument("--policy", type=_policy_ref, required=True, metavar="ID_OR_PATH", help="policy id or policy file")
    p.add_argument("--history", nargs="+", required=True, metavar="FILE", help="history JSON, CSV files or directory")
    add_strict_codes(p)
    p.add_argument("--calendar", metavar="CSV", help="term dates (name,start,end)")
    add_audit_options(p)
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--fail-on-findings", action="store_true", help="exit 1 when there are findings")
    add_run_options(p)
    p.set_defaults(run=_cmd_audit)


def add_audit_options(p: argparse.ArgumentParser) -> None:
    """The options that choose what is audited: ``--from``/``--to``, ``--pupil``, ``--scan``, ``--default-due``."""
    from .app import _date

    p.add_argument("--from", dest="start", type=_date, metavar="YYYY-MM-DD",
                   help="first date audited (default: the first date of the data)")
    p.add_argument("--to", dest="end", type=_date, metavar="YYYY-MM-DD",
                   help="last date audited (default: the last date of the data)")
    p.add_argument("--pupil", action="append", metavar="ID", help="only this pupil (repeat for more)")
    p.add_argument("--scan", choices=("week", "day"), default="week",
                   help="when to look for new recommendations: each school week's last day and every event "
                        "date, narrowed to the day (default), or every school day (slower)")
    p.add_argument("--default-due", type=int, default=20, metavar="SCHOOL_DAYS",
                   help="school days allowed for a step the policy gives no due date (default 20)")
