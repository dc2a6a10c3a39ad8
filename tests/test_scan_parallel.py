"""A large scan runs its Python checks in forked workers (issue #17).

What must hold: the same report as one check after another (findings, their
order, errors, exit code); a worker that is killed, raises, or sends anything
but its results blocks with exit 3 and names what happened; small scans and
changes never fork; the `git cat-file` reader a child inherits is never the
parent's; progress still reaches a terminal. Real git, real checks, real fork.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from traingate import engine, git, parallel
from traingate.checks.semgrep import runner
from traingate.cli import main

from .conftest import POLICY, Repo

NO_SEMGREP = POLICY + "checks:\n  semgrep: {enabled: false}\n"
HELPER = "import pickle\n\n\ndef restore(blob):\n    return pickle.loads(blob)\n"


def _module(i: int) -> str:
    """A training step with a sabotage trigger, a reach chain, a suppression
    comment and an invisible character: every split check has work in it."""
    return (
        "import os\nimport socket\n\nfrom tools.ckpt import restore\n\n\n"
        f"def step_{i}(model, optimizer, blob):\n"
        "    os.system(blob.decode())  # nosec\n"
        "    state = restore(blob)\n"
        f"    if socket.gethostname().startswith('gpu-{i}'):\n"
        "        for p in model.parameters():\n"
        "            p.grad.mul_(0.5)\n"
        "    optimizer.step()\n"
        "    return state  # \u200b\n"
    )


def _benign(i: int) -> str:
    # Real training idioms: nothing fires, but they are parts to share out.
    return (
        "import torch\n\n\n"
        f"def train_{i}(model, loader, optimizer):\n"
        "    model.train()\n"
        "    for x, y in loader:\n"
        "        loss = torch.nn.functional.cross_entropy(model(x), y)\n"
        "        optimizer.zero_grad()\n"
        "        loss.backward()\n"
        "        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n"
        "        optimizer.step()\n"
    )


@pytest.fixture
def srepo(repo: Repo) -> Repo:
    repo.write(".traingate.yaml", NO_SEMGREP)  # read through git: a live cat-file reader
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


def scan(repo: Repo, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main(["scan", str(repo.path), "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def decision(doc: dict[str, Any]) -> dict[str, Any]:
    keys = ("check", "rule_id", "path", "line", "column", "outcome", "message")
    return {
        "decision": doc["decision"],
        "exit_code": doc["exit_code"],
        "errors": doc["errors"],
        "findings": [{k: f.get(k) for k in keys} for f in doc["findings"]],
    }


def _spy(monkeypatch: pytest.MonkeyPatch, log: Path, act: Any = None) -> int:
    """Wrap the engine's per-check call: each process appends its pid and the
    check to ``log``; ``act(check)`` runs first in a child only."""
    parent, real = os.getpid(), engine._run_one

    def spy(check_id: str, ctx: Any) -> Any:
        with open(log, "a") as fh:
            fh.write(f"{os.getpid()} {check_id} {len(ctx.files)}\n")
        if act is not None and os.getpid() != parent:
            got = act(check_id)
            if got is not None:
                return got
        return real(check_id, ctx)

    monkeypatch.setattr(engine, "_run_one", spy)
    return parent


def test_forked_scan_gives_the_same_report_as_one_process(
    srepo: Repo,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    forced: None,
) -> None:
    monkeypatch.setattr(parallel, "MIN_LINES", 10**9)
    code1, one = scan(srepo, capsys)
    monkeypatch.setattr(parallel, "MIN_LINES", 0)
    log = tmp_path / "calls"
    parent = _spy(monkeypatch, log)
    code2, forked = scan(srepo, capsys)
    calls = [line.split() for line in log.read_text().splitlines()]
    # It did fork, and the split checks ran in parts of their files.
    assert {int(pid) for pid, _, _ in calls} - {parent}, calls
    assert sum(c == "sabotage" for _, c, _ in calls) > 2
    rules = {f["rule_id"] for f in one["findings"]}
    assert {"reach-dangerous-call", "unicode-invisible", "suppress-nosec"} <= rules, rules
    assert any(r.startswith("sabotage-") for r in rules), rules
    assert (code1, decision(one)) == (code2, decision(forked))
    assert code1 == 1 and not one["errors"]


@pytest.mark.parametrize(
    ("act", "says"),
    [
        (lambda c: os.kill(os.getpid(), signal.SIGKILL), "was killed by SIGKILL"),
        (lambda c: (_ for _ in ()).throw(SystemExit("worker gave up")), "worker gave up"),
        (lambda c: (["not a finding"], None), "not the results of its checks"),
        (lambda c: os._exit(0), "not the results of its checks"),
    ],
    ids=["killed", "raises", "garbage", "silent-exit"],
)
def test_a_worker_that_fails_blocks_with_exit_3(
    srepo: Repo,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    forced: None,
    act: Any,
    says: str,
) -> None:
    log, taken = tmp_path / "calls", tmp_path / "child-took-a-part"
    real = engine._run_one

    def in_child(check: str) -> Any:
        with open(taken, "a") as fh:
            fh.write(f"{check}\n")
        return act(check)

    parent = _spy(monkeypatch, log, in_child)
    spied = engine._run_one

    def hold(check_id: str, ctx: Any) -> Any:
        # The parent waits for the child's first part, so a part is surely lost.
        if os.getpid() == parent:
            deadline = time.monotonic() + 60
            while not taken.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
        return spied(check_id, ctx)

    monkeypatch.setattr(engine, "_run_one", hold)
    code, doc = scan(srepo, capsys)
    lost = sorted(set(taken.read_text().split()))  # garbage: every part the child took
    assert code == 3 and doc["decision"] == "block", doc["errors"]
    assert len(doc["errors"]) == len(lost), (lost, doc["errors"])
    for check, error in zip(lost, sorted(doc["errors"]), strict=True):
        assert error.startswith(f"check {check!r} failed: the worker process"), error
        assert says in error, error
    # Its check reports nothing, as a check that raised; the others all report.
    assert not [f for f in doc["findings"] if f["check"] in lost]
    monkeypatch.setattr(engine, "_run_one", real)
    monkeypatch.setattr(parallel, "MIN_LINES", 10**9)
    _, one = scan(srepo, capsys)
    assert [f for f in decision(doc)["findings"]] == [
        f for f in decision(one)["findings"] if f["check"] not in lost
    ]


def test_small_scans_and_changes_never_fork(
    srepo: Repo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_fork() -> int:
        raise AssertionError("forked")

    monkeypatch.setattr(os, "fork", no_fork)
    monkeypatch.setattr(runner, "usable_cpus", lambda: 8)
    code, doc = scan(srepo, capsys)  # ~100 lines, under MIN_LINES
    assert code == 1 and not doc["errors"]
    monkeypatch.setattr(parallel, "MIN_LINES", 0)
    srepo.branch("feature")
    srepo.write("pkg/m9.py", _module(9))
    srepo.commit("change", who="mallory")
    capsys.readouterr()
    args = ["check", "--repo", str(srepo.path), "--base", "main", "--head", "feature"]
    assert main([*args, "--format", "json"]) == 1  # a change: no fork either
    assert not json.loads(capsys.readouterr().out)["errors"]


def test_one_cpu_never_forks(
    srepo: Repo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parallel, "MIN_LINES", 0)
    monkeypatch.setattr(runner, "usable_cpus", lambda: 1)
    monkeypatch.setattr(os, "fork", lambda: (_ for _ in ()).throw(AssertionError("forked")))
    code, doc = scan(srepo, capsys)
    assert code == 1 and not doc["errors"]


def test_parts_cover_each_split_check_once_in_file_order(
    srepo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    from traingate.change import scan_paths
    from traingate.checks.base import Context
    from traingate.policy.load import load_builtin

    change = scan_paths([srepo.path])
    policy = load_builtin()
    ctxs = {
        c: Context(change, policy, getattr(policy.policy.checks, c), change.files, None, True)
        for c in ("unicode", "reach", "sabotage")
    }
    monkeypatch.setattr(parallel, "_SMALLEST_PART", 1)
    parts = parallel.plan(ctxs, 2)
    assert parallel.Part("reach", 0, len(change.files)) in parts  # whole
    for check in ("unicode", "sabotage"):
        mine = sorted((p.start, p.stop) for p in parts if p.check == check)
        assert mine[0][0] == 0 and mine[-1][1] == len(change.files) and len(mine) > 2
        assert all(a[1] == b[0] and a[0] < a[1] for a, b in itertools.pairwise(mine))
    cost = [
        parallel._COST[p.check]
        * sum(len(f.added_lines) + 1 for f in change.files[p.start : p.stop])
        for p in parts
    ]
    assert cost == sorted(cost, reverse=True)  # the cheap parts go last


def test_progress_reaches_the_terminal_from_every_worker(
    srepo: Repo,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    forced: None,
) -> None:
    monkeypatch.setenv("TRAINGATE_PROGRESS", "1")
    code = main(["scan", str(srepo.path), "--format", "json"])
    out = capfd.readouterr()
    assert code == 1 and json.loads(out.out)["decision"] == "block"
    lines = re.findall(r"traingate: checks \d+/\d+ parts \(\w+ *\), \d+s\n", out.err)
    counts = [ln.split()[2].split("/") for ln in lines]
    total = int(counts[0][1])
    # Two workers taking parts at once may both print the same count; the
    # last part's taker always sees an empty queue.
    assert len(lines) == total > 2, lines
    assert {int(b) for _, b in counts} == {total}
    assert max(int(a) for a, _ in counts) == total and min(int(a) for a, _ in counts) >= 1


def test_a_forked_child_reads_through_its_own_cat_file(repo: Repo) -> None:
    """The child must not ask the parent's `git cat-file --batch`: the two
    would take each other's answers (issue #17)."""
    blobs = {}
    for i in range(60):
        data = os.urandom(30_000 + 997 * i)
        repo.write(f"b/{i}.bin", data)
        blobs[hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()] = data
    repo.commit("blobs")
    reader = git.BlobReader(repo.path)
    reader.KEEP = 0  # every read goes to the pipe
    oids = sorted(blobs)
    assert reader.read(oids[0]) == blobs[oids[0]]
    theirs = reader._process().pid
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        ok = b"0"
        try:
            mine = reader._process().pid
            good = all(reader.read(o) == blobs[o] for o in oids * 3)
            ok = b"1" if good and mine != theirs else b"2" if good else b"3"
        finally:
            os.write(w, ok)
            os._exit(0)
    os.close(w)
    # Meanwhile the parent reads on: with a shared pipe, answers would swap.
    bad = [o for o in reversed(oids * 3) if reader.read(o) != blobs[o]]
    got = os.read(r, 1)
    os.close(r)
    os.waitpid(pid, 0)
    assert got == b"1", {b"2": "the child used the parent's cat-file", b"3": "wrong blobs"}.get(got)
    assert bad == [] and reader._process().pid == theirs
    assert all(reader.read(o) == blobs[o] for o in oids)  # the child's exit left ours alone


def test_a_fork_that_fails_leaves_the_work_to_this_process(
    srepo: Repo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, forced: None
) -> None:
    tried: list[int] = []

    def no_memory() -> int:
        tried.append(1)
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(parallel, "MIN_LINES", 10**9)
    _, one = scan(srepo, capsys)
    monkeypatch.setattr(parallel, "MIN_LINES", 0)
    monkeypatch.setattr(os, "fork", no_memory)
    code, doc = scan(srepo, capsys)
    assert tried and (code, decision(doc)) == (1, decision(one))


DRIVER = """\
import os, sys, time
from traingate import engine, parallel
from traingate.checks.semgrep import runner
parallel.MIN_LINES, parallel._SMALLEST_PART = 0, 1
runner.usable_cpus = lambda: 2
real, parent = engine._run_one, os.getpid()
def slow(check, ctx):
    if os.getpid() != parent:
        with open(sys.argv[2], "a") as fh:
            fh.write(f"{os.getpid()}\\n")
    time.sleep(2)  # the parts would take a minute: the worker must stop early
    return real(check, ctx)
engine._run_one = slow
from traingate.cli import main
main(["scan", sys.argv[1], "--format", "json"])
"""


def test_a_worker_whose_parent_is_killed_stops(srepo: Repo, tmp_path: Path) -> None:
    """A CI job cancelled with SIGKILL/SIGTERM: its workers must not go on for
    minutes as orphans; each stops before its next part."""
    import subprocess
    import sys

    driver, pids = tmp_path / "driver.py", tmp_path / "pids"
    driver.write_text(DRIVER)
    proc = subprocess.Popen(
        [sys.executable, str(driver), str(srepo.path), str(pids)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not (pids.exists() and pids.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(pids.read_text().split()[0])
    proc.kill()
    proc.wait()

    def alive(pid: int) -> bool:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        return stat.rpartition(")")[2].split()[0] != "Z"

    deadline = time.monotonic() + 15
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(child)
