"""The Python entry points: ``load_policy`` and ``evaluate``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Sequence

import attrs

from ..exceptions import InputError
from ..policy.conformance import conform, school_with_defaults, setting_problems
from ..policy.layers import load_policy_files
from ..registers.calendar import Calendar
from ..registers.history import History, Pupil, School
from ..rules.compiler import RuleSet, compile_policy
from .forward import Engine
from .results import Evaluation, PupilEvaluation
from .whynot import RuleCheck, why_not

__all__ = ["CompiledPolicy", "evaluate", "load_policy"]


class CompiledPolicy:
    """A validated, compiled, immutable policy ready to evaluate pupils (thread-safe)."""

    def __init__(
        self, ruleset: RuleSet, calendar: Calendar = Calendar(), backend: str = "python"
    ) -> None:
        self.ruleset = ruleset
        self.calendar = calendar
        self.backend = backend
        self.engine = _make_engine(ruleset, calendar, backend)

    def with_calendar(self, calendar: Calendar) -> CompiledPolicy:
        """The same policy and backend with other term dates (itself when ``calendar`` has none)."""
        # A new engine rather than a changed one: the engine's per-date plans and a replay's memo
        # assume one calendar (terms decide windows), and a CompiledPolicy may be shared by threads.
        return CompiledPolicy(self.ruleset, calendar, self.backend) if calendar.terms else self

    @property
    def id(self) -> str:
        """The policy id."""
        return self.ruleset.policy.id

    @property
    def version(self) -> str:
        """The policy version."""
        return self.ruleset.policy.version

    @property
    def digest(self) -> str:
        """SHA-256 over the policy files of the chain."""
        return self.ruleset.policy.digest

    def evaluate(
        self, history: History, as_of: dt.date, pupils: Sequence[str] | None = None
    ) -> Evaluation:
        """Recommendations for every pupil of ``history`` (or those named) as of a date.

        The history is first checked against the policy (``conformance.conform``):
        ``InputError`` for settings or events the policy cannot read, and the
        evaluation's ``warnings`` for the rest.
        """
        # Checked once per history rather than per pupil: events and settings the policy cannot read
        # would otherwise make a rule quietly read "no such event" instead of saying so.
        checked = conform(history, self.ruleset.policy, as_of)
        result = self.engine.evaluate(attrs.evolve(history, school=checked.school), as_of, pupils)
        return attrs.evolve(result, warnings=checked.warnings) if checked.warnings else result

    def evaluate_pupil(
        self, pupil: Pupil, as_of: dt.date, school: School = School()
    ) -> PupilEvaluation:
        """Recommendations for one pupil (the school's settings checked and defaulted as
        declared)."""
        return self.engine.evaluate_pupil(pupil, as_of, self.school(school))

    def why_not(
        self, pupil: Pupil, as_of: dt.date, action: str, school: School = School()
    ) -> tuple[RuleCheck, ...]:
        """What stands between ``pupil`` and ``action``: each rule's unmet conditions."""
        return why_not(self.engine, pupil, as_of, action, self.school(school))

    def school(self, school: School) -> School:
        """``school`` with the policy's declared defaults; ``InputError`` for a setting it cannot
        read."""
        errors = [p for p in setting_problems(school, self.ruleset.policy) if p.is_error]
        if errors:
            raise InputError(errors)
        return school_with_defaults(school, self.ruleset.policy)

    def __repr__(self) -> str:
        return (
            f"CompiledPolicy({self.id!r}, version={self.version!r}, "
            f"rules={len(self.ruleset.rules)})"
        )


def _make_engine(ruleset: RuleSet, calendar: Calendar, backend: str) -> Engine:
    if backend == "python":
        return Engine(ruleset, calendar)
    if backend == "durable":
        # Imported only when asked for: durable_rules is an optional extra, and the default engine
        # must not need it.
        from .durable import DurableEngine

        return DurableEngine(ruleset, calendar)
    raise ValueError(f"unknown backend {backend!r}; expected 'python' or 'durable'")


def load_policy(
    ref: str | Path,
    search_dirs: Sequence[str | Path] = (),
    calendar: Calendar = Calendar(),
    backend: str = "python",
) -> CompiledPolicy:
    """Load a policy by bundled id (``"halton"``) or path, with its parents, and compile it.

    Raises ``PolicyError`` (with every located problem) if any file of the chain is invalid.
    """
    return CompiledPolicy(compile_policy(load_policy_files(ref, search_dirs)), calendar, backend)


def evaluate(policy: CompiledPolicy | str | Path, history: History, as_of: dt.date) -> Evaluation:
    """One-call evaluation: ``evaluate("halton", load_history("h.json"), date(2024, 2, 9))``."""
    if not isinstance(policy, CompiledPolicy):
        policy = load_policy(policy)
    return policy.evaluate(history, as_of)
