"""``policy doc``: the effective policy as a Markdown handbook for officers and parents.

Stages, thresholds, actions, who does what, the clause behind each, and every local
choice (where a source was silent and a reading had to be taken). Deterministic: the
same policy files give the same bytes, so committed handbooks can be checked for
staleness.

The public helpers below give the handbook's content as plain data (strings and
tuples, no markup); the Markdown here and the HTML handbook (``report.handbook``)
both render from them, so the two say the same.
"""

from __future__ import annotations

from pathlib import Path

from .layers import EffectivePolicy, Origin
from .model import Action, Citation, Parameter, Rule
from .values import parameter_values_text

__all__ = [
    "citation_parts",
    "due_text",
    "header_items",
    "in_force_text",
    "local_choices",
    "origin_parts",
    "parameter_citation",
    "parameter_value",
    "recommended_actions",
    "render_handbook",
    "responsible",
    "source_items",
]

_WHO = {
    "school": "the school",
    "local_authority": "the local authority",
    "education_welfare_service": "the Education Welfare Service",
    "social_care": "children's social care",
    "virtual_school": "the Virtual School",
    "health": "health services",
}


def citation_parts(cite: Citation | None, titles: dict[str, str]) -> tuple[str, str, str] | None:
    """A citation as (document title, where in it, what it says); ``None`` without a citation.
    Where is ``section, p. PAGE, para. N`` with the parts the citation has ("" when none)."""
    if cite is None:
        return None
    where = ", ".join(
        p
        for p in (
            cite.section,
            cite.page and f"p. {cite.page}",
            cite.paragraph and f"para. {cite.paragraph}",
        )
        if p
    )
    return titles.get(cite.source, cite.source), where, cite.says


def _cite(cite: Citation | None, titles: dict[str, str]) -> str:
    parts = citation_parts(cite, titles)
    if parts is None:
        return ""
    title, where, says = parts
    return f"*{title}*{', ' + where if where else ''} — {says}"


def origin_parts(origin: Origin) -> tuple[str, str, int]:
    """Where an entry was defined as handbooks show it: (policy id, file name, line).
    The file name, not its path, so a handbook is the same wherever the policies lie."""
    return origin.policy, Path(origin.location.file).name, origin.location.line


def _origin(origin: Origin) -> str:
    policy_id, file_name, line = origin_parts(origin)
    return f"`{policy_id}` ({file_name}:{line})"


def responsible(action: Action) -> str:
    """Who carries out ``action``, in words (``the Education Welfare Service``)."""
    return _WHO.get(action.responsible, action.responsible)


def due_text(action: Action) -> str:
    """When ``action`` is due, in words; "" when the policy gives no due date."""
    return "" if action.due is None else action.due.describe()


def parameter_value(param: Parameter) -> str:
    """A parameter's values as an officer writes them (``£80 from 2024-08-19``)."""
    return parameter_values_text(param)


def parameter_citation(param: Parameter) -> Citation | None:
    """The citation of a parameter: its own, else that of its first cited dated value."""
    return param.cite or next((v.cite for v in param.values if v.cite), None)


def _parameters(policy: EffectivePolicy, titles: dict[str, str]) -> list[str]:
    lines = [
        "## Thresholds and other numbers",
        "",
        "| name | value | from | source |",
        "| --- | --- | --- | --- |",
    ]
    for name, param in sorted(policy.parameters.items()):
        lines.append(
            f"| `{name}` | {parameter_value(param)} | {_origin(policy.origin('parameter', name))} "
            f"| {_cite(parameter_citation(param), titles).replace('|', '/')} |"
        )
    return lines + [""]


def recommended_actions(policy: EffectivePolicy, rule: Rule) -> list[tuple[str, str]]:
    """The actions ``rule`` recommends that the policy defines, as (action id, title)."""
    return [(a, policy.actions[a].title) for a in rule.recommend if a in policy.actions]


def in_force_text(rule: Rule) -> str:
    """``from 2024-08-19 until 2025-08-31`` (either part as the rule has it; "" when always)."""
    dates = [
        f"from {rule.effective_from}" if rule.effective_from else "",
        f"until {rule.effective_to}" if rule.effective_to else "",
    ]
    return " ".join(d for d in dates if d)


def _rule(policy: EffectivePolicy, rule: Rule, titles: dict[str, str]) -> list[str]:
    lines = [f"### {rule.title}", "", f"- **When:** `{rule.when.text}`"]
    if rule.derive:
        lines.append("- **Then it counts as:** " + ", ".join(f"`{f}`" for f in rule.derive))
    if rule.recommend:
        lines.append(
            "- **Recommended:** "
            + "; ".join(f"{title} (`{a}`)" for a, title in recommended_actions(policy, rule))
        )
    for clause in rule.unless:
        lines.append(f"- **Held back when** `{clause.when.text}`: {clause.reason}")
    if in_force_text(rule):
        lines.append("- **In force:** " + in_force_text(rule))
    lines.append(f"- **Source:** {_cite(rule.cite, titles)}")
    if rule.local_choice:
        lines.append(f"- **Local choice:** {rule.local_choice.strip()}")
    lines.append(f"- *Rule `{rule.id}`, defined in {_origin(policy.rule_origin(rule))}.*")
    return lines + [""]


def _actions(policy: EffectivePolicy, titles: dict[str, str]) -> list[str]:
    lines = [
        "## Actions: who does what",
        "",
        "Record an action as done with the event in *recorded by*; until then it stays "
        "recommended.",
        "",
        "| action | kind | who | when due | recorded by | source |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, action in sorted(policy.actions.items()):
        done = f"`{action.completion.describe(name)}`" if action.completion else ""
        lines.append(
            f"| {action.title} (`{name}`) | {action.kind.replace('_', ' ')} | "
            f"{responsible(action)} | {due_text(action)} | {done} | "
            f"{_cite(action.cite, titles).replace('|', '/')} |"
        )
    return lines + [""]


def local_choices(policy: EffectivePolicy) -> list[tuple[str, str, str, str]]:
    """Every local choice of the policy as (kind, name, reading, policy that made it):
    parameters by name, rules in the order they are applied, then actions by name. Kinds are
    ``parameter``, ``rule`` and ``action`` (the handbook anchor kinds); a rule id can come
    twice (a replaced rule kept until its replacement starts), the policy tells them apart."""
    items = [
        ("parameter", n, p.local_choice, policy.origin("parameter", n).policy)
        for n, p in sorted(policy.parameters.items())
        if p.local_choice
    ]
    items += [("rule", r.id, r.local_choice, r.policy) for r in policy.rules if r.local_choice]
    items += [
        ("action", n, a.local_choice, policy.origin("action", n).policy)
        for n, a in sorted(policy.actions.items())
        if a.local_choice
    ]
    return [(kind, name, text.strip(), owner) for kind, name, text, owner in items]


def _local_choices(policy: EffectivePolicy) -> list[str]:
    lines = [
        "## Local choices",
        "",
        "Where a source is silent or ambiguous, the reading taken:",
        "",
    ]
    lines += [f"- {kind} `{name}`: {text}" for kind, name, text, _ in local_choices(policy)] or [
        "- none"
    ]
    return lines + [""]


def header_items(policy: EffectivePolicy) -> list[tuple[str, str]]:
    """The leaf policy's owner, version, dates in force and review date, as (label, text)."""
    leaf = policy.leaf
    return [
        ("Owner", leaf.owner or "not stated"),
        ("Version", leaf.version),
        (
            "In force",
            f"from {leaf.effective_from}"
            + (f" to {leaf.effective_to}" if leaf.effective_to else ""),
        ),
        ("Review due", f"{leaf.review_due or 'not stated'}"),
    ]


def source_items(policy: EffectivePolicy) -> list[tuple[str, str, str]]:
    """The documents the policy cites, by key, as (key, title, ``, publisher, date`` as known)."""
    return [
        (
            k,
            s.title,
            (f", {s.publisher}" if s.publisher else "") + (f", {s.date}" if s.date else ""),
        )
        for k, s in sorted(policy.sources.items())
    ]


def render_handbook(policy: EffectivePolicy) -> str:
    """The Markdown handbook of an effective policy."""
    leaf = policy.leaf
    titles = {k: s.title for k, s in policy.sources.items()}
    lines = [
        f"# {leaf.title}",
        "",
        f"*Generated by `attendance-rules policy doc {leaf.id}` — do not edit by hand.*",
        "",
    ]
    lines += [f"- **{label}:** {text}" for label, text in header_items(policy)]
    lines += [
        "- **Builds on:** " + " → ".join(f"`{p.id}`" for p in policy.chain),
        "",
        "## Sources",
        "",
    ]
    lines += [f"- `{k}`: *{title}*{rest}" for k, title, rest in source_items(policy)]
    lines += [""] + _parameters(policy, titles)
    lines += ["## Rules, in the order they are applied", ""]
    for rule in policy.rules:
        lines += _rule(policy, rule, titles)
    lines += _actions(policy, titles)
    if policy.disabled:
        lines += ["## Switched off from the parent policy", ""]
        lines += [
            f"- `{rule_id}`: {reason}" for rule_id, (reason, _) in sorted(policy.disabled.items())
        ] + [""]
    lines += _local_choices(policy)
    return "\n".join(lines)
