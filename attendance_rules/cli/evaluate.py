"""CLI commands that evaluate: ``evaluate``, ``explain``, ``verify``, ``test``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, TextIO

from ..exceptions import InputError, Location, Problem
from .common import (
    add_history_options,
    add_policy_option,
    add_strict_codes,
    calendar_of,
    conform_history,
    date_type,
    horizon_type,
    load_history_of,
    policy_ref,
)

__all__ = ["register"]


def _load(args: argparse.Namespace) -> tuple[Any, Any]:
    from ..engine.compiled import load_policy

    return load_policy(
        args.policy, calendar=calendar_of(args), backend=getattr(args, "backend", "python")
    ), load_history_of(args)


def _cmd_evaluate(args: argparse.Namespace, out: TextIO) -> int:
    """`evaluate`: each pupil evaluated (over --jobs processes) and written as it comes."""
    from contextlib import closing

    from ..engine.explain import write_evaluation
    from ..scale.dataset import is_dataset
    from ..scale.distributed import run_evaluate_cli
    from ..scale.parallel import map_pupils
    from ..scale.progress import progress, unless_streaming_to_terminal
    from ..scale.tasks import evaluate_task, evaluation_header
    from .common import jobs_of, with_policy_files

    if args.scheduler or is_dataset(args.history):
        return run_evaluate_cli(args, out)
    policy, history = _load(args)
    pupils = [history.pupil(args.pupil)] if args.pupil else list(history)
    checked = conform_history(policy, history, args)
    task, state = evaluate_task(
        policy, args.policy, args.as_of, checked.school, args.horizon, lines=args.format == "jsonl"
    )
    with closing(map_pupils(task, pupils, jobs_of(args), state=state)) as results:
        bar = unless_streaming_to_terminal(args.progress, out)
        out = with_policy_files(policy, args.format, out)
        header = evaluation_header(policy, history, args.as_of, checked.warnings)
        write_evaluation(header, progress(results, len(pupils), "evaluate", bar), args.format, out)
    out.flush()
    return 0


def _cmd_explain(args: argparse.Namespace, out: TextIO) -> int:
    from ..engine.explain import explain_pupil, explain_why_not
    from .common import with_policy_files

    policy, history = _load(args)
    pupil = history.pupil(args.pupil)
    school = conform_history(policy, history, args).school
    out = with_policy_files(policy, "text", out)
    out.write(explain_pupil(policy.evaluate_pupil(pupil, args.as_of, school), policy.id))
    if args.why_not:
        from ..engine.distance import distances

        checks = policy.why_not(pupil, args.as_of, args.why_not, school)
        near = distances(
            policy.engine,
            pupil,
            args.as_of,
            school,
            args.horizon,
            rules=tuple(c.rule for c in checks),
        )
        out.write("\n" + explain_why_not(args.why_not, checks, near, args.as_of))
    out.flush()
    return 0


def _cmd_verify(args: argparse.Namespace, out: TextIO) -> int:
    """`verify`: evaluate again with the saved policy and date, compare with what was saved."""
    from ..engine.compiled import load_policy
    from ..engine.provenance import history_provenance
    from .common import policy_ref

    saved, as_of = _saved_evaluation(Path(args.decision))
    history = load_history_of(args)
    pupils = [p["pupil_id"] for p in saved["pupils"]]
    _check_pupils_known(pupils, history, args.decision)
    policy = load_policy(args.policy or policy_ref(saved["policy"]["id"]))
    again = policy.evaluate(history, as_of, pupils).to_json()
    again["history"] = history_provenance(
        history
    )  # the digest of the content, as `evaluate` recorded it
    return _compare(saved, again, out)


# What `verify` reads of a saved evaluation: JSON pointer -> the type it must have.
_SAVED_SHAPE = (
    ("", dict, "an object"),
    ("/policy", dict, "an object"),
    ("/policy/id", str, "text"),
    ("/history", dict, "an object"),
    ("/library", dict, "an object"),
    ("/as_of", str, "a date"),
    ("/pupils", list, "a list"),
)


def _saved_evaluation(path: Path) -> tuple[dict, Any]:
    """The saved evaluation at ``path`` and its as-of date; ``InputError`` with JSON pointers
    when it is not the JSON that `evaluate --format json` writes."""
    import datetime as dt

    saved = _read_json(path)
    problems = [
        _shape_problem(path, pointer, found, expected)
        for pointer, found, expected in _shape_errors(saved)
    ]
    if not problems:
        try:
            return saved, dt.date.fromisoformat(saved["as_of"])
        except ValueError:
            problems.append(
                _shape_problem(path, "/as_of", repr(saved["as_of"]), "a date as YYYY-MM-DD")
            )
    raise InputError(problems)


def _read_json(path: Path) -> Any:
    """A JSON file's data; ``InputError`` at the file (and line and column) when it is not JSON."""
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except json.JSONDecodeError as error:
        where, found = Location(str(path), error.lineno, column=error.colno), error.msg
    except UnicodeDecodeError as error:
        where, found = Location(str(path)), f"a byte that is not UTF-8 at offset {error.start}"
    except (ValueError, RecursionError) as error:  # 4,301+ digit integers; thousands of nested [
        where, found = Location(str(path)), str(error).split(";")[0] or "nesting too deep"
    raise InputError(
        [
            Problem(
                "not a saved evaluation",
                where,
                found=found,
                expected="the JSON output of `evaluate --format json`",
            )
        ]
    )


def _shape_errors(saved: Any) -> list[tuple[str, str, str]]:
    """(pointer, found, expected) for each part of a saved evaluation that has the wrong type."""
    errors = []
    for pointer, kind, expected in _SAVED_SHAPE:
        value = _at(saved, pointer)
        if value is not _ABSENT and not isinstance(value, kind):
            errors.append((pointer, type(value).__name__, expected))
        elif value is _ABSENT and pointer != "/library":
            errors.append((pointer, "nothing", expected))
    pupils = _at(saved, "/pupils")
    for i, pupil in enumerate(pupils if isinstance(pupils, list) else ()):
        if not isinstance(pupil, dict) or not isinstance(pupil.get("pupil_id"), str):
            found = type(pupil.get("pupil_id") if isinstance(pupil, dict) else pupil).__name__
            errors.append((f"/pupils/{i}/pupil_id", found, "a pupil id as text"))
    return errors


_ABSENT = object()


def _at(data: Any, pointer: str) -> Any:
    """The value at a JSON pointer of plain keys, or _ABSENT (also below a non-object)."""
    for key in pointer.split("/")[1:]:
        if not isinstance(data, dict) or key not in data:
            return _ABSENT
        data = data[key]
    return data


def _shape_problem(path: Path, pointer: str, found: str, expected: str) -> Problem:
    """A located problem of a saved evaluation's shape."""
    return Problem(
        "not a saved evaluation",
        Location(str(path), pointer=pointer or "/"),
        found=found,
        expected=f"{expected} (the JSON output of `evaluate --format json`)",
    )


def _check_pupils_known(pupils: list[str], history: Any, decision: str) -> None:
    """Every pupil of the saved evaluation is in the history given (located in the decision)."""
    known = {p.id for p in history}
    problems = [
        Problem(
            f"pupil {pupil!r} is not in the history given",
            Location(decision, pointer=f"/pupils/{i}"),
            expected="the history the evaluation was made from",
        )
        for i, pupil in enumerate(pupils)
        if pupil not in known
    ]
    if problems:
        raise InputError(problems)


def _compare(saved: dict, again: dict, out: TextIO) -> int:
    differences = []
    for key in ("policy", "history"):
        if saved[key].get("digest") != again[key]["digest"]:
            differences.append(
                f"{key} digest differs: saved {saved[key].get('digest')}, "
                f"now {again[key]['digest']}"
            )
    for old, new in zip(saved["pupils"], again["pupils"]):
        if old != new:
            differences.append(
                f"pupil {old.get('pupil_id')}: saved {_actions(old)}, now {_actions(new)}"
            )
    if saved.get("library", {}).get("version") != again["library"]["version"]:
        print(
            f"note: saved with library {saved.get('library', {}).get('version')}, "
            f"now {again['library']['version']}",
            file=out,
        )
    if differences:
        print("NOT REPRODUCED", file=out)
        for line in differences:
            print(f"  {line}", file=out)
        return 1
    print(
        f"reproduced exactly: {len(again['pupils'])} pupil(s), as of {again['as_of']}, "
        f"policy {again['policy']['id']} {again['policy']['digest'][:19]}…",
        file=out,
    )
    return 0


def _actions(pupil: dict) -> str:
    return "[" + ", ".join(r["action"] for r in pupil.get("recommendations", ())) + "]"


def _cmd_test(args: argparse.Namespace, out: TextIO) -> int:
    from ..replay.cases import run_cases

    results = run_cases(args.cases)
    failed = [r for r in results if not r.passed]
    for result in failed:
        print("FAIL " + "\n\n".join(result.failures) + "\n", file=out)
    checks = sum(r.checked for r in results)
    print(
        f"{len(results) - len(failed)} passed, {len(failed)} failed ({len(results)} case(s), "
        f"{checks} check(s))",
        file=out,
    )
    return 1 if failed else 0


def _common(p: argparse.ArgumentParser, pupil_required: bool = False) -> None:
    add_policy_option(p)
    add_history_options(p)
    p.add_argument("--as-of", required=True, type=date_type, metavar="YYYY-MM-DD")
    p.add_argument("--pupil", required=pupil_required, metavar="ID")
    p.add_argument(
        "--backend",
        choices=("python", "durable"),
        default="python",
        help="rule engine (durable needs the 'durable' extra, Python < 3.13)",
    )


def register(sub: Any, psub: Any) -> None:
    """Add the evaluating commands to the CLI parser."""
    from .common import add_run_options

    p = sub.add_parser("evaluate", help="recommended actions for each pupil, with cited reasons")
    _common(p)
    p.add_argument("--format", choices=("table", "json", "jsonl", "markdown"), default="table")
    p.add_argument(
        "--horizon",
        type=horizon_type,
        metavar="WEEKS",
        default=None,
        help="also list, per pupil, thresholds that could be met within WEEKS school weeks "
        "(at_risk)",
    )
    add_run_options(p)
    from ..scale.distributed import add_arguments

    add_arguments(p)
    p.set_defaults(run=_cmd_evaluate)

    p = sub.add_parser("explain", help="the reasoning for one pupil in plain English")
    _common(p, pupil_required=True)
    p.add_argument(
        "--why-not", metavar="ACTION", help="also show what stands between the pupil and ACTION"
    )
    p.add_argument(
        "--horizon",
        type=horizon_type,
        metavar="WEEKS",
        default=6,
        help="with --why-not: how far ahead to look for thresholds (school weeks, default 6)",
    )
    p.set_defaults(run=_cmd_explain)

    p = sub.add_parser(
        "verify", help="re-run a saved evaluation and confirm it is reproduced exactly"
    )
    p.add_argument("decision", metavar="DECISION.json")
    p.add_argument("--history", nargs="+", required=True, metavar="FILE")
    add_strict_codes(p)
    p.add_argument(
        "--policy",
        type=policy_ref,
        metavar="ID_OR_PATH",
        help="default: the policy id recorded in the decision",
    )
    p.set_defaults(run=_cmd_verify)

    p = sub.add_parser("test", help="run case files (*.case.yaml) and show a diff for each failure")
    p.add_argument("cases", nargs="+", metavar="CASES", help="case files or directories")
    p.set_defaults(run=_cmd_test)
