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

from traingate import git
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
    signers = getattr(args, "allowed_signers", None)
    records = _load_log(Path(args.audit_log), signers) if args.audit_log else []
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


def _load_log(path: Path, signers: str | None) -> list[dict[str, Any]]:
    """The log's records, only when the whole log verifies. A log with signed
    records must be verified against its signers: an unsigned record appended
    to a signed log is not evidence of anything (issue #14 class 4)."""
    from traingate import audit
    from traingate.errors import UsageError

    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if signers is None and any('"sig":' in ln for ln in lines):
        raise UsageError(
            f"the audit log {path} is signed; its signatures must be checked before it "
            "can serve as evidence",
            help="pass --allowed-signers FILE (the signers of the decision log)",
        )
    result = audit.verify(
        path,
        allowed_signers=Path(signers) if signers else None,
        require_signatures=signers is not None,
    )
    if not result.ok:
        raise UsageError(
            f"the audit log {path} is not intact; it cannot serve as evidence",
            help=audit.render(result).splitlines()[0],
        )
    return [json.loads(ln) for ln in lines]


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
    """One landed change, judged by the same judge as ``check`` and ``ci``."""
    from traingate import change as changes
    from traingate.approvals.semantics import Verdict
    from traingate.engine import approval_requirements
    from traingate.policy.load import load_from_git

    parents = git.run(root, "rev-list", "--parents", "-n1", commit).decode().split()[1:]
    if not parents:
        return None  # the root commit has no base to be judged against
    parent = parents[0]
    head = parents[1] if len(parents) > 1 else commit
    raw = git.run(root, "log", "-1", "--format=%s%x00%an <%ae>", commit)
    meta = raw.decode("utf-8", "replace").rstrip("\n")  # display only
    subject, _, author = meta.partition("\0")
    entry = Entry(commit, subject, author)
    policy = load_from_git(root, parent)
    ch = changes.revision_range(root, parent, head)
    unjudged = approval_requirements(ch, policy, [], Verdict())
    if not unjudged:
        return entry
    entry.sensitive = [r.name for r in unjudged]
    entry.paths = sorted({p for r in unjudged for p in r.paths})
    entry.evidence = _log_evidence(root, records, ch, policy.sha256)
    for source in ("signed", "platform"):
        if entry.evidence is None:
            entry.evidence = _judged_evidence(root, ch, policy, source, commit, platform)
    return entry


def _judged_evidence(
    root: Path,
    ch: Any,
    policy: Any,
    source: str,
    commit: str,
    platform: tuple[str, str] | None,
) -> str | None:
    """Approvals from signed notes or the platform that satisfy every requirement."""
    from traingate.approvals.semantics import judge
    from traingate.engine import approval_requirements

    if source == "signed":
        from traingate.approvals.signed import collect

        data = collect(ch, policy)
        what = "signed approvals"
    else:
        if platform is None:
            return None
        found = _platform_data(*platform, commit)
        if found is None:
            return None
        data, what, pr_head = found
        if pr_head != commit and git.is_ancestor(root, commit, pr_head):
            # A commit of a fast-forwarded PR: what was approved, and what
            # landed, is the whole PR, base..PR head, not this step of it.
            from traingate import change as changes

            ch = changes.revision_range(root, ch.base, pr_head)
    if data is None or not data.reviews:
        return None
    verdict = judge(data, policy.policy, root, merge_base=ch.merge_base, head=ch.head, base=ch.base)
    reqs = approval_requirements(ch, policy, [], verdict)
    if not all(r.satisfied for r in reqs):
        return None
    people = sorted({u for r in reqs for u in r.approved_by})
    return f"{what} by {', '.join(people)}"


def _platform_data(host: str, repo: str, commit: str) -> tuple[Any, str, str] | None:
    """The merged PR/MR that produced ``commit``: its review facts and a label."""
    if host == "github":
        from traingate.approvals import github

        pull = github.merged_pull_for_commit(repo, commit)
        if pull is None:
            return None
        number, head = pull
        return github.fetch(repo, number), f"pull request #{number} approved", head
    from traingate.approvals import gitlab

    found = gitlab.merged_request_for_commit(repo, commit)
    if found is None:
        return None
    number, head, member = found
    data = gitlab.fetch(repo, number)
    if member and commit not in {c.sha for c in data.commits or ()}:
        return None
    return data, f"merge request !{number} approved", head


def _log_evidence(
    root: Path, records: Iterable[dict[str, Any]], ch: Any, policy_sha: str
) -> str | None:
    """A passing, enforcing record of exactly this content under this policy.

    Matched by object ids: the record's change, replayed onto the landed base,
    must give the landed tree (a squash or rebase merge of the approved head
    does; a whitespace variant does not). Advisory runs, whose approvals may
    be unmet, never count, and neither does a record of another policy.
    """
    from traingate.approvals.content import coverage

    for i, r in enumerate(records, 1):
        if r.get("decision") != "pass" or r.get("enforce_approvals") is False:
            continue
        reqs = r.get("requirements") or []
        if not all(
            isinstance(q, dict)
            and q.get("error") is None
            and len(q.get("approved_by") or []) >= int(q.get("required") or 0)
            for q in reqs
        ):
            continue
        if (r.get("policy") or {}).get("sha256") != policy_sha:
            continue
        head, mb = r.get("head"), r.get("merge_base")
        if not isinstance(head, str) or not isinstance(mb, str):
            continue
        rh, rmb = git.resolve_commit(root, head), git.resolve_commit(root, mb)
        if rh is None or rmb is None or ch.head is None or ch.merge_base is None:
            continue
        if coverage(root, rmb, rh, ch.merge_base, ch.head).covered:
            return f"audit log record {r.get('seq', i)} (pass)"
    return None


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
