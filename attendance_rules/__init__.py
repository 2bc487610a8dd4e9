"""attendance-rules: school-attendance policies as executable, auditable rules.

The public API is small and listed in ``__all__``; see README.md for an example.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .api import CompiledPolicy, evaluate, load_policy
from .codes import Category, CodeBook, default_codebook
from .exceptions import (
    AttendanceRulesError,
    CompileError,
    ConditionError,
    EvaluationError,
    InputError,
    Location,
    PolicyError,
    Problem,
    UsageError,
)
from .evaluation import Evaluation, PupilEvaluation, Reason, Recommendation, Suppression
from .history import Event, History, Mark, Pupil, School
from .measures import Measure, Window, compute
from .readers import LoadReport, load_history, read_history

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
    "LoadReport",
    "Location",
    "Mark",
    "Measure",
    "PolicyError",
    "Problem",
    "Pupil",
    "PupilEvaluation",
    "Reason",
    "Recommendation",
    "School",
    "Suppression",
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
