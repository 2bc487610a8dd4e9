"""Every error the library raises, and the located ``Problem`` records they carry.

Errors are for people: each problem says where (file, line, column — or a CSV row or
JSON pointer), what was found, what was expected and, where it helps, an example.
Loaders collect every problem they find before raising, so an officer fixes a file in
one pass rather than one error at a time.
"""

from __future__ import annotations

from typing import Iterable

import attrs

__all__ = [
    "AttendanceRulesError",
    "CompileError",
    "ConditionError",
    "EvaluationError",
    "InputError",
    "InputNotFoundError",
    "Location",
    "NotFoundError",
    "PolicyError",
    "PolicyNotFoundError",
    "Problem",
    "UnknownNameError",
    "UsageError",
]


@attrs.frozen(order=True)
class Location:
    """Where something came from: a file and, when known, a 1-based line and column.

    ``pointer`` is a JSON pointer (``/pupils/3/marks/0/code``) or a CSV ``row N``
    when a line alone would not say enough.
    """

    file: str = ""
    line: int = 0
    column: int = attrs.field(default=0, kw_only=True)
    pointer: str = attrs.field(default="", kw_only=True)

    def __str__(self) -> str:
        text = self.file or "<input>"
        if self.line:
            text += f":{self.line}"
            if self.column:
                text += f":{self.column}"
        if self.pointer:
            text += f" ({self.pointer})"
        return text

    def shifted(self, line: int = 0, column: int = 0) -> "Location":
        """This location moved by ``line`` lines and ``column`` columns."""
        return attrs.evolve(self, line=self.line + line, column=self.column + column)


@attrs.frozen
class Problem:
    """One located finding: an error (the input is refused) or a warning."""

    message: str
    location: Location = Location()
    severity: str = attrs.field(default="error", kw_only=True)
    found: str = attrs.field(default="", kw_only=True)
    expected: str = attrs.field(default="", kw_only=True)
    example: str = attrs.field(default="", kw_only=True)

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location != Location() else ""  # no place: say none
        text = f"{where}{self.severity}: {self.message}"
        if self.found:
            text += f"; found {self.found}"
        if self.expected:
            text += f"; expected {self.expected}"
        if self.example:
            text += f" (for example: {self.example})"
        return text

    @property
    def is_error(self) -> bool:
        """True when the problem refuses the input rather than warning about it."""
        return self.severity == "error"


class AttendanceRulesError(Exception):
    """Base class of every error this library raises on purpose."""

    def __init__(self, problems: Iterable[Problem] | str) -> None:
        if isinstance(problems, str):
            problems = [Problem(problems)]
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    @property
    def problem(self) -> Problem:
        """The first problem: the one to show when there is room for only one."""
        return self.problems[0]


class InputError(AttendanceRulesError, ValueError):
    """An attendance history (JSON or CSV) is malformed; each problem names the row."""


class PolicyError(AttendanceRulesError, ValueError):
    """A policy file is invalid: schema, names, citations, layering or dates."""


class ConditionError(PolicyError):
    """A ``when``/``unless`` condition does not parse or does not type-check."""


class CompileError(PolicyError):
    """An effective policy cannot be compiled, e.g. a cycle through negation."""


class EvaluationError(AttendanceRulesError, RuntimeError):
    """Evaluating a compiled policy failed; the problem points at the rule's source."""


class UsageError(AttendanceRulesError, ValueError):
    """The command line or API was called wrongly (the CLI exits with status 2)."""


class NotFoundError(AttendanceRulesError, LookupError):
    """Something the caller named (a file, a policy, a pupil, an action) does not exist: the
    request is at fault, not the data, so the CLI exits with status 2, as for a usage error."""


class PolicyNotFoundError(PolicyError, NotFoundError):
    """No policy file has the id or path given (or the parent a policy extends), or it cannot be
    read."""


class InputNotFoundError(InputError, NotFoundError):
    """A history or case file (or folder) named by the caller does not exist."""


class UnknownNameError(NotFoundError, KeyError):
    """A lookup by name found nothing: no such pupil in the history, action in the policy,
    measure or property. A ``KeyError`` too, so ``except KeyError`` keeps working."""

    def __str__(self) -> str:
        # KeyError's own __str__ would quote the message as a repr
        return "\n".join(str(p) for p in self.problems)
