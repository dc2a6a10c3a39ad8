"""GitHub/GitLab approval sources against a real local HTTP server.

Payloads follow the shapes in the official API docs (REST v3 pulls/reviews/commits;
GitLab v4 merge requests/approvals/approval_state/commits/versions).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests import apiserver
from tests.apiserver import ApiServer, Reply, Seen, gh_force_push, gh_run, gl_push_event
from traingate.approvals import Commit, Review, ReviewData, github, gitlab
from traingate.approvals import http as api
from traingate.approvals.http import ApiError, get_all_pages, get_json, next_link

api_server = apiserver.api_server  # the fixture, visible to pytest in this module

SHA1, SHA2, SHA3 = "a" * 40, "b" * 40, "c" * 40
PR = "/repos/octo/train/pulls/7"


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """No real sleeping, no ambient tokens/URLs/proxies from the developer's shell."""
    for name in (
        "GITHUB_API_URL",
        "GITHUB_TOKEN",
        "CI_API_V4_URL",
        "TRAINGATE_GITLAB_TOKEN",
        "GITLAB_TOKEN",
        "CI_JOB_TOKEN",
        "TRAINGATE_HTTP_BACKOFF",
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)
    slept: list[float] = []
    monkeypatch.setattr(api, "_sleep", slept.append)
    return slept


# --- GitHub payloads ------------------------------------------------------------------


def gh_user(login: str, kind: str = "User", uid: int = 1) -> dict[str, Any]:
    return {
        "login": login,
        "id": uid,
        "node_id": "MDQ6VXNlcjE=",
        "avatar_url": f"https://github.com/images/{login}.gif",
        "url": f"https://api.github.com/users/{login}",
        "html_url": f"https://github.com/{login}",
        "type": kind,
        "site_admin": False,
    }


def gh_pull(author: str = "dana", commits: int = 3) -> dict[str, Any]:
    return {
        "url": "https://api.github.com/repos/octo/train/pulls/7",
        "id": 1,
        "node_id": "MDExOlB1bGxSZXF1ZXN0MQ==",
        "number": 7,
        "state": "open",
        "locked": False,
        "title": "Tune the learning rate",
        "user": gh_user(author),
        "body": "Please pull these awesome changes",
        "head": {"label": "octo:lr", "ref": "lr", "sha": SHA3, "repo": {"full_name": "octo/train"}},
        "base": {"label": "octo:main", "ref": "main", "sha": "f" * 40},
        "author_association": "MEMBER",
        "draft": False,
        "merged": False,
        "comments": 0,
        "review_comments": 0,
        "commits": commits,
        "additions": 10,
        "deletions": 2,
        "changed_files": 1,
    }


def gh_review(
    rid: int, user: dict[str, Any] | None, state: str, commit: str, at: str | None
) -> dict[str, Any]:
    return {
        "id": rid,
        "node_id": "MDE3OlB1bGxSZXF1ZXN0UmV2aWV3ODA=",
        "user": user,
        "body": "Here is the body for the review.",
        "state": state,
        "html_url": f"https://github.com/octo/train/pull/7#pullrequestreview-{rid}",
        "pull_request_url": "https://api.github.com/repos/octo/train/pulls/7",
        "_links": {
            "html": {"href": f"https://github.com/octo/train/pull/7#pullrequestreview-{rid}"},
            "pull_request": {"href": "https://api.github.com/repos/octo/train/pulls/7"},
        },
        "submitted_at": at,
        "commit_id": commit,
        "author_association": "COLLABORATOR",
    }


def gh_commit(
    sha: str,
    author: dict[str, Any] | None,
    committer: dict[str, Any] | None,
    author_email: str,
    committer_email: str,
) -> dict[str, Any]:
    return {
        "url": f"https://api.github.com/repos/octo/train/commits/{sha}",
        "sha": sha,
        "node_id": "MDY6Q29tbWl0NmRjYjA5YjViNTc4NzVmMzM0ZjYxYWViZWQ2OTVlMmU0MTkzZGI1ZQ==",
        "html_url": f"https://github.com/octo/train/commit/{sha}",
        "comments_url": f"https://api.github.com/repos/octo/train/commits/{sha}/comments",
        "commit": {
            "url": f"https://api.github.com/repos/octo/train/git/commits/{sha}",
            "author": {"name": "A", "email": author_email, "date": "2024-05-01T10:00:00Z"},
            "committer": {"name": "C", "email": committer_email, "date": "2024-05-01T10:00:00Z"},
            "message": "Tune lr",
            "tree": {"url": "https://api.github.com/repos/octo/train/tree/x", "sha": "e" * 40},
            "comment_count": 0,
            "verification": {"verified": False, "reason": "unsigned", "signature": None},
        },
        "author": author,
        "committer": committer,
        "parents": [{"url": "https://api.github.com/repos/octo/train/commits/p", "sha": "0" * 40}],
    }


def link(server: ApiServer, path: str, page: int, last: int) -> dict[str, str]:
    """A real GitHub-style Link header pointing back at the test server."""
    rels = []
    if page < last:
        rels.append(f'<{server.url}{path}?per_page=100&page={page + 1}>; rel="next"')
    rels.append(f'<{server.url}{path}?per_page=100&page={last}>; rel="last"')
    return {"Link": ", ".join(rels)}


def serve_pages(server: ApiServer, path: str, pages: list[list[Any]]) -> None:
    for i, items in enumerate(pages, start=1):
        key = f"{path}?per_page=100" if i == 1 else f"{path}?per_page=100&page={i}"
        server.route(key, Reply(200, items, link(server, path, i, len(pages))))


RUNS = "/repos/octo/train/actions/runs"
TIMELINE = "/repos/octo/train/issues/7/timeline"


def serve_pushes(server: ApiServer) -> None:
    """Who pushed: runs per head_sha (SHA3's over two pages) and the PR's timeline."""

    def run(run_id: int, sha: str, actor: str, **k: Any) -> dict[str, Any]:
        return gh_run(run_id, sha, actor, repo="octo/train", branch="lr", **k)

    pushes: dict[str, list[list[dict[str, Any]]]] = {
        SHA1: [[run(10, SHA1, "erin", event="push", uid=7)]],
        SHA2: [[]],
        SHA3: [
            # dana's push started the synchronize run; alice's later edit of the PR
            # (same workflow, same commit) and her re-run did not push anything
            [
                run(31, SHA3, "alice", uid=2),
                run(30, SHA3, "dana", uid=1, triggering_actor="alice", run_attempt=2),
            ],
            [
                run(32, SHA3, "alice", event="pull_request_review", uid=2),
                run(33, SHA3, "octo-bot", event="workflow_dispatch", uid=8),
            ],
        ],
    }
    for sha, pages in pushes.items():
        for i, items in enumerate(pages, start=1):
            path = f"{RUNS}?head_sha={sha}&per_page=100"
            nxt = f'<{server.url}{path}&page={i + 1}>; rel="next"' if i < len(pages) else ""
            server.route(
                path if i == 1 else f"{path}&page={i}",
                Reply(200, {"total_count": 3, "workflow_runs": items}, {"Link": nxt}),
            )
    server.route(
        f"{TIMELINE}?per_page=100",
        Reply(200, [gh_force_push(1, "frank", 11), {"event": "labeled", "actor": gh_user("gus")}]),
    )


def serve_github(server: ApiServer, *, commits: int = 3) -> None:
    server.route(PR, Reply(200, gh_pull(commits=commits)))
    serve_pushes(server)
    alice, bob = gh_user("alice", uid=2), gh_user("bob", uid=3)
    serve_pages(
        server,
        f"{PR}/reviews",
        [
            [
                gh_review(1, alice, "COMMENTED", SHA1, "2024-05-01T11:00:00Z"),
                gh_review(2, None, "APPROVED", SHA1, "2024-05-01T11:05:00Z"),
            ],
            [
                gh_review(3, bob, "CHANGES_REQUESTED", SHA2, "2024-05-01T12:00:00Z"),
                gh_review(4, gh_user("carol", uid=4), "PENDING", SHA2, None),
                gh_review(
                    5,
                    gh_user("dependabot[bot]", "Bot", 5),
                    "APPROVED",
                    SHA2,
                    "2024-05-01T12:30:00Z",
                ),
            ],
            [
                gh_review(6, alice, "APPROVED", SHA3, "2024-05-01T13:00:00Z"),
                gh_review(7, bob, "DISMISSED", SHA2, "2024-05-01T13:10:00Z"),
                gh_review(
                    8, gh_user("ci-helper", "Bot", 6), "COMMENTED", SHA3, "2024-05-01T13:20:00Z"
                ),
            ],
        ],
    )
    serve_pages(
        server,
        f"{PR}/commits",
        [
            [
                gh_commit(SHA1, gh_user("dana"), gh_user("dana"), "dana@ex.com", "dana@ex.com"),
                # Edited in the web UI: GitHub's "web-flow" account commits.
                gh_commit(
                    SHA2, gh_user("dana"), gh_user("web-flow"), "dana@ex.com", "noreply@github.com"
                ),
            ],
            [
                # An email GitHub cannot link to an account: author/committer are null.
                gh_commit(
                    SHA3, None, gh_user("github-actions[bot]", "Bot"), "eve@ex.com", "bot@ex.com"
                ),
            ],
        ],
    )


def test_github_fetch_reads_every_page_and_maps_exactly(api_server: ApiServer) -> None:
    serve_github(api_server)
    data = github.fetch("octo/train", 7, api_url=api_server.url, token="s3cret", pusher="dana")
    assert data == ReviewData(
        source="github:octo/train#7",
        author="dana",
        commits=(
            Commit(SHA1, "dana", "dana", "dana@ex.com", "dana@ex.com"),
            Commit(SHA2, "dana", None, "dana@ex.com", "noreply@github.com"),
            Commit(SHA3, None, "github-actions[bot]", "eve@ex.com", "bot@ex.com"),
        ),
        reviews=tuple(
            Review(user, state, commit, at, platform="github", user_id=uid, is_bot=bot)
            for user, state, commit, at, uid, bot in [
                ("alice", "commented", SHA1, "2024-05-01T11:00:00Z", 2, False),
                ("bob", "changes_requested", SHA2, "2024-05-01T12:00:00Z", 3, False),
                ("dependabot[bot]", "approved", SHA2, "2024-05-01T12:30:00Z", 5, True),
                ("alice", "approved", SHA3, "2024-05-01T13:00:00Z", 2, False),
                ("bob", "dismissed", SHA2, "2024-05-01T13:10:00Z", 3, False),
                ("ci-helper", "commented", SHA3, "2024-05-01T13:20:00Z", 6, True),
            ]
        ),
        pusher="dana",
        bots=frozenset({"dependabot[bot]", "ci-helper", "github-actions[bot]"}),
        notes=(),
        # erin pushed SHA1, dana SHA3 (the first run of its workflow), frank force-pushed
        pushers=frozenset({"dana", "erin", "frank"}),
        platform="github",
        author_id=1,
    )
    paths = [r.path for r in api_server.requests]
    assert paths == [
        PR,
        f"{PR}/reviews?per_page=100",
        f"{PR}/reviews?per_page=100&page=2",
        f"{PR}/reviews?per_page=100&page=3",
        f"{PR}/commits?per_page=100",
        f"{PR}/commits?per_page=100&page=2",
        f"{RUNS}?head_sha={SHA1}&per_page=100",
        f"{RUNS}?head_sha={SHA2}&per_page=100",
        f"{RUNS}?head_sha={SHA3}&per_page=100",
        f"{RUNS}?head_sha={SHA3}&per_page=100&page=2",
        f"{TIMELINE}?per_page=100",
    ]
    for seen in api_server.requests:
        assert seen.headers["authorization"] == "Bearer s3cret"
        assert seen.headers["accept"] == "application/vnd.github+json"
        assert seen.headers["x-github-api-version"] == "2022-11-28"


def test_github_env_defaults(api_server: ApiServer, monkeypatch: pytest.MonkeyPatch) -> None:
    serve_github(api_server)
    monkeypatch.setenv("GITHUB_API_URL", api_server.url + "/")
    monkeypatch.setenv("GITHUB_TOKEN", "from-env")
    assert github.fetch("octo/train", 7).author == "dana"
    assert {r.headers["authorization"] for r in api_server.requests} == {"Bearer from-env"}


def test_github_without_token_sends_no_authorization(api_server: ApiServer) -> None:
    serve_github(api_server)
    github.fetch("octo/train", 7, api_url=api_server.url)
    assert all("authorization" not in r.headers for r in api_server.requests)


def test_github_commit_cap_returns_none_with_note(api_server: ApiServer) -> None:
    serve_github(api_server, commits=260)
    serve_pages(
        api_server,
        f"{PR}/commits",
        [
            [gh_commit(f"{i:040x}", None, None, "x@ex.com", "x@ex.com") for i in range(n)]
            for n in (100, 100, 50)
        ],
    )
    data = github.fetch("octo/train", 7, api_url=api_server.url)
    assert data.commits is None
    assert data.notes == (
        "GitHub listed 250 of the pull request's 260 commits (the API caps the list at 250); "
        "commits are read from local git instead",
    )
    assert len(api_server.hits(f"{PR}/commits")) == 3


def test_github_missing_commit_count_falls_back_to_git(api_server: ApiServer) -> None:
    serve_github(api_server)
    pull = gh_pull()
    del pull["commits"]
    api_server.route(PR, Reply(200, pull))
    data = github.fetch("octo/train", 7, api_url=api_server.url)
    assert data.commits is None
    assert data.notes == (
        "GitHub did not report the pull request's commit count; "
        "commits are read from local git instead",
    )


def test_github_retries_a_500_then_succeeds(api_server: ApiServer, _env: list[float]) -> None:
    serve_github(api_server)
    api_server.route(PR, Reply(500, {"message": "boom"}), Reply(200, gh_pull()))
    assert github.fetch("octo/train", 7, api_url=api_server.url).author == "dana"
    assert len(api_server.hits(PR)) == 2
    assert _env == [0.2]


def test_backoff_base_from_env(
    api_server: ApiServer, _env: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAINGATE_HTTP_BACKOFF", "0.01")
    api_server.route("/x", Reply(502), Reply(503), Reply(200, {"ok": True}))
    assert get_json(api_server.url + "/x", token_header=None)[0] == {"ok": True}
    assert _env == [0.01, 0.02]


@pytest.mark.parametrize(
    ("status", "help_"),
    [
        (401, "the token is missing or invalid: set GITHUB_TOKEN"),
        (
            403,
            "the token cannot read this pull request: give it pull-requests:read and contents:read",
        ),
        (404, "check the repository/project id and that the token can see it"),
    ],
)
def test_github_client_errors_fail_at_once(
    api_server: ApiServer, _env: list[float], status: int, help_: str
) -> None:
    api_server.route(PR, Reply(status, {"message": "Resource not accessible by integration"}))
    with pytest.raises(ApiError) as err:
        github.fetch("octo/train", 7, api_url=api_server.url, token="t")
    assert err.value.status == status
    assert err.value.help == help_
    assert err.value.message == (
        f"GET {api_server.url}{PR}: HTTP {status}: Resource not accessible by integration"
    )
    assert err.value.exit_code == 3
    assert len(api_server.hits(PR)) == 1 and _env == []  # no retry


def test_github_404_without_token_says_so(api_server: ApiServer) -> None:
    with pytest.raises(ApiError) as err:
        github.fetch("octo/train", 7, api_url=api_server.url)
    assert err.value.help == (
        "check the repository/project id and that the token can see it (GITHUB_TOKEN is not set)"
    )


def test_rate_limit_429_honours_retry_after(api_server: ApiServer, _env: list[float]) -> None:
    serve_github(api_server)
    api_server.route(
        PR, Reply(429, {"message": "slow down"}, {"Retry-After": "3"}), Reply(200, gh_pull())
    )
    assert github.fetch("octo/train", 7, api_url=api_server.url).author == "dana"
    assert _env == [3.0]


def test_rate_limit_403_with_remaining_zero_is_retried_and_capped(
    api_server: ApiServer, _env: list[float]
) -> None:
    reset = str(int(time.time()) + 3600)  # an hour away: capped at MAX_WAIT
    limited = Reply(
        403,
        {"message": "API rate limit exceeded"},
        {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset},
    )
    api_server.route("/x", limited, Reply(200, []))
    assert get_json(api_server.url + "/x", token_header=None)[0] == []
    assert _env == [api.MAX_WAIT]


def test_rate_limit_forever_gives_up_within_the_budget(
    api_server: ApiServer, _env: list[float]
) -> None:
    api_server.route("/x", Reply(429, {"message": "slow down"}, {"Retry-After": "60"}))
    with pytest.raises(ApiError) as err:
        get_json(api_server.url + "/x", token_header=None)
    assert err.value.help == "rate limited; retry later"
    assert err.value.status == 429
    assert "gave up after 4 attempts" in err.value.message
    assert _env == [10.0, 10.0, 10.0]  # a 4th wait would exceed MAX_TOTAL_WAIT
    assert sum(_env) <= api.MAX_TOTAL_WAIT


def test_server_errors_forever_give_up_after_retries(
    api_server: ApiServer, _env: list[float]
) -> None:
    api_server.route(
        "/x", Reply(503, "<html>Service Unavailable</html>", {"Content-Type": "text/html"})
    )
    with pytest.raises(ApiError) as err:
        get_json(api_server.url + "/x", token_header=None, retries=2)
    assert (
        err.value.message
        == f"GET {api_server.url}/x: server error HTTP 503 (gave up after 3 attempts)"
    )
    assert len(api_server.requests) == 3 and _env == [0.2, 0.4]


def test_html_body_is_an_error(api_server: ApiServer) -> None:
    page = "<!DOCTYPE html><html><body>Sign in to your proxy</body></html>"
    api_server.route(PR, Reply(200, page, {"Content-Type": "text/html; charset=utf-8"}))
    with pytest.raises(ApiError) as err:
        github.fetch("octo/train", 7, api_url=api_server.url)
    assert err.value.help == "the API returned something that is not JSON (a proxy or login page?)"
    assert "is not JSON" in err.value.message


def test_malformed_json_is_an_error(api_server: ApiServer) -> None:
    api_server.route("/x", Reply(200, '{"truncated": '))
    with pytest.raises(ApiError, match="response is not JSON"):
        get_json(api_server.url + "/x", token_header=None)


def test_a_page_that_is_not_a_list_is_an_error(api_server: ApiServer) -> None:
    api_server.route("/x", Reply(200, {"items": []}))
    with pytest.raises(ApiError, match="expected a JSON list, got dict"):
        get_all_pages(api_server.url + "/x", token_header=None)


def forever(server: ApiServer) -> Any:
    def reply(seen: Seen) -> Reply:
        page = int(dict(p.split("=") for p in seen.query.split("&") if p).get("page", "1"))
        path = urlsplit(seen.path).path
        nxt = f'<{server.url}{path}?per_page=100&page={page + 1}>; rel="next"'
        return Reply(200, [], {"Link": nxt})  # empty pages, always a next link

    return reply


def test_endless_pagination_is_an_error_not_a_truncation(api_server: ApiServer) -> None:
    api_server.route("/x", forever(api_server))
    with pytest.raises(ApiError, match="still more pages after 5 pages; refusing to truncate"):
        get_all_pages(api_server.url + "/x", token_header=None, max_pages=5)
    assert len(api_server.requests) == 5


def test_endless_review_pagination_fails_the_fetch(api_server: ApiServer) -> None:
    api_server.route(PR, Reply(200, gh_pull()))
    api_server.route(f"{PR}/reviews", forever(api_server))
    with pytest.raises(ApiError, match="after 100 pages"):
        github.fetch("octo/train", 7, api_url=api_server.url)
    assert len(api_server.hits(f"{PR}/reviews")) == 100


def test_hang_times_out_then_fails(api_server: ApiServer, _env: list[float]) -> None:
    api_server.route("/x", Reply(200, [], hang=3.0))
    start = time.monotonic()
    with pytest.raises(ApiError) as err:
        get_json(api_server.url + "/x", token_header=None, timeout=0.3, retries=1)
    assert time.monotonic() - start < 2.5
    assert (
        err.value.message
        == f"GET {api_server.url}/x: timed out after 0.3s (gave up after 2 attempts)"
    )
    assert len(api_server.requests) == 2 and _env == [0.2]


def test_next_link_to_another_host_is_refused(api_server: ApiServer) -> None:
    api_server.route("/x", Reply(200, [1], {"Link": '<https://evil.example/x?page=2>; rel="next"'}))
    with pytest.raises(ApiError, match="points to another host"):
        get_all_pages(api_server.url + "/x", token_header=("Authorization", "Bearer t"))
    assert len(api_server.requests) == 1


def test_redirects_keep_the_token_on_the_same_host_only(api_server: ApiServer) -> None:
    api_server.route("/old", Reply(301, "", {"Location": "/new"}))
    api_server.route("/new", Reply(200, {"moved": True}))
    assert get_json(api_server.url + "/old", token_header=("Authorization", "Bearer t"))[0] == {
        "moved": True
    }
    assert api_server.requests[-1].headers["authorization"] == "Bearer t"

    other = api_server.url.replace("127.0.0.1", "localhost")  # same server, another host
    api_server.route("/away", Reply(302, "", {"Location": f"{other}/new"}))
    with pytest.raises(ApiError, match="refusing a redirect to another host"):
        get_json(api_server.url + "/away", token_header=("Authorization", "Bearer t"))
    assert [r.path for r in api_server.requests] == ["/old", "/new", "/away"]


def test_only_http_urls() -> None:
    with pytest.raises(ApiError, match="only http"):
        get_json("file:///etc/passwd", token_header=None)


def test_gitlab_x_next_page_without_link(api_server: ApiServer) -> None:
    api_server.route("/x?per_page=2", Reply(200, [1, 2], {"X-Next-Page": "2"}))
    api_server.route("/x?per_page=2&page=2", Reply(200, [3], {"X-Next-Page": ""}))
    assert get_all_pages(api_server.url + "/x?per_page=2", token_header=None) == [1, 2, 3]


def test_next_link_parsing() -> None:
    header = (
        '<https://api.github.com/r?page=1>; rel="prev", '
        '<https://api.github.com/r?page=3>; rel="next", '
        '<https://api.github.com/r?page=9>; rel="last"'
    )
    assert next_link(header) == "https://api.github.com/r?page=3"
    assert next_link('<https://h/r?a=1,2>; rel="first"') is None
    assert next_link("<https://h/r?page=2>; rel=next") == "https://h/r?page=2"
    assert next_link("") is None


@pytest.mark.parametrize(("repo", "number"), [("octo", 1), ("../etc", 1), ("octo/train", 0)])
def test_github_rejects_bad_arguments(repo: str, number: int) -> None:
    from traingate.errors import UsageError

    with pytest.raises(UsageError):
        github.fetch(repo, number, api_url="http://127.0.0.1:9")


# --- GitLab payloads ------------------------------------------------------------------

MR = "/api/v4/projects/ml%2Ftrain/merge_requests/5"


def gl_user(username: str, uid: int = 1) -> dict[str, Any]:
    return {
        "id": uid,
        "username": username,
        "name": username.title(),
        "state": "active",
        "avatar_url": f"https://gitlab.example/uploads/{username}.png",
        "web_url": f"https://gitlab.example/{username}",
    }


def gl_mr(author: str = "dana") -> dict[str, Any]:
    return {
        "id": 155016530,
        "iid": 5,
        "project_id": 42,
        "title": "Tune the learning rate",
        "state": "opened",
        "author": gl_user(author),
        "source_branch": "lr",
        "target_branch": "main",
        "source_project_id": 42,
        "target_project_id": 42,
        "created_at": "2024-05-01T09:00:00.000Z",
        "sha": SHA3,
        "draft": False,
    }


def gl_approvals(approved_by: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": 5,
        "iid": 5,
        "project_id": 42,
        "title": "Tune the learning rate",
        "state": "opened",
        "approved": bool(approved_by),
        "approvals_required": 1,
        "approvals_left": 0,
        "approved_by": approved_by,
    }


def gl_state(overwritten: bool) -> dict[str, Any]:
    return {
        "approval_rules_overwritten": overwritten,
        "rules": [
            {
                "id": 1,
                "name": "Ugly Rule",
                "rule_type": "regular",
                "eligible_approvers": [gl_user("alice", 2)],
                "approvals_required": 1,
                "users": [gl_user("alice", 2)],
                "groups": [],
                "contains_hidden_groups": False,
                "approved_by": [gl_user("alice", 2)],
                "source_rule": None,
                "approved": True,
                "overridden": overwritten,
            }
        ],
    }


def gl_commit(sha: str, author_email: str, committer_email: str) -> dict[str, Any]:
    return {
        "id": sha,
        "short_id": sha[:8],
        "title": "Tune lr",
        "author_name": "Dana",
        "author_email": author_email,
        "authored_date": "2024-05-01T10:00:00.000+02:00",
        "committer_name": "Dana",
        "committer_email": committer_email,
        "committed_date": "2024-05-01T10:00:00.000+02:00",
        "created_at": "2024-05-01T10:00:00.000+02:00",
        "parent_ids": ["0" * 40],
        "message": "Tune lr\n",
        "trailers": {},
        "web_url": f"https://gitlab.example/ml/train/-/commit/{sha}",
    }


def gl_version(vid: int, head: str, created: str) -> dict[str, Any]:
    return {
        "id": vid,
        "head_commit_sha": head,
        "base_commit_sha": "f" * 40,
        "start_commit_sha": "f" * 40,
        "created_at": created,
        "merge_request_id": 155016530,
        "state": "collected",
        "real_size": "1",
        "patch_id_sha": "d" * 40,
    }


VERSIONS = [  # newest first, as GitLab lists them; mixed offsets on purpose
    gl_version(3, SHA3, "2024-05-02T09:00:00.000Z"),
    gl_version(2, SHA2, "2024-05-01T12:00:00.000+02:00"),  # 10:00Z
    gl_version(1, SHA1, "2024-05-01T08:00:00.000Z"),
]


EVENTS = "/api/v4/projects/42/events"


def serve_gitlab(
    server: ApiServer, approved_by: list[dict[str, Any]], *, overwritten: bool = False
) -> None:
    server.route(MR, Reply(200, gl_mr()))
    server.route(EVENTS, Reply(200, [gl_push_event(1, "dana", 1, SHA3, ref="lr")]))
    server.route(f"{MR}/approvals", Reply(200, gl_approvals(approved_by)))
    server.route(f"{MR}/approval_state", Reply(200, gl_state(overwritten)))
    server.route(f"{MR}/versions", Reply(200, VERSIONS))
    server.route(
        f"{MR}/commits?per_page=100",
        Reply(
            200,
            [gl_commit(SHA3, "dana@ex.com", "dana@ex.com")],
            {"X-Next-Page": "2", **link(server, f"{MR}/commits", 1, 2)},
        ),
    )
    server.route(
        f"{MR}/commits?per_page=100&page=2",
        Reply(200, [gl_commit(SHA1, "eve@ex.com", "dana@ex.com")], {"X-Next-Page": ""}),
    )


def test_gitlab_fetch_maps_approvals_to_versions(api_server: ApiServer) -> None:
    serve_gitlab(
        api_server,
        [
            # 09:59:59Z: before version 2 (10:00Z) -> version 1's head
            {"user": gl_user("bob", 3), "approved_at": "2024-05-01T09:59:59.000Z"},
            # exactly at version 2's creation (other offset) -> version 2's head
            {"user": gl_user("alice", 2), "approved_at": "2024-05-01T10:00:00Z"},
            {"user": gl_user("project_42_bot_3f2a1c", 9), "approved_at": "2024-05-03T00:00:00Z"},
            {"user": gl_user("early", 4), "approved_at": "2024-05-01T07:00:00Z"},  # before v1
        ],
    )
    data = gitlab.fetch("ml/train", 5, api_url=api_server.url + "/api/v4", token="glpat-x")
    assert data == ReviewData(
        source="gitlab:ml/train!5",
        author="dana",
        commits=(
            Commit(SHA3, None, None, "dana@ex.com", "dana@ex.com"),
            Commit(SHA1, None, None, "eve@ex.com", "dana@ex.com"),
        ),
        reviews=tuple(
            Review(user, state, commit, at, platform="gitlab", user_id=uid, is_bot=bot)
            for user, state, commit, at, uid, bot in [
                ("bob", "approved", SHA1, "2024-05-01T09:59:59.000Z", 3, False),
                ("alice", "approved", SHA2, "2024-05-01T10:00:00Z", 2, False),
                ("project_42_bot_3f2a1c", "approved", SHA3, "2024-05-03T00:00:00Z", 9, True),
                ("early", "approved", None, "2024-05-01T07:00:00Z", 4, False),
            ]
        ),
        pusher=None,
        bots=frozenset({"project_42_bot_3f2a1c"}),
        notes=(),
        pushers=frozenset({"dana"}),
        platform="gitlab",
        author_id=1,
    )
    # the source project's push events since the day before the oldest commit (08:00Z)
    assert [r.query for r in api_server.hits(EVENTS)] == [
        "action=pushed&per_page=100&after=2024-04-30"
    ]
    assert {r.headers["private-token"] for r in api_server.requests} == {"glpat-x"}
    assert [r.path for r in api_server.hits(f"{MR}/commits")] == [
        f"{MR}/commits?per_page=100",
        f"{MR}/commits?per_page=100&page=2",
    ]
    assert api_server.hits(f"{MR}/versions")[0].query == "per_page=100"


def test_gitlab_env_token_and_numeric_project(
    api_server: ApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    mr = "/api/v4/projects/42/merge_requests/5"
    api_server.route(mr, Reply(200, gl_mr()))
    api_server.route(f"{mr}/approvals", Reply(200, gl_approvals([])))
    api_server.route(f"{mr}/approval_state", Reply(200, gl_state(False)))
    api_server.route(f"{mr}/versions", Reply(200, VERSIONS))
    api_server.route(f"{mr}/commits", Reply(200, []))
    monkeypatch.setenv("CI_API_V4_URL", api_server.url + "/api/v4")
    monkeypatch.setenv("GITLAB_TOKEN", "plain")
    monkeypatch.setenv("TRAINGATE_GITLAB_TOKEN", "preferred")
    monkeypatch.setenv("CI_JOB_TOKEN", "job")  # ignored when a real token is set
    data = gitlab.fetch("42", 5)
    assert (data.source, data.author, data.commits, data.reviews) == ("gitlab:42!5", "dana", (), ())
    assert {r.headers["private-token"] for r in api_server.requests} == {"preferred"}


def test_gitlab_job_token_only_is_refused(
    api_server: ApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI_JOB_TOKEN", "job")
    with pytest.raises(ApiError) as err:
        gitlab.fetch("ml/train", 5, api_url=api_server.url + "/api/v4")
    # The usual cause is a protected variable, which MR pipelines never see (#19).
    assert "CI_JOB_TOKEN" in err.value.message
    assert err.value.help == gitlab.JOB_TOKEN_HELP
    assert "NOT protected" in gitlab.JOB_TOKEN_HELP
    assert api_server.requests == []


def test_gitlab_403_on_approvals_explains_the_token(api_server: ApiServer) -> None:
    serve_gitlab(api_server, [])
    api_server.route(f"{MR}/approvals", Reply(403, {"message": "403 Forbidden"}))
    with pytest.raises(ApiError) as err:
        gitlab.fetch("ml/train", 5, api_url=api_server.url + "/api/v4", token="t")
    assert err.value.message == f"GET {api_server.url}{MR}/approvals: HTTP 403: 403 Forbidden"
    assert err.value.help == (
        "the CI job token cannot read approvals: use a project/group access token "
        "with read_api in TRAINGATE_GITLAB_TOKEN"
    )


def test_gitlab_overwritten_rules_note_or_refuse(api_server: ApiServer) -> None:
    serve_gitlab(api_server, [], overwritten=True)
    url = api_server.url + "/api/v4"
    data = gitlab.fetch("ml/train", 5, api_url=url, token="t")
    assert data.notes == ("approval rules overwritten by the merge request",)
    with pytest.raises(ApiError, match="the merge request overrides its own approval rules"):
        gitlab.fetch("ml/train", 5, api_url=url, token="t", refuse_overwritten_rules=True)


def test_gitlab_missing_approved_at_names_no_commit(api_server: ApiServer) -> None:
    serve_gitlab(
        api_server,
        [{"user": gl_user("alice", 2)}, {"user": None}, {"user": gl_user("renovate_bot", 7)}],
    )
    data = gitlab.fetch("ml/train", 5, api_url=api_server.url + "/api/v4", token="t")
    assert data.reviews == (
        Review("alice", "approved", None, "", platform="gitlab", user_id=2),
        Review("renovate_bot", "approved", None, "", is_bot=True, platform="gitlab", user_id=7),
    )
    assert data.bots == frozenset({"renovate_bot"})
    assert data.notes == (
        "GitLab did not report when approvals were given (an older GitLab?): "
        "those approvals name no commit and cannot count",
    )


@pytest.mark.parametrize(
    ("name", "bot"),
    [
        ("project_12_bot", True),
        ("group_3_bot_0a1b2c", True),
        ("support_bot", True),
        ("alice", False),
        ("bottom", False),
    ],
)
def test_gitlab_bot_names(name: str, bot: bool) -> None:
    assert gitlab._is_bot({"username": name}) is bot


# --- Who pushed (issue #14 class 2) -----------------------------------------------------


def test_get_all_pages_reads_a_wrapped_list(api_server: ApiServer) -> None:
    api_server.route("/wrapped", Reply(200, {"total_count": 1, "workflow_runs": [1, 2]}))
    url = api_server.url + "/wrapped"
    assert get_all_pages(url, token_header=None, items_key="workflow_runs") == [1, 2]
    api_server.route("/wrapped", Reply(200, {"total_count": 0}))
    with pytest.raises(ApiError, match="expected a JSON list in 'workflow_runs', got NoneType"):
        get_all_pages(url, token_header=None, items_key="workflow_runs")


def test_github_runs_api_refused_blocks_with_the_permission(api_server: ApiServer) -> None:
    serve_github(api_server)
    api_server.route(
        f"{RUNS}?head_sha={SHA1}&per_page=100",
        Reply(403, {"message": "Resource not accessible by integration"}),
    )
    data = github.fetch("octo/train", 7, api_url=api_server.url, token="t")
    [blocker] = data.blockers
    assert blocker.startswith(f"who pushed commit {SHA1[:12]} of pull request #7 cannot be ")
    assert "HTTP 403: Resource not accessible by integration" in blocker
    assert "actions:read" in blocker
    assert len(api_server.hits(RUNS)) == 1  # no retry on 403, no further lookups


def test_github_head_without_a_run_blocks(api_server: ApiServer) -> None:
    serve_github(api_server)
    api_server.route(f"{RUNS}?head_sha={SHA3}&per_page=100", Reply(200, {"workflow_runs": []}))
    data = github.fetch("octo/train", 7, api_url=api_server.url)
    assert data.blockers == (
        f"who pushed the head {SHA3[:12]} of pull request #7 cannot be determined: no push or "
        f"pull_request workflow run on 'lr' names it; {github.RUNS_HELP}",
    )
    assert data.pushers == frozenset({"erin", "frank"})
    # the synchronize event's sender pushed the head: known without a run
    data = github.fetch("octo/train", 7, api_url=api_server.url, pusher="dana", head=SHA3)
    assert (data.blockers, data.pushers) == ((), frozenset({"dana", "erin", "frank"}))


def test_github_skip_ci_head_is_named_as_the_reason(api_server: ApiServer) -> None:
    serve_github(api_server)
    head = gh_commit(SHA3, None, None, "eve@ex.com", "eve@ex.com")
    head["commit"]["message"] = "tweak\n\n[skip ci]"
    api_server.route(f"{PR}/commits?per_page=100", Reply(200, [head]))
    api_server.route(f"{PR}", Reply(200, gh_pull(commits=1)))
    api_server.route(f"{RUNS}?head_sha={SHA3}&per_page=100", Reply(200, {"workflow_runs": []}))
    [blocker] = github.fetch("octo/train", 7, api_url=api_server.url).blockers
    assert "its commit message skips workflow runs ([skip ci] or the like)" in blocker


def test_github_a_run_on_another_branch_does_not_name_the_head_pusher(
    api_server: ApiServer,
) -> None:
    """The same commit on someone else's PR or branch: its actor is a pusher too,
    but says nothing about who put the commit on this PR."""
    serve_github(api_server)
    api_server.route(
        f"{RUNS}?head_sha={SHA3}&per_page=100",
        Reply(
            200,
            {
                "workflow_runs": [
                    gh_run(40, SHA3, "ivan", repo="octo/train", branch="other", uid=12),
                    gh_run(41, SHA3, "dana", repo="fork/train", branch="lr", uid=1),
                ]
            },
        ),
    )
    data = github.fetch("octo/train", 7, api_url=api_server.url)
    assert {"ivan", "dana"} <= data.pushers
    assert len(data.blockers) == 1 and "cannot be determined" in data.blockers[0]


def test_github_fork_pr_head_is_named_by_the_forks_run(api_server: ApiServer) -> None:
    serve_github(api_server)
    pull = gh_pull()
    pull["head"]["repo"] = {"full_name": "fork/train"}
    api_server.route(PR, Reply(200, pull))
    api_server.route(
        f"{RUNS}?head_sha={SHA3}&per_page=100",
        Reply(200, {"workflow_runs": [gh_run(41, SHA3, "zed", repo="fork/train", branch="lr")]}),
    )
    data = github.fetch("octo/train", 7, api_url=api_server.url)
    assert data.blockers == () and "zed" in data.pushers


def test_github_timeline_failure_blocks(api_server: ApiServer) -> None:
    serve_github(api_server)
    api_server.route(f"{TIMELINE}?per_page=100", Reply(404, {"message": "Not Found"}))
    [blocker] = github.fetch("octo/train", 7, api_url=api_server.url).blockers
    assert blocker.startswith("force pushes onto pull request #7 cannot be read: ")


def test_github_pr_of_another_base_blocks(api_server: ApiServer) -> None:
    serve_github(api_server)
    data = github.fetch("octo/train", 7, api_url=api_server.url, base_ref="release")
    assert data.blockers == (
        "pull request #7 targets 'main', not 'release' that it is judged against: "
        "the run does not belong to this pull request",
    )


def test_gitlab_pushers_of_the_source_branch(api_server: ApiServer) -> None:
    serve_gitlab(api_server, [])
    api_server.route(
        EVENTS,
        Reply(
            200,
            [  # newest first, as GitLab lists them
                gl_push_event(6, "dana", 1, SHA3, ref="lr", created_at="2024-05-02T10:00:00Z"),
                # a force push while the MR was open, to a head since rewritten
                gl_push_event(5, "olga", 5, "9" * 40, ref="lr", created_at="2024-05-01T12:00:00Z"),
                gl_push_event(4, "paul", 6, SHA3, ref="other"),  # another branch
                gl_push_event(3, "quinn", 7, SHA3, ref=None),  # a bulk push names no ref
                gl_push_event(2, "erin", 8, SHA1, ref="lr", created_at="2024-05-01T08:30:00Z"),
                # before the MR, to a head that is not part of the change
                gl_push_event(1, "rita", 9, "8" * 40, ref="lr", created_at="2024-05-01T08:00:00Z"),
            ],
        ),
    )
    data = gitlab.fetch("ml/train", 5, api_url=api_server.url + "/api/v4", token="t")
    assert data.pushers == frozenset({"dana", "olga", "erin"})
    assert data.blockers == ()


def test_gitlab_unknown_head_pusher_blocks(api_server: ApiServer) -> None:
    serve_gitlab(api_server, [])
    api_server.route(
        EVENTS,
        Reply(
            200,
            [
                {**gl_push_event(3, "quinn", 7, None, ref=None), "push_data": {"ref_count": 4}},
                gl_push_event(2, "erin", 8, SHA1, ref="lr", created_at="2024-05-01T08:30:00Z"),
            ],
        ),
    )
    data = gitlab.fetch("ml/train", 5, api_url=api_server.url + "/api/v4", token="t")
    assert data.blockers == (
        f"who pushed the head {SHA3[:12]} of merge request !5 cannot be determined: no push "
        "event of 'lr' in project 42 names it (a push of several branches at once is recorded "
        "without its branch: push the branch alone); push the branch again, or check that the "
        "token can read the project's events (read_api)",
    )


def test_gitlab_fork_the_token_cannot_read_blocks(api_server: ApiServer) -> None:
    serve_gitlab(api_server, [])
    api_server.route(MR, Reply(200, {**gl_mr(), "source_project_id": 77}))
    data = gitlab.fetch("ml/train", 5, api_url=api_server.url + "/api/v4", token="t")
    assert data.blockers == (
        f"who pushed the head {SHA3[:12]} of merge request !5 cannot be determined: the merge "
        "request comes from a fork (project 77) whose events the token cannot read; give the "
        "token read_api on the fork, or open the merge request from a branch of this project",
    )
    assert len(api_server.hits("/api/v4/projects/77/events")) == 1


def test_gitlab_events_outage_blocks(api_server: ApiServer) -> None:
    serve_gitlab(api_server, [])
    api_server.route(EVENTS, Reply(500, {"message": "500 Internal Server Error"}))
    [blocker] = gitlab.fetch("ml/train", 5, api_url=api_server.url + "/api/v4", token="t").blockers
    assert "server error HTTP 500" in blocker and "gave up after 5 attempts" in blocker
