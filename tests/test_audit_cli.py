"""Decision records from `check`, `audit verify`, and `audit history` in a real repo."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from traingate.cli import main

from . import apiserver
from .apiserver import ApiServer, Reply
from .conftest import POLICY, Repo

api_server = apiserver.api_server

CFG = POLICY + "checks:\n  semgrep: {enabled: false}\n"


def keygen(tmp_path: Path, name: str) -> tuple[Path, str]:
    key = tmp_path / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key, (tmp_path / f"{name}.pub").read_text().strip()


def test_check_appends_signed_records_that_verify(
    policy_repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key, pub = keygen(tmp_path, "gate")
    signers = tmp_path / "allowed"
    signers.write_text(f"gate {pub}\n")
    log = tmp_path / "decisions.jsonl"
    policy_repo.write("train.py", "x = 1\n")
    policy_repo.commit("tweak", who="mallory")
    args = [
        "check",
        "--repo",
        str(policy_repo.path),
        "--base",
        "main",
        "--head",
        "feature",
        "--audit-log",
        str(log),
        "--audit-key",
        str(key),
        "--audit-signer",
        "gate",
    ]
    assert main(args) == 1
    assert main(args) == 1
    capsys.readouterr()
    records = [json.loads(x) for x in log.read_text().splitlines()]
    assert [r["seq"] for r in records] == [1, 2]
    r = records[0]
    assert r["decision"] == "block" and r["exit_code"] == 1 and r["signer"] == "gate"
    assert r["head"] == policy_repo.git("rev-parse", "feature").strip() and len(r["patch_id"]) == 40
    assert r["requirements"][0]["name"] == "training-code" and r["policy"]["source"].startswith(
        ".traingate.yaml@"
    )
    assert main(["audit", "verify", str(log), "--allowed-signers", str(signers)]) == 0
    assert "audit log intact: 2 records" in capsys.readouterr().out
    lines = log.read_text().splitlines()
    lines[0] = lines[0].replace('"decision":"block"', '"decision":"pass"')
    log.write_text("\n".join(lines) + "\n")
    assert main(["audit", "verify", str(log), "--allowed-signers", str(signers)]) == 1
    assert "record 1" in capsys.readouterr().out


def test_unwritable_audit_log_fails_closed(
    policy_repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "log.jsonl"
    log.write_text("garbage\n")
    code = main(
        [
            "check",
            "--repo",
            str(policy_repo.path),
            "--base",
            "main",
            "--head",
            "feature",
            "--audit-log",
            str(log),
        ]
    )
    assert code == 3


def test_history_lists_exactly_the_direct_push(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.write(".traingate.yaml", CFG)
    repo.write("train.py", "x = 0\n")
    repo.write("README.md", "r\n")
    repo.commit("initial")
    log = tmp_path / "decisions.jsonl"

    def merged_change(branch: str, content: str, squash: bool = False) -> None:
        repo.branch(branch)
        repo.write("train.py", content)
        repo.commit(f"{branch} work", who="bob")
        # the gate passed this change (approved by alice through the JSON source)
        approvals = tmp_path / f"{branch}.json"
        head = repo.git("rev-parse", "HEAD").strip()
        approvals.write_text(
            json.dumps(
                {
                    "author": "bob",
                    "reviews": [
                        {
                            "user": "alice",
                            "state": "approved",
                            "commit": head,
                            "submitted_at": "2026-11-20T10:00:00Z",
                        }
                    ],
                }
            )
        )
        assert (
            main(
                [
                    "check",
                    "--repo",
                    str(repo.path),
                    "--base",
                    "main",
                    "--head",
                    branch,
                    "--approvals",
                    str(approvals),
                    "--audit-log",
                    str(log),
                ]
            )
            == 0
        )
        repo.checkout("main")
        if squash:
            repo.git("merge", "--squash", "-q", branch)
            repo.git("commit", "-q", "-m", f"{branch} (squashed)", who="alice")
        else:
            repo.git("merge", "--no-ff", "-q", "-m", f"Merge {branch}", branch, who="alice")

    merged_change("feat-a", "x = 1\n")
    merged_change("feat-b", "x = 2\n", squash=True)
    repo.write("README.md", "docs only\n")
    repo.commit("docs: direct push outside sensitive paths", who="alice")
    repo.write("train.py", "x = 3  # hotfix\n")
    direct = repo.commit("hotfix straight to main", who="mallory")
    merged_change("feat-c", "x = 4\n")
    capsys.readouterr()

    code = main(
        [
            "audit",
            "history",
            "--repo",
            str(repo.path),
            "--branch",
            "main",
            "--audit-log",
            str(log),
            "--format",
            "json",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [e["commit"] for e in doc["unapproved"]] == [direct]
    assert doc["unapproved"][0]["sensitive"] == ["training-code"]
    assert len(doc["approved"]) == 3
    assert all(e["evidence"].startswith("audit log record") for e in doc["approved"])


def test_history_with_signed_notes(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key, pub = keygen(tmp_path, "alice")
    repo.write(".traingate/allowed_signers", f"alice {pub}\n")
    repo.write(
        ".traingate.yaml",
        CFG + "approvals:\n  signed:\n    allowed_signers: .traingate/allowed_signers\n",
    )
    repo.write("train.py", "x = 0\n")
    repo.commit("initial")
    repo.branch("feat")
    repo.write("train.py", "x = 1\n")
    repo.commit("work", who="bob")
    assert (
        main(
            [
                "approve",
                "--repo",
                str(repo.path),
                "--base",
                "main",
                "--head",
                "feat",
                "--key",
                str(key),
                "--approver",
                "alice",
            ]
        )
        == 0
    )
    repo.checkout("main")
    repo.git("merge", "--no-ff", "-q", "-m", "Merge feat", "feat", who="alice")
    capsys.readouterr()
    assert main(["audit", "history", "--repo", str(repo.path)]) == 0
    out = capsys.readouterr().out
    assert "[ok     ]" in out and "evidence: signed approvals by alice" in out


def test_history_accepts_approved_github_pull_requests(
    repo: Repo,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    api_server: ApiServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo.write(".traingate.yaml", CFG)
    repo.write("train.py", "x = 0\n")
    repo.commit("initial")
    repo.branch("feat")
    repo.write("train.py", "x = 1\n")
    head = repo.commit("work", who="bob")
    repo.checkout("main")
    repo.git("merge", "--squash", "-q", "feat")
    repo.git("commit", "-q", "-m", "feat (#12)", who="alice")
    squash = repo.git("rev-parse", "HEAD").strip()
    repo.write("train.py", "x = 2\n")
    direct = repo.commit("unreviewed", who="mallory")
    monkeypatch.setenv("GITHUB_API_URL", api_server.url)
    monkeypatch.setenv("GITHUB_TOKEN", "t")
    monkeypatch.setenv("TRAINGATE_HTTP_BACKOFF", "0.01")
    user = lambda login: {"login": login, "id": 1, "type": "User"}  # noqa: E731
    api_server.route(
        f"/repos/acme/train/commits/{squash}/pulls",
        Reply(
            200,
            [
                {
                    "number": 12,
                    "merged_at": "2026-11-20T12:00:00Z",
                    "merge_commit_sha": squash,
                    "head": {"sha": head},
                    "user": user("bob"),
                }
            ],
        ),
    )
    api_server.route(f"/repos/acme/train/commits/{direct}/pulls", Reply(200, []))
    api_server.route(
        "/repos/acme/train/pulls/12", Reply(200, {"number": 12, "user": user("bob"), "commits": 1})
    )
    api_server.route(
        "/repos/acme/train/pulls/12/reviews",
        Reply(
            200,
            [
                {
                    "id": 1,
                    "user": user("alice"),
                    "state": "APPROVED",
                    "commit_id": head,
                    "submitted_at": "2026-11-20T11:00:00Z",
                }
            ],
        ),
    )
    api_server.route(
        "/repos/acme/train/pulls/12/commits",
        Reply(
            200,
            [
                {
                    "sha": head,
                    "commit": {
                        "author": {"name": "bob", "email": "bob@example.com"},
                        "committer": {"name": "bob", "email": "bob@example.com"},
                    },
                    "author": user("bob"),
                    "committer": user("bob"),
                }
            ],
        ),
    )
    capsys.readouterr()
    code = main(
        ["audit", "history", "--repo", str(repo.path), "--github", "acme/train", "--format", "json"]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [e["commit"] for e in doc["unapproved"]] == [direct]
    assert [e["evidence"] for e in doc["approved"]] == ["pull request #12 approved by alice"]
