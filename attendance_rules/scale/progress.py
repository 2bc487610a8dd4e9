"""Progress bars for long CLI runs, on standard error and only when it is a terminal.

``progress(items, total, what, stream)`` yields ``items`` unchanged; when ``stream`` is
given (the CLI passes standard error only if it is a terminal and ``--quiet`` is not set)
a tqdm bar counts them there. With no stream nothing at all is written, so output that
is piped or captured never carries progress noise. A command that writes its output as
it goes shows no bar when that output is a terminal too (``unless_streaming_to_terminal``).
"""

from __future__ import annotations

from typing import Iterable, Iterator, TextIO, TypeVar

__all__ = ["progress", "progress_stream", "unless_streaming_to_terminal"]

T = TypeVar("T")


def progress_stream(err: TextIO, quiet: bool) -> TextIO | None:
    """``err`` when a bar may be shown there (a terminal, not ``--quiet``), else None."""
    return None if quiet or not _isatty(err) else err


def unless_streaming_to_terminal(stream: TextIO | None, out: TextIO) -> TextIO | None:
    """``stream``, or None when the output written while the bar runs goes to a terminal too
    (the bar and the lines would overwrite each other; the lines show the progress)."""
    return None if stream is None or _isatty(out) else stream


def _isatty(stream: TextIO) -> bool:
    """True when ``stream`` is a terminal."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def progress(
    items: Iterable[T], total: int | None, what: str, stream: TextIO | None, unit: str = "pupil"
) -> Iterator[T]:
    """``items`` one by one, counted in ``unit``s on a bar on ``stream`` (no bar when ``stream`` is
    None)."""
    if stream is None:
        yield from items
        return
    bar = _bar_class()(
        total=total,
        desc=what,
        file=stream,
        unit=unit,
        leave=False,
        dynamic_ncols=True,
        mininterval=0.2,
    )
    try:
        for item in items:
            yield item
            bar.update(1)
    finally:
        bar.close()


def _bar_class() -> type:
    """tqdm without its monitor thread, so no extra thread runs when worker processes are forked."""
    from tqdm import tqdm

    class Bar(tqdm):
        """tqdm with the monitor thread off."""

        monitor_interval = 0

    return Bar
