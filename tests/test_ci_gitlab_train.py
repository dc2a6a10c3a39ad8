"""GitLab merge trains and the API token (issue #19), end to end through `traingate ci`
with the predefined variables of a merge-train pipeline and the real HTTP server on
127.0.0.1 answering in the shapes of GitLab's REST API docs.

A merge-train pipeline runs on refs/merge-requests/<iid>/train: CI_COMMIT_SHA is the
train's candidate (the MR merged onto the cars ahead of it), and
CI_MERGE_REQUEST_SOURCE_BRANCH_SHA the MR's own head. The gate must judge what will
land, the candidate, with the MR's approvals, the way `merge_group` does on GitHub.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from traingate.cli import main

from . import apiserver
from .apiserver import ApiServer, gl_push_event
from .conftest import POLICY, Repo
from .test_ci import clone_shallow, seed_pr, sha
from .test_pushers import UIDS, serve_mr

api_server = apiserver.api_server


@pytest.fixture
def origin(repo: Repo) -> Repo:
    return seed_pr(repo, POLICY + "checks:\n  semgrep: {enabled: false}\n", "x = 2\n")


def build_train(origin: Repo, *, evil: bool = False, ff: bool = False) -> tuple[str, str]:
    """Another MR is the car ahead (P = main + docs/other.md); this MR's candidate is
    C = P + feature, made by GitLab for alice, who added it to the train. ``evil``:
    the candidate carries content the approved head does not (a tampered train
    commit); ``ff``: a fast-forward train, the MR rebased onto P, no merge commit.
    Returns (P, C), with C on branch train-5 (what the runner checks out)."""
    origin.git("checkout", "-q", "-b", "train-ahead", "main")
    origin.write("docs/other.md", "another MR\n")
    origin.commit("other MR", who="sam")
    origin.git("checkout", "-q", "main")
    origin.git("checkout", "-q", "-b", "train-4", "main")
    origin.git("merge", "-q", "--no-ff", "-m", "Merge branch 'other' into 'main'", "train-ahead")
    ahead = sha(origin, "HEAD")
    origin.git("checkout", "-q", "-b", "train-5", ahead)
    if ff:
        origin.git("cherry-pick", "feature")
    elif evil:
        origin.git("merge", "-q", "--no-ff", "--no-commit", "feature")
        origin.write("train.py", "x = 666\n")
        origin.commit("Merge branch 'feature' into 'main'")
    else:
        origin.git("merge", "-q", "--no-ff", "-m", "Merge branch 'feature' into 'main'", "feature")
    candidate = sha(origin, "HEAD")
    origin.checkout("main")
    return ahead, candidate


def train_env(
    monkeypatch: pytest.MonkeyPatch, origin: Repo, server: ApiServer, candidate: str
) -> None:
    for k, v in {
        "GITLAB_CI": "true",
        "CI_PIPELINE_SOURCE": "merge_request_event",
        "CI_MERGE_REQUEST_EVENT_TYPE": "merge_train",
        "CI_MERGE_REQUEST_IID": "5",
        "CI_PROJECT_ID": "42",
        "CI_COMMIT_SHA": candidate,
        "CI_COMMIT_REF_NAME": "refs/merge-requests/5/train",
        "CI_MERGE_REQUEST_REF_PATH": "refs/merge-requests/5/head",
        "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "feature",
        "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA": sha(origin, "feature"),
        "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
        "CI_MERGE_REQUEST_TARGET_BRANCH_SHA": sha(origin, "main"),
        "CI_MERGE_REQUEST_DIFF_BASE_SHA": sha(origin, "main~1"),
        "CI_API_V4_URL": server.url + "/api/v4",
        "TRAINGATE_GITLAB_TOKEN": "glpat-test",
        "TRAINGATE_HTTP_BACKOFF": "0.01",
    }.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)


def run_json(work: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = main(["ci", "--repo", str(work), "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def training(doc: dict[str, Any]) -> dict[str, Any]:
    reqs: list[dict[str, Any]] = [r for r in doc["requirements"] if r["name"] == "training-code"]
    [req] = reqs
    return req


def mallory_pushed(origin: Repo) -> list[dict[str, Any]]:
    return [gl_push_event(1, "mallory", UIDS["mallory"], sha(origin, "feature"))]


def test_merge_train_candidate_of_an_approved_mr_passes(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: ApiServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ahead, candidate = build_train(origin)
    train_env(monkeypatch, origin, api_server, candidate)
    serve_mr(api_server, origin, ["bob"], mallory_pushed(origin))
    work = clone_shallow(origin, "train-5", tmp_path / "work")
    code, doc = run_json(work, capsys)
    assert code == 0, json.dumps([doc["errors"], doc["requirements"], doc["warnings"]])
    # the candidate, judged against the car ahead: docs/other.md is not this MR's
    assert (doc["base"], doc["head"]) == (ahead, candidate)
    assert [f["path"] for f in doc["changed_files"]] == ["train.py"]
    assert training(doc)["approved_by"] == ["bob"]
    assert any("merge train: judged the candidate" in w for w in doc["warnings"])
    # alice added the MR to the train: GitLab's merge commit does not make her an author
    assert "alice" in training(doc)["eligible"]


def test_merge_train_candidate_with_content_beyond_the_approved_head_blocks(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: ApiServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """What lands is the candidate, not the MR head: judging the head (as before issue
    #19) would pass this; the candidate's train.py is not what bob approved."""
    _, candidate = build_train(origin, evil=True)
    train_env(monkeypatch, origin, api_server, candidate)
    serve_mr(api_server, origin, ["bob"], mallory_pushed(origin))
    code, doc = run_json(clone_shallow(origin, "train-5", tmp_path / "work"), capsys)
    assert code == 1, doc
    assert doc["head"] == candidate
    assert training(doc)["approved_by"] == []


def test_fast_forward_train_is_judged_from_the_target_tip(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: ApiServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No merge commit names the car ahead: strict, from the protected branch's tip,
    so the car ahead's change is judged too (here it needs no approval) and says so."""
    _, candidate = build_train(origin, ff=True)
    train_env(monkeypatch, origin, api_server, candidate)
    serve_mr(api_server, origin, ["bob"], mallory_pushed(origin))
    code, doc = run_json(clone_shallow(origin, "train-5", tmp_path / "work"), capsys)
    assert doc["base"] == sha(origin, "main") and doc["head"] == candidate
    assert sorted(f["path"] for f in doc["changed_files"]) == ["docs/other.md", "train.py"]
    assert any("not a merge commit (a fast-forward train)" in w for w in doc["warnings"])
    assert code == 0, doc["requirements"]
    assert training(doc)["approved_by"] == ["bob"]


def test_merge_train_not_built_on_the_target_is_refused(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: ApiServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, candidate = build_train(origin)
    origin.write("README.md", "main moved again\n")
    origin.commit("main moves", who="alice")  # the train was built on an older tip
    train_env(monkeypatch, origin, api_server, candidate)
    serve_mr(api_server, origin, ["bob"], mallory_pushed(origin))
    code = main(["ci", "--repo", str(clone_shallow(origin, "train-5", tmp_path / "work"))])
    assert code == 2
    assert "is not built on the tip" in capsys.readouterr().err


def test_merge_train_without_the_source_sha_is_a_usage_error(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: ApiServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, candidate = build_train(origin)
    train_env(monkeypatch, origin, api_server, candidate)
    monkeypatch.delenv("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA")
    assert main(["ci", "--repo", str(origin.path)]) == 2
    assert "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA" in capsys.readouterr().err
    assert api_server.requests == []


def test_only_the_job_token_explains_protected_variables(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: ApiServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A protected TRAINGATE_GITLAB_TOKEN never reaches an MR pipeline of an ordinary
    branch; the error must say so, not only that the job token cannot read approvals."""
    _, candidate = build_train(origin)
    train_env(monkeypatch, origin, api_server, candidate)
    monkeypatch.delenv("TRAINGATE_GITLAB_TOKEN")
    monkeypatch.delenv("GITLAB_TOKEN", raising=False)
    monkeypatch.setenv("CI_JOB_TOKEN", "job")
    code = main(["ci", "--repo", str(clone_shallow(origin, "train-5", tmp_path / "work"))])
    err = capsys.readouterr().err
    assert code == 3
    assert "TRAINGATE_GITLAB_TOKEN is not set in this pipeline" in err
    assert "cannot read merge request approvals" in err
    assert "protected" in err and "never to merge request pipelines" in err
    assert "masked variable that is NOT protected" in err
    assert api_server.requests == []
