"""Bounds a parent declares on its parameters: validate refuses a child that breaks one."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from attendance_rules.assurance.checks import validate_paths

CITE = "{source: doc, section: s1, says: a paraphrase of the clause for tests}"

PARENT = f"""\
id: bounded
title: A parent with bounds
kind: national
version: "1"
effective_from: 2020-09-01
sources:
  doc: {{title: A test document}}
parameters:
  fixed_value: {{value: 10, unit: sessions, cite: {CITE}, bounds: {{change: fixed, reason: set nationally for everyone}}}}
  lower_only: {{value: 10, unit: sessions, cite: {CITE}, bounds: {{change: only_lower, reason: schools may act earlier}}}}
  higher_only: {{value: 4, unit: weeks, cite: {CITE}, bounds: {{change: only_higher}}}}
  ranged: {{value: 5, unit: sessions, cite: {CITE}, bounds: {{change: range, min: 3, max: 6}}}}
  free_value: {{value: 7, unit: sessions, cite: {CITE}, bounds: {{change: free}}}}
actions:
  x: {{title: X, kind: letter, responsible: school, cite: {CITE}}}
rules:
  - id: uses_all
    title: Uses every parameter
    when: >-
      unauthorised_sessions over academic year >= fixed_value and unauthorised_sessions over academic year >= lower_only
      and unauthorised_sessions over academic year >= ranged and unauthorised_sessions over academic year >= free_value
      and time since latest contact_made > higher_only
    recommend: x
    cite: {CITE}
"""


def child(tmp_path: Path, name: str, value: int, unit: str = "sessions") -> Path:
    (tmp_path / "bounded.yaml").write_text(PARENT, encoding="utf-8")
    path = tmp_path / "child.yaml"
    path.write_text(textwrap.dedent(f"""\
        id: child
        title: A child overriding {name}
        kind: authority
        version: "1"
        effective_from: 2021-09-01
        extends: bounded
        override_parameters:
          {name}: {{value: {value}, unit: {unit}, cite: {CITE}}}
        """), encoding="utf-8")
    return path


@pytest.mark.parametrize(("name", "value", "unit", "broken"), [
    ("fixed_value", 10, "sessions", False), ("fixed_value", 8, "sessions", True), ("fixed_value", 12, "sessions", True),
    ("lower_only", 8, "sessions", False), ("lower_only", 12, "sessions", True),
    ("higher_only", 6, "weeks", False), ("higher_only", 3, "weeks", True),
    ("ranged", 3, "sessions", False), ("ranged", 6, "sessions", False), ("ranged", 2, "sessions", True),
    ("ranged", 7, "sessions", True), ("free_value", 1, "sessions", False), ("free_value", 99, "sessions", False),
])
def test_each_bound_kind(tmp_path, name, value, unit, broken):
    path = child(tmp_path, name, value, unit)
    errors = [p for p in validate_paths([path]) if p.is_error]
    if not broken:
        assert errors == []
        return
    (error,) = errors
    assert error.location.file == str(path) and error.location.line == 8  # the override's line
    assert f"override of {name!r} breaks the bound" in error.message
    assert "bounded.yaml:" in error.message  # names the parent's file and line too
    assert error.found == str(value)


def test_national_threshold_is_fixed_for_authorities(tmp_path):
    path = tmp_path / "lower_threshold.yaml"
    path.write_text(textwrap.dedent(f"""\
        id: lower_threshold
        title: An authority lowering the national penalty-notice threshold
        kind: authority
        version: "1"
        effective_from: 2024-09-01
        extends: england
        sources:
          doc: {{title: A test document}}
        override_parameters:
          pn_national_threshold: {{value: 8, cite: {CITE}}}
        """), encoding="utf-8")
    (error,) = [p for p in validate_paths([path]) if p.is_error]
    assert "pn_national_threshold" in error.message and "england.yaml:" in error.message
