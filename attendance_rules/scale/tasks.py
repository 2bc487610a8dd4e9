"""The per-pupil evaluation task shared by ``evaluate``, ``cohort`` and the HTML cohort pack.

``evaluate_task`` describes the work (a ``parallel.PupilTask``) and gives this process's
state; worker processes rebuild theirs with ``setup_policy`` and run ``evaluate_one`` on
each pupil. ``evaluation_header`` is the ``Evaluation`` the pupils are streamed into. They
live here, not with a command, because the command line and the report both use them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["evaluate_one", "evaluate_task", "evaluation_header", "setup_policy"]


def evaluation_header(policy: Any, history: Any, as_of: Any, warnings: tuple = ()) -> Any:
    """An ``Evaluation`` with the provenance of a run and its warnings, and no pupils (they are
    streamed)."""
    from ..engine.provenance import Provenance
    from ..engine.results import Evaluation

    return Evaluation(
        as_of=as_of,
        provenance=Provenance.of(policy.ruleset, history),
        pupils=(),
        warnings=tuple(warnings),
    )


def evaluate_task(
    policy: Any, ref: str, as_of: Any, school: Any, horizon: int | None = None, lines: bool = False
) -> tuple[Any, Any]:
    """The per-pupil work of ``evaluate`` with ``policy`` (loaded from ``ref``), and its
    state for this process; worker processes load the policy themselves. With ``lines``
    each pupil comes back as its ``jsonl`` line, written where it was evaluated (a string
    crosses between processes far faster than the evaluation's objects)."""
    from .parallel import PupilTask

    extra = (as_of, school, horizon, lines)
    return PupilTask(setup_policy, evaluate_one, (ref, policy.calendar, policy.backend, extra)), (
        policy,
        extra,
    )


def setup_policy(ref: str, calendar: Any, backend: str, extra: Any = None) -> tuple[Any, Any]:
    """A worker's state: the policy ``ref`` compiled (once per process), and ``extra``."""
    from ..engine.compiled import load_policy

    return load_policy(ref, calendar=calendar, backend=backend), extra


def evaluate_one(state: tuple[Any, tuple], pupil: Any) -> Any:
    """One pupil's evaluation (with its thresholds within the horizon, when one is given)."""
    policy, (as_of, school, horizon, lines) = state
    result = policy.evaluate_pupil(pupil, as_of, school)
    if horizon is not None:
        import attrs

        from ..engine.distance import distances

        result = attrs.evolve(
            result, at_risk=distances(policy.engine, pupil, as_of, school, horizon)
        )
    if lines:
        from ..engine.explain import pupil_jsonl

        return pupil_jsonl(result)
    return result
