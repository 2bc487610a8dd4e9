"""Find the policies and schemas: bundled (an installed wheel or a source checkout), and
the user's own policy folders, which come first.

A policy id (``halton``) is looked up as ``<id>.yaml`` (or ``.yml``) in, first match wins:
each directory of ``ATTENDANCE_RULES_POLICY_PATH`` (``os.pathsep``-separated, in order),
then ``policies/`` in the working directory, then the bundled policies. So an officer who
edits ``policies/halton.yaml`` in a checkout sees the effect of ``--policy halton``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

__all__ = [
    "POLICY_PATH_VARIABLE",
    "bundled_policy_dir",
    "display_path",
    "find_policy",
    "policy_dirs",
    "schema_dir",
    "schema_text",
]

POLICY_PATH_VARIABLE = "ATTENDANCE_RULES_POLICY_PATH"
_SUFFIXES = (".yaml", ".yml")

_PACKAGE = Path(__file__).resolve().parents[1]  # attendance_rules/, above policy/


def _first_existing(*candidates: Path) -> Path:
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[0]


def bundled_policy_dir() -> Path:
    """The directory of the bundled policies (``policies/`` in a checkout)."""
    return _first_existing(_PACKAGE / "_policies", _PACKAGE.parent / "policies")


def schema_dir() -> Path:
    """The directory of the bundled JSON Schemas (``schemas/`` in a checkout)."""
    return _first_existing(_PACKAGE / "_schemas", _PACKAGE.parent / "schemas")


def schema_text(name: str) -> str:
    """The text of a bundled schema file."""
    return (schema_dir() / name).read_text(encoding="utf-8")


def policy_dirs(environ: Mapping[str, str] | None = None) -> list[Path]:
    """Where a policy id is looked up, in order: ATTENDANCE_RULES_POLICY_PATH, ./policies,
    bundled."""
    environ = os.environ if environ is None else environ
    given = [Path(d) for d in environ.get(POLICY_PATH_VARIABLE, "").split(os.pathsep) if d]
    return given + [Path("policies"), bundled_policy_dir()]


def find_policy(ref: str, environ: Mapping[str, str] | None = None) -> Path | None:
    """The file a policy reference names: a path as given (one with a folder or a .yaml
    suffix), else the first ``<ref>.yaml``/``.yml`` of ``policy_dirs``; None if none is found."""
    if Path(ref).suffix in _SUFFIXES or "/" in ref or os.sep in ref:
        return Path(ref)
    for directory in policy_dirs(environ):
        for suffix in _SUFFIXES:
            candidate = directory / f"{ref}{suffix}"
            try:
                if candidate.is_file():
                    return candidate
            except OSError:  # e.g. a name longer than the system allows: not a policy here
                return None
    return None


def display_path(path: str | Path) -> str:
    """A file as outputs show it: relative to the working directory when inside it (the same
    bytes wherever a checkout lies), else absolute; always with ``/``."""
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return absolute.as_posix()
