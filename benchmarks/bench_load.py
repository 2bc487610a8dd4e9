"""Benchmark: loading a local authority's year of marks from CSV (and Parquet).

    python benchmarks/bench_load.py [--pupils 50000] [--keep DIR]

Generates a cohort (attendance_rules.registers.sample, seeded) as a CSV history directory in a
temporary directory (or DIR, reused when it already holds one), then times, each in its
own subprocess so that each peak resident memory (ru_maxrss) is its own:

* ``csv.reader``: a bare pass over marks.csv (every row iterated, nothing else): the yardstick;
* ``stdlib``: ``read_history`` of the directory with the standard-library reader;
* ``pyarrow``: the same directory through pyarrow's multi-threaded CSV reader;
* ``parquet``: the same marks as ``marks.parquet`` (written once, not timed).

Prints seconds, the ratio to the bare pass, marks per second and peak RSS. Figures are
measured, not asserted: no test depends on them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

START, END, SEED = dt.date(2023, 9, 1), dt.date(2024, 7, 19), 2024


def _generate(folder: Path, pupils: int) -> None:
    from attendance_rules.registers.sample import generate_pupils, write_csv

    school = {"id": "LA", "name": "Generated authority", "settings": {"traded_ews": False}}
    write_csv({"school": school, "pupils": generate_pupils(pupils, START, END, seed=SEED)}, folder)


def _parquet(folder: Path) -> Path | None:
    """A copy of the directory with marks.parquet in place of marks.csv (None without pyarrow)."""
    try:
        import pyarrow as pa
        import pyarrow.csv as pcsv
        import pyarrow.parquet as pq
    except ImportError:
        return None
    out = folder / "parquet"
    if not (out / "marks.parquet").is_file():
        out.mkdir(exist_ok=True)
        types = {c: pa.string() for c in ("pupil_id", "date", "session", "code", "minutes_late")}
        table = pcsv.read_csv(folder / "marks.csv", convert_options=pcsv.ConvertOptions(column_types=types))
        pq.write_table(table, out / "marks.parquet")
        for name in ("pupils.csv", "events.csv", "school.csv"):
            (out / name).write_bytes((folder / name).read_bytes())
    return out


def _phase(kind: str, folder: str) -> dict:
    """Run in a child process: time one way of reading ``folder``."""
    import csv

    t0 = time.perf_counter()
    if kind == "csv.reader":
        with open(Path(folder) / "marks.csv", newline="", encoding="utf-8") as handle:
            marks = sum(1 for _ in csv.reader(handle)) - 1
    else:
        from attendance_rules.registers.readers import read_history

        engine = {"stdlib": "stdlib", "pyarrow": "pyarrow", "parquet": "auto"}[kind]
        history, report = read_history([folder], engine=engine)
        if report.problems:
            raise SystemExit(f"{kind}: {report.problems[0]}")
        marks = report.used["marks"]
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"kind": kind, "seconds": seconds, "marks": marks, "peak_mib": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pupils", type=int, default=50_000)
    parser.add_argument("--keep", type=Path, help="generate into (or reuse) this directory")
    parser.add_argument("--phase", nargs=2, help=argparse.SUPPRESS)  # internal: one child run
    args = parser.parse_args()
    if args.phase:
        if args.phase[0] == "make-parquet":
            _parquet(Path(args.phase[1]))
        else:
            print(json.dumps(_phase(*args.phase)))
        return
    with tempfile.TemporaryDirectory() as temp:
        folder = args.keep or Path(temp) / "cohort"
        if not (folder / "marks.csv").is_file():
            t = time.perf_counter()
            _generate(folder, args.pupils)
            print(f"generated {args.pupils:,} pupils in {time.perf_counter() - t:.1f} s into {folder}")
        # in a child, so that this process stays small: a child's ru_maxrss starts at its parent's size
        subprocess.run([sys.executable, __file__, "--phase", "make-parquet", str(folder)], check=True)
        parquet = folder / "parquet" if (folder / "parquet" / "marks.parquet").is_file() else None
        size = (folder / "marks.csv").stat().st_size
        print(f"marks.csv {size / 2**20:,.0f} MiB")
        runs = [("csv.reader", folder), ("stdlib", folder)]
        runs += [("pyarrow", folder), ("parquet", parquet)] if parquet else []
        base = None
        print(f"{'path':<12}{'seconds':>9}{'× bare':>9}{'marks/s':>13}{'peak RSS':>12}")
        for kind, where in runs:
            out = subprocess.run([sys.executable, __file__, "--phase", kind, str(where)], check=True,
                                 capture_output=True, text=True)
            got = json.loads(out.stdout.strip().splitlines()[-1])
            base = base or got["seconds"]
            print(f"{kind:<12}{got['seconds']:>9.2f}{got['seconds'] / base:>9.2f}"
                  f"{got['marks'] / got['seconds']:>13,.0f}{got['peak_mib']:>9,.0f} MiB")
        if not parquet:
            print("pyarrow is not installed: pip install 'attendance-rules[parquet]' for the columnar paths")


if __name__ == "__main__":
    main()
