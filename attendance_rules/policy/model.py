"""The policy model: one YAML file read into frozen, located value objects.

``read_policy_file`` loads a file, checks it against ``schemas/policy.schema.json`` and
builds a ``PolicyFile`` whose every citation, parameter, measure, action and rule keeps
its file, line and column. Layering (``layers.py``) combines files into the effective
policy; conditions are parsed there, once every name in the chain is known.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Mapping

import attrs

from ..exceptions import Location, PolicyError, Problem
from ..registers.history import EVENT_FIELDS, Event
from ..registers.measures import Window, format_value
from .schema import schema_problems
from .source import Document, load_yaml, parse_yaml

__all__ = [
    "Action",
    "Citation",
    "DatedValue",
    "DoneBy",
    "Due",
    "EventType",
    "MeasureUse",
    "Parameter",
    "PolicyFile",
    "Rule",
    "SANITY_BOUNDS",
    "Setting",
    "Source",
    "Text",
    "Unless",
    "done_by_problems",
    "format_parameter_value",
    "parameter_value_problems",
    "parse_duration",
    "read_policy_file",
    "read_policy_text",
    "window_problems",
]

# Durations in due windows: calendar days, or school days (a school week is five).
_DURATION_DAYS = {"day": (1, False), "days": (1, False), "week": (7, False), "weeks": (7, False),
                  "school day": (1, True), "school days": (1, True), "school week": (5, True), "school weeks": (5, True)}


@attrs.frozen
class SanityBounds:
    """Local sanity bounds on dates and lengths of time (not policy values).

    No source sets these: they only refuse values that cannot be meant (a window of
    99,999,999 weeks, a policy from the year 1) before evaluation meets them. Ten years
    is longer than any window, due interval or review a policy describes; an English
    school year has 190 pupil days plus 5 training days, hence 195 school days a year.
    """

    first_date: dt.date = dt.date(1990, 1, 1)
    last_date: dt.date = dt.date(2100, 12, 31)
    calendar_days: int = 3653  # ten years of calendar days
    school_days: int = 1950  # ten school years of 195 days

    def max_days(self, school: bool) -> int:
        """The longest span allowed, in school days or in calendar days."""
        return self.school_days if school else self.calendar_days

    def describe(self, school: bool) -> str:
        """The bound as an officer reads it."""
        return (f"at most {self.school_days} school days (ten school years)" if school
                else f"at most {self.calendar_days} days (ten years)")


SANITY_BOUNDS = SanityBounds()

# Parameter units whose values count whole things, and the days in one of each duration unit.
_WHOLE_UNITS = frozenset({"sessions", "days", "school_days", "school_weeks", "weeks", "count"})
_UNIT_DAYS = {"days": (1, False), "weeks": (7, False), "school_days": (1, True), "school_weeks": (5, True)}
# Types a declared school setting or event field may have, and the Python values each takes.
_SETTING_TYPES = {"bool": (bool,), "number": (int, float, Fraction), "text": (str,)}


@attrs.frozen
class Text:
    """A condition string with where it came from (and how to locate each character)."""

    text: str
    location: Location
    column_map: Callable[[int], Location] | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class Citation:
    """Where a value or rule comes from: a source document, a section and page, a paraphrase."""

    source: str
    says: str
    section: str = ""
    page: str = ""
    paragraph: str = ""
    note: str = ""
    location: Location = attrs.field(default=Location(), eq=False)

    def __str__(self) -> str:
        parts = [self.source] + [p for p in (self.section, self.page and f"p. {self.page}",
                                             self.paragraph and f"para. {self.paragraph}") if p]
        return ", ".join(parts)


@attrs.frozen
class Source:
    """A document cited by a policy."""

    id: str
    title: str
    publisher: str = ""
    date: str = ""
    location_hint: str = ""
    url: str = ""
    origin: Location = attrs.field(default=Location(), eq=False)


@attrs.frozen
class DatedValue:
    """A parameter's value from a date on (``start`` None: from the beginning)."""

    start: dt.date | None
    value: Any
    cite: Citation | None
    location: Location = attrs.field(default=Location(), eq=False)


@attrs.frozen
class Setting:
    """A school setting a policy reads (``school.traded_ews``): its type, default and why it matters."""

    name: str
    type: str
    default: Any
    description: str
    cite: Citation | None
    local_choice: str = ""
    origin: Location = attrs.field(default=Location(), eq=False)

    def accepts(self, value: Any) -> bool:
        """True when ``value`` (as a history records it) has this setting's type (a number is finite)."""
        if not isinstance(value, _SETTING_TYPES[self.type]) or (self.type == "bool") != isinstance(value, bool):
            return False
        return not isinstance(value, float) or math.isfinite(value)

    def unrecorded(self, value: Any) -> bool:
        """True for an empty text where a yes/no or number is wanted: an empty CSV cell, not a value."""
        return value == "" and self.type != "text"


@attrs.frozen
class EventType:
    """A case event type a policy declares beyond the standard ones, with its fields.

    ``fields`` maps a field name to "bool", "date", "str" or a tuple of allowed texts,
    as ``history.EVENT_FIELDS`` does for the standard types.
    """

    name: str
    fields: Mapping[str, Any]
    description: str
    cite: Citation | None
    origin: Location = attrs.field(default=Location(), eq=False)


@attrs.frozen
class Parameter:
    """A named, cited value with a unit; dated values use the latest start on or before a date."""

    name: str
    unit: str
    values: tuple[DatedValue, ...]
    cite: Citation | None
    local_choice: str = ""
    description: str = ""
    bounds: Mapping[str, Any] | None = attrs.field(default=None, eq=False)
    origin: Location = attrs.field(default=Location(), eq=False)

    def value_on(self, day: dt.date) -> Any:
        """The value in force on ``day`` (None before the first dated value)."""
        chosen = None
        for dated in self.values:
            if dated.start is None or dated.start <= day:
                chosen = dated.value
        return chosen

    def citation_on(self, day: dt.date) -> Citation | None:
        """The citation of the value in force on ``day``."""
        chosen = self.cite
        for dated in self.values:
            if (dated.start is None or dated.start <= day) and dated.cite is not None:
                chosen = dated.cite
        return chosen


@attrs.frozen
class MeasureUse:
    """A policy's named use of a library measure over a window."""

    name: str
    measure: str
    window: Window | None
    codes: tuple[str, ...] = ()
    description: str = ""
    cite: Citation | None = None
    origin: Location = attrs.field(default=Location(), eq=False)
    not_before: str = ""  # a parameter (unit date): sessions before its value are not counted


@attrs.frozen
class Due:
    """When an action is due: N school days after it applies, or a window after an event."""

    within_school_days: int | None = None
    after: str = ""
    from_days: int = 0
    to_days: int = 0
    school_days: bool = False  # True: from/to count school days (weekdays), not calendar days
    after_location: Location = attrs.field(default=Location(), eq=False)

    def describe(self) -> str:
        """``within 5 school days`` / ``between 28 and 42 days after the latest …``."""
        if self.within_school_days is not None:
            return f"within {self.within_school_days} school days"
        unit = "school days" if self.school_days else "days"
        return f"between {self.from_days} and {self.to_days} {unit} after the latest {self.after.replace('_', ' ')}"


@attrs.frozen
class DoneBy:
    """The event that records an action done: its type and the field values it must carry.

    Event types with an ``action`` field (``letter_sent``, ``action_taken``) must also name
    the action itself, unless ``fields`` says which ``action`` to look for.
    """

    event: str
    fields: tuple[tuple[str, Any], ...] = ()
    location: Location = attrs.field(default=Location(), eq=False)
    field_locations: tuple[tuple[str, Location], ...] = attrs.field(default=(), eq=False)

    def wanted(self, action_id: str) -> dict[str, Any]:
        """The field values an event of type ``event`` needs to record ``action_id`` done."""
        wanted = dict(self.fields)
        if "action" in EVENT_FIELDS.get(self.event, {}):
            wanted.setdefault("action", action_id)
        return wanted

    def matches(self, event: Event, action_id: str) -> bool:
        """True when ``event`` records ``action_id`` done."""
        return event.type == self.event and all(event.get(k) == v for k, v in self.wanted(action_id).items())

    def describe(self, action_id: str) -> str:
        """``referral_made with to == "camhs"``, as the condition language writes it."""
        tests = [f"{k} == {_literal(v)}" for k, v in self.wanted(action_id).items()]
        return self.event + "".join(f" with {t}" for t in tests[:1]) + "".join(f" and {t}" for t in tests[1:])


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f'"{value}"' if isinstance(value, str) else str(value)


@attrs.frozen
class Action:
    """Something a rule can recommend: a letter, meeting, referral …"""

    id: str
    title: str
    kind: str
    responsible: str
    cite: Citation | None
    due: Due | None = None
    repeat: str = "once_per_academic_year"
    done_by: DoneBy | None = None
    description: str = ""
    local_choice: str = ""
    replaces: str = ""
    effective_from: dt.date | None = None
    effective_to: dt.date | None = None
    parameters: tuple[str, ...] = ()
    origin: Location = attrs.field(default=Location(), eq=False)

    @property
    def completion(self) -> DoneBy | None:
        """What records the action done: ``done_by``, or for a letter ``letter_sent`` naming it."""
        if self.done_by is not None:
            return self.done_by
        return DoneBy("letter_sent") if self.kind == "letter" else None


@attrs.frozen
class Unless:
    """A condition holding a rule's actions back, with the reason shown to people."""

    when: Text
    reason: str
    actions: tuple[str, ...] = ()
    cite: Citation | None = None
    origin: Location = attrs.field(default=Location(), eq=False)


@attrs.frozen
class Rule:
    """When a condition holds: derive facts and recommend actions, unless held back."""

    id: str
    title: str
    when: Text
    cite: Citation | None
    derive: tuple[str, ...] = ()
    recommend: tuple[str, ...] = ()
    unless: tuple[Unless, ...] = ()
    priority: int = 0
    effective_from: dt.date | None = None
    effective_to: dt.date | None = None
    description: str = ""
    local_choice: str = ""
    replaces: str = ""
    policy: str = ""
    origin: Location = attrs.field(default=Location(), eq=False)

    def in_force(self, day: dt.date) -> bool:
        """True when the rule's own dates cover ``day``."""
        return (self.effective_from is None or self.effective_from <= day) and (
            self.effective_to is None or day <= self.effective_to
        )


@attrs.frozen
class PolicyFile:
    """One policy file as written (before layering)."""

    id: str
    title: str
    kind: str
    version: str
    effective_from: dt.date
    document: Document = attrs.field(repr=False, eq=False)
    effective_to: dt.date | None = None
    review_due: dt.date | None = None
    owner: str = ""
    extends: str = ""
    sources: Mapping[str, Source] = attrs.field(factory=dict)
    flags: Mapping[str, str] = attrs.field(factory=dict)
    settings: Mapping[str, Setting] = attrs.field(factory=dict)
    event_types: Mapping[str, EventType] = attrs.field(factory=dict)
    parameters: Mapping[str, Parameter] = attrs.field(factory=dict)
    override_parameters: Mapping[str, Parameter] = attrs.field(factory=dict)
    measures: Mapping[str, MeasureUse] = attrs.field(factory=dict)
    actions: Mapping[str, Action] = attrs.field(factory=dict)
    rules: tuple[Rule, ...] = ()
    disable_rules: Mapping[str, tuple[str, Location]] = attrs.field(factory=dict)

    @property
    def file(self) -> str:
        """The path the policy was read from."""
        return self.document.file

    @property
    def digest(self) -> str:
        """SHA-256 of the file's bytes."""
        return self.document.digest


def format_parameter_value(value: Any, unit: str) -> str:
    """A parameter value as an officer writes it: 10%, £80, 10 sessions, 6 weeks, 2."""
    if isinstance(value, (str, bool)) or value is None or unit in ("text", "bool"):
        return str(value)
    number = format_value(value, "count").removesuffix(" count")
    return {"percent": f"{number}%", "pounds": f"£{number}", "count": number}.get(unit, format_value(value, unit))


def parse_duration(text: str) -> tuple[int, bool]:
    """Days in ``"4 weeks"`` / ``"28 days"`` / ``"10 school days"``, and whether they are school days."""
    number, _, unit = str(text).strip().partition(" ")
    if unit.strip() not in _DURATION_DAYS:
        raise ValueError(f"unknown duration {text!r}; expected e.g. '4 weeks', '28 days' or '10 school days'")
    days, school = _DURATION_DAYS[unit.strip()]
    try:
        total = Fraction(number) * days
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"bad duration {text!r}: {number!r} is not a number; expected e.g. '4 weeks'") from None
    if total.denominator != 1:  # a whole number of days: 1.5 days is not truncated to 1
        raise ValueError(f"duration {text!r} is not a whole number of days; expected e.g. '2 days' or '3 weeks'")
    return int(total), school


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
            self.problems.append(Problem("not a real date", self.doc.where(path), found=repr(value),
                                         expected="YYYY-MM-DD", example="2024-08-19"))
            return None
        if not SANITY_BOUNDS.first_date <= day <= SANITY_BOUNDS.last_date:
            self.problems.append(Problem("date out of range", self.doc.where(path), found=str(day),
                                         expected=f"a date from {SANITY_BOUNDS.first_date} to {SANITY_BOUNDS.last_date} "
                                                  "(a local sanity bound)", example="2024-08-19"))
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
        return Citation(raw["source"], raw["says"], str(raw.get("section", "")), str(raw.get("page", "")),
                        str(raw.get("paragraph", "")), raw.get("note", ""), self.doc.where(path))

    def text(self, path: tuple) -> Text:
        return Text(str(self.doc.get(path)), self.doc.where(path), self.doc.column_map(path))

    def parameter(self, name: str, path: tuple, default_unit: str = "count") -> Parameter:
        raw = self.doc.get(path)
        if "values" in raw:
            values = tuple(DatedValue(self.date(path + ("values", i, "from")), _number(v["value"]),
                                      self.cite(path + ("values", i, "cite")), self.doc.where(path + ("values", i, "value")))
                           for i, v in enumerate(raw["values"]))
        else:
            values = (DatedValue(None, _number(raw["value"]), None, self.doc.where(path + ("value",))),)
        parameter = Parameter(name, raw.get("unit", default_unit), values, self.cite(path + ("cite",)),
                              raw.get("local_choice", ""), raw.get("description", ""), raw.get("bounds"),
                              self.doc.where(path, key=True))
        if parameter.unit:  # an override without a unit is checked once layering gives it the parent's
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
        return MeasureUse(name, raw["measure"], window, tuple(raw.get("codes", ())), raw.get("description", ""),
                          self.cite(path + ("cite",)), self.doc.where(path, key=True), raw.get("not_before", ""))

    def due(self, path: tuple) -> Due | None:
        raw = _get(self.doc.data, path)
        if not isinstance(raw, dict):
            return None
        if "within_school_days" in raw:
            return self.due_within(raw["within_school_days"], path + ("within_school_days",))
        try:
            (start, school), (end, school_to) = parse_duration(raw["from"]), parse_duration(raw["to"])
            if school != school_to:
                raise ValueError("a due window's from and to must both be school days/weeks or both calendar time")
        except ValueError as err:
            self.problems.append(Problem(str(err), self.doc.where(path)))
            return None
        for key, days in (("from", start), ("to", end)):
            self.span_problem(days, school, raw[key], path + (key,))
        return Due(after=raw["after"], from_days=start, to_days=end, school_days=school,
                   after_location=self.doc.where(path + ("after",)))

    def due_within(self, days: int, path: tuple) -> Due:
        """A ``within_school_days`` due date, refused past the sanity bound."""
        self.span_problem(days, True, days, path)
        return Due(within_school_days=int(days))

    def span_problem(self, days: int, school: bool, written: Any, path: tuple) -> None:
        """A problem when a length of time written at ``path`` passes the sanity bound."""
        if days > SANITY_BOUNDS.max_days(school):
            self.problems.append(Problem("length of time out of range", self.doc.where(path), found=str(written),
                                         expected=SANITY_BOUNDS.describe(school) + ", a local sanity bound"))

    def done_by(self, path: tuple) -> DoneBy | None:
        raw = _get(self.doc.data, path)
        if raw is None:
            return None
        event, fields = (raw, {}) if isinstance(raw, str) else (raw.get("event"), raw.get("with") or {})
        # the event type and its fields are checked once the chain's declared types are known
        field_locations = tuple((k, self.doc.where(path + ("with", k))) for k in fields)
        return DoneBy(event, tuple(sorted(fields.items())), self.doc.where(path), field_locations)

    def action(self, action_id: str, path: tuple) -> Action:
        raw = self.doc.get(path)
        return Action(action_id, raw["title"], raw["kind"], raw["responsible"], self.cite(path + ("cite",)),
                      self.due(path + ("due",)), raw.get("repeat", "once_per_academic_year"), self.done_by(path + ("done_by",)),
                      raw.get("description", ""), raw.get("local_choice", ""), raw.get("replaces", ""),
                      self.date(path + ("effective_from",)), self.date(path + ("effective_to",)),
                      tuple(raw.get("parameters", ())), self.doc.where(path, key=True))

    def rule(self, path: tuple, policy_id: str) -> Rule:
        raw = self.doc.get(path)
        unless = tuple(
            Unless(self.text(path + ("unless", i, "when")), u["reason"], tuple(u.get("actions", ())),
                   self.cite(path + ("unless", i, "cite")), self.doc.where(path + ("unless", i)))
            for i, u in enumerate(raw.get("unless", ()))
        )
        return Rule(raw["id"], raw["title"], self.text(path + ("when",)), self.cite(path + ("cite",)),
                    _ids(raw.get("derive")), _ids(raw.get("recommend")), unless, int(raw.get("priority", 0)),
                    self.date(path + ("effective_from",)), self.date(path + ("effective_to",)),
                    raw.get("description", ""), raw.get("local_choice", ""), raw.get("replaces", ""), policy_id,
                    self.doc.where(path))

    def setting(self, name: str, path: tuple) -> Setting:
        """A declared school setting; its default must have its type."""
        raw = self.doc.get(path)
        setting = Setting(name, raw["type"], _number(raw["default"]), raw["description"], self.cite(path + ("cite",)),
                          raw.get("local_choice", ""), self.doc.where(path, key=True))
        if not setting.accepts(setting.default):
            self.problems.append(Problem(f"the default of setting {name!r} is not {_TYPE_WORDS[setting.type]}",
                                         self.doc.where(path + ("default",)), found=repr(raw["default"]),
                                         expected=_TYPE_WORDS[setting.type], example=_TYPE_EXAMPLES[setting.type]))
        return setting

    def event_type(self, name: str, path: tuple) -> EventType:
        """A declared event type; a standard type cannot be declared again."""
        raw = self.doc.get(path)
        if name in EVENT_FIELDS:
            self.problems.append(Problem(f"event type {name!r} is a standard type and cannot be declared again",
                                         self.doc.where(path, key=True), found=name,
                                         expected="a new event type name (standard types need no declaration)"))
        fields = {k: tuple(v) if isinstance(v, list) else {"text": "str"}.get(v, v)
                  for k, v in (raw.get("fields") or {}).items()}
        return EventType(name, fields, raw["description"], self.cite(path + ("cite",)), self.doc.where(path, key=True))

    def policy(self) -> PolicyFile:
        d = self.doc.data
        sources = {k: Source(k, v["title"], v.get("publisher", ""), str(v.get("date", "")), v.get("location", ""),
                             v.get("url", ""), self.doc.where(("sources", k), key=True))
                   for k, v in d.get("sources", {}).items()}
        seen: dict[str, Location] = {}
        rules = []
        for i, raw in enumerate(d.get("rules", ())):
            rule = self.rule(("rules", i), d["id"])
            if rule.id in seen:
                self.problems.append(Problem(f"duplicate rule id {rule.id!r}", rule.origin,
                                             expected=f"ids unique in a file; first defined at {seen[rule.id]}"))
            seen.setdefault(rule.id, rule.origin)
            rules.append(rule)
        return PolicyFile(
            d["id"], d["title"], d["kind"], str(d["version"]), self.required_date(("effective_from",)), self.doc,
            self.date(("effective_to",)), self.date(("review_due",)), d.get("owner", ""), d.get("extends", ""),
            sources, dict(d.get("flags", {})),
            {k: self.setting(k, ("settings", k)) for k in d.get("settings", {})},
            {k: self.event_type(k, ("event_types", k)) for k in d.get("event_types", {})},
            {k: self.parameter(k, ("parameters", k)) for k in d.get("parameters", {})},
            # an override without a unit keeps the parent's (layers.py fills it in)
            {k: self.parameter(k, ("override_parameters", k), "") for k in d.get("override_parameters", {})},
            {k: self.measure(k, ("measures", k)) for k in d.get("measures", {})},
            {k: self.action(k, ("actions", k)) for k in d.get("actions", {})},
            tuple(rules),
            {k: (v, self.doc.where(("disable_rules", k), key=True)) for k, v in d.get("disable_rules", {}).items()},
        )


_TYPE_WORDS = {"bool": "yes/no (true or false)", "number": "a number", "text": "text"}
_TYPE_EXAMPLES = {"bool": "false", "number": "0", "text": '"north"'}


def parameter_value_problems(parameter: Parameter) -> list[Problem]:
    """Problems where a value of ``parameter`` cannot be a value of its unit.

    Counts of things (sessions, days, weeks, count) are whole numbers from 0, a percent
    lies from 0 to 100, pounds are not negative, text is text and bool is true/false;
    lengths of time stay within the sanity bound (``SANITY_BOUNDS``).
    """
    out = []
    for dated in parameter.values:
        wrong = _unit_problem(parameter.unit, dated.value)
        if wrong:
            out.append(Problem(f"parameter {parameter.name!r} ({parameter.unit}): {wrong[0]}", dated.location,
                               found=_shown(dated.value), expected=wrong[1], example=wrong[2]))
    return out


def _unit_problem(unit: str, value: Any) -> tuple[str, str, str] | None:
    """(what is wrong, what was expected, an example) when ``value`` cannot be in ``unit``."""
    if unit in ("text", "bool"):
        ok = isinstance(value, str) if unit == "text" else isinstance(value, bool)
        return None if ok else (f"the value must be {_TYPE_WORDS[unit]}", _TYPE_WORDS[unit], _TYPE_EXAMPLES[unit])
    if unit == "date":
        return _date_problem(value)
    if isinstance(value, bool) or not isinstance(value, (int, Fraction)):
        return "the value must be a number", f"a number of {unit.replace('_', ' ')}", "10"
    if unit in _WHOLE_UNITS and (value < 0 or Fraction(value).denominator != 1):
        return "the value must be a whole number from 0", f"a whole number of {unit.replace('_', ' ')}", "10"
    if unit == "percent" and not 0 <= value <= 100:
        return "a percentage must lie from 0 to 100", "a percentage from 0 to 100", "90"
    if unit == "pounds" and value < 0:
        return "an amount of money cannot be negative", "pounds from 0", "80"
    return _span_problem(unit, value)


def _date_problem(value: Any) -> tuple[str, str, str] | None:
    """A date parameter's value must be a date written YYYY-MM-DD within the sanity bounds."""
    first, last = SANITY_BOUNDS.first_date, SANITY_BOUNDS.last_date
    wanted = f"a date written YYYY-MM-DD from {first} to {last} (a local sanity bound)"
    try:
        day = dt.date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        day = None
    if day is None or not first <= day <= last:
        return "the value must be a date", wanted, "2024-08-19"
    return None


def _span_problem(unit: str, value: Any) -> tuple[str, str, str] | None:
    """A length of time past the sanity bound, for parameters measured in days or weeks."""
    if unit not in _UNIT_DAYS:
        return None
    per, school = _UNIT_DAYS[unit]
    if value * per <= SANITY_BOUNDS.max_days(school):
        return None
    return "the length of time is out of range", SANITY_BOUNDS.describe(school) + ", a local sanity bound", "6"


def window_problems(window: Window | None, where: Location) -> list[Problem]:
    """A problem when a ``last N … weeks`` window passes the sanity bound."""
    if window is None or window.kind not in ("school_weeks", "calendar_weeks"):
        return []
    school = window.kind == "school_weeks"
    if window.n * (5 if school else 7) <= SANITY_BOUNDS.max_days(school):
        return []
    return [Problem("window out of range", where, found=str(window),
                    expected=SANITY_BOUNDS.describe(school) + ", a local sanity bound", example="last 12 school weeks")]


def done_by_problems(done_by: DoneBy, event_fields: Mapping[str, Mapping[str, Any]]) -> list[Problem]:
    """Problems where ``done_by`` names an event type or field the chain does not know.

    ``event_fields`` maps each known event type (standard and declared) to its fields.
    """
    known = event_fields.get(done_by.event)
    if known is None:
        close = difflib.get_close_matches(str(done_by.event), sorted(event_fields), n=1)
        return [Problem(f"done_by names an unknown event type {done_by.event!r}"
                        + (f"; did you mean {close[0]!r}?" if close else ""), done_by.location,
                        found=repr(done_by.event), expected="an event type: " + ", ".join(sorted(event_fields)),
                        example="done_by: {event: referral_made, with: {to: camhs}}")]
    where = dict(done_by.field_locations)
    out = []
    for field, value in done_by.fields:
        problem = _field_problem(done_by.event, field, value, known)
        if problem:
            out.append(Problem(problem[0], where.get(field, done_by.location),
                               found=repr(value) if problem[1] else repr(field), expected=problem[2]))
    return out


def _shown(value: Any) -> str:
    """A parameter value as written: numbers plainly, text quoted."""
    if isinstance(value, Fraction):
        return str(float(value)) if value.denominator != 1 else str(value.numerator)
    return repr(value) if isinstance(value, str) else str(value)


def _field_problem(event: str, field: str, value: Any, known: Mapping[str, Any]) -> tuple[str, bool, str] | None:
    """Why ``with: {field: value}`` cannot match an event of this type: (message, about value, expected)."""
    if field not in known:
        return (f"{event} events have no field {field!r}", False,
                "one of: " + ", ".join(sorted(known)) if known else "no fields: this event type carries none")
    kind = known[field]
    if isinstance(kind, tuple):
        ok, expected = value in kind, "one of: " + ", ".join(kind)
    else:
        python = {"bool": bool, "str": str}.get(kind)
        ok, expected = python is not None and type(value) is python, f"a {kind} value" if python else "a str or bool field"
    return None if ok else (f"{event}.{field} cannot be {value!r}", True, expected)


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
        raise PolicyError([Problem("a policy is a mapping of keys (id, title, kind, …)", doc.where(()),
                                   found=type(doc.data).__name__)])
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

    doc = attrs.evolve(parse_yaml(text, file), digest="sha256:" + hashlib.sha256(text.encode()).hexdigest())
    return _from_document(doc)
