"""Random policies and histories shared by the differential and compiled-condition tests.

Policies are valid by construction (parameters, named measures, chained facts, ``not``,
comparisons of facts, ``unless``, priorities, dated rules); histories are registers with
codes valid for each date, flags and events.
"""

from __future__ import annotations

import datetime as dt
import random

import yaml
from hypothesis import strategies as st

from attendance_rules.policy.build import read_policy_text
from attendance_rules.policy.layers import resolve
from attendance_rules.registers.codes import default_codebook
from attendance_rules.registers.readers import read_history_data
from attendance_rules.rules.compiler import compile_policy

# --- random policies ------------------------------------------------------------------

CITE = {"source": "src", "section": "Part 1", "says": "a paraphrase of what the source says"}
ATOMS = [  # fact-free tests, all valid against the policy skeleton below
    "m_unauth >= p_sessions", "m_rate >= p_rate", "m_rate < p_rate", "unauthorised_sessions over academic year >= 2",
    "absence_rate over academic year >= 10%", "attendance_rate over this term < 95%",
    "unauthorised_sessions over last 4 school weeks > 0", "social_worker", "looked_after", "flag_a",
    "early_help_plan", "any contact_made within academic year", "count letter_sent within last 30 days >= 1",
    'latest review_held.outcome == "no_improvement"', "latest review_held.parent_engaged == false",
    "time since latest contact_made > p_weeks", "school.traded_ews", "days_absent over academic year >= 3",
    "m_run >= 1", 'any letter_sent with action == "act0"', "late_before_close over last 2 calendar weeks >= 1",
    "m_codes >= 2", "possible_sessions over this term > 20", "true", "false",
    "m_cut >= 2", "m_today >= 1", "count letter_sent per action within last 30 days >= 2",
    "count penalty_notice_issued with date >= 2024-06-03 per parent within last 2 years >= 2",
]
ACTIONS = {
    "act0": {"title": "Letter", "kind": "letter", "responsible": "school", "cite": CITE},
    "act1": {"title": "Call", "kind": "contact", "responsible": "school", "repeat": "once_per_term",
             "done_by": "contact_made", "due": {"within_school_days": 5}, "cite": CITE},
    "act2": {"title": "Meeting", "kind": "meeting", "responsible": "school", "repeat": "every_time", "cite": CITE},
    "act3": {"title": "Review", "kind": "review", "responsible": "school", "done_by": "review_held",
             "due": {"after": "school_attendance_meeting", "from": "4 weeks", "to": "6 weeks"}, "cite": CITE},
}
SKELETON = {
    "id": "rnd", "title": "Random policy", "kind": "national", "version": "1", "effective_from": "2020-01-01",
    "sources": {"src": {"title": "A source"}},
    "flags": {"flag_a": "a local flag"},
    "settings": {"traded_ews": {"type": "bool", "default": False, "description": "the school buys the EWS",
                                "cite": CITE}},
    "parameters": {"p_sessions": {"value": 3, "unit": "sessions", "cite": CITE},
                   "p_rate": {"value": 10, "unit": "percent", "cite": CITE},
                   "p_weeks": {"value": 2, "unit": "weeks", "cite": CITE},
                   "p_from": {"value": "2024-06-03", "unit": "date", "cite": CITE}},
    "measures": {"m_unauth": {"measure": "unauthorised_sessions", "window": "last 6 school weeks"},
                 "m_rate": {"measure": "absence_rate", "window": "academic year"},
                 "m_run": {"measure": "unexplained_run"},
                 "m_codes": {"measure": "code_sessions", "codes": ["I", "M"], "window": "this term"},
                 "m_cut": {"measure": "code_sessions", "codes": ["G", "N", "O", "U"], "window": "last 6 school weeks",
                           "not_before": "p_from"},
                 "m_today": {"measure": "code_sessions", "codes": ["N"], "window": "today"}},
    "actions": ACTIONS,
}
FACTS = ["fa", "fb", "fc", "fd", "fe"]


@st.composite
def conditions(draw, positive: list[str], negative: list[str], depth: int = 0) -> str:
    """A condition over atoms, facts read positively (``positive``) and facts read under negation."""
    leaves = [st.sampled_from(ATOMS)]
    if positive:
        leaves.append(st.sampled_from(positive))
    if negative:
        leaves.append(st.sampled_from(negative).flatmap(lambda f: st.sampled_from(
            [f"not {f}", f"{f} == false", f"{f} != true", f"{f} == true", f"not ({f} and social_worker)"])))
    leaf = st.one_of(*leaves)
    if depth >= 2:
        return draw(leaf)
    kind = draw(st.sampled_from(["leaf", "leaf", "and", "or", "not"]))
    if kind == "leaf":
        return draw(leaf)
    if kind == "not":
        # a fact under `not` is read negatively: only lower-level facts may appear below it
        return f"not ({draw(conditions(negative, negative, depth + 1))})"
    parts = draw(st.lists(conditions(positive, negative, depth + 1), min_size=2, max_size=3))
    return "(" + f" {kind} ".join(parts) + ")"


@st.composite
def policies(draw) -> str:
    """YAML text of a small random policy, valid by construction.

    Each rule has a level 0-2 and derives facts of its level; it reads facts of its own or
    lower levels positively and facts of lower levels under negation, so there is never a
    cycle through negation (positive cycles within a level are allowed and drawn).
    """
    n_rules = draw(st.integers(2, 8))
    levels = [draw(st.integers(0, 2)) for _ in range(n_rules)]
    fact_level = {f: draw(st.integers(0, 2)) for f in FACTS}
    derive = []
    for lv in levels:
        mine = [f for f in FACTS if fact_level[f] == lv]
        derive.append(draw(st.lists(st.sampled_from(mine), max_size=2, unique=True)) if mine else [])
    derived = {f for d in derive for f in d}
    rules = []
    for i, lv in enumerate(levels):
        positive = sorted(f for f in derived if fact_level[f] <= lv)
        negative = sorted(f for f in derived if fact_level[f] < lv)
        recommend = draw(st.lists(st.sampled_from(sorted(ACTIONS)), min_size=0 if derive[i] else 1, max_size=2,
                                  unique=True))
        rule = {"id": f"r{i}", "title": f"Rule {i}", "when": draw(conditions(positive, negative)),
                "priority": draw(st.integers(0, 3)), "cite": CITE}
        if derive[i]:
            rule["derive"] = derive[i]
        if recommend:
            rule["recommend"] = recommend
            clauses = []
            for _ in range(draw(st.integers(0, 2))):
                clause = {"when": draw(conditions(negative, negative, 1)),
                          "reason": "Held back in this generated policy for a test.", "cite": CITE}
                if draw(st.booleans()):
                    clause["actions"] = draw(st.lists(st.sampled_from(recommend), min_size=1, unique=True))
                clauses.append(clause)
            if clauses:
                rule["unless"] = clauses
        if draw(st.integers(0, 5)) == 0:
            rule["effective_from"] = "2024-06-10"
        if draw(st.integers(0, 5)) == 0:
            rule["effective_to"] = "2024-06-20"
        rules.append(rule)
    return dump({**SKELETON, "rules": rules})


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data) -> bool:
        return True


def dump(doc: dict) -> str:
    """Policy YAML as a person would write it (no anchors for the repeated citation)."""
    return yaml.dump(doc, Dumper=_NoAliases, sort_keys=False)


def compile_text(text: str):
    return compile_policy(resolve([read_policy_text(text, "rnd.yaml")]))


# --- random histories -----------------------------------------------------------------

BOOK = default_codebook()
DAYS = [dt.date(2024, 5, 13) + dt.timedelta(days=i) for i in range(150)]
SCHOOL_DAYS = [d for d in DAYS if d.weekday() < 5 and not (dt.date(2024, 7, 20) <= d <= dt.date(2024, 9, 3))
               and not (dt.date(2024, 5, 27) <= d <= dt.date(2024, 5, 31))]
PRESENT = ["/", "\\"]


def random_pupil(rng: random.Random, index: int) -> dict:
    """A register over a few school weeks with codes valid for each date, flags and events."""
    first = rng.randrange(0, len(SCHOOL_DAYS) - 15)
    days = SCHOOL_DAYS[first:first + rng.randint(10, 60)]
    absence = rng.choice([0.0, 0.05, 0.15, 0.4, 0.8])
    marks = []
    for day in days:
        codes = list(BOOK.table_for(day).codes)
        for session in ("AM", "PM"):
            code = rng.choice(codes) if rng.random() < absence else rng.choice(PRESENT)
            marks.append({"date": day.isoformat(), "session": session, "code": code})
    flags = sorted(rng.sample(["social_worker", "looked_after", "early_help_plan", "flag_a", "ehcp"],
                              rng.randint(0, 2)))
    events = []
    for _ in range(rng.randint(0, 4)):
        day = rng.choice(days).isoformat()
        kind = rng.choice(["contact_made", "letter_sent", "review_held", "school_attendance_meeting",
                           "referral_made", "penalty_notice_issued"])
        event = {"type": kind, "date": day}
        if kind == "letter_sent":
            event["action"] = rng.choice(["act0", "act1"])
        elif kind == "review_held":
            event.update(outcome=rng.choice(["improved", "some_improvement", "no_improvement"]),
                         parent_engaged=rng.random() < 0.5)
        elif kind == "school_attendance_meeting":
            event.update(parenting_contract=rng.random() < 0.5, improvement_plan=rng.random() < 0.5)
        elif kind == "referral_made":
            event["to"] = "education_welfare_service"
        elif kind == "penalty_notice_issued" and rng.random() < 0.7:
            event["parent"] = rng.choice(["p1", "p2"])
        events.append(event)
    return {"id": f"R{index:03d}", "flags": flags, "marks": marks, "events": events}


def random_history(seed: int, n: int):
    rng = random.Random(seed)
    doc = {"school": {"id": "S", "name": "Test school", "settings": {"traded_ews": rng.random() < 0.5}},
           "pupils": [random_pupil(rng, i) for i in range(n)]}
    history, report = read_history_data(doc, "random.json")
    assert not report.problems, report.problems[0]
    return history
