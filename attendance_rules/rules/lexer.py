"""The lexer of the condition language: condition text to tokens, each with its location.

A condition (``when:`` / ``unless:``) is split by hand, never by Python's tokenizer or
``eval``. Every token carries the ``Location`` of its first character in the policy file
(``locator`` maps offsets in the text to it), and every lexical error is a located
``ConditionError`` (``error_at``), as are the parser's and the type checker's.
"""

from __future__ import annotations

import datetime as dt
import re
from fractions import Fraction
from typing import Any, Callable, Literal, get_args

import attrs

from ..exceptions import ConditionError, Location, Problem

__all__ = [
    "COMPARE_OPS",
    "KEYWORDS",
    "NUMBER_RE",
    "ComparisonOp",
    "Token",
    "comparison_op",
    "error_at",
    "locator",
    "tokenize",
]


# words that are never names (a field or setting name after "." may still be one)
KEYWORDS = frozenset(
    (
        "and or not in today any count latest time since over within with true false school last"
    ).split()
)
# the comparison operators, as written (the evaluator's ``values.OPERATORS`` maps each to its test)
ComparisonOp = Literal[">=", "<=", "==", "!=", ">", "<"]
COMPARE_OPS: tuple[ComparisonOp, ...] = get_args(ComparisonOp)

_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}[A-Za-z0-9_.]*")
NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")  # a whole or decimal number (also in parameter values)
_WORD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TAIL_RE = re.compile(r"[A-Za-z0-9_.]*")


def error_at(
    message: str, location: Location, found: str = "", expected: str = "", example: str = ""
) -> ConditionError:
    """A ConditionError carrying one located problem."""
    return ConditionError(
        [Problem(message, location, found=found, expected=expected, example=example)]
    )


_TokenKind = Literal["name", "number", "string", "date", "op", "punct", "end"]


@attrs.frozen(kw_only=True)
class Token:
    """One token: ``kind`` is name, number, string, date, op, punct or end."""

    kind: _TokenKind
    text: str
    location: Location
    value: Any = None

    def describe(self) -> str:
        """How an error message names this token."""
        if self.kind == "name":
            return f"keyword '{self.text}'" if self.text in KEYWORDS else f"name '{self.text}'"
        if self.kind in ("op", "punct"):
            return f"'{self.text}'"
        return {"number": "number ", "string": "text ", "date": "date "}.get(
            self.kind, ""
        ) + self.text


def locator(
    text: str, origin: Location, column_map: Callable[[int], Location] | None
) -> Callable[[int], Location]:
    """Map a character offset of ``text`` to its Location (one past the end included)."""
    if column_map is None:
        return lambda offset: origin.shifted(column=offset)

    def locate(offset: int) -> Location:
        if offset < len(text):
            return column_map(offset)
        return column_map(len(text) - 1).shifted(column=offset - len(text) + 1) if text else origin

    return locate


def tokenize(text: str, locate: Callable[[int], Location]) -> list[Token]:
    """Split ``text`` into tokens, ending with an ``end`` token; errors are located."""
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        token, i = _next_token(text, i, locate(i))
        tokens.append(token)
    tokens.append(Token(kind="end", text="end of condition", location=locate(len(text))))
    return tokens


def _next_token(text: str, i: int, where: Location) -> tuple[Token, int]:
    """The token starting at ``text[i]`` (not a space) and the offset after it."""
    char = text[i]
    if char.isdigit() and char.isascii():
        return _number_token(text, i, where)
    if char.isascii() and (char.isalpha() or char == "_"):
        word = _WORD_RE.match(text, i).group()  # type: ignore[union-attr]  # matches: text[i] starts a word
        if word != word.lower():
            raise error_at(
                "names and keywords are written in lower case",
                where,
                found=repr(word),
                expected=repr(word.lower()),
            )
        return Token(kind="name", text=word, location=where), i + len(word)
    if char in "'\"":
        end = text.find(char, i + 1)
        if end < 0:
            raise error_at(
                "unterminated text: the quote is never closed",
                where,
                found=repr(text[i : i + 30]),
                expected=f"a closing {char}",
                example='"no_improvement"',
            )
        return Token(
            kind="string", text=text[i : end + 1], location=where, value=text[i + 1 : end]
        ), end + 1
    return _symbol_token(text, i, where)


def _number_token(text: str, i: int, where: Location) -> tuple[Token, int]:
    """A date (YYYY-MM-DD) or a number (int or decimal) starting at ``text[i]``."""
    date_match = _DATE_RE.match(text, i)
    if date_match:
        written = date_match.group()
        try:
            return Token(
                kind="date", text=written, location=where, value=dt.date.fromisoformat(written)
            ), date_match.end()
        except ValueError:
            raise error_at(
                "bad date",
                where,
                found=repr(written),
                expected="a real date written YYYY-MM-DD",
                example="2024-08-19",
            ) from None
    number = NUMBER_RE.match(text, i).group()  # type: ignore[union-attr]  # matches: text[i] is a digit
    tail = _TAIL_RE.match(text, i + len(number)).group()  # type: ignore[union-attr]  # matches, maybe empty
    if tail:
        raise error_at(
            "bad number",
            where,
            found=repr(number + tail),
            expected="a whole or decimal number, then a space before any unit",
            example="10 sessions",
        )
    return Token(kind="number", text=number, location=where, value=Fraction(number)), i + len(
        number
    )


def comparison_op(text: str) -> ComparisonOp:
    """``text`` (an operator token's) as a ``ComparisonOp``; ValueError for any other text."""
    for op in COMPARE_OPS:
        if text == op:
            return op
    raise ValueError(f"{text!r} is not a comparison operator")


def _symbol_token(text: str, i: int, where: Location) -> tuple[Token, int]:
    """An operator or punctuation mark starting at ``text[i]``."""
    pair = text[i : i + 2]
    if pair in COMPARE_OPS:
        return Token(kind="op", text=pair, location=where), i + 2
    char = text[i]
    if char in "<>":
        return Token(kind="op", text=char, location=where), i + 1
    if char in "(),.+-%£":
        return Token(kind="punct", text=char, location=where), i + 1
    if char in "=!":
        raise error_at(
            f"'{char}' is not an operator", where, found=repr(char), expected="'==' or '!='"
        )
    raise error_at(
        "unexpected character",
        where,
        found=repr(char),
        expected="names, numbers, quoted text, dates, comparison operators or ( ) , . + - % £",
    )
