"""Case files: replay a historical (or invented) case and check what the policy says.

A case names a policy, gives a history (inline, with a compact register shorthand, or
by path), optionally the term dates (inline or a CSV file, as ``--calendar`` takes) and
one or more checks: an as-of date with the actions expected to be
recommended, not recommended or held back, and facts expected. ``run_case`` evaluates
and reports each unmet expectation as a readable diff. The format is described by
``schemas/case.schema.json`` and docs/cases.md; files are named ``*.case.yaml``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Iterable, Sequence

import attrs

from ..engine.compiled import CompiledPolicy, load_policy
from ..engine.results import PupilEvaluation
from ..exceptions import InputError, InputNotFoundError, Location, Problem
from ..policy.resources import find_policy
from ..policy.schema import schema_problems
from ..policy.source import Document, load_yaml
from ..registers.calendar import (
    EARLIEST_DATE,
    LATEST_DATE,
    Calendar,
    check_date,
    load_calendar,
    read_terms,
)
from ..registers.codes import default_codebook
from ..registers.history import History
from ..registers.readers import load_history, read_history_data

__all__ = ["Case", "CaseResult", "Check", "find_cases", "load_case", "run_case", "run_cases"]

CASE_SUFFIXES = (".case.yaml", ".case.yml", ".case.json")
# A register entry or closed span longer than this (calendar days) is refused before it is
# expanded day by day: a local sanity bound (ten years), not a policy value. Without it
# `to: 9999-12-31` builds millions of marks (1.5 GB) before anything is checked.
MAX_SPAN_DAYS = 3653
_PRESENT = {"AM": "/", "PM": "\\"}  # the shorthand `present` in each session


@attrs.frozen(kw_only=True)
class Check:
    """Expectations for one as-of date (and optionally one pupil)."""

    as_of: dt.date
    pupil: str | None
    recommended: tuple[str, ...] = ()
    not_recommended: tuple[str, ...] = ()
    suppressed: tuple[str, ...] = ()
    facts: tuple[str, ...] = ()
    no_facts: tuple[str, ...] = ()
    exactly: bool = False
    location: Location = attrs.field(default=Location(), eq=False)


@attrs.frozen(kw_only=True)
class Case:
    """A loaded case: its policy reference, its history and its checks."""

    name: str
    file: str
    policy: str
    history: History = attrs.field(repr=False)
    checks: tuple[Check, ...]
    description: str = ""
    calendar: Calendar = Calendar()  # term dates; empty: terms inferred from breaks


@attrs.frozen
class CaseResult:
    """The outcome of running a case: one text block per failed check."""

    case: Case
    failures: tuple[str, ...]
    checked: int

    @property
    def passed(self) -> bool:
        """True when every expectation held."""
        return not self.failures


def find_cases(paths: Iterable[str | Path]) -> list[Path]:
    """Case files among ``paths`` (files, or directories searched recursively), sorted."""
    found: set[Path] = set()
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found |= {p for p in path.rglob("*") if p.name.endswith(CASE_SUFFIXES)}
        elif path.is_file():
            found.add(path)
        else:
            raise InputNotFoundError(
                [Problem("case file or directory not found", Location(str(path)))]
            )
    return sorted(found)


def _weekdays(start: dt.date, end: dt.date, closed: set[dt.date]) -> Iterable[dt.date]:
    day = start
    while day <= end:
        if day.weekday() < 5 and day not in closed:
            yield day
        day += dt.timedelta(days=1)


def _closed_days(doc: Document, problems: list[Problem]) -> set[dt.date]:
    out: set[dt.date] = set()
    for i, span in enumerate(doc.data.get("closed", ())):
        start, end = (
            _date(span.get("from"), doc, ("closed", i), problems),
            _date(span.get("to"), doc, ("closed", i), problems),
        )
        if (
            start is not None
            and end is not None
            and _span(start, end, doc, ("closed", i), problems)
        ):
            out |= {start + dt.timedelta(days=k) for k in range((end - start).days + 1)}
    return out


def _date(value: Any, doc: Document, path: tuple, problems: list[Problem]) -> dt.date | None:
    """A case's date: ISO, within the dates the tool works with (``calendar.check_date``)."""
    try:
        day = dt.date.fromisoformat(str(value))
    except ValueError:
        problems.append(
            Problem("bad date", doc.where(path), found=repr(value), expected="YYYY-MM-DD")
        )
        return None
    if check_date(day):
        problems.append(
            Problem(
                check_date(day),
                doc.where(path),
                found=repr(value),
                expected=f"a date from {EARLIEST_DATE.isoformat()} to {LATEST_DATE.isoformat()}",
            )
        )
        return None
    return day


def _span(
    start: dt.date, end: dt.date, doc: Document, path: tuple, problems: list[Problem]
) -> bool:
    """True when ``start``..``end`` can be expanded day by day (at most MAX_SPAN_DAYS)."""
    if (end - start).days + 1 > MAX_SPAN_DAYS:
        problems.append(
            Problem(
                "a date range is too long to expand day by day",
                doc.where(path),
                found=f"{start.isoformat()} to {end.isoformat()}, {(end - start).days + 1} days",
                expected=f"at most {MAX_SPAN_DAYS} days (ten years); split the register",
            )
        )
        return False
    return True


def _expand_register(
    entries: Sequence[dict],
    doc: Document,
    base: tuple,
    closed: set[dt.date],
    problems: list[Problem],
) -> list[dict]:
    """The register shorthand as marks: later entries overwrite earlier ones."""
    marks: dict[tuple[dt.date, str], dict] = {}
    book = default_codebook()
    for i, entry in enumerate(entries):
        where = base + (i,)
        start = _date(entry.get("on", entry.get("from")), doc, where, problems)
        end = _date(entry.get("on", entry.get("to")), doc, where, problems)
        if start is None or end is None or not _span(start, end, doc, where, problems):
            continue
        code = entry.get("code", "present")
        codes = {
            session: _PRESENT[session] if mark == "present" else mark
            for session, mark in (("AM", entry.get("am", code)), ("PM", entry.get("pm", code)))
        }
        for day in _weekdays(start, end, closed if "on" not in entry else set()):
            for session, mark in codes.items():
                if mark is None or mark == "":
                    continue
                try:
                    book.lookup(str(mark), day)
                except KeyError as err:
                    problems.append(Problem(err.args[0], doc.where(where), found=repr(mark)))
                    return []
                row = {"date": day.isoformat(), "session": session, "code": str(mark)}
                if entry.get("minutes_late") is not None:
                    row["minutes_late"] = entry["minutes_late"]
                marks[(day, session)] = row
    return [marks[k] for k in sorted(marks)]


def _pupils(doc: Document, problems: list[Problem]) -> list[dict]:
    data = doc.data
    raw = [data["pupil"]] if "pupil" in data else list(data.get("pupils", ()))
    base = ("pupil",) if "pupil" in data else ("pupils",)
    closed = _closed_days(doc, problems)
    out = []
    for i, pupil in enumerate(raw):
        path = base if "pupil" in data else base + (i,)
        item = {k: v for k, v in pupil.items() if k != "register"}
        item["events"] = [
            {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in e.items()}
            for e in pupil.get("events", ())
        ]
        item["marks"] = list(pupil.get("marks", ())) + _expand_register(
            pupil.get("register", ()), doc, path + ("register",), closed, problems
        )
        out.append(item)
    return out


def _history(doc: Document, problems: list[Problem]) -> History | None:
    data = doc.data
    if "history" in data:
        return load_history([Path(doc.file).parent / data["history"]])
    history_doc: dict[str, Any] = {"pupils": _pupils(doc, problems)}
    if "school" in data:
        history_doc["school"] = {"id": "case", "name": "case school", "settings": data["school"]}
    if problems:
        return None
    history, report = read_history_data(history_doc, doc.file)
    problems.extend(
        attrs.evolve(p, location=doc.where(("pupil",) if "pupil" in data else ("pupils",)))
        for p in report.problems
    )
    return history


def _calendar(doc: Document, problems: list[Problem]) -> Calendar:
    """The case's term dates: a CSV file (relative to the case) or inline terms; none: empty."""
    raw = doc.data.get("calendar")
    try:
        if isinstance(raw, str):
            return load_calendar(Path(doc.file).parent / raw)
        return read_terms((term, doc.where(("calendar", i))) for i, term in enumerate(raw or ()))
    except InputError as error:
        problems.extend(error.problems)
    except OSError as error:
        problems.append(
            Problem(
                "calendar file cannot be read",
                doc.where(("calendar",)),
                found=str(error),
                expected="a CSV file with columns name,start,end, relative to the case file",
            )
        )
    return Calendar()


def _checks(doc: Document, problems: list[Problem]) -> tuple[Check, ...]:
    out = []
    for i, raw in enumerate(doc.data["checks"]):
        day = _date(raw["as_of"], doc, ("checks", i, "as_of"), problems)
        if day is None:
            continue
        names = {
            k: tuple(raw.get(k, ()))
            for k in ("recommended", "not_recommended", "suppressed", "facts", "no_facts")
        }
        out.append(
            Check(
                as_of=day,
                pupil=raw.get("pupil"),
                recommended=names["recommended"],
                not_recommended=names["not_recommended"],
                suppressed=names["suppressed"],
                facts=names["facts"],
                no_facts=names["no_facts"],
                exactly=bool(raw.get("exactly", False)),
                location=doc.where(("checks", i)),
            )
        )
    return tuple(out)


def _unknown_pupils(checks: Sequence[Check], history: History) -> list[Problem]:
    """A check naming a pupil the case's history does not have, located at the check."""
    known = sorted(p.id for p in history)
    return [
        Problem(
            f"check names pupil {check.pupil!r}, who is not in the case's history",
            check.location,
            found=repr(check.pupil),
            expected="one of " + ", ".join(known[:10]) + (" …" if len(known) > 10 else ""),
        )
        for check in checks
        if check.pupil is not None and check.pupil not in known
    ]


def load_case(path: str | Path) -> Case:
    """Read and check a case file; ``InputError`` lists every located problem."""
    try:
        doc = load_yaml(path)
    except InputError:
        raise
    except Exception as error:  # PolicyError from the YAML layer: same problems, case context
        raise InputError(
            getattr(error, "problems", [Problem(str(error), Location(str(path)))])
        ) from None
    problems = (
        schema_problems(doc, "case.schema.json")
        if isinstance(doc.data, dict)
        else [Problem("a case is a mapping (name, policy, pupil, checks)", doc.where(()))]
    )
    if problems:
        raise InputError(problems)
    history = _history(doc, problems)
    calendar = _calendar(doc, problems)
    checks = _checks(doc, problems)
    if history is not None:
        problems += _unknown_pupils(checks, history)
    if problems or history is None:
        raise InputError(problems)
    policy = str(doc.data["policy"])
    if policy.endswith((".yaml", ".yml")):
        policy = str(Path(doc.file).parent / policy)
    else:  # an id: the same file `--policy ID` would use (resources.find_policy)
        policy = str(find_policy(policy) or policy)
    return Case(
        name=doc.data.get("name", Path(path).name),
        file=str(path),
        policy=policy,
        history=history,
        checks=checks,
        description=doc.data.get("description", ""),
        calendar=calendar,
    )


def _check_pupil(check: Check, result: PupilEvaluation) -> list[str]:
    actions = set(result.actions())
    held = {s.action for s in result.suppressed}
    facts = {f.name for f in result.facts}
    lines = [
        f"  - expected {a} to be recommended; it was not"
        for a in check.recommended
        if a not in actions
    ]
    lines += [
        f"  + {a} was recommended; expected not" for a in check.not_recommended if a in actions
    ]
    lines += [
        f"  - expected {a} to be held back; it was not" for a in check.suppressed if a not in held
    ]
    lines += [f"  - expected fact {f}; not derived" for f in check.facts if f not in facts]
    lines += [f"  + fact {f} derived; expected not" for f in check.no_facts if f in facts]
    if check.exactly:
        lines += [
            f"  + {a} was recommended; not in the expected list"
            for a in sorted(actions - set(check.recommended))
        ]
    return lines


def _describe(result: PupilEvaluation) -> list[str]:
    lines = ["    recommended: " + (", ".join(result.actions()) or "nothing")]
    for rec in result.recommendations:
        lines += [f"      {rec.action} because {r.sentence} [{r.rule}]" for r in rec.reasons]
    if result.suppressed:
        lines.append(
            "    held back: " + ", ".join(f"{s.action} ({s.rule})" for s in result.suppressed)
        )
    lines.append("    facts: " + (", ".join(f.name for f in result.facts) or "none"))
    return lines


def run_case(case: Case, policy: CompiledPolicy | None = None) -> CaseResult:
    """Evaluate every check of ``case``; failures are readable diffs.

    A case with term dates is evaluated with them (by the same kind of engine as ``policy``'s).
    """
    engine = (policy or load_policy(case.policy)).with_calendar(case.calendar).engine
    failures = []
    for check in case.checks:
        ids = [check.pupil] if check.pupil else [p.id for p in case.history]
        evaluation = engine.evaluate(case.history, check.as_of, ids)
        for result in evaluation.pupils:
            lines = _check_pupil(check, result)
            if lines:
                head = (
                    f"{case.file}: {case.name} — pupil {result.pupil_id} "
                    f"as of {check.as_of.isoformat()} "
                    f"(check at {check.location})"
                )
                failures.append("\n".join([head] + lines + _describe(result)))
    return CaseResult(case, tuple(failures), len(case.checks))


def run_cases(paths: Iterable[str | Path]) -> list[CaseResult]:
    """Run every case found under ``paths``, compiling each policy once."""
    policies: dict[str, CompiledPolicy] = {}
    results = []
    for path in find_cases(paths):
        case = load_case(path)
        if case.policy not in policies:
            policies[case.policy] = load_policy(case.policy)
        results.append(run_case(case, policies[case.policy]))
    return results
