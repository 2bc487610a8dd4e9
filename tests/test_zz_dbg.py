import pytest
pytest.importorskip("hypothesis")
from pathlib import Path
from attendance_rules.properties import check_properties
HERE = Path(__file__).resolve().parent
PLANTED = HERE / "assurance_policies"

def test_a():
    policy = str(PLANTED / "non_monotone_stage.yaml")
    report = check_properties(policy, examples=60, seed=0, max_seconds=300, names=["a"], shrink=False)
    print(policy, report.render()[:200])
    assert report.results[0].counterexample is not None

def test_b():
    report = check_properties("/work/main/tests/assurance_policies/non_monotone_stage.yaml", examples=60, seed=0, max_seconds=300, names=["a"], shrink=False)
    assert report.results[0].counterexample is not None
