"""pytest plugin: every ``*.case.yaml`` file under the test paths is a test item.

Installed with the package (entry point ``pytest11``), so an embedding project's
suite replays its own case files with no configuration. A failure prints the case, the
check's location and an indented diff of expected against recommended actions.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import pytest

if TYPE_CHECKING:  # the type pytest's Item.repr_failure returns; pytest does not export it
    from _pytest._code.code import TerminalRepr

from ..engine.compiled import CompiledPolicy, load_policy
from ..exceptions import AttendanceRulesError
from .cases import CASE_SUFFIXES, load_case, run_case

__all__ = ["CaseFile", "CaseItem", "pytest_collect_file"]


_POLICIES = pytest.StashKey[dict]()


def _compiled(config: pytest.Config, ref: str) -> CompiledPolicy:
    """Compile each policy once per test session (kept on the session's config, not globally)."""
    cache = config.stash.setdefault(_POLICIES, {})
    if ref not in cache:
        cache[ref] = load_policy(ref)
    return cache[ref]


class CaseFailed(Exception):
    """Raised inside a case item when an expectation does not hold."""


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> "CaseFile | None":
    """Collect ``*.case.yaml`` / ``*.case.json`` files."""
    if file_path.name.endswith(CASE_SUFFIXES):
        return CaseFile.from_parent(parent, path=file_path)
    return None


class CaseFile(pytest.File):
    """A case file: one test item."""

    def collect(self) -> Iterator["CaseItem"]:
        """Yield the file's single item, named after the file."""
        yield CaseItem.from_parent(self, name=self.path.name)


class CaseItem(pytest.Item):
    """Runs one case file against its policy."""

    def runtest(self) -> None:
        """Load the case, run it against its policy (compiled once per session) and fail on any
        expectation that does not hold."""
        case = load_case(self.path)
        result = run_case(case, _compiled(self.config, case.policy))
        if not result.passed:
            raise CaseFailed("\n\n".join(result.failures))

    def repr_failure(self, excinfo: Any, style: Any = None) -> str | TerminalRepr:
        """The failures' own text for a failed case or a library error, pytest's traceback else."""
        if isinstance(excinfo.value, (CaseFailed, AttendanceRulesError)):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        """The case file, line 0 and ``case: <file name>`` for pytest's report headers."""
        return self.path, 0, f"case: {self.name}"
