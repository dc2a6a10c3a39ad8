"""Model artifacts: pickle-based files checked against an allow list, never unpickled.

The scanning itself lives in :mod:`traingate.artifacts` (stdlib only, see
docs/checks/artifacts.md for the library choice); this module applies it to
the added or modified files of a change.
"""

from __future__ import annotations

from traingate.change import Status
from traingate.checks.base import Context
from traingate.findings import Finding
from traingate.policy.model import Severity

ID = "artifacts"
DESCRIPTION = "Pickle-based model files (allow-listed globals), safetensors headers, LFS pointers."


def run(ctx: Context) -> list[Finding]:
    from traingate.artifacts import is_artifact_candidate, scan_artifact

    out: list[Finding] = []
    for f in ctx.files:
        if (
            f.status is Status.DELETED
            or f.new_path is None
            or not (f.new_mode or "").startswith("100")
        ):
            continue
        if f.status is Status.RENAMED and not f.added_lines and f.old_oid == f.new_oid:
            continue  # a pure rename: the content was judged when it was added
        data = ctx.change.read(f.new_oid)
        if data is None or not is_artifact_candidate(f.new_path, data[:4096]):
            continue
        for issue in scan_artifact(f.new_path, data):
            where = f" (in {issue.member})" if issue.member else ""
            out.append(
                Finding(
                    path=f.new_path,
                    line=None,
                    column=None,
                    check=ID,
                    rule_id=issue.rule_id,
                    severity=Severity.ERROR if issue.severity == "ERROR" else Severity.WARNING,
                    message=issue.message
                    + ("" if issue.member and issue.member in issue.message else where),
                    help="load weights with safetensors or torch.load(..., weights_only=True); "
                    "see docs/checks/artifacts.md",
                    category="model-artifact",
                )
            )
    return out
