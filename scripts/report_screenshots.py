"""Write the README's screenshots of the HTML reports (docs/images/report-*.png).

Run from the checkout's root after changing a report's template:

    .venv/bin/python scripts/report_screenshots.py

It renders each report on the bundled sample with the command line, opens it in the
system's Chromium through Playwright (as tests/test_browser.py does) and saves the top
of the page. PNG bytes depend on the browser's version and fonts, so the images are
committed, not compared by tests.
"""

from __future__ import annotations

import io
import shutil
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from attendance_rules.cli import main

ROOT = Path(__file__).parents[1]
IMAGES = ROOT / "docs" / "images"
HISTORY = "examples/sample/history.json"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]
COMMANDS = {
    "pupil": ["report", "pupil", "--policy", "halton", "--history", HISTORY, "--pupil", "P00019",
              "--as-of", "2024-02-09", "-o", "{out}/pupil.html"],
    "cohort": ["report", "cohort", "--policy", "halton", "--history", HISTORY, "--as-of", "2024-02-09",
               "-o", "{out}/pack"],
    "audit": ["report", "audit", "--policy", "halton", "--history", HISTORY, "--from", "2023-09-01",
              "--to", "2024-02-09", "-o", "{out}/audit.html"],
    "handbook": ["policy", "doc", "halton", "--format", "html", "--output", "{out}/handbook.html"],
}
PAGES = {"pupil": "pupil.html", "cohort": "pack/index.html", "audit": "audit.html", "handbook": "handbook.html"}


def render(out: Path) -> None:
    """Every report into ``out``, by the command line."""
    for argv in COMMANDS.values():
        err = io.StringIO()
        if main([a.format(out=out) for a in argv] + (["--quiet"] if argv[0] == "report" else []),
                io.StringIO(), err):
            sys.exit(err.getvalue())


def shoot(out: Path, height: int = 1500) -> None:
    """The top ``height`` pixels of each page, 1100 pixels wide."""
    chromium = shutil.which("chromium") or sys.exit("no chromium on PATH (apt-get install chromium)")
    IMAGES.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=FLAGS)
        page = browser.new_page(viewport={"width": 1100, "height": height})
        for name, page_path in PAGES.items():
            page.goto((out / page_path).as_uri())
            path = IMAGES / f"report-{name}.png"
            page.screenshot(path=str(path))
            _shrink(path)
            print(f"wrote docs/images/report-{name}.png")
        browser.close()


def _shrink(path: Path) -> None:
    """A 256-colour palette: a page of text and flat colours loses nothing visible, and the
    committed file is a quarter of the size."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(256)
    small.save(path, optimize=True)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        render(Path(folder))
        shoot(Path(folder))
