"""The digest of a history's content, whatever file format carried it.

``verify`` checks a saved evaluation against the data, not the bytes: the same register
saved as JSON or as a CSV folder (or with its pupils, keys or rows in another order)
has the same digest. The digest is SHA-256 over a canonical serialisation of:

- the school: id, name and settings;
- each pupil, in order of id: id, date of birth, year group, flags (sorted), case events
  (date, type and fields, in the history's event order: date, then type, then fields),
  and the register: every mark's date, session and code, and the minutes late of late
  marks.

File names, formats, key order, row order, whitespace and a UTF-8 byte order mark do
not count; a changed mark, flag, event or setting does.
"""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any

from .history import History, Pupil, Register

__all__ = ["history_digest"]

_VERSION = b"attendance-rules history content v1\n"  # changes if the serialisation ever does


def history_digest(history: History) -> str:
    """``sha256:`` and the hex digest of ``history``'s canonical content (see the module)."""
    h = hashlib.sha256(_VERSION)
    school = history.school
    _update(
        h, _json({"id": school.id, "name": school.name, "settings": dict(school.settings)}).encode()
    )
    for pupil in sorted(history, key=lambda p: p.id):
        _update(h, _json(_pupil_head(pupil)).encode())
        _update_register(h, pupil.register)
    return "sha256:" + h.hexdigest()


def _json(data: Any) -> str:
    """One canonical JSON text: sorted keys, no spaces, dates as ISO text."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _update(h: Any, chunk: bytes) -> None:
    """Hash ``chunk`` with its length first, so that no two sequences of chunks collide."""
    h.update(len(chunk).to_bytes(8, "little"))
    h.update(chunk)


def _pupil_head(pupil: Pupil) -> dict[str, Any]:
    """A pupil's content other than the register marks, as plain data."""
    return {
        "id": pupil.id,
        "date_of_birth": pupil.date_of_birth,
        "year_group": pupil.year_group,
        "flags": sorted(pupil.flags),
        "events": [
            {"date": e.date, "type": e.type, "details": dict(e.details)} for e in pupil.events
        ],
        "minutes_late": sorted(pupil.register.minutes_late.items()),
    }


def _update_register(h: Any, register: Register) -> None:
    """The session numbers (date and session) as little-endian 4-byte integers, then each
    mark's code as text: whole arrays at a time, as a 50,000-pupil year needs."""
    slots = register.slots
    if sys.byteorder != "little":
        slots = type(slots)(slots.typecode, slots)
        slots.byteswap()
    _update(h, slots.tobytes())
    _update(h, _code_text(register))


def _code_text(register: Register) -> bytes:
    """Each mark's code as its text (not the library's internal id), one byte per
    single-character ASCII code, else the codes joined by a separator."""
    codes = [c.code for c in register.codebook.by_id]
    if all(len(c) == 1 and c.isascii() for c in codes):
        table = bytes([0]) + bytes(ord(c) for c in codes) + bytes(255 - len(codes))
        return register.codes.translate(table)
    return "\x1f".join(codes[i - 1] for i in register.codes).encode()
