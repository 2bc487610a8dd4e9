"""The shared parts of every HTML page: the Jinja2 environment, formatting filters,
file names and the links into the handbook.

Links from a report to the handbook are ``HANDBOOK#rule-ID`` (``#parameter-ID``,
``#action-ID``, ``#measure-ID``): the handbook page (``policy doc --format html``) gives
each rule, parameter, action and measure an element with that id.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

import jinja2
from markupsafe import Markup

from ..text import long_date, short_date

__all__ = [
    "ANCHOR_KINDS",
    "anchor",
    "environment",
    "handbook_file_name",
    "handbook_link",
    "percent",
    "pupil_file_name",
    "render",
]

ANCHOR_KINDS = ("rule", "parameter", "action", "measure", "fact", "setting")


def anchor(kind: str, name: str) -> str:
    """The id of the handbook element for a rule, parameter, action … (``rule-stage1_letter``).
    Names are policy ids (letters, digits, ``_``); anything else is replaced so the id stays
    valid."""
    if kind not in ANCHOR_KINDS:
        raise ValueError(f"unknown anchor kind {kind!r}; expected one of {', '.join(ANCHOR_KINDS)}")
    return f"{kind}-{re.sub(r'[^A-Za-z0-9_.-]', '-', name)}"


def handbook_file_name(policy_id: str) -> str:
    """The file name of a policy's HTML handbook, written beside the reports that link to it."""
    return f"handbook-{_safe(policy_id)}.html"


def handbook_link(handbook: str, kind: str, name: str) -> str:
    """The address of a handbook entry: ``handbook-halton.html#rule-halton_stage1``."""
    return f"{handbook}#{anchor(kind, name)}"


def pupil_file_name(pupil_id: str) -> str:
    """A file name for a pupil's report that is safe whatever the id holds (ids come from
    registers): letters, digits, ``-`` and ``_`` kept, anything else as ``~XX`` hex bytes."""
    return f"{_safe(pupil_id)}.html"


def _safe(text: str) -> str:
    kept = re.sub(
        r"[^A-Za-z0-9_-]", lambda m: "".join(f"~{b:02X}" for b in m.group().encode()), text
    )
    return kept[:150] or "~"


def percent(value: Fraction | float | None, places: int = 1) -> str:
    """``91.3%``; ``n/a`` when there is no value (no possible sessions)."""
    return "n/a" if value is None else f"{float(value) * 100:.{places}f}%"


def environment() -> jinja2.Environment:
    """The Jinja2 environment: templates from this package, autoescaping on for every
    template (histories are untrusted input), undefined names an error, not blank text."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("attendance_rules.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(long_date=long_date, short_date=short_date, percent=percent, anchor=anchor)
    env.globals.update(handbook_link=handbook_link, pupil_file_name=pupil_file_name)
    return env


_ENV: list[jinja2.Environment] = []  # built on first use: one per process


def render(template: str, **context: Any) -> str:
    """Render ``templates/<template>`` with ``context``; the page CSS is available as ``css``."""
    if not _ENV:
        _ENV.append(environment())
    env = _ENV[0]
    return env.get_template(template).render(css=Markup(_css()), **context)


def _css() -> str:
    from importlib.resources import files

    return (
        files("attendance_rules.report")
        .joinpath("templates")
        .joinpath("report.css")
        .read_text(encoding="utf-8")
    )
