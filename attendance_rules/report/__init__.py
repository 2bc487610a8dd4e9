"""HTML reports for the people who act on the recommendations.

``report pupil`` (one pupil's year), ``report cohort`` (the termly targeting-support
pack), ``report audit`` and the policy handbook as HTML (``policy doc --format html``).
Pages are rendered by Jinja2 templates in ``templates/`` with autoescaping on (names and
free text in histories are untrusted), carry their CSS and charts inline (no network),
and are deterministic: the same inputs give the same bytes.

Charts need matplotlib, the ``report`` extra; ``html.py`` says so with a usage error.
"""

from __future__ import annotations

__all__: list[str] = []
