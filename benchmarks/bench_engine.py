"""Benchmark: the Python engine against the durable_rules backend on generated pupils.

    python benchmarks/bench_engine.py [--policy halton] [--pupils 2000] [--as-of 2024-02-09]
                                      [--tracemalloc]

Generates pupils (attendance_rules.registers.sample, loaded through the validating reader), then
evaluates the same pupils once with each engine against a bundled policy and prints
pupils per second for each (by wall time and by this process's CPU time, which a busy
machine disturbs less), their ratio, whether the two agree pupil by pupil, and the
process's peak resident memory (ru_maxrss) after each phase. With ``--tracemalloc`` each
engine is run a second time under tracemalloc to report the peak of Python allocations
during that phase (the timed runs are never traced). The durable backend needs
durable-rules, which imports on Python 3.11/3.12 only; elsewhere only the Python engine
is timed. Figures are measured, not asserted: no test depends on them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import resource
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attendance_rules.engine import compiled as api  # noqa: E402
from attendance_rules.exceptions import UsageError  # noqa: E402
from attendance_rules.registers.history import History, School  # noqa: E402
from attendance_rules.registers.readers import read_pupil_data  # noqa: E402
from attendance_rules.registers.sample import SCHOOL, generate_pupils  # noqa: E402


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _timed(run: Callable[[], object]) -> tuple[object, float, float]:
    """The result, wall seconds and CPU seconds of this process (CPU time is steadier on a busy machine)."""
    gc.collect()
    start, cpu = time.perf_counter(), time.process_time()
    result = run()
    return result, time.perf_counter() - start, time.process_time() - cpu


def _rate(label: str, n: int, wall: float, cpu: float) -> str:
    return (f"{label:<28}{wall:>7.2f} s wall ({n / wall:>8,.0f} pupils/s)   "
            f"{cpu:>7.2f} s CPU ({n / cpu:>8,.0f} pupils/s)")


def _traced_peak(run: Callable[[], object]) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="halton", help="bundled policy id or path (default halton)")
    parser.add_argument("--pupils", type=int, default=2000)
    parser.add_argument("--as-of", type=dt.date.fromisoformat, default=dt.date(2024, 2, 9))
    parser.add_argument("--tracemalloc", action="store_true", help="also report traced peak memory per phase")
    args = parser.parse_args()
    start = dt.date(2023, 9, 1)

    t0 = time.perf_counter()
    pupils = []
    for item in generate_pupils(args.pupils, start, args.as_of, seed=2024):
        pupil, problems = read_pupil_data(item, "generated")
        if problems:
            raise SystemExit(f"generated pupil rejected: {problems[0]}")
        pupils.append(pupil)
    history = History(
        pupils=tuple(pupils), school=School(SCHOOL["id"], SCHOOL["name"], SCHOOL["settings"])
    )
    load_s = time.perf_counter() - t0

    python = api.load_policy(args.policy)
    print(f"python                      {sys.version.split()[0]}")
    print(f"policy                      {python.id} ({len(python.ruleset.rules)} rules, "
          f"{python.ruleset.strata} strata)")
    print(f"pupils                      {len(pupils):>12,}   as of {args.as_of}")
    print(f"generate + load             {load_s:>11.1f} s")
    print(f"peak RSS after load         {_peak_mib():>11.0f} MiB")

    expected, python_s, python_cpu = _timed(lambda: python.evaluate(history, args.as_of))
    print(_rate("python engine", len(pupils), python_s, python_cpu))
    print(f"peak RSS after python       {_peak_mib():>11.0f} MiB")
    if args.tracemalloc:
        print(f"  traced peak (python)      {_traced_peak(lambda: python.evaluate(history, args.as_of)):>11.1f} MiB")

    try:
        durable = api.load_policy(args.policy, backend="durable")
    except UsageError as error:
        print(f"durable backend             not available: {error}")
        return
    got, durable_s, durable_cpu = _timed(lambda: durable.evaluate(history, args.as_of))
    agree = sum(a.to_json() == b.to_json() for a, b in zip(expected.pupils, got.pupils))  # type: ignore[attr-defined]
    fired = sum(len(p.fired) for p in got.pupils)  # type: ignore[attr-defined]
    print(_rate("durable backend", len(pupils), durable_s, durable_cpu))
    print(f"  rules fired               {fired:>12,}   ({fired / len(pupils):.1f} per pupil)")
    print(f"  durable / python time     {durable_s / python_s:>7.2f} x wall"
          f"      {durable_cpu / python_cpu:>21.2f} x CPU")
    print(f"  agreement                 {agree:>12,} of {len(pupils):,} pupils identical")
    print(f"peak RSS after durable      {_peak_mib():>11.0f} MiB")
    if args.tracemalloc:
        print(f"  traced peak (durable)     {_traced_peak(lambda: durable.evaluate(history, args.as_of)):>11.1f} MiB"
              "   (Python allocations only; the C core's are not traced)")
    durable.engine.close()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
