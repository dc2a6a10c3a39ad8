"""Markdown for PR/MR comments and CI job summaries."""

from __future__ import annotations

from traingate.findings import Outcome, Report
from traingate.report.text import status


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(report: Report) -> str:
    from traingate.ci import pass_reason

    icon = "✅" if report.decision == "pass" else "⛔"
    reason = pass_reason(report)  # a pass always says why (issue #19)
    title = f"## {icon} traingate: {report.decision}" + (f" — {reason}" if reason else "")
    out = [title, ""]
    header = f"Policy `{report.policy_source}` · {len(report.changed_files)} changed files"
    if report.base_ref:  # a retargeted PR is judged against its new base (issue #14)
        header += f" · base `{_cell(report.base_ref)}`"
    if report.head:
        header += f" · head `{report.head[:12]}`"
    out += [header, ""]
    if report.errors:
        out += ["### Errors", ""]
        out += [f"- {_cell(e.splitlines()[0])}" for e in report.errors]
        out.append("")
    if report.requirements:
        out += [
            "### Approvals",
            "",
            "| | Requirement | Paths | Needed | Approved by | Eligible |",
            "|---|---|---|---|---|---|",
        ]
        for r in report.requirements:
            mark = "✅" if r.satisfied else "❌"
            paths = ", ".join(f"`{p}`" for p in r.paths[:5]) + (" …" if len(r.paths) > 5 else "")
            needed = f"{r.required} from {', '.join(r.approvers)}"
            elig = r.error or ", ".join(r.eligible)
            out.append(
                f"| {mark} | {_cell(r.name)} | {_cell(paths)} | {_cell(needed)} | "
                f"{_cell(', '.join(r.approved_by) or '—')} | {_cell(elig)} |"
            )
        out.append("")
    shown = [f for f in report.findings if f.outcome is not Outcome.IGNORE]
    if shown:
        out += ["### Findings", "", "| | Location | Rule | Message |", "|---|---|---|---|"]
        for f in shown:
            mark = "⛔" if report.finding_blocks(f) else ("🟡" if f.exemption is None else "⚪")
            mark += f" {status(report, f)}"  # the text report's words (issue #18)
            loc = f"{f.path}:{f.line}" if f.line else f.path
            out.append(f"| {mark} | `{_cell(loc)}` | `{f.rule_id}` | {_cell(f.message)} |")
        out.append("")
    return "\n".join(out) + "\n"
