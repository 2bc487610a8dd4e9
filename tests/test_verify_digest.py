"""`verify` checks the data, not the bytes (issue 12, item 6): the history digest covers
the canonical content, so the same register saved as JSON or as a CSV folder verifies."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attendance_rules.cli import main
from attendance_rules.registers.canonical import history_digest
from attendance_rules.registers.readers import load_history, read_history_data
from attendance_rules.registers.sample import write_csv

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "sample" / "history.json"
AS_OF = "2024-02-09"


def run(*argv: str) -> tuple[int, str, str]:
    """Run the CLI in-process; exit status, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), out=out, err=err)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def sample_doc() -> dict:
    return json.loads(SAMPLE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def decision(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample's halton evaluation saved from the JSON history."""
    status, out, _ = run("evaluate", "--policy", "halton", "--history", str(SAMPLE), "--as-of", AS_OF,
                         "--format", "json", "--jobs", "1")
    assert status == 0
    path = tmp_path_factory.mktemp("decision") / "decision.json"
    path.write_text(out, encoding="utf-8")
    return path


def test_the_same_register_as_a_csv_folder_verifies(decision: Path, sample_doc: dict, tmp_path: Path) -> None:
    write_csv(sample_doc, tmp_path / "csv")
    status, out, err = run("verify", str(decision), "--history", str(tmp_path / "csv"))
    assert (status, err) == (0, "")
    assert out.startswith("reproduced exactly: 300 pupil(s), as of 2024-02-09, policy halton")


def test_the_json_file_rewritten_with_other_bytes_verifies(decision: Path, sample_doc: dict, tmp_path: Path) -> None:
    doc = json.loads(json.dumps(sample_doc))
    doc["pupils"].reverse()
    for pupil in doc["pupils"]:
        pupil["marks"].reverse()
    path = tmp_path / "other.json"
    path.write_text(json.dumps(doc, indent=4, sort_keys=True), encoding="utf-8")
    assert run("verify", str(decision), "--history", str(path))[0] == 0


def test_a_changed_mark_is_not_reproduced(decision: Path, sample_doc: dict, tmp_path: Path) -> None:
    doc = json.loads(json.dumps(sample_doc))
    mark = doc["pupils"][0]["marks"][0]
    mark["code"] = "O" if mark["code"] != "O" else "/"
    write_csv(doc, tmp_path / "csv")
    status, out, _ = run("verify", str(decision), "--history", str(tmp_path / "csv"))
    assert status == 1 and out.startswith("NOT REPRODUCED") and "history digest differs" in out


def test_the_digest_in_the_output_is_the_content_digest(decision: Path) -> None:
    saved = json.loads(decision.read_text(encoding="utf-8"))
    assert saved["history"]["digest"] == history_digest(load_history([str(SAMPLE)]))


def _small(doc: dict, n: int = 4) -> dict:
    return {"school": doc["school"], "pupils": [dict(p, marks=p["marks"][:30]) for p in doc["pupils"][:n]]}


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_order_does_not_count(sample_doc: dict, seed: int) -> None:
    """Pupils, marks, events and flags in any order: the same content, the same digest."""
    doc = _small(sample_doc)
    shuffled = json.loads(json.dumps(doc))
    rng = random.Random(seed)
    rng.shuffle(shuffled["pupils"])
    for pupil in shuffled["pupils"]:
        for key in ("marks", "events", "flags"):
            rng.shuffle(pupil.get(key, []))
    assert history_digest(read_history_data(doc, "a.json")[0]) == \
        history_digest(read_history_data(shuffled, "b.json")[0])


@pytest.mark.parametrize("change", [
    lambda d: d["pupils"][0]["marks"].pop(),
    lambda d: d["pupils"][0].setdefault("flags", []).append("looked_after"),
    lambda d: d["pupils"][1].update(id="P99999"),
    lambda d: d["school"]["settings"].update(traded_ews=not d["school"]["settings"]["traded_ews"]),
    lambda d: d["pupils"][0].setdefault("events", []).append({"date": "2024-01-08", "type": "home_visit"}),
])
def test_a_change_of_content_changes_the_digest(sample_doc: dict, change) -> None:
    doc = _small(sample_doc)
    changed = json.loads(json.dumps(doc))
    change(changed)
    assert history_digest(read_history_data(doc, "a.json")[0]) != \
        history_digest(read_history_data(changed, "a.json")[0])
