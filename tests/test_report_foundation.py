"""The shared parts of the HTML reports: anchors, safe file names, escaping, deterministic SVG."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attendance_rules.report import html

matplotlib = pytest.importorskip("matplotlib", reason="the report extra (matplotlib) is not installed")

from attendance_rules.report import charts  # noqa: E402


@given(st.text(max_size=60))
def test_a_pupil_file_name_is_safe_and_distinct_for_distinct_ids(pupil_id):
    name = html.pupil_file_name(pupil_id)
    assert re.fullmatch(r"[A-Za-z0-9_~-]+\.html", name)
    assert "/" not in name and ".." not in name[:-5]


@given(st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20))
def test_different_ids_give_different_file_names(a, b):
    if a != b and len(a.encode()) * 3 < 150 and len(b.encode()) * 3 < 150:
        assert html.pupil_file_name(a) != html.pupil_file_name(b)


def test_anchors_name_their_kind_and_refuse_unknown_kinds():
    assert html.anchor("rule", "halton_stage1") == "rule-halton_stage1"
    assert html.handbook_link("handbook-halton.html", "parameter", "pa_rate") == "handbook-halton.html#parameter-pa_rate"
    assert html.anchor("rule", 'a b"<') == "rule-a-b--"
    with pytest.raises(ValueError, match="unknown anchor kind"):
        html.anchor("chapter", "x")


def test_templates_escape_what_histories_bring(tmp_path):
    env = html.environment()
    page = env.from_string("<p>{{ name }}</p>").render(name="<script>alert(1)</script>")
    assert page == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"


def test_an_undefined_name_in_a_template_is_an_error_not_blank_text():
    import jinja2

    with pytest.raises(jinja2.UndefinedError):
        html.environment().from_string("{{ missing }}").render()


def test_dates_and_percentages_as_reports_show_them():
    import datetime as dt
    from fractions import Fraction

    from attendance_rules import text

    assert text.long_date(dt.date(2024, 2, 9)) == "9 February 2024"
    assert text.short_date(dt.date(2024, 2, 9)) == "9 Feb 2024" == text.short_date(dt.date(2024, 2, 9))
    assert text.short_date(dt.date(2024, 12, 25)) == "25 Dec 2024"
    assert html.percent(Fraction(9, 10)) == "90.0%" and html.percent(None) == "n/a"


def _chart() -> str:
    fig = charts.figure(5, 2)
    ax = fig.add_subplot()
    ax.plot([1, 2, 3], [95, 80, 91])
    ax.axhline(90)
    return charts.svg(fig, "test-chart", "A <test> chart", "test-table")


def test_a_chart_is_an_inline_accessible_svg_with_no_prolog_date_or_script():
    svg = str(_chart())
    assert svg.startswith('<svg role="img" aria-labelledby="test-chart-title" aria-describedby="test-table" ')
    assert '<title id="test-chart-title">A &lt;test&gt; chart</title>' in svg
    assert "<?xml" not in svg and "<!DOCTYPE" not in svg and "<metadata" not in svg and "<script" not in svg


def test_a_chart_is_byte_identical_across_processes_and_hash_seeds():
    code = ("import hashlib, sys; sys.path.insert(0, 'tests'); from test_report_foundation import _chart; "
            "print(hashlib.sha256(_chart().encode()).hexdigest())")
    digests = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={"PYTHONHASHSEED": seed, "PATH": ""}, cwd=Path(__file__).parents[1]).stdout for seed in ("1", "2")}
    assert len(digests) == 1 and len(digests.pop()) == 65


def test_two_charts_on_a_page_never_share_an_element_id():
    fig_a, fig_b = charts.figure(4, 2), charts.figure(4, 2)
    fig_a.add_subplot().plot([1, 2], [1, 2])
    fig_b.add_subplot().plot([1, 2], [1, 2])
    ids_a = set(re.findall(r'id="([^"]+)"', charts.svg(fig_a, "one", "one")))
    ids_b = set(re.findall(r'id="([^"]+)"', charts.svg(fig_b, "two", "two")))
    clip_ids = {i for i in ids_a | ids_b if re.fullmatch(r"p[0-9a-f]{10}", i)}
    assert clip_ids and not (ids_a & ids_b & clip_ids)
