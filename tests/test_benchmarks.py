"""Every benchmark still runs, and its own cross-check still agrees (on a tiny cohort).

The benchmarks assert nothing about speed (figures live in benchmarks/README.md); what can
rot silently is the script itself — an import moved, an option renamed — or the agreement
it prints between the engines, the hand-written reference, the readers or the schedulers.
Each script runs here in a subprocess at a size that takes seconds.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# script, tiny arguments, a line its own cross-check prints when it agrees (None: no check)
RUNS = [
    ("bench_measures.py", ["--pupils", "50"], "persistently absent"),
    ("bench_engine.py", ["--pupils", "30"], None),
    ("bench_rules.py", ["--pupils", "30"], "direct reference agrees with the engine on 30 of 30 pupils"),
    ("bench_timeline.py", ["--pupils", "5", "--scratch", "1"], "same recommendations daily           yes"),
    ("bench_load.py", ["--pupils", "50"], "parquet"),
    ("bench_end_to_end.py", ["--pupils", "50"], "outputs identical"),
    ("bench_dask.py", ["--pupils", "100", "--schools", "2", "--workers", "2"], "identical output            True"),
]


def _available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@pytest.mark.parametrize(("script", "args", "agreement"), RUNS, ids=[r[0] for r in RUNS])
def test_the_benchmark_runs_and_its_cross_check_agrees(script: str, args: list[str], agreement: str | None) -> None:
    if script in ("bench_load.py", "bench_dask.py", "bench_end_to_end.py") and not _available("pyarrow"):
        pytest.skip("needs the parquet extra")
    if script == "bench_dask.py" and not _available("distributed"):
        pytest.skip("needs the dask extra")
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    if agreement is not None:
        assert agreement in done.stdout, done.stdout[-2000:]
    if script == "bench_engine.py" and _durable_imports():
        assert "30 of 30 pupils identical" in done.stdout, done.stdout[-2000:]


def _durable_imports() -> bool:
    """durable_rules installs everywhere but imports on Python 3.11/3.12 only."""
    try:
        import durable.lang  # noqa: F401
    except Exception:
        return False
    return True
