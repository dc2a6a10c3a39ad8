"""TRAINGATE_TIMELINE (issue #17): where a run's time goes, phase by phase.

What must hold: off, nothing is written and no clock is read; on, every
check, semgrep's phases and each semgrep process are recorded with their
process, thread and CPU (a forked worker's phases too); a write that fails
changes nothing in the decision. Real git, real semgrep, real fork.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from traingate import engine, timeline
from traingate.checks.semgrep import runner

from .conftest import Repo
from .test_change_parallel import check, crepo  # noqa: F401  (crepo: a fixture)


def test_off_it_is_one_shared_no_op() -> None:
    code = (
        "import sys; from traingate import timeline; "
        "assert timeline.PATH is None and timeline.phase('a') is timeline.phase('b'); "
        "print('threading' in sys.modules, 'json' in sys.modules)"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(timeline.__file__).parents[1])}
    out = subprocess.run(
        [sys.executable, "-S", "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.split() == ["False", "False"]  # nothing loaded for it


def test_a_change_records_every_phase_in_every_process(
    crepo: Repo,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(engine, "FORK_FILES", 10**9)
    code1, plain = check(crepo, capsys)
    log = tmp_path / "timeline.jsonl"
    monkeypatch.setattr(timeline, "PATH", str(log))
    monkeypatch.setattr(engine, "FORK_FILES", 8)
    monkeypatch.setenv("TRAINGATE_CACHE_DIR", str(tmp_path / "cold"))
    code2, timed = check(crepo, capsys)
    assert (code1, plain["findings"], plain["errors"]) == (
        code2,
        timed["findings"],
        timed["errors"],
    )
    recs = [json.loads(line) for line in log.read_text().splitlines()]
    names = {r["name"] for r in recs}
    assert {"check:semgrep", "semgrep:targets", "semgrep:scan", "semgrep-process"} <= names
    assert {"check:reach", "check:sabotage", "check:unicode"} <= names
    assert all(r["end"] >= r["start"] and r["cpu"] >= 0 for r in recs)
    semgrep = [r for r in recs if r["name"] == "semgrep:targets"]
    assert [r["thread"] for r in semgrep] == ["traingate-semgrep"]
    # The forked worker's phases are there too (which parts it took is timing).
    assert {r["pid"] for r in recs if r["name"].startswith("check:")} - {semgrep[0]["pid"]}
    assert all(r["cpu"] > 0 and r["mb"] > 0 for r in recs if r["name"] == "semgrep-process")


def test_a_timeline_that_cannot_be_written_changes_nothing(
    crepo: Repo,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    code1, plain = check(crepo, capsys)
    monkeypatch.setattr(timeline, "PATH", str(tmp_path))  # a directory: every write fails
    monkeypatch.setattr(runner, "usable_cpus", lambda: 2)
    code2, timed = check(crepo, capsys)
    assert (code1, plain["findings"], plain["errors"]) == (
        code2,
        timed["findings"],
        timed["errors"],
    )
