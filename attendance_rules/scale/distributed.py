"""Evaluate a region or the whole country: Dask over a Parquet dataset partitioned by school.

Needs the optional extra ``dask`` (``pip install 'attendance-rules[dask]'``: dask,
distributed, pyarrow); without it every entry point raises a ``UsageError`` naming the
extra. Importing this module never needs it. The dataset's layout is in ``dataset.py``,
the work on each school in ``partitions.py``, the choice of scheduler in ``scheduler.py``.

Per-pupil results are the JSON objects of ``evaluate_pupil(...).to_json()`` — the lines
of ``evaluate --format jsonl`` — byte-identical to a single-process run over the same
pupils, in a deterministic order: school id, then pupil id (the order ``load_history``
gives). Each school's history is checked against the policy as ``evaluate`` checks a
local one (``policy.conformance.conform``: settings, event types and fields) before its
pupils are evaluated; a withdrawn register code is refused with ``strict_codes``. Row
accounting: for every school, rows read (rows in the partition), used and reported
(refused, with the problem located by Parquet file and row), and pupils evaluated;
``DatasetRun.report`` sums them, with every problem and warning.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Generator, Iterable, Iterator, TextIO

from ..exceptions import Problem, UnknownNameError, UsageError
from ..registers.calendar import Calendar
from ..registers.history import School
from .dataset import (
    COLUMNS,
    EXTRA,
    PARTITION_KEY,
    SCHOOLS_FILE,
    is_dataset,
    read_schools,
    require_extra,
    school_dirs,
)
from .partitions import (
    DatasetReport,
    PartitionJob,
    PartitionOutcome,
    PartitionReport,
    evaluate_frame,
    evaluate_school_dir,
    text_frame,
)
from .scheduler import ordered_results, scheduler_client

__all__ = [
    "DatasetRun",
    "add_arguments",
    "dataset_job",
    "evaluate_dataset",
    "run_evaluate_cli",
]


# --- the public entry points -------------------------------------------------------------


class DatasetRun:
    """Per-pupil results of a dataset, produced while iterating; ``report`` fills as it goes.

    Iterate once: ``for item in run`` yields a dict per pupil (or, with ``lines=True``, the
    JSONL text of each, without the newline). In strict mode the first school with refused
    rows, or that the policy cannot read, raises ``InputError`` listing its problems, after
    the schools before it were yielded; in lenient mode such a school is reported and, when
    the policy cannot read it, not evaluated. ``warn`` is called with each warning once, in
    school id order, as its school comes in (before an error the school raises).
    """

    def __init__(
        self,
        produce: Callable[[], Generator[PartitionOutcome, None, None]],
        lines: bool,
        strict: bool,
        pupil_ids: frozenset[str] | None,
        warn: Callable[[Problem], None] | None = None,
    ) -> None:
        self._produce, self._lines, self._strict, self._pupil_ids = (
            produce,
            lines,
            strict,
            pupil_ids,
        )
        self._warn = warn
        self._partitions: list[PartitionReport] = []
        self._said: set[Problem] = set()

    @property
    def report(self) -> DatasetReport:
        """The row accounting of the schools done so far (all of them after iteration)."""
        return DatasetReport(tuple(self._partitions))

    def __iter__(self) -> Iterator[Any]:
        # iterating again runs the evaluation again, with a fresh report (and says its warnings)
        self._partitions, self._said = [], set()
        outcomes = self._produce()
        try:
            for outcome in outcomes:
                self._partitions.append(outcome.report)
                self._say(outcome.report.warnings)
                if outcome.error is not None:
                    raise outcome.error(outcome.report.problems)
                for line in outcome.lines:
                    yield line if self._lines else json.loads(line)
        finally:
            outcomes.close()  # releases the client (and a local:N cluster) at once, even on error
        self._check_pupils()

    def _say(self, warnings: tuple[Problem, ...]) -> None:
        """Pass on the warnings not said yet: the report's ``warnings``, as schools come in."""
        for warning in warnings:
            if self._warn is not None and warning not in self._said:
                self._said.add(warning)
                self._warn(warning)

    def _check_pupils(self) -> None:
        if self._pupil_ids and not self.report.pupils:
            raise UnknownNameError(f"no pupil {sorted(self._pupil_ids)[0]!r} in the dataset")


def evaluate_dataset(
    dataset: str | Path | Any,
    policy: Any,
    as_of: dt.date,
    scheduler: Any = None,
    *,
    calendar: Calendar | None = None,
    backend: str = "python",
    pupils: Iterable[Any] | None = None,
    events: Any = None,
    schools: Any = None,
    pupil_ids: Iterable[str] | None = None,
    strict: bool = True,
    lines: bool = False,
    strict_codes: bool = False,
    warn: Callable[[Problem], None] | None = None,
) -> DatasetRun:
    """Evaluate every pupil of a dataset, school by school, on Dask.

    ``dataset``: a dataset directory (module docstring) or a dask DataFrame of marks with a
    ``school_id`` column (then ``pupils`` and ``events`` may be DataFrames of those rows
    and ``schools`` a ``schools.csv`` path or a mapping of id to ``School``; the frames are
    shuffled by school, so prefer a directory at national scale: it streams).
    ``policy``: a bundled id, a policy path or a ``CompiledPolicy`` (workers compile it
    from its file). ``scheduler``: None (the current ``distributed`` client if there is
    one, else in this process), ``tcp://host:port``, ``local:N`` or a ``Client``.
    ``strict_codes`` refuses a withdrawn register code (as ``readers.read_history`` does);
    ``warn`` hears each warning once (``DatasetRun``).
    Returns a ``DatasetRun``: iterate it for per-pupil JSON, then read ``.report``.
    """
    require_extra()
    job = dataset_job(policy, as_of, calendar, backend, strict, pupil_ids, strict_codes)
    if isinstance(dataset, (str, os.PathLike)):
        produce = _directory_producer(Path(dataset), job, scheduler)
    elif hasattr(dataset, "to_delayed") and hasattr(dataset, "npartitions"):
        produce = _frame_producer(dataset, pupils, events, schools, job, scheduler)
    else:
        raise UsageError(
            "dataset must be a directory or a dask DataFrame of marks; found "
            f"{type(dataset).__name__}"
        )
    return DatasetRun(produce, lines, strict, job.only, warn)


def dataset_job(
    policy: Any,
    as_of: dt.date,
    calendar: Calendar | None,
    backend: str,
    strict: bool,
    pupil_ids: Iterable[str] | None,
    strict_codes: bool = False,
) -> PartitionJob:
    """The task description; the policy is compiled here first so its errors surface at once."""
    from ..engine.compiled import CompiledPolicy, load_policy

    if isinstance(policy, CompiledPolicy):
        ref, calendar, backend = (
            policy.ruleset.policy.chain[-1].file,
            calendar or policy.calendar,
            policy.backend,
        )
    else:
        # An absolute path, because workers may run in another directory (or on another machine
        # sharing the file system); a bundled id is sent as it is.
        ref = str(Path(policy).resolve()) if Path(policy).is_file() else str(policy)
        # Compiled here once and thrown away: a policy error then surfaces before any worker starts,
        # instead of once per school on the cluster.
        load_policy(ref, calendar=calendar or Calendar(), backend=backend)
    only = frozenset(pupil_ids) if pupil_ids else None
    return PartitionJob(
        policy=str(ref),
        calendar=calendar or Calendar(),
        backend=backend,
        as_of=as_of,
        strict=strict,
        only=only,
        strict_codes=strict_codes,
    )


def _directory_producer(
    root: Path, job: PartitionJob, scheduler: Any
) -> Callable[[], Generator[PartitionOutcome, None, None]]:
    root = root.resolve()
    dirs = school_dirs(root)
    known = read_schools(root / SCHOOLS_FILE)
    # Schools in id order, and `ordered_results` yields them in that order whatever finishes first,
    # so the output is the same on one process or a hundred workers.
    tasks = [
        (evaluate_school_dir, str(root), dirs[sid], known.get(sid) or School(sid), job)
        for sid in sorted(dirs)
    ]

    def produce() -> Generator[PartitionOutcome, None, None]:
        with scheduler_client(scheduler) as client:
            yield from ordered_results(client, tasks)

    return produce


def _schools_arg(schools: Any) -> dict[str, School]:
    if schools is None:
        return {}
    if isinstance(schools, (str, os.PathLike)):
        return read_schools(schools)
    return {
        str(k): v if isinstance(v, School) else School(str(k)) for k, v in dict(schools).items()
    }


def _frame_producer(
    marks: Any,
    pupils: Any,
    events: Any,
    schools: Any,
    job: PartitionJob,
    scheduler: Any,
) -> Callable[[], Generator[PartitionOutcome, None, None]]:
    frame, known = _tagged_frame(marks, pupils, events), _schools_arg(schools)
    settings_file = str(schools) if isinstance(schools, (str, os.PathLike)) else ""

    def produce() -> Generator[PartitionOutcome, None, None]:
        import dask

        shuffled = frame.shuffle(on=PARTITION_KEY)
        tasks = [
            dask.delayed(evaluate_frame)(part, known, job, settings_file)
            for part in shuffled.to_delayed()
        ]
        with scheduler_client(scheduler) as client:
            if client is None:
                parts = dask.compute(*tasks, scheduler="sync")
            else:
                parts = client.gather(client.compute(tasks))
        yield from sorted((o for part in parts for o in part), key=lambda o: o.school_id)

    return produce


def _tagged_frame(marks: Any, pupils: Any, events: Any) -> Any:
    """Marks, pupils and events in one frame (a ``_kind`` column), so one shuffle keeps a
    school's rows of every kind together."""
    import dask.dataframe as dd

    frames = []
    for kind, frame in (("marks", marks), ("pupils", pupils), ("events", events)):
        if frame is None:
            continue
        if not hasattr(frame, "npartitions"):
            frame = dd.from_pandas(frame, npartitions=1)
        if PARTITION_KEY not in frame.columns:
            raise UsageError(
                [
                    Problem(
                        f"the {kind} DataFrame has no {PARTITION_KEY} column",
                        found=", ".join(map(str, frame.columns)),
                        expected=PARTITION_KEY,
                    )
                ]
            )
        keep = [c for c in (*COLUMNS[kind], PARTITION_KEY) if c in frame.columns]
        meta = {c: "string" for c in keep}
        frames.append(frame[keep].map_partitions(text_frame, meta=meta).assign(_kind=kind))
    return dd.concat(frames) if len(frames) > 1 else frames[0]


# --- command line -------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--scheduler`` to the ``evaluate`` command."""
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="evaluate a dataset directory (marks/ partitioned by school_id; see "
        "docs/distributed.md) on Dask: "
        "tcp://HOST:8786 for a running scheduler, local:N for N local worker processes; "
        f"needs the '{EXTRA}' extra; writes --format jsonl",
    )


def run_evaluate_cli(args: argparse.Namespace, out: TextIO, err: TextIO | None = None) -> int:
    """``evaluate`` over a dataset directory: JSON lines to ``out``; warnings (as they come) and
    row accounting to ``err``."""
    from ..registers.calendar import load_calendar

    _check_cli_args(args)
    err = err or getattr(args, "err", None) or sys.stderr  # the CLI's stream for warnings
    calendar = load_calendar(args.calendar) if getattr(args, "calendar", None) else Calendar()
    run = evaluate_dataset(
        args.history[0],
        args.policy,
        args.as_of,
        getattr(args, "scheduler", None),
        calendar=calendar,
        backend=getattr(args, "backend", "python"),
        pupil_ids=[args.pupil] if getattr(args, "pupil", None) else None,
        lines=True,
        strict_codes=getattr(args, "strict_codes", False),
        warn=lambda warning: print(warning, file=err),
    )
    for line in run:
        out.write(line + "\n")
    print(run.report.summary(), file=err)
    return 0


def _check_cli_args(args: argparse.Namespace) -> None:
    """Options that cannot combine with a dataset run are usage errors, said plainly."""
    if len(args.history) != 1 or not is_dataset(args.history):
        raise UsageError(
            [
                Problem(
                    "--scheduler needs one dataset directory as --history",
                    found=" ".join(map(str, args.history)),
                    expected="a directory with marks/school_id=<id>/*.parquet "
                    "(docs/distributed.md)",
                )
            ]
        )
    if getattr(args, "format", "jsonl") != "jsonl":
        raise UsageError(
            [
                Problem(
                    "a dataset evaluation writes one JSON object per pupil",
                    found=f"--format {args.format}",
                    expected="--format jsonl",
                )
            ]
        )
    if getattr(args, "horizon", None) is not None:
        raise UsageError("--horizon is not available with a dataset evaluation")
