"""The sabotage check against its marker fixtures (tests/fixtures/checks/sabotage/)."""

from __future__ import annotations

from pathlib import Path

from . import harness


def test_fixtures(tmp_path: Path) -> None:
    harness.run("sabotage", tmp_path)
