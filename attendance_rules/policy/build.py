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
from typing import Any

import attrs

from ..exceptions import Location, PolicyError, Problem
from ..registers.history import EVENT_FIELDS
from ..registers.measures import Window
from .model import (
    Action,
    Citation,
    DatedValue,
    DoneBy,
    Due,
    EventType,
    MeasureUse,
    Parameter,
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
            raw["source"],
            raw["says"],
            str(raw.get("section", "")),
            str(raw.get("page", "")),
            str(raw.get("paragraph", "")),
            raw.get("note", ""),
            self.doc.where(path),
        )

    def text(self, path: tuple) -> Text:
        return Text(str(self.doc.get(path)), self.doc.where(path), self.doc.column_map(path))

    def parameter(self, name: str, path: tuple, default_unit: str = "count") -> Parameter:
        raw = self.doc.get(path)
        if "values" in raw:
            values = tuple(
                DatedValue(
                    self.date(path + ("values", i, "from")),
                    _number(v["value"]),
                    self.cite(path + ("values", i, "cite")),
                    self.doc.where(path + ("values", i, "value")),
                )
                for i, v in enumerate(raw["values"])
            )
        else:
            values = (
                DatedValue(None, _number(raw["value"]), None, self.doc.where(path + ("value",))),
            )
        parameter = Parameter(
            name,
            raw.get("unit", default_unit),
            values,
            self.cite(path + ("cite",)),
            raw.get("local_choice", ""),
            raw.get("description", ""),
            raw.get("bounds"),
            self.doc.where(path, key=True),
        )
        if (
            parameter.unit
        ):  # an override without a unit is checked once layering gives it the parent's
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
            name,
            raw["measure"],
            window,
            tuple(raw.get("codes", ())),
            raw.get("description", ""),
            self.cite(path + ("cite",)),
            self.doc.where(path, key=True),
            raw.get("not_before", ""),
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
        return DoneBy(event, tuple(sorted(fields.items())), self.doc.where(path), field_locations)

    def action(self, action_id: str, path: tuple) -> Action:
        raw = self.doc.get(path)
        return Action(
            action_id,
            raw["title"],
            raw["kind"],
            raw["responsible"],
            self.cite(path + ("cite",)),
            self.due(path + ("due",)),
            raw.get("repeat", "once_per_academic_year"),
            self.done_by(path + ("done_by",)),
            raw.get("description", ""),
            raw.get("local_choice", ""),
            raw.get("replaces", ""),
            self.date(path + ("effective_from",)),
            self.date(path + ("effective_to",)),
            tuple(raw.get("parameters", ())),
            self.doc.where(path, key=True),
        )

    def rule(self, path: tuple, policy_id: str) -> Rule:
        raw = self.doc.get(path)
        unless = tuple(
            Unless(
                self.text(path + ("unless", i, "when")),
                u["reason"],
                tuple(u.get("actions", ())),
                self.cite(path + ("unless", i, "cite")),
                self.doc.where(path + ("unless", i)),
            )
            for i, u in enumerate(raw.get("unless", ()))
        )
        return Rule(
            raw["id"],
            raw["title"],
            self.text(path + ("when",)),
            self.cite(path + ("cite",)),
            _ids(raw.get("derive")),
            _ids(raw.get("recommend")),
            unless,
            int(raw.get("priority", 0)),
            self.date(path + ("effective_from",)),
            self.date(path + ("effective_to",)),
            raw.get("description", ""),
            raw.get("local_choice", ""),
            raw.get("replaces", ""),
            policy_id,
            self.doc.where(path),
        )

    def setting(self, name: str, path: tuple) -> Setting:
        """A declared school setting; its default must have its type."""
        raw = self.doc.get(path)
        setting = Setting(
            name,
            raw["type"],
            _number(raw["default"]),
            raw["description"],
            self.cite(path + ("cite",)),
            raw.get("local_choice", ""),
            self.doc.where(path, key=True),
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
        fields = {
            k: tuple(v) if isinstance(v, list) else {"text": "str"}.get(v, v)
            for k, v in (raw.get("fields") or {}).items()
        }
        return EventType(
            name,
            fields,
            raw["description"],
            self.cite(path + ("cite",)),
            self.doc.where(path, key=True),
        )

    def policy(self) -> PolicyFile:
        d = self.doc.data
        sources = {
            k: Source(
                k,
                v["title"],
                v.get("publisher", ""),
                str(v.get("date", "")),
                v.get("location", ""),
                v.get("url", ""),
                self.doc.where(("sources", k), key=True),
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
            d["id"],
            d["title"],
            d["kind"],
            str(d["version"]),
            self.required_date(("effective_from",)),
            self.doc,
            self.date(("effective_to",)),
            self.date(("review_due",)),
            d.get("owner", ""),
            d.get("extends", ""),
            sources,
            dict(d.get("flags", {})),
            {k: self.setting(k, ("settings", k)) for k in d.get("settings", {})},
            {k: self.event_type(k, ("event_types", k)) for k in d.get("event_types", {})},
            {k: self.parameter(k, ("parameters", k)) for k in d.get("parameters", {})},
            # an override without a unit keeps the parent's (layers.py fills it in)
            {
                k: self.parameter(k, ("override_parameters", k), "")
                for k in d.get("override_parameters", {})
            },
            {k: self.measure(k, ("measures", k)) for k in d.get("measures", {})},
            {k: self.action(k, ("actions", k)) for k in d.get("actions", {})},
            tuple(rules),
            {
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
