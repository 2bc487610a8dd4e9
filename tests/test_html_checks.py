"""The shared HTML checks find what they are meant to find (a check that passes everything checks nothing)."""

from __future__ import annotations

import pytest
from html_checks import by_id, ids, links, page_problems, parse, rows, table

GOOD = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>t</title><style>a{}</style></head>
<body><main><h1>Pupil</h1><h2>Year</h2>
<svg role="img" aria-labelledby="chart-title" aria-describedby="data"><title id="chart-title">Weekly attendance</title><path d="M 0 0"/></svg>
<div id="data"><table><caption>Weekly attendance</caption><thead><tr><th scope="col">Week</th></tr></thead>
<tbody><tr><td>4 Sep 2023</td></tr></tbody></table></div>
<h3 id="detail">Detail</h3><p>See <a href="handbook-halton.html#rule-x">rule x</a><br>and <img src="data:image/png;base64,AA" alt=""></p>
<p><a href="#detail">Back to the detail</a></p>
<h2>Next</h2></main></body></html>"""


def test_a_good_page_passes():
    assert page_problems(GOOD) == []
    root, problems = parse(GOOD)
    assert problems == [] and [[c.text() for c in row] for row in table(root, "Weekly")] == [["4 Sep 2023"]]


@pytest.mark.parametrize("change, found", [
    (("</p>", ""), "closes <p>"),
    (("</body></html>", "</body>"), "never closed"),
    (("<h2>Year</h2>", "<h2>Year</h3>"), "closes <h2>"),
    (('<div id="data">', '<div id="data"><span id="data"></span>'), "id 'data'"),
    (("<h1>Pupil</h1>", "<h2>Pupil</h2>"), "exactly one h1"),
    (('<h3 id="detail">Detail</h3>', '<h4 id="detail">Detail</h4>'), "h4 on line"),
    (("<caption>Weekly attendance</caption>", ""), "no <caption>"),
    (('<th scope="col">Week</th>', "<td>Week</td>"), "no <th>"),
    (('<th scope="col">', "<th>"), "no scope"),
    (('role="img" ', ""), "no role=img"),
    (('<title id="chart-title">Weekly attendance</title>', ""), "no <title>"),
    (('aria-describedby="data"', 'aria-describedby="nothing"'), "which no element has"),
    (('aria-describedby="data"', ""), "no aria-describedby"),
    (('aria-describedby="data"', 'aria-describedby="detail"'), "holds no table"),
    (('aria-labelledby="chart-title" ', ""), "no aria-labelledby"),
    (('aria-labelledby="chart-title"', 'aria-labelledby="nothing"'), "aria-labelledby names 'nothing', which no"),
    (('aria-labelledby="chart-title"', 'aria-labelledby="data"'), "not a <title>"),
    (("<caption>Weekly attendance</caption>", "<caption>Weekly attendance</caption><caption>Again</caption>"),
     "2 <caption> elements"),
    (('href="#detail"', 'href="#nowhere"'), "lands on no id"),
    (('<h3 id="detail">', "<h3>"), "lands on no id"),
    (("<h2>Next</h2>", "<script>alert(1)</script><h2>Next</h2>"), "<script>"),
    (('href="handbook-halton.html#rule-x"', 'href="https://example.org/h.html"'), "leaves the page"),
    (('src="data:', 'src="//cdn.example.org/x.png" data-x="'), "leaves the page"),
    (("a{}", "a{background:url(http://x.org/i.png)}"), "CSS fetches"),
    (("<br>", "<div>block</div>"), "inside <p>"),
])
def test_each_check_finds_its_fault(change, found):
    old, new = change
    assert old in GOOD
    problems = page_problems(GOOD.replace(old, new, 1))
    assert any(found in p for p in problems), problems


def test_a_link_to_an_allowed_address_passes():
    page = GOOD.replace('href="handbook-halton.html#rule-x"', 'href="https://example.invalid/h.html#rule-x"')
    assert page_problems(page, allowed_links=["https://example.invalid/h.html#"]) == []


def test_lookups_by_id_links_rows_and_ancestors():
    root, _ = parse(GOOD)
    assert ids(root) == ["chart-title", "data", "detail"]
    assert links(root) == ["handbook-halton.html#rule-x", "#detail"]
    cell = rows(by_id(root, "data").find("table")[0])[0][0]
    assert cell.text() == "4 Sep 2023" and cell.ancestor("div") is by_id(root, "data")
    assert cell.ancestor("svg") is None and by_id(root, "data").ancestor("div") is None
    twice, _ = parse(GOOD.replace('<h3 id="detail">', '<h3 id="data">'))
    for root_, name in ((root, "nothing"), (twice, "data")):
        with pytest.raises(AssertionError, match=f"elements with id '{name}'"):
            by_id(root_, name)
