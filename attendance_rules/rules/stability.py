"""How long a day's decisions are sure to stand: what lets a replay skip days.

A day-by-day replay (``timeline``) keeps one day's firings while nothing its decisions read
can have changed (``engine.ReplayMemo``). The register and the case events of a replay are
known in full, so this module looks ahead over the pupil's next school days:

- up to ``steady_until`` — the day before the next event, the next academic year or the
  next term — windows that start at a year, a term or an event keep their start;
- constants (flags, settings, literals, the parameters of one date) and atoms that read only
  events over such windows (``_events_only``) then read the same;
- a comparison that can only move one way while windows keep their start (a count over a
  steady window against a threshold, ``time since``, an event count over a sliding window)
  flips at most once: a binary search over the next school days finds where;
- a rate against a threshold moves by at most two sessions a school day, which bounds how
  far to jump before looking again;
- anything else is read again the next day.

Every look is an exact evaluation of the same compiled closures on a later day; the bounds
only choose which days to look at, and err on the side of looking again.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left, bisect_right
from fractions import Fraction
from typing import Any, Callable

from ..registers.calendar import academic_year_start
from ..registers.measures import MEASURES
from .evaluator import bound_spec, compile_node, is_constant
from .lexer import ComparisonOp
from .nodes import (
    And,
    Compare,
    EventAny,
    EventCount,
    EventLatest,
    InCheck,
    Literal,
    NameRef,
    Node,
    Not,
    Or,
    SchoolDaysSince,
    TimeSince,
    walk,
)
from .values import OPERATORS

__all__ = ["Lookahead", "steady_until"]

_MAX_LOOKS = 40  # exact looks at later days for one rate comparison
# windows whose start moves only at events, the start of a year or of a term
_STEADY_WINDOWS = ("academic_year", "term", "all", "since_event")


def steady_until(ctx: Any) -> dt.date:
    """The last day before the next event, academic year or term after ``ctx``'s day."""
    as_of, pupil = ctx.as_of, ctx.pupil
    ends = [dt.date(academic_year_start(as_of).year + 1, 9, 1)]
    ends += [next((e.date for e in pupil.events if e.date > as_of), dt.date.max)]
    ends.append(ctx.calendar.next_term_start(as_of, pupil.register.days))
    end = min(ends)
    return end - dt.timedelta(days=1) if end < dt.date.max else end


class Lookahead:
    """The pupil's next school days up to the end of the academic year, and how many of them
    a condition is sure to keep its truth on.

    Each atom is looked at only up to its own horizon: the day before the next thing that
    can move what it reads — the next term when it reads a term window, the next event of a
    type it reads (an event query, ``time since``, a ``since latest`` window), the next year.
    """

    def __init__(self, ctx: Any, context: Callable[[dt.date], Any]) -> None:
        self.ctx, self._context = ctx, context
        as_of, days = ctx.as_of, ctx.pupil.register.days
        self.year_end = dt.date(academic_year_start(as_of).year + 1, 8, 31)
        term = ctx.calendar.next_term_start(as_of, days)
        self.term_end = min(
            term - dt.timedelta(days=1) if term < dt.date.max else term, self.year_end
        )
        start = bisect_right(days, as_of.toordinal())
        self.days = [
            dt.date.fromordinal(d)
            for d in days[start : bisect_right(days, self.year_end.toordinal())]
        ]
        self._contexts: dict[int, Any] = {}
        # truths on ctx's own day, by node id (the nodes live in the rules)
        self._now: dict[int, bool] = {}

    def bound(self, atom: Any) -> dt.date:
        """The last of the next school days on which ``atom`` is sure to read as on ``ctx``'s
        day."""
        horizon = self._horizon(atom.node)
        last = self.index(atom.node, bisect_right(self.days, horizon) - 1)
        return self.days[last] if last >= 0 else self.ctx.as_of

    def _horizon(self, node: Node) -> dt.date:
        """The day before the next term, event or year that can move what ``node`` reads."""
        term, events = _reads(node, self.ctx)
        end = self.term_end if term else self.year_end
        if events:
            as_of = self.ctx.as_of
            later = (
                e.date
                for e in self.ctx.pupil.events
                if e.date > as_of and (events is _ANY or e.type in events)
            )
            first = min(later, default=dt.date.max)
            if first <= end:
                end = first - dt.timedelta(days=1)
        return end

    def truth(self, node: Node, i: int) -> bool:
        """The node's truth on school day ``i`` of the look-ahead (-1: ``ctx``'s own day)."""
        if i < 0:
            now = self._now.get(id(node))
            if now is None:
                now = self._now[id(node)] = compile_node(node)(self.ctx, None) is True
            return now
        ctx = self._contexts.get(i)
        if ctx is None:
            ctx = self._contexts[i] = self._context(self.days[i])
        return compile_node(node)(ctx, None) is True

    def index(self, node: Node, last: int) -> int:
        """The last look-ahead index, up to ``last``, up to which ``node`` keeps its truth (-1:
        none)."""
        if isinstance(node, (And, Or)):
            wanted = isinstance(node, Or)  # an Or holds by a true item, an And fails by a false one
            deciding = [item for item in node.items if self.truth(item, -1) == wanted]
            best = -1
            for item in deciding:  # any one of them keeps the outcome
                best = max(best, self.index(item, last))
                if best == last:
                    return last
            if deciding:
                return best
            for item in node.items:  # every one of them must keep its truth
                last = self.index(item, last)
                if last < 0:
                    return -1
            return last
        if isinstance(node, Not):
            return self.index(node.item, last)
        if (
            is_constant(node)
            or (isinstance(node, NameRef) and node.kind == "parameter")
            or _events_only(node)
        ):
            return last
        if isinstance(node, EventAny) or _one_way(node, self.ctx):
            return self._flip_search(node, last)
        run = _run_spec(node, self.ctx)
        if run is not None:
            return min(last, self._run_index(run[1], run[2](self.ctx, None), self.truth(node, -1)))
        rate = _rate_spec(node, self.ctx)
        if rate is not None:
            return self._gallop(node, last, lambda ctx, i: _rate_days(rate, ctx))
        sliding = _sliding_count_spec(node, self.ctx)
        if sliding is not None:
            return self._gallop(node, last, lambda ctx, i: self._sliding_days(sliding, ctx, i))
        return -1

    def _sliding_days(self, spec: tuple, ctx: Any, i: int) -> int:
        """Further school days on which ``count OP t`` over a sliding window keeps its truth: a
        school day adds at most two sessions, and each calendar day drops at most two."""
        key, op, other = spec
        pair, threshold = ctx.measure_pair(key), other(ctx, None)
        if (
            pair is None
            or isinstance(threshold, bool)
            or not isinstance(threshold, (int, Fraction))
        ):
            return 0
        n, d = pair
        value = Fraction(n, d)
        holds = OPERATORS[op](value, Fraction(threshold))
        rising = holds != (op in (">=", ">"))  # the truth flips by the count rising
        # sessions the count must move (roughly; err low)
        gap = abs(Fraction(threshold) - value) * d
        sessions = max(0, int(gap) - 1)
        if rising:
            return sessions // 2
        here = ctx.as_of
        calendar_days = sessions // 2  # calendar days over which at most 2 sessions a day can leave
        start = i + 1
        j = start
        while j < len(self.days) and (self.days[j] - here).days <= calendar_days:
            j += 1
        return max(0, j - start)

    def _flip_search(self, node: Node, last: int) -> int:
        """A condition that flips at most once over the look-ahead: binary search for the flip."""
        now = self.truth(node, -1)
        if last < 0 or self.truth(node, last) == now:
            return last
        low, high = -1, last  # truth(low) == now, truth(high) != now
        while high - low > 1:
            middle = (low + high) // 2
            if self.truth(node, middle) == now:
                low = middle
            else:
                high = middle
        return low

    def _run_index(self, op: ComparisonOp, threshold: Any, now: bool) -> int:
        """``unexplained_run OP t``: on a day with no N mark the run is 0, so until the next such
        mark the truth is that of ``0 OP t``."""
        if isinstance(threshold, bool) or not isinstance(threshold, (int, Fraction)):
            return -1
        if OPERATORS[op](0, threshold) != now:
            return -1
        reg = self.ctx.pupil.register
        if not self.days:
            return -1
        start = bisect_left(reg.slots, self.days[0].toordinal() * 2)
        found = [
            i
            for i in (reg.codes.find(bytes([n]), start) for n in reg.codebook.ids_for("N"))
            if i >= 0
        ]
        if not found:
            return len(self.days) - 1
        first = dt.date.fromordinal(reg.slots[min(found)] >> 1)
        return bisect_left(self.days, first) - 1

    def _gallop(self, node: Node, last: int, safe: Callable[[Any, int], int]) -> int:
        """Jump as far as ``safe`` (school days sure to keep the truth) allows, look, and go on."""
        now, i = self.truth(node, -1), -1
        for _ in range(_MAX_LOOKS):
            ctx = self.ctx if i < 0 else self._contexts[i]
            j = i + 1 + safe(ctx, i)
            if j > last:
                return last
            if self.truth(node, j) != now:
                return j - 1
            i = j
        return i


_ANY = frozenset(["*"])  # every event type


def _reads(node: Node, ctx: Any) -> tuple[bool, frozenset[str]]:
    """Whether ``node`` reads a term window, and the event types it reads (events, ``time
    since``, ``latest``, ``since latest`` windows)."""
    term, events = False, set()
    for n in walk(node):
        windows = [getattr(n, "window", None)]
        if isinstance(n, NameRef) and n.kind == "measure":
            windows.append(ctx._spec(("named", n.name))[1])
        for window in windows:
            kind = getattr(window, "kind", "")
            term |= kind == "term"
            if kind == "since_event":
                events.add(window.event)  # type: ignore[union-attr]  # a since_event window is a Window
        if isinstance(n, (EventAny, EventCount, EventLatest, TimeSince, SchoolDaysSince)):
            events.add(n.event)
    return term, frozenset(events)


def _one_way(node: Node, ctx: Any) -> bool:
    """Whether ``node`` can change its truth at most once while windows keep their start and no
    event is added: a count over a steady window, an event count or ``time since`` against a
    constant (event counts over sliding windows only fall; the rest only grow)."""
    if not isinstance(node, Compare) or node.op in ("==", "!="):
        return False
    sides = (node.left, node.right)
    fixed = [
        s for s in sides if is_constant(s) or (isinstance(s, NameRef) and s.kind == "parameter")
    ]
    moving = [s for s in sides if s not in fixed]
    if len(fixed) != 1 or len(moving) != 1:
        return False
    side = moving[0]
    if isinstance(side, (TimeSince, SchoolDaysSince, EventCount)):
        return True
    spec = bound_spec(node)
    if spec is None:
        return False
    name, window, _ = ctx._spec(spec[0])
    return MEASURES[name].kind in ("count", "days") and (
        window is None or window.kind in _STEADY_WINDOWS
    )


def _run_spec(node: Node, ctx: Any) -> tuple | None:
    """``(key, op, threshold closure)`` for ``unexplained_run OP constant``."""
    spec = bound_spec(node)
    if spec is None or spec[1] in ("==", "!="):
        return None
    return spec if ctx._spec(spec[0])[0] == "unexplained_run" else None


def _sliding_count_spec(node: Node, ctx: Any) -> tuple | None:
    """``(key, op, threshold closure)`` for a count over a window that slides every day."""
    spec = bound_spec(node)
    if spec is None or spec[1] in ("==", "!="):
        return None
    name, window, _ = ctx._spec(spec[0])
    # a calendar-weeks window drops one day's sessions a day; a school-weeks one drops a whole week
    # at once
    if (
        MEASURES[name].kind not in ("count", "days")
        or window is None
        or window.kind != "calendar_weeks"
    ):
        return None
    return spec


def _rate_spec(node: Node, ctx: Any) -> tuple | None:
    """``(key, op, threshold closure)`` for a rate over a steady window against a constant."""
    spec = bound_spec(node)
    if spec is None or spec[1] in ("==", "!="):
        return None
    name, window, _ = ctx._spec(spec[0])
    if MEASURES[name].kind != "rate" or (window is not None and window.kind not in _STEADY_WINDOWS):
        return None
    return spec


def _rate_days(spec: tuple, ctx: Any) -> int:
    """Further school days on which ``rate OP threshold`` is sure to keep its truth: a school day
    moves ``f = part*den - num*possible`` (threshold ``num/den``) by at least ``-2*num`` and at
    most ``2*(den - num)``."""
    key, op, other = spec
    pair, threshold = ctx.measure_pair(key), other(ctx, None)
    if pair is None or isinstance(threshold, bool) or not isinstance(threshold, (int, Fraction)):
        return 0
    t = Fraction(threshold)
    if not 0 <= t <= 1:
        return 0
    part, possible = pair
    f = part * t.denominator - t.numerator * possible
    # the largest daily fall and rise of f
    down, up = (
        2 * t.numerator,
        2 * (t.denominator - t.numerator),
    )
    big = 10**9
    if op in (">=", "<"):  # the truth turns on f >= 0
        return (f // down if down else big) if f >= 0 else ((-f - 1) // up if up else big)
    return ((f - 1) // down if down else big) if f > 0 else ((-f) // up if up else big)


def _events_only(node: Node) -> bool:
    """Whether an atom reads only case events (no register, no running clock), over windows that
    move only at the start of a year or term or at an event: its value can change only then."""
    for n in walk(node):
        if isinstance(n, (EventAny, EventCount)):
            if n.window is not None and getattr(n.window, "kind", "") not in _STEADY_WINDOWS:
                return False
        elif not isinstance(n, (EventLatest, Compare, InCheck, And, Or, Not, Literal, NameRef)):
            return False
        elif isinstance(n, NameRef) and n.kind == "measure":
            return False
    return True
