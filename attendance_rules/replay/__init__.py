"""Replays over time: timelines, policy-edit impact, cohorts, audits, case files and their
pytest plugin."""
