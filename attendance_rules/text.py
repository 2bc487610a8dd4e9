"""How dates, units and plain values read in every output: one place, so that a report, an
explanation and an error never write the same day two ways ("9 Feb 2024", never "09 Feb
2024"), a unit is read with the words it is written with, and a value written into a CSV
cell or an event's details reads back the same."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any, Mapping

__all__ = ["UNIT_TEXT", "cell_text", "citation_text", "long_date", "short_date"]

# How a unit reads after a number (singular, plural), and so the words a condition's numbers and a
# due window's lengths may be written with (the parser and policy.values read them from here).
UNIT_TEXT: Mapping[str, tuple[str, str]] = {
    "sessions": ("session", "sessions"),
    "days": ("day", "days"),
    "weeks": ("week", "weeks"),
    "years": ("year", "years"),
    "count": ("count", "count"),
    "school_weeks": ("school week", "school weeks"),
    "school_days": ("school day", "school days"),
}


@functools.lru_cache(maxsize=4096)  # explanations and reports show the same few dates many times
def short_date(day: dt.date) -> str:
    """``9 Feb 2024``: tables, explanations, chart labels."""
    return f"{day.day} {day:%b %Y}"


@functools.lru_cache(maxsize=1024)
def long_date(day: dt.date) -> str:
    """``9 February 2024``: the form documents and letters use."""
    return f"{day.day} {day:%B %Y}"


def cell_text(value: Any) -> str:
    """A value as a CSV cell or an event detail: ``true``/``false``, an ISO date, ``""`` for
    None — the forms the readers accept back."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return "" if value is None else str(value)


def citation_text(document: str, section: str = "", page: str = "", paragraph: str = "") -> str:
    """``Halton framework, 4.2, p. 7, para. 3``: a cited place as every output writes it (the
    parts not known left out)."""
    parts = (section, page and f"p. {page}", paragraph and f"para. {paragraph}")
    return ", ".join([document, *(p for p in parts if p)])
