"""What an evaluation covers and how outputs record it: the pupils chosen, the policy, the history.

``select_pupils`` picks the pupils of a history (or those named). ``policy_provenance`` and
``history_provenance`` give the ``policy`` and ``history`` records of every output (the
evaluation JSON, timelines, audits), so a reader can tell which files were used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

from ..exceptions import UnknownNameError
from ..registers.history import History, Pupil
from ..rules.compiler import RuleSet

__all__ = ["history_provenance", "policy_provenance", "select_pupils"]


def select_pupils(
    history: History | Iterable[Pupil], pupil_ids: Sequence[str] | None
) -> list[Pupil]:
    """The pupils of ``history`` (in its order), or those named; KeyError names a missing one."""
    pupils = list(history)
    if pupil_ids:
        wanted = set(pupil_ids)
        pupils = [p for p in pupils if p.id in wanted]
        missing = wanted - {p.id for p in pupils}
        if missing:
            raise UnknownNameError(f"no pupil {sorted(missing)[0]!r} in the history")
    return pupils


def policy_provenance(ruleset: RuleSet) -> dict[str, Any]:
    """The policy as outputs record it: id, version, digest over the chain, and each file
    of the chain with its ``path`` (``resources.display_path``: relative to the working
    directory when inside it), so a reader sees which copy of a policy was used."""
    from ..policy.resources import display_path

    policy = ruleset.policy
    return {
        "id": policy.id,
        "version": policy.version,
        "digest": policy.digest,
        "files": [
            {
                "id": p.id,
                "file": _display_path(p.file),
                "path": display_path(p.file),
                "digest": p.digest,
            }
            for p in policy.chain
        ],
    }


def history_provenance(history: History | Iterable[Pupil]) -> dict[str, Any]:
    """The history as outputs record it: the digest of its content (``canonical.history_digest``:
    the same register as JSON or CSV, the same digest) and its file names."""
    from ..registers.canonical import history_digest

    if not isinstance(history, History):
        return {"digest": "", "files": []}
    return {"digest": history_digest(history), "files": [_display_path(s) for s in history.sources]}


def _display_path(path: str) -> str:
    """File name only: the same files give the same bytes wherever they are checked out."""
    return Path(path).name
