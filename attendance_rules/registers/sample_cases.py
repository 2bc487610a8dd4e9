"""The case files of the synthetic cohort (``sample``): what an attendance team records.

``case_work`` looks at a pupil's year once its register is written: a pupil whose
absence is 10% or more at two fortnightly checks gets letters, contact, a school
attendance meeting, a review 4-6 weeks later, and for some escalation (referrals,
early help, notices to improve, penalty notices, legal action), each step drawn from
the pupil's own random stream and dated on a school day of the year.
"""

from __future__ import annotations

from collections import Counter
from itertools import accumulate
from operator import add

from .sample_register import ABSENT, UNAUTHORISED, Profile, PupilWork

__all__ = ["case_work"]

_Prefix = list[int]  # absent sessions before each day of the span (prefix sums)
_ENGAGED = {"improved": 0.9, "some_improvement": 0.7, "no_improvement": 0.35}


def case_work(w: PupilWork, prof: Profile) -> None:
    """Letters, meetings and escalation once absence is 10%+ at two fortnightly checks."""
    pre = _prefix(w)
    if pre[-1] < 6:
        return
    checks = [d for d in range(w.lo + 30, w.hi, 10) if _rate(w, pre, w.lo, d) >= 0.10]
    concern = next((d for d in checks if d - 10 in checks), None)  # two fortnightly checks running
    if concern is not None:
        _stage_one(w, pre, concern, prof)


def _prefix(w: PupilWork) -> _Prefix:
    absent = list(map(ABSENT.__contains__, w.codes[2 * w.lo : 2 * w.hi]))
    return list(accumulate(map(add, absent[0::2], absent[1::2]), initial=0))


def _rate(w: PupilWork, pre: _Prefix, first: int, stop: int) -> float:
    """Share of possible sessions missed on days ``[first, stop)`` of the span."""
    a, b = max(first, w.lo), min(stop, w.hi)
    if b <= a:
        return 0.0
    # "#" is the only not-possible code made
    possible = 2 * (b - a) - (w.cal.closed[b] - w.cal.closed[a])
    return (pre[b - w.lo] - pre[a - w.lo]) / possible if possible else 0.0


def _stage_one(w: PupilWork, pre: _Prefix, concern: int, prof: Profile) -> None:
    rng = w.rng
    letter = concern + rng.randint(1, 3)
    if not w.event(letter, "letter_sent", action="stage1_letter"):
        return
    contact = letter + rng.randint(2, 6)
    if rng.random() < 0.8:
        w.event(contact, "contact_made")
    else:
        w.event(contact + rng.randint(2, 5), "home_visit")
    if _rate(w, pre, letter, letter + 15) >= 0.10:  # no better three weeks after the letter
        _stage_two(w, pre, letter + 15, prof)


def _stage_two(w: PupilWork, pre: _Prefix, day: int, prof: Profile) -> None:
    rng, counts = w.rng, Counter(w.codes[2 * w.lo : 2 * w.hi])
    w.event(day, "letter_sent", action="stage2_letter")
    meeting = day + rng.randint(4, 8)
    contract = rng.random() < (0.4 if prof.kind == "severe" else 0.15)
    plan = rng.random() < 0.9
    if not w.event(
        meeting, "school_attendance_meeting", parenting_contract=contract, improvement_plan=plan
    ):
        return
    _referrals(w, meeting, counts)
    review = meeting + rng.randint(20, 30)
    rate = _rate(w, pre, meeting, review)
    outcome = "improved" if rate < 0.05 else "some_improvement" if rate < 0.12 else "no_improvement"
    engaged = rng.random() < _ENGAGED[outcome]
    held = w.event(review, "review_held", outcome=outcome, parent_engaged=engaged)
    if held and outcome == "no_improvement":
        _escalate(w, pre, review, prof, counts, engaged)


def _referrals(w: PupilWork, meeting: int, counts: Counter[str]) -> None:
    rng = w.rng
    if "looked_after" in w.flags and rng.random() < 0.9:
        w.event(meeting + rng.randint(0, 3), "referral_made", to="virtual_school")
    if counts["I"] >= 0.5 * sum(counts[code] for code in ABSENT) and rng.random() < 0.4:
        w.event(meeting + rng.randint(1, 5), "referral_made", to="school_nursing")


def _escalate(
    w: PupilWork, pre: _Prefix, review: int, prof: Profile, counts: Counter[str], engaged: bool
) -> None:
    """After a review with no improvement: referrals, support, enforcement."""
    rng = w.rng
    if rng.random() < (0.9 if prof.kind == "severe" else 0.5):
        w.event(review + rng.randint(2, 8), "referral_made", to="education_welfare_service")
    _support(w, review)
    unauthorised = sum(counts[code] for code in UNAUTHORISED)
    if (
        unauthorised >= 0.4 * sum(counts[code] for code in ABSENT)
        and not engaged
        and rng.random() < 0.5
    ):
        _enforcement(w, pre, review)
    if prof.kind == "severe":
        _severe_steps(w, review, engaged)


def _support(w: PupilWork, review: int) -> None:
    rng = w.rng
    if "social_worker" in w.flags:
        if rng.random() < 0.7:
            w.event(review + rng.randint(5, 15), "joint_plan_agreed")
    elif "early_help_plan" not in w.flags and rng.random() < 0.5:
        w.event(review + rng.randint(3, 10), "early_help_offered", accepted=rng.random() < 0.6)


def _enforcement(w: PupilWork, pre: _Prefix, review: int) -> None:
    notice = review + w.rng.randint(10, 20)
    worse = (
        w.event(notice, "notice_to_improve_issued") and _rate(w, pre, notice, notice + 20) >= 0.10
    )
    if worse and w.rng.random() < 0.6:
        w.event(notice + w.rng.randint(20, 25), "penalty_notice_issued")


def _severe_steps(w: PupilWork, review: int, engaged: bool) -> None:
    rng = w.rng
    if rng.random() < 0.7:
        w.event(review + rng.randint(5, 12), "attendance_planning_meeting")
    if "social_worker" not in w.flags and rng.random() < 0.15:
        w.event(review + rng.randint(5, 15), "referral_made", to="social_care")
    if not engaged and rng.random() < 0.25:
        kind = rng.choice(("s444_1", "s444_1A", "education_supervision_order"))
        w.event(review + rng.randint(30, 45), "legal_action", kind=kind)
