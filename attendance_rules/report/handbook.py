"""The policy handbook as a page (``policy doc --format html``): the HTML twin of the Markdown
handbook (``attendance_rules.policy.handbook``), rendered from the same helpers so the two say the
same, plus what a page can do that Markdown cannot.

Every rule, parameter, action, measure, derived fact and declared school setting of the
effective policy has an element whose id is ``report.html.anchor(kind, name)``: reports
link their citations there (``handbook-halton.html#rule-halton_stage1``). A rule replaced by
a later layer but still in force until its replacement starts keeps its own entry, with
the id ``rule-ID--POLICY`` (ids of the policy language have no ``-``, so it cannot clash).
A rule's entry links the names its conditions use to their entries, read from the compiled
rule (``nodes.names_used``), not from the text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from .. import __version__
from ..policy.handbook import (
    citation_parts,
    due_text,
    header_items,
    in_force_text,
    local_choices,
    origin_parts,
    parameter_citation,
    parameter_value,
    recommended_actions,
    responsible,
    source_items,
)
from ..policy.layers import EffectivePolicy
from ..policy.model import Rule
from .html import anchor, render

__all__ = ["handbook_html"]

# Kinds of name a condition uses, in the order a rule's entry lists them; the first four
# have entries of their own in the handbook (and links to them), flags and event types not.
_KIND_ORDER = ("measure", "parameter", "fact", "setting", "flag", "library", "event")
_KIND_WORDS = {"library": "library measure", "event": "event type"}


@attrs.frozen(kw_only=True)
class _Name:
    """A name a condition uses: its kind, in words, and whether the handbook has its entry."""

    kind: str
    name: str
    linked: bool
    words: str


_Used = tuple[tuple[str, str], ...]  # (kind, name) pairs in the order shown


def _names_used(policy: EffectivePolicy) -> dict[tuple[str, str], tuple[_Used, ...]]:
    """For each rule (id, defining policy): the names its ``when`` and each ``unless`` use, as
    (kind, name) pairs by kind then name. Empty when the policy does not compile (a handbook
    of a broken policy still shows its text, only without these links)."""
    from ..exceptions import CompileError
    from ..rules import nodes
    from ..rules.compiler import compile_policy

    try:
        compiled = compile_policy(policy).rules
    except CompileError:
        return {}

    def used(node: Any) -> _Used:
        return tuple(
            sorted(
                (
                    (kind, name)
                    for kind, names in nodes.names_used(node).items()
                    if kind in _KIND_ORDER
                    for name in names
                ),
                key=lambda k: (_KIND_ORDER.index(k[0]), k[1]),
            )
        )

    return {
        (c.rule.id, c.rule.policy): (used(c.condition.node),)
        + tuple(used(u.condition.node) for u in c.unless)
        for c in compiled
    }


class _Entries:
    """What the handbook has an entry for, and which rules use each name (for "used by")."""

    def __init__(self, policy: EffectivePolicy) -> None:
        self.facts = sorted({f for rule in policy.rules for f in rule.derive})
        self.known = {
            "parameter": set(policy.parameters),
            "measure": set(policy.measures),
            "fact": set(self.facts),
            "setting": set(policy.settings),
        }
        self.names = _names_used(policy)
        self.users: dict[tuple[str, str], list[str]] = {}
        for rule in policy.rules:
            for used in self.names.get((rule.id, rule.policy), ()):
                for key in used:
                    _add_once(self.users.setdefault(key, []), rule.id)

    def used(self, rule: Rule, index: int) -> list[_Name]:
        """The names the rule's ``when`` (index 0) or its unless clause ``index - 1`` uses."""
        found = self.names.get((rule.id, rule.policy), ())
        return [
            _Name(
                kind=kind,
                name=name,
                linked=name in self.known.get(kind, ()),
                words=_KIND_WORDS.get(kind, kind),
            )
            for kind, name in (found[index] if index < len(found) else ())
        ]

    def used_by(self, kind: str, name: str) -> list[str]:
        """The ids of the rules whose conditions use ``name``, in the order they are applied."""
        return self.users.get((kind, name), [])


def _add_once(items: list[str], item: str) -> None:
    if item not in items:
        items.append(item)


def _origin(policy: EffectivePolicy, kind: str, name: str) -> tuple[str, str, int]:
    return origin_parts(policy.origin(kind, name))


def _parameters(
    policy: EffectivePolicy, titles: dict[str, str], entries: _Entries
) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "value": parameter_value(param),
            "description": param.description,
            "cite": citation_parts(parameter_citation(param), titles),
            "origin": _origin(policy, "parameter", name),
            "local_choice": param.local_choice.strip(),
            "used_by": entries.used_by("parameter", name),
        }
        for name, param in sorted(policy.parameters.items())
    ]


def _measures(
    policy: EffectivePolicy, titles: dict[str, str], entries: _Entries
) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "measure": use.measure,
            "window": str(use.window) if use.window else "",
            "codes": " ".join(use.codes),
            "not_before": use.not_before,
            "description": use.description,
            "cite": citation_parts(use.cite, titles),
            "origin": _origin(policy, "measure", name),
            "used_by": entries.used_by("measure", name),
        }
        for name, use in sorted(policy.measures.items())
    ]


def _facts(policy: EffectivePolicy, entries: _Entries) -> list[dict[str, Any]]:
    derivers: dict[str, list[str]] = {}
    for rule in policy.rules:
        for fact in rule.derive:
            _add_once(derivers.setdefault(fact, []), rule.id)
    return [
        {"name": fact, "derived_by": derivers[fact], "used_by": entries.used_by("fact", fact)}
        for fact in entries.facts
    ]


def _settings(
    policy: EffectivePolicy, titles: dict[str, str], entries: _Entries
) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "type": setting.type,
            "default": _literal(setting.default),
            "description": setting.description,
            "cite": citation_parts(setting.cite, titles),
            "local_choice": setting.local_choice.strip(),
            "origin": _origin(policy, "setting", name),
            "used_by": entries.used_by("setting", name),
        }
        for name, setting in sorted(policy.settings.items())
    ]


def _literal(value: Any) -> str:
    """A setting's default as the policy language writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "none" if value is None else str(value)


def _flags(policy: EffectivePolicy) -> list[dict[str, Any]]:
    return [
        {"name": name, "description": text, "origin": _origin(policy, "flag", name)}
        for name, text in sorted(policy.flags.items())
    ]


def _rules(
    policy: EffectivePolicy, titles: dict[str, str], entries: _Entries
) -> list[dict[str, Any]]:
    return [_rule(policy, rule, titles, entries) for rule in policy.rules]


def _rule(
    policy: EffectivePolicy, rule: Rule, titles: dict[str, str], entries: _Entries
) -> dict[str, Any]:
    origin = policy.rule_origin(rule)
    current = _current(policy, rule.id, rule.policy)
    return {
        "id": rule.id,
        "anchor": _rule_anchor(rule.id, None if current else origin.policy),
        "title": rule.title,
        "when": rule.when.text,
        "uses": entries.used(rule, 0),
        "derive": rule.derive,
        "recommend": recommended_actions(policy, rule),
        "in_force": in_force_text(rule),
        "unless": [
            {
                "when": clause.when.text,
                "reason": clause.reason,
                "actions": clause.actions,
                "uses": entries.used(rule, i + 1),
            }
            for i, clause in enumerate(rule.unless)
        ],
        "cite": citation_parts(rule.cite, titles),
        "local_choice": rule.local_choice.strip(),
        "description": rule.description,
        "origin": origin_parts(origin),
        "replaces": [
            (old.policy, _rule_anchor(rule.id, old.policy))
            for old in origin.replaced
            if current and _has_rule(policy.rules, rule.id, old.policy)
        ],
        "replaced_by": None if current else policy.origin("rule", rule.id).policy,
    }


def _current(policy: EffectivePolicy, rule_id: str, policy_id: str) -> bool:
    """True for the rule in force last under its id (the one reports link to)."""
    return policy.origin("rule", rule_id).policy == policy_id


def _rule_anchor(rule_id: str, policy_id: str | None) -> str:
    """The id of a rule's entry: the anchor reports link to, or for a replaced rule still in
    force until its replacement starts, that anchor followed by ``--POLICY``."""
    return anchor("rule", rule_id) + (f"--{policy_id}" if policy_id else "")


def _has_rule(rules: Iterable[Rule], rule_id: str, policy_id: str) -> bool:
    return any(r.id == rule_id and r.policy == policy_id for r in rules)


def _actions(policy: EffectivePolicy, titles: dict[str, str]) -> list[dict[str, Any]]:
    recommenders: dict[str, list[str]] = {}
    for rule in policy.rules:
        for action_id in rule.recommend:
            _add_once(recommenders.setdefault(action_id, []), rule.id)
    return [
        {
            "name": name,
            "title": action.title,
            "kind": action.kind.replace("_", " "),
            "who": responsible(action),
            "due": due_text(action),
            "done": action.completion.describe(name) if action.completion else "",
            "description": action.description,
            "cite": citation_parts(action.cite, titles),
            "local_choice": action.local_choice.strip(),
            "origin": _origin(policy, "action", name),
            "recommended_by": recommenders.get(name, []),
        }
        for name, action in sorted(policy.actions.items())
    ]


def _files(policy: EffectivePolicy) -> list[dict[str, str]]:
    """The chain's files, root first, as outputs show them (``resources.display_path``)."""
    from ..policy.resources import display_path

    return [
        {
            "id": p.id,
            "kind": p.kind,
            "version": p.version,
            "path": display_path(p.file),
            "digest": p.digest,
        }
        for p in policy.chain
    ]


def _context(policy: EffectivePolicy) -> Mapping[str, Any]:
    titles = {k: s.title for k, s in policy.sources.items()}
    entries = _Entries(policy)
    return {
        "leaf": policy.leaf,
        "digest": policy.digest,
        "files": _files(policy),
        "header": header_items(policy),
        "chain": [p.id for p in policy.chain],
        "sources": source_items(policy),
        "parameters": _parameters(policy, titles, entries),
        "measures": _measures(policy, titles, entries),
        "facts": _facts(policy, entries),
        "settings": _settings(policy, titles, entries),
        "flags": _flags(policy),
        "rules": _rules(policy, titles, entries),
        "actions": _actions(policy, titles),
        "disabled": [(rule_id, reason) for rule_id, (reason, _) in sorted(policy.disabled.items())],
        "choices": [
            (
                kind,
                name,
                text,
                _rule_anchor(name, None if _current(policy, name, owner) else owner)
                if kind == "rule"
                else anchor(kind, name),
            )
            for kind, name, text, owner in local_choices(policy)
        ],
    }


def handbook_html(policy: EffectivePolicy) -> str:
    """The handbook of an effective policy as one self-contained HTML page (see the module doc)."""
    return render(
        "handbook.html.j2", library_version=__version__, anchor=anchor, **_context(policy)
    )
