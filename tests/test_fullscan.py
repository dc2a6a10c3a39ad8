"""A full scan runs its Python checks in a worker beside semgrep (issue #17).

What must hold: the same report as semgrep first and the checks one after
another; the worker is forked before semgrep starts and works while it runs;
reach runs in this process after semgrep (its facts come from semgrep's
screens); a worker that dies is its checks' error (exit 3) and the other
checks still report; the semgrep memory gate gives semgrep only what
traingate's registered processes leave, and more the moment one exits.
Real git, real semgrep, real fork.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from traingate import engine, memory, parallel
from traingate.checks.semgrep import runner, schedule
from traingate.cli import main

from .conftest import POLICY, Repo
from .test_scan_parallel import HELPER, _benign, _module, decision


@pytest.fixture
def frepo(repo: Repo) -> Repo:
    repo.write(".traingate.yaml", POLICY)  # semgrep enabled
    repo.write("tools/ckpt.py", HELPER)
    for i in range(8):
        repo.write(f"pkg/m{i}.py", _module(i) if i % 2 == 0 else _benign(i))
    repo.write("README.md", "notes \u200b\n")
    repo.commit("base")
    return repo


@pytest.fixture
def forced(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fork on this small scan: no line floor, one-file parts, 2 CPUs even on 1."""
    monkeypatch.setattr(parallel, "MIN_LINES", 0)
    monkeypatch.setattr(parallel, "_SMALLEST_PART", 1)
    monkeypatch.setattr(runner, "usable_cpus", lambda: 2)


def scan(repo: Repo, capsys: pytest.CaptureFixture[str], cache: Path) -> tuple[int, dict[str, Any]]:
    # A cache of its own: semgrep's processes really run, as in a cold scan.
    capsys.readouterr()
    code = main(["scan", str(repo.path), "--format", "json", "--cache-dir", str(cache)])
    return code, json.loads(capsys.readouterr().out)


def _spy(monkeypatch: pytest.MonkeyPatch, log: Path, act: Any = None) -> int:
    """Each process appends "pid check start end" per check run to ``log``;
    ``act(check)`` runs first in a child only."""
    parent, real = os.getpid(), engine._run_one

    def spy(check_id: str, ctx: Any) -> Any:
        if act is not None and os.getpid() != parent:
            got = act(check_id)
            if got is not None:
                return got
        t0 = time.monotonic()
        try:
            return real(check_id, ctx)
        finally:
            with open(log, "a") as fh:
                fh.write(f"{os.getpid()} {check_id} {t0} {time.monotonic()}\n")

    monkeypatch.setattr(engine, "_run_one", spy)
    return parent


def test_a_worker_beside_semgrep_gives_the_same_report(
    frepo: Repo,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    forced: None,
) -> None:
    monkeypatch.setattr(parallel, "MIN_LINES", 10**9)  # semgrep first, then one process
    code1, one = scan(frepo, capsys, tmp_path / "c1")
    monkeypatch.setattr(parallel, "MIN_LINES", 0)
    log = tmp_path / "calls"
    parent = _spy(monkeypatch, log)
    code2, beside = scan(frepo, capsys, tmp_path / "c2")
    rules = {f["rule_id"] for f in one["findings"]}
    # Every kind of check contributed, so the comparison means something.
    assert {"exec-os-command", "reach-dangerous-call", "unicode-invisible"} <= rules, rules
    assert any(r.startswith("sabotage-") for r in rules), rules
    assert (code1, decision(one)) == (code2, decision(beside))
    assert code1 == 1 and not one["errors"]
    calls = [
        (int(p), c, float(a), float(b))
        for p, c, a, b in map(str.split, log.read_text().splitlines())
    ]
    (semgrep,) = [c for c in calls if c[1] == "semgrep"]
    (reach,) = [c for c in calls if c[1] == "reach"]
    child = [c for c in calls if c[0] != parent]
    assert semgrep[0] == parent and reach[0] == parent, calls
    assert reach[2] >= semgrep[3]  # after semgrep's screens filled its facts
    # Forked before semgrep started, the worker took its first part while
    # semgrep ran.
    assert child and min(c[2] for c in child) < semgrep[3], calls
    assert {c[1] for c in child} <= set(parallel.PER_FILE) | {
        "config",
        "repository",
        "artifacts",
        "autorun",
    }
    assert not memory.active()  # nothing left registered for a later run's gate


def test_a_worker_killed_beside_semgrep_blocks_and_the_rest_reports(
    frepo: Repo,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    forced: None,
) -> None:
    monkeypatch.setattr(parallel, "MIN_LINES", 10**9)
    _, one = scan(frepo, capsys, tmp_path / "c1")
    monkeypatch.setattr(parallel, "MIN_LINES", 0)
    taken = tmp_path / "child-took"

    def die(check: str) -> None:
        with open(taken, "a") as fh:
            fh.write(f"{check}\n")
        os.kill(os.getpid(), signal.SIGKILL)

    _spy(monkeypatch, tmp_path / "calls", die)
    code, doc = scan(frepo, capsys, tmp_path / "c2")
    lost = sorted(set(taken.read_text().split()))
    assert code == 3 and doc["decision"] == "block" and len(lost) == 1, doc["errors"]
    (error,) = doc["errors"]
    assert error.startswith(f"check {lost[0]!r} failed: the worker process"), error
    assert "was killed by SIGKILL" in error, error
    # Its check reports nothing; semgrep, reach and the others all report.
    assert decision(doc)["findings"] == [
        f for f in decision(one)["findings"] if f["check"] != lost[0]
    ]
    assert {"exec-os-command", "reach-dangerous-call"} <= {f["rule_id"] for f in doc["findings"]}


def test_changes_keep_the_fixed_budget() -> None:
    assert not memory.active()
    gate = schedule.MemoryGate([["a"]], lambda b: 1.0)
    assert gate.budget() == schedule.MEMORY_BUDGET_MB


def test_the_gate_leaves_what_registered_processes_hold_and_takes_it_back_at_exit() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        memory.register(proc.pid, 300.0)
        live = memory.resident_mb(proc.pid)
        assert live is not None and 0 < live < 300  # the measured peak counts, not less
        gate = schedule.MemoryGate([["a"], ["b"]], lambda b: 100.0)
        assert gate.budget() == schedule.TREE_MB - schedule.MARGIN_MB - 300.0
        assert gate.take() == ["a"]  # one batch always runs
        got: list[list[str] | None] = []
        waiter = threading.Thread(target=lambda: got.append(gate.take()))
        waiter.start()
        waiter.join(1.0)
        assert waiter.is_alive() and not got  # 100 + 100 > 160: the second waits
        proc.kill()
        proc.wait()  # reaped: its memory is free, and no one tells the gate
        assert memory.resident_mb(proc.pid) == 0.0
        waiter.join(60)
        assert got == [["b"]]
        assert gate.budget() == schedule.TREE_MB - schedule.MARGIN_MB
    finally:
        memory.unregister(proc.pid)
        proc.kill()
        proc.wait()


def test_an_exited_child_holds_nothing_before_it_is_reaped() -> None:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os._exit(0)
    os.close(w)
    os.read(r, 1)  # EOF: the child has closed everything, i.e. exited
    os.close(r)
    try:
        deadline = time.monotonic() + 30
        while memory.resident_mb(pid) != 0.0 and time.monotonic() < deadline:
            time.sleep(0.01)  # exit_mm runs after the files close
        assert Path(f"/proc/{pid}").exists()  # a zombie: not reaped yet
        assert memory.resident_mb(pid) == 0.0
        memory.register(pid, 200.0)
        assert memory.own_mb() == 0.0
    finally:
        memory.unregister(pid)
        os.waitpid(pid, 0)
    assert (memory.resident_mb(os.getpid()) or 0.0) > 0


def test_the_worker_beside_semgrep_leaves_the_kept_parts_to_this_process(
    frepo: Repo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from traingate.change import scan_paths
    from traingate.checks.base import Context
    from traingate.policy.load import load_builtin

    change = scan_paths([frepo.path])
    policy = load_builtin()
    ctxs = {
        c: Context(change, policy, getattr(policy.policy.checks, c), change.files, None, True)
        for c in ("unicode", "sabotage")
    }
    monkeypatch.setattr(parallel, "_SMALLEST_PART", 1)
    parts = parallel.plan(ctxs, 2)
    kept = parallel._kept(ctxs, parts, parallel._COST["sabotage"] * 3)
    assert 0 < kept < len(parts)
    log = tmp_path / "took"

    def one(check: str, ctx: Any) -> tuple[list[Any], None]:
        with open(log, "a") as fh:
            fh.write(f"{os.getpid()} {check} {ctx.files[0].path} {len(ctx.files)}\n")
        return [], None

    pool = parallel.start(ctxs, one, 2, forks=1, keep=parallel._COST["sabotage"] * 3)
    (child,) = [pid for pid, _ in pool.children]
    while pool.poll(5):  # the worker stops, leaving the kept parts
        pass
    assert parallel._left(pool.queue) == kept
    got = pool.finish()
    assert got == {"unicode": ([], None), "sabotage": ([], None)}
    took = [line.split() for line in log.read_text().splitlines()]
    assert len(took) == len(parts)
    mine = [t for t in took if int(t[0]) != child]
    assert len(mine) == kept and all(int(t[0]) == os.getpid() for t in mine)


def test_the_semgrep_checks_trees_are_removed_beside_reach_and_none_is_left(
    frepo: Repo,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    forced: None,
) -> None:
    from traingate import tmptrees

    monkeypatch.setattr(parallel, "MIN_LINES", 10**9)  # semgrep first, then one process
    _, one = scan(frepo, capsys, tmp_path / "c1")
    monkeypatch.setattr(parallel, "MIN_LINES", 0)
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    removed: list[tuple[str, float]] = []
    real = tmptrees.remove

    def timed(trees: list[tmptrees.TempTree]) -> None:
        removed.extend((t.name, time.monotonic()) for t in trees)
        real(trees)

    monkeypatch.setattr(tmptrees, "remove", timed)
    log = tmp_path / "calls"
    _spy(monkeypatch, log)
    code, doc = scan(frepo, capsys, tmp_path / "c2")
    assert decision(doc) == decision(one) and code == 1 and not doc["errors"]
    (semgrep,) = [
        float(line.split()[3]) for line in log.read_text().splitlines() if " semgrep " in line
    ]
    # The spill tree (and a stream's, on a scan large enough for one), after
    # the check had ended.
    names = {Path(n).name.split("-")[1] for n, _ in removed}
    assert "spill" in names <= {"spill", "scan"}, removed
    assert all(when >= semgrep for _, when in removed), removed
    assert not list(temp.iterdir())
    assert not memory.active()


def test_a_tree_that_cannot_be_removed_is_the_semgrep_checks_error(
    frepo: Repo,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    forced: None,
) -> None:
    from traingate import tmptrees

    def fail(trees: list[tmptrees.TempTree]) -> None:
        if trees:
            for t in trees:
                t.cleanup()
            trees.clear()
            raise PermissionError("cannot unlink")

    monkeypatch.setattr(tmptrees, "remove", fail)
    code, doc = scan(frepo, capsys, tmp_path / "c")
    assert code == 3 and doc["decision"] == "block"
    (error,) = doc["errors"]
    assert error.startswith("check 'semgrep' crashed (this is a bug in traingate)"), error
    assert "cannot unlink" in error
    assert not [f for f in doc["findings"] if f["check"] == "semgrep"]
