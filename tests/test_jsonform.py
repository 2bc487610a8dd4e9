"""The one JSON form (attendance_rules/jsonform.py) against a plain re-implementation.

``to_json`` takes shortcuts for speed (a plan per class, values annotated as plain atoms
written as they are, entries only when a field has metadata). The reference below takes
none: it reads every field's metadata and converts every value, every time. Both must give
the same object — keys, order and values — for every record of real outputs and for
generated records exercising each kind of entry.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from fractions import Fraction
from typing import Any

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from attendance_rules.engine.compiled import load_policy
from attendance_rules.engine.distance import distances
from attendance_rules.jsonform import JSON, JsonRecord, dumps, entry, json_line, json_number, to_json
from attendance_rules.registers.readers import load_history

SAMPLE = "examples/sample/history.json"


def reference(value: Any) -> Any:
    """JSON data of ``value`` the slow, obvious way."""
    if attrs.has(type(value)):
        out: dict[str, Any] = {}
        for field in attrs.fields(type(value)):
            how = field.metadata.get(JSON)
            item = getattr(value, field.name)
            if how is not None and how.omit is not None:
                if how.omit == "always" or (how.omit == "if none" and item is None) or (
                        how.omit == "if empty" and not item):
                    continue
            item = how.form(item) if how is not None and how.form is not None else reference(item)
            if how is not None and how.flatten:
                out.update(item)
            else:
                out[how.key if how is not None and how.key else field.name] = item
        return value.json_entries(out) if isinstance(value, JsonRecord) else out
    if isinstance(value, (tuple, list)):
        return [reference(v) for v in value]
    if isinstance(value, dict):
        return {k: reference(v) for k, v in value.items()}
    if isinstance(value, bool) or value is None or isinstance(value, (str, int, float)):
        return value
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Fraction):
        return json_number(value)
    if isinstance(value, enum.Enum):
        return value.value
    return value


def records(value: Any):
    """Every attrs record inside ``value``."""
    if attrs.has(type(value)):
        yield value
        for field in attrs.fields(type(value)):
            yield from records(getattr(value, field.name))
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from records(item)


def test_every_record_of_an_evaluation_is_written_as_the_reference_writes_it() -> None:
    policy, history, as_of = load_policy("halton"), load_history(SAMPLE), dt.date(2024, 2, 9)
    evaluation = policy.evaluate(history, as_of)
    # the at-risk distances too, as `evaluate --horizon` adds them
    pupil = next(iter(history))
    risky = attrs.evolve(evaluation.pupils[0], at_risk=distances(policy.engine, pupil, as_of, history.school, 5))
    evaluation = attrs.evolve(evaluation, pupils=(risky, *evaluation.pupils[1:]))
    seen = set()
    for record in records(evaluation):
        seen.add(type(record).__name__)
        assert list(to_json(record).items()) == list(reference(record).items()), type(record)
    assert {"Evaluation", "PupilEvaluation", "Recommendation", "Reason", "ValueView", "Distance"} <= seen
    assert evaluation.dumps() == json.dumps(reference(evaluation), indent=2, ensure_ascii=False) + "\n"


class Colour(enum.Enum):
    RED = "red"


@attrs.frozen(kw_only=True)
class Inner(JsonRecord):
    label: str
    when: dt.date


@attrs.frozen(kw_only=True)
class Outer(JsonRecord):
    name: str
    count: int
    ratio: Fraction | None = attrs.field(metadata=entry(key="rate"))
    note: str | None = attrs.field(metadata=entry(omit="if none"))
    tags: tuple[str, ...] = attrs.field(metadata=entry(omit="if empty"))
    secret: str = attrs.field(default="", metadata=entry(omit="always"))
    inner: Inner = attrs.field(metadata=entry(flatten=True))
    items: tuple[Inner, ...] = ()
    colour: Colour = Colour.RED
    loud: str = attrs.field(default="x", metadata=entry(form=str.upper))
    anything: Any = None

    def json_entries(self, entries: dict[str, Any]) -> dict[str, Any]:
        return entries | {"items_count": len(self.items)}


dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2199, 12, 31))
inners = st.builds(Inner, label=st.text(max_size=5), when=dates)
anything = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=4) | dates
    | st.fractions(max_denominator=50),
    lambda inner: st.lists(inner, max_size=3).map(tuple) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(st.builds(Outer, name=st.text(max_size=5), count=st.integers(), ratio=st.none() | st.fractions(),
                 note=st.none() | st.text(max_size=3), tags=st.lists(st.text(max_size=3), max_size=2).map(tuple),
                 secret=st.text(max_size=3), inner=inners, items=st.lists(inners, max_size=2).map(tuple),
                 loud=st.text(max_size=3), anything=anything))
def test_generated_records_are_written_as_the_reference_writes_them(record: Outer) -> None:
    written = to_json(record)
    assert list(written.items()) == list(reference(record).items())
    assert "secret" not in written and "ratio" not in written and "rate" in written
    assert list(written)[-1] == "items_count"
    assert json.loads(dumps(record)) == json.loads(json_line(record)) == json.loads(json.dumps(written))
    assert dumps(record).endswith("\n") and "\n" not in json_line(record)
