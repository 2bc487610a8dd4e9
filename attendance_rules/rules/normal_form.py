"""Disjunctive normal form of a condition tree: one conversion for every reader of it.

The static checks (``assurance/normal_form.py``: literals over measures and parameters) and
the durable backend (``engine/durable_dnf.py``: atoms and facts) both need a condition as
alternatives, each a conjunction of literals. What a literal is differs between them, so
each gives its own ``literals`` (a node and a polarity → its alternatives, or None to
look inside the node) and its own ``join`` of two conjunctions (None drops the result, for
a conjunction known to be false); the walk here is the same for both: ``not`` is pushed
inward (De Morgan) and ``and`` is distributed over ``or``, the alternatives kept in the
order they are written. Only distribution multiplies alternatives, so only it is bounded
(``TooBig`` past ``limit``); a disjunction adds its parts' alternatives, and the caller
decides what a long one means.
"""

from __future__ import annotations

from typing import Callable, Generic, Iterable, TypeVar

import attrs

from .nodes import And, Node, Not, Or

__all__ = ["NormalForm", "TooBig", "distribute"]

C = TypeVar("C")  # a conjunction of literals, as the caller represents it


class TooBig(Exception):
    """Distributing ``and`` over ``or`` gave more alternatives than the limit."""


@attrs.frozen
class NormalForm(Generic[C]):
    """The disjunctive normal form with a caller's literals: ``of(node)`` → alternatives."""

    literals: Callable[[Node, bool], list[C] | None]  # None: not a literal, look inside
    join: Callable[[C, C], C | None]  # both conjunctions at once (None: it cannot hold)
    empty: C  # the conjunction of no literals (true)
    limit: int  # alternatives a distribution may give

    def of(self, node: Node, positive: bool = True) -> list[C]:
        """Alternatives equivalent to ``node`` (``positive=False``: to its negation)."""
        found = self.literals(node, positive)
        if found is not None:
            return found
        if isinstance(node, Not):
            return self.of(node.item, not positive)
        if not isinstance(node, (And, Or)):
            raise TypeError(f"no literal for {type(node).__name__} {node}")
        parts = [self.of(item, positive) for item in node.items]
        if isinstance(node, And) == positive:  # `a and b`, or `not (a or b)`
            return distribute(parts, self.join, self.empty, self.limit)
        return [c for part in parts for c in part]


def distribute(
    parts: Iterable[list[C]], join: Callable[[C, C], C | None], empty: C, limit: int
) -> list[C]:
    """The conjunction of normal forms, alternatives in order (``TooBig`` past ``limit``)."""
    out = [empty]
    for part in parts:
        out = [c for a in out for b in part if (c := join(a, b)) is not None]
        if len(out) > limit:
            raise TooBig
    return out
