"""attendance-rules: school-attendance policies as executable, auditable rules.

The public API is small and listed in ``__all__``; see README.md for an example.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any


def _version() -> str:
    """The version, written once in pyproject.toml and read from the installed package's
    metadata; a checkout used without installing it says so rather than guess."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("attendance-rules")
    except PackageNotFoundError:
        return "0+unknown"


__version__ = _version()

# The public names are imported on first use (PEP 562), so that the command line starts
# fast and a Ctrl-C during start-up meets the CLI's own handler rather than an import.
_WHERE = {
    "CompiledPolicy": "engine.compiled",
    "evaluate": "engine.compiled",
    "load_policy": "engine.compiled",
    "Category": "registers.codes",
    "CodeBook": "registers.codes",
    "default_codebook": "registers.codes",
    "AttendanceRulesError": "exceptions",
    "CompileError": "exceptions",
    "ConditionError": "exceptions",
    "EvaluationError": "exceptions",
    "InputError": "exceptions",
    "InputNotFoundError": "exceptions",
    "Location": "exceptions",
    "NotFoundError": "exceptions",
    "PolicyError": "exceptions",
    "PolicyNotFoundError": "exceptions",
    "Problem": "exceptions",
    "UnknownNameError": "exceptions",
    "UsageError": "exceptions",
    "Evaluation": "engine.results",
    "PupilEvaluation": "engine.results",
    "Reason": "engine.results",
    "Recommendation": "engine.results",
    "Suppression": "engine.results",
    "Event": "registers.history",
    "History": "registers.history",
    "Mark": "registers.history",
    "Pupil": "registers.history",
    "School": "registers.history",
    "Measure": "registers.measures",
    "Window": "registers.measures",
    "compute": "registers.measures",
    "LoadReport": "registers.reading",
    "load_history": "registers.readers",
    "read_history": "registers.readers",
}

if TYPE_CHECKING:
    from .engine.compiled import CompiledPolicy, evaluate, load_policy
    from .engine.results import (
        Evaluation,
        PupilEvaluation,
        Reason,
        Recommendation,
        Suppression,
    )
    from .exceptions import (
        AttendanceRulesError,
        CompileError,
        ConditionError,
        EvaluationError,
        InputError,
        InputNotFoundError,
        Location,
        NotFoundError,
        PolicyError,
        PolicyNotFoundError,
        Problem,
        UnknownNameError,
        UsageError,
    )
    from .registers.codes import Category, CodeBook, default_codebook
    from .registers.history import Event, History, Mark, Pupil, School
    from .registers.measures import Measure, Window, compute
    from .registers.readers import load_history, read_history
    from .registers.reading import LoadReport


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'attendance_rules' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "AttendanceRulesError",
    "Category",
    "CodeBook",
    "CompileError",
    "CompiledPolicy",
    "ConditionError",
    "Evaluation",
    "EvaluationError",
    "Event",
    "History",
    "InputError",
    "InputNotFoundError",
    "LoadReport",
    "Location",
    "Mark",
    "Measure",
    "NotFoundError",
    "PolicyError",
    "PolicyNotFoundError",
    "Problem",
    "Pupil",
    "PupilEvaluation",
    "Reason",
    "Recommendation",
    "School",
    "Suppression",
    "UnknownNameError",
    "UsageError",
    "Window",
    "__version__",
    "compute",
    "default_codebook",
    "evaluate",
    "load_history",
    "load_policy",
    "read_history",
]
