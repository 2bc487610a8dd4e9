"""CLI commands of the replay stage: ``timeline``, ``diff`` and ``cohort``."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from ..exceptions import Location, Problem, UsageError
from .common import add_history_options, add_policy_option, calendar_of, date_type, policy_ref

__all__ = ["register"]


def _policy(ref: str, args: argparse.Namespace) -> Any:
    from ..engine.compiled import load_policy

    return load_policy(ref, calendar=calendar_of(args))


def _history(args: argparse.Namespace) -> Any:
    from .common import load_history_of

    return load_history_of(args)


def _cmd_timeline(args: argparse.Namespace, out: TextIO) -> int:
    """`timeline`: each pupil replayed (over --jobs processes), in history order."""
    from contextlib import closing

    from ..engine.provenance import Provenance
    from ..replay.timeline import Timeline, render_timeline
    from ..scale.parallel import map_pupils
    from ..scale.progress import progress
    from .common import conform_history, jobs_of, with_policy_files

    if args.end < args.start:
        raise UsageError(
            [
                Problem(
                    "--to is before --from",
                    Location("<command line>"),
                    found=f"--from {args.start.isoformat()} --to {args.end.isoformat()}",
                )
            ]
        )
    policy, history = _policy(args.policy, args), _history(args)
    pupils = [history.pupil(args.pupil)] if args.pupil else list(history)
    task, state = _timeline_task(args, policy, conform_history(policy, history, args).school)
    with closing(map_pupils(task, pupils, jobs_of(args), state=state)) as results:
        timelines = tuple(progress(results, len(pupils), "timeline", args.progress))
    timeline = Timeline(
        start=args.start,
        end=args.end,
        provenance=Provenance.of(policy.ruleset, history),
        pupils=timelines,
    )
    titled = with_policy_files(policy, args.format, out)
    titled.write(render_timeline(timeline, args.format))
    titled.flush()
    return 0


def _timeline_task(args: argparse.Namespace, policy: Any, school: Any) -> tuple[Any, Any]:
    """The per-pupil work of ``timeline``, and its state for this process."""
    from ..replay.timeline import rolling_due_actions
    from ..scale.parallel import PupilTask

    extra = (args.start, args.end, school)
    task = PupilTask(
        _setup_timeline, _replay_one, (args.policy, policy.calendar, policy.backend, extra)
    )
    return task, (policy, (extra, rolling_due_actions(policy)))


def _setup_timeline(ref: str, calendar: Any, backend: str, extra: Any) -> tuple[Any, Any]:
    """A worker's state for ``timeline``: the policy and the actions whose due date rolls."""
    from ..replay.timeline import rolling_due_actions
    from ..scale.tasks import setup_policy

    policy, extra = setup_policy(ref, calendar, backend, extra)
    return policy, (extra, rolling_due_actions(policy))


def _replay_one(state: tuple[Any, Any], pupil: Any) -> Any:
    """One pupil's timeline over the range."""
    from ..replay.timeline import replay_pupil

    policy, ((start, end, school), rolling) = state
    return replay_pupil(policy, pupil, start, end, school, rolling)


def _cmd_diff(args: argparse.Namespace, out: TextIO) -> int:
    """`diff`: each pupil evaluated under both policies (over --jobs processes), then compared."""
    from contextlib import closing

    from ..replay.impact import compare_policies, render_impact
    from ..scale.parallel import PupilTask, map_pupils
    from ..scale.progress import progress
    from .common import conform_history, jobs_of, with_policy_files

    if args.examples < 0:
        raise UsageError(
            [
                Problem(
                    "--examples must be 0 or more",
                    Location("<command line>"),
                    found=str(args.examples),
                )
            ]
        )
    old, new, history = _policy(args.old, args), _policy(args.new, args), _history(args)
    # errors under either policy stop the run; warnings are the new policy's (the history is read
    # for it: the old one may well lack its actions and settings)
    conform_history(old, history, args, warn=False)
    extra = (args.as_of, conform_history(new, history, args).school)
    task = PupilTask(_setup_diff, _compare_one, (args.old, args.new, old.calendar, extra))
    with closing(
        map_pupils(task, list(history), jobs_of(args), state=(old, new, extra))
    ) as results:
        impact = compare_policies(
            old,
            new,
            history,
            args.as_of,
            args.examples,
            progress(results, len(history), "diff", args.progress),
        )
    titled = with_policy_files(
        new,
        args.format,
        with_policy_files(old, args.format, out, "old policy files"),
        "new policy files",
    )
    titled.write(render_impact(impact, args.format))
    titled.flush()
    return 0


def _setup_diff(old_ref: str, new_ref: str, calendar: Any, extra: Any) -> tuple[Any, Any, Any]:
    """A worker's state for ``diff``: both policies compiled, and the date and school."""
    from ..engine.compiled import load_policy

    return load_policy(old_ref, calendar=calendar), load_policy(new_ref, calendar=calendar), extra


def _compare_one(state: tuple[Any, Any, Any], pupil: Any) -> tuple[Any, Any]:
    """One pupil's evaluations under the old and the new policy."""
    old, new, (as_of, school) = state
    return old.evaluate_pupil(pupil, as_of, school), new.evaluate_pupil(pupil, as_of, school)


def _cmd_cohort(args: argparse.Namespace, out: TextIO) -> int:
    """`cohort`: each pupil evaluated (over --jobs processes), then counted."""
    from contextlib import closing

    import attrs

    from ..replay.cohort import cohort_view, render_cohort
    from ..scale.parallel import map_pupils
    from ..scale.progress import progress
    from ..scale.tasks import evaluate_task, evaluation_header
    from .common import conform_history, jobs_of, with_policy_files

    policy, history = _policy(args.policy, args), _history(args)
    checked = conform_history(policy, history, args)
    task, state = evaluate_task(policy, args.policy, args.as_of, checked.school)
    with closing(map_pupils(task, list(history), jobs_of(args), state=state)) as results:
        pupils = tuple(progress(results, len(history), "cohort", args.progress))
    evaluation = attrs.evolve(
        evaluation_header(policy, history, args.as_of, checked.warnings), pupils=pupils
    )
    titled = with_policy_files(policy, args.format, out)
    titled.write(render_cohort(cohort_view(policy, history, args.as_of, evaluation), args.format))
    titled.flush()
    return 0


def register(sub: Any) -> None:
    """Add this module's commands to the CLI parser."""
    from .common import add_run_options

    date = date_type
    p = sub.add_parser(
        "timeline",
        help="replay every school day of a range: when each recommendation "
        "appeared, changed and ended",
        description="Evaluate as of every school day from --from to --to (each pupil's days "
        "with marks) and report each recommendation's episodes: first and last day "
        "recommended, the reasons when it appeared, changes of window, due date, "
        "parameters or rules, and why it ended.",
    )
    add_policy_option(p)
    add_history_options(p)
    p.add_argument("--from", dest="start", required=True, type=date, metavar="YYYY-MM-DD")
    p.add_argument("--to", dest="end", required=True, type=date, metavar="YYYY-MM-DD")
    p.add_argument("--pupil", metavar="ID", help="only this pupil")
    p.add_argument("--format", choices=("table", "json"), default="table")
    add_run_options(p)
    p.set_defaults(run=_cmd_timeline)

    p = sub.add_parser(
        "diff",
        help="impact of a policy change: which pupils gain or lose which recommendations",
        description="Evaluate the old and the new policy over one history as of one date; count "
        "per action the pupils who gain or lose it, with examples giving both sides' "
        "reasons, and list what differs between the policies.",
    )
    p.add_argument(
        "--old",
        type=policy_ref,
        required=True,
        metavar="ID_OR_PATH",
        help="the policy before the change",
    )
    p.add_argument(
        "--new",
        type=policy_ref,
        required=True,
        metavar="ID_OR_PATH",
        help="the policy after the change",
    )
    add_history_options(p)
    p.add_argument("--as-of", required=True, type=date, metavar="YYYY-MM-DD")
    p.add_argument(
        "--examples", type=int, default=3, metavar="N", help="examples per action and direction (3)"
    )
    p.add_argument("--format", choices=("table", "json"), default="table")
    add_run_options(p)
    p.set_defaults(run=_cmd_diff)

    p = sub.add_parser(
        "cohort",
        help="counts per action, kind and stage, and the persistent and severe "
        "absence lists for a targeting support meeting",
    )
    add_policy_option(p)
    add_history_options(p)
    p.add_argument("--as-of", required=True, type=date, metavar="YYYY-MM-DD")
    p.add_argument("--format", choices=("table", "json", "markdown"), default="table")
    add_run_options(p)
    p.set_defaults(run=_cmd_cohort)
