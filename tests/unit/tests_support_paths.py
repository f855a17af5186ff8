"""Paths the unit tests share: the repository and its pipeline files."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PIPELINES = sorted((REPO / "pipelines").glob("*.py"))
