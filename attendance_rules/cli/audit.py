"""CLI commands of the audit stage: ``audit`` (what was done, against the policy in force)."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from .common import (
    add_audit_options,
    add_history_options,
    add_policy_option,
    calendar_of,
    check_audit_args,
    run_audit,
)

__all__ = ["register"]


def _cmd_audit(args: argparse.Namespace, out: TextIO) -> int:
    """`audit`: each pupil audited (over --jobs processes), findings merged in pupil order."""
    from ..engine.compiled import load_policy
    from ..replay.audit_findings import render_text
    from .common import load_history_of, with_policy_files

    check_audit_args(args)
    policy = load_policy(args.policy, calendar=calendar_of(args))
    report = run_audit(policy, load_history_of(args), args)
    text = report.dumps() if args.format == "json" else render_text(report)
    titled = with_policy_files(policy, args.format, out)
    titled.write(text)
    titled.flush()
    return 1 if args.fail_on_findings and report.findings else 0


def register(sub: Any) -> None:
    """Add this module's commands to the CLI parser."""
    from .common import add_run_options

    p = sub.add_parser(
        "audit",
        help="compare the case events that happened with the policy in force on each date",
        description="Findings: steps taken that the policy did not call for (unsupported), held "
        "back (held_back_but_done) or whose evidence was missing (missing_evidence), and steps "
        "the policy called for that were not taken by their due date (overdue). Exit status "
        "0 when the audit ran (findings are the output), 1 with --fail-on-findings and findings.",
    )
    add_policy_option(p)
    add_history_options(p)
    add_audit_options(p)
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--fail-on-findings", action="store_true", help="exit 1 when there are findings")
    add_run_options(p)
    p.set_defaults(run=_cmd_audit)
