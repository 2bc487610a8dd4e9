"""Layering: national → authority → school files combined into one effective policy.

A child adds names of its own, overrides parent parameters under
``override_parameters``, replaces a parent rule or action (same id plus ``replaces:``
with a reason) and switches parent rules off under ``disable_rules``. Every entry of the
effective policy keeps its origin — the file and line it came from, and what it
replaced — so auditors can follow any value back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from fractions import Fraction
from pathlib import Path
from typing import Literal, Mapping, Sequence

import attrs

from ..exceptions import Location, PolicyError, PolicyNotFoundError, Problem
from .build import read_policy_file
from .model import (
    Action,
    EventType,
    MeasureUse,
    Parameter,
    PolicyFile,
    PolicyKind,
    Rule,
    Setting,
    Source,
)
from .resources import bundled_policy_dir
from .values import parameter_value_problems

__all__ = ["EffectivePolicy", "Origin", "PolicyLoader", "load_policy_files", "resolve"]

# the kinds of entry a chain merges (the prefix of an origin's key)
_Entry = Literal["flag", "setting", "event_type", "parameter", "measure", "action", "rule"]
_KIND_PARENTS: Mapping[PolicyKind, tuple[PolicyKind, ...]] = {
    "school": ("authority", "national"),
    "authority": ("national",),
    "national": (),
}


@attrs.frozen(kw_only=True)
class Origin:
    """Where an entry of the effective policy was defined, and what it replaced."""

    policy: str
    location: Location
    replaced: tuple["Origin", ...] = ()
    reason: str = ""

    def __str__(self) -> str:
        text = f"{self.policy} ({self.location})"
        for old in self.replaced:
            text += f"; replaces {old.policy} ({old.location})"
        return text


@attrs.frozen(kw_only=True)
class EffectivePolicy:
    """A policy with all its parents folded in; what the compiler reads."""

    leaf: PolicyFile
    chain: tuple[PolicyFile, ...]
    sources: Mapping[str, Source]
    flags: Mapping[str, str]
    parameters: Mapping[str, Parameter]
    measures: Mapping[str, MeasureUse]
    actions: Mapping[str, Action]
    rules: tuple[Rule, ...]
    disabled: Mapping[str, tuple[str, Origin]]
    origins: Mapping[str, Origin]
    warnings: tuple[Problem, ...] = ()
    settings: Mapping[str, Setting] = attrs.field(factory=dict)
    event_types: Mapping[str, EventType] = attrs.field(factory=dict)

    @property
    def id(self) -> str:
        """The leaf policy's id."""
        return self.leaf.id

    @property
    def version(self) -> str:
        """The leaf policy's version."""
        return self.leaf.version

    @property
    def digest(self) -> str:
        """One SHA-256 over every file of the chain, root first."""
        h = hashlib.sha256()
        for policy in self.chain:
            # NUL-separated (no id or digest holds a NUL), so two different chains never feed the
            # hash the same bytes.
            h.update(policy.id.encode() + b"\0" + policy.digest.encode() + b"\0")
        return "sha256:" + h.hexdigest()

    def policy_in_force(self, policy_id: str, day: dt.date) -> bool:
        """True when the layer ``policy_id`` of the chain is in force on ``day``."""
        for policy in self.chain:
            if policy.id == policy_id:
                return policy.effective_from <= day and (
                    policy.effective_to is None or day <= policy.effective_to
                )
        return False

    def origin(self, kind: str, name: str) -> Origin:
        """Origin of ``name`` of a ``kind``: ``parameter``, ``measure``, ``action``, ``rule``,
        ``flag``, ``setting`` or ``event_type``."""
        return self.origins[f"{kind}:{name}"]

    def rule_origin(self, rule: Rule) -> Origin:
        """The origin of this very rule: a replaced rule kept until its replacement starts has its
        own."""
        origin = self.origin("rule", rule.id)
        todo = [origin]
        while todo:
            # Breadth first through what each origin replaced: the origin of this very rule may be a
            # parent's, kept in force until its replacement starts (`_Merge.keep_until_replaced`).
            candidate = todo.pop(0)
            if candidate.policy == rule.policy:
                return candidate
            todo.extend(candidate.replaced)
        return origin


class PolicyLoader:
    """Finds policy files by path or id: next to the files already loaded, then bundled."""

    def __init__(self, search_dirs: Sequence[str | Path] = ()) -> None:
        self.search_dirs = [Path(d) for d in search_dirs]
        self.cache: dict[Path, PolicyFile] = {}

    def locate(self, ref: str, near: Path | None = None) -> Path | None:
        """The file for ``ref`` (a path, or an id looked up as ``<id>.yaml``)."""
        path = Path(ref)
        if path.suffix in (".yaml", ".yml") and path.is_file():
            return path
        # A parent beside its child comes first, so a local copy of `england.yaml` shadows the
        # bundled one for that chain only; the bundled policies come last, as a fallback.
        dirs = ([near] if near else []) + self.search_dirs + [bundled_policy_dir()]
        for directory in dirs:
            for suffix in (".yaml", ".yml"):
                if (directory / f"{ref}{suffix}").is_file():
                    return directory / f"{ref}{suffix}"
        return None

    def load(self, path: Path) -> PolicyFile:
        """Read (once) and schema-check the file at ``path``."""
        key = path.resolve()
        if key not in self.cache:
            self.cache[key] = read_policy_file(path)
        return self.cache[key]

    def chain(self, ref: str) -> tuple[PolicyFile, ...]:
        """The policy ``ref`` and its ancestors, root first; errors for missing or looping
        parents."""
        path = self.locate(ref)
        if path is None:
            raise PolicyNotFoundError(
                [
                    Problem(
                        f"no policy {ref!r} found",
                        Location(ref),
                        expected="a policy file path or the id of a bundled policy",
                    )
                ]
            )
        chain = [self.load(path)]
        while chain[-1].extends:
            child = chain[-1]
            where = child.document.where(("extends",))
            # Compared by id, not by path: a loop through two copies of one policy is still a loop.
            if any(p.id == child.extends for p in chain):
                names = " → ".join(p.id for p in chain) + f" → {child.extends}"
                raise PolicyError([Problem(f"extends chain loops: {names}", where)])
            parent_path = self.locate(child.extends, Path(child.file).parent)
            if parent_path is None:
                raise PolicyNotFoundError(
                    [
                        Problem(
                            f"parent policy {child.extends!r} not found",
                            where,
                            expected=f"{child.extends}.yaml beside {Path(child.file).name} "
                            "or among the bundled policies",
                        )
                    ]
                )
            chain.append(self.load(parent_path))
        return tuple(reversed(chain))


class _Merge:
    """Folds the files of a chain, root first, recording origins and problems."""

    def __init__(self) -> None:
        self.sources: dict[str, Source] = {}
        self.flags: dict[str, str] = {}
        self.settings: dict[str, Setting] = {}
        self.event_types: dict[str, EventType] = {}
        self.parameters: dict[str, Parameter] = {}
        self.measures: dict[str, MeasureUse] = {}
        self.actions: dict[str, Action] = {}
        self.rules: dict[str, Rule] = {}
        self.disabled: dict[str, tuple[str, Origin]] = {}
        self.origins: dict[str, Origin] = {}
        self.problems: list[Problem] = []
        self.superseded: list[Rule] = []  # replaced rules, in force until their replacement starts
        self.starts: dict[str, dt.date] = {}

    def error(self, message: str, where: Location, **extra: str) -> None:
        self.problems.append(Problem(message, where, **extra))

    def add_new(
        self, kind: _Entry, table: dict, name: str, value: object, where: Location, policy: str
    ) -> None:
        key = f"{kind}:{name}"
        if key in self.origins:
            # A silent redefinition would let a school change a national rule with no trace, so a
            # clash is an error, and a replacement needs a `replaces:` reason its origin keeps.
            hint = {
                "parameter": "put it under override_parameters",
                "flag": "remove the duplicate",
                "setting": "remove the duplicate",
                "event_type": "remove the duplicate",
                "measure": "use another name",
            }.get(kind, "add `replaces: <reason>` to replace it")
            self.error(
                f"{kind} {name!r} is already defined by {self.origins[key]}", where, expected=hint
            )
            return
        table[name] = value
        self.origins[key] = Origin(policy=policy, location=where)

    def replace(
        self,
        kind: _Entry,
        table: dict,
        name: str,
        value: object,
        where: Location,
        policy: str,
        reason: str,
    ) -> None:
        key = f"{kind}:{name}"
        if key not in self.origins:
            self.error(
                f"{kind} {name!r} says it replaces a parent's, but no parent defines it",
                where,
                expected="an id defined by a parent policy, or no `replaces:`",
            )
            return
        if kind == "rule":
            assert isinstance(value, Rule), "a rule is replaced by a rule"
            self.keep_until_replaced(table[name], value)
        table[name] = value
        self.origins[key] = Origin(
            policy=policy, location=where, replaced=(self.origins[key],), reason=reason
        )

    def keep_until_replaced(self, old: Rule, new: Rule) -> None:
        """A replaced rule still applies before the replacing policy comes into force."""
        start = self.starts.get(new.policy)
        if start is None or (old.effective_from and old.effective_from >= start):
            return
        # Replacing a rule takes effect from the replacing policy's start, not retroactively: a
        # replay of earlier dates keeps deciding by the parent's rule, which the parent's file says
        # was in force.
        end = start - dt.timedelta(days=1)
        self.superseded.append(attrs.evolve(old, effective_to=min(old.effective_to or end, end)))

    def fold(self, policy: PolicyFile) -> None:
        pid = policy.id
        self.starts[pid] = policy.effective_from
        for name, source in policy.sources.items():
            # The first (most general) definition of a source wins: a citation means the same
            # document whichever layer cites it.
            self.sources.setdefault(name, source)
        for name, text in policy.flags.items():
            self.add_new(
                "flag",
                self.flags,
                name,
                text,
                policy.document.where(("flags", name), key=True),
                pid,
            )
        for name, setting in policy.settings.items():
            self.add_new("setting", self.settings, name, setting, setting.origin, pid)
        for name, event_type in policy.event_types.items():
            self.add_new("event_type", self.event_types, name, event_type, event_type.origin, pid)
        for name, param in policy.parameters.items():
            self.add_new("parameter", self.parameters, name, param, param.origin, pid)
        for name, param in policy.override_parameters.items():
            self.override(param, pid)
        for name, use in policy.measures.items():
            self.add_new("measure", self.measures, name, use, use.origin, pid)
        for name, action in policy.actions.items():
            if action.replaces:
                self.replace(
                    "action", self.actions, name, action, action.origin, pid, action.replaces
                )
            else:
                self.add_new("action", self.actions, name, action, action.origin, pid)
        for rule in policy.rules:
            if rule.replaces:
                self.replace("rule", self.rules, rule.id, rule, rule.origin, pid, rule.replaces)
            else:
                self.add_new("rule", self.rules, rule.id, rule, rule.origin, pid)
        for rule_id, (reason, where) in policy.disable_rules.items():
            if rule_id not in self.rules:
                self.error(f"disable_rules names {rule_id!r}, which no parent defines", where)
                continue
            self.disabled[rule_id] = (
                reason,
                Origin(
                    policy=pid,
                    location=where,
                    replaced=(self.origins[f"rule:{rule_id}"],),
                    reason=reason,
                ),
            )

    def override(self, param: Parameter, pid: str) -> None:
        key = f"parameter:{param.name}"
        old = self.parameters.get(param.name)
        if old is None:
            self.error(
                f"override_parameters names {param.name!r}, which no parent defines",
                param.origin,
                expected="a parameter of a parent policy (new ones go under parameters)",
            )
            return
        if param.unit and param.unit != old.unit:
            self.error(
                f"override of {param.name!r} changes its unit",
                param.origin,
                found=param.unit,
                expected=f"{old.unit}, as at {old.origin}",
            )
            return
        if not param.unit:  # read without a unit: its values are checked against the parent's
            self.problems.extend(parameter_value_problems(attrs.evolve(param, unit=old.unit)))
        self.problems.extend(bound_problems(old, param, self.origins[key]))
        # The parent's bounds stay with the parameter: a child cannot loosen a bound by overriding
        # the value and its bounds in one go, and a grandchild is still held to them.
        self.parameters[param.name] = attrs.evolve(
            param, unit=old.unit, bounds=old.bounds or param.bounds
        )
        self.origins[key] = Origin(policy=pid, location=param.origin, replaced=(self.origins[key],))


_BOUND_TESTS = {
    "fixed": (lambda new, old, b: new == old, "must stay {old}"),
    "only_lower": (lambda new, old, b: new <= old, "may only be lowered from {old}"),
    "only_higher": (lambda new, old, b: new >= old, "may only be raised from {old}"),
    "range": (
        lambda new, old, b: b.get("min", new) <= new <= b.get("max", new),
        "must stay between {min} and {max}",
    ),
}


def bound_problems(old: Parameter, new: Parameter, origin: Origin) -> list[Problem]:
    """Problems where ``new`` (a child's override) breaks the parent's declared bounds.

    Each dated value of the override is checked against the parent's value in force on
    the same date (or the parent's first value).
    """
    bounds = old.bounds or {}
    test = _BOUND_TESTS.get(bounds.get("change", "free"))
    if test is None:
        return []
    check, wording = test
    problems = []
    for dated in new.values:
        # Each dated value against the parent's value on the same date, since a parent's threshold
        # may itself change over time.
        previous = old.value_on(dated.start) if dated.start else old.values[0].value
        if (
            previous is None
            or not _numbers(dated.value, previous)
            or check(dated.value, previous, bounds)
        ):
            continue
        rule = wording.format(old=previous, min=bounds.get("min"), max=bounds.get("max"))
        reason = f" ({bounds['reason'].strip()})" if bounds.get("reason") else ""
        problems.append(
            Problem(
                f"override of {new.name!r} breaks the bound declared at {origin.location} "
                f"by {origin.policy}: it {rule}{reason}",
                new.origin,
                found=str(dated.value),
                expected=rule,
            )
        )
    return problems


def _numbers(*values: object) -> bool:
    return all(isinstance(v, (int, Fraction)) and not isinstance(v, bool) for v in values)


def resolve(chain: Sequence[PolicyFile]) -> EffectivePolicy:
    """Fold a chain (root first) into the effective policy; ``PolicyError`` on conflicts."""
    merge = _Merge()
    for parent, child in zip(chain, chain[1:]):
        if parent.kind not in _KIND_PARENTS[child.kind]:
            merge.error(
                f"a {child.kind} policy cannot extend a {parent.kind} policy",
                child.document.where(("extends",)),
                expected=" or ".join(_KIND_PARENTS[child.kind]) or "none",
            )
    for policy in chain:
        merge.fold(policy)
    if merge.problems:
        raise PolicyError(merge.problems)
    # Superseded rules first: each ends the day before its replacement starts, so the two never both
    # hold; a disabled id switches off the old version with the new.
    rules = tuple(
        r for r in (*merge.superseded, *merge.rules.values()) if r.id not in merge.disabled
    )
    return EffectivePolicy(
        leaf=chain[-1],
        chain=tuple(chain),
        sources=merge.sources,
        flags=merge.flags,
        parameters=merge.parameters,
        measures=merge.measures,
        actions=merge.actions,
        rules=rules,
        disabled=merge.disabled,
        origins=merge.origins,
        settings=merge.settings,
        event_types=merge.event_types,
    )


def load_policy_files(ref: str | Path, search_dirs: Sequence[str | Path] = ()) -> EffectivePolicy:
    """Load the policy ``ref`` (a path or a bundled id) with its parents, and fold them."""
    return resolve(PolicyLoader(search_dirs).chain(str(ref)))
