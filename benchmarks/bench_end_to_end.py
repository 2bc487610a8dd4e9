"""Benchmark: a local authority's year, CSV to JSONL through the command line.

    python benchmarks/bench_end_to_end.py [--pupils 50000] [--keep DIR] [--policy halton]
                                          [--as-of 2024-07-19] [--runs stdlib,pyarrow,jobs2]

Generates a cohort (``attendance_rules.registers.sample``, seeded) as a CSV history directory (or
reuses DIR), then runs, each in a fresh subprocess so that each has its own peak memory:

* ``csv.reader``: a bare pass over ``marks.csv`` (every row iterated, nothing else): the yardstick;
* ``stdlib``: ``attendance-rules evaluate --format jsonl --jobs 1 --reader stdlib``;
* ``pyarrow``: the same with ``--reader pyarrow`` (pyarrow's multi-threaded CSV reader);
* ``jobs2``: the same as ``pyarrow`` with ``--jobs 2``.

Output goes to a file, which must be byte-identical between runs. Prints wall seconds,
the ratio to the bare pass, and the peak resident memory of the largest process
(``ru_maxrss`` of the children; with ``--jobs 2`` each worker is its own process). Figures
are measured, not asserted.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

BARE = """
import csv, sys
with open(sys.argv[1], newline="", encoding="utf-8") as f:
    for row in csv.reader(f):
        pass
"""


def _measured(command: list[str], output: Path | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of ``command`` (its stdout to ``output``), run through a
    fresh Python that waits for it and reports on stderr."""
    probe = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
             "code = subprocess.call(sys.argv[1:]); "
             "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code, "
             "file=sys.stderr)")
    with open(output or "/dev/null", "wb") as sink:
        out = subprocess.run([sys.executable, "-c", probe, *command], stdout=sink, stderr=subprocess.PIPE,
                             check=True, text=True)
    line = out.stderr.strip().splitlines()[-1]
    seconds, rss_kib, code = line.split()
    if code != "0":
        raise SystemExit(f"{' '.join(command)} exited {code}")
    return float(seconds), int(rss_kib) / 1024


def _generate(folder: Path, pupils: int) -> None:
    from bench_load import _generate as generate

    generate(folder, pupils)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pupils", type=int, default=50_000)
    parser.add_argument("--keep", type=Path, help="directory for the generated cohort (reused when present)")
    parser.add_argument("--policy", default="halton")
    parser.add_argument("--as-of", default="2024-07-19")
    parser.add_argument("--runs", default="stdlib,pyarrow,jobs2")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="attendance-e2e-"))
    if not (folder / "marks.csv").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        _generate(folder, args.pupils)
        print(f"generated {args.pupils:,} pupils in {time.perf_counter() - start:.0f} s into {folder}")
    marks = folder / "marks.csv"
    rows = sum(1 for _ in marks.open("rb")) - 1
    print(f"marks.csv: {rows:,} rows, {marks.stat().st_size / 2**20:.0f} MiB; policy {args.policy}, as of {args.as_of}")
    bare_s, bare_rss = _measured([sys.executable, "-c", BARE, str(marks)])
    print(f"{'bare csv.reader pass':<34}{bare_s:>8.1f} s   1.00x   peak RSS {bare_rss:>7.0f} MiB")
    cli = [sys.executable, "-m", "attendance_rules", "evaluate", "--policy", args.policy, "--history", str(folder),
           "--as-of", args.as_of, "--format", "jsonl", "--quiet"]
    runs = {"stdlib": ["--jobs", "1", "--reader", "stdlib"], "pyarrow": ["--jobs", "1", "--reader", "pyarrow"],
            "jobs2": ["--jobs", "2", "--reader", "pyarrow"]}
    digests = {}
    for name in args.runs.split(","):
        out = folder / f"out-{name}.jsonl"
        seconds, rss = _measured(cli + runs[name], out)
        digests[name] = hashlib.sha256(out.read_bytes()).hexdigest()[:16]
        lines = sum(1 for _ in out.open("rb"))
        print(f"{'evaluate ' + ' '.join(runs[name]):<34}{seconds:>8.1f} s  {seconds / bare_s:>5.2f}x   "
              f"peak RSS {rss:>7.0f} MiB   {lines:,} pupils, sha256 {digests[name]}")
    print("outputs identical" if len(set(digests.values())) <= 1 else f"OUTPUTS DIFFER: {digests}")


if __name__ == "__main__":
    main()
