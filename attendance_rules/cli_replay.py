"""CLI commands of the replay stage (filled in as they are built)."""

from __future__ import annotations

from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add this module's commands to the CLI parser."""
