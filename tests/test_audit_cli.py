"""Decision records from `check`, `audit verify`, and `audit history` in a real repo."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from traingate.cli import main

from . import apiserver
from .apiserver import ApiServer, Reply, gh_run, gl_push_event, serve_runs
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
    bob_key, bob_pub = keygen(tmp_path, "bob")
    repo.write(".traingate/allowed_signers", f"alice {pub}\nbob {bob_pub}\n")
    repo.write(
        ".traingate.yaml",
        CFG + "approvals:\n  signed:\n    allowed_signers: .traingate/allowed_signers\n",
    )
    repo.write("train.py", "x = 0\n")
    repo.commit("initial")
    repo.branch("feat")
    repo.write("train.py", "x = 1\n")
    # The signed flow takes no commit identity on trust (issue #14 class 3):
    # bob signs his commit with a key listed at the base.
    repo.git("add", "-A")
    repo.git(
        "-c", "gpg.format=ssh", "-c", f"user.signingkey={bob_key}",
        "commit", "-q", "-S", "-m", "work", who="bob",
    )  # fmt: skip
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


def squash_merged_pr(repo: Repo, branch: str, message: str) -> tuple[str, str]:
    """A policy and train.py on main, then bob's one-commit branch squash-merged
    by alice: (the branch head, the squash commit)."""
    repo.write(".traingate.yaml", CFG)
    repo.write("train.py", "x = 0\n")
    repo.commit("initial")
    repo.branch(branch)
    repo.write("train.py", "x = 1\n")
    head = repo.commit(branch, who="bob")
    repo.checkout("main")
    repo.git("merge", "--squash", "-q", branch)
    repo.git("commit", "-q", "-m", message, who="alice")
    return head, repo.git("rev-parse", "HEAD").strip()


def test_history_accepts_approved_github_pull_requests(
    repo: Repo,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    api_server: ApiServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    head, squash = squash_merged_pr(repo, "feat", "feat (#12)")
    repo.write("train.py", "x = 2\n")
    direct = repo.commit("unreviewed", who="mallory")
    monkeypatch.setenv("GITHUB_API_URL", api_server.url)
    monkeypatch.setenv("GITHUB_TOKEN", "t")
    monkeypatch.setenv("TRAINGATE_HTTP_BACKOFF", "0.01")

    def user(login: str) -> dict[str, Any]:
        return {"login": login, "id": 1, "type": "User"}

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
        "/repos/acme/train/pulls/12",
        Reply(
            200,
            {
                "number": 12,
                "user": user("bob"),
                "commits": 1,
                "head": {"ref": "feat", "sha": head, "repo": {"full_name": "acme/train"}},
                "base": {"ref": "main"},
            },
        ),
    )
    # bob pushed the PR's head (issue #14: every pusher, also for landed changes)
    serve_runs(api_server, "acme/train", [gh_run(1, head, "bob", branch="feat")])
    api_server.route("/repos/acme/train/issues/12/timeline", Reply(200, []))
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


def gl_user(username: str, uid: int) -> dict[str, object]:
    return {"id": uid, "username": username, "name": username.title(), "state": "active"}


def gl_mr(
    iid: int, head: str, *, merge: str | None, squash: str | None = None
) -> dict[str, object]:
    """A merge request in the shape of GitLab's `commits/:sha/merge_requests` list."""
    return {
        "id": 1000 + iid,
        "iid": iid,
        "project_id": 42,
        "state": "merged",
        "author": gl_user("bob", 3),
        "sha": head,
        "merge_commit_sha": merge,
        "squash_commit_sha": squash,
        "merged_at": "2026-11-20T12:00:00.000Z",
        "target_branch": "main",
        "source_branch": f"b{iid}",
        "source_project_id": 42,
        "target_project_id": 42,
        "created_at": "2026-11-20T09:00:00.000Z",
    }


def serve_gitlab_mr(server: ApiServer, iid: int, commits: list[str], approver: str) -> None:
    mr = f"/api/v4/projects/ml%2Ftrain/merge_requests/{iid}"
    server.route(
        mr, Reply(200, {**gl_mr(iid, commits[-1], merge=None), "author": gl_user("bob", 3)})
    )
    server.route(
        f"{mr}/approvals",
        Reply(
            200,
            {
                "iid": iid,
                "approved_by": [
                    {"user": gl_user(approver, 2), "approved_at": "2026-11-20T11:00:00.000Z"}
                ],
            },
        ),
    )
    server.route(
        f"{mr}/approval_state", Reply(200, {"approval_rules_overwritten": False, "rules": []})
    )
    server.route(
        f"{mr}/versions",
        Reply(
            200,
            [
                {
                    "id": iid * 10,
                    "head_commit_sha": commits[-1],
                    "base_commit_sha": "f" * 40,
                    "start_commit_sha": "f" * 40,
                    "created_at": "2026-11-20T10:00:00.000Z",
                    "state": "collected",
                }
            ],
        ),
    )
    server.route(
        f"{mr}/commits",
        Reply(
            200,
            [
                {
                    "id": sha,
                    "short_id": sha[:8],
                    "title": "work",
                    "author_name": "bob",
                    "author_email": "bob@example.com",
                    "committer_name": "bob",
                    "committer_email": "bob@example.com",
                    "parent_ids": [],
                }
                for sha in reversed(commits)
            ],
        ),
    )


def test_history_accepts_approved_gitlab_merge_requests(
    repo: Repo,
    capsys: pytest.CaptureFixture[str],
    api_server: ApiServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # !7: squash-merged, approved by alice
    head7, squash7 = squash_merged_pr(repo, "lr", "Tune lr (!7)")
    # !8: two commits merged fast-forward, approved by alice
    repo.branch("sched")
    repo.write("train.py", "x = 2\n")
    first8 = repo.commit("sched 1", who="bob")
    repo.write("train.py", "x = 3\n")
    head8 = repo.commit("sched 2", who="bob")
    repo.checkout("main")
    repo.git("merge", "--ff-only", "-q", "sched")
    # !9: a merge commit whose only approval is the author's own
    repo.branch("self")
    repo.write("train.py", "x = 4\n")
    head9 = repo.commit("self approved", who="bob")
    repo.checkout("main")
    repo.git("merge", "--no-ff", "-q", "-m", "Merge !9", "self", who="bob")
    merge9 = repo.git("rev-parse", "HEAD").strip()
    # a direct push; an unmerged MR containing it is no evidence
    repo.write("train.py", "x = 5\n")
    direct = repo.commit("unreviewed", who="mallory")

    monkeypatch.setenv("CI_API_V4_URL", f"{api_server.url}/api/v4")
    monkeypatch.setenv("TRAINGATE_GITLAB_TOKEN", "t")
    monkeypatch.delenv("CI_JOB_TOKEN", raising=False)
    commits = "/api/v4/projects/ml%2Ftrain/repository/commits"
    api_server.route(
        f"{commits}/{squash7}/merge_requests",
        Reply(200, [gl_mr(7, head7, merge=None, squash=squash7)]),
    )
    for sha in (first8, head8):
        api_server.route(
            f"{commits}/{sha}/merge_requests", Reply(200, [gl_mr(8, head8, merge=None)])
        )
    api_server.route(
        f"{commits}/{merge9}/merge_requests", Reply(200, [gl_mr(9, head9, merge=merge9)])
    )
    api_server.route(
        f"{commits}/{direct}/merge_requests",
        Reply(200, [{**gl_mr(10, direct, merge=None), "state": "closed"}]),
    )
    # bob pushed each MR's head to its source branch
    api_server.route(
        "/api/v4/projects/42/events",
        Reply(
            200,
            [
                gl_push_event(i, "bob", 3, h, ref=f"b{i}")
                for i, h in ((7, head7), (8, head8), (9, head9))
            ],
        ),
    )
    serve_gitlab_mr(api_server, 7, [head7], "alice")
    serve_gitlab_mr(api_server, 8, [first8, head8], "alice")
    serve_gitlab_mr(api_server, 9, [head9], "bob")
    capsys.readouterr()
    code = main(
        ["audit", "history", "--repo", str(repo.path), "--gitlab", "ml/train", "--format", "json"]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [e["commit"] for e in doc["unapproved"]] == [merge9, direct]
    assert [(e["commit"], e["evidence"]) for e in doc["approved"]] == [
        (squash7, "merge request !7 approved by alice"),
        (first8, "merge request !8 approved by alice"),
        (head8, "merge request !8 approved by alice"),
    ]


def test_history_rejects_github_and_gitlab_together(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.write("train.py", "x = 0\n")
    repo.commit("initial")
    code = main(
        ["audit", "history", "--repo", str(repo.path), "--github", "a/b", "--gitlab", "a/b"]
    )
    assert code == 2
    assert "cannot be combined" in capsys.readouterr().err
