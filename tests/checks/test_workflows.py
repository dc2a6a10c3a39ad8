"""The workflows check against its marker fixtures (tests/fixtures/checks/workflows/)."""

from __future__ import annotations

from pathlib import Path

from . import harness


def test_fixtures(tmp_path: Path) -> None:
    harness.run("workflows", tmp_path)
