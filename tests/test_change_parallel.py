"""A large change runs its Python checks in a worker forked before the semgrep thread (issue #17).

What must hold: the same report as in one process (findings, order, errors,
exit code); the fork happens while no other thread exists; a worker that is
killed, raises, or sends anything but its results blocks with exit 3 and names
what happened; semgrep failing beside the worker still blocks and keeps the
others' findings; a way out between the fork and the join reaps the worker;
a hook-sized change never forks. Real git, real semgrep, real fork.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from traingate import engine
from traingate.checks.semgrep import runner
from traingate.cli import main

from .conftest import POLICY, Repo
from .test_scan_parallel import HELPER, _benign, _module, _spy, decision


@pytest.fixture
def crepo(repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Repo:
    """A base of benign modules; the change edits ten of them, half into attacks."""
    monkeypatch.setenv("TRAINGATE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(runner, "usable_cpus", lambda: 2)
    repo.write(".traingate.yaml", POLICY)
    repo.write("tools/ckpt.py", HELPER)
    for i in range(10):
        repo.write(f"pkg/m{i}.py", _benign(i))
    repo.commit("base")
    repo.branch("feature")
    for i in range(10):
        repo.write(f"pkg/m{i}.py", _module(i) if i % 2 == 0 else _benign(i) + "# tuned\n")
    repo.commit("change", who="mallory")
    return repo


def check(repo: Repo, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    args = ["check", "--repo", str(repo.path), "--base", "main", "--head", "feature"]
    code = main([*args, "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture
def forks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """(pid, threads alive at the fork) of every fork this process makes."""
    made: list[tuple[int, int]] = []
    real = os.fork

    def fork() -> int:
        threads = threading.active_count()
        pid = real()
        if pid:
            made.append((pid, threads))
        return pid

    monkeypatch.setattr(os, "fork", fork)
    return made


def reaped(forks: list[tuple[int, int]]) -> bool:
    """Every forked worker was waited for: none is left running or a zombie."""
    for pid, _ in forks:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            continue
        return False
    return True


def test_forked_change_gives_the_same_report_as_one_process(
    crepo: Repo,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    forks: list[tuple[int, int]],
) -> None:
    monkeypatch.setattr(engine, "FORK_FILES", 10**9)
    code1, one = check(crepo, capsys)
    monkeypatch.setattr(engine, "FORK_FILES", 8)
    log = tmp_path / "calls"
    parent = _spy(monkeypatch, log)
    code2, forked = check(crepo, capsys)
    calls = [line.split() for line in log.read_text().splitlines()]
    # It forked once, with no thread beside it, and the worker ran checks.
    assert [threads for _, threads in forks] == [1]
    assert {int(pid) for pid, _, _ in calls} - {parent}, calls
    assert [c for pid, c, _ in calls if int(pid) == parent].count("semgrep") == 1
    assert sum(c == "sabotage" for _, c, _ in calls) > 1  # split by files
    rules = {f["rule_id"] for f in one["findings"]}
    assert {"reach-dangerous-call", "unicode-invisible", "exec-os-command"} <= rules, rules
    assert any(r.startswith("sabotage-") for r in rules), rules
    assert (code1, decision(one)) == (code2, decision(forked))
    assert not one["errors"] and reaped(forks)


@pytest.mark.parametrize(
    ("act", "says"),
    [
        (lambda c: os.kill(os.getpid(), signal.SIGKILL), "was killed by SIGKILL"),
        (lambda c: (_ for _ in ()).throw(SystemExit("worker gave up")), "worker gave up"),
        (lambda c: (["not a finding"], None), "not the results of its checks"),
    ],
    ids=["killed", "raises", "garbage"],
)
def test_a_change_worker_that_fails_blocks_with_exit_3(
    crepo: Repo,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    act: Any,
    says: str,
    forks: list[tuple[int, int]],
) -> None:
    """The attack on the old code's trust: a check's part lost in a worker
    must never read as "no findings" for its files."""
    monkeypatch.setattr(engine, "FORK_FILES", 10**9)
    _, one = check(crepo, capsys)
    monkeypatch.setattr(engine, "FORK_FILES", 8)
    log, taken = tmp_path / "calls", tmp_path / "child-took-a-part"

    def in_child(check_id: str) -> Any:
        with open(taken, "a") as fh:
            fh.write(f"{check_id}\n")
        return act(check_id)

    parent = _spy(monkeypatch, log, in_child)
    spied = engine._run_one

    def hold(check_id: str, ctx: Any) -> Any:
        # The parent waits for the child's first part, so a part is surely lost.
        if os.getpid() == parent and check_id != "semgrep":
            deadline = time.monotonic() + 60
            while not taken.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
        return spied(check_id, ctx)

    monkeypatch.setattr(engine, "_run_one", hold)
    code, doc = check(crepo, capsys)
    lost = sorted(set(taken.read_text().split()))
    assert code == 3 and doc["decision"] == "block", doc["errors"]
    assert len(doc["errors"]) == len(lost), (lost, doc["errors"])
    for check_id, error in zip(lost, sorted(doc["errors"]), strict=True):
        assert error.startswith(f"check {check_id!r} failed: the worker process"), error
        assert says in error, error
    assert not [f for f in doc["findings"] if f["check"] in lost]
    # Every other check, semgrep included, reports as in one process.
    assert decision(doc)["findings"] == [
        f for f in decision(one)["findings"] if f["check"] not in lost
    ]
    assert reaped(forks)


def test_semgrep_failing_beside_the_worker_blocks_and_keeps_the_others(
    crepo: Repo,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    forks: list[tuple[int, int]],
) -> None:
    parent = _spy(monkeypatch, tmp_path / "calls")
    spied = engine._run_one

    def broken(check_id: str, ctx: Any) -> Any:
        if check_id == "semgrep":
            return [], "check 'semgrep' failed: semgrep exited with code 2: boom"
        return spied(check_id, ctx)

    monkeypatch.setattr(engine, "_run_one", broken)
    code, doc = check(crepo, capsys)
    pids = {int(line.split()[0]) for line in (tmp_path / "calls").read_text().splitlines()}
    assert pids - {parent}  # the worker ran
    assert code == 3 and doc["errors"] == [
        "check 'semgrep' failed: semgrep exited with code 2: boom"
    ]
    rules = {f["rule_id"] for f in doc["findings"]}
    assert {"reach-dangerous-call", "unicode-invisible"} <= rules, rules
    assert reaped(forks)


def test_a_way_out_between_fork_and_join_reaps_the_worker(
    crepo: Repo,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    forks: list[tuple[int, int]],
) -> None:
    """Ctrl-C (or any exception) after the fork: no orphan goes on checking."""

    def interrupted(self: threading.Thread) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(threading.Thread, "start", interrupted)
    args = ["check", "--repo", str(crepo.path), "--base", "main", "--head", "feature"]
    assert main(args) not in (0, 1)  # interrupted: nothing decided, blocking
    assert "interrupted" in capsys.readouterr().err
    assert forks and reaped(forks)


def test_a_hook_sized_change_never_forks(
    crepo: Repo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "FORK_FILES", 11)  # the change has 10 files
    monkeypatch.setattr(os, "fork", lambda: (_ for _ in ()).throw(AssertionError("forked")))
    code, doc = check(crepo, capsys)
    assert code == 1 and not doc["errors"]
