"""The human report: what blocked, where, why, and how to fix it."""

from __future__ import annotations

from traingate.findings import Finding, Outcome, Report, Requirement


def _loc(f: Finding) -> str:
    if f.line is None:
        return f.path
    return f"{f.path}:{f.line}:{f.column or 1}"


def _finding(report: Report, f: Finding) -> list[str]:
    tag = {
        Outcome.BLOCK: "blocks",
        Outcome.REQUIRE_APPROVAL: "needs approval",
        Outcome.WARN: "warning",
    }
    status = tag.get(f.outcome, f.outcome.value)
    if f.exemption is not None:
        status = "exempted"
    elif f.outcome is Outcome.REQUIRE_APPROVAL and not report.enforce_approvals:
        status = "needs approval at merge"
    elif f.outcome is Outcome.REQUIRE_APPROVAL and not report.finding_blocks(f):
        status = "approved"
    lines = [f"  {_loc(f)}: {f.severity.value.lower()}[{f.rule_id}] {f.message}  ({status})"]
    if f.outcome is Outcome.REQUIRE_APPROVAL and f.exemption is None:
        lines.append(f"      needs: an approval from {f.approval_group}")
    if f.exemption is not None:
        lines.append(f"      exemption: {f.exemption}")
    if f.help:
        lines.append(f"      help: {f.help}")
    return lines


def _requirement(r: Requirement) -> list[str]:
    mark = "ok " if r.satisfied else "MISSING"
    who = ", ".join(r.approvers)
    lines = [
        f"  [{mark}] {r.name}: needs {r.required} approval{'s' if r.required != 1 else ''} from {who}"
        f" ({len(r.approved_by)}/{r.required})"
    ]
    lines.append(f"      paths: {', '.join(r.paths[:8])}{' ...' if len(r.paths) > 8 else ''}")
    if r.reasons:
        lines.append(
            f"      raised by: {'; '.join(r.reasons[:5])}{' ...' if len(r.reasons) > 5 else ''}"
        )
    if r.approved_by:
        lines.append(f"      approved by: {', '.join(r.approved_by)}")
    for user, why in r.rejected:
        lines.append(f"      not counted: {user}: {why}")
    if r.error:
        lines.append(f"      error: {r.error}")
        lines.append(
            "      help: add members to the group in the trusted policy, or ask the security team"
        )
    elif not r.satisfied:
        pending = [u for u in r.eligible if u not in r.approved_by]
        lines.append(f"      eligible approvers: {', '.join(pending) or '(none)'}")
    return lines


def render(report: Report) -> str:
    out: list[str] = []
    n = len(report.changed_files)
    out.append(
        f"traingate {report.mode}: {n} file{'s' if n != 1 else ''}, policy {report.policy_source}"
    )
    shown = [f for f in report.findings if f.outcome is not Outcome.IGNORE]
    if shown:
        out.append("")
        out.append("Findings:")
        for f in shown:
            out.extend(_finding(report, f))
    if report.requirements:
        out.append("")
        out.append(
            "Approvals:"
            if report.enforce_approvals
            else "Approvals this change will need at merge:"
        )
        for r in report.requirements:
            out.extend(_requirement(r))
    expired = [e for e in report.exemptions if e.expired]
    for ex in expired:
        out.append(
            f"warning: exemption for {ex.check}/{ex.rule} on {', '.join(ex.paths)} expired {ex.expires}"
        )
    for w in report.warnings:
        out.append(f"warning: {w}")
    if report.errors:
        out.append("")
        out.append("Errors (the gate fails closed):")
        for e in report.errors:
            out.extend("  " + line for line in e.rstrip().splitlines())
    out.append("")
    blocking = [f for f in report.findings if report.finding_blocks(f)]
    unmet = report.unmet if report.enforce_approvals else []
    if report.decision == "block":
        why = []
        if report.errors:
            why.append(f"{len(report.errors)} error{'s' if len(report.errors) != 1 else ''}")
        if blocking:
            why.append(f"{len(blocking)} blocking finding{'s' if len(blocking) != 1 else ''}")
        if unmet:
            why.append(f"{len(unmet)} unmet approval requirement{'s' if len(unmet) != 1 else ''}")
        out.append(f"BLOCKED: {', '.join(why)} (exit {report.exit_code})")
    else:
        out.append(f"PASSED (exit {report.exit_code})")
    return "\n".join(out) + "\n"
