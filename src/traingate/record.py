"""The decision record written to the audit log (docs/audit.md)."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path
from typing import Any

from traingate import __version__, git
from traingate.findings import Report
from traingate.report.json_ import finding_dict, requirement_dict


def rules_sha256() -> str:
    """Hash of the shipped rule pack (custom rule dirs are named by the policy hash)."""
    from traingate.policy.load import data_dir

    h = hashlib.sha256()
    rules = data_dir() / "rules"
    for p in sorted(rules.rglob("*.y*ml")):
        h.update(p.relative_to(rules).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def decision_record(report: Report, root: Path) -> dict[str, Any]:
    patch = None
    if report.merge_base and report.head:
        patch = git.patch_id(root, report.merge_base, report.head)
    return {
        "time": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tool": {"name": "traingate", "version": __version__},
        "repo": os.environ.get("GITHUB_REPOSITORY")
        or os.environ.get("CI_PROJECT_PATH")
        or str(root),
        "mode": report.mode,
        "base": report.base,
        "head": report.head,
        "merge_base": report.merge_base,
        "patch_id": patch,
        # Object ids history matches evidence by (issue #14): never the patch-id.
        "head_tree": _tree(root, report.head),
        "enforce_approvals": report.enforce_approvals,
        "policy": {"source": report.policy_source, "sha256": report.policy_sha256},
        "rules_sha256": rules_sha256(),
        "approvals_source": report.approvals_source,
        "findings": [finding_dict(report, f) for f in report.findings],
        "requirements": [requirement_dict(r) for r in report.requirements],
        "errors": list(report.errors),
        "decision": report.decision,
        "exit_code": report.exit_code,
    }


def _tree(root: Path, commit: str | None) -> str | None:
    if not commit:
        return None
    return git.run(root, "rev-parse", "--verify", f"{commit}^{{tree}}").decode().strip()


def append_decision(
    report: Report, root: Path, log: str, key: str | None, principal: str | None
) -> None:
    from traingate import audit

    audit.append(
        Path(log),
        decision_record(report, root),
        key=Path(key) if key else None,
        principal=principal if key else None,
    )
