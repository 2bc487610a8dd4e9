"""Benchmark: year-to-date measures for a generated local-authority cohort.

    python benchmarks/bench_measures.py [--pupils 50000] [--as-of 2024-07-19]

Generates pupils one at a time (attendance_rules.registers.sample), loads each through the
validating reader into a compact register, then computes the `measures` command's
year-to-date figures for every pupil. Prints wall times per phase and the process's
peak resident memory (ru_maxrss). Figures are measured, not asserted: no test depends
on them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attendance_rules.registers.measures import standard_measures  # noqa: E402
from attendance_rules.registers.readers import read_pupil_data  # noqa: E402
from attendance_rules.registers.sample import generate_pupils  # noqa: E402


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pupils", type=int, default=50_000)
    parser.add_argument("--as-of", type=dt.date.fromisoformat, default=dt.date(2024, 7, 19))
    args = parser.parse_args()
    start, as_of = dt.date(2023, 9, 1), args.as_of

    t0 = time.perf_counter()
    pupils, marks, generate_s = [], 0, 0.0
    for item in generate_pupils(args.pupils, start, as_of, seed=2024):
        marks += len(item["marks"])
        g = time.perf_counter()
        pupil, problems = read_pupil_data(item, "generated")
        generate_s -= time.perf_counter() - g  # split generation from loading below
        if problems:
            raise SystemExit(f"generated pupil rejected: {problems[0]}")
        pupils.append(pupil)
    t1 = time.perf_counter()
    load_s = -generate_s
    generate_s = (t1 - t0) - load_s
    register_bytes = sum(len(p.register.slots) * p.register.slots.itemsize + len(p.register.codes) for p in pupils)
    peak_after_load = _peak_mib()

    t2 = time.perf_counter()
    flagged = sum(standard_measures(p, as_of)["persistent_absence"] for p in pupils)
    t3 = time.perf_counter()

    print(f"pupils                      {len(pupils):>12,}")
    print(f"session marks               {marks:>12,}")
    print(f"generate (sample.py)        {generate_s:>11.1f} s")
    print(f"load + validate (readers)   {load_s:>11.1f} s   ({marks / load_s:,.0f} marks/s)")
    print(f"compact registers           {register_bytes / 2**20:>11.1f} MiB ({register_bytes / marks:.1f} bytes/mark)")
    print(f"peak RSS after load         {peak_after_load:>11.0f} MiB")
    print(f"YTD measures, all pupils    {t3 - t2:>11.2f} s   ({len(pupils) / (t3 - t2):,.0f} pupils/s)")
    print(f"persistently absent         {flagged:>12,} ({flagged / len(pupils):.1%})")
    print(f"peak RSS at end             {_peak_mib():>11.0f} MiB")


if __name__ == "__main__":
    main()
