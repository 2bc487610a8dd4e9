"""``validate``: every check on one or more policy files, as located problems.

Order of checks: YAML syntax and safety → JSON Schema → building the model (dates,
durations, windows) → layering (extends, overrides, duplicates) → compiling
(conditions, names, citations, stratification) → warnings (review date, unused
parameters, actions nothing recommends).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Sequence

from ..exceptions import PolicyError, Problem
from ..policy.layers import PolicyLoader, resolve
from ..rules.compiler import RuleSet, compile_policy

__all__ = ["check_policy", "validate_paths"]


def check_policy(
    ref: str | Path, loader: PolicyLoader | None = None, today: dt.date | None = None
) -> tuple[RuleSet | None, list[Problem]]:
    """Validate one policy (path or bundled id) with its parents; returns rule set and problems."""
    loader = loader or PolicyLoader()
    try:
        ruleset = compile_policy(resolve(loader.chain(str(ref))), today=today)
    except PolicyError as error:
        return None, list(error.problems)
    from .static_checks import (
        static_problems,  # assurance: checks on the compiled rule set
    )

    return ruleset, list(ruleset.warnings) + static_problems(ruleset)


def validate_paths(paths: Sequence[str | Path], today: dt.date | None = None) -> list[Problem]:
    """Problems of every policy given, without repeats (a shared parent is reported once)."""
    today = today or dt.date.today()
    loader = PolicyLoader()
    seen: set[Problem] = set()
    out: list[Problem] = []
    for path in paths:
        for problem in check_policy(path, loader, today)[1]:
            if problem not in seen:
                seen.add(problem)
                out.append(problem)
    return out
