"""SARIF 2.1.0 for code-scanning UIs; validated against the OASIS schema in tests.

Level mapping (issue #3): a finding that blocks or requires approval is
``error``; one that only warns is ``warning``. Exempted findings carry a
SARIF ``suppressions`` entry with the policy's reason, so they stay visible.
Unmet approval requirements are results of rule ``approval-required``.
"""

from __future__ import annotations

import json
from typing import Any

from traingate import __version__
from traingate.findings import Finding, Outcome, Report, Requirement

SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
INFO_URI = "https://github.com/traingate/traingate"
DOCS = INFO_URI + "/blob/main/docs/"


def _level(f: Finding) -> str:
    if f.outcome in (Outcome.BLOCK, Outcome.REQUIRE_APPROVAL):
        return "error"
    return "warning" if f.outcome is Outcome.WARN else "note"


def _rule(rule_id: str, check: str, category: str | None, short: str) -> dict[str, Any]:
    from traingate.docs import rule_doc

    page = f"rules/{rule_id}.md" if check == "semgrep" else f"checks/{check}.md"
    rule: dict[str, Any] = {
        "id": rule_id,
        "name": rule_id,
        "shortDescription": {"text": short[:200] or rule_id},
        "helpUri": DOCS + page,
        "properties": {
            "tags": list(dict.fromkeys(["security", check, *([category] if category else [])]))
        },
    }
    doc = rule_doc(rule_id, check)
    if doc:
        rule["help"] = {"text": doc, "markdown": doc}
    return rule


def _region(f: Finding) -> dict[str, int]:
    region = {"startLine": f.line or 1}
    if f.column:
        region["startColumn"] = f.column
    if f.end_line:
        region["endLine"] = f.end_line
        if f.end_column:
            region["endColumn"] = f.end_column
    return region


def _location(path: str, region: dict[str, int] | None = None) -> dict[str, Any]:
    phys: dict[str, Any] = {"artifactLocation": {"uri": _uri(path), "uriBaseId": "%SRCROOT%"}}
    if region:
        phys["region"] = region
    return {"physicalLocation": phys}


def _uri(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")


def _finding_result(report: Report, f: Finding, index: int) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": f.rule_id,
        "ruleIndex": index,
        "level": _level(f),
        "message": {"text": f.message + (f" (help: {f.help})" if f.help else "")},
        "locations": [_location(f.path, _region(f))],
        "partialFingerprints": {"traingate/v1": f"{f.rule_id}:{f.path}:{f.line or 0}"},
        "properties": {
            "check": f.check,
            "outcome": f.outcome.value,
            "blocking": report.finding_blocks(f),
            "approvalGroup": f.approval_group,
        },
    }
    if f.exemption is not None:
        result["suppressions"] = [{"kind": "external", "justification": f.exemption}]
    return result


def _requirement_result(r: Requirement, index: int) -> dict[str, Any]:
    who = ", ".join(r.approvers)
    text = f"{r.name}: needs {r.required} approval(s) from {who}; approved by {', '.join(r.approved_by) or 'nobody'}"
    if r.error:
        text += f" ({r.error})"
    return {
        "ruleId": "approval-required",
        "ruleIndex": index,
        "level": "error",
        "message": {"text": text},
        "locations": [_location(p) for p in r.paths[:10]] or [_location(".")],
        "properties": {"requirement": r.name, "eligible": list(r.eligible)},
    }


def as_dict(report: Report) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    results = []
    for f in report.findings:
        if f.rule_id not in index:
            index[f.rule_id] = len(rules)
            rules.append(_rule(f.rule_id, f.check, f.category, f.message))
        results.append(_finding_result(report, f, index[f.rule_id]))
    unmet = [r for r in report.requirements if not r.satisfied] if report.enforce_approvals else []
    if unmet:
        index["approval-required"] = len(rules)
        rules.append(
            _rule("approval-required", "approvals", None, "A required approval is missing")
        )
        results += [_requirement_result(r, index["approval-required"]) for r in unmet]
    notifications = [
        {"level": "error", "message": {"text": e.splitlines()[0]}} for e in report.errors
    ]
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "traingate",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": INFO_URI,
                        "rules": rules,
                    }
                },
                "invocations": [
                    {
                        "executionSuccessful": not report.errors,
                        "exitCode": report.exit_code,
                        "toolExecutionNotifications": notifications,
                    }
                ],
                "results": results,
                "properties": {"decision": report.decision, "policy": report.policy_source},
            }
        ],
    }


def render(report: Report) -> str:
    return json.dumps(as_dict(report), indent=2, ensure_ascii=False) + "\n"
