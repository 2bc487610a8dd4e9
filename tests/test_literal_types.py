"""The word sets the code names as Literal types agree with the schemas that list them again.

A policy's units, action kinds and so on are written once in the code (a ``Literal`` type
and its values by ``typing.get_args``) and once in each JSON Schema that validates them;
these tests keep the two in step (same words, same order).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_args

import pytest

from attendance_rules.policy.model import (
    ACTION_KINDS,
    PARAMETER_UNITS,
    POLICY_KINDS,
    REPEATS,
    RESPONSIBLE_BODIES,
    SETTING_TYPES,
)
from attendance_rules.registers.history import EVENT_FIELDS, FIELD_KINDS
from attendance_rules.registers.measures import MEASURES
from attendance_rules.rules.lexer import COMPARE_OPS
from attendance_rules.rules.values import MIRRORED, OPERATORS

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"


def _schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))


def _at(schema: dict[str, Any], *path: str) -> Any:
    node: Any = schema
    for step in path:
        node = node[step]
    return node


_ENUMS = [
    ("policy", ("properties", "kind", "enum"), POLICY_KINDS),
    ("policy", ("$defs", "parameter", "properties", "unit", "enum"), PARAMETER_UNITS),
    ("policy", ("$defs", "action", "properties", "kind", "enum"), ACTION_KINDS),
    ("policy", ("$defs", "action", "properties", "responsible", "enum"), RESPONSIBLE_BODIES),
    ("policy", ("$defs", "action", "properties", "repeat", "enum"), REPEATS),
    ("policy", ("$defs", "setting", "properties", "type", "enum"), SETTING_TYPES),
    ("evaluation", ("$defs", "recommendation", "properties", "kind", "enum"), ACTION_KINDS),
    (
        "evaluation",
        ("$defs", "recommendation", "properties", "responsible", "enum"),
        RESPONSIBLE_BODIES,
    ),
]


@pytest.mark.parametrize(
    ("schema", "path", "values"), _ENUMS, ids=[f"{s}:{'/'.join(p[-4:-1])}" for s, p, _ in _ENUMS]
)
def test_schema_enum_is_the_literal_types_values(
    schema: str, path: tuple[str, ...], values: tuple[str, ...]
) -> None:
    assert tuple(_at(_schema(schema), *path)) == values


def test_schema_measures_are_the_library_measures() -> None:
    enum = _at(_schema("policy"), "$defs", "measureUse", "properties", "measure", "enum")
    assert tuple(enum) == tuple(MEASURES)


def test_event_field_kinds_are_the_schemas_with_text_for_str() -> None:
    fields = _at(_schema("policy"), "$defs", "eventType", "properties", "fields")
    enum = fields["additionalProperties"]["anyOf"][0]["enum"]
    assert tuple({"text": "str"}.get(word, word) for word in enum) == FIELD_KINDS


def test_standard_event_fields_use_only_field_kinds() -> None:
    kinds = {spec for fields in EVENT_FIELDS.values() for spec in fields.values()}
    assert {k for k in kinds if not isinstance(k, tuple)} <= set(FIELD_KINDS)


def test_operators_are_the_lexers_comparison_operators() -> None:
    assert set(OPERATORS) == set(MIRRORED) == set(COMPARE_OPS)
    assert all(MIRRORED[MIRRORED[op]] == op for op in COMPARE_OPS)


@pytest.mark.parametrize("op", sorted(OPERATORS))
def test_the_mirrored_and_negated_operators_test_what_they_say(op: str) -> None:
    """``a OP b`` is ``b MIRRORED[OP] a`` and never ``a NEGATED[OP] b`` (numbers: always defined)."""
    from attendance_rules.rules.values import NEGATED

    assert set(NEGATED) == set(OPERATORS)
    for a in range(-2, 3):
        for b in range(-2, 3):
            assert OPERATORS[MIRRORED[op]](b, a) == OPERATORS[op](a, b)
            assert OPERATORS[NEGATED[op]](a, b) == (not OPERATORS[op](a, b))


@pytest.mark.parametrize(("op", "words"), [(">=", "at least 10"), ("<", "less than 10"), ("==", "is 10"),
                                           ("!=", "is not 10"), ("in", "one of 10"), ("is", "")])
def test_a_required_value_reads_as_words(op: str, words: str) -> None:
    """What a reason says a test requires: the operator as words ("one of" for a list)."""
    from attendance_rules.engine.context import outcome_values
    from attendance_rules.exceptions import Location
    from attendance_rules.rules.runtime import Comparison, Outcome

    step = Comparison(location=Location(), text="x", op=op, left=1, right=10, left_text="x = 1",
                      right_text="10", holds=False)
    (value,) = outcome_values(Outcome(value=False, comparisons=(step,)))
    assert value.required == words


def test_value_units_are_the_parameter_units_and_the_extra_words() -> None:
    """A condition's values carry a parameter's unit (a measure's is one of them), "" for a bare
    number, "years" (literals only) or "setting"; the unit words name only such units."""
    from attendance_rules.registers.measures import MEASURE_UNITS
    from attendance_rules.rules.values import DURATION_UNITS, VALUE_UNITS, DurationUnit
    from attendance_rules.text import UNIT_TEXT

    assert VALUE_UNITS == (*PARAMETER_UNITS, "", "years", "setting")
    assert set(MEASURE_UNITS) <= set(PARAMETER_UNITS)
    assert set(UNIT_TEXT) <= set(VALUE_UNITS)
    assert set(DURATION_UNITS) < set(get_args(DurationUnit)) <= set(VALUE_UNITS)


@pytest.mark.parametrize(
    ("text", "unit"),
    [("1 session", "sessions"), ("2 sessions", "sessions"), ("1 day", "days"), ("3 days", "days"),
     ("1 week", "weeks"), ("6 weeks", "weeks"), ("1 year", "years"), ("2 years", "years"),
     ("4 count", "count"), ("80 pounds", "pounds"), ("1 school day", "school_days"),
     ("10 school days", "school_days"), ("1 school week", "school_weeks"),
     ("12 school weeks", "school_weeks"), ("10%", "percent"), ("£80", "pounds"), ("7", "")],
)
def test_a_number_is_written_with_its_units_words(text: str, unit: str) -> None:
    from attendance_rules.exceptions import Location
    from attendance_rules.rules.nodes import Compare, Literal
    from attendance_rules.rules.parser import parse

    node = parse(f"x >= {text}", Location())
    assert isinstance(node, Compare) and isinstance(node.right, Literal)
    assert node.right.unit == unit
