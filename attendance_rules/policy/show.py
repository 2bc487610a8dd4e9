"""Render an effective policy with the origin of every entry (``policy show``)."""

from __future__ import annotations

from typing import Any

from ..jsonform import dumps
from .layers import EffectivePolicy
from .model import Citation
from .values import parameter_values_text

__all__ = ["policy_as_data", "show_policy"]


def _cite(cite: Citation | None) -> str:
    return str(cite) if cite else "(no citation)"


def show_policy(policy: EffectivePolicy, as_json: bool = False) -> str:
    """The effective policy as text (or JSON) with origins."""
    if as_json:
        return dumps(policy_as_data(policy))
    lines = [
        f"{policy.leaf.title} ({policy.id} {policy.version})",
        "chain: " + " → ".join(f"{p.id} ({p.file})" for p in policy.chain),
        "",
        "parameters:",
    ]
    for name, param in sorted(policy.parameters.items()):
        lines.append(
            f"  {name} = {parameter_values_text(param)}    [{policy.origin('parameter', name)}]"
        )
        lines.append(
            f"      cites {_cite(param.cite)}"
            + (f"; local choice: {param.local_choice}" if param.local_choice else "")
        )
    lines += ["", "measures:"]
    for name, use in sorted(policy.measures.items()):
        cut = f" not before {use.not_before}" if use.not_before else ""
        lines.append(
            f"  {name} = {use.measure} over {use.window}{cut}    [{policy.origin('measure', name)}]"
        )
    lines += ["", "actions:"]
    for name, action in sorted(policy.actions.items()):
        lines.append(
            f"  {name}: {action.title} ({action.kind}, {action.responsible})"
            f"    [{policy.origin('action', name)}]"
        )
    lines += ["", "rules:"]
    for rule in policy.rules:
        lines.append(f"  {rule.id}: {rule.title}    [{policy.rule_origin(rule)}]")
        lines.append(f"      when {rule.when.text}")
        lines.append(f"      cites {_cite(rule.cite)}")
    if policy.disabled:
        lines += ["", "disabled rules:"]
        for rule_id, (reason, origin) in sorted(policy.disabled.items()):
            lines.append(f"  {rule_id}: {reason}    [{origin}]")
    return "\n".join(lines) + "\n"


def policy_as_data(policy: EffectivePolicy) -> dict[str, Any]:
    """JSON-ready effective policy: ids, values and origins."""

    def where(kind: str, name: str) -> str:
        return str(policy.origin(kind, name))

    return {
        "id": policy.id,
        "version": policy.version,
        "digest": policy.digest,
        "chain": [{"id": p.id, "file": p.file, "digest": p.digest} for p in policy.chain],
        "parameters": {
            n: {
                "value": parameter_values_text(p),
                "unit": p.unit,
                "origin": where("parameter", n),
                "local_choice": p.local_choice or None,
            }
            for n, p in sorted(policy.parameters.items())
        },
        "actions": {
            n: {"title": a.title, "kind": a.kind, "origin": where("action", n)}
            for n, a in sorted(policy.actions.items())
        },
        "rules": [
            {"id": r.id, "when": r.when.text, "origin": str(policy.rule_origin(r))}
            for r in policy.rules
        ],
        "disabled": {
            k: {"reason": reason, "origin": str(origin)}
            for k, (reason, origin) in policy.disabled.items()
        },
    }
