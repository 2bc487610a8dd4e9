"""The ``attendance-rules`` command line: ``app`` (parser, exit statuses, the commands of the
register and policy stages) and one module per later stage (``evaluate``, ``replay``,
``audit``, ``assurance``, ``report``)."""

from .app import main

__all__ = ["main"]
