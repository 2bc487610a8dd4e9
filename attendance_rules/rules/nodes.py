"""The syntax tree of a condition: frozen node classes, and helpers that walk a tree.

The parser builds these nodes and the type checker returns them with names resolved;
the evaluator, the rule-set compiler, the static checks and the engines read them. Every
node carries the ``Location`` of its first token (not compared: nodes compare by
structure) and prints back as condition text (``str(node)``), with parentheses only
where binding strength needs them (``Node.level``).
"""

from __future__ import annotations

import datetime as dt
import typing
from fractions import Fraction
from typing import ClassVar, Iterator, get_args

import attrs

from ..exceptions import Location
from ..registers.history import Event
from ..registers.measures import Window
from ..text import UNIT_TEXT
from .lexer import ComparisonOp
from .values import ValueUnit, add_days, add_years, compare, decimal_text, quote

__all__ = [
    "NAME_KINDS",
    "And",
    "Arith",
    "ArithOp",
    "Compare",
    "EventAny",
    "EventCount",
    "EventFilter",
    "EventLatest",
    "EventSet",
    "EventWindow",
    "InCheck",
    "LibraryMeasure",
    "Literal",
    "NameKind",
    "NameRef",
    "Node",
    "Not",
    "Or",
    "SchoolDaysSince",
    "TimeSince",
    "Today",
    "names_used",
    "negated_facts",
    "walk",
]


# What a name in a condition refers to (the type checker resolves it; "" before then), and the
# two operators of date arithmetic. ``typing.Literal``: this module's ``Literal`` is a node.
NameKind = typing.Literal["parameter", "measure", "flag", "fact", "setting"]
NAME_KINDS: tuple[NameKind, ...] = get_args(NameKind)
ArithOp = typing.Literal["+", "-"]


@attrs.frozen
class EventWindow:
    """A calendar window for event queries that ``measures.Window`` lacks: last N days or years.

    ``last N days`` is the N days ending on the as-of date (as ``last N calendar weeks``
    is); ``last N years`` starts on the same day N years before the as-of date.
    """

    kind: typing.Literal["days", "years"]
    n: int

    def __str__(self) -> str:
        return f"last {self.n} {self.kind[:-1] if self.n == 1 else self.kind}"

    def bounds(self, as_of: dt.date) -> tuple[dt.date, dt.date]:
        """First and last day of the window ending on ``as_of``."""
        if self.kind == "years":
            return add_years(as_of, -self.n), as_of
        return add_days(as_of, 1 - self.n), as_of


@attrs.frozen
class Node:
    """A node of a parsed condition. Nodes compare by structure; ``location`` is not compared."""

    location: Location = attrs.field(eq=False)
    # binding strength when rendered: 1 or, 2 and, 3 not, 4 compare, 5 sum, 6 atom
    level: ClassVar[int] = 6

    def children(self) -> tuple["Node", ...]:
        """The node's direct sub-expressions."""
        return ()


def _wrap(node: Node, below: int) -> str:
    """``node`` rendered, in parentheses when it binds no tighter than ``below``."""
    return f"({node})" if node.level <= below else str(node)


@attrs.frozen
class Literal(Node):
    """A literal: a Fraction with a unit ("" bare, sessions, days, weeks, years, percent …),
    text, yes/no or a date.

    Percentages hold the fraction of one (``90%`` is ``Fraction(9, 10)``).
    """

    value: Fraction | str | bool | dt.date
    unit: ValueUnit = ""

    def __str__(self) -> str:
        value = self.value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, str):
            return quote(value)
        if self.unit == "percent":
            return decimal_text(value * 100) + "%"
        if self.unit == "pounds":
            return "£" + decimal_text(value)
        if self.unit in UNIT_TEXT:
            return f"{decimal_text(value)} {UNIT_TEXT[self.unit][value != 1]}"
        return decimal_text(value)


@attrs.frozen
class Today(Node):
    """``today``: the as-of date."""

    def __str__(self) -> str:
        return "today"


@attrs.frozen(kw_only=True)
class NameRef(Node):
    """A name: ``kind`` is parameter, measure, flag, fact or setting ("" until resolved);
    ``unit`` its unit."""

    name: str
    kind: NameKind | typing.Literal[""] = ""
    unit: ValueUnit = ""

    def __str__(self) -> str:
        return f"school.{self.name}" if self.kind == "setting" else self.name


@attrs.frozen(kw_only=True)
class LibraryMeasure(Node):
    """A library measure over a window (``attendance_rate over academic year``); window None for
    unexplained_run."""

    name: str
    window: Window | EventWindow | None = None
    window_location: Location = attrs.field(default=Location(), eq=False)

    def __str__(self) -> str:
        return f"{self.name} over {self.window}" if self.window is not None else self.name


@attrs.frozen(kw_only=True)
class Compare(Node):
    """``left OP right`` with OP one of >= > <= < == != (located at the operator)."""

    op: ComparisonOp
    left: Node
    right: Node
    level: ClassVar[int] = 4

    def __str__(self) -> str:
        return f"{_wrap(self.left, 4)} {self.op} {_wrap(self.right, 4)}"

    def children(self) -> tuple[Node, ...]:
        """The two operands, left then right."""
        return (self.left, self.right)


@attrs.frozen
class InCheck(Node):
    """``item in ("a", "b")`` (located at ``in``)."""

    item: Node
    options: tuple[Literal, ...]
    level: ClassVar[int] = 4

    def __str__(self) -> str:
        return f"{_wrap(self.item, 4)} in ({', '.join(str(o) for o in self.options)})"

    def children(self) -> tuple[Node, ...]:
        """The tested item, then each listed option."""
        return (self.item, *self.options)


@attrs.frozen
class And(Node):
    """``a and b and …`` (located at the first ``and``)."""

    items: tuple[Node, ...]
    level: ClassVar[int] = 2

    def __str__(self) -> str:
        return " and ".join(_wrap(item, 2) for item in self.items)

    def children(self) -> tuple[Node, ...]:
        """The operands, in written order."""
        return self.items


@attrs.frozen
class Or(Node):
    """``a or b or …`` (located at the first ``or``)."""

    items: tuple[Node, ...]
    level: ClassVar[int] = 1

    def __str__(self) -> str:
        return " or ".join(_wrap(item, 1) for item in self.items)

    def children(self) -> tuple[Node, ...]:
        """The operands, in written order."""
        return self.items


@attrs.frozen
class Not(Node):
    """``not item``."""

    item: Node
    level: ClassVar[int] = 3

    def __str__(self) -> str:
        return f"not {_wrap(self.item, 2)}"

    def children(self) -> tuple[Node, ...]:
        """The negated condition."""
        return (self.item,)


@attrs.frozen(kw_only=True)
class Arith(Node):
    """``date + duration``, ``date - duration`` or ``date + N school days`` (located at the
    operator).

    ``school_days`` is set by the type checker when the right side is a number of school days.
    """

    op: ArithOp
    left: Node
    right: Node
    school_days: bool = False
    level: ClassVar[int] = 5

    def __str__(self) -> str:
        return f"{_wrap(self.left, 4)} {self.op} {_wrap(self.right, 5)}"

    def children(self) -> tuple[Node, ...]:
        """The two operands: the date, then what is added or subtracted."""
        return (self.left, self.right)


@attrs.frozen(kw_only=True)
class EventFilter:
    """``with FIELD == VALUE`` (or ``!=``; a date field, ``date`` included, also ``<``, ``<=``,
    ``>``, ``>=``) of an event query; located at the field."""

    location: Location = attrs.field(eq=False)
    field: str
    op: ComparisonOp
    value: Literal

    def __str__(self) -> str:
        return f"with {self.field} {self.op} {self.value}"

    def matches(self, event: Event) -> bool:
        """True when the event's field satisfies the filter (a missing field never does)."""
        found = event.date if self.field == "date" else event.get(self.field)
        return found is not None and compare(self.op, found, self.value.value)


@attrs.frozen(kw_only=True)
class EventSet(Node):
    """Shared shape of ``any`` and ``count`` (either is an ``EventSet``): event type, optional
    filter and window."""

    event: str
    where: EventFilter | None = None
    window: Window | EventWindow | None = None
    event_location: Location = attrs.field(default=Location(), eq=False)
    window_location: Location = attrs.field(default=Location(), eq=False)
    per: str = ""  # count only: the largest count among the events' values of this field
    per_location: Location = attrs.field(default=Location(), eq=False)
    keyword: ClassVar[str] = ""

    def __str__(self) -> str:
        text = f"{self.keyword} {self.event}"
        text += f" {self.where}" if self.where is not None else ""
        text += f" per {self.per}" if self.per else ""
        return text + (f" within {self.window}" if self.window is not None else "")


@attrs.frozen(kw_only=True)
class EventAny(EventSet):
    """``any EVENT [with …] [within WINDOW]``: whether such an event happened (yes/no)."""

    keyword: ClassVar[str] = "any"


@attrs.frozen(kw_only=True)
class EventCount(EventSet):
    """``count EVENT [with …] [per FIELD] [within WINDOW]``: how many such events (a count).

    With ``per FIELD``, the events are grouped by their value of FIELD (events without it
    form one group of their own) and the count is that of the largest group: ``count
    penalty_notice_issued per parent`` is the most notices any one parent received.
    """

    keyword: ClassVar[str] = "count"


@attrs.frozen(kw_only=True)
class EventLatest(Node):
    """``latest EVENT.FIELD``: a field (or the ``date``) of the most recent such event."""

    event: str
    field: str
    event_location: Location = attrs.field(default=Location(), eq=False)
    field_location: Location = attrs.field(default=Location(), eq=False)

    def __str__(self) -> str:
        return f"latest {self.event}.{self.field}"


@attrs.frozen
class TimeSince(Node):
    """``time since latest EVENT``: calendar time from that event to the as-of date."""

    event: str
    event_location: Location = attrs.field(default=Location(), eq=False)

    def __str__(self) -> str:
        return f"time since latest {self.event}"


@attrs.frozen
class SchoolDaysSince(Node):
    """``time since latest EVENT`` compared with school days: the pupil's school days after
    that event up to the as-of date (a number of school days). The type checker makes it
    from a ``TimeSince``; it is written the same way."""

    event: str
    event_location: Location = attrs.field(default=Location(), eq=False)

    def __str__(self) -> str:
        return f"time since latest {self.event}"


# --- walking a tree ----------------------------------------------------------------


def walk(node: Node) -> Iterator[Node]:
    """Every node of the tree, parents before children (iterative)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children()))


def names_used(node: Node) -> dict[str, set[str]]:
    """The names a (resolved) tree uses, by kind.

    Keys: parameter, measure (policy-named), library (library measures), flag, fact,
    setting, event (event types, including ``since latest EVENT`` windows) and
    unresolved (names of a tree not yet passed through ``resolve``).
    """
    used: dict[str, set[str]] = {
        k: set()
        for k in (
            "parameter",
            "measure",
            "library",
            "flag",
            "fact",
            "setting",
            "event",
            "unresolved",
        )
    }
    for current in walk(node):
        if isinstance(current, NameRef):
            used[current.kind or "unresolved"].add(current.name)
        elif isinstance(current, LibraryMeasure):
            used["library"].add(current.name)
        if isinstance(current, (EventSet, EventLatest, TimeSince, SchoolDaysSince)):
            used["event"].add(current.event)
        window = getattr(current, "window", None)
        if isinstance(window, Window) and window.kind == "since_event":
            used["event"].add(window.event)
    return used


def negated_facts(node: Node) -> set[str]:
    """Facts whose being false can make the condition true: under a ``not``, or compared with ==,
    != or in."""
    found: set[str] = set()
    stack: list[tuple[Node, bool]] = [(node, False)]
    while stack:
        current, negated = stack.pop()
        if isinstance(current, NameRef) and current.kind == "fact" and negated:
            found.add(current.name)
        inner = negated or isinstance(current, (Not, Compare, InCheck))
        stack.extend((child, inner) for child in current.children())
    return found
