"""Packaging: the console entry points, bundled data from an installed package, the pytest plugin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, env={**os.environ, **env}, timeout=300)


def test_python_dash_m_runs_the_cli(tmp_path):
    done = _run([sys.executable, "-m", "attendance_rules", "--version"], ROOT)
    assert done.returncode == 0 and done.stdout.startswith("attendance-rules ")


def test_installed_package_finds_bundled_policies_and_schemas(tmp_path):
    """Run from a directory outside the checkout, so only an installed package can be imported."""
    probe = ("import attendance_rules.policy.resources as r, attendance_rules, json;"
             "print(json.dumps([str(r.bundled_policy_dir()), str(r.schema_dir()), attendance_rules.__file__]))")
    done = _run([sys.executable, "-c", probe], tmp_path, PYTHONPATH="")
    if done.returncode != 0:
        pytest.skip("attendance_rules is not installed in this interpreter (running from a checkout)")
    policies, schemas, module = (Path(p) for p in json.loads(done.stdout))
    if "site-packages" not in module.parts:
        pytest.skip("installed in editable mode: the bundled files are the checkout's own")
    assert (policies / "england.yaml").is_file() and (policies / "halton.yaml").is_file()
    assert (schemas / "policy.schema.json").is_file() and (schemas / "evaluation.schema.json").is_file()
    assert (module.parent / "py.typed").is_file()


def test_pytest_plugin_collects_case_files_and_prints_a_diff(pytester):
    pytester.makefile(".case.yaml", good=textwrap.dedent("""\
        name: present all week, nothing to do
        policy: england
        pupil:
          id: P1
          register:
            - {from: 2024-01-08, to: 2024-01-12, code: present}
        checks:
          - as_of: 2024-01-12
            not_recommended: [first_day_contact]
            no_facts: [persistent_absence]
        """))
    pytester.makefile(".case.yaml", bad=textwrap.dedent("""\
        name: wrongly expects persistent absence
        policy: england
        pupil:
          id: P2
          register:
            - {from: 2024-01-08, to: 2024-01-12, code: present}
        checks:
          - as_of: 2024-01-12
            facts: [persistent_absence]
        """))
    installed = any(ep.name == "attendance_rules_cases" for ep in entry_points(group="pytest11"))
    extra = [] if installed else ["-p", "attendance_rules.replay.pytest_plugin"]  # a checkout without install
    result = pytester.runpytest(*extra, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*wrongly expects persistent absence*pupil P2*",
                                 "*- expected fact persistent_absence; not derived*"])


def test_durable_backend_is_optional_with_a_clear_error():
    """Where durable_rules cannot be imported (Python 3.13+), asking for it is a usage error."""
    from attendance_rules import UsageError, load_policy
    from attendance_rules.engine.durable import available

    if available():
        assert load_policy("england", backend="durable").engine.__class__.__name__ == "DurableEngine"
        return
    with pytest.raises(UsageError, match="needs the 'durable' extra"):
        load_policy("england", backend="durable")
