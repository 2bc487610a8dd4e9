"""Behaviour properties every policy should have, checked on generated histories.

``check_properties(policy)`` generates pupils with hypothesis (an optional dependency:
``pip install 'attendance-rules[test]'``) and evaluates each with the policy's engine,
through the same JSON reader as real histories. Each history covers a few school weeks
around an as-of date inside the policy's effective dates (sometimes with a holiday week,
which starts a new inferred term, and a few days of marks after the as-of date), with
runs of register codes valid in both the 2006 and the 2024 tables, random pupil flags,
random yes/no school settings the policy reads, and case events of every standard type
(the types and field values the policy's conditions name are drawn most often). Runs of
one code often have a length at or next to a count the policy compares with, and the
school sometimes acts on what the policy recommended earlier (see
``history_strategies.py``).

The properties, with the definitions they rest on:

(a) ``absence_escalates`` — turning one present mark (``/`` or ``\\``, on or before the
    as-of date) into an unauthorised absence (code ``O``, in both tables) never lowers
    the stage reached and never removes an escalation already recommended. The stage
    reached is, for each family of facts named ``<prefix><number>`` (``stage1``,
    ``stage2``…; ``map_col_4``, ``map_col_7``…; a lone ``stage1`` is a family too), the
    highest number derived. An escalation is a recommended action of a kind in
    ``ESCALATION_KINDS`` (meeting, referral, penalty_notice, legal, safeguarding);
    letters are left out because policies use them for support offers as well as
    warnings. Late marks (``L``) are not turned into absences: lateness has escalations
    of its own that fewer late marks may rightly remove.
(b) ``presence_never_enforces`` — turning one absence (authorised or unauthorised, on
    or before the as-of date) into a present mark never adds an action of a kind in
    ``ENFORCEMENT_KINDS`` (penalty_notice, legal).
(c) ``clean_record_no_action`` — a pupil with no absences gets no action of a kind in
    ``SUPPORT_OR_ENFORCEMENT_KINDS`` (referral, meeting, plan, penalty_notice, legal,
    safeguarding, letter, contact); monitoring, review, notification and reward are
    allowed. Such a pupil is generated with marks only present on time, at an approved
    activity or not possible sessions, with no flags (policies rightly act on flags
    alone, e.g. Virtual School monitoring for a pupil with a social worker), no case
    events (an open case — a meeting held, a legal action — rightly carries actions)
    and no late marks (punctuality letters rightly act on lateness).
(d) ``input_order_irrelevant`` — the evaluation (facts, recommendations, reasons,
    measures) is the same whatever the order of the marks, events and flags in the input.

For (a) and (b) an example may change several marks one after another: a property of
one change holds for a chain of them, so when the two ends of the chain differ wrongly
some single step does, and the first such step is what is reported. Changing several
marks at once crosses a policy's thresholds far more often than changing one.

A failure carries the smallest counterexample hypothesis found: the history as compact
JSON (loadable with ``attendance-rules evaluate``), the change made, the two evaluations
side by side and the rules involved. The properties' definitions, counterexamples, results
and reports are in ``property_results.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from ..engine.compiled import CompiledPolicy, load_policy
from ..engine.results import PupilEvaluation
from ..exceptions import UnknownNameError
from ..registers.codes import Category, default_codebook
from ..registers.readers import read_history_data
from .history_strategies import HistorySpec, history_spec, history_strategy
from .property_results import (
    PROPERTIES,
    Counterexample,
    Property,
    PropertyReport,
    PropertyResult,
)
from .stage_thresholds import stage_families

__all__ = [
    "ENFORCEMENT_KINDS",
    "ESCALATION_KINDS",
    "MISSING_HYPOTHESIS",
    "SUPPORT_OR_ENFORCEMENT_KINDS",
    "HypothesisMissing",
    "check_example",
    "check_properties",
]

ESCALATION_KINDS = frozenset({"meeting", "referral", "penalty_notice", "legal", "safeguarding"})
ENFORCEMENT_KINDS = frozenset({"penalty_notice", "legal"})
SUPPORT_OR_ENFORCEMENT_KINDS = frozenset(
    {"referral", "meeting", "plan", "penalty_notice", "legal", "safeguarding", "letter", "contact"}
)

MISSING_HYPOTHESIS = "needs hypothesis, a dependency of attendance-rules: pip install hypothesis"

_MOST_CHANGES = 30  # marks changed one after another in one example of (a) or (b)


class HypothesisMissing(ImportError):
    """hypothesis is not installed (``pip install 'attendance-rules[test]'``)."""

    def __init__(self) -> None:
        super().__init__(MISSING_HYPOTHESIS)


# --- evaluation and the properties ------------------------------------------------------


class _Checker:
    """Evaluates generated histories with one compiled policy."""

    def __init__(self, compiled: CompiledPolicy) -> None:
        self.compiled = compiled
        self.ruleset = compiled.ruleset
        self.actions = self.ruleset.policy.actions
        self.families = stage_families(self.ruleset.facts, least=1)
        self.book = default_codebook()
        self.target: Callable[[float, str], Any] = lambda score, label: None

    def depth(self, evaluation: PupilEvaluation) -> None:
        """Steer the search towards histories that fire more rules (hypothesis ``target``)."""
        self.target(
            float(len(evaluation.fired) + len(evaluation.facts)), "rules fired and facts derived"
        )

    def evaluate(self, doc: Mapping[str, Any], as_of: dt.date) -> PupilEvaluation:
        history, report = read_history_data(doc, "generated")
        if report.problems:  # a generator bug, not a property failure
            raise RuntimeError(
                "generated history is invalid: " + "; ".join(str(p) for p in report.problems[:3])
            )
        return self.compiled.evaluate_pupil(history.pupils[0], as_of, history.school)

    def kinds(self, evaluation: PupilEvaluation, kinds: frozenset[str]) -> set[str]:
        return {r.action for r in evaluation.recommendations if r.kind in kinds}

    def stages(self, evaluation: PupilEvaluation) -> dict[str, tuple[int, str] | None]:
        facts = {f.name for f in evaluation.facts}
        return {
            prefix: max(((n, f) for n, f in members if f in facts), default=None)
            for prefix, members in self.families.items()
        }

    def category(self, mark: Mapping[str, Any]) -> Category:
        return self.book.lookup(mark["code"], dt.date.fromisoformat(mark["date"])).category

    def involved(
        self,
        before: PupilEvaluation,
        after: PupilEvaluation | None,
        actions: Iterable[str] = (),
        facts: Iterable[str] = (),
    ) -> tuple[tuple[str, str], ...]:
        """Rules that fired in only one evaluation, and those behind the actions and facts named."""
        names: list[str] = []
        if after is not None:
            names += sorted(set(before.fired) ^ set(after.fired))
        for action in actions:
            names += [r.id for r in self.ruleset.recommenders(action)]
        for fact in facts:
            names += [r.id for r in self.ruleset.derivers(fact)]
        where = {r.id: str(r.rule.origin) for r in self.ruleset.rules}
        return tuple((name, where.get(name, "?")) for name in dict.fromkeys(names))

    def describe(self, action_ids: Iterable[str]) -> str:
        return ", ".join(f"{a} ({self.actions[a].kind})" for a in sorted(action_ids))

    # the properties ---------------------------------------------------------------------

    def changed(
        self, doc: Mapping[str, Any], index: int, code: Callable[[str], str]
    ) -> dict[str, Any]:
        new = json.loads(json.dumps(doc))
        mark = new["pupils"][0]["marks"][index]
        mark["code"] = code(mark["session"])
        return new

    def picks(
        self,
        doc: Mapping[str, Any],
        as_of: dt.date,
        choices: Sequence[int],
        wanted: Callable[[dict], bool],
    ) -> list[int]:
        """The marks to change: candidates (on or before the as-of date) chosen by ``choices``."""
        found = [
            i
            for i, m in enumerate(doc["pupils"][0]["marks"])
            if dt.date.fromisoformat(m["date"]) <= as_of and wanted(m)
        ]
        return list(dict.fromkeys(found[c % len(found)] for c in choices)) if found else []

    def walk(
        self,
        which: int,
        doc: Mapping[str, Any],
        as_of: dt.date,
        picks: list[int],
        code: Callable[[str], str],
        compare: Callable[[PupilEvaluation, PupilEvaluation], Any],
    ) -> Counterexample | None:
        """Change the picked marks; if the end differs wrongly from the start, find the one
        change that does.

        A property about one mark also holds for several changed one after another, and when
        the end state breaks it some single step does: the first step that breaks it is
        reported, on the history as it stood before that step.
        """
        before = self.evaluate(doc, as_of)
        self.depth(before)
        end = doc
        for index in picks:
            end = self.changed(end, index, code)
        if len(picks) > 1 and compare(before, self.evaluate(end, as_of)) is None:
            return None
        current, current_eval = doc, before
        for index in picks:
            following = self.changed(current, index, code)
            following_eval = self.evaluate(following, as_of)
            found = compare(current_eval, following_eval)
            if found is not None:
                problem, actions, facts = found
                new = following["pupils"][0]["marks"][index]["code"]
                return self.failure(
                    which,
                    current,
                    as_of,
                    self.mark_change(current, index, new),
                    problem,
                    current_eval,
                    following_eval,
                    actions,
                    facts,
                )
            current, current_eval = following, following_eval
        return None

    def escalation_lost(self, before: PupilEvaluation, after: PupilEvaluation) -> tuple | None:
        problems, lost_facts = [], []
        for prefix, was in self.stages(before).items():
            now = self.stages(after)[prefix]
            if was is not None and (now is None or now[0] < was[0]):
                problems.append(f"stage reached fell from {was[1]} to {now[1] if now else 'none'}")
                lost_facts += [f for n, f in self.families[prefix] if now is None or n > now[0]]
        lost = self.kinds(before, ESCALATION_KINDS) - self.kinds(after, ESCALATION_KINDS)
        if lost:
            problems.append(f"escalation no longer recommended: {self.describe(lost)}")
        return ("; ".join(problems), lost, lost_facts) if problems else None

    def enforcement_added(self, before: PupilEvaluation, after: PupilEvaluation) -> tuple | None:
        added = self.kinds(after, ENFORCEMENT_KINDS) - self.kinds(before, ENFORCEMENT_KINDS)
        return (f"enforcement added: {self.describe(added)}", added, ()) if added else None

    def absence_escalates(self, case: tuple) -> Counterexample | None:
        (as_of, doc), choices = case
        picks = self.picks(doc, as_of, choices, lambda m: m["code"] in ("/", "\\"))
        return (
            self.walk(0, doc, as_of, picks, lambda session: "O", self.escalation_lost)
            if picks
            else None
        )

    def presence_never_enforces(self, case: tuple) -> Counterexample | None:
        (as_of, doc), choices = case
        picks = self.picks(doc, as_of, choices, lambda m: self.category(m).is_absent)
        present = lambda session: "/" if session == "AM" else "\\"  # noqa: E731
        return self.walk(1, doc, as_of, picks, present, self.enforcement_added) if picks else None

    def clean_record_no_action(self, case: tuple) -> Counterexample | None:
        as_of, doc = case
        before = self.evaluate(doc, as_of)
        found = self.kinds(before, SUPPORT_OR_ENFORCEMENT_KINDS)
        if not found:
            return None
        return self.failure(
            2,
            doc,
            as_of,
            "none (a pupil with no absences, flags, case events or late marks)",
            f"recommended all the same: {self.describe(found)}",
            before,
            None,
            found,
        )

    def input_order_irrelevant(self, case: tuple) -> Counterexample | None:
        (as_of, doc), shuffle_seed = case
        shuffled = json.loads(json.dumps(doc))
        pupil = shuffled["pupils"][0]
        rng = random.Random(shuffle_seed)
        for key in ("marks", "events", "flags"):
            rng.shuffle(pupil[key])
        before, after = self.evaluate(doc, as_of), self.evaluate(shuffled, as_of)
        self.depth(before)
        if before.to_json() == after.to_json():
            return None
        return self.failure(
            3,
            doc,
            as_of,
            f"marks, events and flags shuffled (random seed {shuffle_seed}): "
            + json.dumps(shuffled, separators=(",", ":")),
            "the evaluation differs",
            before,
            after,
        )

    def mark_change(self, doc: Mapping[str, Any], index: int, code: str) -> str:
        mark = doc["pupils"][0]["marks"][index]
        return (
            f"the {mark['session']} mark of {mark['date']} (marks[{index}]) changed from "
            f"{mark['code']!r} to {code!r}"
        )

    def failure(
        self,
        which: int,
        doc: Mapping[str, Any],
        as_of: dt.date,
        change: str,
        problem: str,
        before: PupilEvaluation,
        after: PupilEvaluation | None,
        actions: Iterable[str] = (),
        facts: Iterable[str] = (),
    ) -> Counterexample:
        return Counterexample(
            property=PROPERTIES[which],
            history=doc,
            as_of=as_of,
            change=change,
            problem=problem,
            before=before,
            after=after,
            rules=self.involved(before, after, actions, facts),
        )


# --- running ----------------------------------------------------------------------------------


class _OutOfTime(BaseException):
    """The time budget ran out (a BaseException, so hypothesis does not take it for a failure)."""


class _Failed(AssertionError):
    def __init__(self, counterexample: Counterexample) -> None:
        super().__init__(counterexample.problem)
        self.counterexample = counterexample


def _size(example: Counterexample) -> tuple[int, int]:
    pupil = example.history["pupils"][0]
    return len(pupil["marks"]) + 10 * len(pupil["events"]), len(example.history_json())


def _strategy(prop: Property, checker: _Checker, spec: HistorySpec) -> Any:
    """What ``prop``'s check takes: a generated case, with the marks to change or a shuffle seed."""
    from hypothesis import strategies as st

    scenario = history_strategy(spec, checker.evaluate)
    choices = st.lists(st.integers(0, 10_000), min_size=1, max_size=_MOST_CHANGES)
    return {
        "absence_escalates": st.tuples(scenario(), choices),
        "presence_never_enforces": st.tuples(scenario(), choices),
        "clean_record_no_action": scenario(clean=True),
        "input_order_irrelevant": st.tuples(scenario(), st.integers(0, 2**32 - 1)),
    }[prop.name]


def _run_one(
    prop: Property,
    checker: _Checker,
    spec: HistorySpec,
    examples: int,
    seed: int,
    deadline: float,
    shrink: bool = True,
) -> PropertyResult:
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings, target
    from hypothesis import seed as seeded

    strategy = _strategy(prop, checker, spec)
    check = getattr(checker, prop.name)
    checker.target = lambda score, label: target(score, label=label)
    state: dict[str, Any] = {"calls": 0, "examples": 0, "best": None}

    phases = [Phase.explicit, Phase.generate, Phase.target] + ([Phase.shrink] if shrink else [])

    @seeded(seed)
    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        report_multiple_bugs=False,
        print_blob=False,
        phases=phases,
    )
    @given(strategy)
    def run(case: Any) -> None:
        if time.monotonic() > deadline:
            raise _OutOfTime
        state["calls"] += 1
        if state["best"] is None:
            state["examples"] = state["calls"]
        found = check(case)
        if found is not None:
            if state["best"] is None or _size(found) <= _size(state["best"]):
                state["best"] = found
            raise _Failed(found)

    try:
        run()
    except _Failed as failure:
        return PropertyResult(
            property=prop,
            examples=state["examples"],
            counterexample=failure.counterexample,
            shrunk=shrink,
        )
    except _OutOfTime:
        best = state["best"]
        return PropertyResult(
            property=prop,
            examples=state["examples"],
            counterexample=best,
            timed_out=True,
            shrunk=best is None,
        )
    return PropertyResult(property=prop, examples=state["examples"])


def check_properties(
    policy: str | Path | CompiledPolicy,
    examples: int = 100,
    seed: int = 0,
    max_seconds: float = 60.0,
    names: Sequence[str] | None = None,
    shrink: bool = True,
    progress: Callable[[Sequence[Property]], Iterable[Property]] = iter,
) -> PropertyReport:
    """Check the behaviour properties of ``policy`` (a bundled id, a path or a compiled policy).

    Each property tries up to ``examples`` generated histories; all together stop after
    about ``max_seconds`` (the time left is shared among the properties not yet run;
    when time runs out while a counterexample is being shrunk, the smallest found so far
    is reported). ``seed`` makes the run repeatable; ``names`` picks properties by name
    or letter; ``shrink=False`` reports the first counterexample as found. Raises
    ``HypothesisMissing`` when hypothesis is not installed, ``KeyError`` for an unknown
    property name. ``progress`` wraps the loop over the properties (e.g. a progress bar).
    """
    try:
        import hypothesis  # noqa: F401
    except ImportError:
        raise HypothesisMissing() from None
    compiled = policy if isinstance(policy, CompiledPolicy) else load_policy(policy)
    chosen = [p for p in PROPERTIES if names is None or p.name in names or p.letter in names]
    unknown = set(names or ()) - {p.name for p in PROPERTIES} - {p.letter for p in PROPERTIES}
    if unknown:
        raise UnknownNameError(
            f"unknown property {sorted(unknown)[0]!r}; known: "
            f"{', '.join(p.name for p in PROPERTIES)}"
        )
    checker, spec = _Checker(compiled), history_spec(compiled.ruleset)
    stop = time.monotonic() + max_seconds
    results = []
    for i, prop in enumerate(progress(chosen)):
        share = (stop - time.monotonic()) / (len(chosen) - i)
        results.append(
            _run_one(
                prop, checker, spec, examples, seed, time.monotonic() + max(share, 0.0), shrink
            )
        )
    return PropertyReport(compiled.id, seed, tuple(results))


def check_example(
    policy: str | Path | CompiledPolicy,
    name: str,
    history: Mapping[str, Any],
    as_of: dt.date,
    mark: int | None = None,
    shuffle_seed: int = 0,
) -> Counterexample | None:
    """Check one property on one given history (JSON form, a single pupil) as of a date.

    For (a) and (b) ``mark`` is the index of the mark to change in the pupil's ``marks``
    (a present mark, or an absence, on or before ``as_of``); by default each such mark in
    turn, returning the first counterexample. For (d) ``shuffle_seed`` picks the order.
    Useful to keep a counterexample as a regression test. None when the property holds.
    """
    compiled = policy if isinstance(policy, CompiledPolicy) else load_policy(policy)
    prop = next((p for p in PROPERTIES if name in (p.name, p.letter)), None)
    if prop is None:
        raise UnknownNameError(
            f"unknown property {name!r}; known: {', '.join(p.name for p in PROPERTIES)}"
        )
    checker = _Checker(compiled)
    check = getattr(checker, prop.name)
    if prop.name == "clean_record_no_action":
        return check((as_of, history))
    if prop.name == "input_order_irrelevant":
        return check(((as_of, history), shuffle_seed))
    wanted = (
        (lambda m: m["code"] in ("/", "\\"))
        if prop.name == "absence_escalates"
        else (lambda m: checker.category(m).is_absent)
    )
    candidates = [
        i
        for i, m in enumerate(history["pupils"][0]["marks"])
        if dt.date.fromisoformat(m["date"]) <= as_of and wanted(m)
    ]
    if mark is not None and mark not in candidates:
        kind = "a present mark" if prop.name == "absence_escalates" else "an absence"
        raise ValueError(f"marks[{mark}] is not {kind} on or before {as_of}")
    for choose in [candidates.index(mark)] if mark is not None else range(len(candidates)):
        found = check(((as_of, history), [choose]))
        if found is not None:
            return found
    return None
