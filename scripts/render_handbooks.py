"""Regenerate docs/policies/<id>.md for every bundled policy (tests fail when they are stale).

    python scripts/render_handbooks.py
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from attendance_rules.cli import main as cli_main  # noqa: E402


def handbooks() -> dict[str, str]:
    """Handbook text per bundled policy id, exactly as `attendance-rules policy doc ID` prints it
    in the checkout's root (so the policy files it names are ``policies/…``)."""
    return {path.stem: _policy_doc(path.stem) for path in sorted((ROOT / "policies").glob("*.yaml"))}


def _policy_doc(policy_id: str) -> str:
    out, err, here = io.StringIO(), io.StringIO(), os.getcwd()
    try:
        os.chdir(ROOT)
        with contextlib.redirect_stderr(err):
            status = cli_main(["policy", "doc", policy_id], out, err)
    finally:
        os.chdir(here)
    if status != 0:
        raise SystemExit(f"policy doc {policy_id} failed: {err.getvalue()}")
    return out.getvalue()


def main() -> None:
    out = ROOT / "docs" / "policies"
    out.mkdir(parents=True, exist_ok=True)
    for policy_id, text in handbooks().items():
        (out / f"{policy_id}.md").write_text(text, encoding="utf-8")
        print(f"wrote docs/policies/{policy_id}.md")


if __name__ == "__main__":
    main()
