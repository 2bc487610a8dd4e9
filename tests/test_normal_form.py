"""One disjunctive normal form (rules/normal_form.py) for the static checks and the durable backend.

Both readers keep their own literals (``assurance.normal_form.Analyser``: atoms keyed by
name; ``engine.durable_dnf.conjuncts``: fact literals and numbered fact-free atoms) over the
same conversion. On random trees of ``and``/``or``/``not`` over facts and flags, each normal
form must be true exactly when the tree is, under every assignment tried: if either reader
stopped pushing ``not`` inward or distributing ``and`` the same way, this fails.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from attendance_rules.assurance.normal_form import Analyser
from attendance_rules.engine.durable_dnf import Atoms, conjuncts
from attendance_rules.exceptions import Location, UsageError
from attendance_rules.rules import nodes
from attendance_rules.rules.normal_form import NormalForm, TooBig

AT = Location("t.yaml", 1, column=1)
NAMES = [("fact", "a"), ("fact", "b"), ("fact", "c"), ("flag", "x"), ("flag", "y")]

leaves = st.sampled_from(NAMES).map(lambda kn: nodes.NameRef(location=AT, name=kn[1], kind=kn[0]))
trees = st.recursive(
    leaves,
    lambda inner: st.one_of(
        inner.map(lambda item: nodes.Not(location=AT, item=item)),
        st.lists(inner, min_size=2, max_size=3).map(
            lambda xs: nodes.And(location=AT, items=tuple(xs))
        ),
        st.lists(inner, min_size=2, max_size=3).map(
            lambda xs: nodes.Or(location=AT, items=tuple(xs))
        ),
    ),
    max_leaves=12,
)
assignments = st.fixed_dictionaries({kn: st.booleans() for kn in NAMES})


def truth(node: nodes.Node, values: dict) -> bool:
    """The tree's value, walked directly (the oracle)."""
    if isinstance(node, nodes.Not):
        return not truth(node.item, values)
    if isinstance(node, nodes.And):
        return all(truth(item, values) for item in node.items)
    if isinstance(node, nodes.Or):
        return any(truth(item, values) for item in node.items)
    assert isinstance(node, nodes.NameRef)
    return values[(node.kind, node.name)]


def analyser_truth(node: nodes.Node, values: dict, positive: bool) -> bool:
    analyser = Analyser(SimpleNamespace(policy=None), dt.date(2025, 1, 1))  # type: ignore[arg-type]
    try:
        form = analyser.dnf(node, positive)
    except TooBig:
        assume(False)
    return any(all(values[lit.key] == lit.truth for lit in conj) for conj in form)


def durable_truth(node: nodes.Node, values: dict) -> bool:
    atoms = Atoms()
    try:
        form = conjuncts(node, atoms, SimpleNamespace(id="r"), "when", [])  # type: ignore[arg-type]
    except UsageError:
        assume(False)

    def holds(kind: str, key: Any, positive: bool) -> bool:
        value = values[("fact", key)] if kind == "fact" else truth(atoms.atoms[key].node, values)
        return value == positive

    return any(all(holds(*lit) for lit in conj) for conj in form)


@settings(max_examples=300, deadline=None)
@given(trees, assignments)
def test_both_normal_forms_are_the_tree(node: nodes.Node, values: dict) -> None:
    expected = truth(node, values)
    assert analyser_truth(node, values, True) == expected
    assert analyser_truth(node, values, False) == (not expected)
    assert durable_truth(node, values) == expected


def test_distribution_is_bounded_and_keeps_written_order() -> None:
    a, b, c, d = (nodes.NameRef(location=AT, name=n, kind="fact") for n in "abcd")
    form = NormalForm(
        lambda n, pos: [((n.name, pos),)] if isinstance(n, nodes.NameRef) else None,
        lambda x, y: x + y,
        (),
        limit=4,
    )
    tree = nodes.And(
        location=AT,
        items=(nodes.Or(location=AT, items=(a, b)), nodes.Or(location=AT, items=(c, d))),
    )
    assert form.of(tree) == [
        (("a", True), ("c", True)),
        (("a", True), ("d", True)),
        (("b", True), ("c", True)),
        (("b", True), ("d", True)),
    ]
    assert form.of(nodes.Not(location=AT, item=tree)) == [
        (("a", False), ("b", False)),
        (("c", False), ("d", False)),
    ]
    with pytest.raises(TooBig):
        NormalForm(form.literals, form.join, (), limit=3).of(tree)
