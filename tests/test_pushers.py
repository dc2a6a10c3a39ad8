"""Every pusher on every event (issue #14 class 2) and merge queues and retargeting
(class 12, CI half), end to end through `traingate ci` with the environment a
GitHub Actions job or a GitLab merge request pipeline has: an event payload file,
CI variables, a shallow clone, and the real HTTP server on 127.0.0.1 answering in
the shapes of the platforms' REST API docs.

The attack: a collaborator pushes a commit carrying the PR author's git identity
onto the PR, then approves it. A review-triggered run used not to know who
pushed; its status is the one that stays. It must block exactly like the
push-triggered run."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from traingate.cli import main

from . import apiserver
from .apiserver import (
    ApiServer,
    Reply,
    gh_actor,
    gh_force_push,
    gh_run,
    gl_push_event,
    serve_runs,
)
from .conftest import POLICY, Repo
from .test_ci import clone_shallow, gh_job, gh_review, gl_env, seed_pr, sha

api_server = apiserver.api_server
SCHEMA = json.loads(
    (Path(__file__).parents[1] / "docs/reference/json-report.schema.json").read_text()
)

PR = "/repos/acme/train/pulls/7"
UIDS = {"mallory": 9, "bob": 2, "alice": 1, "sam": 3}


@pytest.fixture
def origin(repo: Repo) -> Repo:
    return seed_pr(repo, POLICY + "checks:\n  semgrep: {enabled: false}\n", "x = 2\n")


def bob_pushes_as_mallory(origin: Repo) -> tuple[str, str]:
    """bob (a collaborator, an eligible approver) pushes onto mallory's PR a commit
    whose git author and committer are mallory: git carries no trace of him."""
    first = sha(origin, "feature")
    origin.checkout("feature")
    origin.write("train.py", "x = 3  # bob's\n")
    second = origin.commit("tweak more", who="mallory")
    origin.checkout("main")
    return first, second


# --- GitHub ---------------------------------------------------------------------------


def pr_payload(origin: Repo, action: str, sender: str, base: str = "main") -> dict[str, Any]:
    """A `pull_request` / `pull_request_review` event payload (the fields the gate reads)."""
    payload: dict[str, Any] = {
        "action": action,
        "number": 7,
        "pull_request": {
            "number": 7,
            "user": gh_actor("mallory", UIDS["mallory"]),
            "base": {"ref": base, "sha": sha(origin, base)},
            "head": {
                "ref": "feature",
                "sha": sha(origin, "feature"),
                "repo": {"full_name": "acme/train"},
            },
        },
        "sender": gh_actor(sender, UIDS[sender]),
    }
    if action == "submitted":
        payload["review"] = {"state": "approved", "user": gh_actor(sender, UIDS[sender])}
    return payload


def gh_commit_entry(origin: Repo, commit: str) -> dict[str, Any]:
    """An entry of `GET /repos/{owner}/{repo}/pulls/{n}/commits`, from the real commit."""
    name, email, message = (
        origin.git("show", "-s", "--format=%an%n%ae%n%B", commit).strip().split("\n", 2)
    )
    login = email.split("@")[0]
    ident = {"name": name, "email": email, "date": "2026-11-20T09:00:00Z"}
    return {
        "sha": commit,
        "commit": {"author": ident, "committer": ident, "message": message},
        "author": gh_actor(login, UIDS.get(login, 99)),
        "committer": gh_actor(login, UIDS.get(login, 99)),
        "parents": [{"sha": origin.git("rev-parse", f"{commit}^").strip()}],
    }


def serve_pr(
    server: ApiServer,
    origin: Repo,
    reviews: list[dict[str, object]],
    runs: list[dict[str, Any]],
    *,
    base: str = "main",
    timeline: list[dict[str, Any]] | None = None,
) -> None:
    commits = origin.git("rev-list", "--reverse", f"{base}..feature").split()
    server.route(
        PR,
        Reply(
            200,
            {
                "number": 7,
                "state": "open",
                "user": gh_actor("mallory", UIDS["mallory"]),
                "commits": len(commits),
                "head": {
                    "ref": "feature",
                    "sha": sha(origin, "feature"),
                    "repo": {"full_name": "acme/train"},
                },
                "base": {"ref": base, "sha": sha(origin, base)},
            },
        ),
    )
    server.route(f"{PR}/reviews", Reply(200, reviews))
    server.route(f"{PR}/commits", Reply(200, [gh_commit_entry(origin, c) for c in commits]))
    serve_runs(server, "acme/train", runs)
    server.route("/repos/acme/train/issues/7/timeline", Reply(200, timeline or []))


def approve(user: str, commit: str, n: int = 1) -> dict[str, object]:
    review = gh_review(user, "APPROVED", commit, n)
    review["user"] = gh_actor(user, UIDS[user])
    return review


def run_json(work: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = main(["ci", "--repo", str(work), "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    jsonschema.validate(doc, SCHEMA)  # base_ref included (docs/reference/json-report.md)
    return code, doc


def training(doc: dict[str, Any]) -> dict[str, Any]:
    reqs: list[dict[str, Any]] = [r for r in doc["requirements"] if r["name"] == "training-code"]
    [req] = reqs
    return req


def test_github_collaborator_who_pushed_then_approved_blocks_on_every_event(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: ApiServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The attack on the review-triggered run, and the same change on the push run:
    both block, with the same requirement verdict."""
    first, head = bob_pushes_as_mallory(origin)
    runs = [
        gh_run(100, first, "mallory", uid=UIDS["mallory"]),  # mallory opened the PR
        gh_run(101, head, "bob", uid=UIDS["bob"]),  # bob's push: synchronize
        gh_run(102, head, "bob", event="pull_request_review", uid=UIDS["bob"]),
    ]
    serve_pr(api_server, origin, [approve("bob", head)], runs)
    work = clone_shallow(origin, "feature", tmp_path / "work")

    verdicts = {}
    for event, action in (("pull_request_review", "submitted"), ("pull_request", "synchronize")):
        gh_job(monkeypatch, tmp_path, api_server, event, pr_payload(origin, action, "bob"))
        code, doc = run_json(work, capsys)
        assert code == 1, doc
        req = training(doc)
        assert req["satisfied"] is False
        assert {"user": "bob", "reason": "pushed to the change"} in req["rejected"]
        verdicts[event] = (doc["decision"], doc["requirements"])
    assert verdicts["pull_request_review"] == verdicts["pull_request"]


def test_github_approver_who_never_pushed_passes_on_push_and_review_events(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: ApiServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Positive control. alice edits the PR's description after reviewing: that
    starts another pull_request run on the same head with her as actor, and
    re-runs mallory's run (triggering_actor); neither makes her a pusher."""
    head = sha(origin, "feature")
    runs = [
        gh_run(100, head, "mallory", uid=UIDS["mallory"], triggering_actor="alice", run_attempt=2),
        gh_run(103, head, "alice", uid=UIDS["alice"]),  # `edited` by alice, later
        gh_run(104, head, "alice", event="pull_request_review", uid=UIDS["alice"]),
    ]
    serve_pr(api_server, origin, [approve("alice", head)], runs)
    work = clone_shallow(origin, "feature", tmp_path / "work")
    for event, action, sender in (
        ("pull_request", "synchronize", "mallory"),
        ("pull_request_review", "submitted", "alice"),
    ):
        gh_job(monkeypatch, tmp_path, api_server, event, pr_payload(origin, action, sender))
        code, doc = run_json(work, capsys)
        assert code == 0, doc
        assert training(doc)["approved_by"] == ["alice"]


def test_github_force_pusher_cannot_approve(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: ApiServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """alice force-pushed the PR at some point (the timeline says so): she pushed a
    head of the change, whatever commit it is now."""
    head = sha(origin, "feature")
    serve_pr(
        api_server,
        origin,
        [approve("alice", head)],
        [gh_run(100, head, "mallory", uid=UIDS["mallory"])],
        timeline=[gh_force_push(5, "alice", UIDS["alice"])],
    )
    gh_job(
        monkeypatch,
        tmp_path,
        api_server,
        "pull_request_review",
        pr_payload(origin, "submitted", "alice"),
    )
    code, doc = run_json(clone_shallow(origin, "feature", tmp_path / "work"), capsys)
    assert code == 1
    assert {"user": "alice", "reason": "pushed to the change"} in training(doc)["rejected"]


def test_github_unknown_pusher_blocks_with_what_to_do(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: ApiServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No run names the head's pusher (a push with [skip ci] elsewhere, a token
    without actions:read that sees nothing): the review run cannot tell, so it blocks."""
    head = sha(origin, "feature")
    serve_pr(api_server, origin, [approve("alice", head)], runs=[])
    gh_job(
        monkeypatch,
        tmp_path,
        api_server,
        "pull_request_review",
        pr_payload(origin, "submitted", "alice"),
    )
    code = main(["ci", "--repo", str(clone_shallow(origin, "feature", tmp_path / "work"))])
    out = capsys.readouterr().out
    assert code == 1, out
    assert (
        f"approvals cannot be judged: who pushed the head {head[:12]} of pull request #7 "
        "cannot be determined: no push or pull_request workflow run on 'feature' names it; "
        "give the workflow's token actions:read" in out
    )
    assert "decision=block" in (tmp_path / "output.txt").read_text()


@pytest.mark.parametrize(
    ("reply", "said"),
    [
        (Reply(403, {"message": "Resource not accessible by integration"}), "HTTP 403"),
        (Reply(502, {"message": "Server Error"}), "server error HTTP 502"),
    ],
)
def test_github_runs_api_failure_blocks(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: ApiServer,
    capsys: pytest.CaptureFixture[str],
    reply: Reply,
    said: str,
) -> None:
    head = sha(origin, "feature")
    serve_pr(api_server, origin, [approve("alice", head)], runs=[])
    api_server.route("/repos/acme/train/actions/runs", reply)
    gh_job(
        monkeypatch,
        tmp_path,
        api_server,
        "pull_request_review",
        pr_payload(origin, "submitted", "alice"),
    )
    code = main(["ci", "--repo", str(clone_shallow(origin, "feature", tmp_path / "work"))])
    out = capsys.readouterr().out
    assert code == 1, out
    assert f"who pushed commit {head[:12]} of pull request #7 cannot be determined" in out
    assert said in out and "actions:read" in out


# --- GitHub merge queue and retargeting (class 12) -----------------------------------


def queue_candidate(origin: Repo) -> tuple[str, str]:
    """GitHub's merge-queue candidate: a merge of the PR onto main, made (author and
    committer) by GitHub <noreply@github.com>, on gh-readonly-queue/main/pr-7-<sha>."""
    base = sha(origin, "main")
    ref = f"gh-readonly-queue/main/pr-7-{sha(origin, 'feature')}"
    origin.git("checkout", "-q", "-b", ref, "main")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
        "GIT_AUTHOR_NAME": "GitHub",
        "GIT_AUTHOR_EMAIL": "noreply@github.com",
        "GIT_COMMITTER_NAME": "GitHub",
        "GIT_COMMITTER_EMAIL": "noreply@github.com",
    }
    subprocess.run(
        [
            "git",
            "merge",
            "-q",
            "--no-ff",
            "-m",
            "Merge pull request #7 from acme/feature",
            "feature",
        ],
        cwd=origin.path,
        env=env,
        check=True,
        capture_output=True,
    )
    candidate = sha(origin, "HEAD")
    origin.checkout("main")
    return base, candidate


def merge_group_payload(origin: Repo, base: str, candidate: str) -> dict[str, Any]:
    """A `merge_group` `checks_requested` payload (GitHub's webhook docs)."""
    ident = {"name": "GitHub", "email": "noreply@github.com"}
    return {
        "action": "checks_requested",
        "merge_group": {
            "head_sha": candidate,
            "head_ref": f"refs/heads/gh-readonly-queue/main/pr-7-{sha(origin, 'feature')}",
            "base_sha": base,
            "base_ref": "refs/heads/main",
            "head_commit": {
                "id": candidate,
                "tree_id": origin.git("rev-parse", f"{candidate}^{{tree}}").strip(),
                "message": "Merge pull request #7 from acme/feature",
                "timestamp": "2026-11-20T13:00:00Z",
                "author": ident,
                "committer": ident,
            },
        },
        "repository": {"id": 1296269, "full_name": "acme/train"},
        "sender": gh_actor("alice", UIDS["alice"]),
    }


def test_github_merge_queue_candidate_of_an_approved_pr_passes(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: ApiServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Positive control: alice approved the PR's head; the queue judges the candidate
    base_sha..head_sha with the PR's reviews. Relies on the judge's replay rule (an
    approval of the PR head covers a candidate whose tree is the replay onto base)."""
    head = sha(origin, "feature")
    base, candidate = queue_candidate(origin)
    serve_pr(api_server, origin, [approve("alice", head)], [gh_run(100, head, "mallory", uid=9)])
    files = gh_job(
        monkeypatch,
        tmp_path,
        api_server,
        "merge_group",
        merge_group_payload(origin, base, candidate),
    )
    # what actions/checkout of a merge_group run has: the queue's branch, shallow
    work = clone_shallow(origin, f"gh-readonly-queue/main/pr-7-{head}", tmp_path / "work")
    code, doc = run_json(work, capsys)
    assert code == 0, (doc["errors"], doc["requirements"], doc["warnings"])
    assert (doc["base"], doc["head"], doc["merge_base"]) == (base, candidate, base)
    assert training(doc)["approved_by"] == ["alice"]
    assert "decision=pass" in files["output.txt"].read_text()
    # the runs looked up are the PR's commits, not GitHub's candidate
    assert all(candidate not in r.query for r in api_server.hits("/repos/acme/train/actions/runs"))


USERS = "users:\n" + "".join(
    f"  {u}: {{emails: [{u}@example.com], github: {u}, github_ids: [{n}], gitlab: {u}}}\n"
    for u, n in UIDS.items()
)


def test_github_merge_queue_candidate_passes_with_a_users_map(
    repo: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: ApiServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With `users:` every participant must map to a person; GitHub's own identity
    on the candidate (author and committer GitHub <noreply@github.com>) is the
    platform, not an unmapped person that would block."""
    origin = seed_pr(repo, POLICY + USERS + "checks:\n  semgrep: {enabled: false}\n", "x = 2\n")
    head = sha(origin, "feature")
    base, candidate = queue_candidate(origin)
    serve_pr(api_server, origin, [approve("alice", head)], [gh_run(100, head, "mallory", uid=9)])
    gh_job(
        monkeypatch,
        tmp_path,
        api_server,
        "merge_group",
        merge_group_payload(origin, base, candidate),
    )
    work = clone_shallow(origin, f"gh-readonly-queue/main/pr-7-{head}", tmp_path / "work")
    code, doc = run_json(work, capsys)
    assert code == 0, json.dumps([doc["errors"], doc["requirements"], doc["warnings"]])
    assert training(doc)["approved_by"] == ["alice"]


def test_github_merge_queue_candidate_blocks_a_pusher_approval(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: ApiServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first, head = bob_pushes_as_mallory(origin)
    base, candidate = queue_candidate(origin)
    runs = [gh_run(100, first, "mallory", uid=9), gh_run(101, head, "bob", uid=2)]
    serve_pr(api_server, origin, [approve("bob", head)], runs)
    gh_job(
        monkeypatch,
        tmp_path,
        api_server,
        "merge_group",
        merge_group_payload(origin, base, candidate),
    )
    work = clone_shallow(origin, f"gh-readonly-queue/main/pr-7-{head}", tmp_path / "work")
    code, doc = run_json(work, capsys)
    assert code == 1
    assert {"user": "bob", "reason": "pushed to the change"} in training(doc)["rejected"]


@pytest.mark.parametrize(
    "head_ref",
    ["refs/heads/gh-readonly-queue/release/pr-7-" + "a" * 40, "refs/heads/feature"],
)
def test_github_merge_queue_ref_of_another_base_is_refused(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: ApiServer,
    capsys: pytest.CaptureFixture[str],
    head_ref: str,
) -> None:
    base, candidate = queue_candidate(origin)
    payload = merge_group_payload(origin, base, candidate)
    payload["merge_group"]["head_ref"] = head_ref
    gh_job(monkeypatch, tmp_path, api_server, "merge_group", payload)
    assert main(["ci", "--repo", str(origin.path)]) == 2
    assert "cannot tell which pull request the merge-queue ref" in capsys.readouterr().err
    assert api_server.requests == []


def test_github_retargeted_pr_is_judged_against_the_new_base(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: ApiServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An `edited` event that moved the PR from main to release: the change, its
    policy and its approvals are judged against release, and the report says so."""
    origin.git("checkout", "-q", "-b", "release", "main~1")
    origin.write(".traingate.yaml", POLICY.replace("[alice, bob]", "[bob]"))
    origin.commit("release: only bob reviews training code", who="sam")
    origin.checkout("main")
    head = sha(origin, "feature")
    serve_pr(
        api_server,
        origin,
        [approve("alice", head)],
        [gh_run(100, head, "mallory", uid=9)],
        base="release",
    )
    payload = pr_payload(origin, "edited", "mallory", base="release")
    payload["changes"] = {"base": {"ref": {"from": "main"}, "sha": {"from": sha(origin, "main")}}}
    files = gh_job(monkeypatch, tmp_path, api_server, "pull_request", payload)
    code, doc = run_json(clone_shallow(origin, "feature", tmp_path / "work"), capsys)
    assert code == 1, doc
    assert doc["base"] == sha(origin, "release")
    assert doc["policy"]["source"] == f".traingate.yaml@{sha(origin, 'release')[:12]}"
    assert training(doc)["satisfied"] is False  # alice is no reviewer on release
    assert (
        "the base branch changed from 'main' to 'release': judged against 'release'"
        in doc["warnings"]
    )
    assert "decision=block" in files["output.txt"].read_text()


def test_github_report_names_the_base_it_was_judged_against(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: ApiServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    origin.git("branch", "release", "main")
    head = sha(origin, "feature")
    serve_pr(
        api_server,
        origin,
        [approve("alice", head)],
        [gh_run(100, head, "mallory", uid=9)],
        base="release",
    )
    payload = pr_payload(origin, "edited", "mallory", base="release")
    payload["changes"] = {"base": {"ref": {"from": "main"}}}
    files = gh_job(monkeypatch, tmp_path, api_server, "pull_request", payload)
    code, doc = run_json(clone_shallow(origin, "feature", tmp_path / "work"), capsys)
    assert code == 0, doc
    assert doc["base_ref"] == "release"
    assert "· base `release` ·" in files["summary.md"].read_text()


# --- GitLab ---------------------------------------------------------------------------

MR = "/api/v4/projects/42/merge_requests/5"


def gl_user(name: str) -> dict[str, Any]:
    return {"id": UIDS[name], "username": name, "name": name.title(), "state": "active"}


def serve_mr(
    server: ApiServer,
    origin: Repo,
    approvers: list[str],
    events: list[dict[str, Any]] | Reply,
    *,
    source_project: int = 42,
) -> None:
    commits = origin.git("rev-list", "--reverse", "main..feature").split()
    server.route(
        MR,
        Reply(
            200,
            {
                "id": 100,
                "iid": 5,
                "project_id": 42,
                "author": gl_user("mallory"),
                "sha": commits[-1],
                "source_branch": "feature",
                "target_branch": "main",
                "source_project_id": source_project,
                "target_project_id": 42,
                "created_at": "2026-11-20T09:05:00.000Z",
            },
        ),
    )
    server.route(
        f"{MR}/approvals",
        Reply(
            200,
            {
                "iid": 5,
                "approved_by": [
                    {"user": gl_user(u), "approved_at": "2026-11-20T12:00:00.000Z"}
                    for u in approvers
                ],
            },
        ),
    )
    server.route(f"{MR}/approval_state", Reply(200, {"approval_rules_overwritten": False}))
    server.route(
        f"{MR}/versions",
        Reply(
            200,
            [
                {
                    "id": i,
                    "head_commit_sha": c,
                    "base_commit_sha": sha(origin, "main~1"),
                    "start_commit_sha": sha(origin, "main~1"),
                    "created_at": f"2026-11-20T{9 + i:02d}:00:00.000Z",
                    "state": "collected",
                }
                for i, c in enumerate(commits)
            ][::-1],
        ),
    )
    server.route(
        f"{MR}/commits",
        Reply(
            200,
            [
                {
                    "id": c,
                    "short_id": c[:8],
                    "title": "tweak",
                    "author_email": "mallory@example.com",
                    "committer_email": "mallory@example.com",
                    "committed_date": "2026-11-20T09:00:00.000Z",
                    "created_at": "2026-11-20T09:00:00.000Z",
                }
                for c in commits[::-1]
            ],
        ),
    )
    route = f"/api/v4/projects/{source_project}/events"
    server.route(route, events if isinstance(events, Reply) else Reply(200, events))


def test_gitlab_collaborator_who_pushed_then_approved_blocks(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: ApiServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first, head = bob_pushes_as_mallory(origin)
    gl_env(monkeypatch, origin, api_server)
    events = [
        gl_push_event(2, "bob", UIDS["bob"], head, commit_from=first),
        gl_push_event(1, "mallory", UIDS["mallory"], first),
    ]
    serve_mr(api_server, origin, ["bob"], events)
    code, doc = run_json(clone_shallow(origin, "feature", tmp_path / "work"), capsys)
    assert code == 1, doc
    assert {"user": "bob", "reason": "pushed to the change"} in training(doc)["rejected"]
    [hit] = api_server.hits("/api/v4/projects/42/events")
    assert hit.query == "action=pushed&per_page=100&after=2026-11-19"
    assert hit.headers["private-token"] == "glpat-test"


def test_gitlab_approver_who_never_pushed_passes(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: ApiServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    head = sha(origin, "feature")
    gl_env(monkeypatch, origin, api_server)
    events = [
        gl_push_event(3, "bob", UIDS["bob"], head, ref="bobs-branch"),  # another branch
        gl_push_event(1, "mallory", UIDS["mallory"], head),
    ]
    serve_mr(api_server, origin, ["bob"], events)
    code, doc = run_json(clone_shallow(origin, "feature", tmp_path / "work"), capsys)
    assert code == 0, doc
    assert training(doc)["approved_by"] == ["bob"]


def test_gitlab_unknown_pusher_blocks_with_what_to_do(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: ApiServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    head = sha(origin, "feature")
    gl_env(monkeypatch, origin, api_server)
    serve_mr(api_server, origin, ["bob"], [])
    code = main(["ci", "--repo", str(clone_shallow(origin, "feature", tmp_path / "work"))])
    out = capsys.readouterr().out
    assert code == 1, out
    assert (
        f"who pushed the head {head[:12]} of merge request !5 cannot be determined: no push "
        "event of 'feature' in project 42 names it; push the branch again, or check that the "
        "token can read the project's events (read_api)" in out
    )


def test_gitlab_fork_the_token_cannot_read_blocks(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: ApiServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    gl_env(monkeypatch, origin, api_server)
    serve_mr(
        api_server,
        origin,
        ["bob"],
        Reply(404, {"message": "404 Project Not Found"}),
        source_project=43,
    )
    code = main(["ci", "--repo", str(clone_shallow(origin, "feature", tmp_path / "work"))])
    out = capsys.readouterr().out
    assert code == 1, out
    assert (
        "the merge request comes from a fork (project 43) whose events the token cannot read" in out
    )


def test_gitlab_events_api_failure_blocks(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: ApiServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    gl_env(monkeypatch, origin, api_server)
    serve_mr(api_server, origin, ["bob"], Reply(500, {"message": "500 Internal Server Error"}))
    code = main(["ci", "--repo", str(clone_shallow(origin, "feature", tmp_path / "work"))])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "approvals cannot be judged: who pushed the head" in out
    assert "server error HTTP 500" in out
    assert len(api_server.hits("/api/v4/projects/42/events")) == 5  # retried, bounded


def test_github_whitespace_variant_pushed_after_approval_is_stale(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: ApiServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue #14 class 1 in `traingate ci`: alice approved mallory's head; mallory
    force-pushes the same diff with one line's indentation changed. The
    approval names the old head: stale for train.py, blocked on the review run."""
    origin.checkout("feature")
    origin.git("reset", "-q", "--hard", "main")
    origin.write("train.py", "x = 2\n" + "if False:\n    pass\n")
    approved = origin.commit("tune", who="mallory")
    origin.git("reset", "-q", "--hard", "main")
    origin.write("train.py", "x = 2\n" + "if False:\n    pass\n".replace("    pass", "  pass"))
    head = origin.commit("tune", who="mallory")
    origin.checkout("main")
    runs = [gh_run(100, head, "mallory", uid=UIDS["mallory"])]
    serve_pr(api_server, origin, [approve("alice", approved)], runs)
    work = clone_shallow(origin, "feature", tmp_path / "work")
    work_git = ["git", "-C", str(work), "fetch", "-q", str(origin.path), approved]
    subprocess.run(work_git, check=True)  # the approved commit is known to the runner
    gh_job(
        monkeypatch, tmp_path, api_server, "pull_request_review",
        pr_payload(origin, "submitted", "alice"),
    )  # fmt: skip
    code, doc = run_json(work, capsys)
    assert code == 1, doc
    req = training(doc)
    assert req["approved_by"] == []
    assert req["rejected"] == [
        {
            "user": "alice",
            "reason": f"stale: approved {approved[:12]}; the change has changed since, in train.py",
        }
    ]


@pytest.mark.parametrize(("review_n", "counts"), [(1, False), (3, True)])
def test_github_approval_before_a_retarget_is_stale(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: ApiServer,
    capsys: pytest.CaptureFixture[str],
    review_n: int,
    counts: bool,
) -> None:
    """Issue #14 class 12: a PR opened against a weak branch, approved there, then
    retargeted to main. GitHub's review names only the head commit, not the base
    it was judged against, so an approval from before the timeline's
    `base_ref_changed` was of another change. One given after it counts."""
    head = sha(origin, "feature")
    retarget = {
        "event": "base_ref_changed",
        "actor": gh_actor("mallory", UIDS["mallory"]),
        "created_at": "2026-11-20T12:00:00Z",
    }
    serve_pr(
        api_server,
        origin,
        [approve("alice", head, review_n)],  # submitted at 11:00 or 13:00
        [gh_run(100, head, "mallory", uid=UIDS["mallory"])],
        timeline=[retarget],
    )
    gh_job(
        monkeypatch,
        tmp_path,
        api_server,
        "pull_request_review",
        pr_payload(origin, "submitted", "alice"),
    )
    code, doc = run_json(clone_shallow(origin, "feature", tmp_path / "work"), capsys)
    req = training(doc)
    if counts:
        assert code == 0 and req["approved_by"] == ["alice"], doc
    else:
        assert code == 1
        assert req["rejected"] == [
            {
                "user": "alice",
                "reason": "stale: given before the pull request's base branch changed",
            }
        ]


def test_github_review_dismissed_event_rejudges_without_the_approval(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: ApiServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue #19: a `pull_request_review` `dismissed` run judges the PR again; the
    reviews API now lists alice's approval as DISMISSED, so it no longer counts."""
    head = sha(origin, "feature")
    dismissed = approve("alice", head)
    dismissed["state"] = "DISMISSED"
    serve_pr(api_server, origin, [dismissed], [gh_run(100, head, "mallory", uid=UIDS["mallory"])])
    payload = pr_payload(origin, "dismissed", "sam")
    payload["review"] = {"state": "dismissed", "user": gh_actor("alice", UIDS["alice"])}
    gh_job(monkeypatch, tmp_path, api_server, "pull_request_review", payload)
    code, doc = run_json(clone_shallow(origin, "feature", tmp_path / "work"), capsys)
    assert code == 1, doc
    assert training(doc)["approved_by"] == []
