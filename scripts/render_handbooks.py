"""Regenerate docs/policies/<id>.md for every bundled policy (tests fail when they are stale).

    python scripts/render_handbooks.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from attendance_rules.handbook import render_handbook  # noqa: E402
from attendance_rules.layers import load_policy_files  # noqa: E402


def handbooks() -> dict[str, str]:
    """Handbook text per bundled policy id."""
    return {path.stem: render_handbook(load_policy_files(path)) for path in sorted((ROOT / "policies").glob("*.yaml"))}


def main() -> None:
    out = ROOT / "docs" / "policies"
    out.mkdir(parents=True, exist_ok=True)
    for policy_id, text in handbooks().items():
        (out / f"{policy_id}.md").write_text(text, encoding="utf-8")
        print(f"wrote docs/policies/{policy_id}.md")


if __name__ == "__main__":
    main()
