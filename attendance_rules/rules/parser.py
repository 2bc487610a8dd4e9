"""The parser of the condition language: tokens to a syntax tree, by recursive descent.

The grammar (``docs/policy-language.md``, and ``conditions.py`` for the whole language):

    expr  := or            or  := and ('or' and)*       and := not ('and' not)*
    not   := 'not' not | cmp
    cmp   := sum [ OP sum | 'in' '(' literal (',' literal)* ')' ]
    sum   := atom (('+' | '-') atom)*
    atom  := literal | 'today' | '(' expr ')' | event_query | name_ref

A syntax error is a ``ConditionError`` located at the offending token, listing everything
that was acceptable there. Names stay unresolved until the type checker (``typecheck.py``).
"""

from __future__ import annotations

from typing import Callable, Mapping, NoReturn

from ..exceptions import Location
from ..registers.measures import Window
from ..text import UNIT_TEXT
from .lexer import COMPARE_OPS, KEYWORDS, Token, comparison_op, error_at, locator, tokenize
from .nodes import (
    And,
    Arith,
    Compare,
    EventAny,
    EventCount,
    EventFilter,
    EventLatest,
    EventWindow,
    InCheck,
    LibraryMeasure,
    Literal,
    NameRef,
    Node,
    Not,
    Or,
    TimeSince,
    Today,
)
from .values import VALUE_UNITS, ValueUnit, join_options

__all__ = ["MAX_DEPTH", "MAX_LENGTH", "MAX_WINDOW", "parse"]


# The limits below bound the work a hostile or generated policy can ask of the parser and of
# Python's recursion (each level of nesting is a few Python frames here, then again in the type
# checker and the compiled closures), well beyond any condition a policy needs.
MAX_LENGTH = 2000  # characters in one condition
MAX_DEPTH = 50  # nested parentheses, 'not' and '+'/'-' terms together
MAX_WINDOW = 10000  # largest N in 'last N ...'

# The words a number's unit is written with (text.UNIT_TEXT, "school days" two tokens) -> the
# unit; "pounds" too, though a literal in pounds is written back as £10.
_UNIT_WORDS: Mapping[str, ValueUnit] = {
    **{word: unit for unit in VALUE_UNITS for word in UNIT_TEXT.get(unit, ())},
    "pounds": "pounds",
}
_WINDOW_HELP = (
    "academic year, this term, last N school weeks, last N calendar weeks "
    "(or weeks, days, years) or since latest EVENT"
)


class _Parser:
    """Recursive descent over the token list; remembers what it tried at the current token."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0
        self.tried_at = -1
        self.tried: list[str] = []

    @property
    def tok(self) -> Token:
        """The current token."""
        return self.tokens[self.pos]

    def peek(self) -> Token:
        """The token after the current one."""
        return self.tokens[min(self.pos + 1, len(self.tokens) - 1)]

    def at(self, *words: str) -> bool:
        """True when the current token is one of ``words`` (keywords, operators, punctuation)."""
        return self.tok.kind in ("name", "op", "punct") and self.tok.text in words

    def accept(self, *words: str, note: str = "") -> Token | None:
        """Consume and return the current token if it is one of ``words``; else note ``note`` as
        expected here."""
        if self.at(*words):
            self.pos += 1
            return self.tokens[self.pos - 1]
        if note:
            # What was tried is remembered per position: an error then lists everything acceptable
            # at the token that failed (`'and', 'or' or a comparison operator`), not only the last
            # alternative.
            if self.tried_at != self.pos:
                self.tried_at, self.tried = self.pos, []
            if note not in self.tried:
                self.tried.append(note)
        return None

    def expect(self, words: tuple[str, ...], what: str) -> Token:
        """Consume one of ``words`` or fail saying ``what`` was expected."""
        return self.accept(*words) or self.fail(what)

    def fail(self, what: str) -> NoReturn:
        """Raise a ConditionError at the current token listing everything acceptable here."""
        options = (self.tried if self.tried_at == self.pos else []) + [what]
        found = self.tok.describe()
        raise error_at(
            f"unexpected {found}", self.tok.location, found=found, expected=join_options(options)
        )

    def enter(self, token: Token) -> None:
        """One level deeper; refuse conditions nested more than MAX_DEPTH levels."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise error_at(
                "condition nested too deeply",
                token.location,
                found=token.describe(),
                expected=f"at most {MAX_DEPTH} levels of parentheses, 'not' and '+'/'-'",
            )

    def name(self, what: str, keywords: bool = False) -> Token:
        """Consume a name (not a keyword unless ``keywords``) or fail saying ``what`` was
        expected."""
        if self.tok.kind == "name" and (keywords or self.tok.text not in KEYWORDS):
            self.pos += 1
            return self.tokens[self.pos - 1]
        return self.fail(what)

    def condition(self) -> Node:
        """The whole token list as one expression."""
        if self.tok.kind == "end":
            raise error_at(
                "empty condition",
                self.tok.location,
                found="nothing",
                expected="a condition",
                example="unauthorised_12w >= pn_warning_threshold",
            )
        node = self.parse_or()
        # a fresh read: mypy would keep ``self.tok.kind`` narrowed to "not end" from the test above
        if self.tokens[self.pos].kind != "end":
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
        # One flat node for `a and b and c`, not a nested pair per `and`: explanations and why-not
        # list the conjuncts side by side, and the depth limit is not spent on a long list.
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
        token = self.accept(*COMPARE_OPS, note="a comparison operator")
        if token is not None:
            return Compare(
                location=token.location,
                op=comparison_op(token.text),
                left=left,
                right=self.parse_sum(),
            )
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
            node = Arith(
                location=token.location,
                op="+" if token.text == "+" else "-",
                left=node,
                right=self.parse_atom(),
            )
        # Reset, not decremented per operator: a long flat sum (`a + b + c …`) nests one level
        # deeper per term in the tree, but once parsed it leaves the depth as it found it.
        self.depth = depth
        return node

    def parse_atom(self) -> Node:
        """atom := literal | 'today' | '(' expr ')' | event_query | name_ref"""
        token = self.tok
        if token.kind in ("number", "string", "date") or self.at("£", "true", "false"):
            return self.literal()
        if self.at("("):
            return self.parenthesised()
        handler = {
            "today": self.today,
            "any": self.event_set,
            "count": self.event_set,
            "latest": self.latest,
            "time": self.time_since,
            "school": self.setting,
        }.get(token.text if token.kind == "name" else "")
        if handler is not None:
            return handler()
        if token.kind == "name" and token.text not in KEYWORDS:
            return self.name_ref()
        return self.fail(
            "a value (a number, quoted text, a date, a name, today, '(' "
            "or any/count/latest/time since)"
        )

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
            # a name here is true or false
            value = token.text == "true" if token.kind == "name" else token.value
            return Literal(token.location, value)
        if self.accept("£"):
            number = self.tok if self.tok.kind == "number" else self.fail("an amount after '£'")
            self.pos += 1
            return Literal(token.location, number.value, "pounds")
        if token.kind != "number":
            return self.fail("a literal: quoted text, a number, true, false or a date")
        self.pos += 1
        if self.accept("%"):
            # A percentage is kept as a fraction of one (`10%` is 1/10), the form rates take
            # everywhere.
            return Literal(token.location, token.value / 100, "percent")
        return Literal(token.location, token.value, self.unit())

    def unit(self) -> ValueUnit:
        """The unit after a number ("" when none)."""
        if self.tok.kind == "name" and self.tok.text in _UNIT_WORDS:
            self.pos += 1
            return _UNIT_WORDS[self.tokens[self.pos - 1].text]
        school = f"school {self.peek().text}"
        if self.at("school") and self.peek().kind == "name" and school in _UNIT_WORDS:
            self.pos += 2
            return _UNIT_WORDS[school]
        return ""

    def today(self) -> Node:
        self.pos += 1
        return Today(self.tokens[self.pos - 1].location)

    def setting(self) -> Node:
        keyword = self.tokens[self.pos]
        self.pos += 1
        self.expect((".",), "'.' and a setting name, as in school.traded_ews")
        return NameRef(
            location=keyword.location,
            name=self.name("a school setting name", keywords=True).text,
            kind="setting",
        )

    def name_ref(self) -> Node:
        token = self.name("a name")
        if self.accept("over") is None:
            return NameRef(location=token.location, name=token.text)
        window, where = self.window()
        return LibraryMeasure(
            location=token.location, name=token.text, window=window, window_location=where
        )

    def event_set(self) -> Node:
        keyword = self.tokens[self.pos]
        self.pos += 1
        event = self.name("an event type, such as school_attendance_meeting")
        where = self.event_filter() if self.accept("with", note="'with'") else None
        per = None
        if keyword.text == "count" and self.accept("per", note="'per'"):
            per = self.name("a field name of the event to count per value of", keywords=True)
        window, window_at = (
            self.window() if self.accept("within", note="'within'") else (None, Location())
        )
        cls = EventAny if keyword.text == "any" else EventCount
        return cls(
            location=keyword.location,
            event=event.text,
            where=where,
            window=window,
            event_location=event.location,
            window_location=window_at,
            per=per.text if per else "",
            per_location=per.location if per else Location(),
        )

    def event_filter(self) -> EventFilter:
        field = self.name("a field name of the event", keywords=True)
        op = self.expect(COMPARE_OPS, "'==' or '!=' (or <, <=, >, >= for a date)")
        return EventFilter(
            location=field.location,
            field=field.text,
            op=comparison_op(op.text),
            value=self.literal(),
        )

    def latest(self) -> Node:
        keyword = self.tokens[self.pos]
        self.pos += 1
        event = self.name("an event type, such as review_held")
        self.expect(
            (".",), "'.' and a field, as in latest review_held.outcome or latest review_held.date"
        )
        field = self.name("a field name, or date", keywords=True)
        return EventLatest(
            location=keyword.location,
            event=event.text,
            field=field.text,
            event_location=event.location,
            field_location=field.location,
        )

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
            return Window(kind="academic_year"), start.location
        if self.accept("this"):
            self.expect(("term",), "'term', as in this term")
            return Window(kind="term"), start.location
        if self.accept("since"):
            self.expect(("latest",), "'latest', as in since latest review_held")
            event = self.name("an event type, such as review_held")
            return Window(kind="since_event", event=event.text), event.location
        if self.accept("last"):
            return self.last_window(), start.location
        return self.fail(f"a window: {_WINDOW_HELP}")

    def last_window(self) -> Window | EventWindow:
        """The rest of ``last N UNIT``."""
        token = self.tok
        if (
            token.kind != "number"
            or token.value.denominator != 1
            or not 1 <= token.value <= MAX_WINDOW
        ):
            found = token.describe()
            raise error_at(
                f"bad window size: {found}",
                token.location,
                found=found,
                expected=f"a whole number from 1 to {MAX_WINDOW}",
                example="last 12 school weeks",
            )
        self.pos += 1
        n = int(token.value)
        if self.accept("school", "calendar"):
            kind = self.tokens[self.pos - 1].text
            self.expect(("weeks", "week"), f"'weeks', as in last {n} {kind} weeks")
            return Window(kind="school_weeks" if kind == "school" else "calendar_weeks", n=n)
        unit = self.expect(
            ("weeks", "week", "days", "day", "years", "year"),
            "school weeks, calendar weeks, weeks, days or years",
        ).text
        return (
            Window(kind="calendar_weeks", n=n)
            if unit.startswith("week")
            else EventWindow("days" if unit.startswith("day") else "years", n)
        )


def parse(text: str, origin: Location, column_map: Callable[[int], Location] | None = None) -> Node:
    """Parse a condition into a syntax tree; names stay unresolved (see ``resolve``).

    ``column_map`` maps a 0-based offset in ``text`` to the Location of that character
    in the policy file; without it locations are ``origin`` moved right by the offset.
    Raises ConditionError, located at the offending token, and nothing else.
    """
    if not isinstance(text, str):
        raise error_at(
            "a condition must be text", origin, found=type(text).__name__, expected="text"
        )
    locate = locator(text, origin, column_map)
    if len(text) > MAX_LENGTH:
        raise error_at(
            "condition too long",
            locate(MAX_LENGTH),
            found=f"{len(text)} characters",
            expected=f"at most {MAX_LENGTH} characters; split it using derived facts",
        )
    return _Parser(tokenize(text, locate)).condition()
