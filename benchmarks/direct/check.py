"""Check the direct-Python policies against the engine, pupil by pupil.

    python benchmarks/direct/check.py --policy halton --pupils 2000 [--as-of D ...] [--end D]
                                      [--history FILE] [--fuzz] [--untraded] [--show 5] [--time]

Pupils are generated as ``benchmarks/bench_engine.py`` generates them
(``attendance_rules.registers.sample.generate_pupils(n, 2023-09-01, end, seed=2024)`` through the
validating reader; ``end`` is the as-of date unless ``--end`` is given) and evaluated
against the sample school, or read from ``--history`` (with that file's school). Each
pupil is evaluated by the engine (``api.load_policy(policy).evaluate_pupil``) and by the
policy's ``prepare`` + ``decide``; the script prints how many pupils agree on all four
sets (facts, actions, holds-back, already done) and the first disagreements in detail,
and exits 1 on any disagreement.

Two options widen the check beyond what the sample generator produces: ``--fuzz`` adds
seeded random flags (every flag the policy knows) and case events (every event type,
with random field values or none, many dated close to the as-of date) and recodes a run of
register marks of each pupil;
``--untraded`` evaluates against a school that does not trade with the EWS.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
from bisect import bisect_right
from pathlib import Path
from typing import Iterable, Sequence

import attrs

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from attendance_rules.engine.results import PupilEvaluation  # noqa: E402
from attendance_rules.registers.history import (  # noqa: E402
    EVENT_FIELDS,
    STANDARD_FLAGS,
    Event,
    Pupil,
    Register,
    School,
    day_of_slot,
)
from attendance_rules.registers.readers import load_history, read_pupil_data  # noqa: E402
from attendance_rules.registers.sample import SCHOOL, generate_pupils  # noqa: E402
from benchmarks.direct import Decision, loaded_policy, module_for, time_direct  # noqa: E402

__all__ = ["compare", "engine_decision", "fuzz_pupils", "generated_pupils", "sample_school"]

START = dt.date(2023, 9, 1)
SEED = 2024


def sample_school(traded: bool = True) -> School:
    """The sample school the generator writes (``traded_ews`` true), or the same school untraded."""
    settings = dict(SCHOOL["settings"], traded_ews=traded)
    return School(SCHOOL["id"], SCHOOL["name"], settings)


def generated_pupils(n: int, end: dt.date, seed: int = SEED) -> list[Pupil]:
    """``n`` sample pupils from 2023-09-01 to ``end``, loaded as the engine benchmark loads them."""
    pupils = []
    for item in generate_pupils(n, START, end, seed=seed):
        pupil, problems = read_pupil_data(item, "generated")
        if problems:
            raise SystemExit(f"generated pupil rejected: {problems[0]}")
        pupils.append(pupil)
    return pupils


_FIELD_VALUES = {
    "action": ("stage1_letter", "stage2_letter", "halton_pn_warning_letter", "s2l2_letter", "ews_acceptance_letter",
               "consider_notice_to_improve", "other_letter"),
    "to": ("education_welfare_service", "virtual_school", "school_nursing", "social_care"),
    "kind": ("s444_1", "s444_1A", "education_supervision_order"),
}


def _fuzz_event(rng: random.Random, day: dt.date) -> Event:
    kind = rng.choice(sorted(EVENT_FIELDS))
    details = {}
    for field, spec in EVENT_FIELDS[kind].items():
        if rng.random() < 0.15:
            continue  # a field not recorded
        if spec == "bool":
            details[field] = rng.random() < 0.5
        elif spec == "date":
            details[field] = day + dt.timedelta(days=rng.randint(0, 10))
        elif isinstance(spec, tuple):
            details[field] = rng.choice(spec)
        else:
            details[field] = rng.choice(_FIELD_VALUES.get(field, ("x",)))
    return Event(date=day, type=kind, details=details)


# Days before the as-of date at which the rules' durations are decided (4 and 6 weeks for
# reviews, 3 weeks for a Notice to Improve's period), with their neighbours.
_BOUNDARY_DAYS = (0, 1, 20, 21, 22, 27, 28, 29, 41, 42, 43)
_PAINT_CODES = ("G", "N", "O", "U", "G", "N", "I", "M", "C", "B", "/")


def _paint(rng: random.Random, register: Register, as_of: dt.date) -> Register:
    """The register with one run of sessions recoded (a code valid on each day), ending near ``as_of``."""
    slots, book = register.slots, register.codebook
    stop = bisect_right(slots, as_of.toordinal() * 2 + 1)
    if not stop:
        return register
    hi = stop - rng.choice((0, 0, 0, rng.randint(0, 60)))
    lo = max(0, hi - rng.randint(1, 30))
    code = rng.choice(_PAINT_CODES)
    codes = bytearray(register.codes)
    for i in range(lo, max(lo, hi)):
        try:
            codes[i] = book.lookup(code, day_of_slot(slots[i])).id
        except KeyError:  # e.g. C before the 2024 codes: keep the mark
            pass
    return Register(slots, bytes(codes), {i: m for i, m in register.minutes_late.items()}, book)


def fuzz_pupils(pupils: Iterable[Pupil], as_of: dt.date, policy_flags: Iterable[str], seed: int = SEED) -> list[Pupil]:
    """Each pupil with seeded random extra flags, events and register marks (deterministic per pupil id).

    Flags are drawn from the standard ones and the policy's own; events from every event
    type, half of them within eight weeks before the as-of date (some exactly at the
    durations the rules test), a few after it, and sometimes two penalty notices; one
    run of up to 30 sessions is recoded (G, N, O, U, I, M, C, B or present) for most
    pupils, usually ending on the as-of date.
    """
    flags = sorted(set(STANDARD_FLAGS) | set(policy_flags))
    span = (as_of - START).days
    out = []
    for pupil in pupils:
        rng = random.Random(f"fuzz:{seed}:{pupil.id}")
        extra_flags = {f for f in flags if rng.random() < 0.12}
        events = list(pupil.events)
        for _ in range(rng.randint(0, 8)):
            u = rng.random()
            if u < 0.2:
                day = as_of - dt.timedelta(days=rng.choice(_BOUNDARY_DAYS))
            elif u < 0.5:
                day = as_of - dt.timedelta(days=rng.randint(0, 56))
            elif u < 0.93:
                day = START + dt.timedelta(days=rng.randint(0, max(span, 0)))
            else:
                day = as_of + dt.timedelta(days=rng.randint(1, 20))
            events.append(_fuzz_event(rng, day))
        if rng.random() < 0.15:
            for _ in range(rng.randint(2, 3)):  # to one parent, another, or no recipient recorded
                parent = rng.choice([{}, {"parent": "mum"}, {"parent": "dad"}])
                events.append(
                    Event(
                        date=as_of - dt.timedelta(days=rng.randint(10, 400)),
                        type="penalty_notice_issued",
                        details=parent,
                    )
                )
        register = _paint(rng, pupil.register, as_of) if rng.random() < 0.7 else pupil.register
        out.append(attrs.evolve(pupil, flags=pupil.flags | extra_flags, events=events, register=register))
    return out


def engine_decision(evaluation: PupilEvaluation) -> Decision:
    """The four sets of an engine evaluation, in the direct modules' form."""
    return Decision(frozenset(f.name for f in evaluation.facts),
                    frozenset(r.action for r in evaluation.recommendations),
                    frozenset((s.action, s.rule) for s in evaluation.suppressed),
                    frozenset(d.action for d in evaluation.done))


def _describe(pupil: Pupil, as_of: dt.date, want: Decision, got: Decision) -> str:
    lines = [f"pupil {pupil.id} as of {as_of}:"]
    for name, a, b in zip(Decision._fields, want, got):
        if a != b:
            lines.append(f"  {name}: engine only {sorted(a - b)}; direct only {sorted(b - a)}")
    return "\n".join(lines)


def compare(policy_id: str, pupils: Sequence[Pupil], as_of: dt.date, school: School) -> list[str]:
    """Disagreements between the engine and ``prepare`` + ``decide`` (one text per pupil)."""
    compiled = loaded_policy(policy_id)
    module = module_for(policy_id)
    out = []
    for pupil in pupils:
        want = engine_decision(compiled.evaluate_pupil(pupil, as_of, school))
        got = module.decide(module.prepare(pupil, as_of, compiled.calendar, school))
        if want != got:
            out.append(_describe(pupil, as_of, want, got))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run the check; 0 when every pupil agrees on every date, 1 otherwise."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="halton", choices=("england", "halton"))
    parser.add_argument("--pupils", type=int, default=2000)
    parser.add_argument("--as-of", type=dt.date.fromisoformat, action="append", dest="dates",
                        help="as-of date (repeatable; default 2024-02-09)")
    parser.add_argument("--end", type=dt.date.fromisoformat, help="generator end date (default: each as-of date)")
    parser.add_argument("--history", help="a history file instead of generated pupils")
    parser.add_argument("--fuzz", action="store_true", help="add seeded random flags and events to each pupil")
    parser.add_argument("--untraded", action="store_true", help="school does not trade with the EWS")
    parser.add_argument("--show", type=int, default=5, help="disagreements shown in detail")
    parser.add_argument("--time", action="store_true", help="also print time_direct's process times")
    args = parser.parse_args(argv)
    failed = False
    history = load_history(args.history) if args.history else None
    policy_flags = loaded_policy(args.policy).ruleset.policy.flags
    for as_of in args.dates or [dt.date(2024, 2, 9)]:
        if history is not None:
            pupils, school = list(history.pupils), history.school
        else:
            pupils, school = generated_pupils(args.pupils, args.end or as_of), sample_school()
        if args.untraded:
            school = attrs.evolve(school, settings=dict(school.settings, traded_ews=False))
        if args.fuzz:
            pupils = fuzz_pupils(pupils, as_of, policy_flags)
        problems = compare(args.policy, pupils, as_of, school)
        print(f"{args.policy} as of {as_of}: {len(pupils) - len(problems)} of {len(pupils)} pupils agree"
              + (" (fuzzed)" if args.fuzz else "") + (" (untraded school)" if args.untraded else ""))
        for text in problems[: args.show]:
            print(text)
        if args.time:
            prep, dec = time_direct(args.policy, pupils, as_of, school)
            print(f"  process time: prepare {prep:.3f} s, decide {dec:.4f} s "
                  f"({dec / len(pupils) * 1e6:.1f} us a pupil)")
        failed = failed or bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
