"""`report pupil`: one pupil's year as an HTML page, checked against the register it shows.

Figures are recounted here from the pupil's marks (code ids, as the register stores them)
rather than taken from the library's measures, so a counting slip in the page shows.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import attrs
import pytest

pytest.importorskip("matplotlib", reason="the report extra (matplotlib) is not installed")

from conftest import make_pupil, weekdays  # noqa: E402
from html_checks import Node, check_page, parse, rows, table  # noqa: E402

from attendance_rules.cli import main  # noqa: E402
from attendance_rules.engine.distance import distances  # noqa: E402
from attendance_rules.exceptions import UsageError  # noqa: E402
from attendance_rules.registers.codes import Category  # noqa: E402
from attendance_rules.registers.history import Event, Pupil  # noqa: E402
from attendance_rules.replay.timeline import evaluations_by_day, replay_pupil  # noqa: E402
from attendance_rules.report import html  # noqa: E402
from attendance_rules.report.pupil import (  # noqa: E402
    absence_thresholds,
    pupil_report,
    stage_changes,
)

ROOT = Path(__file__).parents[1]
SAMPLE = ROOT / "examples" / "sample" / "history.json"
AS_OF = dt.date(2024, 2, 9)
START = dt.date(2023, 9, 1)
HANDBOOK = "handbook-halton.html"
# P00019: letters, a meeting, a referral and stage changes; P00044: actions held back and thresholds near
PUPILS = ("P00019", "P00044")
SCRIPT = "<script>alert(1)</script>"
HAS_HANDBOOK = importlib.util.find_spec("attendance_rules.report.handbook") is not None
CSS = {Category.PRESENT: "cat-present", Category.APPROVED_ACTIVITY: "cat-approved-activity",
       Category.AUTHORISED: "cat-authorised", Category.UNAUTHORISED: "cat-unauthorised",
       Category.NOT_POSSIBLE: "cat-not-possible"}


def _render(policy, history, pupil: Pupil, **extra) -> str:
    options = {"school": history.school, "handbook": HANDBOOK, "horizon": 6, "start": None, "warnings": ()} | extra
    return pupil_report(policy, pupil, AS_OF, **options)


@pytest.fixture(scope="module")
def pages(halton, sample) -> dict[str, str]:
    return {pid: _render(halton, sample, sample.pupil(pid)) for pid in PUPILS}


def _marks_in_range(pupil: Pupil, start: dt.date = START, end: dt.date = AS_OF):
    """(date, session, code, category) of every mark from start to end, read from the stored ids."""
    reg = pupil.register
    for slot, code_id in zip(reg.slots, reg.codes):
        day = dt.date.fromordinal(slot >> 1)
        if start <= day <= end:
            entry = reg.codebook.by_id[code_id - 1]
            yield day, slot & 1, entry.code, entry.category


def _monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def _cards(root: Node, css: str) -> dict[str, Node]:
    return {card.find("h3")[0].text(): card for card in root.find("div", class_=css)}


def _hrefs(node: Node) -> set[str]:
    return {a.attrs["href"] for a in node.find("a")}


# --- content -------------------------------------------------------------------------------------


@pytest.mark.parametrize("pid", PUPILS)
def test_the_page_passes_the_html_checks(pages, pid):
    root = check_page(pages[pid])
    assert root.find("h1")[0].text() == f"Pupil {pid}"


@pytest.mark.parametrize("pid", PUPILS)
def test_every_compared_value_says_what_was_required(pages, pid):
    """A yes/no test has no threshold: its Required cell says so rather than stay blank."""
    root = check_page(pages[pid])
    tables = [t for t in root.find("table") if "values" in t.classes()]
    assert tables
    for found in tables:
        for cells in rows(found):
            assert cells[2].text().strip(), cells[0].text()


@pytest.mark.parametrize("pid", PUPILS)
def test_every_recommendation_appears_with_its_reasons_and_handbook_links(halton, sample, pages, pid):
    pupil = sample.pupil(pid)
    evaluation = halton.evaluate_pupil(pupil, AS_OF, sample.school)
    assert evaluation.recommendations
    cards = _cards(check_page(pages[pid]), "card")
    for rec in evaluation.recommendations:
        card = cards[rec.title]
        links = _hrefs(card)
        assert html.handbook_link(HANDBOOK, "action", rec.action) in links
        for reason in rec.reasons:
            assert f"{HANDBOOK}#rule-{reason.rule}" in links
            assert " ".join(reason.sentence.split()) in card.text()
            assert str(reason.source) in card.text()
        assert rec.kind in card.text() and rec.responsible in card.text()
        if rec.recorded_by is not None:
            assert rec.recorded_by_text() in card.text()


def test_what_is_held_back_done_and_near_appears_with_links(halton, sample, pages):
    pupil = sample.pupil("P00044")
    school = halton.school(sample.school)
    evaluation = halton.evaluate_pupil(pupil, AS_OF, school)
    near = distances(halton.engine, pupil, AS_OF, school, 6)
    assert evaluation.suppressed and evaluation.done and near  # the sample pupil has each
    root = check_page(pages["P00044"])
    held = _cards(root, "held")
    for suppression in evaluation.suppressed:
        assert html.handbook_link(HANDBOOK, "rule", suppression.rule) in _hrefs(held[suppression.title])
        assert suppression.reason in held[suppression.title].text()
    done = {row[0].text(): row for row in table(root, "Actions the rules call for")}
    for item in evaluation.done:
        row = done[item.title]
        assert row[1].text() == item.event and row[2].text() == html.short_date(item.date)
        assert html.handbook_link(HANDBOOK, "rule", item.rule) in _hrefs(row[3])
    text = root.text()
    for distance in near:
        assert " ".join(distance.sentence(AS_OF).split()) in text


def test_links_land_on_handbook_anchors_when_the_handbook_is_written(tmp_path):
    if not HAS_HANDBOOK:
        pytest.skip("attendance_rules.report.handbook is not in this tree: no handbook to land on")
    history = _small_history(tmp_path)
    err = io.StringIO()
    assert main(["report", "pupil", "--policy", "halton", "--history", str(history), "--pupil", "P00019",
                 "--as-of", AS_OF.isoformat(), "-o", str(tmp_path / "pupil.html")], io.StringIO(), err) == 0, err.getvalue()
    handbook, _ = parse((tmp_path / HANDBOOK).read_text(encoding="utf-8"))  # its own checks are its tests' job
    anchors = {e.attrs["id"] for e in handbook.elements() if "id" in e.attrs}
    links = _hrefs(check_page((tmp_path / "pupil.html").read_text(encoding="utf-8")))
    wanted = {link.split("#", 1)[1] for link in links if link.startswith(HANDBOOK + "#")}
    assert wanted and wanted <= anchors


@pytest.mark.parametrize("pid", PUPILS)
def test_the_weekly_numbers_are_a_recount_of_the_register(sample, pages, pid):
    pupil = sample.pupil(pid)
    days: dict[dt.date, set[str]] = {}
    weeks: dict[dt.date, list[int]] = {}
    for day, _, code, category in _marks_in_range(pupil):
        days.setdefault(day, set()).add(code)
        week = weeks.setdefault(_monday(day), [0, 0])
        week[0] += category in (Category.PRESENT, Category.APPROVED_ACTIVITY)
        week[1] += category is not Category.NOT_POSSIBLE
    # a school week has a school day: a day with a mark other than a planned closure (#)
    school_weeks = sorted({_monday(day) for day, codes in days.items() if codes != {"#"}})
    expected = [[html.short_date(monday), str(weeks[monday][0]), str(weeks[monday][1]),
                 html.percent(Fraction(*weeks[monday]) if weeks[monday][1] else None)] for monday in school_weeks]
    rows = table(check_page(pages[pid]), "Weekly attendance")
    assert [[cell.text() for cell in row] for row in rows] == expected
    assert len(expected) > 15


@pytest.mark.parametrize("pid", PUPILS)
def test_the_year_to_date_summary_is_a_recount_of_the_register(sample, pages, pid):
    counts = {category: 0 for category in Category}
    for _, _, _, category in _marks_in_range(sample.pupil(pid)):
        counts[category] += 1
    attended = counts[Category.PRESENT] + counts[Category.APPROVED_ACTIVITY]
    possible = sum(n for category, n in counts.items() if category is not Category.NOT_POSSIBLE)
    rows = {row[0].text(): row[1].text() for row in table(check_page(pages[pid]), "Attendance this academic year")}
    assert rows == {"Possible sessions": str(possible), "Attended (present or at an approved activity)": str(attended),
                    "Authorised absence": str(counts[Category.AUTHORISED]),
                    "Unauthorised absence": str(counts[Category.UNAUTHORISED]),
                    "Attendance rate": html.percent(Fraction(attended, possible))}


def test_the_absence_status_is_in_words_and_colour_with_the_policy_s_levels(halton, sample, pages):
    persistent, severe = absence_thresholds(halton, AS_OF)
    assert (persistent.parameter, persistent.attendance) == ("persistent_absence_rate", Fraction(9, 10))
    assert (severe.parameter, severe.attendance) == ("severe_absence_rate", Fraction(1, 2))
    root = check_page(pages["P00044"])  # 89.4% attendance: just inside persistent absence
    (badge,) = root.find("span", class_="rag")
    assert badge.text() == "Persistently absent" and "rag-amber" in badge.classes()
    assert html.handbook_link(HANDBOOK, "parameter", "persistent_absence_rate") in _hrefs(root)


def test_without_the_parameters_the_levels_are_the_national_definitions():
    class Chain:
        parameters: dict = {}

    class Policy:
        ruleset = attrs.make_class("RuleSet", ["policy"])(Chain())

    persistent, severe = absence_thresholds(Policy(), AS_OF)
    assert (persistent.parameter, persistent.absence, severe.parameter, severe.absence) == (
        "", Fraction(1, 10), "", Fraction(1, 2))


@pytest.mark.parametrize("pid", PUPILS)
def test_the_register_calendar_has_one_cell_per_mark_with_its_code_and_category(sample, pages, pid):
    expected = {}
    for day, pm, code, category in _marks_in_range(sample.pupil(pid)):
        expected[(html.short_date(_monday(day)), 2 * day.weekday() + pm)] = (code, CSS[category])
    shown = {}
    rows = table(check_page(pages[pid]), "Register marks by school week")
    for row in rows:
        header, cells = row[0], row[1:]
        assert header.tag == "th" and len(cells) == 10  # Monday to Friday, AM and PM: no weekend mark here
        monday = header.text().removesuffix(" (after a break)")
        for column, cell in enumerate(cells):
            if cell.text():
                category = [c for c in cell.classes() if c.startswith("cat-")]
                shown[(monday, column)] = (cell.text(), *category)
                assert cell.attrs["title"].startswith(cell.text() + ": ")
            else:
                assert not cell.classes() or cell.classes() == ["mark"]
    assert shown == expected
    assert len(rows) == len({monday for monday, _ in expected})


def test_markers_list_events_in_range_and_stage_changes_and_nothing_after_the_as_of_date(halton, sample, pages):
    pupil = sample.pupil("P00019")
    rows = [[cell.text() for cell in row] for row in table(check_page(pages["P00019"]), "Markers on the chart")]
    events = [e for e in pupil.events if START <= e.date <= AS_OF]
    school = halton.school(sample.school)
    stages = stage_changes(evaluations_by_day(halton, pupil, START, AS_OF, school), halton.ruleset.facts)
    assert [r[0] for r in rows] == [str(i) for i in range(1, len(events) + len(stages) + 1)]
    assert [(r[1], r[3].split(" ")[0]) for r in rows if r[2] == "case event"] == [
        (html.short_date(e.date), e.type) for e in events]
    assert [(r[1], r[3]) for r in rows if r[2] == "stage change"] == [
        (html.short_date(day), text) for day, text in stages]
    assert any("began stage2" in r[3] for r in rows)
    later = [e for e in pupil.events if e.date > AS_OF]
    assert later and all(html.short_date(e.date) not in pages["P00019"] for e in later)


def test_the_recommendations_over_time_are_the_replay_s_episodes(halton, sample, pages):
    pupil = sample.pupil("P00019")
    replay = replay_pupil(halton, pupil, START, AS_OF, halton.school(sample.school))
    rows = table(check_page(pages["P00019"]), "Recommendations from")
    assert [(r[0].text(), r[2].text(), r[3].text()) for r in rows] == [
        (e.title, html.short_date(e.first_seen) + (" or earlier" if e.open_at_start else ""),
         html.short_date(e.ended) if e.ended else "still recommended") for e in replay.entries]


def test_a_later_start_shows_only_the_days_from_it(halton, sample):
    start = dt.date(2024, 1, 1)
    page = _render(halton, sample, sample.pupil("P00019"), start=start)
    root = check_page(page)
    mondays = [row[0].text().removesuffix(" (after a break)") for row in table(root, "Register marks by school week")]
    assert mondays[0] == "1 Jan 2024" and "4 Sep 2023" not in mondays
    with pytest.raises(UsageError, match="--from is after --as-of"):
        _render(halton, sample, sample.pupil("P00019"), start=AS_OF + dt.timedelta(days=1))


def test_weekend_marks_closures_and_breaks_are_shown_as_they_are(halton, sample):
    days = {day: "/" for day in weekdays(dt.date(2024, 1, 8), dt.date(2024, 1, 19))}
    days |= {dt.date(2024, 1, 13): ("/", ""), dt.date(2024, 1, 22): "#"}  # a Saturday morning; a closure-only week
    days |= {day: ("N", "/") for day in weekdays(dt.date(2024, 2, 5), dt.date(2024, 2, 9))}
    pupil = make_pupil(days, pid="W1")
    root = check_page(_render(halton, sample, pupil))
    header = [th.text() for th in root.find("table", class_="register")[0].find("thead")[0].find("th")]
    assert header[1:8] == ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    rows = table(root, "Register marks by school week")
    assert [row[0].text() for row in rows] == ["8 Jan 2024", "15 Jan 2024", "22 Jan 2024",
                                                "5 Feb 2024 (after a break)"]
    assert [len(row) for row in rows] == [15] * 4
    saturday = rows[0][1 + 2 * 5]
    assert saturday.text() == "/" and "cat-present" in saturday.classes() and rows[0][2 + 2 * 5].text() == ""
    assert [c.text() for c in rows[2][1:3]] == ["#", "#"] and "cat-not-possible" in rows[2][1].classes()
    weekly = [[c.text() for c in row] for row in table(root, "Weekly attendance")]
    assert weekly == [["8 Jan 2024", "11", "11", "100.0%"], ["15 Jan 2024", "10", "10", "100.0%"],
                      ["5 Feb 2024", "5", "10", "50.0%"]]  # the closure-only week is no school week
    monday = [[c.text() for c in row] for row in table(root, "Absence by day of the week")][0]
    assert monday == ["Monday", "6", "0", "1", "16.7%"]


def test_a_pupil_without_marks_in_the_range_gets_a_page(halton, sample):
    pupil = make_pupil({dt.date(2023, 7, 3): "/"}, pid="EMPTY")
    root = check_page(_render(halton, sample, pupil))
    assert table(root, "Register marks by school week") == [] and table(root, "Weekly attendance") == []
    assert root.find("span", class_="rag")[0].text() == "No possible sessions this academic year"


def test_warnings_are_shown_at_the_top(halton, sample):
    from attendance_rules.exceptions import Location, Problem

    warning = Problem(
        "event type 'tea' is not a standard type", Location("history.json", 3), severity="warning"
    )
    root = check_page(_render(halton, sample, sample.pupil("P00019"), warnings=(warning,)))
    (section,) = root.find("section", class_="warnings")
    assert "event type 'tea' is not a standard type" in section.text()


# --- safety and determinism ----------------------------------------------------------------------


def test_untrusted_ids_flags_event_details_and_school_names_are_shown_as_text(halton, sample):
    real = sample.pupil("P00019")
    note = Event(date=dt.date(2024, 1, 10), type="contact_made", details={"note": SCRIPT})
    pupil = attrs.evolve(real, id=SCRIPT, flags=real.flags | {SCRIPT}, events=real.events + (note,))
    school = attrs.evolve(sample.school, name=SCRIPT)
    page = pupil_report(halton, pupil, AS_OF, school=school, handbook=HANDBOOK, horizon=6, start=None,
                        warnings=())
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    root = check_page(page)
    assert root.find("h1")[0].text() == f"Pupil {SCRIPT}"
    assert f"note = {SCRIPT}" in root.text()


def test_two_renders_are_byte_identical(halton, sample, pages):
    assert _render(halton, sample, sample.pupil("P00019")) == pages["P00019"]


def _small_history(folder: Path) -> Path:
    """The sample's school with one pupil (P00019): a run of the command in about a second."""
    data = json.loads(SAMPLE.read_text(encoding="utf-8"))
    data["pupils"] = [p for p in data["pupils"] if p["id"] == "P00019"]
    path = folder / "history.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _handbook_options() -> list[str]:
    # Without the handbook module in this tree the command is given a published handbook's
    # address (an href only: nothing is fetched) and must write nothing beside the page.
    return [] if HAS_HANDBOOK else ["--handbook", "https://example.invalid/h.html"]


def test_the_command_writes_the_page_and_only_the_handbook_beside_it(tmp_path):
    history = _small_history(tmp_path)
    out, err = io.StringIO(), io.StringIO()
    status = main(["report", "pupil", "--policy", "halton", "--history", str(history), "--pupil", "P00019",
                   "--as-of", AS_OF.isoformat(), "-o", str(tmp_path / "pupil.html"), *_handbook_options()], out, err)
    assert status == 0, err.getvalue()
    assert out.getvalue() == "" and f"wrote {(tmp_path / 'pupil.html').as_posix()}" in err.getvalue()
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(["history.json", "pupil.html"] + ([HANDBOOK] if HAS_HANDBOOK else []))
    page = (tmp_path / "pupil.html").read_text(encoding="utf-8")
    check_page(page, allowed_links=["https://example.invalid/h.html#"])
    if not HAS_HANDBOOK:
        assert 'href="https://example.invalid/h.html#rule-' in page


def test_the_command_s_page_is_identical_across_processes_and_hash_seeds(tmp_path):
    history = _small_history(tmp_path)
    pages = []
    for seed in ("1", "2"):
        folder = tmp_path / f"seed{seed}"
        folder.mkdir()
        code = ("import sys; from attendance_rules.cli import main; sys.exit(main(sys.argv[1:]))")
        argv = ["report", "pupil", "--policy", "halton", "--history", str(history), "--pupil", "P00019",
                "--as-of", AS_OF.isoformat(), "-o", str(folder / "pupil.html"), *_handbook_options()]
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env, cwd=ROOT)
        assert done.returncode == 0, done.stderr
        pages.append((folder / "pupil.html").read_bytes())
    assert pages[0] == pages[1] and len(pages[0]) > 10_000


def test_an_unknown_pupil_is_an_error_like_explain_s_with_no_traceback(tmp_path):
    history = str(_small_history(tmp_path))
    common = ["--policy", "halton", "--history", history, "--pupil", "NOPE", "--as-of", AS_OF.isoformat()]
    statuses = []
    for argv in (["report", "pupil", *common, "-o", str(tmp_path / "x.html"), *_handbook_options()],
                 ["explain", *common]):
        err = io.StringIO()
        statuses.append(main(argv, io.StringIO(), err))
        assert "no pupil 'NOPE'" in err.getvalue()
        assert "Traceback" not in err.getvalue() and "internal error" not in err.getvalue()
    assert statuses[0] == statuses[1] and statuses[0] in (1, 2)
    assert not (tmp_path / "x.html").exists()


def test_a_start_after_the_as_of_date_is_a_usage_error(tmp_path):
    history = str(_small_history(tmp_path))
    err = io.StringIO()
    status = main(["report", "pupil", "--policy", "halton", "--history", history, "--pupil", "P00019",
                   "--as-of", AS_OF.isoformat(), "--from", "2024-03-01", *_handbook_options()], io.StringIO(), err)
    assert status == 2 and "--from is after --as-of" in err.getvalue()
