"""``traingate audit history``: changes that reached a protected branch unapproved.

Walks the first-parent history of the branch. Each commit is one change: for a
merge commit, merge-base(parent, merged head)..merged head; otherwise
parent..commit (squash and rebase merges, and direct pushes). A change that
touched a sensitive path — judged by the policy at its parent, the base it was
merged into — needs evidence that it was approved:

- a passing record in the decision log for that change, matched by head commit
  or by patch id (so squash and rebase merges are recognized), or
- signed approval notes (``refs/notes/traingate-approvals``) that verify against
  the allowed signers at the parent and cover the required number of eligible
  approvers (never the change's own authors).

Commits without evidence are direct pushes, admin bypasses or force-pushes.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from traingate import git, paths
from traingate.errors import ExitCode


@dataclass
class Entry:
    commit: str
    subject: str
    author: str
    sensitive: list[str] = field(default_factory=list)  # requirement names
    paths: list[str] = field(default_factory=list)
    evidence: str | None = None


def run_history(args: argparse.Namespace) -> int:
    root = git.toplevel(args.repo)
    tip = git.require_commit(root, args.branch, "branch")
    rng = f"{git.require_commit(root, args.since, 'since')}..{tip}" if args.since else tip
    records = _load_log(Path(args.audit_log)) if args.audit_log else []
    platform = _platform(args)
    commits = git.rev_list(root, "--first-parent", "--reverse", rng)
    entries = [e for e in (_judge(root, c, records, platform) for c in commits) if e]
    missing = [e for e in entries if e.sensitive and e.evidence is None]
    text = _render(args.format, args.branch, entries, missing)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    sys.stdout.write(
        text
        if not args.output or args.format == "text"
        else _render("text", args.branch, entries, missing)
    )
    return int(ExitCode.BLOCKED if missing else ExitCode.PASS)


def _load_log(path: Path) -> list[dict[str, Any]]:
    from traingate import audit

    result = audit.verify(path)
    if not result.ok:
        from traingate.errors import UsageError

        raise UsageError(
            f"the audit log {path} is not intact; it cannot serve as evidence",
            help=audit.render(result).splitlines()[0],
        )
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out


def _platform(args: argparse.Namespace) -> tuple[str, str] | None:
    github, gitlab = getattr(args, "github", None), getattr(args, "gitlab", None)
    if github and gitlab:
        from traingate.errors import UsageError

        raise UsageError("--github and --gitlab cannot be combined: a branch lives on one host")
    if github:
        return "github", github
    return ("gitlab", gitlab) if gitlab else None


def _judge(
    root: Path,
    commit: str,
    records: list[dict[str, Any]],
    platform: tuple[str, str] | None = None,
) -> Entry | None:
    from traingate.policy.load import load_from_git

    parents = git.run(root, "rev-list", "--parents", "-n1", commit).decode().split()[1:]
    if not parents:
        return None  # the root commit has no base to be judged against
    parent = parents[0]
    head = parents[1] if len(parents) > 1 else commit
    base = git.merge_base(root, parent, head) if len(parents) > 1 else parent
    meta = (
        git.run(root, "log", "-1", "--format=%s%x00%an <%ae>", commit)
        .decode()
        .rstrip("\n")
        .split("\0")
    )
    entry = Entry(commit, meta[0], meta[1] if len(meta) > 1 else "")
    policy = load_from_git(root, parent)
    touched = sorted(
        {p for raw, _ in git.diff(root, base, head) for p in (raw.old_path, raw.new_path)}
    )
    fold = policy.policy.case_insensitive_paths
    for sp in policy.policy.sensitive_paths:
        hit = [p for p in touched if paths.matches(sp.paths, p, fold=fold)]
        if hit:
            entry.sensitive.append(sp.name)
            entry.paths.extend(p for p in hit if p not in entry.paths)
    if not entry.sensitive:
        return entry
    patch = git.patch_id(root, base, head)
    entry.evidence = _log_evidence(records, {commit, head}, patch) or _signed_evidence(
        root, parent, base, head, patch, entry, policy
    )
    if entry.evidence is None and platform:
        entry.evidence = _platform_evidence(*platform, commit, entry, policy)
    return entry


def _platform_evidence(host: str, repo: str, commit: str, entry: Entry, policy: Any) -> str | None:
    """A merged PR/MR whose approvals, on its final head, satisfy the policy at the parent."""
    from traingate.approvals import ReviewData
    from traingate.approvals.semantics import Identities, latest_reviews
    from traingate.engine import expand

    data: ReviewData
    if host == "github":
        from traingate.approvals import github

        pull = github.merged_pull_for_commit(repo, commit)
        if pull is None:
            return None
        number, head = pull
        data, what = github.fetch(repo, number), f"pull request #{number}"
    else:
        from traingate.approvals import gitlab

        found = gitlab.merged_request_for_commit(repo, commit)
        if found is None:
            return None
        number, head, member = found
        data, what = gitlab.fetch(repo, number), f"merge request !{number}"
        if member and commit not in {c.sha for c in data.commits or ()}:
            return None
    ids = Identities(policy.policy, host)
    excluded = {ids.login(u) for u in (data.author, data.pusher) if u}
    excluded |= {ids.login(b) for b in data.bots}
    for c in data.commits or ():
        excluded |= {ids.login(u) for u in (c.author, c.committer) if u}
        excluded |= {u for u in (ids.email(c.author_email), ids.email(c.committer_email)) if u}
    approvers = {
        ids.login(r.user)
        for r in latest_reviews(data.reviews).values()
        if r.state == "approved" and r.commit == head and not r.is_bot
    } - excluded
    for sp in policy.policy.sensitive_paths:
        if sp.name in entry.sensitive:
            eligible = set(expand(policy.policy, sp.approvers)) - excluded
            if len(approvers & eligible) < sp.approvals:
                return None
    return f"{what} approved by {', '.join(sorted(approvers))}"


def _log_evidence(
    records: Iterable[dict[str, Any]], heads: set[str], patch: str | None
) -> str | None:
    for i, r in enumerate(records, 1):
        if r.get("decision") != "pass":
            continue
        if r.get("head") in heads or (patch is not None and r.get("patch_id") == patch):
            return f"audit log record {r.get('seq', i)} (pass)"
    return None


def _signed_evidence(
    root: Path, parent: str, base: str, head: str, patch: str | None, entry: Entry, policy: Any
) -> str | None:
    """Verified signed approvals whose patch matches, enough for every requirement."""
    from traingate.approvals.semantics import Identities
    from traingate.approvals.signed import collect
    from traingate.change import Change
    from traingate.engine import expand

    settings = policy.policy.approvals.signed
    if settings is None:
        return None
    change = Change(root, "range", [], base=parent, head=head, merge_base=base)
    data = collect(change, policy)
    if data is None or not data.reviews:
        return None
    ids = Identities(policy.policy, "ssh")
    authors = {
        ids.email(ae) for _, _, ae, _, ce in git.commit_identities(root, f"{base}..{head}")
    } | {ids.email(ce) for _, _, _, _, ce in git.commit_identities(root, f"{base}..{head}")}
    approvers: set[str] = set()
    for r in data.reviews:
        stmt_commit = r.commit or ""
        same = stmt_commit == head or (
            git.resolve_commit(root, stmt_commit) is not None
            and git.patch_id(root, base, stmt_commit) == patch
        )
        user = ids.login(r.user)
        if same and user not in authors:
            approvers.add(user)
    for sp in policy.policy.sensitive_paths:
        if sp.name in entry.sensitive:
            eligible = set(expand(policy.policy, sp.approvers)) - authors
            if len(approvers & eligible) < sp.approvals:
                return None
    return f"signed approvals by {', '.join(sorted(approvers))}"


def _render(fmt: str, branch: str, entries: list[Entry], missing: list[Entry]) -> str:
    sensitive = [e for e in entries if e.sensitive]
    if fmt == "json":
        doc = {
            "branch": branch,
            "commits": len(entries),
            "sensitive_changes": len(sensitive),
            "unapproved": [_entry_dict(e) for e in missing],
            "approved": [_entry_dict(e) for e in sensitive if e.evidence],
        }
        return json.dumps(doc, indent=2) + "\n"
    if fmt == "markdown":
        lines = [f"## traingate audit history: `{branch}`", ""]
        lines.append(
            f"{len(entries)} commits, {len(sensitive)} touched sensitive paths, {len(missing)} without approval evidence."
        )
        if missing:
            lines += [
                "",
                "| Commit | Author | Subject | Sensitive | Paths |",
                "|---|---|---|---|---|",
            ]
            for e in missing:
                lines.append(
                    f"| `{e.commit[:12]}` | {e.author} | {e.subject} | {', '.join(e.sensitive)} | {', '.join(e.paths[:5])} |"
                )
        return "\n".join(lines) + "\n"
    out = [
        f"audit history of {branch}: {len(entries)} commits, {len(sensitive)} touched sensitive paths"
    ]
    for e in sensitive:
        mark = "ok     " if e.evidence else "MISSING"
        out.append(f"  [{mark}] {e.commit[:12]} {e.subject} ({e.author})")
        out.append(f"      sensitive: {', '.join(e.sensitive)}: {', '.join(e.paths[:5])}")
        out.append(
            f"      evidence: {e.evidence or 'none (direct push, admin bypass or force-push?)'}"
        )
    out.append(
        f"{len(missing)} change(s) without approval evidence"
        if missing
        else "every sensitive change has approval evidence"
    )
    return "\n".join(out) + "\n"


def _entry_dict(e: Entry) -> dict[str, Any]:
    return {
        "commit": e.commit,
        "subject": e.subject,
        "author": e.author,
        "sensitive": e.sensitive,
        "paths": e.paths,
        "evidence": e.evidence,
    }
