"""Part (b) of a pupil's audit: was each step the policy called for taken in time? The
recommendations found by scanning the range (weekly or daily, new ones narrowed to their first day
by bisection), each judged at its due date: done, pending, unchecked or ``overdue``. See
``audit.py``.
"""

from __future__ import annotations

import datetime as dt
import re
from bisect import bisect_left, bisect_right

import attrs

from ..engine.results import PupilEvaluation, Recommendation
from ..policy.model import Action, ActionKind
from ..registers.calendar import monday_of, nth_school_day_after
from .audit_findings import EventRef, Finding
from .auditor import Auditor

__all__ = ["DueAudit"]

_STEP_KINDS: frozenset[ActionKind] = frozenset({"letter", "contact", "meeting", "plan", "review"})
_DISCRETION = re.compile(r"\b(consider\w*|may)\b", re.IGNORECASE)


def _discretionary(action: Action) -> bool:
    """A decision rather than a step: no default deadline applies."""
    words = action.title + " " + (action.cite.says if action.cite else "")
    return action.kind not in _STEP_KINDS or bool(_DISCRETION.search(words))


@attrs.frozen
class _Instance:
    """One recommendation from the day it was first called for."""

    key: tuple
    rec: Recommendation
    called_for: dt.date


class DueAudit(Auditor):
    """Recommendations due in the range, each judged at its due date."""

    def audit_due(self) -> None:
        """Find the recommendations called for in the range and judge each at its due date."""
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
        """The school days evaluated: each one (``scan="day"``), or the last of each week and the
        first after each holiday, and every event date."""
        lo, hi = bisect_left(self.days, self.start), bisect_right(self.days, self.end)
        school = self.days[lo:hi]
        if self.scan == "day":
            points = set(school)
        else:
            weeks: dict[int, dt.date] = {}
            for day in school:
                weeks[monday_of(day.toordinal())] = day  # the last school day of each week
            points = set(weeks.values())
            # and the first school day after each holiday, where terms and years restart: any
            # break longer than a weekend rather than TERM_GAP_DAYS, a superset of the inferred
            # term starts (an extra point costs one evaluation, a missed one a recommendation)
            previous = self.days[max(lo - 1, 0) : hi]
            points |= {
                b for a, b in zip(previous, previous[1:]) if (b - a).days > 3 and b >= self.start
            }
        points |= {e.date for e in self.pupil.events_of(since=self.start, until=self.end)}
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
        """The first school day after ``previous`` up to ``point`` with ``key`` recommended
        (bisection)."""
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
                pupil_id=self.pupil.id,
                date=due,
                kind="overdue",
                action=rec.action,
                event=EventRef.of(late) if late else None,
                rule=reason.rule,
                message=f"{rec.action} ({action.title}) was called for from {called.isoformat()}, "
                f"due by {due.isoformat()}{window}{basis}; {status}",
                source=reason.source,
                values=reason.values,
                called_for=called,
                due=due,
            )
        )

    def called_for_until(self, key: tuple, due: dt.date, day: dt.date) -> bool:
        """Whether the recommendation stayed called for from ``due`` up to the day before ``day``
        (on every day already evaluated, and on that last day)."""
        if any(due < d < day and key not in self.keys(e) for d, e in self.cache.items()):
            return False
        return key in self.keys(self.evaluate(day - dt.timedelta(days=1)))

    def school_days_after(self, day: dt.date, n: int) -> dt.date:
        """The ``n``th of the pupil's school days after ``day`` (weekdays beyond the register,
        whose last day stands for the as-of date)."""
        assert self.horizon is not None, "audit_due returns early for a pupil with no marks"
        return nth_school_day_after(day, n, self.pupil.register.days, self.horizon)
