"""GitLab merge requests as raw review facts (REST API v4, read-only).

Only fetches; :mod:`traingate.approvals.semantics` decides who counts. GitLab's
approvals API has no "changes requested" state and names no commit, so each
approval is tied to the MR diff version that was current when it was given.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from traingate.approvals import Commit, Review, ReviewData
from traingate.approvals.http import ApiError, get_all_pages, get_json
from traingate.errors import UsageError

DEFAULT_API = "https://gitlab.com/api/v4"
TOKEN_HELP = (
    "use a project/group access token with read_api in TRAINGATE_GITLAB_TOKEN"
    " (the CI job token cannot read approvals)"
)
JOB_TOKEN_HELP = (
    "a *protected* CI/CD variable is only exposed to pipelines on protected branches and "
    "tags, never to merge request pipelines of ordinary branches: store "
    "TRAINGATE_GITLAB_TOKEN (a project access token, role Reporter, scope read_api) as a "
    "masked variable that is NOT protected, or inject it through a pipeline execution "
    "policy or a separate protected CI project (docs/ci/gitlab.md#the-api-token)"
)
SHAPE_HELP = "is CI_API_V4_URL the API root (e.g. https://gitlab.com/api/v4)?"
# GitLab's bot users: project/group access tokens ("project_12_bot", since 16.x
# with a random suffix "project_12_bot_1a2b..."), and service bots ("*_bot").
_BOT = re.compile(r"(?:project|group)_\d+_bot(?:_[0-9a-f]+)?|.*_bot", re.IGNORECASE)


def _token(token: str | None) -> str | None:
    token = token or os.environ.get("TRAINGATE_GITLAB_TOKEN") or os.environ.get("GITLAB_TOKEN")
    if not token and os.environ.get("CI_JOB_TOKEN"):
        # The usual cause is a *protected* variable (issue #19): GitLab exposes
        # those only to pipelines on protected branches and tags, never to the
        # merge-request pipeline of an ordinary branch, so the job sees none.
        raise ApiError(
            "TRAINGATE_GITLAB_TOKEN is not set in this pipeline, and the CI job token "
            "(CI_JOB_TOKEN) cannot read merge request approvals",
            help=JOB_TOKEN_HELP,
        )
    return token or None


def _project_ref(project: str) -> str:
    project = project.strip().strip("/")
    if not project or any(part in ("", ".", "..") for part in project.split("/")):
        raise UsageError(f"not a GitLab project: {project!r}", help="use an id or GROUP/PROJECT")
    return project if project.isdigit() else urllib.parse.quote(project, safe="")


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ApiError(
            f"GitLab returned an unexpected {what}: {type(value).__name__}", help=SHAPE_HELP
        )
    return value


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _username(user: Any) -> str | None:
    return _str(user.get("username")) if isinstance(user, dict) else None


def _is_bot(user: Any) -> bool:
    name = _username(user)
    return bool(name) and (user.get("bot") is True or bool(_BOT.fullmatch(str(name))))


def _when(stamp: Any) -> datetime | None:
    """An ISO 8601 time as an aware datetime (GitLab writes "...T10:00:00.123Z")."""
    text = _str(stamp)
    if text is None:
        return None
    text = re.sub(r"[zZ]$", "+00:00", text.strip())
    text = re.sub(r"\.(\d+)", lambda m: "." + (m.group(1) + "000000")[:6], text)  # 3.10
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def head_at(versions: list[tuple[datetime, str]], approved_at: Any) -> str | None:
    """The head commit of the latest diff version created at or before ``approved_at``.

    None when the time is missing (older GitLab) or precedes every version: the
    approval then names no commit, and the semantics treat it as not covering
    the change — never guess the oldest or newest head.
    """
    when = _when(approved_at)
    if when is None:
        return None
    best: tuple[datetime, str] | None = None
    for created, sha in versions:
        if created <= when and (best is None or created >= best[0]):
            best = (created, sha)
    return best[1] if best else None


def _api_root(api_url: str | None) -> str:
    return (api_url or os.environ.get("CI_API_V4_URL") or DEFAULT_API).rstrip("/")


def _connect(
    project: str, api_url: str | None, token: str | None, what: str
) -> tuple[str, tuple[str, str] | None, dict[int, str]]:
    """The project's API URL, the auth header and the error hints for ``what``."""
    api = _api_root(api_url)
    token = _token(token)
    hints = {
        401: "the token is missing or invalid: set TRAINGATE_GITLAB_TOKEN (read_api)",
        403: f"the token cannot read {what}: {TOKEN_HELP}",
        404: "check the repository/project id and that the token can see it",
    }
    auth = ("PRIVATE-TOKEN", token) if token else None
    return f"{api}/projects/{_project_ref(project)}", auth, hints


def fetch(
    project: str,
    iid: int,
    *,
    api_url: str | None = None,
    token: str | None = None,
    refuse_overwritten_rules: bool = False,
    pusher: str | None = None,
    head: str | None = None,
) -> ReviewData:
    """The author, approvals, commits and pushers of merge request ``project!iid``.

    ``head`` is the head commit being judged (default: the MR's ``sha``).
    """
    if iid <= 0:
        raise UsageError(f"not a merge request iid: {iid}")
    projects, auth, hints = _connect(project, api_url, token, "this merge request")
    base = f"{projects}/merge_requests/{iid}"
    bots: set[str] = set()
    notes: list[str] = []

    mr = _obj(get_json(base, token_header=auth, hints=hints)[0], "merge request")
    author = _username(mr.get("author"))
    if author and _is_bot(mr.get("author")):
        bots.add(author)

    approval_hints = {
        **hints,
        403: "the CI job token cannot read approvals: use a project/group access token "
        "with read_api in TRAINGATE_GITLAB_TOKEN",
    }
    approvals = _obj(
        get_json(f"{base}/approvals", token_header=auth, hints=approval_hints)[0], "approvals"
    )
    state = _obj(
        get_json(f"{base}/approval_state", token_header=auth, hints=approval_hints)[0],
        "approval state",
    )
    if state.get("approval_rules_overwritten") is True:
        if refuse_overwritten_rules:
            raise ApiError(
                f"the merge request overrides its own approval rules ({project}!{iid})",
                help="reset the MR's approval rules to the project's, or allow overrides "
                "in the policy",
            )
        notes.append("approval rules overwritten by the merge request")

    versions: list[tuple[datetime, str]] = []
    for raw in get_all_pages(f"{base}/versions?per_page=100", token_header=auth, hints=hints):
        item = _obj(raw, "diff version")
        created, sha = _when(item.get("created_at")), _str(item.get("head_commit_sha"))
        if created is not None and sha is not None:
            versions.append((created, sha))

    reviews: list[Review] = []
    missing_time = False
    approved_by = approvals.get("approved_by")
    for raw in approved_by if isinstance(approved_by, list) else ():
        entry = _obj(raw, "approval")
        user = entry.get("user")
        name = _username(user)
        if name is None:
            continue
        bot = _is_bot(user)
        if bot:
            bots.add(name)
        approved_at = _str(entry.get("approved_at"))
        missing_time = missing_time or approved_at is None
        reviews.append(
            Review(
                user=name,
                state="approved",
                commit=head_at(versions, approved_at),
                submitted_at=approved_at or "",
                is_bot=bot,
                platform="gitlab",
                user_id=_user_id(user),
            )
        )
    if missing_time:
        notes.append(
            "GitLab did not report when approvals were given (an older GitLab?): "
            "those approvals name no commit and cannot count"
        )

    # GitLab commits carry emails only; usernames are not part of git data.
    commits: list[Commit] = []
    dates: list[datetime] = []
    for raw in get_all_pages(f"{base}/commits?per_page=100", token_header=auth, hints=hints):
        item = _obj(raw, "commit")
        sha = _str(item.get("id"))
        if sha is None:
            raise ApiError("GitLab returned a commit without an id", help=SHAPE_HELP)
        commits.append(
            Commit(
                sha, None, None, _str(item.get("author_email")), _str(item.get("committer_email"))
            )
        )
        committed = _when(item.get("committed_date"))
        if committed is not None:
            dates.append(committed)

    found = _pushers(
        api_root=_api_root(api_url),
        auth=auth,
        mr=mr,
        iid=iid,
        shas={c.sha for c in commits},
        head=head or _str(mr.get("sha")),
        dates=dates,
    )
    return ReviewData(
        source=f"gitlab:{project}!{iid}",
        author=author,
        commits=tuple(commits),
        reviews=tuple(reviews),
        pusher=pusher,
        bots=frozenset(bots | found.bots),
        notes=tuple(notes),
        pushers=frozenset(found.pushers | ({pusher} if pusher else set())),
        blockers=tuple(found.blockers),
        platform="gitlab",
        author_id=_user_id(mr.get("author")),
    )


def _user_id(user: Any) -> int | None:
    """The account's immutable numeric id (usernames can be changed and reused)."""
    num = user.get("id") if isinstance(user, dict) else None
    return num if isinstance(num, int) and not isinstance(num, bool) else None


@dataclass
class _Pushers:
    pushers: set[str] = field(default_factory=set)
    bots: set[str] = field(default_factory=set)
    blockers: list[str] = field(default_factory=list)


def _pushers(
    *,
    api_root: str,
    auth: tuple[str, str] | None,
    mr: dict[str, Any],
    iid: int,
    shas: set[str],
    head: str | None,
    dates: list[datetime],
) -> _Pushers:
    """Everyone who pushed a head of the change, from the source project's push
    events (issue #14 class 2): a push to the MR's source branch counts when it
    left one of the change's commits as the branch tip (``push_data.commit_to``)
    or happened while the MR was open (a force push that rewrote the change).
    The head's pusher must be found; otherwise the approvals cannot be judged.
    """
    out = _Pushers()
    branch = _str(mr.get("source_branch"))
    source = mr.get("source_project_id")
    target = mr.get("target_project_id", mr.get("project_id"))
    fork = source is not None and target is not None and source != target
    opened = _when(mr.get("created_at"))
    if head is None or branch is None or not isinstance(source, int):
        out.blockers.append(
            f"merge request !{iid} names no head commit, source branch or source project: "
            "who pushed it cannot be determined"
        )
        return out
    # Events are listed newest first across the whole project; read only those
    # since the day before the oldest commit (or the MR) was made. A commit date
    # is the committer's claim: a date set in the past only reads more pages,
    # one set in the future hides nothing the MR's own date does not bound.
    since = min([*dates, *([opened] if opened else [])], default=None)
    after = f"&after={(since - timedelta(days=1)).date().isoformat()}" if since else ""
    url = f"{api_root}/projects/{source}/events?action=pushed&per_page=100{after}"
    try:
        events = get_all_pages(url, token_header=auth)
    except ApiError as exc:
        if fork and exc.status in (401, 403, 404):
            why = (
                f"the merge request comes from a fork (project {source}) whose events the "
                "token cannot read; give the token read_api on the fork, or open the merge "
                "request from a branch of this project"
            )
        else:
            why = f"{exc.message}; the token needs read_api on project {source}"
        out.blockers.append(
            f"who pushed the head {head[:12]} of merge request !{iid} cannot be determined: {why}"
        )
        return out
    head_known = False
    bulk = False
    for raw in events:
        event = raw if isinstance(raw, dict) else {}
        data = event.get("push_data")
        data = data if isinstance(data, dict) else {}
        if data.get("ref") is None and data.get("ref_count"):
            bulk = True  # a push of many refs at once names none of them
        if data.get("ref_type", "branch") != "branch" or data.get("ref") != branch:
            continue
        tip = _str(data.get("commit_to"))
        when = _when(event.get("created_at"))
        if tip not in shas and tip != head and not (opened and when and when >= opened):
            continue
        user = event.get("author")
        name = _username(user) or _str(event.get("author_username"))
        if name is None:
            continue
        out.pushers.add(name)
        if _is_bot(user):
            out.bots.add(name)
        head_known = head_known or tip == head
    if not head_known:
        hint = (
            " (a push of several branches at once is recorded without its branch: push the "
            "branch alone)"
            if bulk
            else ""
        )
        out.blockers.append(
            f"who pushed the head {head[:12]} of merge request !{iid} cannot be determined: "
            f"no push event of {branch!r} in project {source} names it{hint}; push the "
            "branch again, or check that the token can read the project's events (read_api)"
        )
    return out


def merged_request_for_commit(
    project: str, sha: str, *, api_url: str | None = None, token: str | None = None
) -> tuple[int, str, bool] | None:
    """(iid, head sha, member) of the merged merge request that put ``sha`` on its target.

    ``GET /projects/:id/repository/commits/:sha/merge_requests`` lists the merge
    requests a commit belongs to. The one that merged it names ``sha`` as its
    merge commit or its squash commit, or, for a fast-forward merge, as its head
    (``sha``). An open or closed MR that merely contains the commit is no evidence.
    ``member`` is true when ``sha`` is an earlier commit of a fast-forward merged
    MR: evidence only if the MR's own commit list holds it.
    """
    projects, auth, hints = _connect(project, api_url, token, "this project")
    url = f"{projects}/repository/commits/{sha}/merge_requests?per_page=100"
    for raw in get_all_pages(url, token_header=auth, hints=hints):
        mr = raw if isinstance(raw, dict) else {}
        iid, head = mr.get("iid"), _str(mr.get("sha"))
        if mr.get("state") != "merged" or not isinstance(iid, int) or head is None:
            continue
        merge, squash = mr.get("merge_commit_sha"), mr.get("squash_commit_sha")
        if sha in (merge, squash, head):
            return iid, head, False
        if merge in (None, head) and squash is None:
            # fast-forward merge of several commits: each lands on the branch as
            # it is, so ``sha`` may be an earlier commit of this MR (the caller
            # checks it is in the MR's commit list)
            return iid, head, True
    return None
