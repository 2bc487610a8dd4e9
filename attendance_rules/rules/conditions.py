"""The condition language of policy files: lexer, parser, type checker and evaluator.

Conditions (``when:`` / ``unless:``) are parsed by a hand-written tokenizer and a
recursive-descent parser, never by Python's ``eval``. Every token and node carries the
``Location`` of its first character in the policy file, so every ``ConditionError``
points at the offending word. The grammar is in ``docs/policy-language.md``:

    expr  := or            or  := and ('or' and)*       and := not ('and' not)*
    not   := 'not' not | cmp
    cmp   := sum [ OP sum | 'in' '(' literal (',' literal)* ')' ]
    sum   := atom (('+' | '-') atom)*
    atom  := literal | 'today' | '(' expr ')' | event_query | name_ref

Types (``Type``) are ``bool``, ``number`` (with a unit), ``duration``, ``date`` and
``text``. Units and durations, the choices taken:

- a bare number and a ``count`` match any count-like unit (sessions, days, pounds,
  school weeks, school days) but never percent; sessions and days never match;
- ``N weeks`` and ``N years`` are durations; ``N days`` is a number of days (as
  ``days_absent`` is) that also serves as a duration next to a date or a duration;
  ``N school weeks`` / ``N school days`` are numbers, not calendar time;
- a duration in years is calendar years, never 365 days: ``date + 1 year`` is the same
  day a year later (29 February becomes 28 February), and two durations are compared
  by adding both to one anchor date (the start of a ``time since`` span, else the as-of
  date);
- a fractional number of days added to a date is rounded down to whole days;
- school days after an event: ``time since latest EVENT`` compared with school days
  counts the pupil's school days after the event up to the as-of date, and
  ``date + N school days`` is the N-th school day after the date. A school day is a day
  on which the pupil has a mark (``Register.days``); days after the as-of date are not
  known yet, so weekdays stand in for them, as for due dates (``calendar.py``).

Checked trees are compiled once into closures (``evaluator.py``): a decision stops at the
first ``and``/``or`` operand that decides; an explanation runs the same closures with a
trace sink and evaluates every operand, so the trace (``Outcome``) lists every comparison. A missing value (an undefined measure, no such event, a missing field)
makes any comparison with it false, ``!=`` included, and its reason is recorded.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import operator
import re
import typing
from fractions import Fraction
from typing import Any, Callable, ClassVar, Iterator, Mapping, NoReturn, Protocol, Sequence

import attrs

from ..exceptions import ConditionError, Location, Problem
from ..registers.history import EVENT_FIELDS, Event, Pupil, frozen_names
from ..registers.measures import MEASURES, Measure, Window, format_value

__all__ = [
    "And",
    "Arith",
    "Compare",
    "Comparison",
    "Condition",
    "Context",
    "Duration",
    "EventAny",
    "EventCount",
    "EventFilter",
    "EventLatest",
    "EventWindow",
    "InCheck",
    "LibraryMeasure",
    "Literal",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "NameRef",
    "Node",
    "Not",
    "Or",
    "Outcome",
    "SchoolDaysSince",
    "Scope",
    "TimeSince",
    "Today",
    "Type",
    "check",
    "compile_condition",
    "evaluate",
    "names_used",
    "negated_facts",
    "parameter_value",
    "parse",
    "resolve",
]

MAX_LENGTH = 2000  # characters in one condition
MAX_DEPTH = 50  # nested parentheses, 'not' and '+'/'-' terms together
MAX_WINDOW = 10000  # largest N in 'last N ...'

_KEYWORDS = frozenset(
    "and or not in today any count latest time since over within with true false school last".split()
)
_COMPARE_OPS = (">=", "<=", "==", "!=", ">", "<")
_OPERATORS: Mapping[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq, "!=": operator.ne,
}
_UNIT_WORDS = {
    "sessions": "sessions", "session": "sessions", "days": "days", "day": "days", "weeks": "weeks",
    "week": "weeks", "years": "years", "year": "years", "pounds": "pounds", "count": "count",
}
_UNIT_TEXT = {  # unit -> (singular, plural) as written after a number
    "sessions": ("session", "sessions"), "days": ("day", "days"), "weeks": ("week", "weeks"),
    "years": ("year", "years"), "count": ("count", "count"), "school_weeks": ("school week", "school weeks"),
    "school_days": ("school day", "school days"),
}
_DURATION_UNITS = ("weeks", "years")
_GENERIC_UNITS = ("", "count")
_WINDOW_HELP = "academic year, this term, last N school weeks, last N calendar weeks (or weeks, days, years) or since latest EVENT"
_MEASURE_WINDOW_HELP = "academic year, this term, last N school weeks, last N calendar weeks or since latest EVENT"

_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}[A-Za-z0-9_.]*")
_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")
_WORD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TAIL_RE = re.compile(r"[A-Za-z0-9_.]*")


def _problem(message: str, location: Location, found: str = "", expected: str = "", example: str = "") -> ConditionError:
    """A ConditionError carrying one located problem."""
    return ConditionError([Problem(message, location, found=found, expected=expected, example=example)])


def _join(options: Sequence[str]) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    return options[0] if len(options) == 1 else ", ".join(options[:-1]) + " or " + options[-1]


# --- lexer --------------------------------------------------------------------------

# typing's Literal, spelt in full: ``Literal`` in this module is the condition node
_TokenKind = typing.Literal["name", "number", "string", "date", "op", "punct", "end"]


@attrs.frozen
class _Token:
    """One token: ``kind`` is name, number, string, date, op, punct or end."""

    kind: _TokenKind
    text: str
    location: Location
    value: Any = None

    def describe(self) -> str:
        """How an error message names this token."""
        if self.kind == "name":
            return f"keyword '{self.text}'" if self.text in _KEYWORDS else f"name '{self.text}'"
        if self.kind in ("op", "punct"):
            return f"'{self.text}'"
        return {"number": "number ", "string": "text ", "date": "date "}.get(self.kind, "") + self.text


def _locator(text: str, origin: Location, column_map: Callable[[int], Location] | None) -> Callable[[int], Location]:
    """Map a character offset of ``text`` to its Location (one past the end included)."""
    if column_map is None:
        return lambda offset: origin.shifted(column=offset)

    def locate(offset: int) -> Location:
        if offset < len(text):
            return column_map(offset)
        return column_map(len(text) - 1).shifted(column=offset - len(text) + 1) if text else origin

    return locate


def _tokenize(text: str, locate: Callable[[int], Location]) -> list[_Token]:
    """Split ``text`` into tokens, ending with an ``end`` token; errors are located."""
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        token, i = _next_token(text, i, locate(i))
        tokens.append(token)
    tokens.append(_Token("end", "end of condition", locate(len(text))))
    return tokens


def _next_token(text: str, i: int, where: Location) -> tuple[_Token, int]:
    """The token starting at ``text[i]`` (not a space) and the offset after it."""
    char = text[i]
    if char.isdigit() and char.isascii():
        return _number_token(text, i, where)
    if char.isascii() and (char.isalpha() or char == "_"):
        word = _WORD_RE.match(text, i).group()  # type: ignore[union-attr]  # matches: text[i] starts a word
        if word != word.lower():
            raise _problem("names and keywords are written in lower case", where, found=repr(word),
                           expected=repr(word.lower()))
        return _Token("name", word, where), i + len(word)
    if char in "'\"":
        end = text.find(char, i + 1)
        if end < 0:
            raise _problem("unterminated text: the quote is never closed", where, found=repr(text[i:i + 30]),
                           expected=f"a closing {char}", example='"no_improvement"')
        return _Token("string", text[i:end + 1], where, text[i + 1:end]), end + 1
    return _symbol_token(text, i, where)


def _number_token(text: str, i: int, where: Location) -> tuple[_Token, int]:
    """A date (YYYY-MM-DD) or a number (int or decimal) starting at ``text[i]``."""
    date_match = _DATE_RE.match(text, i)
    if date_match:
        written = date_match.group()
        try:
            return _Token("date", written, where, dt.date.fromisoformat(written)), date_match.end()
        except ValueError:
            raise _problem("bad date", where, found=repr(written), expected="a real date written YYYY-MM-DD",
                           example="2024-08-19") from None
    number = _NUMBER_RE.match(text, i).group()  # type: ignore[union-attr]  # matches: text[i] is a digit
    tail = _TAIL_RE.match(text, i + len(number)).group()  # type: ignore[union-attr]  # matches, maybe empty
    if tail:
        raise _problem("bad number", where, found=repr(number + tail),
                       expected="a whole or decimal number, then a space before any unit", example="10 sessions")
    return _Token("number", number, where, Fraction(number)), i + len(number)


def _symbol_token(text: str, i: int, where: Location) -> tuple[_Token, int]:
    """An operator or punctuation mark starting at ``text[i]``."""
    pair = text[i:i + 2]
    if pair in _COMPARE_OPS:
        return _Token("op", pair, where), i + 2
    char = text[i]
    if char in "<>":
        return _Token("op", char, where), i + 1
    if char in "(),.+-%£":
        return _Token("punct", char, where), i + 1
    if char in "=!":
        raise _problem(f"'{char}' is not an operator", where, found=repr(char), expected="'==' or '!='")
    raise _problem("unexpected character", where, found=repr(char),
                   expected="names, numbers, quoted text, dates, comparison operators or ( ) , . + - % £")


# --- syntax tree --------------------------------------------------------------------


def _decimal_text(number: Fraction) -> str:
    """Exact decimal text of a fraction with a terminating expansion (else 6 significant digits)."""
    if number.denominator == 1:
        return str(number.numerator)
    twos = fives = 0
    rest = number.denominator
    while rest % 2 == 0:
        rest, twos = rest // 2, twos + 1
    while rest % 5 == 0:
        rest, fives = rest // 5, fives + 1
    if rest != 1:
        return f"{float(number):.6g}"
    places = max(twos, fives)
    digits = str(abs(number.numerator * 10**places // number.denominator)).rjust(places + 1, "0")
    return ("-" if number < 0 else "") + digits[:-places] + "." + digits[-places:]


def _quote(text: str) -> str:
    """Text as a quoted literal (single quotes when it holds a double quote)."""
    return f"'{text}'" if '"' in text else f'"{text}"'


@functools.lru_cache(maxsize=4096)
def _show_date(day: dt.date) -> str:
    """A date as people read it: ``26 Jan 2024``."""
    return f"{day.day} {day:%b %Y}"


@attrs.frozen
class EventWindow:
    """A calendar window for event queries that ``measures.Window`` lacks: last N days or years.

    ``last N days`` is the N days ending on the as-of date (as ``last N calendar weeks``
    is); ``last N years`` starts on the same day N years before the as-of date.
    """

    kind: str  # "days" or "years"
    n: int

    def __str__(self) -> str:
        return f"last {self.n} {self.kind[:-1] if self.n == 1 else self.kind}"

    def bounds(self, as_of: dt.date) -> tuple[dt.date, dt.date]:
        """First and last day of the window ending on ``as_of``."""
        if self.kind == "years":
            return _add_years(as_of, -self.n), as_of
        return _add_days(as_of, 1 - self.n), as_of


@attrs.frozen
class Node:
    """A node of a parsed condition. Nodes compare by structure; ``location`` is not compared."""

    location: Location = attrs.field(eq=False)
    level: ClassVar[int] = 6  # binding strength when rendered: 1 or, 2 and, 3 not, 4 compare, 5 sum, 6 atom

    def children(self) -> tuple["Node", ...]:
        """The node's direct sub-expressions."""
        return ()


def _wrap(node: Node, below: int) -> str:
    """``node`` rendered, in parentheses when it binds no tighter than ``below``."""
    return f"({node})" if node.level <= below else str(node)


@attrs.frozen
class Literal(Node):
    """A literal: a Fraction with a unit ("" bare, sessions, days, weeks, years, percent …), text, yes/no or a date.

    Percentages hold the fraction of one (``90%`` is ``Fraction(9, 10)``).
    """

    value: Fraction | str | bool | dt.date
    unit: str = ""

    def __str__(self) -> str:
        value = self.value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, str):
            return _quote(value)
        if self.unit == "percent":
            return _decimal_text(value * 100) + "%"
        if self.unit == "pounds":
            return "£" + _decimal_text(value)
        if self.unit in _UNIT_TEXT:
            return f"{_decimal_text(value)} {_UNIT_TEXT[self.unit][value != 1]}"
        return _decimal_text(value)


@attrs.frozen
class Today(Node):
    """``today``: the as-of date."""

    def __str__(self) -> str:
        return "today"


@attrs.frozen
class NameRef(Node):
    """A name: ``kind`` is parameter, measure, flag, fact or setting ("" until resolved); ``unit`` its unit."""

    name: str
    kind: str = ""
    unit: str = ""

    def __str__(self) -> str:
        return f"school.{self.name}" if self.kind == "setting" else self.name


@attrs.frozen
class LibraryMeasure(Node):
    """A library measure over a window (``attendance_rate over academic year``); window None for unexplained_run."""

    name: str
    window: Window | EventWindow | None = None
    window_location: Location = attrs.field(default=Location(), eq=False)

    def __str__(self) -> str:
        return f"{self.name} over {self.window}" if self.window is not None else self.name


@attrs.frozen
class Compare(Node):
    """``left OP right`` with OP one of >= > <= < == != (located at the operator)."""

    op: str
    left: Node
    right: Node
    level: ClassVar[int] = 4

    def __str__(self) -> str:
        return f"{_wrap(self.left, 4)} {self.op} {_wrap(self.right, 4)}"

    def children(self) -> tuple[Node, ...]:
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
        return (self.item, *self.options)


@attrs.frozen
class And(Node):
    """``a and b and …`` (located at the first ``and``)."""

    items: tuple[Node, ...]
    level: ClassVar[int] = 2

    def __str__(self) -> str:
        return " and ".join(_wrap(item, 2) for item in self.items)

    def children(self) -> tuple[Node, ...]:
        return self.items


@attrs.frozen
class Or(Node):
    """``a or b or …`` (located at the first ``or``)."""

    items: tuple[Node, ...]
    level: ClassVar[int] = 1

    def __str__(self) -> str:
        return " or ".join(_wrap(item, 1) for item in self.items)

    def children(self) -> tuple[Node, ...]:
        return self.items


@attrs.frozen
class Not(Node):
    """``not item``."""

    item: Node
    level: ClassVar[int] = 3

    def __str__(self) -> str:
        return f"not {_wrap(self.item, 2)}"

    def children(self) -> tuple[Node, ...]:
        return (self.item,)


@attrs.frozen
class Arith(Node):
    """``date + duration``, ``date - duration`` or ``date + N school days`` (located at the operator).

    ``school_days`` is set by the type checker when the right side is a number of school days.
    """

    op: str
    left: Node
    right: Node
    school_days: bool = False
    level: ClassVar[int] = 5

    def __str__(self) -> str:
        return f"{_wrap(self.left, 4)} {self.op} {_wrap(self.right, 5)}"

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@attrs.frozen
class EventFilter:
    """``with FIELD == VALUE`` (or ``!=``; a date field, ``date`` included, also ``<``, ``<=``,
    ``>``, ``>=``) of an event query; located at the field."""

    location: Location = attrs.field(eq=False)
    field: str
    op: str
    value: Literal

    def __str__(self) -> str:
        return f"with {self.field} {self.op} {self.value}"

    def matches(self, event: Event) -> bool:
        """True when the event's field satisfies the filter (a missing field never does)."""
        found = event.date if self.field == "date" else event.get(self.field)
        return found is not None and _compare(self.op, found, self.value.value)


@attrs.frozen
class _EventSet(Node):
    """Shared shape of ``any`` and ``count``: event type, optional filter and window."""

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


@attrs.frozen
class EventAny(_EventSet):
    """``any EVENT [with …] [within WINDOW]``: whether such an event happened (yes/no)."""

    keyword: ClassVar[str] = "any"


@attrs.frozen
class EventCount(_EventSet):
    """``count EVENT [with …] [per FIELD] [within WINDOW]``: how many such events (a count).

    With ``per FIELD``, the events are grouped by their value of FIELD (events without it
    form one group of their own) and the count is that of the largest group: ``count
    penalty_notice_issued per parent`` is the most notices any one parent received.
    """

    keyword: ClassVar[str] = "count"


@attrs.frozen
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


# --- parser -------------------------------------------------------------------------


class _Parser:
    """Recursive descent over the token list; remembers what it tried at the current token."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0
        self.tried_at = -1
        self.tried: list[str] = []

    @property
    def tok(self) -> _Token:
        """The current token."""
        return self.tokens[self.pos]

    def peek(self) -> _Token:
        """The token after the current one."""
        return self.tokens[min(self.pos + 1, len(self.tokens) - 1)]

    def at(self, *words: str) -> bool:
        """True when the current token is one of ``words`` (keywords, operators, punctuation)."""
        return self.tok.kind in ("name", "op", "punct") and self.tok.text in words

    def accept(self, *words: str, note: str = "") -> _Token | None:
        """Consume and return the current token if it is one of ``words``; else note ``note`` as expected here."""
        if self.at(*words):
            self.pos += 1
            return self.tokens[self.pos - 1]
        if note:
            if self.tried_at != self.pos:
                self.tried_at, self.tried = self.pos, []
            if note not in self.tried:
                self.tried.append(note)
        return None

    def expect(self, words: tuple[str, ...], what: str) -> _Token:
        """Consume one of ``words`` or fail saying ``what`` was expected."""
        return self.accept(*words) or self.fail(what)

    def fail(self, what: str) -> NoReturn:
        """Raise a ConditionError at the current token listing everything acceptable here."""
        options = (self.tried if self.tried_at == self.pos else []) + [what]
        found = self.tok.describe()
        raise _problem(f"unexpected {found}", self.tok.location, found=found, expected=_join(options))

    def enter(self, token: _Token) -> None:
        """One level deeper; refuse conditions nested more than MAX_DEPTH levels."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _problem("condition nested too deeply", token.location, found=token.describe(),
                           expected=f"at most {MAX_DEPTH} levels of parentheses, 'not' and '+'/'-'")

    def name(self, what: str, keywords: bool = False) -> _Token:
        """Consume a name (not a keyword unless ``keywords``) or fail saying ``what`` was expected."""
        if self.tok.kind == "name" and (keywords or self.tok.text not in _KEYWORDS):
            self.pos += 1
            return self.tokens[self.pos - 1]
        return self.fail(what)

    def condition(self) -> Node:
        """The whole token list as one expression."""
        if self.tok.kind == "end":
            raise _problem("empty condition", self.tok.location, found="nothing",
                           expected="a condition", example="unauthorised_12w >= pn_warning_threshold")
        node = self.parse_or()
        if self.tok.kind != "end":
            self.fail("end of condition")
        return node

    def parse_or(self) -> Node:
        """or := and ('or' and)*"""
        return self.chain("or", Or, self.parse_and)

    def parse_and(self) -> Node:
        """and := not ('and' not)*"""
        return self.chain("and", And, self.parse_not)

    def chain(self, word: str, cls: type, part: Callable[[], Node]) -> Node:
        """``part (word part)*`` as one ``cls`` node (or the single part)."""
        items, first = [part()], None
        while (token := self.accept(word, note=f"'{word}'")) is not None:
            first = first or token
            items.append(part())
        return items[0] if first is None else cls(first.location, tuple(items))

    def parse_not(self) -> Node:
        """not := 'not' not | cmp"""
        token = self.accept("not", note="'not'")
        if token is None:
            return self.parse_cmp()
        self.enter(token)
        item = self.parse_not()
        self.depth -= 1
        return Not(token.location, item)

    def parse_cmp(self) -> Node:
        """cmp := sum [OP sum | 'in' '(' literal (',' literal)* ')']"""
        left = self.parse_sum()
        token = self.accept(*_COMPARE_OPS, note="a comparison operator")
        if token is not None:
            return Compare(token.location, token.text, left, self.parse_sum())
        token = self.accept("in", note="a comparison operator")
        if token is None:
            return left
        self.expect(("(",), "'(' and a list of quoted values")
        options = [self.literal()]
        while self.accept(",", note="','"):
            options.append(self.literal())
        self.expect((")",), "')' to close the list")
        return InCheck(token.location, left, tuple(options))

    def parse_sum(self) -> Node:
        """sum := atom (('+' | '-') atom)*; each operator counts as one level of nesting."""
        node, depth = self.parse_atom(), self.depth
        while (token := self.accept("+", "-")) is not None:
            self.enter(token)
            node = Arith(token.location, token.text, node, self.parse_atom())
        self.depth = depth
        return node

    def parse_atom(self) -> Node:
        """atom := literal | 'today' | '(' expr ')' | event_query | name_ref"""
        token = self.tok
        if token.kind in ("number", "string", "date") or self.at("£", "true", "false"):
            return self.literal()
        if self.at("("):
            return self.parenthesised()
        handler = {"today": self.today, "any": self.event_set, "count": self.event_set, "latest": self.latest,
                   "time": self.time_since, "school": self.setting}.get(token.text if token.kind == "name" else "")
        if handler is not None:
            return handler()
        if token.kind == "name" and token.text not in _KEYWORDS:
            return self.name_ref()
        return self.fail("a value (a number, quoted text, a date, a name, today, '(' or any/count/latest/time since)")

    def parenthesised(self) -> Node:
        opening = self.expect(("(",), "'('")
        self.enter(opening)
        node = self.parse_or()
        self.expect((")",), f"')' to close the '(' at {opening.location}")
        self.depth -= 1
        return node

    def literal(self) -> Literal:
        """A literal: NUMBER [UNIT], NUMBER '%', '£' NUMBER, STRING, true, false or a date."""
        token = self.tok
        if token.kind in ("string", "date") or self.at("true", "false"):
            self.pos += 1
            value = token.text == "true" if token.kind == "name" else token.value  # a name here is true or false
            return Literal(token.location, value)
        if self.accept("£"):
            number = self.tok if self.tok.kind == "number" else self.fail("an amount after '£'")
            self.pos += 1
            return Literal(token.location, number.value, "pounds")
        if token.kind != "number":
            return self.fail("a literal: quoted text, a number, true, false or a date")
        self.pos += 1
        if self.accept("%"):
            return Literal(token.location, token.value / 100, "percent")
        return Literal(token.location, token.value, self.unit())

    def unit(self) -> str:
        """The unit after a number ("" when none)."""
        if self.tok.kind == "name" and self.tok.text in _UNIT_WORDS:
            self.pos += 1
            return _UNIT_WORDS[self.tokens[self.pos - 1].text]
        if self.at("school") and self.peek().kind == "name" and self.peek().text in ("days", "day", "weeks", "week"):
            self.pos += 2
            return "school_" + _UNIT_WORDS[self.tokens[self.pos - 1].text]
        return ""

    def today(self) -> Node:
        self.pos += 1
        return Today(self.tokens[self.pos - 1].location)

    def setting(self) -> Node:
        keyword = self.tokens[self.pos]
        self.pos += 1
        self.expect((".",), "'.' and a setting name, as in school.traded_ews")
        return NameRef(keyword.location, self.name("a school setting name", keywords=True).text, "setting")

    def name_ref(self) -> Node:
        token = self.name("a name")
        if self.accept("over") is None:
            return NameRef(token.location, token.text)
        window, where = self.window()
        return LibraryMeasure(token.location, token.text, window, where)

    def event_set(self) -> Node:
        keyword = self.tokens[self.pos]
        self.pos += 1
        event = self.name("an event type, such as school_attendance_meeting")
        where = self.event_filter() if self.accept("with", note="'with'") else None
        per = None
        if keyword.text == "count" and self.accept("per", note="'per'"):
            per = self.name("a field name of the event to count per value of", keywords=True)
        window, window_at = (self.window() if self.accept("within", note="'within'") else (None, Location()))
        cls = EventAny if keyword.text == "any" else EventCount
        return cls(keyword.location, event.text, where, window, event.location, window_at,
                   per.text if per else "", per.location if per else Location())

    def event_filter(self) -> EventFilter:
        field = self.name("a field name of the event", keywords=True)
        op = self.expect(_COMPARE_OPS, "'==' or '!=' (or <, <=, >, >= for a date)")
        return EventFilter(field.location, field.text, op.text, self.literal())

    def latest(self) -> Node:
        keyword = self.tokens[self.pos]
        self.pos += 1
        event = self.name("an event type, such as review_held")
        self.expect((".",), "'.' and a field, as in latest review_held.outcome or latest review_held.date")
        field = self.name("a field name, or date", keywords=True)
        return EventLatest(keyword.location, event.text, field.text, event.location, field.location)

    def time_since(self) -> Node:
        keyword = self.tokens[self.pos]
        self.pos += 1
        self.expect(("since",), "'since', as in time since latest school_attendance_meeting")
        self.expect(("latest",), "'latest', as in time since latest school_attendance_meeting")
        event = self.name("an event type, such as school_attendance_meeting")
        return TimeSince(keyword.location, event.text, event.location)

    def window(self) -> tuple[Window | EventWindow, Location]:
        """A window and the location of its first word (of the event type for ``since latest``)."""
        start = self.tok
        if self.accept("academic"):
            self.expect(("year",), "'year', as in academic year")
            return Window("academic_year"), start.location
        if self.accept("this"):
            self.expect(("term",), "'term', as in this term")
            return Window("term"), start.location
        if self.accept("since"):
            self.expect(("latest",), "'latest', as in since latest review_held")
            event = self.name("an event type, such as review_held")
            return Window("since_event", event=event.text), event.location
        if self.accept("last"):
            return self.last_window(), start.location
        return self.fail(f"a window: {_WINDOW_HELP}")

    def last_window(self) -> Window | EventWindow:
        """The rest of ``last N UNIT``."""
        token = self.tok
        if token.kind != "number" or token.value.denominator != 1 or not 1 <= token.value <= MAX_WINDOW:
            found = token.describe()
            raise _problem(f"bad window size: {found}", token.location, found=found,
                           expected=f"a whole number from 1 to {MAX_WINDOW}", example="last 12 school weeks")
        self.pos += 1
        n = int(token.value)
        if self.accept("school", "calendar"):
            kind = self.tokens[self.pos - 1].text
            self.expect(("weeks", "week"), f"'weeks', as in last {n} {kind} weeks")
            return Window(f"{kind}_weeks", n)
        unit = self.expect(("weeks", "week", "days", "day", "years", "year"),
                           "school weeks, calendar weeks, weeks, days or years").text
        return Window("calendar_weeks", n) if unit.startswith("week") else EventWindow(_UNIT_WORDS[unit], n)


def parse(text: str, origin: Location, column_map: Callable[[int], Location] | None = None) -> Node:
    """Parse a condition into a syntax tree; names stay unresolved (see ``resolve``).

    ``column_map`` maps a 0-based offset in ``text`` to the Location of that character
    in the policy file; without it locations are ``origin`` moved right by the offset.
    Raises ConditionError, located at the offending token, and nothing else.
    """
    if not isinstance(text, str):
        raise _problem("a condition must be text", origin, found=type(text).__name__, expected="text")
    locate = _locator(text, origin, column_map)
    if len(text) > MAX_LENGTH:
        raise _problem("condition too long", locate(MAX_LENGTH), found=f"{len(text)} characters",
                       expected=f"at most {MAX_LENGTH} characters; split it using derived facts")
    return _Parser(_tokenize(text, locate)).condition()


# --- types and scope ----------------------------------------------------------------


@attrs.frozen
class Type:
    """The type of a value: ``kind`` bool, number, duration, date or text.

    Numbers carry a ``unit``: "" (a bare number), count, sessions, days, percent, pounds,
    school_weeks or school_days. Yes/no school settings have unit "setting" (they may
    also be compared with text). Enumerated text (``review_held.outcome``) lists its
    ``values``.
    """

    kind: str
    unit: str = ""
    values: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.kind == "number":
            return {"": "a plain number", "count": "a count"}.get(self.unit, self.unit.replace("_", " "))
        return {"bool": "yes/no", "duration": "a duration", "date": "a date"}.get(self.kind, self.kind)


_BOOL = Type("bool")
_DATE = Type("date")
_DURATION = Type("duration")
_SCHOOL_DAYS = Type("number", "school_days")
_TEXT = Type("text")


@attrs.frozen
class Scope:
    """The names a condition may use, given by the policy compiler.

    ``parameters`` and ``measures`` (policy-named measures) map names to units (percent,
    sessions, days, school_weeks, weeks, pounds, count, text, bool); ``settings`` empty
    means any ``school.X`` is allowed (as yes/no).
    """

    parameters: Mapping[str, str] = attrs.field(factory=dict, hash=False)
    measures: Mapping[str, str] = attrs.field(factory=dict, hash=False)
    flags: frozenset[str] = attrs.field(default=frozenset(), converter=frozen_names)
    facts: frozenset[str] = attrs.field(default=frozenset(), converter=frozen_names)
    settings: frozenset[str] = attrs.field(default=frozenset(), converter=frozen_names)
    event_fields: Mapping[str, Mapping[str, object]] = attrs.field(default=EVENT_FIELDS, hash=False)

    def known_names(self) -> list[str]:
        """Every name a bare identifier may refer to (library measures included)."""
        library = [name for name in MEASURES if name != "code_sessions"]
        return sorted({*self.parameters, *self.measures, *self.flags, *self.facts, *library})


def _unit_type(unit: str) -> Type:
    """The type of a parameter or named measure with this unit."""
    if unit in ("text", "str"):
        return _TEXT
    if unit in ("bool", "date"):
        return Type(unit)
    if unit in _DURATION_UNITS:
        return _DURATION
    return Type("number", unit)


def _field_type(spec: object) -> Type:
    """The type of an event field from its EVENT_FIELDS entry."""
    if isinstance(spec, tuple):
        return Type("text", values=tuple(str(v) for v in spec))
    return {"bool": _BOOL, "date": _DATE}.get(str(spec), _TEXT)


def _literal_type(node: Literal) -> Type:
    """The type of a literal."""
    value = node.value
    if isinstance(value, bool):
        return _BOOL
    if isinstance(value, dt.date):
        return _DATE
    if isinstance(value, str):
        return _TEXT
    return _DURATION if node.unit in _DURATION_UNITS else Type("number", node.unit)


def _as_duration(kind: Type) -> bool:
    """True for durations and for numbers of days (which serve as durations)."""
    return kind.kind == "duration" or (kind.kind == "number" and kind.unit == "days")


def _comparable(left: Type, right: Type, op: str) -> bool:
    """Whether ``left OP right`` is well typed."""
    ordering = op not in ("==", "!=")
    if left.kind == right.kind == "number":
        generic = left.unit in _GENERIC_UNITS or right.unit in _GENERIC_UNITS
        return left.unit == right.unit or (generic and "percent" not in (left.unit, right.unit))
    if _DURATION in (left, right):
        return _as_duration(left) and _as_duration(right)
    if ordering:
        return left.kind == right.kind == "date"
    if "setting" in (left.unit, right.unit):
        return {left.kind, right.kind} <= {"bool", "text"}
    return left.kind == right.kind


def _mismatch_hint(left: Type, right: Type) -> tuple[str, str]:
    """What a mismatched comparison should have had (``expected``, ``example``)."""
    units = {left.unit, right.unit}
    if units == {"sessions", "days"}:
        return ("the same unit on both sides: sessions with sessions, or days with days (a day is two sessions; "
                "days_absent and unauthorised_days count days)", "days_absent over academic year >= 5 days")
    if "percent" in units:
        return "percent on both sides, written with %", "attendance_rate over academic year <= 90%"
    if "duration" in (left.kind, right.kind):
        return ("a duration on both sides, such as 6 weeks or 10 days (school weeks are a count, not calendar time), "
                "or school days after an event", "time since latest leave_request > 10 school days")
    if "text" in (left.kind, right.kind):
        return "text on both sides, compared with ==, != or in", 'latest review_held.outcome == "improved"'
    return "values of the same kind and unit on both sides", ""


# --- type checker -------------------------------------------------------------------


class _Checker:
    """Resolves names against a Scope and computes types; raises located ConditionErrors."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    def visit(self, node: Node) -> tuple[Node, Type]:
        """The node with its names resolved, and its type."""
        return getattr(self, "visit_" + type(node).__name__)(node)

    def visit_Literal(self, node: Literal) -> tuple[Node, Type]:
        if node.unit == "years" and isinstance(node.value, Fraction) and node.value.denominator != 1:
            raise _problem("a duration in years must be a whole number", node.location, found=str(node),
                           expected="whole years, or weeks or days", example="2 years")
        return node, _literal_type(node)

    def visit_Today(self, node: Today) -> tuple[Node, Type]:
        return node, _DATE

    def visit_NameRef(self, node: NameRef) -> tuple[Node, Type]:
        if node.kind == "setting":
            return self.setting(node)
        scope, name = self.scope, node.name
        if name in scope.parameters:
            return attrs.evolve(node, kind="parameter", unit=scope.parameters[name]), _unit_type(scope.parameters[name])
        if name in scope.measures:
            return attrs.evolve(node, kind="measure", unit=scope.measures[name]), _unit_type(scope.measures[name])
        if name in scope.flags or name in scope.facts:
            return attrs.evolve(node, kind="flag" if name in scope.flags else "fact", unit="bool"), _BOOL
        if name in MEASURES:
            return self.visit(LibraryMeasure(node.location, name))
        return self.unknown_name(node)

    def setting(self, node: NameRef) -> tuple[Node, Type]:
        known = self.scope.settings
        if known and node.name not in known:
            close = difflib.get_close_matches(node.name, sorted(known), n=3)
            hint = f"; did you mean {_join(['school.' + c for c in close])}?" if close else ""
            raise _problem(f"unknown school setting '{node.name}'{hint}", node.location, found=f"school.{node.name}",
                           expected=_join(sorted("school." + k for k in known)))
        return node, Type("bool", "setting")

    def unknown_name(self, node: NameRef) -> NoReturn:
        name = node.name
        if name in self.scope.event_fields:
            raise _problem(f"'{name}' is an event type, not a value", node.location, found=name,
                           expected="an event query", example=f"any {name} within academic year")
        close = difflib.get_close_matches(name, self.scope.known_names(), n=3)
        hint = f"; did you mean {_join(close)}?" if close else ""
        raise _problem(f"unknown name '{name}'{hint}", node.location, found=name,
                       expected="a parameter, named measure, library measure, flag or derived fact of this policy")

    def visit_LibraryMeasure(self, node: LibraryMeasure) -> tuple[Node, Type]:
        name, spec = node.name, MEASURES.get(node.name)
        if spec is None:
            return self.not_a_library_measure(node)
        if name == "code_sessions":
            raise _problem("code_sessions needs a list of codes, so it can only be used as a named measure",
                           node.location, found=name, expected="a measure defined under measures: with codes",
                           example="pn_sessions: {measure: code_sessions, codes: [G, N, O, U], window: last 10 school weeks}")
        if spec.kind == "run" and node.window is not None:
            raise _problem(f"{name} takes no window", node.window_location, found=f"over {node.window}",
                           expected=f"{name} on its own", example=f"{name} >= 3 days")
        if spec.kind != "run" and node.window is None:
            raise _problem(f"{name} is a library measure and needs a window", node.location, found=name,
                           expected=f"{name} over WINDOW, where WINDOW is {_MEASURE_WINDOW_HELP}",
                           example=f"{name} over academic year")
        if isinstance(node.window, EventWindow):
            raise _problem("measures cannot use this window", node.window_location, found=str(node.window),
                           expected=_MEASURE_WINDOW_HELP, example=f"{name} over last 12 school weeks")
        self.window(node.window, node.window_location)
        return node, Type("number", spec.unit)

    def not_a_library_measure(self, node: LibraryMeasure) -> NoReturn:
        scope, name = self.scope, node.name
        if name in scope.parameters or name in scope.measures or name in scope.flags or name in scope.facts:
            raise _problem(f"'over' applies only to library measures; {name} is not one", node.location,
                           found=f"{name} over {node.window}", expected=f"{name} on its own (a named measure has its own window)")
        close = difflib.get_close_matches(name, [n for n in MEASURES if n != "code_sessions"], n=3)
        hint = f"; did you mean {_join(close)}?" if close else ""
        raise _problem(f"unknown library measure '{name}'{hint}", node.location, found=name,
                       expected=_join(sorted(n for n in MEASURES if n != "code_sessions")))

    def window(self, window: Window | EventWindow | None, where: Location) -> None:
        """Check the event type of a ``since latest EVENT`` window."""
        if isinstance(window, Window) and window.kind == "since_event":
            self.event_type(window.event, where)

    def event_type(self, name: str, where: Location) -> Mapping[str, object]:
        """The fields of a known event type; unknown types raise with close matches."""
        fields = self.scope.event_fields.get(name)
        if fields is None:
            close = difflib.get_close_matches(name, sorted(self.scope.event_fields), n=3)
            hint = f"; did you mean {_join(close)}?" if close else ""
            raise _problem(f"unknown event type '{name}'{hint}", where, found=name,
                           expected="an event type: " + ", ".join(sorted(self.scope.event_fields)))
        return fields

    def field(self, event: str, name: str, where: Location) -> Type:
        """The type of field ``name`` (located at ``where``) of a known event type; ``date`` always exists."""
        fields = self.scope.event_fields[event]
        if name == "date":
            return _DATE
        if name not in fields:
            known = ", ".join(["date", *sorted(fields)])
            raise _problem(f"{event} events have no field '{name}'", where, found=name, expected=known)
        return _field_type(fields[name])

    def visit_EventAny(self, node: _EventSet) -> tuple[Node, Type]:
        fields = self.event_type(node.event, node.event_location)
        if node.where is not None:
            self.event_filter(node.event, fields, node.where)
        if node.per:
            self.field(node.event, node.per, node.per_location)
        self.window(node.window, node.window_location)
        return node, _BOOL if isinstance(node, EventAny) else Type("number", "count")

    visit_EventCount = visit_EventAny

    def event_filter(self, event: str, fields: Mapping[str, object], where: EventFilter) -> None:
        if where.field not in fields and where.field != "date":
            raise _problem(f"{event} events have no field '{where.field}'", where.location, found=where.field,
                           expected=_join(["date", *sorted(fields)]))
        wanted = _DATE if where.field == "date" else _field_type(fields[where.field])
        if where.op not in ("==", "!=") and wanted.kind != "date":
            raise _problem(f"{event}.{where.field} is {wanted}: only a date field is compared with {where.op}",
                           where.location, found=where.op, expected="'==' or '!='")
        self.same_type(wanted, where.value, f"{event}.{where.field}")

    def same_type(self, wanted: Type, literal: Literal, what: str) -> None:
        """Check that ``literal`` is a possible value of ``what`` (of type ``wanted``)."""
        found = _literal_type(literal)
        if found.kind != wanted.kind:
            raise _problem(f"{what} is {wanted}, not {found}", literal.location, found=str(literal),
                           expected=str(wanted))
        if wanted.values and literal.value not in wanted.values:
            raise _problem(f"{literal} is not a possible value of {what}", literal.location, found=str(literal),
                           expected=_join([_quote(v) for v in wanted.values]))

    def visit_EventLatest(self, node: EventLatest) -> tuple[Node, Type]:
        self.event_type(node.event, node.event_location)
        return node, self.field(node.event, node.field, node.field_location)

    def visit_TimeSince(self, node: TimeSince) -> tuple[Node, Type]:
        self.event_type(node.event, node.event_location)
        return node, _DURATION

    def visit_SchoolDaysSince(self, node: SchoolDaysSince) -> tuple[Node, Type]:
        self.event_type(node.event, node.event_location)
        return node, _SCHOOL_DAYS

    @staticmethod
    def in_school_days(node: Node, kind: Type, other: Type) -> tuple[Node, Type]:
        """``time since latest EVENT`` compared with school days counts school days, not calendar time."""
        if isinstance(node, TimeSince) and other == _SCHOOL_DAYS:
            return SchoolDaysSince(node.location, node.event, node.event_location), _SCHOOL_DAYS
        return node, kind

    def visit_Compare(self, node: Compare) -> tuple[Node, Type]:
        (left, ltype), (right, rtype) = self.visit(node.left), self.visit(node.right)
        (left, ltype), (right, rtype) = (self.in_school_days(left, ltype, rtype),
                                         self.in_school_days(right, rtype, ltype))
        if not _comparable(ltype, rtype, node.op):
            ordering_only = ltype.kind == rtype.kind and ltype.kind in ("text", "bool")
            message = (f"cannot order {ltype} with {node.op}; use == or !=" if ordering_only
                       else f"cannot compare {ltype} with {rtype}")
            expected, example = _mismatch_hint(ltype, rtype)
            raise _problem(message, node.location, found=f"{left} ({ltype}) {node.op} {right} ({rtype})",
                           expected=expected, example=example)
        for kind, other in ((ltype, right), (rtype, left)):
            if kind.values and isinstance(other, Literal):
                self.same_type(kind, other, str(left if other is right else right))
        return attrs.evolve(node, left=left, right=right), _BOOL

    def visit_InCheck(self, node: InCheck) -> tuple[Node, Type]:
        item, kind = self.visit(node.item)
        if kind.kind != "text" and kind.unit != "setting":
            raise _problem(f"'in' needs text on its left, not {kind}", node.location, found=str(item),
                           expected="text, such as latest review_held.outcome")
        for option in node.options:
            self.same_type(kind if kind.kind == "text" else _TEXT, option, str(item))
        return attrs.evolve(node, item=item), _BOOL

    def logic(self, word: str, items: tuple[Node, ...]) -> tuple[Node, ...]:
        """Resolve the operands of and/or/not; each must be yes/no."""
        resolved = []
        for item in items:
            node, kind = self.visit(item)
            if kind.kind != "bool":
                raise _problem(f"'{word}' needs yes/no values, but {node} is {kind}", node.location,
                               found=f"{node} ({kind})", expected="a comparison, a flag, a fact or another yes/no value",
                               example=f"{node} >= 10" if kind.kind == "number" else "")
            resolved.append(node)
        return tuple(resolved)

    def visit_And(self, node: And) -> tuple[Node, Type]:
        return attrs.evolve(node, items=self.logic("and", node.items)), _BOOL

    def visit_Or(self, node: Or) -> tuple[Node, Type]:
        return attrs.evolve(node, items=self.logic("or", node.items)), _BOOL

    def visit_Not(self, node: Not) -> tuple[Node, Type]:
        return attrs.evolve(node, item=self.logic("not", (node.item,))[0]), _BOOL

    def visit_Arith(self, node: Arith) -> tuple[Node, Type]:
        (left, ltype), (right, rtype) = self.visit(node.left), self.visit(node.right)
        if ltype == _DATE and rtype == _SCHOOL_DAYS:
            return self.school_days_after(node, left, right), _DATE
        if ltype != _DATE or not _as_duration(rtype):
            raise _problem(f"cannot calculate {ltype} {node.op} {rtype}", node.location,
                           found=f"{left} {node.op} {right}", expected="a date plus or minus a duration",
                           example="latest school_attendance_meeting.date + 6 weeks (dates are written YYYY-MM-DD)")
        return attrs.evolve(node, left=left, right=right), _DATE

    def school_days_after(self, node: Arith, left: Node, right: Node) -> Arith:
        """``date + N school days``: only added, and a literal N must be whole."""
        if node.op == "-":
            raise _problem("school days can only be added to a date", node.location, found=f"{left} - {right}",
                           expected="a date plus a number of school days, or time since latest EVENT compared "
                                    "with school days", example="time since latest leave_request > 10 school days")
        if isinstance(right, Literal) and isinstance(right.value, Fraction) and right.value.denominator != 1:
            raise _problem("a number of school days must be whole", right.location, found=str(right),
                           expected="a whole number of school days", example="latest exclusion.date + 5 school days")
        return attrs.evolve(node, left=left, right=right, school_days=True)


def resolve(node: Node, scope: Scope) -> tuple[Node, Type]:
    """Type-check ``node`` against ``scope``; return it with every name's kind filled in, and its type.

    Bare library measure names (``unexplained_run``) become ``LibraryMeasure`` nodes.
    Raises ConditionError located at the offending token.
    """
    return _Checker(scope).visit(node)


def check(node: Node, scope: Scope) -> Type:
    """The type of ``node`` in ``scope``; raises a located ConditionError when it is ill typed."""
    return resolve(node, scope)[1]


@attrs.frozen
class Condition:
    """A parsed, type-checked condition: its text, resolved tree, type and location."""

    text: str
    node: Node
    type: Type
    location: Location

    def evaluate(self, ctx: "Context") -> "Outcome":
        """Evaluate against ``ctx`` (see ``evaluate``)."""
        return evaluate(self.node, ctx)


def compile_condition(text: str, origin: Location, scope: Scope,
                      column_map: Callable[[int], Location] | None = None) -> Condition:
    """Parse and check a ``when``/``unless`` condition, which must be yes/no."""
    node, kind = resolve(parse(text, origin, column_map), scope)
    if kind.kind != "bool":
        raise _problem(f"a condition must be yes/no, but {node} is {kind}", node.location, found=f"{node} ({kind})",
                       expected="a comparison, a flag, a fact or another yes/no value",
                       example=f"{node} >= 10" if kind.kind == "number" else "")
    return Condition(text, node, kind, _locator(text, origin, column_map)(0))


# --- names --------------------------------------------------------------------------


def _walk(node: Node) -> Iterator[Node]:
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
    used: dict[str, set[str]] = {k: set() for k in
                                 ("parameter", "measure", "library", "flag", "fact", "setting", "event", "unresolved")}
    for current in _walk(node):
        if isinstance(current, NameRef):
            used[current.kind or "unresolved"].add(current.name)
        elif isinstance(current, LibraryMeasure):
            used["library"].add(current.name)
        if isinstance(current, (_EventSet, EventLatest, TimeSince, SchoolDaysSince)):
            used["event"].add(current.event)
        window = getattr(current, "window", None)
        if isinstance(window, Window) and window.kind == "since_event":
            used["event"].add(window.event)
    return used


def negated_facts(node: Node) -> set[str]:
    """Facts whose being false can make the condition true: under a ``not``, or compared with ==, != or in."""
    found: set[str] = set()
    stack: list[tuple[Node, bool]] = [(node, False)]
    while stack:
        current, negated = stack.pop()
        if isinstance(current, NameRef) and current.kind == "fact" and negated:
            found.add(current.name)
        inner = negated or isinstance(current, (Not, Compare, InCheck))
        stack.extend((child, inner) for child in current.children())
    return found


# --- evaluation ---------------------------------------------------------------------


def _add_days(day: dt.date, days: int) -> dt.date:
    """``day`` plus ``days`` days, clamped to the representable dates."""
    try:
        return day + dt.timedelta(days=days)
    except OverflowError:
        return dt.date.max if days > 0 else dt.date.min


def _add_years(day: dt.date, years: int) -> dt.date:
    """The same day ``years`` calendar years later (29 Feb -> 28 Feb), clamped."""
    year = day.year + years
    if not dt.MINYEAR <= year <= dt.MAXYEAR:
        return dt.date.max if years > 0 else dt.date.min
    return day.replace(year=year, day=28) if (day.month, day.day) == (2, 29) else day.replace(year=year)


@attrs.frozen
class Duration:
    """Calendar time: ``amount`` days, weeks or years; ``since`` is the start of a ``time since`` span.

    Years are calendar years, so a duration's length in days depends on the date it is
    added to (``days_from``).
    """

    amount: Fraction
    unit: str = "days"  # days | weeks | years
    since: dt.date | None = attrs.field(default=None, eq=False)

    def __str__(self) -> str:
        return f"{_decimal_text(Fraction(self.amount))} {_UNIT_TEXT[self.unit][self.amount != 1]}"

    def added_to(self, day: dt.date, sign: int = 1) -> dt.date:
        """``day`` plus (``sign`` 1) or minus (-1) this duration; fractional days round down."""
        whole = int(self.amount // 1)
        if self.unit == "years":
            return _add_days(_add_years(day, sign * whole), sign * int((self.amount - whole) * 365 // 1))
        days = self.amount * (7 if self.unit == "weeks" else 1)
        return _add_days(day, int(sign * days // 1))

    def days_from(self, anchor: dt.date) -> Fraction:
        """The length in days of this duration when it starts on ``anchor``."""
        if self.unit == "years":
            return Fraction((self.added_to(anchor) - anchor).days)
        return Fraction(self.amount) * (7 if self.unit == "weeks" else 1)


@attrs.frozen
class Comparison:
    """One step of an evaluation's trace: a comparison, or a yes/no value (``op`` "is").

    ``left_text``/``right_text`` say where each side came from in plain English, e.g.
    ``pn_warning_threshold = 10 sessions`` or a measure's ``describe()``.
    """

    location: Location
    text: str
    op: str
    left: object
    right: object
    left_text: str
    right_text: str
    holds: bool


@attrs.frozen
class Outcome:
    """The result of evaluating a condition with its trace.

    ``comparisons`` lists every comparison (all operands are evaluated), ``measures``
    every measure consulted and ``undefined`` why a value was missing.
    """

    value: object
    comparisons: tuple[Comparison, ...] = ()
    measures: tuple[Measure, ...] = ()
    undefined: tuple[str, ...] = ()


class Context(Protocol):
    """What evaluation needs from the engine, for one pupil as of one date."""

    as_of: dt.date
    pupil: Pupil  # its register's days with marks are the school days (``Register.days``)

    def parameter(self, name: str) -> object:
        """Fraction for numbers (percent as a fraction of 1), str, bool or Duration."""

    def named_measure(self, name: str) -> Measure:
        """A policy-named measure (its value may be None: undefined)."""

    def library_measure(self, name: str, window: Window | None) -> Measure:
        """A library measure over ``window`` (None for unexplained_run)."""

    def flag(self, name: str) -> bool:
        """Whether the pupil carries ``name``."""

    def fact(self, name: str) -> bool:
        """Whether the derived fact ``name`` holds."""

    def setting(self, name: str) -> object:
        """A setting of the school record (None when not recorded)."""

    def events(self, type_: str) -> Sequence[Event]:
        """The pupil's events of one type up to the as-of date, oldest first."""

    def window_bounds(self, window: Window) -> tuple[dt.date, dt.date] | None:
        """First and last day of ``window`` for this pupil (None when empty)."""


def _number(value: object) -> object:
    """Ints and floats as exact Fractions; other values unchanged."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    return Fraction(value) if isinstance(value, int) else Fraction(repr(value))


def parameter_value(value: object, unit: str) -> object:
    """A policy parameter's value as conditions use it, given its unit.

    Percentages are written as numbers of percent (``10`` or ``"10%"``) and become the
    fraction of one (``Fraction(1, 10)``); ``weeks``/``years`` become a ``Duration``;
    other numbers become exact Fractions; text, yes/no and None pass through.
    """
    if unit == "date":  # written YYYY-MM-DD (checked when the policy is read)
        return dt.date.fromisoformat(value) if isinstance(value, str) else value
    if isinstance(value, str) and unit not in ("text", "str"):
        text = value.strip().removesuffix("%").strip()
        value = Fraction(text) if _NUMBER_RE.fullmatch(text) else value
    value = _number(value)
    if not isinstance(value, Fraction):
        return value
    if unit == "percent":
        return value / 100
    return Duration(value, unit) if unit in _DURATION_UNITS else value


def _show(value: object, unit: str = "") -> str:
    """A value as people read it: ``10 sessions``, ``90.0%``, ``yes``, ``26 Jan 2024``."""
    if value is None:
        return "not recorded"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.date):
        return _show_date(value)
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, Fraction):
        if unit in ("percent", "pounds"):
            return format_value(value, "percent") if unit == "percent" else "£" + _decimal_text(value)
        words = _UNIT_TEXT.get(unit)
        return _decimal_text(value) + (f" {words[value != 1]}" if words and unit != "count" else "")
    return str(value)


def _compare(op: str, left: object, right: object) -> bool:
    """``left OP right``; a missing side, or values of different kinds, never satisfy an ordering."""
    if left is None or right is None:
        return False
    if isinstance(left, bool) != isinstance(right, bool):
        return op == "!="
    try:
        return bool(_OPERATORS[op](left, right))
    except TypeError:
        return op == "!="


def evaluate(node: Node, ctx: Context, trace: bool = True) -> Outcome:
    """Evaluate a resolved tree (see ``resolve`` / ``compile_condition``), with a full trace
    unless ``trace`` is False (then only ``value`` is filled in).

    The tree is compiled once into closures (``evaluator.py``). Traced, every operand is
    evaluated so the trace (``Outcome``) lists every comparison; a yes/no name or event
    query used directly as a condition or an operand of and/or/not is recorded as an "is"
    step, so explanations can say "child_protection_plan: yes". Untraced, ``and``/``or``
    stop at the first operand that decides; the logic is the same.
    """
    from .evaluator import evaluate as run

    return run(node, ctx, trace)


def _is_yes_no(node: Node) -> bool:
    """True for resolved names and queries that are yes/no by their kind."""
    if isinstance(node, NameRef):
        return node.kind in ("flag", "fact", "setting") or node.unit == "bool"
    return isinstance(node, EventAny) or (isinstance(node, Literal) and isinstance(node.value, bool))
