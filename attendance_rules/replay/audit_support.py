"""Part (a) of a pupil's audit: was each step the policy's? Each case event judged supported,
held back by an ``unless`` clause, missing the evidence a checklist rule expects, or not called
for (with the rule that came closest and the tests it failed). See ``audit.py``.
"""

from __future__ import annotations

import datetime as dt
from typing import Iterable

import attrs

from ..engine.context import PupilContext, outcome_values
from ..engine.results import CitationView, PupilEvaluation, ValueView
from ..policy.model import Action
from ..registers.history import Event, Pupil
from ..rules import evaluator, nodes
from ..rules.compiler import CompiledRule
from .audit_findings import EventRef, Finding, value_text
from .auditor import Auditor

__all__ = ["SupportAudit"]

_EXPAND_DEPTH = 3


class SupportAudit(Auditor):
    """Support for each case event in the range (the policy's rules as of its date)."""

    # -- evaluation helpers
    def in_force(self, rule: CompiledRule, day: dt.date) -> bool:
        """Whether the rule and its policy file are both in force on ``day``."""
        return rule.rule.in_force(day) and self.ruleset.policy.policy_in_force(
            rule.rule.policy, day
        )

    def action_in_force(self, action_id: str, day: dt.date) -> bool:
        """Whether the action is in force on ``day`` (``effective_from`` to ``effective_to``)."""
        action = self.actions[action_id]
        return (action.effective_from is None or action.effective_from <= day) and (
            action.effective_to is None or day <= action.effective_to
        )

    def cite(self, cite) -> CitationView:
        """The citation as findings show it (with the titles of its sources)."""
        return CitationView.of(cite, self.engine.titles)

    def add_unsupported(self, day: dt.date, action: Action, event: EventRef, message: str) -> None:
        """Add the finding of an event carrying out ``action`` that no rule in force supports."""
        self.add(
            Finding(
                pupil_id=self.pupil.id,
                date=day,
                kind="unsupported",
                action=action.id,
                event=event,
                rule="",
                message=message,
                source=self.cite(action.cite),
                values=(),
            )
        )

    def context(self, pupil: Pupil, day: dt.date, evaluation: PupilEvaluation) -> PupilContext:
        """A context for ``pupil`` on ``day`` holding the facts ``evaluation`` derived."""
        ctx = PupilContext(self.ruleset, pupil, day, self.engine.calendar, self.school)
        for fact in evaluation.facts:
            ctx.facts[fact.name] = fact
        return ctx

    def rule_values(self, rule: CompiledRule, ctx: PupilContext) -> tuple[ValueView, ...]:
        """The values the rule's condition tests read in ``ctx``."""
        return outcome_values(evaluator.evaluate(rule.condition.node, ctx))

    # -- part (a): support for each event
    def audit_events(self) -> None:
        """Judge every case event of the pupil dated in the range."""
        for event in self.pupil.events_of(since=self.start, until=self.end):
            self.audit_event(event)

    def audit_event(self, event: Event) -> None:
        """Judge one event and count its outcome (not linked to an action, supported …)."""
        links = [c for cs in self.links.values() for c in cs if c.matches(event)]
        if not links:
            self.counts.add(self.counts.not_linked, event.type)
            self.counts.add(self.counts.events, "not linked to an action")
            return
        day = event.date
        candidates = sorted({c.action for c in links if self.action_in_force(c.action, day)})
        declared = sorted({c.action for c in links if c.declared})
        # The event is judged against the history without it: recorded, it may itself make the
        # action "done" or change a fact, and then nothing would seem to have called for it.
        without = attrs.evolve(
            self.pupil, events=tuple(e for e in self.pupil.events if e is not event)
        )
        before = len(self.findings)
        outcome = self.judge(event, candidates, declared, without)
        if outcome != "supported":
            self.missing_evidence(event, candidates)
        label = (
            "with findings"
            if len(self.findings) > before
            else {"unjudged": "not judged (link inferred)"}.get(outcome, "supported")
        )
        self.counts.add(self.counts.events, label)

    def judge(
        self, event: Event, candidates: list[str], declared: list[str], without: Pupil
    ) -> str:
        """supported, held, unsupported or unjudged (only inferred links, and nothing recommended
        or held)."""
        day = event.date
        on_day = self.evaluate(day, without)
        # the full history as of the day before has no trace of the event
        before = day - dt.timedelta(days=1)
        # The day itself, then the day before: a step taken in the morning answers what the register
        # showed up to the day before, as that day's own marks may be taken after it.
        for evaluation, pupil in ((on_day, without), (self.evaluate(before), self.pupil)):
            if _status(evaluation, candidates, ("recommended", "done")):
                return "supported"
            held = _status(evaluation, candidates, ("held",))
            if held:
                self.held_back(event, held, evaluation, pupil)
                return "held"
        # Only inferred links (the event type alone matched a `done_by`): too weak to call an event
        # unsupported, so it is counted as not judged rather than reported.
        if not declared:
            return "unjudged"
        self.unsupported(event, [a for a in declared if a in candidates], declared, on_day, without)
        return "unsupported"

    def held_back(
        self, event: Event, held: list[str], evaluation: PupilEvaluation, pupil: Pupil
    ) -> None:
        """A ``held_back_but_done`` finding per clause that held back one of ``held`` (or the
        ``missing_evidence`` findings when the clause waits on checklist facts)."""
        for suppression in evaluation.suppressed:
            if suppression.action not in held:
                continue
            rule = self.rules[suppression.rule]
            clause = next(
                (u for u in rule.unless if u.condition.text == suppression.condition), None
            )
            gates = nodes.names_used(clause.condition.node)["fact"] if clause else set()
            if gates and self.evidence_findings(
                event, suppression.action, gates, evaluation, pupil
            ):
                continue
            values = _expand_true(suppression.values, evaluation)
            self.add(
                Finding(
                    pupil_id=self.pupil.id,
                    date=event.date,
                    kind="held_back_but_done",
                    action=suppression.action,
                    event=EventRef.of(event),
                    rule=rule.id,
                    message=f"{event.type} on {event.date.isoformat()} carries out "
                    f"{suppression.action} ({suppression.title}), which rule {rule.id} held back "
                    "that day: "
                    f"{_one_line(suppression.reason)}",
                    source=suppression.source,
                    values=values,
                )
            )

    def missing_evidence(self, event: Event, candidates: list[str]) -> None:
        """Checklist facts gating a step the event carries out, derived once the event is
        recorded."""
        with_event = self.evaluate(event.date)
        for action_id in candidates:
            gates = set()
            for rule in self.ruleset.recommenders(action_id):
                if not self.in_force(rule, event.date):
                    continue  # a rule not yet (or no longer) in force holds nothing back that day
                for clause in rule.unless:
                    if action_id in clause.actions:
                        gates |= nodes.names_used(clause.condition.node)["fact"]
            if gates:
                self.evidence_findings(event, action_id, gates, with_event, self.pupil)

    def evidence_findings(
        self,
        event: Event,
        action_id: str,
        gates: set[str],
        evaluation: PupilEvaluation,
        pupil: Pupil,
    ) -> bool:
        """One ``missing_evidence`` finding per checklist rule that fired; False when none did."""
        fired = set(evaluation.fired)
        ctx = None
        found = False
        for gate in sorted(gates):
            for rule in self.ruleset.derivers(gate):
                if (
                    rule.id not in fired
                    or event.type in nodes.names_used(rule.condition.node)["event"]
                ):
                    continue  # a deriver counting events of this very kind is a limit, not evidence
                ctx = ctx or self.context(pupil, evaluation.as_of, evaluation)
                values = self.rule_values(rule, ctx)
                title = self.actions[action_id].title
                self.add(
                    Finding(
                        pupil_id=self.pupil.id,
                        date=event.date,
                        kind="missing_evidence",
                        action=action_id,
                        event=EventRef.of(event),
                        rule=rule.id,
                        message=f"{event.type} on {event.date.isoformat()} carries out {action_id} "
                        f"({title}), which the policy holds back while {gate}: {rule.rule.title}",
                        source=self.cite(rule.rule.cite),
                        values=values,
                    )
                )
                found = True
        return found

    def unsupported(
        self,
        event: Event,
        in_force: list[str],
        declared: list[str],
        evaluation: PupilEvaluation,
        without: Pupil,
    ) -> None:
        """An ``unsupported`` finding: the actions not in force, no rule in force, or the rule
        closest to firing with the tests that failed."""
        day = event.date
        ref = EventRef.of(event)
        lead = f"{event.type} on {day.isoformat()} carries out"
        if not in_force:
            action = self.actions[declared[0]]
            spans = "; ".join(
                f"{a} {_span(self.actions[a].effective_from, self.actions[a].effective_to)}"
                for a in declared
            )
            self.add_unsupported(
                day,
                action,
                ref,
                f"{lead} {', '.join(declared)}, which the policy does not provide for on that "
                f"date ({spans})",
            )
            return
        ctx = self.context(without, day, evaluation)
        best: tuple | None = None
        for action_id in in_force:
            for rule in self.ruleset.recommenders(action_id):
                if not self.in_force(rule, day):
                    continue
                blocking = self.blocking(rule, ctx)
                values = blocking + self.explain(blocking, ctx, day, 1)
                # The closest rule: fewest failing tests on the register itself (facts are only the
                # way there), then fewest values to explain, then declaration order so the choice is
                # stable.
                score = (
                    sum(1 for v in blocking if v.test not in self.ruleset.facts),
                    len(values),
                    rule.order,
                )
                if best is None or score < best[0]:
                    best = (score, action_id, rule, blocking, values)
        if best is None:
            action = self.actions[in_force[0]]
            spans = "; ".join(
                f"{r.id} {_span(r.rule.effective_from, r.rule.effective_to)}"
                for a in in_force
                for r in self.ruleset.recommenders(a)
            )
            self.add_unsupported(
                day,
                action,
                ref,
                f"{lead} {', '.join(in_force)}, but no rule of the policy in force on that date "
                "recommends it" + (f" ({spans})" if spans else ""),
            )
            return
        _, action_id, rule, blocking, values = best
        leaves = [v for v in values if v.test not in self.ruleset.facts] or list(blocking)
        because = "; ".join(value_text(v) for v in leaves) or "its condition does not hold"
        self.add(
            Finding(
                pupil_id=self.pupil.id,
                date=day,
                kind="unsupported",
                action=action_id,
                event=ref,
                rule=rule.id,
                message=f"{lead} {action_id} ({self.actions[action_id].title}), which the policy "
                f"did not call for that day or the day before: rule {rule.id} not met ({because})",
                source=self.cite(rule.rule.cite),
                values=values,
            )
        )

    def blocking(self, rule: CompiledRule, ctx: PupilContext) -> tuple[ValueView, ...]:
        """The tests that keep the rule from firing: false ones, and true ones under a ``not``."""
        negated = _negated_texts(rule.condition.node)
        return tuple(v for v in self.rule_values(rule, ctx) if v.holds == (v.test in negated))

    def explain(
        self, blocking: tuple[ValueView, ...], ctx: PupilContext, day: dt.date, depth: int
    ) -> tuple[ValueView, ...]:
        """Why each blocking fact is as it is: the values that derived a true one, the blocking
        tests of the closest deriver of a false one (recursively)."""
        if depth > _EXPAND_DEPTH:
            return ()
        out: list[ValueView] = []
        for value in blocking:
            if value.test not in self.ruleset.facts:
                continue
            if ctx.fact(value.test):
                more = ctx.facts[value.test].reason.values
                out += [v for v in more if v not in out]
                continue
            options = []
            for rule in self.ruleset.derivers(value.test):
                if self.in_force(rule, day):
                    failing = self.blocking(rule, ctx)
                    options.append((len(failing), rule.order, failing))
            if options:
                failing = min(options)[2]
                out += [v for v in failing if v not in out]
                out += [v for v in self.explain(failing, ctx, day, depth + 1) if v not in out]
        return tuple(out)


def _status(
    evaluation: PupilEvaluation, actions: Iterable[str], wanted: tuple[str, ...]
) -> list[str]:
    recommended = set(evaluation.actions())
    done = {d.action for d in evaluation.done}
    held = {s.action for s in evaluation.suppressed}
    out = []
    for action in actions:
        state = (
            "recommended"
            if action in recommended
            else "done"
            if action in done
            else "held"
            if action in held
            else ""
        )
        if state in wanted:
            out.append(action)
    return out


def _expand_true(
    values: tuple[ValueView, ...], evaluation: PupilEvaluation
) -> tuple[ValueView, ...]:
    """Values, followed by the values that made each fact among them true (recursively)."""
    facts = {f.name: f for f in evaluation.facts}
    out = list(values)
    queue = [v.test for v in values if v.holds and v.test in facts]
    seen = set(queue)
    while queue:
        reason = facts[queue.pop(0)].reason
        for value in reason.values:
            if value not in out:
                out.append(value)
            if value.holds and value.test in facts and value.test not in seen:
                seen.add(value.test)
                queue.append(value.test)
    return tuple(out)


def _negated_texts(node: nodes.Node) -> set[str]:
    """The text of every sub-condition under an odd number of ``not``s."""
    found, stack = set(), [(node, False)]
    while stack:
        current, negated = stack.pop()
        if negated:
            found.add(str(current))
        stack.extend(
            (child, negated ^ isinstance(current, nodes.Not)) for child in current.children()
        )
    return found


def _span(start: dt.date | None, end: dt.date | None) -> str:
    return (
        f"in force {start.isoformat() if start else 'from the start'} "
        f"to {end.isoformat() if end else 'open'}"
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())
