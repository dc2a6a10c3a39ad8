"""The gate as an in-process API: a request in, a report out (issue #15).

``traingate check`` (cli), ``traingate demo`` and ``traingate policy test``
call :func:`check`; none of them builds argv strings for another command.
Errors are :class:`traingate.errors.TraingateError` objects carrying their own
exit code and remedy; the caller decides how to show them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from traingate.errors import UsageError

if TYPE_CHECKING:
    from traingate.approvals.semantics import Verdict
    from traingate.change import Change
    from traingate.findings import Report
    from traingate.policy.load import LoadedPolicy


@dataclass(frozen=True)
class CheckRequest:
    """What to judge. Exactly one way to pick the change: ``staged``,
    ``pre_push`` (with its refs), ``base`` (with ``head``), or the working tree."""

    repo: str | Path = "."
    base: str | None = None
    head: str | None = None
    staged: bool = False
    pre_push: bool = False
    push_from: str | None = None
    push_to: str | None = None
    policy_file: str | Path | None = None  # else the trusted base's .traingate.yaml
    approvals_file: str | Path | None = None
    advisory: bool = False  # approvals shown, not enforced (the hooks)
    cache_dir: Path | None = None


def check(req: CheckRequest) -> Report:
    from traingate.engine import evaluate
    from traingate.policy import load as policy_load

    ch = _change(req)
    ch.cache_dir = req.cache_dir
    if req.policy_file:
        policy = policy_load.load_file(req.policy_file)
    else:
        policy = policy_load.load_from_git(ch.root, ch.base, ch.reader, req.cache_dir)
    return evaluate(
        ch,
        policy,
        enforce_approvals=not req.advisory,
        approvals=verdict(ch, policy, req.approvals_file),
        cache_dir=req.cache_dir,
    )


def _change(req: CheckRequest) -> Change:
    from traingate import change as changes

    if req.head and not req.base:
        raise UsageError(
            "--head needs --base", help="e.g. `traingate check --base origin/main --head HEAD`"
        )
    if req.staged:
        return changes.staged(req.repo)
    if req.pre_push:
        return changes.pre_push(req.repo, req.push_from, req.push_to)
    if req.base:
        return changes.revision_range(req.repo, req.base, req.head or "HEAD")
    return changes.worktree(req.repo)


def verdict(ch: Change, policy: LoadedPolicy, approvals_file: str | Path | None) -> Verdict | None:
    """Gather review data from every configured source and judge it (the one judge)."""
    from traingate.approvals import ReviewData
    from traingate.approvals.semantics import judge, merge
    from traingate.approvals.signed import collect as collect_signed

    sources: list[ReviewData] = []
    if approvals_file:
        from traingate.approvals import jsonfile

        sources.append(jsonfile.load(approvals_file))
    signed = collect_signed(ch, policy)
    if signed is not None:
        sources.append(signed)
    if not sources:
        return None
    return judge(
        merge(sources), policy.policy, ch.root, merge_base=ch.merge_base, head=ch.head, base=ch.base
    )
