"""A pupil while its rows are read (``PupilDraft``), and the ``Pupil`` it becomes.

Every reader (JSON, CSV, Parquet, Arrow tables) appends a pupil's marks to the compact
arrays of its draft and notes where they came from, so that a problem found later (a
repeated session) is located at the first mark given for it with no object made per row.
``locate`` makes the ``Location`` of a row only when it is needed; ``finish_pupil`` sorts
the marks (only if they came out of session order) into the pupil's ``Register``.
"""

from __future__ import annotations

import datetime as dt
from array import array
from bisect import bisect_right

from ..exceptions import Location
from .codes import CodeBook
from .history import Event, Pupil, Register

__all__ = ["SESSION_HALF", "PupilDraft", "Where", "finish_pupil", "locate"]

#: Where a row is: a Location, or a lazily made one — (file, line) of a CSV row,
#: (file, prefix, index) of a table row, or (file, pointer, key, index) of a JSON row.
Where = Location | tuple

#: A session's slot after its day's AM slot (a day's AM slot is twice its ordinal).
SESSION_HALF = {"AM": 0, "PM": 1}
_OUT_OF_ORDER = 1 << 40  # a draft's ``last`` once its marks came out of session order


def locate(where: Where) -> Location:
    """The Location of a row, made only when the row is reported (or an event is kept)."""
    if isinstance(where, Location):
        return where
    if len(where) == 2:
        return Location(where[0], where[1])
    if len(where) == 3:
        return Location(where[0], pointer=f"{where[1]}row {where[2]}")
    name, pointer, key, index = where
    return Location(name, pointer=f"{pointer}/{key}/{index}")


class PupilDraft:
    """A pupil while its rows are being read: marks appended to compact arrays.

    ``slots``/``codes``/``rows`` are parallel: session slot, code id and the row the mark
    came from — a CSV line, a JSON mark index or a table row index, as ``sources`` says:
    runs of (first mark index, file, kind, text), kind ``line`` (CSV), ``json`` (text is
    the pupil's pointer) or ``row`` (text prefixes the pointer ``row N``).
    ``late`` maps a mark index to its minutes late. While marks arrive in session
    order ``last`` is the latest slot; after the first one out of order ``seen`` is a
    byte-per-slot map from ``base`` (so a duplicate is still found at once) and the
    marks are sorted when the pupil is finished.
    """

    __slots__ = (
        "id",
        "where",
        "slots",
        "codes",
        "rows",
        "late",
        "sources",
        "last",
        "seen",
        "base",
        "events",
        "flags",
        "date_of_birth",
        "year_group",
    )

    def __init__(self, pupil_id: str, where: Location, source: tuple | None = None) -> None:
        self.id, self.where = pupil_id, where
        self.slots, self.codes, self.rows = array("I"), bytearray(), array("I")
        self.late: dict[int, int] = {}
        self.sources: list[tuple[int, str, str, str]] = [(0, *source)] if source else []
        self.last, self.base = -1, 0
        self.seen: bytearray | None = None
        self.events: list[Event] = []
        self.flags: frozenset[str] = frozenset()
        self.date_of_birth: dt.date | None = None
        self.year_group: int | None = None

    def begin(self, source: tuple) -> None:
        """Marks appended from now on come from ``source``: (file, kind, text)."""
        if not self.sources or self.sources[-1][1:] != source:
            self.sources.append((len(self.slots), *source))

    def is_new(self, slot: int) -> bool:
        """True (and remembered) when no mark is stored yet for ``slot``."""
        if slot > self.last:
            self.last = slot
            return True
        if self.seen is None:  # first mark out of order: map every slot so far
            self.base = min(self.slots) if self.slots else slot
            self.seen = bytearray(max(self.slots, default=slot) - self.base + 1)
            for s in self.slots:
                self.seen[s - self.base] = 1
            self.last = _OUT_OF_ORDER
        if slot < self.base:
            self.seen[:0] = bytes(self.base - slot)
            self.base = slot
        offset = slot - self.base
        if offset >= len(self.seen):
            self.seen.extend(bytes(offset - len(self.seen) + 1))
        if self.seen[offset]:
            return False
        self.seen[offset] = 1
        return True

    def mark_location(self, index: int) -> Location:
        """Where the mark at ``index`` (in arrival order) was read."""
        run = bisect_right([start for start, *_ in self.sources], index) - 1
        _, name, kind, text = self.sources[run]
        return locate(_row_where(name, kind, text, self.rows[index]))


def _row_where(name: str, kind: str, text: str, row: int) -> tuple:
    """The lazy location of row ``row`` of a source of ``kind`` (see ``PupilDraft``)."""
    if kind == "line":
        return (name, row)
    if kind == "json":
        return (name, text, "marks", row)
    return (name, text, row)


def finish_pupil(draft: PupilDraft, codebook: CodeBook) -> Pupil:
    """The pupil of a draft: marks sorted by session (only if they came out of order)."""
    slots, codes, late = draft.slots, bytes(draft.codes), draft.late
    if draft.seen is not None:
        order = sorted(range(len(slots)), key=slots.__getitem__)
        slots = array("I", map(slots.__getitem__, order))
        codes = bytes(map(codes.__getitem__, order))
        if late:
            rank = {old: new for new, old in enumerate(order) if old in late}
            late = {rank[old]: minutes for old, minutes in late.items()}
    draft.rows = array("I")  # the rows were only for locating problems
    register = Register(slots, codes, late, codebook)
    return Pupil(
        id=draft.id,
        register=register,
        flags=draft.flags,
        events=draft.events,
        date_of_birth=draft.date_of_birth,
        year_group=draft.year_group,
        location=draft.where,
    )
