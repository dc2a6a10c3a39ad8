"""The hashed lock that CI installs from, and the one command README and .ci/run share."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "ci.lock"
RUNTIME = ROOT / "requirements" / "runtime.lock"


def _pins(lock: Path = LOCK) -> dict[str, list[str]]:
    """Package name -> hashes, from the lock's `name==version \\` blocks."""
    pins: dict[str, list[str]] = {}
    current = ""
    for raw in lock.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if m := re.match(r"^([A-Za-z0-9_.-]+)==([^ ;\\]+)", line):
            current = m.group(1).lower().replace("_", "-") + "==" + m.group(2)
            pins[current] = []
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", line)
        if hashes:
            pins[current].extend(hashes)
    return pins


def _readme_test_command() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found: list[str] = re.findall(r"^(python -m pip install .*)$", text, re.M)
    commands = [c for c in found if "pytest" in c]
    assert len(commands) == 1, commands
    return commands[0]


def _names(lock: Path = LOCK) -> set[str]:
    return {pin.split("==")[0] for pin in _pins(lock)}


@pytest.mark.parametrize("lock", [LOCK, RUNTIME], ids=["ci", "runtime"])
def test_every_pin_is_exact_and_hashed(lock: Path) -> None:
    pins = _pins(lock)
    assert pins
    assert [name for name, hashes in pins.items() if not hashes] == []


def test_the_action_and_the_gitlab_job_install_what_ci_tested() -> None:
    # Every runtime pin (what the GitHub Action and the GitLab job install) is a
    # pin CI ran the suite with: same version, so the same files.
    assert {"semgrep", "pyyaml", "pydantic", "pathspec", "hatchling"} <= _names(RUNTIME)
    assert set(_pins(RUNTIME)) <= set(_pins(LOCK))


@pytest.mark.parametrize(
    "name",
    [
        "pyyaml",
        "pydantic",
        "pathspec",
        "semgrep",
        "pytest",
        "hypothesis",
        "jsonschema",
        "pre-commit",
        "mypy",
        "ruff",
        "hatchling",
        "zizmor",
        "check-jsonschema",
    ],
)
def test_lock_covers_what_ci_needs(name: str) -> None:
    assert name in _names()


def test_ci_runs_exactly_the_readme_command_from_the_lock() -> None:
    command = _readme_test_command()
    assert "--require-hashes -r requirements/ci.lock" in command
    assert "--no-deps" in command and command.endswith("python -m pytest -q")
    run = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert command in run.splitlines()
    # Nothing in .ci/run installs by floating name besides the locked command.
    installs = [ln for ln in run.splitlines() if "pip install" in ln]
    assert installs == [command]
