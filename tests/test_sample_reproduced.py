"""The committed sample is what its generator writes, byte for byte.

Every worked example, README command and expected output is computed from
examples/sample; if the generator drifted (a seed string rewritten when a module moved, a
draw reordered), regenerating the sample would silently change them all.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "sample"


def _generator():
    spec = importlib.util.spec_from_file_location("generate_sample", ROOT / "examples" / "generate_sample.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_regenerating_the_sample_gives_the_committed_files(tmp_path: Path) -> None:
    from attendance_rules.registers.sample import generate_cohort, write_csv, write_json

    script = _generator()
    history = generate_cohort(script.N_PUPILS, script.START, script.END, seed=script.SEED)
    write_json(history, tmp_path / "history.json")
    write_csv(history, tmp_path / "csv")
    committed = sorted(p.relative_to(SAMPLE) for p in SAMPLE.rglob("*") if p.is_file())
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert written == committed
    for name in committed:
        assert (tmp_path / name).read_bytes() == (SAMPLE / name).read_bytes(), name
