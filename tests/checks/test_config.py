"""The config check against its marker fixtures (tests/fixtures/checks/config/)."""

from __future__ import annotations

from pathlib import Path

from . import harness


def test_fixtures(tmp_path: Path) -> None:
    harness.run("config", tmp_path)
