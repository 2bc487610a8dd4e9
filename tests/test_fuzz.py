"""The project's own fuzz suite (issue 12, item 5) and a regression test per issue example.

Only the documented contract is asserted, never wording:

- library loaders (histories, policies, case files, calendars) succeed or raise an
  ``AttendanceRulesError`` subclass carrying at least one located ``Problem``;
- the command line exits 0, 1 or 2 (130 only for Ctrl-C), never 3, never lets an
  exception escape ``main`` and never prints "Traceback";
- row accounting: a valid history is read whole (read = used, nothing reported); any
  history reads ``read = used + reported`` with a problem for each reported row kind;
- no single call takes more than ``CALL_SECONDS``. This is a robustness bound (a call on a
  tiny input that runs for seconds is stuck or quadratic), not a performance assertion.

Runs in about a minute with derandomized examples (deterministic in CI). Set
``ATTENDANCE_RULES_FUZZ=long`` for ~50x the examples from a random seed (docs/fuzzing.md).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import random
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from fuzz_strategies import (
    CASE_TEXT,
    POLICY_TEXT,
    ROOT,
    argv_vectors,
    doc_as_csv,
    mutate_csv,
    mutate_json,
    mutate_yaml,
    plausible_argv,
    row_counts,
    sample_csv_files,
    sample_doc,
    valid_history_docs,
)
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from attendance_rules.assurance.checks import validate_paths
from attendance_rules.cli import main
from attendance_rules.engine.compiled import load_policy
from attendance_rules.exceptions import (
    AttendanceRulesError,
    InputError,
    Location,
    PolicyError,
)
from attendance_rules.registers.calendar import load_calendar
from attendance_rules.registers.readers import load_history, read_history
from attendance_rules.replay.cases import load_case, run_case

LONG = os.environ.get("ATTENDANCE_RULES_FUZZ", "") == "long"
CALL_SECONDS = 5.0  # robustness bound per call, see the module docstring
ALARM_SECONDS = 30  # a call still running after this is stopped, so a hang fails instead of blocking CI
AS_OF = dt.date(2023, 10, 20)
EXIT_OK = (0, 1, 2)


def fuzz(examples: int) -> settings:
    """Settings of one fuzz test: ``examples`` in CI (derandomized), ~50x under FUZZ=long.

    CI does not shrink a failing example (shrinking a mutated file can take minutes) and stops
    at the first bug; the long run shrinks, so what it reports is a minimal reproducer.
    """
    phases = tuple(Phase) if LONG else (Phase.explicit, Phase.reuse, Phase.generate)
    return settings(max_examples=examples * 50 if LONG else examples, deadline=None, derandomize=not LONG,
                    database=None, print_blob=LONG, phases=phases, report_multiple_bugs=LONG,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture, HealthCheck.large_base_example])


# --- the contract --------------------------------------------------------------------


class TooSlow(BaseException):
    """Raised by the alarm in a call that runs past ALARM_SECONDS (not an Exception: nothing catches it)."""


def _alarm(signum: int, frame: Any) -> None:
    """SIGALRM handler: stop the stuck call."""
    raise TooSlow(f"still running after {ALARM_SECONDS} s")


@contextlib.contextmanager
def bounded(what: str) -> Iterator[None]:
    """Run the block under an alarm and fail if it took longer than CALL_SECONDS."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(ALARM_SECONDS)
    start = time.perf_counter()
    try:
        yield
    except TooSlow as stop:
        raise AssertionError(f"{what}: {stop}") from None
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    elapsed = time.perf_counter() - start
    assert elapsed <= CALL_SECONDS, f"{what} took {elapsed:.1f} s (robustness bound {CALL_SECONDS} s)"


def assert_located(error: AttendanceRulesError) -> None:
    """An error carries problems and at least one says where (file, line or pointer)."""
    assert error.problems, f"{type(error).__name__} without problems"
    assert any(p.location != Location() for p in error.problems), f"no problem is located: {error}"


def call(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` under the library contract: its result, or the located error it raised."""
    with bounded(getattr(fn, "__name__", "call")):
        try:
            return fn(*args)
        except AttendanceRulesError as error:
            assert_located(error)
            return error
        except Exception as error:  # anything else is a bug: say which, briefly
            raise AssertionError(f"{fn.__name__} raised {type(error).__name__}: {str(error)[:300]}") from error


class Run(NamedTuple):
    """One command-line run: exit status and what it printed."""

    status: int
    out: str
    err: str

    @property
    def text(self) -> str:
        """Everything printed (validate prints its problems on standard output)."""
        return self.out + self.err


def cli(argv: list[str]) -> Run:
    """``main(argv)`` in process under the CLI contract (status 0/1/2, no traceback, no escape)."""
    out, err = io.StringIO(), io.StringIO()
    with bounded(" ".join(a[:40] for a in argv)), contextlib.redirect_stdout(io.StringIO()):
        try:
            status = main(argv, out, err)
        except Exception as error:
            raise AssertionError(f"{type(error).__name__} escaped main({argv!r:.200}): {str(error)[:300]}") from error
    run = Run(status, out.getvalue(), err.getvalue())
    assert status in EXIT_OK, f"exit {status} for {argv!r:.200}: {run.err[-600:]}"
    assert "Traceback" not in run.text, f"traceback for {argv!r:.200}: {run.text[-600:]}"
    return run


def cli_subprocess(argv: list[str], cwd: Path, memory: int | None = None) -> Run:
    """The CLI as a separate process (optionally with an address-space cap in bytes)."""
    def cap() -> None:
        if memory:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    done = subprocess.run([sys.executable, "-m", "attendance_rules", *argv], check=False, cwd=cwd,
                          capture_output=True, text=True, timeout=120, preexec_fn=cap, env={**os.environ, "PYTHONPATH": str(ROOT)})
    run = Run(done.returncode, done.stdout, done.stderr)
    assert run.status in EXIT_OK, f"exit {run.status} for {argv!r:.200}: {run.err[-600:]}"
    assert "Traceback" not in run.text, f"traceback for {argv!r:.200}: {run.text[-600:]}"
    return run


def check_accounting(history: Any, report: Any) -> None:
    """read = used + reported; rows reported come with problems; the history holds the used marks."""
    for kind, read in report.read.items():
        assert 0 <= report.used[kind] <= read
        assert read == report.used[kind] + report.reported[kind]
    if any(report.reported.values()):
        assert report.problems, f"rows reported without a problem: {report.reported}"
    assert all(p.location != Location() for p in report.problems), [str(p) for p in report.problems[:3]]
    marks = sum(len(p.register) for p in history)
    assert marks == report.used["marks"]


def read_all(paths: list[Path], policy: Any) -> None:
    """Read a history leniently and strictly, and evaluate it when it loads: all under the contract."""
    result = call(read_history, paths)
    if not isinstance(result, AttendanceRulesError):
        check_accounting(*result)
    history = call(load_history, paths)
    if not isinstance(history, AttendanceRulesError):
        call(policy.evaluate, history, AS_OF)


# --- shared inputs ---------------------------------------------------------------------


def write_files(folder: Path, files: dict[str, bytes]) -> Path:
    """Write ``{name: bytes}`` into ``folder`` (made if needed) and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Valid and broken files for the command-line fuzzers, by role (absolute paths)."""
    root = tmp_path_factory.mktemp("fuzz_inputs")
    (root / "history.json").write_text(json.dumps(sample_doc()), encoding="utf-8")
    write_files(root / "csv", sample_csv_files())
    (root / "broken.json").write_bytes(b'{"pupils": [{"id": "P1", "marks": [{"date": "2023-13-01"}]}]}\xff')
    (root / "fz.yaml").write_text(POLICY_TEXT, encoding="utf-8")
    (root / "broken.yaml").write_text(POLICY_TEXT.replace("unauth >= limit", "unauth >= nothing"), encoding="utf-8")
    (root / "case.case.yaml").write_text(CASE_TEXT, encoding="utf-8")
    (root / "terms.csv").write_text("name,start,end\nautumn,2023-09-04,2023-12-20\n", encoding="utf-8")
    (root / "decision.json").write_text(json.dumps({"as_of": "2023-10-20", "policy": {"id": "fz"}, "pupils": []}))
    paths = {"history": "history.json", "csv": "csv", "broken_history": "broken.json", "policy": "fz.yaml",
             "broken_policy": "broken.yaml", "case": "case.case.yaml", "calendar": "terms.csv",
             "decision": "decision.json", "dir": "."}
    return {role: str(root / name) for role, name in paths.items()}


@pytest.fixture(scope="module")
def fz_policy(inputs: dict[str, str]) -> Any:
    """The fuzz policy, compiled once."""
    return load_policy(inputs["policy"])


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    """A fresh directory for one example (hypothesis reuses function fixtures across examples)."""
    with tempfile.TemporaryDirectory(prefix="fuzz") as name:
        yield Path(name)


# --- histories -----------------------------------------------------------------------


@fuzz(40)
@given(doc=valid_history_docs())
def test_generated_histories_are_read_whole(doc: dict) -> None:
    """A valid history, as JSON and as a CSV folder, is read whole: read = used, nothing reported."""
    with scratch() as folder:
        (folder / "h.json").write_text(json.dumps(doc), encoding="utf-8")
        csv_dir = write_files(folder / "csv", doc_as_csv(doc))
        registers = []
        for paths in ([folder / "h.json"], [csv_dir]):
            history, report = call(read_history, paths)
            assert not report.problems, [str(p) for p in report.problems[:3]]
            assert report.read == report.used == row_counts(doc)
            registers.append([(p.id, p.register, p.flags, len(p.events)) for p in history])
        assert registers[0] == registers[1], "JSON and CSV forms of one register differ"


@fuzz(60)
@given(base=st.sampled_from(("sample", "generated")), generated=valid_history_docs(),
       rnd=st.randoms(use_true_random=False), rounds=st.integers(1, 3))
def test_mutated_json_histories(base: str, generated: dict, rnd: random.Random, rounds: int, fz_policy: Any) -> None:
    """A mutated JSON history loads, or is refused with located problems; never a crash."""
    doc = sample_doc() if base == "sample" else generated
    with scratch() as folder:
        path = folder / "history.json"
        path.write_bytes(mutate_json(doc, rnd, rounds))
        read_all([path], fz_policy)


@fuzz(60)
@given(base=st.sampled_from(("sample", "generated")), generated=valid_history_docs(),
       rnd=st.randoms(use_true_random=False), rounds=st.integers(1, 3))
def test_mutated_csv_folders(base: str, generated: dict, rnd: random.Random, rounds: int, fz_policy: Any) -> None:
    """A mutated CSV folder loads, or is refused with located problems; never a crash."""
    files = sample_csv_files() if base == "sample" else doc_as_csv(generated)
    with scratch() as folder:
        write_files(folder / "csv", mutate_csv(files, rnd, rounds))
        read_all([folder / "csv"], fz_policy)


PUPIL_KEYS = ("id", "flags", "marks", "events", "date_of_birth", "year_group")
MARK_KEYS = ("date", "session", "code")


@fuzz(25)
@given(where=st.sampled_from(("pupil", "mark", "school")), index=st.integers(0, 2),
       key=st.sampled_from(PUPIL_KEYS + MARK_KEYS), typo=st.sampled_from(("Marks", "flag", "Code", "x", "dob")))
def test_unknown_keys_in_a_history_are_located_errors(where: str, index: int, key: str, typo: str) -> None:
    """Issue 12 item 2: an unknown key in a pupil, mark or school object is a located error."""
    doc = sample_doc()
    target, pointer = {
        "pupil": (doc["pupils"][index], f"/pupils/{index}"),
        "mark": (doc["pupils"][index]["marks"][3], f"/pupils/{index}/marks/3"),
        "school": (doc["school"], "/school"),
    }[where]
    target[typo] = target.pop(key) if key in target else True
    with scratch() as folder:
        path = folder / "history.json"
        path.write_text(json.dumps(doc), encoding="utf-8")
        error = call(load_history, [path])
    assert isinstance(error, InputError), f"{typo!r} in the {where} at {pointer} was accepted"
    assert any(p.location.pointer.startswith(pointer) for p in error.problems), [str(p) for p in error.problems]


# --- policies and case files -----------------------------------------------------------


@fuzz(60)
@given(rnd=st.randoms(use_true_random=False), rounds=st.integers(1, 3))
def test_mutated_policies(rnd: random.Random, rounds: int) -> None:
    """A mutated policy validates with located problems, loads or is refused, and evaluates."""
    with scratch() as folder:
        path = folder / "fz.yaml"
        path.write_bytes(mutate_yaml(POLICY_TEXT, rnd, rounds))
        problems = call(validate_paths, [path])
        assert isinstance(problems, list) and all(p.location != Location() for p in problems)
        policy = call(load_policy, path)
        if not isinstance(policy, AttendanceRulesError):
            history = load_history(write_files(folder / "csv", sample_csv_files()))
            call(policy.evaluate, history, AS_OF)


@fuzz(40)
@given(rnd=st.randoms(use_true_random=False), rounds=st.integers(1, 3))
def test_mutated_case_files(rnd: random.Random, rounds: int) -> None:
    """A mutated case file loads and runs, or is refused with located problems."""
    with scratch() as folder:
        (folder / "fz.yaml").write_text(POLICY_TEXT, encoding="utf-8")
        path = folder / "x.case.yaml"
        path.write_bytes(mutate_yaml(CASE_TEXT, rnd, rounds))
        case = call(load_case, path)
        if not isinstance(case, AttendanceRulesError):
            call(run_case, case)


@fuzz(25)
@given(rnd=st.randoms(use_true_random=False))
def test_mutated_calendars(rnd: random.Random) -> None:
    """A mutated term-dates file loads or is refused with located problems."""
    files = {"terms.csv": b"name,start,end\nautumn 2023,2023-09-04,2023-12-20\nspring 2024,2024-01-04,2024-03-28\n"}
    with scratch() as folder:
        write_files(folder, mutate_csv(files, rnd, rnd.randint(1, 3)))
        if (folder / "terms.csv").exists():
            call(load_calendar, folder / "terms.csv")


# --- command lines -----------------------------------------------------------------------


@pytest.fixture
def in_scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in a scratch directory, so a fuzzed ``--output`` cannot write into the checkout."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@fuzz(80)
@given(data=st.data())
def test_random_command_lines(data: st.DataObject, inputs: dict[str, str], in_scratch: Path) -> None:
    """Any argument vector: exit 0, 1 or 2, no traceback."""
    cli(data.draw(argv_vectors(inputs)))


@fuzz(60)
@given(data=st.data())
def test_plausible_command_lines(data: st.DataObject, inputs: dict[str, str], in_scratch: Path) -> None:
    """Command lines that reach each command with valid, broken and odd inputs: exit 0, 1 or 2."""
    cli(data.draw(plausible_argv(inputs)))


@pytest.mark.parametrize("argv", [
    ["evaluate", "--policy", "{policy}", "--history", "{broken_history}", "--as-of", "2023-10-20"],
    ["evaluate", "--policy", "{broken_policy}", "--history", "{history}", "--as-of", "2023-10-20"],
    ["explain", "--policy", "{policy}", "--history", "{csv}", "--as-of", "2023-10-20", "--pupil", "P404"],
    ["validate", "{broken_policy}", "{policy}"],
    ["test", "{case}"],
])
def test_command_lines_in_a_process(argv: list[str], inputs: dict[str, str], tmp_path: Path) -> None:
    """The same contract through a real process (exit status and output as a shell sees them)."""
    cli_subprocess([a.format(**inputs) for a in argv], tmp_path)


# --- issue 12: one regression test per example ---------------------------------------------


def history_file(folder: Path, doc: dict | None = None, text: str | None = None) -> Path:
    """A history.json in ``folder`` from a document (default: the small sample) or raw text."""
    path = folder / "history.json"
    path.write_text(text if text is not None else json.dumps(doc if doc is not None else sample_doc()),
                    encoding="utf-8")
    return path


def policy_file(folder: Path, old: str = "", new: str = "") -> Path:
    """fz.yaml in ``folder``, with ``old`` replaced by ``new`` (which must be there)."""
    assert old in POLICY_TEXT
    path = folder / "fz.yaml"
    path.write_text(POLICY_TEXT.replace(old, new, 1), encoding="utf-8")
    return path


def evaluate_argv(history: Path | str, policy: Path | str = "", as_of: str = "2023-10-20", *extra: str) -> list[str]:
    """``evaluate`` of a history with a policy (default: the fuzz policy next to the history)."""
    policy = policy or policy_file(Path(history).parent if Path(history).suffix else Path(history))
    return ["evaluate", "--policy", str(policy), "--history", str(history), "--as-of", as_of, "--jobs", "1", *extra]


def refused(run: Run, *names: str, status: tuple[int, ...] = (1,)) -> None:
    """The run exited as the issue says and its message names each of ``names`` (file, key …)."""
    assert run.status in status, f"exit {run.status}, expected {status}: {run.text[-600:]}"
    for name in names:
        assert name in run.text, f"{name!r} not named in: {run.text[-600:]}"


def refused_history(path: Path, pointer: str = "") -> InputError:
    """``load_history`` refuses the file with a located problem (at ``pointer`` when given)."""
    error = call(load_history, [path])
    assert isinstance(error, InputError), f"{path.name} was accepted"
    if pointer:
        assert any(p.location.pointer.startswith(pointer) for p in error.problems), [str(p) for p in error.problems]
    return error


def with_pupil(change: Callable[[dict], None]) -> dict:
    """The small sample with ``change`` applied to its pupil P00004 (the one with events)."""
    doc = sample_doc()
    change(next(p for p in doc["pupils"] if p["id"] == "P00004"))
    return doc


def pupil_pointer(doc: dict) -> str:
    """The JSON pointer of P00004 in the small sample."""
    return f"/pupils/{[p['id'] for p in doc['pupils']].index('P00004')}"


class TestIssueExamples:
    """Each concrete example of issue 12 items 2, 3 and 4 gives a located error or a correct answer."""

    # item 2: input silently ignored

    def test_pupil_key_Marks(self, tmp_path: Path) -> None:
        """A pupil key "Marks" is a located error, not a pupil with no marks."""
        doc = with_pupil(lambda p: p.update(Marks=p.pop("marks")))
        path = history_file(tmp_path, doc)
        refused_history(path, pupil_pointer(doc))
        refused(cli(evaluate_argv(path)), path.name)

    def test_pupil_key_flag(self, tmp_path: Path) -> None:
        """A pupil key "flag" is a located error, not a pupil with no flags."""
        doc = with_pupil(lambda p: p.update(flag=["social_worker"]))
        path = history_file(tmp_path, doc)
        refused_history(path, pupil_pointer(doc))
        refused(cli(evaluate_argv(path)), path.name)

    def test_missing_pupils_csv_is_said(self, tmp_path: Path) -> None:
        """A CSV folder without pupils.csv says so (every flag would be lost)."""
        files = sample_csv_files()
        del files["pupils.csv"]
        folder = write_files(tmp_path / "csv", files)
        refused(cli(evaluate_argv(folder, policy_file(tmp_path))), "pupils.csv", status=(0, 1))

    def test_missing_flags_column_is_said(self, tmp_path: Path) -> None:
        """A pupils.csv without a flags column says so."""
        files = sample_csv_files()
        files["pupils.csv"] = b"".join(line.rsplit(b",", 1)[0] + b"\n" for line in files["pupils.csv"].splitlines())
        folder = write_files(tmp_path / "csv", files)
        refused(cli(evaluate_argv(folder, policy_file(tmp_path))), "flags", status=(0, 1))

    @pytest.mark.parametrize("settings_", [{"tradedews": True}, {"traded_ews": "yes"}], ids=["tradedews", "yes"])
    def test_school_settings_checked(self, tmp_path: Path, settings_: dict) -> None:
        """A misspelt or mistyped school setting is a located error naming it."""
        doc = sample_doc()
        doc["school"]["settings"] = settings_
        path = history_file(tmp_path, doc)
        refused(cli(evaluate_argv(path, "halton")), path.name, next(iter(settings_)))

    def test_event_type_letter_sentt(self, tmp_path: Path) -> None:
        """An unknown event type is a located error naming it."""
        doc = with_pupil(lambda p: p["events"][0].update(type="letter_sentt"))
        path = history_file(tmp_path, doc)
        refused(cli(evaluate_argv(path, "halton", "2023-12-01")), path.name, "letter_sentt")

    def test_event_action_stage1_leter_names_the_nearest(self, tmp_path: Path) -> None:
        """An event's unknown action is reported with the nearest action id."""
        doc = with_pupil(lambda p: p["events"][0].update(action="stage1_leter"))
        path = history_file(tmp_path, doc)
        run = cli(evaluate_argv(path, "halton", "2023-12-01"))
        refused(run, path.name, "stage1_leter", "stage1_letter", status=(0, 1))

    def test_undeclared_school_setting_in_a_condition(self, tmp_path: Path) -> None:
        """school.X in a condition must be a declared setting."""
        path = policy_file(tmp_path, "when: concern and not social_worker", "when: concern and school.traded_ewss")
        refused(cli(["validate", str(path)]), "fz.yaml:", "traded_ewss")
        assert isinstance(call(load_policy, path), PolicyError)

    def test_minutes_late_1_5_is_not_truncated(self, tmp_path: Path) -> None:
        """minutes_late 1.5 is refused at its mark, never truncated."""
        doc = with_pupil(lambda p: p["marks"][0].update(code="L", minutes_late=1.5))
        refused_history(history_file(tmp_path, doc), pupil_pointer(doc) + "/marks/0")

    # item 3: validate passes values that cannot work

    @pytest.mark.parametrize(("old", "new"), [
        ("value: 10", "value: ten"),
        ("value: 10", "value: -5"),
        ("within_school_days: 10", "within_school_days: 1000000000"),
        ("window: last 10 school weeks", "window: last 99999999 school weeks"),
        ("effective_from: 2020-09-01", "effective_from: 0001-01-01"),
    ], ids=["ten", "minus5", "within_1e9", "window_99999999_weeks", "effective_0001"])
    def test_validate_refuses_values_that_cannot_work(self, tmp_path: Path, old: str, new: str) -> None:
        """validate refuses a value that cannot work, at its line."""
        refused(cli(["validate", str(policy_file(tmp_path, old, new))]), "fz.yaml:")

    # item 4: tracebacks

    def test_json_1e999_year_group(self, tmp_path: Path) -> None:
        """JSON 1e999 as a year group is a located problem, not an OverflowError."""
        text = json.dumps(sample_doc()).replace('"year_group": 3', '"year_group": 1e999', 1)
        assert "1e999" in text
        path = history_file(tmp_path, text=text)
        refused_history(path, "/pupils/0")
        refused(cli(evaluate_argv(path)), path.name)

    def test_json_1e999_minutes_late(self, tmp_path: Path) -> None:
        """JSON 1e999 as minutes late is a located problem."""
        text = json.dumps(sample_doc()).replace('"session": "AM"', '"session": "AM", "minutes_late": 1e999', 1)
        refused_history(history_file(tmp_path, text=text), "/pupils/0/marks/0")

    @pytest.mark.parametrize("depth", [1_000, 100_000])
    def test_json_deep_nesting(self, tmp_path: Path, depth: int) -> None:
        """Deeply nested JSON is refused with a location, not a RecursionError."""
        text = json.dumps(sample_doc()).replace('"events": []', '"events": ' + "[" * depth + "]" * depth, 1)
        path = history_file(tmp_path, text=text)
        refused_history(path)
        refused(cli(evaluate_argv(path)), path.name)

    def test_json_4301_digit_integer(self, tmp_path: Path) -> None:
        """An integer of 4,301 digits in JSON is a located problem."""
        text = json.dumps(sample_doc()).replace('"year_group": 3', '"year_group": ' + "3" * 4301, 1)
        path = history_file(tmp_path, text=text)
        refused_history(path)
        refused(cli(evaluate_argv(path)), path.name)

    def test_yaml_4301_digit_integer(self, tmp_path: Path) -> None:
        """An integer of 4,301 digits in a policy is a located problem."""
        path = policy_file(tmp_path, "value: 10", "value: " + "1" * 4301)
        refused(cli(["validate", str(path)]), "fz.yaml:")
        assert isinstance(call(load_policy, path), PolicyError)

    def test_nan_school_setting_is_located_in_the_history(self, tmp_path: Path) -> None:
        """A NaN school setting is reported against the history file."""
        text = json.dumps(sample_doc()).replace('"traded_ews": true', '"traded_ews": NaN', 1)
        assert "NaN" in text
        path = history_file(tmp_path, text=text)
        refused(cli(evaluate_argv(path, "halton")), path.name)

    def test_non_utf8_byte_in_csv(self, tmp_path: Path) -> None:
        """A non-UTF-8 byte in marks.csv is a located problem."""
        files = sample_csv_files()
        files["marks.csv"] = files["marks.csv"].replace(b"P00001,2023-09-05,AM,/", b"P00001,2023-09-05,AM,\xff", 1)
        folder = write_files(tmp_path / "csv", files)
        error = refused_history(folder)
        assert any(p.location.file.endswith("marks.csv") for p in error.problems)
        refused(cli(evaluate_argv(folder, policy_file(tmp_path))), "marks.csv")

    def test_non_utf8_byte_in_calendar(self, tmp_path: Path) -> None:
        """A non-UTF-8 byte in a term-dates file is a located problem."""
        calendar = tmp_path / "terms.csv"
        calendar.write_bytes(b"name,start,end\nautumn \xff,2023-09-04,2023-12-20\n")
        assert isinstance(call(load_calendar, calendar), InputError)
        refused(cli(evaluate_argv(history_file(tmp_path), "", "2023-10-20", "--calendar", str(calendar))), "terms.csv")

    def test_csv_field_over_131072_characters(self, tmp_path: Path) -> None:
        """A CSV field over the csv module's limit is a located problem."""
        files = sample_csv_files()
        files["marks.csv"] += b"P00001,2023-10-23,AM," + b"/" * 140_000 + b",\n"
        folder = write_files(tmp_path / "csv", files)
        error = refused_history(folder)
        assert any(p.location.file.endswith("marks.csv") for p in error.problems)

    def test_as_of_0001_01_01(self, tmp_path: Path) -> None:
        """--as-of 0001-01-01 warns (outside the data) and crashes nothing."""
        history = history_file(tmp_path)
        run = cli(evaluate_argv(history, "", "0001-01-01"))
        assert run.err.strip(), "an --as-of outside the data gives a warning on stderr"
        cli(["measures", "--history", str(history), "--as-of", "0001-01-01"])

    def test_case_register_to_9999_12_31(self, tmp_path: Path) -> None:
        """A case register to 9999-12-31 is refused in bounded memory."""
        (tmp_path / "fz.yaml").write_text(POLICY_TEXT, encoding="utf-8")
        case = tmp_path / "far.case.yaml"
        case.write_text(CASE_TEXT.replace("to: 2023-10-20, code: present", "to: 9999-12-31, code: present"))
        # a separate process with 1 GiB of address space: the issue saw 1.5 GB taken first
        run = cli_subprocess(["test", str(case)], tmp_path, memory=1 << 30)
        refused(run, "far.case.yaml")

    def test_as_of_9999_12_27_with_a_due_date(self, tmp_path: Path) -> None:
        """Due dates near 9999 saturate or are refused, no OverflowError."""
        policy = policy_file(tmp_path, "when: concern and not social_worker", "when: not social_worker")
        for as_of in ("9999-12-27", "9999-12-31"):
            cli(evaluate_argv(history_file(tmp_path), policy, as_of))
            cli(evaluate_argv(history_file(tmp_path), "england", as_of))

    def test_horizon_999999999(self, tmp_path: Path) -> None:
        """A huge --horizon is a usage error or is saturated."""
        history = history_file(tmp_path)
        run = cli(evaluate_argv(history, "halton", "2023-10-20", "--horizon", "999999999"))
        assert run.status in (0, 2)
        run = cli(["explain", "--policy", "halton", "--history", str(history), "--as-of", "2023-10-20",
                   "--pupil", "P00004", "--why-not", "stage2_letter", "--horizon", "999999999"])
        assert run.status in (0, 2)

    def test_file_name_over_255_bytes(self, tmp_path: Path) -> None:
        """A file name over 255 bytes is a usage or input error, not an OSError."""
        name = str(tmp_path / ("h" * 300 + ".json"))
        refused(cli(evaluate_argv(name, policy_file(tmp_path))), status=(1, 2))
        refused(cli(["validate", str(tmp_path / ("p" * 300 + ".yaml"))]), status=(1, 2))
        refused(cli(evaluate_argv(history_file(tmp_path), tmp_path / ("p" * 300 + ".yaml"))), status=(1, 2))

    @pytest.mark.parametrize("calendar", ["missing.csv", "."], ids=["missing", "directory"])
    def test_calendar_missing_or_a_directory(self, tmp_path: Path, calendar: str) -> None:
        """--calendar naming nothing or a directory is an error, not an OSError."""
        run = cli(evaluate_argv(history_file(tmp_path), "", "2023-10-20", "--calendar", str(tmp_path / calendar)))
        refused(run, status=(1, 2) if calendar == "." else (2,))

    def test_policy_doc_output_into_a_missing_directory(self, tmp_path: Path) -> None:
        """policy doc --output into a missing directory names the path."""
        target = tmp_path / "no" / "such" / "handbook.md"
        refused(cli(["policy", "doc", str(policy_file(tmp_path)), "--output", str(target)]), "handbook.md",
                status=(1, 2))

    @pytest.mark.parametrize("damage", ["policy", "history", "library", "pupil_id"])
    def test_verify_with_a_malformed_decision(self, tmp_path: Path, damage: str) -> None:
        """verify refuses a decision whose parts have the wrong type, naming the file."""
        history = history_file(tmp_path)
        run = cli(evaluate_argv(history, "", "2023-10-20", "--format", "json"))
        decision = json.loads(run.out)
        if damage == "pupil_id":
            decision["pupils"][0]["pupil_id"] = ["P00001"]
        else:
            decision[damage] = [1, 2] if damage == "library" else 5
        path = tmp_path / "decision.json"
        path.write_text(json.dumps(decision), encoding="utf-8")
        policy = str(tmp_path / "fz.yaml")
        refused(cli(["verify", str(path), "--history", str(history), "--policy", policy]), "decision.json")

    def test_case_check_naming_an_unknown_pupil(self, tmp_path: Path) -> None:
        """A case check naming an unknown pupil is exit 1 at the case file's line."""
        (tmp_path / "fz.yaml").write_text(POLICY_TEXT, encoding="utf-8")
        case = tmp_path / "who.case.yaml"
        case.write_text(CASE_TEXT.replace("  - as_of: 2023-10-20\n", "  - as_of: 2023-10-20\n    pupil: P404\n"))
        run = cli(["test", str(case)])
        refused(run, "P404")
        assert re.search(r"who\.case\.yaml:\d+", run.text), run.text[-600:]


class TestFuzzFindings:
    """What the fuzz suite found beyond the examples the issue lists (minimal reproducers)."""

    def test_case_check_as_of_9999_12_31(self, tmp_path: Path) -> None:
        """A case check dated 9999-12-31: school-day arithmetic runs off the calendar."""
        (tmp_path / "fz.yaml").write_text(POLICY_TEXT, encoding="utf-8")
        case = tmp_path / "late.case.yaml"
        case.write_text(CASE_TEXT.replace("  - as_of: 2023-10-20\n", "  - as_of: 9999-12-31\n"), encoding="utf-8")
        loaded = call(load_case, case)
        if not isinstance(loaded, AttendanceRulesError):
            call(run_case, loaded)
        cli(["test", str(case)])
