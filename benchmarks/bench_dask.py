"""Benchmark: a dataset partitioned by school evaluated on Dask, 1 worker against 2.

    python benchmarks/bench_dask.py [--pupils 20000] [--schools 8] [--policy halton]
                                    [--as-of 2024-02-09] [--workers 2] [--dir DIR]

Generates ``--schools`` schools (attendance_rules.registers.sample, one seed per school, pupil ids
prefixed with the school id) sharing ``--pupils`` between them, writes each as a CSV
history and then the whole as a Parquet dataset (scale.dataset.write_dataset). It then
evaluates the dataset three times and checks the three give the same bytes:

- in this process, no Dask (the per-pupil cost: Parquet read + CSV-form load + rules);
- on a LocalCluster of 1 worker process (1 thread);
- on a LocalCluster of ``--workers`` worker processes (1 thread each).

It prints wall seconds and pupils/s for each, the speed-up, and a projection to national
scale (8,000,000 pupils): hours on one core at the measured per-pupil cost, and on N
workers assuming the measured parallel efficiency holds. Cluster start-up is timed
separately from the evaluation. Figures are measured, not asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attendance_rules.registers.sample import generate_pupils, write_csv  # noqa: E402
from attendance_rules.scale import distributed as ds  # noqa: E402
from attendance_rules.scale import partitions  # noqa: E402
from attendance_rules.scale.dataset import write_dataset  # noqa: E402

NATIONAL_PUPILS = 8_000_000


def _build(root: Path, pupils: int, schools: int, start: dt.date, end: dt.date) -> Path:
    """Write ``schools`` CSV histories under ``root`` and the dataset ``root/dataset``."""
    dirs = []
    for n in range(schools):
        sid = f"S{n + 1:02d}"
        size = pupils // schools + (1 if n < pupils % schools else 0)
        cohort = ({**p, "id": f"{sid}-{p['id']}"} for p in generate_pupils(size, start, end, seed=1000 + n))
        school = {"id": sid, "name": f"School {sid}", "settings": {"traded_ews": n % 2 == 0}}
        write_csv({"school": school, "pupils": cohort}, root / "csv" / sid)
        dirs.append(root / "csv" / sid)
    write_dataset(dirs, root / "dataset")
    return root / "dataset"


def _run(dataset: Path, policy: str, as_of: dt.date,
         scheduler: object) -> tuple[str, float, float, partitions.DatasetReport]:
    """Digest of the JSON lines, wall and CPU seconds of this process, and the row accounting."""
    digest = hashlib.sha256()
    start, cpu = time.perf_counter(), time.process_time()
    run = ds.evaluate_dataset(dataset, policy, as_of, scheduler=scheduler, lines=True)
    for line in run:
        digest.update(line.encode() + b"\n")
    return digest.hexdigest(), time.perf_counter() - start, time.process_time() - cpu, run.report


def _on_cluster(workers: int, dataset: Path, policy: str, as_of: dt.date) -> tuple[str, float, float, float]:
    """Digest, evaluation wall seconds, start-up seconds (with the policy compiled on every
    worker) and the workers' CPU seconds during the evaluation, on a LocalCluster."""
    import logging

    import distributed

    start = time.perf_counter()
    job = ds.dataset_job(policy, as_of, None, "python", True, None)
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            distributed.Client(cluster) as client:
        client.run(partitions.job_policy, job)  # each worker compiles the policy once, before timing
        startup = time.perf_counter() - start
        cpu = sum(client.run(time.process_time).values())
        digest, wall, _, _ = _run(dataset, policy, as_of, client)
        cpu = sum(client.run(time.process_time).values()) - cpu
    return digest, wall, startup, cpu


def _projection(per_pupil: float, per_pupil_cpu: float, wall_eff: float, cpu_eff: float) -> list[str]:
    """Hours for the country: on one core at the measured per-pupil cost (wall, and CPU,
    which a busy machine disturbs less), and on N workers at the efficiency of each added
    worker measured by wall time, by CPU work, and at linear scaling."""
    hours, cpu_hours = NATIONAL_PUPILS * per_pupil / 3600, NATIONAL_PUPILS * per_pupil_cpu / 3600
    lines = [f"national projection         {NATIONAL_PUPILS:,} pupils",
             f"  one core                  {hours:>7.1f} h at {per_pupil * 1000:.2f} ms a pupil (wall)   "
             f"{cpu_hours:.1f} h at {per_pupil_cpu * 1000:.2f} ms (CPU)",
             f"  N workers (CPU cost)      wall-measured x{wall_eff:.0%}   CPU-work x{cpu_eff:.0%}   linear"]
    for n in (2, 8, 32, 128, 512):
        wall_up, cpu_up = 1 + (n - 1) * wall_eff, n * cpu_eff
        lines.append(f"  {n:>3} workers             {cpu_hours / wall_up:>10.2f} h (x{wall_up:<5.1f})"
                     f"{cpu_hours / cpu_up:>9.2f} h (x{cpu_up:<5.1f}){cpu_hours / n:>8.2f} h")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pupils", type=int, default=20000)
    parser.add_argument("--schools", type=int, default=8)
    parser.add_argument("--policy", default="halton")
    parser.add_argument("--as-of", type=dt.date.fromisoformat, default=dt.date(2024, 2, 9))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dir", type=Path, default=None, help="where to write the data (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-dask-") as tmp:
        root = args.dir or Path(tmp)
        t0 = time.perf_counter()
        dataset = _build(root, args.pupils, args.schools, dt.date(2023, 9, 1), args.as_of)
        print(f"python                      {sys.version.split()[0]}   load average {os.getloadavg()[0]:.1f}")
        print(f"dataset                     {args.pupils:,} pupils, {args.schools} schools, as of {args.as_of}"
              f"   (built in {time.perf_counter() - t0:.1f} s)")
        _report(dataset, args)


def _report(dataset: Path, args: argparse.Namespace) -> None:
    n = args.pupils
    single, single_s, single_cpu, report = _run(dataset, args.policy, args.as_of, None)
    load = sum(p.load_seconds for p in report.partitions)
    rules = sum(p.evaluate_seconds for p in report.partitions)
    print(f"marks                       {report.read['marks']:,} read, {report.used['marks']:,} used, "
          f"{report.reported['marks']} reported")
    print(f"in process (no Dask)        {single_s:>8.1f} s   {n / single_s:>7.0f} pupils/s"
          f"   (load {load:.1f} s, rules {rules:.1f} s; CPU {single_cpu:.1f} s)")
    one, one_s, one_up, one_cpu = _on_cluster(1, dataset, args.policy, args.as_of)
    print(f"LocalCluster 1 worker       {one_s:>8.1f} s   {n / one_s:>7.0f} pupils/s   (start-up {one_up:.1f} s;"
          f" worker CPU {one_cpu:.1f} s, {one_cpu / one_s:.2f} cores busy)")
    many, many_s, many_up, many_cpu = _on_cluster(args.workers, dataset, args.policy, args.as_of)
    print(f"LocalCluster {args.workers} workers      {many_s:>8.1f} s   {n / many_s:>7.0f} pupils/s"
          f"   (start-up {many_up:.1f} s; worker CPU {many_cpu:.1f} s, {many_cpu / many_s:.2f} cores busy)")
    speedup = one_s / many_s
    wall_eff = (speedup - 1) / (args.workers - 1) if args.workers > 1 else 1.0
    cpu_eff = one_cpu / many_cpu  # the work each worker does, against one worker doing it all
    print(f"speed-up 1 -> {args.workers} workers       {speedup:>8.2f}x wall   (each added worker {wall_eff:.0%});"
          f" CPU work {one_cpu:.1f} -> {many_cpu:.1f} s ({cpu_eff:.0%} efficient)")
    print(f"identical output            {single == one == many}   sha256 {single[:16]}…")
    print("\n".join(_projection(single_s / n, single_cpu / n, max(wall_eff, 0.0), cpu_eff)))


if __name__ == "__main__":
    main()
