"""The shared HTML checks find what they are meant to find (a check that passes everything checks nothing)."""

from __future__ import annotations

import pytest

from html_checks import page_problems, parse, table

GOOD = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>t</title><style>a{}</style></head>
<body><main><h1>Pupil</h1><h2>Year</h2>
<svg role="img" aria-describedby="data"><title>Weekly attendance</title><path d="M 0 0"/></svg>
<div id="data"><table><caption>Weekly attendance</caption><thead><tr><th scope="col">Week</th></tr></thead>
<tbody><tr><td>4 Sep 2023</td></tr></tbody></table></div>
<h3>Detail</h3><p>See <a href="handbook-halton.html#rule-x">rule x</a><br>and <img src="data:image/png;base64,AA" alt=""></p>
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
    (("<h3>Detail</h3>", "<h4>Detail</h4>"), "h4 on line"),
    (("<caption>Weekly attendance</caption>", ""), "no <caption>"),
    (('<th scope="col">Week</th>', "<td>Week</td>"), "no <th>"),
    (('<th scope="col">', "<th>"), "no scope"),
    (('role="img" ', ""), "no role=img"),
    (("<title>Weekly attendance</title>", ""), "no <title>"),
    (('aria-describedby="data"', 'aria-describedby="nothing"'), "which no element has"),
    (('aria-describedby="data"', ""), "no aria-describedby"),
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
