"""Marks from Arrow record batches, vectorised: ``ArrowMarks`` (pyarrow, the ``parquet`` extra).

Marks are converted with vectorised pyarrow operations, one record batch at a time
(marks.csv through pyarrow's streaming CSV reader, marks.parquet batch by batch, its
marks columns only), so no whole-file table is ever held: in each batch pupil ids,
dates, sessions and codes are dictionary-encoded, so each distinct value (a year has
~200 dates and ~25 codes) is checked once in Python, and pupil ids already seen are
looked up in Arrow. Rows whose values all check are kept as narrow columns (pupil number
int32, session slot uint32, code id uint8, minutes late sparse); at the end they are
ordered by pupil and session — as they come when the file is already in that order, else
by one stable sort of a 32-bit (pupil, slot) key — and each pupil's runs become its
compact register. Rows that are not plain (a bad or padded value, minutes late) go
through the same per-row checks as the CSV reader, so they are stored or reported
exactly as there. A year of marks for 50,000 pupils (18.9 M rows) converts in under
half a GiB.
Only a repeated session, found by the sort, is reported here, against the first mark of
its session as the CSV reader reports it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from .history import SESSIONS, day_of_slot
from .pupil_draft import SESSION_HALF, PupilDraft, locate
from .reading import Reader

__all__ = ["MARK_COLUMNS", "ArrowMarks", "GiveUp"]

#: The columns a marks table must have (``minutes_late`` is optional).
MARK_COLUMNS = ("pupil_id", "date", "session", "code")


class GiveUp(Exception):
    """A marks file read with ``give_up_on_problem`` has a row to report."""


def _distinct(column: Any) -> tuple[Any, Any]:
    """A batch's column as (int32 indices with no nulls, its distinct values as an Arrow
    array, in order of first appearance, null included). Only the values the batch uses
    are listed, however big a dictionary it shares with other batches (a Parquet row
    group's)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_timestamp(column.type):
        column = column.cast(pa.date32())
    if pa.types.is_dictionary(column.type):
        order = pc.dictionary_encode(column.indices, null_encoding="encode")
        return order.indices, column.dictionary.take(order.dictionary)
    order = pc.dictionary_encode(column, null_encoding="encode")
    return order.indices, order.dictionary


def _encode(column: Any) -> tuple[Any, list[Any]]:
    """A batch's column as (int32 indices with no nulls, distinct values as Python objects
    in order of first appearance: text stripped, dates as ISO text, null as ``""``)."""
    indices, values = _distinct(column)
    return indices, [_plain_value(v) for v in values.to_pylist()]


def _plain_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    return value.isoformat() if isinstance(value, dt.date) else value


class ArrowMarks:
    """One marks table or file, fed batch by batch: each distinct value of a batch checked
    once, its plain rows kept as narrow columns (pupil number int32, slot uint32, code id
    uint8; minutes late as sparse positions), every other row sent at once through the CSV
    reader's checks (which report it). ``finish`` orders the plain rows by pupil and
    session (stably: the first of a session wins), reports the repeats and hands each
    pupil its register. Rows that came in that order already are handed out as they are,
    batch by batch; otherwise one sort of a 32-bit (pupil, slot) key orders them."""

    def __init__(
        self, reader: Reader, source: tuple[str, str, str], give_up_on_problem: bool = False
    ) -> None:
        self.reader, self.source, self.give_up = reader, source, give_up_on_problem
        self.problems_from = len(reader.problems)
        self.rows = 0  # rows fed so far
        self.kept = 0  # plain rows kept so far
        self.number: dict[str, int] = {}  # pupil id -> pupil number, in order of first plain row
        self.drafts: list[PupilDraft] = []
        # per batch: (pupil number, slot, code id, is late or None)
        self.chunks: list[tuple[Any, Any, Any, Any]] = []
        # per batch: (first kept, first row, kept rows or None)
        self.row_map: list[tuple[int, int, Any]] = []
        self.late: list[tuple[Any, Any]] = []  # per batch: (kept positions, minutes)
        self.in_order, self.last = True, (-1, -1)
        self.slot_range = [1 << 32, 0]
        self._firsts: list[int] | None = None
        self.known: Any = None  # pupil ids (as given) seen so far, and their pupil numbers
        self.known_numbers: Any = None
        # Plain rows of withdrawn codes, as (row, slot, code id, pupil number): warned
        # about once the repeats of a session (which are reported, not used) are known.
        withdrawn = () if reader.strict_codes else reader.codebook.withdrawn_ids()
        self.withdrawn_ids = withdrawn
        self.withdrawn_rows: list[tuple[int, int, int, int]] = []
        self.repeated_rows: set[int] = set()

    def where(self, row: int) -> tuple:
        """The lazy location of row ``row`` of this table or file."""
        return (self.source[0], self.source[2], row)

    # - per batch -

    def add(self, batch: Any) -> None:
        """Check one record batch: keep its plain rows, send the rest through the row checks."""
        import pyarrow as pa
        import pyarrow.compute as pc

        reader, n, offset = self.reader, batch.num_rows, self.rows
        reader.read["marks"] += n
        self.rows += n
        if n == 0:
            return
        pnum = self._pupil_numbers(batch.column("pupil_id"), offset)
        slot, code = self._slots_and_codes(batch)
        late = self._late(batch)
        plain = pc.and_(
            pc.and_(pc.greater_equal(pnum, 0), pc.greater(slot, 0)), pc.greater(code, 0)
        )
        if late is not None:
            plain = pc.and_(plain, pc.not_equal(late, -2))
        if self.withdrawn_ids:
            self._note_withdrawn(plain, pnum, slot, code, offset)
        rows = None
        if plain.false_count:
            self._report_rows(batch, pc.indices_nonzero(pc.invert(plain)).to_pylist(), offset)
            if self.give_up:
                raise GiveUp
            rows = pc.indices_nonzero(plain)
            pnum, slot, code = (pc.take(c, rows) for c in (pnum, slot, code))
            late = None if late is None else pc.take(late, rows)
            rows = rows.cast(pa.uint32())
        del plain
        if len(pnum) == 0:
            return
        self.row_map.append((self.kept, offset, rows))
        is_late = None
        if late is not None:
            is_late = pc.greater_equal(late, 0)
            at = pc.indices_nonzero(is_late)
            if len(at):
                self.late.append((pc.add(at, pa.scalar(self.kept, at.type)), late.take(at)))
            else:
                is_late = None
        self._check_order(pnum, slot)
        low, high = pc.min_max(slot).values()
        self.slot_range = [
            min(self.slot_range[0], low.as_py()),
            max(self.slot_range[1], high.as_py()),
        ]
        self.chunks.append((pnum, slot, code, is_late))
        self.kept += len(pnum)

    def _note_withdrawn(self, plain: Any, pnum: Any, slot: Any, code: Any, offset: int) -> None:
        """Keep the plain rows of a batch whose code is a withdrawn one (a few at most);
        reading marks.csv, give up instead, so the csv module reads it and its warnings
        are located by line, as ever."""
        import pyarrow as pa
        import pyarrow.compute as pc

        hit = pc.and_(plain, pc.is_in(code, value_set=pa.array(self.withdrawn_ids, pa.uint8())))
        if not hit.true_count:
            return
        if self.give_up:
            raise GiveUp
        rows = pc.indices_nonzero(hit)
        columns = (pc.take(c, rows).to_pylist() for c in (slot, code, pnum))
        self.withdrawn_rows += [
            (offset + r, s, c, p) for r, s, c, p in zip(rows.to_pylist(), *columns)
        ]

    def _warn_withdrawn(self) -> None:
        """Note each kept row of a withdrawn code with the reader, in row order (as the
        CSV reader meets them); a row reported as a repeated session is not used."""
        reader = self.reader
        for row, slot, code_id, number in sorted(self.withdrawn_rows):
            if row not in self.repeated_rows:
                reader.note_withdrawn(
                    reader.codebook.by_id[code_id - 1],
                    day_of_slot(slot),
                    self.where(row),
                    self.drafts[number].id,
                )
        self.withdrawn_rows = []

    def _pupil_numbers(self, column: Any, offset: int) -> Any:
        """Per row of a batch: its pupil number (int32, -1: the row is reported). Pupil ids
        seen in earlier batches are looked up in Arrow (``known``), so a batch costs Python
        work only for the ids new in it, in whatever order the marks come."""
        import pyarrow as pa
        import pyarrow.compute as pc

        pupil, values = _distinct(column)
        cached = pa.types.is_string(values.type) or pa.types.is_large_string(values.type)
        if cached and self.known is not None and self.known.type != values.type:
            cached = False
        if cached and self.known is not None:
            found = pc.index_in(values, value_set=self.known)
            new = pc.indices_nonzero(pc.is_null(found)) if found.null_count else None
        else:
            new = pa.array(range(len(values)), pa.int64())
        if new is not None and len(new):
            fresh = values.take(new)
            numbers = self._numbers(
                pupil, [_plain_value(v) for v in fresh.to_pylist()], new.to_pylist(), offset
            )
            if not cached:
                return pc.take(pa.array(numbers, pa.int32()), pupil)
            valid = pc.is_valid(fresh)
            fresh, numbers = fresh.filter(valid), pa.array(numbers, pa.int32()).filter(valid)
            self.known = fresh if self.known is None else pa.concat_arrays([self.known, fresh])
            self.known_numbers = (
                numbers
                if self.known_numbers is None
                else pa.concat_arrays([self.known_numbers, numbers])
            )
            found = pc.index_in(values, value_set=self.known)
        numbers = pc.fill_null(pc.take(self.known_numbers, found), pa.scalar(-1, pa.int32()))
        return pc.take(numbers, pupil)

    def _numbers(self, pupil: Any, values: list[Any], entries: list[int], offset: int) -> list[int]:
        """The pupil number of some distinct pupil ids of a batch (``values``, at ``entries``
        of its first-appearance order; -1: the row is reported), pupils new to the reader
        made at their first row, as the CSV reader makes them."""
        import pyarrow.compute as pc

        reader = self.reader
        if not reader.roster_given:
            fresh = [
                k
                for k, pid in enumerate(values)
                if isinstance(pid, str) and pid and pid not in reader.pupils
            ]
            # entries are numbered in order of first appearance: find each one's first row
            if fresh:
                seen = pc.cumulative_max(pupil)
                first = [0] + [
                    r + 1 for r in pc.indices_nonzero(pc.not_equal(seen[1:], seen[:-1])).to_pylist()
                ]
                for k in fresh:
                    pid = values[k]
                    if pid not in reader.pupils:  # padded and unpadded ids are one pupil
                        where = self.where(offset + first[entries[k]])
                        reader.pupils[pid] = PupilDraft(pid, locate(where), reader.source)
        numbers = []
        for pid in values:
            draft = reader.pupils.get(pid) if isinstance(pid, str) and pid else None
            if draft is None:
                numbers.append(-1)
                continue
            number = self.number.get(draft.id)
            if number is None:
                number = self.number[draft.id] = len(self.drafts)
                self.drafts.append(draft)
            numbers.append(number)
        return numbers

    def _slots_and_codes(self, batch: Any) -> tuple[Any, Any]:
        """Per row: its session slot (uint32, 0: not plain) and its code id (uint8, 0: not
        plain)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        reader = self.reader
        date, date_values = _encode(batch.column("date"))
        session, session_values = _encode(batch.column("session"))
        code, code_values = _encode(batch.column("code"))
        days = [reader.day(v) for v in date_values]
        # one map of accepted codes per period of the code book (withdrawn ones included
        # unless codes are strict: their rows are plain, and warned about in ``add``)
        tables = {id(t): k + 1 for k, t in enumerate({id(d[2]): d[2] for d in days if d}.values())}
        lut = [0] * len(code_values)  # table 0: no table, every code not plain
        for table in sorted(tables, key=tables.__getitem__):
            codes = next(d[2] for d in days if d and id(d[2]) == table)
            lut += [codes.get(v, 0) if isinstance(v, str) else 0 for v in code_values]
        base = pc.take(pa.array([d[0] if d else 0 for d in days], pa.uint32()), date)
        half = pc.take(
            pa.array(
                [SESSION_HALF.get(v, 2) if isinstance(v, str) else 2 for v in session_values],
                pa.uint32(),
            ),
            session,
        )
        slot = pc.if_else(
            pc.and_(pc.greater(base, 0), pc.less(half, 2)),
            pc.add(base, half),
            pa.scalar(0, pa.uint32()),
        )
        del base, half
        table_of = pc.take(pa.array([tables[id(d[2])] if d else 0 for d in days], pa.int32()), date)
        key = pc.add(pc.multiply(table_of, pa.scalar(len(code_values), pa.int32())), code)
        return slot, pc.take(pa.array(lut, pa.uint8()), key)

    def _late(self, batch: Any) -> Any:
        """Per row: minutes late (int16), -1 when absent, -2 when not a whole number 0 to
        600; None when the batch has no minutes late at all."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if "minutes_late" not in batch.schema.names:
            return None
        late, values = _encode(batch.column("minutes_late"))
        minutes = [_minutes(v) for v in values]
        if all(m == -1 for m in minutes):
            return None
        return pc.take(pa.array(minutes, pa.int16()), late)

    def _check_order(self, pnum: Any, slot: Any) -> None:
        """Note whether the plain rows so far are in (pupil, session) order, no session repeated."""
        import pyarrow.compute as pc

        if not self.in_order:
            return
        n = len(pnum)
        if (pnum[0].as_py(), slot[0].as_py()) <= self.last:
            self.in_order = False
        elif n > 1:
            p1, p0, s1, s0 = (
                pnum.slice(1),
                pnum.slice(0, n - 1),
                slot.slice(1),
                slot.slice(0, n - 1),
            )
            ahead = pc.or_(pc.greater(p1, p0), pc.and_(pc.equal(p1, p0), pc.greater(s1, s0)))
            self.in_order = ahead.false_count == 0
        self.last = (pnum[n - 1].as_py(), slot[n - 1].as_py())

    def _report_rows(self, batch: Any, rows: list[int], offset: int) -> None:
        """Send the rows that are not plain through the CSV reader's checks."""
        reader = self.reader
        columns = {
            c: batch.column(c).take(rows)
            for c in (*MARK_COLUMNS, "minutes_late")
            if c in batch.schema.names
        }
        values = {c: [_plain_value(v) for v in col.to_pylist()] for c, col in columns.items()}
        before = reader.used["marks"]
        for k, row in enumerate(rows):
            where = self.where(offset + row)
            mark = {c: values[c][k] for c in values}
            draft = reader.pupil_for(mark["pupil_id"], where, create=not reader.roster_given)
            scratch = None if draft is None else PupilDraft(draft.id, draft.where, reader.source)
            reader.read["marks"] -= 1  # add_mark counts it again
            reader.add_mark(scratch, mark, where, offset + row)
        if reader.used["marks"] != before:
            raise AssertionError("a marks row judged not plain was accepted by the row checks")

    # - at the end -

    def finish(self, batch_rows: int) -> None:
        """Hand every pupil its marks (after a sort, ``batch_rows`` rows at a time), warn
        about the withdrawn codes kept, and put the problems in row order."""
        reader = self.reader
        if self.kept:
            if self.in_order:
                late = self._late_positions()
                chunks, self.chunks = self.chunks, []
                used = _hand_out(self.drafts, (c[:3] for c in _popping(chunks)), *late)
            else:
                used = self._sort_and_hand_out(batch_rows)
            reader.used["marks"] += used
        self._warn_withdrawn()
        if self.give_up and len(reader.problems) > self.problems_from:
            raise GiveUp
        reader.problems[self.problems_from :] = sorted(
            reader.problems[self.problems_from :], key=_row_of_problem
        )

    def _late_positions(self) -> tuple[list[int], list[int]]:
        positions: list[int] = []
        minutes: list[int] = []
        for at, late in self.late:
            positions += at.to_pylist()
            minutes += late.to_pylist()
        self.late = []
        return positions, minutes

    def _row_of(self, kept: int) -> int:
        """The row of the plain row kept at position ``kept``."""
        from bisect import bisect_right

        if self._firsts is None:
            self._firsts = [first for first, _, _ in self.row_map]
        first, offset, rows = self.row_map[bisect_right(self._firsts, kept) - 1]
        return offset + (kept - first if rows is None else rows[kept - first].as_py())

    def _sort_and_hand_out(self, step: int) -> int:
        """Order the kept rows by one stable sort of a (pupil, slot) key, report repeats,
        hand out the registers (``step`` rows at a time); the number of marks used."""
        import pyarrow as pa
        import pyarrow.compute as pc

        low, high = self.slot_range
        span = high - low + 1
        wide = len(self.drafts) * span > 1 << 32
        kind = pa.uint64() if wide else pa.uint32()
        span_, low_ = pa.scalar(span, kind), pa.scalar(low, kind)
        keys, codes, lates = [], [], []
        for k, (pnum, slot, code, is_late) in enumerate(self.chunks):
            self.chunks[k] = None  # type: ignore[call-overload]  # a batch's arrays freed as soon as they are read
            keys.append(
                pc.add(pc.multiply(pnum.cast(kind), span_), pc.subtract(slot.cast(kind), low_))
            )
            codes.append(code)
            lates.append(pa.repeat(False, len(code)) if is_late is None else is_late)
            del pnum, slot, code, is_late
        self.chunks = []
        key = pa.concat_arrays(keys)
        del keys
        code = pa.concat_arrays(codes)
        del codes
        is_late = pa.concat_arrays(lates) if self.late else None
        del lates
        order = pc.sort_indices(key)  # stable: the first row of a session comes first
        key = key.take(order)
        code = code.take(order)
        late_at = None if is_late is None else pc.indices_nonzero(is_late.take(order))
        del is_late
        repeat = pc.equal(key.slice(1), key.slice(0, len(key) - 1))
        at: list[int] = []
        if repeat.true_count:
            at = [i + 1 for i in pc.indices_nonzero(repeat).to_pylist()]
            self._report_repeats(key, code, order, at, span, low)
            keep = pc.invert(pa.concat_arrays([pa.array([False]), repeat]))
            key, code = key.filter(keep), code.filter(keep)
            del keep
        del repeat
        late = self._late_sorted(order, late_at, at)
        del order

        def chunks() -> Any:
            for start in range(0, len(key), step):
                part = key.slice(start, step)
                pnum = pc.divide(part, span_)
                slot = pc.add(pc.subtract(part, pc.multiply(pnum, span_)), low_)
                yield pnum, slot.cast(pa.uint32()), code.slice(start, step)

        return _hand_out(self.drafts, chunks(), *late)

    def _late_sorted(self, order: Any, at: Any, repeats: list[int]) -> tuple[list[int], list[int]]:
        """The sorted positions (after dropping ``repeats``) of the kept rows that have
        minutes late (``at``: their sorted positions before), with their minutes."""
        from bisect import bisect_left

        positions, minutes = self._late_positions()
        if at is None or not positions:
            return [], []
        minutes_of = dict(zip(positions, minutes))
        kept = order.take(at).to_pylist()
        dropped = set(repeats)
        out_positions, out_minutes = [], []
        for position, row in zip(at.to_pylist(), kept):
            if position not in dropped:
                out_positions.append(position - bisect_left(repeats, position))
                out_minutes.append(minutes_of[row])
        return out_positions, out_minutes

    def _report_repeats(
        self, key: Any, code: Any, order: Any, at: list[int], span: int, low: int
    ) -> None:
        """Report each repeat of a session (``at``: positions in the sorted marks) against
        the first mark of that session, as the CSV reader does."""
        first: dict[int, int] = {}
        for i in at:  # ascending: a run of repeats shares the mark before the run
            first[i] = first.get(i - 1, i - 1)
        wanted = sorted(set(at) | set(first.values()))
        row_at = {i: self._row_of(k) for i, k in zip(wanted, order.take(wanted).to_pylist())}
        code_at = dict(zip(wanted, code.take(wanted).to_pylist()))
        keys = key.take(at).to_pylist()
        by_id = self.reader.codebook.by_id
        self.repeated_rows.update(row_at[i] for i in at)
        for i, k in zip(at, keys):
            p, s = divmod(k, span)
            s += low
            code_now, previous = by_id[code_at[i] - 1].code, by_id[code_at[first[i]] - 1].code
            kind = "duplicate" if previous == code_now else "conflicting"
            self.reader.problem(
                f"{kind} mark for {self.drafts[p].id} on {day_of_slot(s)} {SESSIONS[s & 1]}",
                self.where(row_at[i]),
                found=repr(code_now),
                expected="one mark per session; "
                f"first given at {locate(self.where(row_at[first[i]]))}",
            )


def _row_of_problem(problem: Any) -> int:
    return int(problem.location.pointer.rsplit(" ", 1)[1])


def _popping(chunks: list) -> Any:
    """The chunks in order, each dropped from the list as it is handed over."""
    chunks.reverse()
    while chunks:
        yield chunks.pop()


def _minutes(value: Any) -> int:
    if value in (None, ""):
        return -1
    try:
        minutes = int(value)
    except (TypeError, ValueError):
        return -2
    return -2 if isinstance(value, bool) or not 0 <= minutes <= 600 else minutes


def _hand_out(drafts: list[Any], chunks: Any, late_at: list[int], late_minutes: list[int]) -> int:
    """Append each pupil's runs of the sorted (pupil number, slot, code id) chunks to its
    compact arrays (``late_at``: ascending positions in the sorted marks); the number of
    marks handed out."""
    import pyarrow.compute as pc

    k, position, late_count = 0, 0, len(late_at)
    for pnum, slot, code in chunks:
        n = len(pnum)
        if n == 0:
            continue
        counts = pc.value_counts(pnum)  # runs, in order: each pupil's marks are together
        slot_bytes = memoryview(slot.buffers()[1])[4 * slot.offset : 4 * (slot.offset + n)]
        code_bytes = memoryview(code.buffers()[1])[code.offset : code.offset + n]
        start = 0
        for number, count in zip(
            counts.field("values").to_pylist(), counts.field("counts").to_pylist()
        ):
            end = start + count
            draft = drafts[number]
            base = len(draft.slots)
            draft.slots.frombytes(slot_bytes[4 * start : 4 * end])
            piece = bytes(code_bytes[start:end])
            draft.codes = draft.codes + piece if draft.codes else piece
            while k < late_count and late_at[k] < position + end:
                draft.late[base + late_at[k] - position - start] = late_minutes[k]
                k += 1
            draft.last = draft.slots[-1]
            start = end
        position += n
    return position
