"""Replay over time: evaluate as of every school day and record each recommendation's life.

For each pupil the policy is evaluated as of every day in a range on which the pupil has
marks (the pupil's own school days). A recommendation's *episode* runs from the first of
those days on which it is recommended (``first_seen``) to the last (``last_seen``); it
``ended`` on the next evaluated day, when it was no longer recommended (with the reason:
done as an event records, held back, or no longer met). While it runs, changes of its
review window, fixed due date, parameters or the rules giving it are listed with the
day they were seen. A recommendation that comes back later starts a new episode.

Nothing is recomputed from scratch per day: one ``Pupil`` object is replayed, so its
register's prefix counts, school days and weeks are built once and every measure is two
binary searches; each day then costs one rule pass (``Engine.evaluate_pupil``).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence

import attrs

from ..engine.provenance import Provenance, select_pupils
from ..engine.results import PupilEvaluation, Reason, Recommendation
from ..jsonform import JsonRecord, entry, insert_after
from ..policy.model import ActionKind
from ..registers.calendar import school_days_in
from ..registers.history import History, Pupil, School

if TYPE_CHECKING:
    from ..engine.compiled import CompiledPolicy
    from ..engine.days import ReplayMemo
    from .cases import Case

__all__ = [
    "PupilTimeline",
    "Timeline",
    "TimelineEntry",
    "build_timeline",
    "evaluations_by_day",
    "render_timeline",
    "replay",
    "replay_case_timeline",
    "replay_pupil",
    "rolling_due_actions",
    "school_days_between",
]

Change = tuple[dt.date, str]


@attrs.frozen(kw_only=True)
class TimelineEntry(JsonRecord):
    """One episode of a recommendation for one pupil: when it appeared, changed and ended."""

    pupil_id: str = attrs.field(metadata=entry(omit="always"))  # the pupil's timeline says it
    action: str
    title: str
    kind: ActionKind
    first_seen: dt.date
    last_seen: dt.date
    ended: dt.date | None  # the first evaluated day it was no longer recommended; None: still open
    # "done: letter_sent on …", "held back by RULE: …", "no longer met"; "" while open
    end_reason: str = ""
    days_recommended: int = 0  # evaluated school days from first_seen to last_seen
    open_at_start: bool = (
        False  # recommended on the first day evaluated: it may have appeared earlier
    )
    due_at_start: dt.date | None = None
    window_at_start: tuple[dt.date, dt.date] | None = None
    reasons_at_start: tuple[Reason, ...]
    # (day seen, what changed), oldest first
    changes: tuple[Change, ...] = attrs.field(
        default=(),
        metadata=entry(form=lambda cs: [{"date": d.isoformat(), "what": w} for d, w in cs]),
    )


@attrs.frozen(kw_only=True)
class PupilTimeline(JsonRecord):
    """A pupil's episodes over a range, ordered by first_seen then action."""

    pupil_id: str
    days_evaluated: int
    first_day: dt.date | None  # the first and last evaluated school days (None: no marks in range)
    last_day: dt.date | None
    entries: tuple[TimelineEntry, ...]


@attrs.frozen(kw_only=True)
class Timeline(JsonRecord):
    """Timelines of the pupils of a history over a date range, with provenance."""

    start: dt.date = attrs.field(metadata=entry(key="from"))
    end: dt.date = attrs.field(metadata=entry(key="to"))
    provenance: Provenance = attrs.field(metadata=entry(flatten=True))
    pupils: tuple[PupilTimeline, ...]

    @property
    def pupil_days(self) -> int:
        """Evaluations made (pupils × their school days in range)."""
        return sum(p.days_evaluated for p in self.pupils)

    def entries(self) -> Iterator[TimelineEntry]:
        """Every episode, pupil by pupil."""
        for pupil in self.pupils:
            yield from pupil.entries

    def json_entries(self, entries: dict[str, Any]) -> dict[str, Any]:
        """The evaluations made (``pupil_days``) come before the pupils."""
        return insert_after(entries, "history", {"pupil_days": self.pupil_days})


# --- replay ---------------------------------------------------------------------------


def school_days_between(pupil: Pupil, start: dt.date, end: dt.date) -> list[dt.date]:
    """The pupil's school days (``Register.days``: days with marks) from ``start`` to ``end``."""
    return [dt.date.fromordinal(d) for d in school_days_in(pupil.register.days, start, end)]


def evaluations_by_day(
    policy: CompiledPolicy, pupil: Pupil, start: dt.date, end: dt.date, school: School = School()
) -> Iterator[PupilEvaluation]:
    """The pupil's evaluation as of each of its school days in the range, oldest first.

    The same ``Pupil`` is evaluated every day, so the register's prefix counts are built
    on the first day and reused: each day is one rule pass.
    """
    for day in school_days_between(pupil, start, end):
        yield policy.evaluate_pupil(pupil, day, school)


def rolling_due_actions(policy: CompiledPolicy) -> frozenset[str]:
    """Actions due "within N school days" of the day they apply: their due date moves
    with every day evaluated, so a moving due date is not a change."""
    return frozenset(
        a.id
        for a in policy.ruleset.policy.actions.values()
        if a.due is not None and a.due.within_school_days is not None
    )


def _signature(rec: Recommendation, rolling: bool) -> dict[str, str]:
    """What, if it differs from one day to the next, is reported as a change."""
    return _signature_of(
        [r.rule for r in rec.reasons], rec.window, rec.due, rec.parameters, rolling
    )


def _signature_of(
    rules: Iterable[str],
    window: tuple[dt.date, dt.date] | None,
    due: dt.date | None,
    parameters: Iterable[tuple[str, str]],
    rolling: bool = False,
) -> dict[str, str]:
    sig = {
        # Sorted and deduplicated: the order in which rules fired is not a change of what is
        # recommended, and a rule giving the same action twice is one reason.
        "rules": ", ".join(sorted(set(rules))),
        "window": f"{window[0].isoformat()} to {window[1].isoformat()}" if window else "none",
    }
    # A rolling due date (N school days from today) moves every day by design; reporting it would
    # bury the real changes under one line per school day.
    if not rolling:
        sig["due"] = due.isoformat() if due else "none"
    for name, text in parameters:
        sig[f"parameter {name}"] = text
    return sig


def _describe_change(old: dict[str, str], new: dict[str, str]) -> str:
    return "; ".join(
        f"{key}: {old.get(key, 'none')} → {new.get(key, 'none')}"
        for key in sorted(old.keys() | new.keys())
        if old.get(key) != new.get(key)
    )


def _end_reason(action: str, evaluation: PupilEvaluation) -> str:
    for done in evaluation.done:
        if done.action == action:
            return f"done: {done.event} on {done.date.isoformat()}"
    for held in evaluation.suppressed:
        if held.action == action:
            return f"held back by {held.rule}: {held.reason}"
    return "no longer met"


class _Episode:
    """An episode while it is open (mutable; frozen into a TimelineEntry when it ends)."""

    __slots__ = ("rec", "first_seen", "last_seen", "signature", "changes", "days", "at_start")

    def __init__(
        self, rec: Recommendation, day: dt.date, signature: dict[str, str], at_start: bool
    ) -> None:
        self.rec, self.first_seen, self.last_seen, self.signature = rec, day, day, signature
        self.changes: list[Change] = []
        self.days, self.at_start = 1, at_start

    def freeze(self, pupil_id: str, ended: dt.date | None, reason: str) -> TimelineEntry:
        rec = self.rec
        return TimelineEntry(
            pupil_id=pupil_id,
            action=rec.action,
            title=rec.title,
            kind=rec.kind,
            first_seen=self.first_seen,
            last_seen=self.last_seen,
            ended=ended,
            reasons_at_start=rec.reasons,
            changes=tuple(self.changes),
            end_reason=reason,
            due_at_start=rec.due,
            window_at_start=rec.window,
            days_recommended=self.days,
            open_at_start=self.at_start,
        )


class _FullDay:
    """A day of a replay seen through a full evaluation."""

    def __init__(self, evaluation: PupilEvaluation) -> None:
        self.as_of, self.evaluation = evaluation.as_of, evaluation
        self.recommended = {rec.action: rec for rec in evaluation.recommendations}

    def signature(self, action: str, rolling: bool) -> dict[str, str]:
        return _signature(self.recommended[action], rolling)

    def recommendation(self, action: str) -> Recommendation:
        return self.recommended[action]

    def end_reason(self, action: str) -> str:
        return _end_reason(action, self.evaluation)


class _LightDay:
    """A day of a replay decided without reasons (``Engine.actions_on``); the full evaluation,
    with reasons, is made only when a recommendation starts that day."""

    def __init__(
        self, policy: CompiledPolicy, pupil: Pupil, day: dt.date, school: School, memo: ReplayMemo
    ) -> None:
        self.policy, self.pupil, self.school, self.as_of = policy, pupil, school, day
        self.actions = policy.engine.actions_on(pupil, day, school, memo)
        self.recommended = self.actions.recommended
        self._full: dict[str, Recommendation] | None = None

    def signature(self, action: str, rolling: bool) -> dict[str, str]:
        rec = self.recommended[action]
        return _signature_of(rec.rules, rec.window, rec.due, rec.parameters, rolling)

    def recommendation(self, action: str) -> Recommendation:
        if self._full is None:
            recs = self.policy.engine.recommendations(self.pupil, self.as_of, self.school)
            self._full = {rec.action: rec for rec in recs}
        return self._full[action]

    def end_reason(self, action: str) -> str:
        if action in self.actions.done:
            event = self.actions.done[action]
            return f"done: {event.type} on {event.date.isoformat()}"
        if action in self.actions.held_back:
            rule, reason = self.actions.held_back[action]
            return f"held back by {rule}: {reason}"
        return "no longer met"


def build_timeline(
    pupil_id: str, evaluations: Iterable[PupilEvaluation], rolling: frozenset[str] = frozenset()
) -> PupilTimeline:
    """A pupil's episodes from its evaluations in date order (one per evaluated day).

    Costs O(recommendations) per day whatever the length of the history.
    """
    return _episodes(pupil_id, (_FullDay(e) for e in evaluations), rolling)


def _episodes(
    pupil_id: str, days: Iterable[_FullDay | _LightDay], rolling: frozenset[str]
) -> PupilTimeline:
    open_: dict[str, _Episode] = {}
    done: list[TimelineEntry] = []
    count, first, last = 0, None, None
    for today in days:
        day = today.as_of
        count, first, last = count + 1, first or day, day
        current = today.recommended
        # A list first: the episodes are closed while walking `open_`, which a dict view forbids.
        # The end is the first day it was missing, and its reason is that day's (done, held back or
        # unmet).
        for action in [a for a in open_ if a not in current]:
            done.append(open_.pop(action).freeze(pupil_id, day, today.end_reason(action)))
        for action in current:
            signature = today.signature(action, action in rolling)
            episode = open_.get(action)
            if episode is None:
                # Reasons are taken only here, on the day an episode starts (on a light day, the
                # only full evaluation of that day); later days report changes by signature alone.
                open_[action] = _Episode(today.recommendation(action), day, signature, count == 1)
                continue
            if signature != episode.signature:
                episode.changes.append((day, _describe_change(episode.signature, signature)))
                episode.signature = signature
            episode.last_seen, episode.days = day, episode.days + 1
    done += [episode.freeze(pupil_id, None, "") for episode in open_.values()]
    # Episodes close in no useful order; sorting by start then action makes the output stable.
    done.sort(key=lambda e: (e.first_seen, e.action))
    return PupilTimeline(
        pupil_id=pupil_id, days_evaluated=count, first_day=first, last_day=last, entries=tuple(done)
    )


def replay_pupil(
    policy: CompiledPolicy,
    pupil: Pupil,
    start: dt.date,
    end: dt.date,
    school: School = School(),
    rolling: frozenset[str] | None = None,
) -> PupilTimeline:
    """One pupil's timeline from ``start`` to ``end`` (both inclusive).

    Each school day is decided without reasons (the same compiled rules, untraced), and the
    rules fire again only when something the previous day's decisions read has changed
    (``engine.ReplayMemo``); a full evaluation, with reasons, is made only on a day when a
    recommendation starts.
    """
    from ..engine.days import ReplayMemo
    from ..engine.forward import Engine

    rolling = rolling_due_actions(policy) if rolling is None else rolling
    if type(policy.engine) is not Engine:  # another backend: a full evaluation each day
        return build_timeline(
            pupil.id, evaluations_by_day(policy, pupil, start, end, school), rolling
        )
    # One memo per pupil: what it keeps (atom values, bounds looked ahead) is about this pupil's
    # register, so sharing it across pupils would reuse decisions that are not theirs.
    memo = ReplayMemo()
    days = (
        _LightDay(policy, pupil, day, school, memo)
        for day in school_days_between(pupil, start, end)
    )
    return _episodes(pupil.id, days, rolling)


def replay(
    policy: CompiledPolicy,
    history: History | Iterable[Pupil],
    start: dt.date,
    end: dt.date,
    pupil_ids: Sequence[str] | None = None,
) -> Timeline:
    """Timelines of every pupil of ``history`` (or those named), each over its own school days."""
    if end < start:
        raise ValueError(
            f"the range ends ({end.isoformat()}) before it starts ({start.isoformat()})"
        )
    school = history.school if isinstance(history, History) else School()
    rolling = rolling_due_actions(policy)
    pupils = tuple(
        replay_pupil(policy, p, start, end, school, rolling)
        for p in select_pupils(history, pupil_ids)
    )
    return Timeline(
        start=start,
        end=end,
        provenance=Provenance.of(policy.ruleset, history),
        pupils=pupils,
    )


def replay_case_timeline(case: Case, policy: CompiledPolicy | None = None) -> Timeline:
    """A case's timeline: from its first mark to its last check date (handy when writing
    the ``checks`` of a case: it shows the days on which each expectation starts to hold)."""
    from ..engine.compiled import load_policy

    policy = (policy or load_policy(case.policy)).with_calendar(case.calendar)
    firsts = [p.register.days[0] for p in case.history if len(p.register)]
    start = dt.date.fromordinal(min(firsts)) if firsts else min(c.as_of for c in case.checks)
    end = max(c.as_of for c in case.checks)
    return replay(policy, case.history, min(start, end), end)


# --- rendering ------------------------------------------------------------------------


def _when(entry: TimelineEntry) -> str:
    if entry.window_at_start:
        return (
            f"window {entry.window_at_start[0].isoformat()} "
            f"to {entry.window_at_start[1].isoformat()}"
        )
    return f"due {entry.due_at_start.isoformat()}" if entry.due_at_start else ""


def _table(timeline: Timeline) -> str:
    policy = timeline.provenance.policy
    lines = [
        f"timeline {timeline.start.isoformat()} to {timeline.end.isoformat()} — policy "
        f"{policy['id']} {policy['version']}; {len(timeline.pupils)} pupil(s), "
        f"{timeline.pupil_days} pupil-day(s) evaluated"
    ]
    quiet = 0
    for pupil in timeline.pupils:
        if not pupil.entries:
            quiet += 1
            continue
        lines.append(f"\n{pupil.pupil_id}  ({pupil.days_evaluated} school day(s) evaluated)")
        for e in pupil.entries:
            span = (
                ("≤" if e.open_at_start else "")
                + f"{e.first_seen.isoformat()} → "
                + (e.last_seen.isoformat() if e.ended else "open")
            )
            lines.append(
                (
                    f"  {span:<27} {e.action:<34} {e.kind:<12} "
                    f"{e.days_recommended:>3} day(s)  {_when(e)}"
                ).rstrip()
            )
            for reason in e.reasons_at_start:
                lines.append(f"      because {reason.sentence} [{reason.rule}; {reason.source}]")
            lines += [f"      {day.isoformat()} changed: {what}" for day, what in e.changes]
            if e.ended:
                lines.append(f"      {e.ended.isoformat()} ended: {e.end_reason}")
    episodes = sum(len(p.entries) for p in timeline.pupils)
    still = sum(1 for e in timeline.entries() if e.ended is None)
    lines.append(
        f"\n{episodes} episode(s), {still} still open on the last day; "
        f"{quiet} pupil(s) with nothing recommended in the range"
    )
    if any(e.open_at_start for e in timeline.entries()):
        lines.append(
            "≤: already recommended on the first day evaluated "
            "(it may have appeared before the range)"
        )
    return "\n".join(lines) + "\n"


def render_timeline(timeline: Timeline, fmt: str = "table") -> str:
    """``table`` or ``json``."""
    return timeline.dumps() if fmt == "json" else _table(timeline)
