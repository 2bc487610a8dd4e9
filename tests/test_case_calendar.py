"""Term dates in case files: ``calendar:`` inline or as a CSV file, as ``--calendar`` gives them.

The case below is the Widnes termly certificate: one morning of illness in October, then
100% after the October half-term. Without term dates the half-term starts a new "term" and
the certificate is recommended at the end of the autumn term; with the term dates it is not.
"""

from __future__ import annotations

import datetime as dt
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from attendance_rules.engine.compiled import load_policy
from attendance_rules.exceptions import InputError
from attendance_rules.registers.calendar import Calendar, Term
from attendance_rules.replay.cases import load_case, run_case

AUTUMN = Term("autumn 2023", dt.date(2023, 9, 4), dt.date(2023, 12, 20))
CASE = """\
name: certificate for the whole autumn term
policy: widnes_academy
closed:
  - {{from: 2023-10-30, to: 2023-11-03}}
{calendar}pupil:
  id: ILL
  register:
    - {{from: 2023-09-04, to: 2023-12-20, code: present}}
    - {{"on": 2023-10-10, am: I, pm: present}}
checks:
  - as_of: 2023-12-20
    not_recommended: [wa_termly_certificate]
"""
INLINE = "calendar:\n  - {name: autumn 2023, start: 2023-09-04, end: 2023-12-20}\n"


def write(tmp_path: Path, calendar: str, name: str = "c.case.yaml") -> Path:
    path = tmp_path / name
    path.write_text(CASE.format(calendar=calendar), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def widnes():
    return load_policy("widnes_academy")


def test_inline_terms_are_used(tmp_path, widnes) -> None:
    case = load_case(write(tmp_path, INLINE))
    assert case.calendar == Calendar((AUTUMN,))
    assert run_case(case, widnes).passed


def test_without_terms_the_half_term_starts_a_term(tmp_path, widnes) -> None:
    case = load_case(write(tmp_path, ""))
    assert case.calendar == Calendar()
    result = run_case(case, widnes)
    assert not result.passed
    assert "wa_termly_certificate was recommended" in result.failures[0]
    assert "this term (6 Nov 2023 to 20 Dec 2023)" in result.failures[0]


def test_a_csv_file_relative_to_the_case(tmp_path, widnes) -> None:
    (tmp_path / "terms").mkdir()
    (tmp_path / "terms" / "autumn.csv").write_text("name,start,end\nautumn 2023,2023-09-04,2023-12-20\n",
                                                   encoding="utf-8")
    case = load_case(write(tmp_path, "calendar: terms/autumn.csv\n"))
    assert case.calendar == Calendar((AUTUMN,))
    assert run_case(case, widnes).passed


def test_the_case_terms_replace_the_policy_calendar_and_none_keep_it(tmp_path) -> None:
    half_terms = Calendar((Term("autumn 1", dt.date(2023, 9, 4), dt.date(2023, 10, 27)),
                           Term("autumn 2", dt.date(2023, 11, 6), dt.date(2023, 12, 20))))
    policy = load_policy("widnes_academy", calendar=half_terms)
    assert run_case(load_case(write(tmp_path, INLINE)), policy).passed
    assert not run_case(load_case(write(tmp_path, "", "none.case.yaml")), policy).passed


def problems(path: Path) -> list:
    with pytest.raises(InputError) as info:
        load_case(path)
    return list(info.value.problems)


@pytest.mark.parametrize(
    ("calendar", "message", "line"),
    [
        ("calendar:\n  - {name: autumn, start: 2023-09-04, end: 2023-02-30}\n", "a term needs ISO dates", 6),
        ("calendar:\n  - {name: a, start: 2023-09-04, end: 2023-12-20}\n  - {name: b, start: 2024-01-04, "
         "end: 2023-12-31}\n", "a term ends before it starts", 7),
        ("calendar: missing.csv\n", "calendar file cannot be read", 5),
    ],
)
def test_bad_terms_are_located(tmp_path, calendar, message, line) -> None:
    found = problems(write(tmp_path, calendar))
    assert [p.message for p in found] == [message]
    assert found[0].location.line == line and found[0].location.file.endswith("c.case.yaml")
    assert found[0].expected


@pytest.mark.parametrize(
    "calendar",
    ["calendar: []\n", "calendar:\n  - {name: autumn, start: 2023-09-04}\n",
     "calendar:\n  - {name: autumn, start: 4 Sep 2023, end: 2023-12-20}\n",
     "calendar:\n  - {name: autumn, start: 2023-09-04, end: 2023-12-20, half_term: 2023-10-30}\n",
     "calendar: {autumn: 2023-09-04}\n"],
)
def test_the_schema_refuses_malformed_terms(tmp_path, calendar) -> None:
    found = problems(write(tmp_path, calendar))
    assert found and all(p.location.line >= 5 for p in found)


def test_the_durable_backend_uses_the_case_terms(tmp_path) -> None:
    from attendance_rules.engine import durable as durable_backend

    if not durable_backend.available():
        pytest.skip("durable_rules cannot be imported here (Python 3.11/3.12 only)")
    policy = load_policy("widnes_academy", backend="durable")
    try:
        assert run_case(load_case(write(tmp_path, INLINE)), policy).passed
        assert not run_case(load_case(write(tmp_path, "", "none.case.yaml")), policy).passed
    finally:
        policy.engine.close()


def test_the_pytest_plugin_uses_the_case_terms(pytester) -> None:
    pytester.makefile(".case.yaml", with_terms=CASE.format(calendar=INLINE))
    pytester.makefile(".case.yaml", without_terms=CASE.format(calendar=""))
    installed = any(ep.name == "attendance_rules_cases" for ep in entry_points(group="pytest11"))
    extra = [] if installed else ["-p", "attendance_rules.replay.pytest_plugin"]
    result = pytester.runpytest(*extra, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*FAILED*without_terms.case.yaml*"])


def test_a_case_timeline_uses_the_case_terms(tmp_path, widnes) -> None:
    from attendance_rules.replay.timeline import replay_case_timeline

    def certificate_at_the_end(calendar: str) -> bool:
        timeline = replay_case_timeline(load_case(write(tmp_path, calendar)), widnes)
        return any(e.last_seen == dt.date(2023, 12, 20) for p in timeline.pupils for e in p.entries
                   if e.action == "wa_termly_certificate")

    assert certificate_at_the_end("")  # the half-term starts an inferred term with 100%
    assert not certificate_at_the_end(INLINE)
    assert widnes.with_calendar(Calendar()) is widnes
    assert widnes.with_calendar(Calendar((AUTUMN,))).calendar == Calendar((AUTUMN,))
