"""The JSON Schema for policy files (schemas/policy.schema.json) is valid and is the contract."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = ROOT / "schemas" / "policy.schema.json"
POLICIES = sorted((ROOT / "policies").glob("*.yaml"))

EXAMPLE = """\
# yaml-language-server: $schema=../schemas/policy.schema.json
id: halton
title: Halton Attendance Framework 2023-2026
kind: authority
owner: Halton Borough Council
version: "2023-26.1"
effective_from: 2023-09-01
effective_to: 2026-08-31
review_due: 2026-08-31
extends: england
x-reviewed-by: attendance panel, May 2024

sources:
  halton_framework:
    title: Halton Attendance Framework 2023-2026
    publisher: Halton Borough Council
    date: "2023"
    location: shared/sources/widnes_academy_policy_2023-24_and_halton_framework_2023-26.txt
    url: https://www.halton.gov.uk/attendance
    notes: Version approved by Schools Forum.

flags:
  part_time_timetable: pupil is on an agreed temporary part-time timetable

parameters:
  pn_warning_threshold:
    value: 10
    unit: sessions
    description: Unauthorised sessions in 12 school weeks that trigger a warning letter.
    bounds: {change: range, min: 5, max: 15, reason: Schools may tighten or loosen within the band.}
    cite: {source: halton_framework, section: "Stage 2", page: 14,
           says: warning letter once unauthorised absence reaches this many sessions in 12 weeks}
  stage1_trigger:
    value: 1
    unit: sessions
    local_choice: The framework starts stage 1 on unauthorised absence without a count; we read any unauthorised session as the trigger.
    cite: {source: halton_framework, section: "Stage 1", page: 12, says: stage 1 begins when unauthorised absence appears}
  pn_amount:
    unit: pounds
    values:
      - {from: 2023-09-01, value: 60, cite: {source: halton_framework, page: 20, says: penalty notice is 60 pounds if paid in 21 days}}
      - {from: 2024-08-19, value: 80, cite: {source: halton_framework, paragraph: "20(a)", says: penalty notice rises to 80 pounds from August 2024}}
  review_max_weeks:
    value: 6
    unit: weeks
    cite: {source: halton_framework, section: "Stage 3", says: review the plan within six weeks of the meeting}

override_parameters:
  persistent_absence_rate:
    value: 90
    unit: percent
    cite: {source: halton_framework, section: "Definitions", page: 3, says: persistent absence starts below 90 percent attendance}

measures:
  unauthorised_12w:
    measure: unauthorised_sessions
    window: last 12 school weeks
    description: Unauthorised absence in the last 12 school weeks.
  pn_sessions:
    measure: code_sessions
    codes: [G, N, O, U]
    window: last 10 school weeks
    cite: {source: halton_framework, section: "Penalty notices", page: 19, says: sessions coded G N O or U count towards a notice}
  since_meeting:
    measure: attendance_rate
    window: since latest school_attendance_meeting
  run:
    measure: unexplained_run

actions:
  pn_warning_letter:
    title: Penalty notice warning letter
    kind: letter
    responsible: school
    due: {within_school_days: 5}
    repeat: once_per_academic_year
    done_by: letter_sent
    description: Letter warning that a penalty notice may follow.
    effective_from: 2023-09-01
    cite: {source: halton_framework, section: "Stage 2", page: 14, says: school sends a warning letter at stage 2}
  plan_review:
    title: Review the attendance plan
    kind: review
    responsible: education_welfare_service
    due: {after: school_attendance_meeting, from: 4 weeks, to: 6 weeks}
    done_by: review_held
    local_choice: The framework says reviews happen regularly; we read it as four to six weeks.
    cite: {source: halton_framework, section: "Stage 3", page: 16, says: plans are reviewed a few weeks after the meeting}

rules:
  - id: pn_warning
    title: Warn of a penalty notice at 10 unauthorised sessions in 12 weeks
    when: unauthorised_12w >= pn_warning_threshold and school.traded_ews
    derive: [stage2]
    recommend: [pn_warning_letter]
    unless:
      - when: child_protection_plan or child_in_need_plan or early_help_plan
        reason: Consult the lead professional before any enforcement step.
        actions: [pn_warning_letter]
        cite: {source: halton_framework, section: "Stage 2", page: 15, says: enforcement waits for the lead professional}
    priority: 20
    effective_from: 2023-09-01
    cite: {source: halton_framework, section: "Stage 2", page: 14, says: warning letter at ten unauthorised sessions}
  - id: review_late
    title: Plan review overdue
    when: time since latest school_attendance_meeting > review_max_weeks
    derive: review_overdue
    replaces: Halton reviews plans sooner than the national guidance.
    cite: {source: halton_framework, section: "Stage 3", page: 16, says: reviews must not slip past six weeks}

disable_rules:
  national_letter: Halton sends its own stage 2 letter instead.
"""


def isoify(value: Any) -> Any:
    """Dates (as yaml.safe_load makes them) to ISO strings, recursively, as the loader gives the validator."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: isoify(item) for key, item in value.items()}
    if isinstance(value, list):
        return [isoify(item) for item in value]
    return value


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


@pytest.fixture()
def example() -> dict[str, Any]:
    return isoify(yaml.safe_load(EXAMPLE))


def error_paths(validator: Draft202012Validator, doc: Any) -> list[tuple[Any, ...]]:
    return [tuple(error.absolute_path) for error in validator.iter_errors(doc)]


def test_schema_is_valid_draft_2020_12(schema: dict[str, Any]) -> None:
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "https://attendance-rules.example/schemas/policy.schema.json"
    for name in ("citation", "localChoice", "parameter", "measureUse", "action", "due", "rule",
                 "unlessClause", "source", "bounds"):
        assert name in schema["$defs"], name


def test_isoify_turns_yaml_dates_into_strings() -> None:
    loaded = yaml.safe_load("a: 2023-09-01\nb: [{from: 2024-08-19}]\nc: '2023'\n")
    assert isoify(loaded) == {"a": "2023-09-01", "b": [{"from": "2024-08-19"}], "c": "2023"}


def test_complete_example_is_valid(validator: Draft202012Validator, example: dict[str, Any]) -> None:
    assert error_paths(validator, example) == []


def test_minimal_policy_is_valid(validator: Draft202012Validator) -> None:
    doc = {"id": "england", "title": "Working together", "kind": "national", "version": "2024",
           "effective_from": "2024-08-19"}
    assert error_paths(validator, doc) == []


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return mutate


def _delete(path: tuple[Any, ...]) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    return mutate


def _rename(path: tuple[Any, ...], new: str) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[new] = target.pop(path[-1])
    return mutate


# (name, mutation, path of every error it must cause, a schema keyword among those errors)
MUTATIONS: list[tuple[str, Callable[[dict[str, Any]], None], tuple[Any, ...], str]] = [
    ("typo_top_level_key", _rename(("effective_from",), "efective_from"), (), "additionalProperties"),
    ("unknown_top_level_key", _set(("colour",), "blue"), (), "additionalProperties"),
    ("rule_without_cite", _delete(("rules", 0, "cite")), ("rules", 0), "required"),
    ("rule_without_when", _delete(("rules", 0, "when")), ("rules", 0), "required"),
    ("rule_without_title", _delete(("rules", 1, "title")), ("rules", 1), "required"),
    ("rule_without_derive_or_recommend", _delete(("rules", 1, "derive")), ("rules", 1), "anyOf"),
    ("rule_typo_key", _rename(("rules", 0, "recommend"), "recommends"), ("rules", 0), "additionalProperties"),
    ("rule_priority_not_integer", _set(("rules", 0, "priority"), "high"), ("rules", 0, "priority"), "type"),
    ("action_bad_kind", _set(("actions", "pn_warning_letter", "kind"), "email"),
     ("actions", "pn_warning_letter", "kind"), "enum"),
    ("action_bad_responsible", _set(("actions", "pn_warning_letter", "responsible"), "police"),
     ("actions", "pn_warning_letter", "responsible"), "enum"),
    ("action_without_cite", _delete(("actions", "plan_review", "cite")), ("actions", "plan_review"), "required"),
    ("action_bad_repeat", _set(("actions", "plan_review", "repeat"), "twice"),
     ("actions", "plan_review", "repeat"), "enum"),
    ("citation_missing_says", _delete(("rules", 0, "cite", "says")), ("rules", 0, "cite"), "required"),
    ("citation_says_too_short", _set(("rules", 0, "cite", "says"), "see p14"), ("rules", 0, "cite", "says"),
     "minLength"),
    ("citation_says_too_long", _set(("rules", 0, "cite", "says"), "x" * 401), ("rules", 0, "cite", "says"),
     "maxLength"),
    ("citation_without_location", _set(("actions", "pn_warning_letter", "cite"),
                                       {"source": "halton_framework", "says": "school sends a warning letter"}),
     ("actions", "pn_warning_letter", "cite"), "anyOf"),
    ("parameter_value_and_values", _set(("parameters", "pn_amount", "value"), 80),
     ("parameters", "pn_amount"), "oneOf"),
    ("parameter_neither_value_nor_values", _delete(("parameters", "review_max_weeks", "value")),
     ("parameters", "review_max_weeks"), "oneOf"),
    ("parameter_without_cite", _delete(("parameters", "stage1_trigger", "cite")),
     ("parameters", "stage1_trigger"), "required"),
    ("dated_value_without_cite", _delete(("parameters", "pn_amount", "values", 1, "cite")),
     ("parameters", "pn_amount", "values", 1), "required"),
    ("parameter_bad_unit", _set(("parameters", "stage1_trigger", "unit"), "hours"),
     ("parameters", "stage1_trigger", "unit"), "enum"),
    ("bounds_range_without_max", _delete(("parameters", "pn_warning_threshold", "bounds", "max")),
     ("parameters", "pn_warning_threshold", "bounds"), "required"),
    ("bad_policy_id", _set(("id",), "Halton"), ("id",), "pattern"),
    ("bad_rule_id", _set(("rules", 0, "id"), "pn-warning"), ("rules", 0, "id"), "pattern"),
    ("bad_parameter_name", _rename(("parameters", "stage1_trigger"), "Stage1Trigger"), ("parameters",),
     "pattern"),
    ("bad_recommended_action_id", _set(("rules", 0, "recommend"), ["PN letter"]), ("rules", 0, "recommend"),
     "anyOf"),
    ("disable_rules_reason_too_short", _set(("disable_rules", "national_letter"), "no"),
     ("disable_rules", "national_letter"), "minLength"),
    ("bad_kind", _set(("kind",), "academy_trust"), ("kind",), "enum"),
    ("bad_date", _set(("effective_from",), "1/9/2023"), ("effective_from",), "pattern"),
    ("impossible_date", _set(("effective_to",), "2026-02-30"), ("effective_to",), "format"),
    ("version_not_string", _set(("version",), 1), ("version",), "type"),
    ("source_without_title", _delete(("sources", "halton_framework", "title")),
     ("sources", "halton_framework"), "required"),
    ("override_without_extends", _delete(("extends",)), (), "required"),
    ("measure_unknown", _set(("measures", "run", "measure"), "lateness"), ("measures", "run", "measure"), "enum"),
    ("measure_bad_window", _set(("measures", "unauthorised_12w", "window"), "last twelve weeks"),
     ("measures", "unauthorised_12w", "window"), "pattern"),
    ("code_sessions_without_codes", _delete(("measures", "pn_sessions", "codes")),
     ("measures", "pn_sessions"), "required"),
    ("bad_register_code", _set(("measures", "pn_sessions", "codes"), ["G", "holiday"]),
     ("measures", "pn_sessions", "codes", 1), "pattern"),
    ("due_bad_duration", _set(("actions", "plan_review", "due", "to"), "six weeks"),
     ("actions", "plan_review", "due"), "oneOf"),
    ("due_negative_days", _set(("actions", "pn_warning_letter", "due"), {"within_school_days": -1}),
     ("actions", "pn_warning_letter", "due"), "oneOf"),
    ("unless_without_reason", _delete(("rules", 0, "unless", 0, "reason")), ("rules", 0, "unless", 0),
     "required"),
    ("unless_without_cite", _delete(("rules", 0, "unless", 0, "cite")), ("rules", 0, "unless", 0), "required"),
]


@pytest.mark.parametrize(
    ("mutate", "path", "keyword"),
    [pytest.param(mutate, path, keyword, id=name) for name, mutate, path, keyword in MUTATIONS],
)
def test_mutation_is_rejected_at_path(
    validator: Draft202012Validator,
    example: dict[str, Any],
    mutate: Callable[[dict[str, Any]], None],
    path: tuple[Any, ...],
    keyword: str,
) -> None:
    doc = copy.deepcopy(example)
    mutate(doc)
    errors = list(validator.iter_errors(doc))
    assert errors, "mutation was accepted"
    assert {tuple(error.absolute_path) for error in errors} == {path}, [
        (list(error.absolute_path), error.message) for error in errors
    ]
    assert keyword in {error.validator for error in errors}, [error.message for error in errors]


@pytest.mark.parametrize(
    "extension_at",
    [(), ("sources", "halton_framework"), ("parameters", "pn_amount"), ("parameters", "pn_amount", "values", 0),
     ("rules", 0), ("rules", 0, "cite"), ("rules", 0, "unless", 0), ("actions", "plan_review", "due"),
     ("measures", "pn_sessions")],
)
def test_x_extension_keys_are_allowed_everywhere(
    validator: Draft202012Validator, example: dict[str, Any], extension_at: tuple[Any, ...]
) -> None:
    doc = copy.deepcopy(example)
    target: Any = doc
    for key in extension_at:
        target = target[key]
    target["x-note"] = {"anything": ["goes", 1]}
    assert error_paths(validator, doc) == []


def _object_schemas(node: Any, where: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every subschema of the schema, with a JSON pointer to it."""
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from _object_schemas(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _object_schemas(value, f"{where}/{index}")


def _documented_nodes(schema: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Definitions, properties and map/item schemas: what an editor shows as hover help."""
    for name, definition in schema["$defs"].items():
        yield f"#/$defs/{name}", definition
    for where, node in _object_schemas(schema):
        if where.endswith(("/properties", "/patternProperties")) and not where.endswith("/properties/properties"):
            # a `properties` keyword (not a property named "properties")
            for name, sub in node.items():
                yield f"{where}/{name}", sub
        for keyword in ("additionalProperties", "items"):
            sub = node.get(keyword)
            if isinstance(sub, dict):
                yield f"{where}/{keyword}", sub


def test_every_property_and_definition_has_a_description(schema: dict[str, Any]) -> None:
    nodes = list(_documented_nodes(schema))
    assert len(nodes) > 100
    missing = [
        where for where, node in nodes
        if not isinstance(node, dict) or not str(node.get("description", "")).strip()
    ]
    # `then` branches of if/then only add `required`/`items` constraints, never new keys
    missing = [where for where in missing if "/then/" not in where and "/if/" not in where]
    assert missing == []


def test_every_object_is_closed_but_allows_extensions(schema: dict[str, Any]) -> None:
    for where, node in _object_schemas(schema):
        if "properties" in node and isinstance(node["properties"], dict) and "/if" not in where \
                and "/then" not in where and not where.endswith("/properties/properties"):
            assert node.get("additionalProperties") is False, where
            assert "^x-" in node.get("patternProperties", {}), where


def test_top_level_requires_the_identity_keys(schema: dict[str, Any]) -> None:
    assert schema["required"] == ["id", "title", "kind", "version", "effective_from"]


@pytest.mark.parametrize("policy", POLICIES, ids=[path.stem for path in POLICIES])
def test_shipped_policies_validate(validator: Draft202012Validator, policy: Path) -> None:
    doc = isoify(yaml.safe_load(policy.read_text(encoding="utf-8")))
    errors = [f"{list(error.absolute_path)}: {error.message}" for error in validator.iter_errors(doc)]
    assert errors == []
