"""Charts as inline SVG, drawn by matplotlib offline and made deterministic.

matplotlib is the ``report`` extra. We use its object API (``Figure``, no pyplot global
state, safe in threads) and the Agg-free SVG backend; text stays text (``svg.fonttype:
none``) so it is readable by screen readers, scales with the page and needs no embedded
glyphs. Two things would change the bytes between runs and are fixed here: the creation
date in the metadata and the salt of the ids matplotlib gives clip paths (one salt per
chart, so two charts on a page never share an id).
"""

from __future__ import annotations

import io
import re
from typing import Any

from markupsafe import Markup

from ..exceptions import Location, Problem, UsageError

__all__ = ["figure", "require_matplotlib", "svg"]


def require_matplotlib() -> None:
    """Raise a usage error (exit status 2) naming the extra when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError(
            [
                Problem(
                    "HTML reports draw their charts with matplotlib, which is not installed",
                    Location("<command line>"),
                    found="no module named matplotlib",
                    expected="the report extra installed",
                    example="pip install 'attendance-rules[report]'",
                )
            ]
        ) from None


def figure(width_in: float, height_in: float) -> Any:
    """A new matplotlib ``Figure`` of the size given (inches, at 96 dpi in the page)."""
    require_matplotlib()
    from matplotlib.figure import Figure

    return Figure(figsize=(width_in, height_in), dpi=96, layout="constrained")


_SETTINGS: dict[str, Any] = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.size": 10,
    "axes.titlesize": 11,
}


def svg(fig: Any, name: str, title: str, description_id: str = "") -> Markup:
    """The figure as an inline ``<svg>`` element (no XML prolog), ``role="img"`` with a
    ``<title>``; ``description_id`` names the element holding its text alternative (the
    table of the numbers it shows). ``name`` salts the element ids, so pass one per chart."""
    import matplotlib

    buffer = io.StringIO()
    # matplotlib types keys as Literal
    settings: Any = _SETTINGS | {"svg.hashsalt": f"attendance-rules:{name}"}
    with matplotlib.rc_context(settings):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    described = f' aria-describedby="{description_id}"' if description_id else ""
    label_id = f"{name}-title"
    head = f'<svg role="img" aria-labelledby="{label_id}"{described} '
    text = head + text[len("<svg ") :]
    close = text.index(">") + 1
    text = text[:close] + f'<title id="{label_id}">{Markup.escape(title)}</title>' + text[close:]
    return Markup(text)
