"""Issue 12 (policy side): values that cannot work are refused where they are written, and
school settings and event types are declared by the policy chain and checked at load."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from conftest import CITE, POLICY_HEADER  # noqa: E402
from hypothesis import given, settings
from hypothesis import strategies as st

from attendance_rules import PolicyError
from attendance_rules.engine.compiled import load_policy
from attendance_rules.policy.model import DatedValue, Parameter
from attendance_rules.policy.values import SANITY_BOUNDS, parameter_value_problems

RULE = f"""\
actions:
  letter:
    title: A letter
    kind: letter
    responsible: school
    cite: {CITE}
rules:
  - id: r
    title: A rule
    when: {{when}}
    recommend: [letter]
    cite: {CITE}
"""


def write(tmp_path: Path, body: str, when: str = "unauthorised_sessions over academic year > 0",
          name: str = "t") -> Path:
    """A national policy ``name``.yaml with ``body`` (YAML, dedented) and one rule reading ``when``."""
    path = tmp_path / f"{name}.yaml"
    text = POLICY_HEADER.format(id=name) + textwrap.dedent(body) + RULE.replace("{when}", when)
    path.write_text(text, encoding="utf-8")
    return path


def refused(path: Path) -> list[str]:
    """The problems loading ``path`` reports (the test fails if it loads)."""
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    return [str(p) for p in caught.value.problems]


def line_of(path: Path, text: str) -> int:
    """The 1-based line of ``path`` that contains ``text``."""
    return next(i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if text in line)


def parameter(value: str, unit: str) -> str:
    return f"""\
parameters:
  p:
    value: {value}
    unit: {unit}
    cite: {CITE}
"""


# --- parameter values against their unit (issue examples: `value: ten`, `value: -5`) ------------


@pytest.mark.parametrize(("value", "unit", "message"), [
    ("ten", "sessions", "the value must be a number"),
    ("-5", "sessions", "whole number from 0"),
    ("1.5", "count", "whole number from 0"),
    ("101", "percent", "from 0 to 100"),
    ("-0.5", "percent", "from 0 to 100"),
    ("-80", "pounds", "cannot be negative"),
    ("yes please", "bool", "yes/no"),
    ("12", "text", "must be text"),
    ("99999999", "weeks", "out of range"),
    ("2000", "school_days", "out of range"),
])
def test_a_value_its_unit_cannot_hold_is_refused_at_the_value(tmp_path, value, unit, message) -> None:
    path = write(tmp_path, parameter(value, unit), when="unauthorised_sessions over academic year > 0")
    problems = refused(path)
    at = f"t.yaml:{line_of(path, 'value: ' + value)}:12"
    assert any(at in p and message in p and f"parameter 'p' ({unit})" in p for p in problems), problems


@pytest.mark.parametrize(("value", "unit"), [("0", "sessions"), ("10", "count"), ("10.0", "days"), ("0", "percent"),
                                             ("100", "percent"), ("92.5", "percent"), ("0", "pounds"), ("2.5", "pounds"),
                                             ("521", "weeks"), ("1950", "school_days"), ('"head"', "text"),
                                             ("true", "bool")])
def test_values_within_their_unit_load(tmp_path, value, unit) -> None:
    assert load_policy(write(tmp_path, parameter(value, unit))).id == "t"


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["sessions", "count", "days", "school_days", "weeks", "school_weeks"]),
       st.integers(-10**6, 10**6))
def test_whole_units_take_exactly_the_whole_numbers_from_zero_within_the_bound(unit, value) -> None:
    per = {"days": 1, "weeks": 7, "school_days": 1, "school_weeks": 5}.get(unit)
    limit = SANITY_BOUNDS.max_days(unit.startswith("school")) // per if per else None
    problems = parameter_value_problems(
        Parameter(
            name="p", unit=unit, values=(DatedValue(start=None, value=value, cite=None),), cite=None
        )
    )
    assert bool(problems) == (value < 0 or (limit is not None and value > limit))


def test_an_override_is_checked_against_the_parents_unit(tmp_path) -> None:
    write(tmp_path, parameter("10", "sessions"), name="base")
    child = tmp_path / "child.yaml"
    child.write_text(textwrap.dedent(f"""\
        id: child
        title: Child
        kind: authority
        version: "1"
        effective_from: 2021-09-01
        extends: base
        override_parameters:
          p: {{value: -5, cite: {CITE}}}
        """), encoding="utf-8")
    problems = refused(child)
    assert any("child.yaml:8:" in p and "parameter 'p' (sessions)" in p and "found -5" in p for p in problems), problems


# --- sanity bounds on dates and lengths of time -------------------------------------------------


def test_an_effective_date_in_the_year_one_is_refused(tmp_path) -> None:
    path = write(tmp_path, "")
    path.write_text(path.read_text(encoding="utf-8").replace("effective_from: 2020-09-01",
                                                             "effective_from: 0001-01-01"), encoding="utf-8")
    problems = refused(path)
    assert any("t.yaml:5:" in p and "date out of range" in p and "1990-01-01" in p for p in problems), problems


def test_a_due_interval_of_a_billion_school_days_is_refused(tmp_path) -> None:
    path = write(tmp_path, "")
    text = path.read_text(encoding="utf-8").replace("    kind: letter\n",
                                                    "    kind: letter\n    due: {within_school_days: 1000000000}\n")
    path.write_text(text, encoding="utf-8")
    problems = refused(path)
    assert any(f"t.yaml:{line_of(path, 'within_school_days')}:" in p and "1950 school days" in p
               for p in problems), problems


def test_a_due_window_past_ten_years_is_refused(tmp_path) -> None:
    path = write(tmp_path, "")
    text = path.read_text(encoding="utf-8").replace(
        "    kind: letter\n", "    kind: letter\n    due: {after: home_visit, from: 1 week, to: 99999999 weeks}\n")
    path.write_text(text, encoding="utf-8")
    problems = refused(path)
    assert any("length of time out of range" in p and "99999999 weeks" in p for p in problems), problems


@pytest.mark.parametrize(("window", "loads"), [("1.5 weeks", False), ("0.5 days", False), ("1.5 school weeks", False),
                                               ("0.5 weeks", False), ("1.0 weeks", True), ("2.5 weeks", False)])
def test_a_due_window_is_a_whole_number_of_days_not_truncated(tmp_path, window, loads) -> None:
    path = write(tmp_path, "")
    text = path.read_text(encoding="utf-8").replace(
        "    kind: letter\n", f"    kind: letter\n    due: {{after: home_visit, from: {window}, to: 3 weeks}}\n")
    path.write_text(text, encoding="utf-8")
    if loads:
        assert load_policy(path).ruleset.policy.actions["letter"].due.from_days == 7
        return
    problems = refused(path)
    assert any(f"t.yaml:{line_of(path, 'due:')}:" in p and "not a whole number of days" in p for p in problems), problems


def test_a_measure_window_of_99999999_weeks_is_refused(tmp_path) -> None:
    body = """\
    measures:
      m: {measure: unauthorised_sessions, window: last 99999999 school weeks}
    """
    path = write(tmp_path, body, when="m > 0")
    problems = refused(path)
    assert any(f"t.yaml:{line_of(path, '99999999')}:" in p and "window out of range" in p for p in problems), problems


@pytest.mark.parametrize("when", ["unauthorised_sessions over last 600 calendar weeks > 0",
                                  "unauthorised_sessions over last 391 school weeks > 0",
                                  "any home_visit within last 11 years", "count home_visit within last 5000 days > 1"])
def test_a_window_written_in_a_condition_is_bounded(tmp_path, when) -> None:
    problems = refused(write(tmp_path, "", when=when))
    assert any("window out of range" in p and "t.yaml:" in p for p in problems), problems


def test_windows_up_to_ten_years_load(tmp_path) -> None:
    when = "unauthorised_sessions over last 390 school weeks > 0 and any home_visit within last 10 years"
    assert load_policy(write(tmp_path, "", when=when)).id == "t"


# --- school settings are declared ---------------------------------------------------------------

TRADED = f"""\
settings:
  traded_ews:
    type: bool
    default: false
    description: The school buys the welfare service.
    cite: {CITE}
"""


def test_an_undeclared_setting_in_a_condition_is_refused_naming_the_nearest(tmp_path) -> None:
    path = write(tmp_path, TRADED, when="school.traded_ewss")
    problems = refused(path)
    assert any("unknown school setting 'traded_ewss'" in p and "school.traded_ews" in p
               and f"t.yaml:{line_of(path, 'school.traded_ewss')}:" in p for p in problems), problems


def test_a_setting_in_a_chain_declaring_none_is_refused(tmp_path) -> None:
    problems = refused(write(tmp_path, "", when="school.traded_ews"))
    assert any("unknown school setting 'traded_ews'" in p and "declares no school settings" in p for p in problems)


def test_a_declared_setting_compiles_and_its_declaration_is_kept(tmp_path) -> None:
    policy = load_policy(write(tmp_path, TRADED, when="school.traded_ews"))
    setting = policy.ruleset.policy.settings["traded_ews"]
    assert (setting.type, setting.default) == ("bool", False)
    assert policy.ruleset.policy.origin("setting", "traded_ews").policy == "t"


@pytest.mark.parametrize(("kind", "default"), [("bool", '"no"'), ("number", "true"), ("text", "3")])
def test_a_default_not_of_the_declared_type_is_refused(tmp_path, kind, default) -> None:
    body = TRADED.replace("type: bool", f"type: {kind}").replace("default: false", f"default: {default}")
    path = write(tmp_path, body)
    problems = refused(path)
    assert any(f"t.yaml:{line_of(path, 'default:')}:" in p and "the default of setting 'traded_ews'" in p
               for p in problems), problems


def test_a_number_setting_cannot_be_read_by_a_condition(tmp_path) -> None:
    body = TRADED.replace("type: bool", "type: number").replace("default: false", "default: 0")
    problems = refused(write(tmp_path, body, when="school.traded_ews"))
    assert any("is a number, which conditions cannot read" in p for p in problems), problems


def test_a_child_cannot_declare_a_parents_setting_again(tmp_path) -> None:
    write(tmp_path, TRADED, name="base")
    child = tmp_path / "child.yaml"
    child.write_text("id: child\ntitle: Child\nkind: authority\nversion: '1'\neffective_from: 2021-09-01\n"
                     "extends: base\n" + TRADED, encoding="utf-8")
    problems = refused(child)
    assert any("setting 'traded_ews' is already defined by base" in p and "child.yaml:8:" in p for p in problems)


def test_halton_declares_traded_ews_with_a_citation() -> None:
    setting = load_policy("widnes_academy").ruleset.policy.settings["traded_ews"]
    assert setting.type == "bool" and setting.default is False
    assert setting.cite is not None and setting.cite.source == "halton_framework" and setting.cite.page


# --- event types are declared -------------------------------------------------------------------

SWEEP = f"""\
event_types:
  truancy_sweep:
    description: A truancy sweep found the pupil out of school.
    fields: {{area: text, with_parent: bool, outcome: [returned, referred]}}
    cite: {CITE}
"""


def test_a_declared_event_type_can_be_queried_and_record_an_action(tmp_path) -> None:
    path = write(tmp_path, SWEEP, when='any truancy_sweep with outcome == "referred" within academic year')
    text = path.read_text(encoding="utf-8").replace(
        "    kind: letter\n", "    kind: letter\n    done_by: {event: truancy_sweep, with: {with_parent: true}}\n"
                             "    due: {after: truancy_sweep, from: 1 week, to: 2 weeks}\n")
    path.write_text(text, encoding="utf-8")
    policy = load_policy(path)
    assert policy.ruleset.scope.event_fields["truancy_sweep"]["outcome"] == ("returned", "referred")


@pytest.mark.parametrize(("edit", "message"), [
    ("    done_by: truancy_swep\n", "done_by names an unknown event type 'truancy_swep'; did you mean 'truancy_sweep'?"),
    ("    done_by: {event: truancy_sweep, with: {area: true}}\n", "truancy_sweep.area cannot be True"),
    ("    done_by: {event: truancy_sweep, with: {street: x}}\n", "truancy_sweep events have no field 'street'"),
    ("    due: {after: truancy_swep, from: 1 week, to: 2 weeks}\n",
     "the due window of action 'letter' names an unknown event type 'truancy_swep'; did you mean 'truancy_sweep'?"),
])
def test_an_unknown_event_type_or_field_is_refused_where_written(tmp_path, edit, message) -> None:
    path = write(tmp_path, SWEEP)
    path.write_text(path.read_text(encoding="utf-8").replace("    kind: letter\n", "    kind: letter\n" + edit),
                    encoding="utf-8")
    problems = refused(path)
    assert any(message in p and f"t.yaml:{line_of(path, edit.strip()[:12])}:" in p for p in problems), problems


def test_a_named_measure_since_an_unknown_event_is_refused(tmp_path) -> None:
    body = "measures:\n  m: {measure: unauthorised_sessions, window: since latest truancy_swep}\n"
    problems = refused(write(tmp_path, SWEEP + body, when="m > 0"))
    assert any("the window of measure 'm' names an unknown event type 'truancy_swep'" in p for p in problems)


def test_conditions_naming_an_undeclared_event_type_are_refused(tmp_path) -> None:
    problems = refused(write(tmp_path, "", when="any truancy_sweep within academic year"))
    assert any("unknown event type 'truancy_sweep'" in p for p in problems), problems


def test_a_standard_event_type_cannot_be_declared_again(tmp_path) -> None:
    body = SWEEP.replace("truancy_sweep:", "home_visit:")
    problems = refused(write(tmp_path, body))
    assert any("'home_visit' is a standard type" in p for p in problems), problems


@pytest.mark.parametrize("policy", ["england", "halton", "widnes_academy", "stockport", "hillingdon"])
def test_bundled_policies_still_load(policy) -> None:
    assert load_policy(policy).id == policy
