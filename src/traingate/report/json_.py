"""The JSON report: a documented, versioned schema (docs/reference/json-report.md).

Version 1 fields are a contract: add fields, never rename or remove them.
"""

from __future__ import annotations

import json
from typing import Any

from traingate import __version__
from traingate.findings import Finding, Report, Requirement

SCHEMA_VERSION = 1


def finding_dict(report: Report, f: Finding) -> dict[str, Any]:
    return {
        "check": f.check,
        "rule_id": f.rule_id,
        "severity": f.severity.value,
        "category": f.category,
        "blocking": report.finding_blocks(f),
        "outcome": f.outcome.value,
        "approval_group": f.approval_group,
        "path": f.path,
        "line": f.line,
        "column": f.column,
        "end_line": f.end_line,
        "end_column": f.end_column,
        "message": f.message,
        "help": f.help,
        "exempted": f.exemption is not None,
        "exemption_reason": f.exemption,
    }


def requirement_dict(r: Requirement) -> dict[str, Any]:
    return {
        "name": r.name,
        "kind": r.kind,
        "paths": list(r.paths),
        "required": r.required,
        "approvers": list(r.approvers),
        "eligible": list(r.eligible),
        "approved_by": list(r.approved_by),
        "rejected": [{"user": u, "reason": why} for u, why in r.rejected],
        "missing": r.missing,
        "satisfied": r.satisfied,
        "reasons": list(r.reasons),
        "error": r.error,
    }


def as_dict(report: Report) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "traingate", "version": __version__},
        "decision": report.decision,
        "exit_code": report.exit_code,
        "mode": report.mode,
        "base": report.base,
        "head": report.head,
        "merge_base": report.merge_base,
        "base_ref": report.base_ref,
        "approvals_enforced": report.enforce_approvals,
        "approvals_source": report.approvals_source,
        "policy": {"source": report.policy_source, "sha256": report.policy_sha256},
        "findings": [finding_dict(report, f) for f in report.findings],
        "requirements": [requirement_dict(r) for r in report.requirements],
        "exemptions": [
            {
                "check": e.check,
                "rule": e.rule,
                "paths": list(e.paths),
                "reason": e.reason,
                "expires": e.expires,
                "approved_by": e.approved_by,
                "expired": e.expired,
                "matched": e.matched,
                # only when set (issue #16): reports without `via:` are unchanged
                **({"via": list(e.via)} if e.via else {}),
            }
            for e in report.exemptions
        ],
        "errors": list(report.errors),
        "warnings": list(report.warnings),
        "changed_files": report.changed_files,
    }


def render(report: Report) -> str:
    return json.dumps(as_dict(report), indent=2, ensure_ascii=False) + "\n"
