"""The README's examples are run, and their shown output compared with what the tool prints.

A fenced block whose first line is ``$ attendance-rules …`` is a command and its output. A
shown line ending in ``…`` stands for any line that begins with the text before it; a line
that is only ``…`` stands for any number of lines (none included). Every ``python`` block is
run as a script from the checkout's root and must exit 0.
"""

from __future__ import annotations

import io
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from attendance_rules.cli import main

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```(\w*)\n(.*?)^```", README, flags=re.M | re.S)
COMMANDS = [body for _, body in BLOCKS if body.startswith("$ attendance-rules ")]
SCRIPTS = [body for lang, body in BLOCKS if lang == "python"]


def matches(shown: list[str], actual: list[str]) -> bool:
    """Whether the actual lines fit the shown ones (``…`` as described above)."""
    if not shown:
        return not actual
    head, rest = shown[0], shown[1:]
    if head.strip() == "…":
        return any(matches(rest, actual[i:]) for i in range(len(actual) + 1))
    if not actual:
        return False
    fits = actual[0].startswith(head[:-1]) if head.endswith("…") else actual[0] == head
    return fits and matches(rest, actual[1:])


def test_the_readme_has_examples_to_run():
    assert COMMANDS and SCRIPTS


@pytest.mark.parametrize("block", COMMANDS, ids=lambda b: b.splitlines()[0][2:60])
def test_a_readme_command_prints_what_the_readme_shows(block, monkeypatch):
    command, *shown = block.rstrip("\n").split("\n")
    monkeypatch.chdir(ROOT)
    out, err = io.StringIO(), io.StringIO()
    status = main(shlex.split(command)[2:], out, err)  # after "$ attendance-rules"
    assert status == 0, err.getvalue()
    actual = out.getvalue().rstrip("\n").split("\n")
    assert matches(shown, actual), "\n".join(["shown:", *shown, "printed:", *actual[:40]])


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s.splitlines()[-1][:50])
def test_a_readme_python_example_runs(script, tmp_path):
    path = tmp_path / "example.py"
    path.write_text(script, encoding="utf-8")
    done = subprocess.run([sys.executable, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def test_the_matcher_can_fail():
    assert matches(["a…", "…"], ["abc", "x", "y"]) and not matches(["b…"], ["abc"])
    assert not matches(["a"], ["a", "b"]) and matches(["…", "b"], ["a", "b"]) and not matches(["a", "…", "c"], ["a"])
