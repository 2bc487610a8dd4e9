"""The Halton Attendance Framework (``policies/halton.yaml`` on ``england``) in plain Python.

The effective chain: england's rules (every enforcement step held back while
``enforcement_awaits_consultation`` holds, which Halton derives for pupils in a
multi-agency plan until a consultation is recorded; halton replaces the actions
``tsm_discussion`` and ``severe_absence_joint_approach`` without changing how they are
recorded done) plus Halton's staged process. ``prepare`` gathers what the rules read;
``decide`` derives the facts in dependency order (each a least fixpoint: facts only ever
become true) and then applies every rule's recommendations, holds-back and
already-done tests, one commented block per rule id.

Conventions: events are day ordinals of the latest such event up to the as-of date,
0 when there is none, so ``any X within since latest Y`` is ``0 < Y <= X`` and ``any X
within academic year`` is ``X >= ay``. A ``latest EVENT.FIELD == false`` test needs a
recorded ``false`` (``is False``); ``not latest EVENT.FIELD == true`` holds when the
field is missing (``is not True``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

from attendance_rules.registers.calendar import Calendar, academic_year_start
from attendance_rules.registers.history import Pupil, School

from . import (
    Decision,
    absence_counts,
    add_years,
    code_count,
    code_ids,
    counted_ten_weeks_start,
    events_by_type,
    latest,
    latest_where,
    notices_per_parent,
    rate_pair,
    school_days_hold,
    school_weeks_start,
    setting_is_true,
    snapshot,
    unauthorised_since,
    unexplained_today,
    weeks_in_days,
)

__all__ = ["Inputs", "decide", "prepare"]

POLICY = "halton"


class Inputs(NamedTuple):
    """Everything the halton chain's rules read for one pupil on one date."""

    # rules and actions in force
    england_on: bool  # england rules without dates of their own
    halton_on: bool  # halton rules without dates of their own (halton's file in force)
    pn_threshold_on: bool
    nti_first_on: bool
    pn_limit_on: bool
    pn_unpaid_on: bool
    pn_consider_on: bool  # england's pn_consider
    nti_action_on: bool  # action consider_notice_to_improve
    # parameters in force
    pa_n: int  # persistent_absence_rate as n / d
    pa_d: int
    sa_n: int  # severe_absence_rate
    sa_d: int
    pn_threshold: Any  # pn_national_threshold (None before 2024-08-19)
    pn_max: Any  # pn_max_notices
    nti_days: Any  # calendar days from the latest NTI to the end of its period (15 school days), or None
    stage1_unauthorised: Any  # stage1_unauthorised_sessions
    stage1_continuing: Any  # stage1_continuing_sessions
    stage1_medical: Any  # stage1_medical_sessions
    review_min_days: Any  # review_min_weeks in days
    review_max_days: Any  # review_max_weeks in days
    pn_warning: Any  # pn_warning_sessions
    stage3_unauthorised: Any  # stage3_unauthorised_sessions
    apm_max: Any  # apm_max_meetings
    tsm_c_i: Any  # tsm_part_time_c_i_sessions
    # measures
    absent_ytd: int
    possible_ytd: int
    absent_4w: int  # absence_rate over last 4 school weeks
    possible_4w: int
    pn_unauth_10w: int
    pn_holiday_10w: int
    pn_unauth_since: int
    pn_holiday_since: int
    run: int  # N sessions today, else unexplained_run_days (rules: either >= 1)
    unauth_ytd: int  # unauthorised_sessions over academic year
    unauth_term: int  # unauthorised_sessions over this term
    unauth_12w: int  # unauthorised_12w (12 calendar weeks)
    unauth_since_contact: int  # unauthorised sessions since latest contact_made
    unauth_since_visit: int  # ... since latest home_visit
    unauth_since_letter: int  # ... since latest letter_sent (any letter)
    unauth_since_review: int  # ... since latest review_held
    illness_ytd: int  # illness_medical_ytd (I, M)
    c_i_term: int  # part_time_c_i_term (C, C2, I)
    # dates (ordinals; 0 when none)
    today: int
    ay: int
    term: int
    pn: int  # penalty_notice_issued
    pn_3y: int  # count of penalty notices within the last 3 years
    nti: int  # notice_to_improve_issued
    joint_plan: int  # joint_plan_agreed
    legal: int  # legal_action
    contact: int  # contact_made
    visit: int  # home_visit
    letter: int  # letter_sent (any)
    stage1_letter: int  # letter_sent with action stage1_letter
    stage2_letter: int  # ... stage2_letter
    warning_letter: int  # ... halton_pn_warning_letter
    s2l2: int  # ... s2l2_letter
    acceptance_letter: int  # ... ews_acceptance_letter
    sam: int  # school_attendance_meeting
    review: int  # review_held
    referral: int  # referral_made (any)
    referral_ews: int  # referral_made to education_welfare_service
    referral_virtual: int  # ... to virtual_school
    referral_nursing: int  # ... to school_nursing
    early_help: int  # early_help_offered
    early_help_accepted: int  # early_help_offered with accepted == true
    apm: int  # attendance_planning_meeting
    apm_1y: int  # count of attendance planning meetings within the last year
    # fields of latest events (None when none or not recorded)
    review_outcome: Any
    review_engaged: Any
    sam_contract: Any  # latest school_attendance_meeting.parenting_contract
    sam_plan: Any  # latest school_attendance_meeting.improvement_plan
    # school setting and pupil flags
    traded: bool  # school.traded_ews
    social_worker: bool
    looked_after: bool
    roll_deletion_proposed: bool
    missing_education_suspected: bool
    penalty_notice_unpaid: bool
    early_help_plan: bool
    child_in_need_plan: bool
    child_protection_plan: bool
    ehcp: bool
    sen_support: bool
    part_time_timetable: bool
    anxiety_based_absence: bool
    # consultation before enforcement and APM outcomes (issue 13)
    consult_rule_on: bool  # england's consult_before_national_enforcement (effective_from)
    consultation: int  # latest consultation_held
    consultation_outcome: Any  # its outcome
    apm_actions: Any  # latest attendance_planning_meeting.actions_completed
    apm_target: Any  # ... target_met
    apm_new_info: Any  # ... new_information


def prepare(pupil: Pupil, as_of: dt.date, calendar: Calendar, school: School) -> Inputs:
    """Gather the measures, flags, event dates, setting and parameter values the halton chain reads."""
    snap = snapshot(POLICY, as_of)
    p, rules = snap.params, snap.rules
    reg = pupil.register
    events = events_by_type(pupil, as_of)
    flags = pupil.flags
    get = events.get
    ay_start = academic_year_start(as_of)
    term_start = calendar.term_start(as_of, reg.days)
    absent, possible, unauth_ytd = absence_counts(reg, ay_start, as_of)
    absent_4w, possible_4w, _ = absence_counts(reg, school_weeks_start(reg, as_of, 4), as_of)
    week10 = counted_ten_weeks_start(reg, as_of, p["pn_sessions_counted_from"])  # None: nothing counts yet
    gnou, g = code_ids(reg, ("G", "N", "O", "U")), code_ids(reg, ("G",))
    notices = get("penalty_notice_issued")
    pn = latest(notices)
    if pn:
        notice_day = notices[-1].date
        since_u, since_g = code_count(reg, gnou, notice_day, as_of), code_count(reg, g, notice_day, as_of)
        pn_3y = notices_per_parent(notices, as_of)
    else:
        since_u = since_g = pn_3y = 0
    meetings = get("attendance_planning_meeting")
    if meetings:
        one_year = add_years(as_of, -1)
        apm_1y = sum(1 for e in meetings if e.date >= one_year)
    else:
        apm_1y = 0
    reviews, sams = get("review_held"), get("school_attendance_meeting")
    consultations = get("consultation_held")
    apm_last = meetings[-1].details if meetings else {}
    review = reviews[-1].details if reviews else {}
    sam = sams[-1].details if sams else {}
    letters, referrals, offers = get("letter_sent"), get("referral_made"), get("early_help_offered")
    contact, visit, letter, review_day = latest(get("contact_made")), latest(get("home_visit")), latest(letters), \
        latest(reviews)
    pa_n, pa_d = rate_pair(p["persistent_absence_rate"])
    sa_n, sa_d = rate_pair(p["severe_absence_rate"])
    return Inputs(
        "persistent_absence_definition" in rules, "stage1_start" in rules, "pn_threshold" in rules,
        "nti_first" in rules, "pn_limit" in rules, "pn_unpaid" in rules, "pn_consider" in rules,
        "consider_notice_to_improve" in snap.actions,
        pa_n, pa_d, sa_n, sa_d, p["pn_national_threshold"], p["pn_max_notices"],
        school_days_hold(reg, latest(get("notice_to_improve_issued")), p["nti_improvement_period"], as_of), p["stage1_unauthorised_sessions"],
        p["stage1_continuing_sessions"], p["stage1_medical_sessions"], weeks_in_days(p["review_min_weeks"]),
        weeks_in_days(p["review_max_weeks"]), p["pn_warning_sessions"], p["stage3_unauthorised_sessions"],
        p["apm_max_meetings"], p["tsm_part_time_c_i_sessions"],
        absent, possible, absent_4w, possible_4w,
        code_count(reg, gnou, week10, as_of) if week10 else 0, code_count(reg, g, week10, as_of) if week10 else 0,
        since_u, since_g,
        unexplained_today(reg, as_of), unauth_ytd, absence_counts(reg, term_start, as_of)[2],
        absence_counts(reg, as_of - dt.timedelta(days=7 * 12 - 1), as_of)[2],
        unauthorised_since(reg, contact, as_of), unauthorised_since(reg, visit, as_of),
        unauthorised_since(reg, letter, as_of), unauthorised_since(reg, review_day, as_of),
        code_count(reg, code_ids(reg, ("I", "M")), ay_start, as_of),
        code_count(reg, code_ids(reg, ("C", "C2", "I")), term_start, as_of),
        as_of.toordinal(), ay_start.toordinal(), term_start.toordinal(), pn, pn_3y,
        latest(get("notice_to_improve_issued")), latest(get("joint_plan_agreed")), latest(get("legal_action")),
        contact, visit, letter,
        latest_where(letters, "action", "stage1_letter"), latest_where(letters, "action", "stage2_letter"),
        latest_where(letters, "action", "halton_pn_warning_letter"), latest_where(letters, "action", "s2l2_letter"),
        latest_where(letters, "action", "ews_acceptance_letter"),
        latest(sams), review_day, latest(referrals),
        latest_where(referrals, "to", "education_welfare_service"), latest_where(referrals, "to", "virtual_school"),
        latest_where(referrals, "to", "school_nursing"),
        latest(offers), latest_where(offers, "accepted", True), latest(meetings), apm_1y,
        review.get("outcome"), review.get("parent_engaged"), sam.get("parenting_contract"),
        sam.get("improvement_plan"),
        setting_is_true(school, "traded_ews"),
        "social_worker" in flags, "looked_after" in flags, "roll_deletion_proposed" in flags,
        "missing_education_suspected" in flags, "penalty_notice_unpaid" in flags, "early_help_plan" in flags,
        "child_in_need_plan" in flags, "child_protection_plan" in flags, "ehcp" in flags, "sen_support" in flags,
        "part_time_timetable" in flags, "anxiety_based_absence" in flags,
        "consult_before_national_enforcement" in rules, latest(consultations),
        consultations[-1].details.get("outcome") if consultations else None,
        apm_last.get("actions_completed"), apm_last.get("target_met"), apm_last.get("new_information"),
    )


def decide(inputs: Inputs) -> Decision:
    """The halton chain's decisions for one pupil: facts, actions, holds-back, already done."""
    (england_on, halton_on, pn_threshold_on, nti_first_on, pn_limit_on, pn_unpaid_on, pn_consider_on,
     nti_action_on,
     pa_n, pa_d, sa_n, sa_d, pn_threshold, pn_max, nti_days, stage1_unauthorised, stage1_continuing,
     stage1_medical, review_min_days, review_max_days, pn_warning, stage3_unauthorised, apm_max, tsm_c_i,
     absent_ytd, possible_ytd, absent_4w, possible_4w, pn_unauth_10w, pn_holiday_10w, pn_unauth_since,
     pn_holiday_since, run, unauth_ytd, unauth_term, unauth_12w, unauth_since_contact, unauth_since_visit,
     unauth_since_letter, unauth_since_review, illness_ytd, c_i_term,
     today, ay, term, pn, pn_3y, nti, joint_plan, legal, contact, visit, letter, stage1_letter, stage2_letter,
     warning_letter, s2l2, acceptance_letter, sam, review, referral, referral_ews, referral_virtual,
     referral_nursing, early_help, early_help_accepted, apm, apm_1y,
     review_outcome, review_engaged, sam_contract, sam_plan,
     traded, social_worker, looked_after, roll_deletion_proposed, missing_education_suspected,
     penalty_notice_unpaid, early_help_plan, child_in_need_plan, child_protection_plan, ehcp, sen_support,
     part_time_timetable, anxiety_based_absence,
     consult_rule_on, consultation, consultation_outcome, apm_actions, apm_target, apm_new_info) = inputs
    facts: list[str] = []
    actions: list[str] = []
    done: list[str] = []
    suppressed: list[tuple[str, str]] = []
    add, add_done, hold, fact = actions.append, done.append, suppressed.append, facts.append
    social = social_worker or looked_after
    care_plan = child_in_need_plan or child_protection_plan
    plan = early_help_plan or care_plan  # "early_help_plan or child_in_need_plan or child_protection_plan"

    # ---------------------------------------------------------------- facts (england)
    persistent = severe = threshold_met = limit = False
    if england_on:
        # persistent_absence_definition
        persistent = possible_ytd > 0 and absent_ytd * pa_d >= pa_n * possible_ytd
        if persistent:
            fact("persistent_absence")
        # severe_absence_definition
        severe = possible_ytd > 0 and absent_ytd * sa_d >= sa_n * possible_ytd
        if severe:
            fact("severe_absence")
        # voluntary_support_not_working
        if review_outcome == "no_improvement" or review_engaged is False:
            fact("voluntary_support_not_working")
            not_working = True
        else:
            not_working = False
    else:
        not_working = False
    # pn_threshold: G/N/O/U sessions in 10 school weeks, none yet covered by a notice
    threshold_met = (pn_threshold_on and pn_threshold is not None and pn_unauth_10w >= pn_threshold
                     and (not pn or pn_unauth_since >= pn_threshold))
    if threshold_met:
        fact("pn_threshold_met")
    # pn_limit (fact part): threshold met again after pn_max_notices notices in 3 years
    limit = threshold_met and pn_limit_on and pn_max is not None and pn_3y >= pn_max
    if limit:
        fact("pn_limit_reached")
    # enforcement_consultation_hold (england): a consultation this year that did not agree enforcement;
    # halton_consultation_required: a pupil in a plan with no consultation this academic year
    awaits = ((england_on and consultation >= ay and consultation_outcome == "enforcement_not_agreed")
              or (halton_on and plan and consultation < ay))
    if awaits:
        fact("enforcement_awaits_consultation")

    # ---------------------------------------------------------------- facts (halton)
    stage1 = continuing = improving = closing = stage2 = case_open = meeting_held = case_ews = False
    letter_earlier = meeting_earlier = not_improving = criteria = referral_made = due = incomplete = False
    stage3 = missing_contact = missing_letter1 = missing_eh = missing_letter2 = missing_sam = False
    returned = proceedings_due = False
    missing_plan = missing_review = missing_eh2 = False
    if halton_on:
        # stage1_start: unauthorised sessions this year
        stage1 = unauth_ytd >= stage1_unauthorised
        # stage1_continuing: contact this year and absence continuing since the latest contact
        continuing = stage1 and contact >= ay and unauth_since_contact >= stage1_continuing
        # stage1_improving_with_plan: a plan or accepted help this year, absence under 10% in 4 school weeks
        improving = (continuing and (early_help_plan or joint_plan >= ay or early_help_accepted >= ay)
                     and possible_4w > 0 and absent_4w * pa_d < pa_n * possible_4w)
        # stage2_closing_review: latest review found improvement, parent not recorded as disengaged
        closing = review_outcome == "improved" and review_engaged is not False
        # stage1_to_stage2
        if (continuing and not improving and stage1_letter >= ay
                and ((visit >= ay and unauth_since_visit >= stage1_continuing)
                     or (visit < ay and 0 < letter <= contact and unauth_since_letter >= stage1_continuing))
                and (not closing or unauth_since_review >= stage1_continuing)):
            stage2 = True
        # stage2_started: a stage 2 letter or meeting, unless a closing review came after both
        if (stage2_letter or sam) and not (closing and stage2_letter < review and sam < review):
            stage2 = case_open = True
        if case_open:
            # stage2_meeting_held: a meeting in the open case (since the closing review, if any)
            meeting_held = bool((not closing and sam) or 0 < review <= sam)
            # stage2_case_ews_referral
            case_ews = bool((not closing and referral_ews) or 0 < review <= referral_ews)
            # stage2_letter_sent_earlier: the case's stage 2 letter was sent before this academic year
            letter_earlier = stage2_letter < ay and bool((not closing and stage2_letter) or 0 < review <= stage2_letter)
        # stage2_meeting_held_earlier
        meeting_earlier = meeting_held and sam < ay
        # stage2_review_not_improving
        not_improving = ((case_open or review >= ay)
                         and (review_outcome == "no_improvement" or review_engaged is False))
        # stage3_criteria
        criteria = not_improving and unauth_12w >= stage3_unauthorised
        # stage3_referral_recorded
        referral_made = ((meeting_held and 0 < sam <= referral_ews)
                         or (plan and (referral_ews >= ay or case_ews)))
        # stage3_evidence_due_criteria, stage3_evidence_due_referral
        due = criteria or referral_made
        if due:
            # stage3_missing_contact
            missing_contact = not contact and not visit
            # stage3_missing_stage1_letter
            missing_letter1 = not stage1_letter
            # stage3_missing_early_help
            missing_eh = not early_help_plan and not early_help
            # stage3_missing_stage2_letter
            missing_letter2 = not stage2_letter
            # stage3_missing_sam
            missing_sam = not sam and not plan
            # stage3_missing_plan
            missing_plan = bool(sam) and not plan and sam_contract is not True and sam_plan is not True
            # stage3_missing_review
            missing_review = not plan and not 0 < sam <= review
            # stage3_missing_stage2_early_help
            missing_eh2 = (not early_help_plan and not early_help_accepted and not care_plan
                           and not 0 < sam <= early_help)
            incomplete = (missing_contact or missing_letter1 or missing_eh or missing_letter2 or missing_sam
                          or missing_plan or missing_review or missing_eh2)
        # stage3_apm_new_information: the latest APM (of the last year) brought new information
        returned = bool(apm_1y) and apm_new_info is True
        # stage3_accepted, unless an APM returned the case to stage 2
        stage3 = referral_made and not incomplete and not returned
        # stage3_proceedings_criteria: the review APM found actions unmet and the target missed
        proceedings_due = (apm_1y >= apm_max and apm_actions is False and apm_target is False
                           and not returned and not 0 < apm <= legal)
        if stage1:
            fact("stage1")
        if continuing:
            fact("stage1_continuing")
        if improving:
            fact("stage1_improving_with_plan")
        if closing:
            fact("stage2_closing_review")
        if stage2:
            fact("stage2")
        if case_open:
            fact("stage2_case_open")
        if meeting_held:
            fact("stage2_meeting_held")
        if case_ews:
            fact("stage2_case_ews_referral")
        if letter_earlier:
            fact("stage2_letter_sent_earlier")
        if meeting_earlier:
            fact("stage2_meeting_held_earlier")
        if not_improving:
            fact("stage2_not_improving")
        if criteria:
            fact("stage3_referral_criteria_met")
        if referral_made:
            fact("stage3_referral_made")
        if due:
            fact("stage3_evidence_due")
        if incomplete:
            fact("stage3_evidence_incomplete")
        if stage3:
            fact("stage3")
        if returned:
            fact("stage3_returned_to_stage2")
        if proceedings_due:
            fact("stage3_proceedings_due")

    # ---------------------------------------------------------------- recommendations (england)
    if england_on:
        # cme_enquiries_before_deletion
        if missing_education_suspected:
            add("cme_reasonable_enquiries")
        # social_worker_unexplained_absence (every_time)
        if social and run >= 1:
            add("inform_social_worker_absence")
        # social_worker_roll_deletion
        if social and roll_deletion_proposed:
            add("inform_social_worker_roll_deletion")
        # unexplained_absence_first_day (every_time)
        if run >= 1:
            add("first_day_contact")
        # joint_approach_for_severe_absence (done by joint_plan_agreed this academic year)
        if severe:
            (add_done if joint_plan >= ay else add)("severe_absence_joint_approach")
        # formalise_support_when_voluntary_fails
        if persistent and not_working:
            add("formalise_support")
        # virtual_school_oversight
        if social:
            add("virtual_school_monitoring")
        # tsm_targeting (halton's tsm_discussion: no recording event)
        if persistent:
            add("tsm_discussion")
    # nti_first, unless the threshold is met by holiday (G) sessions alone
    if nti_first_on and threshold_met:
        if awaits or (pn_holiday_10w >= pn_threshold and (not pn or pn_holiday_since >= pn_threshold)):
            hold(("consider_notice_to_improve", "nti_first"))
        elif nti_action_on:  # done by notice_to_improve_issued this academic year
            (add_done if nti >= ay else add)("consider_notice_to_improve")
    # pn_limit, unless enforcement awaits the consultation (done by legal_action this academic year)
    if limit:
        if awaits:
            hold(("consider_other_legal_action", "pn_limit"))
        else:
            (add_done if legal >= ay else add)("consider_other_legal_action")
    # pn_unpaid, likewise
    if pn_unpaid_on and penalty_notice_unpaid:
        if awaits:
            hold(("consider_other_legal_action", "pn_unpaid"))
        else:
            (add_done if legal >= ay else add)("consider_other_legal_action")
    # consult_before_national_enforcement (done by consultation_held this academic year)
    if consult_rule_on and awaits and (threshold_met or penalty_notice_unpaid):
        (add_done if consultation >= ay else add)("consult_before_enforcement")
    # pn_consider (england's): unless enforcement awaits the consultation, the limit is reached or
    # a Notice to Improve's period runs
    if pn_consider_on and threshold_met:
        if awaits or limit or (nti and nti_days is not None and today - nti < nti_days):
            hold(("consider_penalty_notice", "pn_consider"))
        else:  # done by penalty_notice_issued this term
            (add_done if pn >= term else add)("consider_penalty_notice")

    if not halton_on:
        return Decision(frozenset(facts), frozenset(actions), frozenset(suppressed), frozenset(done))

    # ---------------------------------------------------------------- recommendations (halton)
    review_since_sam = 0 < sam <= review  # any review_held within since latest school_attendance_meeting
    # stage2_review_overdue: meeting more than review_max_weeks ago and no review since
    if sam and today - sam > review_max_days and not review_since_sam:
        add("stage2_review_overdue")
    # stage2_review_due / stage2_review_due_traded (every_time)
    if sam and not review_since_sam and today - sam >= review_min_days:
        add("stage2_review_ews" if traded else "stage2_review")
    # stage2_review_improved
    if review >= ay and review_since_sam and review_outcome == "improved":
        add("stage2_close_monitor")
    if stage1:
        # stage1_contact (done by contact_made this term)
        if unauth_term > 0:
            (add_done if contact >= term else add)("stage1_everyday_contact")
        # stage1_send_check
        if ehcp or sen_support:
            add("stage1_send_plan_check")
        # stage1_looked_after
        if looked_after and referral_virtual < ay:
            add("stage1_contact_virtual_school")
        # stage1_social_care
        if social_worker or care_plan:
            add("stage1_contact_social_worker")
    if continuing:
        # stage1_continuing (home visit and letter done by their events this academic year)
        (add_done if visit >= ay else add)("stage1_home_visit")
        (add_done if stage1_letter >= ay else add)("stage1_letter")
        add("stage1_barrier_checks")
        # stage1_early_help (done by early_help_offered this academic year)
        if not early_help_plan:
            (add_done if early_help >= ay else add)("stage1_early_help_referral")
    # stage1_improving_with_plan
    if improving:
        add("stage1_remain_monitor")
    ews_this_year = referral_ews >= ay
    # halton_s2l2_letter
    if traded and ews_this_year:
        (add_done if s2l2 >= ay else add)("s2l2_letter")
    if care_plan:
        # halton_cin_cp_data_ews / halton_cin_cp_data_school
        add("ews_attendance_data_cin_cp" if ews_this_year else "provide_attendance_data_cin_cp")
    # stage3_apm_new_information
    if returned:
        add("apm_case_returned")
    # stage3_apm_review: one meeting in the last year, fewer than apm_max_meetings, case not returned
    if apm_1y and apm_1y < apm_max and not returned:
        add("apm_review")
    # stage3_consider_proceedings, unless enforcement awaits the consultation
    if proceedings_due:
        if awaits:
            hold(("consider_s444_proceedings", "stage3_consider_proceedings"))
            hold(("consider_eso", "stage3_consider_proceedings"))
        else:
            add("consider_s444_proceedings")
            add("consider_eso")
    # halton_consult_before_enforcement (done by consultation_held this academic year)
    if awaits and (not_improving or (stage2 and traded and unauth_12w >= pn_warning) or proceedings_due):
        (add_done if consultation >= ay else add)("consult_before_enforcement")
    # halton_legal_action
    if legal >= ay:
        add("legal_evidence_pack")
        add("continue_support_during_legal")
    # halton_tsm_part_time
    if part_time_timetable and c_i_term >= tsm_c_i:
        add("tsm_part_time_priority")
    # stage1_medical_check
    if (stage1 or stage2) and illness_ytd >= stage1_medical and referral_nursing < ay:
        add("school_nursing_referral")
    if stage2:
        # stage2_plan_pupil
        if plan:
            add("liaise_lead_professional")
        # halton_pn_warning, unless enforcement awaits the consultation (done by its letter this year)
        if traded and unauth_12w >= pn_warning:
            if awaits:
                hold(("halton_pn_warning_letter", "halton_pn_warning"))
            else:
                (add_done if warning_letter >= ay else add)("halton_pn_warning_letter")
        # stage2_letter_rule (done by the stage 2 letter this academic year)
        if not letter_earlier:
            (add_done if stage2_letter >= ay else add)("stage2_letter")
        if not meeting_earlier:
            # stage2_sam_traded / stage2_sam_school, unless in a plan (done by a meeting this year)
            sam_action, sam_rule = (("sam_ews_chaired", "stage2_sam_traded") if traded
                                    else ("sam_school_led", "stage2_sam_school"))
            if plan:
                hold((sam_action, sam_rule))
            else:
                (add_done if sam >= ay else add)(sam_action)
        # stage2_ews_referral_form, unless in a plan
        if traded and not ews_this_year and not case_ews:
            if plan:
                hold(("stage2_ews_referral", "stage2_ews_referral_form"))
            else:
                add("stage2_ews_referral")
    if meeting_held:
        # stage2_no_plan_recorded
        if sam_contract is False and sam_plan is False:
            add("offer_parenting_contract_or_aip")
        # stage2_early_help: no plan, no accepted help, no offer since the meeting
        if not early_help_plan and not early_help_accepted and not 0 < sam <= early_help:
            add("stage2_early_help_offer")
    # stage2_review_some_improvement (every_time)
    if ((case_open or review >= ay) and review_outcome == "some_improvement"
            and review_engaged is not False):
        add("stage2_further_review")
    if not_improving:
        # stage2_enforcement_decision_due: no stage 3 referral yet, unless enforcement awaits the consultation
        if not referral_made:
            if awaits:
                hold(("stage2_enforcement_decision", "stage2_enforcement_decision_due"))
            else:
                add("stage2_enforcement_decision")
        # stage2_plan_pupil_not_improving
        if plan:
            add("discuss_with_ma_partners")
        # halton_working_together_meeting
        if early_help_plan:
            add("working_together_meeting_referral")
    if due:
        # stage3_missing_contact, _stage1_letter, _early_help, _stage2_letter, _sam, _plan, _review,
        # _stage2_early_help
        if missing_contact:
            add("evidence_missing_stage1_contact")
        if missing_letter1:
            add("evidence_missing_stage1_letter")
        if missing_eh:
            add("evidence_missing_early_help")
        if missing_letter2:
            add("evidence_missing_stage2_letter")
        if missing_sam:
            add("evidence_missing_sam")
        if missing_plan:
            add("evidence_missing_plan")
        if missing_review:
            add("evidence_missing_review")
        if missing_eh2:
            add("evidence_missing_stage2_early_help")
        # stage3_plan_pupil_evidence
        if plan:
            add("evidence_plan_pupil_confirmation")
    # stage3_evidence_insufficient
    if referral_made and incomplete:
        add("ews_return_referral")
    # halton_ebsna_pathway, halton_ebsna_panel
    if anxiety_based_absence:
        add("ebsna_pathway")
        if not_improving:
            add("ebsna_panel_referral")
    # stage1_satisfactory: stage 1 letter this year, absence no longer continuing, not persistent
    if stage1 and stage1_letter >= ay and not continuing and not stage2 and not persistent:
        add("stage1_end_monitor")
    if criteria:
        # stage3_refer, unless enforcement awaits the consultation or the evidence is incomplete
        if not 0 < sam <= referral_ews:
            if awaits or incomplete:
                hold(("stage3_referral", "stage3_refer"))
            else:
                add("stage3_referral")
        # stage3_traded_evidence_support
        if traded and not referral_made:
            add("stage3_evidence_support")
    if stage3:
        # stage3_acceptance_letter: unless a letter since the latest referral that is not from this year
        if not (0 < referral <= acceptance_letter and acceptance_letter < ay):
            (add_done if acceptance_letter >= ay else add)("ews_acceptance_letter")
        # stage3_first_apm: likewise for a meeting
        if not (0 < referral <= apm and apm < ay):
            (add_done if apm >= ay else add)("apm_first")

    return Decision(frozenset(facts), frozenset(actions), frozenset(suppressed), frozenset(done))
