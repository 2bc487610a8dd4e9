"""Impact of a policy change (`diff`) and the cohort view (`cohort`)."""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
import textwrap
from collections import Counter
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attendance_rules.cli import main
from attendance_rules.engine.compiled import load_policy
from attendance_rules.registers.history import History
from attendance_rules.registers.measures import Window, compute, standard_measures
from attendance_rules.registers.readers import load_history, read_history_data
from attendance_rules.replay.cohort import cohort_view, render_cohort
from attendance_rules.replay.impact import compare_policies, render_impact

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "sample" / "history.json"
from conftest import CITE, POLICY_HEADER  # noqa: E402

AS_OF = dt.date(2024, 2, 9)



def policy_text(threshold: int) -> str:
    return POLICY_HEADER.format(id="imp") + textwrap.dedent(f"""\
    parameters:
      threshold: {{value: {threshold}, unit: sessions, cite: {CITE}}}
    actions:
      letter_a: {{title: Letter A, kind: letter, responsible: school, cite: {CITE}}}
      watch_b: {{title: Watch B, kind: monitoring, responsible: school, cite: {CITE}}}
    rules:
      - id: notice
        title: Notice unauthorised absence
        when: unauthorised_sessions over last 4 school weeks >= threshold
        recommend: letter_a
        cite: {CITE}
      - id: watch
        title: Watch any absence
        when: absent_sessions over last 4 school weeks >= 1
        recommend: watch_b
        cite: {CITE}
    """)


@pytest.fixture(scope="module")
def policies(tmp_path_factory):
    """The same policy id with thresholds 4 (the original), 2 (lowered) and 6 (raised), in separate files."""
    folder = tmp_path_factory.mktemp("policies")
    out = {}
    for threshold in (4, 2, 6):
        (folder / f"v{threshold}").mkdir()
        path = folder / f"v{threshold}" / "imp.yaml"
        path.write_text(policy_text(threshold), encoding="utf-8")
        out[threshold] = load_policy(path)
    return out


@pytest.fixture(scope="module")
def sample():
    return load_history(SAMPLE)


@pytest.fixture(scope="module")
def small_sample(sample):
    return History(
        pupils=sample.pupils[:40],
        school=sample.school,
        sources=sample.sources,
        digest=sample.digest,
    )


@pytest.fixture(scope="module")
def halton():
    return load_policy("halton")


@pytest.fixture(scope="module")
def view(halton, small_sample):
    return cohort_view(halton, small_sample, AS_OF)


def weekdays(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)
            if (start + dt.timedelta(days=i)).weekday() < 5]


DAYS = weekdays(dt.date(2024, 1, 8), AS_OF)


def cohort(absences: list[dict[dt.date, str]]) -> History:
    pupils = []
    for i, codes in enumerate(absences):
        marks = [{"date": d.isoformat(), "session": s, "code": codes.get(d) or ("/" if s == "AM" else "\\")}
                 for d in DAYS for s in ("AM", "PM")]
        pupils.append({"id": f"P{i:02d}", "marks": marks})
    history, report = read_history_data({"pupils": pupils}, "cohort.json")
    assert not report.problems
    return history


def unauthorised_4w(pupil) -> int:
    """Brute force, from the register: unauthorised sessions in the last four school weeks."""
    return compute(pupil, "unauthorised_sessions", AS_OF, Window(kind="school_weeks", n=4)).value


registers = st.lists(st.dictionaries(st.sampled_from(DAYS), st.sampled_from(["O", "G", "I", "N"]), max_size=5),
                     min_size=1, max_size=12)


# --- diff -------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(absences=registers)
def test_lowering_a_threshold_gains_exactly_the_predicted_pupils(policies, absences):
    history = cohort(absences)
    impact = compare_policies(policies[4], policies[2], history, AS_OF, examples=2)
    predicted = tuple(p.id for p in history if 2 <= unauthorised_4w(p) < 4)
    gained = {a.action: a.gained for a in impact.actions}
    assert gained.get("letter_a", ()) == predicted
    assert all(not a.lost for a in impact.actions) and set(gained) <= {"letter_a"}
    assert impact.counts() == ({"letter_a": {"gained": len(predicted), "lost": 0}} if predicted else {})
    for action in impact.actions:
        assert len(action.gained_examples) == min(2, len(predicted))
        for example in action.gained_examples:
            assert (example.old.status, example.new.status) == ("not met", "recommended")
            (rule,) = example.old.rules
            assert rule.rule == "notice" and "threshold = 4 sessions" in rule.unmet[0].required
            assert "threshold = 2 sessions" in example.new.reasons[0].sentence


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(absences=registers)
def test_raising_a_threshold_loses_exactly_the_predicted_pupils(policies, absences):
    history = cohort(absences)
    impact = compare_policies(policies[4], policies[6], history, AS_OF)
    predicted = tuple(p.id for p in history if 4 <= unauthorised_4w(p) < 6)
    assert {a.action: a.lost for a in impact.actions}.get("letter_a", ()) == predicted
    kept = {a.action: a.kept for a in impact.actions}
    if predicted:
        assert kept["letter_a"] == sum(1 for p in history if unauthorised_4w(p) >= 6)


def test_policy_against_itself_is_empty(policies, small_sample):
    impact = compare_policies(policies[4], policies[4], small_sample, AS_OF)
    assert impact.actions == () and impact.pupils_affected == () and impact.policy_changes == ()
    assert impact.pupils == 40


def test_bundled_policy_against_a_copy_of_its_file_is_empty(tmp_path, small_sample, halton):
    copy = tmp_path / "halton_copy.yaml"
    shutil.copy(ROOT / "policies" / "halton.yaml", copy)
    old, new = halton, load_policy(copy)
    assert old.id == new.id == "halton"
    impact = compare_policies(old, new, small_sample, AS_OF)
    assert impact.actions == () and impact.policy_changes == ()
    assert impact.provenance.old_policy["files"][-1]["file"] == "halton.yaml"
    assert impact.provenance.policy["files"][-1]["file"] == "halton_copy.yaml"


def test_policy_differences_name_the_edit(policies):
    from attendance_rules.replay.impact import policy_differences

    assert policy_differences(policies[4], policies[2], AS_OF) == (
        "parameter threshold: 4 sessions → 2 sessions (in force on 2024-02-09)",)


def test_impact_json_is_deterministic(policies):
    history = cohort([{DAYS[-1]: "O"}, {DAYS[-1]: "O", DAYS[-2]: "G"}, {}])
    one = compare_policies(policies[4], policies[2], history, AS_OF).dumps()
    assert one == compare_policies(policies[4], policies[2], history, AS_OF).dumps()
    data = json.loads(one)
    assert data["counts"] == {"letter_a": {"gained": 1, "lost": 0}}
    assert data["actions"][0]["gained_pupils"] == ["P00"]  # P01 has 4 sessions: letter_a under both


def test_cli_diff(tmp_path, write_json):
    history = write_json({"pupils": [
        {"id": f"P{i}", "marks": [{"date": d.isoformat(), "session": s,
                                   "code": "O" if d in DAYS[-(i + 1):] else ("/" if s == "AM" else "\\")}
                                  for d in DAYS for s in ("AM", "PM")]} for i in range(4)]})
    old, new = tmp_path / "a" / "imp.yaml", tmp_path / "b" / "imp.yaml"
    for path, threshold in ((old, 4), (new, 2)):
        path.parent.mkdir()
        path.write_text(policy_text(threshold), encoding="utf-8")
    base = ["diff", "--old", str(old), "--new", str(new), "--history", str(history), "--as-of", AS_OF.isoformat()]
    out = io.StringIO()
    assert main(base, out=out) == 0
    text = out.getvalue()
    assert "parameter threshold: 4 sessions → 2 sessions" in text
    assert "letter_a gained (1), e.g.:" in text and "P0" in text  # P0: one day of O = 2 sessions
    out = io.StringIO()
    assert main(base + ["--format", "json", "--examples", "0"], out=out) == 0
    data = json.loads(out.getvalue())
    assert data["counts"] == {"letter_a": {"gained": 1, "lost": 0}}
    assert data["actions"][0]["gained_examples"] == []
    assert main(base + ["--examples", "-1"], out=io.StringIO(), err=io.StringIO()) == 2


# --- cohort -----------------------------------------------------------------------------


def test_cohort_counts_equal_a_recount_of_evaluate(halton, view, small_sample):
    evaluation = halton.evaluate(small_sample, AS_OF)
    recs = [r for p in evaluation.pupils for r in p.recommendations]
    assert {a.action: a.recommended for a in view.by_action if a.recommended} == dict(Counter(r.action for r in recs))
    held = Counter(a for p in evaluation.pupils for a in {s.action for s in p.suppressed})
    assert {a.action: a.held_back for a in view.by_action if a.held_back} == dict(held)
    assert {k.kind: k.recommendations for k in view.by_kind} == dict(Counter(r.kind for r in recs))
    assert {k.kind: k.pupils for k in view.by_kind} == dict(
        Counter(kind for p in evaluation.pupils for kind in {r.kind for r in p.recommendations}))
    facts = Counter(f.name for p in evaluation.pupils for f in p.facts if f.name.startswith("stage"))
    assert {name: n for name, n in view.by_stage if n} == dict(facts)
    assert {name for name, _ in view.by_stage} >= {"stage1", "stage2", "stage3"}
    assert view.pupils_with_recommendations == sum(1 for p in evaluation.pupils if p.recommendations)
    for listed, fact in ((view.persistent, "persistent_absence"), (view.severe, "severe_absence")):
        expected = {p.pupil_id for p in evaluation.pupils if fact in {f.name for f in p.facts}}
        assert {r.pupil_id for r in listed} == expected
        rates = [r.attendance for r in listed]
        assert rates == sorted(rates)
    assert view.persistent, "the sample has persistently absent pupils on this date"
    for row in view.persistent:
        ytd = standard_measures(small_sample.pupil(row.pupil_id), AS_OF)
        assert abs(float(row.attendance) - ytd["attendance_rate"]) < 1e-6
        assert row.possible == ytd["possible_sessions"] and row.attendance <= Fraction(9, 10)


def test_cohort_of_pupils_not_in_a_history(halton, small_sample):
    # cohort_view takes any iterable of pupils; a plain list once reached evaluate() as a list
    pupils = list(small_sample.pupils)
    assert cohort_view(halton, pupils, AS_OF) == cohort_view(
        halton, History(pupils=tuple(pupils)), AS_OF
    )


def test_cohort_renderings(view):
    data = json.loads(render_cohort(view, "json"))
    assert data["pupils"] == 40 and list(data)[:3] == ["as_of", "library", "policy"]
    assert data["persistent_absence"][0]["attendance"] <= data["persistent_absence"][-1]["attendance"]
    markdown = render_cohort(view, "markdown")
    assert "## Persistent absence (" in markdown and "| pupil | year | attendance |" in markdown
    table = render_cohort(view)
    assert "persistent absence (" in table and "stage fact" in table
    assert render_cohort(view, "json") == view.dumps()


def test_cli_cohort(tmp_path, write_json):
    history = write_json({"pupils": [
        {"id": f"P{i}", "marks": [{"date": d.isoformat(), "session": s,
                                   "code": "I" if d in DAYS[: 3 * i] else ("/" if s == "AM" else "\\")}
                                  for d in DAYS for s in ("AM", "PM")]} for i in range(5)]})
    out = io.StringIO()
    assert main(["cohort", "--policy", "england", "--history", str(history), "--as-of", AS_OF.isoformat(),
                 "--format", "json"], out=out) == 0
    data = json.loads(out.getvalue())
    # 25 school days: P1 misses 3 (12%), P2 6 (24%), P3 9 (36%), P4 12 (48%): all persistently absent
    assert [r["pupil_id"] for r in data["persistent_absence"]] == ["P4", "P3", "P2", "P1"]
    assert data["severe_absence"] == []
    out = io.StringIO()
    assert main(["cohort", "--policy", "england", "--history", str(history), "--as-of", AS_OF.isoformat(),
                 "--format", "markdown"], out=out) == 0
    assert out.getvalue().startswith("# Cohort as of 2024-02-09")


def test_render_impact_table_mentions_both_sides(policies):
    history = cohort([{DAYS[-1]: "O"}])
    text = render_impact(compare_policies(policies[4], policies[2], history, AS_OF))
    assert "old: not met" in text and "new: recommended" in text and "needs unauthorised_sessions" in text
