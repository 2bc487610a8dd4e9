"""The command line never shows a traceback (issue 12, item 4).

The contract: exit 1 for invalid input (a located problem), 2 for usage errors, 130 for
Ctrl-C (tests/test_cli_parallel.py), and anything else is a bug: exit 3 with "internal
error, please report" and one line, the traceback only under ``--debug``. Each example of
the issue that belongs to the command line has a test here.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attendance_rules.cli.app import EXIT_INTERNAL, main
from attendance_rules.engine.forward import add_school_days
from attendance_rules.engine.compiled import load_policy
from attendance_rules.engine.provenance import select_pupils
from attendance_rules.exceptions import (
    InputError,
    InputNotFoundError,
    NotFoundError,
    PolicyError,
    PolicyNotFoundError,
    UnknownNameError,
)
from attendance_rules.registers.readers import load_history
from attendance_rules.policy import source as yamlsource
from attendance_rules.registers.calendar import (
    EARLIEST_DATE,
    LATEST_DATE,
    add_weekdays,
    nth_school_day_after,
)

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = str(ROOT / "examples" / "sample" / "history.json")
AS_OF = "2024-02-09"


def run(*argv: str) -> tuple[int, str, str]:
    """Run the CLI in-process; exit status, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), out=out, err=err)
    return status, out.getvalue(), err.getvalue()


def evaluate(*extra: str) -> tuple[int, str, str]:
    """``evaluate`` of the sample under halton (one process), with ``extra`` arguments."""
    return run("evaluate", "--policy", "halton", "--history", SAMPLE, "--as-of", AS_OF, "--jobs", "1", *extra)


# --- a bug is exit 3, said once --------------------------------------------------------


def _broken(*args, **kwargs):
    raise ZeroDivisionError("injected")


def test_an_unexpected_exception_is_exit_3_without_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("attendance_rules.registers.readers.load_history", _broken)
    status, out, err = evaluate()
    assert status == EXIT_INTERNAL == 3
    assert "internal error, please report: ZeroDivisionError: injected" in err
    assert "Traceback" not in err and "--debug" in err
    assert len(err.splitlines()) == 2


def test_debug_shows_the_traceback_of_a_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("attendance_rules.registers.readers.load_history", _broken)
    status, _, err = run("--debug", "evaluate", "--policy", "halton", "--history", SAMPLE, "--as-of", AS_OF)
    assert status == 3
    assert "Traceback (most recent call last)" in err and "internal error, please report" in err


def test_a_key_error_of_a_bug_is_not_taken_for_a_missing_pupil(monkeypatch: pytest.MonkeyPatch) -> None:
    def lookup(*args, **kwargs):
        return {}["school"]

    monkeypatch.setattr("attendance_rules.registers.readers.load_history", lookup)
    status, _, err = evaluate()
    assert status == 3 and "KeyError" in err


def test_a_missing_pupil_is_a_usage_error_on_the_command_line() -> None:
    status, out, err = evaluate("--pupil", "NOPE")
    assert (status, out, err) == (2, "", "<command line>: error: no pupil 'NOPE' in the history\n")


def test_the_exit_status_follows_the_error_type_not_its_words(monkeypatch: pytest.MonkeyPatch) -> None:
    """A policy error that merely says "not found" is invalid input (1); a KeyError that reads
    like a lookup is a bug (3); only the NotFoundError types are the request's fault (2)."""
    def raising(error: BaseException):
        def load(*args, **kwargs):
            raise error
        return load

    cases = [
        (PolicyError("parent policy 'x' not found (cannot read it)"), 1),
        (KeyError("no pupil 'P1' in the history"), EXIT_INTERNAL),
        (UnknownNameError("no action 'x' in policy 'y'"), 2),
        (InputNotFoundError("history file not found"), 2),
    ]
    for error, expected in cases:
        monkeypatch.setattr("attendance_rules.registers.readers.load_history", raising(error))
        status, out, err = evaluate()
        assert (status, out) == (expected, ""), (error, err)


def test_a_missing_file_is_refused_by_type_before_anything_is_read(tmp_path: Path) -> None:
    bad = tmp_path / "history.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(InputNotFoundError) as raised:
        load_history([bad, tmp_path / "absent.json"])
    assert isinstance(raised.value, InputError) and isinstance(raised.value, NotFoundError)
    assert [p.message for p in raised.value.problems] == ["history file not found"]
    status, _, err = run("evaluate", "--policy", "halton", "--history", str(tmp_path / "absent.json"),
                         "--as-of", AS_OF)
    assert status == 2 and err.endswith("absent.json: error: history file not found\n")


def test_a_missing_policy_is_a_policy_error_and_a_not_found_error() -> None:
    with pytest.raises(PolicyNotFoundError) as raised:
        load_policy("no-such-policy")
    assert isinstance(raised.value, PolicyError) and isinstance(raised.value, NotFoundError)
    status, _, err = run("evaluate", "--policy", "no-such-policy", "--history", SAMPLE, "--as-of", AS_OF)
    assert status == 2 and "no policy 'no-such-policy' found" in err


def test_an_unknown_name_is_a_key_error_whose_text_is_not_quoted() -> None:
    history = load_history(SAMPLE)
    with pytest.raises(KeyError) as raised:
        select_pupils(history, ["NOPE"])
    assert isinstance(raised.value, UnknownNameError)
    assert str(raised.value) == "error: no pupil 'NOPE' in the history"


# --- dates at the ends of the calendar -------------------------------------------------


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-27", "1899-12-31", "2200-01-01"])
@pytest.mark.parametrize("command", [("evaluate", "--policy", "halton"), ("measures",)])
def test_an_as_of_outside_the_supported_dates_is_a_usage_error(day: str, command: tuple[str, ...],
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(*command, "--history", SAMPLE, "--as-of", day)
    assert (status, out, capsys.readouterr().err) == (2, "", "")  # usage goes to main's err stream
    assert f"{day} is outside the dates this tool works with, 1900-01-01 to 2199-12-31" in err
    assert "Traceback" not in err


def test_the_supported_dates_themselves_are_accepted() -> None:
    for day in (EARLIEST_DATE, LATEST_DATE):
        status, _, err = run("measures", "--history", SAMPLE, "--as-of", day.isoformat(), "--pupil", "P00001")
        assert (status, err) == (0, "")


@settings(max_examples=200, deadline=None)
@given(st.dates(), st.integers(min_value=-3, max_value=40))
def test_adding_school_days_counts_weekdays(day: dt.date, n: int) -> None:
    """The constant-time add_school_days is the day-by-day count, or 9999-12-31 beyond it."""
    expected = day
    try:
        left = n
        while left > 0:
            expected += dt.timedelta(days=1)
            left -= expected.weekday() < 5
    except OverflowError:
        expected = dt.date.max
    assert add_school_days(day, n) == add_weekdays(day, n) == expected


@pytest.mark.parametrize("n", [5, 10, 1_000_000_000, 10**30])
def test_due_dates_saturate_at_the_end_of_the_calendar(n: int) -> None:
    """`--as-of 9999-12-27` with a `within_school_days` due date: no OverflowError, no loop of n steps."""
    assert add_school_days(dt.date(9999, 12, 27), 1) == dt.date(9999, 12, 28)  # a Tuesday: still in the calendar
    assert add_school_days(dt.date(9999, 12, 27), n) == dt.date.max
    assert nth_school_day_after(dt.date(9999, 12, 27), n, [], dt.date(9999, 12, 27)) == dt.date.max


# --- arguments that used to crash ------------------------------------------------------


@pytest.mark.parametrize("value", ["999999999", "-1", "53", "six"])
def test_a_horizon_out_of_bounds_is_a_usage_error(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = evaluate("--horizon", value)
    assert (status, out, capsys.readouterr().err) == (2, "", "")  # usage goes to main's err stream
    assert "--horizon: expected a whole number of school weeks from 0 to 52" in err


@pytest.mark.parametrize("option", ["--history", "--policy", "--calendar"])
def test_a_file_name_over_255_bytes_is_a_located_usage_error(option: str) -> None:
    long = "a" * 300
    argv = {"--history": SAMPLE, "--policy": "halton", "--calendar": None}
    argv[option] = long
    status, out, err = run("evaluate", "--as-of", AS_OF, "--jobs", "1",
                           *[a for k, v in argv.items() if v for a in (k, v)])
    assert status == 2 and out == ""
    assert "Traceback" not in err and err.count("\n") == 1
    assert "error: cannot use this file: File name too long" in err or "--calendar names no readable file" in err
    assert "a" * 61 not in err  # the name is cut in the middle


@pytest.mark.parametrize("calendar", ["missing.csv", "."])
def test_a_calendar_that_is_missing_or_a_directory_is_a_usage_error(calendar: str, tmp_path: Path) -> None:
    status, out, err = evaluate("--calendar", str(tmp_path / calendar))
    assert (status, out) == (2, "")
    assert "--calendar names no readable file; found " + ("nothing" if calendar != "." else "a directory") in err
    assert err.startswith(str(tmp_path))


def test_policy_doc_into_a_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "handbook.md"
    status, out, err = run("policy", "doc", "halton", "--output", str(target))
    assert (status, out) == (2, "")
    assert err.startswith(str(target)[:60])
    assert "error: cannot write the output file: its folder does not exist" in err
    assert not (tmp_path / "no").exists()


# --- verify on a malformed decision ----------------------------------------------------


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The sample's evaluation of two pupils, as `evaluate --format json` saves it."""
    status, out, _ = run("evaluate", "--policy", "halton", "--history", SAMPLE, "--as-of", AS_OF, "--pupil",
                         "P00019", "--format", "json", "--jobs", "1")
    assert status == 0
    return json.loads(out)


@pytest.mark.parametrize(("change", "pointer", "found"), [
    (lambda d: d.update(policy="halton"), "/policy", "found str; expected an object"),
    (lambda d: d.update(history=[]), "/history", "found list; expected an object"),
    (lambda d: d.update(library=7), "/library", "found int; expected an object"),
    (lambda d: d["pupils"][0].update(pupil_id=["P00019"]), "/pupils/0/pupil_id", "found list"),
    (lambda d: d.update(as_of="soon"), "/as_of", "found 'soon'; expected a date"),
    (lambda d: d.pop("pupils"), "/pupils", "found nothing; expected a list"),
    (lambda d: d["policy"].update(id=None), "/policy/id", "found NoneType; expected text"),
])
def test_verify_locates_what_is_wrong_in_a_saved_decision(saved: dict, change, pointer: str, found: str,
                                                         tmp_path: Path) -> None:
    decision = json.loads(json.dumps(saved))
    change(decision)
    path = tmp_path / "decision.json"
    path.write_text(json.dumps(decision), encoding="utf-8")
    status, out, err = run("verify", str(path), "--history", SAMPLE)
    assert (status, out) == (1, "")
    assert err.startswith(f"{path} ({pointer}): error: not a saved evaluation; {found}")
    assert "Traceback" not in err


@pytest.mark.parametrize(("text", "found"), [
    ("{", "Expecting property name enclosed in double quotes"),
    ("[" * 100_000 + "]" * 100_000, "maximum recursion depth"),
    ('{"as_of": ' + "9" * 5000 + "}", "Exceeds the limit"),
])
def test_verify_of_a_file_that_is_not_json_is_located(text: str, found: str, tmp_path: Path) -> None:
    path = tmp_path / "decision.json"
    path.write_text(text, encoding="utf-8")
    status, _, err = run("verify", str(path), "--history", SAMPLE)
    assert status == 1 and err.startswith(str(path)) and found in err and "Traceback" not in err


def test_verify_of_a_pupil_missing_from_the_history_is_located_in_the_decision(saved: dict, tmp_path: Path) -> None:
    decision = json.loads(json.dumps(saved))
    decision["pupils"][0]["pupil_id"] = "NOPE"
    path = tmp_path / "decision.json"
    path.write_text(json.dumps(decision), encoding="utf-8")
    status, _, err = run("verify", str(path), "--history", SAMPLE)
    assert status == 1
    assert err.startswith(f"{path} (/pupils/0): error: pupil 'NOPE' is not in the history given")


# --- case files ------------------------------------------------------------------------

CASE = """\
name: edge
policy: halton
pupil:
  id: P1
  register:
    - {{from: 2023-09-04, to: {to}, code: present}}
checks:
  - as_of: 2024-01-26
    pupil: {pupil}
    recommended: []
"""


def write_case(tmp_path: Path, to: str = "2024-01-26", pupil: str = "P1") -> Path:
    path = tmp_path / "edge.case.yaml"
    path.write_text(CASE.format(to=to, pupil=pupil), encoding="utf-8")
    return path


def test_a_case_check_naming_an_unknown_pupil_is_an_input_error_at_the_check(tmp_path: Path) -> None:
    status, _, err = run("test", str(write_case(tmp_path, pupil="P2")))
    assert status == 1
    assert err.startswith(f"{tmp_path / 'edge.case.yaml'}:8:5: error: check names pupil 'P2', who is not in the "
                          "case's history; found 'P2'; expected one of P1")


def test_a_case_register_to_9999_is_refused_where_it_is_written(tmp_path: Path) -> None:
    status, _, err = run("test", str(write_case(tmp_path, to="9999-12-31")))
    assert status == 1
    assert err.startswith(f"{tmp_path / 'edge.case.yaml'}:6:7: error: 9999-12-31 is outside the dates")


def test_a_case_register_over_ten_years_is_refused_before_it_is_expanded(tmp_path: Path) -> None:
    status, _, err = run("test", str(write_case(tmp_path, to="2199-12-31")))
    assert status == 1
    days = (dt.date(2199, 12, 31) - dt.date(2023, 9, 4)).days + 1
    assert "6:7: error: a date range is too long to expand day by day; found 2023-09-04 to 2199-12-31, " \
           f"{days} days; expected at most 3653 days" in err


def test_a_valid_case_still_passes(tmp_path: Path) -> None:
    status, out, err = run("test", str(write_case(tmp_path)))
    assert (status, err) == (0, "") and out.startswith("1 passed")


# --- a NaN school setting (the history loader refuses it; coordinated by this test) ----


def test_a_nan_school_setting_is_located_in_the_history(tmp_path: Path) -> None:
    doc = json.loads(Path(SAMPLE).read_text(encoding="utf-8"))
    doc["school"]["settings"]["traded_ews"] = float("nan")
    path = tmp_path / "nan.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    status, _, err = evaluate_with(path)
    assert status == 1 and err.startswith(str(path)) and "policies" not in err.splitlines()[0]


def evaluate_with(history: Path) -> tuple[int, str, str]:
    return run("evaluate", "--policy", "halton", "--history", str(history), "--as-of", AS_OF, "--jobs", "1")


# --- YAML limits while composing -------------------------------------------------------


def test_a_yaml_file_of_too_many_values_is_refused_while_composing(monkeypatch: pytest.MonkeyPatch) -> None:
    """400,000 values just under the size cap: refused at value 100,001, before any tree is built."""
    text = "a: [" + ",".join(["1"] * 400_000) + "]\n"
    assert len(text.encode()) < yamlsource.MAX_BYTES

    def never(*args, **kwargs):
        raise AssertionError("the node tree was built")

    monkeypatch.setattr(yamlsource._Builder, "build", never)
    with pytest.raises(PolicyError) as caught:
        yamlsource.parse_yaml(text, "big.yaml")
    problem = caught.value.problem
    assert problem.message == f"more than {yamlsource.MAX_NODES} values"
    # the mapping, its key and the list are three values: the 100,001st is item 99,998 of the list
    assert (problem.location.line, problem.location.column) == (1, 5 + 2 * (yamlsource.MAX_NODES - 3))


def test_the_python_composer_counts_too_without_libyaml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr("yaml.CSafeLoader", raising=False)
    monkeypatch.setattr(yamlsource, "MAX_NODES", 1000)
    with pytest.raises(PolicyError) as caught:
        yamlsource.parse_yaml("a:\n" + "- 1\n" * 2000, "big.yaml")
    assert caught.value.problem.message == "more than 1000 values"
    assert caught.value.problem.location.line == 999  # mapping, key, list, then item 998 on line 999


@pytest.mark.parametrize("digits", [31, 4301, 100_000])
def test_a_yaml_integer_of_many_digits_is_a_located_error(digits: int) -> None:
    with pytest.raises(PolicyError) as caught:
        yamlsource.parse_yaml("id: x\nvalue: " + "7" * digits + "\n", "long.yaml")
    problem = caught.value.problem
    assert (problem.location.line, problem.location.column) == (2, 8)
    assert problem.message == "a whole number of more than 30 digits" and problem.found == f"{digits} digits"


def test_a_yaml_integer_of_30_digits_is_a_number() -> None:
    assert yamlsource.parse_yaml("value: " + "7" * 30 + "\n").data == {"value": int("7" * 30)}


# --- check after a plain install -------------------------------------------------------


def test_hypothesis_is_a_runtime_dependency_so_check_works_after_a_plain_install() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = [d.split(">")[0].split("=")[0].strip() for d in project["dependencies"]]
    assert "hypothesis" in names


def test_check_runs() -> None:
    status, out, err = run("check", "england", "--examples", "3", "--property", "a", "--quiet")
    assert status in (0, 1) and "Traceback" not in err and out.startswith("checking 1 behaviour property")
