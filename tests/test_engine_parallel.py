"""The semgrep check runs in a thread beside the other checks (issue #17).

What must hold: the same report as one check after another, a failure on
either side still blocks (exit 3) without losing the other side's findings,
the worker is always joined, and the one `git cat-file` reader the checks
share never hands a thread another thread's blob."""

from __future__ import annotations

import hashlib
import json
import random
import threading
from pathlib import Path
from typing import Any

import pytest

from traingate import engine, git
from traingate.checks import load
from traingate.cli import main

from .conftest import POLICY, Repo

HELPER = "import pickle\n\n\ndef restore(blob):\n    return pickle.loads(blob)\n"
# A semgrep hit (os.system), a reach chain (restore -> pickle.loads), a
# sabotage trigger and an invisible character, all added by one change.
TRAIN = (
    "import os\nimport socket\n\nfrom tools.ckpt import restore\n\n\n"
    "def step(model, optimizer, blob):\n"
    "    os.system(blob.decode())\n"
    "    state = restore(blob)\n"
    "    if socket.gethostname().startswith('gpu-7'):\n"
    "        for p in model.parameters():\n"
    "            p.grad.mul_(0.5)\n"
    "    optimizer.step()\n"
    "    return state  # \u200b\n"
)


@pytest.fixture
def prepo(repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Repo:
    monkeypatch.setenv("TRAINGATE_CACHE_DIR", str(tmp_path / "cache"))
    repo.write(".traingate.yaml", POLICY)
    repo.write("README.md", "r\n")
    repo.commit("base")
    repo.branch("feature")
    repo.write("tools/ckpt.py", HELPER)
    repo.write("train.py", TRAIN)
    repo.commit("change", who="mallory")
    return repo


def run(repo: Repo, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    args = ["check", "--repo", str(repo.path), "--base", "main", "--head", "feature"]
    code = main([*args, "--format", "json", "--cache-dir", str(repo.path.parent / "c")])
    return code, json.loads(capsys.readouterr().out)


def decision(doc: dict[str, Any]) -> dict[str, Any]:
    keys = ("rule_id", "path", "line", "column", "outcome", "message")
    return {
        "decision": doc["decision"],
        "exit_code": doc["exit_code"],
        "errors": doc["errors"],
        "findings": [{k: f.get(k) for k in keys} for f in doc["findings"]],
    }


def test_same_report_as_one_check_after_another(
    prepo: Repo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, beside = run(prepo, capsys)
    rules = {f["rule_id"] for f in beside["findings"]}
    # Every kind of check contributed, so the comparison below means something.
    assert {"exec-os-command", "reach-dangerous-call", "unicode-invisible"} <= rules, rules
    assert any(r.startswith("sabotage-") for r in rules), rules
    monkeypatch.setattr(engine, "_BESIDE", "no-such-check")
    code2, sequential = run(prepo, capsys)
    assert (code, decision(beside)) == (code2, decision(sequential))


def test_semgrep_failure_beside_the_others_blocks_and_keeps_their_findings(
    prepo: Repo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAINGATE_SEMGREP", "/bin/false")
    before = threading.active_count()
    code, doc = run(prepo, capsys)
    assert code == 3 and doc["decision"] == "block"
    assert len(doc["errors"]) == 1 and "'semgrep'" in doc["errors"][0]
    rules = {f["rule_id"] for f in doc["findings"]}
    assert {"reach-dangerous-call", "unicode-invisible"} <= rules
    assert threading.active_count() == before  # the worker was joined


def test_another_check_crashing_while_semgrep_runs_blocks(
    prepo: Repo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(ctx: object) -> list[object]:
        raise RuntimeError("reach exploded")

    monkeypatch.setattr(load("reach"), "run", boom)
    before = threading.active_count()
    code, doc = run(prepo, capsys)
    assert code == 3 and doc["decision"] == "block"
    assert any("reach exploded" in e for e in doc["errors"])
    assert "exec-os-command" in {f["rule_id"] for f in doc["findings"]}
    assert threading.active_count() == before


def test_one_reader_many_threads_each_gets_its_own_blob(repo: Repo) -> None:
    rng = random.Random(17)
    for i in range(150):
        # Sizes around the pipe buffer, so interleaved reads would tear.
        repo.write(f"b/{i}.bin", bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 90_000))))
    repo.commit("blobs")
    oids = [
        line.split()[2]
        for line in repo.git("ls-tree", "-r", "HEAD").splitlines()
        if line.split()[1] == "blob"
    ]
    reader = git.BlobReader(repo.path)
    reader.KEEP = 0  # every read goes to the pipe
    bad: list[str] = []

    def work(seed: int) -> None:
        order = oids[:]
        random.Random(seed).shuffle(order)
        for oid in order:
            data = reader.read(oid)
            got = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
            if got != oid:
                bad.append(oid)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert bad == []


def test_the_other_checks_wait_for_semgreps_python_work_then_run_beside_it(
    prepo: Repo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Semgrep's cutting runs first (no GIL shared with reach and sabotage);
    its processes, started after, run while the Python checks do."""
    from traingate.checks.semgrep import check as sg_check

    events: list[str] = []
    real_target, real_reach = getattr(sg_check, "target"), load("reach").run  # noqa: B009

    def target(*a: Any, **k: Any) -> Any:
        events.append("semgrep target")
        return real_target(*a, **k)

    def reach(ctx: Any) -> Any:
        events.append("reach")
        return real_reach(ctx)

    monkeypatch.setattr(sg_check, "target", target)
    monkeypatch.setattr(load("reach"), "run", reach)
    code, doc = run(prepo, capsys)
    assert code == 1 and not doc["errors"]
    assert events[-1] == "reach" and events.count("semgrep target") >= 2


def test_semgrep_crashing_before_its_python_work_ends_does_not_hang_the_others(
    prepo: Repo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from traingate.checks.semgrep import check as sg_check

    def boom(*a: Any, **k: Any) -> Any:
        raise RuntimeError("cutting exploded")

    monkeypatch.setattr(sg_check, "target", boom)
    code, doc = run(prepo, capsys)
    assert code == 3 and any("cutting exploded" in e for e in doc["errors"])
    assert "reach-dangerous-call" in {f["rule_id"] for f in doc["findings"]}
