"""The bounds the readers put on their input before reading it: text and JSON limits.

A history file is a stranger's file: it must be UTF-8 text (``not_utf8`` and
``utf8_problem`` locate the first byte that is not, by line and byte offset), a JSON
document must not nest 200 levels deep (``TOO_DEEP``, checked before decoding, as Python
3.12+ decodes far deeper before failing; ``deepest_bracket`` locates it), and a JSON
number is bounded while it is decoded (``JsonNumbers``: at most ``MAX_NUMBER_CHARS``
characters, finite, never NaN), each refused one reported at its JSON pointer by
``report_refused`` so the rest of the document is still read.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from ..exceptions import Location, Problem
from .reading import Reader, pointer_token

__all__ = [
    "MAX_NUMBER_CHARS",
    "TOO_DEEP",
    "JsonNumbers",
    "deepest_bracket",
    "not_utf8",
    "report_refused",
    "utf8_problem",
]

MAX_NUMBER_CHARS = 40  # a JSON number literal longer than this is refused before it is converted


class _Refused:
    """A JSON number the decoder refused (too long, not finite, NaN): kept in place so
    that it can be located by its pointer once the document is parsed."""

    __slots__ = ("text", "why")

    def __init__(self, text: str, why: str) -> None:
        self.text, self.why = text, why


class JsonNumbers:
    """``json.loads`` hooks that bound numbers while decoding: a literal of more than
    MAX_NUMBER_CHARS characters is never converted (a 4,301-digit integer would raise),
    a float must be finite (``1e999`` decodes to infinity) and NaN/Infinity are refused."""

    def __init__(self) -> None:
        self.refused: list[_Refused] = []

    def _refuse(self, text: str, why: str) -> _Refused:
        refused = _Refused(text, why)
        self.refused.append(refused)
        return refused

    def integer(self, text: str) -> int | _Refused:
        """An integer literal, converted only when short enough."""
        if len(text) > MAX_NUMBER_CHARS:
            return self._refuse(text, f"a number of more than {MAX_NUMBER_CHARS} characters")
        return int(text)

    def real(self, text: str) -> float | _Refused:
        """A literal with a fraction or exponent, kept only when finite."""
        if len(text) > MAX_NUMBER_CHARS:
            return self._refuse(text, f"a number of more than {MAX_NUMBER_CHARS} characters")
        value = float(text)
        return (
            value if math.isfinite(value) else self._refuse(text, "a number too large to represent")
        )

    def constant(self, text: str) -> _Refused:
        """NaN, Infinity and -Infinity: JavaScript, not JSON."""
        return self._refuse(text, f"{text} is not a JSON number")


# 200 brackets opened in a row (keys between them allowed): no history nests past 5 levels
TOO_DEEP = re.compile(r'(?:[\[{]\s*(?:"(?:[^"\\]|\\.)*"\s*:\s*)?){200}')


def deepest_bracket(name: str, text: str, limit: int = 200) -> Location:
    """Where ``text`` first opens its ``limit``-th nested bracket (only run on a failure)."""
    depth, line, column, quoted, escaped = 0, 1, 0, False, False
    for char in text:
        column += 1
        if quoted:
            escaped, quoted = (not escaped and char == "\\"), quoted and (escaped or char != '"')
        elif char == '"':
            quoted = True
        elif char in "[{":
            depth += 1
            if depth >= limit:
                return Location(name, line, column=column)
        elif char in "]}":
            depth -= 1
        if char == "\n":
            line, column = line + 1, 0
    return Location(name)


def report_refused(reader: Reader, doc: Any, refused: list[_Refused], name: str) -> None:
    """Report each refused number at its JSON pointer, and make it null so that the rest
    of the document is still read (a walk made only when there are some)."""
    wanted = {id(r) for r in refused}
    stack: list[tuple[Any, str]] = [(doc, "")]
    while stack:  # iterative: the document may be ~1,000 levels deep
        value, pointer = stack.pop()
        keys = (
            value.keys()
            if isinstance(value, dict)
            else range(len(value))
            if isinstance(value, list)
            else ()
        )
        for key in reversed(list(keys)):
            item, at = value[key], f"{pointer}/{pointer_token(str(key))}"
            if id(item) in wanted:
                reader.problem(
                    f"bad number: {item.why}",
                    Location(name, pointer=at),
                    found=item.text[:40],
                    expected=f"a finite number of at most {MAX_NUMBER_CHARS} characters",
                    example="12",
                )
                value[key] = None
            else:
                stack.append((item, at))
    reader.problems[-len(refused) :] = sorted(
        reader.problems[-len(refused) :], key=lambda p: _pointer_key(p.location)
    )


def _pointer_key(location: Location) -> tuple:
    """A JSON pointer in document order: ``/pupils/2`` before ``/pupils/10``."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in location.pointer.split("/")
    )


def not_utf8(name: str, data: bytes, offset: int, lines: int = 0, before: int = 0) -> Problem:
    """The located error for the byte at ``offset`` of ``data`` that is not UTF-8;
    ``lines`` and ``before`` count the lines and bytes of the file before ``data``."""
    line = lines + data.count(b"\n", 0, offset) + 1
    start = data.rfind(b"\n", 0, offset)
    # a line begun in an earlier chunk: no column
    column = offset - start if start >= 0 or not before else 0
    return Problem(
        "file is not UTF-8 text",
        Location(name, line, column=column),
        found=f"byte 0x{data[offset]:02x} at byte offset {before + offset}",
        expected='UTF-8 text (in Excel: Save As "CSV UTF-8")',
    )


def utf8_problem(path: Path) -> Problem:
    """The located error for the first byte of ``path`` that is not UTF-8 (read in
    chunks: only run once decoding the file failed)."""
    lines = done = 0
    tail = b""
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            data = tail + chunk
            try:
                data.decode("utf-8")
                good = len(data)
            except UnicodeDecodeError as err:
                if err.reason != "unexpected end of data":  # not a sequence cut by the chunk's end
                    return not_utf8(str(path), data, err.start, lines, done)
                good = err.start
            lines += data.count(b"\n", 0, good)
            done += good
            tail = data[good:]
    return not_utf8(str(path), tail, 0, lines, done)  # a sequence cut short by the end of the file
