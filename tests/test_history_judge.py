"""Issue #14 class 4: `audit history` accepts no false evidence and judges with the
same judge as `check`. Each attempt below tries to pass an unapproved change off
as approved; each must be reported as missing evidence (or refused outright)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from traingate import audit
from traingate.cli import main

from .conftest import POLICY, Repo

CFG = POLICY + "checks:\n  semgrep: {enabled: false}\n"
VERSION_A = (
    "for batch in loader:\n    loss.backward()\n    optimizer.step()\n    scheduler.step()\n"
)
VERSION_B = VERSION_A.replace(
    "    scheduler.step()\n", "    if batch.idx % 1000 == 0:\n        scheduler.step()\n"
)


def keygen(tmp_path: Path, name: str) -> tuple[Path, str]:
    key = tmp_path / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key, (tmp_path / f"{name}.pub").read_text().strip()


def setup(repo: Repo) -> None:
    repo.write(".traingate.yaml", CFG)
    repo.write("train.py", "for batch in loader:\n    pass\n")
    repo.commit("initial")
    repo.branch("feature")
    repo.write("train.py", VERSION_A)
    repo.commit("schedule", who="bob")


def gate(repo: Repo, tmp_path: Path, log: Path, *extra: str, approver: str | None = "alice") -> int:
    """`check` of main..feature, its decision appended to ``log``."""
    args = [
        "check",
        "--repo",
        str(repo.path),
        "--base",
        "main",
        "--head",
        "feature",
        "--audit-log",
        str(log),
        *extra,
    ]
    if approver:
        head = repo.git("rev-parse", "feature").strip()
        f = tmp_path / "reviews.json"
        f.write_text(
            json.dumps(
                {
                    "author": "bob",
                    "reviews": [
                        {
                            "user": approver,
                            "state": "approved",
                            "commit": head,
                            "submitted_at": "2026-11-20T10:00:00Z",
                        }
                    ],
                }
            )
        )
        args += ["--approvals", str(f)]
    return main(args)


def squash(repo: Repo, content: str) -> str:
    """Squash-merge ``content`` as train.py onto main, as a host's squash merge would."""
    repo.checkout("main")
    repo.write("train.py", content)
    repo.git("add", "train.py")
    repo.git("commit", "-q", "-m", "feature (squashed)", who="alice")
    return repo.git("rev-parse", "HEAD").strip()


def history(
    repo: Repo, capsys: pytest.CaptureFixture[str], log: Path, *extra: str
) -> tuple[int, Any]:
    capsys.readouterr()
    code = main(
        [
            "audit",
            "history",
            "--repo",
            str(repo.path),
            "--audit-log",
            str(log),
            "--format",
            "json",
            *extra,
        ]
    )
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if code in (0, 1) else captured.err)


def test_record_of_the_approved_version_is_evidence_for_its_squash(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    setup(repo)
    log = tmp_path / "log.jsonl"
    assert gate(repo, tmp_path, log) == 0
    landed = squash(repo, VERSION_A)
    code, doc = history(repo, capsys, log)
    assert code == 0
    assert [e["commit"] for e in doc["approved"]] == [landed]


def test_record_of_a_whitespace_variant_is_no_evidence(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    setup(repo)
    log = tmp_path / "log.jsonl"
    assert gate(repo, tmp_path, log) == 0
    landed = squash(repo, VERSION_B)  # what landed is not what passed
    code, doc = history(repo, capsys, log)
    assert code == 1
    assert [e["commit"] for e in doc["unapproved"]] == [landed]


def test_advisory_pass_with_unmet_approvals_is_no_evidence(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    setup(repo)
    log = tmp_path / "log.jsonl"
    assert gate(repo, tmp_path, log, "--approvals-advisory", approver=None) == 0
    record = json.loads(log.read_text().splitlines()[-1])
    assert record["decision"] == "pass" and record["enforce_approvals"] is False
    landed = squash(repo, VERSION_A)
    code, doc = history(repo, capsys, log)
    assert code == 1
    assert [e["commit"] for e in doc["unapproved"]] == [landed]


def test_record_of_another_policy_is_no_evidence(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    setup(repo)
    log = tmp_path / "log.jsonl"
    assert gate(repo, tmp_path, log) == 0
    # The record is rewritten (re-chained by someone with write access) to say it
    # was judged under a different policy: it is no longer evidence for this one.
    lines = log.read_text().splitlines()
    rec = json.loads(lines[-1])
    rec.pop("seq"), rec.pop("prev")
    rec["policy"]["sha256"] = "0" * 64
    log.write_text("")
    audit.append(log, rec)
    squash(repo, VERSION_A)
    code, _doc = history(repo, capsys, log)
    assert code == 1


def test_unsigned_pass_appended_to_a_signed_log_is_refused(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    setup(repo)
    key, pub = keygen(tmp_path, "gate")
    signers = tmp_path / "signers"
    signers.write_text(f"gate {pub}\n")
    log = tmp_path / "log.jsonl"
    # The gate's run is signed and blocks (no approval) ...
    assert (
        gate(repo, tmp_path, log, "--audit-key", str(key), "--audit-signer", "gate", approver=None)
        == 1
    )
    # ... and an insider appends an unsigned "pass" for the same change.
    forged = json.loads(log.read_text().splitlines()[-1])
    for k in ("seq", "prev", "sig", "signer"):
        forged.pop(k)
    forged["decision"], forged["exit_code"] = "pass", 0
    for r in forged["requirements"]:
        r["approved_by"], r["error"] = ["alice"], None
    audit.append(log, forged)
    squash(repo, VERSION_A)
    code, err = history(repo, capsys, log, "--allowed-signers", str(signers))
    assert code == 2 and "is not intact" in err
    code, err = history(repo, capsys, log)
    assert code == 2 and "is signed" in err


def test_a_signed_log_that_verifies_is_evidence(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    setup(repo)
    key, pub = keygen(tmp_path, "gate")
    signers = tmp_path / "signers"
    signers.write_text(f"gate {pub}\n")
    log = tmp_path / "log.jsonl"
    assert gate(repo, tmp_path, log, "--audit-key", str(key), "--audit-signer", "gate") == 0
    squash(repo, VERSION_A)
    code, doc = history(repo, capsys, log, "--allowed-signers", str(signers))
    assert code == 0 and len(doc["approved"]) == 1
