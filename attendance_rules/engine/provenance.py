"""What an evaluation covers and how outputs record it: the pupils chosen, the policy, the history.

``select_pupils`` picks the pupils of a history (or those named). ``Provenance`` is the
record every output carries (the evaluation JSON, timelines, audits, impacts, cohorts):
the library's version and the ``policy`` and ``history`` records (``policy_provenance``,
``history_provenance``), so a reader can tell which files and which version were used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

import attrs

from ..exceptions import UnknownNameError
from ..jsonform import JsonRecord, entry
from ..registers.history import History, Pupil
from ..rules.compiler import RuleSet

__all__ = ["Provenance", "history_provenance", "policy_provenance", "select_pupils"]


def _library_json(version: str) -> dict[str, str]:
    return {"name": "attendance-rules", "version": version}


@attrs.frozen(kw_only=True)
class Provenance(JsonRecord):
    """What an output was made with: this library's version, the policy and the history.

    A comparison of two policies (``replay.impact``) also holds the policy it starts from,
    ``old_policy``; its JSON then names the other one ``new_policy``.
    """

    library_version: str = attrs.field(metadata=entry(key="library", form=_library_json))
    old_policy: dict[str, Any] | None = attrs.field(
        default=None, hash=False, metadata=entry(omit="if none")
    )
    policy: dict[str, Any] = attrs.field(hash=False)
    history: dict[str, Any] = attrs.field(hash=False)

    @classmethod
    def of(
        cls, ruleset: RuleSet, history: History | Iterable[Pupil], old: RuleSet | None = None
    ) -> "Provenance":
        """The provenance of an output made with ``ruleset`` (compared with ``old``, if given)
        over ``history``."""
        from .. import __version__

        return cls(
            library_version=__version__,
            old_policy=None if old is None else policy_provenance(old),
            policy=policy_provenance(ruleset),
            history=history_provenance(history),
        )

    def json_entries(self, entries: dict[str, Any]) -> dict[str, Any]:
        """A comparison's ``policy`` is its ``new_policy``."""
        if self.old_policy is None:
            return entries
        return {("new_policy" if k == "policy" else k): v for k, v in entries.items()}


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
