"""Loading, layering and showing policies: the valid test chain (tests/policies/valid/)
and property tests that broken YAML or conditions only ever give located PolicyErrors.

The chain is t_national → t_authority → t_school. It overrides parameters (a dated one in
the authority; one without a unit in the school, which keeps the parent's), replaces a
rule, disables a rule, uses rule dates, unless clauses and facts derived in one layer and
read in the next.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from functools import lru_cache
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attendance_rules.assurance.checks import validate_paths
from attendance_rules.cli import main
from attendance_rules.exceptions import ConditionError, PolicyError
from attendance_rules.policy.build import read_policy_file, read_policy_text
from attendance_rules.policy.layers import load_policy_files, resolve
from attendance_rules.rules import conditions
from attendance_rules.rules.compiler import compile_policy, policy_scope

VALID = Path(__file__).resolve().parent / "policies" / "valid"
NATIONAL, AUTHORITY, SCHOOL = (VALID / f"t_{k}.yaml" for k in ("national", "authority", "school"))
CHAIN = (NATIONAL, AUTHORITY, SCHOOL)
TODAY = dt.date(2025, 1, 1)


def line_of(path: Path, start: str) -> int:
    """1-based number of the first line of ``path`` starting with ``start``."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith(start):
            return number
    raise AssertionError(f"no line starting {start!r} in {path.name}")


def at(path: Path, start: str) -> str:
    """``path:line:col`` of the key or list item written as ``start`` (column of its first letter)."""
    column = len(start) - len(start.lstrip(" -")) + 1
    return f"{path}:{line_of(path, start)}:{column}"


def show(path: Path, *options: str) -> str:
    out = io.StringIO()
    assert main(["policy", "show", str(path), *options], out=out) == 0
    return out.getvalue()


# --- the valid chain --------------------------------------------------------------------


def test_valid_chain_has_no_problems_at_all() -> None:
    assert validate_paths(CHAIN, today=TODAY) == []


def test_chain_is_loaded_root_first() -> None:
    policy = load_policy_files(SCHOOL)
    assert [p.id for p in policy.chain] == ["t_national", "t_authority", "t_school"]
    assert [p.kind for p in policy.chain] == ["national", "authority", "school"]
    assert policy.id == "t_school" and policy.version == "2024.1"


def test_overrides_take_effect_and_keep_the_parents_unit() -> None:
    policy = load_policy_files(SCHOOL)
    pa_rate = policy.parameters["pa_rate"]
    assert (pa_rate.unit, pa_rate.value_on(TODAY)) == ("percent", 8)  # the school gives no unit
    assert pa_rate.local_choice.startswith("The governors act earlier")
    origin = policy.origin("parameter", "pa_rate")
    assert (origin.policy, str(origin.location)) == ("t_school", at(SCHOOL, "  pa_rate:"))
    assert [(o.policy, str(o.location)) for o in origin.replaced] == [("t_national", at(NATIONAL, "  pa_rate:"))]


def test_dated_override_values() -> None:
    threshold = load_policy_files(SCHOOL).parameters["pn_threshold"]
    assert threshold.unit == "sessions"
    assert threshold.value_on(dt.date(2023, 8, 31)) is None  # the override's values replace the parent's
    assert threshold.value_on(dt.date(2023, 9, 1)) == 11
    assert threshold.value_on(dt.date(2024, 8, 18)) == 11
    assert threshold.value_on(dt.date(2024, 8, 19)) == 10
    assert threshold.citation_on(dt.date(2024, 1, 1)).source == "t_framework"
    assert threshold.citation_on(dt.date(2024, 9, 1)).source == "t_guidance"
    national = load_policy_files(NATIONAL).parameters["pn_threshold"]
    assert [national.value_on(dt.date(y, 9, 1)) for y in (2021, 2022, 2024)] == [None, 12, 10]


def test_replaced_and_disabled_rules() -> None:
    policy = load_policy_files(SCHOOL)
    assert sorted((r.id, r.policy) for r in policy.rules) == [
        ("consider_penalty", "t_national"), ("pa_definition", "t_national"), ("pa_letter_rule", "t_authority"),
        ("pa_letter_rule", "t_national"), ("pn_threshold_rule", "t_national"), ("school_panel", "t_school"),
        ("stage2", "t_authority")]
    letters = {r.policy: r for r in policy.rules if r.id == "pa_letter_rule"}
    assert letters["t_authority"].when.text == "persistently_absent and not young_carer"
    # the replaced national rule still applies until the authority's policy starts
    assert (letters["t_national"].effective_from, letters["t_national"].effective_to) == (None, dt.date(2023, 8, 31))
    origin = policy.origin("rule", "pa_letter_rule")
    assert origin.reason.startswith("The borough sends its own letter")
    assert [o.policy for o in origin.replaced] == ["t_national"]
    reason, disabled = policy.disabled["support_meeting_rule"]
    assert reason == "The school holds its meeting through the stage 2 panel instead."
    assert str(disabled.location) == at(SCHOOL, "  support_meeting_rule:")
    assert str(disabled.replaced[0].location) == at(NATIONAL, "  - id: support_meeting_rule")
    # the parent chain alone still has the rule
    assert "support_meeting_rule" in [r.id for r in load_policy_files(AUTHORITY).rules]


def test_rule_dates() -> None:
    rules = {r.id: r for r in load_policy_files(SCHOOL).rules}
    assert not rules["consider_penalty"].in_force(dt.date(2024, 8, 18))
    assert rules["consider_penalty"].in_force(dt.date(2024, 8, 19))
    assert rules["stage2"].in_force(dt.date(2026, 8, 31)) and not rules["stage2"].in_force(dt.date(2026, 9, 1))
    assert rules["school_panel"].effective_from == dt.date(2024, 9, 1) and rules["school_panel"].effective_to is None


def test_facts_chain_across_layers_and_negation_stratifies() -> None:
    ruleset = compile_policy(load_policy_files(SCHOOL), today=TODAY)
    assert ruleset.warnings == ()
    assert ruleset.facts == {"persistently_absent", "pn_threshold_met", "borough_stage2"}
    rules = {r.id: r for r in ruleset.rules}
    assert rules["stage2"].reads == {"persistently_absent"}  # national fact read by the authority
    assert rules["school_panel"].reads == {"borough_stage2", "pn_threshold_met"}  # authority + national facts
    assert rules["school_panel"].reads_negated == {"pn_threshold_met"}  # read by an unless
    assert rules["school_panel"].stratum > rules["pn_threshold_rule"].stratum
    assert [u.actions for u in rules["school_panel"].unless] == [("stage2_panel",), ("stage2_panel",)]
    assert [u.actions for u in rules["consider_penalty"].unless] == [("penalty_notice",)]  # default: all
    assert [r.id for r in ruleset.recommenders("stage2_panel")] == ["stage2", "school_panel"]


def test_each_layer_validates_on_its_own() -> None:
    for path in CHAIN:
        ruleset = compile_policy(load_policy_files(path), today=TODAY)
        assert ruleset.warnings == (), path.name


def test_policy_show_text_gives_origins() -> None:
    lines = show(SCHOOL).splitlines()
    assert lines[0] == "Test Primary School Attendance Policy (t_school 2024.1)"
    assert lines[1] == f"chain: t_national ({NATIONAL}) → t_authority ({AUTHORITY}) → t_school ({SCHOOL})"
    expected = [
        # a parameter overridden in the school file, and what it replaced
        f"  pa_rate = 8%    [t_school ({at(SCHOOL, '  pa_rate:')}); replaces t_national ({at(NATIONAL, '  pa_rate:')})]",
        "      cites t_school_policy, Our thresholds; local choice: The governors act earlier than the national "
        "definition, at eight per cent.",
        # a dated parameter overridden by the authority
        f"  pn_threshold = 11 sessions from 2023-09-01; 10 sessions from 2024-08-19    "
        f"[t_authority ({at(AUTHORITY, '  pn_threshold:')}); replaces t_national ({at(NATIONAL, '  pn_threshold:')})]",
        # a parent's parameter and rule, unchanged
        f"  stage2_sessions = 6 sessions    [t_authority ({at(AUTHORITY, '  stage2_sessions:')})]",
        f"  pa_definition: Persistently absent    [t_national ({at(NATIONAL, '  - id: pa_definition')})]",
        # a replaced rule, showing what it replaced
        f"  pa_letter_rule: Borough letter on persistent absence (young carers excepted)    "
        f"[t_authority ({at(AUTHORITY, '  - id: pa_letter_rule')}); "
        f"replaces t_national ({at(NATIONAL, '  - id: pa_letter_rule')})]",
        "      when persistently_absent and not young_carer",
        # the replaced rule, kept until its replacement starts, with its own origin
        f"  pa_letter_rule: Letter on persistent absence    [t_national ({at(NATIONAL, '  - id: pa_letter_rule')})]",
        f"  school_panel: Refer stage 2 pupils to the panel    [t_school ({at(SCHOOL, '  - id: school_panel')})]",
        f"  stage2_panel: Refer to the stage 2 attendance panel (referral, education_welfare_service)    "
        f"[t_authority ({at(AUTHORITY, '  stage2_panel:')})]",
    ]
    for line in expected:
        assert line in lines, line
    # the disabled rule is listed with its reason, and not among the rules
    disabled = lines[lines.index("disabled rules:") + 1:]
    assert disabled == [f"  support_meeting_rule: The school holds its meeting through the stage 2 panel instead.    "
                        f"[t_school ({at(SCHOOL, '  support_meeting_rule:')}); "
                        f"replaces t_national ({at(NATIONAL, '  - id: support_meeting_rule')})]"]
    rules = lines[lines.index("rules:"):lines.index("disabled rules:")]
    assert not any(line.startswith("  support_meeting_rule") for line in rules)


def test_policy_show_json_gives_origins() -> None:
    data = json.loads(show(SCHOOL, "--format", "json"))
    assert data["id"] == "t_school" and data["digest"].startswith("sha256:")
    assert [(c["id"], c["file"]) for c in data["chain"]] == [("t_national", str(NATIONAL)),
                                                             ("t_authority", str(AUTHORITY)),
                                                             ("t_school", str(SCHOOL))]
    assert data["parameters"]["pa_rate"] == {
        "value": "8%", "unit": "percent",
        "origin": f"t_school ({at(SCHOOL, '  pa_rate:')}); replaces t_national ({at(NATIONAL, '  pa_rate:')})",
        "local_choice": "The governors act earlier than the national definition, at eight per cent.",
    }
    assert data["parameters"]["stage2_sessions"]["local_choice"] is None
    rules = [(r["id"], r["when"], r["origin"]) for r in data["rules"]]
    assert ("pa_definition", "absence_rate_ytd >= pa_rate",
            f"t_national ({at(NATIONAL, '  - id: pa_definition')})") in rules
    assert ("pa_letter_rule", "persistently_absent and not young_carer",
            f"t_authority ({at(AUTHORITY, '  - id: pa_letter_rule')}); "
            f"replaces t_national ({at(NATIONAL, '  - id: pa_letter_rule')})") in rules
    assert ("pa_letter_rule", "persistently_absent", f"t_national ({at(NATIONAL, '  - id: pa_letter_rule')})") in rules
    assert "support_meeting_rule" not in [r[0] for r in rules]
    assert data["disabled"] == {"support_meeting_rule": {
        "reason": "The school holds its meeting through the stage 2 panel instead.",
        "origin": f"t_school ({at(SCHOOL, '  support_meeting_rule:')}); "
                  f"replaces t_national ({at(NATIONAL, '  - id: support_meeting_rule')})"}}
    assert data["actions"]["stage2_panel"]["origin"] == f"t_authority ({at(AUTHORITY, '  stage2_panel:')})"


def test_show_is_deterministic() -> None:
    assert show(SCHOOL) == show(SCHOOL)
    assert show(SCHOOL, "--format", "json") == show(SCHOOL, "--format", "json")


# --- a few direct checks of the loader --------------------------------------------------


def test_override_without_a_unit_keeps_the_parents_unit() -> None:
    school = read_policy_file(SCHOOL)
    assert school.override_parameters["pa_rate"].unit == ""  # not written: filled in by layering
    assert read_policy_file(AUTHORITY).override_parameters["pn_threshold"].unit == "sessions"


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_non_finite_numbers_are_refused(value: str) -> None:
    text = NATIONAL.read_text(encoding="utf-8").replace("    value: 10\n    unit: percent",
                                                        f"    value: {value}\n    unit: percent")
    with pytest.raises(PolicyError) as caught:
        read_policy_text(text, "n.yaml")
    assert "not a finite number" in caught.value.problem.message
    assert caught.value.problem.location.line == line_of(NATIONAL, "    value: 10")


@pytest.mark.parametrize("depth", [60, 1000])  # PyYAML's composer recurses: 1000 levels exhaust the stack
@pytest.mark.parametrize(("opening", "closing"), [("[", "]"), ("{a: ", "}")])
def test_deep_flow_nesting_is_refused_cleanly(depth: int, opening: str, closing: str) -> None:
    text = "id: deep\nx-deep: " + opening * depth + "1" + closing * depth + "\n"
    with pytest.raises(PolicyError) as caught:
        read_policy_text(text, "deep.yaml")
    problem = caught.value.problem
    assert problem.message == "nesting deeper than 50 levels"
    assert (problem.location.line, problem.location.column) == (2, 9 + 50 * len(opening))


# --- property: mutated YAML gives located PolicyErrors and nothing else -----------------

TEXTS = tuple(path.read_text(encoding="utf-8") for path in CHAIN)
NAMES = tuple(path.name for path in CHAIN)

JUNK = [":", ": ", "- ", "-", "{", "}", "[", "]", ",", "&a ", "*a", "*b", "!!python/object:os.system ", "!!set ",
        "!!binary ", "!foo ", "<<: *a", "? ", "\t", "'", '"', "#", "%YAML 1.1\n", "---\n", "...", "@", "`", "|", ">",
        "~", "null", "true", "2024-02-30", "2024-13-01", ".nan", ".inf", "1e999", "0x1F", "12:30", "not ", " and ",
        "(", ")", ">=", "£", "10%", "x-note: 1", "\u00e9", "\u00a0", "\ufeff", "\x00", "\x07", "\\", "\u2028", "\r",
        "id", "extends: t_national", "replaces: a reason long enough", "values: []", "cite: {}", "value: [1]",
        "unit: count", "kind: school", "when: ", "derive: [looked_after]", "recommend: nothing"]


@st.composite
def mutated_policy(draw: st.DrawFn) -> tuple[int, str]:
    """One file of the valid chain (its parents stay intact) with 1 to 3 random edits."""
    layer = draw(st.integers(0, 2))
    text = TEXTS[layer]
    for _ in range(draw(st.integers(1, 3))):
        lines = text.split("\n")
        i = draw(st.integers(0, len(lines) - 1))
        edit = draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "indent", "dedent"]))
        if edit == "delete":
            del lines[i]
        elif edit == "duplicate":
            lines.insert(i, lines[i])
        elif edit == "indent":
            lines[i] = draw(st.sampled_from([" ", "  ", "    ", "\t"])) + lines[i]
        elif edit == "dedent":
            lines[i] = lines[i][draw(st.integers(1, 4)):]
        text = "\n".join(lines)
        if edit in ("swap", "insert") and text:
            p = draw(st.integers(0, len(text) - 1))
            if edit == "swap":
                text = text[:p] + text[p + 1:p + 2] + text[p] + text[p + 2:]
            else:
                text = text[:p] + draw(st.sampled_from(JUNK)) + text[p:]
    return layer, text


@lru_cache(maxsize=None)
def parent_files(layer: int) -> tuple:
    return tuple(read_policy_text(TEXTS[i], NAMES[i]) for i in range(layer))


def compile_layer(layer: int, text: str):
    """Read ``text`` as layer ``layer`` of the chain and compile it with its (intact) parents."""
    chain = parent_files(layer) + (read_policy_text(text, NAMES[layer]),)
    return compile_policy(resolve(chain), today=TODAY)


def assert_located(problems, texts: dict[str, str]) -> None:
    for problem in problems:
        where = problem.location
        assert where.file in texts, problem
        assert 1 <= where.line <= texts[where.file].count("\n") + 1, problem
        assert where.column >= 1, problem


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_policy())
def test_mutated_yaml_gives_only_located_policy_errors(case: tuple[int, str]) -> None:
    layer, text = case
    texts = dict(zip(NAMES, TEXTS)) | {NAMES[layer]: text}
    try:
        ruleset = compile_layer(layer, text)
    except PolicyError as error:  # subclasses included; anything else fails the test
        assert error.problems
        assert all(p.is_error for p in error.problems)
        assert_located(error.problems, texts)
    else:
        assert_located(ruleset.warnings, texts)


# --- property: random conditions are accepted or refused at their place ----------------

WHEN_PREFIX = "    when: "
WHEN_LINE = line_of(SCHOOL, WHEN_PREFIX)  # the `when:` of the school's own rule
VALUE_COLUMN = len(WHEN_PREFIX) + 1

WORDS = [
    # names of the chain, of the library and some that do not exist
    "pa_rate", "pn_threshold", "stage2_sessions", "absence_rate_ytd", "unauthorised_10w", "looked_after",
    "young_carer", "sen_support", "persistently_absent", "borough_stage2", "pn_threshold_met", "attendance_rate",
    "absence_rate", "unexplained_run", "code_sessions", "possible_sessions", "pa_rat", "stage3", "Looked_After",
    "letter_sent", "review_held", "school_attendance_meeting", "exclusion", "no_such_event",
    # keywords, windows and event parts
    "and", "or", "not", "in", "today", "any", "count", "latest", "time", "since", "over", "within", "with", "true",
    "false", "school", "last", "academic year", "this term", "last 10 school weeks", "last 4 weeks", "last 3 years",
    "last 2 days", "since latest review_held", "school.traded_ews", "latest review_held.outcome",
    "latest review_held.date", "review_held.parent_engaged", "time since latest letter_sent", ".outcome", ".date",
    # literals
    "10", "10 sessions", "4 days", "6 weeks", "3 school weeks", "2 school days", "90%", "£60", "1.5", "1.5 years",
    "0", "007", "12abc", '"improved"', '"no_improvement"', "'x'", '"', "'", "2024-08-19", "2024-02-30", "2024-8-1",
    # operators, punctuation and junk
    ">=", ">", "<=", "<", "==", "!=", "=", "!", "+", "-", "(", ")", ",", ".", "%", "£", "#", ":", "{", "}", "[", "]",
    "@", "`", "\\", "~", "\t", "é", "≥", "…", "\u00a0",
]
GOOD_ATOMS = [  # each compiles in the school's scope
    "looked_after", "young_carer", "persistently_absent", "borough_stage2", "pn_threshold_met",
    "absence_rate_ytd >= pa_rate", "unauthorised_10w >= stage2_sessions", "unauthorised_10w >= pn_threshold",
    "attendance_rate over academic year < 90%", "unauthorised_sessions over last 10 school weeks > 10 sessions",
    "any letter_sent within academic year", 'any letter_sent with action == "pa_letter" within this term',
    'latest review_held.outcome in ("improved", "some_improvement")', "time since latest letter_sent > 6 weeks",
    "today >= 2024-08-19", "count review_held within last 2 years >= 2", "unexplained_run >= 3",
    "latest review_held.date + 6 weeks <= today", "school.traded_ews", "days_absent over this term >= 4 days",
]
GOOD = st.recursive(st.sampled_from(GOOD_ATOMS), lambda inner: st.one_of(
    st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(" ".join),
    inner.map("not {}".format), inner.map("({})".format)), max_leaves=6)


def damage(condition: str, at: int, word: str, how: str) -> str:
    """``condition`` with its token number ``at`` replaced by ``word``, or ``word`` inserted, or the token dropped."""
    tokens = condition.split(" ")
    at %= len(tokens)
    tokens[at:at + 1] = {"replace": [word], "insert": [word, tokens[at]], "delete": []}[how]
    return " ".join(tokens)


PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.sampled_from("£é≥…\u00a0“”\t")
CONDITIONS = st.one_of(
    GOOD,
    st.builds(damage, GOOD, st.integers(0, 40), st.sampled_from(WORDS),
              st.sampled_from(["replace", "insert", "delete"])).filter(bool),  # "" is refused by the schema
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=10).map(" ".join),
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=6).map("".join),
    st.text(PRINTABLE, min_size=1, max_size=40),
    st.tuples(st.sampled_from(WORDS[:24]), st.sampled_from([">=", "<", "==", "!=", "and", "or", "in"]),
              st.sampled_from(WORDS)).map(" ".join),
)


def place_condition(condition: str, style: str) -> str:
    """The school policy with ``condition`` as its rule's ``when``, written in ``style``."""
    if style == "single":
        value = "'" + condition.replace("'", "''") + "'"
    elif style == "plain":
        value = condition
    else:
        value = json.dumps(condition, ensure_ascii=False)  # JSON strings are YAML double-quoted scalars
    lines = TEXTS[2].split("\n")
    lines[WHEN_LINE - 1] = WHEN_PREFIX + value
    return "\n".join(lines)


def written_as(text: str) -> object:
    """The value YAML reads for the rule's ``when`` (or an error marker)."""
    try:
        return yaml.safe_load(text)["rules"][0]["when"]
    except Exception:  # not YAML, or a value PyYAML cannot build (2024-02-30)
        return yaml.YAMLError


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CONDITIONS, st.sampled_from(["double", "single", "plain"]))
def test_random_conditions_are_refused_at_their_place(condition: str, style: str) -> None:
    text = place_condition(condition, style)
    if style == "plain" and written_as(text) != condition:
        style, text = "double", place_condition(condition, "double")  # plain YAML cannot hold it as is
    assert written_as(text) == condition
    line = text.split("\n")[WHEN_LINE - 1]
    school = read_policy_text(text, NAMES[2])  # the YAML and the schema accept any non-empty text
    policy = resolve(parent_files(2) + (school,))
    try:
        compile_policy(policy, today=TODAY)
    except PolicyError as error:
        for problem in error.problems:
            where = problem.location
            assert (where.file, where.line) == (NAMES[2], WHEN_LINE), problem
            assert VALUE_COLUMN <= where.column <= len(line) + 1, problem
        # the condition compiler alone raises exactly ConditionError, at the same place
        when = school.rules[0].when
        with pytest.raises(ConditionError) as caught:
            conditions.compile_condition(when.text, when.location, policy_scope(policy), when.column_map)
        assert caught.value.problems[0] in error.problems


@pytest.mark.parametrize(("condition", "token"), [
    ("borough_stage2 and not lookd_after", "lookd_after"),
    ("absence_rate_ytd >= stage2_sessions", ">="),
    ("borough_stage2 and (young_carer or", "or"),
    ('latest review_held.outcome == "better"', '"better"'),
    ("unauthorised_10w >= 10 sesions", "sesions"),
])
@pytest.mark.parametrize("style", ["double", "single", "plain"])
def test_condition_errors_point_at_the_token(condition: str, token: str, style: str) -> None:
    text = place_condition(condition, style)
    with pytest.raises(PolicyError) as caught:
        compile_layer(2, text)
    line = text.split("\n")[WHEN_LINE - 1]
    where = caught.value.problem.location
    if token == "or":  # the error is at the end of the condition, just after "or"
        assert where.column == line.rindex("or") + 3
    else:  # the token as written in the YAML line (escaped by the quoting style)
        written = {"double": json.dumps(token)[1:-1], "single": token.replace("'", "''")}.get(style, token)
        skip = 1 if written.startswith("\\") else 0  # the location is the quote, not its backslash
        assert where.column == line.index(written) + 1 + skip, caught.value.problem
    assert where.line == WHEN_LINE


def test_condition_error_inside_a_folded_condition() -> None:
    lines = TEXTS[2].split("\n")
    lines[WHEN_LINE - 1:WHEN_LINE] = ["    when: >-", "      borough_stage2", "      and not   lookd_after"]
    text = "\n".join(lines)
    with pytest.raises(PolicyError) as caught:
        compile_layer(2, text)
    where = caught.value.problem.location
    assert re.match(r"unknown name 'lookd_after'; did you mean looked_after", caught.value.problem.message)
    assert (where.line, where.column) == (WHEN_LINE + 2, len("      and not   ") + 1)
