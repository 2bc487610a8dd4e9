"""Benchmark: replay a generated cohort day by day over an academic year (the timeline).

    python benchmarks/bench_timeline.py [--pupils 1000] [--policy halton] [--scratch 25]

Times are CPU seconds of this process (time.process_time), so other load on the
machine does not distort them. Generates pupils one at a time (attendance_rules.registers.sample, 1 Sep 2023 to 19 Jul 2024),
loads each into a compact register, then builds every pupil's timeline: one evaluation
as of each of its school days, reusing the pupil's register (prefix counts built once).

For comparison, on the first ``--scratch`` pupils, it also evaluates every day from
scratch — as a daily `evaluate` run would: the pupil's marks up to that day are read
into a fresh register (prefix counts rebuilt) and evaluated — and checks that both give
the same recommendations every day. Figures are measured, not asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attendance_rules.engine.compiled import load_policy  # noqa: E402
from attendance_rules.registers.history import School  # noqa: E402
from attendance_rules.registers.readers import read_pupil_data  # noqa: E402
from attendance_rules.registers.sample import SCHOOL, generate_pupils  # noqa: E402
from attendance_rules.replay.timeline import (  # noqa: E402
    replay_pupil,
    rolling_due_actions,
    school_days_between,
)

START, END = dt.date(2023, 9, 1), dt.date(2024, 7, 19)


def _read(item: dict) -> object:
    pupil, problems = read_pupil_data(item, "generated")
    if problems:
        raise SystemExit(f"generated pupil rejected: {problems[0]}")
    return pupil


def _from_scratch(policy, item: dict, school: School) -> tuple[int, float, float, list[tuple]]:
    """Evaluate each school day on a freshly loaded register holding the marks up to that day."""
    days = school_days_between(_read(item), START, END)
    load_s = eval_s = 0.0
    seen = []
    for day in days:
        iso = day.isoformat()
        t0 = time.process_time()
        pupil = _read({**item, "marks": [m for m in item["marks"] if m["date"] <= iso],
                       "events": [e for e in item["events"] if e["date"] <= iso]})
        t1 = time.process_time()
        result = policy.evaluate_pupil(pupil, day, school)
        eval_s += time.process_time() - t1
        load_s += t1 - t0
        seen.append((day, result.actions()))
    return len(days), load_s, eval_s, seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pupils", type=int, default=1000)
    parser.add_argument("--policy", default="halton")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--scratch", type=int, default=25, help="pupils also evaluated from scratch each day")
    args = parser.parse_args()

    policy = load_policy(args.policy)
    school = School(SCHOOL["id"], SCHOOL["name"], SCHOOL["settings"])
    rolling = rolling_due_actions(policy)

    t0 = time.process_time()
    items = list(generate_pupils(args.pupils, START, END, seed=args.seed))
    t1 = time.process_time()
    pupils = [_read(item) for item in items]
    load_s = time.process_time() - t1

    for pupil in pupils:  # build each register's prefix counts first, so both timings below start alike
        policy.evaluate_pupil(pupil, END, school)
    s = time.process_time()
    for pupil in pupils:
        policy.evaluate_pupil(pupil, END, school)
    year_end_s = time.process_time() - s

    t2 = time.process_time()
    timelines = []
    for pupil in pupils:
        timelines.append(replay_pupil(policy, pupil, START, END, school, rolling))
    t3 = time.process_time()
    pupil_days = sum(t.days_evaluated for t in timelines)
    episodes = sum(len(t.entries) for t in timelines)
    replay_s = t3 - t2

    n = min(args.scratch, len(items))
    scratch_days, scratch_load, scratch_eval, tl_subset_s, agree = 0, 0.0, 0.0, 0.0, True
    for item, pupil, timeline in zip(items[:n], pupils[:n], timelines[:n]):
        s = time.process_time()  # the same pupil replayed again, next to its from-scratch run
        replay_pupil(policy, pupil, START, END, school, rolling)
        tl_subset_s += time.process_time() - s
        days, load_s, eval_s, seen = _from_scratch(policy, item, school)
        scratch_days += days
        scratch_load += load_s
        scratch_eval += eval_s
        for day, actions in seen:  # an episode covers exactly the days its action was recommended
            expected = sorted(e.action for e in timeline.entries if e.first_seen <= day <= e.last_seen)
            agree &= sorted(actions) == expected
    subset_days = sum(t.days_evaluated for t in timelines[:n])
    t5 = time.process_time()

    per_day_tl = replay_s / pupil_days * 1000
    print(f"policy                        {policy.id} {policy.version} ({len(policy.ruleset.rules)} rules)")
    print(f"pupils                        {len(pupils):>12,}")
    print(f"range                         {START.isoformat()} to {END.isoformat()}")
    print(f"generate (sample.py)          {t1 - t0:>11.1f} s")
    print(f"load (readers)                {load_s:>11.1f} s")
    print(f"timeline replay, all pupils   {replay_s:>11.1f} s   ({pupil_days:,} pupil-days, "
          f"{pupil_days / replay_s:,.0f} pupil-days/s, {per_day_tl:.2f} ms each)")
    print(f"episodes found                {episodes:>12,}")
    print(f"one evaluation at {END.isoformat()}  {year_end_s:>11.2f} s   (every pupil once, the same registers)")
    print(f"timeline / one evaluation     {replay_s / year_end_s:>11.1f} x   (goal <= 5x)")
    if n:
        scratch_s = scratch_load + scratch_eval
        print(f"subset                        {n:>12,} pupils, {subset_days:,} pupil-days")
        print(f"  timeline on subset          {tl_subset_s:>11.2f} s   ({tl_subset_s / subset_days * 1000:.2f} ms per "
              f"pupil-day)")
        print(f"  from scratch each day       {scratch_s:>11.2f} s   ({scratch_s / scratch_days * 1000:.2f} ms per "
              f"pupil-day: load {scratch_load / scratch_days * 1000:.2f} + evaluate "
              f"{scratch_eval / scratch_days * 1000:.2f})")
        print(f"  saving                      {1 - tl_subset_s / scratch_s:>11.0%}   "
              f"(from scratch / timeline = {scratch_s / tl_subset_s:.2f}x)")
        print(f"  same recommendations daily  {'yes' if agree else 'NO':>12}")
    print(f"total CPU time                {t5 - t0:>11.1f} s")


if __name__ == "__main__":
    main()
