"""Benchmark: rule work of our engine against hand-written Python and the durable_rules backend.

    python benchmarks/bench_rules.py [--policy halton] [--pupils 2000] [--as-of 2024-02-09]

The same generated pupils (``attendance_rules.registers.sample``, seed 2024) are evaluated by

- **direct**: the hand-written Python of the same policy in ``benchmarks/direct/`` (checked
  pupil by pupil to give the same actions, facts, suppressions and done actions);
- **ours**: the compiled rules in our engine;
- **durable**: the same rule set chained by durable_rules (``--backend durable``), when it
  can be imported (Python 3.11/3.12).

"Measures" is the phase that reads the register into the values the rules compare (ours:
every measure a condition of a rule in force reads, as integer pairs; direct: its own
``prepare``). "Rule work" is everything after it: ours fires the rules and builds every
reason (values, sentences, citations and chains of each fired rule), suppressions and
recommendations; direct runs its ``decide``. "Full" is a whole ``evaluate_pupil`` (ours and
durable: measures, rules, reasons and the measures report). Times are CPU seconds of this
process, one run; ratios are from that run. The durable line also says how much of its
time is spent inside durable_rules itself (its sessions: C core and Python layer) — the
rest is our code evaluating the atomic tests and building reasons.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from attendance_rules.engine import compiled as api  # noqa: E402
from attendance_rules.exceptions import UsageError  # noqa: E402
from attendance_rules.registers.history import School  # noqa: E402
from attendance_rules.registers.readers import read_pupil_data  # noqa: E402
from attendance_rules.registers.sample import SCHOOL, generate_pupils  # noqa: E402


def _cpu(run: Callable[[], object]) -> tuple[object, float]:
    gc.collect()
    start = time.process_time()
    result = run()
    return result, time.process_time() - start


def _warm(engine, pupils, as_of, school) -> list:
    """Working memories with every measure a rule in force reads already computed."""
    contexts = []
    unless = [k for plan in engine.plans.values() for _, _, keys in plan.unless for k in keys]
    for pupil in pupils:
        ctx = engine.context(pupil, as_of, school)
        for key in list(ctx._consulted) + unless:
            ctx.measure_pair(key)
        ctx.events("")  # the pupil's events indexed by type
        contexts.append(ctx)
    return contexts


def _line(label: str, n: int, seconds: float, note: str = "") -> str:
    return f"{label:<34}{seconds:>8.3f} s  {n / seconds:>10,.0f} pupils/s  {seconds / n * 1e6:>8.1f} us/pupil  {note}"


def _durable(policy_id: str, pupils, as_of, school, ours_full: float) -> None:
    try:
        durable = api.load_policy(policy_id, backend="durable")
    except UsageError as error:
        print(f"durable backend: not available ({error})")
        return
    from attendance_rules.engine import durable as durable_backend

    inside = [0.0]
    run = durable_backend._Stratum.run

    def timed_run(self, *args, **kwargs):  # time spent in durable_rules' own sessions
        start = time.process_time()
        try:
            return run(self, *args, **kwargs)
        finally:
            inside[0] += time.process_time() - start

    durable_backend._Stratum.run = timed_run  # type: ignore[method-assign]
    try:
        results, seconds = _cpu(lambda: [durable.evaluate_pupil(p, as_of, school) for p in pupils])
    finally:
        durable_backend._Stratum.run = run  # type: ignore[method-assign]
        durable.engine.close()  # type: ignore[attr-defined]
    n = len(pupils)
    print(_line("durable: full evaluation", n, seconds,
                f"{seconds / ours_full:.1f}x ours; {inside[0] / seconds:.0%} of it inside durable_rules"))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="halton", choices=("halton", "england"))
    parser.add_argument("--pupils", type=int, default=2000)
    parser.add_argument("--as-of", type=dt.date.fromisoformat, default=dt.date(2024, 2, 9))
    args = parser.parse_args()
    from direct import module_for, time_direct
    from direct.check import compare

    school = School(SCHOOL["id"], SCHOOL["name"], SCHOOL["settings"])
    pupils = [read_pupil_data(item, "generated")[0]
              for item in generate_pupils(args.pupils, dt.date(2023, 9, 1), args.as_of, seed=2024)]
    policy = api.load_policy(args.policy)
    engine, n = policy.engine, len(pupils)
    module_for(args.policy)
    disagree = compare(args.policy, pupils, args.as_of, school)  # also builds every prefix column once
    print(f"python {sys.version.split()[0]}; policy {policy.id} ({len(policy.ruleset.rules)} rules, "
          f"{policy.ruleset.strata} strata); {n:,} pupils as of {args.as_of}")
    print(f"direct reference agrees with the engine on {n - len(disagree):,} of {n:,} pupils")

    prepare_s, decide_s = time_direct(args.policy, pupils, args.as_of, school)
    contexts, measures_s = _cpu(lambda: _warm(engine, pupils, args.as_of, school))
    _, rules_s = _cpu(lambda: [engine.decide(ctx) for ctx in contexts])  # type: ignore[union-attr]
    contexts = _warm(engine, pupils, args.as_of, school)
    _, decisions_s = _cpu(lambda: [engine._fire_all(ctx, trace=False) for ctx in contexts])  # type: ignore[union-attr]
    _, full_s = _cpu(lambda: [engine.evaluate_pupil(p, args.as_of, school) for p in pupils])
    print(_line("direct: measures (prepare)", n, prepare_s))
    print(_line("direct: rule work (decide)", n, decide_s))
    print(_line("ours: measures (integer pairs)", n, measures_s, f"{measures_s / prepare_s:.1f}x direct"))
    print(_line("ours: firing only (no reasons)", n, decisions_s, f"{decisions_s / decide_s:.1f}x direct"))
    print(_line("ours: rule work (with reasons)", n, rules_s, f"{rules_s / decide_s:.1f}x direct  (goal <= 10x)"))
    print(_line("ours: full evaluation", n, full_s, f"{full_s / (prepare_s + decide_s):.1f}x direct measures + rules"))
    _durable(args.policy, pupils, args.as_of, school, full_s)


if __name__ == "__main__":
    main()
