"""Reading one policy file: YAML checked against the schema, then built into a ``PolicyFile``.

``read_policy_file`` loads a file, checks it against ``schemas/policy.schema.json`` and
builds the model (``model.py``), collecting every further problem (dates, lengths of time,
values for their units, duplicate rule ids) before refusing the file with them all.
Numbers become exact fractions so thresholds compare exactly.
"""

from __future__ import annotations

import datetime as dt
import math
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal, TypeVar

import attrs

from ..exceptions import Location, PolicyError, Problem
from ..registers.history import EVENT_FIELDS, FIELD_KINDS, FieldSpec
from ..registers.measures import Window
from .model import (
    ACTION_KINDS,
    PARAMETER_UNITS,
    POLICY_KINDS,
    REPEATS,
    RESPONSIBLE_BODIES,
    SETTING_TYPES,
    Action,
    Citation,
    DatedValue,
    DoneBy,
    Due,
    EventType,
    MeasureUse,
    Parameter,
    ParameterUnit,
    PolicyFile,
    Rule,
    Setting,
    Source,
    Text,
    Unless,
)
from .schema import schema_problems
from .source import Document, load_yaml, parse_yaml
from .values import (
    SANITY_BOUNDS,
    TYPE_EXAMPLES,
    TYPE_WORDS,
    parameter_value_problems,
    parse_duration,
    window_problems,
)

__all__ = ["read_policy_file", "read_policy_text"]

_Word = TypeVar("_Word", bound=str)
# a parameter's unit, or "" for an override that keeps its parent's
_UNIT_OR_PARENTS: tuple[ParameterUnit | Literal[""], ...] = ("", *PARAMETER_UNITS)


def _one_of(value: Any, allowed: tuple[_Word, ...]) -> _Word:
    """``value`` as one of the words ``allowed`` (a Literal type's values): the schema has
    refused any other, so this narrows the type once, where the file is read."""
    for word in allowed:
        if value == word:
            return word
    raise ValueError(f"{value!r} is not one of {', '.join(allowed)} (the schema lets it through)")


class _Build:
    """Builds a PolicyFile from a schema-valid document, collecting further problems."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.problems: list[Problem] = []

    def date(self, path: tuple) -> dt.date | None:
        try:
            value = self.doc.get(path)
        except (KeyError, IndexError):
            return None
        if value is None:
            return None
        try:
            day = dt.date.fromisoformat(str(value))
        except ValueError:
            self.problems.append(
                Problem(
                    "not a real date",
                    self.doc.where(path),
                    found=repr(value),
                    expected="YYYY-MM-DD",
                    example="2024-08-19",
                )
            )
            return None
        # The sanity bound keeps later arithmetic (windows, due dates, replays) clear of the ends
        # of Python's calendar, where it would overflow.
        if not SANITY_BOUNDS.first_date <= day <= SANITY_BOUNDS.last_date:
            self.problems.append(
                Problem(
                    "date out of range",
                    self.doc.where(path),
                    found=str(day),
                    expected=f"a date from {SANITY_BOUNDS.first_date} to {SANITY_BOUNDS.last_date} "
                    "(a local sanity bound)",
                    example="2024-08-19",
                )
            )
            return None
        return day

    def required_date(self, path: tuple) -> dt.date:
        """A date the schema requires. None from ``date`` means a problem was recorded and
        the file is refused, so the placeholder is never seen."""
        return self.date(path) or SANITY_BOUNDS.first_date

    def cite(self, path: tuple) -> Citation | None:
        raw = _get(self.doc.data, path)
        if not isinstance(raw, dict):
            return None
        return Citation(
            source=raw["source"],
            says=raw["says"],
            section=str(raw.get("section", "")),
            page=str(raw.get("page", "")),
            paragraph=str(raw.get("paragraph", "")),
            note=raw.get("note", ""),
            location=self.doc.where(path),
        )

    def text(self, path: tuple) -> Text:
        return Text(str(self.doc.get(path)), self.doc.where(path), self.doc.column_map(path))

    def parameter(
        self, name: str, path: tuple, default_unit: ParameterUnit | Literal[""] = "count"
    ) -> Parameter:
        raw = self.doc.get(path)
        if "values" in raw:
            values = tuple(
                DatedValue(
                    start=self.date(path + ("values", i, "from")),
                    value=_number(v["value"]),
                    cite=self.cite(path + ("values", i, "cite")),
                    location=self.doc.where(path + ("values", i, "value")),
                )
                for i, v in enumerate(raw["values"])
            )
        else:
            values = (
                DatedValue(
                    start=None,
                    value=_number(raw["value"]),
                    cite=None,
                    location=self.doc.where(path + ("value",)),
                ),
            )
        parameter = Parameter(
            name=name,
            unit=_one_of(raw.get("unit", default_unit), _UNIT_OR_PARENTS),
            values=values,
            cite=self.cite(path + ("cite",)),
            local_choice=raw.get("local_choice", ""),
            description=raw.get("description", ""),
            bounds=raw.get("bounds"),
            origin=self.doc.where(path, key=True),
        )
        # an override without a unit is checked once layering gives it the parent's
        if parameter.unit:
            self.problems.extend(parameter_value_problems(parameter))
        return parameter

    def measure(self, name: str, path: tuple) -> MeasureUse:
        raw = self.doc.get(path)
        window = None
        if raw.get("window"):
            try:
                window = Window.parse(raw["window"])
            except ValueError as err:
                self.problems.append(Problem(str(err), self.doc.where(path + ("window",))))
            self.problems.extend(window_problems(window, self.doc.where(path + ("window",))))
        return MeasureUse(
            name=name,
            measure=raw["measure"],
            window=window,
            codes=tuple(raw.get("codes", ())),
            description=raw.get("description", ""),
            cite=self.cite(path + ("cite",)),
            origin=self.doc.where(path, key=True),
            not_before=raw.get("not_before", ""),
        )

    def due(self, path: tuple) -> Due | None:
        raw = _get(self.doc.data, path)
        if not isinstance(raw, dict):
            return None
        if "within_school_days" in raw:
            return self.due_within(raw["within_school_days"], path + ("within_school_days",))
        try:
            (start, school), (end, school_to) = (
                parse_duration(raw["from"]),
                parse_duration(raw["to"]),
            )
            # A window from 5 school days to 3 calendar weeks has no single reading (school days are
            # the pupil's, calendar weeks everyone's), so the two ends must agree.
            if school != school_to:
                raise ValueError(
                    "a due window's from and to must both be school days/weeks or both calendar "
                    "time"
                )
        except ValueError as err:
            self.problems.append(Problem(str(err), self.doc.where(path)))
            return None
        for key, days in (("from", start), ("to", end)):
            self.span_problem(days, school, raw[key], path + (key,))
        return Due(
            after=raw["after"],
            from_days=start,
            to_days=end,
            school_days=school,
            after_location=self.doc.where(path + ("after",)),
        )

    def due_within(self, days: int, path: tuple) -> Due:
        """A ``within_school_days`` due date, refused past the sanity bound."""
        self.span_problem(days, True, days, path)
        return Due(within_school_days=int(days))

    def span_problem(self, days: int, school: bool, written: Any, path: tuple) -> None:
        """A problem when a length of time written at ``path`` passes the sanity bound."""
        if days > SANITY_BOUNDS.max_days(school):
            self.problems.append(
                Problem(
                    "length of time out of range",
                    self.doc.where(path),
                    found=str(written),
                    expected=SANITY_BOUNDS.describe(school) + ", a local sanity bound",
                )
            )

    def done_by(self, path: tuple) -> DoneBy | None:
        raw = _get(self.doc.data, path)
        if raw is None:
            return None
        event, fields = (
            (raw, {}) if isinstance(raw, str) else (raw.get("event"), raw.get("with") or {})
        )
        # the event type and its fields are checked once the chain's declared types are known
        field_locations = tuple((k, self.doc.where(path + ("with", k))) for k in fields)
        return DoneBy(
            event=event,
            fields=tuple(sorted(fields.items())),
            location=self.doc.where(path),
            field_locations=field_locations,
        )

    def action(self, action_id: str, path: tuple) -> Action:
        raw = self.doc.get(path)
        return Action(
            id=action_id,
            title=raw["title"],
            kind=_one_of(raw["kind"], ACTION_KINDS),
            responsible=_one_of(raw["responsible"], RESPONSIBLE_BODIES),
            cite=self.cite(path + ("cite",)),
            due=self.due(path + ("due",)),
            repeat=_one_of(raw.get("repeat", "once_per_academic_year"), REPEATS),
            done_by=self.done_by(path + ("done_by",)),
            description=raw.get("description", ""),
            local_choice=raw.get("local_choice", ""),
            replaces=raw.get("replaces", ""),
            effective_from=self.date(path + ("effective_from",)),
            effective_to=self.date(path + ("effective_to",)),
            parameters=tuple(raw.get("parameters", ())),
            origin=self.doc.where(path, key=True),
        )

    def rule(self, path: tuple, policy_id: str) -> Rule:
        raw = self.doc.get(path)
        unless = tuple(
            Unless(
                when=self.text(path + ("unless", i, "when")),
                reason=u["reason"],
                actions=tuple(u.get("actions", ())),
                cite=self.cite(path + ("unless", i, "cite")),
                origin=self.doc.where(path + ("unless", i)),
            )
            for i, u in enumerate(raw.get("unless", ()))
        )
        return Rule(
            id=raw["id"],
            title=raw["title"],
            when=self.text(path + ("when",)),
            cite=self.cite(path + ("cite",)),
            derive=_ids(raw.get("derive")),
            recommend=_ids(raw.get("recommend")),
            unless=unless,
            priority=int(raw.get("priority", 0)),
            effective_from=self.date(path + ("effective_from",)),
            effective_to=self.date(path + ("effective_to",)),
            description=raw.get("description", ""),
            local_choice=raw.get("local_choice", ""),
            replaces=raw.get("replaces", ""),
            policy=policy_id,
            origin=self.doc.where(path),
        )

    def setting(self, name: str, path: tuple) -> Setting:
        """A declared school setting; its default must have its type."""
        raw = self.doc.get(path)
        setting = Setting(
            name=name,
            type=_one_of(raw["type"], SETTING_TYPES),
            default=_number(raw["default"]),
            description=raw["description"],
            cite=self.cite(path + ("cite",)),
            local_choice=raw.get("local_choice", ""),
            origin=self.doc.where(path, key=True),
        )
        if not setting.accepts(setting.default):
            self.problems.append(
                Problem(
                    f"the default of setting {name!r} is not {TYPE_WORDS[setting.type]}",
                    self.doc.where(path + ("default",)),
                    found=repr(raw["default"]),
                    expected=TYPE_WORDS[setting.type],
                    example=TYPE_EXAMPLES[setting.type],
                )
            )
        return setting

    def event_type(self, name: str, path: tuple) -> EventType:
        """A declared event type; a standard type cannot be declared again."""
        raw = self.doc.get(path)
        if name in EVENT_FIELDS:
            self.problems.append(
                Problem(
                    f"event type {name!r} is a standard type and cannot be declared again",
                    self.doc.where(path, key=True),
                    found=name,
                    expected="a new event type name (standard types need no declaration)",
                )
            )
        fields: dict[str, FieldSpec] = {
            k: tuple(v) if isinstance(v, list) else _one_of({"text": "str"}.get(v, v), FIELD_KINDS)
            for k, v in (raw.get("fields") or {}).items()
        }
        return EventType(
            name=name,
            fields=fields,
            description=raw["description"],
            cite=self.cite(path + ("cite",)),
            origin=self.doc.where(path, key=True),
        )

    def policy(self) -> PolicyFile:
        d = self.doc.data
        sources = {
            k: Source(
                id=k,
                title=v["title"],
                publisher=v.get("publisher", ""),
                date=str(v.get("date", "")),
                location_hint=v.get("location", ""),
                url=v.get("url", ""),
                origin=self.doc.where(("sources", k), key=True),
            )
            for k, v in d.get("sources", {}).items()
        }
        seen: dict[str, Location] = {}
        rules = []
        for i, raw in enumerate(d.get("rules", ())):
            rule = self.rule(("rules", i), d["id"])
            if rule.id in seen:
                self.problems.append(
                    Problem(
                        f"duplicate rule id {rule.id!r}",
                        rule.origin,
                        expected=f"ids unique in a file; first defined at {seen[rule.id]}",
                    )
                )
            seen.setdefault(rule.id, rule.origin)
            rules.append(rule)
        return PolicyFile(
            id=d["id"],
            title=d["title"],
            kind=_one_of(d["kind"], POLICY_KINDS),
            version=str(d["version"]),
            effective_from=self.required_date(("effective_from",)),
            document=self.doc,
            effective_to=self.date(("effective_to",)),
            review_due=self.date(("review_due",)),
            owner=d.get("owner", ""),
            extends=d.get("extends", ""),
            sources=sources,
            flags=dict(d.get("flags", {})),
            settings={k: self.setting(k, ("settings", k)) for k in d.get("settings", {})},
            event_types={
                k: self.event_type(k, ("event_types", k)) for k in d.get("event_types", {})
            },
            parameters={k: self.parameter(k, ("parameters", k)) for k in d.get("parameters", {})},
            # an override without a unit keeps the parent's (layers.py fills it in)
            override_parameters={
                k: self.parameter(k, ("override_parameters", k), "")
                for k in d.get("override_parameters", {})
            },
            measures={k: self.measure(k, ("measures", k)) for k in d.get("measures", {})},
            actions={k: self.action(k, ("actions", k)) for k in d.get("actions", {})},
            rules=tuple(rules),
            disable_rules={
                k: (v, self.doc.where(("disable_rules", k), key=True))
                for k, v in d.get("disable_rules", {}).items()
            },
        )


def _get(data: Any, path: tuple) -> Any:
    for step in path:
        try:
            data = data[step]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _ids(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _number(value: Any) -> Any:
    """Numbers become exact fractions (ints stay ints) so thresholds compare exactly."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return value  # .nan and .inf have no exact fraction; the unit check refuses them
    return value if isinstance(value, int) else Fraction(str(value))


def _from_document(doc: Document) -> PolicyFile:
    if not isinstance(doc.data, dict):
        raise PolicyError(
            [
                Problem(
                    "a policy is a mapping of keys (id, title, kind, …)",
                    doc.where(()),
                    found=type(doc.data).__name__,
                )
            ]
        )
    # Schema first, and only a valid document is built: `_Build` can then index keys the schema
    # requires without checking each one, and every problem still carries its line.
    problems = schema_problems(doc)
    if problems:
        raise PolicyError(problems)
    build = _Build(doc)
    policy = build.policy()
    if build.problems:
        raise PolicyError(build.problems)
    return policy


def read_policy_file(path: str | Path) -> PolicyFile:
    """Load and schema-check one policy file; ``PolicyError`` lists every problem."""
    return _from_document(load_yaml(path))


def read_policy_text(text: str, file: str = "<string>") -> PolicyFile:
    """Like ``read_policy_file`` for YAML text (tests, editors)."""
    import hashlib

    doc = attrs.evolve(
        parse_yaml(text, file), digest="sha256:" + hashlib.sha256(text.encode()).hexdigest()
    )
    return _from_document(doc)
