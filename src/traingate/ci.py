"""``traingate ci``: detect GitHub Actions or GitLab CI and gate the change.

What it derives, and from where (docs/ci/):
- GitHub: the event payload (``GITHUB_EVENT_PATH``) of ``pull_request``,
  ``pull_request_target``, ``pull_request_review`` or ``merge_group``: base and
  head are the PR's ``base.sha`` and ``head.sha`` (never ``GITHUB_SHA``, which
  is GitHub's test merge commit). Every pusher of the change is read from the
  API on every event (issue #14 class 2); the ``sender`` of a ``synchronize``
  event is one more. An ``edited`` event that changed the base
  (``changes.base.ref.from``) is judged against the new base. A ``merge_group``
  run judges the queue's candidate ``base_sha..head_sha`` with the reviews of the
  pull request named in ``head_ref`` (``gh-readonly-queue/<base>/pr-<N>-<sha>``).
- GitLab: merge request pipelines (``CI_MERGE_REQUEST_IID``): the target
  branch tip is the base, ``CI_MERGE_REQUEST_SOURCE_BRANCH_SHA`` (or
  ``CI_COMMIT_SHA``) the head.

Shallow clones are the default on both platforms: missing commits are fetched
from ``origin``; when that fails, the gate blocks. The policy, rule packs,
CODEOWNERS and allowed signers are read from the base revision only.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from traingate import git
from traingate.approvals import ReviewData
from traingate.errors import GitError, UsageError

GITHUB_EVENTS = ("pull_request", "pull_request_target", "pull_request_review", "merge_group")
# The merge queue's branch for a candidate (issue #14 class 12); the base part
# may itself contain slashes, the pr-<N>-<sha> part is last.
_QUEUE_REF = re.compile(r"(?:refs/heads/)?gh-readonly-queue/(.+)/pr-(\d+)-[0-9a-f]{7,64}")


@dataclass(frozen=True)
class CiContext:
    platform: str  # "github" | "gitlab"
    base: str  # sha of the target branch (trusted)
    head: str  # sha of the change's head
    number: int | None  # PR number / MR iid
    repo: str  # owner/name or GitLab project id
    author: str | None
    pusher: str | None
    target_branch: str | None = None
    base_changed_from: str | None = None  # an ``edited`` event that retargeted the PR
    merge_queue: bool = False  # head is a merge-queue candidate, not the PR's head


def detect(env: Mapping[str, str]) -> CiContext:
    if env.get("GITHUB_ACTIONS") == "true":
        return _github(env)
    if env.get("GITLAB_CI") == "true":
        return _gitlab(env)
    raise UsageError(
        "no supported CI detected (GITHUB_ACTIONS or GITLAB_CI is not set)",
        help="outside CI use `traingate check --base REV --head REV`",
    )


def _github(env: Mapping[str, str]) -> CiContext:
    event = env.get("GITHUB_EVENT_NAME", "")
    if event not in GITHUB_EVENTS:
        raise UsageError(
            f"GitHub event {event!r} is not a pull request event",
            help=f"run traingate ci on: {', '.join(GITHUB_EVENTS)}",
        )
    path = env.get("GITHUB_EVENT_PATH")
    if not path:
        raise UsageError("GITHUB_EVENT_PATH is not set")
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the event payload {path}: {exc}") from None
    repo = env.get("GITHUB_REPOSITORY", "")
    if event == "merge_group":
        return _merge_group(_obj(payload.get("merge_group"), "merge_group"), repo)
    pr = _obj(payload.get("pull_request"), "pull_request")
    base, head = _obj(pr.get("base"), "base"), _obj(pr.get("head"), "head")
    sender = _obj(payload.get("sender") or {}, "sender").get("login")
    # The payload's base is the new one after a retarget: the change is judged
    # (merge base, policy, approvals' staleness) against it, and says so.
    moved = _obj(_obj(payload.get("changes") or {}, "changes").get("base") or {}, "base")
    old_ref = _obj(moved.get("ref") or {}, "ref").get("from")
    return CiContext(
        platform="github",
        base=_sha(base.get("sha"), "pull_request.base.sha"),
        head=_sha(head.get("sha"), "pull_request.head.sha"),
        number=int(pr["number"]),
        repo=repo,
        author=_obj(pr.get("user") or {}, "user").get("login"),
        pusher=sender if payload.get("action") == "synchronize" else None,
        target_branch=str(base.get("ref") or "") or None,
        base_changed_from=old_ref if isinstance(old_ref, str) and old_ref else None,
    )


def _merge_group(mg: dict[str, Any], repo: str) -> CiContext:
    """The candidate ``base_sha..head_sha`` of the PR named in ``head_ref``."""
    head_ref = str(mg.get("head_ref") or "")
    base_ref = str(mg.get("base_ref") or "").removeprefix("refs/heads/")
    m = _QUEUE_REF.fullmatch(head_ref)
    if m is None or not base_ref or m.group(1) != base_ref:
        raise UsageError(
            f"cannot tell which pull request the merge-queue ref {head_ref!r} "
            f"(base {base_ref!r}) belongs to",
            help="expected head_ref gh-readonly-queue/<base>/pr-<N>-<sha> (GitHub's merge queue)",
        )
    return CiContext(
        platform="github",
        base=_sha(mg.get("base_sha"), "merge_group.base_sha"),
        head=_sha(mg.get("head_sha"), "merge_group.head_sha"),
        number=int(m.group(2)),
        repo=repo,
        author=None,
        pusher=None,  # GitHub pushed the candidate; the PR's pushers come from the API
        target_branch=base_ref,
        merge_queue=True,
    )


def _sha(value: Any, what: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", value):
        raise UsageError(f"the event payload's {what} is not a commit sha: {value!r}")
    return value


def _gitlab(env: Mapping[str, str]) -> CiContext:
    iid = env.get("CI_MERGE_REQUEST_IID")
    if not iid:
        raise UsageError(
            "not a merge request pipeline (CI_MERGE_REQUEST_IID is not set)",
            help="run the job with `rules: - if: $CI_PIPELINE_SOURCE == 'merge_request_event'`",
        )
    head = env.get("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA") or env.get("CI_COMMIT_SHA")
    target = env.get("CI_MERGE_REQUEST_TARGET_BRANCH_NAME")
    base = env.get("CI_MERGE_REQUEST_TARGET_BRANCH_SHA") or env.get(
        "CI_MERGE_REQUEST_DIFF_BASE_SHA"
    )
    if not head or not (base or target):
        raise UsageError("CI_COMMIT_SHA and the merge request's target branch are required")
    return CiContext(
        platform="gitlab",
        base=base or "",
        head=head,
        number=int(iid),
        repo=env.get("CI_PROJECT_ID") or env.get("CI_MERGE_REQUEST_PROJECT_ID") or "",
        author=None,
        pusher=None,
        target_branch=target,
    )


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UsageError(f"the event payload has no {what} object")
    return value


def ensure_history(root: Path, ctx: CiContext) -> CiContext:
    """Fetch what a shallow clone lacks; resolve GitLab's target branch tip."""
    if ctx.platform == "gitlab" and ctx.target_branch:
        _fetch(root, f"+refs/heads/{ctx.target_branch}:refs/remotes/origin/{ctx.target_branch}")
        tip = git.resolve_commit(root, f"refs/remotes/origin/{ctx.target_branch}")
        if tip:
            ctx = CiContext(**{**ctx.__dict__, "base": tip})
    for sha in (ctx.base, ctx.head):
        if git.resolve_commit(root, sha) is None:
            _fetch(root, sha)
    shallow = git.run(root, "rev-parse", "--is-shallow-repository").strip() == b"true"
    if shallow and not _has_merge_base(root, ctx.base, ctx.head):
        _fetch(root, "--unshallow")
    for sha, what in ((ctx.base, "base"), (ctx.head, "head")):
        git.require_commit(root, sha, what)
    if not _has_merge_base(root, ctx.base, ctx.head):
        # The same condition as `check --base` (git.merge_base): a usage error,
        # exit 2, whichever command meets it (issue #15).
        raise UsageError(
            f"no merge base between {ctx.base[:12]} and {ctx.head[:12]} even after fetching",
            help="use `fetch-depth: 0` (GitHub) or `GIT_DEPTH: 0` (GitLab)",
        )
    return ctx


def _has_merge_base(root: Path, a: str, b: str) -> bool:
    return bool(git.run(root, "merge-base", a, b, check=False).strip())


def _fetch(root: Path, what: str) -> None:
    args = ["fetch", "--no-tags", "--quiet", "origin"]
    args = (
        ["fetch", "--no-tags", "--quiet", "--unshallow", "origin"]
        if what == "--unshallow"
        else [*args, what]
    )
    try:
        git.run(root, *args)
    except GitError as exc:
        raise GitError(
            f"could not fetch {what[:40]} from origin: {exc.message}",
            help="give the job read access to the repository and a full or deeper clone",
        ) from None


def review_data(ctx: CiContext, *, refuse_overwritten_rules: bool) -> ReviewData:
    if ctx.number is None:
        raise UsageError("cannot tell which pull request this merge-queue run belongs to")
    if ctx.platform == "github":
        from traingate.approvals import github

        # A merge-queue candidate is GitHub's commit: the pushers and reviews are
        # those of the PR's own head, which the API names (issue #14 class 12).
        data = github.fetch(
            ctx.repo,
            ctx.number,
            pusher=ctx.pusher,
            head=None if ctx.merge_queue else ctx.head,
            base_ref=ctx.target_branch if ctx.merge_queue else None,
        )
    else:
        from traingate.approvals import gitlab

        data = gitlab.fetch(
            ctx.repo,
            ctx.number,
            refuse_overwritten_rules=refuse_overwritten_rules,
            pusher=ctx.pusher,
            head=ctx.head,
        )
    from dataclasses import replace

    if ctx.author and not data.author:
        data = replace(data, author=ctx.author)
    if ctx.merge_queue:
        # GitHub made the candidate commit; only that one sha is the platform's.
        data = replace(data, platform_made=data.platform_made | {ctx.head})
    if ctx.base_changed_from:
        data = replace(
            data,
            notes=(
                *data.notes,
                f"the base branch changed from {ctx.base_changed_from!r} to "
                f"{ctx.target_branch!r}: judged against {ctx.target_branch!r}",
            ),
        )
    return data


def write_github_outputs(
    env: Mapping[str, str], decision: str, markdown: str, sarif: str | None
) -> None:
    """Job summary and step outputs; failures here never change the decision."""
    summary = env.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(markdown)
    out = env.get("GITHUB_OUTPUT")
    if out:
        with open(out, "a", encoding="utf-8") as fh:
            fh.write(f"decision={decision}\n")
            if sarif:
                fh.write(f"sarif-file={sarif}\n")


def environment() -> dict[str, str]:
    return dict(os.environ)
