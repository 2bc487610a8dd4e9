"""`--jobs`, streaming output, progress bars and Ctrl-C of the command line.

The contract: ``--jobs N`` gives the same bytes as ``--jobs 1`` (same order, every
format); ``--format jsonl`` and ``json`` are the same bytes as rendering the whole
evaluation at once; nothing is written on standard error unless it is a terminal (a
progress bar) or something went wrong; Ctrl-C ends the run with status 130, one line
on standard error, no traceback and no worker process left behind.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

from attendance_rules.cli import main
from attendance_rules.engine.compiled import load_policy
from attendance_rules.engine.explain import render_evaluation, write_evaluation
from attendance_rules.exceptions import EvaluationError
from attendance_rules.registers.readers import load_history
from attendance_rules.registers.sample import generate_cohort, write_json
from attendance_rules.scale.parallel import PupilTask, chunk_size_for, dumps, map_pupils
from attendance_rules.scale.progress import (
    progress,
    progress_stream,
    unless_streaming_to_terminal,
)

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = str(ROOT / "examples" / "sample" / "history.json")
AS_OF = "2024-02-09"


def run(*argv: str) -> tuple[int, str, str]:
    """Run the CLI in-process; exit status, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), out=out, err=err)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def small_history(tmp_path_factory: pytest.TempPathFactory) -> str:
    """24 generated pupils (with case events) up to the as-of date: quick to replay."""
    path = tmp_path_factory.mktemp("cohort") / "history.json"
    write_json(generate_cohort(24, dt.date(2023, 9, 1), dt.date(2024, 2, 9), seed=7), path)
    return str(path)


# --- byte-identical output ------------------------------------------------------------


def as_the_cli_records(evaluation, policy, history):
    """The evaluation with the provenance the CLI writes: each policy file's path, and the
    digest of the history's content (not of its bytes)."""
    import attrs

    from attendance_rules.engine.provenance import Provenance

    return attrs.evolve(evaluation, provenance=Provenance.of(policy.ruleset, history))


@pytest.fixture(scope="module")
def sample_evaluation():
    """The sample evaluated whole, as before streaming (with the CLI's provenance)."""
    policy, history = load_policy("halton"), load_history([SAMPLE])
    return as_the_cli_records(policy.evaluate(history, dt.date.fromisoformat(AS_OF)), policy, history)


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_evaluate_jobs_2_matches_jobs_1_and_the_whole_rendering(sample_evaluation, fmt: str) -> None:
    evaluate = ("evaluate", "--policy", "halton", "--history", SAMPLE, "--as-of", AS_OF, "--format", fmt)
    one, two = run(*evaluate, "--jobs", "1"), run(*evaluate, "--jobs", "2")
    assert one[0] == two[0] == 0 and one[2] == two[2] == ""
    assert one[1] == two[1] == render_evaluation(sample_evaluation, fmt)


@pytest.mark.parametrize("fmt", ["table", "json", "jsonl", "markdown"])
def test_writing_pupil_by_pupil_is_the_whole_rendering(small_history: str, fmt: str) -> None:
    import attrs

    from attendance_rules.engine.distance import distances

    policy, history = load_policy("halton"), load_history([small_history])
    as_of = dt.date.fromisoformat(AS_OF)
    whole = policy.evaluate(history, as_of)
    near = tuple(attrs.evolve(p, at_risk=distances(policy.engine, history.pupil(p.pupil_id), as_of, history.school, 4))
                 for p in whole.pupils)
    for evaluation in (whole, attrs.evolve(whole, pupils=near), attrs.evolve(whole, pupils=())):
        out = io.StringIO()
        write_evaluation(evaluation, iter(evaluation.pupils), fmt, out)
        assert out.getvalue() == render_evaluation(evaluation, fmt)
    assert any(p.at_risk for p in near) and "At risk" in render_evaluation(attrs.evolve(whole, pupils=near))


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_evaluate_jobs_2_matches_jobs_1_in_the_other_formats(small_history: str, fmt: str) -> None:
    evaluate = ("evaluate", "--policy", "halton", "--history", small_history, "--as-of", AS_OF, "--format", fmt,
                "--horizon", "4")
    assert run(*evaluate, "--jobs", "1") == run(*evaluate, "--jobs", "2")


def test_evaluate_json_of_no_pupils_is_the_whole_rendering(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_text('{"pupils": [], "school": {"id": "X", "name": "Empty"}}', encoding="utf-8")
    status, out, err = run("evaluate", "--policy", "halton", "--history", str(path), "--as-of", AS_OF,
                           "--format", "json", "--jobs", "2")
    policy, history = load_policy("halton"), load_history([str(path)])
    whole = as_the_cli_records(policy.evaluate(history, dt.date.fromisoformat(AS_OF)), policy, history)
    assert (status, err) == (0, "") and out == render_evaluation(whole, "json")


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_timeline_jobs_2_matches_jobs_1(small_history: str, fmt: str) -> None:
    timeline = ("timeline", "--policy", "halton", "--history", small_history, "--from", "2024-01-29",
                "--to", AS_OF, "--format", fmt)
    one, two = run(*timeline, "--jobs", "1"), run(*timeline, "--jobs", "2")
    assert one[0] == 0 and one[2] == "" and "P00006" in one[1]
    assert one == two


@pytest.mark.parametrize("command", [
    ("cohort", "--policy", "halton", "--as-of", AS_OF),
    ("diff", "--old", "england", "--new", "halton", "--as-of", AS_OF, "--format", "json"),
    ("audit", "--policy", "halton", "--from", "2024-01-08", "--to", AS_OF, "--format", "json"),
])
def test_other_per_pupil_commands_jobs_2_match_jobs_1(small_history: str, command: tuple[str, ...]) -> None:
    args = command + ("--history", small_history)
    one, two = run(*args, "--jobs", "1"), run(*args, "--jobs", "2")
    assert one[0] == 0 and one[2] == ""
    assert one == two


@pytest.mark.parametrize("jobs", ["0", "-1", "two"])
def test_jobs_below_1_is_a_usage_error(jobs: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run("evaluate", "--policy", "halton", "--history", SAMPLE, "--as-of", AS_OF, "--jobs", jobs)
    assert status == 2 and out == "" and capsys.readouterr().err == ""  # usage goes to main's err stream
    assert "--jobs: expected a whole number of processes, at least 1" in err


def test_a_missing_pupil_is_reported_whatever_the_jobs(small_history: str) -> None:
    for jobs in ("1", "2"):
        status, out, err = run("evaluate", "--policy", "halton", "--history", small_history, "--as-of", AS_OF,
                               "--pupil", "NOPE", "--jobs", jobs)
        assert (status, out, err) == (2, "", "<command line>: error: no pupil 'NOPE' in the history\n")


# --- parallel.map_pupils ---------------------------------------------------------------


def _setup_offset(offset: int) -> int:
    """Task state: a number."""
    return offset


def _describe(offset: int, pupil) -> tuple:
    """What a test task returns for a pupil (or raises, for pupil FAIL)."""
    if pupil.id == "FAIL":
        raise KeyError("no such thing")
    return offset, pupil.id, len(pupil.register), [(e.type, dict(e.details)) for e in pupil.events]


def test_map_pupils_keeps_the_order_whatever_the_jobs_and_chunks(small_history: str) -> None:
    pupils = list(load_history([small_history]))
    task = PupilTask(_setup_offset, _describe, (5,))
    expected = [_describe(5, p) for p in pupils]
    assert any(row[3] for row in expected), "some pupils should have case events (read-only details)"
    for jobs, size in ((1, None), (2, None), (2, 1), (3, 5), (8, 100)):
        assert list(map_pupils(task, pupils, jobs, size)) == expected


def test_map_pupils_raises_a_worker_error_in_the_caller(small_history: str) -> None:
    import attrs

    pupils = list(load_history([small_history]))
    pupils[5] = attrs.evolve(pupils[5], id="FAIL")
    with pytest.raises(KeyError, match="no such thing"):
        list(map_pupils(PupilTask(_setup_offset, _describe, (0,)), pupils, 2, 2))


def _die(offset: int, pupil) -> None:
    """A task that kills its worker."""
    os._exit(3)  # a worker killed (out of memory …)


def test_a_worker_that_dies_is_a_located_error_not_a_hang(small_history: str) -> None:
    pupils = list(load_history([small_history]))
    with pytest.raises(EvaluationError, match="a worker process stopped before finishing its pupils"):
        list(map_pupils(PupilTask(_setup_offset, _die, (0,)), pupils, 2, 4))


def test_pupils_and_schools_survive_the_trip_to_a_worker(small_history: str) -> None:
    history = load_history([small_history])
    again = pickle.loads(dumps((history.pupils, history.school)))
    assert again == (history.pupils, history.school)
    assert [p.register.marks() and list(p.register.marks()) for p in again[0]] == \
        [list(p.register.marks()) for p in history.pupils]


def test_chunks_are_small_and_several_per_job() -> None:
    assert chunk_size_for(300, 2) == 38 and chunk_size_for(50_000, 2) == 64 and chunk_size_for(3, 8) == 1


# --- progress ---------------------------------------------------------------------------


class _Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        """Always a terminal."""
        return True


def test_progress_only_on_a_terminal_and_not_when_quiet() -> None:
    assert progress_stream(io.StringIO(), quiet=False) is None
    assert progress_stream(_Terminal(), quiet=True) is None
    terminal = _Terminal()
    assert progress_stream(terminal, quiet=False) is terminal
    assert list(progress(range(5), 5, "evaluate", terminal)) == list(range(5))
    assert unless_streaming_to_terminal(terminal, io.StringIO()) is terminal
    assert unless_streaming_to_terminal(terminal, _Terminal()) is None
    assert "evaluate:   0%" in terminal.getvalue() and "0/5" in terminal.getvalue()
    assert terminal.getvalue().endswith("\r"), "the bar is cleared when done"


def test_no_bar_when_standard_error_is_not_a_terminal(small_history: str) -> None:
    status, _, err = run("timeline", "--policy", "halton", "--history", small_history, "--from", "2024-02-01",
                         "--to", AS_OF)
    assert (status, err) == (0, "")


# --- Ctrl-C -------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    """The child processes of ``pid``."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


def _cpu_seconds(pid: int) -> float:
    """CPU time used so far by ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll ``condition`` until it holds."""
    stop = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < stop, "timed out"
        time.sleep(0.05)


def _running(pid: int) -> bool:
    """True while ``pid`` runs (not gone, not a zombie)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.fixture(scope="module")
def long_history(tmp_path_factory: pytest.TempPathFactory) -> str:
    """2,000 generated pupils over a year (CSV): a year's timeline of them takes many seconds,
    however fast replays become, so a Ctrl-C always lands mid-run."""
    from attendance_rules.registers.sample import generate_pupils, write_csv

    folder = tmp_path_factory.mktemp("long")
    school = {"id": "LA", "name": "Generated", "settings": {"traded_ews": True}}
    write_csv({"school": school, "pupils": generate_pupils(2000, dt.date(2023, 9, 1), dt.date(2024, 7, 19), seed=3)},
              folder)
    return str(folder)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
@pytest.mark.parametrize("jobs, group", [("1", False), ("2", False), ("2", True)])
def test_ctrl_c_exits_130_without_traceback_or_workers(jobs: str, group: bool, long_history: str) -> None:
    """SIGINT to the command alone, or (as Ctrl-C in a terminal does) to its whole process group."""
    cmd = [sys.executable, "-m", "attendance_rules", "timeline", "--policy", "halton", "--history", long_history,
           "--from", "2023-09-01", "--to", "2024-07-19", "--jobs", jobs]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, start_new_session=True)
    try:
        if jobs == "1":  # past the imports and the loading: replaying
            _wait_for(lambda: _cpu_seconds(proc.pid) > 2.0)
            workers: list[int] = []
        else:  # the workers are running
            _wait_for(lambda: len(_children(proc.pid)) >= 2)
            workers = _children(proc.pid)
            time.sleep(0.5)
        if group:
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    text = err.decode()
    assert proc.returncode == 130, text
    assert "Traceback" not in text and text == "attendance-rules: interrupted\n"
    _wait_for(lambda: not any(_running(w) for w in workers), timeout=5)


def test_workers_start_from_the_fork_server_while_other_threads_run(small_history: str) -> None:
    """A fork with other threads alive can deadlock (Python 3.12+ warns): the pool must not
    fork then, and the results must be those of one process all the same."""
    import threading
    import warnings

    from attendance_rules.scale.parallel import pool_context

    pupils = list(load_history(small_history))
    task = PupilTask(_setup_offset, _describe, (7,))
    alone = list(map_pupils(task, pupils, jobs=1))
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()
    try:
        assert pool_context().get_start_method() == "forkserver"
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)
            pooled = list(map_pupils(task, pupils, jobs=2, chunk_size=3))
    finally:
        stop.set()
        other.join()
    assert pooled == alone
    # once alone again (the OS's count: pyarrow's or BLAS's pools may still run), fork is safe
    if sys.platform.startswith("linux") and len(os.listdir("/proc/self/task")) == 1:
        assert pool_context().get_start_method() == "fork"
