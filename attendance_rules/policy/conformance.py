"""A history checked against the policy that evaluates it.

The readers check a history on its own (its keys, marks and the standard event types);
some checks need the policy: the school settings it declares (their types and
defaults), the event types it declares beyond the standard ones, the actions events
name, and whether the as-of date lies within the register and the policy's dates.
``conform`` makes them all: problems the evaluation cannot get past are errors
(``InputError``), the rest come back as warnings for stderr and the JSON output.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections import Counter
from typing import Any, Callable, Iterable, Mapping

import attrs

from ..exceptions import InputError, Location, Problem
from ..registers.calendar import add_weekdays
from ..registers.history import EVENT_FIELDS, Event, FieldSpec, History, School, day_of_slot
from .layers import EffectivePolicy
from .model import Setting

__all__ = [
    "Conformance",
    "action_warnings",
    "as_of_warnings",
    "conform",
    "event_problems",
    "school_with_defaults",
    "setting_problems",
]


@attrs.frozen
class Conformance:
    """What ``conform`` found: the school with declared defaults filled in, and warnings."""

    school: School
    warnings: tuple[Problem, ...]


def conform(
    history: History,
    policy: EffectivePolicy,
    as_of: dt.date | None = None,
    settings_at: Callable[[str], Location] | None = None,
) -> Conformance:
    """Check ``history`` against ``policy``; ``InputError`` lists every error, warnings come back.

    Errors: a school setting the policy does not declare (when it declares any) or of
    the wrong type, an event of a type neither standard nor declared, a field a declared
    type does not name or of the wrong type. Warnings: an event naming no action of the
    policy, settings a policy without settings does not read, and an as-of date outside
    the register or the policy's dates (when ``as_of`` is given). ``settings_at`` maps a
    setting name to where the school's settings were written (default: the column of
    ``school.csv`` or the JSON pointer in the history's sources).
    """
    where = settings_at or _settings_location(history)
    settings = setting_problems(history.school, policy, where)
    errors = [p for p in settings if p.is_error] + event_problems(
        history.pupils, _declared_events(policy)
    )
    # All errors at once and before any pupil is evaluated: an event type the policy cannot read
    # would otherwise make every rule about it quietly read "none recorded".
    if errors:
        raise InputError(errors)
    warnings = [p for p in settings if not p.is_error] + action_warnings(history.pupils, policy)
    if as_of is not None:
        warnings += as_of_warnings(history, policy, as_of)
    return Conformance(school_with_defaults(history.school, policy), tuple(warnings))


# --- school settings ------------------------------------------------------------------


def setting_problems(school: School, policy: EffectivePolicy, where: Any = None) -> list[Problem]:
    """Problems with ``school``'s settings under ``policy``'s declarations.

    ``where`` maps a setting name to its location (default: no location). A policy that
    declares settings reads only those, so another name is an error naming the nearest
    declared one; a policy declaring none reads none, so each is only a warning.
    """
    locate = where or (lambda name: Location())
    declared = policy.settings
    out = []
    for name, value in sorted(school.settings.items()):
        if name in declared:
            if not declared[name].unrecorded(value):
                out += _type_problem(declared[name], value, locate(name))
        elif declared:
            out.append(_undeclared(name, declared, locate(name), policy.id))
        else:
            out.append(
                Problem(
                    f"school setting {name!r} is not read: policy {policy.id!r} declares no "
                    "school settings",
                    locate(name),
                    severity="warning",
                    found=name,
                )
            )
    return out


def _type_problem(setting: Setting, value: Any, where: Location) -> list[Problem]:
    """An error when ``value`` is not of the setting's declared type."""
    if setting.accepts(value):
        return []
    expected = {"bool": "true or false", "number": "a number", "text": "text"}[setting.type]
    return [
        Problem(
            f"school setting {setting.name!r} must be {setting.type}",
            where,
            found=repr(value),
            expected=expected + f", as declared at {setting.origin}",
            example=f"{setting.name}: {_example(setting)}",
        )
    ]


def _example(setting: Setting) -> str:
    """The setting's default written as a history writes it."""
    if isinstance(setting.default, bool):
        return "true" if setting.default else "false"
    return f'"{setting.default}"' if isinstance(setting.default, str) else str(setting.default)


def _undeclared(
    name: str, declared: Mapping[str, Setting], where: Location, policy_id: str
) -> Problem:
    """The error for a setting the policy chain does not declare, naming the nearest declared
    one."""
    close = difflib.get_close_matches(name, sorted(declared), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return Problem(
        f"unknown school setting {name!r}{hint}",
        where,
        found=name,
        expected=f"a setting policy {policy_id!r} declares: " + ", ".join(sorted(declared)),
    )


def school_with_defaults(school: School, policy: EffectivePolicy) -> School:
    """``school`` with each declared setting it does not record set to the declared default."""
    recorded = {
        k: v
        for k, v in school.settings.items()
        # A blank cell in school.csv means "not recorded", so the declared default applies to it as
        # to a setting the file does not mention.
        if k not in policy.settings or not policy.settings[k].unrecorded(v)
    }
    missing = {name: s.default for name, s in policy.settings.items() if name not in recorded}
    if not missing:
        return school
    return attrs.evolve(school, settings={**recorded, **missing})


def _settings_location(history: History) -> Any:
    """Where a history's school settings were written: a column of school.csv or a JSON pointer."""
    csv = next((s for s in history.sources if s.endswith("school.csv")), "")
    if csv:
        return lambda name: Location(csv, pointer=f"column {name}")
    source = next((s for s in history.sources if not s.endswith(".csv")), "")
    return lambda name: Location(source, pointer=f"/school/settings/{name}")


# --- events ---------------------------------------------------------------------------


def _declared_events(policy: EffectivePolicy) -> dict[str, Mapping[str, Any]]:
    """Event types the chain declares beyond the standard ones, with their fields."""
    return {name: event.fields for name, event in policy.event_types.items()}


def event_problems(
    pupils: Iterable[Any], declared: Mapping[str, Mapping[str, Any]]
) -> list[Problem]:
    """Errors for events of unknown types and for fields of declared types: one per kind of fault.

    Each is located at its first event and says how many events share it (a register
    export repeats a fault thousands of times). The readers check the fields of the
    standard types.
    """
    first: dict[tuple[str, str, str], Location] = {}
    counts: Counter[tuple[str, str, str]] = Counter()
    for pupil in pupils:
        for event in pupil.events:
            for fault in _event_faults(event, declared):
                first.setdefault(fault, event.location)
                counts[fault] += 1
    return [
        _event_problem(fault, first[fault], counts[fault], declared) for fault in sorted(counts)
    ]


def _event_faults(
    event: Event, declared: Mapping[str, Mapping[str, Any]]
) -> list[tuple[str, str, str]]:
    """(type, field, kind of fault) for what is wrong with one event."""
    if event.type in EVENT_FIELDS:
        return []
    fields = declared.get(event.type)
    if fields is None:
        return [(event.type, "", "type")]
    out = []
    for name, value in event.details.items():
        if name not in fields:
            out.append((event.type, name, "field"))
        elif not _field_ok(fields[name], value):
            out.append((event.type, name, "value"))
    return out


def _field_ok(spec: Any, value: Any) -> bool:
    """Whether ``value`` fits a declared field type (bool, date, str or allowed texts)."""
    if isinstance(spec, tuple):
        return value in spec
    if spec == "date":
        return isinstance(value, dt.date) or (isinstance(value, str) and _iso_date(value))
    python = {"bool": bool, "str": str}[spec]
    return isinstance(value, python) and (spec == "bool") == isinstance(value, bool)


def _iso_date(text: str) -> bool:
    """Whether ``text`` is a real date written YYYY-MM-DD."""
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def _event_problem(
    fault: tuple[str, str, str],
    where: Location,
    count: int,
    declared: Mapping[str, Mapping[str, Any]],
) -> Problem:
    """The error for one kind of event fault."""
    kind, field, what = fault
    times = f" ({count} events)" if count > 1 else ""
    if what == "type":
        known = sorted({*EVENT_FIELDS, *declared})
        close = difflib.get_close_matches(kind, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return Problem(
            f"unknown event type {kind!r}{hint}{times}",
            where,
            found=kind,
            expected="a standard event type or one the policy declares under event_types: "
            + ", ".join(known),
        )
    fields = declared[kind]
    if what == "field":
        return Problem(
            f"{kind} events have no field {field!r}{times}",
            where,
            found=field,
            expected="one of: " + ", ".join(["date", *sorted(fields)]),
        )
    spec = fields[field]
    wanted = ", ".join(spec) if isinstance(spec, tuple) else {"str": "text"}.get(spec, spec)
    return Problem(f"bad {kind}.{field}{times}", where, found=field, expected=wanted)


def action_warnings(pupils: Iterable[Any], policy: EffectivePolicy) -> list[Problem]:
    """Warnings for events whose ``action`` field names no action of ``policy`` (nearest id
    named)."""
    first: dict[tuple[str, str], Location] = {}
    counts: Counter[tuple[str, str]] = Counter()
    for pupil in pupils:
        for event in pupil.events:
            action = event.get("action")
            if (
                isinstance(action, str)
                and action not in policy.actions
                and "action" in _fields(event.type, policy)
            ):
                # A warning, not an error: the event may record an action of another policy run
                # on the same history, and simply completes nothing here. One warning per (type,
                # action) with a count, as a misspelling repeats over many events.
                first.setdefault((event.type, action), event.location)
                counts[(event.type, action)] += 1
    return [_action_warning(key, first[key], counts[key], policy) for key in sorted(counts)]


def _fields(kind: str, policy: EffectivePolicy) -> Mapping[str, FieldSpec]:
    """The fields of an event type, standard or declared."""
    declared = policy.event_types.get(kind)
    return declared.fields if declared is not None else EVENT_FIELDS.get(kind, {})


def _action_warning(
    key: tuple[str, str], where: Location, count: int, policy: EffectivePolicy
) -> Problem:
    """One warning per (event type, unknown action)."""
    kind, action = key
    close = difflib.get_close_matches(action, sorted(policy.actions), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    times = f" ({count} events)" if count > 1 else ""
    return Problem(
        f"{kind} names action {action!r}, which policy {policy.id!r} does not have{hint}: "
        f"it records no action of this policy{times}",
        where,
        severity="warning",
        found=action,
        expected="an action id of the policy, e.g. "
        + (close[0] if close else _first(policy.actions)),
    )


def _first(names: Iterable[str]) -> str:
    return next(iter(sorted(names)), "(none)")


# --- the as-of date -------------------------------------------------------------------


def as_of_warnings(history: History, policy: EffectivePolicy, as_of: dt.date) -> list[Problem]:
    """Warnings when ``as_of`` lies outside the register's dates or a policy of the chain's
    dates."""
    out = _register_warnings(history, as_of)
    for layer in policy.chain:
        if as_of < layer.effective_from:
            out.append(
                Problem(
                    f"as-of date {as_of} is before policy {layer.id!r} comes into force "
                    f"({layer.effective_from}): its rules do not apply",
                    layer.document.where(("effective_from",)),
                    severity="warning",
                    found=str(as_of),
                    expected=f"from {layer.effective_from}",
                )
            )
        elif layer.effective_to is not None and as_of > layer.effective_to:
            out.append(
                Problem(
                    f"as-of date {as_of} is after policy {layer.id!r} ends ({layer.effective_to}): "
                    "its rules do not apply",
                    layer.document.where(("effective_to",)),
                    severity="warning",
                    found=str(as_of),
                    expected=f"up to {layer.effective_to}",
                )
            )
    return out


def _register_warnings(history: History, as_of: dt.date) -> list[Problem]:
    """Warnings when ``as_of`` is before the first or after the last register mark."""
    slots = [p.register.slots for p in history.pupils if len(p.register)]
    if not slots:
        return []
    # Slots are sorted per register, so each pupil's first and last marks are its ends.
    first, last = day_of_slot(min(s[0] for s in slots)), day_of_slot(max(s[-1] for s in slots))
    where = Location(
        next(
            (s for s in history.sources if "marks." in s),
            history.sources[0] if history.sources else "",
        )
    )
    if as_of < first:
        return [
            Problem(
                f"as-of date {as_of} is before the register's first mark ({first}): nothing is "
                "counted",
                where,
                severity="warning",
                found=str(as_of),
                expected=f"a date from {first} to {last}",
            )
        ]
    if _school_days_between(last, as_of):
        return [
            Problem(
                f"as-of date {as_of} is after the register's last mark ({last}): later days are "
                "unknown, not absences",
                where,
                severity="warning",
                found=str(as_of),
                expected=f"a date from {first} to {last}",
            )
        ]
    return []


def _school_days_between(last: dt.date, as_of: dt.date) -> bool:
    """Whether a weekday lies after ``last`` and up to ``as_of``: an as-of date on the weekend
    after a register's last Friday is not outside the data."""
    return last < as_of and add_weekdays(last, 1) <= as_of
