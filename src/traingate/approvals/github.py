"""GitHub pull requests as raw review facts (REST API v3, read-only).

Only fetches; :mod:`traingate.approvals.semantics` decides who counts.
"""

from __future__ import annotations

import os
import re
from typing import Any

from traingate.approvals import Commit, Review, ReviewData
from traingate.approvals.http import ApiError, get_all_pages, get_json
from traingate.errors import UsageError

DEFAULT_API = "https://api.github.com"
HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
STATES = {
    "APPROVED": "approved",
    "CHANGES_REQUESTED": "changes_requested",
    "COMMENTED": "commented",
    "DISMISSED": "dismissed",
}
# GitHub commits made in the web UI have committer "web-flow": a GitHub service
# account, not a person who could be excluded (or mistaken for an approver).
NOT_A_PERSON = frozenset({"web-flow"})
SHAPE_HELP = "is GITHUB_API_URL the REST API root (e.g. https://api.github.com)?"
_REPO = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


def _hints(has_token: bool) -> dict[int, str]:
    no_token = "" if has_token else " (GITHUB_TOKEN is not set)"
    return {
        401: "the token is missing or invalid: set GITHUB_TOKEN",
        403: "the token cannot read this pull request: give it pull-requests:read and "
        "contents:read" + no_token,
        404: "check the repository/project id and that the token can see it" + no_token,
    }


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ApiError(
            f"GitHub returned an unexpected {what}: {type(value).__name__}",
            help=SHAPE_HELP,
        )
    return value


def _maybe_obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _login(user: Any) -> str | None:
    login = user.get("login") if isinstance(user, dict) else None
    return login if isinstance(login, str) and login else None


def _is_bot(user: Any) -> bool:
    login = _login(user)
    return bool(login) and (user.get("type") == "Bot" or str(login).endswith("[bot]"))


def fetch(
    repo: str,
    number: int,
    *,
    api_url: str | None = None,
    token: str | None = None,
    pusher: str | None = None,
) -> ReviewData:
    """The author, reviews and commits of pull request ``repo#number``."""
    if not _REPO.fullmatch(repo) or ".." in repo:
        raise UsageError(f"not a GitHub repository: {repo!r}", help="use OWNER/NAME")
    if number <= 0:
        raise UsageError(f"not a pull request number: {number}")
    api = (api_url or os.environ.get("GITHUB_API_URL") or DEFAULT_API).rstrip("/")
    token = token or os.environ.get("GITHUB_TOKEN") or None
    auth = ("Authorization", f"Bearer {token}") if token else None
    opts: dict[str, Any] = {"token_header": auth, "headers": HEADERS, "hints": _hints(bool(token))}
    base = f"{api}/repos/{repo}/pulls/{number}"

    pull = _obj(get_json(base, **opts)[0], "pull request")
    bots: set[str] = set()
    notes: list[str] = []
    author = _login(pull.get("user"))
    if _is_bot(pull.get("user")) and author:
        bots.add(author)

    reviews: list[Review] = []
    for raw in get_all_pages(f"{base}/reviews?per_page=100", **opts):
        item = _obj(raw, "review")
        login, state = _login(item.get("user")), str(item.get("state", "")).upper()
        if login is None or state == "PENDING":  # deleted user / an unsubmitted draft
            continue
        if state not in STATES:
            notes.append(f"ignored a review by {login} with unknown state {state!r}")
            continue
        bot = _is_bot(item.get("user"))
        if bot:
            bots.add(login)
        commit = item.get("commit_id")
        reviews.append(
            Review(
                user=login,
                state=STATES[state],
                commit=commit if isinstance(commit, str) and commit else None,
                submitted_at=str(item.get("submitted_at") or ""),
                is_bot=bot,
            )
        )

    commits: list[Commit] = []
    for raw in get_all_pages(f"{base}/commits?per_page=100", **opts):
        item = _obj(raw, "commit")
        git = _maybe_obj(item.get("commit"))
        people: list[tuple[str | None, str | None]] = []
        for role in ("author", "committer"):
            login = _login(item.get(role))
            if _is_bot(item.get(role)) and login:
                bots.add(login)
            email = _maybe_obj(git.get(role)).get("email")
            people.append(
                (
                    None if login in NOT_A_PERSON else login,
                    email if isinstance(email, str) and email else None,
                )
            )
        (a_login, a_email), (c_login, c_email) = people
        sha = item.get("sha")
        if not isinstance(sha, str) or not sha:
            raise ApiError("GitHub returned a commit without a sha", help=SHAPE_HELP)
        commits.append(Commit(sha, a_login, c_login, a_email, c_email))

    # The commits endpoint lists at most 250 commits: a shorter list than the
    # PR's count must never pass for the whole change. None = read local git.
    count = pull.get("commits")
    listed: tuple[Commit, ...] | None = tuple(commits)
    if not isinstance(count, int) or isinstance(count, bool):
        listed = None
        notes.append(
            "GitHub did not report the pull request's commit count; "
            "commits are read from local git instead"
        )
    elif count != len(commits):  # capped, or pushed to while we read
        listed = None
        notes.append(
            f"GitHub listed {len(commits)} of the pull request's {count} commits "
            "(the API caps the list at 250); commits are read from local git instead"
        )
    return ReviewData(
        source=f"github:{repo}#{number}",
        author=author,
        commits=listed,
        reviews=tuple(reviews),
        pusher=pusher,
        bots=frozenset(bots),
        notes=tuple(notes),
    )


def merged_pull_for_commit(
    repo: str, sha: str, *, api_url: str | None = None, token: str | None = None
) -> tuple[int, str] | None:
    """(number, head sha) of the merged pull request that produced ``sha``, if any.

    ``GET /repos/{repo}/commits/{sha}/pulls`` lists the pull requests a commit
    belongs to; the one whose ``merge_commit_sha`` is ``sha`` merged it (merge,
    squash or rebase merge alike).
    """
    api = (api_url or os.environ.get("GITHUB_API_URL") or DEFAULT_API).rstrip("/")
    token = token or os.environ.get("GITHUB_TOKEN") or None
    auth = ("Authorization", f"Bearer {token}") if token else None
    pulls = get_all_pages(
        f"{api}/repos/{repo}/commits/{sha}/pulls?per_page=100",
        token_header=auth,
        headers=HEADERS,
        hints=_hints(bool(token)),
    )
    for pr in pulls:
        pr = _maybe_obj(pr)
        if pr.get("merged_at") and pr.get("merge_commit_sha") == sha:
            head = _maybe_obj(pr.get("head")).get("sha")
            if isinstance(pr.get("number"), int) and isinstance(head, str):
                return pr["number"], head
    return None
