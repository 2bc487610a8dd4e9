"""JSON Schema validation of policy documents, with errors an officer can act on.

jsonschema reports errors as objects carrying the path into the instance; we map each
path back to the YAML line and column, pick the most useful error per place (as
``jsonschema.exceptions.best_match`` does) and reword the common cases: an unknown key
(with a "did you mean"), a missing key, a value outside a fixed list.
"""

from __future__ import annotations

import difflib
import json
from functools import lru_cache
from typing import Any, Iterable

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

from ..exceptions import Problem
from .resources import schema_text
from .source import Document

__all__ = ["load_schema", "schema_problems"]


@lru_cache(maxsize=None)
def load_schema(name: str) -> dict:
    """A bundled schema by file name (``policy.schema.json`` …), parsed once."""
    return json.loads(schema_text(name))


@lru_cache(maxsize=None)
def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = load_schema(name)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def schema_problems(doc: Document, name: str = "policy.schema.json") -> list[Problem]:
    """Every place where ``doc`` breaks the schema, one problem per place, in file order."""
    by_path: dict[tuple, list[ValidationError]] = {}
    for error in _validator(name).iter_errors(doc.data):
        by_path.setdefault(tuple(error.absolute_path), []).append(error)
    problems = [_problem(doc, path, best_match(errors)) for path, errors in by_path.items()]
    return sorted(problems, key=lambda p: (p.location.line, p.location.column, p.message))


def _problem(doc: Document, path: tuple, error: ValidationError) -> Problem:
    where = _dotted(path) or "the top level"
    if error.validator == "additionalProperties":
        return _unknown_keys(doc, path, error)
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        wanted = (
            error.schema.get("properties", {}).get(missing)
            if isinstance(error.schema, dict)
            else None
        )
        expected = str(wanted.get("description", ""))[:160] if isinstance(wanted, dict) else ""
        return Problem(
            f"{where}: missing required key {missing!r}",
            doc.where(path),
            expected=expected or _describe(error),
        )
    if error.validator == "enum":
        assert isinstance(error.validator_value, list), "an enum of the schema is a JSON array"
        options = ", ".join(map(str, error.validator_value))
        return Problem(
            f"{where}: value not allowed",
            doc.where(path),
            found=repr(error.instance),
            expected=f"one of {options}",
        )
    if error.validator in ("anyOf", "oneOf") and error.context:
        inner = best_match(error.context)
        text = _describe(error) or inner.message
        return Problem(f"{where}: {text}", doc.where(path), found=_short(error.instance))
    return Problem(
        f"{where}: {error.message}",
        doc.where(path),
        found=_short(error.instance),
        expected=_describe(error),
    )


def _unknown_keys(doc: Document, path: tuple, error: ValidationError) -> Problem:
    schema, instance = error.schema, error.instance
    assert isinstance(schema, dict) and isinstance(instance, dict), (
        "additionalProperties is about an object"
    )
    known = list(schema.get("properties", {}))
    extra = sorted(set(instance) - set(known))
    bad = next((k for k in extra if not str(k).startswith("x-")), extra[0] if extra else "?")
    close = difflib.get_close_matches(str(bad), known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return Problem(
        f"{_dotted(path) or 'the top level'}: unknown key {bad!r}{hint}",
        doc.where(path + (bad,), key=True),
        expected=f"one of {', '.join(known)}",
    )


def _describe(error: ValidationError) -> str:
    return str(error.schema.get("description", ""))[:160] if isinstance(error.schema, dict) else ""


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _dotted(path: Iterable[Any]) -> str:
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out
