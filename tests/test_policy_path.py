"""A policy id resolves to a file the user can see (issue 12, item 7).

`--policy halton` means, first match wins: ATTENDANCE_RULES_POLICY_PATH's directories,
./policies, then the bundled copy; every output names the files used.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pytest

from attendance_rules.cli import main
from attendance_rules.policy.resources import (
    POLICY_PATH_VARIABLE,
    bundled_policy_dir,
    display_path,
    find_policy,
)

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = str(ROOT / "examples" / "sample" / "history.json")
AS_OF = "2024-02-09"
PUPIL = "P00019"  # gets halton_pn_warning_letter with 13 unauthorised sessions (threshold 10)


def run(*argv: str) -> tuple[int, str, str]:
    """Run the CLI in-process; exit status, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), out=out, err=err)
    return status, out.getvalue(), err.getvalue()


def evaluate(fmt: str = "table") -> tuple[int, str, str]:
    return run("evaluate", "--policy", "halton", "--history", SAMPLE, "--as-of", AS_OF, "--pupil", PUPIL,
               "--format", fmt, "--jobs", "1")


def edited_halton(folder: Path, sessions: int = 20) -> Path:
    """A copy of halton (and england beside it) whose warning letter needs ``sessions``."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(bundled_policy_dir() / "england.yaml", folder / "england.yaml")
    text = (bundled_policy_dir() / "halton.yaml").read_text(encoding="utf-8")
    old = "  pn_warning_sessions:\n    value: 10\n"
    assert old in text
    (folder / "halton.yaml").write_text(text.replace(old, f"  pn_warning_sessions:\n    value: {sessions}\n"),
                                        encoding="utf-8")
    return folder / "halton.yaml"


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with no policies/ folder and no policy path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(POLICY_PATH_VARIABLE, raising=False)
    return tmp_path


def test_without_local_policies_the_bundled_copy_is_used(elsewhere: Path) -> None:
    status, out, _ = evaluate()
    assert status == 0 and "halton_pn_warning_letter" in out
    assert out.splitlines()[1] == "policy files: " + " → ".join(
        display_path(bundled_policy_dir() / f"{p}.yaml") for p in ("england", "halton"))


def test_an_edited_policies_folder_in_the_working_directory_takes_precedence(elsewhere: Path) -> None:
    edited_halton(elsewhere / "policies")
    status, out, _ = evaluate()
    assert status == 0
    assert out.splitlines()[:2] == ["as of 2024-02-09 — policy halton 2023-26.1",
                                    "policy files: policies/england.yaml → policies/halton.yaml"]
    assert "halton_pn_warning_letter" not in out  # 13 sessions are below the edited 20


def test_the_policy_path_variable_comes_first(elsewhere: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    edited_halton(elsewhere / "policies", sessions=20)
    edited_halton(elsewhere / "mine", sessions=5)
    monkeypatch.setenv(POLICY_PATH_VARIABLE, os.pathsep.join([str(elsewhere / "empty"), "mine"]))
    assert find_policy("halton") == Path("mine") / "halton.yaml"
    status, out, _ = evaluate()
    assert status == 0 and "halton_pn_warning_letter" in out and "pn_warning_sessions = 5 sessions" in out
    assert "policy files: mine/england.yaml → mine/halton.yaml" in out


def test_the_json_provenance_gives_each_file_path(elsewhere: Path) -> None:
    edited_halton(elsewhere / "policies")
    status, out, _ = evaluate("json")
    files = json.loads(out)["policy"]["files"]
    assert status == 0
    assert [(f["id"], f["file"], f["path"]) for f in files] == [
        ("england", "england.yaml", "policies/england.yaml"), ("halton", "halton.yaml", "policies/halton.yaml")]


def test_markdown_names_the_files_under_the_title(elsewhere: Path) -> None:
    edited_halton(elsewhere / "policies")
    lines = evaluate("markdown")[1].splitlines()
    assert lines[:3] == ["# Recommendations as of 2024-02-09", "",
                         "Policy files: `policies/england.yaml` → `policies/halton.yaml`"]


@pytest.mark.parametrize("command", [
    ("timeline", "--policy", "halton", "--history", SAMPLE, "--from", AS_OF, "--to", AS_OF, "--pupil", PUPIL),
    ("cohort", "--policy", "halton", "--history", SAMPLE, "--as-of", AS_OF),
    ("audit", "--policy", "halton", "--history", SAMPLE, "--pupil", PUPIL),
    ("explain", "--policy", "halton", "--history", SAMPLE, "--as-of", AS_OF, "--pupil", PUPIL),
])
def test_every_text_output_names_the_policy_files(elsewhere: Path, command: tuple[str, ...]) -> None:
    edited_halton(elsewhere / "policies")
    status, out, _ = run(*command, "--jobs", "1") if command[0] != "explain" else run(*command)
    assert status == 0
    assert out.splitlines()[1] == "policy files: policies/england.yaml → policies/halton.yaml"


def test_diff_names_both_policies_files(elsewhere: Path) -> None:
    edited_halton(elsewhere / "policies")
    status, out, _ = run("diff", "--old", "england", "--new", "halton", "--history", SAMPLE, "--as-of", AS_OF,
                         "--jobs", "1")
    assert status == 0
    assert out.splitlines()[1:3] == ["old policy files: policies/england.yaml",
                                     "new policy files: policies/england.yaml → policies/halton.yaml"]


def test_a_case_file_naming_an_id_uses_the_same_file(elsewhere: Path) -> None:
    edited_halton(elsewhere / "policies")
    case = elsewhere / "c.case.yaml"
    case.write_text("name: c\npolicy: halton\npupil:\n  id: P1\n  register:\n"
                    "    - {from: 2024-01-08, to: 2024-01-12, code: present}\n"
                    "checks:\n  - as_of: 2024-01-12\n    recommended: []\n", encoding="utf-8")
    from attendance_rules.replay.cases import load_case

    assert load_case(case).policy == str(Path("policies") / "halton.yaml")


def test_an_unknown_id_is_still_reported_as_no_policy(elsewhere: Path) -> None:
    status, _, err = run("policy", "show", "nonesuch")
    assert status == 2 and "no policy 'nonesuch' found" in err


def test_paths_are_relative_inside_the_working_directory_and_absolute_outside(elsewhere: Path) -> None:
    assert display_path(elsewhere / "policies" / "x.yaml") == "policies/x.yaml"
    assert display_path(Path("/") / "etc" / "x.yaml") == "/etc/x.yaml"
