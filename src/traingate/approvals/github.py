"""GitHub pull requests as raw review facts (REST API v3, read-only).

Only fetches; :mod:`traingate.approvals.semantics` decides who counts.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
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
# GitHub commits made in the web UI, "Update branch" merges and merge-queue
# candidates have committer "web-flow" (git identity GitHub <noreply@github.com>):
# the platform, not a person who could be excluded (or mistaken for an approver).
NOT_A_PERSON = frozenset({"web-flow"})
PLATFORM_EMAILS = frozenset({"noreply@github.com"})
# Workflow runs whose actor pushed their head_sha (issue #14 class 2): a push,
# or a pull_request run. pull_request_review runs are started by the reviewer.
PUSH_EVENTS = frozenset({"push", "pull_request", "pull_request_target"})
# GitHub starts no push/pull_request run for a head whose message says so
# (docs: "Skipping workflow runs"): such a head has no run naming its pusher.
_SKIP_CI = re.compile(
    r"\[(?:skip ci|ci skip|no ci|skip actions|actions skip)\]|^skip-checks: ?true\s*$",
    re.IGNORECASE | re.MULTILINE,
)
# Workflow-run lookups per change (one request each); older commits beyond it
# are named in a note. The head is always looked up.
MAX_RUN_LOOKUPS = 100
RUNS_HELP = (
    "give the workflow's token actions:read (`permissions: actions: read`) so traingate "
    "can see who pushed each head, and run it on pull_request synchronize"
)
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


def _user_id(user: Any) -> int | None:
    """The account's immutable numeric id (logins can be renamed and re-registered)."""
    num = user.get("id") if isinstance(user, dict) else None
    return num if isinstance(num, int) and not isinstance(num, bool) else None


def fetch(
    repo: str,
    number: int,
    *,
    api_url: str | None = None,
    token: str | None = None,
    pusher: str | None = None,
    head: str | None = None,
    base_ref: str | None = None,
) -> ReviewData:
    """The author, reviews, commits and pushers of pull request ``repo#number``.

    ``head`` is the head commit being judged (default: the PR's ``head.sha``);
    ``pusher`` the ``sender`` of the ``synchronize`` event that pushed it;
    ``base_ref`` the branch the caller judges against (a merge queue's), which the
    PR must target.
    """
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
    blockers: list[str] = []
    author = _login(pull.get("user"))
    if _is_bot(pull.get("user")) and author:
        bots.add(author)
    pr_head, pr_base = _maybe_obj(pull.get("head")), _maybe_obj(pull.get("base"))
    head = head or _str(pr_head.get("sha"))
    target = _str(pr_base.get("ref"))
    if base_ref is not None and target != base_ref:
        blockers.append(
            f"pull request #{number} targets {target!r}, not {base_ref!r} that it is "
            "judged against: the run does not belong to this pull request"
        )

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
                platform="github",
                user_id=_user_id(item.get("user")),
            )
        )

    commits: list[Commit] = []
    messages: dict[str, str] = {}
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
        messages[sha] = str(git.get("message") or "")

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

    found = _pushers(
        f"{api}/repos/{repo}",
        number,
        [c.sha for c in commits],
        head,
        _str(pr_head.get("ref")),
        _str(_maybe_obj(pr_head.get("repo")).get("full_name")),
        messages,
        pusher,
        opts,
    )
    return ReviewData(
        source=f"github:{repo}#{number}",
        author=author,
        commits=listed,
        reviews=tuple(reviews),
        pusher=pusher,
        bots=frozenset(bots | found.bots),
        notes=tuple(notes + found.notes),
        pushers=frozenset(found.pushers),
        blockers=tuple(blockers + found.blockers),
        platform="github",
        author_id=_user_id(pull.get("user")),
        base_changed_at=found.base_changed_at,
    )


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass
class _Pushers:
    pushers: set[str] = field(default_factory=set)
    bots: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)
    base_changed_at: str | None = None  # the latest base_ref_changed event


def _pushers(
    api_repo: str,
    number: int,
    shas: list[str],
    head: str | None,
    head_ref: str | None,
    head_repo: str | None,
    messages: dict[str, str],
    sender: str | None,
    opts: dict[str, Any],
) -> _Pushers:
    """Everyone who pushed a head of the change, on every event (issue #14 class 2).

    GitHub records no "pusher" on a pull request; what it does record is who
    started each workflow run (``actor``), for the commit it ran on (``head_sha``).
    A ``push`` run's actor pushed that commit. A ``pull_request`` run's actor is
    whoever caused the event: for the first run of a workflow on a commit of a
    branch that is the push (``synchronize``) or the opening of the PR; later
    runs on the same commit come from edits, labels or reopening by others, so
    only the first run per (workflow, branch, repository) counts. A re-run keeps
    its ``actor`` (the re-runner is ``triggering_actor``, who pushed nothing).
    Force pushes are read from the PR's timeline (``head_ref_force_pushed``).
    The head's pusher must be known, from a run on the PR's own branch or from
    the ``synchronize`` event itself; anything else blocks.
    """
    out = _Pushers()
    head_known = sender is not None
    if sender is not None and sender not in NOT_A_PERSON:
        out.pushers.add(sender)
    unique = list(dict.fromkeys(shas))
    wanted = unique[-MAX_RUN_LOOKUPS:]
    if len(unique) > len(wanted):
        out.notes.append(
            f"who pushed the {len(unique) - len(wanted)} oldest commits of pull request "
            f"#{number} was not looked up (at most {MAX_RUN_LOOKUPS} commits are)"
        )
    if head is not None and head not in wanted:
        wanted.append(head)
    for sha in wanted:
        try:
            runs = get_all_pages(
                f"{api_repo}/actions/runs?head_sha={sha}&per_page=100",
                items_key="workflow_runs",
                **opts,
            )
        except ApiError as exc:
            out.blockers.append(
                f"who pushed commit {sha[:12]} of pull request #{number} cannot be determined: "
                f"{exc.message}; {RUNS_HELP}"
            )
            return out  # the next lookups fail alike; the head stays unknown: blocked
        first: dict[tuple[Any, Any, Any], tuple[int, str, bool]] = {}
        for raw in runs:
            run = _maybe_obj(raw)
            if run.get("head_sha") != sha or run.get("event") not in PUSH_EVENTS:
                continue
            login = _login(run.get("actor"))
            if login is None or login in NOT_A_PERSON:
                continue
            if _is_bot(run.get("actor")):
                out.bots.add(login)
            run_repo = _str(_maybe_obj(run.get("head_repository")).get("full_name"))
            # the same branch name in a fork is another branch: both must match
            on_pr = run.get("head_branch") == head_ref and run_repo == head_repo
            run_id = run.get("id")
            if run.get("event") == "push" or not isinstance(run_id, int):
                out.pushers.add(login)  # a push run's actor pushed; an unordered run counts
                head_known = head_known or (sha == head and on_pr)
                continue
            key = (run.get("workflow_id"), run.get("head_branch"), run_repo)
            if key not in first or run_id < first[key][0]:
                first[key] = (run_id, login, on_pr)
        for _id, login, on_pr in first.values():
            out.pushers.add(login)
            head_known = head_known or (sha == head and on_pr)

    try:
        timeline = get_all_pages(f"{api_repo}/issues/{number}/timeline?per_page=100", **opts)
    except ApiError as exc:
        out.blockers.append(
            f"force pushes onto pull request #{number} cannot be read: {exc.message}; "
            "give the token pull-requests:read"
        )
        timeline = []
    for raw in timeline:
        event = _maybe_obj(raw)
        login = _login(event.get("actor"))
        if event.get("event") == "head_ref_force_pushed" and login and login not in NOT_A_PERSON:
            out.pushers.add(login)
            if _is_bot(event.get("actor")):
                out.bots.add(login)
        if event.get("event") == "base_ref_changed":
            # A retargeted PR is another change: what was approved against the
            # old base says nothing about the commits the new base adds (#14).
            when = _str(event.get("created_at"))
            if when is None:
                out.blockers.append(
                    f"pull request #{number} changed its base at an unknown time; "
                    "approvals given before it cannot be told apart"
                )
            elif out.base_changed_at is None or when > out.base_changed_at:
                out.base_changed_at = when

    if head is None:
        out.blockers.append(
            f"pull request #{number} names no head commit; who pushed it is unknown"
        )
    elif not head_known:
        why = (
            "its commit message skips workflow runs ([skip ci] or the like): push it again "
            "without the skip instruction"
            if _SKIP_CI.search(messages.get(head, ""))
            else RUNS_HELP
        )
        out.blockers.append(
            f"who pushed the head {head[:12]} of pull request #{number} cannot be determined: "
            f"no push or pull_request workflow run on {head_ref or 'its branch'!r} names it; {why}"
        )
    return out


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
