"""SARIF 2.1.0 for code-scanning UIs; validated against the OASIS schema in tests.

Level mapping (issue #3): a finding that blocks or requires approval is
``error``; one that only warns is ``warning``. Exempted findings carry a
SARIF ``suppressions`` entry with the policy's reason, so they stay visible.
Unmet approval requirements are results of rule ``approval-required``: one
result per requirement, located at its first path (issue #19: not one alert
per sensitive file; they are not code defects).

Rule descriptors come from the catalog (issue #15): ``ruleId`` is
``traingate/<id>`` (the bare id stays in ``properties.rule``), the description
is the catalog's summary, never a finding's message (which can quote the change
under review), and ``helpUri`` is the rule's own page.
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
PREFIX = "traingate/"


def _level(f: Finding) -> str:
    if f.outcome in (Outcome.BLOCK, Outcome.REQUIRE_APPROVAL):
        return "error"
    return "warning" if f.outcome is Outcome.WARN else "note"


def _rule(rule_id: str, check: str, category: str | None) -> dict[str, Any]:
    from traingate import catalog
    from traingate.docs import rule_doc

    known = catalog.all_rules().get(rule_id)
    # A custom rule (the policy's own semgrep rule dirs) is not in the catalog:
    # its id is all we say, never text from the change.
    short = known.summary if known else f"custom rule {rule_id}"
    category = category or (known.category if known else None)
    rule: dict[str, Any] = {
        "id": f"{PREFIX}{rule_id}",
        "name": rule_id,
        "shortDescription": {"text": short[:200]},
        "properties": {
            "rule": rule_id,
            "tags": list(dict.fromkeys(["security", check, *([category] if category else [])])),
        },
    }
    if known is not None:
        rule["helpUri"] = known.url
        rule["defaultConfiguration"] = {
            "level": "error" if known.severity.value == "ERROR" else "warning"
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
        "ruleId": f"{PREFIX}{f.rule_id}",
        "ruleIndex": index,
        "level": _level(f),
        "message": {"text": f.message + (f" (help: {f.help})" if f.help else "")},
        "locations": [_location(f.path, _region(f))],
        "partialFingerprints": {"traingate/v1": f"{f.rule_id}:{f.path}:{f.line or 0}"},
        "properties": {
            "rule": f.rule_id,
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
    shown = ", ".join(r.paths[:10]) + (
        f" and {len(r.paths) - 10} more" if len(r.paths) > 10 else ""
    )
    text = (
        f"{r.name}: needs {r.required} approval(s) from {who} for {shown or 'the change'}; "
        f"approved by {', '.join(r.approved_by) or 'nobody'}"
    )
    if r.error:
        text += f" ({r.error})"
    return {
        "ruleId": f"{PREFIX}approval-required",
        "ruleIndex": index,
        "level": "error",
        "message": {"text": text},
        "locations": [_location(r.paths[0] if r.paths else ".")],
        "partialFingerprints": {"traingate/v1": f"approval-required:{r.name}"},
        "properties": {
            "rule": "approval-required",
            "requirement": r.name,
            "paths": list(r.paths),
            "eligible": list(r.eligible),
        },
    }


def as_dict(report: Report) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    results = []
    for f in report.findings:
        if f.rule_id not in index:
            index[f.rule_id] = len(rules)
            rules.append(_rule(f.rule_id, f.check, f.category))
        results.append(_finding_result(report, f, index[f.rule_id]))
    unmet = [r for r in report.requirements if not r.satisfied] if report.enforce_approvals else []
    if unmet:
        index["approval-required"] = len(rules)
        rules.append(_rule("approval-required", "approvals", None))
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
                # %SRCROOT% must be defined where results use it (issue #19).
                "originalUriBaseIds": {"%SRCROOT%": _srcroot(report)},
                "properties": {"decision": report.decision, "policy": report.policy_source},
            }
        ],
    }


def _srcroot(report: Report) -> dict[str, Any]:
    from pathlib import Path

    root = Path(report.root)
    desc = {"description": {"text": "the root of the checked repository"}}
    return {"uri": root.as_uri() + "/", **desc} if root.is_absolute() else desc


def render(report: Report) -> str:
    return json.dumps(as_dict(report), indent=2, ensure_ascii=False) + "\n"
