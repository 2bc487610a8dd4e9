"""Audit of what was done: a history's case events against the policy in force on each date.

Two questions, per pupil:

* **Was each step the policy's?** For every case event in the audited range, the actions
  it carries out are looked up (below). The pupil is evaluated as of the event's date on
  the history *without that event* (a step cannot justify itself) and, failing that, as
  of the day before (a decision made on the previous day's register). The step is
  supported when the policy recommended one of its actions, or its rule fired and an
  earlier event had already carried it out. Otherwise the finding is
  ``held_back_but_done`` when an ``unless`` clause held the action back (with the
  clause's reason, rule and citation), ``missing_evidence`` when that clause waits on a
  fact derived by checklist rules (one finding per checklist rule that fired, e.g.
  Halton's ``stage3_missing_stage1_letter``), or ``unsupported`` when no rule called for
  it (the rule closest to firing is named with the tests that failed, followed through
  the facts it reads). Checklist rules that fire once the event is recorded (Halton reads
  any referral to the EWS after the School Attendance Meeting as the stage 3 referral)
  are reported as ``missing_evidence`` too, unless the step was supported. A deriver that
  counts events of the step's own kind (``count penalty_notice_issued``) is a limit, not
  a checklist item.
* **Was each step the policy called for taken in time?** Recommendations are found by
  evaluating each pupil at the last school day of every school week, the first school day
  after each holiday (where terms restart) and every event date (``scan="week"``), the first day of each new recommendation narrowed down by
  bisection over the school days in between; ``scan="day"`` evaluates every school day
  (several times slower; the weekly scan misses a recommendation that comes and goes
  within a week, such as one day of unexplained absence). A recommendation is identified
  by its action and window and due on its own ``due`` date (``within_school_days``, or
  the end of its window after an event). Actions without a due date are checked only when
  events record them and they are a step rather than a decision (kind letter, contact,
  meeting, plan or review, not worded "consider" or "may" in title or citation): they
  get ``default_due`` of the pupil's school days (20). The finding is ``overdue`` when no
  event carried the action out from the day it was first called for to its due date and
  the policy still called for it on that date (an event in the range while the action was
  still called for is reported as carrying it out late). An action no event records but whose
  window is tied to an event (a review 4-6 weeks after a meeting) is overdue when the
  policy still calls for it on the first school day after the window. Recommendations
  due after the pupil's last register date are counted as pending; those with a due date
  that no event can show done (``first_day_contact``) are counted as unchecked.

Which events carry out an action (``completions.py``): its ``done_by`` event, or the events
the policy itself waits for (``not any EVENT`` in a rule recommending it; such inferred
links never make an event ``unsupported`` on their own). ``audit_findings.py`` holds the
findings, the report and its text form.
"""

from __future__ import annotations

import datetime as dt
import re
from bisect import bisect_left, bisect_right
from typing import Iterable, Mapping, Sequence

import attrs

from .. import __version__
from ..engine.compiled import CompiledPolicy
from ..engine.context import PupilContext, outcome_values
from ..engine.forward import add_school_days
from ..engine.provenance import select_pupils
from ..engine.results import CitationView, PupilEvaluation, Recommendation, ValueView
from ..policy.model import Action
from ..registers.history import Event, History, Pupil, School
from ..rules import evaluator, nodes
from ..rules.compiler import CompiledRule
from .audit_findings import AuditReport, EventRef, Finding, value_text
from .completions import Completion, completions

__all__ = ["AuditScope", "audit", "audit_pupil", "audit_report", "audit_scope"]

DEFAULT_DUE_SCHOOL_DAYS = 20
_STEP_KINDS = frozenset({"letter", "contact", "meeting", "plan", "review"})
_DISCRETION = re.compile(r"\b(consider\w*|may)\b", re.IGNORECASE)
_EXPAND_DEPTH = 3


def _discretionary(action: Action) -> bool:
    """A decision rather than a step: no default deadline applies."""
    words = action.title + " " + (action.cite.says if action.cite else "")
    return action.kind not in _STEP_KINDS or bool(_DISCRETION.search(words))


# --- the audit ----------------------------------------------------------------------------


@attrs.frozen
class _Instance:
    """One recommendation from the day it was first called for."""

    key: tuple
    rec: Recommendation
    called_for: dt.date


class _Counts:
    """Events by outcome, events not linked, unchecked due actions and pending ones."""

    def __init__(self) -> None:
        self.events: dict[str, int] = {}
        self.not_linked: dict[str, int] = {}
        self.unchecked: dict[str, int] = {}
        self.pending = 0

    def add(self, table: dict[str, int], key: str, n: int = 1) -> None:
        """Count ``n`` more under ``key``."""
        table[key] = table.get(key, 0) + n

    def merge(self, other: "_Counts") -> None:
        """Add another pupil's counts to these."""
        for mine, theirs in (
            (self.events, other.events),
            (self.not_linked, other.not_linked),
            (self.unchecked, other.unchecked),
        ):
            for key, n in theirs.items():
                self.add(mine, key, n)
        self.pending += other.pending


class _Auditor:
    """Audits one pupil: support for each event, then recommendations due in the range."""

    def __init__(
        self,
        policy: CompiledPolicy,
        links: Mapping[str, tuple[Completion, ...]],
        pupil: Pupil,
        school: School,
        start: dt.date,
        end: dt.date,
        scan: str,
        default_due: int,
        counts: _Counts,
    ) -> None:
        self.policy, self.engine, self.ruleset = policy, policy.engine, policy.ruleset
        self.actions = self.ruleset.policy.actions
        self.links, self.pupil, self.school = links, pupil, school
        self.start, self.end, self.scan, self.default_due, self.counts = (
            start,
            end,
            scan,
            default_due,
            counts,
        )
        self.days = [dt.date.fromordinal(o) for o in pupil.register.days]
        self.horizon = self.days[-1] if self.days else None
        self.cache: dict[dt.date, PupilEvaluation] = {}
        self.rules = {r.id: r for r in self.ruleset.rules}
        self.findings: list[Finding] = []

    # -- evaluation helpers
    def evaluate(self, day: dt.date, pupil: Pupil | None = None) -> PupilEvaluation:
        if pupil is not None:
            return self.engine.evaluate_pupil(pupil, day, self.school)
        if day not in self.cache:
            self.cache[day] = self.engine.evaluate_pupil(self.pupil, day, self.school)
        return self.cache[day]

    def in_force(self, rule: CompiledRule, day: dt.date) -> bool:
        return rule.rule.in_force(day) and self.ruleset.policy.policy_in_force(
            rule.rule.policy, day
        )

    def action_in_force(self, action_id: str, day: dt.date) -> bool:
        action = self.actions[action_id]
        return (action.effective_from is None or action.effective_from <= day) and (
            action.effective_to is None or day <= action.effective_to
        )

    def cite(self, cite) -> CitationView:
        return CitationView.of(cite, self.engine.titles)

    def context(self, pupil: Pupil, day: dt.date, evaluation: PupilEvaluation) -> PupilContext:
        ctx = PupilContext(self.ruleset, pupil, day, self.engine.calendar, self.school)
        for fact in evaluation.facts:
            ctx.facts[fact.name] = fact
        return ctx

    def rule_values(self, rule: CompiledRule, ctx: PupilContext) -> tuple[ValueView, ...]:
        return outcome_values(evaluator.evaluate(rule.condition.node, ctx))

    # -- part (a): support for each event
    def audit_events(self) -> None:
        for event in self.pupil.events:
            if self.start <= event.date <= self.end:
                self.audit_event(event)

    def audit_event(self, event: Event) -> None:
        links = [c for cs in self.links.values() for c in cs if c.matches(event)]
        if not links:
            self.counts.add(self.counts.not_linked, event.type)
            self.counts.add(self.counts.events, "not linked to an action")
            return
        day = event.date
        candidates = sorted({c.action for c in links if self.action_in_force(c.action, day)})
        declared = sorted({c.action for c in links if c.declared})
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
        """supported, held, unsupported or unjudged (only inferred links, and nothing recommended or held)."""
        day = event.date
        on_day = self.evaluate(day, without)
        before = day - dt.timedelta(
            days=1
        )  # the full history as of the day before has no trace of the event
        for evaluation, pupil in ((on_day, without), (self.evaluate(before), self.pupil)):
            if _status(evaluation, candidates, ("recommended", "done")):
                return "supported"
            held = _status(evaluation, candidates, ("held",))
            if held:
                self.held_back(event, held, evaluation, pupil)
                return "held"
        if not declared:
            return "unjudged"
        self.unsupported(event, [a for a in declared if a in candidates], declared, on_day, without)
        return "unsupported"

    def held_back(
        self, event: Event, held: list[str], evaluation: PupilEvaluation, pupil: Pupil
    ) -> None:
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
                    self.pupil.id,
                    event.date,
                    "held_back_but_done",
                    suppression.action,
                    EventRef.of(event),
                    rule.id,
                    f"{event.type} on {event.date.isoformat()} carries out {suppression.action} "
                    f"({suppression.title}), which rule {rule.id} held back that day: {_one_line(suppression.reason)}",
                    suppression.source,
                    values,
                )
            )

    def missing_evidence(self, event: Event, candidates: list[str]) -> None:
        """Checklist facts gating a step the event carries out, derived once the event is recorded."""
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
                        self.pupil.id,
                        event.date,
                        "missing_evidence",
                        action_id,
                        EventRef.of(event),
                        rule.id,
                        f"{event.type} on {event.date.isoformat()} carries out {action_id} ({title}), which the "
                        f"policy holds back while {gate}: {rule.rule.title}",
                        self.cite(rule.rule.cite),
                        values,
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
        day = event.date
        ref = EventRef.of(event)
        lead = f"{event.type} on {day.isoformat()} carries out"
        if not in_force:
            action = self.actions[declared[0]]
            spans = "; ".join(
                f"{a} {_span(self.actions[a].effective_from, self.actions[a].effective_to)}"
                for a in declared
            )
            self.add(
                Finding(
                    self.pupil.id,
                    day,
                    "unsupported",
                    action.id,
                    ref,
                    "",
                    f"{lead} {', '.join(declared)}, which the policy does not provide for on that date "
                    f"({spans})",
                    self.cite(action.cite),
                    (),
                )
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
            self.add(
                Finding(
                    self.pupil.id,
                    day,
                    "unsupported",
                    action.id,
                    ref,
                    "",
                    f"{lead} {', '.join(in_force)}, but no rule of the policy in force on that date "
                    f"recommends it" + (f" ({spans})" if spans else ""),
                    self.cite(action.cite),
                    (),
                )
            )
            return
        _, action_id, rule, blocking, values = best
        leaves = [v for v in values if v.test not in self.ruleset.facts] or list(blocking)
        because = "; ".join(value_text(v) for v in leaves) or "its condition does not hold"
        self.add(
            Finding(
                self.pupil.id,
                day,
                "unsupported",
                action_id,
                ref,
                rule.id,
                f"{lead} {action_id} ({self.actions[action_id].title}), which the policy did not call for that day "
                f"or the day before: rule {rule.id} not met ({because})",
                self.cite(rule.rule.cite),
                values,
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

    # -- part (b): recommendations due in the range
    def audit_due(self) -> None:
        if not self.days:
            return
        points = self.scan_points()
        if not points:
            return
        first = bisect_left(self.days, self.start)
        baseline = self.days[first - 1] if first > 0 else None
        previous_keys = set(self.keys(self.evaluate(baseline))) if baseline else set()
        previous = baseline
        instances: list[_Instance] = []
        for point in points:
            keys = self.keys(self.evaluate(point))
            for key in sorted(set(keys) - previous_keys, key=repr):
                if not self.links.get(key[0]) and key[1] is None:  # nothing can show it done
                    self.counts.add(self.counts.unchecked, key[0])
                    continue
                day = self.first_day(key, previous, point)
                instances.append(
                    _Instance(key, self.keys(self.evaluate(day)).get(key, keys[key]), day)
                )
            previous_keys, previous = set(keys), point
        for i, instance in enumerate(instances):
            following = [x.called_for for x in instances[i + 1 :] if x.key[0] == instance.key[0]]
            self.resolve(instance, min(following) if following else None)

    def scan_points(self) -> list[dt.date]:
        lo, hi = bisect_left(self.days, self.start), bisect_right(self.days, self.end)
        school = self.days[lo:hi]
        if self.scan == "day":
            points = set(school)
        else:
            weeks: dict[int, dt.date] = {}
            for day in school:
                weeks[day.toordinal() - day.weekday()] = day  # the last school day of each week
            points = set(weeks.values())
            # and the first school day after each holiday, where terms and years restart
            previous = self.days[max(lo - 1, 0) : hi]
            points |= {
                b for a, b in zip(previous, previous[1:]) if (b - a).days > 3 and b >= self.start
            }
        points |= {e.date for e in self.pupil.events if self.start <= e.date <= self.end}
        return sorted(points)

    def keys(self, evaluation: PupilEvaluation) -> dict[tuple, Recommendation]:
        """The recommendations the audit can check, by identity (action and window)."""
        out = {}
        for rec in evaluation.recommendations:
            if (
                rec.due
                or rec.window
                or (self.links.get(rec.action) and not _discretionary(self.actions[rec.action]))
            ):
                out[(rec.action, rec.window)] = rec
        return out

    def first_day(self, key: tuple, previous: dt.date | None, point: dt.date) -> dt.date:
        """The first school day after ``previous`` up to ``point`` with ``key`` recommended (bisection)."""
        lo = bisect_right(self.days, previous) if previous else bisect_left(self.days, self.start)
        candidates = [d for d in self.days[lo : bisect_left(self.days, point)]] + [point]
        low, high = 0, len(candidates) - 1
        while low < high:
            mid = (low + high) // 2
            if key in self.keys(self.evaluate(candidates[mid])):
                high = mid
            else:
                low = mid + 1
        return candidates[low]

    def resolve(self, instance: _Instance, next_start: dt.date | None) -> None:
        """Judge one recommendation at its due date; a later event before the action is called
        for again (``next_start``) is reported as carrying it out late."""
        rec, called = instance.rec, instance.called_for
        action = self.actions[rec.action]
        default = not (rec.due or rec.window)
        due = (
            rec.window[1]
            if rec.window
            else rec.due or self.school_days_after(called, self.default_due)
        )
        due = max(due, called)
        links = self.links.get(rec.action, ())
        if self.horizon is None or due > self.horizon:
            self.counts.pending += 1
            return
        late = None
        if links:
            done = [e for e in self.pupil.events if any(c.matches(e) for c in links)]
            if any(called <= e.date <= due for e in done):
                return
            if instance.key not in self.keys(self.evaluate(due)):
                return  # no longer called for by its due date
            late = next(
                (
                    e
                    for e in done
                    if due < e.date <= self.end and (next_start is None or e.date < next_start)
                ),
                None,
            )
            if late is not None and not self.called_for_until(instance.key, due, late.date):
                late = None
            what = " or ".join(sorted({c.event for c in links}))
            status = (
                f"carried out late: {late.type} on {late.date.isoformat()}"
                if late
                else f"no {what} recorded from {called.isoformat()} to {due.isoformat()}"
            )
        else:
            after = bisect_right(self.days, due)
            if after >= len(self.days):
                self.counts.pending += 1
                return
            check = self.days[after]
            if instance.key not in self.keys(self.evaluate(check)):
                return
            status = (
                f"still called for on {check.isoformat()}, the next school day after it was due"
            )
        reason = rec.reasons[0]
        window = (
            f" (window {rec.window[0].isoformat()} to {rec.window[1].isoformat()})"
            if rec.window
            else ""
        )
        basis = (
            f" (the policy sets no due date; the audit allows {self.default_due} school days)"
            if default
            else ""
        )
        self.add(
            Finding(
                self.pupil.id,
                due,
                "overdue",
                rec.action,
                EventRef.of(late) if late else None,
                reason.rule,
                f"{rec.action} ({action.title}) was called for from {called.isoformat()}, due by {due.isoformat()}"
                f"{window}{basis}; {status}",
                reason.source,
                reason.values,
                called,
                due,
            )
        )

    def called_for_until(self, key: tuple, due: dt.date, day: dt.date) -> bool:
        """Whether the recommendation stayed called for from ``due`` up to the day before ``day``
        (on every day already evaluated, and on that last day)."""
        if any(due < d < day and key not in self.keys(e) for d, e in self.cache.items()):
            return False
        return key in self.keys(self.evaluate(day - dt.timedelta(days=1)))

    def school_days_after(self, day: dt.date, n: int) -> dt.date:
        """The ``n``th of the pupil's school days after ``day`` (weekdays beyond the register)."""
        i = bisect_right(self.days, day) + n - 1
        if n <= 0:
            return day
        if i < len(self.days):
            return self.days[i]
        return add_school_days(self.days[-1], i - len(self.days) + 1)

    def add(self, finding: Finding) -> None:
        if not any(
            f.sort_key()[:5] == finding.sort_key()[:5] and f.event == finding.event
            for f in self.findings
        ):
            self.findings.append(finding)


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
    return f"in force {start.isoformat() if start else 'from the start'} to {end.isoformat() if end else 'open'}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _data_range(pupils: Sequence[Pupil]) -> tuple[dt.date | None, dt.date | None]:
    days = [
        d for p in pupils for d in (p.register.days[:1].tolist() + p.register.days[-1:].tolist())
    ]
    dates = [dt.date.fromordinal(o) for o in days] + [e.date for p in pupils for e in p.events]
    return (min(dates), max(dates)) if dates else (None, None)


@attrs.frozen
class AuditScope:
    """What an audit covers besides the pupils: the range, scan, default due time and school."""

    start: dt.date | None
    end: dt.date | None
    scan: str
    default_due: int
    school: School = School()


def audit_scope(
    history: History,
    start: dt.date | None = None,
    end: dt.date | None = None,
    pupils: Sequence[str] | None = None,
    scan: str = "week",
    default_due: int = DEFAULT_DUE_SCHOOL_DAYS,
) -> tuple[list[Pupil], AuditScope]:
    """The pupils audited and the scope (dates default to the first and last of their data)."""
    if scan not in ("week", "day"):
        raise ValueError(f"unknown scan {scan!r}; expected 'week' or 'day'")
    chosen = select_pupils(history, pupils)
    first, last = _data_range(chosen)
    return chosen, AuditScope(start or first, end or last, scan, default_due, history.school)


def audit_pupil(
    policy: CompiledPolicy,
    links: Mapping[str, tuple[Completion, ...]],
    pupil: Pupil,
    scope: AuditScope,
) -> tuple[list[Finding], _Counts]:
    """One pupil's findings and counts (``links``: ``completions(policy.ruleset)``)."""
    counts = _Counts()
    if not (scope.start and scope.end):
        return [], counts
    auditor = _Auditor(
        policy,
        links,
        pupil,
        scope.school,
        scope.start,
        scope.end,
        scope.scan,
        scope.default_due,
        counts,
    )
    auditor.audit_events()
    auditor.audit_due()
    return auditor.findings, counts


def audit_report(
    policy: CompiledPolicy,
    history: History,
    scope: AuditScope,
    pupils: int,
    results: Iterable[tuple[list[Finding], _Counts]],
) -> AuditReport:
    """The report from each audited pupil's ``audit_pupil`` result (in pupil order)."""
    from .timeline import (  # timeline imports this stage's neighbours: import when used
        history_meta,
        policy_meta,
    )

    counts = _Counts()
    findings: list[Finding] = []
    for found, more in results:
        findings += found
        counts.merge(more)
    return AuditReport(
        scope.start,
        scope.end,
        scope.scan,
        scope.default_due,
        policy_meta(policy),
        history_meta(history),
        __version__,
        pupils,
        tuple(sorted(counts.events.items())),
        tuple(sorted(counts.not_linked.items())),
        tuple(sorted(counts.unchecked.items())),
        counts.pending,
        tuple(sorted(findings, key=Finding.sort_key)),
    )


def audit(
    policy: CompiledPolicy,
    history: History,
    start: dt.date | None = None,
    end: dt.date | None = None,
    pupils: Sequence[str] | None = None,
    scan: str = "week",
    default_due: int = DEFAULT_DUE_SCHOOL_DAYS,
) -> AuditReport:
    """Audit the case events of ``history`` (or of the pupils named) from ``start`` to ``end``.

    Dates default to the first and last date of the data. ``scan`` is ``"week"`` (each
    school week's last school day and every event date, new recommendations narrowed to
    the day by bisection) or ``"day"`` (every school day).
    """
    chosen, scope = audit_scope(history, start, end, pupils, scan, default_due)
    links = completions(policy.ruleset)
    return audit_report(
        policy, history, scope, len(chosen), (audit_pupil(policy, links, p, scope) for p in chosen)
    )
