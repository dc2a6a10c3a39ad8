"""GitLab Code Quality report (artifacts:reports:codequality).

Fields per GitLab's documentation: description, check_name, fingerprint,
severity (info, minor, major, critical, blocker), location.path and
location.lines.begin. Validated in tests against tests/data/gitlab-codequality.schema.json.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from traingate.findings import Outcome, Report


def _fingerprint(*parts: object) -> str:
    return hashlib.sha256("\0".join(str(p) for p in parts).encode()).hexdigest()


def as_list(report: Report) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for f in report.findings:
        if f.exemption is not None:
            severity = "info"
        elif report.finding_blocks(f):
            severity = "blocker" if f.outcome is Outcome.BLOCK else "critical"
        else:
            severity = "minor"
        out.append(
            {
                "description": f"{f.rule_id}: {f.message}",
                "check_name": f.rule_id,
                "fingerprint": _fingerprint(f.check, f.rule_id, f.path, f.line, f.message),
                "severity": severity,
                "location": {"path": f.path.removeprefix("./"), "lines": {"begin": f.line or 1}},
            }
        )
    for r in report.unmet if report.enforce_approvals else []:
        who = ", ".join(r.approvers)
        for p in r.paths[:20]:
            out.append(
                {
                    "description": f"{r.name}: needs {r.required} approval(s) from {who}"
                    + (f" ({r.error})" if r.error else ""),
                    "check_name": "approval-required",
                    "fingerprint": _fingerprint("approval", r.name, p),
                    "severity": "blocker",
                    "location": {"path": p, "lines": {"begin": 1}},
                }
            )
    return out


def render(report: Report) -> str:
    return json.dumps(as_list(report), indent=2, ensure_ascii=False) + "\n"
