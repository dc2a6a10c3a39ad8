"""``traingate ci``: detect GitHub Actions or GitLab CI and gate the change.

(Over 600 lines: both platforms' event parsing, annotations and PR comments
share one CI context; moving the gating into the gate API of issue #15 is the
way down, not a split by size.)

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
- GitHub ``push`` (on the protected branch, so that the required check has run
  there and can be selected, issue #19): the pushed commit is judged like
  ``audit history`` judges it, against its first parent, with the reviews of the
  merged pull request that produced it (``GET /repos/{repo}/commits/{sha}/pulls``).
  A direct push that touched a sensitive path has no such pull request and blocks.
- GitLab: merge request pipelines (``CI_MERGE_REQUEST_IID``): the target
  branch tip is the base, ``CI_MERGE_REQUEST_SOURCE_BRANCH_SHA`` (or
  ``CI_COMMIT_SHA``) the head. A merge-train pipeline
  (``CI_MERGE_REQUEST_EVENT_TYPE == "merge_train"``) judges the train's candidate
  ``CI_COMMIT_SHA`` against the train ahead of it (its first parent), with the
  MR's reviews, the way ``merge_group`` does on GitHub (issue #19).

Shallow clones are the default on both platforms: missing commits are fetched
from ``origin``; when that fails, the gate blocks. The policy, rule packs,
CODEOWNERS and allowed signers are read from the base revision only.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from traingate import git
from traingate.approvals import ReviewData
from traingate.errors import GitError, UsageError
from traingate.findings import Outcome, Report

GITHUB_EVENTS = (
    "pull_request",
    "pull_request_target",
    "pull_request_review",
    "merge_group",
    "push",
)
_ZERO = re.compile(r"0{40}|0{64}")
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
    event: str = ""  # the GitHub event name, or "merge_train" / "merge_request" on GitLab
    # push (issue #19): the pushed tip and the tip it replaced
    pushed: str | None = None
    before: str | None = None
    forced: bool = False
    # GitLab merge train: the MR's own head, whose approvals judge the candidate
    review_head: str | None = None
    notes: tuple[str, ...] = ()


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
    if event == "push":
        return _push(payload, repo)
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
        event=event,
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
        event="merge_group",
    )


def _push(payload: dict[str, Any], repo: str) -> CiContext:
    """A push to a branch (issue #19): the pushed tip, judged once its history is
    known (:func:`ensure_history`) against what it replaced or its first parent."""
    ref = str(payload.get("ref") or "")
    if not ref.startswith("refs/heads/"):
        raise UsageError(
            f"the push event is for {ref!r}, not a branch",
            help="run traingate ci on push only for the protected branch (on: push: branches: [main])",
        )
    if payload.get("deleted") is True:
        raise UsageError(f"the push deleted {ref}: there is no commit to judge")
    after = _sha(payload.get("after"), "after")
    before = payload.get("before")
    before = before if isinstance(before, str) and not _ZERO.fullmatch(before) else None
    return CiContext(
        platform="github",
        base="",  # resolved from the history in ensure_history
        head=after,
        number=None,  # the merged pull request, looked up in ensure_history
        repo=repo,
        author=None,
        pusher=None,
        target_branch=ref.removeprefix("refs/heads/"),
        event="push",
        pushed=after,
        before=_sha(before, "before") if before else None,
        forced=payload.get("forced") is True,
    )


def _sha(value: Any, what: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", value):
        raise UsageError(f"{_where(what)} is not a commit sha: {value!r}")
    return value


def _where(what: str) -> str:
    return what if what.isupper() else f"the event payload's {what}"


def _gitlab(env: Mapping[str, str]) -> CiContext:
    iid = env.get("CI_MERGE_REQUEST_IID")
    if not iid:
        raise UsageError(
            "not a merge request pipeline (CI_MERGE_REQUEST_IID is not set)",
            help="run the job with `rules: - if: $CI_PIPELINE_SOURCE == 'merge_request_event'`",
        )
    target = env.get("CI_MERGE_REQUEST_TARGET_BRANCH_NAME")
    base = env.get("CI_MERGE_REQUEST_TARGET_BRANCH_SHA") or env.get(
        "CI_MERGE_REQUEST_DIFF_BASE_SHA"
    )
    repo = env.get("CI_PROJECT_ID") or env.get("CI_MERGE_REQUEST_PROJECT_ID") or ""
    if env.get("CI_MERGE_REQUEST_EVENT_TYPE") == "merge_train":
        # A merge-train pipeline runs on refs/merge-requests/<iid>/train: CI_COMMIT_SHA
        # is the train's candidate (this MR merged onto the MRs ahead of it), what
        # will land; CI_MERGE_REQUEST_SOURCE_BRANCH_SHA the MR's own head, whose
        # approvals count (GitLab's predefined variables; issue #19).
        candidate = env.get("CI_COMMIT_SHA")
        mr_head = env.get("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA")
        if not candidate or not mr_head or not target:
            raise UsageError(
                "a merge-train pipeline needs CI_COMMIT_SHA, CI_MERGE_REQUEST_SOURCE_BRANCH_SHA "
                "and CI_MERGE_REQUEST_TARGET_BRANCH_NAME",
                help="run the job in the merge request pipeline of the train "
                "(`rules: - if: $CI_PIPELINE_SOURCE == 'merge_request_event'`)",
            )
        return CiContext(
            platform="gitlab",
            base=base or "",
            head=_sha(candidate, "CI_COMMIT_SHA"),
            number=int(iid),
            repo=repo,
            author=None,
            pusher=None,
            target_branch=target,
            merge_queue=True,
            event="merge_train",
            review_head=_sha(mr_head, "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA"),
        )
    head = env.get("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA") or env.get("CI_COMMIT_SHA")
    if not head or not (base or target):
        raise UsageError("CI_COMMIT_SHA and the merge request's target branch are required")
    return CiContext(
        platform="gitlab",
        base=base or "",
        head=head,
        number=int(iid),
        repo=repo,
        author=None,
        pusher=None,
        target_branch=target,
        event=env.get("CI_MERGE_REQUEST_EVENT_TYPE") or "merge_request",
    )


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UsageError(f"the event payload has no {what} object")
    return value


def ensure_history(root: Path, ctx: CiContext) -> CiContext:
    """Fetch what a shallow clone lacks; resolve GitLab's target branch tip."""
    if ctx.event == "push":
        return _push_history(root, ctx)
    if ctx.platform == "gitlab" and ctx.target_branch:
        _fetch(root, f"+refs/heads/{ctx.target_branch}:refs/remotes/origin/{ctx.target_branch}")
        tip = git.resolve_commit(root, f"refs/remotes/origin/{ctx.target_branch}")
        if tip:
            ctx = replace(ctx, base=tip)
    if ctx.event == "merge_train":
        ctx = _train_base(root, ctx)
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


def _unshallow(root: Path) -> None:
    if git.run(root, "rev-parse", "--is-shallow-repository").strip() == b"true":
        _fetch(root, "--unshallow")


def _parents(root: Path, sha: str) -> list[str]:
    return git.run(root, "rev-list", "--parents", "-n1", sha).decode().split()[1:]


def _train_base(root: Path, ctx: CiContext) -> CiContext:
    """The candidate's base: the train ahead of it (issue #19).

    GitLab builds each car's candidate on refs/merge-requests/<iid>/train by
    merging the MR (rebased first with the semi-linear method) onto the previous
    car's candidate, or onto the target tip for the first car: the first parent
    is the base, and base..candidate is exactly what this MR adds to the train.
    Its content is still held to the replay rule against the approved MR head.
    The fast-forward method makes no merge commit, and no variable names the car
    ahead: the candidate is then judged from the target branch tip, which also
    holds the changes of the MRs ahead of it (strict, never lenient). The target
    tip must be in the base's history either way.
    """
    assert ctx.review_head is not None
    for sha in (ctx.head, ctx.review_head):
        if git.resolve_commit(root, sha) is None:
            _fetch(root, sha)
    git.require_commit(root, ctx.head, "merge-train candidate")
    _unshallow(root)  # a shallow candidate shows no parents
    parents = _parents(root, ctx.head)
    base = parents[0] if len(parents) == 2 else ctx.base
    if ctx.base and not git.is_ancestor(root, ctx.base, base):
        raise UsageError(
            f"the merge-train candidate {ctx.head[:12]} of merge request !{ctx.number} is not "
            f"built on the tip {ctx.base[:12]} of {ctx.target_branch!r}",
            help="GitLab restarts a train's pipelines when the target branch moves; retry the job",
        )
    if len(parents) == 2:
        note = (
            f"merge train: judged the candidate {ctx.head[:12]} against the train ahead of it "
            f"({base[:12]})"
        )
        return replace(ctx, base=base, notes=(*ctx.notes, note))
    note = (
        f"merge train: the candidate {ctx.head[:12]} is not a merge commit (a fast-forward "
        f"train): judged from the tip of {ctx.target_branch!r}, including the changes of "
        "merge requests ahead of it"
    )
    return replace(ctx, notes=(*ctx.notes, note))


def _push_history(root: Path, ctx: CiContext) -> CiContext:
    """What a push to a branch landed, as ``audit history`` sees it (issue #19).

    A merge commit lands its second parent's change onto the first parent;
    anything else lands ``before..after`` (every commit of the push, one change)
    when ``before`` is in the new history, else ``after^..after``. The merged
    pull request that produced the tip, if any, supplies the reviews.
    """
    after = ctx.head
    if git.resolve_commit(root, after) is None:
        _fetch(root, after)
    git.require_commit(root, after, "pushed commit")
    _unshallow(root)
    parents = _parents(root, after)
    if not parents:
        raise UsageError(
            f"the pushed commit {after[:12]} is a root commit: there is no base to judge it against",
            help="the gate judges pushes once the branch has history",
        )
    notes: list[str] = []
    if len(parents) > 1:
        base, head = parents[0], parents[1]
        if ctx.before and ctx.before != parents[0]:
            notes.append(
                f"the push also added commits before the merge {after[:12]}; they are not "
                f"judged here: run `traingate audit history --since {ctx.before[:12]}`"
            )
    elif (
        ctx.before
        and git.resolve_commit(root, ctx.before)
        and git.is_ancestor(root, ctx.before, after)
    ):
        base, head = ctx.before, after
    else:
        base, head = parents[0], after
    if ctx.forced:
        notes.append(
            f"a force push replaced {(ctx.before or '?')[:12]}: judged {base[:12]}..{head[:12]}"
        )
    found = _merged_pull(ctx.repo, after)
    number = found[0] if found else None
    if found is None:
        notes.append(
            f"no merged pull request produced {after[:12]}: a direct push (or a bypass of the "
            "pull request rules); any approval it needs is missing"
        )
    else:
        notes.append(
            f"push to {ctx.target_branch!r}: {after[:12]} was merged by pull request #{number}"
        )
    return replace(ctx, base=base, head=head, number=number, notes=(*ctx.notes, *notes))


def _merged_pull(repo: str, sha: str) -> tuple[int, str] | None:
    from traingate.approvals import github

    return github.merged_pull_for_commit(repo, sha)


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
    if ctx.event == "push" and ctx.number is None:
        # A direct push: nobody reviewed it. A change that needs no approval
        # still passes; one that does blocks (issue #19).
        return ReviewData(
            source=f"github:{ctx.repo}@{(ctx.pushed or ctx.head)[:12]}",
            author=None,
            notes=ctx.notes,
            platform="github",
        )
    if ctx.number is None:
        raise UsageError("cannot tell which pull request this merge-queue run belongs to")
    if ctx.platform == "github" and ctx.event == "push":
        from traingate.approvals import github

        # The merged PR's own head and reviews; the landed change is held to the
        # replay rule against what was approved, as `audit history` does.
        data = github.fetch(ctx.repo, ctx.number)
    elif ctx.platform == "github":
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
            head=ctx.review_head or ctx.head,
        )
    if ctx.author and not data.author:
        data = replace(data, author=ctx.author)
    if ctx.merge_queue:
        # GitHub (GitLab's merge train) made the candidate commit; only that one
        # sha is the platform's.
        data = replace(data, platform_made=data.platform_made | {ctx.head})
    if ctx.notes:
        data = replace(data, notes=(*data.notes, *ctx.notes))
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


# --- Where users look (issue #19) ------------------------------------------------------

MAX_ANNOTATIONS = 50  # GitHub shows at most 10 errors and 10 warnings per step anyway
COMMENT_MARKER = "<!-- traingate:sticky-comment -->"
COMMENT_LIMIT = 60_000  # GitHub refuses comment bodies over 65,536 characters
COMMENT_AUTHOR = "github-actions[bot]"  # who owns the comment made with GITHUB_TOKEN


def pass_reason(report: Report) -> str | None:
    """Why a passing change passed, for the summary line (issue #19): a required
    check must always end, and "pass" on an unrelated change must say why."""
    if report.decision != "pass":
        return None
    n = len(report.changed_files)
    if n == 0:
        return "the change touches no files"
    sensitive = [r for r in report.requirements if r.kind != "finding"]
    shown = [f for f in report.findings if f.outcome is not Outcome.IGNORE]
    files = f"{n} changed file{'s' if n != 1 else ''}"
    if not sensitive and not shown:
        return f"no sensitive path or checked file changed ({files}, no findings)"
    if not sensitive:
        return f"no sensitive path changed; {files} checked, no blocking findings"
    return f"every approval requirement is met; {files} checked, no blocking findings"


def escape_data(text: str) -> str:
    """A workflow command's message (GitHub's workflow-commands docs, as
    @actions/core escapes it): ``%``, CR and LF, so nothing can start a new line."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value: also ``:`` and ``,``, which end it."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _command(kind: str, message: str, **props: str | int | None) -> str:
    shown = ",".join(
        f"{k}={escape_property(str(v))}" for k, v in props.items() if v not in (None, "", 0)
    )
    return (
        f"::{kind} {shown}::{escape_data(message)}"
        if shown
        else f"::{kind}::{escape_data(message)}"
    )


def workflow_commands(report: Report, limit: int = MAX_ANNOTATIONS) -> list[str]:
    """``::error``/``::warning`` lines for the job log and the diff (issue #19):
    blocking findings and unmet requirements are errors, warnings are warnings;
    at most ``limit``, then one line that counts the rest. Every text, which may
    quote the change, is escaped: a message cannot start a command of its own."""
    items: list[tuple[str, str, dict[str, str | int | None]]] = []
    for e in report.errors:
        items.append(("error", e.splitlines()[0] if e else e, {"title": "traingate: error"}))
    if report.enforce_approvals:
        for r in report.unmet:
            who = ", ".join(r.approvers)
            text = (
                f"{r.name}: needs {r.required} approval(s) from {who}; approved by "
                f"{', '.join(r.approved_by) or 'nobody'}" + (f" ({r.error})" if r.error else "")
            )
            items.append(
                (
                    "error",
                    text,
                    {
                        "file": r.paths[0] if r.paths else None,
                        "title": "traingate/approval-required",
                    },
                )
            )
    for f in report.findings:
        if report.finding_blocks(f):
            kind = "error"
        elif f.outcome is Outcome.WARN and f.exemption is None:
            kind = "warning"
        else:
            continue
        props: dict[str, str | int | None] = {
            "file": f.path,
            "line": f.line,
            "col": f.column,
            "endLine": f.end_line,
            "endColumn": f.end_column if f.end_line else None,
            "title": f"traingate/{f.rule_id}",
        }
        items.append((kind, f.message + (f" (help: {f.help})" if f.help else ""), props))
    out = [_command(kind, text, **props) for kind, text, props in items[:limit]]
    if len(items) > limit:
        out.append(
            _command(
                "warning",
                f"{len(items) - limit} more traingate annotations not shown; "
                "see the job summary or the SARIF/JSON report",
                title="traingate",
            )
        )
    return out


@contextmanager
def commands_stopped(
    env: Mapping[str, str], stream: Any = None, *, enabled: bool = True
) -> Iterator[None]:
    """Stop the runner from reading workflow commands while text that may quote
    the change is printed (issue #19): the runner trims leading whitespace and
    obeys ``::set-output``/``::add-mask``/... on any line, and the older
    ``##[command]`` form anywhere in a line. The resume token is random per run,
    so the change cannot print it. Not ``enabled`` when stdout carries JSON or
    SARIF for a program: those lines start with a quote or a bracket, never ``::``.
    """
    out = stream or sys.stdout
    if env.get("GITHUB_ACTIONS") != "true" or not enabled:
        yield
        return
    token = secrets.token_hex(16)
    out.write(f"::stop-commands::{token}\n")
    out.flush()
    try:
        yield
    finally:
        out.flush()
        out.write(f"::{token}::\n")
        out.flush()


def annotate(env: Mapping[str, str], report: Report, stream: Any = None) -> None:
    """Write the workflow commands, only in GitHub Actions."""
    if env.get("GITHUB_ACTIONS") != "true":
        return
    out = stream or sys.stdout
    for line in workflow_commands(report):
        out.write(line + "\n")
    out.flush()


def _comment_body(markdown: str) -> str:
    if len(markdown) > COMMENT_LIMIT:
        markdown = (
            markdown[:COMMENT_LIMIT] + "\n\n… (shortened; the full report is in the job summary)\n"
        )
    return f"{COMMENT_MARKER}\n{markdown}"


def sticky_comment(env: Mapping[str, str], ctx: CiContext, markdown: str) -> str | None:
    """Create or update the one traingate comment on the pull request (issue #19).

    Off unless ``TRAINGATE_PR_COMMENT=true`` (the action's ``comment: true``):
    it needs ``pull-requests: write``. Our previous comment is the one with the
    hidden marker written by the token's own account (``github-actions[bot]``,
    or ``TRAINGATE_COMMENT_AUTHOR``): a marker in anyone else's comment is never
    edited. Returns a warning to print when it could not comment; a failed
    comment never changes the decision.
    """
    if env.get("TRAINGATE_PR_COMMENT", "").lower() != "true":
        return None
    if ctx.platform != "github" or ctx.number is None or ctx.event in ("merge_group", "push"):
        return None
    from traingate.approvals import github
    from traingate.approvals.http import ApiError, get_all_pages, send_json

    api = (env.get("GITHUB_API_URL") or github.DEFAULT_API).rstrip("/")
    token = env.get("GITHUB_TOKEN") or ""
    auth = ("Authorization", f"Bearer {token}") if token else None
    owner = env.get("TRAINGATE_COMMENT_AUTHOR") or COMMENT_AUTHOR
    hints = {
        403: "the token cannot comment: give the job `pull-requests: write` "
        "(fork pull requests get a read-only token and cannot be commented on)"
    }
    base = f"{api}/repos/{ctx.repo}/issues"
    body = {"body": _comment_body(markdown)}
    try:
        mine = [
            c
            for c in get_all_pages(
                f"{base}/{ctx.number}/comments?per_page=100",
                token_header=auth,
                headers=github.HEADERS,
                hints=hints,
            )
            if isinstance(c, dict)
            and isinstance(c.get("body"), str)
            and c["body"].startswith(COMMENT_MARKER)
            and isinstance(c.get("user"), dict)
            and c["user"].get("login") == owner
            and isinstance(c.get("id"), int)
        ]
        if mine:
            send_json(
                "PATCH",
                f"{base}/comments/{mine[0]['id']}",
                body,
                token_header=auth,
                headers=github.HEADERS,
                hints=hints,
            )
        else:
            send_json(
                "POST",
                f"{base}/{ctx.number}/comments",
                body,
                token_header=auth,
                headers=github.HEADERS,
                hints=hints,
            )
    except ApiError as exc:
        return f"could not write the pull request comment: {exc.summary()}"
    return None
