"""The committed handbooks (docs/policies/*.md) match the policies; `policy doc` works."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

from attendance_rules.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _render_module():
    spec = importlib.util.spec_from_file_location("render_handbooks", ROOT / "scripts" / "render_handbooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_handbooks_are_up_to_date():
    fresh = _render_module().handbooks()
    assert fresh, "no bundled policies found"
    stale = [pid for pid, text in fresh.items()
             if not (ROOT / "docs" / "policies" / f"{pid}.md").is_file()
             or (ROOT / "docs" / "policies" / f"{pid}.md").read_text(encoding="utf-8") != text]
    assert not stale, f"stale handbooks {stale}: run `python scripts/render_handbooks.py` and commit"


def test_policy_doc_lists_thresholds_actions_sources_and_local_choices():
    out = io.StringIO()
    assert main(["policy", "doc", "halton"], out=out) == 0
    text = out.getvalue()
    for heading in ("## Sources", "## Thresholds and other numbers", "## Rules, in the order they are applied",
                    "## Actions: who does what", "## Local choices"):
        assert heading in text
    assert "`pn_warning_sessions` | 10 sessions" in text  # Halton Stage 2 warning letter threshold
    assert "`persistent_absence_rate` | 10%" in text and "(england.yaml:" in text  # inherited, with its origin
