"""The HTML reports opened in a real browser: headless Chromium (Debian's ``chromium``,
which ``.ci/run`` installs) driven by Playwright.

Each page must open from disk with no console error, no page error and no request
leaving the file system (every other request is aborted and counted as a failure);
its charts and tables must be there; a citation link must land on the handbook's
anchor; at 200% zoom (a 640-pixel-wide window for a 1280-pixel screen) the page must
not scroll sideways. A screenshot of each page goes to ``test-artifacts/`` (or
``$ATTENDANCE_RULES_ARTIFACTS``). Without Chromium or Playwright these tests skip,
saying which is missing.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("matplotlib", reason="the report extra (matplotlib) is not installed")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (the test extra) is not installed")

from attendance_rules.cli import main  # noqa: E402

ROOT = Path(__file__).parents[1]
SAMPLE = ROOT / "examples" / "sample" / "history.json"
AS_OF = "2024-02-09"
PUPIL = "P00019"  # letters, a meeting, a referral and a penalty notice in the sample
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"]


def _chromium() -> str:
    found = os.environ.get("ATTENDANCE_RULES_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip("no Chromium on this machine (apt-get install chromium; .ci/run does it)")
    return found


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module."""
    executable = _chromium()
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def artifacts() -> Path:
    folder = Path(os.environ.get("ATTENDANCE_RULES_ARTIFACTS") or ROOT / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _run(*argv: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), out, err)
    assert status == 0, err.getvalue()


def _small_history(folder: Path, pupils: int = 30) -> Path:
    """The sample's first pupils (and PUPIL): a pack with pupil pages in seconds, not minutes."""
    data = json.loads(SAMPLE.read_text(encoding="utf-8"))
    data["pupils"] = [p for i, p in enumerate(data["pupils"]) if i < pupils or p["id"] == PUPIL]
    path = folder / "history.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, Path]:
    """Every report written once, on the sample, by the command line."""
    folder = tmp_path_factory.mktemp("reports")
    history = str(_small_history(folder))
    common = ["--policy", "halton", "--history", history, "--quiet"]
    _run("report", "pupil", *common, "--pupil", PUPIL, "--as-of", AS_OF, "-o", str(folder / "pupil.html"))
    _run("report", "cohort", *common, "--as-of", AS_OF, "--jobs", "1", "-o", str(folder / "pack"))
    _run("report", "audit", *common, "--from", "2023-09-01", "--to", AS_OF, "--jobs", "1",
         "-o", str(folder / "audit.html"))
    _run("policy", "doc", "halton", "--format", "html", "--output", str(folder / "handbook.html"))
    return {"pupil": folder / "pupil.html", "cohort": folder / "pack" / "index.html",
            "audit": folder / "audit.html", "handbook": folder / "handbook.html"}


class _Visit:
    """A page opened from disk, with what went wrong while it loaded."""

    def __init__(self, browser, path: Path, width: int = 1280) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": 900})
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"failed request: {r.url}"))
        self.context.route("**/*", self._only_files)
        self.page.goto(path.as_uri())
        self.page.wait_for_load_state("load")

    def _only_files(self, route) -> None:
        """Anything but a local file is a request the report must not make: abort it (and count it)."""
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            self.problems.append(f"network request: {route.request.url}")
            route.abort()

    def close(self) -> None:
        self.context.close()


@pytest.mark.parametrize("name", ["pupil", "cohort", "audit", "handbook"])
def test_a_report_opens_offline_with_no_errors(browser, reports, artifacts, name):
    visit = _Visit(browser, reports[name])
    try:
        assert visit.problems == []
        assert visit.page.locator("h1").count() == 1
        assert visit.page.locator("table th").count() > 0
        visit.page.screenshot(path=str(artifacts / f"report-{name}.png"), full_page=True)
    finally:
        visit.close()


@pytest.mark.parametrize("name", ["pupil", "cohort"])
def test_a_report_s_chart_is_drawn_with_its_text_alternative(browser, reports, name):
    visit = _Visit(browser, reports[name])
    try:
        charts = visit.page.locator("svg[role=img]")
        assert charts.count() >= 1
        for i in range(charts.count()):
            chart = charts.nth(i)
            box = chart.bounding_box()
            assert box and box["width"] > 200 and box["height"] > 100
            described = chart.get_attribute("aria-describedby")
            assert described and visit.page.locator(f"#{described}").count() == 1
            assert visit.page.locator(f"#{described} td, #{described} th").count() > 0
    finally:
        visit.close()


def test_a_citation_link_lands_on_the_handbook_anchor(browser, reports):
    visit = _Visit(browser, reports["pupil"])
    try:
        link = visit.page.locator("a[href*='#rule-']").first
        href = link.get_attribute("href")
        link.click()
        visit.page.wait_for_load_state("load")
        anchor = href.split("#", 1)[1]
        assert visit.page.url.endswith(f"#{anchor}")
        assert Path(visit.page.url.split("#")[0].removeprefix("file://")).name == href.split("#")[0]
        target = visit.page.locator(f"[id='{anchor}']")
        assert target.count() == 1 and target.is_visible()
        assert target.evaluate("e => { const r = e.getBoundingClientRect(); return r.top >= -1 && r.top < innerHeight; }")
        assert visit.problems == []
    finally:
        visit.close()


def test_each_pupil_in_the_pack_links_to_a_pupil_report_that_opens(browser, reports):
    visit = _Visit(browser, reports["cohort"])
    try:
        links = visit.page.locator("a[href^='pupils/']")
        assert links.count() > 0
        hrefs = sorted({links.nth(i).get_attribute("href") for i in range(links.count())})
        for href in hrefs:
            assert (reports["cohort"].parent / href).is_file(), href
        links.first.click()
        visit.page.wait_for_load_state("load")
        assert "/pupils/" in visit.page.url and visit.page.locator("h1").count() == 1
        assert visit.problems == []
    finally:
        visit.close()


@pytest.mark.parametrize("name", ["pupil", "cohort", "audit", "handbook"])
def test_a_report_is_readable_at_200_percent_zoom(browser, reports, name):
    # 200% zoom on a 1280-pixel-wide screen lays the page out in 640 CSS pixels
    visit = _Visit(browser, reports[name], width=640)
    try:
        overflow = visit.page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1
    finally:
        visit.close()


def test_the_pupil_report_prints_on_a4(browser, reports, artifacts):
    visit = _Visit(browser, reports["pupil"])
    try:
        visit.page.emulate_media(media="print")
        pdf = visit.page.pdf(format="A4", print_background=True)
        assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page") >= 1
        (artifacts / "report-pupil.pdf").write_bytes(pdf)
    finally:
        visit.close()
