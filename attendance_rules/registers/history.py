"""The attendance history model: pupils, their compact registers, flags and case events.

A pupil's register is stored compactly — one 4-byte slot number and one code byte per
session — rather than as one Python object per mark, so a local authority's year
(50,000 pupils × ~380 sessions) fits in memory. Category prefix counts are built on first
use, after which counting any date window costs two binary searches.
"""

from __future__ import annotations

import datetime as dt
import difflib
from array import array
from bisect import bisect_left, bisect_right
from itertools import accumulate
from types import MappingProxyType
from typing import Any, Iterable, Iterator, Literal, Mapping, get_args

import attrs

from ..exceptions import Location, Problem, UnknownNameError
from .calendar import monday_of
from .codes import CATEGORIES, Category, CodeBook, default_codebook

__all__ = [
    "EVENT_FIELDS",
    "FIELD_KINDS",
    "STANDARD_FLAGS",
    "Event",
    "FieldKind",
    "FieldSpec",
    "History",
    "Mark",
    "Pupil",
    "Register",
    "School",
    "day_of_slot",
    "select_events",
    "slot_of",
]

SESSIONS = ("AM", "PM")

STANDARD_FLAGS = (
    "child_in_need_plan",
    "child_protection_plan",
    "early_help_plan",
    "ehcp",
    "free_school_meals",
    "looked_after",
    "sen_support",
    "social_worker",
)

# The type of an event field's value (a policy's event type writes "text" for "str"), or, as a
# FieldSpec, the tuple of texts an enumerated field allows.
FieldKind = Literal["bool", "date", "str"]
FIELD_KINDS: tuple[FieldKind, ...] = get_args(FieldKind)
FieldSpec = FieldKind | tuple[str, ...]

# Field name -> type ("bool", "date", "str" or a tuple of allowed strings) per standard event.
EVENT_FIELDS: Mapping[str, Mapping[str, FieldSpec]] = MappingProxyType(
    {
        "letter_sent": {"action": "str"},
        "contact_made": {},
        "home_visit": {},
        "school_attendance_meeting": {"parenting_contract": "bool", "improvement_plan": "bool"},
        "review_held": {
            "outcome": ("improved", "some_improvement", "no_improvement"),
            "parent_engaged": "bool",
        },
        "early_help_offered": {"accepted": "bool"},
        "joint_plan_agreed": {},
        "referral_made": {"to": "str"},
        # parent: who received it (the limit and amounts are per parent); received: when it was
        # received, from which payment periods run (the issue date stands in when not recorded)
        "penalty_notice_issued": {"parent": "str", "received": "date"},
        "notice_to_improve_issued": {},
        "exclusion": {"until": "date"},
        "found_in_public_during_exclusion": {},
        "leave_request": {"decision": ("granted", "refused")},
        "attendance_planning_meeting": {
            "actions_completed": "bool",
            "target_met": "bool",
            "new_information": "bool",
        },
        "legal_action": {"kind": "str"},
        "action_taken": {"action": "str"},
    }
)


def slot_of(day: dt.date, session: str) -> int:
    """The compact number of a session: two per day, AM even, PM odd."""
    # Two numbers per day, AM first, so sorting slots sorts marks by date then session, and the
    # marks of the days start..end are exactly the slots 2*start .. 2*end+1: one bisect each side.
    return day.toordinal() * 2 + (session == "PM")


def day_of_slot(slot: int) -> dt.date:
    """The date of a compact session number."""
    return dt.date.fromordinal(slot >> 1)


@attrs.frozen(kw_only=True)
class Mark:
    """One session's register mark (a view; registers do not store these objects)."""

    date: dt.date
    session: str
    code: str
    minutes_late: int | None = None


@attrs.frozen(kw_only=True)
class Event:
    """Something done or decided in a pupil's case, e.g. a letter or a meeting."""

    date: dt.date
    type: str
    details: Mapping[str, Any] = attrs.field(
        factory=dict, converter=lambda d: MappingProxyType(dict(d)), hash=False
    )
    location: Location = attrs.field(default=Location(), eq=False)

    def get(self, field: str, default: Any = None) -> Any:
        """A detail of the event (``outcome``, ``action`` …), or ``default``."""
        return self.details.get(field, default)


class Register:
    """A pupil's session marks, compact and sorted by session.

    ``slots`` holds each session's number (see ``slot_of``) and ``codes`` each session's
    code id in the code book. Treat instances as immutable; the prefix counts are built
    lazily and are the same whichever thread builds them.
    """

    __slots__ = ("slots", "codes", "minutes_late", "codebook", "_prefix", "_days", "_weeks")

    def __init__(
        self,
        slots: array,
        codes: bytes,
        minutes_late: Mapping[int, int] | None = None,
        codebook: CodeBook | None = None,
    ) -> None:
        self.slots = slots
        self.codes = codes
        self.minutes_late = dict(minutes_late or {})
        self.codebook = codebook or default_codebook()
        self._prefix: list | None = None
        self._days: array | None = None
        self._weeks: array | None = None

    def __len__(self) -> int:
        return len(self.slots)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Register):
            return NotImplemented
        return (self.slots, self.codes, self.minutes_late) == (
            other.slots,
            other.codes,
            other.minutes_late,
        )

    def __hash__(self) -> int:
        return hash((bytes(self.slots), self.codes))

    def __repr__(self) -> str:
        return f"Register({len(self)} sessions)"

    def marks(self) -> Iterator[Mark]:
        """Every mark as a ``Mark`` object, in session order (for display and tests)."""
        # Code ids start at 1 (a zero byte is never a code), hence the `- 1` into `by_id`.
        by_id = self.codebook.by_id
        for i, (slot, code) in enumerate(zip(self.slots, self.codes)):
            yield Mark(
                date=day_of_slot(slot),
                session=SESSIONS[slot & 1],
                code=by_id[code - 1].code,
                minutes_late=self.minutes_late.get(i),
            )

    def span(self, start: dt.date, end: dt.date) -> tuple[int, int]:
        """Index range [lo, hi) of the marks dated from ``start`` to ``end`` inclusive."""
        # Binary search rather than a scan: windows are asked for many times per pupil and day
        # (every rule, every replayed day), and the slots are sorted by construction (readers sort
        # them).
        lo = bisect_left(self.slots, start.toordinal() * 2)
        hi = bisect_right(self.slots, end.toordinal() * 2 + 1)
        return lo, hi

    @property
    def prefix(self) -> tuple[array | None, ...]:
        """Running counts of marks before index i: one column per category (in CATEGORIES
        order), then one for late-before-close (L) and one for late-after-close (U).
        None stands for a column with no such mark."""
        return tuple(self._column(k) for k in range(len(CATEGORIES) + len(LATE_CODES)))

    def _column(self, k: int) -> array | None:
        """Prefix column ``k``, built on first use (most windows need only a few columns)."""
        if self._prefix is None:
            self._prefix = [_UNBUILT] * (len(CATEGORIES) + len(LATE_CODES))
        column = self._prefix[k]
        if column is _UNBUILT:
            book = self.codebook
            if k < len(CATEGORIES):
                # Two `bytes.translate` passes (code id -> category index -> 1 or 0) keep the whole
                # column in C; `accumulate(initial=0)` then gives counts[i] = marks before i, so
                # [lo, hi) is counts[hi] - counts[lo].
                marks = self.codes.translate(book.category_table()).translate(_indicator(k))
            else:
                marks = self.codes.translate(book.indicator_table(LATE_CODES[k - len(CATEGORIES)]))
            # Two bytes a count while a register has under 65,536 sessions.
            typecode = "H" if len(self.codes) < 65_536 else "I"
            column = self._prefix[k] = (
                # Most pupils have no mark at all in several categories (approved activity, late
                # after close): storing None for those saves a column of ~380 counts per pupil
                # across a whole authority.
                array(typecode, accumulate(marks, initial=0)) if 1 in marks else None
            )
        return column

    def _column_count(self, column: int, lo: int, hi: int) -> int:
        counts = self._column(column)
        return 0 if counts is None else counts[hi] - counts[lo]

    def count(self, category: Category, lo: int, hi: int) -> int:
        """Marks of ``category`` among indices [lo, hi)."""
        return self._column_count(_CATEGORY_INDEX[category], lo, hi)

    def count_late(self, code: str, lo: int, hi: int) -> int:
        """Marks coded ``L`` or ``U`` (``code``) among indices [lo, hi)."""
        return self._column_count(len(CATEGORIES) + LATE_CODES.index(code), lo, hi)

    def count_codes(self, ids: Iterable[int], lo: int, hi: int) -> int:
        """Marks whose code id is in ``ids`` among indices [lo, hi)."""
        # Counts by code are asked for rarely (`code_sessions`, a policy's own code list), so no
        # prefix column: bytes.count over the window is a C scan and nothing is kept per pupil.
        window = self.codes[lo:hi]
        return sum(window.count(i) for i in ids)

    @property
    def days(self) -> array:
        """This pupil's school days: days with at least one mark other than a planned
        whole-school closure (``#``), which is not a school session."""
        if self._days is None:
            # Slots are sorted, so halving them gives the days in order (map keeps the loop in C).
            days = dict.fromkeys(map(_HALF, self.slots))
            for day in self._closure_only_days():
                del days[day]
            self._days = array("i", days)
        return self._days

    def _closure_only_days(self) -> set[int]:
        """Days on which every mark is ``#`` (a planned whole-school closure)."""
        closed = set(self.codebook.ids_for("#"))
        marked = {self.slots[i] >> 1 for i in _positions(self.codes, closed)}
        return {
            day
            for day in marked
            if all(
                c in closed for c in self.codes[slice(*self.span(*(dt.date.fromordinal(day),) * 2))]
            )
        }

    @property
    def weeks(self) -> array:
        """The ordinals of the Mondays of this pupil's school weeks (weeks with a school day)."""
        if self._weeks is None:
            self._weeks = array("i", sorted({monday_of(d) for d in self.days}))
        return self._weeks


# Late marks: L (arrived before the register closed) and U (after it closed).
LATE_CODES = ("L", "U")
_CATEGORY_INDEX = {category: i for i, category in enumerate(CATEGORIES)}
_INDICATORS: dict[int, bytes] = {}
_UNBUILT = object()  # a prefix column not built yet
_HALF = (1).__rrshift__  # slot -> day ordinal (slot >> 1)


def _positions(codes: bytes, ids: set[int]) -> Iterator[int]:
    """Indices of the bytes of ``codes`` that are in ``ids`` (bytes.find: a C scan per hit)."""
    for code_id in ids:
        i = codes.find(code_id)
        while i >= 0:
            yield i
            i = codes.find(code_id, i + 1)


def _indicator(k: int) -> bytes:
    """Translation table mapping byte k to 1 and every other byte to 0."""
    if k not in _INDICATORS:
        _INDICATORS[k] = bytes(1 if b == k else 0 for b in range(256))
    return _INDICATORS[k]


def frozen_names(names: Iterable[str]) -> frozenset[str]:
    """``names`` as a frozenset: the attrs converter of flag and name sets, typed (mypy
    cannot read the generic ``frozenset`` itself as a converter)."""
    return frozenset(names)


@attrs.frozen(kw_only=True)
class Pupil:
    """A pupil: identity, flags (``social_worker``, ``ehcp`` …), register and case events."""

    id: str
    register: Register = attrs.field(eq=True, repr=False)
    flags: frozenset[str] = attrs.field(factory=frozenset, converter=frozen_names)
    # Sorted once here so every reader may take `events[-1]` as the latest and stop scanning
    # back at the first event too old; the key includes the details so the order never depends
    # on input order.
    events: tuple[Event, ...] = attrs.field(
        factory=tuple, converter=lambda es: tuple(sorted(es, key=_event_key))
    )
    date_of_birth: dt.date | None = None
    year_group: int | None = None
    location: Location = attrs.field(default=Location(), eq=False)

    def has(self, flag: str) -> bool:
        """True when the pupil carries ``flag``."""
        return flag in self.flags

    def events_of(
        self, type_: str | None = None, since: dt.date = dt.date.min, until: dt.date = dt.date.max
    ) -> tuple[Event, ...]:
        """The pupil's events of one type (None: any), oldest first, dated ``since`` to
        ``until`` inclusive."""
        return select_events(self.events, type_, since, until)


def select_events(
    events: Iterable[Event],
    type_: str | None = None,
    since: dt.date = dt.date.min,
    until: dt.date = dt.date.max,
) -> tuple[Event, ...]:
    """``events`` of one type (None: any) dated ``since`` to ``until`` inclusive, in order:
    the one date-and-type filter of case events."""
    return tuple(
        e for e in events if (type_ is None or e.type == type_) and since <= e.date <= until
    )


def _event_key(event: Event) -> tuple:
    # str() because details mix types (dates, booleans, text) that do not compare with each other.
    return (event.date, event.type, sorted((k, str(v)) for k, v in event.details.items()))


@attrs.frozen
class School:
    """The school a history belongs to, with settings such as ``traded_ews``."""

    id: str = ""
    name: str = ""
    settings: Mapping[str, Any] = attrs.field(
        factory=dict, converter=lambda d: MappingProxyType(dict(d)), hash=False
    )


@attrs.frozen(kw_only=True)
class History:
    """Pupils of one or more input files, with the files' digests for reproducibility
    and the warnings their reader gave (an unknown CSV column, a file not given …)."""

    pupils: tuple[Pupil, ...]
    school: School = School()
    sources: tuple[str, ...] = ()
    digest: str = ""
    # what loading it noted
    warnings: tuple[Problem, ...] = attrs.field(default=(), eq=False, repr=False)

    def pupil(self, pupil_id: str) -> Pupil:
        """The pupil with this id; KeyError naming the id if there is none."""
        for pupil in self.pupils:
            if pupil.id == pupil_id:
                return pupil
        raise UnknownNameError(f"no pupil {pupil_id!r} in the history")

    def __len__(self) -> int:
        return len(self.pupils)

    def __iter__(self) -> Iterator[Pupil]:
        return iter(self.pupils)


# --- names the history uses that nothing defines ----------------------------------------


def nearest(name: str, known: Iterable[str]) -> str | None:
    """The known name closest to ``name`` (a typo's likely intent), if any is close."""
    close = difflib.get_close_matches(str(name).lower(), sorted(known), n=1, cutoff=0.6)
    return close[0] if close else None


def unknown_name(
    name: Any, known: Iterable[str], what: str, where: Location, alternative: str = ""
) -> Problem:
    """A located error for a name (key, column, field) that is not one of ``known``;
    ``what`` says what it is, with ``{}`` where the name goes (``unknown key {} in a pupil``)."""
    known = sorted(known)
    guess = nearest(str(name), known)
    hint = f" (did you mean {guess!r}?)" if guess else ""
    what = what if "{}" in what else what + " {}"
    return Problem(
        what.replace("{}", repr(str(name))) + hint,
        where,
        found=repr(name),
        expected="one of " + ", ".join(known) + (f", or {alternative}" if alternative else ""),
        example=guess or "",
    )


def unknown_event_type(
    kind: str,
    where: Location,
    count: int = 1,
    severity: str = "warning",
    known: Iterable[str] = EVENT_FIELDS,
) -> Problem:
    """A problem for events of a type that is neither standard nor declared by the policy."""
    guess = nearest(kind, known)
    hint = f" (did you mean {guess!r}?)" if guess else ""
    more = f"; {count} such events, the first here" if count > 1 else ""
    return Problem(
        f"event type {kind!r} is not a standard type{hint}{more}",
        where,
        severity=severity,
        found=repr(kind),
        expected="a standard event type or one the policy declares",
        example=guess or "letter_sent",
    )
