"""ruff and mypy --strict are part of the suite (issue #15), so CI runs them.

The tools come from the running interpreter's environment, whose versions
requirements/ci.lock pins; their configuration is pyproject.toml's.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TREES = ["src", "tests", "scripts"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("ruff", "check", *TREES), id="ruff-check"),
        pytest.param(("ruff", "format", "--check", *TREES), id="ruff-format"),
        pytest.param(("mypy",), id="mypy"),  # files and strictness from pyproject.toml
    ],
)
def test_tool_is_clean(args: tuple[str, ...]) -> None:
    result = run(*args)
    assert result.returncode == 0, (
        f"`{' '.join(args)}` exited {result.returncode}:\n{result.stdout}{result.stderr}"
    )
