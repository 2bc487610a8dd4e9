"""The one JSON form of every output record (evaluations, timelines, audits, impacts, cohorts).

A record is a frozen attrs class; its JSON object is its fields, in field order, each value
written by ``json_value`` (a date as ISO text, a fraction as ``json_number``, a tuple as a
list, an enum as its value, a nested record as its own object). A field's ``metadata``
(made by ``entry``) can rename its key, write it with its own function, leave it out, or
merge a nested record's entries into this object. What no field holds — a count, a total,
a different grouping — a class adds in its one hook, ``JsonRecord.json_entries``.

The order of the keys is part of the output: ``verify`` compares a saved evaluation with a
new one, and the tests compare outputs with committed files byte for byte. So a class whose
JSON keys come in another order than its fields (kw_only classes may reorder freely) lists
its fields in the JSON's order.

Not ``attrs.asdict``: its ``dict_factory`` sees only field names, so it cannot rename a key
or merge a nested record, and its filter and serialiser calls per field made an
evaluation's JSON three times slower than the hand-written methods this module replaced;
``to_json`` walks ``attrs.fields`` with a plan made once per class instead.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import operator
from fractions import Fraction
from typing import Any, Callable, Literal

import attrs

__all__ = [
    "JSON",
    "Entry",
    "JsonRecord",
    "dumps",
    "entry",
    "insert_after",
    "json_line",
    "json_number",
    "json_value",
    "to_json",
]

JSON = "json"  # the metadata key of a field's ``Entry``

Omit = Literal["always", "if none", "if empty"]


@attrs.frozen
class Entry:
    """How one field is written: its key (default: the field's name), the function writing
    its value (default: ``json_value``), when it is left out, and whether a nested record's
    entries are merged into the object instead of nested under a key."""

    key: str | None = None
    form: Callable[[Any], Any] | None = None
    omit: Omit | None = None
    flatten: bool = False


def entry(
    key: str | None = None,
    form: Callable[[Any], Any] | None = None,
    omit: Omit | None = None,
    flatten: bool = False,
) -> dict[str, Entry]:
    """Field metadata: ``attrs.field(metadata=entry(key="possible_sessions"))``."""
    return {JSON: Entry(key, form, omit, flatten)}


def json_number(value: int | Fraction | None) -> int | float | None:
    """Ints stay ints; fractions become floats rounded to 6 places (deterministic)."""
    if value is None or isinstance(value, int):
        return value
    return int(value) if value.denominator == 1 else round(float(value), 6)


_ATOMIC = frozenset({str, int, float, bool, type(None)})


def json_value(value: Any) -> Any:
    """``value`` as JSON data: the serialiser every field's value goes through."""
    kind = type(value)
    if kind in _ATOMIC:  # most values: tested first, an output holds some hundred thousand
        return value
    plan = _PLANS.get(kind)  # a record of a class written before: the next most common
    if plan is not None:
        return _write(plan, value)
    if kind is tuple or kind is list:
        return [json_value(item) for item in value]
    if attrs.has(kind):
        return to_json(value)
    if isinstance(value, (tuple, list)):
        return [json_value(item) for item in value]
    if isinstance(value, dict):
        return {key: json_value(item) for key, item in value.items()}
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Fraction):
        return json_number(value)
    if isinstance(value, enum.Enum):
        return value.value
    return value


_PLAIN = Entry()
_LEFT_OUT: dict[Omit | None, Callable[[Any], bool] | None] = {
    None: None,
    "always": lambda value: True,
    "if none": lambda value: value is None,
    "if empty": lambda value: not value,
}

# How a class is written, worked out once per class: a getter of all its field values at once,
# the keys, each field's (key, form or None, left out when, flatten) when any field has an
# Entry, the positions of fields whose values may need converting, and whether the class has
# a hook. An output writes some hundred thousand values: reading each field's metadata, or
# converting a value annotated as a plain str/int/bool, every time made the JSON of an
# evaluation four times slower than the hand-written methods it replaced.
_Step = tuple[str, Callable[[Any], Any] | None, Callable[[Any], bool] | None, bool]


@attrs.frozen
class _Plan:
    getter: Callable[[Any], tuple]
    keys: tuple[str, ...]
    steps: tuple[_Step, ...] | None  # None: no field has an Entry (renamed, formed, omitted …)
    convert: tuple[int, ...]  # positions of fields not annotated as plain atoms
    hooked: bool


_PLANS: dict[type, _Plan] = {}
_ATOM_TYPES = frozenset({"str", "int", "bool", "float", "None"})


def _atomic_annotation(annotation: Any) -> bool:
    """Whether a field's annotation (a string, under postponed annotations) admits only JSON
    atoms, so its value is written as it is: ``str``, ``int | None`` …"""
    if not isinstance(annotation, str):
        annotation = getattr(annotation, "__name__", "")
    return all(part.strip() in _ATOM_TYPES for part in annotation.split("|"))


def _plan(cls: type) -> _Plan:
    """How the fields of ``cls`` are written, and whether ``cls`` changes the entries."""
    plan = _PLANS.get(cls)
    if plan is None:
        fields = attrs.fields(cls)
        names = [f.name for f in fields]
        getter = operator.attrgetter(*names) if len(names) > 1 else _one_field(names[0])
        how = [f.metadata.get(JSON, _PLAIN) for f in fields]
        steps = tuple(
            (e.key or name, e.form, _LEFT_OUT[e.omit], e.flatten) for name, e in zip(names, how)
        )
        plain = all(e is _PLAIN for e in how)
        convert = tuple(i for i, f in enumerate(fields) if not _atomic_annotation(f.type))
        hook = getattr(cls, "json_entries", JsonRecord.json_entries)
        plan = _PLANS[cls] = _Plan(
            getter=getter,
            keys=tuple(names),
            steps=None if plain else steps,
            convert=convert,
            hooked=hook is not JsonRecord.json_entries,
        )
    return plan


def _one_field(name: str) -> Callable[[Any], tuple]:
    """A getter of the one field's value, as a tuple (as ``attrgetter`` of several gives)."""
    return lambda record: (getattr(record, name),)


def to_json(record: Any) -> dict[str, Any]:
    """The JSON object of an attrs ``record``: its fields in order, each written by its
    ``Entry`` (renamed, by its own function, left out or merged), then the class's
    ``json_entries``."""
    return _write(_PLANS.get(type(record)) or _plan(type(record)), record)


def _write(plan: _Plan, record: Any) -> dict[str, Any]:
    """``to_json`` once the class's plan is known."""
    values = plan.getter(record)
    if plan.steps is None:
        # the common case: keys are field names, and only values that are not plain atoms by
        # annotation are converted (re-assigning a key keeps its place in the object)
        out = dict(zip(plan.keys, values))
        for i in plan.convert:
            value = values[i]
            if type(value) not in _ATOMIC:
                out[plan.keys[i]] = json_value(value)
    else:
        out = _with_entries(plan.steps, values)
    return record.json_entries(out) if plan.hooked else out


def _with_entries(steps: tuple[_Step, ...], values: tuple) -> dict[str, Any]:
    """The entries of a record some of whose fields are renamed, formed, omitted or merged."""
    out: dict[str, Any] = {}
    for (key, form, left_out, flatten), value in zip(steps, values):
        if left_out is not None and left_out(value):
            continue
        if form is not None:
            value = form(value)
        elif type(value) not in _ATOMIC:
            value = json_value(value)
        if flatten:
            out.update(value)
        else:
            out[key] = value
    return out


def dumps(value: Any) -> str:
    """A record (or plain data) as the JSON text every output writes: indented by 2, not
    ASCII-escaped, ending in a newline."""
    return json.dumps(json_value(value), indent=2, ensure_ascii=False) + "\n"


def json_line(value: Any) -> str:
    """A record (or plain data) as one line of JSON, not ASCII-escaped (no newline): the
    ``jsonl`` form."""
    return json.dumps(json_value(value), ensure_ascii=False)


def insert_after(entries: dict[str, Any], key: str, extra: dict[str, Any]) -> dict[str, Any]:
    """``entries`` with ``extra`` inserted right after ``key``: for ``json_entries`` hooks
    that add an entry no field holds."""
    out: dict[str, Any] = {}
    for name, value in entries.items():
        out[name] = value
        if name == key:
            out.update(extra)
    return out


class JsonRecord:
    """Base of the output records: ``to_json()`` and ``dumps()`` by this module's rules.

    ``json_entries`` is the one hook: it gets the entries made from the fields (renamed,
    left out, merged as their metadata says, in field order) and returns the object to
    write. Override it only for what no field holds (counts, a grouping); keep it small.
    """

    __slots__ = ()  # the records are slotted attrs classes: add no __dict__

    def json_entries(self, entries: dict[str, Any]) -> dict[str, Any]:
        """The object to write, from the entries of the fields (default: unchanged)."""
        return entries

    def to_json(self) -> dict[str, Any]:
        """JSON form (``jsonform.to_json``)."""
        return to_json(self)

    def dumps(self) -> str:
        """Deterministic JSON text (``jsonform.dumps``)."""
        return dumps(self)
