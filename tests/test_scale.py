"""Changes too big for a reviewer: the gate must still decide, quickly and closed.

A 50 MB single-line file and a 100,000-file change in a training path (issue
#8). Both must block with the reason named, never crash, time out or pass.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from traingate.checks.semgrep import runner
from traingate.cli import main

from .conftest import POLICY, Repo


def _check(repo: Repo, tmp_path: Path) -> tuple[int, dict]:  # type: ignore[type-arg]
    out = tmp_path / "report.json"
    code = main(
        ["check", "--repo", str(repo.path), "--base", "main", "--head", "feat"]
        + ["--format", "json", "--output", str(out)]
    )
    return code, json.loads(out.read_text())


def _start(repo: Repo) -> None:
    repo.write(".traingate.yaml", POLICY)
    repo.write("train/train.py", "lr = 0.1\n")
    repo.commit("base")
    repo.branch("feat")


def test_a_50_mb_single_line_file_blocks_at_once(repo: Repo, tmp_path: Path) -> None:
    _start(repo)
    # A real statement, 50 MB on one line: semgrep alone needs over five minutes.
    repo.write("train/big.py", "x = [" + "1," * (25 * 1024 * 1024) + "]\n")
    repo.commit("big", who="bob")
    code, doc = _check(repo, tmp_path)
    assert code == 1 and doc["decision"] == "block" and doc["errors"] == []
    # (the reach check notes that it did not summarise the file: a warning)
    [big] = [f for f in doc["findings"] if f["path"] == "train/big.py" and f["check"] == "semgrep"]
    assert big["rule_id"] == "source-unreadable"
    assert "52,428,807 bytes, more than checks.semgrep.max_file_bytes" in big["message"]
    assert [r["name"] for r in doc["requirements"] if r["satisfied"] is False] == [
        "training-code",
        "findings:security",
    ]


def test_a_100000_file_change_is_checked_in_full(repo: Repo, tmp_path: Path) -> None:
    _start(repo)
    data = repo.path / "train" / "data"
    for d in range(100):
        (data / f"shard{d:02}").mkdir(parents=True)
        for i in range(1000):
            (data / f"shard{d:02}" / f"{i}.txt").write_text(f"sample {d * 1000 + i}\n")
    # the one payload among 100,000 files; the last shard sorts last in the diff
    (data / "shard99" / "999.txt").unlink()
    repo.write("train/data/shard99/zz_loader.py", "import os\nos.system(cmd)\n")
    repo.commit("add the dataset", who="bob")
    code, doc = _check(repo, tmp_path)
    assert code == 1 and doc["errors"] == []
    assert len(doc["changed_files"]) == 100_000
    hits = {(f["path"], f["rule_id"]) for f in doc["findings"]}
    assert ("train/data/shard99/zz_loader.py", "exec-os-command") in hits
    [code_req] = [r for r in doc["requirements"] if r["name"] == "training-code"]
    assert code_req["satisfied"] is False


def test_many_semgrep_targets_are_scanned_as_one_directory(
    repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the argument-list budget the temp dir is scanned as a whole; every
    file must still be reported as scanned and findings map to the right path."""
    monkeypatch.setattr(runner, "MAX_ARGV_NAMES", 10)
    _start(repo)
    for i in range(5):
        repo.write(f"train/ok{i}.py", f"y = {i}\n")
    repo.write("train/evil.py", "import os\nos.system(cmd)\n")
    repo.commit("more", who="bob")
    code, doc = _check(repo, tmp_path)
    assert code == 1 and doc["errors"] == []
    assert {(f["path"], f["rule_id"]) for f in doc["findings"]} == {
        ("train/evil.py", "exec-os-command")
    }
