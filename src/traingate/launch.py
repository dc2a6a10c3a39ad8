"""``traingate verify``: is what a job is about to run exactly a tree that passed the gate?

Issue #20. A job runs files on disk, not a pull request. This command takes
the working tree (or a commit) a job is about to run and answers with an exit
code: 0 only when

- the files on disk are byte for byte the tree of a commit (untracked and
  ignored files included, see traingate.treediff), and
- that tree id has evidence of passing the gate: a signed source attestation
  (``traingate attest``, refs/notes/commits), a passing record of the signed
  decision log whose ``head_tree`` is that tree, or signed approval notes that
  satisfy the policy at their base;

and, with ``--env-baseline``, the Python environment verifies against its
signed baseline (traingate.env). Anything else exits 1 and names the first
file that differs; errors exit 2 or 3, never 0.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from traingate import git, treediff
from traingate.errors import ExitCode, UsageError


@dataclass
class EvidenceOptions:
    audit_log: Path | None = None
    allowed_signers: Path | None = None
    branch: str | None = None


@dataclass
class Evidence:
    found: str | None = None  # what proved the tree passed, for the report
    tried: list[str] = field(default_factory=list)  # why other sources did not


def tree_of(root: Path, rev: str) -> str:
    return (
        git.run(root, "rev-parse", "--verify", "--end-of-options", f"{rev}^{{tree}}")
        .decode()
        .strip()
    )


def find_evidence(root: Path, tree: str, opts: EvidenceOptions) -> Evidence:
    """Evidence that ``tree`` passed the gate; sources are tried in order of strength."""
    ev = Evidence()
    branch_tip = git.require_commit(root, opts.branch, "branch") if opts.branch else None
    if opts.allowed_signers is not None:
        ev.found = _attested(root, tree, opts.allowed_signers, branch_tip, ev.tried)
    else:
        ev.tried.append("attestations: not checked (no --allowed-signers)")
    if ev.found is None and opts.audit_log is not None:
        ev.found = _logged(root, tree, opts, branch_tip, ev.tried)
    if ev.found is None:
        ev.found = _approved(root, tree, branch_tip, ev.tried)
    return ev


def _commits_with_tree(root: Path, ref: str, tree: str) -> list[str]:
    """Commits that carry a note in ``ref`` and whose tree is ``tree``."""
    out = git.run(root, "notes", f"--ref={ref}", "list", check=False).decode()
    commits = [line.split()[1] for line in out.splitlines() if len(line.split()) == 2]
    if not commits:
        return []
    shown = git.run(root, "log", "--no-walk=unsorted", "--format=%H %T", *commits, "--").decode()
    return [c for c, t in (line.split() for line in shown.splitlines()) if t == tree]


def _on_branch(root: Path, commit: str, tip: str | None) -> bool:
    return tip is None or commit == tip or git.is_ancestor(root, commit, tip)


def _attested(
    root: Path, tree: str, signers: Path, tip: str | None, tried: list[str]
) -> str | None:
    from traingate import attest

    candidates = _commits_with_tree(root, attest.NOTES_REF, tree)
    if not candidates:
        tried.append("attestations: no commit with this tree carries one")
    for commit in candidates:
        result = attest.verify_commit(root, commit, signers)
        if not result.ok:
            tried.append(f"attestation on {commit[:12]}: {result.problems[0]}")
            continue
        if not _on_branch(root, commit, tip):
            tried.append(f"attestation on {commit[:12]}: the commit is not on the branch")
            continue
        return f"source attestation on {commit[:12]} signed by {result.signer}"
    return None


def _logged(
    root: Path, tree: str, opts: EvidenceOptions, tip: str | None, tried: list[str]
) -> str | None:
    from traingate.history import _load_log

    assert opts.audit_log is not None
    signers = str(opts.allowed_signers) if opts.allowed_signers else None
    records = _load_log(opts.audit_log, signers)  # the whole log verifies, or UsageError
    matched = False
    for i, r in enumerate(records, 1):
        if r.get("head_tree") != tree:
            continue
        matched = True
        why = _record_problem(r)
        if why is None and tip is not None:
            base = r.get("base")
            if not isinstance(base, str) or not _on_branch(root, base, tip):
                why = f"its base is not on {opts.branch}"
        if why is None:
            return f"decision log record {r.get('seq', i)} (pass, head {str(r.get('head'))[:12]})"
        tried.append(f"decision log record {r.get('seq', i)}: {why}")
    if not matched:
        tried.append(f"decision log: no record has head_tree {tree[:12]}")
    return None


def _record_problem(r: dict[str, Any]) -> str | None:
    """Why a record is not evidence (None: it is). Same rule as ``audit history``."""
    if r.get("decision") != "pass":
        return "the decision was not pass"
    if r.get("enforce_approvals") is False:
        return "an advisory run (approvals not enforced)"
    for q in r.get("requirements") or []:
        if not isinstance(q, dict) or q.get("error") is not None:
            return "a requirement could not be judged"
        if len(q.get("approved_by") or []) < int(q.get("required") or 0):
            return f"requirement {q.get('name')} is not satisfied"
    return None


def _approved(root: Path, tree: str, tip: str | None, tried: list[str]) -> str | None:
    """Signed approval notes on a commit with this tree that satisfy the policy
    at the approval's merge base (approvals only: no record of the checks)."""
    from traingate import change as changes
    from traingate.approvals.semantics import judge
    from traingate.approvals.signed import NOTES_REF, collect
    from traingate.engine import approval_requirements
    from traingate.policy.load import load_from_git

    for commit in _commits_with_tree(root, NOTES_REF, tree):
        raw = git.notes(root, NOTES_REF, commit) or b""
        bases = set()
        for line in raw.decode("utf-8", "replace").splitlines():
            try:
                st = json.loads(line).get("statement") or {}
            except (ValueError, AttributeError):
                continue
            if isinstance(st.get("merge_base"), str):
                bases.add(st["merge_base"])
        for mb in sorted(bases):
            if git.resolve_commit(root, mb) is None or not _on_branch(root, mb, tip):
                continue
            ch = changes.revision_range(root, mb, commit)
            policy = load_from_git(root, mb)
            data = collect(ch, policy)
            if data is None or not data.reviews:
                continue
            verdict = judge(
                data, policy.policy, root, merge_base=ch.merge_base, head=ch.head, base=ch.base
            )
            reqs = approval_requirements(ch, policy, [], verdict)
            if reqs and all(r.satisfied for r in reqs):
                people = sorted({u for r in reqs for u in r.approved_by})
                return f"signed approvals on {commit[:12]} by {', '.join(people)}"
            tried.append(f"signed approvals on {commit[:12]}: the policy is not satisfied")
    return None


# --------------------------------------------------------------------------- command


def run_verify(args: argparse.Namespace) -> int:
    directory = Path(args.dir).resolve() if args.dir else None
    if directory is None and not args.commit:
        directory = Path.cwd()
    repo = Path(args.repo) if args.repo else (directory or Path.cwd())
    root = git.toplevel(repo)
    if directory is not None and not args.repo:
        # A job started in a subdirectory still runs (and imports) the whole checkout.
        directory = root
    rev = args.commit or "HEAD"
    commit = git.require_commit(root, rev, "commit")
    tree = tree_of(root, commit)
    opts = EvidenceOptions(
        audit_log=Path(args.audit_log) if args.audit_log else None,
        allowed_signers=Path(args.allowed_signers) if args.allowed_signers else None,
        branch=args.branch,
    )
    if opts.audit_log is None and opts.allowed_signers is None:
        raise UsageError(
            "no evidence to check against",
            help="pass --allowed-signers F (source attestations) and/or --audit-log F",
        )
    diffs = treediff.compare(root, tree, directory, exclude=args.exclude) if directory else []
    ev = find_evidence(root, tree, opts)
    env_result = None
    if args.env_baseline:
        from traingate.env.command import verify_for_launch

        env_result = verify_for_launch(args)
    ok = not diffs and ev.found is not None and (env_result is None or env_result.ok)
    doc = {
        "decision": "pass" if ok else "block",
        "commit": commit,
        "tree": tree,
        "directory": str(directory) if directory else None,
        "differences": [{"path": d.path, "kind": d.kind, "detail": d.detail} for d in diffs],
        "evidence": ev.found,
        "evidence_tried": ev.tried,
        "environment": None
        if env_result is None
        else {"ok": env_result.ok, "errors": [f.path for f in env_result.errors]},
    }
    if args.format == "json":
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        sys.stdout.write(_text(doc, diffs, ev, env_result))
    return int(ExitCode.PASS if ok else ExitCode.BLOCKED)


def _text(doc: dict[str, Any], diffs: list[treediff.Difference], ev: Evidence, env: Any) -> str:
    lines = []
    where = doc["directory"] or f"commit {doc['commit'][:12]}"
    if diffs:
        first = diffs[0]
        more = f" (and {len(diffs) - 1} more)" if len(diffs) > 1 else ""
        lines.append(
            f"BLOCKED: {where} is not tree {doc['tree'][:12]}: first difference "
            f"{first.render()}{more}"
        )
        lines += [f"  {d.render()}" for d in diffs[1:20]]
    if ev.found is None:
        lines.append(f"BLOCKED: tree {doc['tree'][:12]} has no evidence of passing the gate")
        lines += [f"  {t}" for t in ev.tried]
    else:
        lines.append(f"tree {doc['tree'][:12]} passed the gate: {ev.found}")
    if env is not None:
        from traingate.env.output import render_text

        lines.append(render_text(env).rstrip("\n"))
    if doc["decision"] == "pass":
        lines.append(f"verified: {where} is exactly tree {doc['tree'][:12]}, which passed the gate")
    return "\n".join(lines) + "\n"
