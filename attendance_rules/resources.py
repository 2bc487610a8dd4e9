"""Find the bundled policies and schemas, from an installed wheel or a source checkout."""

from __future__ import annotations

from pathlib import Path

__all__ = ["bundled_policy_dir", "schema_dir", "schema_text"]

_PACKAGE = Path(__file__).resolve().parent


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
