"""The policy model: the frozen, located value objects one YAML policy file is read into.

A ``PolicyFile`` holds every citation, parameter, measure, action and rule of one file,
each keeping its file, line and column (``build.py`` reads a file into one; ``values.py``
checks the values in it). Layering (``layers.py``) combines files into the effective
policy; conditions are parsed there, once every name in the chain is known.
"""

from __future__ import annotations

import datetime as dt
import math
from fractions import Fraction
from typing import Any, Callable, Literal, Mapping, get_args

import attrs

from ..exceptions import Location
from ..registers.history import EVENT_FIELDS, Event, FieldSpec
from ..registers.measures import Window
from ..text import citation_text
from .source import Document

__all__ = [
    "ACTION_KINDS",
    "PARAMETER_UNITS",
    "POLICY_KINDS",
    "REPEATS",
    "RESPONSIBLE_BODIES",
    "SETTING_TYPES",
    "Action",
    "ActionKind",
    "Citation",
    "DatedValue",
    "DoneBy",
    "Due",
    "EventType",
    "MeasureUse",
    "Parameter",
    "ParameterUnit",
    "PolicyFile",
    "PolicyKind",
    "Repeat",
    "Responsible",
    "Rule",
    "Setting",
    "SettingType",
    "Source",
    "Text",
    "Unless",
]

# The words a policy file chooses from, as the types its values are narrowed to once read (the
# schema, schemas/policy.schema.json, lists each set again: tests/test_literal_types.py holds
# them equal). Each tuple is its type's values, in the schema's order.
ParameterUnit = Literal[
    "percent",
    "sessions",
    "days",
    "school_days",
    "school_weeks",
    "weeks",
    "pounds",
    "count",
    "text",
    "bool",
    "date",
]
PARAMETER_UNITS: tuple[ParameterUnit, ...] = get_args(ParameterUnit)
ActionKind = Literal[
    "letter",
    "contact",
    "meeting",
    "plan",
    "review",
    "referral",
    "notification",
    "penalty_notice",
    "legal",
    "safeguarding",
    "reward",
    "monitoring",
]
ACTION_KINDS: tuple[ActionKind, ...] = get_args(ActionKind)
Responsible = Literal[
    "school",
    "local_authority",
    "education_welfare_service",
    "social_care",
    "virtual_school",
    "health",
]
RESPONSIBLE_BODIES: tuple[Responsible, ...] = get_args(Responsible)
Repeat = Literal["once", "once_per_academic_year", "once_per_term", "every_time"]
REPEATS: tuple[Repeat, ...] = get_args(Repeat)
SettingType = Literal["bool", "number", "text"]
SETTING_TYPES: tuple[SettingType, ...] = get_args(SettingType)
PolicyKind = Literal["national", "authority", "school"]
POLICY_KINDS: tuple[PolicyKind, ...] = get_args(PolicyKind)

# The Python values a declared school setting of each type takes.
_SETTING_VALUES: Mapping[SettingType, tuple[type, ...]] = {
    "bool": (bool,),
    "number": (int, float, Fraction),
    "text": (str,),
}


@attrs.frozen
class Text:
    """A condition string with where it came from (and how to locate each character)."""

    text: str
    location: Location
    column_map: Callable[[int], Location] | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen(kw_only=True)
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
        return citation_text(self.source, self.section, self.page, self.paragraph)


@attrs.frozen(kw_only=True)
class Source:
    """A document cited by a policy."""

    id: str
    title: str
    publisher: str = ""
    date: str = ""
    location_hint: str = ""
    url: str = ""
    origin: Location = attrs.field(default=Location(), eq=False)


@attrs.frozen(kw_only=True)
class DatedValue:
    """A parameter's value from a date on (``start`` None: from the beginning)."""

    start: dt.date | None
    value: Any
    cite: Citation | None
    location: Location = attrs.field(default=Location(), eq=False)


@attrs.frozen(kw_only=True)
class Setting:
    """A school setting a policy reads (``school.traded_ews``): its type, default and why it
    matters."""

    name: str
    type: SettingType
    default: Any
    description: str
    cite: Citation | None
    local_choice: str = ""
    origin: Location = attrs.field(default=Location(), eq=False)

    def accepts(self, value: Any) -> bool:
        """True when ``value`` (as a history records it) has this setting's type (a number is
        finite)."""
        if not isinstance(value, _SETTING_VALUES[self.type]) or (self.type == "bool") != isinstance(
            value, bool
        ):
            return False
        return not isinstance(value, float) or math.isfinite(value)

    def unrecorded(self, value: Any) -> bool:
        """True for an empty text where a yes/no or number is wanted: an empty CSV cell, not a
        value."""
        return value == "" and self.type != "text"


@attrs.frozen(kw_only=True)
class EventType:
    """A case event type a policy declares beyond the standard ones, with its fields.

    ``fields`` maps a field name to "bool", "date", "str" or a tuple of allowed texts,
    as ``history.EVENT_FIELDS`` does for the standard types.
    """

    name: str
    fields: Mapping[str, FieldSpec]
    description: str
    cite: Citation | None
    origin: Location = attrs.field(default=Location(), eq=False)


@attrs.frozen(kw_only=True)
class Parameter:
    """A named, cited value with a unit; dated values use the latest start on or before a date."""

    name: str
    unit: ParameterUnit | Literal[""]  # "": an override keeping the parent's unit (until layered)
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


@attrs.frozen(kw_only=True)
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


@attrs.frozen(kw_only=True)
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
        return (
            f"between {self.from_days} and {self.to_days} {unit} after the latest "
            f"{self.after.replace('_', ' ')}"
        )


@attrs.frozen(kw_only=True)
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
        return event.type == self.event and all(
            event.get(k) == v for k, v in self.wanted(action_id).items()
        )

    def describe(self, action_id: str) -> str:
        """``referral_made with to == "camhs"``, as the condition language writes it."""
        tests = [f"{k} == {_literal(v)}" for k, v in self.wanted(action_id).items()]
        return (
            self.event
            + "".join(f" with {t}" for t in tests[:1])
            + "".join(f" and {t}" for t in tests[1:])
        )


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f'"{value}"' if isinstance(value, str) else str(value)


@attrs.frozen(kw_only=True)
class Action:
    """Something a rule can recommend: a letter, meeting, referral …"""

    id: str
    title: str
    kind: ActionKind
    responsible: Responsible
    cite: Citation | None
    due: Due | None = None
    repeat: Repeat = "once_per_academic_year"
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
        return DoneBy(event="letter_sent") if self.kind == "letter" else None


@attrs.frozen(kw_only=True)
class Unless:
    """A condition holding a rule's actions back, with the reason shown to people."""

    when: Text
    reason: str
    actions: tuple[str, ...] = ()
    cite: Citation | None = None
    origin: Location = attrs.field(default=Location(), eq=False)


@attrs.frozen(kw_only=True)
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


@attrs.frozen(kw_only=True)
class PolicyFile:
    """One policy file as written (before layering)."""

    id: str
    title: str
    kind: PolicyKind
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
