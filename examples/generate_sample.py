"""Regenerate the committed sample data: ``python examples/generate_sample.py``.

Writes ``examples/sample/history.json`` and ``examples/sample/csv/*.csv`` from
``generate_cohort(300, 2023-09-01, 2024-12-20, seed=2024)``. Works without installing
the package; the output is byte-identical on every run.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from attendance_rules.registers.sample import generate_cohort, write_csv, write_json  # noqa: E402

N_PUPILS, START, END, SEED = 300, dt.date(2023, 9, 1), dt.date(2024, 12, 20), 2024


def main() -> None:
    """Generate the sample cohort and write it as JSON and CSV under examples/sample/."""
    history = generate_cohort(N_PUPILS, START, END, seed=SEED)
    out = ROOT / "examples" / "sample"
    write_json(history, out / "history.json")
    write_csv(history, out / "csv")
    print(f"wrote {len(history['pupils'])} pupils to {out.relative_to(ROOT)}/")


if __name__ == "__main__":
    main()
