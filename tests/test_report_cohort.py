"""The targeting-support-meeting pack (``report cohort``): lists recounted from the registers,
CSV equal to the page, untrusted ids escaped and defused, deterministic files, accessible HTML
(the shared checks of tests/html_checks.py).
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import importlib.util
import io
import json
import math
import os
import subprocess
import sys
import types
from fractions import Fraction
from pathlib import Path

import pytest

pytest.importorskip("matplotlib", reason="the report extra (matplotlib) is not installed")

from conftest import category_of
from html_checks import Node, by_id, check_page, links, parse, rows

from attendance_rules.cli import main
from attendance_rules.engine.compiled import load_policy
from attendance_rules.policy.conformance import conform
from attendance_rules.registers.readers import load_history
from attendance_rules.replay.cohort import cohort_view
from attendance_rules.report import cohort_lists as pack_module
from attendance_rules.report.cohort import index_html, pupil_handbook, write_cohort_pack
from attendance_rules.report.cohort_csv import CSV_FILES, csv_files
from attendance_rules.report.cohort_lists import (
    absence_levels,
    build_pack,
    cohort_pack,
    part_time_priority_actions,
)
from attendance_rules.report.html import pupil_file_name, short_date

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "sample" / "history.json"
HALTON = "policies/halton.yaml"
AS_OF = dt.date(2024, 2, 9)
SCRIPT_ID = '<script>alert("pupil")</script>'
CMD_ID = "=cmd|' /C calc'!A0"
HAS_PUPIL_REPORT = importlib.util.find_spec("attendance_rules.report.pupil") is not None


# --- a recount from the registers, independent of the library's counting ---------------


def _counts(pupil, start: dt.date, end: dt.date) -> dict[str, int]:
    """Sessions per national category between two dates (conftest.category_of: NATIONAL.md)."""
    found = {"attended": 0, "authorised": 0, "unauthorised": 0, "possible": 0}
    for mark in pupil.register.marks():
        if start <= mark.date <= end:
            category = category_of(mark.date, mark.code)
            if category != "not_possible":
                found["possible"] += 1
                key = "attended" if category in ("present", "approved_activity") else category
                found[key] += 1
    found["absent"] = found["authorised"] + found["unauthorised"]
    return found


def _year_start(day: dt.date) -> dt.date:
    return dt.date(day.year if day.month >= 9 else day.year - 1, 9, 1)


def _rate(counts: dict[str, int]) -> Fraction | None:
    return Fraction(counts["attended"], counts["possible"]) if counts["possible"] else None


def _term_start(pupil, day: dt.date) -> dt.date | None:
    """The reading in ARCHITECTURE.md: a break of 7 or more days without marks starts a term."""
    days = sorted({m.date for m in pupil.register.marks() if m.date <= day})
    if not days:
        return None
    i = len(days) - 1
    while i > 0 and (days[i] - days[i - 1]).days - 1 < 7:
        i -= 1
    return days[i]


def _terms(pupil, as_of: dt.date) -> tuple[Fraction | None, Fraction | None]:
    """Attendance this term and last term, recounted."""
    start = _term_start(pupil, as_of)
    this = _rate(_counts(pupil, start, as_of)) if start else None
    before = _term_start(pupil, start - dt.timedelta(days=1)) if start else None
    last = _rate(_counts(pupil, before, start - dt.timedelta(days=1))) if before else None
    return this, last


def _weekday_after(day: dt.date, n: int) -> dt.date:
    while n:
        day += dt.timedelta(days=1)
        n -= day.weekday() < 5
    return day


def _pct(value: Fraction | None) -> str:
    return "n/a" if value is None else f"{float(value) * 100:.1f}%"


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def halton():
    """By path, as ``packs`` gives it to the command line. Not conftest's ``halton``: loaded by
    the bundled id, its policy files are recorded by absolute path, not as ``policies/halton.yaml``."""
    return load_policy(HALTON)


@pytest.fixture(scope="module")
def full_pack(halton, sample):
    """The pack's lists for the whole sample (300 pupils, horizon 6 weeks, two processes)."""
    school = conform(sample, halton.ruleset.policy, AS_OF).school
    return cohort_pack(halton, HALTON, sample, AS_OF, school=school, horizon=6, jobs=2)


@pytest.fixture(scope="module")
def small_json(tmp_path_factory, sample) -> Path:
    """12 pupils of the sample: 2 severely and 4 persistently absent (two renamed with hostile
    ids, two flagged looked_after), 3 close to persistent absence, 3 with the most C and I
    sessions this term (two flagged part_time_timetable)."""
    year = {p.id: _counts(p, _year_start(AS_OF), AS_OF) for p in sample}
    rated = sorted((c["absent"] * 10 < c["possible"], _rate(c) or 0, p) for p, c in year.items() if c["possible"])
    severe = [p for _, r, p in rated if year[p]["absent"] * 2 >= year[p]["possible"]][:2]
    persistent = [p for ok, r, p in rated if not ok and p not in severe][:4]
    near = sorted((p for ok, r, p in rated if ok), key=lambda p: (_needed(year[p]), p))[:3]
    chosen = set(severe + persistent + near)
    by_id = {p.id: p for p in sample}
    ci = sorted((-_code_count(by_id[p], ("C", "C2", "I")), p) for p in year if p not in chosen)
    part_time = [p for _, p in ci[:3]]
    doc = json.loads(SAMPLE.read_text(encoding="utf-8"))
    keep = set(chosen) | set(part_time)
    pupils = [copy.deepcopy(p) for p in doc["pupils"] if p["id"] in keep]
    renames = {persistent[0]: SCRIPT_ID, persistent[1]: CMD_ID}
    flags = {part_time[0]: "part_time_timetable", part_time[2]: "part_time_timetable",
             persistent[2]: "looked_after", persistent[3]: "looked_after"}
    for p in pupils:
        if p["id"] in flags:
            p["flags"] = sorted(set(p.get("flags", [])) | {flags[p["id"]]})
        p["id"] = renames.get(p["id"], p["id"])
    path = tmp_path_factory.mktemp("small") / "history.json"
    path.write_text(json.dumps({"pupils": pupils, "school": doc["school"]}, indent=1), encoding="utf-8")
    return path


def _needed(counts: dict[str, int]) -> int:
    """Sessions of absence from tomorrow that make (absent + n) / (possible + n) reach 10%."""
    return max(1, math.ceil((counts["possible"] - 10 * counts["absent"]) / 9))


def _code_count(pupil, codes: tuple[str, ...], as_of: dt.date = AS_OF) -> int:
    start = _term_start(pupil, as_of)
    if start is None:
        return 0
    return sum(1 for m in pupil.register.marks() if start <= m.date <= as_of and m.code in codes)


@pytest.fixture(scope="module")
def small(small_json):
    return load_history(small_json)


@pytest.fixture(scope="module")
def packs(tmp_path_factory, small_json, small, halton) -> tuple[Path, Path]:
    """The same pack twice: by the command line with --jobs 1, and by write_cohort_pack with 2 jobs."""
    one, two = tmp_path_factory.mktemp("jobs1") / "pack", tmp_path_factory.mktemp("jobs2") / "pack"
    err = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        if importlib.util.find_spec("attendance_rules.report.handbook") is None:  # another helper's module
            stand_in = types.ModuleType("attendance_rules.report.handbook")
            stand_in.handbook_html = lambda *a, **k: pytest.fail("--handbook was given: no handbook is written")
            mp.setitem(sys.modules, "attendance_rules.report.handbook", stand_in)
        status = main(["report", "cohort", "--policy", HALTON, "--history", str(small_json), "--as-of",
                       AS_OF.isoformat(), "--horizon", "1", "--jobs", "1", "--handbook", "handbook-halton.html",
                       "-o", str(one)], out=io.StringIO(), err=err)
    assert status == 0, err.getvalue()
    checked = conform(small, halton.ruleset.policy, AS_OF)
    two.mkdir()
    written = write_cohort_pack(halton, HALTON, small, AS_OF, two, school=checked.school,
                                handbook="handbook-halton.html", horizon=1, jobs=2, progress=None,
                                warnings=checked.warnings)
    assert written == sorted(written) and written[0].name == "at_risk.csv"
    said = [line.removeprefix("wrote ") for line in err.getvalue().splitlines() if line.startswith("wrote ")]
    assert said == [p.as_posix() for p in sorted(one.rglob("*.*"))]  # the CLI names every file, sorted
    return one, two


# --- the HTML checks: the shared ones, and what this page must also have ---------------


def _check_html(text: str) -> Node:
    """The shared checks of tests/html_checks.py, and a chart whose aria-describedby names the
    table of its numbers itself (the shared check also accepts an element holding one)."""
    root = check_page(text)
    charts = root.find("svg")
    assert charts
    for svg in charts:
        assert by_id(root, svg.attrs.get("aria-describedby", "")).tag == "table"
    return root


def _table(root: Node, table_id: str) -> list[list[str]]:
    """The body rows (cell texts) of the table with this id."""
    return [[cell.text() for cell in row] for row in rows(by_id(root, table_id))]


def _csv(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


# --- the lists against a recount --------------------------------------------------------


def test_lists_equal_a_recount_of_the_registers(full_pack, sample):
    year = {p.id: _counts(p, _year_start(AS_OF), AS_OF) for p in sample}
    order = sorted((Fraction(c["attended"], c["possible"]), pid) for pid, c in year.items() if c["possible"])
    persistent = [pid for _, pid in order if year[pid]["absent"] * 10 >= year[pid]["possible"]]
    severe = [pid for _, pid in order if year[pid]["absent"] * 2 >= year[pid]["possible"]]
    assert [r.pupil_id for r in full_pack.persistent] == persistent and len(persistent) > 10
    assert [r.pupil_id for r in full_pack.severe] == severe and severe
    for row in full_pack.persistent:
        assert (row.possible, row.absent, row.unauthorised) == tuple(year[row.pupil_id][k] for k in
                                                                     ("possible", "absent", "unauthorised"))
    risk = []
    for pid, c in year.items():
        if c["possible"] and c["absent"] * 10 < c["possible"]:
            n = _needed(c)
            if math.ceil(n / 2) <= 5 * 6:  # the horizon: 6 school weeks of weekdays
                risk.append((n, _weekday_after(AS_OF, math.ceil(n / 2)), pid))
    assert [(r.sessions, r.reached_on, r.row.pupil_id) for r in full_pack.at_risk] == sorted(risk)
    # no pupil of the sample is flagged part-time, and C2 only exists from August 2024
    assert full_pack.part_time == ()
    bins = {}
    for _, pid in order:
        rate = Fraction(year[pid]["attended"], year[pid]["possible"]) * 100
        high = next(h for h in range(5, 101, 5) if rate <= h)
        bins[high] = bins.get(high, 0) + 1
    assert {high: n for _, high, n in full_pack.bins if n} == bins
    assert full_pack.no_possible == sum(1 for c in year.values() if not c["possible"])


def test_part_time_candidates_recounted_and_priority_as_the_policy_says(halton, sample):
    import attrs

    as_of = dt.date(2024, 12, 13)  # C2 (part-time timetable) is a 2024 code: this autumn has some
    by_i = sorted(sample, key=lambda p: (-_code_count(p, ("I",), as_of), p.id))
    flagged = {by_i[0].id, by_i[40].id}  # many I sessions, and few
    pupils = [attrs.evolve(p, flags=p.flags | {"part_time_timetable"}) if p.id in flagged else p for p in sample]
    history = attrs.evolve(sample, pupils=tuple(pupils))
    school = conform(history, halton.ruleset.policy, as_of).school
    pack = cohort_pack(halton, HALTON, history, as_of, school=school, horizon=0)
    expected = []
    for p in pupils:
        counts = tuple(_code_count(p, (code,), as_of) for code in ("C", "C2", "I"))
        if p.id in flagged or counts[1]:
            expected.append((-sum(counts), p.id, counts))
    assert [(-r.total, r.row.pupil_id, tuple(n for _, n in r.counts)) for r in pack.part_time] == sorted(expected)
    assert any(c[1] for _, pid, c in expected if pid not in flagged)  # a C2 pupil without the flag is listed
    assert part_time_priority_actions(halton) == ("tsm_part_time_priority",)
    least = halton.ruleset.policy.parameters["tsm_part_time_c_i_sessions"].value_on(as_of)
    assert {r.row.pupil_id for r in pack.part_time if r.priority} == \
        {pid for total, pid, _ in expected if pid in flagged and -total >= least}
    assert part_time_priority_actions(load_policy("policies/hillingdon.yaml")) == ()  # none is invented


def test_levels_of_the_chart_come_from_the_policy(halton):
    assert absence_levels(halton, AS_OF) == (Fraction(1, 10), Fraction(1, 2))


# --- the pack's files -------------------------------------------------------------------


def test_csv_rows_equal_html_rows(packs):
    folder = packs[0]
    page = _check_html((folder / "index.html").read_text(encoding="utf-8"))
    for name, table_id in (("persistent_absence.csv", "table-persistent"), ("severe_absence.csv", "table-severe"),
                           ("at_risk.csv", "table-at-risk"), ("part_time_candidates.csv", "table-part-time")):
        head, *rows = _csv(folder / name)
        html_rows = _table(page, table_id)
        assert rows and len(rows) == len(html_rows), name
        for row, cells in zip(rows, html_rows):
            record = dict(zip(head, row))
            pupil = record["pupil_id"]
            assert pupil.removeprefix("'") == cells[0]
            assert record["year_group"] == cells[1]
            if name == "part_time_candidates.csv":
                assert [record[f"{c}_sessions_this_term"] for c in ("C", "C2", "I")] == cells[3:6]
                assert record["c_c2_i_sessions_this_term"] == cells[6]
                assert record["attendance_this_term_pct"] + "%" == cells[7]
                assert (record["priority_actions"] != "") == (cells[8] == "yes")
                continue
            assert [record[k] + "%" if record[k] else "n/a" for k in
                    ("attendance_year_pct", "attendance_this_term_pct", "attendance_last_term_pct")] == cells[2:5]
            trend = record["trend_points"]
            words = ("n/a" if trend == "" else "no change" if float(trend) == 0 else
                     f"{'up' if float(trend) > 0 else 'down'} {trend.lstrip('-')} points")
            assert cells[5].endswith(words)
            if name == "at_risk.csv":
                assert [record["sessions_to_persistent_absence"], short_date(dt.date.fromisoformat(
                    record["earliest_date"]))] == cells[6:8]


def test_trend_recounted_for_one_pupil(packs, small):
    folder = packs[0]
    head, *rows = _csv(folder / "persistent_absence.csv")
    record = dict(zip(head, next(r for r in rows if r[head.index("trend_points")] not in ("", "0.0"))))
    pupil = small.pupil(record["pupil_id"].removeprefix("'"))
    this, last = _terms(pupil, AS_OF)
    points = (this - last) * 100
    assert record["attendance_this_term_pct"] + "%" == _pct(this)
    assert record["attendance_last_term_pct"] + "%" == _pct(last)
    assert record["trend_points"] == f"{float(points):.1f}"
    html = (folder / "index.html").read_text(encoding="utf-8")
    word, glyph = ("up", "↑") if points > 0 else ("down", "↓")
    assert f'<span aria-hidden="true">{glyph}</span> {word} {abs(float(points)):.1f} points' in html


def test_hostile_ids_are_escaped_in_html_and_defused_in_csv(packs):
    folder = packs[0]
    html = (folder / "index.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(" in html and "<script" not in html.lower()
    assert f'href="pupils/{pupil_file_name(SCRIPT_ID)}"' in html
    rows = _csv(folder / "persistent_absence.csv")
    ids = [r[0] for r in rows[1:]]
    assert "'" + CMD_ID in ids and CMD_ID not in ids and SCRIPT_ID in ids
    trends = [r[rows[0].index("trend_points")] for r in rows[1:]]
    assert any(t.startswith("-") for t in trends)  # numbers are not defused
    assert all(not cell.startswith(("=", "+", "@")) for r in rows for cell in r)


def test_pack_is_byte_identical_across_runs_and_jobs(packs):
    one, two = packs
    files = sorted(p.relative_to(one) for p in one.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(two) for p in two.rglob("*") if p.is_file())
    assert {f.as_posix() for f in files} >= {"index.html", *CSV_FILES}
    for name in files:
        assert (one / name).read_bytes() == (two / name).read_bytes(), name


def test_pack_is_the_same_under_another_hash_seed(packs, small_json, tmp_path):
    script = (
        "import datetime as dt, sys\n"
        "from pathlib import Path\n"
        "from attendance_rules.engine.compiled import load_policy\n"
        "from attendance_rules.policy.conformance import conform\n"
        "from attendance_rules.registers.readers import load_history\n"
        "from attendance_rules.report import cohort\n"
        "cohort._pupil_report_function = lambda: None  # pupil pages: the pupil report's own tests\n"
        f"policy, history, as_of = load_policy({HALTON!r}), load_history(sys.argv[1]), dt.date(2024, 2, 9)\n"
        "checked = conform(history, policy.ruleset.policy, as_of)\n"
        f"cohort.write_cohort_pack(policy, {HALTON!r}, history, as_of, Path(sys.argv[2]), school=checked.school,"
        " handbook='handbook-halton.html', horizon=1, jobs=1, progress=None, warnings=checked.warnings)\n")
    env = dict(os.environ, PYTHONHASHSEED="4321", PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-c", script, str(small_json), str(tmp_path)], check=True, cwd=ROOT, env=env)
    for name in ("index.html", *CSV_FILES):
        assert (tmp_path / name).read_bytes() == (packs[0] / name).read_bytes(), name


def test_index_page_is_accessible_and_complete(packs):
    html = (packs[0] / "index.html").read_text(encoding="utf-8")
    page = _check_html(html)
    assert "<h1>Targeting support meeting pack</h1>" in html
    assert _table(page, "attendance-bins")  # the chart's text alternative
    assert "As of 9 February 2024" in html and "policies/halton.yaml" in html
    assert 'href="handbook-halton.html#action-tsm_discussion"' in html
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html
    assert [h for h in links(page) if h.startswith("pupils/")]


def test_every_pupil_link_points_to_a_page_written(packs):
    if not HAS_PUPIL_REPORT:
        pytest.skip("attendance_rules/report/pupil.py (the pupil report) is not merged yet: no pupil pages")
    folder = packs[0]
    pupil_links = {h for h in links(parse((folder / "index.html").read_text(encoding="utf-8"))[0])
                   if h.startswith("pupils/")}
    assert pupil_links and all((folder / link).is_file() for link in pupil_links)
    for link in pupil_links:
        assert '<a href="../index.html">' in (folder / link).read_text(encoding="utf-8")


def test_pupil_pages_with_a_stand_in_report(monkeypatch, tmp_path, small, halton):
    calls = []

    def pupil_report(policy, pupil, as_of, *, school, handbook, horizon, start, warnings):
        calls.append((pupil.id, handbook, horizon, start))
        return f'<!DOCTYPE html>\n<html><body>\n<main id="main">\n<h1>{len(calls)}</h1>\n</main>\n</body></html>\n'

    stand_in = types.ModuleType("attendance_rules.report.pupil")
    stand_in.pupil_report = pupil_report
    monkeypatch.setitem(sys.modules, "attendance_rules.report.pupil", stand_in)
    checked = conform(small, halton.ruleset.policy, AS_OF)
    written = write_cohort_pack(halton, HALTON, small, AS_OF, tmp_path, school=checked.school,
                                handbook="handbook-halton.html", horizon=1, jobs=1, progress=None,
                                warnings=checked.warnings)
    pages = [p for p in written if p.parent.name == "pupils"]
    html = (tmp_path / "index.html").read_text(encoding="utf-8")
    pupil_links = {h for h in links(parse(html)[0]) if h.startswith("pupils/")}
    assert {f"pupils/{p.name}" for p in pages} == pupil_links and len(pages) == len(calls)
    assert {c[1:] for c in calls} == {("../handbook-halton.html", 1, None)}
    assert all('<main id="main">\n<p class="back"><a href="../index.html">' in p.read_text() for p in pages)


def test_handbook_address_from_the_pupils_folder():
    assert pupil_handbook("handbook-halton.html") == "../handbook-halton.html"
    assert pupil_handbook("docs/handbook.html") == "../docs/handbook.html"
    assert pupil_handbook("https://example.org/handbook.html") == "https://example.org/handbook.html"
    assert pupil_handbook("/srv/handbook.html") == "/srv/handbook.html"


def test_rag_in_words_and_colour_and_no_at_risk_list_without_a_horizon(small):
    tameside = load_policy("policies/tameside.yaml")
    evaluation = tameside.evaluate(small, AS_OF)
    view = cohort_view(tameside, small, AS_OF, evaluation)
    pack = build_pack(tameside, list(small), view, evaluation.pupils, 0)
    rated = [r for r in pack.persistent if r.rag]
    assert rated, "two looked-after pupils under 90% are rated"
    html = index_html(pack, handbook="handbook-tameside.html")
    for row in rated:
        assert f'<span class="rag rag-{row.rag}">{row.rag.capitalize()}</span>' in html
    assert "RAG rating" in html
    assert "The at-risk list was not asked for" in html and pack.at_risk == ()
    assert csv_files(pack)["at_risk.csv"].count("\r\n") == 1  # the header only
    _check_html(html)


def test_warnings_are_shown(small, halton):
    from attendance_rules.exceptions import Location, Problem

    evaluation = halton.evaluate(small, AS_OF)
    warning = Problem("a <b>warning</b>", Location("history.json"), severity="warning")
    pack = build_pack(halton, list(small), cohort_view(halton, small, AS_OF, evaluation), evaluation.pupils, 0,
                      (warning,))
    html = index_html(pack, handbook="h.html")
    assert '<h2 id="warnings">Warnings</h2>' in html and "a &lt;b&gt;warning&lt;/b&gt;" in html
    assert pack_module.CohortPack.__doc__


def test_boundaries_exactly_on_the_levels():
    from conftest import make_pupil, weekdays

    from attendance_rules.registers.history import History

    days = weekdays(dt.date(2024, 1, 8), dt.date(2024, 2, 2))  # 20 school days, 40 sessions
    autumn = weekdays(dt.date(2023, 11, 6), dt.date(2023, 11, 17))

    def pupil(pid: str, absent_days: int, extra: tuple = ()) -> object:
        return make_pupil({d: "O" if i < absent_days else "/" for i, d in enumerate([*extra, *days][::-1])}, pid=pid)

    history = History(pupils=(pupil("A90", 2), pupil("B50", 10), pupil("C100", 0), pupil("D5", 19),
                       pupil("E", 0, tuple(autumn))))
    england, as_of = load_policy("england"), days[-1]
    evaluation = england.evaluate(history, as_of)
    pack = build_pack(england, list(history), cohort_view(england, history, as_of, evaluation), evaluation.pupils, 0)
    assert [r.pupil_id for r in pack.persistent] == ["D5", "B50", "A90"]  # exactly 90% is persistent absence
    assert [r.pupil_id for r in pack.severe] == ["D5", "B50"]  # exactly 50% is severe absence
    assert {(low, high): n for low, high, n in pack.bins if n} == {(0, 5): 1, (45, 50): 1, (85, 90): 1,
                                                                    (95, 100): 2}
    e = next(r for r in build_pack(england, list(history), pack.view, evaluation.pupils, 0).persistent
             if r.pupil_id == "A90")
    assert (e.this_term, e.last_term, e.trend_words(), e.trend_arrow()) == (Fraction(9, 10), None, "n/a", "")
    only_e = History(pupils=(pupil("E", 0, tuple(autumn)),))
    row = pack_module._pack_row(england, only_e.pupils[0], as_of, evaluation.pupils[-1])
    assert (row.this_term, row.last_term, row.trend_words(), row.trend_arrow()) == (1, 1, "no change", "→")
