"""Checks every HTML report must pass, shared by the report tests (``from html_checks import …``).

A page is parsed with the standard library's ``html.parser`` into a small tree (``parse``),
then checked: tags balance (void elements aside; SVG's ``<path/>`` is self-closed), ids
are unique, headings start at one ``h1`` and never skip a level, every table has one
``<caption>`` and a ``<th>`` (each with a scope), every chart ``<svg>`` has ``role="img"``,
a ``<title>``, an ``aria-labelledby`` naming a ``<title>`` and an ``aria-describedby``
naming an element that holds a table, every in-page link (``href="#id"``) lands on an id
of the page, nothing is fetched from the network (no ``src``/``href`` to ``http(s):`` or
``//`` beyond the prefixes allowed, no ``url(http…)`` in CSS), there is no ``<script>`` and
no block element inside a ``<p>`` (a browser would close the paragraph early).
``check_page`` runs them all and returns the tree for the test's own questions (``find``,
``by_id``, ``ids``, ``links``, ``table``, ``rows``, ``Node.text``, ``Node.ancestor``).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Callable, Iterator, Sequence

__all__ = ["Node", "by_id", "check_page", "ids", "links", "page_problems", "parse", "rows", "table"]

VOID = frozenset("area base br col embed hr img input link meta source track wbr".split())
BLOCK = frozenset("address article aside blockquote details dialog div dl fieldset figure footer form h1 h2 h3 h4 h5 "
                  "h6 header hr main nav ol p pre section table ul".split())
_EXTERNAL = re.compile(r"^\s*(https?:|//)", re.I)


class Node:
    """An element: its tag, attributes (name -> value), children (nodes and text) and line."""

    def __init__(self, tag: str, attrs: dict[str, str], line: int, parent: "Node | None") -> None:
        self.tag, self.attrs, self.line, self.parent = tag, attrs, line, parent
        self.children: list[Node | str] = []

    def elements(self) -> Iterator["Node"]:
        """This element and every element inside it, in document order."""
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.elements()

    def find(self, tag: str, **attrs: str) -> list["Node"]:
        """Elements inside (and including) this one with ``tag`` (``*``: any) and these attribute
        values (``class_`` matches one of the classes)."""
        wanted = {k.rstrip("_"): v for k, v in attrs.items()}
        return [e for e in self.elements() if (tag == "*" or e.tag == tag) and all(
            (v in e.attrs.get(k, "").split()) if k == "class" else e.attrs.get(k) == v for k, v in wanted.items())]

    def text(self) -> str:
        """The text inside, whitespace collapsed."""
        parts: list[str] = []
        for child in self.children:
            parts.append(child if isinstance(child, str) else " " + child.text() + " ")
        return " ".join("".join(parts).split())

    def classes(self) -> list[str]:
        """The element's classes."""
        return self.attrs.get("class", "").split()

    def ancestor(self, tag: str) -> "Node | None":
        """The nearest element enclosing this one (not this one itself) with ``tag``; None if none does."""
        node = self.parent
        while node is not None and node.tag != tag:
            node = node.parent
        return node

    def __repr__(self) -> str:
        return f"<{self.tag} line {self.line}>"


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, 0, None)
        self.current = self.root
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, self.getpos()[0], self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        self.current.children.append(Node(tag, {k: v or "" for k, v in attrs}, self.getpos()[0], self.current))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if self.current.tag != tag:
            self.problems.append(f"line {self.getpos()[0]}: </{tag}> closes <{self.current.tag}> "
                                 f"opened on line {self.current.line}")
            opened = self.current
            while opened.parent is not None and opened.tag != tag:
                opened = opened.parent
            if opened.parent is None:
                return  # a stray end tag: nothing to close
            self.current = opened
        self.current = self.current.parent or self.root

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def parse(page: str) -> tuple[Node, list[str]]:
    """The page's tree and the problems met building it (tags that do not balance)."""
    builder = _Builder()
    builder.feed(page)
    builder.close()
    problems = list(builder.problems)
    if builder.current is not builder.root:
        problems.append(f"<{builder.current.tag}> opened on line {builder.current.line} is never closed")
    return builder.root, problems


def _ids(root: Node) -> list[str]:
    seen: dict[str, Node] = {}
    problems = []
    for element in root.elements():
        name = element.attrs.get("id")
        if name is None:
            continue
        if name in seen:
            problems.append(f"id {name!r} on line {element.line} also on line {seen[name].line}")
        seen[name] = element
    return problems


def _headings(root: Node) -> list[str]:
    levels = [(int(e.tag[1]), e.line) for e in root.elements() if re.fullmatch(r"h[1-6]", e.tag)]
    problems = []
    if [level for level, _ in levels].count(1) != 1 or not levels or levels[0][0] != 1:
        problems.append(f"the page must start with exactly one h1; headings: {[level for level, _ in levels]}")
    for (before, _), (level, line) in zip(levels, levels[1:]):
        if level > before + 1:
            problems.append(f"h{level} on line {line} follows h{before}: a level is skipped")
    return problems


def _tables(root: Node) -> list[str]:
    problems = []
    for t in root.find("table"):
        if not t.find("th"):
            problems.append(f"table on line {t.line} has no <th>")
        caption = [c for c in t.children if isinstance(c, Node) and c.tag == "caption"]
        if not caption or not caption[0].text():
            problems.append(f"table on line {t.line} has no <caption> (or an empty one)")
        elif len(caption) > 1:
            problems.append(f"table on line {t.line} has {len(caption)} <caption> elements")
        for th in t.find("th"):
            if th.attrs.get("scope") not in ("row", "col", "rowgroup", "colgroup"):
                problems.append(f"<th> on line {th.line} has no scope")
    return problems


def _charts(root: Node, by_id: dict[str, Node]) -> list[str]:
    problems = []
    charts = [s for s in root.find("svg") if not (s.parent and _inside(s.parent, "svg"))]
    for svg in charts:
        if svg.attrs.get("role") != "img":
            problems.append(f"svg on line {svg.line} has no role=img")
        titles = [c for c in svg.children if isinstance(c, Node) and c.tag == "title"]
        if not titles or not titles[0].text():
            problems.append(f"svg on line {svg.line} has no <title> as a child")
        problems += _references(svg, "aria-labelledby", by_id, lambda t: t.tag == "title", "which is not a <title>")
        problems += _references(svg, "aria-describedby", by_id, lambda t: bool(t.find("table")),
                                "which holds no table of the chart's numbers")
    return problems


def _references(svg: Node, attribute: str, by_id: dict[str, Node], fits: Callable[[Node], bool],
                unfit: str) -> list[str]:
    """A chart's ``attribute`` (ids, space-separated) is there and every id names an element that fits."""
    names = svg.attrs.get(attribute, "").split()
    if not names:
        return [f"svg on line {svg.line} has no {attribute}"]
    problems = []
    for name in names:
        target = by_id.get(name)
        if target is None:
            problems.append(f"svg on line {svg.line}: {attribute} names {name!r}, which no element has")
        elif not fits(target):
            problems.append(f"svg on line {svg.line}: {attribute} names {name!r}, {unfit}")
    return problems


def _inside(node: Node, tag: str) -> bool:
    while node is not None:
        if node.tag == tag:
            return True
        node = node.parent  # type: ignore[assignment]
    return False


def _offline(page: str, root: Node, allowed: Sequence[str]) -> list[str]:
    problems = []
    for element in root.elements():
        if element.tag == "script":
            problems.append(f"<script> on line {element.line}")
        for name in ("src", "href", "xlink:href", "action", "srcset", "poster", "data"):
            value = element.attrs.get(name, "")
            if _EXTERNAL.match(value) and not any(value.startswith(a) for a in allowed):
                problems.append(f"<{element.tag}> on line {element.line}: {name}={value!r} leaves the page")
    for match in re.finditer(r"url\(\s*['\"]?\s*(https?:|//)", page, re.I):
        problems.append(f"CSS fetches {match.group(0)!r}")
    if re.search(r"@import", page):
        problems.append("CSS @import")
    return problems


def _fragments(root: Node, by_id: dict[str, Node]) -> list[str]:
    """Every in-page link (``href``/``xlink:href`` of ``#id``) names an id the page has."""
    problems = []
    for element in root.elements():
        for name in ("href", "xlink:href"):
            value = element.attrs.get(name, "")
            if value.startswith("#") and value[1:] not in by_id:
                problems.append(f"<{element.tag}> on line {element.line}: {name}={value!r} lands on no id of the page")
    return problems


def _paragraphs(root: Node) -> list[str]:
    return [f"<{e.tag}> on line {e.line} inside <p> on line {p.line}"
            for p in root.find("p") for e in list(p.elements())[1:] if e.tag in BLOCK]


def page_problems(page: str, allowed_links: Sequence[str] = ()) -> list[str]:
    """Everything wrong with a page by the checks above (an empty list: none)."""
    root, problems = parse(page)
    by_id = {e.attrs["id"]: e for e in root.elements() if "id" in e.attrs}
    return (problems + _ids(root) + _headings(root) + _tables(root) + _charts(root, by_id)
            + _fragments(root, by_id) + _offline(page, root, allowed_links) + _paragraphs(root))


def check_page(page: str, allowed_links: Sequence[str] = ()) -> Node:
    """Assert the page passes every check; its tree. ``allowed_links``: address prefixes a
    link may point at beyond the page's folder (a handbook published elsewhere)."""
    problems = page_problems(page, allowed_links)
    assert not problems, "\n".join(problems)
    return parse(page)[0]


def table(root: Node, caption_start: str) -> list[list[Node]]:
    """The body rows (cells: ``th`` and ``td`` nodes) of the one table whose caption starts so."""
    found = [t for t in root.find("table")
             if any(isinstance(c, Node) and c.tag == "caption" and c.text().startswith(caption_start)
                    for c in t.children)]
    assert len(found) == 1, f"{len(found)} tables captioned {caption_start!r}"
    return rows(found[0])


def rows(table_node: Node) -> list[list[Node]]:
    """The body rows (``tr`` in ``tbody``; cells: ``th`` and ``td`` nodes) of a table element."""
    body_rows = [r for body in table_node.find("tbody") for r in body.find("tr")]
    return [[c for c in r.children if isinstance(c, Node) and c.tag in ("th", "td")] for r in body_rows]


def by_id(root: Node, element_id: str) -> Node:
    """The one element inside ``root`` with this id (asserts there is exactly one). The index of
    ids is built on the first call and kept on ``root``: do not change the tree after it."""
    index: dict[str, list[Node]] | None = root.__dict__.get("_by_id")
    if index is None:
        index = {}
        for element in root.elements():
            if "id" in element.attrs:
                index.setdefault(element.attrs["id"], []).append(element)
        root.__dict__["_by_id"] = index
    found = index.get(element_id, [])
    assert len(found) == 1, f"{len(found)} elements with id {element_id!r}"
    return found[0]


def ids(root: Node) -> list[str]:
    """Every id on the page, in document order (repeats kept)."""
    return [e.attrs["id"] for e in root.elements() if "id" in e.attrs]


def links(root: Node) -> list[str]:
    """The ``href`` of every ``<a>`` that has one, in document order."""
    return [a.attrs["href"] for a in root.find("a") if "href" in a.attrs]
