"""Safe YAML loading that remembers where every value came from.

PyYAML's safe composer builds the node tree; we construct plain data ourselves so we can
(1) keep the line and column of every key and value, (2) refuse duplicate keys, merge
keys and any non-standard tag, and (3) bound file size, nesting depth and the number of
nodes: while composing (``_BoundedLoader``: a file of 400,000 tiny values is refused at
the 100,001st, before the rest is parsed) and again after alias expansion ("billion
laughs"). Integers longer than MAX_INT_DIGITS digits are refused at their place. Dates
stay ISO strings: the schema and the policy model decide what they mean.
"""

from __future__ import annotations

import hashlib
import math
from bisect import bisect_right
from pathlib import Path
from typing import Any, Callable, Mapping

import attrs
import yaml
from yaml.constructor import SafeConstructor

from ..exceptions import Location, PolicyError, PolicyNotFoundError, Problem

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_INT_DIGITS",
    "MAX_NODES",
    "Document",
    "load_yaml",
    "parse_yaml",
]

MAX_BYTES = 1_000_000
MAX_DEPTH = 50
MAX_NODES = 100_000
# Longer integers are refused where they are written (Python refuses to convert 4,301+
# digits; no policy value needs more than a few).
MAX_INT_DIGITS = 30

Path_ = tuple  # a path into the data: keys and list indices

_TAG = "tag:yaml.org,2002:"
_SCALARS = {f"{_TAG}{t}" for t in ("str", "int", "float", "bool", "null", "timestamp")}
_COLLECTIONS = {f"{_TAG}map", f"{_TAG}seq"}


@attrs.frozen
class _Span:
    start: int
    end: int
    style: str | None


@attrs.frozen(kw_only=True)
class Document:
    """Plain data of one YAML file plus the location of every value and key in it."""

    file: str
    text: str
    data: Any
    spans: Mapping[Path_, _Span] = attrs.field(repr=False)
    key_spans: Mapping[Path_, _Span] = attrs.field(repr=False)
    digest: str = ""
    line_starts: list[int] = attrs.field(repr=False, eq=False, init=False)

    @line_starts.default
    def _line_starts(self) -> list[int]:
        return [0] + [i + 1 for i, c in enumerate(self.text) if c == "\n"]

    def _loc(self, index: int) -> Location:
        starts = self.line_starts
        line = bisect_right(starts, index)
        return Location(self.file, line, column=index - starts[line - 1] + 1)

    def where(self, path: Path_, key: bool = False) -> Location:
        """Location of the value at ``path`` (or of its key), else of its nearest parent."""
        path = tuple(path)
        while True:
            span = (self.key_spans if key else self.spans).get(path) or self.spans.get(path)
            if span is not None:
                return self._loc(span.start)
            if not path:
                return Location(self.file, 1, column=1)
            path = path[:-1]

    def column_map(self, path: Path_) -> Callable[[int], Location]:
        """Map a character offset in the string at ``path`` to its place in the file."""
        span = self.spans.get(tuple(path))
        value = self.get(path)
        if span is None or not isinstance(value, str):
            return lambda offset: self.where(path)
        positions = _align(value, self.text, span)
        return lambda offset: self._loc(positions[min(max(offset, 0), len(positions) - 1)])

    def get(self, path: Path_) -> Any:
        """The value at ``path`` (KeyError/IndexError if absent)."""
        node = self.data
        for step in path:
            node = node[step]
        return node


def _align(value: str, text: str, span: _Span) -> list[int]:
    """For each character of a scalar's value, its index in the source text.

    Folding, quoting and indentation change whitespace but keep the other characters in
    order, so matching them one by one recovers their places.
    """
    positions, src = [], span.start + (1 if span.style in ("'", '"') else 0)
    for char in value:
        if not char.isspace():
            found = text.find(char, src, max(span.end, src + 1))
            src = found if found >= 0 else src
        positions.append(src)
        src += 1 if not char.isspace() else 0
    positions.append(src)
    return positions


class _Builder:
    """Turns a composed node tree into plain data, recording spans and problems."""

    def __init__(self, file: str, text: str) -> None:
        self.file, self.text = file, text
        self.spans: dict[Path_, _Span] = {}
        self.key_spans: dict[Path_, _Span] = {}
        self.problems: list[Problem] = []
        self.nodes = 0
        self.constructor = SafeConstructor()

    def fail(self, message: str, node: yaml.Node, **extra: str) -> None:
        mark = node.start_mark
        self.problems.append(
            Problem(message, Location(self.file, mark.line + 1, column=mark.column + 1), **extra)
        )

    def build(self, node: yaml.Node, path: Path_ = (), depth: int = 0) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _TooBig(f"more than {MAX_NODES} values (deeply repeated aliases?)", node)
        if depth > MAX_DEPTH:
            raise _TooBig(f"nesting deeper than {MAX_DEPTH} levels", node)
        self.spans.setdefault(
            path, _Span(node.start_mark.index, node.end_mark.index, getattr(node, "style", None))
        )
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _COLLECTIONS:
            self.fail(f"tag {node.tag} is not allowed", node, expected="plain YAML values")
            return None
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
        return self.scalar(node)

    def mapping(self, node: yaml.MappingNode, path: Path_, depth: int) -> dict:
        out: dict = {}
        for key_node, value_node in node.value:
            if key_node.tag == f"{_TAG}merge":
                self.fail("merge keys (<<) are not supported; write the values out", key_node)
                continue
            # Keys are names: `on:`, `no:` or `1:` stay text (YAML 1.1 would make them true, false,
            # 1).
            key = self._key(key_node)
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                self.fail("a key must be plain text", key_node, found=repr(key))
                continue
            if key in out:
                self.fail(f"duplicate key {key!r}", key_node, expected="each key once in a mapping")
                continue
            self.key_spans[path + (key,)] = _Span(
                key_node.start_mark.index, key_node.end_mark.index, None
            )
            out[key] = self.build(value_node, path + (key,), depth + 1)
        return out

    def _key(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            return None
        value = self.scalar(node)
        return node.value if value is not None and not isinstance(value, str) else value

    def scalar(self, node: yaml.Node) -> Any:
        if node.tag not in _SCALARS:
            self.fail(f"tag {node.tag} is not allowed", node, expected="plain YAML values")
            return None
        if node.tag.endswith(("str", "timestamp")):
            return node.value
        if node.tag.endswith("int") and sum(c.isdigit() for c in node.value) > MAX_INT_DIGITS:
            self.fail(
                f"a whole number of more than {MAX_INT_DIGITS} digits",
                node,
                found=f"{sum(c.isdigit() for c in node.value)} digits",
                expected="a number such as 10",
            )
            return None
        value = self.constructor.construct_object(node, deep=True)
        if isinstance(value, float) and not math.isfinite(value):
            self.fail(
                "not a finite number",
                node,
                found=repr(node.value),
                expected="a number such as 10 or 2.5",
            )
            return None
        return value


class _TooBig(Exception):
    """A limit reached: at ``node`` (while building) or at ``mark`` (while composing)."""

    def __init__(self, message: str, node: yaml.Node | None = None, mark: Any = None) -> None:
        super().__init__(message)
        if mark is None:
            assert node is not None, "every raise gives the node or the mark"
            mark = node.start_mark
        self.node, self.mark = node, mark


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, counting nodes and nesting while it composes them, so that a
    file of hundreds of thousands of values is refused before its tree is built."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.nodes, self.depth = 0, 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        """Compose one node (an alias counts once here; expanded, the builder counts it again)."""
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _TooBig(f"more than {MAX_NODES} values", mark=self.peek_event().start_mark)
        # The root is at depth 0, as the builder counts; collections only (it checks the values).
        if self.depth > MAX_DEPTH and self.check_event(yaml.CollectionStartEvent):
            raise _TooBig(
                f"nesting deeper than {MAX_DEPTH} levels", mark=self.peek_event().start_mark
            )
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _precount(text: str) -> None:
    """With libyaml (C), count the values and nesting before composing in Python: a file
    at the limit is then refused in a fraction of a second instead of seconds. Syntax
    errors are left to the Python composer, whose messages the problems quote."""
    loader_class = getattr(yaml, "CSafeLoader", None)
    if loader_class is None:
        return
    nodes = depth = 0
    try:
        for event in yaml.parse(text, Loader=loader_class):
            if isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent, yaml.CollectionStartEvent)):
                nodes += 1
                # Collections only: a key at the deepest level is fine (the builder checks values).
                deep = depth > MAX_DEPTH and isinstance(event, yaml.CollectionStartEvent)
                if nodes > MAX_NODES or deep:
                    limit = (
                        f"more than {MAX_NODES} values"
                        if nodes > MAX_NODES
                        else f"nesting deeper than {MAX_DEPTH} levels"
                    )
                    raise _TooBig(limit, mark=event.start_mark)
            depth += isinstance(event, yaml.CollectionStartEvent) - isinstance(
                event, yaml.CollectionEndEvent
            )
    except yaml.YAMLError:
        return


def _compose(text: str) -> yaml.Node | None:
    """The node tree of a single YAML document, composed within the limits."""
    _precount(text)
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def parse_yaml(text: str, file: str = "<string>") -> Document:
    """Parse YAML text safely into a ``Document``; ``PolicyError`` with locations on failure."""
    if len(text.encode("utf-8")) > MAX_BYTES:
        raise PolicyError(
            [Problem(f"file larger than {MAX_BYTES} bytes", Location(file, 1, column=1))]
        )
    try:
        root = _compose(text)
    except _TooBig as err:
        mark = err.mark
        raise PolicyError(
            [Problem(str(err), Location(file, mark.line + 1, column=mark.column + 1))]
        ) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = (
            Location(file, mark.line + 1, column=mark.column + 1)
            if mark
            else Location(file, 1, column=1)
        )
        raise PolicyError(
            [Problem(f"not valid YAML: {err.problem or err.context}", where)]
        ) from None
    except yaml.YAMLError as err:
        raise PolicyError(
            [Problem(f"not valid YAML: {err}", Location(file, 1, column=1))]
        ) from None
    # PyYAML composes recursively: thousands of nested [ or { exhaust the stack
    except RecursionError:
        raise PolicyError(
            [Problem(f"nesting deeper than {MAX_DEPTH} levels", _too_deep(text, file))]
        ) from None
    builder = _Builder(file, text)
    try:
        data = builder.build(root) if root is not None else None
    except _TooBig as err:
        assert err.node is not None, "the builder's limits are reached at a node"
        builder.fail(str(err) + " (after repeating aliases)", err.node)
        data = None
    if builder.problems:
        raise PolicyError(builder.problems)
    return Document(
        file=file, text=text, data=data, spans=builder.spans, key_spans=builder.key_spans
    )


def _too_deep(text: str, file: str) -> Location:
    """Where collections first nest deeper than MAX_DEPTH (PyYAML's parser is not recursive)."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH + 1:  # the root collection is level 0
                    mark = event.start_mark
                    assert mark is not None, "a parsed event has its mark"
                    return Location(file, mark.line + 1, column=mark.column + 1)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        pass
    return Location(file, 1, column=1)


def load_yaml(path: str | Path) -> Document:
    """Read and parse a YAML file (UTF-8)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise PolicyNotFoundError(
            [Problem(f"cannot read policy file: {err.strerror}", Location(str(path)))]
        ) from None
    if len(raw) > MAX_BYTES:
        raise PolicyError(
            [Problem(f"file larger than {MAX_BYTES} bytes", Location(str(path), 1, column=1))]
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise PolicyError(
            [Problem("file is not UTF-8 text", Location(str(path)), found=str(err))]
        ) from None
    doc = parse_yaml(text, str(path))
    return attrs.evolve(doc, digest="sha256:" + hashlib.sha256(raw).hexdigest())
