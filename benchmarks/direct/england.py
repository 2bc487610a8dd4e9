"""The national base policy (``policies/england.yaml``) hand-written in plain Python.

``prepare`` gathers what the 18 rules read; ``decide`` applies them rule by rule. Every
threshold is the policy's parameter value in force on the as-of date; every rule block
cites the rule id it implements. Semantics kept from the policy language: a rate with no
possible sessions, or a ``latest``/``time since`` with no such event, makes a comparison
false; ``unless`` holds an action back for that rule only; an action with a recording
event (``done_by``, or ``letter_sent`` naming a letter) within its ``repeat`` scope is
listed as already done instead of recommended.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

from attendance_rules.registers.calendar import Calendar, academic_year_start
from attendance_rules.registers.history import Pupil, School

from . import (
    Decision,
    absence_counts,
    code_count,
    code_ids,
    counted_ten_weeks_start,
    events_by_type,
    latest,
    notices_per_parent,
    rate_pair,
    school_days_hold,
    snapshot,
    unexplained_today,
)

__all__ = ["Inputs", "decide", "prepare"]

POLICY = "england"


class Inputs(NamedTuple):
    """Everything the england rules read for one pupil on one date (ints, bools, ordinals)."""

    # rules and actions in force on the date (rule ids in the policy)
    england_on: bool  # rules without dates of their own: england's file is in force
    pn_threshold_on: bool
    nti_first_on: bool
    pn_limit_on: bool
    pn_unpaid_on: bool
    pn_consider_on: bool
    nti_action_on: bool  # action consider_notice_to_improve (effective_from)
    # parameters in force (rates as integer fractions of one; weeks as days)
    pa_n: int
    pa_d: int
    sa_n: int
    sa_d: int
    pn_threshold: Any  # sessions, None before the national framework
    pn_max: Any  # count, None before the national framework
    nti_days: Any  # calendar days from the latest NTI to the end of its period (15 school days), or None
    # measures
    absent_ytd: int  # absence_rate_ytd = absent_ytd / possible_ytd
    possible_ytd: int
    pn_unauth_10w: int  # codes G N O U, last 10 school weeks
    pn_holiday_10w: int  # code G, last 10 school weeks
    pn_unauth_since: int  # codes G N O U since the latest penalty notice (0 with none)
    pn_holiday_since: int  # code G since the latest penalty notice (0 with none)
    run: int  # N sessions today, else unexplained_run_days (rules: either >= 1)
    # events (day ordinals, 0 when none) and fields
    today: int
    ay: int  # first day of the academic year
    term: int  # first day of the term (only when a penalty notice could be done this term, else 0)
    pn: int  # latest penalty_notice_issued
    pn_3y: int  # penalty_notice_issued within the last 3 years
    nti: int  # latest notice_to_improve_issued
    joint_plan: int  # latest joint_plan_agreed
    legal: int  # latest legal_action
    review_outcome: Any  # latest review_held.outcome (None when none or not recorded)
    review_engaged: Any  # latest review_held.parent_engaged
    # pupil flags
    social_worker: bool
    looked_after: bool
    roll_deletion_proposed: bool
    missing_education_suspected: bool
    penalty_notice_unpaid: bool
    # consultation before enforcement (issue 13)
    consult_rule_on: bool  # rule consult_before_national_enforcement (effective_from)
    consultation: int  # latest consultation_held
    consultation_outcome: Any  # its outcome (None when none or not recorded)


def prepare(pupil: Pupil, as_of: dt.date, calendar: Calendar, school: School) -> Inputs:
    """Gather the measures, flags, event dates and parameter values the england rules read."""
    snap = snapshot(POLICY, as_of)
    p, rules = snap.params, snap.rules
    reg = pupil.register
    events = events_by_type(pupil, as_of)
    flags = pupil.flags
    ay_start = academic_year_start(as_of)
    absent, possible, _ = absence_counts(reg, ay_start, as_of)
    week10 = counted_ten_weeks_start(reg, as_of, p["pn_sessions_counted_from"])  # None: nothing counts yet
    gnou, g = code_ids(reg, ("G", "N", "O", "U")), code_ids(reg, ("G",))
    notices = events.get("penalty_notice_issued")
    pn = latest(notices)
    if pn:
        notice_day = notices[-1].date
        since_u, since_g = code_count(reg, gnou, notice_day, as_of), code_count(reg, g, notice_day, as_of)
        pn_3y = notices_per_parent(notices, as_of)
    else:
        since_u = since_g = pn_3y = 0
    reviews = events.get("review_held")
    review = reviews[-1].details if reviews else {}
    consultations = events.get("consultation_held")
    pn_consider_on = "pn_consider" in rules
    # the term start (a walk over the school days) only matters for a notice already recorded
    term = calendar.term_start(as_of, reg.days).toordinal() if pn and pn_consider_on else 0
    pa_n, pa_d = rate_pair(p["persistent_absence_rate"])
    sa_n, sa_d = rate_pair(p["severe_absence_rate"])
    return Inputs(
        "persistent_absence_definition" in rules, "pn_threshold" in rules, "nti_first" in rules,
        "pn_limit" in rules, "pn_unpaid" in rules, pn_consider_on, "consider_notice_to_improve" in snap.actions,
        pa_n, pa_d, sa_n, sa_d, p["pn_national_threshold"], p["pn_max_notices"],
        school_days_hold(reg, latest(events.get("notice_to_improve_issued")), p["nti_improvement_period"], as_of),
        absent, possible,
        code_count(reg, gnou, week10, as_of) if week10 else 0, code_count(reg, g, week10, as_of) if week10 else 0,
        since_u, since_g,
        unexplained_today(reg, as_of),
        as_of.toordinal(), ay_start.toordinal(), term, pn, pn_3y,
        latest(events.get("notice_to_improve_issued")), latest(events.get("joint_plan_agreed")),
        latest(events.get("legal_action")), review.get("outcome"), review.get("parent_engaged"),
        "social_worker" in flags, "looked_after" in flags, "roll_deletion_proposed" in flags,
        "missing_education_suspected" in flags, "penalty_notice_unpaid" in flags,
        "consult_before_national_enforcement" in rules, latest(consultations),
        consultations[-1].details.get("outcome") if consultations else None,
    )


_NOTHING = Decision(frozenset(), frozenset(), frozenset(), frozenset())


def decide(inputs: Inputs) -> Decision:
    """The england decisions for one pupil: derived facts, actions, holds-back, already done."""
    (england_on, pn_threshold_on, nti_first_on, pn_limit_on, pn_unpaid_on, pn_consider_on, nti_action_on,
     pa_n, pa_d, sa_n, sa_d, pn_threshold, pn_max, nti_days,
     absent_ytd, possible_ytd, pn_unauth_10w, pn_holiday_10w, pn_unauth_since, pn_holiday_since, run,
     today, ay, term, pn, pn_3y, nti, joint_plan, legal, review_outcome, review_engaged,
     social_worker, looked_after, roll_deletion_proposed, missing_education_suspected,
     penalty_notice_unpaid, consult_rule_on, consultation, consultation_outcome) = inputs
    if not england_on:
        return _NOTHING
    facts: list[str] = []
    actions: list[str] = []
    done: list[str] = []
    suppressed: list[tuple[str, str]] = []

    # persistent_absence_definition: absence_rate_ytd >= persistent_absence_rate
    persistent = possible_ytd > 0 and absent_ytd * pa_d >= pa_n * possible_ytd
    if persistent:
        facts.append("persistent_absence")
    # severe_absence_definition: absence_rate_ytd >= severe_absence_rate
    severe = possible_ytd > 0 and absent_ytd * sa_d >= sa_n * possible_ytd
    if severe:
        facts.append("severe_absence")
    # pn_threshold: 10+ G/N/O/U sessions in 10 school weeks, none yet covered by a notice
    threshold_met = (pn_threshold_on and pn_threshold is not None and pn_unauth_10w >= pn_threshold
                     and (not pn or pn_unauth_since >= pn_threshold))
    if threshold_met:
        facts.append("pn_threshold_met")
    # voluntary_support_not_working: latest review found no improvement or no engagement
    not_working = review_outcome == "no_improvement" or review_engaged is False
    if not_working:
        facts.append("voluntary_support_not_working")
    # pn_limit: threshold met again after pn_max_notices notices within 3 years
    limit = threshold_met and pn_limit_on and pn_max is not None and pn_3y >= pn_max
    if limit:
        facts.append("pn_limit_reached")
    # enforcement_consultation_hold: a consultation this year whose latest outcome refused enforcement
    awaits = consultation >= ay and consultation_outcome == "enforcement_not_agreed"
    if awaits:
        facts.append("enforcement_awaits_consultation")

    # cme_enquiries_before_deletion
    if missing_education_suspected:
        actions.append("cme_reasonable_enquiries")
    social = social_worker or looked_after
    # social_worker_unexplained_absence (every_time)
    if social and run >= 1:
        actions.append("inform_social_worker_absence")
    # social_worker_roll_deletion
    if social and roll_deletion_proposed:
        actions.append("inform_social_worker_roll_deletion")
    # unexplained_absence_first_day (every_time)
    if run >= 1:
        actions.append("first_day_contact")
    # joint_approach_for_severe_absence (done by joint_plan_agreed this academic year)
    if severe:
        (done if joint_plan >= ay else actions).append("severe_absence_joint_approach")
    # formalise_support_when_voluntary_fails
    if persistent and not_working:
        actions.append("formalise_support")
    # virtual_school_oversight
    if social:
        actions.append("virtual_school_monitoring")
    # nti_first, unless enforcement awaits the consultation or the threshold is met by holiday (G) alone
    if nti_first_on and threshold_met:
        if awaits or (pn_holiday_10w >= pn_threshold and (not pn or pn_holiday_since >= pn_threshold)):
            suppressed.append(("consider_notice_to_improve", "nti_first"))
        elif nti_action_on:  # done by notice_to_improve_issued this academic year
            (done if nti >= ay else actions).append("consider_notice_to_improve")
    # pn_limit, unless enforcement awaits the consultation (done by legal_action this academic year)
    if limit:
        if awaits:
            suppressed.append(("consider_other_legal_action", "pn_limit"))
        else:
            (done if legal >= ay else actions).append("consider_other_legal_action")
    # pn_unpaid, likewise
    if pn_unpaid_on and penalty_notice_unpaid:
        if awaits:
            suppressed.append(("consider_other_legal_action", "pn_unpaid"))
        else:
            (done if legal >= ay else actions).append("consider_other_legal_action")
    # consult_before_national_enforcement (done by consultation_held this academic year)
    if consult_rule_on and awaits and (threshold_met or penalty_notice_unpaid):
        (done if consultation >= ay else actions).append("consult_before_enforcement")
    # tsm_targeting
    if persistent:
        actions.append("tsm_discussion")
    # pn_consider, unless enforcement awaits the consultation, the limit is reached or a Notice to
    # Improve's period is running
    if pn_consider_on and threshold_met:
        if awaits or limit:
            suppressed.append(("consider_penalty_notice", "pn_consider"))
        elif nti and nti_days is not None and today - nti < nti_days:
            suppressed.append(("consider_penalty_notice", "pn_consider"))
        else:  # done by penalty_notice_issued this term
            (done if pn and pn >= term else actions).append("consider_penalty_notice")

    # an action's already-done test depends on the action alone, so actions and done never overlap
    return Decision(frozenset(facts), frozenset(actions), frozenset(suppressed), frozenset(done))
