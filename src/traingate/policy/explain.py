"""``traingate policy explain``: why a path is (or is not) sensitive or checked."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from traingate import paths
from traingate.checks import REGISTRY
from traingate.engine import expand
from traingate.policy.load import LoadedPolicy


def _which(patterns: Sequence[str], path: str, fold: bool) -> list[str]:
    """The patterns that match on their own (negations shown as such)."""
    return [p for p in patterns if not p.startswith("!") and paths.matches([p], path, fold=fold)]


def explain(loaded: LoadedPolicy, targets: Sequence[str]) -> str:
    policy = loaded.policy
    fold = policy.case_insensitive_paths
    out = [f"policy: {loaded.source} (layers: {' + '.join(loaded.layers)})"]
    today = dt.date.today()
    for path in targets:
        out.append("")
        out.append(f"{path}:")
        sensitive = [
            sp for sp in policy.sensitive_paths if paths.matches(sp.paths, path, fold=fold)
        ]
        if not sensitive:
            out.append("  sensitive: no")
        for sp in sensitive:
            who = ", ".join(expand(policy, sp.approvers)) or "(nobody: group is empty)"
            out.append(
                f"  sensitive: {sp.name}: needs {sp.approvals} approval(s) from "
                f"{', '.join(sp.approvers)} [{who}]; matched by {', '.join(_which(sp.paths, path, fold))}"
            )
        for cid in REGISTRY:
            s = getattr(policy.checks, cid)
            if not s.enabled:
                out.append(f"  check {cid}: disabled")
            elif paths.covered(s.paths, s.exclude, path, fold=fold):
                out.append(f"  check {cid}: runs")
            else:
                out.append(f"  check {cid}: not covered by its paths/exclude")
        for ex in policy.exemptions:
            if paths.matches(ex.paths, path, fold=fold):
                state = "EXPIRED" if ex.expires < today else "active"
                out.append(
                    f"  exemption ({state} until {ex.expires}): {ex.check}/{ex.rule}: {ex.reason} "
                    f"(approved by {ex.approved_by})"
                )
    return "\n".join(out) + "\n"
